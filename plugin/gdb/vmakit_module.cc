/// \file
/// `_vmakit`: the Python module GDB's embedded Python imports (vma-gdb.py).
/// It holds no decisions: it turns what the Python layer gathered from GDB
/// (a pid, maps text, threads' stack pointers, $_siginfo fields) into core
/// calls and hands back core's rendered text or JSON, exactly as the CLI
/// prints it. Expected failures (core's Result errors, bad arguments) raise
/// `_vmakit.Error`; the Python layer turns that into gdb.GdbError. No other
/// C++ exception is let out: pybind11 would turn it into a Python exception,
/// but a message like "std::bad_alloc" helps nobody, so every entry point
/// goes through `guarded()`.

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <unistd.h>

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "address_map.h"
#include "annotation.h"
#include "debugger_symbols.h"
#include "draw.h"
#include "proc_source.h"
#include "region_kind.h"
#include "region_source.h"
#include "outside_text.h"
#include "render.h"
#include "signals.h"
#include "target.h"

// Core files: core's CoreSource (issue 7) when core/ builds it (CMake sets
// VMAKIT_HAVE_CORE_SOURCE); without it vma-gdb.py falls back to GDB's own
// region list for cores.
#ifndef VMAKIT_HAVE_CORE_SOURCE
#define VMAKIT_HAVE_CORE_SOURCE 0
#endif
#if VMAKIT_HAVE_CORE_SOURCE
#include "core_source.h"
#endif

namespace py = pybind11;

namespace {

/// An expected failure with a message for the user; becomes `_vmakit.Error`.
/// Its message quotes what was read (a remote map's bad token, a path):
/// made safe for a terminal like every outside string.
struct VmaError : std::runtime_error {
  explicit VmaError(const std::string& message) : std::runtime_error(vma::safe_text(message)) {}
};

template <typename T>
T take(vma::Result<T> r) {
  if (!r) throw VmaError(r.error().message);
  return std::move(r).value();
}

/// Runs `f`, turning any exception other than VmaError and Python's own into
/// a VmaError that says which command failed.
template <typename F>
auto guarded(const char* what, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const VmaError&) {
    throw;
  } catch (const py::error_already_set&) {
    throw;
  } catch (const std::exception& e) {
    throw VmaError(std::string(what) + ": internal error: " + e.what());
  }
}

/// (tid, sp or None) pairs, as the Python layer gathers them from GDB.
using ThreadList = std::vector<std::pair<int, std::optional<vma::Addr>>>;

std::vector<vma::ThreadInfo> to_threads(const ThreadList& list) {
  std::vector<vma::ThreadInfo> out;
  out.reserve(list.size());
  for (const auto& [tid, sp] : list) out.push_back(vma::ThreadInfo{tid, sp});
  return out;
}

/// Target from GDB's architecture name and what the remote side said;
/// `arch` empty means this machine.
vma::Target make_target(const std::string& arch, std::optional<vma::Addr> mmap_min_addr) {
  vma::Target t = vma::Target::host();
  if (!arch.empty()) {
    t = take(vma::Target::parse(arch));
    // Page size and mmap_min_addr of a remote are not known here; the host's
    // are the best guess unless the caller read the remote's sysctl.
    t.page_size = vma::Target::host().page_size;
    t.mmap_min_addr = vma::Target::host().mmap_min_addr;
  }
  if (mmap_min_addr) t.mmap_min_addr = *mmap_min_addr;
  return t;
}

/// Text for gdb.write(), which takes str: names from the target need not be
/// UTF-8 (a path is bytes), and pybind11's own conversion would raise
/// UnicodeDecodeError. Bytes that are not UTF-8 become \xNN escapes, so the
/// user still sees which bytes they were; JSON replaced them with U+FFFD
/// already (vma::to_text), like every front end.
py::str gdb_text(const std::string& s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "backslashreplace");
  if (o == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}

