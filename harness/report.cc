#include "report.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "outside_text.h"
#include "signals.h"

namespace vma::harness {
namespace {

const char* color_of(Status s) {
  switch (s) {
    case Status::pass: return "\033[32m";
    case Status::fail: return "\033[1;31m";
    case Status::skip: return "\033[33m";
    case Status::error: return "\033[1;35m";
  }
  return "";
}

std::string pad(std::string s, std::size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", s);
  return buf;
}

std::string details(const ResultRow& row) {
  std::string d = "expected: " + describe(row.probe->expect) + "\nobserved: " + describe(row.observed);
  if (!row.observed.explanation.empty()) d += "\n" + row.observed.explanation;
  for (const auto& n : row.observed.notes) d += "\nnote: " + n;
  if (!row.observed.stderr_text.empty()) d += "\nstderr: " + row.observed.stderr_text;
  return d;
}

Status to_status(AuditStatus s) {
  switch (s) {
    case AuditStatus::pass: return Status::pass;
    case AuditStatus::fail: return Status::fail;
    case AuditStatus::skip:
    case AuditStatus::unknown: return Status::skip;
  }
  return Status::skip;
}

Totals probe_totals(const Report& r) {
  Totals t;
  for (const auto& row : r.rows) {
    switch (row.verdict.status) {
      case Status::pass: ++t.pass; break;
      case Status::fail: ++t.fail; break;
      case Status::skip: ++t.skip; break;
      case Status::error: ++t.error; break;
    }
  }
  return t;
}

Totals count(const std::vector<ExtraCase>& cases) {
  Totals t;
  for (const auto& c : cases) {
    switch (c.status) {
      case Status::pass: ++t.pass; break;
      case Status::fail: ++t.fail; break;
      case Status::skip: ++t.skip; break;
      case Status::error: ++t.error; break;
    }
  }
  return t;
}

}  // namespace

std::string xml_escape(std::string_view s) { return safe_text(s, TextSink::xml_multiline, 1 << 20); }

std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  return s;
}

std::vector<ExtraCase> extra_cases(const Report& r) {
  std::vector<ExtraCase> out;
  if (r.audit) {
    for (const auto& c : r.audit->checks) {
      std::string msg = c.name + " = " + c.value + ", expected " + c.expected + ": " + c.why;
      if (c.status == AuditStatus::unknown) msg = "unknown: " + msg;
      out.push_back({"audit:" + c.name, "audit", to_status(c.status), one_line(msg)});
    }
  }
  if (r.aslr) {
    for (const auto& x : r.aslr->regions) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "%s: %u bits (paxtest count), %.1f strict, %zu samples", x.region.c_str(),
                    x.bits, x.strict_bits, x.samples);
      std::string msg = buf;
      Status st = Status::pass;
      if (x.bits == 0) {
        st = Status::fail;
        msg = x.region + ": not randomised (0 bits over " + std::to_string(x.samples) + " samples)";
        for (const auto& w : r.aslr->warnings) msg += "; " + w;
      }
      out.push_back({"aslr:" + x.region, "aslr", st, one_line(msg)});
    }
  }
  return out;
}

Totals totals(const Report& r) {
  Totals t = probe_totals(r);
  const Totals e = count(extra_cases(r));
  t.pass += e.pass;
  t.fail += e.fail;
  t.skip += e.skip;
  t.error += e.error;
  return t;
}

int exit_status(const Report& r) {
  if (r.interrupted) return 128 + r.interrupted;
  Totals t = totals(r);
  return t.fail + t.error == 0 ? 0 : 1;
}

TextLayout text_layout(const std::vector<ProbeDef>& probes, bool color) {
  TextLayout l;
  l.color = color;
  l.probe = 5;
  l.expected = 8;
  for (const auto& p : probes) {
    l.probe = std::max(l.probe, p.id.size());
    l.expected = std::max(l.expected, describe(p.expect).size());
  }
  l.expected = std::min<std::size_t>(l.expected, 64);
  return l;
}

std::string text_header(const Report& r, const TextLayout& l) {
  std::string s;
  const char* dim = l.color ? "\033[2m" : "";
  const char* off = l.color ? "\033[0m" : "";
  s += std::string(dim) + "vma-harness, profile " + r.profile + off + "\n";
  for (const auto& line : describe(r.env)) s += std::string(dim) + line + off + "\n";
  s += "\n" + pad("PROBE", l.probe) + "  " + pad("EXPECTED", l.expected) + "  " + pad("OBSERVED", l.observed) +
       "  VERDICT\n";
  return s;
}

