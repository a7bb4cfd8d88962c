#pragma once
/// \file
/// The probes' architecture table: one row per architecture the harness
/// runs on, read by the code instead of `if (arch == ...)` chains. A row says
/// which CPU features the report header shows, which built-in probes have no
/// meaning there (with why), and the expectations that differ from or add to
/// the default profile's. Adding an architecture is one row here, one in
/// harness/vm/arch.cc (how QEMU boots it) and its probes.

#include <optional>
#include <span>
#include <string_view>

#include "environment.h"
#include "expectation.h"
#include "target.h"

namespace vma::harness {

/// A built-in probe that has no meaning on an architecture.
struct ProbeNotHere {
  std::string_view id;
  std::string_view why;  ///< the skip reason the report shows
};

/// An expectation an architecture sets for one probe (its own probes, or a
/// probe whose outcome differs there), computed from the environment.
struct ArchExpectation {
  std::string_view id;
  Expectation (*expect)(const Environment& env);
};

struct ArchRow {
  std::string_view machine;  ///< uname -m: "x86_64", "aarch64"
  Arch arch;                 ///< core's address model
  /// CPU features shown in the report header, in order (CpuFeatures::get).
  std::span<const std::string_view> cpu_line;
  std::span<const ProbeNotHere> not_here;
  std::span<const ArchExpectation> expectations;
};

/// Every row.
std::span<const ArchRow> arch_rows();
/// The row for `machine` (uname -m), or nullptr when the harness does not
/// know that architecture.
const ArchRow* arch_row(std::string_view machine);

/// Why probe `id` has no meaning on `env.arch`, or nullopt when it has one
/// (or the architecture has no row).
std::optional<std::string_view> arch_not_here(std::string_view id, const Environment& env);

/// What the row of `env.arch` says about probe `id` under the default
/// profile: a skip when the probe has no meaning there, the architecture's
/// own expectation, or nullopt (the default profile's stands).
std::optional<Expectation> arch_expectation(std::string_view id, const Environment& env);

}  // namespace vma::harness
