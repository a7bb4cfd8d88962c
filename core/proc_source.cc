#include "proc_source.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/ioctl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

#include <fmt/format.h>

#include "huge_pages.h"
#include "maps_parser.h"

namespace vma {

namespace {

// PROCMAP_QUERY (Linux 6.11, include/uapi/linux/fs.h). Debian 12's headers
// predate it; the UAPI struct is stable and extensible by `size`, so it is
// defined here. Kernels without it answer ENOTTY (or EINVAL).
struct procmap_query {
  std::uint64_t size;
  std::uint64_t query_flags;
  std::uint64_t query_addr;
  std::uint64_t vma_start;
  std::uint64_t vma_end;
  std::uint64_t vma_flags;
  std::uint64_t vma_page_size;
  std::uint64_t vma_offset;
  std::uint64_t inode;
  std::uint32_t dev_major;
  std::uint32_t dev_minor;
  std::uint32_t vma_name_size;
  std::uint32_t build_id_size;
  std::uint64_t vma_name_addr;
  std::uint64_t build_id_addr;
};
constexpr unsigned long kProcmapQuery = _IOWR('f', 17, struct procmap_query);
constexpr std::uint64_t kQueryReadable = 0x01, kQueryWritable = 0x02, kQueryExecutable = 0x04,
                        kQueryShared = 0x08, kQueryCoveringOrNext = 0x10;

// /proc/PID/pagemap bits (Documentation/admin-guide/mm/pagemap.rst).
constexpr std::uint64_t kPmPresent = 1ull << 63, kPmSwapped = 1ull << 62, kPmGuard = 1ull << 58;

// The PAGEMAP_SCAN ioctl on /proc/PID/pagemap (Linux 6.7; the PAGE_IS_GUARD
// category since 6.14), include/uapi/linux/fs.h; Debian 12's headers predate
// it. Kernels without the ioctl answer ENOTTY, without the category EINVAL.
struct page_region {
  std::uint64_t start, end, categories;
};
struct pm_scan_arg {
  std::uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted, category_mask,
      category_anyof_mask, return_mask;
};
constexpr unsigned long kPagemapScan = _IOWR('f', 16, struct pm_scan_arg);
constexpr std::uint64_t kPageIsGuard = 1u << 8;

/// A read buffer: `cap` bytes, not initialised, of which `len` are text.
struct Piece {
  std::unique_ptr<char[]> data;
  std::size_t cap = 0, len = 0;

  static Piece make(std::size_t cap) {
    Piece p{std::unique_ptr<char[]>(new char[cap]), cap, 0};
    populate_for_writing(p.data.get(), cap);
    return p;
  }
  std::string_view text() const { return {data.get(), len}; }
};

/// Parses maps text handed over in pieces (whole lines), on a thread of its
/// own once there is more than one piece, while the caller reads the next.
/// Parsed pieces come back to the reader (spare()): memory freed on the
/// parser thread goes to that thread's malloc arena, so fresh pieces from
/// the reader's would each be new pages (a page fault per 4 KiB).
/// The destructor, on every path, says no more will come and joins it.
class PieceParser {
 public:
  PieceParser(std::string_view source, std::size_t reserve) : parser_(source, reserve) {}
  ~PieceParser() { stop(); }
  PieceParser(const PieceParser&) = delete;
  PieceParser& operator=(const PieceParser&) = delete;

  void push(Piece piece) {
    if (!thread_.joinable() && !no_thread_ && !queue_.empty()) {
      try {
        thread_ = std::thread([this] { drain(); });
      } catch (const std::system_error&) {
        no_thread_ = true;  // none to spare (RLIMIT_NPROC): the pieces wait for finish()
      }
    }
    {
      std::lock_guard lock(mu_);
      queue_.push_back(std::move(piece));
    }
    cv_.notify_one();
  }

  /// A parsed piece to read into again, or a new one of `cap` bytes.
  Piece spare(std::size_t cap) {
    {
      std::lock_guard lock(mu_);
      if (!spares_.empty()) {
        Piece p = std::move(spares_.back());
        spares_.pop_back();
        p.len = 0;
        if (p.cap >= cap) return p;
      }
    }
    return Piece::make(cap);
  }

  /// No more pieces: waits for the thread (or parses what waits, here).
  Result<std::vector<Mapping>> finish() {
    stop();
    if (!parsed_) return parsed_.error();
    return parser_.take();
  }

