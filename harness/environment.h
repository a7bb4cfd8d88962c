#pragma once
/// \file
/// The environment fingerprint every report carries, and the facts the
/// expectation table is computed from (kernel version, vsyscall mode,
/// privileges, CPU features, mmap_min_addr).

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
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
  /// arm64 (AT_HWCAP/AT_HWCAP2): MTE, BTI, pointer authentication (key A),
  /// and FEAT_FPAC (ID_AA64ISAR1_EL1 APA/API >= 0b0100, read through the
  /// kernel's EL0 emulation; /proc/cpuinfo does not list it).
  bool mte = false, bti = false, paca = false, fpac = false;

  /// The feature named as the report prints it ("nx", "mte"...); false for
  /// an unknown name.
  bool get(std::string_view name) const;
};

struct Environment {
  std::string kernel_release;
  KernelVersion kernel;
  std::string arch;
  unsigned paging_levels = 4;
  VsyscallMode vsyscall = VsyscallMode::none;
  std::uint64_t mmap_min_addr = 4096;
  int randomize_va_space = -1;
  /// `norandmaps` on the kernel command line: randomisation off whatever
  /// randomize_va_space says.
  bool norandmaps = false;
  /// This process runs with the ADDR_NO_RANDOMIZE personality (setarch -R,
  /// or a debugger launched it); its children inherit it.
  bool addr_no_randomize = false;
  unsigned uid = 0;
  /// The uid probes run as (65534 when root drops privileges).
  unsigned probe_uid = 0;
  /// True when probes keep root's privileges (--as-root, or already root
  /// without a user to drop to).
  bool probes_privileged = false;
  /// Where built-in probes were copied because probe_uid could not reach
  /// them (a build tree in /root); empty when they ran where they were built.
  std::string probes_staged_in;
  int seccomp = 0;       ///< /proc/self/status Seccomp: 0 off, 1 strict, 2 filter
  int tracer_pid = 0;    ///< /proc/self/status TracerPid
  bool selinux_enforcing = false;
  std::vector<std::string> container_hints;  ///< "/.dockerenv", "gVisor", ...
  bool gvisor = false;
  CpuFeatures cpu;
  /// "ptrace" or "handler": how faults are captured in this run.
  std::string capture = "ptrace";
  /// A Kconfig file handed over explicitly (`--kconfig`, $VMA_KCONFIG); empty:
  /// the audit looks in /proc/config.gz and /boot.
  std::string kconfig_file;
  /// Set when this kernel runs in a QEMU guest: from the kernel command
  /// line when `vma-harness vm` booted it (`vmakit.accel=tcg|kvm`,
  /// `vmakit.cpu=MODEL`, `vmakit.accel_note="why not kvm"`), else "tcg"
  /// when the CPU says it is QEMU's emulator (`virtualization`), for a
  /// guest nobody told (LAVA, virtme-ng, QEMU started by hand). Empty
  /// otherwise.
  std::string vm_accel, vm_cpu, vm_accel_note;
  /// Where vm_accel came from: "cmdline", "cpuid", "midr", or empty.
  std::string vm_accel_source;
  /// What the CPU says it runs on (virtualization_of_cpu in
  /// environment.cc): "tcg", "kvm", "other", "none" (bare metal), "unknown".
  std::string virtualization;
  /// The hypervisor the CPU names (CPUID leaf 0x40000000: "TCGTCGTCGTCG",
  /// "KVMKVMKVM", "Microsoft Hv", ...), empty on bare metal or when the
  /// architecture has no such leaf.
  std::string hypervisor;
  /// Under QEMU's TCG emulator (vmakit.accel=tcg): where TCG is known to differ
  /// from hardware, expectations follow what the architecture guarantees.
  bool tcg() const { return vm_accel == "tcg"; }
};

/// A /proc or /sys file's text without trailing blanks and newline, or
/// nullopt when it cannot be read; then `*err` (when given) is the errno
/// (ENOENT: the setting does not exist on this kernel).
std::optional<std::string> read_setting(const std::string& path, int* err = nullptr);

/// The CPU flags of /proc/cpuinfo (x86 "flags", aarch64 "Features").
std::set<std::string> cpu_flags();

/// /proc/cmdline, or "" when unreadable.
std::string kernel_cmdline();

/// The value of `name=value` on a kernel command line: "" for a bare
/// `name`, nullopt when absent. Double quotes group; parameters after a
/// lone `--` belong to init and are ignored; the last occurrence wins, as
/// in the kernel's parse_args().
std::optional<std::string> cmdline_param(std::string_view cmdline, std::string_view name);

/// Reads uname, /proc/self/{maps,status}, /proc/sys, /proc/cpuinfo.
/// `probe_uid` is the uid probes will run as.
Environment detect_environment(unsigned probe_uid);

nlohmann::json to_json(const Environment& e);
/// "kernel 6.18.44 x86_64, 4-level paging, vsyscall xonly, ...": one line
/// per group, for the text and KTAP headers.
std::vector<std::string> describe(const Environment& e);

}  // namespace vma::harness
