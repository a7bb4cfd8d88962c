#include "profile.h"

#include <algorithm>
#include <cctype>
#include <csignal>
#include <cstring>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "arch.h"
#include "errno_name.h"
#include "signals.h"

namespace vma::harness {
namespace {

constexpr BuiltinProbe kProbes[] = {
    {"null-read", "load from address 0"},
    {"null-write", "store to address 0"},
    {"null-exec", "call address 0"},
    {"kernel-read", "load from a kernel-half address"},
    {"kernel-write", "store to a kernel-half address"},
    {"noncanonical-read", "load from a non-canonical address (x86 #GP; arm64: above VA_BITS)"},
    {"noncanonical-jump", "jump to a non-canonical address (#GP at the jump)"},
    {"text-write", "store into the program's own text"},
    {"rodata-write", "store into .rodata"},
    {"relro-write", "store into RELRO (.data.rel.ro / .got after relocation)"},
    {"vdso-write", "store into the vDSO"},
    {"exec-stack", "call a `ret` written on the main stack"},
    {"exec-heap", "call a `ret` written in the brk heap"},
    {"exec-bss", "call a `ret` written in .bss"},
    {"exec-data", "call a `ret` written in .data"},
    {"exec-anon", "call a `ret` written in anonymous rw memory"},
    {"wx-mmap", "mmap read-write-execute memory, write code, run it"},
    {"wx-mprotect", "write code into rw memory, mprotect it to rx, run it"},
    {"text-mprotect-write", "mprotect the program's text writable and patch it"},
    {"guard-prot-none", "touch a PROT_NONE guard mapping"},
    {"guard-madvise", "touch a MADV_GUARD_INSTALL guard page (Linux 6.13+)"},
    {"thread-stack-overflow", "overflow a thread's stack into its glibc guard page"},
    {"stack-overflow", "overflow the main stack past RLIMIT_STACK"},
    {"sigbus-eof", "read a file mapping past end of file"},
    {"sigbus-memfd-shrink", "write a memfd mapping after ftruncate shrank it"},
    {"vsyscall-read", "load from the legacy vsyscall page"},
    {"vsyscall-call", "call the legacy vsyscall gettimeofday"},
    {"mmap-min-addr", "mmap(MAP_FIXED) below vm.mmap_min_addr"},
    {"use-after-munmap", "load from memory after munmap"},
    {"pkey", "write to memory its protection key forbids"},
    {"mseal", "mprotect sealed memory (Linux 6.10+)"},
    {"mdwe", "RWX mmap after PR_SET_MDWE (Linux 6.3+)"},
    {"execstack-elf", "call code on the stack of a -z execstack program"},
    {"mte-sync", "arm64 MTE: store with a mismatched tag, synchronous checks"},
    {"mte-async", "arm64 MTE: store with a mismatched tag, asynchronous checks"},
    {"pac-auth", "arm64 PAC: branch to a pointer that fails authentication"},
    {"bti-landing", "arm64 BTI: indirect call into a guarded page, no landing pad"},
    {"tbi-read", "arm64 TBI: load through a tagged pointer (mapped, then unmapped)"},
};

Expectation fault(int signo, int code, AddrRule addr, std::vector<RegionKind> kinds,
                  AddrRule pc = AddrRule::any) {
  return fault_expectation(signo, code, addr, std::move(kinds), pc);
}

Expectation plain(Outcome o, std::optional<std::string> errno_name = std::nullopt) {
  Expectation e;
  e.outcome = o;
  e.errno_name = std::move(errno_name);
  return e;
}

Expectation skipped(std::string why) { return skip_expectation(std::move(why)); }

/// What every stock modern Linux does (REFERENCE.md §3), computed for `env`.
Expectation default_expectation(std::string_view id, const Environment& env) {
  // The architecture's row first: probes without a meaning there skip, and
  // its own probes and differing outcomes come from it (harness/arch.cc).
  if (auto e = arch_expectation(id, env)) return *e;
  using R = RegionKind;
  using A = AddrRule;
  const R null_kind = env.mmap_min_addr > 0 ? R::null_page : R::unmapped;
  if (id == "null-read" || id == "null-write") {
    auto e = fault(SIGSEGV, SEGV_MAPERR, A::zero, {null_kind});
    e.why = "nothing is mapped at 0";
    return e;
  }
  if (id == "null-exec") return fault(SIGSEGV, SEGV_MAPERR, A::zero, {null_kind}, A::zero);
  if (id == "kernel-read" || id == "kernel-write") {
    // LASS turns a user-mode access to the kernel half into a #GP.
    if (env.cpu.lass) {
      auto e = fault(SIGSEGV, SI_KERNEL, A::zero, {R::kernel});
      e.why = "LASS: #GP, si_addr 0";
      return e;
    }
    return fault(SIGSEGV, SEGV_MAPERR, A::target, {R::kernel});
  }
  if (id == "noncanonical-read") {
    auto e = fault(SIGSEGV, SI_KERNEL, A::zero, {R::non_canonical});
    e.why = "#GP: the kernel reports SI_KERNEL and si_addr 0";
    return e;
  }
  if (id == "noncanonical-jump") {
    // What the architecture guarantees: a #GP, so SIGSEGV SI_KERNEL si_addr
    // 0. Hardware also reports pc = the jump instruction; QEMU's TCG reports
    // pc = the target instead (REFERENCE.md §7, measured). Only a run that
    // `vma-harness vm` said is TCG (vmakit.accel=tcg) leaves pc unchecked.
    if (env.tcg()) {
      auto e = fault(SIGSEGV, SI_KERNEL, A::zero, {R::non_canonical});
      e.why = "#GP; pc not checked: QEMU TCG reports pc = the target, hardware the jump instruction";
      return e;
    }
    auto e = fault(SIGSEGV, SI_KERNEL, A::zero, {R::non_canonical}, A::jump_insn);
    e.why = "#GP raised by the jump instruction itself";
    return e;
  }
  if (id == "text-write") return fault(SIGSEGV, SEGV_ACCERR, A::target, {R::text});
  if (id == "rodata-write") return fault(SIGSEGV, SEGV_ACCERR, A::target, {R::rodata});
  if (id == "relro-write") return fault(SIGSEGV, SEGV_ACCERR, A::target, {R::relro});
  if (id == "vdso-write") return fault(SIGSEGV, SEGV_ACCERR, A::target, {R::vdso});
  if (id == "exec-stack") return fault(SIGSEGV, SEGV_ACCERR, A::target, {R::stack}, A::target);
  if (id == "exec-heap") return fault(SIGSEGV, SEGV_ACCERR, A::target, {R::heap}, A::target);
  if (id == "exec-bss") return fault(SIGSEGV, SEGV_ACCERR, A::target, {R::bss}, A::target);
  if (id == "exec-data") return fault(SIGSEGV, SEGV_ACCERR, A::target, {R::data}, A::target);
  if (id == "exec-anon") return fault(SIGSEGV, SEGV_ACCERR, A::target, {R::anon}, A::target);
  if (id == "wx-mmap" || id == "wx-mprotect" || id == "text-mprotect-write") {
    auto e = plain(Outcome::allowed);
    e.why = "stock kernels do not enforce W^X (paxtest: Vulnerable)";
    return e;
  }
  if (id == "guard-prot-none") return fault(SIGSEGV, SEGV_ACCERR, A::target, {R::guard});
  if (id == "guard-madvise") {
    if (!env.kernel.at_least(6, 13)) return skipped("MADV_GUARD_INSTALL needs Linux 6.13");
    auto e = fault(SIGSEGV, SEGV_MAPERR, A::target, {R::guard});
    e.why = "guard regions fault as if unmapped";
    return e;
  }
  if (id == "thread-stack-overflow") {
    auto e = fault(SIGSEGV, SEGV_ACCERR, A::any, {R::guard});
    e.why = "-fstack-clash-protection: the first touch below the stack hits the guard";
    return e;
  }
  if (id == "stack-overflow") {
    auto e = fault(SIGSEGV, SEGV_MAPERR, A::below_stack, {R::unmapped});
    e.why = "the kernel refuses to grow [stack] past RLIMIT_STACK";
    return e;
  }
  if (id == "sigbus-eof" || id == "sigbus-memfd-shrink")
    return fault(SIGBUS, BUS_ADRERR, A::target, {R::shared});
  if (id == "vsyscall-read") {
    Expectation e;
    switch (env.vsyscall) {
      case VsyscallMode::emulate: e = plain(Outcome::allowed); break;
      case VsyscallMode::xonly: e = fault(SIGSEGV, SEGV_MAPERR, A::target, {R::vsyscall}); break;
      case VsyscallMode::none: e = fault(SIGSEGV, SEGV_MAPERR, A::target, {R::kernel}); break;
    }
    e.why = "vsyscall " + to_string(env.vsyscall);
    return e;
  }
  if (id == "vsyscall-call") {
    Expectation e = env.vsyscall == VsyscallMode::none
                        ? fault(SIGSEGV, SEGV_MAPERR, A::target, {R::kernel}, A::target)
                        : plain(Outcome::allowed);
    e.why = "vsyscall " + to_string(env.vsyscall);
    return e;
  }
  if (id == "mmap-min-addr") {
    Expectation e;
    if (env.mmap_min_addr == 0) {
      e = plain(Outcome::allowed);
      e.why = "vm.mmap_min_addr is 0";
    } else if (env.probes_privileged) {
      e = plain(Outcome::allowed);
      e.why = "root (CAP_SYS_RAWIO) may map below mmap_min_addr";
    } else {
      e = plain(Outcome::refused, env.selinux_enforcing ? "EACCES" : "EPERM");
      e.why = "unprivileged";
    }
    return e;
  }
  if (id == "use-after-munmap") return fault(SIGSEGV, SEGV_MAPERR, A::target, {R::unmapped});
  if (id == "pkey") {
    if (!(env.cpu.pku && env.cpu.ospke)) return skipped("no PKU (cpu flags pku/ospke)");
    return fault(SIGSEGV, SEGV_PKUERR, A::target, {R::anon});
  }
  if (id == "mseal") {
    if (!env.kernel.at_least(6, 10)) return skipped("mseal needs Linux 6.10");
    return plain(Outcome::refused, "EPERM");
  }
  if (id == "mdwe") {
    if (!env.kernel.at_least(6, 3)) return skipped("PR_SET_MDWE needs Linux 6.3");
    return plain(Outcome::refused, "EACCES");
  }
  if (id == "execstack-elf") {
    auto e = plain(Outcome::allowed);
    e.why = env.kernel.at_least(5, 8) ? "only the stack is executable (5.8+)"
                                      : "READ_IMPLIES_EXEC before 5.8";
    return e;
  }
  return plain(Outcome::exited);
}

/// `hardened` = `default` plus W^X, vsyscall none, mmap_min_addr >= 64 KiB,
/// and mseal and MDWE present.
Expectation hardened_expectation(std::string_view id, const Environment& env) {
  if (auto why = arch_not_here(id, env)) return skipped(std::string(*why));
  Expectation e = default_expectation(id, env);
  if (id == "wx-mmap" || id == "wx-mprotect" || id == "text-mprotect-write") {
    e = plain(Outcome::refused);
    e.why = "W^X enforced (PaX, SELinux execmem, MDWE)";
  } else if (id == "vsyscall-read") {
    e = fault(SIGSEGV, SEGV_MAPERR, AddrRule::target, {RegionKind::kernel});
    e.why = "vsyscall=none";
  } else if (id == "vsyscall-call") {
    e = fault(SIGSEGV, SEGV_MAPERR, AddrRule::target, {RegionKind::kernel}, AddrRule::target);
    e.why = "vsyscall=none";
  } else if (id == "mmap-min-addr") {
    e.mmap_min_addr_at_least = 65536;
  } else if (id == "mseal" || id == "mdwe") {
    if (e.skip) {
      e.skip.reset();
      e.outcome = Outcome::refused;
      e.errno_name = id == "mseal" ? "EPERM" : "EACCES";
    }
    e.skip_ok = false;
  }
  return e;
}

// ---- TOML ------------------------------------------------------------------

std::string where(const std::string& file, const toml::source_region& src) {
  return file + ":" + std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column) + ": ";
}

Error error_at(const std::string& file, const toml::node& node, const std::string& msg) {
  return Error{where(file, node.source()) + msg};
}

std::string type_name(const toml::node& n) {
  std::ostringstream ss;
  ss << n.type();
  return ss.str();
}

Result<std::string> get_string(const std::string& file, const toml::node& n, std::string_view key) {
  if (auto s = n.value<std::string>(); s && n.is_string()) return *s;
  return error_at(file, n, "'" + std::string(key) + "' must be a string, not " + type_name(n));
}

Result<AddrRule> parse_rule(const std::string& file, const toml::node& n, std::string_view key,
                            Addr& value) {
  auto s = get_string(file, n, key);
  if (!s) return s.error();
  for (AddrRule r : {AddrRule::any, AddrRule::target, AddrRule::zero, AddrRule::below_stack,
                     AddrRule::jump_insn})
    if (*s == to_string(r)) return r;
  if (s->starts_with("0x")) {
    if (auto a = parse_address(*s)) {
      value = *a;
      return AddrRule::exact;
    }
  }
  return error_at(file, n, "unknown " + std::string(key) + " rule '" + *s +
                               "' (any, target, zero, below-stack, jump-insn or an address 0x...)");
}

/// Applies an expect table to `e` (see profile.h for the keys).
Result<void> apply_expect_table(const std::string& file, const toml::table& t, Expectation& e) {
  static const std::set<std::string, std::less<>> keys = {
      "outcome", "signal", "code", "addr", "pc", "region", "errno", "exit_code",
      "skip", "skip_ok", "mmap_min_addr_at_least", "why"};
  for (auto&& [k, v] : t) {
    if (!keys.contains(k.str()))
      return Error{where(file, k.source()) + "unknown key '" + std::string(k.str()) + "' in expect table"};
  }
  if (const toml::node* n = t.get("outcome")) {
    auto s = get_string(file, *n, "outcome");
    if (!s) return s.error();
    auto o = parse_outcome(*s);
    if (!o) return error_at(file, *n, "unknown outcome '" + *s + "' (fault, refused, allowed, exited)");
    e = Expectation{};
    e.outcome = *o;
  }
  if (const toml::node* n = t.get("signal")) {
    auto s = get_string(file, *n, "signal");
    if (!s) return s.error();
    auto sig = parse_signal(*s);
    if (!sig) return error_at(file, *n, "unknown signal '" + *s + "'");
    e.signo = *sig;
    e.code.reset();
  }
  if (const toml::node* n = t.get("code")) {
    auto s = get_string(file, *n, "code");
    if (!s) return s.error();
    if (!e.signo) return error_at(file, *n, "'code' needs a 'signal'");
    auto c = parse_si_code(*e.signo, *s);
    if (!c) return error_at(file, *n, "unknown code '" + *s + "' for " + signal_name(*e.signo));
    e.code = *c;
  }
  if (const toml::node* n = t.get("addr")) {
    auto r = parse_rule(file, *n, "addr", e.addr_value);
    if (!r) return r.error();
    if (*r == AddrRule::jump_insn) return error_at(file, *n, "'jump-insn' is a pc rule");
    e.addr = *r;
  }
  if (const toml::node* n = t.get("pc")) {
    auto r = parse_rule(file, *n, "pc", e.pc_value);
    if (!r) return r.error();
    if (*r == AddrRule::below_stack) return error_at(file, *n, "'below-stack' is an addr rule");
    e.pc = *r;
  }
  if (const toml::node* n = t.get("region")) {
    std::vector<const toml::node*> names;
    if (const toml::array* a = n->as_array()) {
      for (const toml::node& item : *a) names.push_back(&item);
    } else {
      names.push_back(n);
    }
    e.regions.clear();
    for (const toml::node* item : names) {
      auto s = get_string(file, *item, "region");
      if (!s) return s.error();
      auto k = parse_region_kind(*s);
      if (!k) return error_at(file, *item, "unknown region kind '" + *s + "'");
      e.regions.push_back(*k);
    }
  }
  if (const toml::node* n = t.get("errno")) {
    auto s = get_string(file, *n, "errno");
    if (!s) return s.error();
    if (!parse_errno_name(*s)) return error_at(file, *n, "unknown errno name '" + *s + "'");
    e.errno_name = *s;
  }
  if (const toml::node* n = t.get("exit_code")) {
    auto v = n->value<std::int64_t>();
    if (!n->is_integer() || !v || *v < 0 || *v > 255)
      return error_at(file, *n, "'exit_code' must be an integer 0..255");
    e.exit_code = static_cast<int>(*v);
  }
  if (const toml::node* n = t.get("skip")) {
    auto s = get_string(file, *n, "skip");
    if (!s) return s.error();
    e.skip = *s;
  }
  if (const toml::node* n = t.get("skip_ok")) {
    if (!n->is_boolean()) return error_at(file, *n, "'skip_ok' must be true or false");
    e.skip_ok = *n->value<bool>();
  }
  if (const toml::node* n = t.get("mmap_min_addr_at_least")) {
    auto v = n->value<std::int64_t>();
    if (!n->is_integer() || !v || *v < 0)
      return error_at(file, *n, "'mmap_min_addr_at_least' must be a non-negative integer");
    e.mmap_min_addr_at_least = static_cast<std::uint64_t>(*v);
  }
  if (const toml::node* n = t.get("why")) {
    auto s = get_string(file, *n, "why");
    if (!s) return s.error();
    e.why = *s;
  }
  if (e.code && !e.signo) return error_at(file, t, "'code' needs a 'signal'");
  return {};
}

Result<toml::table> parse_toml_file(const std::string& path) {
  try {
    return toml::parse_file(path);
  } catch (const toml::parse_error& err) {
    const auto& src = err.source();
    if (src.begin.line == 0) return Error{path + ": " + std::string(err.description())};
    return Error{path + ":" + std::to_string(src.begin.line) + ":" + std::to_string(src.begin.column) +
                 ": " + std::string(err.description())};
  }
}

bool valid_probe_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

}  // namespace

