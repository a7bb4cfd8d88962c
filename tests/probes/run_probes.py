#!/usr/bin/python3
"""Runs probes and checks each one's outcome against what this machine should
give (REFERENCE.md section 3), computed from the environment: kernel version,
vsyscall mode, privileges, CPU features, MDWE already in force.

  run_probes.py --probe-dir DIR --mode handler ID...
  run_probes.py --probe-dir DIR --mode ptrace --ptrace-run PATH ID...
  run_probes.py ... --as-user 65534 ID...     (as root: drop to that uid)

handler: VMA_PROBE_HANDLER=1; the probe prints its own `fault` line and must
         then stay blocked until the test kills it.
ptrace:  ptrace_run traces the probe and prints the siginfo it sees at the
         signal-delivery stop (fault capture mode 1).

Every probe runs in its own session; its process group is killed and reaped
whatever happens. Exit 0 pass, 1 fail, 77 when every probe named was skipped
for a missing kernel or CPU feature (the reason is printed).
"""

import argparse
import ctypes
import os
import re
import select
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from reach import reachable  # noqa: E402

SIGSEGV, SIGBUS = 11, 7
SEGV_MAPERR, SEGV_ACCERR, SEGV_PKUERR, SI_KERNEL = 1, 2, 4, 128
BUS_ADRERR = 2
TIMEOUT = 10.0

VSYSCALL = 0xFFFFFFFFFF600000
KERNEL_TEXT = 0xFFFFFFFF81000000


class Env:
    """The facts the expectations depend on, read from this process."""

    def __init__(self, uid):
        self.uid = os.geteuid() if uid is None else uid
        release = os.uname().release
        m = re.match(r"(\d+)\.(\d+)", release)
        self.kernel = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        self.release = release
        with open("/proc/self/maps") as f:
            line = next((l for l in f if l.rstrip().endswith("[vsyscall]")), None)
        if line is None:
            self.vsyscall = "none"
        else:
            self.vsyscall = "emulate" if line.split()[1].startswith("r") else "xonly"
        with open("/proc/sys/vm/mmap_min_addr") as f:
            self.mmap_min_addr = int(f.read())
        flags = set()
        with open("/proc/cpuinfo") as f:
            for l in f:
                if l.startswith("flags"):
                    flags = set(l.split(":", 1)[1].split())
                    break
        self.pku = "pku" in flags and "ospke" in flags
        cap_eff = 0
        with open("/proc/self/status") as f:
            for l in f:
                if l.startswith("CapEff:"):
                    cap_eff = int(l.split()[1], 16)
        # CAP_SYS_RAWIO (17) lets mmap go below mmap_min_addr
        # (security/commoncap.c, cap_mmap_addr). Dropping to another uid
        # drops the capabilities too.
        self.cap_sys_rawio = uid in (None, os.geteuid()) and bool(cap_eff & (1 << 17))
        libc = ctypes.CDLL(None, use_errno=True)
        PR_GET_MDWE = 66
        mdwe = libc.prctl(PR_GET_MDWE, 0, 0, 0, 0)
        self.mdwe = mdwe > 0  # inherited by the probes; -1 (EINVAL) before 6.3
        try:
            with open("/sys/fs/selinux/enforce") as f:
                self.selinux = f.read().strip() == "1"
        except OSError:
            self.selinux = False

    def describe(self):
        return (f"kernel {self.release}, uid {self.uid}, vsyscall {self.vsyscall}, "
                f"mmap_min_addr {self.mmap_min_addr}, pku {self.pku}, mdwe {self.mdwe}")


def fault(signo, code, addr="target", pc=None):
    return {"outcome": "fault", "signo": signo, "code": code, "addr": addr, "pc": pc}


def allowed():
    return {"outcome": "allowed"}


def refused(errno_name):
    return {"outcome": "refused", "errno": errno_name}


def skip(why):
    return {"outcome": "skip", "why": why}