 private:
  void stop() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
    else drain();
  }

  void drain() {
    for (;;) {
      Piece piece;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty() || done_; });
        if (queue_.empty()) return;
        piece = std::move(queue_.front());
        queue_.pop_front();
      }
      if (parsed_) parsed_ = parser_.feed(piece.text());
      std::lock_guard lock(mu_);
      spares_.push_back(std::move(piece));
    }
  }

  MapsParser parser_;
  Result<void> parsed_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Piece> queue_;
  std::vector<Piece> spares_;
  bool done_ = false;
  bool no_thread_ = false;
  std::thread thread_;
};

/// Mappings to reserve room for: vm.max_map_count, the most a process can
/// have (65530 by default). Address space only, touched as it fills, so the
/// vector is never copied as it grows, even at a million VMAs.
std::size_t max_map_count() {
  std::size_t n = 65536;
  if (int fd = ::open("/proc/sys/vm/max_map_count", O_RDONLY | O_CLOEXEC); fd >= 0) {
    char buf[32];
    ssize_t got = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (got > 0) {
      buf[got] = '\0';
      n = std::max<std::size_t>(n, std::strtoull(buf, nullptr, 10) + 16);
    }
  }
  return std::min<std::size_t>(n, std::size_t{1} << 24);
}

/// Reads maps or smaps text from `fd` (from offset 0) and parses it while
/// it arrives: this thread reads (the kernel formats the text, as long as
/// `cat` takes), a PieceParser parses it in pieces of about 64 KiB cut at
/// line ends. The text is never held whole. `*read_failed` tells a read
/// error (the process went away) from a parse error (the map changed under us).
Result<std::vector<Mapping>> read_and_parse(int fd, const std::string& path, bool* read_failed) {
  constexpr std::size_t kPiece = 64 * 1024;
  PieceParser parser(path, max_map_count());
  Piece cur = parser.spare(kPiece);
  off_t off = 0;
  for (;;) {
    if (cur.len == cur.cap) {  // a line longer than a piece
      Piece bigger = Piece::make(cur.cap * 2);
      std::memcpy(bigger.data.get(), cur.data.get(), cur.len);
      bigger.len = cur.len;
      cur = std::move(bigger);
    }
    ssize_t n = pread(fd, cur.data.get() + cur.len, cur.cap - cur.len, off);
    if (n < 0) {
      if (errno == EINTR) continue;
      *read_failed = true;
      return Error{fmt::format("{}: {}", path, std::strerror(errno))};
    }
    if (n == 0) break;
    cur.len += static_cast<std::size_t>(n);
    off += n;
    if (cur.len + 4096 <= cur.cap) continue;
    // Nearly full: hand the whole lines over (seq_file returns whole lines,
    // so there is rarely a tail to carry).
    const void* nl = memrchr(cur.data.get(), '\n', cur.len);
    if (!nl) continue;
    std::size_t cut = static_cast<std::size_t>(static_cast<const char*>(nl) - cur.data.get()) + 1;
    Piece next = parser.spare(kPiece);
    std::memcpy(next.data.get(), cur.data.get() + cut, cur.len - cut);
    next.len = cur.len - cut;
    cur.len = cut;
    parser.push(std::move(cur));
    cur = std::move(next);
  }
  parser.push(std::move(cur));
  return parser.finish();
}

Error open_error(int pid, const std::string& path, int err) {
  if (err == ENOENT || err == ESRCH) return Error{fmt::format("pid {}: no such process", pid)};
  if (err == EACCES || err == EPERM)
    return Error{fmt::format("pid {}: permission denied reading {} (needs ptrace access to the process)", pid, path)};
  return Error{fmt::format("pid {}: {}: {}", pid, path, std::strerror(err))};
}