/// (section, symbol, offset or None) as GDB's `info symbol` says it.
using SymbolRow = std::tuple<std::string, std::string, std::optional<std::uint64_t>>;

void add_symbol(vma::Annotation& ann, const SymbolRow& row) {
  const auto& [section, symbol, offset] = row;
  if (section.empty() && symbol.empty()) return;
  vma::add_debugger_symbol(ann, vma::DebuggerSymbol{section, symbol, offset});
}

/// One region source plus the ELF cache that lives as long as it does. The
/// Python layer makes one per command; nothing is cached across stops.
class Source {
 public:
  /// A live local process: core's ProcSource fast path.
  static std::unique_ptr<Source> pid(int pid, const ThreadList& threads) {
    return guarded("vma", [&] {
      auto proc = take(vma::ProcSource::open(pid));
      if (!threads.empty()) proc->set_threads(to_threads(threads));
      return std::unique_ptr<Source>(new Source(std::move(proc)));
    });
  }

  /// Maps text (a remote's /proc/PID/maps read through GDB). `arch` is a
  /// core Target name ("x86_64"), empty for this machine.
  static std::unique_ptr<Source> maps_text(std::string text, std::string name,
                                           const ThreadList& threads,
                                           std::optional<int> main_tid,
                                           const std::string& arch,
                                           std::optional<vma::Addr> mmap_min_addr) {
    return guarded("vma", [&] {
      auto src = std::make_unique<vma::TextSource>(std::move(text), std::move(name),
                                                   make_target(arch, mmap_min_addr));
      if (!threads.empty() || main_tid) src->set_threads(to_threads(threads), main_tid);
      return std::unique_ptr<Source>(new Source(std::move(src)));
    });
  }

  /// A region list from a debugger (GDB's `info proc mappings` on a core):
  /// (start, end, perms "r-xp", offset or None, name) tuples.
  using Row = std::tuple<vma::Addr, vma::Addr, std::string, std::optional<std::uint64_t>, std::string>;
  static std::unique_ptr<Source> regions(const std::vector<Row>& rows, std::string name,
                                         const ThreadList& threads,
                                         std::optional<int> main_tid,
                                         const std::string& arch) {
    return guarded("vma", [&] {
      std::vector<vma::Mapping> mappings;
      mappings.reserve(rows.size());
      for (const auto& [start, end, perms, offset, path] : rows) {
        auto p = vma::parse_perms(perms);
        if (!p) throw VmaError(name + ": bad permissions \"" + perms + "\" for region " + vma::hex(start));
        vma::Mapping m;
        m.range = {start, end};
        m.perms = *p;
        m.offset = offset.value_or(0);
        m.name = path;
        m.file_info_known = false;
        mappings.push_back(std::move(m));
      }
      auto src = std::make_unique<vma::ListSource>(std::move(mappings), std::move(name),
                                                   make_target(arch, std::nullopt));
      if (!threads.empty() || main_tid) src->set_threads(to_threads(threads), main_tid);
      return std::unique_ptr<Source>(new Source(std::move(src)));
    });
  }

#if VMAKIT_HAVE_CORE_SOURCE
  /// A core file, read by core's core-file source.
  static std::unique_ptr<Source> core(const std::string& path, const std::string& exe);
#endif

  py::str describe() const { return gdb_text(src_->describe()); }

  /// `symbols`, when given, holds what GDB knows about each address
  /// (section, symbol, offset) for sources whose ELF files core cannot read
  /// (remote, core); core's own ELF reading wins where it has an answer.
  py::str whereis(const std::vector<vma::Addr>& addrs, bool json, bool color,
                  const std::optional<std::vector<SymbolRow>>& symbols) {
    return gdb_text(guarded("vma whereis", [&] {
      if (symbols && symbols->size() != addrs.size())
        throw VmaError("vma whereis: one symbol row per address expected");
      std::vector<vma::Annotation> as;
      as.reserve(addrs.size());
      for (std::size_t i = 0; i < addrs.size(); ++i) {
        as.push_back(take(vma::whereis(*src_, addrs[i], cache_)));
        if (symbols) add_symbol(as.back(), (*symbols)[i]);
      }
      if (json) return vma::to_text(vma::whereis_json(as));
      return vma::whereis_text(as, vma::TextStyle{color});
    }));
  }

