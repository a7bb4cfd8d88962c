#pragma once
/// \file
/// `vma-harness aslr`: samples how random each region is. One sample is one
/// fresh execve of probes/aslr-sampler (PIE), which prints an address in
/// every region at once, plus one of aslr-sampler-nopie (static, ET_EXEC)
/// for the brk of a non-PIE program (heap-exec): two execs per sample where
/// paxtest spends two (popen: sh -c, then the program) per region. Up to `jobs` samplers run at
/// once. The counting is core's (core/aslr.h).

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "environment.h"
#include "result.h"

namespace vma::harness {

struct AslrOptions {
  unsigned samples = 1500;
  unsigned jobs = 1;
  std::string sampler;        ///< PIE sampler
  std::string sampler_nopie;  ///< non-PIE sampler; empty: heap-exec is not measured
  /// Called after each finished exec with (done, total) execs.
  std::function<void(unsigned, unsigned)> progress;
};

struct AslrRegionResult {
  std::string region;       ///< core's AslrRegion name
  unsigned bits = 0;        ///< paxtest_bits
  double strict_bits = 0;   ///< page_entropy_bits, one decimal
  std::size_t samples = 0;  ///< samples that reported this region
};

struct AslrReport {
  std::vector<AslrRegionResult> regions;  ///< in core's region order
  std::vector<std::string> warnings;
  unsigned samples = 0;  ///< requested per region
  double seconds = 0;
  int interrupted = 0;  ///< SIGINT/SIGTERM that stopped sampling early, or 0
};

/// Why randomisation may be off here: randomize_va_space < 2, norandmaps,
/// ADDR_NO_RANDOMIZE personality, a tracer. Empty when none applies.
std::vector<std::string> aslr_warnings(const Environment& env);

/// Runs the samplers and counts bits. Errors: a sampler that cannot start,
/// exits non-zero or prints a malformed line (named with its text).
/// SIGINT/SIGTERM pending (blocked by the caller) stop sampling early: the
/// report then holds what was sampled and `interrupted`.
Result<AslrReport> measure_aslr(const AslrOptions& opts, const Environment& env);

/// {"regions": [{"region", "bits", "strict_bits", "samples"}], "warnings":
/// [...], "samples", "seconds"}.
nlohmann::json to_json(const AslrReport& r);
/// A table: REGION BITS STRICT SAMPLES MEANING, warnings first and last.
std::string aslr_text(const AslrReport& r, bool color);

/// Parses one sampler line "region 0x...": pure, for tests.
Result<std::pair<std::string, std::uint64_t>> parse_sampler_line(std::string_view line);

}  // namespace vma::harness
