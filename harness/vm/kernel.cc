#include "kernel.h"

#include <unistd.h>

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

std::optional<std::string> read_head(const std::string& path, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string s(n, '\0');
  in.read(s.data(), static_cast<std::streamsize>(n));
  s.resize(static_cast<std::size_t>(in.gcount()));
  return s;
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
    std::vector<fs::path> images;
    for (const auto& e : fs::directory_iterator(fs::path(path) / "boot", ec))
      if (e.path().filename().string().starts_with("vmlinuz-")) images.push_back(e.path());
    if (images.empty()) return Error{path + ": no boot/vmlinuz-* in this directory (an unpacked linux-image package?)"};
    if (images.size() > 1) return Error{path + ": more than one boot/vmlinuz-*; name the image file instead"};
    k.image = images.front().string();
    k.release = images.front().filename().string().substr(std::strlen("vmlinuz-"));
    const fs::path config = fs::path(path) / "boot" / ("config-" + k.release);
    if (fs::exists(config, ec)) k.config = config.string();
    for (const char* base : {"lib/modules", "usr/lib/modules"}) {
      const fs::path m = fs::path(path) / base / k.release;
      if (fs::is_directory(m, ec)) k.modules_dir = m.string();
    }
  } else {
    k.image = path;
    auto head = read_head(path, 0x10000);
    if (!head) return Error{path + ": " + std::strerror(errno)};
    auto release = bzimage_release(*head);
    const GuestArch* arch = image_guest_arch(*head);
    if (!release && !arch) return Error{path + ": not a kernel image (no bzImage setup header, no arm64 Image header)"};
    // An arm64 Image does not carry its release: the file name's, as in /boot.
    const std::string name = fs::path(path).filename().string();
    k.release = release ? *release : name.starts_with("vmlinuz-") ? name.substr(8) : name;
    // A config-RELEASE next to the image, as in /boot.
    const fs::path config = fs::path(path).parent_path() / ("config-" + k.release);
    if (fs::exists(config, ec)) k.config = config.string();
  }
  if (access(k.image.c_str(), R_OK) != 0) return Error{k.image + ": " + std::strerror(errno)};
  if (auto head = read_head(k.image, 0x400))
    if (const GuestArch* a = image_guest_arch(*head)) k.arch = std::string(a->name);
  return k;
}

}  // namespace vma::harness::vm
