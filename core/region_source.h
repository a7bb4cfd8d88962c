#pragma once
/// \file
/// Region sources behind one interface: a live pid (proc_source.h), a saved
/// maps or smaps file, a region list handed in by a debugger, and (later) a
/// core file. Front ends pick one; everything after is the same.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "address.h"
#include "result.h"
#include "snapshot.h"

namespace vma {

/// Live page state of one page (from /proc/PID/pagemap).
struct PageState {
  bool present = false;
  bool swapped = false;
  bool guard = false;  ///< bit 58: MADV_GUARD_INSTALL guard region (6.13+)
};

class RegionSource {
 public:
  virtual ~RegionSource() = default;
  /// "pid 1234", "maps file x.maps": names the source in messages.
  virtual std::string describe() const = 0;
  /// The whole map.
  virtual Result<Snapshot> snapshot() = 0;
  /// Enough of the map to annotate `a`: the VMA holding it, or the nearest
  /// VMAs below and above it, each with two adjacent neighbours. Sources that
  /// can answer this without reading the whole map (PROCMAP_QUERY) override
  /// it; the default reads everything.
  virtual Result<Snapshot> around(Addr a) { (void)a; return snapshot(); }
  /// Page state of the page holding `a`, for live sources.
  virtual std::optional<PageState> page_state(Addr a) { (void)a; return std::nullopt; }
};

/// Threads handed in from elsewhere (a debugger's thread list), for sources
/// that cannot read them themselves.
struct KnownThreads {
  std::vector<ThreadInfo> threads;
  std::optional<int> main_tid;
  bool known = false;
  /// Copies the threads into `s` (when known).
  void apply(Snapshot& s) const;
};

/// Maps or smaps text already in memory (a saved file, a debugger's
/// `info proc mappings` converted to maps form, a remote /proc read).
class TextSource : public RegionSource {
 public:
  /// `name` is used in messages and as the source in error locations.
  TextSource(std::string text, std::string name, Target target);
  std::string describe() const override { return name_; }
  Result<Snapshot> snapshot() override;
  /// Threads known from elsewhere (a debugger's thread list).
  void set_threads(std::vector<ThreadInfo> threads, std::optional<int> main_tid);

 private:
  std::string text_, name_;
  Target target_;
  KnownThreads threads_;
};

/// Reads a saved maps or smaps file. Errors name the file (and line).
Result<std::unique_ptr<TextSource>> open_maps_file(const std::string& path, Target target);

/// A region list handed in by a debugger: start, end, perms, name, with
/// offset/dev/inode unknown (Mapping::file_info_known = false) unless set.
/// Debuggers do not report private/shared: a name that says shared memory
/// (Mapping::name_says_shared) marks the region shared.
class ListSource : public RegionSource {
 public:
  ListSource(std::vector<Mapping> mappings, std::string name, Target target);
  std::string describe() const override { return name_; }
  Result<Snapshot> snapshot() override;
  void set_threads(std::vector<ThreadInfo> threads, std::optional<int> main_tid);

 private:
  std::vector<Mapping> mappings_;
  std::string name_;
  Target target_;
  KnownThreads threads_;
};

}  // namespace vma
