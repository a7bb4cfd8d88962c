#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "child_process.h"
#include "errno_name.h"
#include "fd.h"
#include "read_file.h"
#include "registers.h"

using namespace vma::os;

namespace {

bool fd_open(int fd) { return fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

/// True once `pid` is gone or a zombie, within 5 s.
bool dies(pid_t pid) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < until) {
    auto stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    if (!stat) return true;
    const auto close_paren = stat->rfind(')');
    if (close_paren != std::string::npos && stat->substr(close_paren + 2, 1) == "Z") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

WaitStatus run_to_end(SpawnOptions o) {
  auto c = ChildProcess::spawn(o);
  REQUIRE(c.ok());
  REQUIRE_FALSE(c->start_failure());
  return c->wait();
}

}  // namespace

TEST_CASE("a child's exit code") {
  WaitStatus s = run_to_end({.argv = {"sh", "-c", "exit 3"}});
  CHECK(s.exit_code() == 3);
  CHECK_FALSE(s.term_signal());
  CHECK(s.ended());
}

TEST_CASE("a child killed by a signal") {
  WaitStatus s = run_to_end({.argv = {"sh", "-c", "kill -TERM $$"}});
  CHECK_FALSE(s.exit_code());
  CHECK(s.term_signal() == SIGTERM);
}

TEST_CASE("a body's return value is its exit code") {
  WaitStatus s = run_to_end({.body = [] { return 42; }});
  CHECK(s.exit_code() == 42);
}

TEST_CASE("a program that cannot be executed is a start failure") {
  auto c = ChildProcess::spawn({.argv = {"/nonexistent/vmakit-test"}});
  REQUIRE(c.ok());
  REQUIRE(c->start_failure());
  CHECK(c->start_failure()->step == SpawnStep::exec);
  CHECK(c->start_failure()->err == ENOENT);
  CHECK(c->start_failure()->what() == "cannot execute /nonexistent/vmakit-test");
  CHECK(c->wait().exit_code() == 127);
}

TEST_CASE("the environment and fds given reach the child") {
  auto p = make_pipe();
  REQUIRE(p.ok());
  auto c = ChildProcess::spawn({.argv = {"sh", "-c", "echo \"$VMAKIT_OS_TEST\""},
                                .env = std::vector<std::string>{"VMAKIT_OS_TEST=seen", "PATH=/usr/bin:/bin"},
                                .fds = {{p->write_end.get(), 1}}});
  REQUIRE(c.ok());
  p->write_end.reset();
  std::string out;
  char buf[64];
  for (ssize_t n; (n = read(p->read_end.get(), buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  CHECK(out == "seen\n");
  CHECK(c->wait().exit_code() == 0);
}

TEST_CASE("destroying a child kills its process group and reaps it") {
  auto p = make_pipe();
  REQUIRE(p.ok());
  pid_t leader = -1, grandchild = -1;
  {
    auto c = ChildProcess::spawn({.argv = {"sh", "-c", "sleep 100 & echo $!; wait"}, .fds = {{p->write_end.get(), 1}}});
    REQUIRE(c.ok());
    leader = c->pid();
    p->write_end.reset();
    std::string line;
    char ch;
    while (read(p->read_end.get(), &ch, 1) == 1 && ch != '\n') line += ch;
    grandchild = std::atoi(line.c_str());
    REQUIRE(grandchild > 0);
    CHECK(getpgid(grandchild) == leader);
  }
  CHECK(kill(leader, 0) == -1);  // reaped: not even a zombie
  CHECK(dies(grandchild));
}

TEST_CASE("a released child is neither killed nor reaped") {
  pid_t pid = -1;
  {
    auto c = ChildProcess::spawn({.argv = {"sleep", "100"}});
    REQUIRE(c.ok());
    pid = c->release();
  }
  CHECK(kill(pid, 0) == 0);
  kill(pid, SIGKILL);
  int status = 0;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WaitStatus(status).term_signal() == SIGKILL);
}

TEST_CASE("a traced body stops before it runs, and its registers read") {
  auto c = ChildProcess::spawn({.body = [] { return 0; }, .trace_me = true});
  REQUIRE(c.ok());
  WaitStatus s = c->wait();
  CHECK(s.stop_signal() == SIGSTOP);
  auto regs = read_registers(c->pid());
  REQUIRE(regs.ok());
  CHECK(regs->sp != 0);
  CHECK(regs->pc != 0);
}

TEST_CASE("registers of a thread this one does not trace") {
  auto regs = read_registers(getpid());
  REQUIRE_FALSE(regs.ok());
  CHECK(regs.error().message == "ptrace(PTRACE_GETREGSET, " + std::to_string(getpid()) + "): ESRCH (No such process)");
}

TEST_CASE("an Fd closes on destruction, not after a move") {
  auto p = make_pipe();
  REQUIRE(p.ok());
  const int fd = p->read_end.get();
  Fd moved(std::move(p->read_end));
  CHECK(p->read_end.get() == -1);
  CHECK(moved.get() == fd);
  CHECK(fd_open(fd));
  {
    Fd last(std::move(moved));
  }
  CHECK_FALSE(fd_open(fd));
}

TEST_CASE("assigning to an Fd closes the one it held") {
  auto a = make_pipe();
  auto b = make_pipe();
  REQUIRE((a.ok() && b.ok()));
  const int old = a->read_end.get();
  a->read_end = std::move(b->read_end);
  CHECK_FALSE(fd_open(old));
  const int released = a->write_end.release();
  CHECK(fd_open(released));
  close(released);
}

TEST_CASE("Fd::open names the path in its error") {
  auto fd = Fd::open("/nonexistent/vmakit", O_RDONLY);
  REQUIRE_FALSE(fd.ok());
  CHECK(fd.error().message == "/nonexistent/vmakit: No such file or directory");
}

TEST_CASE("read_file reads a whole file") {
  const std::string path = (std::filesystem::temp_directory_path() / ("vmakit-os-test." + std::to_string(getpid()))).string();
  const std::string data("a\0b\nc", 5);
  std::ofstream(path, std::ios::binary) << data;
  auto text = read_file(path);
  std::filesystem::remove(path);
  REQUIRE(text.ok());
  CHECK(*text == data);
}

TEST_CASE("read_file reads /proc files whose size is 0") {
  auto text = read_file("/proc/self/status");
  REQUIRE(text.ok());
  CHECK(text->find("Pid:") != std::string::npos);
}

TEST_CASE("read_file errors name the path") {
  auto missing = read_file("/nonexistent/vmakit");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message == "/nonexistent/vmakit: No such file or directory");
  auto dir = read_file("/");
  REQUIRE_FALSE(dir.ok());
  CHECK(dir.error().message == "/: Is a directory");
  CHECK(missing.value_or("fallback") == "fallback");
}

TEST_CASE("errno names") {
  CHECK(errno_name(ENOENT) == "ENOENT");
  CHECK(errno_name(EACCES) == "EACCES");
  CHECK(errno_name(99999) == "99999");
  CHECK(errno_from_name("EPERM") == EPERM);
  CHECK_FALSE(errno_from_name("ENOTANERRNO"));
  CHECK(errno_text(ENOENT) == "ENOENT (No such file or directory)");
}
