#include "session.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>

#include "arch.h"
#include "initramfs.h"
#include "qemu_command.h"

namespace fs = std::filesystem;

namespace vma::harness::vm {
namespace {

constexpr std::string_view kWorkDirPrefix = "vmakit-vm.";

/// A private work directory under TMPDIR, removed with everything in it.
/// It holds an flock on its `.lock` file while it lives: a run killed with
/// SIGKILL leaves its directory, and the next run removes every directory
/// whose lock nobody holds (remove_stale_work_dirs).
class WorkDir {
 public:
  static Result<WorkDir> make() {
    std::string tmpl = (fs::temp_directory_path() / (std::string(kWorkDirPrefix) + "XXXXXX")).string();
    if (!mkdtemp(tmpl.data())) return Error{"mkdtemp " + tmpl + ": " + std::strerror(errno)};
    WorkDir d(tmpl);
    d.lock_ = open((tmpl + "/.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (d.lock_ < 0 || flock(d.lock_, LOCK_EX | LOCK_NB) != 0)
      return Error{"lock " + tmpl + "/.lock: " + std::strerror(errno)};
    return d;
  }
  WorkDir(WorkDir&& o) noexcept : path_(std::exchange(o.path_, {})), lock_(std::exchange(o.lock_, -1)) {}
  WorkDir(const WorkDir&) = delete;
  ~WorkDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
    if (lock_ >= 0) close(lock_);
  }
  const std::string& path() const { return path_; }

 private:
  explicit WorkDir(std::string p) : path_(std::move(p)) {}
  std::string path_;
  int lock_ = -1;
};

/// Removes the work directories of runs that were killed (SIGKILL, a
/// crash): ours (same uid) whose lock no process holds. A directory
/// without a lock file is one being made right now, or an older
/// version's: left alone unless it is more than an hour old.
void remove_stale_work_dirs() {
  std::error_code ec;
  const fs::path tmp = fs::temp_directory_path(ec);
  if (ec) return;
  for (const auto& e : fs::directory_iterator(tmp, ec)) {
    const std::string name = e.path().filename().string();
    if (!name.starts_with(kWorkDirPrefix)) continue;
    struct stat st{};
    if (lstat(e.path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) continue;
    const int fd = open((e.path() / ".lock").c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    bool stale = false;
    if (fd >= 0) {
      stale = flock(fd, LOCK_EX | LOCK_NB) == 0;
      close(fd);
    } else {
      stale = errno == ENOENT && time(nullptr) - st.st_mtime > 3600;
    }
    if (stale) fs::remove_all(e.path(), ec);
  }
}

/// `path` without its debug sections, copied into `dir` with `objcopy
/// --strip-debug` (binutils; TRIPLET-objcopy first, for another arch's
/// files): the harness built RelWithDebInfo is 30 MiB, 1.5 MiB without, and
/// every MiB is unpacked by an emulated CPU at boot. `path` itself when no
/// objcopy can (still correct, slower).
std::string stripped(const std::string& path, const std::string& dir, const GuestArch& arch) {
  const std::string out = dir + "/" + fs::path(path).filename().string();
  const std::string cross = std::string(arch.triplet) + "-objcopy";
  for (const char* tool : {cross.c_str(), "objcopy"}) {
    const char* argv[] = {tool, "--strip-debug", path.c_str(), out.c_str(), nullptr};
    pid_t pid = 0;
    if (posix_spawnp(&pid, tool, nullptr, nullptr, const_cast<char**>(argv), environ) != 0) continue;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return out;
  }
  return path;
}

Result<void> write_file(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) return Error{path + ": write failed"};
  return {};
}

/// Adds the kernel modules `arch.root_modules` (and what they depend on);
/// their guest paths in load order.
Result<std::vector<std::string>> add_modules(CpioArchive& cpio, const KernelImage& k, const GuestArch& arch) {
  std::vector<std::string> guest;
  if (k.modules_dir.empty()) return guest;  // a kernel without modules: all built in, or not there
  auto order = module_load_order(k.modules_dir,
                                 std::vector<std::string>(arch.root_modules.begin(), arch.root_modules.end()));
  if (!order) return order.error();
  for (const auto& rel : *order) {
    auto bytes = read_module(k.modules_dir + "/" + rel);
    if (!bytes) return bytes.error();
    std::string name = fs::path(rel).filename().string();
    name = name.substr(0, name.find(".ko")) + ".ko";
    cpio.add_data("vmakit/modules/" + name, *bytes, 0644);
    guest.push_back("/vmakit/modules/" + name);
  }
  return guest;
}

/// e_machine of an ELF file, or nullopt when it is not one.
std::optional<unsigned> elf_machine_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char h[20] = {};
  if (!in.read(reinterpret_cast<char*>(h), sizeof h) || std::memcmp(h, "\x7f" "ELF", 4) != 0) return std::nullopt;
  return h[5] == 2 ? (h[18] << 8 | h[19]) : (h[18] | h[19] << 8);  // EI_DATA: 2 big-endian
}

/// The first of `candidates` that is an ELF file of `arch`, or "".
std::string of_arch(const std::vector<std::string>& candidates, const GuestArch& arch) {
  for (const auto& c : candidates)
    if (elf_machine_of(c) == arch.elf_machine) return c;
  return {};
}

/// What the guest runs when its arch is not this machine's: the harness and
/// probes of a build for that arch, and a busybox for it.
struct ForeignPrograms {
  std::string harness, probes_dir, busybox;
};

Result<ForeignPrograms> foreign_programs(const VmOptions& o, const GuestArch& arch, const KernelImage& k) {
  std::vector<std::string> builds = o.guest_builds;
  if (builds.empty() && !o.harness.empty())
    builds.push_back((fs::path(o.harness).parent_path().parent_path() / ("build-" + std::string(arch.name))).string());
  std::vector<std::string> harnesses;
  for (const auto& b : builds) harnesses.push_back(b + "/vma-harness");
  ForeignPrograms p;
  p.harness = of_arch(harnesses, arch);
  if (p.harness.empty())
    return Error{"an " + std::string(arch.name) + " kernel needs an " + std::string(arch.name) +
                 " build of vma-harness and its probes: --guest-build DIR (bash scripts/cross-aarch64.sh makes "
                 "build-aarch64); none in " + (builds.empty() ? std::string("(no candidates)") : builds.front())};
  p.probes_dir = (fs::path(p.harness).parent_path() / "probes").string();
  std::vector<std::string> boxes = o.guest_busyboxes;
  const fs::path pkg = fs::path(k.image).parent_path().parent_path();  // PKG/boot/vmlinuz-*
  boxes.push_back((pkg.parent_path() / ("busybox-static-" + std::string(arch.debian_arch)) / "bin" / "busybox").string());
  p.busybox = of_arch(boxes, arch);
  if (p.busybox.empty())
    return Error{"no static busybox for " + std::string(arch.name) + ": --busybox PATH, or bash scripts/fetch-kernels.sh "
                 "--arch " + std::string(arch.debian_arch) + " (unpacks busybox-static:" + std::string(arch.debian_arch) +
                 " beside the kernels)"};
  return p;
}

}  // namespace

std::string kvm_device() {
  const char* d = std::getenv("VMAKIT_KVM_DEVICE");
  return d && *d ? d : "/dev/kvm";
}

Result<std::string> choose_accel(const std::string& requested, const GuestArch& arch, const std::string& cpu) {
  if (requested != "auto" && requested != "kvm" && requested != "tcg")
    return Error{"unknown accelerator '" + requested + "' (auto, kvm, tcg)"};
  if (requested == "tcg") return std::string("tcg");
  const std::string dev = kvm_device();
  const int fd = open(dev.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    if (requested == "kvm") return Error{"--accel kvm: " + dev + ": " + std::strerror(errno)};
    return std::string("tcg");
  }
  close(fd);
  const std::vector<std::string> probe = {std::string(arch.qemu_binary), "-machine",
                                          std::string(arch.machine) + ",accel=kvm", "-cpu",
                                          cpu.empty() ? std::string(arch.kvm_cpu) : cpu,
                                          "-m", "64", "-display", "none", "-nodefaults", "-S", "-monitor", "stdio"};
  if (qemu_runs(probe, 10)) return std::string("kvm");
  if (requested == "kvm") return Error{"--accel kvm: " + dev + " opens but QEMU cannot start a guest on it"};
  return std::string("tcg");
}

namespace {

/// How long a KVM guest may take to reach init before `auto` calls KVM
/// broken (a KVM boot of Debian's kernels reaches init in 1-3 s, TCG in 3-6).
constexpr double kKvmProgressSeconds = 20;

/// What `auto` learnt of KVM in this run, per guest arch: empty when a
/// KVM guest made progress, else why it did not ("kvm made no progress:
/// ..."). Later boots of that arch go straight to TCG.
std::map<std::string, std::string, std::less<>>& kvm_verdicts() {
  static std::map<std::string, std::string, std::less<>> v;
  return v;
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace

Result<VmRun> run_vm(const VmOptions& o, const std::function<void(const std::string&)>& on_console,
                     const std::function<void(const std::string&)>& on_note) {
  auto fail = [&](const std::string& label, const std::string& msg) {
    return Error{"vm " + label + ": " + msg};
  };
  auto kernel = resolve_kernel(o.kernel);
  if (!kernel) return fail(o.kernel, kernel.error().message);
  // The arch: --arch, else what the kernel image says, else this machine's.
  const GuestArch* arch = !o.arch.empty()           ? find_guest_arch(o.arch)
                          : !kernel->arch.empty()   ? find_guest_arch(kernel->arch)
                                                    : host_guest_arch();
  if (!arch) return fail(o.kernel, "no QEMU guest description for arch '" + o.arch + "'");
  if (!kernel->arch.empty() && kernel->arch != arch->name)
    return fail(kernel->label, "an " + kernel->arch + " kernel image, but --arch " + o.arch);
  VmRun run;
  run.kernel = *kernel;
  const std::string& label = kernel->label;
  VmOptions own = o;  // the programs the guest carries, for its arch
  if (arch != host_guest_arch()) {
    if (o.host_root) return fail(label, "--host-root needs a kernel of this machine's architecture");
    auto p = foreign_programs(o, *arch, *kernel);
    if (!p) return fail(label, p.error().message);
    own.harness = p->harness;
    own.probes_dir = p->probes_dir;
    own.busybox = p->busybox;
  }
  if (auto v = kvm_verdicts().find(arch->name); o.accel == "auto" && v != kvm_verdicts().end() && !v->second.empty()) {
    run.accel = "tcg";
    run.accel_note = v->second;
  } else {
    auto accel = choose_accel(o.accel, *arch, o.cpu);
    if (!accel) return fail(label, accel.error().message);
    run.accel = *accel;
  }
  run.cpu = o.cpu.empty() ? std::string(run.accel == "kvm" ? arch->kvm_cpu : arch->default_cpu) : o.cpu;

  // What goes in: busybox as /init's shell, the kernel's config, and either
  // the harness with its probes and libraries, or the modules that mount
  // the host's root.
  remove_stale_work_dirs();
  auto tmp = WorkDir::make();
  if (!tmp) return fail(label, tmp.error().message);
  CpioArchive cpio;
  if (access(own.busybox.c_str(), X_OK) != 0)
    return fail(label, own.busybox + ": " + std::strerror(errno) + " (install Debian busybox-static)");
  if (auto r = cpio.add_file("bin/busybox", own.busybox); !r) return fail(label, r.error().message);
  cpio.add_char_device("dev/console", 5, 1);
  GuestCommand cmd;
  cmd.host_root = o.host_root;
  cmd.cwd = o.cwd;
  if (!o.exec) cmd.argv.push_back(own.harness);
  if (!kernel->config.empty()) {
    if (o.host_root) {
      cmd.env.push_back("VMA_KCONFIG=" + fs::absolute(kernel->config).string());
    } else {
      if (auto r = cpio.add_file("vmakit/config", kernel->config); !r) return fail(label, r.error().message);
      cmd.env.push_back("VMA_KCONFIG=/vmakit/config");
    }
  }
  if (o.host_root) {
    auto mods = add_modules(cpio, *kernel, *arch);
    if (!mods) return fail(label, mods.error().message);
    cmd.modules = std::move(*mods);
  } else {
    std::vector<std::string> programs = {own.harness};
    if (auto r = cpio.add_file("vmakit/bin/vma-harness", stripped(own.harness, tmp->path(), *arch)); !r)
      return fail(label, r.error().message);
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(own.probes_dir, ec)) {
      if (!e.is_regular_file() || access(e.path().c_str(), X_OK) != 0) continue;
      if (auto r = cpio.add_file("vmakit/bin/probes/" + e.path().filename().string(),
                                 stripped(e.path().string(), tmp->path(), *arch));
          !r)
        return fail(label, r.error().message);
      programs.push_back(e.path().string());
    }
    if (ec) return fail(label, own.probes_dir + ": " + ec.message());
    auto libs = elf_closure(programs, *arch);
    if (!libs) return fail(label, libs.error().message);
    for (const auto& lib : *libs)
      if (auto r = cpio.add_file(lib.substr(1), lib); !r) return fail(label, r.error().message);
    cmd.argv[0] = "/vmakit/bin/vma-harness";
  }
  cmd.argv.insert(cmd.argv.end(), o.args.begin(), o.args.end());
  cpio.add_data("init", init_script(cmd), 0755);

  const std::string initrd = tmp->path() + "/initrd.cpio";
  if (auto r = write_file(initrd, cpio.finish()); !r) return fail(label, r.error().message);

  // One boot with the accelerator chosen so far. Under KVM the guest must
  // reach init within kKvmProgressSeconds: nested KVM often starts a guest
  // (the start probe passes) that never runs, or dies in an "emulation
  // failure"; `auto` then boots the same initramfs under TCG.
  auto boot = [&] {
    QemuSpec q;
    q.arch = arch;
    q.kernel = kernel->image;
    q.initrd = initrd;
    q.cpu = run.cpu;
    q.accel = run.accel;
    q.accel_note = run.accel_note;
    q.memory_mib = o.memory_mib;
    // Under TCG one vCPU by default. With two, Debian 13's 6.12 panicked in a
    // CI run ("Oops: int3" in sched_clock_cpu, the int3 already patched back
    // to a nop): a vCPU ran code text_poke_bp() had just rewritten on the
    // other, which QEMU's multi-threaded TCG does not order. KVM: up to 2.
    q.smp = o.smp ? o.smp
                  : run.accel == "tcg" ? 1u
                                       : static_cast<unsigned>(std::clamp(sysconf(_SC_NPROCESSORS_ONLN), 1L, 2L));
    if (o.host_root) q.share = "/";
    q.append = o.append;
    const GuestLimits limits{o.timeout, run.accel == "kvm" ? kKvmProgressSeconds : 0};
    return run_guest(qemu_argv(q), limits, on_console);
  };
  auto where = [&] { return label + " (accel " + run.accel + ", cpu " + run.cpu + ")"; };
  GuestOutcome out = boot();
  if (!out.result && run.accel == "kvm" && out.failure != GuestFailure::interrupted) {
    const std::string why = "kvm made no progress: " + first_line(out.error);
    if (o.accel == "kvm") return fail(where(), "--accel kvm: " + out.error);
    kvm_verdicts()[std::string(arch->name)] = why;
    run.accel = "tcg";
    run.accel_note = why;
    run.cpu = o.cpu.empty() ? std::string(arch->default_cpu) : o.cpu;
    if (on_note) on_note("vm " + label + ": " + why + "; booting it under TCG");
    out = boot();
  }
  if (!out.result) return fail(where(), out.error);
  run.result = std::move(*out.result);
  return run;
}

}  // namespace vma::harness::vm
