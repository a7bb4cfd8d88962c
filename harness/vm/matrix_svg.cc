#include "vm/matrix_svg.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "draw.h"
#include "outside_text.h"

namespace vma::harness::vm {
namespace {

/// Cell colours by probe status.
const char* status_colour(const std::string& status) {
  if (status == "pass") return "#4caf50";
  if (status == "fail") return "#d9534f";
  if (status == "error") return "#ff9800";
  if (status == "skip") return "#bdbdbd";
  return "#ffffff";  // the probe is not in this kernel's report
}

/// Characters a text takes on screen: code points of its safe_text() form.
std::size_t text_cells(std::string_view text) {
  std::size_t n = 0;
  for (char c : safe_text(text)) n += (static_cast<unsigned char>(c) & 0xc0) != 0x80;
  return n;
}

constexpr int kNameW = 230, kCellW = 190, kRowH = 20, kLeft = 10;
/// ASLR bars: this many bits fill a cell.
constexpr double kMaxBits = 40;

}  // namespace

std::string matrix_svg(const std::vector<MatrixEntry>& entries) {
  const std::vector<MatrixRow> rows = compare(entries);
  std::vector<const MatrixRow*> probes, aslr;
  for (const MatrixRow& r : rows) {
    if (r.section == "probe") probes.push_back(&r);
    if (r.section == "aslr") aslr.push_back(&r);
  }
  const int cols = static_cast<int>(entries.size());
  const int width = kLeft + kNameW + cols * kCellW + 20;
  const int head = 110;  // title and column headers
  const int probes_y = head + 24;
  const int aslr_y = probes_y + static_cast<int>(probes.size()) * kRowH + (aslr.empty() ? 0 : 50);
  const int legend_y = aslr_y + static_cast<int>(aslr.size()) * kRowH + 30;
  const int height = legend_y + 40;

  // Every text drawn widens the picture as far as it reaches (estimated:
  // DejaVu Sans Mono's advance is 0.602 em, bold too), so none is cut at the
  // right edge; `right` is the farthest.
  int right = width;
  auto reach = [&](int x, std::string_view text, int font_size) {
    right = std::max(right, x + static_cast<int>(std::ceil(text_cells(text) * font_size * 0.61)) + 10);
  };
  const std::string heading = fmt::format("vma-harness kernel matrix: {} runs (* differs between kernels)", entries.size());
  reach(kLeft, heading, 15);
  std::string out;
  // Column headers: kernel, release, CPU model and how the run ended.
  for (int c = 0; c < cols; ++c) {
    const MatrixEntry& e = entries[static_cast<std::size_t>(c)];
    const int x = kLeft + kNameW + c * kCellW + 4;
    const std::string ended = !e.report ? "no report" : fmt::format("exit {} in {:.1f} s", e.exit_status, e.seconds);
    out += fmt::format("<g class=\"column\" data-col=\"{}\"><title>{}</title>", c,
                       xml_text(e.report ? e.label() + ": " + ended : e.label() + ": " + e.error));
    int y = 50;
    for (const std::string& line : {e.kernel, e.release.empty() ? std::string("?") : e.release,
                                    "cpu " + (e.cpu.empty() ? std::string("(default)") : e.cpu) +
                                        (e.accel.empty() ? "" : ", " + e.accel),
                                    ended}) {
      out += fmt::format("<text x=\"{}\" y=\"{}\"{}>{}</text>", x, y, y == 50 ? " font-weight=\"bold\"" : "",
                         xml_text(line));
      reach(x, line, 12);
      y += 15;
    }
    out += "</g>\n";
  }
  auto section = [&](int y, const char* title) {
    out += fmt::format("<text x=\"{}\" y=\"{}\" font-weight=\"bold\">{}</text>\n", kLeft, y - 8, title);
  };
  auto row_name = [&](int y, const MatrixRow& r) {
    out += fmt::format("<text x=\"{}\" y=\"{}\"{}>{}{}</text>\n", kLeft, y + 14,
                       r.differs ? " font-weight=\"bold\"" : "", r.differs ? "* " : "  ", xml_text(r.name));
    reach(kLeft, "* " + r.name, 12);
  };
  section(probes_y, "PROBE");
  int y = probes_y;
  for (const MatrixRow* r : probes) {
    row_name(y, *r);
    for (int c = 0; c < cols; ++c) {
      const auto i = static_cast<std::size_t>(c);
      const int x = kLeft + kNameW + c * kCellW;
      const bool reported = entries[i].report.has_value();
      const std::string& cell = r->cells[i];
      std::string title = r->name + " on " + entries[i].label() + ": " +
                          (!reported ? "no report" : cell.empty() ? "not in this report" : cell);
      if (reported && !r->details[i].empty()) title += " (" + r->details[i] + ")";
      out += fmt::format(
          "<g class=\"cell\" data-probe=\"{}\" data-col=\"{}\" data-status=\"{}\"><title>{}</title>"
          "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\" stroke=\"#fff\" stroke-width=\"2\"/>"
          "<text x=\"{}\" y=\"{}\">{}</text></g>\n",
          xml_text(r->name), c, reported ? xml_text(cell) : "no-report", xml_text(title), x, y, kCellW, kRowH,
          reported ? status_colour(cell) : "url(#noreport)", x + 6, y + 14,
          reported ? xml_text(cell.empty() ? "-" : cell) : "");
      if (reported) reach(x + 6, cell.empty() ? "-" : cell, 12);
    }
    y += kRowH;
  }
  if (!aslr.empty()) {
    section(aslr_y, "ASLR BITS");
    y = aslr_y;
    for (const MatrixRow* r : aslr) {
      row_name(y, *r);
      for (int c = 0; c < cols; ++c) {
        const auto i = static_cast<std::size_t>(c);
        if (!entries[i].report || r->cells[i].empty()) continue;
        const int x = kLeft + kNameW + c * kCellW;
        double bits = 0;
        try {
          bits = std::stod(r->cells[i]);
        } catch (const std::exception&) {
          continue;  // not a number: nothing to draw
        }
        const int w = static_cast<int>(std::clamp(bits / kMaxBits, 0.0, 1.0) * (kCellW - 50));
        out += fmt::format(
            "<g class=\"aslr\" data-region=\"{}\" data-col=\"{}\" data-bits=\"{}\"><title>{} on {}: {} bits</title>"
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"/>"
            "<text x=\"{}\" y=\"{}\">{}</text></g>\n",
            xml_text(r->name), c, xml_text(r->cells[i]), xml_text(r->name), xml_text(entries[i].label()),
            xml_text(r->cells[i]), x + 2, y + 3, std::max(w, 1), kRowH - 6, bits < 16 ? "#d9534f" : "#4a74c9",
            x + w + 8, y + 14, xml_text(r->cells[i]));
        reach(x + w + 8, r->cells[i], 12);
      }
      y += kRowH;
    }
  }
  int x = kLeft;
  for (const char* s : {"pass", "fail", "skip", "error"}) {
    out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"14\" fill=\"{}\"/><text x=\"{}\" "
                       "y=\"{}\">{}</text>\n",
                       x, legend_y, status_colour(s), x + 18, legend_y + 11, s);
    reach(x + 18, s, 12);
    x += 80;
  }
  out += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"14\" fill=\"url(#noreport)\" stroke=\"#999\"/>"
                     "<text x=\"{}\" y=\"{}\">no report</text>\n",
                     x, legend_y, x + 18, legend_y + 11);
  reach(x + 18, "no report", 12);
  x += 110;
  const std::string bars = fmt::format("ASLR bars: {} bits fill a cell; red below 16", static_cast<int>(kMaxBits));
  out += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", x, legend_y + 11, bars);
  reach(x, bars, 12);
  out += "</svg>\n";
  return fmt::format(
             "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
             "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
             "font-family=\"DejaVu Sans Mono, monospace\" font-size=\"12\">\n"
             "<title>vma-harness kernel matrix: {2} runs</title>\n"
             "<defs><pattern id=\"noreport\" width=\"8\" height=\"8\" patternUnits=\"userSpaceOnUse\">"
             "<path d=\"M0,8 L8,0\" stroke=\"#999\" stroke-width=\"1\"/></pattern></defs>\n"
             "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n"
             "<text x=\"{3}\" y=\"22\" font-size=\"15\" font-weight=\"bold\">{4}</text>\n",
             right, height, entries.size(), kLeft, heading) +
         out;
}

