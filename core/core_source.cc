#include "core_source.h"

#include "fd.h"
#include "outside_text.h"

#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <map>
#include <string_view>

#include <fmt/format.h>

#if defined(__x86_64__) || defined(__aarch64__)
#include <sys/procfs.h>
#include <cstddef>
#endif

namespace vma {

namespace {

// ---------------------------------------------------------------------------
// Note payload layouts. These are the kernel's UAPI structs for 64-bit
// targets (include/uapi/linux/elfcore.h, arch/*/include/uapi/asm/ptrace.h);
// the offsets are written out, not taken from the host's <sys/procfs.h>, so
// an aarch64 core reads the same on an x86_64 host. Where the host has the
// struct, static_asserts check the numbers.
//
// struct elf_prstatus (64-bit): pr_info {si_signo, si_code, si_errno} at 0,
// pr_cursig (short) at 12, pr_pid at 32, pr_reg at 112.
constexpr std::size_t kPrCursig = 12;
constexpr std::size_t kPrPid = 32;
constexpr std::size_t kPrReg = 112;
// struct elf_prpsinfo (64-bit): pr_pid (the thread-group id) at 24.
constexpr std::size_t kPsPid = 24;
// siginfo_t: si_signo 0, si_errno 4, si_code 8, and for the fault signals
// si_addr at 16 (the union starts 8-aligned).
constexpr std::size_t kSiAddr = 16;

#if defined(__x86_64__) || defined(__aarch64__)
static_assert(offsetof(struct elf_prstatus, pr_cursig) == kPrCursig);
static_assert(offsetof(struct elf_prstatus, pr_pid) == kPrPid);
static_assert(offsetof(struct elf_prstatus, pr_reg) == kPrReg);
static_assert(offsetof(struct elf_prpsinfo, pr_pid) == kPsPid);
#endif

// Which of pr_reg's 64-bit words are SP and PC.
struct RegLayout {
  std::size_t count, sp, pc;
};
// x86_64 struct user_regs_struct: r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax
// rcx rdx rsi rdi orig_rax rip cs eflags rsp ss fs_base gs_base ds es fs gs.
constexpr RegLayout kX86_64Regs{27, 19, 16};
// aarch64 struct user_pt_regs: regs[31], sp, pc, pstate.
constexpr RegLayout kAarch64Regs{34, 31, 32};

}  // namespace

/// One architecture a core can be from: its e_machine, core's address model,
/// where SP and PC sit in pr_reg, and how the VA width is read from the
/// mappings (`va_bits`, or `wide_va_bits` when a user mapping below
/// `wide_below` ends above 2^va_bits). The next architecture is one row.
struct CoreArch {
  unsigned e_machine;
  Arch arch;
  RegLayout regs;
  unsigned va_bits, wide_va_bits;
  std::uint64_t wide_below;
};

namespace {

constexpr CoreArch kCoreArches[] = {
    {EM_X86_64, Arch::x86_64, kX86_64Regs, 47, 56, 0xff00000000000000ull},
    {EM_AARCH64, Arch::aarch64, kAarch64Regs, 48, 52, 0xfff0000000000000ull},
};

const CoreArch* core_arch(unsigned e_machine) {
  for (const CoreArch& a : kCoreArches)
    if (a.e_machine == e_machine) return &a;
  return nullptr;
}

constexpr std::uint32_t kNtFile = 0x46494c45;     // "FILE"
constexpr std::uint32_t kNtSiginfo = 0x53494749;  // "SIGI"

// brk randomisation: arch_randomize_brk() places the brk start up to 1 GiB
// above the end of the executable for 64-bit tasks on x86_64
// (arch/x86/kernel/process.c) and arm64 (arch/arm64/kernel/process.c).
constexpr std::uint64_t kBrkRandomRange = 1ull << 30;

std::uint64_t le(const unsigned char* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = n; i-- > 0;) v = (v << 8) | p[i];
  return v;
}
std::uint64_t le64(const unsigned char* p) { return le(p, 8); }
std::int32_t les32(const unsigned char* p) { return static_cast<std::int32_t>(le(p, 4)); }
std::int16_t les16(const unsigned char* p) { return static_cast<std::int16_t>(le(p, 2)); }

std::string hex_string(const unsigned char* p, std::size_t n) {
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += fmt::format("{:02x}", p[i]);
  return s;
}

using ElfPtr = std::unique_ptr<Elf, ElfCloser>;

using os::Fd;

void init_libelf() {
  static const bool once = [] {
    elf_version(EV_CURRENT);
    return true;
  }();
  (void)once;
}

std::string type_name(unsigned type) {
  switch (type) {
    case ET_NONE: return "ET_NONE";
    case ET_REL: return "ET_REL";
    case ET_EXEC: return "ET_EXEC";
    case ET_DYN: return "ET_DYN";
    case ET_CORE: return "ET_CORE";
    default: return fmt::format("e_type {}", type);
  }
}

std::string note_name(std::uint32_t type) {
  switch (type) {
    case NT_PRSTATUS: return "NT_PRSTATUS";
    case NT_PRPSINFO: return "NT_PRPSINFO";
    case NT_AUXV: return "NT_AUXV";
    case kNtFile: return "NT_FILE";
    case kNtSiginfo: return "NT_SIGINFO";
    default: return fmt::format("note type {:#x}", type);
  }
}

std::uint64_t page_down(std::uint64_t a, std::uint64_t page) { return a & ~(page - 1); }
std::uint64_t page_up(std::uint64_t a, std::uint64_t page) { return (a + page - 1) & ~(page - 1); }

/// The NT_GNU_BUILD_ID of an ELF image, read through its PT_NOTE segments
/// that lie within the first `limit` bytes; empty when there is none.
std::string build_id_of(Elf* e, std::uint64_t limit) {
  std::size_t n = 0;
  if (elf_getphdrnum(e, &n) != 0) return {};
  for (std::size_t i = 0; i < n; ++i) {
    GElf_Phdr ph;
    if (!gelf_getphdr(e, static_cast<int>(i), &ph) || ph.p_type != PT_NOTE) continue;
    if (ph.p_offset > limit || ph.p_filesz > limit - ph.p_offset) continue;
    Elf_Data* d = elf_getdata_rawchunk(e, static_cast<int64_t>(ph.p_offset), ph.p_filesz,
                                       ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
    if (!d) continue;
    std::size_t off = 0, name_off = 0, desc_off = 0;
    GElf_Nhdr nh;
    while (off < d->d_size && (off = gelf_getnote(d, off, &nh, &name_off, &desc_off)) > 0) {
      const auto* base = static_cast<const unsigned char*>(d->d_buf);
      if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && std::memcmp(base + name_off, "GNU", 4) == 0)
        return hex_string(base + desc_off, nh.n_descsz);
    }
  }
  return {};
}

/// What the executable's own ELF file says about its layout.
struct ExeInfo {
  std::uint16_t type = 0;
  std::uint64_t entry = 0;
  struct Load {
    std::uint64_t vaddr, memsz, offset, filesz;
  };
  std::vector<Load> loads;
};

std::optional<ExeInfo> read_exe_info(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));  // a FIFO must not block
  struct stat st {};
  if (!fd || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  ElfPtr e(elf_begin(fd.get(), ELF_C_READ, nullptr));
  GElf_Ehdr eh;
  if (!e || elf_kind(e.get()) != ELF_K_ELF || !gelf_getehdr(e.get(), &eh)) return std::nullopt;
  ExeInfo info;
  info.type = eh.e_type;
  info.entry = eh.e_entry;
  std::size_t n = 0;
  if (elf_getphdrnum(e.get(), &n) != 0) return std::nullopt;
  for (std::size_t i = 0; i < n; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(e.get(), static_cast<int>(i), &ph) && ph.p_type == PT_LOAD)
      info.loads.push_back({ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz});
  }
  return info;
}

