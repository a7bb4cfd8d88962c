// vma-harness: run probes that fault on purpose, capture each fault exactly,
// annotate it with core and judge it against a profile. See profile.h for the
// TOML formats and runner.h for how probes are run.

#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include <boost/program_options.hpp>

#include "aslr_sampler.h"
#include "audit.h"
#include "demo.h"
#include "environment.h"
#include "probe_stage.h"
#include "profile.h"
#include "report.h"
#include "runner.h"
#include "vm/matrix.h"
#include "vm/matrix_svg.h"
#include "vm/guest_image.h"
#include "vm/session.h"
#include "output_file.h"  // core: files and stdout written, and checked
#include "outside_text.h"  // core: safe_text, for the guest console
#include "render.h"  // core: vma::to_text, the one way JSON is printed

namespace po = boost::program_options;
namespace fs = std::filesystem;
using namespace vma::harness;

namespace {

constexpr int kExitUsage = 2;

const char* kUsage =
    "usage: vma-harness list [--profile P] [--spec FILE] [--format text|json] [--as-root]\n"
    "       vma-harness run [--profile default|hardened|FILE] [--only a,b,...] [--spec FILE]\n"
    "                       [--format text|json|ktap|junit] [--jobs N] [--timeout S] [--as-root]\n"
    "                       [--with-audit [--kconfig FILE]] [--with-aslr [--aslr-samples N]]\n"
    "       vma-harness aslr [--samples N] [--jobs N] [--format text|json]\n"
    "       vma-harness audit [--profile default|hardened|FILE] [--kconfig FILE] [--format text|json]\n"
    "       vma-harness demo wx|guard|null|stack [--step]\n"
    "       vma-harness vm --kernel K [--cpu MODEL] [--accel auto|kvm|tcg] [--memory MIB] [--timeout S]\n"
    "                      [--host-root [--exec]] -- ARGS...\n"
    "       vma-harness initramfs --out FILE [--kernel K] [--arch A] [--shell] [-- ARGS...]\n"
    "       vma-harness matrix --kernel K... [--cpu MODEL]... [--accel auto|kvm|tcg] [--with-audit]\n"
    "                          [--with-aslr] [--profile default|hardened] [--format text|json|ktap|junit]\n"
    "                          [--svg FILE]\n"
    "       vma-harness matrix --from-json FILE [--format ...] [--svg FILE]\n"
    "       vma-harness --version\n";

int usage_error(const std::string& msg) {
  std::cerr << "vma-harness: " << msg << "\n" << kUsage;
  return kExitUsage;
}

/// Bad input that is not a bad command line (a saved report of the wrong
/// shape, a file that cannot be read or written): one line, no usage.
int data_error(const std::string& msg) {
  std::cerr << "vma-harness: " << msg << "\n";
  return kExitUsage;
}

/// `vm` checks the arguments it will hand the guest's vma-harness before
/// it boots: each command returns right after its options are parsed and
/// checked when this is set (check_args()).
bool g_check_only = false;

/// Where the built-in probes may live, in order: $VMA_PROBES_DIR alone when
/// set, else probes/ next to this executable (build tree), else the install
/// layout's probe directory relative to the executable's
/// (VMAKIT_PROBES_FROM_BINDIR, from CMake's install directories:
/// ../libexec/vmakit/probes for /usr/bin).
std::vector<fs::path> probe_dirs() {
  if (const char* dir = std::getenv("VMA_PROBES_DIR"); dir && *dir) return {fs::path(dir)};
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  return {self.parent_path() / "probes", (self.parent_path() / VMAKIT_PROBES_FROM_BINDIR).lexically_normal()};
}

/// Where the built-in probe `id` lives (probe_dirs()).
std::optional<std::string> find_probe(const std::string& id) {
  for (const fs::path& dir : probe_dirs())
    if (fs::path p = dir / id; access(p.c_str(), X_OK) == 0) return p.string();
  return std::nullopt;
}

struct CommonOptions {
  std::string profile = "default";
  std::string spec;
  std::string format = "text";
  bool as_root = false;
};

/// Probes under the chosen profile, with the spec's user probes. Exit code
/// 2 and a message on bad input.
std::optional<std::vector<ProbeDef>> load_probes(const CommonOptions& o, const Environment& env, int& code) {
  const bool builtin = is_builtin_profile(o.profile);
  if (!builtin && !fs::exists(o.profile)) {
    code = usage_error("unknown profile '" + o.profile + "' (default, hardened, or a TOML file)");
    return std::nullopt;
  }
  std::vector<ProbeDef> probes = builtin_probe_defs(builtin ? o.profile : "default", env);
  if (!o.spec.empty()) {
    if (access(o.spec.c_str(), R_OK) != 0) {
      code = data_error("cannot read spec file '" + o.spec + "': " + std::strerror(errno));
      return std::nullopt;
    }
    auto user = load_spec(o.spec);
    if (!user) {
      std::cerr << user.error().message << "\n";
      code = kExitUsage;
      return std::nullopt;
    }
    for (auto& p : *user) probes.push_back(std::move(p));
  }
  if (!builtin) {
    if (auto r = apply_profile_file(o.profile, env, probes); !r) {
      std::cerr << r.error().message << "\n";
      code = kExitUsage;
      return std::nullopt;
    }
  }
  return probes;
}

/// The uid/gid probes run as: root drops to nobody unless --as-root.
std::optional<std::pair<uid_t, gid_t>> probe_user(bool as_root) {
  if (geteuid() != 0 || as_root) return std::nullopt;
  if (const passwd* pw = getpwnam("nobody")) return std::make_pair(pw->pw_uid, pw->pw_gid);
  return std::make_pair(uid_t{65534}, gid_t{65534});
}

/// The ASLR samplers (probes/aslr-sampler*), found like the probes. The
/// non-PIE one is optional: without it heap-exec is not measured.
std::optional<AslrOptions> aslr_options(unsigned samples, unsigned jobs) {
  auto pie = find_probe("aslr-sampler");
  if (!pie) return std::nullopt;
  AslrOptions a;
  a.samples = samples;
  a.jobs = jobs ? jobs : std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  a.sampler = *pie;
  a.sampler_nopie = find_probe("aslr-sampler-nopie").value_or("");
  return a;
}

/// A progress bar on stderr when it is a terminal: "aslr [#####     ] 1234/3000 execs".
std::function<void(unsigned, unsigned)> progress_bar() {
  if (!isatty(STDERR_FILENO)) return {};
  return [last = -1](unsigned done, unsigned total) mutable {
    const int pct = total ? static_cast<int>(100.0 * done / total) : 100;
    if (pct == last && done != total) return;
    last = pct;
    constexpr int kWidth = 30;
    const int fill = pct * kWidth / 100;
    std::fprintf(stderr, "\raslr [%s%s] %u/%u execs", std::string(fill, '#').c_str(),
                 std::string(kWidth - fill, ' ').c_str(), done, total);
    if (done == total) std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  };
}

/// Measures ASLR; prints the error and returns nullopt on failure.
std::optional<AslrReport> measure(unsigned samples, unsigned jobs, const Environment& env) {
  auto opts = aslr_options(samples, jobs);
  if (!opts) {
    std::cerr << "vma-harness: aslr-sampler not found (build target vma-probes, or set VMA_PROBES_DIR)\n";
    return std::nullopt;
  }
  opts->progress = progress_bar();
  auto r = measure_aslr(*opts, env);
  if (opts->progress) std::fprintf(stderr, "\r\033[K");
  if (!r) {
    std::cerr << "vma-harness: aslr: " << r.error().message << "\n";
    return std::nullopt;
  }
  if (opts->sampler_nopie.empty())
    r->warnings.push_back("aslr-sampler-nopie not found: heap-exec not measured");
  return std::move(*r);
}

/// The audit under `profile`; prints the error (exit 2) on a bad profile.
std::optional<AuditReport> audit(const std::string& profile, const Environment& env, int& code) {
  if (!is_builtin_profile(profile) && !fs::exists(profile)) {
    code = usage_error("unknown profile '" + profile + "' (default, hardened, or a TOML file)");
    return std::nullopt;
  }
  auto r = run_audit(profile, env);
  if (!r) {
    std::cerr << r.error().message << "\n";
    code = kExitUsage;
    return std::nullopt;
  }
  return std::move(*r);
}

/// Parses `args` against the options `shown` (what --help prints), plus
/// `hidden` ones and positionals; true when --help was asked for (printed).
bool parse_args(const std::vector<std::string>& args, const po::options_description& shown, po::variables_map& vm,
                const po::options_description* hidden = nullptr,
                const po::positional_options_description* pos = nullptr) {
  po::options_description all;
  all.add(shown);
  if (hidden) all.add(*hidden);
  po::command_line_parser parser(args);
  parser.options(all);
  if (pos) parser.positional(*pos);
  po::store(parser.run(), vm);
  po::notify(vm);
  if (!vm.count("help")) return false;
  if (!g_check_only) std::cout << kUsage << shown;
  return true;
}

/// `--format` of the commands that print text or JSON only.
int format_error(const std::string& cmd) { return usage_error(cmd + " --format must be text or json"); }
bool text_or_json(const std::string& format) { return format == "text" || format == "json"; }

bool color_stdout() { return isatty(STDOUT_FILENO) && !std::getenv("NO_COLOR"); }

void add_common(po::options_description& d, CommonOptions& o) {
  d.add_options()
      ("profile", po::value(&o.profile), "default, hardened, or a TOML profile file")
      ("spec", po::value(&o.spec), "TOML file of user probes")
      ("format", po::value(&o.format), "text, json, ktap or junit")
      ("as-root", po::bool_switch(&o.as_root), "run probes as root (default when root: as nobody)");
}

int cmd_list(const std::vector<std::string>& args) {
  CommonOptions o;
  po::options_description d("list options");
  add_common(d, o);
  d.add_options()("help,h", "this help");
  po::variables_map vm;
  if (parse_args(args, d, vm)) return 0;
  if (!text_or_json(o.format)) return format_error("list");
  if (g_check_only) return 0;
  auto user = probe_user(o.as_root);
  Environment env = detect_environment(user ? user->first : geteuid());
  int code = 0;
  auto probes = load_probes(o, env, code);
  if (!probes) return code;
  if (o.format == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& p : *probes)
      out.push_back({{"probe", p.id}, {"description", p.description}, {"user", p.user},
                     {"expected", to_json(p.expect)}, {"found", p.user || find_probe(p.id).has_value()}});
    std::cout << vma::to_text(nlohmann::json{{"environment", to_json(env)}, {"profile", o.profile}, {"probes", out}})
              << "\n";
    return 0;
  }
  std::cout << "profile " << o.profile << "\n";
  for (const auto& line : describe(env)) std::cout << line << "\n";
  std::cout << "\n";
  for (const auto& p : *probes) {
    std::string id = p.id;
    if (!p.user && !find_probe(p.id)) id += " (not built)";
    // A spec file's ids and descriptions are outside text too.
    std::printf("%-24s %s\n%-24s   expect: %s%s\n", vma::safe_text(id).c_str(), vma::safe_text(p.description).c_str(), "",
                describe(p.expect).c_str(), p.expect.why.empty() ? "" : (" (" + p.expect.why + ")").c_str());
  }
  return 0;
}

