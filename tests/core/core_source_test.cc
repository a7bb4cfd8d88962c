// Unit tests for vma::CoreSource on synthetic cores built in memory: every
// note the reader decodes, the pseudo-name rules, and one exact error message
// per kind of bad input (empty, garbage, not a core, truncated in each
// structure, malformed notes), plus every-prefix and byte-flip sweeps that
// must never crash (run them under VMAKIT_SANITIZE=ON to catch bad reads).
#include <catch2/catch.hpp>

#include <elf.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "core_source.h"

namespace {

// ---- a small core writer (writing bytes, not parsing them) ---------------

template <typename T>
void put(std::string& s, std::size_t at, const T& v) {
  if (s.size() < at + sizeof v) s.resize(at + sizeof v);
  std::memcpy(s.data() + at, &v, sizeof v);
}
template <typename T>
void append(std::string& s, const T& v) { put(s, s.size(), v); }

struct Note {
  std::string owner;
  std::uint32_t type;
  std::string desc;
};

struct Load {
  std::uint64_t vaddr, memsz;
  std::uint32_t flags;
  std::string data;  // dumped bytes (p_filesz = data.size())
};

struct CoreSpec {
  std::uint16_t machine = EM_X86_64;
  std::uint16_t type = ET_CORE;
  unsigned char cls = ELFCLASS64;
  std::vector<Note> notes;
  std::vector<Load> loads;
};

std::string note_bytes(const Note& n) {
  std::string s;
  Elf64_Nhdr h{static_cast<Elf64_Word>(n.owner.size() + 1), static_cast<Elf64_Word>(n.desc.size()), n.type};
  append(s, h);
  s += n.owner;
  s.push_back('\0');
  s.resize((s.size() + 3) & ~std::size_t{3});
  s += n.desc;
  s.resize((s.size() + 3) & ~std::size_t{3});
  return s;
}

struct Built {
  std::string bytes;
  std::uint64_t notes_offset = 0, notes_size = 0;
  std::vector<std::uint64_t> load_offsets;
};

Built build(const CoreSpec& spec) {
  Built b;
  std::string notes;
  for (const Note& n : spec.notes) notes += note_bytes(n);
  const std::size_t phnum = 1 + spec.loads.size();
  const std::uint64_t phoff = sizeof(Elf64_Ehdr);
  b.notes_offset = phoff + phnum * sizeof(Elf64_Phdr);
  b.notes_size = notes.size();
  std::uint64_t data_off = (b.notes_offset + notes.size() + 15) & ~std::uint64_t{15};

  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = spec.cls;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = spec.type;
  eh.e_machine = spec.machine;
  eh.e_version = EV_CURRENT;
  eh.e_phoff = phoff;
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = static_cast<Elf64_Half>(phnum);
  put(b.bytes, 0, eh);

  Elf64_Phdr note{};
  note.p_type = PT_NOTE;
  note.p_offset = b.notes_offset;
  note.p_filesz = notes.size();
  note.p_align = 4;
  put(b.bytes, phoff, note);
  for (std::size_t i = 0; i < spec.loads.size(); ++i) {
    const Load& l = spec.loads[i];
    Elf64_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_flags = l.flags;
    ph.p_vaddr = l.vaddr;
    ph.p_memsz = l.memsz;
    ph.p_filesz = l.data.size();
    ph.p_offset = l.data.empty() ? 0 : data_off;
    ph.p_align = 0x1000;
    b.load_offsets.push_back(ph.p_offset);
    put(b.bytes, phoff + (i + 1) * sizeof(Elf64_Phdr), ph);
    if (!l.data.empty()) {
      b.bytes.resize(data_off);
      b.bytes += l.data;
      data_off = (data_off + l.data.size() + 15) & ~std::uint64_t{15};
    }
  }
  b.bytes.resize(std::max<std::uint64_t>(b.bytes.size(), b.notes_offset));
  b.bytes.replace(b.notes_offset, notes.size(), notes);
  return b;
}

std::string u64(std::uint64_t v) {
  std::string s;
  append(s, v);
  return s;
}

// struct elf_prstatus, 64-bit: pr_cursig at 12, pr_pid at 32, pr_reg at 112.
std::string prstatus(int tid, int cursig, std::uint64_t sp, std::uint64_t pc, bool aarch64 = false) {
  const std::size_t nregs = aarch64 ? 34 : 27;
  std::string d(112 + nregs * 8 + 8, '\0');
  put(d, 12, static_cast<std::int16_t>(cursig));
  put(d, 32, static_cast<std::int32_t>(tid));
  put(d, 112 + (aarch64 ? 31 : 19) * 8, sp);
  put(d, 112 + (aarch64 ? 32 : 16) * 8, pc);
  return d;
}
std::string prpsinfo(int pid) {
  std::string d(136, '\0');
  put(d, 24, static_cast<std::int32_t>(pid));
  return d;
}
std::string siginfo(int signo, int code, std::uint64_t addr) {
  std::string d(128, '\0');
  put(d, 0, static_cast<std::int32_t>(signo));
  put(d, 8, static_cast<std::int32_t>(code));
  put(d, 16, addr);
  return d;
}
std::string auxv(std::vector<std::pair<std::uint64_t, std::uint64_t>> kv) {
  std::string d;
  for (auto [k, v] : kv) d += u64(k) + u64(v);
  return d + u64(AT_NULL) + u64(0);
}
struct FileEnt {
  std::uint64_t start, end, pgoff;
  std::string name;
};
std::string nt_file(std::vector<FileEnt> es, std::uint64_t page = 4096) {
  std::string d = u64(es.size()) + u64(page);
  for (auto& e : es) d += u64(e.start) + u64(e.end) + u64(e.pgoff);
  for (auto& e : es) d += e.name + std::string(1, '\0');
  return d;
}

constexpr std::uint64_t kExe = 0x555555554000;
constexpr std::uint64_t kHeap = 0x555555600000;
constexpr std::uint64_t kLib = 0x7ffff7d00000;
constexpr std::uint64_t kMemfd = 0x7ffff7d10000;
constexpr std::uint64_t kGuard = 0x7ffff7e00000;
constexpr std::uint64_t kVvar = 0x7ffff7fc0000;
constexpr std::uint64_t kVdso = 0x7ffff7fc6000;
constexpr std::uint64_t kStack = 0x7ffffffde000;
constexpr std::uint64_t kExecfn = kStack + 0x20f00;
constexpr std::uint64_t kFaultAddr = kExe + 0x1123;
const std::string kExePath = "/nonexistent/vmakit-exe";

// A kernel-like core of a two-thread process: thread 101 took SIGSEGV
// (so comes first), 100 is the main thread.
CoreSpec typical_spec() {
  CoreSpec s;
  s.notes = {
      {"CORE", NT_PRSTATUS, prstatus(101, SIGSEGV, kGuard + 0x7f00, kExe + 0x1100)},
      {"CORE", NT_PRPSINFO, prpsinfo(100)},
      {"CORE", 0x53494749, siginfo(SIGSEGV, 2 /*SEGV_ACCERR*/, kFaultAddr)},
      {"CORE", NT_AUXV,
       auxv({{AT_SYSINFO_EHDR, kVdso}, {AT_PHDR, kExe + 0x40}, {AT_ENTRY, kExe + 0x1040},
             {AT_RANDOM, kExecfn - 0x100}, {AT_EXECFN, kExecfn}})},
      {"CORE", 0x46494c45,
       nt_file({{kExe, kExe + 0x1000, 0, kExePath},
                {kExe + 0x1000, kExe + 0x2000, 1, kExePath},
                {kExe + 0x2000, kExe + 0x3000, 2, kExePath},
                {kExe + 0x3000, kExe + 0x4000, 2, kExePath},
                {kExe + 0x4000, kExe + 0x5000, 3, kExePath},
                {kLib, kLib + 0x2000, 0x10, "/nonexistent/lib with space.so"},
                {kMemfd, kMemfd + 0x1000, 0, "/memfd:vmakit (deleted)"}})},
      {"CORE", NT_PRSTATUS, prstatus(100, 0, kStack + 0x20000, kLib + 0x10)},
      {"LINUX", 0x202, std::string(64, 'x')},  // NT_X86_XSTATE: ignored
  };
  std::string stack_data(0x21000, '\0');
  std::memcpy(stack_data.data() + (kExecfn - kStack), "/tmp/vmakit-exe", 16);
  s.loads = {
      {kExe, 0x1000, PF_R, ""},
      {kExe + 0x1000, 0x1000, PF_R | PF_X, ""},
      {kExe + 0x2000, 0x1000, PF_R, ""},
      {kExe + 0x3000, 0x1000, PF_R, ""},
      {kExe + 0x4000, 0x1000, PF_R | PF_W, ""},
      {kExe + 0x5000, 0x2000, PF_R | PF_W, ""},  // .bss
      {kHeap, 0x21000, PF_R | PF_W, ""},
      {kLib, 0x2000, PF_R | PF_W, ""},
      {kMemfd, 0x1000, PF_R | PF_W, ""},
      {kGuard - 0x1000, 0x1000, 0, ""},  // PROT_NONE
      {kGuard, 0x8000, PF_R | PF_W, ""},
      {kVvar, 0x4000, PF_R, ""},
      {kVvar + 0x4000, 0x2000, PF_R, ""},
      {kVdso, 0x2000, PF_R | PF_X, ""},
      {kStack, 0x21000, PF_R | PF_W, stack_data},
      {0xffffffffff600000, 0x1000, PF_X, ""},
  };
  return s;
}

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& bytes) {
    char tmpl[] = "/tmp/vmakit-core-test-XXXXXX";
    int fd = mkstemp(tmpl);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
    close(fd);
    path = tmpl;
  }
  ~TempFile() { unlink(path.c_str()); }
};

