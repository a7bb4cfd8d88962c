#include "initramfs.h"

#include <fcntl.h>
#include <gelf.h>
#include <lzma.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "fd.h"
#include "read_file.h"

namespace fs = std::filesystem;

namespace vma::harness::vm {
namespace {

std::string hex8(std::uint32_t v) {
  char b[9];
  std::snprintf(b, sizeof b, "%08x", v);
  return b;
}

}  // namespace

void CpioArchive::entry(const std::string& path, unsigned mode, std::string_view data, unsigned rdev_major,
                        unsigned rdev_minor) {
  // newc: "070701", 13 8-digit hex fields, the name with its NUL, padded to
  // 4 bytes, then the data padded to 4 bytes.
  std::string h = "070701";
  const std::uint32_t fields[13] = {ino_++, mode, 0, 0, 1, 0, static_cast<std::uint32_t>(data.size()),
                                    0, 0, rdev_major, rdev_minor, static_cast<std::uint32_t>(path.size() + 1), 0};
  for (auto f : fields) h += hex8(f);
  out_ += h;
  out_ += path;
  out_.push_back('\0');
  out_.append((4 - out_.size() % 4) % 4, '\0');
  out_ += data;
  out_.append((4 - out_.size() % 4) % 4, '\0');
  paths_.push_back(path);
}

bool CpioArchive::contains(const std::string& path) const {
  for (const auto& p : paths_)
    if (p == path) return true;
  return false;
}

void CpioArchive::parents(const std::string& path) {
  for (std::size_t i = path.find('/'); i != std::string::npos; i = path.find('/', i + 1)) {
    std::string dir = path.substr(0, i);
    if (!contains(dir)) entry(dir, S_IFDIR | 0755, {});
  }
}

void CpioArchive::add_data(const std::string& path, std::string_view data, unsigned mode) {
  parents(path);
  entry(path, S_IFREG | mode, data);
}

Result<void> CpioArchive::add_file(const std::string& path, const std::string& host) {
  struct stat st{};
  if (stat(host.c_str(), &st) != 0) return Error{host + ": " + std::strerror(errno)};
  auto data = os::read_file(host);
  if (!data) return data.error();
  add_data(path, *data, st.st_mode & 07777);
  return {};
}

void CpioArchive::add_symlink(const std::string& path, const std::string& target) {
  parents(path);
  entry(path, S_IFLNK | 0777, target);
}

void CpioArchive::add_char_device(const std::string& path, unsigned major, unsigned minor) {
  parents(path);
  entry(path, S_IFCHR | 0600, {}, major, minor);
}

std::string CpioArchive::finish() {
  entry("TRAILER!!!", 0, {});
  // The kernel reads the archive in 512-byte blocks, as cpio writes it.
  out_.append((512 - out_.size() % 512) % 512, '\0');
  return std::move(out_);
}

namespace {

struct DynamicInfo {
  std::string interp;
  std::vector<std::string> needed, runpath;
};

/// PT_INTERP, DT_NEEDED and DT_RUNPATH/DT_RPATH of an ELF file.
Result<DynamicInfo> dynamic_info(const std::string& path) {
  elf_version(EV_CURRENT);
  auto fd = os::Fd::open(path, O_RDONLY);
  if (!fd) return fd.error();
  Elf* elf = elf_begin(fd->get(), ELF_C_READ, nullptr);
  DynamicInfo info;
  std::string err;
  if (!elf || elf_kind(elf) != ELF_K_ELF) {
    err = path + ": not an ELF file";
  } else {
    std::size_t nph = 0;
    elf_getphdrnum(elf, &nph);
    for (std::size_t i = 0; i < nph; ++i) {
      GElf_Phdr ph;
      if (!gelf_getphdr(elf, static_cast<int>(i), &ph) || ph.p_type != PT_INTERP) continue;
      std::size_t size = 0;
      const char* raw = elf_rawfile(elf, &size);
      if (raw && ph.p_offset + ph.p_filesz <= size) info.interp = std::string(raw + ph.p_offset, strnlen(raw + ph.p_offset, ph.p_filesz));
    }
    for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(elf, scn));) {
      GElf_Shdr sh;
      if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNAMIC) continue;
      Elf_Data* data = elf_getdata(scn, nullptr);
      if (!data) continue;
      for (std::size_t i = 0; i < sh.sh_size / (sh.sh_entsize ? sh.sh_entsize : 1); ++i) {
        GElf_Dyn dyn;
        if (!gelf_getdyn(data, static_cast<int>(i), &dyn)) break;
        const bool needed = dyn.d_tag == DT_NEEDED, path_tag = dyn.d_tag == DT_RUNPATH || dyn.d_tag == DT_RPATH;
        if (!needed && !path_tag) continue;
        const char* s = elf_strptr(elf, sh.sh_link, dyn.d_un.d_val);
        if (!s) continue;
        if (needed) {
          info.needed.emplace_back(s);
        } else {
          std::stringstream ss(s);
          for (std::string dir; std::getline(ss, dir, ':');) info.runpath.push_back(dir);
        }
      }
    }
  }
  if (elf) elf_end(elf);
  if (!err.empty()) return Error{err};
  return info;
}

}  // namespace