std::set<std::string> split_commas(const std::vector<std::string>& values) {
  std::set<std::string> out;
  for (const auto& v : values) {
    std::stringstream ss(v);
    for (std::string item; std::getline(ss, item, ',');)
      if (!item.empty()) out.insert(item);
  }
  return out;
}

int cmd_run(const std::vector<std::string>& args) {
  CommonOptions o;
  std::vector<std::string> only;
  unsigned jobs = 0;
  double timeout = 10;
  std::string capture = "auto";
  bool with_audit = false, with_aslr = false;
  unsigned aslr_samples = 1500;
  std::string kconfig;
  po::options_description d("run options");
  add_common(d, o);
  d.add_options()
      ("with-audit", po::bool_switch(&with_audit), "also audit the kernel configuration (vma-harness audit)")
      ("with-aslr", po::bool_switch(&with_aslr), "also measure ASLR entropy (vma-harness aslr)")
      ("kconfig", po::value(&kconfig), "the kernel's .config for --with-audit (default: $VMA_KCONFIG, /proc/config.gz, /boot)")
      ("aslr-samples", po::value(&aslr_samples), "samples per region for --with-aslr (default 1500)")
      ("only", po::value(&only)->composing(), "comma-separated probe ids")
      ("jobs,j", po::value(&jobs), "probes run in parallel (default: CPUs)")
      ("timeout", po::value(&timeout), "seconds per probe (default 10)")
      ("help,h", "this help");
  po::options_description hidden;
  hidden.add_options()("capture", po::value(&capture), "auto, ptrace or handler (tests)");
  po::variables_map vm;
  if (parse_args(args, d, vm, &hidden)) return 0;
  if (o.format != "text" && o.format != "json" && o.format != "ktap" && o.format != "junit")
    return usage_error("unknown format '" + o.format + "' (text, json, ktap, junit)");
  if (!(timeout > 0) || timeout > 86400) return usage_error("--timeout must be a number of seconds > 0");
  if (capture != "auto" && capture != "ptrace" && capture != "handler")
    return usage_error("--capture must be auto, ptrace or handler");
  if (aslr_samples < 2 || aslr_samples > 1000000) return usage_error("--aslr-samples must be 2..1000000");
  if (g_check_only) return 0;

  RunOptions ropts;
  ropts.drop_to = probe_user(o.as_root);
  ropts.jobs = jobs ? jobs : std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
  bool ptrace_ok = capture != "handler" && ptrace_permitted();
  if (capture == "ptrace" && !ptrace_ok) return usage_error("--capture=ptrace: ptrace is not permitted here");
  ropts.capture = ptrace_ok ? Capture::ptrace : Capture::handler;

  Report report;
  report.env = detect_environment(ropts.drop_to ? ropts.drop_to->first : geteuid());
  report.env.capture = ptrace_ok ? "ptrace" : "handler";
  if (!kconfig.empty()) report.env.kconfig_file = kconfig;
  report.profile = o.profile;
  int code = 0;
  auto loaded = load_probes(o, report.env, code);
  if (!loaded) return code;
  std::vector<ProbeDef> probes = std::move(*loaded);
  if (!only.empty()) {
    std::set<std::string> wanted = split_commas(only);
    for (const auto& w : wanted)
      if (std::none_of(probes.begin(), probes.end(), [&](const ProbeDef& p) { return p.id == w; }))
        return usage_error("--only: unknown probe '" + w + "'");
    std::erase_if(probes, [&](const ProbeDef& p) { return !wanted.contains(p.id); });
  }

  // Probes that cannot start are reported as errors, in order, with the rest.
  ProbeStage stage;
  std::vector<Launch> launches;
  std::vector<std::size_t> launch_probe;  // launch index -> probe index
  std::vector<std::optional<ResultRow>> rows(probes.size());
  for (std::size_t i = 0; i < probes.size(); ++i) {
    Launch l;
    l.timeout = probes[i].timeout.value_or(timeout);
    if (probes[i].user) {
      l.argv = probes[i].command;
    } else if (auto path = find_probe(probes[i].id)) {
      l.argv = {ropts.drop_to ? stage.reachable(*path) : *path};
    } else {
      Observation obs;
      obs.error = "probe binary not found (build target vma-probes, or set VMA_PROBES_DIR)";
      rows[i] = ResultRow{&probes[i], obs, judge(probes[i].expect, obs, report.env.mmap_min_addr)};
      continue;
    }
    launches.push_back(std::move(l));
    launch_probe.push_back(i);
  }
  report.env.probes_staged_in = stage.dir();
  ProbeTmpDir probe_tmp;
  if (ropts.drop_to) probe_tmp.use_for(ropts.drop_to->first, ropts.drop_to->second);

  const bool color = o.format == "text" && color_stdout();
  const TextLayout layout = text_layout(probes, color);
  std::size_t printed = 0;
  auto flush_rows = [&] {
    if (o.format != "text") return;
    while (printed < rows.size() && rows[printed]) std::cout << text_row(*rows[printed++], layout) << std::flush;
  };
  if (o.format == "text") std::cout << text_header(report, layout) << std::flush;
  flush_rows();

  vma::ElfCache elf_cache;
  auto t0 = std::chrono::steady_clock::now();
  int sig = run_probes(launches, ropts, elf_cache, [&](std::size_t li, Observation obs) {
    std::size_t pi = launch_probe[li];
    Verdict v = judge(probes[pi].expect, obs, report.env.mmap_min_addr);
    // Under gVisor faults and syscalls differ from Linux by design: a
    // mismatch there is "not applicable", not a failure (REFERENCE.md §3).
    if (report.env.gvisor && v.status == Status::fail)
      v = {Status::skip, "not applicable under gVisor: " + v.reason};
    rows[pi] = ResultRow{&probes[pi], std::move(obs), v};
    flush_rows();
  });
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!sig) {
    // A signal that came after the last probe finished still interrupts.
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGINT)) sig = SIGINT;
    else if (sigismember(&pending, SIGTERM)) sig = SIGTERM;
  }
  report.interrupted = sig;
  for (auto& r : rows) {
    if (r) report.rows.push_back(std::move(*r));
    else ++report.not_run;
  }
  if (!sig && with_audit) {
    if (!(report.audit = audit(o.profile, report.env, code))) return code;
  }
  if (!sig && with_aslr) {
    // The run's environment describes the probes' user; ASLR is sampled as
    // this process, whose personality and tracer matter.
    report.aslr = measure(aslr_samples, ropts.jobs, detect_environment(geteuid()));
    if (!report.aslr) return 1;
    report.interrupted = sig = report.aslr->interrupted;
  }
  if (o.format == "text") {
    // Rows not printed yet: the in-order prefix stalled at one not run.
    for (std::size_t i = printed; i < rows.size(); ++i)
      if (rows[i]) std::cout << text_row(*rows[i], layout);
    std::cout << text_footer(report, color);
  } else if (o.format == "json") {
    std::cout << vma::to_text(json_report(report)) << "\n";
  } else if (o.format == "ktap") {
    std::cout << ktap_report(report);
  } else {
    std::cout << junit_report(report);
  }
  std::cout.flush();
  return exit_status(report);
}

