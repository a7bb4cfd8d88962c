#pragma once
/// \file
/// One `vma-harness vm` boot put together: resolve the kernel, choose the
/// accelerator, build the initramfs, build the QEMU command line, run the
/// guest; and the same initramfs alone for other runners. Each step lives in its own file (kernel, initramfs, qemu_command,
/// guest); this one only joins them.

#include <functional>
#include <string>
#include <vector>

#include "arch.h"
#include "guest.h"
#include "kernel.h"
#include "result.h"

namespace vma::harness::vm {

struct VmOptions {
  std::string kernel;           ///< directory or image (resolve_kernel)
  std::string arch;             ///< GuestArch name; empty: the host's
  std::string cpu;              ///< empty: the arch's default model
  std::string accel = "auto";   ///< auto, kvm or tcg
  unsigned memory_mib = 2048;
  unsigned smp = 0;             ///< 0: 1 under TCG, else min(2, host CPUs)
  double timeout = 300;         ///< seconds for the whole boot and run
  /// Run argv from the host's root (9p, read-only, tmpfs overlay) instead
  /// of the initramfs; the kernel needs virtio-pci, 9p and overlayfs.
  bool host_root = false;
  /// argv is a whole command, not vma-harness arguments.
  bool exec = false;
  std::vector<std::string> args;
  std::string harness;          ///< host path of vma-harness
  std::string probes_dir;       ///< host directory of the probes
  std::string busybox = "/bin/busybox";  ///< a static busybox (busybox-static)
  /// Builds for other architectures (a build tree with vma-harness and
  /// probes/, e.g. the aarch64 cross build): a kernel of another arch than
  /// this machine's runs the one whose vma-harness is of its arch. Empty:
  /// build-ARCH beside the running harness's build tree.
  std::vector<std::string> guest_builds;
  /// Static busyboxes for other architectures, chosen by ELF machine as
  /// guest_builds; also looked for in busybox-static-DEBIANARCH/bin/ beside
  /// the kernel package (scripts/fetch-kernels.sh --arch puts one there).
  std::vector<std::string> guest_busyboxes;
  std::string cwd;              ///< host_root: where argv runs
  std::vector<std::string> append;  ///< more kernel parameters (last wins)
};

struct VmRun {
  KernelImage kernel;
  std::string cpu, accel;
  /// Why `accel` is not what was asked for ("kvm made no progress: ..."),
  /// or empty.
  std::string accel_note;
  GuestResult result;
};

/// "kvm" when `requested` is kvm or auto and KVM works (/dev/kvm opens
/// read-write and QEMU starts `cpu` on it: qemu_runs), "tcg" when tcg or
/// auto without a working KVM; an error for kvm without one, or an unknown
/// name.
Result<std::string> choose_accel(const std::string& requested, const GuestArch& arch, const std::string& cpu);

/// Boots and runs. With `auto`, KVM counts only when its guest makes
/// progress (reaches init within 20 s): otherwise the same boot runs under
/// TCG, `on_note` (may be empty) gets one line saying so, the verdict holds
/// for this arch for the rest of the process, and the guest's report
/// names it (vmakit.accel_note). Errors name the kernel, accelerator and
/// CPU model: "vm bookworm-amd64 (accel tcg, cpu max): the kernel never
/// reached init ...". A SIGINT or SIGTERM ends the run with an error and
/// stop_signal() set.
Result<VmRun> run_vm(const VmOptions& o, const std::function<void(const std::string&)>& on_console,
                     const std::function<void(const std::string&)>& on_note = {});

/// The initramfs `run_vm` boots with `o` (o.kernel optional: without one
/// no config is carried and the arch is o.arch or this machine's). With
/// `shell`, /init gives a shell prompt (shell_init_script) instead of
/// running o.args. Errors start "initramfs LABEL: ".
Result<std::string> guest_initramfs(const VmOptions& o, bool shell);

/// The device `auto` and `kvm` open: $VMAKIT_KVM_DEVICE, else /dev/kvm (a
/// test points it at a file to play a machine whose /dev/kvm opens).
std::string kvm_device();

}  // namespace vma::harness::vm
