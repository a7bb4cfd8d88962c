#pragma once
/// \file
/// The running kernel's build configuration: /proc/config.gz
/// (CONFIG_IKCONFIG_PROC, gzip, read with zlib) or /boot/config-<release>.
/// Reading is separate from parsing; the parser is pure.

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "result.h"

namespace vma::harness {

/// A parsed .config: option name without the CONFIG_ prefix -> value as the
/// file writes it ("y", "m", "28", "\"landlock,lockdown\""), with "n" for a
/// `# CONFIG_X is not set` line.
struct Kconfig {
  std::map<std::string, std::string, std::less<>> options;
  std::string source;  ///< the file it was read from

  /// The option's value, or nullopt when the file has no line for it (the
  /// option does not exist in this kernel, or its dependencies are unmet).
  std::optional<std::string> get(std::string_view name) const;
};

/// Parses .config text. Tolerates blank lines and other comments; a line
/// that is neither is an error naming `source` and the line number:
/// "/proc/config.gz:12: expected CONFIG_NAME=value".
Result<Kconfig> parse_kconfig(std::string_view text, std::string source);

/// Reads `file` when it is not empty (a Kconfig handed over explicitly:
/// `--kconfig`, $VMA_KCONFIG, the kernel package's boot/config-* in a
/// `vma-harness vm` guest), else /proc/config.gz, else
/// /boot/config-`release`. The error says what was tried: "no
/// /proc/config.gz or /boot/config-6.18.44", or, when /proc/config.gz exists
/// but cannot be read, "/proc/config.gz: Permission denied; no
/// /boot/config-6.18.44"; for `file`, "FILE: No such file or directory".
Result<Kconfig> read_kconfig(const std::string& release, const std::string& file = "");

/// Decompresses a gzip file with zlib.
Result<std::string> read_gzip(const std::string& path);

}  // namespace vma::harness
