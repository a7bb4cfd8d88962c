#pragma once
/// \file
/// What a region source hands to the classifier: mappings plus the facts
/// needed to classify them (threads' stack pointers, guard pages, target).

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "address.h"
#include "mapping.h"
#include "target.h"

namespace vma {

/// One thread of the target. `sp` is unknown when the thread was running and
/// the source could not stop it.
struct ThreadInfo {
  int tid = 0;
  std::optional<Addr> sp;
};

/// Says where the file behind a mapping can be read on this machine, and
/// whether it is really the same file (same device and inode) and not a
/// namesake: a saved maps file from another machine must not be classified
/// from this machine's libc.
class FileResolver {
 public:
  virtual ~FileResolver() = default;
  /// A host path that reads as the file behind `m`, or nullopt.
  virtual std::optional<std::string> host_path(const Mapping& m) const = 0;
};

/// Resolves a mapping's path on this machine's file system; when the mapping
/// carries dev and inode, they must match stat() of the path.
class LocalFileResolver : public FileResolver {
 public:
  /// `root` is prefixed to each path (e.g. "/proc/1234/root"); empty for "/".
  explicit LocalFileResolver(std::string root = {}) : root_(std::move(root)) {}
  std::optional<std::string> host_path(const Mapping& m) const override;

 private:
  std::string root_;
};

/// The evidence about one address space at one moment.
struct Snapshot {
  /// Sorted by address, non-overlapping.
  std::vector<Mapping> mappings;
  /// False when `mappings` is only a window around one address (see
  /// RegionSource::around); map listings need a complete snapshot.
  bool complete = true;
  std::vector<ThreadInfo> threads;
  /// True when `threads` lists every thread (a live process, a core). When
  /// false, or when a thread's SP is unknown, thread stacks that hold no known
  /// SP are inferred from their shape (an anonymous rw VMA directly above a
  /// PROT_NONE guard) and carry no TID.
  bool threads_known = false;
  /// Main thread's TID (= pid), when known.
  std::optional<int> main_tid;
  /// MADV_GUARD_INSTALL pages (pagemap bit 58), merged into ranges.
  std::vector<AddressRange> guard_pages;
  /// True when the guard pages above were looked for.
  bool guard_pages_scanned = false;
  Target target;
  /// "pid 1234", "maps file tests/data/x.maps", "LLDB region list".
  std::string source;
  /// How to read the files behind the mappings. Never null.
  std::shared_ptr<const FileResolver> files = std::make_shared<LocalFileResolver>();
};

}  // namespace vma
