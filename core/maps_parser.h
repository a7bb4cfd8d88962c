#pragma once
/// \file
/// The /proc/PID/maps and /proc/PID/smaps parser: pure, over a string_view,
/// so tests feed it strings (Chromium's ParseProcMaps; LLDB's LinuxProcMaps).
///
/// Tolerance policy (tests/unit/maps_parser_test.cc holds one case for each):
/// accepted
///   - paths with spaces (the path is everything after the inode column, with
///     the leading blanks removed; trailing blanks are kept),
///   - ` (deleted)` suffixes (kept in Mapping::name; Mapping::is_deleted()),
///   - `\012` in names (decoded to a newline, as the kernel's seq_path escapes
///     it; other backslashes are left alone),
///   - a missing final newline, an empty input (no mappings),
///   - smaps property lines (`Size:`, `VmFlags:` ...) after a mapping line;
///     `VmFlags` is kept, the others are skipped;
///   - upper-case hex digits;
/// rejected (the error names the source, the 1-based line and the field)
///   - a missing dash in the range, missing or extra fields,
///   - non-hex or empty numbers, numbers that overflow 64 bits,
///   - start > end (start == end is accepted: the kernel never prints it,
///     but an empty range breaks nothing),
///   - permission strings that are not `[r-][w-][x-][ps]`,
///   - a device that is not `hex:hex`,
///   - property lines before any mapping line,
///   - NUL bytes anywhere,
///   - ranges that overlap or go backwards relative to the previous line.
/// Parsing stops at the first bad line.

#include <string>
#include <string_view>
#include <vector>

#include "mapping.h"
#include "result.h"

namespace vma {

/// Parses maps or smaps text. `source` names the input in error messages
/// ("/proc/1234/maps", "tests/data/x.maps").
/// Error messages look like:
///   `/proc/1/maps:3: malformed maps entry: bad permissions "rwzp" (field 2)`
Result<std::vector<Mapping>> parse_maps(std::string_view text, std::string_view source);

/// parse_maps fed a piece at a time, for a reader that parses while the
/// text arrives: the same checks and the same messages (line numbers count
/// across pieces). Every piece but the last must end with a newline.
class MapsParser {
 public:
  /// `expected_mappings`: mappings to reserve room for (0: none).
  explicit MapsParser(std::string_view source, std::size_t expected_mappings = 0);
  /// Parses the lines of `piece`. After a first error every call fails
  /// without parsing: the first error is the one to report.
  Result<void> feed(std::string_view piece);
  /// The mappings parsed so far (moved out).
  std::vector<Mapping> take() { return std::move(out_); }

 private:
  Error at(std::string msg) const;
  /// Faults in the next stretch of the reserved vector before it is filled.
  void populate_ahead();

  std::string source_;
  std::size_t line_no_ = 0;
  std::vector<Mapping> out_;
  std::size_t populated_ = 0;  ///< elements of out_'s capacity faulted in
  bool failed_ = false;
};

/// Parses one maps line (no newline). Errors omit the source and line prefix.
Result<Mapping> parse_maps_line(std::string_view line);

}  // namespace vma
