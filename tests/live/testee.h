#pragma once
// Runs tests/programs/testee.c and reads what it prints. The destructor
// closes its stdin (it exits), then kills and reaps it: nothing is left behind.

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "address.h"

struct TesteeLine {
  std::string name;
  vma::Addr addr = 0;
  int tid = 0;
};

class Testee {
 public:
  explicit Testee(std::vector<std::string> args = {});
  ~Testee();
  Testee(const Testee&) = delete;
  Testee& operator=(const Testee&) = delete;

  pid_t pid() const { return pid_; }
  const std::vector<TesteeLine>& lines() const { return lines_; }
  /// The first address printed under `name`; 0 when absent.
  vma::Addr addr(const std::string& name) const;
  std::vector<TesteeLine> all(const std::string& name) const;

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::vector<TesteeLine> lines_;
};
