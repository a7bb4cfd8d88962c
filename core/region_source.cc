#include "region_source.h"

#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "maps_parser.h"

namespace vma {

std::optional<std::string> LocalFileResolver::host_path(const Mapping& m) const {
  if (!m.is_file() || m.is_deleted()) return std::nullopt;
  std::string path = root_ + std::string(m.file_path());
  struct stat st {};
  if (stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  // A namesake is not the file: with dev and inode known, they must match.
  // On overlayfs (a container's root, a guest's tmpfs-over-9p root) the map
  // names the real file in its layer, whose device is the layer's, while
  // stat() of the path gives the overlay's device and the same inode
  // (fs/overlayfs/inode.c ovl_getattr; measured: maps 00:1b, stat 00:1d):
  // there the inode has to do.
  if (m.file_info_known && m.dev_inode_known && m.inode != 0) {
    if (st.st_ino != m.inode) return std::nullopt;
    if (major(st.st_dev) != m.dev_major || minor(st.st_dev) != m.dev_minor) {
      constexpr long kOverlayfsMagic = 0x794c7630;  // OVERLAYFS_SUPER_MAGIC, linux/magic.h
      struct statfs fs {};
      if (statfs(path.c_str(), &fs) != 0 || static_cast<long>(fs.f_type) != kOverlayfsMagic) return std::nullopt;
    }
  }
  return path;
}

void KnownThreads::apply(Snapshot& s) const {
  if (!known) return;
  s.threads = threads;
  s.threads_known = true;
  s.main_tid = main_tid;
}

TextSource::TextSource(std::string text, std::string name, Target target)
    : text_(std::move(text)), name_(std::move(name)), target_(target) {}

void TextSource::set_threads(std::vector<ThreadInfo> threads, std::optional<int> main_tid) {
  threads_ = {std::move(threads), main_tid, true};
}

Result<Snapshot> TextSource::snapshot() {
  auto maps = parse_maps(text_, name_);
  if (!maps) return maps.error();
  Snapshot s;
  s.mappings = std::move(maps).value();
  threads_.apply(s);
  s.target = target_;
  s.source = name_;
  return s;
}

Result<std::unique_ptr<TextSource>> open_maps_file(const std::string& path, Target target) {
  // Far above any real map (65,530 VMAs, vm.max_map_count's default, make
  // ~7 MiB), far below what would exhaust memory: `--maps /dev/zero` must
  // end in an error, not in std::bad_alloc.
  constexpr std::size_t kMaxMapsFile = std::size_t{1} << 30;
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{fmt::format("{}: cannot open: {}", path, std::strerror(errno))};
  // A directory opens, then reads as empty: say what it is.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) return Error{fmt::format("{}: is a directory", path)};
  std::string text;
  if (S_ISREG(st.st_mode) && st.st_size > 0)
    text.reserve(std::min<std::uint64_t>(static_cast<std::uint64_t>(st.st_size), kMaxMapsFile) + 1);
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    if (text.size() + static_cast<std::size_t>(in.gcount()) > kMaxMapsFile)
      return Error{fmt::format("{}: larger than 1 GiB: not a maps file", path)};
    text.append(buf, static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) return Error{fmt::format("{}: read error", path)};
  return std::make_unique<TextSource>(std::move(text), path, target);
}

ListSource::ListSource(std::vector<Mapping> mappings, std::string name, Target target)
    : mappings_(std::move(mappings)), name_(std::move(name)), target_(target) {}

void ListSource::set_threads(std::vector<ThreadInfo> threads, std::optional<int> main_tid) {
  threads_ = {std::move(threads), main_tid, true};
}

Result<Snapshot> ListSource::snapshot() {
  Snapshot s;
  s.mappings = mappings_;
  for (Mapping& m : s.mappings)
    if (m.name_says_shared()) m.perms |= Perms::shared;
  std::sort(s.mappings.begin(), s.mappings.end(),
            [](const Mapping& a, const Mapping& b) { return a.range.start < b.range.start; });
  for (std::size_t i = 1; i < s.mappings.size(); ++i)
    if (s.mappings[i].range.start < s.mappings[i - 1].range.end)
      return Error{fmt::format("{}: regions {:#x}-{:#x} and {:#x}-{:#x} overlap", name_, s.mappings[i - 1].range.start,
                               s.mappings[i - 1].range.end, s.mappings[i].range.start, s.mappings[i].range.end)};
  threads_.apply(s);
  s.target = target_;
  s.source = name_;
  return s;
}

}  // namespace vma
