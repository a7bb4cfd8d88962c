#include "environment.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#include <sys/auxv.h>
#include <sys/personality.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>
#include <sstream>
#include <set>

#include "arch.h"
#include "read_file.h"
#include "target.h"

namespace vma::harness {
namespace {

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t')) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

/// The value of "Key:\tvalue" in a /proc status file, or "".
std::string status_field(const std::string& status, const std::string& key) {
  std::istringstream in(status);
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(key + ":")) return trim(line.substr(key.size() + 1));
  return {};
}

int to_int(const std::string& s, int fallback) {
  try {
    return std::stoi(s);
  } catch (...) {
    return fallback;
  }
}

/// The hypervisor signature of CPUID leaf 0x40000000 (EBX, ECX, EDX) when
/// CPUID.1:ECX bit 31 (hypervisor present) is set; "" on bare metal and
/// on other architectures.
std::string hypervisor_signature() {
#if defined(__x86_64__) || defined(__i386__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 31))) return {};
  __cpuid(0x40000000, a, b, c, d);
  char sig[13] = {};
  std::memcpy(sig, &b, 4);
  std::memcpy(sig + 4, &c, 4);
  std::memcpy(sig + 8, &d, 4);
  std::string s(sig);  // up to the first NUL ("KVMKVMKVM\0\0\0")
  for (char& ch : s)
    if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e) ch = '?';
  return s.empty() ? "(unnamed)" : s;
#else
  return {};
#endif
}

/// What the CPU itself says it runs on: "tcg", "kvm", "other" (another
/// hypervisor), "none" (x86 without the hypervisor bit: bare metal), or
/// "unknown"; and how it said so. x86 QEMU TCG answers CPUID leaf
/// 0x40000000 with "TCGTCGTCGTCG" (QEMU's target/i386/cpu.c, property
/// tcg-cpuid, on by default), KVM with "KVMKVMKVM" (QEMU's and others',
/// Firecracker's too). arm64 has no such leaf; QEMU's emulated `max` CPU
/// has MIDR implementer 0 (target/arm/cpu64.c), reserved for software and
/// used by no silicon, while KVM passes the host's MIDR through.
std::pair<std::string, std::string> virtualization_of_cpu(const std::string& hypervisor) {
#if defined(__x86_64__) || defined(__i386__)
  if (hypervisor.empty()) return {"none", "cpuid"};
  if (hypervisor == "TCGTCGTCGTCG") return {"tcg", "cpuid"};
  if (hypervisor == "KVMKVMKVM") return {"kvm", "cpuid"};
  return {"other", "cpuid"};
#elif defined(__aarch64__)
  std::istringstream in(os::read_file("/proc/cpuinfo").value_or(""));
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("CPU implementer")) {
      const auto colon = line.find(':');
      if (colon != std::string::npos && trim(line.substr(colon + 1)) == "0x00") return {"tcg", "midr"};
      break;
    }
  return {"unknown", ""};
#else
  return {"unknown", ""};
#endif
}

/// arm64 features from the auxiliary vector (arch/arm64/include/uapi/asm/hwcap.h)
/// and ID_AA64ISAR1_EL1 (Documentation/arch/arm64/cpu-feature-registers.rst).
void read_arm64_features([[maybe_unused]] CpuFeatures& cpu) {
#if defined(__aarch64__)
  constexpr unsigned long kHwcapCpuid = 1UL << 11, kHwcapPaca = 1UL << 30;
  constexpr unsigned long kHwcap2Bti = 1UL << 17, kHwcap2Mte = 1UL << 18;
  const unsigned long hwcap = getauxval(AT_HWCAP), hwcap2 = getauxval(AT_HWCAP2);
  cpu.mte = hwcap2 & kHwcap2Mte;
  cpu.bti = hwcap2 & kHwcap2Bti;
  cpu.paca = hwcap & kHwcapPaca;
  if (hwcap & kHwcapCpuid) {
    std::uint64_t isar1 = 0;
    __asm__ volatile("mrs %0, ID_AA64ISAR1_EL1" : "=r"(isar1));
    cpu.fpac = ((isar1 >> 4) & 0xf) >= 4 || ((isar1 >> 8) & 0xf) >= 4;
  }
#endif
}

}  // namespace