  /// `draw`: the drawing sized to the terminal (see vma::terminal_size);
  /// `svg`: a path to write the drawing to; `mark`: an address to point at.
  py::str map(bool json, const std::optional<std::string>& kind, bool gaps, bool color, bool draw,
              const std::optional<std::string>& svg, std::optional<vma::Addr> mark) {
    return gdb_text(guarded("vma map", [&] {
      vma::MapFilter filter;
      filter.gaps = gaps;
      if (kind) filter.kind = parse_kind(*kind);
      auto map = vma::AddressMap::build(take(src_->snapshot()), cache_);
      if (draw || svg) return drawing(map, draw, svg, color, mark, "mark");
      if (json) return vma::map_json_text(map, filter);
      return vma::map_text(map, filter, vma::TextStyle{color});
    }));
  }

  /// The fault described by $_siginfo. `si_addr` is the raw field; core's
  /// siginfo_has_address() says whether it means anything. The annotation is
  /// of that address when it does, else of the pc.
  py::str fault(int signo, int code, std::optional<vma::Addr> si_addr,
                std::optional<vma::Addr> pc, std::string instruction, bool json,
                bool color, const std::optional<SymbolRow>& symbol, bool draw,
                const std::optional<std::string>& svg) {
    return gdb_text(guarded("vma fault", [&] {
      std::optional<vma::Addr> addr;
      if (vma::siginfo_has_address(signo, code)) addr = si_addr;
      vma::Fault f;
      f.signo = signo;
      f.code = code;
      f.addr = addr;
      f.pc = pc;
      f.instruction = std::move(instruction);
      if (!vma::is_memory_fault(signo, code)) {
        // `starti`, a breakpoint, a SIGSTOP: nothing at si_addr to annotate.
        if (json) return vma::to_text(vma::not_a_fault_json(f));
        std::string text = vma::not_a_fault_text(f);
        if (draw || svg) {
          auto map = vma::AddressMap::build(take(src_->snapshot()), cache_);
          text += drawing(map, draw, svg, color, pc, "pc");
        }
        return text;
      }
      vma::Annotation at;
      if (addr || pc) at = take(vma::whereis(*src_, addr ? *addr : *pc, cache_));
      if (symbol) add_symbol(at, *symbol);
      if (json) return vma::to_text(vma::fault_json(f, at));
      std::string text = vma::fault_text(f, at, vma::TextStyle{color});
      if (draw || svg) {
        auto map = vma::AddressMap::build(take(src_->snapshot()), cache_);
        text += drawing(map, draw, svg, color, addr ? addr : pc, "fault");
      }
      return text;
    }));
  }

  /// --svg and --draw: writes the SVG, returns the text drawing (or "").
  static std::string drawing(const vma::AddressMap& map, bool draw, const std::optional<std::string>& svg,
                             bool color, std::optional<vma::Addr> mark, const std::string& label) {
    if (svg)
      if (vma::Result<void> saved = vma::save_svg(map, *svg, mark, label); !saved) throw VmaError(saved.error().message);
    return draw ? vma::draw_map_text(map, vma::terminal_size(STDOUT_FILENO), color, mark, label) : std::string();
  }

  static vma::RegionKind parse_kind(const std::string& name) {
    if (auto k = vma::parse_region_kind(name)) return *k;
    std::string known;
    for (const auto& i : vma::region_kinds()) {
      if (!known.empty()) known += ", ";
      known += i.name;
    }
    throw VmaError("unknown region kind \"" + name + "\" (one of: " + known + ")");
  }