std::span<const BuiltinProbe> builtin_probes() { return kProbes; }

bool is_builtin_profile(std::string_view name) { return name == "default" || name == "hardened"; }

std::vector<ProbeDef> builtin_probe_defs(std::string_view profile, const Environment& env) {
  std::vector<ProbeDef> out;
  for (const BuiltinProbe& p : kProbes) {
    ProbeDef d;
    d.id = p.id;
    d.description = p.description;
    d.expect = profile == "hardened" ? hardened_expectation(p.id, env) : default_expectation(p.id, env);
    out.push_back(std::move(d));
  }
  return out;
}

std::optional<int> parse_errno_name(std::string_view name) { return os::errno_from_name(name); }

Result<std::vector<ProbeDef>> load_spec(const std::string& path) {
  auto parsed = parse_toml_file(path);
  if (!parsed) return parsed.error();
  const toml::table& root = *parsed;
  std::vector<ProbeDef> out;
  std::set<std::string> names;
  for (const BuiltinProbe& p : kProbes) names.emplace(p.id);
  for (auto&& [k, v] : root) {
    if (k.str() != "probe")
      return Error{where(path, k.source()) + "unknown key '" + std::string(k.str()) +
                   "' (a spec file holds [[probe]] tables)"};
  }
  const toml::node* probes = root.get("probe");
  if (!probes) return Error{path + ": no [[probe]] tables"};
  const toml::array* arr = probes->as_array();
  if (!arr || !arr->is_array_of_tables()) return error_at(path, *probes, "'probe' must be an array of tables ([[probe]])");
  static const std::set<std::string, std::less<>> keys = {"name", "command", "expect", "timeout",
                                                          "description"};
  for (const toml::node& item : *arr) {
    const toml::table& t = *item.as_table();
    for (auto&& [k, v] : t)
      if (!keys.contains(k.str()))
        return Error{where(path, k.source()) + "unknown key '" + std::string(k.str()) +
                     "' in [[probe]] (name, command, expect, timeout, description)"};
    ProbeDef d;
    d.user = true;
    const toml::node* name = t.get("name");
    if (!name) return error_at(path, t, "[[probe]] without 'name'");
    auto n = get_string(path, *name, "name");
    if (!n) return n.error();
    if (!valid_probe_name(*n)) return error_at(path, *name, "bad probe name '" + *n + "' (letters, digits, - _ .)");
    if (!names.insert(*n).second) return error_at(path, *name, "duplicate probe name '" + *n + "'");
    d.id = *n;
    const toml::node* cmd = t.get("command");
    if (!cmd) return error_at(path, t, "probe '" + d.id + "' has no 'command'");
    const toml::array* ca = cmd->as_array();
    if (!ca || ca->empty()) return error_at(path, *cmd, "'command' must be a non-empty array of strings");
    for (const toml::node& arg : *ca) {
      auto s = get_string(path, arg, "command");
      if (!s) return s.error();
      d.command.push_back(*s);
    }
    const toml::node* expect = t.get("expect");
    if (!expect) return error_at(path, t, "probe '" + d.id + "' has no 'expect'");
    if (!expect->is_table()) return error_at(path, *expect, "'expect' must be a table");
    if (!expect->as_table()->contains("outcome"))
      return error_at(path, *expect, "'expect' needs an 'outcome'");
    if (auto r = apply_expect_table(path, *expect->as_table(), d.expect); !r) return r.error();
    if (const toml::node* to = t.get("timeout")) {
      auto v = to->value<double>();
      if (!(to->is_integer() || to->is_floating_point()) || !v || !(*v > 0) || *v > 86400)
        return error_at(path, *to, "'timeout' must be a number of seconds > 0");
      d.timeout = *v;
    }
    if (const toml::node* desc = t.get("description")) {
      auto s = get_string(path, *desc, "description");
      if (!s) return s.error();
      d.description = *s;
    } else {
      d.description = "user probe";
    }
    out.push_back(std::move(d));
  }
  return out;
}