bool CpuFeatures::get(std::string_view name) const {
  const std::pair<std::string_view, bool> all[] = {
      {"nx", nx},     {"smep", smep}, {"smap", smap}, {"pku", pku && ospke}, {"shstk", shstk},
      {"la57", la57}, {"lass", lass}, {"mte", mte},   {"bti", bti},          {"paca", paca},
      {"fpac", fpac},
  };
  for (const auto& [n, v] : all)
    if (n == name) return v;
  return false;
}

std::optional<std::string> read_setting(const std::string& path, int* err) {
  auto text = os::read_file(path);
  if (!text) {
    if (err) *err = errno ? errno : EIO;
    return std::nullopt;
  }
  return trim(std::move(*text));
}

std::set<std::string> cpu_flags() {
  std::istringstream in(os::read_file("/proc/cpuinfo").value_or(""));
  std::set<std::string> flags;
  for (std::string line; std::getline(in, line);) {
    // x86 "flags", aarch64 "Features"; every CPU lists the same set here.
    if (!line.starts_with("flags") && !line.starts_with("Features")) continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream words(line.substr(colon + 1));
    for (std::string w; words >> w;) flags.insert(w);
    break;
  }
  return flags;
}

std::string kernel_cmdline() { return read_setting("/proc/cmdline").value_or(""); }

std::optional<std::string> cmdline_param(std::string_view cmdline, std::string_view name) {
  std::optional<std::string> found;
  std::size_t i = 0;
  while (i < cmdline.size()) {
    while (i < cmdline.size() && (cmdline[i] == ' ' || cmdline[i] == '\t' || cmdline[i] == '\n')) ++i;
    if (i >= cmdline.size()) break;
    std::string word;
    bool quoted = false;
    for (; i < cmdline.size(); ++i) {
      char c = cmdline[i];
      if (c == '"') {
        quoted = !quoted;
        continue;
      }
      if (!quoted && (c == ' ' || c == '\t' || c == '\n')) break;
      word += c;
    }
    if (word == "--") break;
    const std::size_t eq = word.find('=');
    const std::string_view key = std::string_view(word).substr(0, eq);
    if (key == name) found = eq == std::string::npos ? std::string() : word.substr(eq + 1);
  }
  return found;
}

KernelVersion parse_kernel_version(const std::string& release) {
  KernelVersion v;
  std::sscanf(release.c_str(), "%d.%d.%d", &v.major, &v.minor, &v.patch);
  return v;
}

std::string to_string(VsyscallMode m) {
  switch (m) {
    case VsyscallMode::emulate: return "emulate";
    case VsyscallMode::xonly: return "xonly";
    case VsyscallMode::none: return "none";
  }
  return "none";
}

