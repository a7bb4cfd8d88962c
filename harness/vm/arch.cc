#include "arch.h"

#include <sys/utsname.h>

#include <array>

namespace vma::harness::vm {
namespace {

constexpr std::string_view kX86LibDirs[] = {
    "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"};

// Debian 6.1 builds virtio, 9p and overlayfs as modules; 6.12 has virtio_pci
// and fscache built in (REFERENCE.md §7). A name the kernel has built in is
// skipped.
constexpr std::string_view kX86RootModules[] = {
    "virtio", "virtio_ring", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
    "netfs", "fscache", "9pnet", "9pnet_virtio", "9p", "overlay"};

constexpr std::array kArches = {
    GuestArch{
        .name = "x86_64",
        .debian_arch = "amd64",
        .qemu_binary = "qemu-system-x86_64",
        .machine = "q35",
        .console = "ttyS0",
        .default_cpu = "max",
        .kvm_cpu = "host",
        .no_la57 = "la57=off",
        .page_size = 4096,
        .lib_dirs = kX86LibDirs,
        .root_modules = kX86RootModules,
    },
};

}  // namespace

const GuestArch* find_guest_arch(std::string_view name) {
  for (const auto& a : kArches)
    if (a.name == name) return &a;
  return nullptr;
}

const GuestArch* host_guest_arch() {
  utsname u{};
  uname(&u);
  return find_guest_arch(u.machine);
}

std::span<const GuestArch> guest_arches() { return kArches; }

}  // namespace vma::harness::vm
