#pragma once
/// \file
/// What LLDB knows about the selected process at its current stop, turned
/// into core's inputs: a region source (ProcSource for a live local process,
/// CoreSource for a core file readable here, LLDB's region list otherwise),
/// the threads' stack pointers, and the
/// classified map, built at most once per stop.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <lldb/API/LLDB.h>

#include "address_map.h"
#include "annotation.h"
#ifdef VMAKIT_HAVE_CORE_SOURCE
#include "core_source.h"
#else
namespace vma { class CoreSource; }
#endif
#include "region_source.h"
#include "result.h"

namespace vma::lldb_plugin {

/// The selected process at one stop. Owned by a StopCache; valid until the
/// process resumes (its stop id changes) or another process is selected.
class ProcessView {
 public:
  ProcessView(lldb::SBProcess process, bool live_local,
              std::unique_ptr<RegionSource> source, const CoreSource* core = nullptr);

  /// SBProcess holds the process weakly; the target is looked up each time,
  /// so a cached view never keeps a deleted target alive.
  lldb::SBTarget target() { return process_.GetTarget(); }
  lldb::SBProcess& process() { return process_; }
  /// True when the map comes from /proc/PID of a process this LLDB debugs on
  /// this machine (core's ProcSource); false for LLDB's region list.
  bool live_local() const { return live_local_; }
  const RegionSource& source() const { return *source_; }
  /// The core file reader when the process is a core LLDB has open and core's
  /// CoreSource could read the file; nullptr otherwise.
  const CoreSource* core() const { return core_; }
  /// Something the user should know about where the map comes from (a core
  /// file core could not read), once: empty after the first call.
  std::string take_note() { return std::exchange(note_, {}); }
  void set_note(std::string note) { note_ = std::move(note); }

  /// The classified map of the whole address space, built on first use.
  Result<const AddressMap*> address_map(ElfCache& elf_cache);

  /// Everything core says about `a`. A live local process is asked
  /// address by address (PROCMAP_QUERY, page state), as `vma whereis --pid`
  /// does; other sources are annotated from the cached map, with sections
  /// and symbols filled from LLDB's modules where core has no ELF file.
  Result<Annotation> annotate_address(Addr a, ElfCache& elf_cache);

 private:
  lldb::SBProcess process_;
  bool live_local_;
  std::unique_ptr<RegionSource> source_;
  const CoreSource* core_;  // points into source_ when set
  std::optional<AddressMap> map_;
  std::string note_;
};

/// One ProcessView per stop: several commands at one stop read the map once;
/// a new stop id (the process ran, even for an expression), another process
/// or another target drops it.
class StopCache {
 public:
  /// The view of `debugger`'s selected target and process. Errors: no
  /// target, no process, a running or exited process, a region source that
  /// cannot be opened; the messages are fit for `result.SetError`.
  Result<ProcessView*> current(lldb::SBDebugger& debugger);
  ElfCache& elf_cache() { return elf_cache_; }

 private:
  struct Key {
    std::uint32_t process_uid = 0;
    std::uint32_t stop_id = 0;
    bool operator==(const Key&) const = default;
  };
  std::optional<Key> key_;
  std::unique_ptr<ProcessView> view_;
  ElfCache elf_cache_;
};

/// The stack pointer of every thread LLDB knows, with its TID.
std::vector<ThreadInfo> lldb_threads(lldb::SBProcess& process);

/// LLDB's region list as core mappings: bounds, r/w/x and name; dev and
/// inode unknown (Mapping::file_info_known = false); the offset of a VMA of a
/// module LLDB loaded is taken from LLDB's sections (a hint for matching ELF
/// segments, not shown as known). Unmapped entries are left out.
std::vector<Mapping> lldb_regions(lldb::SBProcess& process);

/// True when `process` is a live process on this machine whose /proc entry
/// is the process LLDB debugs: its tracer is a debug server this LLDB started
/// (a child of this process). A `gdb-remote host:port` connection is remote
/// even when the server runs here: its pid need not name a local process.
bool is_live_local(lldb::SBTarget& target, lldb::SBProcess& process);

/// Fills `ann.section`, `ann.symbol` and `ann.symbol_offset` from LLDB's
/// module knowledge (SBTarget::ResolveLoadAddress) when core left them empty.
void fill_from_modules(Annotation& ann, lldb::SBTarget& target);

}  // namespace vma::lldb_plugin
