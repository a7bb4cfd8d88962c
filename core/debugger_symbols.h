#pragma once
/// \file
/// Sections and symbols a debugger knows (LLDB's modules, GDB's symbol
/// tables) for addresses whose ELF file core cannot read: a remote target, a
/// core from another machine. Front ends look them up; this file decides how
/// they join an Annotation, so every front end words them the same.

#include <cstdint>
#include <optional>
#include <string>

#include "annotation.h"

namespace vma {

/// What a debugger says about one address. Empty strings mean unknown.
struct DebuggerSymbol {
  std::string section;                        ///< ".text"
  std::string symbol;                         ///< "main"
  std::optional<std::uint64_t> symbol_offset; ///< bytes past the symbol's start
};

/// "(.text, main+0x19)"-style detail: "section, symbol+0xoff", either part
/// alone when the other is unknown; empty when both are.
std::string symbol_detail(const std::string& section, const std::string& symbol,
                          std::optional<std::uint64_t> symbol_offset);

/// Fills `ann.section`, `ann.symbol` and `ann.symbol_offset` from `sym` where
/// core left them empty (core's own ELF reading wins), and adds the detail to
/// the summary as annotate() does. Addresses outside every VMA are left alone.
void add_debugger_symbol(Annotation& ann, const DebuggerSymbol& sym);

}  // namespace vma
