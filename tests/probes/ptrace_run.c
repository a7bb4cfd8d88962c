/* ptrace_run: runs one probe under ptrace (fault capture mode 1, as
 * vma-harness does) and prints what the tracer sees, for the probe tests.
 *
 *   ptrace_run PROBE [ARGS...]
 *
 * The probe's own lines go to stdout as it writes them. At the first
 * signal-delivery stop for SIGSEGV, SIGBUS, SIGILL, SIGTRAP (not an exec or
 * clone event) or SIGFPE, in any thread, it prints
 *   fault signo=<n> code=<n> addr=0x<hex> pc=0x<hex> tid=<n>
 * from PTRACE_GETSIGINFO and the registers, kills the probe and exits 0.
 * If the probe exits instead: "exited <status>" or "killed <signo>".
 * Exit 1 on a tracer error, 3 on timeout (10 s). Test-only: the harness has
 * its own tracer; this one checks the probes, not the harness.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__aarch64__)
#include <elf.h>
#endif

static pid_t child = -1;

static void on_alarm(int sig) {
  (void)sig;
  if (child > 0) kill(child, SIGKILL);
  static const char msg[] = "timeout\n";
  (void)!write(1, msg, sizeof msg - 1);
  _exit(3);
}

static uint64_t thread_pc(pid_t tid) {
#if defined(__x86_64__)
  struct user_regs_struct regs;
  if (ptrace(PTRACE_GETREGS, tid, NULL, &regs) != 0) return 0;
  return regs.rip;
#elif defined(__aarch64__)
  struct user_regs_struct regs;
  struct iovec iov = {&regs, sizeof regs};
  if (ptrace(PTRACE_GETREGSET, tid, (void *)NT_PRSTATUS, &iov) != 0) return 0;
  return regs.pc;
#else
  (void)tid;
  return 0;
#endif
}

static int is_fault_signal(int sig) {
  return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGTRAP || sig == SIGFPE;
}

/* Kills the probe (all its threads) and reaps every traced task. */
static void kill_and_reap(void) {
  kill(child, SIGKILL);
  for (;;) {
    int status;
    pid_t w = waitpid(-1, &status, __WALL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) break;
  }
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: ptrace_run PROBE [ARGS...]\n");
    return 1;
  }
  setvbuf(stdout, NULL, _IONBF, 0);
  child = fork();
  if (child < 0) {
    perror("fork");
    return 1;
  }
  if (child == 0) {
    setpgid(0, 0);
    if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != 0) _exit(126);
    raise(SIGSTOP);
    execv(argv[1], argv + 1);
    _exit(127);
  }
  signal(SIGALRM, on_alarm);
  alarm(10);

  int status;
  if (waitpid(child, &status, 0) != child || !WIFSTOPPED(status)) {
    fprintf(stderr, "ptrace_run: child did not stop\n");
    return 1;
  }
  long opts = PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;
  if (ptrace(PTRACE_SETOPTIONS, child, NULL, (void *)opts) != 0) {
    perror("PTRACE_SETOPTIONS");
    kill_and_reap();
    return 1;
  }
  ptrace(PTRACE_CONT, child, NULL, NULL);

  for (;;) {
    pid_t tid = waitpid(-1, &status, __WALL);
    if (tid < 0) {
      if (errno == EINTR) continue;
      perror("waitpid");
      return 1;
    }
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      if (tid != child) continue; /* a thread went away */
      if (WIFEXITED(status))
        printf("exited %d\n", WEXITSTATUS(status));
      else
        printf("killed %d\n", WTERMSIG(status));
      kill_and_reap();
      return 0;
    }
    if (!WIFSTOPPED(status)) continue;
    int sig = WSTOPSIG(status);
    int event = status >> 16;
    if (event != 0 || sig == SIGSTOP) { /* exec, clone, new thread's first stop */
      ptrace(PTRACE_CONT, tid, NULL, NULL);
      continue;
    }
    siginfo_t si;
    if (is_fault_signal(sig) && ptrace(PTRACE_GETSIGINFO, tid, NULL, &si) == 0) {
      printf("fault signo=%d code=%d addr=0x%llx pc=0x%llx tid=%d\n", si.si_signo, si.si_code,
             (unsigned long long)(uintptr_t)si.si_addr, (unsigned long long)thread_pc(tid), (int)tid);
      kill_and_reap();
      return 0;
    }
    ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig); /* pass other signals on */
  }
}
