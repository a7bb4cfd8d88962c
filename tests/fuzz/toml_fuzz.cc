// Fuzz target: the harness's TOML readers, a spec file (load_spec) and a
// profile file applied to the built-in probes and the spec's (both take a
// path: the input is handed over as a memfd). The environment is a fixed
// default, not the host's, so runs are reproducible.

#include <cstddef>
#include <cstdint>

#include "fuzz_input.h"
#include "profile.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  vma::fuzz::MemFile file(data, size);
  static const vma::harness::Environment env;
  auto spec = vma::harness::load_spec(file.path());
  std::vector<vma::harness::ProbeDef> probes = vma::harness::builtin_probe_defs("default", env);
  if (spec) probes.insert(probes.end(), spec->begin(), spec->end());
  (void)vma::harness::apply_profile_file(file.path(), env, probes);
  return 0;
}