std::string open_error(const std::string& bytes) {
  TempFile f(bytes);
  auto r = vma::CoreSource::open(f.path);
  if (r) return "(opened)";
  std::string m = r.error().message;
  // Messages start with the path; replace it so tests can compare verbatim.
  if (m.starts_with(f.path)) m = "CORE" + m.substr(f.path.size());
  return m;
}

const vma::Mapping* at(const vma::Snapshot& s, vma::Addr a) {
  for (const auto& m : s.mappings)
    if (m.range.contains(a)) return &m;
  return nullptr;
}

}  // namespace

TEST_CASE("a typical x86_64 core: mappings, names, threads, fault", "[core]") {
  TempFile f(build(typical_spec()).bytes);
  auto src = vma::CoreSource::open(f.path);
  REQUIRE(src.ok());
  auto snap = (*src)->snapshot();
  REQUIRE(snap.ok());
  const vma::Snapshot& s = *snap;

  CHECK(s.target.arch == vma::Arch::x86_64);
  CHECK(s.target.va_bits == 47);
  CHECK(s.target.page_size == 4096);
  CHECK(s.source == "core file " + f.path);
  CHECK(s.mappings.size() == 16);
  for (std::size_t i = 1; i < s.mappings.size(); ++i)
    CHECK(s.mappings[i - 1].range.end <= s.mappings[i].range.start);

  auto rows = GENERATE_COPY(table<vma::Addr, std::string, std::uint64_t, std::string>({
      {kExe, "r--p", 0, kExePath},
      {kExe + 0x1000, "r-xp", 0x1000, kExePath},
      {kExe + 0x3000, "r--p", 0x2000, kExePath},  // RELRO: same offset as its neighbour
      {kExe + 0x4000, "rw-p", 0x3000, kExePath},
      {kExe + 0x5000, "rw-p", 0, ""},             // .bss: directly after the image, not heap
      {kHeap, "rw-p", 0, "[heap]"},
      {kLib + 0x1000, "rw-p", 0x10000, "/nonexistent/lib with space.so"},
      {kMemfd, "rw-s", 0, "/memfd:vmakit (deleted)"},
      {kGuard - 0x1000, "---p", 0, ""},
      {kGuard, "rw-p", 0, ""},
      {kVvar, "r--p", 0, "[vvar]"},
      {kVvar + 0x4000, "r--p", 0, "[vvar_vclock]"},
      {kVdso, "r-xp", 0, "[vdso]"},
      {kStack + 0x100, "rw-p", 0, "[stack]"},
      {0xffffffffff600000, "--xp", 0, "[vsyscall]"},
  }));
  const auto& [addr, perms, offset, name] = rows;
  CAPTURE(vma::hex(addr));
  const vma::Mapping* m = at(s, addr);
  REQUIRE(m);
  CHECK(vma::to_string(m->perms) == perms);
  CHECK(m->offset == offset);
  CHECK(m->name == name);
  CHECK(m->file_info_known);
  CHECK(m->inode == 0);

  REQUIRE(s.threads.size() == 2);
  CHECK(s.threads[0].tid == 101);
  CHECK(s.threads[0].sp == kGuard + 0x7f00);
  CHECK(s.threads[1].tid == 100);
  CHECK(s.threads_known);
  CHECK(s.main_tid == 100);  // NT_PRPSINFO's pid, not the first (faulting) thread
  CHECK_FALSE(s.guard_pages_scanned);

  auto fault = (*src)->fatal_fault();
  REQUIRE(fault);
  CHECK(fault->signo == SIGSEGV);
  CHECK(fault->code == 2);
  CHECK(fault->addr == kFaultAddr);
  CHECK(fault->pc == kExe + 0x1100);
  CHECK((*src)->fatal_tid() == 101);
  CHECK((*src)->pid() == 100);
  CHECK((*src)->executable() == kExePath);
  CHECK((*src)->read_memory(kExecfn, 16) == std::string("/tmp/vmakit-exe\0", 16));
  CHECK_FALSE((*src)->read_memory(kHeap, 1));  // not dumped
}

