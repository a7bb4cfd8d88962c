#include "process_view.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <string_view>

#include "debugger_symbols.h"
#include "proc_source.h"
#include "target.h"

namespace vma::lldb_plugin {

namespace {

/// A "Name:\tvalue" field of /proc/PID/status, or nullopt.
std::optional<long> status_field(long pid, std::string_view field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.size() > field.size() && line.starts_with(field) && line[field.size()] == ':') {
      try {
        return std::stol(line.substr(field.size() + 1));
      } catch (...) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

Result<Target> target_of(lldb::SBTarget& target, bool live_local) {
  if (live_local) return Target::host();
  const char* triple = target.GetTriple();
  std::string_view t = triple ? triple : "";
  if (t.starts_with("x86_64")) return Target::parse("x86_64");
  if (t.starts_with("aarch64") || t.starts_with("arm64")) return Target::parse("aarch64");
  return Error{"unsupported architecture '" + std::string(t) +
               "': vma knows x86_64 and aarch64"};
}

Result<std::unique_ptr<RegionSource>> lldb_list_source(lldb::SBTarget& target,
                                                       lldb::SBProcess& process) {
  Result<Target> t = target_of(target, false);
  if (!t) return t.error();
  std::string name = "LLDB region list";
  if (const char* plugin = process.GetPluginName()) name += std::string(" (") + plugin + ")";
  auto source = std::make_unique<ListSource>(lldb_regions(process), name, *t);
  std::optional<int> main_tid;
  const lldb::pid_t pid = process.GetProcessID();
  std::vector<ThreadInfo> threads = lldb_threads(process);
  for (const ThreadInfo& th : threads)
    if (pid != LLDB_INVALID_PROCESS_ID && static_cast<lldb::pid_t>(th.tid) == pid) main_tid = th.tid;
  source->set_threads(std::move(threads), main_tid);
  return std::unique_ptr<RegionSource>(std::move(source));
}

/// The core file LLDB has open, read by core's CoreSource with the target's
/// executable; nullptr when this is not a core, the file is not readable here
/// or CoreSource rejects it (then LLDB's region list is used instead).
/// `core` is set to the reader inside the returned source; `why` says why a
/// core file was not read.
std::unique_ptr<RegionSource> open_core(lldb::SBTarget& target, lldb::SBProcess& process,
                                        const CoreSource*& core, std::string& why) {
#ifdef VMAKIT_HAVE_CORE_SOURCE
  lldb::SBFileSpec core_file = process.GetCoreFile();
  if (!core_file.IsValid()) return nullptr;
  char path[4096];
  if (core_file.GetPath(path, sizeof path) == 0) return nullptr;
  std::optional<std::string> exe;
  lldb::SBFileSpec exe_file = target.GetExecutable();
  char exe_path[4096];
  if (exe_file.IsValid() && exe_file.Exists() && exe_file.GetPath(exe_path, sizeof exe_path) > 0)
    exe = exe_path;
  Result<std::unique_ptr<CoreSource>> opened = CoreSource::open(path, exe);
  if (!opened) {
    why = opened.error().message + "; using LLDB's region list";
    return nullptr;
  }
  core = opened->get();
  return std::move(*opened);
#else
  (void)target;
  (void)process;
  (void)core;
  (void)why;
  return nullptr;
#endif
}

std::string state_problem(lldb::SBProcess& process) {
  switch (process.GetState()) {
    case lldb::eStateStopped:
    case lldb::eStateCrashed:
    case lldb::eStateSuspended:
      return {};
    case lldb::eStateExited: {
      std::string msg = "process " + std::to_string(process.GetProcessID()) +
                        " exited with status " + std::to_string(process.GetExitStatus());
      return msg + "; there is no address space to look at";
    }
    case lldb::eStateRunning:
    case lldb::eStateStepping:
    case lldb::eStateLaunching:
    case lldb::eStateAttaching:
      return "process is running; stop it first (process interrupt)";
    case lldb::eStateDetached:
      return "process is detached";
    default:
      return "process is not stopped";
  }
}

}  // namespace

std::vector<ThreadInfo> lldb_threads(lldb::SBProcess& process) {
  std::vector<ThreadInfo> threads;
  const std::uint32_t n = process.GetNumThreads();
  for (std::uint32_t i = 0; i < n; ++i) {
    lldb::SBThread th = process.GetThreadAtIndex(i);
    if (!th.IsValid()) continue;
    ThreadInfo info;
    info.tid = static_cast<int>(th.GetThreadID());
    lldb::SBFrame frame = th.GetFrameAtIndex(0);
    if (frame.IsValid()) {
      const lldb::addr_t sp = frame.GetSP();
      if (sp != LLDB_INVALID_ADDRESS) info.sp = sp;
    }
    threads.push_back(info);
  }
  return threads;
}

namespace {

std::string_view base_name(std::string_view path) {
  const std::size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

/// Where LLDB loaded the file-backed sections of each module: enough to give
/// a VMA of a module its file offset.
class ModuleSections {
 public:
  explicit ModuleSections(lldb::SBTarget& target) {
    for (std::uint32_t i = 0; i < target.GetNumModules(); ++i) {
      lldb::SBModule module = target.GetModuleAtIndex(i);
      const char* name = module.GetFileSpec().GetFilename();
      if (name == nullptr) continue;
      std::vector<Span>& spans = by_name_[name];
      for (std::size_t j = 0; j < module.GetNumSections(); ++j)
        add(target, module.GetSectionAtIndex(j), spans);
    }
  }

  /// The file offset of `m.range.start`, from any section of the module
  /// named like `m` that lies in `m`: within one VMA, file offset and address
  /// move together. nullopt when LLDB loaded no such section there.
  std::optional<std::uint64_t> offset_of(const Mapping& m) const {
    auto it = by_name_.find(base_name(m.file_path()));
    if (it == by_name_.end()) return std::nullopt;
    for (const Span& s : it->second) {
      if (s.load + s.size <= m.range.start || s.load >= m.range.end) continue;
      if (s.file_offset + m.range.start < s.load) continue;
      return s.file_offset + m.range.start - s.load;
    }
    return std::nullopt;
  }

 private:
  struct Span {
    Addr load;
    std::uint64_t size, file_offset;
  };

  static void add(lldb::SBTarget& target, lldb::SBSection section, std::vector<Span>& spans) {
    if (!section.IsValid()) return;
    const lldb::addr_t load = section.GetLoadAddress(target);
    // Sections without file bytes (.bss, .tbss) say nothing about offsets.
    if (load != LLDB_INVALID_ADDRESS && section.GetFileByteSize() > 0)
      spans.push_back({load, section.GetFileByteSize(), section.GetFileOffset()});
    for (std::size_t k = 0; k < section.GetNumSubSections(); ++k)
      add(target, section.GetSubSectionAtIndex(k), spans);
  }

  std::map<std::string, std::vector<Span>, std::less<>> by_name_;
};

/// The PROT_NONE VMAs in the hole [lo, hi) between two regions LLDB lists.
///
/// lldb-server answers qMemoryRegionInfo for a PROT_NONE VMA without a
/// "permissions" key, and LLDB's client takes a range without permissions for
/// unmapped (GDBRemoteCommunicationClient::GetMemoryRegionInfo), so
/// GetMemoryRegions drops guard pages and arena reservations. They can be told
/// from gaps: for an address inside a VMA the server answers the VMA's bounds;
/// for an address in a gap, the range from that very address to the next VMA
/// (NativeProcessLinux::GetMemoryRegionInfo). So the hole is walked piece by
/// piece, and each piece is asked again one byte in: a VMA keeps its start, a
/// gap starts at the byte asked. Any other answer (another server) ends the
/// walk, losing only what it would have found.
void add_prot_none(lldb::SBProcess& process, Addr lo, Addr hi, std::vector<Mapping>& out) {
  Addr q = lo;
  for (int pieces = 0; q < hi && pieces < 64; ++pieces) {
    lldb::SBMemoryRegionInfo piece, probe;
    if (process.GetMemoryRegionInfo(q, piece).Fail() || piece.IsMapped() ||
        piece.GetRegionBase() != q || piece.GetRegionEnd() <= q)
      return;
    const Addr end = std::min<Addr>(piece.GetRegionEnd(), hi);
    if (process.GetMemoryRegionInfo(q + 1, probe).Fail()) return;
    if (probe.GetRegionBase() == q) {
      Mapping m;
      m.range = {q, end};
      if (const char* name = piece.GetName()) m.name = name;
      m.file_info_known = false;
      out.push_back(std::move(m));
    } else if (probe.GetRegionBase() != q + 1) {
      return;
    }
    q = end;
  }
}

}  // namespace

std::vector<Mapping> lldb_regions(lldb::SBProcess& process) {
  std::vector<Mapping> out;
  lldb::SBTarget target = process.GetTarget();
  const ModuleSections sections(target);
  lldb::SBMemoryRegionInfoList list = process.GetMemoryRegions();
  const std::uint32_t n = list.GetSize();
  for (std::uint32_t i = 0; i < n; ++i) {
    lldb::SBMemoryRegionInfo info;
    if (!list.GetMemoryRegionAtIndex(i, info) || !info.IsMapped()) continue;
    Mapping m;
    m.range = {info.GetRegionBase(), info.GetRegionEnd()};
    if (m.range.empty()) continue;
    if (info.IsReadable()) m.perms |= Perms::read;
    if (info.IsWritable()) m.perms |= Perms::write;
    if (info.IsExecutable()) m.perms |= Perms::exec;
    if (const char* name = info.GetName()) m.name = name;
    // The region list has no file offsets, and core needs one to match a VMA
    // to its ELF segment. LLDB knows where it loaded each module's sections:
    // that gives the offset. It stays a hint (file_info_known = false), so
    // annotations and JSON do not present it as read from the target.
    m.file_info_known = false;
    if (m.is_file())
      if (std::optional<std::uint64_t> off = sections.offset_of(m)) m.offset = *off;
    out.push_back(std::move(m));
  }
  // Guard pages and arena reservations, only over gdb-remote (cores list
  // PROT_NONE segments as mapped already).
  const char* plugin = process.GetPluginName();
  if (plugin != nullptr && std::string_view(plugin) == "gdb-remote") {
    const std::size_t listed = out.size();
    for (std::size_t i = 0; i + 1 < listed; ++i)
      if (out[i].range.end < out[i + 1].range.start)
        add_prot_none(process, out[i].range.end, out[i + 1].range.start, out);
    std::sort(out.begin(), out.end(),
              [](const Mapping& a, const Mapping& b) { return a.range.start < b.range.start; });
  }
  return out;
}

bool is_live_local(lldb::SBTarget& target, lldb::SBProcess& process) {
  lldb::SBPlatform platform = target.GetPlatform();
  const char* pname = platform.GetName();
  if (pname == nullptr || std::string_view(pname) != "host") return false;
  const lldb::pid_t pid = process.GetProcessID();
  if (pid == LLDB_INVALID_PROCESS_ID || pid == 0) return false;
  // Cores have a pid too; only a traced process is live.
  std::optional<long> tracer = status_field(static_cast<long>(pid), "TracerPid");
  if (!tracer || *tracer <= 0) return false;
  if (*tracer == static_cast<long>(getpid())) return true;
  std::optional<long> tracer_parent = status_field(*tracer, "PPid");
  return tracer_parent && *tracer_parent == static_cast<long>(getpid());
}

void fill_from_modules(Annotation& ann, lldb::SBTarget& target) {
  if (!ann.mapped || (!ann.section.empty() && !ann.symbol.empty())) return;
  lldb::SBAddress addr = target.ResolveLoadAddress(ann.untagged);
  if (!addr.IsValid()) return;
  DebuggerSymbol sym;
  lldb::SBSection section = addr.GetSection();
  if (section.IsValid() && section.GetName() != nullptr) sym.section = section.GetName();
  lldb::SBSymbol symbol = addr.GetSymbol();
  if (symbol.IsValid() && symbol.GetName() != nullptr) {
    const lldb::addr_t start = symbol.GetStartAddress().GetLoadAddress(target);
    if (start != LLDB_INVALID_ADDRESS && start <= ann.untagged) {
      sym.symbol = symbol.GetName();
      sym.symbol_offset = ann.untagged - start;
    }
  }
  add_debugger_symbol(ann, sym);
}

ProcessView::ProcessView(lldb::SBProcess process, bool live_local,
                         std::unique_ptr<RegionSource> source, const CoreSource* core)
    : process_(std::move(process)),
      live_local_(live_local),
      source_(std::move(source)),
      core_(core) {}

Result<const AddressMap*> ProcessView::address_map(ElfCache& elf_cache) {
  if (!map_) {
    Result<Snapshot> snap = source_->snapshot();
    if (!snap) return snap.error();
    map_ = AddressMap::build(std::move(*snap), elf_cache);
  }
  return &*map_;
}

Result<Annotation> ProcessView::annotate_address(Addr a, ElfCache& elf_cache) {
  if (live_local_) return whereis(*source_, a, elf_cache);
  Result<const AddressMap*> map = address_map(elf_cache);
  if (!map) return map.error();
  Annotation ann = annotate(**map, a);
  lldb::SBTarget target = process_.GetTarget();
  fill_from_modules(ann, target);
  return ann;
}

Result<ProcessView*> StopCache::current(lldb::SBDebugger& debugger) {
  lldb::SBTarget target = debugger.GetSelectedTarget();
  if (!target.IsValid())
    return Error{"no target: create one with 'target create FILE', 'process attach' or 'target create --core FILE'"};
  lldb::SBProcess process = target.GetProcess();
  if (!process.IsValid())
    return Error{"no process: run the target ('process launch'), attach to one, or load a core"};
  if (std::string problem = state_problem(process); !problem.empty()) return Error{problem};

  // The unique id tells processes of one session apart (a relaunch gets a
  // new one); expression stops count, since a called function may map memory.
  const Key key{process.GetUniqueID(), process.GetStopID(/*include_expression_stops=*/true)};
  if (view_ && key_ == key) return view_.get();
  view_.reset();
  key_.reset();

  std::unique_ptr<RegionSource> source;
  const CoreSource* core = nullptr;
  std::string note;
  const bool local = is_live_local(target, process);
  if (local) {
    Result<std::unique_ptr<ProcSource>> proc =
        ProcSource::open(static_cast<int>(process.GetProcessID()));
    if (!proc) return proc.error();
    (*proc)->set_threads(lldb_threads(process));
    source = std::move(*proc);
  } else if (std::unique_ptr<RegionSource> core_source = open_core(target, process, core, note)) {
    source = std::move(core_source);
  } else {
    Result<std::unique_ptr<RegionSource>> list = lldb_list_source(target, process);
    if (!list) return list.error();
    source = std::move(*list);
  }
  view_ = std::make_unique<ProcessView>(process, local, std::move(source), core);
  view_->set_note(std::move(note));
  key_ = key;
  return view_.get();
}

}  // namespace vma::lldb_plugin
