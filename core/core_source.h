#pragma once
/// \file
/// An ELF core file as a region source: kernel-written cores (binfmt_elf.c's
/// elf_core_dump) and gdb's `gcore`, x86_64 and aarch64, 64-bit little-endian.
/// Read with libelf (program headers, notes); the note payloads (prstatus,
/// siginfo, auxv, NT_FILE) are the kernel's UAPI layouts, decoded with bounds
/// checks because a core may be hostile.
///
/// What a core says and what it does not, compared with /proc/PID/maps:
///   - one PT_LOAD per VMA: bounds and r/w/x (p_flags; 0 is PROT_NONE). The
///     kernel writes a header for every VMA whatever coredump_filter says (the
///     filter only decides whether the contents are dumped: p_filesz), and
///     includes the gate VMA ([vsyscall]) on x86_64.
///   - private or shared is not recorded: see `shared_by_name` in the .cc.
///   - NT_FILE names every file-backed VMA with its file offset (in pages),
///     but not its device or inode; see CoreSource::snapshot().
///   - pseudo names ([heap], [stack], [vdso], [vvar], [vsyscall]) are not
///     recorded; they are reconstructed from the auxiliary vector and the
///     layout (rules in the .cc, next to the code).
///   - MADV_GUARD_INSTALL guard pages are invisible (they live inside a VMA
///     and have no page to dump); Snapshot::guard_pages_scanned stays false.
///   - smaps VmFlags are not recorded.

#include <elf.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "region_source.h"
#include "signals.h"

struct Elf;  // libelf's handle (<libelf.h>: typedef struct Elf Elf)

namespace vma {

struct CoreArch;  // one row of the .cc's architecture table

/// Ends a libelf handle (elf_end); for std::unique_ptr.
struct ElfCloser {
  void operator()(::Elf* e) const;
};

/// One thread of the core: one NT_PRSTATUS note (and the NT_SIGINFO that
/// follows it, when the writer puts one there).
struct CoreThread {
  int tid = 0;            ///< pr_pid: the thread's TID
  int cursig = 0;         ///< pr_cursig: the signal being delivered, 0 if none
  std::optional<Addr> sp; ///< x86_64 rsp, aarch64 sp
  std::optional<Addr> pc; ///< x86_64 rip, aarch64 pc
  /// si_signo, si_code and si_addr of this thread's NT_SIGINFO, when present.
  struct SigInfo {
    int signo = 0;
    int code = 0;
    int errno_value = 0;
    std::optional<Addr> addr;  ///< only for SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP
  };
  std::optional<SigInfo> siginfo;
};

/// One NT_FILE entry: a file-backed VMA as the writer saw it.
struct CoreFileEntry {
  AddressRange range;
  std::uint64_t offset = 0;  ///< bytes (NT_FILE stores pages; multiplied out)
  std::string path;          ///< as the kernel printed it, ` (deleted)` kept
};

/// What became of one file NT_FILE names when looked for on this machine.
struct CoreFileCheck {
  enum class Status {
    same_build_id,     ///< exists, is ELF, build-id equals the one in the core
    no_build_id,       ///< exists and is ELF; the core holds no build-id to compare
    build_id_differs,  ///< exists but is another build: not used
    missing,           ///< cannot be opened here: not used
    not_elf,           ///< exists but is not an ELF file: not used
    deleted,           ///< the target had it open after unlinking it: not used
  };
  std::string path;       ///< as NT_FILE names it (or --exe for the executable)
  std::string host_path;  ///< what is read here (differs for --exe)
  Status status = Status::missing;
  std::string core_build_id;  ///< hex, empty when unknown
  std::string file_build_id;  ///< hex, empty when unknown
  /// True when the file may be used to classify its mappings.
  bool usable() const { return status == Status::same_build_id || status == Status::no_build_id; }
  /// "ok (build-id 1a2b...)", "build-id differs: core 1a2b..., file 3c4d...".
  std::string describe() const;
};

/// The notes a front end prints about `checks` (one line each, without a
/// prefix): a file not used to classify, with why ("PATH: not used: build-id
/// differs ..."). Deleted files are expected (memfds, unlinked temporaries)
/// and left out. Three or more files with the same reason (a gcore core
/// names every locale and font file the process mapped: 13 "is not an ELF
/// file" lines before the real answer) fold into one line that names the
/// first three and counts the rest. Names go through safe_text().
std::vector<std::string> core_file_notes(const std::vector<CoreFileCheck>& checks);

/// One auxv entry (NT_AUXV), as AT_* type and value.
struct AuxvEntry {
  std::uint64_t type = 0;
  std::uint64_t value = 0;
};

/// Who wrote the core. Writers differ in what they record (see the .cc).
enum class CoreWriter {
  kernel,  ///< fs/binfmt_elf.c: exact r/w/x, every VMA
  gdb,     ///< gdb's gcore (an owner "GDB" note): PF_R on every segment,
           ///< VM_IO/VM_DONTDUMP VMAs ([vvar]) left out, NT_FILE offsets in bytes
};

class CoreSource : public RegionSource {
 public:
  /// Opens and parses `core_path`. `exe_path`, when given, is the main
  /// executable as a file on this machine: it is used instead of the path the
  /// core names (and to name the executable's segments when the core has no
  /// NT_FILE). Fails with a message naming the file, what is wrong and at
  /// which offset or note: an empty file, not ELF, not ET_CORE, another
  /// class, byte order or machine, program headers, a segment or a note past
  /// the end of the file, a malformed note. Never reads outside the file.
  static Result<std::unique_ptr<CoreSource>> open(const std::string& core_path,
                                                  std::optional<std::string> exe_path = std::nullopt);
  ~CoreSource() override;

