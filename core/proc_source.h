#pragma once
/// \file
/// A live process: /proc/PID/maps (smaps for VmFlags), PROCMAP_QUERY for
/// single addresses, /proc/PID/task/TID/syscall for threads' stack pointers,
/// /proc/PID/pagemap for page state and MADV_GUARD_INSTALL guard pages.
/// No ptrace here: front ends that can stop threads (a debugger, the harness)
/// hand their stack pointers in with set_threads().

#include <optional>
#include <string>
#include <vector>

#include "region_source.h"

namespace vma {

struct ProcOptions {
  bool read_smaps = false;        ///< read smaps (slow) to get VmFlags
  bool scan_guard_pages = true;   ///< look for MADV guard pages with pagemap
  bool use_procmap_query = true;  ///< use PROCMAP_QUERY when the kernel has it
  /// Scan for guard pages with the PAGEMAP_SCAN ioctl when the kernel has it
  /// (6.14: PAGE_IS_GUARD), beside the map read; else, or when false, read
  /// pagemap entries of the VMAs after it.
  bool use_pagemap_scan = true;
};

class ProcSource : public RegionSource {
 public:
  /// Checks that the pid exists and its maps are readable; errors say which
  /// pid and why ("no such process", "permission denied").
  static Result<std::unique_ptr<ProcSource>> open(int pid, ProcOptions opts = {});
  ~ProcSource() override;

  std::string describe() const override;
  Result<Snapshot> snapshot() override;
  Result<Snapshot> around(Addr a) override;
  std::optional<PageState> page_state(Addr a) override;

  /// Threads' stack pointers from a front end that stopped them; replaces
  /// what /proc/PID/task/TID/syscall says.
  void set_threads(std::vector<ThreadInfo> threads);
  /// The threads and the SPs /proc/PID/task/TID/syscall gives: unknown for a
  /// thread that is running (or when the file is not readable). A front end
  /// that may ptrace fills those in and hands the list to set_threads().
  Result<std::vector<ThreadInfo>> threads() const { return read_threads(); }
  int pid() const { return pid_; }
  /// True when the last around() used PROCMAP_QUERY (for tests and bench).
  bool used_procmap_query() const { return used_query_; }
  /// True when the last snapshot() found guard pages with PAGEMAP_SCAN.
  bool used_pagemap_scan() const { return used_scan_ioctl_; }

 private:
  ProcSource(int pid, ProcOptions opts, int maps_fd);
  Result<std::vector<ThreadInfo>> read_threads() const;
  void fill_common(Snapshot& s);

  int pid_;
  ProcOptions opts_;
  int maps_fd_ = -1;      // open /proc/PID/maps, for PROCMAP_QUERY
  int pagemap_fd_ = -1;   // open lazily
  bool query_supported_ = true;
  bool scan_ioctl_supported_ = true;  // PAGEMAP_SCAN with PAGE_IS_GUARD
  bool used_scan_ioctl_ = false;
  bool used_query_ = false;
  std::optional<std::vector<ThreadInfo>> threads_override_;
  Target target_;
};


}  // namespace vma