 private:
  explicit Source(std::unique_ptr<vma::RegionSource> src) : src_(std::move(src)) {}

  std::unique_ptr<vma::RegionSource> src_;
  vma::ElfCache cache_;
};

#if VMAKIT_HAVE_CORE_SOURCE
std::unique_ptr<Source> Source::core(const std::string& path, const std::string& exe) {
  return guarded("vma", [&] {
    std::optional<std::string> exe_path;
    if (!exe.empty()) exe_path = exe;
    auto src = take(vma::CoreSource::open(path, exe_path));
    return std::unique_ptr<Source>(new Source(std::move(src)));
  });
}
#endif

}  // namespace

PYBIND11_MODULE(_vmakit, m) {
  m.doc() = "vmakit core for GDB's Python: what is at this address?";

  static py::exception<VmaError> error(m, "Error");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const VmaError& e) {
      error(e.what());
    }
  });

  // The Python this module was compiled against; the test and vma-gdb.py
  // compare it with the Python GDB embeds.
  m.attr("python_version") = PY_VERSION;
  m.attr("has_core_source") = bool(VMAKIT_HAVE_CORE_SOURCE);

  py::class_<Source>(m, "Source")
      .def_static("pid", &Source::pid, py::arg("pid"), py::arg("threads") = ThreadList{},
                  "A live local process; threads are (tid, sp) pairs from the debugger.")
      .def_static("maps_text", &Source::maps_text, py::arg("text"), py::arg("name"),
                  py::arg("threads") = ThreadList{}, py::arg("main_tid") = std::nullopt,
                  py::arg("arch") = std::string(), py::arg("mmap_min_addr") = std::nullopt,
                  "/proc/PID/maps text read through the debugger (a remote target).")
      .def_static("regions", &Source::regions, py::arg("rows"), py::arg("name"),
                  py::arg("threads") = ThreadList{}, py::arg("main_tid") = std::nullopt,
                  py::arg("arch") = std::string(),
                  "A debugger's region list: (start, end, perms, offset, name) rows.")
#if VMAKIT_HAVE_CORE_SOURCE
      .def_static("core", &Source::core, py::arg("path"), py::arg("exe") = std::string(),
                  "A core file.")
#endif
      .def("describe", &Source::describe)
      .def("whereis", &Source::whereis, py::arg("addrs"), py::arg("json") = false,
           py::arg("color") = false, py::arg("symbols") = std::nullopt)
      .def("map", &Source::map, py::arg("json") = false, py::arg("kind") = std::nullopt,
           py::arg("gaps") = false, py::arg("color") = false, py::arg("draw") = false,
           py::arg("svg") = std::nullopt, py::arg("mark") = std::nullopt)
      .def("fault", &Source::fault, py::arg("signo"), py::arg("code"), py::arg("si_addr"),
           py::arg("pc"), py::arg("instruction") = std::string(), py::arg("json") = false,
           py::arg("color") = false, py::arg("symbol") = std::nullopt, py::arg("draw") = false,
           py::arg("svg") = std::nullopt);

  m.def("signal_name", [](int signo) { return vma::signal_name(signo); });
  m.def("si_code_name", [](int signo, int code) { return vma::si_code_name(signo, code); });
  m.def("siginfo_has_address", &vma::siginfo_has_address, py::arg("signo"), py::arg("code"));
  m.def("region_kind_names", [] {
    std::vector<std::string> names;
    for (const auto& i : vma::region_kinds()) names.emplace_back(i.name);
    return names;
  });
  m.def("legend_text", [](bool color) { return vma::legend_text(vma::TextStyle{color}); },
        py::arg("color") = false);
  m.def("check_kind", [](const std::string& name) {
    return guarded("vma map", [&] { return std::string(vma::to_string(Source::parse_kind(name))); });
  });
}
