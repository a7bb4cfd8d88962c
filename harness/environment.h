#pragma once
/// \file
/// The environment fingerprint every report carries, and the facts the
/// expectation table is computed from (kernel version, vsyscall mode,
/// privileges, CPU features, mmap_min_addr).

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vma::harness {

/// "6.18.44-fc" -> {6, 18, 44}.
struct KernelVersion {
  int major = 0, minor = 0, patch = 0;
  bool at_least(int maj, int min) const {
    return major > maj || (major == maj && minor >= min);
  }
};
KernelVersion parse_kernel_version(const std::string& release);

/// vsyscall page mode as /proc/self/maps shows it: `r-xp` emulate, `--xp`
/// xonly, absent none (arch/x86/entry/vsyscall/vsyscall_64.c).
enum class VsyscallMode { emulate, xonly, none };
std::string to_string(VsyscallMode m);

struct CpuFeatures {
  bool nx = false, smep = false, smap = false;
  bool pku = false;    ///< CPU has protection keys...
  bool ospke = false;  ///< ...and the kernel enabled them
  bool shstk = false, la57 = false;
  bool lass = false;   ///< Intel LASS: kernel-address accesses become #GP
};

struct Environment {
  std::string kernel_release;
  KernelVersion kernel;
  std::string arch;
  unsigned paging_levels = 4;
  VsyscallMode vsyscall = VsyscallMode::none;
  std::uint64_t mmap_min_addr = 4096;
  int randomize_va_space = -1;
  unsigned uid = 0;
  /// The uid probes run as (65534 when root drops privileges).
  unsigned probe_uid = 0;
  /// True when probes keep root's privileges (--as-root, or already root
  /// without a user to drop to).
  bool probes_privileged = false;
  int seccomp = 0;       ///< /proc/self/status Seccomp: 0 off, 1 strict, 2 filter
  int tracer_pid = 0;    ///< /proc/self/status TracerPid
  bool selinux_enforcing = false;
  std::vector<std::string> container_hints;  ///< "/.dockerenv", "gVisor", ...
  bool gvisor = false;
  CpuFeatures cpu;
  /// "ptrace" or "handler": how faults are captured in this run.
  std::string capture = "ptrace";
};

/// Reads uname, /proc/self/{maps,status}, /proc/sys, /proc/cpuinfo.
/// `probe_uid` is the uid probes will run as.
Environment detect_environment(unsigned probe_uid);

nlohmann::json to_json(const Environment& e);
/// "kernel 6.18.44 x86_64, 4-level paging, vsyscall xonly, ...": one line
/// per group, for the text and KTAP headers.
std::vector<std::string> describe(const Environment& e);

}  // namespace vma::harness
