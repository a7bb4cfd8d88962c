#include "testee.h"

#include <signal.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <sstream>
#include <stdexcept>

Testee::Testee(std::vector<std::string> args) {
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork");
  if (pid_ == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    std::vector<char*> argv;
    std::string exe = VMAKIT_TESTEE;
    argv.push_back(exe.data());
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  stdin_fd_ = in[1];
  FILE* f = fdopen(out[0], "r");
  char buf[512];
  while (fgets(buf, sizeof buf, f)) {
    std::string line(buf);
    if (line.rfind("ready", 0) == 0) break;
    std::istringstream ss(line);
    TesteeLine t;
    std::string a;
    ss >> t.name >> a;
    if (t.name == "pid") continue;
    try {
      t.addr = std::stoull(a, nullptr, 16);
    } catch (...) {
      continue;  // "madv_guard unsupported ..."
    }
    ss >> t.tid;
    lines_.push_back(t);
  }
  fclose(f);
}

Testee::~Testee() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
}

vma::Addr Testee::addr(const std::string& name) const {
  for (const auto& l : lines_)
    if (l.name == name) return l.addr;
  return 0;
}

std::vector<TesteeLine> Testee::all(const std::string& name) const {
  std::vector<TesteeLine> out;
  for (const auto& l : lines_)
    if (l.name == name) out.push_back(l);
  return out;
}