/// Why a process whose maps file is empty has no address space: a zombie
/// (exited, not yet reaped) or a kernel thread (no mm at all). Reads
/// /proc/PID/stat: the state after the command name, and the flags word
/// (PF_KTHREAD, include/linux/sched.h).
Error no_address_space(int pid) {
  std::string stat;
  if (int fd = ::open(fmt::format("/proc/{}/stat", pid).c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    char buf[1024];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n > 0) stat.assign(buf, static_cast<std::size_t>(n));
  }
  auto paren = stat.rfind(')');
  if (paren == std::string::npos) return Error{fmt::format("pid {}: no such process (it exited)", pid)};
  std::vector<std::string_view> f;
  std::string_view rest = std::string_view(stat).substr(paren + 1);
  while (!rest.empty() && f.size() < 7) {
    auto b = rest.find_first_not_of(' ');
    if (b == std::string_view::npos) break;
    rest.remove_prefix(b);
    auto e = rest.find(' ');
    f.push_back(rest.substr(0, e));
    rest = e == std::string_view::npos ? std::string_view{} : rest.substr(e);
  }
  constexpr unsigned long kPfKthread = 0x00200000;
  if (!f.empty() && (f[0] == "Z" || f[0] == "X"))
    return Error{fmt::format("pid {}: a zombie (it exited and its parent has not reaped it): no address space left", pid)};
  if (f.size() >= 7 && (std::strtoul(std::string(f[6]).c_str(), nullptr, 10) & kPfKthread))
    return Error{fmt::format("pid {}: a kernel thread: it has no user address space", pid)};
  return Error{fmt::format("pid {}: no mappings (/proc/{}/maps is empty)", pid, pid)};
}

/// Files behind a live process's mappings: the file through the process's
/// own root (checked against dev/inode), else /proc/PID/map_files (which
/// reaches deleted files too; needs CAP_SYS_ADMIN).
class ProcFileResolver : public FileResolver {
 public:
  explicit ProcFileResolver(int pid) : pid_(pid), root_(fmt::format("/proc/{}/root", pid)) {}
  std::optional<std::string> host_path(const Mapping& m) const override {
    if (!m.is_file()) return std::nullopt;
    std::lock_guard lock(mu_);
    auto key = std::make_tuple(m.dev_major, m.dev_minor, m.inode, m.name);
    auto it = memo_.find(key);
    if (it != memo_.end()) return it->second;
    std::optional<std::string> found = root_.host_path(m);
    if (!found) {
      std::string mf = fmt::format("/proc/{}/map_files/{:x}-{:x}", pid_, m.range.start, m.range.end);
      if (access(mf.c_str(), R_OK) == 0) found = mf;
    }
    memo_.emplace(key, found);
    return found;
  }

 private:
  int pid_;
  LocalFileResolver root_;
  mutable std::mutex mu_;
  mutable std::map<std::tuple<std::uint32_t, std::uint32_t, std::uint64_t, std::string>, std::optional<std::string>>
      memo_;
};

/// One PROCMAP_QUERY: the VMA covering `q`, or with `next` the first one
/// above it. `name_buf` empty: names are not asked for (cheaper). Sets
/// `*unsupported` when the kernel lacks the ioctl; nullopt also for ENOENT.
std::optional<Mapping> query_vma(int fd, Addr q, bool next, std::string& name_buf, bool* unsupported) {
  procmap_query pq{};
  pq.size = sizeof pq;
  pq.query_flags = next ? kQueryCoveringOrNext : 0;
  pq.query_addr = q;
  pq.vma_name_size = static_cast<std::uint32_t>(name_buf.size());
  pq.vma_name_addr = name_buf.empty() ? 0 : reinterpret_cast<std::uint64_t>(name_buf.data());
  if (ioctl(fd, kProcmapQuery, &pq) != 0) {
    if (errno == ENOTTY || errno == EINVAL || errno == EOPNOTSUPP) *unsupported = true;
    return std::nullopt;
  }
  Mapping m;
  m.range = {pq.vma_start, pq.vma_end};
  if (pq.vma_flags & kQueryReadable) m.perms |= Perms::read;
  if (pq.vma_flags & kQueryWritable) m.perms |= Perms::write;
  if (pq.vma_flags & kQueryExecutable) m.perms |= Perms::exec;
  if (pq.vma_flags & kQueryShared) m.perms |= Perms::shared;
  m.offset = pq.vma_offset;
  m.dev_major = pq.dev_major;
  m.dev_minor = pq.dev_minor;
  m.inode = pq.inode;
  if (!name_buf.empty() && pq.vma_name_size > 0) m.name.assign(name_buf.data(), pq.vma_name_size - 1);
  return m;
}

