#pragma once
/// \file
/// Flag parsing for the `vma` commands. LLDB hands a plugin command its
/// arguments already split (quotes honoured, quotes removed), so one argv
/// entry is one expression; this only separates flags from operands. Pure and
/// exception-free, so it can be tested without LLDB.

#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "result.h"

namespace vma::lldb_plugin {

/// One accepted flag: `--json`, or `--kind K` (also `--kind=K`).
struct FlagSpec {
  std::string_view name;        ///< with the dashes: "--json"
  std::string_view value_name;  ///< "K" when the flag takes a value; empty otherwise
};

struct ParsedArgs {
  /// Flags seen, by name ("--json"), with their value ("" for plain flags).
  std::map<std::string, std::string, std::less<>> flags;
  std::vector<std::string> operands;

  bool has(std::string_view flag) const { return flags.find(flag) != flags.end(); }
};

/// "--json, --kind K, --gaps": the valid flags, for messages and help.
std::string describe_flags(std::span<const FlagSpec> spec);

/// Separates `argv` into flags and operands. An argument is a flag when it
/// starts with `-` followed by a letter or a second `-` (so `-1` and `-0x10`
/// are operands); `--` ends the flags. Errors: an unknown flag (the message
/// lists the valid ones), a missing value, a value given to a plain flag.
Result<ParsedArgs> parse_args(std::span<const std::string> argv,
                              std::span<const FlagSpec> spec);

}  // namespace vma::lldb_plugin
