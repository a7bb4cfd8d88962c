#include "demo.h"

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "draw.h"
#include "errno_name.h"
#include "proc_source.h"
#include "render.h"
#include "runner.h"

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#endif
#ifndef PR_MDWE_REFUSE_EXEC_GAIN
#define PR_MDWE_REFUSE_EXEC_GAIN 1
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

namespace vma::harness {
namespace {

class Narrator {
 public:
  explicit Narrator(const DemoOptions& o) : opts_(o) { capture_ = ptrace_permitted() ? Capture::ptrace : Capture::handler; }

  void title(const std::string& s) {
    std::cout << "\n" << (opts_.color ? "\033[1m" : "") << "== " << s << (opts_.color ? "\033[0m" : "") << "\n";
  }
  void say(const std::string& s) { std::cout << s << "\n"; }
  void pause() {
    std::cout.flush();
    if (!opts_.step) return;
    std::cout << (opts_.color ? "\033[2m" : "") << "   [Enter]" << (opts_.color ? "\033[0m" : "") << std::flush;
    std::string line;
    std::getline(std::cin, line);
  }

  /// The lines of /proc/self/maps that hold or touch [lo, hi).
  void map_lines(Addr lo, Addr hi) {
    std::ifstream in("/proc/self/maps");
    for (std::string line; std::getline(in, line);) {
      Addr start = 0, end = 0;
      if (std::sscanf(line.c_str(), "%lx-%lx", &start, &end) != 2) continue;
      if (end >= lo && start <= hi)
        std::cout << "   " << (opts_.color ? "\033[36m" : "") << line << (opts_.color ? "\033[0m" : "") << "\n";
    }
  }
  void map_line(const void* p) {
    Addr a = reinterpret_cast<Addr>(p);
    map_lines(a, a);
  }

  /// This process's address space drawn (`vma map --draw`), pointing at
  /// `a`. The children fork from here, so this is their map too. Sized to
  /// the terminal, a few rows shorter so the step's text stays on screen.
  void draw(Addr a, const std::string& label) {
    auto src = ProcSource::open(getpid());
    if (!src) return say("   (no drawing: " + src.error().message + ")");
    auto snap = (*src)->snapshot();
    if (!snap) return say("   (no drawing: " + snap.error().message + ")");
    AddressMap map = AddressMap::build(std::move(snap).value(), elf_);
    TerminalSize size = terminal_size(STDOUT_FILENO);
    size.rows = std::max(12, size.rows - 6);
    std::cout << draw_map_text(map, size, opts_.color, a, label);
  }

  /// Runs `body` in a forked, traced child and says what happened: first
  /// the drawing pointing at `touched` (when the step touches one address),
  /// then the fault, and the drawing again at the fault address when the
  /// fault is elsewhere (a stack overflow faults wherever the stack ends).
  /// Returns the observation.
  Observation in_child(const std::string& what, std::function<int()> body,
                       std::optional<Addr> touched = std::nullopt) {
    if (touched) draw(*touched, "touch");
    std::cout << "-> " << what << "\n" << std::flush;
    std::vector<Launch> launches(1);
    launches[0].body = std::move(body);
    launches[0].timeout = 10;
    RunOptions ro;
    ro.capture = capture_;
    Observation result;
    run_probes(launches, ro, elf_, [&](std::size_t, Observation o) { result = std::move(o); });
    if (result.error) {
      say("   error: " + *result.error);
    } else if (result.outcome == Outcome::fault) {
      Fault f;
      f.signo = result.signo.value_or(0);
      f.code = result.code.value_or(0);
      f.addr = result.addr;
      f.pc = result.pc;
      if (const Annotation* a = result.region_annotation()) {
        std::string text = fault_text(f, *a, TextStyle{opts_.color});
        std::istringstream lines(text);
        for (std::string l; std::getline(lines, l);) say("   " + l);
      } else {
        say("   " + describe(result));
      }
      const Addr page = sysconf(_SC_PAGESIZE);
      if (f.addr && (!touched || *f.addr / page != *touched / page)) draw(*f.addr, "fault");
    } else {
      say("   the child exited " + std::to_string(result.exit_code.value_or(-1)));
    }
    return result;
  }

  /// What core says about an address of this process.
  void whereis_self(Addr a) {
    auto src = ProcSource::open(getpid());
    if (!src) return;
    auto ann = whereis(**src, a, elf_);
    if (!ann) return;
    std::istringstream lines(whereis_text({*ann}, TextStyle{opts_.color}));
    for (std::string l; std::getline(lines, l);) say("   " + l);
  }