/// The VMAs worth a pagemap scan for MADV_GUARD_INSTALL pages (the fallback
/// when PAGEMAP_SCAN cannot say), merged into runs: every VMA of the user
/// half up to 1 GiB (huge reservations such as sanitizer shadows would cost
/// 2 MiB of pagemap per GiB), shared and PROT_NONE ones too (Linux 6.15
/// allows guards in file-backed and shared mappings; the ioctl finds them
/// anywhere). Runs bridge gaps of up to 256 pages: pagemap reads holes as
/// zeros, cheaper than another pread.
void add_scan_range(std::vector<AddressRange>& runs, const Mapping& m, Addr user_end, Addr page) {
  if (m.range.size() > (1ull << 30) || m.range.start >= user_end) return;
  if (!runs.empty() && m.range.start - runs.back().end <= 256 * page) runs.back().end = m.range.end;
  else runs.push_back(m.range);
}

/// Pages of `runs` whose pagemap entry has the guard bit, merged into ranges.
std::vector<AddressRange> scan_guard_pages(int pagemap_fd, const std::vector<AddressRange>& runs, Addr page) {
  std::vector<AddressRange> out;
  std::vector<std::uint64_t> buf;
  for (const AddressRange& r : runs) {
    for (Addr a = r.start; a < r.end;) {
      std::uint64_t pages = std::min<std::uint64_t>((r.end - a) / page, 65536);
      buf.resize(pages);
      ssize_t n = pread(pagemap_fd, buf.data(), pages * 8, static_cast<off_t>(a / page * 8));
      if (n <= 0) break;
      std::uint64_t got = static_cast<std::uint64_t>(n) / 8;
      for (std::uint64_t i = 0; i < got; ++i) {
        if (!(buf[i] & kPmGuard)) continue;
        Addr pa = a + i * page;
        if (!out.empty() && out.back().end == pa) out.back().end += page;
        else out.push_back({pa, pa + page});
      }
      a += got * page;
    }
  }
  return out;
}

/// Every MADV_GUARD_INSTALL range in [start, end) with PAGEMAP_SCAN: one
/// ioctl walks the whole address space (populated page tables only) and needs
/// no list of VMAs, so it can run while the map is being read. nullopt when
/// the kernel cannot do it (before 6.14) or refuses the range.
std::optional<std::vector<AddressRange>> scan_guard_pages_ioctl(int pagemap_fd, Addr start, Addr end) {
  std::vector<AddressRange> out;
  std::vector<page_region> vec(512);
  pm_scan_arg arg{};
  arg.size = sizeof arg;
  arg.start = start;
  arg.end = end;
  arg.vec = reinterpret_cast<std::uint64_t>(vec.data());
  arg.vec_len = vec.size();
  arg.category_mask = kPageIsGuard;
  arg.return_mask = kPageIsGuard;
  for (;;) {
    long n = ioctl(pagemap_fd, kPagemapScan, &arg);
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    for (long i = 0; i < n; ++i) {
      if (!out.empty() && out.back().end == vec[i].start) out.back().end = vec[i].end;
      else out.push_back({vec[i].start, vec[i].end});
    }
    if (arg.walk_end >= arg.end || arg.walk_end <= arg.start) break;
    arg.start = arg.walk_end;  // the vector filled up: go on from where the walk stopped
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<ProcSource>> ProcSource::open(int pid, ProcOptions opts) {
  if (pid <= 0) return Error{fmt::format("pid {}: not a valid process id", pid)};
  std::string path = fmt::format("/proc/{}/maps", pid);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return open_error(pid, path, errno);
  char probe;
  ssize_t n = pread(fd, &probe, 1, 0);
  if (n <= 0) {
    int err = errno;
    close(fd);
    return n < 0 ? open_error(pid, path, err) : no_address_space(pid);
  }
  return std::unique_ptr<ProcSource>(new ProcSource(pid, opts, fd));
}

ProcSource::ProcSource(int pid, ProcOptions opts, int maps_fd)
    : pid_(pid), opts_(opts), maps_fd_(maps_fd), target_(Target::host()) {}

ProcSource::~ProcSource() {
  if (maps_fd_ >= 0) close(maps_fd_);
  if (pagemap_fd_ >= 0) close(pagemap_fd_);
}

std::string ProcSource::describe() const { return fmt::format("pid {}", pid_); }

void ProcSource::set_threads(std::vector<ThreadInfo> threads) { threads_override_ = std::move(threads); }

Result<std::vector<ThreadInfo>> ProcSource::read_threads() const {
  if (threads_override_) return *threads_override_;
  std::vector<ThreadInfo> out;
  std::string dir = fmt::format("/proc/{}/task", pid_);
  DIR* d = opendir(dir.c_str());
  if (!d) return open_error(pid_, dir, errno);
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    ThreadInfo t;
    t.tid = std::atoi(e->d_name);
    // "nr a1 .. a6 sp pc" in a system call, "-1 sp pc" blocked outside one,
    // "running" otherwise (fs/proc/base.c proc_pid_syscall). Needs ptrace
    // access; an unreadable file leaves the SP unknown.
    std::string path = fmt::format("{}/{}/syscall", dir, e->d_name);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      char buf[512];
      ssize_t n = read(fd, buf, sizeof buf - 1);
      close(fd);
      if (n > 0) {
        buf[n] = '\0';
        std::string_view s(buf, static_cast<std::size_t>(n));
        while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
        std::vector<std::string_view> tok;
        std::size_t pos = 0;
        while (pos < s.size()) {
          auto sp = s.find(' ', pos);
          tok.push_back(s.substr(pos, sp - pos));
          if (sp == std::string_view::npos) break;
          pos = sp + 1;
        }
        if (tok.size() >= 3) {
          if (auto sp = parse_address(tok[tok.size() - 2])) t.sp = *sp;
        }
      }
    }
    out.push_back(t);
  }
  closedir(d);
  std::sort(out.begin(), out.end(), [](const ThreadInfo& a, const ThreadInfo& b) { return a.tid < b.tid; });
  return out;
}

