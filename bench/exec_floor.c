/* The floor of `vma-harness aslr`: N bare fork+exec+exit of the sampler
 * binaries from C, the same programs the harness execs for each sample.
 *
 *   vma-bench-exec-floor N PROGRAM [PROGRAM...]
 *
 * Runs each PROGRAM N times in turn (one after the other, stdout to
 * /dev/null, waited for), then prints one JSON line:
 *
 *   {"runs": N*PROGRAMS, "wall": SECONDS, "cpu": SECONDS}
 *
 * wall is the whole loop; cpu is user + sys of this process and all its
 * children (getrusage). A program that fails to start or exits non-zero
 * stops the loop with exit 1.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double seconds(struct timeval t) { return (double)t.tv_sec + (double)t.tv_usec * 1e-6; }

static int run_once(const char *path, int devnull) {
  pid_t pid = fork();
  if (pid < 0) {
    perror("exec_floor: fork");
    return -1;
  }
  if (pid == 0) {
    dup2(devnull, STDOUT_FILENO);
    execl(path, path, (char *)NULL);
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "exec_floor: %s: exit status %#x\n", path, status);
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s N PROGRAM [PROGRAM...]\n", argv[0]);
    return 2;
  }
  long n = strtol(argv[1], NULL, 10);
  int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (n <= 0 || devnull < 0) {
    fprintf(stderr, "exec_floor: N must be positive and /dev/null writable\n");
    return 2;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < n; ++i)
    for (int p = 2; p < argc; ++p)
      if (run_once(argv[p], devnull) != 0) return 1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  struct rusage self, kids;
  getrusage(RUSAGE_SELF, &self);
  getrusage(RUSAGE_CHILDREN, &kids);
  double cpu = seconds(self.ru_utime) + seconds(self.ru_stime) + seconds(kids.ru_utime) + seconds(kids.ru_stime);
  printf("{\"runs\": %ld, \"wall\": %.6f, \"cpu\": %.6f}\n", n * (argc - 2),
         (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9, cpu);
  return 0;
}