TEST_CASE("files a core names are used only when fit", "[core]") {
  TempFile f(build(typical_spec()).bytes);
  auto src = vma::CoreSource::open(f.path);
  REQUIRE(src.ok());
  const auto& checks = (*src)->file_checks();
  REQUIRE(checks.size() == 3);
  for (const auto& c : checks) {
    CAPTURE(c.path);
    CHECK_FALSE(c.usable());
  }
  CHECK(checks[0].describe() == "not used: /nonexistent/vmakit-exe cannot be opened here");
  CHECK(checks[2].describe() == "not used: the file was deleted");
  auto snap = (*src)->snapshot();
  REQUIRE(snap.ok());
  CHECK_FALSE(snap->files->host_path(*at(*snap, kExe)));
}

TEST_CASE("an --exe path replaces the executable's path, /bin/true has no build-id in this core", "[core]") {
  TempFile f(build(typical_spec()).bytes);
  auto src = vma::CoreSource::open(f.path, std::string("/bin/true"));
  REQUIRE(src.ok());
  const auto& c = (*src)->file_checks().at(0);
  CHECK(c.path == kExePath);
  CHECK(c.host_path == "/bin/true");
  CHECK(c.status == vma::CoreFileCheck::Status::no_build_id);
  auto snap = (*src)->snapshot();
  REQUIRE(snap.ok());
  CHECK(snap->files->host_path(*at(*snap, kExe)) == "/bin/true");
}

