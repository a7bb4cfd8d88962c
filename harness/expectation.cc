#include "expectation.h"

#include <algorithm>
#include <csignal>

#include "render.h"
#include "signals.h"

namespace vma::harness {

std::string to_string(Outcome o) {
  switch (o) {
    case Outcome::fault: return "fault";
    case Outcome::refused: return "refused";
    case Outcome::allowed: return "allowed";
    case Outcome::exited: return "exited";
  }
  return "exited";
}

std::optional<Outcome> parse_outcome(std::string_view s) {
  for (Outcome o : {Outcome::fault, Outcome::refused, Outcome::allowed, Outcome::exited})
    if (s == to_string(o)) return o;
  return std::nullopt;
}

std::string to_string(AddrRule r) {
  switch (r) {
    case AddrRule::any: return "any";
    case AddrRule::target: return "target";
    case AddrRule::zero: return "zero";
    case AddrRule::below_stack: return "below-stack";
    case AddrRule::exact: return "exact";
    case AddrRule::jump_insn: return "jump-insn";
  }
  return "any";
}

std::string to_string(Status s) {
  switch (s) {
    case Status::pass: return "pass";
    case Status::fail: return "fail";
    case Status::skip: return "skip";
    case Status::error: return "error";
  }
  return "error";
}

namespace {

std::string rule_text(AddrRule r, Addr value, bool untagged = false) {
  if (r == AddrRule::target && untagged) return "target-untagged";
  return r == AddrRule::exact ? hex(value) : to_string(r);
}

std::string kinds_text(const std::vector<RegionKind>& kinds) {
  std::string s;
  for (RegionKind k : kinds) {
    if (!s.empty()) s += "|";
    s += std::string(to_string(k));
  }
  return s;
}

std::string signal_code_text(std::optional<int> signo, std::optional<int> code) {
  std::string s = signo ? signal_name(*signo) : "any signal";
  if (code) s += " " + (signo ? si_code_name(*signo, *code) : std::to_string(*code));
  return s;
}

}  // namespace

std::string describe(const Expectation& e) {
  if (e.skip) return "skip: " + *e.skip;
  switch (e.outcome) {
    case Outcome::fault: {
      std::string s = signal_code_text(e.signo, e.code);
      if (e.addr != AddrRule::any) s += " addr=" + rule_text(e.addr, e.addr_value, e.target_untagged);
      if (e.pc != AddrRule::any) s += " pc=" + rule_text(e.pc, e.pc_value, e.target_untagged);
      if (!e.regions.empty()) s += " " + kinds_text(e.regions);
      return s;
    }
    case Outcome::refused: return "refused " + e.errno_name.value_or("(any errno)");
    case Outcome::allowed: return "allowed";
    case Outcome::exited: return e.exit_code ? "exited " + std::to_string(*e.exit_code) : "exited";
  }
  return "?";
}

nlohmann::json to_json(const Expectation& e) {
  nlohmann::json j = {{"outcome", e.skip ? "skip" : to_string(e.outcome)}};
  if (e.skip) j["skip"] = *e.skip;
  if (e.signo) j["signal"] = signal_name(*e.signo);
  if (e.code) j["code"] = e.signo ? si_code_name(*e.signo, *e.code) : std::to_string(*e.code);
  if (e.outcome == Outcome::fault) {
    j["addr"] = rule_text(e.addr, e.addr_value, e.target_untagged);
    j["pc"] = rule_text(e.pc, e.pc_value, e.target_untagged);
    std::vector<std::string> kinds;
    for (RegionKind k : e.regions) kinds.emplace_back(to_string(k));
    j["region"] = kinds;
  }
  if (e.errno_name) j["errno"] = *e.errno_name;
  if (e.exit_code) j["exit_code"] = *e.exit_code;
  if (e.mmap_min_addr_at_least) j["mmap_min_addr_at_least"] = *e.mmap_min_addr_at_least;
  j["skip_ok"] = e.skip_ok;
  if (!e.why.empty()) j["why"] = e.why;
  return j;
}

Expectation fault_expectation(int signo, int code, AddrRule addr, std::vector<RegionKind> kinds,
                              AddrRule pc) {
  Expectation e;
  e.outcome = Outcome::fault;
  e.signo = signo;
  e.code = code;
  e.addr = addr;
  e.pc = pc;
  e.regions = std::move(kinds);
  return e;
}

Expectation skip_expectation(std::string why) {
  Expectation e;
  e.skip = std::move(why);
  return e;
}

const Annotation* Observation::region_annotation() const {
  // A #GP (non-canonical address, LASS) reports SI_KERNEL and si_addr 0, an
  // arm64 asynchronous MTE fault SEGV_MTEAERR and 0 (core's fault_address_hidden).
  if (at_target && (!at_addr || (signo && code && fault_address_hidden(*signo, *code) && addr.value_or(0) == 0)))
    return &*at_target;
  return at_addr ? &*at_addr : nullptr;
}

std::string describe(const Observation& o) {
  if (o.error) return "error: " + *o.error;
  if (o.skipped) return "skip: " + *o.skipped;
  switch (o.outcome) {
    case Outcome::fault: {
      std::string s = signal_code_text(o.signo, o.code);
      if (o.addr) s += " addr=" + hex(*o.addr);
      if (const Annotation* a = o.region_annotation()) {
        s += " " + std::string(to_string(a->kind));
        if (o.at_target && a == &*o.at_target && o.target) s += " (target " + hex(*o.target) + ")";
        if (a->region && !a->region->mapping.name.empty()) {
          // The file name is enough in a table row; JSON has the path.
          const std::string& name = a->region->mapping.name;
          auto slash = name.rfind('/', name.find(" (deleted)"));
          s += " " + (name.front() == '/' && slash != std::string::npos ? name.substr(slash + 1) : name);
        }
      }
      if (o.term_signal) s += " (no siginfo: died of the signal)";
      return s;
    }
    case Outcome::refused: return "refused " + o.errno_name.value_or("?");
    case Outcome::allowed: return "allowed";
    case Outcome::exited: return "exited " + std::to_string(o.exit_code.value_or(-1));
  }
  return "?";
}

nlohmann::json to_json(const Observation& o) {
  nlohmann::json j = {{"outcome", o.skipped ? "skip" : to_string(o.outcome)}};
  if (o.skipped) j["skip"] = *o.skipped;
  if (o.signo) j["signal"] = signal_name(*o.signo);
  if (o.code) j["code"] = o.signo ? si_code_name(*o.signo, *o.code) : std::to_string(*o.code);
  if (o.addr) j["addr"] = hex(*o.addr);
  if (o.pc) j["pc"] = hex(*o.pc);
  if (o.target) j["target"] = hex(*o.target);
  if (const Annotation* a = o.region_annotation()) {
    nlohmann::json r = {{"kind", std::string(to_string(a->kind))}};
    // Same keys for every kind; null outside any VMA.
    r["start"] = r["end"] = r["perms"] = r["path"] = nullptr;
    if (a->region) {
      r["start"] = hex(a->region->mapping.range.start);
      r["end"] = hex(a->region->mapping.range.end);
      r["perms"] = to_string(a->region->mapping.perms);
      r["path"] = a->region->mapping.name;
    }
    r["of"] = o.at_target && a == &*o.at_target ? "target" : "addr";
    j["region"] = r;
  }
  if (o.at_addr) j["annotation"] = vma::to_json(*o.at_addr);
  if (o.at_target) j["target_annotation"] = vma::to_json(*o.at_target);
  if (o.at_pc) j["pc_region"] = std::string(to_string(o.at_pc->kind));
  if (!o.explanation.empty()) j["explanation"] = o.explanation;
  if (o.errno_name) j["errno"] = *o.errno_name;
  if (o.exit_code) j["exit_code"] = *o.exit_code;
  if (o.term_signal) j["term_signal"] = signal_name(*o.term_signal);
  if (!o.notes.empty()) j["notes"] = o.notes;
  if (!o.stderr_text.empty()) j["stderr"] = o.stderr_text;
  if (o.error) j["error"] = *o.error;
  j["capture"] = o.capture;
  j["seconds"] = o.seconds;
  return j;
}

namespace {

/// Checks an address against a rule; returns a complaint or "".
std::string check_addr(const char* what, AddrRule rule, Addr value, std::optional<Addr> got,
                       const Observation& o, bool untagged) {
  if (rule == AddrRule::any) return {};
  if (!got) return std::string("no ") + what + " observed";
  auto mismatch = [&](const std::string& want) {
    return std::string(what) + " " + hex(*got) + ", expected " + want;
  };
  switch (rule) {
    case AddrRule::any: return {};
    case AddrRule::zero: return *got == 0 ? "" : mismatch("0");
    case AddrRule::exact: return *got == value ? "" : mismatch(hex(value));
    case AddrRule::target:
      if (!o.target) return std::string("the probe printed no target line to check ") + what;
      if (untagged) {
        // Linux before 5.11 cleared the tag byte in si_addr for every
        // reader, a tracer included (tagged si_addr: dceec3ff7807, 5.11).
        const Addr want = o.target_untagged ? *o.target_untagged : *o.target;
        return *got == want ? "" : mismatch("the target without its tag " + hex(want));
      }
      if (*got == *o.target) return {};
      // arm64: a signal handler without SA_EXPOSE_TAGBITS gets si_addr with
      // the tag byte cleared (arch_untagged_si_addr, Linux 5.11 dceec3ff); a
      // tracer sees it whole.
      if (o.capture == "handler" && o.target_untagged && *got == *o.target_untagged) return {};
      return mismatch("the target " + hex(*o.target));
    case AddrRule::jump_insn:
      if (!o.jump_insn) return std::string("the probe printed no jump-insn note to check ") + what;
      return *got == *o.jump_insn ? "" : mismatch("the jump instruction " + hex(*o.jump_insn));
    case AddrRule::below_stack: {
      const Annotation* a = o.at_addr ? &*o.at_addr : nullptr;
      if (a && !a->mapped && a->above && a->above->kind == RegionKind::stack) return {};
      return mismatch("an address just below the main stack");
    }
  }
  return {};
}

}  // namespace

Verdict judge(const Expectation& e, const Observation& o, std::uint64_t mmap_min_addr) {
  if (e.skip) return {Status::skip, *e.skip};
  if (o.error) return {Status::error, *o.error};
  if (e.mmap_min_addr_at_least && mmap_min_addr < *e.mmap_min_addr_at_least)
    return {Status::fail, "vm.mmap_min_addr is " + std::to_string(mmap_min_addr) +
                              ", the profile requires at least " +
                              std::to_string(*e.mmap_min_addr_at_least)};
  if (o.skipped) {
    if (e.skip_ok) return {Status::skip, *o.skipped};
    return {Status::fail, "the profile requires this feature; the probe skipped: " + *o.skipped};
  }
  if (o.outcome != e.outcome) {
    if (o.outcome == Outcome::exited && o.exit_code.value_or(0) != 0 && e.outcome != Outcome::exited) {
      std::string why = "the probe exited " + std::to_string(o.exit_code.value_or(-1)) +
                        " without a verdict";
      for (const auto& n : o.notes) why += "; " + n;
      return {Status::error, why};
    }
    if (o.outcome == Outcome::fault && e.outcome != Outcome::fault)
      return {Status::error, "unexpected crash: " + describe(o) + ", expected " + describe(e)};
    return {Status::fail, "expected " + describe(e) + ", observed " + describe(o)};
  }
  switch (e.outcome) {
    case Outcome::fault: {
      if (e.signo && o.signo != e.signo)
        return {Status::fail, "signal " + (o.signo ? signal_name(*o.signo) : std::string("unknown")) +
                                  ", expected " + signal_name(*e.signo)};
      if (e.code && o.code != e.code) {
        int s = e.signo.value_or(o.signo.value_or(0));
        return {Status::fail, "si_code " + (o.code ? si_code_name(s, *o.code) : std::string("unknown")) +
                                  ", expected " + si_code_name(s, *e.code)};
      }
      if (auto c = check_addr("si_addr", e.addr, e.addr_value, o.addr, o, e.target_untagged); !c.empty())
        return {Status::fail, c};
      if (auto c = check_addr("pc", e.pc, e.pc_value, o.pc, o, e.target_untagged); !c.empty()) return {Status::fail, c};
      if (!e.regions.empty()) {
        const Annotation* a = o.region_annotation();
        if (!a) return {Status::fail, "the fault address could not be annotated"};
        if (std::find(e.regions.begin(), e.regions.end(), a->kind) == e.regions.end())
          return {Status::fail, "region " + std::string(to_string(a->kind)) + ", expected " +
                                    kinds_text(e.regions)};
      }
      return {Status::pass, ""};
    }
    case Outcome::refused:
      if (e.errno_name && o.errno_name != e.errno_name)
        return {Status::fail, "refused with " + o.errno_name.value_or("?") + ", expected " + *e.errno_name};
      return {Status::pass, ""};
    case Outcome::allowed: return {Status::pass, ""};
    case Outcome::exited:
      if (e.exit_code && o.exit_code != e.exit_code)
        return {Status::fail, "exited " + std::to_string(o.exit_code.value_or(-1)) + ", expected " +
                                  std::to_string(*e.exit_code)};
      return {Status::pass, ""};
  }
  return {Status::error, "unreachable"};
}

}  // namespace vma::harness