namespace {

/// A saved report's strings are the guest's and the file's: a kernel name
/// of 50 MB was copied into every cell's title (2.4 GB of SVG). Strings
/// longer than this are cut on read, on a character boundary, and say so.
constexpr std::size_t kMaxSavedString = 4096;
/// The column's own names (kernel, release, CPU model, accel) are shorter.
constexpr std::size_t kMaxSavedLabel = 256;

std::string bounded(std::string s, std::size_t max) {
  if (s.size() <= max) return s;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xc0) == 0x80) --cut;
  const std::size_t dropped = s.size() - cut;
  s.resize(cut);
  return s + fmt::format("...[+{} bytes]", dropped);
}

void bound_strings(nlohmann::json& j) {
  if (j.is_string()) {
    if (j.get_ref<const std::string&>().size() > kMaxSavedString)
      j = bounded(j.get<std::string>(), kMaxSavedString);
  } else if (j.is_structured()) {
    for (auto& v : j) bound_strings(v);
  }
}

/// The parts of a report compare() and the pictures read: each, when
/// present, of the type they read; errors name the field.
Result<void> check_report(const nlohmann::json& r, const std::string& at) {
  auto array_of_objects = [&](const nlohmann::json& parent, const char* key, const std::string& where,
                              std::initializer_list<const char*> strings) -> Result<void> {
    if (!parent.contains(key)) return {};
    const nlohmann::json& a = parent[key];
    if (!a.is_array()) return Error{fmt::format("{}.{}: expected an array", where, key)};
    for (std::size_t i = 0; i < a.size(); ++i) {
      const std::string item = fmt::format("{}.{}[{}]", where, key, i);
      if (!a[i].is_object()) return Error{item + ": expected an object"};
      for (const char* f : strings)
        if (a[i].contains(f) && !a[i][f].is_string() && !a[i][f].is_null())
          return Error{fmt::format("{}.{}: expected a string", item, f)};
    }
    return {};
  };
  if (r.contains("environment") && !r["environment"].is_object())
    return Error{at + ".environment: expected an object"};
  if (r.contains("environment") && r["environment"].contains("vm") && !r["environment"]["vm"].is_object() &&
      !r["environment"]["vm"].is_null())
    return Error{at + ".environment.vm: expected an object"};
  if (!r.contains("results")) return Error{at + ".results: missing (a `vma-harness run --format json` report)"};
  if (auto c = array_of_objects(r, "results", at, {"probe", "status", "reason"}); !c) return c;
  for (std::size_t i = 0; i < r["results"].size(); ++i)
    for (const char* f : {"probe", "status"})
      if (!r["results"][i].contains(f) || !r["results"][i][f].is_string())
        return Error{fmt::format("{}.results[{}].{}: expected a string", at, i, f)};
  for (const char* part : {"audit", "aslr"}) {
    if (!r.contains(part)) continue;
    if (!r[part].is_object() && !r[part].is_null()) return Error{fmt::format("{}.{}: expected an object", at, part)};
  }
  if (r.contains("audit") && r["audit"].is_object())
    if (auto c = array_of_objects(r["audit"], "checks", at + ".audit", {"name", "status", "value", "expected", "why"}); !c)
      return c;
  if (r.contains("aslr") && r["aslr"].is_object()) {
    if (auto c = array_of_objects(r["aslr"], "regions", at + ".aslr", {"region"}); !c) return c;
    if (r["aslr"].contains("regions"))
      for (std::size_t i = 0; i < r["aslr"]["regions"].size(); ++i) {
        const auto& reg = r["aslr"]["regions"][i];
        if (reg.contains("bits") && !reg["bits"].is_number_unsigned())
          return Error{fmt::format("{}.aslr.regions[{}].bits: expected a number >= 0", at, i)};
      }
  }
  return {};
}

}  // namespace

