#pragma once
// Stack pointers of running threads, which /proc/PID/task/TID/syscall cannot
// give ("running"): each such thread is stopped for the time of one register
// read with ptrace, then let go. ptrace lives here, in the front end; core
// stays free of it.

#include <vector>

#include "snapshot.h"

/// Fills in the `sp` of every thread that lacks one, where ptrace allows
/// (same user or CAP_SYS_PTRACE, Yama permitting, not already traced).
/// Threads it cannot stop keep an unknown SP. Every thread it stops is
/// detached before it returns, on every path, with any signal that arrived
/// meanwhile handed back to it.
std::vector<vma::ThreadInfo> fill_running_sps(std::vector<vma::ThreadInfo> threads);
