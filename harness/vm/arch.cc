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

constexpr std::string_view kArm64LibDirs[] = {"/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib",
                                              "/usr/lib"};

constexpr std::array kArches = {
    GuestArch{
        .name = "x86_64",
        .debian_arch = "amd64",
        .qemu_binary = "qemu-system-x86_64",
        .machine = "q35",
        .console = "ttyS0",
        .default_cpu = "max",
        .kvm_cpu = "host",
        .page_size = 4096,
        .lib_dirs = kX86LibDirs,
        .root_modules = kX86RootModules,
        .triplet = "x86_64-linux-gnu",
        .elf_machine = 62,  // EM_X86_64
        .image_magic_offset = 0x202,
        .image_magic = "HdrS",
    },
    // Debian 12's arm64 kernel under TCG (REFERENCE.md §7): `virt` with MTE
    // (mte=on also gives the guest tag memory), `max` for PAC, BTI, MTE.
    // pauth-impdef: QEMU's own PAC algorithm instead of QARMA5, which is slow
    // to emulate and runs in every function of Debian's arm64 userland
    // (-mbranch-protection=standard); the guest sees PAC either way. The
    // guest carries an aarch64 build of the harness (--guest-build) and an
    // arm64 busybox (--busybox; fetch-kernels.sh --arch arm64 unpacks one).
    // --host-root has no meaning here: this machine's root is not arm64.
    GuestArch{
        .name = "aarch64",
        .debian_arch = "arm64",
        .qemu_binary = "qemu-system-aarch64",
        .machine = "virt,mte=on",
        .console = "ttyAMA0",
        .default_cpu = "max,pauth-impdef=on",
        .kvm_cpu = "host",
        .page_size = 4096,
        .lib_dirs = kArm64LibDirs,
        .root_modules = {},
        .triplet = "aarch64-linux-gnu",
        .elf_machine = 183,  // EM_AARCH64
        .image_magic_offset = 0x38,
        .image_magic = std::string_view("ARM\x64", 4),
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

const GuestArch* image_guest_arch(std::string_view head) {
  for (const auto& a : kArches)
    if (head.size() >= a.image_magic_offset + a.image_magic.size() &&
        head.substr(a.image_magic_offset, a.image_magic.size()) == a.image_magic)
      return &a;
  return nullptr;
}

std::span<const GuestArch> guest_arches() { return kArches; }

}  // namespace vma::harness::vm
