#pragma once
/// \file
/// The QEMU command line for one guest boot: pure, so tests check it as text.

#include <string>
#include <vector>

#include "arch.h"

namespace vma::harness::vm {

struct QemuSpec {
  const GuestArch* arch = nullptr;
  std::string kernel, initrd;
  std::string cpu;            ///< -cpu model and options, "max,la57=off"
  std::string accel;          ///< "kvm" or "tcg"
  /// Why the accelerator is not the one asked for, or empty: passed as
  /// `vmakit.accel_note="..."` (quotes and control bytes replaced, 160
  /// bytes at most).
  std::string accel_note;
  unsigned memory_mib = 2048;
  unsigned smp = 2;
  /// Host directory shared read-only over virtio-9p as mount tag "hostroot",
  /// or empty.
  std::string share;
  /// Kernel parameters after the console and the vmakit.* ones.
  std::vector<std::string> append;
};

/// argv for execvp, starting with the arch's QEMU binary. The guest learns
/// its accelerator and CPU model from `vmakit.accel=` and `vmakit.cpu=` on
/// its command line (Environment::vm_accel, vm_cpu).
std::vector<std::string> qemu_argv(const QemuSpec& s);

}  // namespace vma::harness::vm
