#include "kernel.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string_view>
#include <vector>

#include "arch.h"

namespace fs = std::filesystem;

namespace vma::harness::vm {

std::optional<std::string> bzimage_release(std::string_view b) {
  // Setup header: "HdrS" at 0x202; kernel_version (u16 at 0x20e) points to a
  // NUL-terminated string at that offset + 0x200 (boot protocol 2.00+).
  if (b.size() < 0x210 || b.substr(0x202, 4) != "HdrS") return std::nullopt;
  const auto lo = static_cast<unsigned char>(b[0x20e]), hi = static_cast<unsigned char>(b[0x20f]);
  const std::size_t off = 0x200 + (lo | (hi << 8));
  if (off >= b.size()) return std::nullopt;
  std::string_view v = b.substr(off, 256);
  v = v.substr(0, v.find_first_of(std::string_view(" \0", 2)));
  if (v.empty()) return std::nullopt;
  return std::string(v);
}

namespace {

std::uint64_t le(std::string_view b, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + static_cast<std::size_t>(i)]);
  return v;
}

}  // namespace

std::optional<std::string> image_truncated(std::string_view b, std::uint64_t file_size) {
  std::uint64_t need = 0;
  std::string what;
  if (b.size() >= 0x210 && b.substr(0x202, 4) == "HdrS") {
    std::uint64_t setup = le(b, 0x1f1, 1);
    if (setup == 0) setup = 4;
    need = (setup + 1) * 512 + le(b, 0x1f4, 4) * 16;
    what = "bzImage setup header";
  } else if (b.size() >= 0x40 && b.substr(0, 2) == "MZ") {
    const std::uint64_t pe = le(b, 0x3c, 4);
    if (pe + 24 > b.size() || b.substr(pe, 4) != std::string_view("PE\0\0", 4)) return std::nullopt;
    const std::uint64_t sections = le(b, pe + 6, 2), optional_size = le(b, pe + 20, 2);
    for (std::uint64_t i = 0; i < sections; ++i) {
      const std::uint64_t sh = pe + 24 + optional_size + i * 40;
      if (sh + 40 > b.size()) break;
      const std::uint64_t raw_size = le(b, sh + 16, 4), raw_at = le(b, sh + 20, 4);
      if (raw_size) need = std::max(need, raw_at + raw_size);
    }
    what = "PE/COFF section table";
  }
  if (need <= file_size) return std::nullopt;
  return "truncated: its " + what + " says " + std::to_string(need) + " bytes, the file has " +
         std::to_string(file_size);
}

namespace {

std::optional<std::string> read_head(const std::string& path, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string s(n, '\0');
  in.read(s.data(), static_cast<std::streamsize>(n));
  s.resize(static_cast<std::size_t>(in.gcount()));
  return s;
}

}  // namespace

namespace {

/// The images of an unpacked package: boot/vmlinuz-RELEASE (Debian 11-13's
/// linux-image-*), or {usr/,}lib/modules/RELEASE/vmlinuz (Debian 14 and
/// sid split the kernel: linux-binary-* ships the image and its config
/// there, linux-image-* is an empty package depending on it).
std::vector<std::pair<fs::path, std::string>> package_images(const fs::path& dir) {
  std::vector<std::pair<fs::path, std::string>> images;  // (image, release)
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir / "boot", ec)) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("vmlinuz-")) images.emplace_back(e.path(), name.substr(std::strlen("vmlinuz-")));
  }
  for (const char* base : {"usr/lib/modules", "lib/modules"})
    for (const auto& e : fs::directory_iterator(dir / base, ec))
      if (fs::is_regular_file(e.path() / "vmlinuz", ec)) {
        const std::string release = e.path().filename().string();
        const bool seen = std::any_of(images.begin(), images.end(), [&](const auto& i) { return i.second == release; });
        if (!seen) images.emplace_back(e.path() / "vmlinuz", release);
      }
  return images;
}

/// The first of `candidates` that exists, or "".
std::string first_existing(std::initializer_list<fs::path> candidates) {
  std::error_code ec;
  for (const auto& c : candidates)
    if (fs::is_regular_file(c, ec)) return c.string();
  return {};
}

}  // namespace

Result<KernelImage> resolve_kernel(const std::string& path) {
  KernelImage k;
  k.label = fs::path(path).lexically_normal().filename().string();
  if (k.label.empty()) k.label = fs::path(path).lexically_normal().parent_path().filename().string();
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return Error{path + ": " + std::strerror(ENOENT)};
  if (fs::is_directory(st)) {
    const auto images = package_images(path);
    if (images.empty())
      return Error{path + ": no boot/vmlinuz-* or usr/lib/modules/*/vmlinuz in this directory (an unpacked "
                   "linux-image or linux-binary package?)"};
    if (images.size() > 1) return Error{path + ": more than one kernel image in this directory; name the image file instead"};
    k.image = images.front().first.string();
    k.release = images.front().second;
    const fs::path dir(path);
    k.config = first_existing({dir / "boot" / ("config-" + k.release), dir / "usr/lib/modules" / k.release / "config",
                               dir / "lib/modules" / k.release / "config"});
    for (const char* base : {"lib/modules", "usr/lib/modules"}) {
      const fs::path m = dir / base / k.release;
      if (fs::is_directory(m, ec)) k.modules_dir = m.string();
    }
  } else {
    k.image = path;
    auto head = read_head(path, 0x10000);
    if (!head) return Error{path + ": " + std::strerror(errno)};
    auto release = bzimage_release(*head);
    const GuestArch* arch = image_guest_arch(*head);
    if (!release && !arch) return Error{path + ": not a kernel image (no bzImage setup header, no arm64 Image header)"};
    // An arm64 Image does not carry its release: the file name's, as in
    // /boot, or its directory's, as in usr/lib/modules/RELEASE/vmlinuz.
    const fs::path file(path);
    const std::string name = file.filename().string();
    const fs::path parent = fs::absolute(file, ec).parent_path();
    const bool in_modules = parent.parent_path().filename() == "modules";
    k.release = release                    ? *release
                : name.starts_with("vmlinuz-") ? name.substr(8)
                : in_modules               ? parent.filename().string()
                                           : name;
    // Its config beside it: config-RELEASE (as in /boot) or config (as in
    // usr/lib/modules/RELEASE/).
    k.config = first_existing({parent / ("config-" + k.release), parent / "config"});
    if (in_modules && (fs::is_directory(parent / "kernel", ec) || fs::exists(parent / "modules.dep", ec)))
      k.modules_dir = parent.string();
    // A column named "vmlinuz" says nothing: name it by its release.
    if (!name.starts_with("vmlinuz-") && (release || in_modules)) k.label = k.release;
  }
  if (access(k.image.c_str(), R_OK) != 0) return Error{k.image + ": " + std::strerror(errno)};
  std::error_code size_ec;
  const auto size = fs::file_size(k.image, size_ec);
  if (auto head = read_head(k.image, 0x10000); head && !size_ec)
    if (auto why = image_truncated(*head, size)) return Error{k.image + ": " + *why};
  if (auto head = read_head(k.image, 0x400))
    if (const GuestArch* a = image_guest_arch(*head)) k.arch = std::string(a->name);
  return k;
}

}  // namespace vma::harness::vm
