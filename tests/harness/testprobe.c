/* testprobe: misbehaving user probes for the harness tests.
 *   testprobe MODE MARKER
 * MARKER only makes the processes findable (pgrep -f); MODE is one of
 *   segv          load from address 0 (a well-behaved faulting probe)
 *   hang          print a note, then sleep forever
 *   clean         exit 0 without a verdict
 *   abort         die of SIGABRT
 *   stderr-exit   write to stderr, exit 3 without a verdict
 *   spawn         fork a grandchild in the probe's process group and one
 *                 that escapes it (double fork + setsid); both sleep
 *                 forever; then print "allowed" and exit
 *   spawn-crash   the same, then fault
 *   spawn-hang    the same, then sleep forever
 *   whoami        print "note uid=<uid>" and "allowed"
 *   sigusr        send itself SIGUSR1 (handled), then fault: the harness
 *                 must pass the signal through and catch the fault
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *s) { (void)!write(1, s, strlen(s)); }

static void sleep_forever(void) {
  for (;;) pause();
}

__attribute__((noinline)) static int read_null(volatile int *p) {
  __asm__ volatile("" : "+r"(p));
  return *p;
}

static void spawn(void) {
  pid_t a = fork();
  if (a == 0) sleep_forever(); /* stays in the probe's process group */
  pid_t b = fork();
  if (b == 0) {
    setsid(); /* leaves the process group and the session */
    if (fork() == 0) sleep_forever();
    _exit(0);
  }
  while (waitpid(b, NULL, 0) < 0) {
  }
  say("note spawned\n");
}

static volatile sig_atomic_t got_usr1;
static void on_usr1(int sig) {
  (void)sig;
  got_usr1 = 1;
}

int main(int argc, char **argv) {
  if (argc < 2) return 64;
  const char *mode = argv[1];
  if (!strcmp(mode, "segv")) {
    say("target 0x0\n");
    return read_null(NULL);
  }
  if (!strcmp(mode, "hang")) {
    say("note hanging\n");
    sleep_forever();
  }
  if (!strcmp(mode, "clean")) return 0;
  if (!strcmp(mode, "abort")) abort();
  if (!strcmp(mode, "stderr-exit")) {
    (void)!write(2, "testprobe: something broke\n", 28);
    return 3;
  }
  if (!strncmp(mode, "spawn", 5)) {
    spawn();
    if (!strcmp(mode, "spawn-crash")) return read_null(NULL);
    if (!strcmp(mode, "spawn-hang")) sleep_forever();
    say("allowed\n");
    return 0;
  }
  if (!strcmp(mode, "whoami")) {
    char buf[64];
    snprintf(buf, sizeof buf, "note uid=%d\nallowed\n", (int)getuid());
    say(buf);
    return 0;
  }
  if (!strcmp(mode, "sigusr")) {
    signal(SIGUSR1, on_usr1);
    raise(SIGUSR1);
    if (got_usr1) say("note got SIGUSR1\n");
    say("target 0x0\n");
    return read_null(NULL);
  }
  return 64;
}
