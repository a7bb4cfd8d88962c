#include "qemu_command.h"

namespace vma::harness::vm {

std::vector<std::string> qemu_argv(const QemuSpec& s) {
  std::string append = "console=" + std::string(s.arch->console) +
                       " quiet panic=-1 rdinit=/init vmakit.accel=" + s.accel + " vmakit.cpu=" + s.cpu;
  if (!s.accel_note.empty()) {
    // One double-quoted parameter: the kernel's parse_args() groups it, the
    // guest's harness reads it back from /proc/cmdline.
    std::string note = s.accel_note.substr(0, 160);
    for (char& c : note)
      if (c == '"' || static_cast<unsigned char>(c) < 0x20) c = '\'';
    append += " vmakit.accel_note=\"" + note + "\"";
  }
  for (const auto& a : s.append) append += " " + a;
  std::vector<std::string> argv = {
      std::string(s.arch->qemu_binary),
      "-machine", std::string(s.arch->machine) + ",accel=" + s.accel,
      "-cpu", s.cpu,
      "-m", std::to_string(s.memory_mib),
      "-smp", std::to_string(s.smp),
      // The serial console on stdout; nothing on the terminal, no monitor.
      "-display", "none", "-monitor", "none", "-serial", "stdio",
      "-no-reboot",  // panic=-1 reboots at once: QEMU exits instead
      "-nodefaults",
      "-kernel", s.kernel,
      "-initrd", s.initrd,
      "-append", append,
  };
  if (!s.share.empty()) {
    argv.insert(argv.end(), {"-fsdev", "local,id=hostroot,path=" + s.share + ",security_model=none,readonly=on,multidevs=remap",
                             "-device", "virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot"});
  }
  return argv;
}

}  // namespace vma::harness::vm
