#pragma once
/// \file
/// `vma-harness demo`: live, narrated demonstrations of W^X, guard pages,
/// the null page and the stack, with the map lines involved and each fault
/// caught in a forked, traced child and annotated by core.

#include <optional>
#include <string_view>

namespace vma::harness {

enum class Demo { wx, guard, null, stack };
std::optional<Demo> parse_demo(std::string_view name);

struct DemoOptions {
  bool step = false;   ///< wait for Enter between steps
  bool color = false;
};

/// Prints the demo to stdout; returns the exit status (0, or 1 when a step
/// could not be shown).
int run_demo(Demo d, const DemoOptions& opts);

}  // namespace vma::harness
