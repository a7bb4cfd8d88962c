#pragma once
/// \file
/// The kernel matrix: every kernel x CPU model's report side by side. The
/// comparison is a pure function over saved reports (each the JSON that
/// `vma-harness run --format json` prints in the guest), so tests feed it
/// saved JSON and no QEMU.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "session.h"

namespace vma::harness::vm {

/// One boot of the matrix.
struct MatrixEntry {
  std::string kernel;   ///< the kernel as named (bookworm-amd64)
  std::string release;  ///< 6.1.0-57-amd64
  std::string cpu;      ///< QEMU CPU model, "max,la57=off"
  std::string accel;    ///< kvm or tcg
  double seconds = 0;   ///< boot to report
  int exit_status = 2;  ///< the guest run's; 2 when it never reported
  /// The guest's report; nullopt when the boot failed (then `error`).
  std::optional<nlohmann::json> report;
  std::string error;

  /// "bookworm-amd64 max,la57=off": the column name.
  std::string label() const;
};

/// One row of a comparison: a probe, an audit check or an ASLR region, with
/// one cell per entry ("" when that entry has no such row).
struct MatrixRow {
  std::string section;  ///< "env", "probe", "audit" or "aslr"
  std::string name;
  std::vector<std::string> cells;
  /// The cells' details (skip and fail reasons, audit whys), same order.
  std::vector<std::string> details;
  bool differs = false;  ///< not every entry that ran has the same cell
};

/// Rows in section order (environment, probes, audit, aslr), the differing rows first
/// within each section, otherwise in report order. Pure.
std::vector<MatrixRow> compare(const std::vector<MatrixEntry>& entries);

/// 0 when every entry reported and passed its profile, 2 when an entry
/// never reported, else 1.
int matrix_exit_status(const std::vector<MatrixEntry>& entries);

/// {"kernels": [{"kernel", "release", "cpu", "accel", "seconds",
/// "exit_status", "error", "report"}...], "differences": [{"section",
/// "name", "values": {label: cell}}...]}
nlohmann::json matrix_json(const std::vector<MatrixEntry>& entries);
std::string matrix_text(const std::vector<MatrixEntry>& entries, bool color);
/// KTAP: one test per entry, its probes, audit checks and ASLR regions as
/// indented subtests.
std::string matrix_ktap(const std::vector<MatrixEntry>& entries);
/// JUnit: one testsuite per entry.
std::string matrix_junit(const std::vector<MatrixEntry>& entries);

/// A matrix run: the entries that ran, and the signal that stopped it.
struct MatrixRun {
  std::vector<MatrixEntry> entries;
  std::size_t planned = 0;  ///< kernels x CPUs
  int stop_signal = 0;      ///< SIGINT or SIGTERM when one ended the run early, else 0
};

/// Boots every kernel x CPU model in turn with `base` (its kernel and cpu
/// replaced), one guest at a time. A SIGINT or SIGTERM (blocked by the
/// caller) at any moment kills the current QEMU and boots nothing more:
/// the entries before it are returned, the interrupted one is not.
/// `progress`: a status line per boot on stderr.
MatrixRun run_matrix(const VmOptions& base, const std::vector<std::string>& kernels,
                     const std::vector<std::string>& cpus, bool progress);

}  // namespace vma::harness::vm
