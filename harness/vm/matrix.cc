#include "matrix.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <set>

#include "outside_text.h"
#include "report.h"  // xml_escape, one_line
#include "guest.h"   // pending_stop, stop_signal

namespace vma::harness::vm {
namespace {

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  return it->is_string() ? it->get<std::string>() : it->dump();
}

/// Adds `cell` for entry `col` to the row (section, name), creating it.
struct RowTable {
  std::size_t cols;
  std::vector<MatrixRow> rows;
  void set(const std::string& section, const std::string& name, std::size_t col, std::string cell,
           std::string detail) {
    auto it = std::find_if(rows.begin(), rows.end(),
                           [&](const MatrixRow& r) { return r.section == section && r.name == name; });
    if (it == rows.end()) {
      rows.push_back({section, name, std::vector<std::string>(cols), std::vector<std::string>(cols), false});
      it = rows.end() - 1;
    }
    it->cells[col] = std::move(cell);
    it->details[col] = std::move(detail);
  }
};

/// One entry's cases (probes, audit, aslr) as (name, status, message).
struct Case {
  std::string name, status, message;
};
std::vector<Case> cases(const nlohmann::json& report) {
  std::vector<Case> out;
  for (const auto& r : report.value("results", nlohmann::json::array()))
    out.push_back({str(r, "probe"), str(r, "status"), str(r, "reason")});
  if (report.contains("audit"))
    for (const auto& c : report["audit"].value("checks", nlohmann::json::array())) {
      std::string st = str(c, "status");
      // An audit check that could not be read is neither pass nor fail.
      out.push_back({"audit:" + str(c, "name"), st == "unknown" ? "skip" : st,
                     str(c, "value") + " (expected " + str(c, "expected") + "): " + str(c, "why")});
    }
  if (report.contains("aslr"))
    for (const auto& r : report["aslr"].value("regions", nlohmann::json::array())) {
      const unsigned bits = r.value("bits", 0u);
      out.push_back({"aslr:" + str(r, "region"), bits ? "pass" : "fail", std::to_string(bits) + " bits"});
    }
  return out;
}

}  // namespace

namespace {

/// A row's name as the text table shows it: safe, and at most 64 bytes
/// (a saved report's name must not widen every line).
std::string shown_name(const std::string& name) { return safe_text(name, TextSink::terminal, 64); }

/// Multi-line text (a boot error with the console's last lines), each line
/// made safe for a terminal.
std::string safe_lines(const std::string& text) {
  std::string out;
  for (std::size_t p = 0; p <= text.size();) {
    const auto nl = text.find('\n', p);
    out += safe_text(text.substr(p, nl == std::string::npos ? std::string::npos : nl - p));
    if (nl == std::string::npos) break;
    out += '\n';
    p = nl + 1;
  }
  return out;
}

}  // namespace

std::string MatrixEntry::label() const { return kernel + " " + cpu; }

std::vector<MatrixRow> compare(const std::vector<MatrixEntry>& entries) {
  RowTable t{entries.size(), {}};
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (!entries[i].report) continue;
    const auto& rep = *entries[i].report;
    const auto env = rep.value("environment", nlohmann::json::object());
    for (const char* key : {"arch", "kernel_release", "paging_levels", "vsyscall", "mmap_min_addr", "capture"})
      t.set("env", key, i, str(env, key), "");
    const auto vmj = env.value("vm", nlohmann::json::object());
    std::string accel = vmj.is_object() ? str(vmj, "accel") : "";
    if (vmj.is_object() && !str(vmj, "accel_note").empty()) accel += " (" + str(vmj, "accel_note") + ")";
    t.set("env", "vm.accel", i, accel, "");
    t.set("env", "vm.cpu", i, vmj.is_object() ? str(vmj, "cpu") : "", "");
    for (const auto& r : rep.value("results", nlohmann::json::array()))
      t.set("probe", str(r, "probe"), i, str(r, "status"), str(r, "reason"));
    if (rep.contains("audit"))
      for (const auto& c : rep["audit"].value("checks", nlohmann::json::array()))
        t.set("audit", str(c, "name"), i, str(c, "value"), str(c, "status") + ": " + str(c, "why"));
    if (rep.contains("aslr"))
      for (const auto& r : rep["aslr"].value("regions", nlohmann::json::array()))
        t.set("aslr", str(r, "region"), i, str(r, "bits"), "");
  }
  for (auto& row : t.rows) {
    std::set<std::string> seen;
    for (std::size_t i = 0; i < entries.size(); ++i)
      if (entries[i].report) seen.insert(row.cells[i]);
    row.differs = seen.size() > 1;
  }
  const auto rank = [](const std::string& s) { return s == "env" ? 0 : s == "probe" ? 1 : s == "audit" ? 2 : 3; };
  std::stable_sort(t.rows.begin(), t.rows.end(), [&](const MatrixRow& a, const MatrixRow& b) {
    if (rank(a.section) != rank(b.section)) return rank(a.section) < rank(b.section);
    return a.differs && !b.differs;
  });
  return t.rows;
}