TEST_CASE("without NT_FILE: no names but the pseudo ones, file info unknown", "[core]") {
  CoreSpec spec = typical_spec();
  std::erase_if(spec.notes, [](const Note& n) { return n.type == 0x46494c45; });
  TempFile f(build(spec).bytes);
  auto src = vma::CoreSource::open(f.path);
  REQUIRE(src.ok());
  CHECK_FALSE((*src)->has_file_note());
  // The executable's name comes from the AT_EXECFN string on the stack.
  CHECK((*src)->executable() == "/tmp/vmakit-exe");
  auto snap = (*src)->snapshot();
  REQUIRE(snap.ok());
  CHECK(at(*snap, kExe)->name.empty());
  CHECK_FALSE(at(*snap, kExe)->file_info_known);
  CHECK(at(*snap, kStack)->name == "[stack]");
  CHECK(at(*snap, kVdso)->name == "[vdso]");
}

TEST_CASE("aarch64: SP and PC from user_pt_regs, 48-bit VAs", "[core]") {
  CoreSpec s;
  s.machine = EM_AARCH64;
  s.notes = {{"CORE", NT_PRSTATUS, prstatus(7, 0, 0xffffc0001000, 0xaaaa00001000, true)}};
  s.loads = {{0xaaaa00000000, 0x2000, PF_R | PF_X, ""}, {0xffffc0000000, 0x21000, PF_R | PF_W, ""}};
  TempFile f(build(s).bytes);
  auto src = vma::CoreSource::open(f.path);
  REQUIRE(src.ok());
  auto snap = (*src)->snapshot();
  REQUIRE(snap.ok());
  CHECK(snap->target.arch == vma::Arch::aarch64);
  CHECK(snap->target.va_bits == 48);
  REQUIRE(snap->threads.size() == 1);
  CHECK(snap->threads[0].sp == 0xffffc0001000);
  CHECK((*src)->threads()[0].pc == 0xaaaa00001000);
  CHECK(snap->main_tid == 7);  // no NT_PRPSINFO: the first thread
  CHECK_FALSE((*src)->fatal_fault());
}

