#pragma once
/// \file
/// One VMA, as one line of /proc/PID/maps describes it (or as a debugger or a
/// core file describes it, with some fields unknown).

#include <cstdint>
#include <string>
#include <string_view>

#include "address.h"
#include "perms.h"

namespace vma {

/// An immutable description of one virtual memory area.
struct Mapping {
  AddressRange range;
  Perms perms = Perms::none;
  /// File offset of `range.start`, bytes. When file_info_known is false it
  /// may still be set as a hint (a debugger's loaded sections): classification
  /// uses it to match ELF segments, output does not report it.
  std::uint64_t offset = 0;
  std::uint32_t dev_major = 0;  ///< device of the backing file (maps: hex "fd:01")
  std::uint32_t dev_minor = 0;
  std::uint64_t inode = 0;      ///< 0 for anonymous memory
  /// The name as the kernel prints it, with `\012` decoded to a newline and
  /// ` (deleted)` kept: a path, a pseudo name (`[heap]`), or empty (anonymous).
  std::string name;
  /// smaps `VmFlags:` two-letter codes, space separated; empty when not read.
  std::string vm_flags;
  /// False when the source does not know offset, dev and inode (a debugger's
  /// region list, a core without NT_FILE for this range).
  bool file_info_known = true;
  /// False when the offset is known but dev and inode are not (core files:
  /// NT_FILE records paths and offsets only).
  bool dev_inode_known = true;

  bool is_file() const { return !name.empty() && name.front() == '/'; }
  /// `[heap]`, `[stack]`, `[vdso]`, `[anon:x]`...
  bool is_pseudo() const { return !name.empty() && name.front() == '['; }
  bool is_anonymous() const { return name.empty() || name.starts_with("[anon:"); }
  bool is_deleted() const { return is_file() && name.ends_with(" (deleted)"); }
  bool is_shared() const { return has(perms, Perms::shared); }
  bool is_private() const { return !is_shared(); }
  /// True when the name alone says MAP_SHARED memory: a memfd, SysV shm,
  /// POSIX shm, or shared anonymous memory (`/dev/zero (deleted)`). For
  /// sources that do not record private/shared (core files, a debugger's
  /// region list); a memfd can be mapped private, so it is a guess there.
  bool name_says_shared() const;
  /// The file path without a trailing ` (deleted)`; empty for non-files.
  std::string_view file_path() const;
  /// "fd:01", as maps prints it.
  std::string dev_string() const;
  /// True when the smaps VmFlags list contains `flag` (e.g. "gd", "sl").
  bool has_vm_flag(std::string_view flag) const;
};

}  // namespace vma