Environment detect_environment(unsigned probe_uid) {
  Environment e;
  utsname u{};
  uname(&u);
  e.kernel_release = u.release;
  e.kernel = parse_kernel_version(e.kernel_release);
  e.arch = u.machine;

  auto flags = cpu_flags();
  auto flag = [&](const char* f) { return flags.count(f) != 0; };
  e.cpu.nx = flag("nx");
  e.cpu.smep = flag("smep");
  e.cpu.smap = flag("smap");
  e.cpu.pku = flag("pku");
  e.cpu.ospke = flag("ospke");
  e.cpu.shstk = flag("user_shstk") || flag("shstk");
  e.cpu.la57 = flag("la57");
  e.cpu.lass = flag("lass");
  read_arm64_features(e.cpu);
  // Paging depth and the null guard as core's target model sees them (the
  // kernel clears the la57 flag when it runs with 4 levels).
  const Target host = Target::host();
  e.paging_levels = host.arch == Arch::x86_64 ? (host.va_bits >= 56 ? 5 : 4)
                                              : (host.va_bits >= 52 ? 5 : 4);

  // vsyscall mode: the [vsyscall] line's permissions (r-xp emulate, --xp xonly).
  e.vsyscall = VsyscallMode::none;
  {
    std::istringstream maps(os::read_file("/proc/self/maps").value_or(""));
    for (std::string line; std::getline(maps, line);) {
      if (!line.ends_with("[vsyscall]")) continue;
      auto sp = line.find(' ');
      std::string perms = sp == std::string::npos ? "" : line.substr(sp + 1, 4);
      e.vsyscall = perms.starts_with("r") ? VsyscallMode::emulate : VsyscallMode::xonly;
    }
  }

  e.mmap_min_addr = host.mmap_min_addr;
  e.randomize_va_space = to_int(trim(os::read_file("/proc/sys/kernel/randomize_va_space").value_or("")), -1);
  const std::string cmdline = kernel_cmdline();
  e.norandmaps = cmdline_param(cmdline, "norandmaps").has_value();
  e.vm_accel = cmdline_param(cmdline, "vmakit.accel").value_or("");
  e.vm_cpu = cmdline_param(cmdline, "vmakit.cpu").value_or("");
  e.vm_accel_note = cmdline_param(cmdline, "vmakit.accel_note").value_or("");
  e.hypervisor = hypervisor_signature();
  auto [virt, virt_source] = virtualization_of_cpu(e.hypervisor);
  e.virtualization = virt;
  if (!e.vm_accel.empty()) {
    e.vm_accel_source = "cmdline";
  } else if (virt == "tcg") {
    // A TCG guest nobody told: LAVA, virtme-ng, a QEMU started by hand.
    e.vm_accel = virt;
    e.vm_accel_source = virt_source;
  }
  if (const char* k = std::getenv("VMA_KCONFIG")) e.kconfig_file = k;
  // personality(0xffffffff) queries without changing it.
  const int persona = personality(0xffffffff);
  e.addr_no_randomize = persona != -1 && (persona & ADDR_NO_RANDOMIZE);
  e.uid = getuid();
  e.probe_uid = probe_uid;
  e.probes_privileged = probe_uid == 0;

  std::string status = os::read_file("/proc/self/status").value_or("");
  e.seccomp = to_int(status_field(status, "Seccomp"), 0);
  e.tracer_pid = to_int(status_field(status, "TracerPid"), 0);
  e.selinux_enforcing = trim(os::read_file("/sys/fs/selinux/enforce").value_or("")) == "1";

  if (access("/.dockerenv", F_OK) == 0) e.container_hints.push_back("/.dockerenv");
  if (access("/run/.containerenv", F_OK) == 0) e.container_hints.push_back("/run/.containerenv");
  std::string env1 = os::read_file("/proc/1/environ").value_or("");
  for (std::size_t i = 0; i < env1.size();) {
    std::size_t end = env1.find('\0', i);
    if (end == std::string::npos) end = env1.size();
    std::string kv = env1.substr(i, end - i);
    if (kv.starts_with("container=")) e.container_hints.push_back(kv);
    i = end + 1;
  }
  // gVisor's Sentry reports this fixed build string in /proc/version.
  if (os::read_file("/proc/version").value_or("").find("#1 SMP Sun Jan 10 15:06:54 PST 2016") != std::string::npos) {
    e.gvisor = true;
    e.container_hints.push_back("gVisor");
  }
  if (flag("hypervisor")) e.container_hints.push_back("virtual machine (cpu flag hypervisor)");
  return e;
}

