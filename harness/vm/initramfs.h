#pragma once
/// \file
/// The guest's initramfs: a newc cpio archive (the format the kernel
/// unpacks, Documentation/driver-api/early-userspace/buffer-format.rst)
/// holding busybox for /init, the harness, its probes, every shared library
/// they load and the kernel's own config and modules. It does not depend on
/// the guest kernel having any module: a kernel with everything built in
/// boots it as well.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "arch.h"
#include "result.h"

namespace vma::harness::vm {

/// A newc archive built in memory. Paths are guest paths without the
/// leading '/'; parent directories are added on demand.
class CpioArchive {
 public:
  void add_data(const std::string& path, std::string_view data, unsigned mode);
  /// The content of host file `host` (symlinks followed), with its mode.
  Result<void> add_file(const std::string& path, const std::string& host);
  void add_symlink(const std::string& path, const std::string& target);
  /// A character device node (dev/console: the kernel opens it for /init).
  void add_char_device(const std::string& path, unsigned major, unsigned minor);
  bool contains(const std::string& path) const;
  /// The archive with its TRAILER!!!.
  std::string finish();

 private:
  void parents(const std::string& path);
  void entry(const std::string& path, unsigned mode, std::string_view data, unsigned rdev_major = 0,
             unsigned rdev_minor = 0);
  std::string out_;
  std::vector<std::string> paths_;
  std::uint32_t ino_ = 1;
};

/// The shared libraries `files` load, transitively, and their interpreter
/// (PT_INTERP), as the dynamic loader would find them: DT_RUNPATH/DT_RPATH
/// ($ORIGIN expanded), then `arch.lib_dirs`. Host paths, each once. Errors
/// name the file and the library not found.
Result<std::vector<std::string>> elf_closure(const std::vector<std::string>& files, const GuestArch& arch);

/// The modules `names` and their dependencies in load order, from
/// modules_dir/modules.dep (written by depmod): paths relative to
/// modules_dir. A name without a module (built in, or absent) is left out.
Result<std::vector<std::string>> module_load_order(const std::string& modules_dir,
                                                   const std::vector<std::string>& names);

/// A module's ELF bytes: `.ko` as is, `.ko.xz` decompressed (liblzma).
Result<std::string> read_module(const std::string& path);

}  // namespace vma::harness::vm
