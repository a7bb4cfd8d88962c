// vma: what is at this address? The command-line front end over core/.
//
//   vma whereis [--pid PID | --maps FILE | --core FILE] [--json] ADDR...
//   vma map     [--pid PID | --maps FILE | --core FILE] [--json] [--kind K] [--gaps]
//               [--draw] [--svg FILE] [--mark ADDR]
//   vma fault   --core FILE [--json] [--draw] [--svg FILE]
//   vma kinds
//
// Exit status: 0 on success (an unmapped address is an answer), 2 on usage
// errors and bad input, with one line on stderr that names the pid or file,
// the line and the field.

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/program_options.hpp>
#include <fmt/format.h>

#include "annotation.h"
#include "core_source.h"
#include "draw.h"
#include "output_file.h"
#include "outside_text.h"
#include "proc_source.h"
#include "region_source.h"
#include "render.h"
#include "thread_sps.h"

namespace po = boost::program_options;

namespace {

constexpr int kExitUsage = 2;

constexpr const char* kUsage =
    "usage: vma <command> [options]\n"
    "\n"
    "commands:\n"
    "  whereis [--pid PID | --maps FILE | --core FILE] [--json] ADDR...\n"
    "                                                     annotate addresses\n"
    "  map     [--pid PID | --maps FILE | --core FILE] [--json] [--kind K] [--gaps]\n"
    "          [--draw] [--svg FILE] [--mark ADDR]        the classified map (--draw: as a picture)\n"
    "  fault   --core FILE [--exe PATH] [--json] [--draw] [--svg FILE]\n"
    "                                                     the fatal signal of a core, annotated\n"
    "  kinds                                              list the region kinds\n"
    "\n"
    "ADDR is 0x-prefixed hex or decimal.\n"
    "Run `vma <command> --help` for the options of one command, `vma --version`\n"
    "for the version.\n";

struct UsageError {
  std::string message;
};

/// Messages quote what was read (a maps file's bad token, a path): made
/// safe for a terminal like every outside string.
[[noreturn]] void fail(const std::string& msg) {
  std::fprintf(stderr, "vma: %s\n", vma::safe_text(msg).c_str());
  std::exit(kExitUsage);
}

[[noreturn]] void exit_checked(int code);

po::options_description source_options() {
  po::options_description d("source (one of)");
  d.add_options()
      ("pid,p", po::value<int>(), "a live process")
      ("maps,m", po::value<std::string>(), "a saved /proc/PID/maps or smaps file")
      ("core", po::value<std::string>(), "a core file (kernel- or gcore-written)")
      ("exe", po::value<std::string>(), "with --core: the main executable, when not at the path the core names")
      ("arch", po::value<std::string>(), "target architecture: x86_64, x86_64-la57, aarch64, aarch64-52 "
                                         "(default: this machine)");
  return d;
}

/// Files a core names that cannot be used to classify (missing, another
/// build): said on stderr, so a user knows why their text is "file"
/// (core_file_notes: deleted files left out, many alike folded).
void warn_unusable_files(const vma::CoreSource& core) {
  for (const std::string& note : vma::core_file_notes(core.file_checks()))
    std::fprintf(stderr, "vma: note: %s\n", note.c_str());
}

/// The files a command reads, which no output may overwrite.
std::vector<std::string> input_files(const po::variables_map& vm) {
  std::vector<std::string> in;
  for (const char* opt : {"maps", "core", "exe"})
    if (vm.count(opt)) in.push_back(vm[opt].as<std::string>());
  return in;
}

/// Running threads have no SP in /proc; ask ptrace for theirs.
void stop_running_threads(vma::ProcSource& src) {
  auto th = src.threads();
  if (!th) return;  // snapshot() reports the error
  bool missing = false;
  for (const auto& t : *th) missing |= !t.sp;
  if (missing) src.set_threads(fill_running_sps(std::move(th).value()));
}

po::options_description output_options() {
  po::options_description d("output");
  d.add_options()
      ("json,j", po::bool_switch(), "JSON instead of text")
      ("color", po::value<std::string>()->default_value("auto"), "auto, always or never")
      ("help,h", po::bool_switch(), "this help");
  return d;
}

vma::TextStyle style_from(const po::variables_map& vm) {
  std::string c = vm["color"].as<std::string>();
  if (c == "always") return {true};
  if (c == "never") return {false};
  if (c != "auto") fail(fmt::format("--color: expected auto, always or never, not \"{}\"", c));
  return {isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr};
}

po::options_description draw_options(bool with_mark) {
  po::options_description d("drawing");
  d.add_options()
      ("draw", po::bool_switch(), "draw the address space, sized to the terminal (else COLUMNS and LINES, else 80x40)")
      ("svg", po::value<std::string>(), "write the drawing as a standalone SVG file");
  if (with_mark) d.add_options()("mark", po::value<std::string>(), "with --draw or --svg: point at this address");
  return d;
}

/// --draw and --svg of `map`, pointing at `mark`. The terminal's size is
/// read here; the drawing is core's.
void draw(const po::variables_map& vm, const vma::AddressMap& map, bool color, std::optional<vma::Addr> mark,
          const std::string& label) {
  if (vm.count("svg")) {
    auto saved = vma::save_svg(map, vm["svg"].as<std::string>(), mark, label, input_files(vm));
    if (!saved) fail(saved.error().message);
  }
  if (vm["draw"].as<bool>()) {
    std::cout << vma::draw_map_text(map, vma::terminal_size(STDOUT_FILENO), color, mark, label);
  }
}

std::unique_ptr<vma::RegionSource> open_source(const po::variables_map& vm, bool full_map) {
  int n = static_cast<int>(vm.count("pid") + vm.count("maps") + vm.count("core"));
  if (n == 0) fail("no source: give --pid PID, --maps FILE or --core FILE");
  if (n > 1) fail("give only one of --pid, --maps and --core");
  // A live process is this machine's: its page size and VA layout are read,
  // not chosen.
  if (vm.count("arch") && vm.count("pid")) fail("--arch: not with --pid (a live process has this machine's architecture)");
  vma::Target target = vma::Target::host();
  if (vm.count("arch")) {
    auto t = vma::Target::parse(vm["arch"].as<std::string>());
    if (!t) fail(t.error().message);
    target = *t;
  }
  if (vm.count("core")) {
    std::optional<std::string> exe;
    if (vm.count("exe")) exe = vm["exe"].as<std::string>();
    auto src = vma::CoreSource::open(vm["core"].as<std::string>(), exe);
    if (!src) fail(src.error().message);
    if (vm.count("arch"))
      if (auto r = (*src)->use_target(target); !r) fail(r.error().message);
    warn_unusable_files(**src);
    return std::move(src).value();
  }
  if (vm.count("maps")) {
    auto src = vma::open_maps_file(vm["maps"].as<std::string>(), target);
    if (!src) fail(src.error().message);
    return std::move(src).value();
  }
  vma::ProcOptions opts;
  opts.scan_guard_pages = full_map;
  auto src = vma::ProcSource::open(vm["pid"].as<int>(), opts);
  if (!src) fail(src.error().message);
  stop_running_threads(**src);
  return std::move(src).value();
}

po::variables_map parse(const std::vector<std::string>& args, const po::options_description& visible,
                        const po::options_description& all, const po::positional_options_description* pos,
                        const char* usage_line) {
  po::variables_map vm;
  try {
    po::command_line_parser p(args);
    p.options(all);
    if (pos) p.positional(*pos);
    po::store(p.run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::string_view cmd(usage_line);
    cmd = cmd.substr(0, cmd.find(' ', 4));  // "vma whereis"
    fail(fmt::format("{} (see `{} --help`)", e.what(), cmd));
  }
  if (vm["help"].as<bool>()) {
    std::cout << "usage: " << usage_line << "\n\n" << visible;
    exit_checked(0);
  }
  return vm;
}

int cmd_whereis(const std::vector<std::string>& args) {
  po::options_description visible;
  visible.add(source_options()).add(output_options());
  po::options_description all = visible;
  all.add_options()("addr", po::value<std::vector<std::string>>(), "addresses");
  po::positional_options_description pos;
  pos.add("addr", -1);
  auto vm = parse(args, visible, all, &pos, "vma whereis [--pid PID | --maps FILE | --core FILE] [--json] ADDR...");
  if (!vm.count("addr")) fail("whereis: no address given");
  std::vector<vma::Addr> addrs;
  for (const std::string& s : vm["addr"].as<std::vector<std::string>>()) {
    std::string why;
    auto a = vma::parse_address(s, &why);
    if (!a) fail(why);
    addrs.push_back(*a);
  }
  auto style = style_from(vm);
  auto src = open_source(vm, false);
  vma::ElfCache cache;
  std::vector<vma::Annotation> out;
  for (vma::Addr a : addrs) {
    auto an = vma::whereis(*src, a, cache);
    if (!an) fail(an.error().message);
    out.push_back(std::move(an).value());
  }
  if (vm["json"].as<bool>()) std::cout << vma::to_text(vma::whereis_json(out)) << "\n";
  else std::cout << vma::whereis_text(out, style);
  return 0;
}

int cmd_map(const std::vector<std::string>& args) {
  po::options_description visible;
  visible.add(source_options()).add(output_options());
  po::options_description filt("filter");
  filt.add_options()
      ("kind,k", po::value<std::string>(), "only regions of this kind (see `vma kinds`)")
      ("gaps,g", po::bool_switch(), "show the unmapped gaps between regions")
      ("smaps", po::bool_switch(), "read smaps for VmFlags (slower)")
      ("no-guard-scan", po::bool_switch(), "do not look for MADV_GUARD_INSTALL pages in pagemap")
      ("legend", po::value<std::string>()->default_value("auto"),
       "end with the meaning of each kind shown: auto (on a terminal), always or never");
  visible.add(filt);
  visible.add(draw_options(true));
  auto vm = parse(args, visible, visible, nullptr,
                  "vma map [--pid PID | --maps FILE | --core FILE] [--json] [--kind K] [--gaps] "
                  "[--draw] [--svg FILE] [--mark ADDR]");
  const bool drawing = vm["draw"].as<bool>() || vm.count("svg");
  std::optional<vma::Addr> mark;
  if (vm.count("mark")) {
    if (!drawing) fail("--mark: give --draw or --svg FILE too");
    std::string why;
    mark = vma::parse_address(vm["mark"].as<std::string>(), &why);
    if (!mark) fail("--mark: " + why);
  }
  if (drawing && (vm["json"].as<bool>() || vm.count("kind") || vm["gaps"].as<bool>()))
    fail("--draw and --svg show the whole address space: not with --json, --kind or --gaps");
  vma::MapFilter filter;
  filter.gaps = vm["gaps"].as<bool>();
  if (vm.count("kind")) {
    auto k = vma::parse_region_kind(vm["kind"].as<std::string>());
    if (!k) fail(fmt::format("--kind: unknown kind \"{}\" (see `vma kinds`)", vm["kind"].as<std::string>()));
    filter.kind = *k;
  }
  auto style = style_from(vm);
  std::string legend = vm["legend"].as<std::string>();
  if (legend != "auto" && legend != "always" && legend != "never")
    fail(fmt::format("--legend: expected auto, always or never, not \"{}\"", legend));
  style.legend = legend == "always" || (legend == "auto" && isatty(STDOUT_FILENO) == 1);
  std::unique_ptr<vma::RegionSource> src;
  if (vm.count("pid") && !vm.count("maps") && !vm.count("core")) {
    if (vm.count("arch")) fail("--arch: not with --pid (a live process has this machine's architecture)");
    vma::ProcOptions opts;
    opts.read_smaps = vm["smaps"].as<bool>();
    opts.scan_guard_pages = !vm["no-guard-scan"].as<bool>();
    auto p = vma::ProcSource::open(vm["pid"].as<int>(), opts);
    if (!p) fail(p.error().message);
    stop_running_threads(**p);
    src = std::move(p).value();
  } else {
    src = open_source(vm, true);
  }
  auto snap = src->snapshot();
  if (!snap) fail(snap.error().message);
  vma::ElfCache cache;
  auto map = vma::AddressMap::build(std::move(snap).value(), cache);
  if (drawing) {
    draw(vm, map, style.color, mark, "mark");
  } else if (vm["json"].as<bool>()) {
    vma::write_map_json(std::cout, map, filter);
    std::cout << "\n";
  } else {
    vma::write_map_text(std::cout, map, filter, style);
  }
  return 0;
}

int cmd_fault(const std::vector<std::string>& args) {
  po::options_description visible("options");
  visible.add_options()
      ("core", po::value<std::string>(), "the core file")
      ("exe", po::value<std::string>(), "the main executable, when not at the path the core names");
  visible.add(output_options());
  visible.add(draw_options(false));
  auto vm = parse(args, visible, visible, nullptr, "vma fault --core FILE [--exe PATH] [--json] [--draw] [--svg FILE]");
  const bool drawing = vm["draw"].as<bool>() || vm.count("svg");
  if (drawing && vm["json"].as<bool>()) fail("--draw and --svg: not with --json");
  if (!vm.count("core")) fail("fault: give --core FILE (for a live process, use `vma fault` in LLDB or GDB)");
  std::optional<std::string> exe;
  if (vm.count("exe")) exe = vm["exe"].as<std::string>();
  const std::string path = vm["core"].as<std::string>();
  auto style = style_from(vm);
  auto src = vma::CoreSource::open(path, exe);
  if (!src) fail(src.error().message);
  warn_unusable_files(**src);
  auto fault = (*src)->fatal_fault();
  if (!fault) fail(fmt::format("{}: no fatal signal recorded (no NT_SIGINFO with a signal)", path));
  vma::ElfCache cache;
  if (!vma::is_memory_fault(fault->signo, fault->code)) {
    // An abort, a kill, a trap: nothing at si_addr to annotate.
    if (vm["json"].as<bool>()) {
      std::cout << vma::to_text(vma::not_a_fault_json(*fault)) << "\n";
      return 0;
    }
    std::cout << vma::not_a_fault_text(*fault);
    if (drawing) {
      auto snap = (*src)->snapshot();
      if (!snap) fail(snap.error().message);
      auto map = vma::AddressMap::build(std::move(snap).value(), cache);
      draw(vm, map, style.color, fault->pc, "pc");
    }
    return 0;
  }
  auto at = vma::whereis(**src, fault->addr.value_or(0), cache);
  if (!at) fail(at.error().message);
  if (vm["json"].as<bool>()) {
    std::cout << vma::to_text(vma::fault_json(*fault, *at)) << "\n";
    return 0;
  }
  std::cout << vma::fault_text(*fault, *at, style);
  if (drawing) {
    auto snap = (*src)->snapshot();
    if (!snap) fail(snap.error().message);
    auto map = vma::AddressMap::build(std::move(snap).value(), cache);
    draw(vm, map, style.color, fault->addr ? fault->addr : fault->pc, "fault");
  }
  return 0;
}

int cmd_kinds(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] != "--help" && args[0] != "-h") fail(fmt::format("kinds: unexpected argument \"{}\"", args[0]));
  std::cout << vma::legend_text({isatty(STDOUT_FILENO) == 1 && std::getenv("NO_COLOR") == nullptr});
  return 0;
}

}  // namespace

namespace {

int dispatch(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (cmd == "--version" || cmd == "-V") {
    std::puts("vma " VMAKIT_VERSION);
    return 0;
  }
  if (cmd == "whereis") return cmd_whereis(args);
  if (cmd == "map") return cmd_map(args);
  if (cmd == "fault") return cmd_fault(args);
  if (cmd == "kinds") return cmd_kinds(args);
  fail(fmt::format("unknown command \"{}\" (expected whereis, map, fault or kinds)", cmd));
}

/// fail() for what was written to stdout: a failed write is an error too.
[[noreturn]] void exit_checked(int code) {
  if (auto flushed = vma::flush_stdout(); !flushed) {
    std::fprintf(stderr, "vma: %s\n", flushed.error().message.c_str());
    std::_Exit(kExitUsage);
  }
  std::exit(code);
}

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  // Nothing escapes as an abort: a bug or an exhausted resource is one line.
  try {
    exit_checked(dispatch(argc, argv));
  } catch (const std::bad_alloc&) {
    std::fputs("vma: out of memory\n", stderr);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vma: internal error: %s\n", e.what());
  }
  return kExitUsage;
}