nlohmann::json to_json(const Environment& e) {
  nlohmann::json cpu = {
      {"nx", e.cpu.nx},       {"smep", e.cpu.smep},   {"smap", e.cpu.smap},
      {"pku", e.cpu.pku && e.cpu.ospke},              {"shstk", e.cpu.shstk},
      {"la57", e.cpu.la57},   {"lass", e.cpu.lass},
      {"mte", e.cpu.mte},     {"bti", e.cpu.bti},     {"paca", e.cpu.paca},
      {"fpac", e.cpu.fpac},
  };
  return {
      {"kernel_release", e.kernel_release},
      {"arch", e.arch},
      {"paging_levels", e.paging_levels},
      {"vsyscall", to_string(e.vsyscall)},
      {"mmap_min_addr", e.mmap_min_addr},
      {"randomize_va_space", e.randomize_va_space},
      {"norandmaps", e.norandmaps},
      {"addr_no_randomize", e.addr_no_randomize},
      {"uid", e.uid},
      {"probe_uid", e.probe_uid},
      {"probes_staged_in", e.probes_staged_in.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.probes_staged_in)},
      {"seccomp", e.seccomp},
      {"tracer_pid", e.tracer_pid},
      {"selinux_enforcing", e.selinux_enforcing},
      {"container_hints", e.container_hints},
      {"gvisor", e.gvisor},
      {"cpu", cpu},
      {"capture", e.capture},
      {"vm", e.vm_accel.empty() ? nlohmann::json(nullptr)
                                : nlohmann::json{{"accel", e.vm_accel},
                                                 {"cpu", e.vm_cpu},
                                                 {"source", e.vm_accel_source},
                                                 {"accel_note", e.vm_accel_note.empty() ? nlohmann::json(nullptr)
                                                                                        : nlohmann::json(e.vm_accel_note)}}},
      {"hypervisor", e.hypervisor.empty() ? nlohmann::json(nullptr) : nlohmann::json(e.hypervisor)},
      {"virtualization", e.virtualization},
  };
}

std::vector<std::string> describe(const Environment& e) {
  std::vector<std::string> out;
  out.push_back("kernel " + e.kernel_release + " " + e.arch + ", " +
                std::to_string(e.paging_levels) + "-level paging, vsyscall " +
                to_string(e.vsyscall) + ", mmap_min_addr " + std::to_string(e.mmap_min_addr) +
                ", randomize_va_space " + std::to_string(e.randomize_va_space));
  std::string cpu = "cpu:";
  auto add = [&](bool on, const char* name) { cpu += std::string(" ") + (on ? "" : "!") + name; };
  static constexpr std::string_view kFallback[] = {"nx", "smep", "smap", "pku", "shstk", "la57"};
  const ArchRow* row = arch_row(e.arch);
  for (std::string_view name : row ? row->cpu_line : std::span<const std::string_view>(kFallback))
    add(e.cpu.get(name), std::string(name).c_str());
  out.push_back(cpu);
  std::string who = "uid " + std::to_string(e.uid) + ", probes as uid " + std::to_string(e.probe_uid) +
                    ", seccomp " + std::to_string(e.seccomp) + ", tracer pid " +
                    std::to_string(e.tracer_pid) + ", capture " + e.capture;
  out.push_back(who);
  if (!e.probes_staged_in.empty())
    out.push_back("probes copied to " + e.probes_staged_in + ": uid " + std::to_string(e.probe_uid) +
                  " cannot reach the build tree");
  if (!e.vm_accel.empty()) {
    std::string line = "QEMU guest: accelerator " + e.vm_accel;
    if (!e.vm_accel_note.empty()) line += " (" + e.vm_accel_note + ")";
    line += e.vm_cpu.empty() ? "" : ", cpu model " + e.vm_cpu;
    if (e.vm_accel_source != "cmdline") line += ", told by the CPU (" + e.vm_accel_source + ")";
    if (e.tcg()) line += " (TCG emulates the CPU: see the probes' notes on emulator differences)";
    out.push_back(line);
  }
  if (!e.container_hints.empty()) {
    std::string hints = "container hints:";
    for (const auto& h : e.container_hints) hints += " " + h;
    out.push_back(hints);
  }
  return out;
}

}  // namespace vma::harness
