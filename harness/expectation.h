#pragma once
/// \file
/// What a probe should do (Expectation), what it did (Observation), and the
/// verdict that compares them.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "address.h"
#include "annotation.h"
#include "region_kind.h"

namespace vma::harness {

/// What a probe run came to.
enum class Outcome {
  fault,    ///< died of (or stopped at) a signal
  refused,  ///< the dangerous syscall failed; the probe printed `refused ERRNO`
  allowed,  ///< the dangerous operation succeeded; the probe printed `allowed`
  exited,   ///< exited without a verdict line
};
std::string to_string(Outcome o);
std::optional<Outcome> parse_outcome(std::string_view s);

/// Which fault address (si_addr) or pc the expectation accepts.
enum class AddrRule {
  any,
  target,       ///< equals the address of the probe's last `target` line
  zero,         ///< 0 (null faults; SI_KERNEL faults report 0)
  below_stack,  ///< in the gap directly below the main stack's VMA
  exact,        ///< equals Expectation::addr_value
  jump_insn,    ///< pc only: the address in the probe's `note jump-insn 0x..`
};
std::string to_string(AddrRule r);

enum class Status { pass, fail, skip, error };
std::string to_string(Status s);

struct Expectation {
  Outcome outcome = Outcome::fault;
  std::optional<int> signo;
  std::optional<int> code;
  AddrRule addr = AddrRule::any;
  Addr addr_value = 0;
  AddrRule pc = AddrRule::any;
  Addr pc_value = 0;
  /// Accepted kinds of the fault's region: that of si_addr, or of the target
  /// when the kernel reports si_addr 0 (SI_KERNEL, a #GP). Empty: any.
  std::vector<RegionKind> regions;
  std::optional<std::string> errno_name;  ///< for `refused`; unset: any errno
  std::optional<int> exit_code;           ///< for `exited`; unset: any
  /// The environment lacks the feature: the verdict is skip with this reason.
  std::optional<std::string> skip;
  /// A probe's own `skip` line is a skip (true) or a failure (false: the
  /// profile requires the feature).
  bool skip_ok = true;
  /// The profile requires vm.mmap_min_addr of at least this much.
  std::optional<std::uint64_t> mmap_min_addr_at_least;
  /// An addr or pc rule `target` means the target with its arm64 tag byte
  /// cleared, for every capture method (Linux before 5.11 cleared the tag
  /// in si_addr for tracers too). Otherwise the whole tagged target, or the
  /// cleared one for a signal handler without SA_EXPOSE_TAGBITS.
  bool target_untagged = false;
  /// Why this expectation holds here ("vsyscall xonly: reads fault").
  std::string why;
};

/// A fault expectation: signal, si_code, si_addr rule, accepted region kinds
/// and pc rule.
Expectation fault_expectation(int signo, int code, AddrRule addr, std::vector<RegionKind> kinds,
                              AddrRule pc = AddrRule::any);
/// A skip with its reason (a kernel, CPU or architecture feature is missing).
Expectation skip_expectation(std::string why);

/// "SIGSEGV SEGV_MAPERR addr=0 null-page", "refused EPERM", "allowed",
/// "skip: no PKU".
std::string describe(const Expectation& e);
nlohmann::json to_json(const Expectation& e);

/// Everything observed about one probe run.
struct Observation {
  Outcome outcome = Outcome::exited;
  /// The probe printed `skip <reason>`.
  std::optional<std::string> skipped;
  std::optional<int> signo, code;
  std::optional<Addr> addr, pc;
  std::optional<Addr> target;     ///< the last `target 0x..` line
  /// The target with an arm64 pointer tag stripped (core's strip_tag), when
  /// it carries one: what a signal handler sees in si_addr.
  std::optional<Addr> target_untagged;
  std::optional<Addr> jump_insn;  ///< `note jump-insn 0x..`
  std::optional<Annotation> at_addr;    ///< annotation of si_addr
  std::optional<Annotation> at_target;  ///< of the target, for SI_KERNEL faults
  std::optional<Annotation> at_pc;
  std::string explanation;              ///< core's explain_fault
  std::optional<std::string> errno_name;
  std::optional<int> exit_code;
  std::optional<int> term_signal;       ///< died of a signal we did not capture
  std::vector<std::string> notes;
  std::string stderr_text;              ///< last bytes the probe wrote to stderr
  /// A harness-side problem: timeout, exec failure, interrupted, no verdict.
  std::optional<std::string> error;
  std::string capture;                  ///< "ptrace", "handler" or "wait"
  double seconds = 0;

  /// The annotation that decides the region: of the target when si_addr is
  /// 0 because of a #GP (SI_KERNEL), else of si_addr.
  const Annotation* region_annotation() const;
};

std::string describe(const Observation& o);
nlohmann::json to_json(const Observation& o);

struct Verdict {
  Status status = Status::error;
  std::string reason;  ///< empty on pass
};

/// Compares; `mmap_min_addr` is the environment's value.
Verdict judge(const Expectation& e, const Observation& o, std::uint64_t mmap_min_addr);

}  // namespace vma::harness