def expectation(probe, env):
    wx = refused("EACCES") if env.mdwe else allowed()
    table = {
        "null-read": fault(SIGSEGV, SEGV_MAPERR, addr=0),
        "null-write": fault(SIGSEGV, SEGV_MAPERR, addr=0),
        "null-exec": fault(SIGSEGV, SEGV_MAPERR, addr=0, pc=0),
        "kernel-read": fault(SIGSEGV, SEGV_MAPERR),
        "kernel-write": fault(SIGSEGV, SEGV_MAPERR),
        "noncanonical-read": fault(SIGSEGV, SI_KERNEL, addr=0),
        "noncanonical-jump": fault(SIGSEGV, SI_KERNEL, addr=0, pc="jump-insn"),
        "text-write": fault(SIGSEGV, SEGV_ACCERR),
        "rodata-write": fault(SIGSEGV, SEGV_ACCERR),
        "relro-write": fault(SIGSEGV, SEGV_ACCERR),
        "vdso-write": fault(SIGSEGV, SEGV_ACCERR),
        "exec-stack": fault(SIGSEGV, SEGV_ACCERR, pc="target"),
        "exec-heap": fault(SIGSEGV, SEGV_ACCERR, pc="target"),
        "exec-bss": fault(SIGSEGV, SEGV_ACCERR, pc="target"),
        "exec-data": fault(SIGSEGV, SEGV_ACCERR, pc="target"),
        "exec-anon": fault(SIGSEGV, SEGV_ACCERR, pc="target"),
        "wx-mmap": wx,
        "wx-mprotect": wx,
        "text-mprotect-write": wx,
        "guard-prot-none": fault(SIGSEGV, SEGV_ACCERR),
        "guard-madvise": (fault(SIGSEGV, SEGV_MAPERR) if env.kernel >= (6, 13)
                          else skip("MADV_GUARD_INSTALL needs Linux 6.13")),
        # -fstack-clash-protection: the first touch below the stack is in
        # glibc's PROT_NONE guard page.
        "thread-stack-overflow": fault(SIGSEGV, SEGV_ACCERR, addr="guard"),
        # Growth refused at RLIMIT_STACK: the touch is below the VMA, unmapped.
        "stack-overflow": fault(SIGSEGV, SEGV_MAPERR, addr="below-target"),
        "sigbus-eof": fault(SIGBUS, BUS_ADRERR),
        "sigbus-memfd-shrink": fault(SIGBUS, BUS_ADRERR),
        "vsyscall-read": allowed() if env.vsyscall == "emulate" else fault(SIGSEGV, SEGV_MAPERR),
        "vsyscall-call": allowed() if env.vsyscall != "none" else fault(SIGSEGV, SEGV_MAPERR, pc="target"),
        "mmap-min-addr": (allowed() if env.cap_sys_rawio or env.mmap_min_addr == 0
                          else refused("EACCES" if env.selinux else "EPERM")),
        "use-after-munmap": fault(SIGSEGV, SEGV_MAPERR),
        "pkey": fault(SIGSEGV, SEGV_PKUERR) if env.pku else skip("no PKU/OSPKE in /proc/cpuinfo"),
        "mseal": refused("EPERM") if env.kernel >= (6, 10) else skip("mseal needs Linux 6.10"),
        "mdwe": refused("EACCES") if env.kernel >= (6, 3) else skip("PR_SET_MDWE needs Linux 6.3"),
        # Since 5.8 -z execstack makes the stack (only) executable.
        "execstack-elf": allowed(),
    }
    # arm64-only probes print a skip line elsewhere; on arm64 the harness's
    # table (harness/arch.cc) judges them, checked in the arm64 guest
    # (tests/cross, label guest).
    for arm64_only in ("mte-sync", "mte-async", "pac-auth", "bti-landing", "tbi-read"):
        table[arm64_only] = skip("arm64 only")
    return table[probe]


FAULT_RE = re.compile(r"^fault signo=(-?\d+) code=(-?\d+) addr=0x([0-9a-f]+) pc=0x([0-9a-f]+)(?: tid=\d+)?$")


def run_probe(cmd, env_vars, user):
    """Runs cmd in its own session; returns (lines, still_running_at_end,
    exit_status or None, timed_out). Kills and reaps the group."""
    kwargs = {}
    if user is not None and user != os.geteuid():
        kwargs = {"user": user, "group": user, "extra_groups": []}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env_vars,
                            start_new_session=True, **kwargs)
    lines, buf, timed_out, done = [], b"", False, False
    deadline = time.monotonic() + TIMEOUT
    try:
        while not done:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            r, _, _ = select.select([proc.stdout], [], [], left)
            if not r:
                continue
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                text = line.decode(errors="replace")
                lines.append(text)
                if text.startswith("fault "):
                    done = True  # handler mode: the probe now waits to be killed
        if done:
            time.sleep(0.05)  # a probe that exits right after its fault line is caught here
        elif not timed_out:
            try:  # stdout closed: the probe is exiting
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
        running = proc.poll() is None
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        proc.stdout.close()
    status = None if running else proc.returncode
    return lines, running, status, timed_out


def parse(lines):
    obs = {"target": None, "notes": [], "outcome": None}
    for l in lines:
        if l.startswith("target 0x"):
            obs["target"] = int(l.split()[1], 16)
        elif l.startswith("note "):
            obs["notes"].append(l[5:])
        elif l.startswith("fault "):
            m = FAULT_RE.match(l)
            if m:
                obs.update(outcome="fault", signo=int(m.group(1)), code=int(m.group(2)),
                           addr=int(m.group(3), 16), pc=int(m.group(4), 16))
            else:
                obs.update(outcome="malformed", line=l)
        elif l == "allowed":
            obs["outcome"] = "allowed"
        elif l.startswith("refused "):
            obs.update(outcome="refused", errno=l.split()[1])
        elif l.startswith("skip "):
            obs.update(outcome="skip", why=l[5:])
        elif l.startswith("exited "):  # from ptrace_run
            obs["exit"] = int(l.split()[1])
            if obs["outcome"] is None:
                obs["outcome"] = l
        elif l.startswith("killed ") and obs["outcome"] is None:
            obs["outcome"] = l
    return obs


