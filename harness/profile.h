#pragma once
/// \file
/// The probes a run knows (built-in ones and a spec file's), and what each
/// should do under a profile: `default` and `hardened` computed from the
/// environment, or a TOML profile file that overrides them per probe.
///
/// Profile file (TOML):
///   base = "default"              # or "hardened"; the expectations to start from
///   [expect.wx-mmap]              # one table per probe id to override
///   outcome = "refused"           # fault | refused | allowed | exited
///   errno = "EACCES"              # refused only; any errno when absent
///   [expect.null-read]
///   region = "null-page"          # a kind name, or a list of accepted kinds
/// Keys of an expect table: outcome, signal, code, addr, pc, region, errno,
/// exit_code, skip, skip_ok, mmap_min_addr_at_least, why. A table that sets
/// `outcome` replaces the expectation; one without merges into it. addr and
/// pc take "any", "target", "zero", "below-stack", "jump-insn" (pc) or an
/// address "0x...".
///
/// Spec file (TOML): user probes, run after the built-in ones.
///   [[probe]]
///   name = "my-null-deref"
///   command = ["./build/myprog", "--crash"]
///   expect = { outcome = "fault", signal = "SIGSEGV", code = "SEGV_MAPERR", region = "null-page" }
///   timeout = 5                   # seconds, optional
///   description = "..."           # optional
/// Errors name the file, line and column: "spec.toml:3:1: unknown key 'comand'".

#include <functional>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "environment.h"
#include "expectation.h"
#include "result.h"

namespace vma::harness {

struct BuiltinProbe {
  std::string_view id;
  std::string_view description;
};

/// The built-in probes, in the contract's order (issue 5).
std::span<const BuiltinProbe> builtin_probes();

struct ProbeDef {
  std::string id;
  std::string description;
  /// argv for user probes; empty for built-ins (found in the probes dir).
  std::vector<std::string> command;
  std::optional<double> timeout;  ///< seconds; the run's default when unset
  bool user = false;
  Expectation expect;
};

/// True for "default" and "hardened".
bool is_builtin_profile(std::string_view name);

/// The built-in probes with their expectations under `profile` ("default"
/// or "hardened") on `env`.
std::vector<ProbeDef> builtin_probe_defs(std::string_view profile, const Environment& env);

/// Reads a spec file's user probes. Errors: "file:line:col: message".
Result<std::vector<ProbeDef>> load_spec(const std::string& path);

/// Reads a profile file and applies it to `probes` (built-in and user ones):
/// resets built-ins to the file's `base`, then applies each [expect.ID].
Result<void> apply_profile_file(const std::string& path, const Environment& env,
                                std::vector<ProbeDef>& probes);

/// The audit part of a profile file (harness/audit.h): its base and
/// [audit.NAME] tables, each `expected = "RULE"` and an optional `why`:
///   base = "default"
///   [audit.mmap_min_addr]
///   expected = ">= 65536"
///   why = "our fleet sets 65536"
struct AuditOverride {
  std::string expected;
  std::string why;
};
struct AuditProfileFile {
  std::string base = "default";
  std::map<std::string, AuditOverride> overrides;
};
/// Reads it. `names` are the known checks; `check_rule` returns an error
/// message for a bad rule. Errors: "file:line:col: message".
Result<AuditProfileFile> load_audit_profile(
    const std::string& path, std::span<const std::string_view> names,
    const std::function<std::optional<std::string>(std::string_view)>& check_rule);

/// Parses an errno name ("EPERM"); nullopt when unknown.
std::optional<int> parse_errno_name(std::string_view name);

}  // namespace vma::harness
