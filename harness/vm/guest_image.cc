#include "guest_image.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "child_process.h"
#include "initramfs.h"

namespace fs = std::filesystem;

namespace vma::harness::vm {
namespace {

/// `path` without its debug sections, copied into `dir` with `objcopy
/// --strip-debug` (binutils; TRIPLET-objcopy first, for another arch's
/// files): the harness built RelWithDebInfo is 30 MiB, 1.5 MiB without, and
/// every MiB is unpacked by an emulated CPU at boot. `path` itself when no
/// objcopy can (still correct, slower).
std::string stripped(const std::string& path, const std::string& dir, const GuestArch& arch) {
  const std::string out = dir + "/" + fs::path(path).filename().string();
  const std::string cross = std::string(arch.triplet) + "-objcopy";
  os::SpawnOptions o;
  o.new_process_group = false;
  for (const std::string& tool : {cross, std::string("objcopy")}) {
    o.argv = {tool, "--strip-debug", path, out};
    auto c = os::ChildProcess::spawn(o);
    if (c && !c->start_failure() && c->wait().exit_code() == 0) return out;
  }
  return path;
}

/// Adds the modules `spec.modules` (and what they depend on); their guest
/// paths in load order.
Result<std::vector<std::string>> add_modules(CpioArchive& cpio, const GuestImageSpec& spec) {
  std::vector<std::string> guest;
  if (spec.modules_dir.empty() || spec.modules.empty()) return guest;  // all built in, or not there
  auto order = module_load_order(spec.modules_dir, spec.modules);
  if (!order) return order.error();
  for (const auto& rel : *order) {
    auto bytes = read_module(spec.modules_dir + "/" + rel);
    if (!bytes) return bytes.error();
    std::string name = fs::path(rel).filename().string();
    name = name.substr(0, name.find(".ko")) + ".ko";
    cpio.add_data("vmakit/modules/" + name, *bytes, 0644);
    guest.push_back("/vmakit/modules/" + name);
  }
  return guest;
}

/// Adds the harness, its probes and every library they load.
Result<void> add_programs(CpioArchive& cpio, const GuestImageSpec& spec) {
  std::vector<std::string> programs = {spec.harness};
  const std::string bin(kGuestHarness.substr(1, kGuestHarness.rfind('/')));  // "vmakit/bin/"
  if (auto r = cpio.add_file(bin + "vma-harness", stripped(spec.harness, spec.scratch_dir, *spec.arch)); !r)
    return r;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(spec.probes_dir, ec)) {
    if (!e.is_regular_file() || access(e.path().c_str(), X_OK) != 0) continue;
    if (auto r = cpio.add_file(bin + "probes/" + e.path().filename().string(),
                               stripped(e.path().string(), spec.scratch_dir, *spec.arch));
        !r)
      return r;
    programs.push_back(e.path().string());
  }
  if (ec) return Error{spec.probes_dir + ": " + ec.message()};
  auto libs = elf_closure(programs, *spec.arch);
  if (!libs) return libs.error();
  for (const auto& lib : *libs)
    if (auto r = cpio.add_file(lib.substr(1), lib); !r) return r;
  return {};
}

}  // namespace

Result<std::string> build_guest_initramfs(const GuestImageSpec& spec) {
  CpioArchive cpio;
  if (access(spec.busybox.c_str(), X_OK) != 0)
    return Error{spec.busybox + ": " + std::strerror(errno) + " (install Debian busybox-static)"};
  if (auto r = cpio.add_file("bin/busybox", spec.busybox); !r) return r.error();
  cpio.add_char_device("dev/console", 5, 1);
  GuestCommand cmd = spec.command;
  if (!spec.kconfig.empty()) {
    if (auto r = cpio.add_file(std::string(kGuestKconfig.substr(1)), spec.kconfig); !r) return r.error();
    cmd.env.insert(cmd.env.begin(), "VMA_KCONFIG=" + std::string(kGuestKconfig));
  }
  auto mods = add_modules(cpio, spec);
  if (!mods) return mods.error();
  cmd.modules.insert(cmd.modules.end(), mods->begin(), mods->end());
  if (!spec.harness.empty())
    if (auto r = add_programs(cpio, spec); !r) return r.error();
  cpio.add_data("init", spec.shell ? shell_init_script(cmd) : init_script(cmd), 0755);
  return cpio.finish();
}

}  // namespace vma::harness::vm