int matrix_exit_status(const std::vector<MatrixEntry>& entries) {
  int status = 0;
  for (const auto& e : entries) {
    if (!e.report) return 2;
    if (e.exit_status != 0) status = 1;
  }
  return status;
}

nlohmann::json matrix_json(const std::vector<MatrixEntry>& entries) {
  nlohmann::json kernels = nlohmann::json::array();
  for (const auto& e : entries)
    kernels.push_back({{"kernel", e.kernel}, {"release", e.release}, {"cpu", e.cpu}, {"accel", e.accel},
                       {"seconds", e.seconds}, {"exit_status", e.exit_status},
                       {"error", e.report ? nlohmann::json(nullptr) : nlohmann::json(e.error)},
                       {"report", e.report ? *e.report : nlohmann::json(nullptr)}});
  nlohmann::json diffs = nlohmann::json::array();
  for (const auto& row : compare(entries)) {
    if (!row.differs) continue;
    nlohmann::json values = nlohmann::json::object();
    for (std::size_t i = 0; i < entries.size(); ++i)
      if (entries[i].report) values[entries[i].label()] = row.cells[i];
    diffs.push_back({{"section", row.section}, {"name", row.name}, {"values", values}});
  }
  return {{"kernels", kernels}, {"differences", diffs}};
}