 private:
  DemoOptions opts_;
  Capture capture_;
  ElfCache elf_;
};

std::string hexs(const void* p) { return hex(reinterpret_cast<Addr>(p)); }

// The accesses below hide their pointers from the optimiser (REFERENCE.md §3:
// GCC turns a known null dereference into ud2). One byte: "the byte below the
// stack" is an odd address, and an int load there would be misaligned (UBSan
// ended the child with exit 1 before the fault) and reach into the stack.
__attribute__((noinline)) int read_at(Addr a) {
  volatile unsigned char* p = reinterpret_cast<volatile unsigned char*>(a);
  __asm__ volatile("" : "+r"(p));
  return *p;
}
__attribute__((noinline)) int call_at(Addr a) {
  int (*f)() = reinterpret_cast<int (*)()>(a);
  __asm__ volatile("" : "+r"(f));
  return f();
}
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winfinite-recursion"  // the point: overflow the stack
__attribute__((noinline)) int recurse(int depth) {
  volatile char frame[4096];
  frame[0] = static_cast<char>(depth);
  __asm__ volatile("" ::: "memory");
  return recurse(depth + 1) + frame[0];
}
#pragma GCC diagnostic pop
int overflow_stack() {
  rlimit lim{1 << 20, 1 << 20};
  setrlimit(RLIMIT_STACK, &lim);
  return recurse(0);
}

// mov eax, 42; ret
const unsigned char kCode[] = {0xb8, 0x2a, 0x00, 0x00, 0x00, 0xc3};

int demo_wx(Narrator& n) {
  const std::size_t page = sysconf(_SC_PAGESIZE);
  n.title("W^X: writable memory is not executable");
  void* mem = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return 1;
  n.say("1. mmap(PROT_READ|PROT_WRITE) one page at " + hexs(mem) + ":");
  n.map_line(mem);
  n.pause();
  std::memcpy(mem, kCode, sizeof kCode);
  n.say("2. write code into it: b8 2a 00 00 00 c3 (mov eax, 42; ret)");
  n.pause();
  Addr code = reinterpret_cast<Addr>(mem);
  n.say("3. jump to it (in a child, so the fault can be caught):");
  n.in_child("call " + hexs(mem), [code] { return call_at(code); }, code);
  n.say("   the page is rw-p: no x bit, the CPU refuses to fetch from it (NX).");
  n.pause();
  mprotect(mem, page, PROT_READ | PROT_EXEC);
  n.say("4. mprotect(PROT_READ|PROT_EXEC):");
  n.map_line(mem);
  n.pause();
  n.say("5. jump again:");
  Observation o = n.in_child("call " + hexs(mem), [code] { return call_at(code); }, code);
  if (!o.error && o.outcome != Outcome::fault && o.exit_code == 42)
    n.say("   it ran and returned 42: a stock kernel lets memory be written, then executed.");
  n.pause();
  n.say("6. what a hardened kernel answers (PaX MPROTECT, SELinux execmem, or PR_SET_MDWE,");
  n.say("   tried here in a child with prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN)):");
  n.in_child("mmap rw, then mprotect(PROT_READ|PROT_EXEC) under MDWE", [page] {
    if (prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0L, 0L, 0L) != 0) return 100;
    void* m = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return 101;
    return mprotect(m, page, PROT_READ | PROT_EXEC) == 0 ? 0 : errno;
  });
  n.say("   exit status " + std::to_string(EACCES) + " is EACCES: the mprotect was refused; 100 means no MDWE");
  n.say("   (Linux < 6.3), 0 that it went through.");
  munmap(mem, page);
  return 0;
}

void* park(void* arg) {
  auto* fd = static_cast<int*>(arg);
  char c;
  (void)!read(*fd, &c, 1);
  return nullptr;
}

int demo_guard(Narrator& n) {
  const std::size_t page = sysconf(_SC_PAGESIZE);
  n.title("guard pages");
  int local = 0;
  n.say("1. the main stack grows down on demand; below it the kernel keeps stack_guard_gap");
  n.say("   (256 pages) free and refuses to grow past RLIMIT_STACK. Its VMA:");
  n.map_line(&local);
  n.pause();
  n.in_child("recurse with RLIMIT_STACK = 1 MiB", [] { return overflow_stack(); });
  n.pause();

  int fds[2];
  if (pipe(fds) != 0) return 1;
  // The thread blocks every signal: SIGCHLD must reach the runner's signalfd.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  pthread_t t;
  int created = pthread_create(&t, nullptr, park, &fds[0]);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (created != 0) return 1;
  pthread_attr_t attr;
  void* low = nullptr;
  std::size_t size = 0, guard = 0;
  pthread_getattr_np(t, &attr);
  pthread_attr_getstack(&attr, &low, &size);
  pthread_attr_getguardsize(&attr, &guard);
  pthread_attr_destroy(&attr);
  Addr lo = reinterpret_cast<Addr>(low);
  n.say("2. a thread's stack (glibc): " + std::to_string(size >> 10) + " KiB with a " +
        std::to_string(guard >> 10) + " KiB PROT_NONE guard VMA right below it:");
  n.map_lines(lo - guard, lo);
  n.pause();
  n.in_child("touch the byte below the thread's stack, " + hex(lo - 1), [lo] { return read_at(lo - 1); }, lo - 1);
  n.pause();

  auto* region = static_cast<unsigned char*>(
      mmap(nullptr, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (region == MAP_FAILED) return 1;
  mprotect(region + page, page, PROT_NONE);
  Addr mid = reinterpret_cast<Addr>(region + page);
  n.say("3. an mmap region with a PROT_NONE page in the middle (mprotect splits the VMA):");
  n.map_lines(reinterpret_cast<Addr>(region), reinterpret_cast<Addr>(region) + 3 * page - 1);
  n.pause();
  n.in_child("touch " + hex(mid), [mid] { return read_at(mid); }, mid);
  n.pause();

  mprotect(region + page, page, PROT_READ | PROT_WRITE);
  if (madvise(region + page, page, MADV_GUARD_INSTALL) == 0) {
    n.say("4. MADV_GUARD_INSTALL (Linux 6.13+): a guard page inside one VMA, no split, no");
    n.say("   PROT_NONE; only /proc/PID/pagemap (bit 58) shows it:");
    n.map_lines(reinterpret_cast<Addr>(region), reinterpret_cast<Addr>(region) + 3 * page - 1);
    n.pause();
    n.in_child("touch " + hex(mid), [mid] { return read_at(mid); }, mid);
    n.say("   a guard region faults as if unmapped: SEGV_MAPERR, not SEGV_ACCERR.");
  } else {
    n.say("4. MADV_GUARD_INSTALL: not supported here (" + os::errno_name(errno) +
          "; Linux 6.13+)");
  }
  munmap(region, 3 * page);
  (void)!write(fds[1], "x", 1);
  pthread_join(t, nullptr);
  close(fds[0]);
  close(fds[1]);
  return 0;
}

int demo_null(Narrator& n) {
  const std::size_t page = sysconf(_SC_PAGESIZE);
  n.title("the null page");
  std::ifstream f("/proc/sys/vm/mmap_min_addr");
  std::string min_addr;
  f >> min_addr;
  n.say("1. vm.mmap_min_addr = " + min_addr + ": nothing below it can be mapped by unprivileged");
  n.say("   code, so a NULL dereference (plus a small offset) always faults. Lowest mappings:");
  {
    std::ifstream in("/proc/self/maps");
    std::string line;
    for (int i = 0; i < 2 && std::getline(in, line); ++i) n.say("   " + line);
  }
  n.pause();
  n.in_child("read *(int *)0", [] { return read_at(0); });
  n.pause();
  n.in_child("call a null function pointer", [] { return call_at(0); });
  n.say("   an exec fault at 0: si_addr 0 and the pc is 0.");
  n.pause();
  n.in_child("mmap(0, MAP_FIXED) (exit status: 0 mapped, else errno)", [page] {
    void* p = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    return p == MAP_FAILED ? errno : 0;
  });
  n.say("   EPERM (" + std::to_string(EPERM) + ") for unprivileged code; root (CAP_SYS_RAWIO) may map it: " +
        std::string(geteuid() == 0 ? "you are root." : "you are not root."));
  return 0;
}

int demo_stack(Narrator& n) {
  n.title("the stack");
  unsigned char buf[64];
  std::memcpy(buf, kCode, sizeof kCode);
  Addr code = reinterpret_cast<Addr>(buf);
  rlimit lim{};
  getrlimit(RLIMIT_STACK, &lim);
  n.say("1. a local variable at " + hexs(buf) + "; RLIMIT_STACK " +
        (lim.rlim_cur == RLIM_INFINITY ? std::string("unlimited") : std::to_string(lim.rlim_cur >> 10) + " KiB") +
        ". What core says about it:");
  n.whereis_self(code);
  n.map_line(buf);
  n.pause();
  n.say("2. the stack is rw-p: code written there does not run (NX):");
  n.in_child("call " + hexs(buf), [code] { return call_at(code); });
  n.pause();
  n.say("3. unbounded recursion: the kernel grows [stack] until RLIMIT_STACK, then the next");
  n.say("   touch below it is SEGV_MAPERR in the gap under the stack:");
  n.in_child("recurse with RLIMIT_STACK = 1 MiB", [] { return overflow_stack(); });
  return 0;
}

}  // namespace

std::optional<Demo> parse_demo(std::string_view name) {
  if (name == "wx") return Demo::wx;
  if (name == "guard") return Demo::guard;
  if (name == "null") return Demo::null;
  if (name == "stack") return Demo::stack;
  return std::nullopt;
}

int run_demo(Demo d, const DemoOptions& opts) {
  Narrator n(opts);
  switch (d) {
    case Demo::wx: return demo_wx(n);
    case Demo::guard: return demo_guard(n);
    case Demo::null: return demo_null(n);
    case Demo::stack: return demo_stack(n);
  }
  return 1;
}

}  // namespace vma::harness