TEST_CASE("x86_64 user mappings above 47 bits mean LA57", "[core]") {
  CoreSpec s;
  s.loads = {{0x7f0000000000ull << 4, 0x1000, PF_R, ""}};
  TempFile f(build(s).bytes);
  auto src = vma::CoreSource::open(f.path);
  REQUIRE(src.ok());
  CHECK((*src)->target().va_bits == 56);
  CHECK((*src)->target().va_bits_known);
  // --arch cannot make it narrower than its mappings.
  auto narrow = (*src)->use_target(*vma::Target::parse("x86_64"));
  REQUIRE_FALSE(narrow.ok());
  CHECK(narrow.error().message == f.path + ": the core maps user memory above 47 bits: it is x86_64-la57, not x86_64");
}

TEST_CASE("without a mapping above 47 bits the paging mode is unknown until --arch says", "[core]") {
  TempFile f(build(typical_spec()).bytes);
  auto src = vma::CoreSource::open(f.path);
  REQUIRE(src.ok());
  CHECK((*src)->target().va_bits == 47);
  CHECK_FALSE((*src)->target().va_bits_known);
  CHECK((*src)->target().other_reading()->name() == "x86_64-la57");
  auto other_arch = (*src)->use_target(*vma::Target::parse("aarch64"));
  REQUIRE_FALSE(other_arch.ok());
  CHECK(other_arch.error().message == f.path + ": the core is x86_64, not aarch64");
  REQUIRE((*src)->use_target(*vma::Target::parse("x86_64-la57")).ok());
  auto snap = (*src)->snapshot();
  REQUIRE(snap.ok());
  CHECK(snap->target.va_bits == 56);
  CHECK(snap->target.va_bits_known);
  CHECK_FALSE(snap->target.other_reading());
}