int cmd_aslr(const std::vector<std::string>& args) {
  unsigned samples = 1500, jobs = 0;
  std::string format = "text";
  po::options_description d("aslr options");
  d.add_options()
      ("samples", po::value(&samples), "fresh execs per region (default 1500, as paxtest)")
      ("jobs,j", po::value(&jobs), "samplers run in parallel (default: CPUs)")
      ("format", po::value(&format), "text or json")
      ("help,h", "this help");
  po::variables_map vm;
  if (parse_args(args, d, vm)) return 0;
  if (!text_or_json(format)) return format_error("aslr");
  if (samples < 2 || samples > 1000000) return usage_error("--samples must be 2..1000000");
  if (g_check_only) return 0;
  const Environment env = detect_environment(geteuid());
  auto report = measure(samples, jobs, env);
  if (!report) return 1;
  // Loud on stderr too: a JSON consumer may not read the warnings key.
  for (const auto& w : report->warnings) std::cerr << "vma-harness: WARNING: " << w << "\n";
  if (format == "json") {
    nlohmann::json j = to_json(*report);
    j["environment"] = to_json(env);
    std::cout << vma::to_text(j) << "\n";
  } else {
    const bool color = color_stdout();
    for (const auto& line : describe(env)) std::cout << line << "\n";
    std::cout << "\n" << aslr_text(*report, color);
  }
  if (report->interrupted) return 128 + report->interrupted;
  // Exit 1 when a region did not vary: this machine does not randomise it.
  for (const auto& r : report->regions)
    if (r.bits == 0) return 1;
  return 0;
}