std::string matrix_text(const std::vector<MatrixEntry>& entries, bool color) {
  const char* bold = color ? "\033[1m" : "";
  const char* red = color ? "\033[1;31m" : "";
  const char* off = color ? "\033[0m" : "";
  std::string s = "kernel matrix: " + std::to_string(entries.size()) + " runs\n";
  char buf[512];
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    s += "  [" + std::to_string(i + 1) + "] " + safe_text(e.kernel) + ", cpu " + safe_text(e.cpu) + ", " +
         (e.release.empty() ? "?" : safe_text(e.release)) + ", " + safe_text(e.accel) + ": ";
    if (!e.report) {
      s += std::string(red) + "ERROR " + off + safe_text(e.error.substr(0, e.error.find('\n'))) + "\n";
      continue;
    }
    std::snprintf(buf, sizeof buf, "exit %d in %.1f s\n", e.exit_status, e.seconds);
    s += buf;
  }
  const auto rows = compare(entries);
  std::string section;
  std::vector<std::string> notes;
  for (const auto& row : rows) {
    if (row.section != section) {
      section = row.section;
      std::size_t w = 11;
      for (const auto& r : rows)
        if (r.section == section) w = std::max(w, shown_name(r.name).size());
      const std::string title = section == "env"     ? "ENVIRONMENT"
                                : section == "probe" ? "PROBE"
                                : section == "audit" ? "AUDIT"
                                                     : "ASLR BITS";
      w = std::max(w, title.size());
      s += std::string("\n") + bold + title + std::string(w + 2 - title.size(), ' ');
      for (std::size_t i = 0; i < entries.size(); ++i) {
        std::snprintf(buf, sizeof buf, " %-20s", ("[" + std::to_string(i + 1) + "]").c_str());
        s += buf;
      }
      s += std::string(off) + "   (* differs)\n";
    }
    std::size_t w = 11;
    for (const auto& r : rows)
      if (r.section == section) w = std::max(w, shown_name(r.name).size());
    const std::string name = shown_name(row.name);
    s += (row.differs ? "*" : " ") + name + std::string(w - name.size(), ' ') + " ";
    for (std::size_t i = 0; i < entries.size(); ++i) {
      std::string cell = entries[i].report ? safe_text(row.cells[i], TextSink::terminal, 64) : "-";
      if (cell.empty()) cell = "(none)";
      if (cell.size() > 20) {
        std::size_t cut = 19;
        while (cut > 0 && (static_cast<unsigned char>(cell[cut]) & 0xc0) == 0x80) --cut;
        cell = cell.substr(0, cut) + "~";
      }
      const bool bad = section == "probe" && (cell == "fail" || cell == "error");
      std::snprintf(buf, sizeof buf, " %s%-20s%s", bad ? red : "", cell.c_str(), bad ? off : "");
      s += buf;
      if (section == "probe" && entries[i].report && row.cells[i] != "pass" && !row.details[i].empty())
        notes.push_back(safe_text(row.name) + " [" + std::to_string(i + 1) + "] " + safe_text(row.cells[i]) + ": " +
                        safe_text(one_line(row.details[i])));
    }
    while (s.ends_with(' ')) s.pop_back();
    s += "\n";
  }
  if (!notes.empty()) {
    s += "\nnotes:\n";
    for (const auto& n : notes) s += "  " + n + "\n";
  }
  for (std::size_t i = 0; i < entries.size(); ++i)
    if (!entries[i].report) s += "\n[" + std::to_string(i + 1) + "] " + safe_lines(entries[i].error) + "\n";
  const int st = matrix_exit_status(entries);
  s += std::string("\n") + (st ? red : bold) +
       (st == 0 ? "every run passed its profile" : st == 1 ? "a run failed its profile" : "a run did not report") +
       off + "\n";
  return s;
}

std::string matrix_ktap(const std::vector<MatrixEntry>& entries) {
  std::string s = "TAP version 13\n1.." + std::to_string(entries.size()) + "\n";
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& e = entries[i];
    const std::string name = safe_text(e.kernel) + " cpu " + safe_text(e.cpu);
    s += "# " + name + ": " + (e.release.empty() ? "?" : safe_text(e.release)) + ", " + safe_text(e.accel) + "\n";
    if (!e.report) {
      for (std::size_t p = 0; p < e.error.size();) {
        const auto nl = e.error.find('\n', p);
        s += "# " + safe_text(e.error.substr(p, nl == std::string::npos ? std::string::npos : nl - p)) + "\n";
        p = nl == std::string::npos ? e.error.size() : nl + 1;
      }
      s += "not ok " + std::to_string(i + 1) + " " + name + "\n";
      continue;
    }
    const auto cs = cases(*e.report);
    s += "    TAP version 13\n    1.." + std::to_string(cs.size()) + "\n";
    std::size_t n = 0;
    for (const auto& c : cs) {
      ++n;
      const bool ok = c.status == "pass" || c.status == "skip";
      s += std::string("    ") + (ok ? "ok " : "not ok ") + std::to_string(n) + " " + safe_text(c.name);
      if (c.status == "skip") s += " # SKIP " + safe_text(one_line(c.message));
      s += "\n";
      if (!ok && !c.message.empty()) s += "    # " + safe_text(one_line(c.message)) + "\n";
    }
    s += std::string(e.exit_status == 0 ? "ok " : "not ok ") + std::to_string(i + 1) + " " + name + "\n";
  }
  return s;
}