namespace {

/// A profile file's top level, read once for both its readers (probe
/// expectations, audit checks): the keys checked, and the base profile.
struct ProfileTop {
  toml::table root;
  std::string base = "default";
};

Result<ProfileTop> read_profile_top(const std::string& path) {
  auto parsed = parse_toml_file(path);
  if (!parsed) return parsed.error();
  ProfileTop top{std::move(*parsed)};
  for (auto&& [k, v] : top.root) {
    if (k.str() != "base" && k.str() != "expect" && k.str() != "audit" && k.str() != "name" &&
        k.str() != "description")
      return Error{where(path, k.source()) + "unknown key '" + std::string(k.str()) +
                   "' (base, name, description, [expect.ID], [audit.NAME])"};
  }
  if (const toml::node* b = top.root.get("base")) {
    auto s = get_string(path, *b, "base");
    if (!s) return s.error();
    if (!is_builtin_profile(*s)) return error_at(path, *b, "unknown base profile '" + *s + "' (default, hardened)");
    top.base = *s;
  }
  for (const toml::node* k : {top.root.get("name"), top.root.get("description")})
    if (k && !k->is_string()) return error_at(path, *k, "must be a string");
  return top;
}

}  // namespace

Result<void> apply_profile_file(const std::string& path, const Environment& env,
                                std::vector<ProbeDef>& probes) {
  auto top = read_profile_top(path);
  if (!top) return top.error();
  const toml::table& root = top->root;
  const std::string& base = top->base;
  for (ProbeDef& p : probes)
    if (!p.user) p.expect = base == "hardened" ? hardened_expectation(p.id, env) : default_expectation(p.id, env);
  const toml::node* expect = root.get("expect");
  if (!expect) return {};
  if (!expect->is_table()) return error_at(path, *expect, "'expect' must be a table of [expect.ID] tables");
  for (auto&& [k, v] : *expect->as_table()) {
    // Not [&]: clang before 16 cannot capture a structured binding.
    auto it = std::find_if(probes.begin(), probes.end(), [id = k.str()](const ProbeDef& p) { return p.id == id; });
    if (it == probes.end())
      return Error{where(path, k.source()) + "unknown probe '" + std::string(k.str()) + "'"};
    if (!v.is_table()) return error_at(path, v, "[expect." + std::string(k.str()) + "] must be a table");
    if (auto r = apply_expect_table(path, *v.as_table(), it->expect); !r) return r.error();
  }
  return {};
}