int cmd_audit(const std::vector<std::string>& args) {
  std::string profile = "default", format = "text", kconfig;
  po::options_description d("audit options");
  d.add_options()
      ("profile", po::value(&profile), "default, hardened, or a TOML profile file ([audit.NAME] tables)")
      ("kconfig", po::value(&kconfig), "the kernel's .config (default: $VMA_KCONFIG, /proc/config.gz, /boot)")
      ("format", po::value(&format), "text or json")
      ("help,h", "this help");
  po::variables_map vm;
  if (parse_args(args, d, vm)) return 0;
  if (!text_or_json(format)) return format_error("audit");
  if (g_check_only) return 0;
  Environment env = detect_environment(geteuid());
  if (!kconfig.empty()) env.kconfig_file = kconfig;
  int code = 0;
  auto report = audit(profile, env, code);
  if (!report) return code;
  if (format == "json") {
    nlohmann::json j = to_json(*report);
    j["profile"] = profile;
    j["environment"] = to_json(env);
    std::cout << vma::to_text(j) << "\n";
  } else {
    const bool color = color_stdout();
    std::cout << "vma-harness audit, profile " << profile << "\n";
    for (const auto& line : describe(env)) std::cout << line << "\n";
    std::cout << "\n" << audit_text(*report, color);
  }
  return exit_status(*report);
}