std::string matrix_junit(const std::vector<MatrixEntry>& entries) {
  std::string s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"vma-harness matrix\">\n";
  char buf[64];
  for (const auto& e : entries) {
    const std::string suite = xml_escape(e.label());
    std::snprintf(buf, sizeof buf, "%.3f", e.seconds);
    if (!e.report) {
      s += "  <testsuite name=\"" + suite + "\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" time=\"" + buf +
           "\">\n    <testcase name=\"boot\" classname=\"" + suite + "\"><error message=\"" +
           xml_escape(one_line(e.error.substr(0, e.error.find('\n')))) + "\">" + xml_escape(e.error) +
           "</error></testcase>\n  </testsuite>\n";
      continue;
    }
    const auto cs = cases(*e.report);
    std::size_t fail = 0, err = 0, skip = 0;
    for (const auto& c : cs) {
      fail += c.status == "fail";
      err += c.status == "error";
      skip += c.status == "skip";
    }
    s += "  <testsuite name=\"" + suite + "\" tests=\"" + std::to_string(cs.size()) + "\" failures=\"" +
         std::to_string(fail) + "\" errors=\"" + std::to_string(err) + "\" skipped=\"" + std::to_string(skip) +
         "\" time=\"" + buf + "\">\n";
    for (const auto& c : cs) {
      s += "    <testcase name=\"" + xml_escape(c.name) + "\" classname=\"" + suite + "\"";
      if (c.status == "pass") {
        s += "/>\n";
        continue;
      }
      const std::string tag = c.status == "skip" ? "skipped" : c.status == "fail" ? "failure" : "error";
      s += "><" + tag + " message=\"" + xml_escape(one_line(c.message)) + "\"/></testcase>\n";
    }
    s += "  </testsuite>\n";
  }
  return s + "</testsuites>\n";
}

MatrixRun run_matrix(const VmOptions& base, const std::vector<std::string>& kernels,
                     const std::vector<std::string>& cpus, bool progress) {
  MatrixRun m;
  const std::size_t total = kernels.size() * cpus.size();
  for (const auto& k : kernels) {
    for (const auto& cpu : cpus) {
      if (pending_stop()) break;
      VmOptions o = base;
      o.kernel = k;
      o.cpu = cpu;
      MatrixEntry e;
      e.kernel = std::filesystem::path(k).lexically_normal().filename().string();
      e.cpu = cpu.empty() ? "(default)" : cpu;
      e.accel = base.accel;
      const std::size_t n = m.entries.size() + 1;
      if (progress) std::fprintf(stderr, "[%zu/%zu] %s cpu %s: booting...", n, total, e.kernel.c_str(), e.cpu.c_str());
      std::vector<std::string> console;
      const auto t0 = std::chrono::steady_clock::now();
      auto run = run_vm(
          o, [&](const std::string& line) { console.push_back(line); },
          [&](const std::string& note) {
            std::fprintf(stderr, "%svma-harness: %s\n", progress ? "\r\033[K" : "", vma::safe_text(note).c_str());
          });
      e.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (run) {
        e.kernel = run->kernel.label;
        e.release = run->kernel.release;
        e.cpu = run->cpu;
        e.accel = run->accel;
        e.exit_status = run->result.exit_status;
        try {
          e.report = nlohmann::json::parse(run->result.output);
        } catch (const nlohmann::json::exception&) {
          std::string tail;
          for (std::size_t i = console.size() > 10 ? console.size() - 10 : 0; i < console.size(); ++i)
            tail += "\n  | " + console[i];
          e.error = "vm " + e.kernel + ": the guest's vma-harness exited " + std::to_string(e.exit_status) +
                    " without a JSON report" + tail;
          e.exit_status = 2;
        }
      } else {
        e.error = run.error().message;
      }
      if (progress)
        std::fprintf(stderr, "\r\033[K[%zu/%zu] %s cpu %s: %s in %.1f s\n", n, total, e.kernel.c_str(), e.cpu.c_str(),
                     stop_signal() ? "INTERRUPTED" : !e.report ? "ERROR" : e.exit_status == 0 ? "pass" : "FAIL",
                     e.seconds);
      // An interrupted boot is no result: the runs before it are the report.
      if (stop_signal()) break;
      m.entries.push_back(std::move(e));
    }
    if (stop_signal()) break;
  }
  m.stop_signal = stop_signal();
  m.planned = total;
  return m;
}

}  // namespace vma::harness::vm