TEST_CASE("bad files: one exact message each", "[core][errors]") {
  const Built good = build(typical_spec());
  const std::string& g = good.bytes;
  auto cut = [&](std::size_t n) { return g.substr(0, n); };
  const std::uint64_t notes = good.notes_offset;
  const std::uint64_t stack_off = good.load_offsets[14];

  CHECK(open_error("") == "CORE: empty file");
  CHECK(open_error("this is not an ELF file, just text\n") == "CORE: not an ELF file (no ELF magic at offset 0)");
  CHECK(open_error(std::string(4096, '\0')) == "CORE: not an ELF file (no ELF magic at offset 0)");
  CHECK(open_error(cut(3)) == "CORE: not an ELF file (no ELF magic at offset 0)");
  CHECK(open_error(cut(20)) == "CORE: truncated: the ELF header needs 64 bytes at offset 0, the file has 20");
  CHECK(open_error(cut(63)) == "CORE: truncated: the ELF header needs 64 bytes at offset 0, the file has 63");
  CHECK(open_error(cut(64 + 56 * 3 + 10)) ==
        fmt::format("CORE: truncated: 17 program headers at offset 0x40 end past the end of the file (size {:#x})",
                    64 + 56 * 3 + 10));
  CHECK(open_error(cut(notes + 100)) ==
        fmt::format("CORE: truncated: PT_NOTE segment 0 (vaddr 0x0) at offset {:#x}, size {:#x}, ends past the end "
                    "of the file (size {:#x})",
                    notes, good.notes_size, notes + 100));
  CHECK(open_error(cut(stack_off + 0x1000)) ==
        fmt::format("CORE: truncated: PT_LOAD segment 15 (vaddr {:#x}) at offset {:#x}, size 0x21000, ends past the "
                    "end of the file (size {:#x})",
                    kStack, stack_off, stack_off + 0x1000));

  {
    CoreSpec s = typical_spec();
    s.type = ET_DYN;
    CHECK(open_error(build(s).bytes) == "CORE: not a core file (ET_DYN)");
    s.type = ET_EXEC;
    CHECK(open_error(build(s).bytes) == "CORE: not a core file (ET_EXEC)");
  }
  {
    CoreSpec s = typical_spec();
    s.machine = EM_RISCV;
    CHECK(open_error(build(s).bytes) ==
          "CORE: unsupported machine (e_machine 243); vmakit reads x86_64 and aarch64 cores");
  }
  {
    CoreSpec s = typical_spec();
    s.cls = ELFCLASS32;
    CHECK(open_error(build(s).bytes) == "CORE: unsupported 32-bit core (ELFCLASS32); vmakit reads 64-bit cores");
  }
  {
    std::string b = g;
    b[EI_DATA] = ELFDATA2MSB;
    CHECK(open_error(b) == "CORE: unsupported byte order (EI_DATA 2); vmakit reads little-endian cores");
  }
  {
    CoreSpec s;
    s.loads = {{0x1000, 0x2000, PF_R, ""}, {0x2000, 0x1000, PF_R, ""}};
    CHECK(open_error(build(s).bytes) == "CORE: PT_LOAD segments at 0x1000 and 0x2000 overlap");
  }
  {
    // The first note's descriptor size points far past the segment.
    std::string b = g;
    put(b, notes + 4, std::uint32_t{0x7fffffff});
    CHECK(open_error(b) == fmt::format("CORE: malformed note at offset {:#x} (PT_NOTE segment 0 at {:#x}, size {:#x}): "
                                       "its header, name or descriptor runs past the end of the segment",
                                       notes, notes, good.notes_size));
  }
  {
    CoreSpec s;
    s.notes = {{"CORE", NT_PRSTATUS, std::string(50, '\0')}};
    CHECK(open_error(build(s).bytes) ==
          fmt::format("CORE: NT_PRSTATUS note at offset {:#x}: 50 bytes, need at least 328 for x86_64",
                      build(s).notes_offset));
  }
  {
    CoreSpec s;
    std::string d = nt_file({{0x1000, 0x2000, 0, "/a"}});
    put(d, 0, std::uint64_t{1000});
    s.notes = {{"CORE", 0x46494c45, d}};
    CHECK(open_error(build(s).bytes) ==
          fmt::format("CORE: NT_FILE note at offset {:#x}: 1000 entries need more than the note's {} bytes",
                      build(s).notes_offset, d.size()));
  }
  {
    CoreSpec s;
    std::string d = nt_file({{0x1000, 0x2000, 0, "/a"}});
    d.pop_back();  // the name's NUL
    s.notes = {{"CORE", 0x46494c45, d}};
    CHECK(open_error(build(s).bytes) ==
          fmt::format("CORE: NT_FILE note at offset {:#x}: name 0 of 1 is missing or not NUL-terminated",
                      build(s).notes_offset));
  }
  {
    CoreSpec s;
    s.notes = {{"CORE", 0x46494c45, nt_file({{0x2000, 0x1000, 0, "/a"}})}};
    CHECK(open_error(build(s).bytes) ==
          fmt::format("CORE: NT_FILE note at offset {:#x}: entry 0: start 0x2000 is not below end 0x1000",
                      build(s).notes_offset));
  }
  {
    CoreSpec s;
    s.notes = {{"CORE", 0x46494c45, nt_file({{0x1000, 0x2000, 0, "/a"}}, 0)}};
    CHECK(open_error(build(s).bytes) ==
          fmt::format("CORE: NT_FILE note at offset {:#x}: bad page size 0x0", build(s).notes_offset));
  }
  {
    CoreSpec s;
    s.notes = {{"CORE", NT_AUXV, std::string(24, '\0')}};
    CHECK(open_error(build(s).bytes) ==
          fmt::format("CORE: NT_AUXV note at offset {:#x}: 24 bytes is not a whole number of 16-byte entries",
                      build(s).notes_offset));
  }
}

