#pragma once
/// \file
/// One description of what a guest's initramfs holds, and the one function
/// that builds it: `vma-harness vm` boots it, `vma-harness initramfs` writes
/// it for other runners (LAVA, a person at a QEMU console).

#include <string>
#include <string_view>
#include <vector>

#include "arch.h"
#include "guest.h"
#include "result.h"

namespace vma::harness::vm {

/// Where the guest finds the harness the image carries; its probes are in
/// probes/ beside it, where the harness looks first.
inline constexpr std::string_view kGuestHarness = "/vmakit/bin/vma-harness";
/// Where the guest finds the kernel config the image carries.
inline constexpr std::string_view kGuestKconfig = "/vmakit/config";

/// What goes into the initramfs. Host paths; empty means "not carried".
struct GuestImageSpec {
  const GuestArch* arch = nullptr;
  std::string busybox;  ///< a static busybox: /bin/busybox, the shell of /init
  /// vma-harness (at kGuestHarness) and every executable of probes_dir,
  /// without debug sections, with every shared library they load.
  std::string harness, probes_dir;
  /// The kernel's config, at kGuestKconfig; VMA_KCONFIG names it.
  std::string kconfig;
  /// Kernel modules /init loads first: these names and what they depend
  /// on, from modules_dir/modules.dep (a name built in is left out).
  std::string modules_dir;
  std::vector<std::string> modules;
  /// What /init runs (guest.h's console protocol), or with `shell` only
  /// its environment and modules: /init then gives a shell with the prompt
  /// kShellPrompt on the console.
  GuestCommand command;
  bool shell = false;
  /// A directory for the stripped copies; the caller removes it.
  std::string scratch_dir;
};

/// The newc archive `spec` describes. Errors name the file that could not
/// be read, or the library or module not found.
Result<std::string> build_guest_initramfs(const GuestImageSpec& spec);


}  // namespace vma::harness::vm