void ProcSource::fill_common(Snapshot& s) {
  s.target = target_;
  s.source = describe();
  s.main_tid = pid_;
  s.files = std::make_shared<ProcFileResolver>(pid_);
  if (auto th = read_threads()) {
    s.threads = std::move(th).value();
    s.threads_known = true;
  }
}

Result<Snapshot> ProcSource::snapshot() {
  std::string path = fmt::format("/proc/{}/{}", pid_, opts_.read_smaps ? "smaps" : "maps");
  if (opts_.scan_guard_pages && pagemap_fd_ < 0)
    pagemap_fd_ = ::open(fmt::format("/proc/{}/pagemap", pid_).c_str(), O_RDONLY | O_CLOEXEC);
  // The guard-page scan is a kernel page-table walk some two thirds as long
  // as reading the map (10 and 15 ms of CPU at 60,000 VMAs). With
  // PAGEMAP_SCAN it needs no VMA list, so a second thread does it while this
  // one reads and parses; the two walks do not slow each other.
  used_scan_ioctl_ = false;
  std::future<std::optional<std::vector<AddressRange>>> guard_scan;
  if (opts_.scan_guard_pages && pagemap_fd_ >= 0 && opts_.use_pagemap_scan && scan_ioctl_supported_) {
    // access_ok() limits the range to the highest user page, one below user_end.
    Addr end = target_.user_end() - target_.page_size;
    try {
      guard_scan = std::async(std::launch::async, scan_guard_pages_ioctl, pagemap_fd_, Addr{0}, end);
    } catch (const std::system_error&) {
      // No thread to spare (RLIMIT_NPROC): the same scan, after the read.
      guard_scan = std::async(std::launch::deferred, scan_guard_pages_ioctl, pagemap_fd_, Addr{0}, end);
    }
  }
  Snapshot s;
  // seq_file hands the map out a page at a time; a map that changes between
  // two reads can show a range twice or out of order (fs/proc/task_mmu.c
  // m_start re-finds the VMA by address). The parser rejects that; read again.
  Error last{""};
  for (int attempt = 0; attempt < 3; ++attempt) {
    int fd = maps_fd_;
    if (opts_.read_smaps) {
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return open_error(pid_, path, errno);
    }
    bool read_failed = false;
    auto maps = read_and_parse(fd, path, &read_failed);
    if (fd != maps_fd_) close(fd);
    if (maps) {
      if (maps->empty()) return no_address_space(pid_);
      s.mappings = std::move(maps).value();
      break;
    }
    if (read_failed) {
      if (access(fmt::format("/proc/{}", pid_).c_str(), F_OK) != 0)
        return Error{fmt::format("pid {}: no such process (it exited)", pid_)};
      return maps.error();
    }
    last = maps.error();
    if (attempt == 2) return last;
  }
  fill_common(s);
  if (guard_scan.valid()) {
    if (auto guards = guard_scan.get()) {
      s.guard_pages = std::move(guards).value();
      s.guard_pages_scanned = true;
      used_scan_ioctl_ = true;
      return s;
    }
    scan_ioctl_supported_ = false;  // an older kernel: scan with pread from now on
  }
  if (opts_.scan_guard_pages && pagemap_fd_ >= 0) {
    std::vector<AddressRange> runs;
    for (const Mapping& m : s.mappings) add_scan_range(runs, m, target_.user_end(), target_.page_size);
    s.guard_pages = scan_guard_pages(pagemap_fd_, runs, target_.page_size);
    s.guard_pages_scanned = true;
  }
  return s;
}

