#pragma once
/// \file
/// What to boot: a kernel given as an unpacked Debian kernel package (a
/// directory with boot/vmlinuz-*, boot/config-* and lib/modules/ or
/// usr/lib/modules/) or as a bare image file.

#include <optional>
#include <string>
#include <string_view>

#include "result.h"

namespace vma::harness::vm {

struct KernelImage {
  std::string label;    ///< how the user named it (the path's last component)
  std::string image;    ///< the kernel image file
  std::string release;  ///< "6.1.0-57-amd64"; from the file name or the bzImage header
  std::string config;   ///< its .config (boot/config-RELEASE), or empty
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