  /// "core file PATH".
  std::string describe() const override;
  /// The mappings (sorted, non-overlapping), every thread with its SP, and a
  /// FileResolver that uses only files whose build-id matches (file_checks()).
  Result<Snapshot> snapshot() override;

  /// The signal that killed the process: the first thread (in note order)
  /// whose NT_SIGINFO has a non-zero si_signo that is not a stop signal
  /// (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU), with that thread's PC. In a kernel
  /// core that is the thread that took the signal, and it comes first.
  /// nullopt when no thread has such a signal (a gcore of a process gdb
  /// merely attached to records the SIGSTOP of the attach; a core without
  /// NT_SIGINFO: before Linux 3.7).
  std::optional<Fault> fatal_fault() const;
  /// The TID of the thread that took the fatal signal, with fatal_fault().
  std::optional<int> fatal_tid() const;

  const Target& target() const { return target_; }
  /// Settles what the core cannot say (the VA width, see Target::va_bits_known)
  /// from `t` (a user's --arch). Fails when `t` is another architecture, or
  /// narrower than a mapping of the core.
  Result<void> use_target(const Target& t);
  CoreWriter writer() const { return writer_; }
  /// Threads in note order.
  const std::vector<CoreThread>& threads() const { return threads_; }
  /// The process id: NT_PRPSINFO's pr_pid, else the first thread's TID.
  std::optional<int> pid() const { return pid_; }
  const std::vector<AuxvEntry>& auxv() const { return auxv_; }
  const std::vector<CoreFileEntry>& files() const { return files_; }
  /// True when the core has an NT_FILE note (kernels since 3.7, gdb's gcore).
  bool has_file_note() const { return has_file_note_; }
  /// The main executable's path as the target saw it (NT_FILE entry holding
  /// AT_PHDR, else --exe, else the AT_EXECFN string); empty when unknown.
  const std::string& executable() const { return executable_; }
  /// What was found on this machine for each file NT_FILE names.
  const std::vector<CoreFileCheck>& file_checks() const { return checks_; }
  /// `n` bytes of target memory at `a`, when the core holds all of them.
  std::optional<std::string> read_memory(Addr a, std::size_t n) const;

 private:
  struct Segment {
    AddressRange range;
    std::uint32_t flags = 0;        // PF_R | PF_W | PF_X
    std::uint64_t file_offset = 0;  // of the dumped bytes in the core
    std::uint64_t filesz = 0;       // bytes dumped (0..range.size())
  };
  struct NoteSegment;
  struct NoteBytes;
  using ElfHandle = std::unique_ptr<::Elf, ElfCloser>;

  CoreSource() = default;
  /// Reads the file: ELF header, program headers, notes, then what follows
  /// from them. One function per header and note, so that another
  /// architecture is a row of the architecture table in the .cc (and, if its
  /// notes differ, one more reader), not branches in here.
  Result<void> load(const std::string& path, std::optional<std::string> exe_path);
  Error fail(const std::string& what) const;  ///< "PATH: what"
  Result<ElfHandle> open_elf();
  Result<std::vector<NoteSegment>> read_program_headers(::Elf* elf, const Elf64_Ehdr& eh);
  Result<void> read_note_segment(::Elf* elf, const NoteSegment& ns, const CoreArch& arch);
  // Each returns what is wrong with the note, or nullopt.
  std::optional<std::string> read_prstatus(const NoteBytes& n, const CoreArch& arch);
  std::optional<std::string> read_prpsinfo(const NoteBytes& n);
  std::optional<std::string> read_siginfo(const NoteBytes& n);
  std::optional<std::string> read_auxv(const NoteBytes& n);
  std::optional<std::string> read_file_note(const NoteBytes& n);
  void infer_target(const CoreArch& arch);
  void find_executable();
  std::vector<Mapping> build_mappings() const;
  void recover_prot_none(std::vector<Mapping>& out) const;
  std::optional<std::uint64_t> auxv_value(std::uint64_t type) const;
  std::optional<std::string> read_string(Addr a, std::size_t max) const;
  void check_files();

  std::string path_;
  std::optional<std::string> exe_override_;
  int fd_ = -1;
  std::uint64_t file_size_ = 0;
  Target target_;
  std::vector<Segment> segments_;  // sorted by address
  std::vector<CoreThread> threads_;
  std::optional<int> pid_;
  std::vector<AuxvEntry> auxv_;
  bool have_auxv_ = false, have_psinfo_ = false;
  /// An NT_SIGINFO before any NT_PRSTATUS: given to the first thread.
  std::optional<CoreThread::SigInfo> orphan_siginfo_;
  std::vector<CoreFileEntry> files_;
  bool has_file_note_ = false;
  CoreWriter writer_ = CoreWriter::kernel;
  std::uint64_t file_page_size_ = 0;
  std::string executable_;
  std::vector<CoreFileCheck> checks_;
  // Executable segments named from --exe when the core has no NT_FILE.
  std::vector<CoreFileEntry> exe_entries_;
};

}  // namespace vma