std::string text_row(const ResultRow& row, const TextLayout& l) {
  std::string verdict = to_string(row.verdict.status);
  if (l.color) verdict = color_of(row.verdict.status) + verdict + "\033[0m";
  // A spec's probe ids, the observation's paths and reasons are outside text.
  std::string s = pad(safe_text(row.probe->id), l.probe) + "  " + pad(safe_text(describe(row.probe->expect)), l.expected) +
                  "  " + pad(safe_text(describe(row.observed)), l.observed) + "  " + verdict + "\n";
  if ((row.verdict.status == Status::fail || row.verdict.status == Status::error) &&
      !row.verdict.reason.empty()) {
    s += std::string(l.probe + 2, ' ') + "-> " + safe_text(row.verdict.reason) + "\n";
  }
  return s;
}

std::string text_footer(const Report& r, bool color) {
  const Totals t = probe_totals(r);
  std::string s = "\n";
  if (r.audit) s += "\naudit, profile " + r.audit->profile + "\n\n" + audit_text(*r.audit, color);
  if (r.aslr) s += "\naslr\n\n" + aslr_text(*r.aslr, color);
  if (r.audit || r.aslr) {
    const Totals e = count(extra_cases(r));
    s += "\n";
    if (r.audit) s += "audit: " + std::to_string(r.audit->checks.size()) + " checks; ";
    if (r.aslr) s += "aslr: " + std::to_string(r.aslr->regions.size()) + " regions; ";
    s += std::to_string(e.pass) + " pass, " + std::to_string(e.fail) + " fail, " + std::to_string(e.skip) +
         " skip\n";
  }
  if (r.interrupted)
    s += "interrupted by " + signal_name(r.interrupted) + "; " + std::to_string(r.not_run) +
         " probes not run\n";
  std::string line = std::to_string(r.rows.size()) + " probes: " + std::to_string(t.pass) + " pass, " +
                     std::to_string(t.fail) + " fail, " + std::to_string(t.skip) + " skip, " +
                     std::to_string(t.error) + " error in " + seconds_text(r.seconds) + " s";
  if (color) line = std::string(t.fail + t.error ? "\033[1;31m" : "\033[32m") + line + "\033[0m";
  return s + line + "\n";
}

nlohmann::json json_report(const Report& r) {
  nlohmann::json results = nlohmann::json::array();
  for (const auto& row : r.rows) {
    results.push_back({
        {"probe", row.probe->id},
        {"description", row.probe->description},
        {"user", row.probe->user},
        {"status", to_string(row.verdict.status)},
        {"expected", to_json(row.probe->expect)},
        {"observed", to_json(row.observed)},
        {"reason", row.verdict.reason},
    });
  }
  Totals t = totals(r);
  nlohmann::json summary = {
      {"profile", r.profile}, {"total", r.rows.size()}, {"pass", t.pass}, {"fail", t.fail},
      {"skip", t.skip},       {"error", t.error},       {"seconds", r.seconds},
      {"interrupted", r.interrupted ? nlohmann::json(signal_name(r.interrupted)) : nlohmann::json(nullptr)},
      {"not_run", r.not_run},
  };
  nlohmann::json out = {{"environment", to_json(r.env)}, {"results", results}, {"summary", summary}};
  if (r.audit) out["audit"] = to_json(*r.audit);
  if (r.aslr) out["aslr"] = to_json(*r.aslr);
  return out;
}

std::string ktap_report(const Report& r) {
  const std::vector<ExtraCase> extra = extra_cases(r);
  std::string s = "TAP version 13\n1.." + std::to_string(r.rows.size() + extra.size()) + "\n";
  s += "# vma-harness profile " + r.profile + "\n";
  for (const auto& line : describe(r.env)) s += "# " + line + "\n";
  std::size_t n = 0;
  for (const auto& row : r.rows) {
    ++n;
    const std::string num = std::to_string(n);
    const std::string id = safe_text(row.probe->id);
    switch (row.verdict.status) {
      case Status::pass:
        s += "# " + id + ": " + safe_text(one_line(describe(row.observed))) + "\n";
        s += "ok " + num + " " + id + "\n";
        break;
      case Status::skip:
        s += "ok " + num + " " + id + " # SKIP " + safe_text(one_line(row.verdict.reason)) + "\n";
        break;
      case Status::fail:
      case Status::error:
        s += "# " + id + ": " + safe_text(one_line(row.verdict.reason)) + "\n";
        s += "not ok " + num + " " + id + (row.verdict.status == Status::error ? " # error" : "") + "\n";
        break;
    }
  }
  for (const auto& c : extra) {
    const std::string num = std::to_string(++n);
    switch (c.status) {
      case Status::pass:
        s += "# " + safe_text(c.message) + "\nok " + num + " " + safe_text(c.name) + "\n";
        break;
      case Status::skip:
        s += "ok " + num + " " + safe_text(c.name) + " # SKIP " + safe_text(c.message) + "\n";
        break;
      case Status::fail:
      case Status::error:
        s += "# " + safe_text(c.message) + "\nnot ok " + num + " " + safe_text(c.name) + "\n";
        break;
    }
  }
  if (r.interrupted)
    s += "Bail out! interrupted by " + signal_name(r.interrupted) + ", " + std::to_string(r.not_run) +
         " probes not run\n";
  Totals t = totals(r);
  s += "# Totals: pass:" + std::to_string(t.pass) + " fail:" + std::to_string(t.fail) +
       " xfail:0 xpass:0 skip:" + std::to_string(t.skip) + " error:" + std::to_string(t.error) + "\n";
  return s;
}

