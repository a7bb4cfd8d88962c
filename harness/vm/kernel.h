#pragma once
/// \file
/// What to boot: a kernel given as an unpacked Debian kernel package (a
/// directory with boot/vmlinuz-*, boot/config-* and lib/modules/ or
/// usr/lib/modules/, as Debian 11-13 ship it; or usr/lib/modules/RELEASE/
/// with vmlinuz and config, as Debian 14 and sid's split linux-binary-*
/// and linux-modules-* ship it) or as a bare image file (with its config beside it: config-RELEASE or config).

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

}  // namespace vma::harness::vm