Result<std::vector<std::string>> elf_closure(const std::vector<std::string>& files, const GuestArch& arch) {
  std::vector<std::string> out;
  std::set<std::string> seen_names, seen_paths;
  std::vector<std::string> todo = files;
  while (!todo.empty()) {
    const std::string file = todo.back();
    todo.pop_back();
    auto info = dynamic_info(file);
    if (!info) return info.error();
    auto add = [&](const std::string& path) {
      if (seen_paths.insert(path).second) {
        out.push_back(path);
        todo.push_back(path);
      }
    };
    if (!info->interp.empty()) {
      if (access(info->interp.c_str(), R_OK) != 0)
        return Error{file + ": interpreter " + info->interp + ": " + std::strerror(errno)};
      add(info->interp);
    }
    for (const auto& name : info->needed) {
      if (!seen_names.insert(name).second) continue;
      std::vector<std::string> dirs;
      for (auto dir : info->runpath) {
        if (auto o = dir.find("$ORIGIN"); o != std::string::npos)
          dir.replace(o, 7, fs::path(file).parent_path().string());
        dirs.push_back(dir);
      }
      for (auto d : arch.lib_dirs) dirs.emplace_back(d);
      std::string found;
      for (const auto& d : dirs) {
        const std::string p = d + "/" + name;
        if (access(p.c_str(), R_OK) == 0) {
          found = p;
          break;
        }
      }
      if (found.empty()) return Error{file + ": needs " + name + ", not found in its run path or " + std::string(arch.lib_dirs.front()) + "..."};
      add(found);
    }
  }
  return out;
}

Result<std::vector<std::string>> module_load_order(const std::string& modules_dir,
                                                   const std::vector<std::string>& names) {
  auto dep = os::read_file(modules_dir + "/modules.dep");
  if (!dep) return Error{dep.error().message + " (run depmod -b DIR RELEASE, or scripts/fetch-kernels.sh)"};
  // "kernel/fs/9p/9p.ko.xz: kernel/net/9p/9pnet.ko.xz kernel/fs/netfs/netfs.ko.xz"
  std::map<std::string, std::vector<std::string>> deps;  // path -> its deps
  std::map<std::string, std::string> by_name;            // "9p" -> path
  std::istringstream in(*dep);
  for (std::string line; std::getline(in, line);) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string path = line.substr(0, colon);
    std::istringstream rest(line.substr(colon + 1));
    for (std::string d; rest >> d;) deps[path].push_back(d);
    deps.try_emplace(path);
    std::string name = fs::path(path).filename().string();
    name = name.substr(0, name.find(".ko"));
    for (char& c : name)
      if (c == '-') c = '_';
    by_name[name] = path;
  }
  std::vector<std::string> order;
  std::set<std::string> done;
  std::function<void(const std::string&)> visit = [&](const std::string& path) {
    if (!done.insert(path).second) return;
    for (const auto& d : deps[path]) visit(d);
    order.push_back(path);
  };
  for (const auto& n : names)
    if (auto it = by_name.find(n); it != by_name.end()) visit(it->second);
  return order;
}

Result<std::string> read_module(const std::string& path) {
  auto raw = os::read_file(path);
  if (!raw) return raw.error();
  if (path.ends_with(".ko")) return raw;
  if (!path.ends_with(".ko.xz")) return Error{path + ": unsupported module compression (.ko and .ko.xz are read)"};
  lzma_stream s = LZMA_STREAM_INIT;
  if (lzma_stream_decoder(&s, UINT64_MAX, 0) != LZMA_OK) return Error{path + ": liblzma failed to start"};
  std::string out;
  s.next_in = reinterpret_cast<const std::uint8_t*>(raw->data());
  s.avail_in = raw->size();
  lzma_ret r = LZMA_OK;
  char buf[1 << 16];
  while (r == LZMA_OK) {
    s.next_out = reinterpret_cast<std::uint8_t*>(buf);
    s.avail_out = sizeof buf;
    r = lzma_code(&s, LZMA_FINISH);
    out.append(buf, sizeof buf - s.avail_out);
  }
  lzma_end(&s);
  if (r != LZMA_STREAM_END) return Error{path + ": corrupt xz data (liblzma error " + std::to_string(r) + ")"};
  return out;
}

}  // namespace vma::harness::vm