std::string junit_report(const Report& r) {
  const Totals t = probe_totals(r), all = totals(r);
  const std::vector<ExtraCase> extra = extra_cases(r);
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", std::gmtime(&now));
  const std::string suite = "vma-harness." + r.profile;
  auto counts = [&](std::size_t tests, const Totals& c, double seconds) {
    return " tests=\"" + std::to_string(tests) + "\" failures=\"" + std::to_string(c.fail) +
           "\" errors=\"" + std::to_string(c.error) + "\" skipped=\"" + std::to_string(c.skip) +
           "\" time=\"" + seconds_text(seconds) + "\"";
  };
  const double extra_seconds = r.aslr ? r.aslr->seconds : 0;
  std::string s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  s += "<testsuites name=\"vma-harness\"" + counts(r.rows.size() + extra.size(), all, r.seconds + extra_seconds) +
       ">\n";
  s += "  <testsuite name=\"" + xml_escape(suite) + "\"" + counts(r.rows.size(), t, r.seconds) + " timestamp=\"" + stamp +
       "\" hostname=\"" + xml_escape(host) + "\">\n";
  s += "    <properties>\n";
  const nlohmann::json env = to_json(r.env);
  for (auto& [k, v] : env.items())
    s += "      <property name=\"" + xml_escape(k) + "\" value=\"" +
         xml_escape(v.is_string() ? v.get<std::string>() : v.dump()) + "\"/>\n";
  if (r.interrupted)
    s += "      <property name=\"interrupted\" value=\"" + signal_name(r.interrupted) + "\"/>\n";
  s += "    </properties>\n";
  for (const auto& row : r.rows) {
    s += "    <testcase name=\"" + xml_escape(row.probe->id) + "\" classname=\"" + xml_escape(suite) +
         "\" time=\"" + seconds_text(row.observed.seconds) + "\"";
    const std::string msg = xml_escape(one_line(row.verdict.reason));
    switch (row.verdict.status) {
      case Status::pass: s += ">\n"; break;
      case Status::skip: s += ">\n      <skipped message=\"" + msg + "\"/>\n"; break;
      case Status::fail:
        s += ">\n      <failure message=\"" + msg + "\" type=\"fail\">" + xml_escape(details(row)) +
             "</failure>\n";
        break;
      case Status::error:
        s += ">\n      <error message=\"" + msg + "\" type=\"error\">" + xml_escape(details(row)) +
             "</error>\n";
        break;
    }
    s += "      <system-out>" + xml_escape(details(row)) + "</system-out>\n";
    s += "    </testcase>\n";
  }
  s += "  </testsuite>\n";
  // Audit checks and ASLR regions: one suite each.
  for (const std::string kind : {"audit", "aslr"}) {
    std::vector<const ExtraCase*> cases;
    for (const auto& c : extra)
      if (c.suite == kind) cases.push_back(&c);
    if (cases.empty()) continue;
    Totals c{};
    for (const ExtraCase* x : cases) {
      if (x->status == Status::fail) ++c.fail;
      else if (x->status == Status::skip) ++c.skip;
      else if (x->status == Status::error) ++c.error;
    }
    const std::string name = "vma-harness." + kind;
    s += "  <testsuite name=\"" + name + "\"" +
         counts(cases.size(), c, kind == "aslr" && r.aslr ? r.aslr->seconds : 0) + " timestamp=\"" + stamp +
         "\" hostname=\"" + xml_escape(host) + "\">\n";
    for (const ExtraCase* x : cases) {
      s += "    <testcase name=\"" + xml_escape(x->name) + "\" classname=\"" + name + "\" time=\"0.000\">\n";
      const std::string msg = xml_escape(x->message);
      if (x->status == Status::fail) s += "      <failure message=\"" + msg + "\" type=\"fail\"/>\n";
      else if (x->status == Status::skip) s += "      <skipped message=\"" + msg + "\"/>\n";
      s += "      <system-out>" + msg + "</system-out>\n";
      s += "    </testcase>\n";
    }
    s += "  </testsuite>\n";
  }
  s += "</testsuites>\n";
  return s;
}

}  // namespace vma::harness