/// Shared or private is not in a core. A few names are shared memory by
/// construction (shmem files: memfd_create, SysV shm, POSIX shm, a shared
/// /dev/zero mapping); every other mapping is taken as private. A memfd
/// mapped MAP_PRIVATE is the (rare) case this gets wrong.
/// Uses a file only when file_checks() found it fit: same build-id, or
/// (no build-id to compare) at least an ELF file at that path.
class CoreFileResolver : public FileResolver {
 public:
  explicit CoreFileResolver(std::map<std::string, std::string> usable) : usable_(std::move(usable)) {}
  std::optional<std::string> host_path(const Mapping& m) const override {
    if (!m.is_file()) return std::nullopt;
    auto it = usable_.find(m.name);
    if (it == usable_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::map<std::string, std::string> usable_;  // name in the core -> host path
};

}  // namespace

struct CoreSource::NoteSegment {
  std::size_t index;
  GElf_Phdr ph;
};

struct CoreSource::NoteBytes {
  const unsigned char* desc;
  std::size_t size;
  std::uint64_t offset;  // in the file, for messages
  std::uint32_t type;
};

void ElfCloser::operator()(::Elf* e) const {
  if (e) elf_end(e);
}

std::string CoreFileCheck::describe() const {
  switch (status) {
    case Status::same_build_id: return fmt::format("ok (build-id {})", core_build_id);
    case Status::no_build_id:
      return file_build_id.empty() ? "ok (no build-id to compare)"
                                   : fmt::format("ok (build-id {} not in the core to compare)", file_build_id);
    case Status::build_id_differs:
      return fmt::format("not used: build-id differs (core {}, file {})", core_build_id, file_build_id);
    case Status::missing: return fmt::format("not used: {} cannot be opened here", host_path);
    case Status::not_elf: return fmt::format("not used: {} is not an ELF file", host_path);
    case Status::deleted: return "not used: the file was deleted";
  }
  return {};
}

std::vector<std::string> core_file_notes(const std::vector<CoreFileCheck>& checks) {
  using Status = CoreFileCheck::Status;
  std::vector<std::string> out;
  for (Status st : {Status::build_id_differs, Status::missing, Status::not_elf}) {
    std::vector<const CoreFileCheck*> these;
    for (const CoreFileCheck& c : checks)
      if (c.status == st) these.push_back(&c);
    if (these.size() < 3) {
      for (const CoreFileCheck* c : these) out.push_back(safe_text(c->path) + ": " + safe_text(c->describe()));
      continue;
    }
    std::string names;
    for (std::size_t i = 0; i < 3; ++i) names += (i ? ", " : "") + safe_text(these[i]->path);
    if (these.size() > 3) names += fmt::format(" and {} more", these.size() - 3);
    const char* why = st == Status::build_id_differs ? "are other builds (build-id differs)"
                      : st == Status::missing        ? "cannot be opened here"
                                                     : "are not ELF files (data files the process mapped)";
    out.push_back(fmt::format("{} files the core names {}, not used to classify: {}", these.size(), why, names));
  }
  return out;
}

CoreSource::~CoreSource() {
  if (fd_ >= 0) ::close(fd_);
}

Result<std::unique_ptr<CoreSource>> CoreSource::open(const std::string& core_path,
                                                     std::optional<std::string> exe_path) {
  std::unique_ptr<CoreSource> s(new CoreSource());
  if (auto r = s->load(core_path, std::move(exe_path)); !r) return r.error();
  return s;
}

std::string CoreSource::describe() const { return "core file " + path_; }

Result<void> CoreSource::load(const std::string& path, std::optional<std::string> exe_path) {
  init_libelf();
  path_ = path;
  exe_override_ = std::move(exe_path);
  auto elf = open_elf();
  if (!elf) return elf.error();
  GElf_Ehdr eh;
  if (!gelf_getehdr(elf->get(), &eh)) return fail(fmt::format("bad ELF header: {}", elf_errmsg(-1)));
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB)
    return fail(fmt::format("unsupported byte order (EI_DATA {}); vmakit reads little-endian cores",
                            eh.e_ident[EI_DATA]));
  if (eh.e_type != ET_CORE) return fail(fmt::format("not a core file ({})", type_name(eh.e_type)));
  const CoreArch* arch = core_arch(eh.e_machine);
  if (!arch)
    return fail(fmt::format("unsupported machine (e_machine {}); vmakit reads x86_64 and aarch64 cores",
                            eh.e_machine));
  target_.arch = arch->arch;

