#pragma once
/// \file
/// What to boot: a kernel given as an unpacked Debian kernel package (a
/// directory with boot/vmlinuz-*, boot/config-* and lib/modules/ or
/// usr/lib/modules/, as Debian 11-13 ship it; or usr/lib/modules/RELEASE/
/// with vmlinuz and config, as Debian 14 and sid's split linux-binary-*
/// and linux-modules-* ship it) or as a bare image file (with its config beside it: config-RELEASE or config).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "result.h"

namespace vma::harness::vm {

struct KernelImage {
  /// How the user named it: the directory's name (bookworm-amd64), an
  /// image's file name (vmlinuz-6.1.0-57-amd64), or the release when the
  /// file name does not say it (usr/lib/modules/RELEASE/vmlinuz).
  std::string label;
  std::string image;    ///< the kernel image file
  std::string release;  ///< "6.1.0-57-amd64"; from the file name or the bzImage header
  /// Its .config (boot/config-RELEASE, usr/lib/modules/RELEASE/config,
  /// or beside a bare image), or empty.
  std::string config;
  /// lib/modules/RELEASE or usr/lib/modules/RELEASE, or empty: no modules.
  std::string modules_dir;
  /// The GuestArch its image header names ("x86_64", "aarch64"), or empty
  /// when no row's magic matches.
  std::string arch;
};

/// Resolves `path`. Errors name the path and what is missing: "K: no
/// boot/vmlinuz-* in this directory", "K: not a kernel image (no bzImage
/// header)", "K: No such file or directory".
Result<KernelImage> resolve_kernel(const std::string& path);

/// The release string of an x86 bzImage (its setup header's kernel_version
/// field, Documentation/arch/x86/boot.rst), or nullopt when `bytes` is not a
/// bzImage.
std::optional<std::string> bzimage_release(std::string_view bytes);

/// Why a kernel image of `file_size` bytes whose first bytes are `head` is
/// cut short, or nullopt when its header says nothing against it. An x86
/// bzImage's setup header gives its length: (setup_sects + 1) * 512 bytes
/// of real-mode setup (setup_sects 0 means 4) and syssize 16-byte
/// paragraphs of protected-mode kernel (Documentation/arch/x86/boot.rst).
/// Otherwise a PE/COFF header (the EFI stub of an arm64 Image or a zboot
/// image) gives each section's place in the file. An arm64 Image's own
/// image_size (offset 16) counts the BSS too, so it says nothing about the
/// file. QEMU given the first 100 KB of a bzImage died of Killed (KVM) or
/// exited 0 before init (TCG), neither saying why.
std::optional<std::string> image_truncated(std::string_view head, std::uint64_t file_size);

}  // namespace vma::harness::vm
