#pragma once
/// \file
/// What an architecture means to `vma-harness vm`: one plain row per arch
/// (QEMU binary, machine, console, CPU flags, page size, where its shared
/// libraries live). Code reads the row; adding an arch is adding a row here
/// (and its probes' expectations in profile.cc), never an `if` elsewhere.

#include <cstddef>
#include <span>
#include <string_view>

namespace vma::harness::vm {

struct GuestArch {
  std::string_view name;           ///< uname machine: "x86_64"
  std::string_view debian_arch;    ///< "amd64": the kernel package suffix
  std::string_view qemu_binary;    ///< "qemu-system-x86_64"
  std::string_view machine;        ///< -machine
  std::string_view console;        ///< console= device of the serial port
  std::string_view default_cpu;    ///< -cpu when none is given (TCG: every feature)
  std::string_view kvm_cpu;        ///< -cpu under KVM
  unsigned page_size;              ///< bytes
  /// Directories the dynamic loader searches by default for this arch's
  /// libraries (Debian multiarch), in order.
  std::span<const std::string_view> lib_dirs;
  /// The kernel modules `--host-root` needs when they are not built in, in
  /// load order (each after its dependencies; modules.dep adds any missing).
  std::span<const std::string_view> root_modules;
  /// GNU triplet: binutils for this arch is TRIPLET-objcopy on another one.
  std::string_view triplet;
  /// ELF e_machine of this arch's programs (EM_X86_64 62, EM_AARCH64 183):
  /// what the guest carries must match it.
  unsigned elf_machine;
  /// How its kernel image says which arch it is: `image_magic` at byte
  /// `image_magic_offset` (x86 bzImage "HdrS" at 0x202; arm64 Image
  /// "ARM\x64" at 0x38, Documentation/arch/arm64/booting.rst).
  std::size_t image_magic_offset;
  std::string_view image_magic;
};

/// The row for `name` ("x86_64"), or nullptr.
const GuestArch* find_guest_arch(std::string_view name);
/// The row of the machine this runs on, or nullptr when it has none.
const GuestArch* host_guest_arch();
/// The row whose kernel image magic `head` (the image's first bytes)
/// carries, or nullptr.
const GuestArch* image_guest_arch(std::string_view head);
/// Every row, for messages ("x86_64").
std::span<const GuestArch> guest_arches();

}  // namespace vma::harness::vm