  auto notes = read_program_headers(elf->get(), eh);
  if (!notes) return notes.error();
  for (const NoteSegment& ns : *notes)
    if (auto r = read_note_segment(elf->get(), ns, *arch); !r) return r.error();
  if (orphan_siginfo_ && !threads_.empty() && !threads_.front().siginfo) threads_.front().siginfo = orphan_siginfo_;
  if (!pid_ && !threads_.empty()) pid_ = threads_.front().tid;

  infer_target(*arch);
  find_executable();
  check_files();
  return {};
}

Error CoreSource::fail(const std::string& what) const { return Error{fmt::format("{}: {}", path_, what)}; }

Result<CoreSource::ElfHandle> CoreSource::open_elf() {
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) return fail(fmt::format("cannot open: {}", std::strerror(errno)));
  struct stat st {};
  if (fstat(fd_, &st) != 0) return fail(fmt::format("cannot stat: {}", std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) return fail("not a regular file");
  file_size_ = static_cast<std::uint64_t>(st.st_size);
  if (file_size_ == 0) return fail("empty file");

  // libelf refuses a file shorter than its ELF header as "not ELF"; say
  // "truncated" when the magic is there.
  if (file_size_ < sizeof(Elf64_Ehdr)) {
    char magic[SELFMAG] = {};
    if (file_size_ >= SELFMAG && ::pread(fd_, magic, SELFMAG, 0) == SELFMAG && std::memcmp(magic, ELFMAG, SELFMAG) == 0)
      return fail(fmt::format("truncated: the ELF header needs {} bytes at offset 0, the file has {}",
                              sizeof(Elf64_Ehdr), file_size_));
  }
  // ELF_C_READ, not _MMAP: libelf preads what it needs, so a file truncated
  // or rewritten while open cannot SIGBUS us through a stale mapping.
  ElfHandle elf(elf_begin(fd_, ELF_C_READ, nullptr));
  if (!elf || elf_kind(elf.get()) != ELF_K_ELF) {
    unsigned char ident[EI_NIDENT] = {};
    if (::pread(fd_, ident, EI_NIDENT, 0) == EI_NIDENT && std::memcmp(ident, ELFMAG, SELFMAG) == 0)
      return fail(fmt::format("not a valid ELF file: bad identification at offset 4 (EI_CLASS {}, EI_DATA {}, "
                              "EI_VERSION {})",
                              ident[EI_CLASS], ident[EI_DATA], ident[EI_VERSION]));
    return fail("not an ELF file (no ELF magic at offset 0)");
  }
  const int cls = gelf_getclass(elf.get());
  if (cls == ELFCLASS32) return fail("unsupported 32-bit core (ELFCLASS32); vmakit reads 64-bit cores");
  if (cls != ELFCLASS64) return fail(fmt::format("not an ELF file (bad EI_CLASS {})", cls));
  if (file_size_ < sizeof(Elf64_Ehdr))
    return fail(fmt::format("truncated: the ELF header needs {} bytes at offset 0, the file has {}",
                            sizeof(Elf64_Ehdr), file_size_));
  return elf;
}

