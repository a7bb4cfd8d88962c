#include "session.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
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
#include "fd.h"
#include "output_file.h"
#include "guest_image.h"
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
    d.lock_.reset(open((tmpl + "/.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!d.lock_ || flock(d.lock_.get(), LOCK_EX | LOCK_NB) != 0)
      return Error{"lock " + tmpl + "/.lock: " + std::strerror(errno)};
    return d;
  }
  WorkDir(WorkDir&& o) noexcept : path_(std::exchange(o.path_, {})), lock_(std::move(o.lock_)) {}
  WorkDir(const WorkDir&) = delete;
  ~WorkDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  explicit WorkDir(std::string p) : path_(std::move(p)) {}
  std::string path_;
  os::Fd lock_;
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
    const os::Fd lock(open((e.path() / ".lock").c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW));
    bool stale = false;
    if (lock) {
      stale = flock(lock.get(), LOCK_EX | LOCK_NB) == 0;
    } else {
      stale = errno == ENOENT && time(nullptr) - st.st_mtime > 3600;
    }
    if (stale) fs::remove_all(e.path(), ec);
  }
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

/// What the guest runs: the harness, its probes and a static busybox;
/// this machine's own, or, for another arch, a build and a busybox for it.
struct GuestPrograms {
  std::string harness, probes_dir, busybox;
};

Result<GuestPrograms> foreign_programs(const VmOptions& o, const GuestArch& arch, const KernelImage& k) {
  std::vector<std::string> builds = o.guest_builds;
  if (builds.empty() && !o.harness.empty())
    builds.push_back((fs::path(o.harness).parent_path().parent_path() / ("build-" + std::string(arch.name))).string());
  std::vector<std::string> harnesses;
  for (const auto& b : builds) harnesses.push_back(b + "/vma-harness");
  GuestPrograms p;
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

/// What a guest is made of: its kernel (none for an initramfs written
/// without --kernel), its arch, and the programs of that arch it carries.
struct GuestPlan {
  std::optional<KernelImage> kernel;
  const GuestArch* arch = nullptr;
  GuestPrograms programs;
};

/// The kernel (when o.kernel names one), the arch (--arch, else what the
/// kernel image says, else this machine's) and the programs for it.
/// Errors start with the kernel's label: "bookworm-amd64: ...".
Result<GuestPlan> plan_guest(const VmOptions& o) {
  GuestPlan p;
  std::string label = !o.kernel.empty() ? o.kernel : !o.arch.empty() ? o.arch : "this machine";
  auto fail = [&](const std::string& msg) { return Error{label + ": " + msg}; };
  if (!o.kernel.empty()) {
    auto kernel = resolve_kernel(o.kernel);
    if (!kernel) return fail(kernel.error().message);
    p.kernel = *kernel;
  }
  const std::string kernel_arch = p.kernel ? p.kernel->arch : "";
  p.arch = !o.arch.empty()        ? find_guest_arch(o.arch)
           : !kernel_arch.empty() ? find_guest_arch(kernel_arch)
                                  : host_guest_arch();
  if (!p.arch) return fail("no QEMU guest description for arch '" + o.arch + "'");
  if (p.kernel) label = p.kernel->label;
  if (!kernel_arch.empty() && kernel_arch != p.arch->name)
    return fail("an " + kernel_arch + " kernel image, but --arch " + o.arch);
  p.programs = {o.harness, o.probes_dir, o.busybox};
  if (p.arch == host_guest_arch()) return p;
  if (o.host_root) return fail("--host-root needs a kernel of this machine's architecture");
  auto foreign = foreign_programs(o, *p.arch, p.kernel ? *p.kernel : KernelImage{});
  if (!foreign) return fail(foreign.error().message);
  p.programs = *foreign;
  return p;
}

/// The initramfs of `plan`: busybox as /init's shell, the kernel's config,
/// and either the harness with its probes and libraries, or (host_root)
/// the modules that mount the host's root.
GuestImageSpec image_spec(const VmOptions& o, const GuestPlan& plan, bool shell, const std::string& scratch) {
  GuestImageSpec spec;
  spec.arch = plan.arch;
  spec.busybox = plan.programs.busybox;
  spec.shell = shell;
  spec.scratch_dir = scratch;
  spec.command.host_root = o.host_root;
  spec.command.cwd = o.cwd;
  const std::string config = plan.kernel ? plan.kernel->config : "";
  if (o.host_root) {
    if (!config.empty()) spec.command.env.push_back("VMA_KCONFIG=" + fs::absolute(config).string());
    spec.modules_dir = plan.kernel ? plan.kernel->modules_dir : "";
    spec.modules.assign(plan.arch->root_modules.begin(), plan.arch->root_modules.end());
    if (!o.exec) spec.command.argv.push_back(o.harness);
  } else {
    spec.kconfig = config;
    spec.harness = plan.programs.harness;
    spec.probes_dir = plan.programs.probes_dir;
    spec.command.argv.emplace_back(kGuestHarness);
  }
  spec.command.argv.insert(spec.command.argv.end(), o.args.begin(), o.args.end());
  return spec;
}

}  // namespace

Result<std::string> guest_initramfs(const VmOptions& o, bool shell) {
  auto fail = [&](const std::string& msg) { return Error{"initramfs " + msg}; };
  if (o.host_root) return fail("an initramfs carries the harness: --host-root is for vm only");
  auto plan = plan_guest(o);
  if (!plan) return fail(plan.error().message);
  remove_stale_work_dirs();
  auto tmp = WorkDir::make();
  if (!tmp) return fail(tmp.error().message);
  auto image = build_guest_initramfs(image_spec(o, *plan, shell, tmp->path()));
  if (!image) return fail(image.error().message);
  return *image;
}

std::string kvm_device() {
  const char* d = std::getenv("VMAKIT_KVM_DEVICE");
  return d && *d ? d : "/dev/kvm";
}

Result<std::string> choose_accel(const std::string& requested, const GuestArch& arch, const std::string& cpu) {
  if (requested != "auto" && requested != "kvm" && requested != "tcg")
    return Error{"unknown accelerator '" + requested + "' (auto, kvm, tcg)"};
  if (requested == "tcg") return std::string("tcg");
  const std::string dev = kvm_device();
  if (auto kvm = os::Fd::open(dev, O_RDWR); !kvm) {
    if (requested == "kvm") return Error{"--accel kvm: " + kvm.error().message};
    return std::string("tcg");
  }
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

/// o.cpu, else the arch's default model under `accel`.
std::string cpu_for(const VmOptions& o, const GuestArch& arch, const std::string& accel) {
  return o.cpu.empty() ? std::string(accel == "kvm" ? arch.kvm_cpu : arch.default_cpu) : o.cpu;
}

/// The accelerator and CPU of the first boot in `run`: `auto` goes straight
/// to TCG for an arch whose KVM made no progress earlier in this process.
Result<void> first_accel(const VmOptions& o, const GuestArch& arch, VmRun& run) {
  if (auto v = kvm_verdicts().find(arch.name); o.accel == "auto" && v != kvm_verdicts().end() && !v->second.empty()) {
    run.accel = "tcg";
    run.accel_note = v->second;
  } else {
    auto accel = choose_accel(o.accel, arch, o.cpu);
    if (!accel) return accel.error();
    run.accel = *accel;
  }
  run.cpu = cpu_for(o, arch, run.accel);
  return {};
}

/// The initramfs of `plan`, written to DIR/initrd.cpio; its path.
Result<std::string> write_initrd(const VmOptions& o, const GuestPlan& plan, const std::string& dir) {
  auto image = build_guest_initramfs(image_spec(o, plan, false, dir));
  if (!image) return image.error();
  const std::string initrd = dir + "/initrd.cpio";
  if (auto r = vma::write_output_file(initrd, *image, "initramfs"); !r) return r.error();
  return initrd;
}

/// One boot of `initrd` with the accelerator and CPU in `run`. Under KVM
/// the guest must reach init within kKvmProgressSeconds: nested KVM often
/// starts a guest (the start probe passes) that never runs, or dies in an
/// "emulation failure".
GuestOutcome boot(const VmOptions& o, const GuestPlan& plan, const std::string& initrd, const VmRun& run,
                  const std::function<void(const std::string&)>& on_console) {
  QemuSpec q;
  q.arch = plan.arch;
  q.kernel = plan.kernel->image;
  q.initrd = initrd;
  q.cpu = run.cpu;
  q.accel = run.accel;
  q.accel_note = run.accel_note;
  q.memory_mib = o.memory_mib;
  // Under TCG one vCPU by default: with two, a vCPU can run code that
  // text_poke_bp() has just rewritten on the other, which QEMU's
  // multi-threaded TCG does not order (Debian 13's 6.12 panics with "Oops:
  // int3" in sched_clock_cpu, the int3 already patched back to a nop).
  // KVM: up to 2.
  q.smp = o.smp ? o.smp
                : run.accel == "tcg" ? 1u
                                     : static_cast<unsigned>(std::clamp(sysconf(_SC_NPROCESSORS_ONLN), 1L, 2L));
  if (o.host_root) q.share = "/";
  q.append = o.append;
  const GuestLimits limits{o.timeout, run.accel == "kvm" ? kKvmProgressSeconds : 0};
  return run_guest(qemu_argv(q), limits, on_console);
}

/// After a KVM boot that made no progress: TCG for this boot and, under
/// `auto`, for this arch's later boots in this process.
void fall_back_to_tcg(const VmOptions& o, const GuestArch& arch, const std::string& error, VmRun& run) {
  const std::string why = "kvm made no progress: " + first_line(error);
  kvm_verdicts()[std::string(arch.name)] = why;
  run.accel = "tcg";
  run.accel_note = why;
  run.cpu = cpu_for(o, arch, run.accel);
}

}  // namespace

Result<VmRun> run_vm(const VmOptions& o, const std::function<void(const std::string&)>& on_console,
                     const std::function<void(const std::string&)>& on_note) {
  auto fail = [&](const std::string& msg) { return Error{"vm " + msg}; };
  auto plan = plan_guest(o);
  if (!plan) return fail(plan.error().message);
  if (!plan->kernel) return fail("needs a kernel");
  VmRun run;
  run.kernel = *plan->kernel;
  const std::string& label = run.kernel.label;
  if (auto r = first_accel(o, *plan->arch, run); !r) return fail(label + ": " + r.error().message);
  remove_stale_work_dirs();
  auto tmp = WorkDir::make();
  if (!tmp) return fail(label + ": " + tmp.error().message);
  auto initrd = write_initrd(o, *plan, tmp->path());
  if (!initrd) return fail(label + ": " + initrd.error().message);

  auto where = [&] { return label + " (accel " + run.accel + ", cpu " + run.cpu + ")"; };
  GuestOutcome out = boot(o, *plan, *initrd, run, on_console);
  if (!out.result && run.accel == "kvm" && out.failure == GuestFailure::no_progress) {
    if (o.accel == "kvm") return fail(where() + ": --accel kvm: " + out.error);
    fall_back_to_tcg(o, *plan->arch, out.error, run);
    if (on_note) on_note("vm " + label + ": " + run.accel_note + "; booting it under TCG");
    out = boot(o, *plan, *initrd, run, on_console);
  }
  if (!out.result) return fail(where() + ": " + out.error);
  run.result = std::move(*out.result);
  return run;
}

}  // namespace vma::harness::vm