TEST_CASE("a real non-core ELF file", "[core][errors]") {
  auto r = vma::CoreSource::open("/bin/true");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "/bin/true: not a core file (ET_DYN)");
  auto d = vma::CoreSource::open("/nonexistent/core");
  REQUIRE_FALSE(d.ok());
  CHECK(d.error().message == "/nonexistent/core: cannot open: No such file or directory");
  auto dir = vma::CoreSource::open("/tmp");
  REQUIRE_FALSE(dir.ok());
  CHECK(dir.error().message == "/tmp: not a regular file");
}

TEST_CASE("every prefix of a core: an error or a snapshot, never a crash", "[core][robust]") {
  CoreSpec spec = typical_spec();
  spec.loads[14].data.resize(0x100);  // keep the file small: 0x100 bytes of stack dumped
  spec.loads[14].memsz = 0x21000;
  const std::string g = build(spec).bytes;
  std::size_t errors = 0;
  for (std::size_t n = 0; n < g.size(); ++n) {
    TempFile f(g.substr(0, n));
    auto r = vma::CoreSource::open(f.path);
    if (!r) {
      ++errors;
      continue;
    }
    (void)(*r)->snapshot();
  }
  // Every proper prefix cuts the last dumped segment at least.
  CHECK(errors == g.size());
}

TEST_CASE("flipped bytes: an error or a snapshot, never a crash", "[core][robust]") {
  CoreSpec spec = typical_spec();
  spec.loads[14].data.resize(0x100);
  const std::string g = build(spec).bytes;
  std::mt19937_64 rng(12345);
  int opened = 0, failed = 0;
  for (int i = 0; i < 1500; ++i) {
    std::string b = g;
    const int flips = 1 + static_cast<int>(rng() % 8);
    for (int k = 0; k < flips; ++k) {
      // Aim at the headers and notes, where the structure is.
      const std::size_t pos = rng() % std::min<std::size_t>(b.size(), build(spec).notes_offset + 2048);
      b[pos] = static_cast<char>(rng());
    }
    TempFile f(b);
    auto r = vma::CoreSource::open(f.path);
    if (!r) {
      ++failed;
      CHECK_FALSE(r.error().message.empty());
      continue;
    }
    ++opened;
    auto s = (*r)->snapshot();
    REQUIRE(s.ok());
    for (std::size_t j = 1; j < s->mappings.size(); ++j)
      REQUIRE(s->mappings[j - 1].range.end <= s->mappings[j].range.start);
    (void)(*r)->fatal_fault();
  }
  CHECK(opened > 0);
  CHECK(failed > 0);
}

TEST_CASE("gcore-written: PF_R everywhere, guards and arena tails restored, SIGSTOP is not fatal", "[core]") {
  constexpr std::uint64_t kArena = 0x7fff00000000;  // 64 MiB aligned
  constexpr std::uint64_t kTs = 0x7fff10000000;     // a thread stack
  CoreSpec s;
  s.notes = {
      {"CORE", NT_PRPSINFO, prpsinfo(200)},
      {"CORE", NT_PRSTATUS, prstatus(200, 0, kTs + 0x1000, 0)},
      {"CORE", 0x53494749, siginfo(SIGSTOP, 0x80, 0)},
      {"GDB", 0xff000000, "<target/>"},  // NT_GDB_TDESC
  };
  s.loads = {
      {kArena, 0x21000, PF_R | PF_W, ""},
      {kArena + 0x21000, (64 << 20) - 0x21000, PF_R, ""},  // reserved tail, written PF_R
      {kTs - 0x1000, 0x1000, PF_R, ""},                    // guard below the thread stack
      {kTs, 0x8000, PF_R | PF_W, ""},
      {kTs + 0x10000, 0x1000, PF_R, ""},                   // a lone page: may be r-- or ---: stays r--
  };
  TempFile f(build(s).bytes);
  auto src = vma::CoreSource::open(f.path);
  REQUIRE(src.ok());
  CHECK((*src)->writer() == vma::CoreWriter::gdb);
  auto snap = (*src)->snapshot();
  REQUIRE(snap.ok());
  CHECK(vma::to_string(at(*snap, kArena + 0x21000)->perms) == "---p");
  CHECK(vma::to_string(at(*snap, kTs - 0x1000)->perms) == "---p");
  CHECK(vma::to_string(at(*snap, kTs + 0x10000)->perms) == "r--p");
  CHECK_FALSE((*src)->fatal_fault());
}