Result<std::vector<MatrixEntry>> entries_from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("kernels") || !j["kernels"].is_array())
    return Error{"kernels: expected an array (the output of `vma-harness matrix --format json`)"};
  std::vector<MatrixEntry> out;
  for (std::size_t i = 0; i < j["kernels"].size(); ++i) {
    const nlohmann::json& k = j["kernels"][i];
    const std::string at = fmt::format("kernels[{}]", i);
    if (!k.is_object()) return Error{at + ": expected an object"};
    MatrixEntry e;
    for (auto [field, dest] : {std::pair{"kernel", &e.kernel}, std::pair{"release", &e.release},
                               std::pair{"cpu", &e.cpu}, std::pair{"accel", &e.accel}}) {
      if (!k.contains(field) || !k[field].is_string()) return Error{at + "." + field + ": expected a string"};
      *dest = bounded(k[field].get<std::string>(), kMaxSavedLabel);
    }
    if (!k.contains("seconds") || !k["seconds"].is_number()) return Error{at + ".seconds: expected a number"};
    e.seconds = k["seconds"].get<double>();
    if (!k.contains("exit_status") || !k["exit_status"].is_number_integer())
      return Error{at + ".exit_status: expected a number"};
    e.exit_status = k["exit_status"].get<int>();
    const nlohmann::json report = k.value("report", nlohmann::json(nullptr));
    if (report.is_object()) {
      if (auto c = check_report(report, at + ".report"); !c) return c.error();
      e.report = report;
      bound_strings(*e.report);
    } else if (!report.is_null()) {
      return Error{at + ".report: expected an object or null"};
    } else {
      e.error = k.value("error", nlohmann::json("")).is_string() ? k.value("error", std::string()) : std::string();
      e.error = bounded(std::move(e.error), kMaxSavedString);
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace vma::harness::vm