int cmd_demo(const std::vector<std::string>& args) {
  std::string which;
  bool step = false;
  po::options_description d("demo options");
  d.add_options()("step", po::bool_switch(&step), "wait for Enter between steps (on a terminal)")
      ("help,h", "this help");
  po::options_description hidden;
  hidden.add_options()("which", po::value(&which));
  po::positional_options_description pos;
  pos.add("which", 1);
  po::variables_map vm;
  if (parse_args(args, d, vm, &hidden, &pos)) return 0;
  if (which.empty()) return usage_error("demo needs one of wx, guard, null, stack");
  auto demo = parse_demo(which);
  if (!demo) return usage_error("unknown demo '" + which + "' (wx, guard, null, stack)");
  if (g_check_only) return 0;
  DemoOptions opts;
  opts.step = step && isatty(STDIN_FILENO);
  opts.color = color_stdout();
  return run_demo(*demo, opts);
}

/// The guest options `vm` and `matrix` share.
struct GuestOptions {
  vm::VmOptions vm;
  void add(po::options_description& d) {
    d.add_options()
        ("accel", po::value(&vm.accel), "auto (KVM when its guest reaches init within 20 s, else TCG), kvm or tcg")
        ("memory", po::value(&vm.memory_mib), "guest memory in MiB (default 2048)")
        ("smp", po::value(&vm.smp), "guest CPUs (default: 1 under TCG, up to 2 under KVM)")
        ("timeout", po::value(&vm.timeout), "seconds for boot and run before QEMU is killed (default 300)")
        ("arch", po::value(&vm.arch), "guest architecture (default: the kernel image's, else this machine's)")
        ("guest-build", po::value(&vm.guest_builds)->composing(),
         "a build for another architecture (repeat): its vma-harness and probes run in that arch's guests "
         "(default: build-ARCH beside this build)")
        ("busybox", po::value(&vm.guest_busyboxes)->composing(),
         "a static busybox for another architecture (repeat; default: busybox-static-DEBIANARCH/ beside the kernels)");
  }
  /// Fills in what the guest carries; nullopt and a message when it cannot.
  std::optional<std::string> complete() {
    if (vm.memory_mib < 128 || vm.memory_mib > 1048576) return "--memory must be 128..1048576 MiB";
    if (!(vm.timeout > 0) || vm.timeout > 86400) return "--timeout must be a number of seconds > 0";
    std::error_code ec;
    vm.harness = fs::read_symlink("/proc/self/exe", ec).string();
    if (ec) return "cannot read /proc/self/exe: " + ec.message();
    for (const fs::path& dir : probe_dirs())
      if (fs::is_directory(dir, ec)) {
        vm.probes_dir = dir.string();
        break;
      }
    if (vm.probes_dir.empty()) return "probes not found (build target vma-probes, or set VMA_PROBES_DIR)";
    vm.cwd = fs::current_path(ec).string();
    return std::nullopt;
  }
};