Result<AuditProfileFile> load_audit_profile(
    const std::string& path, std::span<const std::string_view> names,
    const std::function<std::optional<std::string>(std::string_view)>& check_rule) {
  auto top = read_profile_top(path);
  if (!top) return top.error();
  const toml::table& root = top->root;
  AuditProfileFile out;
  out.base = top->base;
  const toml::node* audit = root.get("audit");
  if (!audit) return out;
  if (!audit->is_table()) return error_at(path, *audit, "'audit' must be a table of [audit.NAME] tables");
  for (auto&& [k, v] : *audit->as_table()) {
    const std::string name(k.str());
    if (std::find(names.begin(), names.end(), name) == names.end())
      return Error{where(path, k.source()) + "unknown audit check '" + name + "'"};
    if (!v.is_table()) return error_at(path, v, "[audit." + name + "] must be a table");
    AuditOverride o;
    for (auto&& [key, val] : *v.as_table()) {
      if (key.str() == "expected") {
        auto s = get_string(path, val, "expected");
        if (!s) return s.error();
        if (auto bad = check_rule(*s)) return error_at(path, val, *bad);
        o.expected = *s;
      } else if (key.str() == "why") {
        auto s = get_string(path, val, "why");
        if (!s) return s.error();
        o.why = *s;
      } else {
        return Error{where(path, key.source()) + "unknown key '" + std::string(key.str()) +
                     "' in [audit." + name + "] (expected, why)"};
      }
    }
    if (o.expected.empty()) return error_at(path, v, "[audit." + name + "] needs 'expected'");
    out.overrides[name] = std::move(o);
  }
  return out;
}

}  // namespace vma::harness