Result<std::vector<CoreSource::NoteSegment>> CoreSource::read_program_headers(Elf* elf, const GElf_Ehdr& eh) {
  // elf_getphdrnum() clamps the count to what fits in the file; the count
  // the header declares is what must be checked against the file size.
  std::size_t phnum = eh.e_phnum;
  if (eh.e_phnum == PN_XNUM && elf_getphdrnum(elf, &phnum) != 0)
    return fail(fmt::format("bad program header count: {}", elf_errmsg(-1)));
  if (phnum == 0) return fail("no program headers (a core has PT_NOTE and PT_LOAD segments)");
  if (eh.e_phentsize != sizeof(Elf64_Phdr))
    return fail(fmt::format("bad e_phentsize {} (expected {})", eh.e_phentsize, sizeof(Elf64_Phdr)));
  if (eh.e_phoff > file_size_ || phnum > (file_size_ - eh.e_phoff) / sizeof(Elf64_Phdr))
    return fail(fmt::format("truncated: {} program headers at offset {:#x} end past the end of the file (size {:#x})",
                            phnum, eh.e_phoff, file_size_));

  std::vector<NoteSegment> note_segs;
  for (std::size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (!gelf_getphdr(elf, static_cast<int>(i), &ph))
      return fail(fmt::format("cannot read program header {} at offset {:#x}: {}", i,
                              eh.e_phoff + i * sizeof(Elf64_Phdr), elf_errmsg(-1)));
    if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE) continue;
    const char* what = ph.p_type == PT_LOAD ? "PT_LOAD" : "PT_NOTE";
    if (ph.p_filesz > 0 && (ph.p_offset > file_size_ || ph.p_filesz > file_size_ - ph.p_offset))
      return fail(fmt::format(
          "truncated: {} segment {} (vaddr {:#x}) at offset {:#x}, size {:#x}, ends past the end of the file (size {:#x})",
          what, i, ph.p_vaddr, ph.p_offset, ph.p_filesz, file_size_));
    if (ph.p_type == PT_NOTE) {
      note_segs.push_back({i, ph});
      continue;
    }
    if (ph.p_memsz == 0) continue;
    if (ph.p_filesz > ph.p_memsz)
      return fail(fmt::format("PT_LOAD segment {} (vaddr {:#x}): p_filesz {:#x} is larger than p_memsz {:#x}", i,
                              ph.p_vaddr, ph.p_filesz, ph.p_memsz));
    // The last page of the address space ends at 2^64, which wraps to 0.
    if (ph.p_memsz - 1 > ~std::uint64_t{0} - ph.p_vaddr)
      return fail(fmt::format("PT_LOAD segment {} (vaddr {:#x}, size {:#x}) runs past the end of the address space",
                              i, ph.p_vaddr, ph.p_memsz));
    Segment seg;
    seg.range = {ph.p_vaddr, ph.p_vaddr + ph.p_memsz};
    if (seg.range.end == 0) seg.range.end = ~std::uint64_t{0};  // keeps [start, end) non-empty
    seg.flags = ph.p_flags & (PF_R | PF_W | PF_X);
    seg.file_offset = ph.p_offset;
    seg.filesz = ph.p_filesz;
    segments_.push_back(seg);
  }
  std::sort(segments_.begin(), segments_.end(),
            [](const Segment& a, const Segment& b) { return a.range.start < b.range.start; });
  for (std::size_t i = 1; i < segments_.size(); ++i)
    if (segments_[i - 1].range.end > segments_[i].range.start)
      return fail(fmt::format("PT_LOAD segments at {:#x} and {:#x} overlap", segments_[i - 1].range.start,
                              segments_[i].range.start));
  return note_segs;
}

