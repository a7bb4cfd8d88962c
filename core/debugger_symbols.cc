#include "debugger_symbols.h"

#include <fmt/format.h>

namespace vma {

std::string symbol_detail(const std::string& section, const std::string& symbol,
                          std::optional<std::uint64_t> symbol_offset) {
  std::string detail = section;
  if (!symbol.empty())
    detail += fmt::format("{}{}+{:#x}", detail.empty() ? "" : ", ", symbol, symbol_offset.value_or(0));
  return detail;
}

void add_debugger_symbol(Annotation& ann, const DebuggerSymbol& sym) {
  if (!ann.mapped) return;
  // annotate() appended " (detail)" when it knew either part; take it back
  // off before adding the debugger's parts so the summary has one detail.
  const std::string old_detail = symbol_detail(ann.section, ann.symbol, ann.symbol_offset);
  bool changed = false;
  if (ann.section.empty() && !sym.section.empty()) {
    ann.section = sym.section;
    changed = true;
  }
  if (ann.symbol.empty() && !sym.symbol.empty()) {
    ann.symbol = sym.symbol;
    ann.symbol_offset = sym.symbol_offset.value_or(0);
    changed = true;
  }
  if (!changed) return;
  if (!old_detail.empty()) {
    const std::string suffix = " (" + old_detail + ")";
    if (ann.summary.ends_with(suffix)) ann.summary.resize(ann.summary.size() - suffix.size());
  }
  ann.summary += " (" + symbol_detail(ann.section, ann.symbol, ann.symbol_offset) + ")";
}

}  // namespace vma
