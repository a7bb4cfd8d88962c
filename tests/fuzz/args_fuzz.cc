// Fuzz target: what the CLI and the debugger commands parse from their
// arguments: addresses (parse_address), --arch (Target::parse), --kind
// (parse_region_kind), permissions, signal and si_code names. Each parser
// gets the whole input; a parsed address is then placed on every target
// layout (classify_outside, strip_tag).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "address.h"
#include "perms.h"
#include "region_kind.h"
#include "signals.h"
#include "target.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string why;
  auto a = vma::parse_address(text, &why);
  // Target::parse starts from Target::host() (uname, /proc/cpuinfo, sysctls:
  // ~0.3 ms, most of this target's time); every valid name starts with 'a'
  // or 'x' and is shorter than 16 bytes, every other input is the same error.
  if (size < 16 && (text.starts_with('a') || text.starts_with('x')))
    if (auto t = vma::Target::parse(text)) (void)t->name();
  (void)vma::parse_region_kind(text);
  (void)vma::parse_perms(text);
  if (auto sig = vma::parse_signal(text)) {
    (void)vma::signal_name(*sig);
    (void)vma::parse_si_code(*sig, text);
  }
  if (a) {
    (void)vma::hex(*a);
    (void)vma::human_size(*a);
    static const std::vector<vma::Target> targets = [] {
      std::vector<vma::Target> ts;
      for (std::string_view name : {"x86_64", "x86_64-la57", "aarch64", "aarch64-52"}) {
        auto t = vma::Target::parse(name);
        if (!t) __builtin_trap();
        ts.push_back(*t);
      }
      return ts;
    }();
    for (const vma::Target& target : targets) {
      (void)vma::classify_outside(target, *a);
      (void)vma::strip_tag(target, *a);
    }
    for (int signo : {7, 11}) (void)vma::si_code_name(signo, static_cast<int>(*a & 0xff) - 128);
  }
  return 0;
}