// Notes. The kernel writes, per thread, NT_PRSTATUS then that thread's
// other notes; the thread that is dumping (the one that took the fatal
// signal) comes first, followed by NT_PRPSINFO, NT_SIGINFO, NT_AUXV and
// NT_FILE (fs/binfmt_elf.c, fill_note_info and write_note_info). gdb's
// gcore writes NT_PRPSINFO, then per thread NT_PRSTATUS and NT_SIGINFO
// (gdb/linux-tdep.c). Either way an NT_SIGINFO belongs to the NT_PRSTATUS
// before it.
Result<void> CoreSource::read_note_segment(Elf* elf, const NoteSegment& ns, const CoreArch& arch) {
  if (ns.ph.p_filesz == 0) return {};
  Elf_Data* d = elf_getdata_rawchunk(elf, static_cast<int64_t>(ns.ph.p_offset), ns.ph.p_filesz,
                                     ns.ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
  if (!d)
    return fail(fmt::format("cannot read PT_NOTE segment {} at offset {:#x}: {}", ns.index, ns.ph.p_offset,
                            elf_errmsg(-1)));
  const auto* base = static_cast<const unsigned char*>(d->d_buf);
  std::size_t off = 0;
  while (off < d->d_size) {
    const std::uint64_t at = ns.ph.p_offset + off;
    GElf_Nhdr nh;
    std::size_t name_off = 0, desc_off = 0;
    const std::size_t next = gelf_getnote(d, off, &nh, &name_off, &desc_off);
    if (next == 0)
      return fail(fmt::format(
          "malformed note at offset {:#x} (PT_NOTE segment {} at {:#x}, size {:#x}): its header, name or "
          "descriptor runs past the end of the segment",
          at, ns.index, ns.ph.p_offset, ns.ph.p_filesz));
    off = next;
    const std::string_view owner(reinterpret_cast<const char*>(base + name_off),
                                 nh.n_namesz > 0 ? nh.n_namesz - 1 : 0);
    if (owner == "GDB") writer_ = CoreWriter::gdb;  // NT_GDB_TDESC
    if (owner != "CORE") continue;
    const NoteBytes note{base + desc_off, nh.n_descsz, at, nh.n_type};
    std::optional<std::string> bad;
    switch (nh.n_type) {
      case NT_PRSTATUS: bad = read_prstatus(note, arch); break;
      case NT_PRPSINFO: bad = read_prpsinfo(note); break;
      case kNtSiginfo: bad = read_siginfo(note); break;
      case NT_AUXV: bad = read_auxv(note); break;
      case kNtFile: bad = read_file_note(note); break;
      default: break;
    }
    if (bad) return fail(fmt::format("{} note at offset {:#x}: {}", note_name(nh.n_type), at, *bad));
  }
  return {};
}

std::optional<std::string> CoreSource::read_prstatus(const NoteBytes& n, const CoreArch& arch) {
  const std::size_t need = kPrReg + arch.regs.count * 8;
  if (n.size < need) return fmt::format("{} bytes, need at least {} for {}", n.size, need, target_.name());
  CoreThread t;
  t.tid = les32(n.desc + kPrPid);
  t.cursig = les16(n.desc + kPrCursig);
  t.sp = le64(n.desc + kPrReg + arch.regs.sp * 8);
  t.pc = le64(n.desc + kPrReg + arch.regs.pc * 8);
  threads_.push_back(t);
  return std::nullopt;
}

std::optional<std::string> CoreSource::read_prpsinfo(const NoteBytes& n) {
  if (n.size < kPsPid + 4) return fmt::format("{} bytes, need at least {}", n.size, kPsPid + 4);
  if (!have_psinfo_) pid_ = les32(n.desc + kPsPid);
  have_psinfo_ = true;
  return std::nullopt;
}

std::optional<std::string> CoreSource::read_siginfo(const NoteBytes& n) {
  if (n.size < kSiAddr + 8) return fmt::format("{} bytes, need at least {}", n.size, kSiAddr + 8);
  CoreThread::SigInfo si;
  si.signo = les32(n.desc);
  si.errno_value = les32(n.desc + 4);
  si.code = les32(n.desc + 8);
  if (siginfo_has_address(si.signo, si.code)) si.addr = le64(n.desc + kSiAddr);
  if (!threads_.empty() && !threads_.back().siginfo)
    threads_.back().siginfo = si;
  else if (threads_.empty() && !orphan_siginfo_)
    orphan_siginfo_ = si;
  return std::nullopt;
}

std::optional<std::string> CoreSource::read_auxv(const NoteBytes& n) {
  if (n.size % 16 != 0) return fmt::format("{} bytes is not a whole number of 16-byte entries", n.size);
  if (have_auxv_) return std::nullopt;
  have_auxv_ = true;
  for (std::size_t i = 0; i + 16 <= n.size; i += 16) {
    AuxvEntry a{le64(n.desc + i), le64(n.desc + i + 8)};
    if (a.type == AT_NULL) break;
    auxv_.push_back(a);
  }
  return std::nullopt;
}

std::optional<std::string> CoreSource::read_file_note(const NoteBytes& n) {
  if (has_file_note_) return std::nullopt;
  const unsigned char* desc = n.desc;
  const std::size_t size = n.size;
  // long count; long page_size; {long start, end, pgoff}[count]; then
  // count NUL-terminated names (fs/binfmt_elf.c, fill_files_note).
  if (size < 16) return fmt::format("{} bytes, need at least 16", size);
  const std::uint64_t count = le64(desc), page = le64(desc + 8);
  if (page == 0 || (page & (page - 1)) != 0) return fmt::format("bad page size {:#x}", page);
  if (count > (size - 16) / 24) return fmt::format("{} entries need more than the note's {} bytes", count, size);
  std::size_t name_at = 16 + count * 24;
  for (std::uint64_t k = 0; k < count; ++k) {
    const unsigned char* e = desc + 16 + k * 24;
    CoreFileEntry f;
    f.range = {le64(e), le64(e + 8)};
    const std::uint64_t pgoff = le64(e + 16);
    if (f.range.start >= f.range.end)
      return fmt::format("entry {}: start {:#x} is not below end {:#x}", k, f.range.start, f.range.end);
    if (pgoff > ~std::uint64_t{0} / page) return fmt::format("entry {}: page offset {:#x} overflows", k, pgoff);
    f.offset = pgoff * page;
    const void* nul = name_at < size ? std::memchr(desc + name_at, 0, size - name_at) : nullptr;
    if (!nul) return fmt::format("name {} of {} is missing or not NUL-terminated", k, count);
    const auto* end = static_cast<const unsigned char*>(nul);
    f.path.assign(reinterpret_cast<const char*>(desc + name_at), static_cast<std::size_t>(end - (desc + name_at)));
    name_at = static_cast<std::size_t>(end - desc) + 1;
    files_.push_back(std::move(f));
  }
  std::sort(files_.begin(), files_.end(),
            [](const CoreFileEntry& a, const CoreFileEntry& b) { return a.range.start < b.range.start; });
  for (std::size_t k = 1; k < files_.size(); ++k)
    if (files_[k - 1].range.end > files_[k].range.start)
      return fmt::format("entries for {:#x} and {:#x} overlap", files_[k - 1].range.start, files_[k].range.start);
  has_file_note_ = true;
  file_page_size_ = page;
  return std::nullopt;
}

// A core does not record the paging mode or vm.mmap_min_addr: the VA width
// is inferred from the addresses (a user mapping above the architecture's
// narrow limit means the wide one: LA57, 52-bit VAs), mmap_min_addr is taken
// from this machine (right when the core was written here; the default 4096
// or 65536 elsewhere), and the page size from NT_FILE when present.
void CoreSource::infer_target(const CoreArch& arch) {
  const Target host = Target::host();
  target_.mmap_min_addr = host.mmap_min_addr;
  // (gdb writes NT_FILE with page size 1 and byte offsets: not a page size.)
  target_.page_size = file_page_size_ >= 4096 ? file_page_size_ : (host.arch == target_.arch ? host.page_size : 4096);
  // Without such a mapping the core cannot tell: the narrower width, marked
  // unknown, so that answers give both readings (use_target() settles it).
  target_.va_bits = arch.va_bits;
  for (const Segment& s : segments_)
    if (s.range.start < arch.wide_below && s.range.end > (1ull << arch.va_bits)) target_.va_bits = arch.wide_va_bits;
  target_.va_bits_known = target_.va_bits == arch.wide_va_bits;
}

// The main executable: the NT_FILE entry that holds the program headers
// (AT_PHDR) or the entry point (AT_ENTRY); else --exe; else the AT_EXECFN
// string, read from the stack in the core. Without NT_FILE, its segments can
// still be named: its ELF file gives each PT_LOAD's file range, AT_ENTRY the
// load bias.
void CoreSource::find_executable() {
  for (std::uint64_t at : {std::uint64_t{AT_PHDR}, std::uint64_t{AT_ENTRY}}) {
    if (!executable_.empty()) break;
    if (auto v = auxv_value(at))
      for (const CoreFileEntry& f : files_)
        if (f.range.contains(*v)) executable_ = f.path;
  }
  if (executable_.empty() && exe_override_) executable_ = *exe_override_;
  if (executable_.empty())
    if (auto fn = auxv_value(AT_EXECFN))
      if (auto s = read_string(*fn, 4096)) executable_ = *s;

  if (has_file_note_ || executable_.empty()) return;
  const std::string host_exe = exe_override_ ? *exe_override_ : executable_;
  auto entry = auxv_value(AT_ENTRY);
  auto info = read_exe_info(host_exe);
  if (!info || !entry) return;
  const std::uint64_t bias = info->type == ET_DYN ? *entry - info->entry : 0;
  const std::uint64_t page = target_.page_size;
  for (const auto& l : info->loads) {
    if (l.filesz == 0) continue;
    CoreFileEntry f;
    f.range = {page_down(bias + l.vaddr, page), page_up(bias + l.vaddr + l.filesz, page)};
    f.offset = page_down(l.offset, page);
    f.path = executable_;
    if (!exe_entries_.empty() && exe_entries_.back().range.end > f.range.start)
      f.range.start = exe_entries_.back().range.end;
    if (f.range.start < f.range.end) exe_entries_.push_back(f);
  }
}

std::optional<std::uint64_t> CoreSource::auxv_value(std::uint64_t type) const {
  for (const AuxvEntry& a : auxv_)
    if (a.type == type) return a.value;
  return std::nullopt;
}

std::optional<std::string> CoreSource::read_memory(Addr a, std::size_t n) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), a,
                             [](Addr x, const Segment& s) { return x < s.range.start; });
  if (it == segments_.begin()) return std::nullopt;
  const Segment& s = *std::prev(it);
  if (!s.range.contains(a)) return std::nullopt;
  const std::uint64_t rel = a - s.range.start;
  if (rel > s.filesz || n > s.filesz - rel) return std::nullopt;  // not dumped
  std::string buf(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::pread(fd_, buf.data() + got, n - got, static_cast<off_t>(s.file_offset + rel + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return std::nullopt;
    got += static_cast<std::size_t>(r);
  }
  return buf;
}

std::optional<std::string> CoreSource::read_string(Addr a, std::size_t max) const {
  std::string out;
  while (out.size() < max) {
    auto chunk = read_memory(a + out.size(), 1);
    if (!chunk) return std::nullopt;
    if ((*chunk)[0] == '\0') return out;
    out += (*chunk)[0];
  }
  return std::nullopt;
}

void CoreSource::check_files() {
  std::map<std::string, std::size_t> seen;
  auto consider = [&](const CoreFileEntry& f) {
    if (f.path.empty() || f.path.front() != '/' || seen.count(f.path)) return;
    seen[f.path] = checks_.size();
    CoreFileCheck c;
    c.path = f.path;
    const bool is_exe = exe_override_ && f.path == executable_;
    c.host_path = is_exe ? *exe_override_ : f.path;
    if (!is_exe && f.path.ends_with(" (deleted)")) {
      c.status = CoreFileCheck::Status::deleted;
      checks_.push_back(c);
      return;
    }
    // The first page of an ELF file mapping is in the core when
    // coredump_filter bit 4 (ELF headers, on by default) asked for it; its
    // PT_NOTE usually holds the build-id (.note.gnu.build-id comes right
    // after the program headers).
    for (const CoreFileEntry& g : files_) {
      if (g.path != f.path || g.offset != 0) continue;
      auto it = std::find_if(segments_.begin(), segments_.end(),
                             [&](const Segment& s) { return s.range.start == g.range.start; });
      if (it == segments_.end() || it->filesz == 0) continue;
      auto head = read_memory(g.range.start, static_cast<std::size_t>(std::min<std::uint64_t>(it->filesz, 1 << 16)));
      if (!head) continue;
      ElfPtr e(elf_memory(head->data(), head->size()));
      if (e && elf_kind(e.get()) == ELF_K_ELF) c.core_build_id = build_id_of(e.get(), head->size());
      break;
    }
    // O_NONBLOCK: a hostile core may name a FIFO, whose open() would wait
    // for a writer forever; non-regular files are refused just below.
    Fd fd(::open(c.host_path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    struct stat st {};
    if (!fd || fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
      c.status = CoreFileCheck::Status::missing;
    } else {
      ElfPtr e(elf_begin(fd.get(), ELF_C_READ, nullptr));
      if (!e || elf_kind(e.get()) != ELF_K_ELF) {
        c.status = CoreFileCheck::Status::not_elf;
      } else {
        c.file_build_id = build_id_of(e.get(), static_cast<std::uint64_t>(st.st_size));
        if (c.core_build_id.empty())
          c.status = CoreFileCheck::Status::no_build_id;
        else
          c.status = c.core_build_id == c.file_build_id ? CoreFileCheck::Status::same_build_id
                                                         : CoreFileCheck::Status::build_id_differs;
      }
    }
    checks_.push_back(c);
  };
  for (const CoreFileEntry& f : files_) consider(f);
  for (const CoreFileEntry& f : exe_entries_) consider(f);
}

std::vector<Mapping> CoreSource::build_mappings() const {
  const std::vector<CoreFileEntry>& entries = has_file_note_ ? files_ : exe_entries_;
  std::vector<Mapping> out;
  out.reserve(segments_.size());
  for (const Segment& seg : segments_) {
    Perms p = Perms::none;
    if (seg.flags & PF_R) p |= Perms::read;
    if (seg.flags & PF_W) p |= Perms::write;
    if (seg.flags & PF_X) p |= Perms::exec;
    // Split the segment where NT_FILE entries begin or end. Kernel cores have
    // one entry per file-backed VMA, so this splits nothing there; other
    // writers may merge or cut differently.
    Addr cursor = seg.range.start;
    while (cursor < seg.range.end) {
      Mapping m;
      m.perms = p;
      // What the Mapping fields mean for a core: range and r/w/x are exact.
      // With an NT_FILE note, a range it names gets its path and file offset
      // (exact) and a range it does not name is anonymous, so offset 0 is
      // exact too; file_info_known is true in both cases so the classifier
      // uses the offset. Device and inode are never in a core: they stay 0
      // with dev_inode_known false,
      // which LocalFileResolver and CoreFileResolver read as "unknown" (the
      // resolver checks build-ids instead). Without NT_FILE nothing but the
      // executable (named from --exe or AT_EXECFN) has file information.
      m.file_info_known = has_file_note_;
      m.dev_inode_known = false;
      auto it = std::upper_bound(entries.begin(), entries.end(), cursor,
                                 [](Addr a, const CoreFileEntry& f) { return a < f.range.start; });
      Addr piece_end = seg.range.end;
      if (it != entries.begin() && std::prev(it)->range.contains(cursor)) {
        const CoreFileEntry& f = *std::prev(it);
        piece_end = std::min(piece_end, f.range.end);
        m.name = f.path;
        m.offset = f.offset + (cursor - f.range.start);
        m.file_info_known = true;
      } else if (it != entries.end()) {
        piece_end = std::min(piece_end, it->range.start);
      }
      m.range = {cursor, piece_end};
      if (m.name_says_shared()) m.perms |= Perms::shared;
      out.push_back(std::move(m));
      cursor = piece_end;
    }
  }

  if (writer_ == CoreWriter::gdb) recover_prot_none(out);

  auto holding = [&](Addr a) -> Mapping* {
    for (Mapping& m : out)
      if (m.range.contains(a)) return &m;
    return nullptr;
  };
  auto name_if_unnamed = [](Mapping* m, const char* name) {
    if (m && m->name.empty()) m->name = name;
  };

  // [vsyscall]: the gate VMA, fixed at 0xffffffffff600000 on x86_64; kernel
  // cores include it (fs/coredump.c, dump_vma_snapshot via get_gate_vma()).
  if (target_.arch == Arch::x86_64) name_if_unnamed(holding(0xffffffffff600000ull), "[vsyscall]");

  // [vdso] holds AT_SYSINFO_EHDR. The vvar pages lie directly below it:
  // one VMA [vvar], or since Linux 6.13 (generic vDSO data store) [vvar]
  // then [vvar_vclock] then [vdso]. So: up to two contiguous, unnamed,
  // read-only, small mappings directly below the vdso; with two, the upper is
  // [vvar_vclock]. An unrelated read-only mapping that happens to abut the
  // vvar pages would be taken for one: none does in practice, as the kernel
  // reserves the vDSO area as one block.
  if (auto ehdr = auxv_value(AT_SYSINFO_EHDR)) {
    Mapping* vdso = holding(*ehdr);
    if (vdso && vdso->name.empty()) {
      vdso->name = "[vdso]";
      const std::uint64_t max_size = 16 * target_.page_size;
      auto idx = static_cast<std::size_t>(vdso - out.data());
      std::vector<std::size_t> below;
      for (std::size_t i = idx; i > 0 && below.size() < 2; --i) {
        const Mapping& lo = out[i - 1];
        const Mapping& hi = out[i];
        if (lo.range.end != hi.range.start || !lo.name.empty() || lo.perms != Perms::read ||
            lo.range.size() > max_size)
          break;
        below.push_back(i - 1);
      }
      if (below.size() == 1) out[below[0]].name = "[vvar]";
      if (below.size() == 2) {
        out[below[0]].name = "[vvar_vclock]";
        out[below[1]].name = "[vvar]";
      }
    }
  }

  // [stack]: the main stack holds the strings and random bytes the kernel
  // put there at execve (AT_EXECFN, AT_RANDOM).
  for (std::uint64_t at : {std::uint64_t{AT_EXECFN}, std::uint64_t{AT_RANDOM}})
    if (auto v = auxv_value(at)) {
      Mapping* m = holding(*v);
      if (m && m->name.empty() && has(m->perms, Perms::read | Perms::write)) {
        m->name = "[stack]";
        break;
      }
    }

  // [heap]: the brk area. The kernel puts the brk start right after the end
  // of the executable's image (bss included), moved up by up to 1 GiB under
  // ASLR (arch_randomize_brk), and maps it anonymous rw. A core does not
  // record start_brk, so: past the executable's last mapping, skip the
  // image's anonymous .bss VMA when it directly follows, and the next
  // anonymous rw mapping within 1 GiB is [heap]. Without ASLR the bss VMA
  // and the heap abut and the kernel merges them into one VMA that maps
  // show as [heap]: when the executable's ELF file says where its bss
  // ends, an anonymous VMA reaching past that end is [heap] as well.
  // A gcore-written core follows the same layout (gdb dumps the same VMAs);
  // a core from a process that never called brk() has no heap, and an
  // anonymous rw mmap within 1 GiB of the executable would be misnamed.
  if (!executable_.empty()) {
    std::optional<std::size_t> last;
    for (std::size_t i = 0; i < out.size(); ++i)
      if (out[i].name == executable_) last = i;
    if (last) {
      std::optional<Addr> image_end;
      for (const CoreFileCheck& c : checks_)
        if (c.path == executable_ && c.usable())
          if (auto info = read_exe_info(c.host_path); info && auxv_value(AT_ENTRY)) {
            const std::uint64_t bias = info->type == ET_DYN ? *auxv_value(AT_ENTRY) - info->entry : 0;
            Addr end = 0;
            for (const auto& l : info->loads) end = std::max<Addr>(end, bias + l.vaddr + l.memsz);
            image_end = page_up(end, target_.page_size);
          }
      auto anon_rw = [](const Mapping& m) { return m.name.empty() && has(m.perms, Perms::read | Perms::write); };
      std::size_t k = *last + 1;
      Addr exe_end = out[*last].range.end;
      std::optional<std::size_t> merged;  // a .bss VMA reaching past the image
      if (k < out.size() && out[k].range.start == exe_end && anon_rw(out[k])) {
        if (image_end && out[k].range.end > *image_end) merged = k;
        exe_end = out[k].range.end;  // the .bss VMA
        ++k;
      }
      // The .bss VMA reaches past the image: the heap merged into it (no
      // ASLR), or other anonymous memory mapped flush after it (then the
      // heap is further on). A heap further on wins.
      if (k < out.size() && anon_rw(out[k]) && out[k].range.start - exe_end <= kBrkRandomRange)
        out[k].name = "[heap]";
      else if (merged)
        out[*merged].name = "[heap]";  // bss and heap merged (no ASLR)
    }
  }
  return out;
}

// gdb's gcore writes each VMA through BFD sections, and BFD sets PF_R on
// every PT_LOAD (gdb/gcore.c gcore_create_callback: only "read-only" and
// "code" survive), so a PROT_NONE VMA reads as r--p and --xp as r-xp. Two
// PROT_NONE shapes are certain enough to restore:
//   - the one-page guard directly below a thread's stack: an anonymous
//     r-- page right below an anonymous rw VMA that holds a thread's SP
//     (glibc allocatestack.c puts the guard there);
//   - the reserved tail of a glibc arena heap: an anonymous r-- VMA right
//     after an anonymous rw VMA that starts 64 MiB-aligned, the two ending
//     exactly 64 MiB after that start (HEAP_MAX_SIZE, malloc/arena.c).
// Other PROT_NONE VMAs (an mprotect'ed page, a library's gap) stay r--p:
// the core cannot tell them from read-only memory.
void CoreSource::recover_prot_none(std::vector<Mapping>& out) const {
  constexpr std::uint64_t kArena = 64ull << 20;
  auto anon_ro = [](const Mapping& m) { return m.name.empty() && m.perms == Perms::read; };
  auto anon_rw = [](const Mapping& m) { return m.name.empty() && m.perms == (Perms::read | Perms::write); };
  for (std::size_t i = 0; i + 1 < out.size(); ++i) {
    Mapping& lo = out[i];
    const Mapping& hi = out[i + 1];
    if (!anon_ro(lo) || lo.range.end != hi.range.start || !anon_rw(hi) || lo.range.size() != target_.page_size)
      continue;
    for (const CoreThread& t : threads_)
      if (t.sp && hi.range.contains(*t.sp)) lo.perms = Perms::none;
  }
  for (std::size_t i = 1; i < out.size(); ++i) {
    Mapping& tail = out[i];
    const Mapping& head = out[i - 1];
    if (anon_ro(tail) && anon_rw(head) && head.range.end == tail.range.start && head.range.start % kArena == 0 &&
        tail.range.end == head.range.start + kArena)
      tail.perms = Perms::none;
  }
}

Result<void> CoreSource::use_target(const Target& t) {
  if (t.arch != target_.arch)
    return Error{fmt::format("{}: the core is {}, not {}", path_, target_.name(), t.name())};
  if (target_.va_bits_known && t.va_bits < target_.va_bits)
    return Error{fmt::format("{}: the core maps user memory above {} bits: it is {}, not {}", path_, t.va_bits,
                             target_.name(), t.name())};
  target_.va_bits = t.va_bits;
  target_.va_bits_known = true;
  return {};
}

Result<Snapshot> CoreSource::snapshot() {
  Snapshot s;
  s.mappings = build_mappings();
  s.complete = true;
  for (const CoreThread& t : threads_) s.threads.push_back({t.tid, t.sp});
  // Every thread that was alive when the core was written has an
  // NT_PRSTATUS (zap_threads() gathers them all before dumping).
  s.threads_known = !threads_.empty();
  // main_tid is the process id (NT_PRPSINFO's pr_pid = the thread-group id),
  // not the first NT_PRSTATUS: in a kernel core the first thread is the one
  // that took the signal, which may be any thread.
  s.main_tid = pid_;
  s.guard_pages_scanned = false;
  s.target = target_;
  s.source = describe();
  std::map<std::string, std::string> usable;
  for (const CoreFileCheck& c : checks_)
    if (c.usable()) usable[c.path] = c.host_path;
  s.files = std::make_shared<CoreFileResolver>(std::move(usable));
  return s;
}

namespace {
bool fatal_candidate(const CoreThread& t) {
  if (!t.siginfo || t.siginfo->signo == 0) return false;
  const int s = t.siginfo->signo;
  return s != SIGSTOP && s != SIGTSTP && s != SIGTTIN && s != SIGTTOU;
}
}  // namespace

std::optional<Fault> CoreSource::fatal_fault() const {
  for (const CoreThread& t : threads_)
    if (fatal_candidate(t)) {
      Fault f;
      f.signo = t.siginfo->signo;
      f.code = t.siginfo->code;
      f.addr = t.siginfo->addr;
      f.pc = t.pc;
      return f;
    }
  return std::nullopt;
}

std::optional<int> CoreSource::fatal_tid() const {
  for (const CoreThread& t : threads_)
    if (fatal_candidate(t)) return t.tid;
  return std::nullopt;
}

}  // namespace vma