std::optional<PageState> ProcSource::page_state(Addr a) {
  if (pagemap_fd_ < 0) pagemap_fd_ = ::open(fmt::format("/proc/{}/pagemap", pid_).c_str(), O_RDONLY | O_CLOEXEC);
  if (pagemap_fd_ < 0) return std::nullopt;
  std::uint64_t e = 0;
  if (pread(pagemap_fd_, &e, 8, static_cast<off_t>(a / target_.page_size * 8)) != 8) return std::nullopt;
  return PageState{(e & kPmPresent) != 0, (e & kPmSwapped) != 0, (e & kPmGuard) != 0};
}

Result<Snapshot> ProcSource::around(Addr a) {
  used_query_ = false;
  // The vsyscall page is a gate area, not a VMA: PROCMAP_QUERY never returns
  // it. Addresses in the upper half take the slow path.
  if (!opts_.use_procmap_query || !query_supported_ || a >= target_.user_end()) return snapshot();

  std::map<Addr, Mapping> window;
  std::string name_buf(4096, '\0');
  // One query: the VMA covering `q`, or with `next` the first one above it.
  bool unsupported = false;
  auto query = [&](Addr q, bool next) -> std::optional<Mapping> {
    auto v = query_vma(maps_fd_, q, next, name_buf, &unsupported);
    if (unsupported) query_supported_ = false;
    return v;
  };
  // The VMA ending at or below `x`, nearest to it: binary search for the
  // largest q whose next VMA still ends at or below x.
  auto below = [&](Addr x) -> std::optional<Mapping> {
    if (x == 0) return std::nullopt;
    if (auto adj = query(x - 1, false)) return adj;
    if (!query_supported_) return std::nullopt;
    auto first = query(0, true);
    if (!first || first->range.end > x) return std::nullopt;
    std::optional<Mapping> best = first;
    Addr lo = best->range.end, hi = x;  // the answer starts in [lo, x)
    while (lo < hi) {
      Addr mid = lo + (hi - lo) / 2;
      auto v = query(mid, true);
      if (v && v->range.end <= x) {
        best = v;
        lo = v->range.end;
      } else {
        hi = mid;
      }
    }
    return best;
  };

  auto centre = query(a, true);
  if (!query_supported_) return snapshot();
  Addr low_edge = a;
  if (centre) {
    window.emplace(centre->range.start, *centre);
    if (centre->range.contains(a)) low_edge = centre->range.start;
  }
  // Two more above.
  Addr cursor = centre ? centre->range.end : 0;
  for (int i = 0; centre && i < 2; ++i) {
    auto v = query(cursor, true);
    if (!v) break;
    window.emplace(v->range.start, *v);
    cursor = v->range.end;
  }
  // Three below when `a` is in a gap (the nearest, plus two), else two.
  int need = centre && centre->range.contains(a) ? 2 : 3;
  cursor = low_edge;
  for (int i = 0; i < need; ++i) {
    auto v = below(cursor);
    if (!v) break;
    window.emplace(v->range.start, *v);
    cursor = v->range.start;
  }
  if (!query_supported_) return snapshot();

  Snapshot s;
  s.complete = false;
  for (auto& [start, m] : window) s.mappings.push_back(std::move(m));
  fill_common(s);
  if (auto p = page_state(a); p && p->guard) {
    Addr pa = a / target_.page_size * target_.page_size;
    s.guard_pages.push_back({pa, pa + target_.page_size});
  }
  s.guard_pages_scanned = pagemap_fd_ >= 0;
  used_query_ = true;
  return s;
}

}  // namespace vma