// ---- reads exactly as before the split of CoreSource::load -------------------
// Everything the reader extracts from a core, one fact a line. The golden
// files in tests/data/ were written by the reader as it was before
// CoreSource::load was split into one function per header and note
// (VMAKIT_UPDATE_GOLDEN=1 rewrites them; review the diff when you do).

namespace {

std::string dump(const vma::CoreSource& src, const vma::Snapshot& snap) {
  std::string s;
  const auto& t = src.target();
  s += fmt::format("target {} va_bits {} page {} writer {}\n", t.name(), t.va_bits, t.page_size,
                   src.writer() == vma::CoreWriter::kernel ? "kernel" : "gdb");
  s += fmt::format("pid {} has_file_note {}\n", src.pid().value_or(-1), src.has_file_note());
  for (const auto& th : src.threads()) {
    s += fmt::format("thread {} cursig {} sp {:#x} pc {:#x}", th.tid, th.cursig, th.sp.value_or(0), th.pc.value_or(0));
    if (th.siginfo)
      s += fmt::format(" siginfo {} {} {} {:#x}", th.siginfo->signo, th.siginfo->code, th.siginfo->errno_value,
                       th.siginfo->addr.value_or(0));
    s += "\n";
  }
  for (const auto& a : src.auxv()) s += fmt::format("auxv {} {:#x}\n", a.type, a.value);
  for (const auto& f : src.files())
    s += fmt::format("file {:#x}-{:#x} {:#x} {}\n", f.range.start, f.range.end, f.offset, f.path);
  for (const auto& m : snap.mappings)
    s += fmt::format("map {:#x}-{:#x} {} {:#x} {}\n", m.range.start, m.range.end, vma::to_string(m.perms),
                     m.offset, m.name);
  for (const auto& th : snap.threads) s += fmt::format("snapthread {} {:#x}\n", th.tid, th.sp.value_or(0));
  if (auto f = src.fatal_fault())
    s += fmt::format("fatal {} {} {:#x} {:#x}\n", f->signo, f->code, f->addr.value_or(0), f->pc.value_or(0));
  return s;
}

void check_golden(const std::string& name, const std::string& got) {
  const std::string path = std::string(VMAKIT_TEST_DATA) + "/" + name;
  if (const char* u = std::getenv("VMAKIT_UPDATE_GOLDEN"); u && std::string(u) == "1") {
    std::ofstream(path) << got;
    WARN("rewrote " << path);
    return;
  }
  std::ifstream in(path);
  REQUIRE(in.good());
  std::string want((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(got == want);
}

void check_golden_core(const CoreSpec& spec, const std::string& golden) {
  TempFile f(build(spec).bytes);
  auto src = vma::CoreSource::open(f.path);
  REQUIRE(src.ok());
  auto snap = (*src)->snapshot();
  REQUIRE(snap.ok());
  check_golden(golden, dump(**src, *snap));
}

}  // namespace

TEST_CASE("a kernel-written x86_64 core reads exactly as before the load split", "[core]") {
  check_golden_core(typical_spec(), "core-x86_64-typical.golden");
}

TEST_CASE("an aarch64 core reads exactly as before the load split", "[core]") {
  CoreSpec s;
  s.machine = EM_AARCH64;
  s.notes = {{"CORE", NT_PRSTATUS, prstatus(7, SIGSEGV, 0xffffc0001000, 0xaaaa00001000, true)},
             {"CORE", 0x53494749, siginfo(SIGSEGV, 9, 0x0500ffffc0000010)},
             {"CORE", NT_AUXV, auxv({{AT_PHDR, 0xaaaa00000040}, {AT_ENTRY, 0xaaaa00000100}, {AT_PAGESZ, 4096}})},
             {"CORE", 0x46494c45, nt_file({{0xaaaa00000000, 0xaaaa00002000, 0, "/usr/bin/probe"}})}};
  s.loads = {{0xaaaa00000000, 0x2000, PF_R | PF_X, ""}, {0xffffc0000000, 0x21000, PF_R | PF_W, ""}};
  check_golden_core(s, "core-aarch64-small.golden");
}
