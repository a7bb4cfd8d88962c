#pragma once
/// \file
/// `vma-harness audit`: reads the settings behind the protections the probes
/// exercise (sysctls, boot parameters, the kernel's Kconfig, CPU features)
/// and judges each against a profile. Reading (`read_audit_facts`) is
/// separate from judging (`judge_audit`), which is pure: tests feed it facts.
///
/// Expectation rules, as profiles and `expected` show them: alternatives
/// separated by `|`, each an exact value as the kernel shows it ("2",
/// "xonly", "y"), a comparison (">= 65536", "<= 1"), "any", or
/// "not present" (the setting may be absent on this kernel).

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "environment.h"
#include "kconfig.h"
#include "result.h"

namespace vma::harness {

enum class AuditStatus {
  pass,     ///< present and as the profile expects
  fail,     ///< not as expected, or absent where the profile needs it
  skip,     ///< absent on this kernel/CPU/arch, and the profile does not need it
  unknown,  ///< could not be read (no Kconfig file, permission denied)
};
std::string to_string(AuditStatus s);

/// One setting as read. `value` is what the kernel shows ("2", "4096",
/// "xonly", "y", "n", "not present" for a Kconfig option without a line);
/// for an absent or unreadable setting it is the reason, "not present (Yama
/// not built in)" or "unknown (no /proc/config.gz or /boot/config-...)".
struct Reading {
  enum class State { value, absent, unknown } state = State::value;
  std::string value;
  std::string note;  ///< where it came from, when that is not obvious
};

struct AuditCheck {
  std::string name;      ///< "randomize_va_space", "CONFIG_STRICT_KERNEL_RWX", "cpu.nx"
  std::string value;
  std::string expected;  ///< the rule
  AuditStatus status = AuditStatus::unknown;
  std::string why;       ///< one line
};

struct AuditReport {
  std::string profile;
  /// The Kconfig file the CONFIG_ checks read, or why there was none.
  std::string kconfig;
  std::vector<AuditCheck> checks;
};

/// Everything the audit reads, by check name.
struct AuditFacts {
  std::string arch;  ///< uname machine
  std::string kconfig;  ///< the Kconfig file read, or why there was none
  std::map<std::string, Reading, std::less<>> readings;
};

/// Reads sysctls, /proc/cmdline, /proc/self/maps (vsyscall), the Kconfig
/// and /proc/cpuinfo. `env` supplies what detect_environment already read.
AuditFacts read_audit_facts(const Environment& env);

/// The names of every check, in report order.
std::span<const std::string_view> audit_check_names();

/// A profile's expectation per check, with its one-line why. `profile` is
/// "default" or "hardened"; arch selects the numbers (x86_64, aarch64);
/// `kernel` the stock defaults that changed across versions (default: a
/// current kernel).
struct AuditExpectation {
  std::string expected;
  std::string why;
};
std::map<std::string, AuditExpectation, std::less<>> audit_expectations(std::string_view profile,
                                                                          std::string_view arch,
                                                                          KernelVersion kernel = {99, 0, 0});

/// Checks a rule's syntax: nullopt when fine, else the message
/// ("bad number in '>= 4k'").
std::optional<std::string> check_audit_rule(std::string_view rule);

/// True when `value` satisfies `rule` (a present value).
bool rule_accepts(std::string_view rule, std::string_view value);

/// Judges every reading against `expectations`.
AuditReport judge_audit(const AuditFacts& facts,
                        const std::map<std::string, AuditExpectation, std::less<>>& expectations,
                        std::string profile);

/// The audit under `profile`: "default", "hardened" or a TOML profile file
/// (base = "default"|"hardened", [audit.NAME] expected = "..." why = "...").
/// Errors: unknown profile, bad TOML ("file:line:col: message").
Result<AuditReport> run_audit(const std::string& profile, const Environment& env);

/// 0 when no check failed, 1 otherwise (unknown and skip do not fail).
int exit_status(const AuditReport& r);

nlohmann::json to_json(const AuditReport& r);
/// A table: NAME VALUE EXPECTED STATUS WHY; colour on a terminal.
std::string audit_text(const AuditReport& r, bool color);

}  // namespace vma::harness
