#include "fault_address.h"

#include <csignal>

namespace vma {

bool siginfo_has_address(int signo, int code) {
  if (code <= 0) return false;
  return signo == SIGSEGV || signo == SIGBUS || signo == SIGILL || signo == SIGFPE ||
         signo == SIGTRAP;
}

}  // namespace vma
