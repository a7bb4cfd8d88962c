#include "audit.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "profile.h"

namespace vma::harness {
namespace {

constexpr std::string_view kNames[] = {
    "randomize_va_space",
    "mmap_min_addr",
    "mmap_rnd_bits",
    "mmap_rnd_compat_bits",
    "vsyscall",
    "kptr_restrict",
    "ptrace_scope",
    "unprivileged_userfaultfd",
    "memfd_noexec",
    "stack_guard_gap",
    "CONFIG_STRICT_KERNEL_RWX",
    "CONFIG_STRICT_MODULE_RWX",
    "CONFIG_COMPAT_BRK",
    "CONFIG_LEGACY_VSYSCALL",
    "CONFIG_X86_USER_SHADOW_STACK",
    "CONFIG_MSEAL_SYSTEM_MAPPINGS",
    "CONFIG_RANDOMIZE_BASE",
    "CONFIG_RANDOMIZE_MEMORY",
    "CONFIG_HARDENED_USERCOPY",
    "CONFIG_STACKPROTECTOR_STRONG",
    "CONFIG_VMAP_STACK",
    "CONFIG_DEBUG_WX",
    "CONFIG_INIT_ON_ALLOC_DEFAULT_ON",
    "CONFIG_SLAB_FREELIST_RANDOM",
    "CONFIG_SECURITY_YAMA",
    "CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS",
    "CONFIG_ARCH_MMAP_RND_BITS",
    "CONFIG_ARM64_MTE",
    "CONFIG_ARM64_PTR_AUTH",
    "CONFIG_ARM64_BTI",
    "CONFIG_ARM64_PAN",
    "CONFIG_ARM64_VA_BITS",
    "cpu.nx",
    "cpu.smep",
    "cpu.smap",
    "cpu.umip",
    "cpu.pku",
    "cpu.shstk",
    "cpu.la57",
    "cpu.mte",
    "cpu.bti",
    "cpu.paca",
};

bool is_x86(std::string_view arch) { return arch == "x86_64" || arch == "i686" || arch == "i386"; }

/// Checks that exist on one architecture family only; every other check
/// exists everywhere.
struct OnlyOn {
  std::string_view name;
  bool x86;  ///< true: x86 only; false: arm64 only
};
constexpr OnlyOn kOnlyOn[] = {
    {"vsyscall", true},
    {"CONFIG_LEGACY_VSYSCALL", true},
    {"CONFIG_X86_USER_SHADOW_STACK", true},
    {"CONFIG_RANDOMIZE_MEMORY", true},
    {"CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS", true},
    {"cpu.nx", true},
    {"cpu.smep", true},
    {"cpu.smap", true},
    {"cpu.umip", true},
    {"cpu.pku", true},
    {"cpu.shstk", true},
    {"cpu.la57", true},
    {"CONFIG_ARM64_MTE", false},
    {"CONFIG_ARM64_PTR_AUTH", false},
    {"CONFIG_ARM64_BTI", false},
    {"CONFIG_ARM64_PAN", false},
    {"CONFIG_ARM64_VA_BITS", false},
    {"cpu.mte", false},
    {"cpu.bti", false},
    {"cpu.paca", false},
};

/// Why check `name` does not exist on `arch` ("x86 only"), or nullopt.
std::optional<std::string> not_on_arch(std::string_view name, std::string_view arch) {
  const bool x86 = is_x86(arch), arm64 = arch == "aarch64";
  for (const OnlyOn& o : kOnlyOn) {
    if (o.name != name) continue;
    if (o.x86 && !x86) return "x86 only";
    if (!o.x86 && !arm64) return "arm64 only";
  }
  return std::nullopt;
}

Reading value(std::string v, std::string note = {}) { return {Reading::State::value, std::move(v), std::move(note)}; }
Reading absent(std::string why) { return {Reading::State::absent, "not present (" + why + ")", {}}; }
Reading unknown(std::string why) { return {Reading::State::unknown, "unknown (" + why + ")", {}}; }

/// A /proc/sys setting. `absent_why` explains ENOENT.
Reading sysctl(const std::string& path, const std::string& absent_why) {
  int err = 0;
  auto v = read_setting(path, &err);
  if (v) return value(*v);
  if (err == ENOENT) return absent(absent_why);
  return unknown(path + ": " + std::strerror(err));
}

std::optional<long long> to_number(std::string_view s) {
  long long v = 0;
  int base = 10;
  if (s.starts_with("0x") || s.starts_with("0X")) {
    s.remove_prefix(2);
    base = 16;
  }
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> alternatives(std::string_view rule) {
  std::vector<std::string_view> out;
  for (;;) {
    const std::size_t bar = rule.find('|');
    out.push_back(trim(rule.substr(0, bar)));
    if (bar == std::string_view::npos) return out;
    rule.remove_prefix(bar + 1);
  }
}

/// ">= 42" -> (">=", 42); nullopt when `alt` is not a comparison.
std::optional<std::pair<std::string_view, std::string_view>> comparison(std::string_view alt) {
  for (std::string_view op : {">=", "<=", ">", "<"})
    if (alt.starts_with(op)) return std::make_pair(op, trim(alt.substr(op.size())));
  return std::nullopt;
}

bool rule_allows_absent(std::string_view rule) {
  for (auto alt : alternatives(rule))
    if (alt == "any" || alt == "not present") return true;
  return false;
}

/// The Kconfig reading for CONFIG_`name`: "y", "m", "n" (`# ... is not
/// set`), a value, or "not present" when the file has no line for it.
Reading kconfig_option(const Result<Kconfig>& k, std::string_view name) {
  if (!k) return unknown(k.error().message);
  auto v = k->get(name);
  if (!v) return value("not present", k->source + " has no CONFIG_" + std::string(name) + " line");
  return value(*v);
}

}  // namespace

std::string to_string(AuditStatus s) {
  switch (s) {
    case AuditStatus::pass: return "pass";
    case AuditStatus::fail: return "fail";
    case AuditStatus::skip: return "skip";
    case AuditStatus::unknown: return "unknown";
  }
  return "unknown";
}

std::span<const std::string_view> audit_check_names() { return kNames; }

std::optional<std::string> check_audit_rule(std::string_view rule) {
  if (trim(rule).empty()) return "empty rule";
  for (auto alt : alternatives(rule)) {
    if (alt.empty()) return "empty alternative in '" + std::string(rule) + "'";
    if (auto cmp = comparison(alt); cmp && !to_number(cmp->second))
      return "bad number in '" + std::string(alt) + "' (>= N, <= N, > N, < N)";
  }
  return std::nullopt;
}

bool rule_accepts(std::string_view rule, std::string_view v) {
  for (auto alt : alternatives(rule)) {
    if (alt == "any") return true;
    if (auto cmp = comparison(alt)) {
      auto want = to_number(cmp->second);
      auto have = to_number(v);
      if (!want || !have) continue;
      if ((cmp->first == ">=" && *have >= *want) || (cmp->first == "<=" && *have <= *want) ||
          (cmp->first == ">" && *have > *want) || (cmp->first == "<" && *have < *want))
        return true;
      continue;
    }
    if (alt == v) return true;
  }
  return false;
}

AuditFacts read_audit_facts(const Environment& env) {
  AuditFacts f;
  f.arch = env.arch;
  auto& r = f.readings;
  const std::string cmdline = kernel_cmdline();
  const Result<Kconfig> kconfig = read_kconfig(env.kernel_release, env.kconfig_file);
  f.kconfig = kconfig ? kconfig->source : "none: " + kconfig.error().message;

  r["randomize_va_space"] = sysctl("/proc/sys/kernel/randomize_va_space", "no CONFIG_MMU?");
  if (env.norandmaps) r["randomize_va_space"].note = "but norandmaps on the command line turns randomisation off";
  r["mmap_min_addr"] = sysctl("/proc/sys/vm/mmap_min_addr", "no CONFIG_MMU?");
  r["mmap_rnd_bits"] = sysctl("/proc/sys/vm/mmap_rnd_bits", "no CONFIG_HAVE_ARCH_MMAP_RND_BITS");
  r["mmap_rnd_compat_bits"] =
      sysctl("/proc/sys/vm/mmap_rnd_compat_bits", "no 32-bit compat: CONFIG_HAVE_ARCH_MMAP_RND_COMPAT_BITS off");
  r["kptr_restrict"] = sysctl("/proc/sys/kernel/kptr_restrict", "no CONFIG_PRINTK?");

  // Yama's sysctl exists only when Yama is built in and enabled (lsm=).
  std::string yama_why = "Yama not built in";
  if (kconfig) {
    if (kconfig->get("SECURITY_YAMA").value_or("n") == "y") yama_why = "Yama built in but not enabled: lsm=";
  } else {
    yama_why = "Yama not built in or not enabled";
  }
  r["ptrace_scope"] = sysctl("/proc/sys/kernel/yama/ptrace_scope", yama_why);
  r["unprivileged_userfaultfd"] = sysctl("/proc/sys/vm/unprivileged_userfaultfd", "CONFIG_USERFAULTFD off");
  r["memfd_noexec"] = sysctl("/proc/sys/vm/memfd_noexec",
                             env.kernel.at_least(6, 3) ? "no vm.memfd_noexec" : "Linux < 6.3");

  // vsyscall: the mode the kernel applied, from the [vsyscall] line's
  // permissions (environment.cc); vsyscall= on the command line or
  // CONFIG_LEGACY_VSYSCALL_* chose it (arch/x86/entry/vsyscall/vsyscall_64.c).
  if (is_x86(env.arch)) {
    const auto param = cmdline_param(cmdline, "vsyscall");
    std::string note = "[vsyscall] ";
    note += env.vsyscall == VsyscallMode::emulate ? "r-xp" : env.vsyscall == VsyscallMode::xonly ? "--xp" : "absent";
    note += " in /proc/self/maps; ";
    note += param ? "vsyscall=" + *param + " on the command line" : "no vsyscall= on the command line";
    if (param && *param != to_string(env.vsyscall)) note += " (differs from the mode in effect)";
    r["vsyscall"] = value(to_string(env.vsyscall), note);
  } else {
    r["vsyscall"] = absent("x86 only");
  }

  // A boot parameter, not a sysctl (mm/mmap.c cmdline_parse_stack_guard_gap).
  if (auto gap = cmdline_param(cmdline, "stack_guard_gap"))
    r["stack_guard_gap"] = value(*gap, "stack_guard_gap= on the command line (pages)");
  else
    r["stack_guard_gap"] = value("256", "no stack_guard_gap= on the command line: kernel default, 256 pages");

  for (std::string_view name : kNames) {
    if (!name.starts_with("CONFIG_")) continue;
    const std::string opt(name.substr(7));
    if (auto why = not_on_arch(name, env.arch)) {
      r[std::string(name)] = absent(*why);
      continue;
    }
    if (opt == "LEGACY_VSYSCALL") {
      // A choice: report the selected mode.
      if (!kconfig) {
        r[std::string(name)] = unknown(kconfig.error().message);
        continue;
      }
      std::string mode = "not present";
      for (const char* m : {"NONE", "XONLY", "EMULATE"})
        if (kconfig->get(std::string("LEGACY_VSYSCALL_") + m).value_or("n") == "y") mode = m;
      std::transform(mode.begin(), mode.end(), mode.begin(), [](char c) { return std::tolower(c); });
      r[std::string(name)] = value(mode);
      continue;
    }
    if (opt == "STRICT_MODULE_RWX" && kconfig && kconfig->get("MODULES").value_or("n") != "y") {
      r[std::string(name)] = absent("CONFIG_MODULES off");
      continue;
    }
    r[std::string(name)] = kconfig_option(kconfig, opt);
  }

  // CPU features, as the kernel reports them (it clears flags it disabled).
  const auto flags = cpu_flags();
  auto has = [&](const char* f) { return flags.count(f) != 0; };
  for (std::string_view name : kNames) {
    if (!name.starts_with("cpu.")) continue;
    if (auto why = not_on_arch(name, env.arch)) {
      r[std::string(name)] = absent(*why);
      continue;
    }
    const std::string flag(name.substr(4));
    if (!is_x86(env.arch)) {
      // arm64: the hwcaps (environment.cc), which is what user space may use.
      r[std::string(name)] = value(env.cpu.get(flag) ? "yes" : "no", "AT_HWCAP/AT_HWCAP2");
      continue;
    }
    bool on = has(flag.c_str());
    std::string note;
    if (flag == "pku") {
      on = has("pku") && has("ospke");
      if (has("pku") && !has("ospke")) note = "cpu has pku, but no ospke: the kernel did not enable it";
    } else if (flag == "shstk") {
      on = has("user_shstk");
      if (has("shstk") && !has("user_shstk")) note = "cpu has shstk, but no user_shstk: not enabled for user space";
    }
    r[std::string(name)] = value(on ? "yes" : "no", note);
  }
  return f;
}

std::map<std::string, AuditExpectation, std::less<>> audit_expectations(std::string_view profile,
                                                                          std::string_view arch,
                                                                          KernelVersion kernel) {
  const bool hard = profile == "hardened";
  const bool x86 = is_x86(arch);
  // CONFIG_ARCH_MMAP_RND_BITS_MIN/_MAX: x86_64 28..32, compat 8..16; arm64
  // (4K pages, 48-bit VA) 18..33, compat 11..16.
  const std::string rnd_min = x86 ? "28" : "18", rnd_max = x86 ? "32" : "33";
  const std::string compat_min = x86 ? "8" : "11";
  auto pick = [&](const std::string& d, const std::string& h) { return hard ? h : d; };
  std::map<std::string, AuditExpectation, std::less<>> e = {
      {"randomize_va_space", {"2", "2 randomises stack, mmap, vDSO and brk; 1 leaves brk fixed; 0 is off"}},
      {"mmap_min_addr",
       {pick(">= 4096", ">= 65536"),
        "lowest address unprivileged mmap may map: keeps kernel NULL-pointer bugs off user memory"}},
      {"mmap_rnd_bits",
       {pick(">= " + rnd_min, ">= " + rnd_max), "bits of mmap_base randomisation (range " + rnd_min + ".." + rnd_max + ")"}},
      {"mmap_rnd_compat_bits",
       {pick(">= " + compat_min + "|not present", ">= 16|not present"), "the same for 32-bit processes"}},
      {"vsyscall",
       {pick("xonly|none", "none"),
        "the legacy vsyscall page at a fixed address: xonly keeps its calls, none removes the page"}},
      {"kptr_restrict", {pick("any", "2"), "hides kernel pointers in /proc from users (1) or everyone (2)"}},
      {"ptrace_scope", {pick("any", ">= 1"), "Yama: 1 lets a process trace only its descendants, 3 forbids ptrace"}},
      // The stock default was 1 from 5.2 (cefdca0a86be) until 5.11 made it 0
      // (d0d4730ac2e4): a stock 5.10 passes the default profile with 1.
      {"unprivileged_userfaultfd",
       kernel.at_least(5, 11) || hard
           ? AuditExpectation{"0|not present",
                              "0: userfaultfd of kernel-mode faults needs CAP_SYS_PTRACE (a race-widening primitive)"}
           : AuditExpectation{"0|1|not present",
                              "1 is the stock default before Linux 5.11 (d0d4730ac2e4 made it 0); 0 keeps "
                              "userfaultfd of kernel-mode faults from users (a race-widening primitive)"}},
      {"memfd_noexec", {pick("any", ">= 1"), "1 makes memfds non-executable by default, 2 forbids executable ones"}},
      {"stack_guard_gap", {">= 256", "pages kept free below a stack VMA (stack clash); 256 since Linux 4.12"}},
      {"CONFIG_STRICT_KERNEL_RWX", {"y", "kernel text read-only, kernel data non-executable"}},
      {"CONFIG_STRICT_MODULE_RWX", {"y|not present", "the same for modules (absent without CONFIG_MODULES)"}},
      {"CONFIG_COMPAT_BRK", {"n|not present", "y makes randomize_va_space default to 1 (brk not randomised)"}},
      {"CONFIG_LEGACY_VSYSCALL",
       {pick("xonly|none", "none"), "the default vsyscall= mode (CONFIG_LEGACY_VSYSCALL_*)"}},
      {"CONFIG_X86_USER_SHADOW_STACK", {pick("any", "y"), "CET shadow stacks for user programs (Linux 6.6+)"}},
      {"CONFIG_MSEAL_SYSTEM_MAPPINGS", {pick("any", "y"), "seals vDSO, vvar, sigpage (Linux 6.15+)"}},
      {"CONFIG_RANDOMIZE_BASE", {"y", "KASLR: the kernel image moves at boot"}},
      {"CONFIG_RANDOMIZE_MEMORY", {"y", "the direct map, vmalloc and vmemmap bases move at boot"}},
      {"CONFIG_HARDENED_USERCOPY", {pick("any", "y"), "bounds-checks copies between user and kernel memory"}},
      {"CONFIG_STACKPROTECTOR_STRONG", {"y", "stack canaries in kernel functions with local arrays"}},
      {"CONFIG_VMAP_STACK", {"y", "kernel stacks in vmalloc space, with guard pages"}},
      {"CONFIG_DEBUG_WX", {pick("any", "y"), "warns at boot about W+X kernel mappings"}},
      {"CONFIG_INIT_ON_ALLOC_DEFAULT_ON", {pick("any", "y"), "zeroes kernel allocations"}},
      {"CONFIG_SLAB_FREELIST_RANDOM", {pick("any", "y"), "randomises slab freelist order"}},
      {"CONFIG_SECURITY_YAMA", {pick("any", "y"), "Yama LSM (ptrace_scope)"}},
      {"CONFIG_X86_INTEL_MEMORY_PROTECTION_KEYS", {pick("any", "y"), "pkeys for user space (needs cpu pku)"}},
      {"CONFIG_ARCH_MMAP_RND_BITS",
       {pick(">= " + rnd_min, ">= " + rnd_max), "build-time default of vm.mmap_rnd_bits"}},
      {"CONFIG_ARM64_MTE",
       {pick("any", "y"), "Memory Tagging Extension for user space (PROT_MTE; needs the CPU's FEAT_MTE2)"}},
      {"CONFIG_ARM64_PTR_AUTH", {pick("any", "y"), "pointer authentication for user space (PAC; HWCAP_PACA)"}},
      {"CONFIG_ARM64_BTI", {pick("any", "y"), "branch target identification for user space (PROT_BTI)"}},
      {"CONFIG_ARM64_PAN", {"y", "privileged access never: the kernel cannot touch user memory unless it means to"}},
      {"CONFIG_ARM64_VA_BITS",
       {pick("any", ">= 48"), "user virtual-address bits: 48 (or 52) give mmap_rnd_bits its 33-bit maximum"}},
      {"cpu.mte", {pick("any", "yes"), "the CPU has MTE and the kernel offers it (HWCAP2_MTE)"}},
      {"cpu.bti", {pick("any", "yes"), "the CPU has BTI and the kernel offers it (HWCAP2_BTI)"}},
      {"cpu.paca", {pick("any", "yes"), "address pointer authentication available to user space (HWCAP_PACA)"}},
      {"cpu.nx", {"yes", "no-execute pages: every NX probe depends on it"}},
      {"cpu.smep", {pick("any", "yes"), "the kernel cannot execute user pages"}},
      {"cpu.smap", {pick("any", "yes"), "the kernel cannot read user pages unless it means to"}},
      {"cpu.umip", {pick("any", "yes"), "sgdt/sidt/str/sldt/smsw fault in user mode"}},
      {"cpu.pku", {"any", "protection keys, enabled by the kernel (pku and ospke)"}},
      {"cpu.shstk", {pick("any", "yes"), "CET shadow stack enabled for user space (user_shstk)"}},
      {"cpu.la57", {"any", "5-level paging: 56-bit user addresses"}},
  };
  // A check of another architecture is absent here, as it should be.
  for (auto& [name, x] : e)
    if (auto why = not_on_arch(name, arch)) x.expected = "not present";
  return e;
}

AuditReport judge_audit(const AuditFacts& facts,
                        const std::map<std::string, AuditExpectation, std::less<>>& expectations,
                        std::string profile) {
  AuditReport report;
  report.profile = std::move(profile);
  report.kconfig = facts.kconfig;
  for (std::string_view name : kNames) {
    AuditCheck c;
    c.name = std::string(name);
    auto exp = expectations.find(name);
    c.expected = exp == expectations.end() ? "any" : exp->second.expected;
    std::string why = exp == expectations.end() ? "" : exp->second.why;
    auto rd = facts.readings.find(name);
    const Reading reading = rd == facts.readings.end() ? unknown("not read") : rd->second;
    c.value = reading.value;
    switch (reading.state) {
      case Reading::State::unknown:
        c.status = AuditStatus::unknown;
        break;
      case Reading::State::absent:
        // The value already says why it is absent.
        c.status = rule_allows_absent(c.expected) ? AuditStatus::skip : AuditStatus::fail;
        break;
      case Reading::State::value:
        c.status = rule_accepts(c.expected, reading.value) ? AuditStatus::pass : AuditStatus::fail;
        if (!reading.note.empty()) why += " (" + reading.note + ")";
        break;
    }
    c.why = why;
    report.checks.push_back(std::move(c));
  }
  return report;
}

Result<AuditReport> run_audit(const std::string& profile, const Environment& env) {
  std::string base = profile;
  std::map<std::string, AuditExpectation, std::less<>> overrides;
  if (!is_builtin_profile(profile)) {
    auto file = load_audit_profile(profile, kNames, check_audit_rule);
    if (!file) return file.error();
    base = file->base;
    for (auto& [name, o] : file->overrides) overrides[name] = {o.expected, o.why};
  }
  auto expectations = audit_expectations(base, env.arch, env.kernel);
  for (auto& [name, o] : overrides) {
    auto& e = expectations[name];
    e.expected = o.expected;
    if (!o.why.empty()) e.why = o.why;
  }
  return judge_audit(read_audit_facts(env), expectations, profile);
}

int exit_status(const AuditReport& r) {
  return std::any_of(r.checks.begin(), r.checks.end(), [](const AuditCheck& c) { return c.status == AuditStatus::fail; })
             ? 1
             : 0;
}

nlohmann::json to_json(const AuditReport& r) {
  nlohmann::json checks = nlohmann::json::array();
  for (const auto& c : r.checks)
    checks.push_back({{"name", c.name}, {"value", c.value}, {"expected", c.expected},
                      {"status", to_string(c.status)}, {"why", c.why}});
  return {{"kconfig", r.kconfig}, {"checks", checks}};
}

std::string audit_text(const AuditReport& r, bool color) {
  std::size_t wn = 4, wv = 5, we = 8;
  for (const auto& c : r.checks) {
    wn = std::max(wn, c.name.size());
    wv = std::max(wv, std::min<std::size_t>(c.value.size(), 40));
    we = std::max(we, c.expected.size());
  }
  auto pad = [](std::string s, std::size_t w) {
    if (s.size() < w) s.append(w - s.size(), ' ');
    return s;
  };
  std::string s = "kconfig: " + r.kconfig + "\n" + pad("CHECK", wn) + "  " + pad("VALUE", wv) + "  " + pad("EXPECTED", we) + "  " + pad("STATUS", 7) +
                  "  WHY\n";
  std::size_t counts[4] = {};
  for (const auto& c : r.checks) {
    ++counts[static_cast<int>(c.status)];
    std::string st = pad(to_string(c.status), 7);
    if (color) {
      const char* col = c.status == AuditStatus::pass   ? "\033[32m"
                        : c.status == AuditStatus::fail ? "\033[1;31m"
                                                        : "\033[33m";
      st = col + st + "\033[0m";
    }
    s += pad(c.name, wn) + "  " + pad(c.value, wv) + "  " + pad(c.expected, we) + "  " + st + "  " + c.why + "\n";
  }
  s += "\n" + std::to_string(r.checks.size()) + " checks: " + std::to_string(counts[0]) + " pass, " +
       std::to_string(counts[1]) + " fail, " + std::to_string(counts[2]) + " skip, " + std::to_string(counts[3]) +
       " unknown\n";
  return s;
}

}  // namespace vma::harness
