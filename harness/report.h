#pragma once
/// \file
/// The run report in four formats: a text table (streamed row by row), JSON,
/// KTAP (kselftest style) and JUnit XML. The shapes are a contract (issue 5,
/// REFERENCE.md §5).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "aslr_sampler.h"
#include "audit.h"
#include "environment.h"
#include "expectation.h"
#include "profile.h"

namespace vma::harness {

struct ResultRow {
  const ProbeDef* probe = nullptr;
  Observation observed;
  Verdict verdict;
};

struct Report {
  Environment env;
  std::string profile;
  std::vector<ResultRow> rows;  ///< in probe order; only probes that ran
  int interrupted = 0;          ///< SIGINT/SIGTERM, or 0
  std::size_t not_run = 0;      ///< probes not started because of the interrupt
  double seconds = 0;
  /// `run --with-audit`, `run --with-aslr`: folded into every format (JSON
  /// keys "audit" and "aslr", extra KTAP/JUnit cases) and the exit status.
  std::optional<AuditReport> audit;
  std::optional<AslrReport> aslr;
};

/// One KTAP/JUnit case beyond the probes: an audit check ("audit:NAME") or
/// an ASLR region ("aslr:REGION", which fails when it did not vary).
struct ExtraCase {
  std::string name;
  std::string suite;  ///< "audit" or "aslr"
  Status status = Status::pass;
  std::string message;  ///< one line: the value and why, or the bits
};
std::vector<ExtraCase> extra_cases(const Report& r);

struct Totals {
  std::size_t pass = 0, fail = 0, skip = 0, error = 0;
};
Totals totals(const Report& r);

/// Probes, audit checks and ASLR regions together.
/// 0 when nothing failed or errored, 1 otherwise, 128+signal when interrupted.
int exit_status(const Report& r);

/// Column widths of the text table.
struct TextLayout {
  std::size_t probe = 22, expected = 44, observed = 64;
  bool color = false;
};
/// Widths fitted to `probes` (the expected column is known before the run).
TextLayout text_layout(const std::vector<ProbeDef>& probes, bool color);
std::string text_header(const Report& r, const TextLayout& l);
std::string text_row(const ResultRow& row, const TextLayout& l);
/// The audit and ASLR sections (empty without them), then the totals.
std::string text_footer(const Report& r, bool color);

nlohmann::json json_report(const Report& r);
/// `s` fit for XML text and attributes (control characters but tab and
/// newline become '?': XML 1.0 forbids them even escaped).
std::string xml_escape(std::string_view s);
/// `s` with its line breaks as spaces, for TAP comments and XML attributes.
std::string one_line(std::string s);
std::string ktap_report(const Report& r);
std::string junit_report(const Report& r);

}  // namespace vma::harness