int dispatch(const std::string& cmd, const std::vector<std::string>& args, const sigset_t& stop);

/// The exit status `vma-harness ARGS` would have for a bad command line
/// (its error and usage printed), 0 when ARGS parse; nothing is run.
int check_args(const std::vector<std::string>& args) {
  if (args.empty()) return 0;
  sigset_t none;
  sigemptyset(&none);
  g_check_only = true;
  const int code = dispatch(args.front(), std::vector<std::string>(args.begin() + 1, args.end()), none);
  g_check_only = false;
  return code;
}

/// Splits `args` at the first "--": (options, what follows).
std::pair<std::vector<std::string>, std::vector<std::string>> split_dashes(const std::vector<std::string>& args) {
  auto it = std::find(args.begin(), args.end(), "--");
  if (it == args.end()) return {args, {}};
  return {std::vector<std::string>(args.begin(), it), std::vector<std::string>(it + 1, args.end())};
}

int cmd_vm(const std::vector<std::string>& all) {
  auto [args, inner] = split_dashes(all);
  GuestOptions g;
  po::options_description d("vm options");
  d.add_options()
      ("kernel", po::value(&g.vm.kernel), "unpacked Debian kernel package directory, or a kernel image")
      ("cpu", po::value(&g.vm.cpu), "QEMU CPU model (default max under TCG, host under KVM)")
      ("host-root", po::bool_switch(&g.vm.host_root), "run from this machine's root over 9p (read-only, tmpfs overlay)")
      ("exec", po::bool_switch(&g.vm.exec), "ARGS are a command, not vma-harness arguments")
      ("help,h", "this help");
  g.add(d);
  po::options_description hidden;
  hidden.add_options()("append", po::value(&g.vm.append)->composing(), "extra kernel parameters (tests)");
  po::variables_map vm;
  if (parse_args(args, d, vm, &hidden)) return 0;
  if (g.vm.kernel.empty()) return usage_error("vm needs --kernel K");
  if (inner.empty()) return usage_error("vm needs the arguments to run after --, e.g. -- run --with-audit");
  if (g.vm.exec && !g.vm.host_root) return usage_error("--exec needs --host-root (the initramfs has only busybox and the harness)");
  if (g_check_only) return 0;
  // The guest's vma-harness parses ARGS as this one does: a usage error
  // there is found here, before a boot of seconds or minutes.
  if (!g.vm.exec)
    if (int code = check_args(inner); code != 0) {
      std::cerr << "vma-harness: vm: the arguments after -- were refused; nothing was booted\n";
      return code;
    }
  if (auto err = g.complete()) return usage_error(*err);
  g.vm.args = inner;
  // The guest's console is outside text: each line made safe for a terminal.
  auto run = vm::run_vm(
      g.vm, [](const std::string& line) { std::cerr << vma::safe_text(line) << "\n"; },
      [](const std::string& note) { std::cerr << "vma-harness: " << vma::safe_text(note) << "\n"; });
  if (!run) {
    std::string lines;
    for (std::size_t p = 0; p <= run.error().message.size();) {
      const auto nl = run.error().message.find('\n', p);
      lines += (p ? "\n" : "") + vma::safe_text(run.error().message.substr(p, nl == std::string::npos ? nl : nl - p));
      if (nl == std::string::npos) break;
      p = nl + 1;
    }
    std::cerr << "vma-harness: " << lines << "\n";
    return vm::stop_signal() ? 128 + vm::stop_signal() : kExitUsage;
  }
  std::cout << run->result.output << std::flush;
  return run->result.exit_status;
}