def note_value(obs, prefix):
    for n in obs["notes"]:
        if n.startswith(prefix):
            return int(n[len(prefix):].split()[0], 0)
    return None


def judge(exp, obs, mode, running, status):
    """List of problems (empty: pass)."""
    if obs["outcome"] != exp["outcome"]:
        return [f"expected {exp['outcome']}, observed {obs['outcome']} ({obs})"]
    problems = []
    if exp["outcome"] == "fault":
        if mode == "handler" and not running:
            problems.append(f"the probe did not stay blocked after its fault line (exit status {status})")
        if (obs["signo"], obs["code"]) != (exp["signo"], exp["code"]):
            problems.append(f"expected signo={exp['signo']} code={exp['code']}, got signo={obs['signo']} code={obs['code']}")
        target = obs["target"]
        if target is None:
            problems.append("no target line before the fault")
            return problems
        addr = obs["addr"]
        rule = exp["addr"]
        if rule == "target" and addr != target:
            problems.append(f"si_addr {addr:#x} != target {target:#x}")
        elif isinstance(rule, int) and addr != rule:
            problems.append(f"si_addr {addr:#x} != {rule:#x}")
        elif rule == "guard":
            guard = note_value(obs, "guard start ")
            if guard is None or not guard <= addr < target:
                problems.append(f"si_addr {addr:#x} not in the guard [{guard or 0:#x}, {target:#x})")
        elif rule == "below-target" and not target - 65536 <= addr < target:
            problems.append(f"si_addr {addr:#x} not just below the stack limit {target:#x}")
        pc_rule = exp["pc"]
        if pc_rule == "target" and obs["pc"] != target:
            problems.append(f"pc {obs['pc']:#x} != target {target:#x}")
        elif pc_rule == "jump-insn":
            jmp = note_value(obs, "jump-insn ")
            if obs["pc"] != jmp:
                problems.append(f"pc {obs['pc']:#x} != the jump instruction {jmp}")
        elif isinstance(pc_rule, int) and obs["pc"] != pc_rule:
            problems.append(f"pc {obs['pc']:#x} != {pc_rule:#x}")
    elif exp["outcome"] == "refused" and obs["errno"] != exp["errno"]:
        problems.append(f"expected refused {exp['errno']}, got refused {obs['errno']}")
    if exp["outcome"] != "fault":
        exit_status = status if mode == "handler" else obs.get("exit")
        if exit_status != 0:
            problems.append(f"exit status {exit_status} after `{obs['outcome']}` (expected 0)")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--probe-dir", required=True)
    ap.add_argument("--mode", choices=("handler", "ptrace"), required=True)
    ap.add_argument("--ptrace-run")
    ap.add_argument("--as-user", type=int)
    ap.add_argument("ids", nargs="+")
    args = ap.parse_args()
    user = args.as_user if args.as_user is not None and os.geteuid() == 0 else None
    env = Env(user)
    print(f"# {env.describe()}, mode {args.mode}")
    failed = skipped = 0
    for pid in args.ids:
        exe = os.path.join(args.probe_dir, pid)
        if user is not None:
            exe = reachable(exe)  # the other user must be able to execute it
        vars_ = {k: v for k, v in os.environ.items() if k != "VMA_PROBE_HANDLER"}
        if args.mode == "handler":
            vars_["VMA_PROBE_HANDLER"] = "1"
            cmd = [exe]
        else:
            cmd = [args.ptrace_run, exe]
        exp = expectation(pid, env)
        lines, running, status, timed_out = run_probe(cmd, vars_, user)
        for l in lines:
            print(f"  | {l}")
        obs = parse(lines)
        if args.mode == "ptrace" and obs["outcome"] is None and status == 1:
            print(f"SKIP {pid}: ptrace not permitted here (ptrace_run failed)")
            skipped += 1
            continue
        problems = ["timed out"] if timed_out else judge(exp, obs, args.mode, running, status)
        if problems:
            failed += 1
            print(f"FAIL {pid}: expected {exp}")
            for p in problems:
                print(f"     {p}")
        elif exp["outcome"] == "skip":
            skipped += 1
            print(f"SKIP {pid}: {obs['why']} (expected: {exp['why']})")
        else:
            print(f"ok   {pid}: {obs['outcome']}" +
                  (f" signo={obs['signo']} code={obs['code']} addr={obs['addr']:#x} pc={obs['pc']:#x}"
                   if obs["outcome"] == "fault" else f" {obs.get('errno', '')}".rstrip()))
    if failed:
        return 1
    return 77 if skipped == len(args.ids) else 0


if __name__ == "__main__":
    sys.exit(main())