int cmd_initramfs(const std::vector<std::string>& all) {
  auto [args, inner] = split_dashes(all);
  GuestOptions g;
  std::string out;
  bool shell = false;
  po::options_description d("initramfs options");
  d.add_options()
      ("out", po::value(&out), "the file to write (replaced only once complete)")
      ("kernel", po::value(&g.vm.kernel), "also carry this kernel's config (/vmakit/config, VMA_KCONFIG); its arch")
      ("shell", po::bool_switch(&shell), "/init gives a shell with the prompt 'vmakit# ' (for LAVA, a person)")
      ("arch", po::value(&g.vm.arch), "guest architecture (default: the kernel image's, else this machine's)")
      ("guest-build", po::value(&g.vm.guest_builds)->composing(), "a build for another architecture (as vm)")
      ("busybox", po::value(&g.vm.guest_busyboxes)->composing(), "a static busybox for another architecture (as vm)")
      ("help,h", "this help");
  po::variables_map vm;
  if (parse_args(args, d, vm)) return 0;
  if (out.empty()) return usage_error("initramfs needs --out FILE");
  if (shell && !inner.empty()) return usage_error("initramfs --shell runs nothing by itself: no arguments after --");
  if (auto err = g.complete()) return usage_error(*err);
  g.vm.args = inner.empty() ? std::vector<std::string>{"run"} : inner;
  auto image = vm::guest_initramfs(g.vm, shell);
  if (!image) {
    std::cerr << "vma-harness: " << image.error().message << "\n";
    return kExitUsage;
  }
  if (auto r = vma::write_output_file(out, *image, "--out"); !r) return data_error(r.error().message);
  return 0;
}

int cmd_matrix(const std::vector<std::string>& args) {
  GuestOptions g;
  std::vector<std::string> kernels, cpus;
  std::string format = "text", profile = "default", svg, from_json;
  bool with_audit = false, with_aslr = false;
  po::options_description d("matrix options");
  d.add_options()
      ("svg", po::value(&svg), "also write the matrix as a picture: probe x kernel verdicts, ASLR bits per kernel")
      ("from-json", po::value(&from_json), "do not boot: read a saved `matrix --format json` document")
      ("kernel", po::value(&kernels)->composing(), "a kernel (repeat): package directory or image")
      ("cpu", po::value(&cpus)->composing(), "a QEMU CPU model (repeat; default: the arch's default)")
      ("with-audit", po::bool_switch(&with_audit), "also audit each kernel's configuration")
      ("with-aslr", po::bool_switch(&with_aslr), "also measure ASLR entropy in each guest")
      ("profile", po::value(&profile), "default or hardened")
      ("format", po::value(&format), "text, json, ktap or junit")
      ("help,h", "this help");
  g.add(d);
  po::variables_map vm;
  if (parse_args(args, d, vm)) return 0;
  if (format != "text" && format != "json" && format != "ktap" && format != "junit")
    return usage_error("unknown format '" + format + "' (text, json, ktap, junit)");
  if (vm.count("svg") && svg.empty()) return usage_error("--svg: an empty file name");
  if (vm.count("from-json") && from_json.empty()) return usage_error("--from-json: an empty file name");
  if (g_check_only) return 0;
  // The SVG's place is checked before any guest boots, so a bad path costs
  // nothing; the file itself is written (a temporary file renamed over it)
  // only once the matrix is complete.
  if (!svg.empty()) {
    if (auto r = vma::check_output_not_input(svg, {from_json}, "--svg"); !r) return data_error(r.error().message);
    std::error_code ec;
    const fs::path dir = fs::path(svg).parent_path().empty() ? fs::path(".") : fs::path(svg).parent_path();
    if (fs::is_directory(svg, ec)) return data_error("--svg " + svg + ": is a directory");
    if (access(dir.c_str(), W_OK) != 0 && !fs::exists(svg, ec))
      return data_error("--svg " + svg + ": cannot write: " + std::strerror(errno));
  }
  auto print = [&](const std::vector<vm::MatrixEntry>& entries) {
    if (!svg.empty())
      if (auto r = vma::write_output_file(svg, vm::matrix_svg(entries), "--svg"); !r) return data_error(r.error().message);
    if (format == "json") std::cout << vma::to_text(vm::matrix_json(entries)) << "\n";
    else if (format == "ktap") std::cout << vm::matrix_ktap(entries);
    else if (format == "junit") std::cout << vm::matrix_junit(entries);
    else std::cout << vm::matrix_text(entries, color_stdout());
    return vm::matrix_exit_status(entries);
  };
  if (!from_json.empty()) {
    if (!kernels.empty()) return usage_error("matrix: --from-json and --kernel exclude each other");
    std::error_code ec;
    if (fs::is_directory(from_json, ec)) return data_error("--from-json " + from_json + ": is a directory");
    std::ifstream in(from_json, std::ios::binary);
    if (!in) return data_error("--from-json " + from_json + ": " + std::strerror(errno));
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::parse_error& e) {
      return data_error("--from-json " + from_json + ": " + e.what());
    }
    auto entries = vm::entries_from_json(j);
    if (!entries) return data_error("--from-json " + from_json + ": " + entries.error().message);
    return print(*entries);
  }
  if (kernels.empty()) return usage_error("matrix needs at least one --kernel K");
  if (g_check_only) return 0;
  // The guest has the built-in profiles only: a profile file is not carried.
  if (!is_builtin_profile(profile)) return usage_error("matrix --profile must be default or hardened");
  if (auto err = g.complete()) return usage_error(*err);
  if (cpus.empty()) cpus.push_back("");
  std::vector<std::string> inner = {"run", "--format", "json", "--profile", profile};
  if (with_audit) inner.push_back("--with-audit");
  if (with_aslr) inner.push_back("--with-aslr");
  g.vm.args = inner;
  const vm::MatrixRun m = vm::run_matrix(g.vm, kernels, cpus, isatty(STDERR_FILENO));
  const int status = print(m.entries);
  if (!m.stop_signal) return status;
  std::cerr << "vma-harness: matrix interrupted by " << strsignal(m.stop_signal) << " after " << m.entries.size()
            << " of " << m.planned << " runs; QEMU killed\n";
  return 128 + m.stop_signal;
}

}  // namespace

namespace {

int dispatch(const std::string& cmd, const std::vector<std::string>& args, const sigset_t& stop) {
  try {
    if (cmd == "list") return cmd_list(args);
    if (cmd == "run") {
      if (!g_check_only) sigprocmask(SIG_BLOCK, &stop, nullptr);
      return cmd_run(args);
    }
    if (cmd == "demo") return cmd_demo(args);
    if (cmd == "aslr") return cmd_aslr(args);
    if (cmd == "audit") return cmd_audit(args);
    if (cmd == "initramfs") return cmd_initramfs(args);
    if (cmd == "vm" || cmd == "matrix") {
      // From the first instruction on: a SIGINT before QEMU is up stays
      // pending until the guest code takes it (vm::pending_stop).
      if (!g_check_only) sigprocmask(SIG_BLOCK, &stop, nullptr);
      return cmd == "vm" ? cmd_vm(args) : cmd_matrix(args);
    }
    if (cmd == "-h" || cmd == "--help" || cmd == "help") {
      if (!g_check_only) std::cout << kUsage;
      return 0;
    }
    if (cmd == "--version" || cmd == "-V") {
      if (!g_check_only) std::cout << "vma-harness " VMAKIT_VERSION "\n";
      return 0;
    }
    return usage_error("unknown command '" + cmd + "'");
  } catch (const po::error& e) {
    return usage_error(e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Block SIGINT/SIGTERM from the start: the runner takes them from a
  // signalfd, and one that arrives before it starts is still pending then.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage_error("missing command");
  std::string cmd = args.front();
  args.erase(args.begin());
  int code = kExitUsage;
  // Nothing escapes as an abort (a bug, an exhausted resource): one line.
  try {
    code = dispatch(cmd, args, stop);
  } catch (const std::bad_alloc&) {
    return data_error("out of memory");
  } catch (const std::exception& e) {
    return data_error(std::string("internal error: ") + e.what());
  }
  if (auto flushed = vma::flush_stdout(); !flushed) return data_error(flushed.error().message);
  return code;
}
