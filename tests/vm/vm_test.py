#!/usr/bin/env python3
"""End-to-end tests of `vma-harness vm` and `vma-harness matrix` (issue 14):
Debian's kernels booted under QEMU, bad input, and vmakit's live tests run
inside a guest. One ctest test per case:

    vm_test.py CASE --harness PATH --kernels DIR --build DIR

Every case runs vma-harness with TMPDIR set to a directory of its own: the
guest's initramfs lives there, so QEMU's command line names it and
`pgrep -f` finds any QEMU the case left behind (none may be).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pylib"))
from casetest import check, main, skip  # noqa: E402

ARGS = None
QEMU = "qemu-system-x86_64"
BOOKWORM, TRIXIE = "bookworm-amd64", "trixie-amd64"
LIVE_TESTS = r"^(core\.live\.|live: |e2e: vma CLI$)"


def kernel(name):
    path = os.path.join(ARGS.kernels, name)
    if not os.path.isdir(path):
        skip(f"Debian kernel {name} not fetched: run scripts/fetch-kernels.sh {ARGS.kernels}")
    return path


def need_qemu():
    if not shutil.which(QEMU):
        skip(f"{QEMU} not installed (Debian qemu-system-x86)")


def qemus(tag):
    """PIDs of QEMU processes whose command line names `tag`."""
    p = subprocess.run(["pgrep", "-f", f"{QEMU}.*{tag}"], capture_output=True, text=True)
    return [int(x) for x in p.stdout.split()]


class Harness:
    """Runs vma-harness with a private TMPDIR; checks nothing is left."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="vmtest-")
        self.env = dict(os.environ, TMPDIR=self.tmp)

    def run(self, *args, timeout=600, env=None):
        e = dict(self.env, **(env or {}))
        p = subprocess.run([ARGS.harness, *args], capture_output=True, text=True, timeout=timeout, env=e)
        self.check_clean(p)
        return p

    def check_clean(self, p=None):
        left = qemus(self.tmp)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        check(not left, f"QEMU left behind: pids {left}" + (f"\nstderr: {p.stderr[-2000:]}" if p else ""))
        check(not os.listdir(self.tmp), f"temporary files left behind: {os.listdir(self.tmp)}")
        os.rmdir(self.tmp)
        self.tmp = tempfile.mkdtemp(prefix="vmtest-")
        self.env["TMPDIR"] = self.tmp


def expect(p, code, *needles):
    msg = f"exit {p.returncode}, stdout:\n{p.stdout[-3000:]}\nstderr:\n{p.stderr[-3000:]}"
    check(p.returncode == code, f"want exit {code}; {msg}")
    for n in needles:
        check(n in p.stderr, f"stderr lacks {n!r}; {msg}")


def case_missing_kernel():
    h = Harness()
    p = h.run("vm", "--kernel", "/nonexistent/vmakit-kernel", "--", "run")
    expect(p, 2, "vm /nonexistent/vmakit-kernel: /nonexistent/vmakit-kernel: No such file or directory")


def case_not_a_kernel():
    h = Harness()
    with tempfile.TemporaryDirectory() as d:
        f = os.path.join(d, "vmlinuz")
        with open(f, "w") as out:
            out.write("not a kernel\n")
        expect(h.run("vm", "--kernel", f, "--", "run"), 2, f"{f}: not a kernel image (no bzImage setup header)")
        expect(h.run("vm", "--kernel", d, "--", "run"), 2, f"{d}: no boot/vmlinuz-* in this directory")
    expect(h.run("vm", "--kernel", kernel(BOOKWORM)), 2, "vm needs the arguments to run after --")
    expect(h.run("vm", "--kernel", kernel(BOOKWORM), "--accel", "xen", "--", "run"), 2,
           "unknown accelerator 'xen' (auto, kvm, tcg)")


def case_no_qemu():
    h = Harness()
    k = kernel(BOOKWORM)
    p = h.run("vm", "--kernel", k, "--accel", "tcg", "--", "run", env={"PATH": "/nonexistent"})
    expect(p, 2, f"vm {BOOKWORM}: {QEMU}: No such file or directory (install QEMU")


def case_unknown_cpu():
    need_qemu()
    h = Harness()
    p = h.run("vm", "--kernel", kernel(BOOKWORM), "--cpu", "vmakit-no-such-cpu", "--", "run", timeout=120)
    expect(p, 2, f"vm {BOOKWORM}: the kernel never reached init", "vmakit-no-such-cpu")


def case_kernel_panic():
    need_qemu()
    h = Harness()
    # No init in the initramfs under that name: the kernel panics.
    p = h.run("vm", "--kernel", kernel(TRIXIE), "--accel", "tcg", "--append", "rdinit=/vmakit-no-init",
              "--", "run", timeout=300)
    expect(p, 2, f"vm {TRIXIE}: the kernel never reached init", "last console lines:", "Kernel panic")


def case_guest_hangs():
    need_qemu()
    h = Harness()
    t0 = time.monotonic()
    p = h.run("vm", "--kernel", kernel(TRIXIE), "--accel", "tcg", "--timeout", "45", "--host-root", "--exec",
              "--", "sleep", "3600", timeout=300)
    took = time.monotonic() - t0
    expect(p, 2, f"vm {TRIXIE}: no report within 45 s (guest hung?); QEMU killed", "last console lines:")
    check(took < 60, f"the deadline was 45 s, the run took {took:.0f} s")


def case_sigterm_kills_qemu():
    need_qemu()
    h = Harness()
    proc = subprocess.Popen([ARGS.harness, "vm", "--kernel", kernel(TRIXIE), "--accel", "tcg", "--host-root",
                             "--exec", "--", "sleep", "3600"], env=h.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not qemus(h.tmp) and time.monotonic() < deadline:
        time.sleep(0.2)
    check(qemus(h.tmp), "QEMU never started")
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    check(proc.returncode == 2, f"want exit 2 after SIGTERM, got {proc.returncode}: {err[-2000:]}")
    check("interrupted by Terminated; QEMU killed" in err, f"stderr: {err[-2000:]}")
    h.check_clean()


def case_bad_kernel_in_matrix():
    need_qemu()
    h = Harness()
    p = h.run("matrix", "--kernel", "/nonexistent/vmakit-kernel", "--kernel", kernel(TRIXIE), "--cpu",
              "max,la57=off", "--accel", "tcg", "--format", "json", timeout=300)
    check(p.returncode == 2, f"want exit 2, got {p.returncode}: {p.stderr[-2000:]}")
    j = json.loads(p.stdout)
    bad, good = j["kernels"]
    check(bad["report"] is None and "No such file or directory" in bad["error"], f"bad entry: {bad}")
    check(good["error"] is None and good["exit_status"] == 0, f"the other kernel did not run: {good['error']}")
    check(good["report"]["summary"]["fail"] == 0, "the other kernel's report has failures")


def case_vm_exit_status():
    need_qemu()
    h = Harness()
    k = kernel(TRIXIE)
    p = h.run("vm", "--kernel", k, "--cpu", "max,la57=off", "--", "run", "--only", "noncanonical-jump,mseal",
              "--format", "json", timeout=300)
    expect(p, 0)
    j = json.loads(p.stdout)  # the inner run's own output, unchanged
    env = j["environment"]
    check(env["kernel_release"].startswith("6.12."), f"release {env['kernel_release']}")
    check(env["paging_levels"] == 4, f"la57=off: {env['paging_levels']}-level paging")
    check(env["vm"]["cpu"] == "max,la57=off" and env["vm"]["accel"] in ("tcg", "kvm"), f"vm: {env['vm']}")
    # A kernel that boots and fails its profile: exit 1 (hardened wants W^X).
    p = h.run("vm", "--kernel", k, "--", "run", "--profile", "hardened", "--only", "wx-mmap", timeout=300)
    expect(p, 1)
    check("wx-mmap" in p.stdout and "fail" in p.stdout, f"stdout: {p.stdout}")
    # The inner run's usage error: its message and its exit status 2.
    p = h.run("vm", "--kernel", k, "--", "run", "--only", "vmakit-no-such-probe", timeout=300)
    expect(p, 2, "--only: unknown probe 'vmakit-no-such-probe'")


def case_matrix_bookworm_la57_trixie():
    need_qemu()
    h = Harness()
    p = h.run("matrix", "--kernel", kernel(BOOKWORM), "--kernel", kernel(TRIXIE), "--cpu", "max", "--cpu",
              "max,la57=off", "--with-audit", "--format", "json", timeout=900)
    check(p.returncode == 0, f"matrix exit {p.returncode}:\n{p.stdout[-4000:]}\n{p.stderr[-2000:]}")
    j = json.loads(p.stdout)
    check(len(j["kernels"]) == 4, f"{len(j['kernels'])} runs")
    for k in j["kernels"]:
        where = f"{k['kernel']} cpu {k['cpu']}"
        r = k["report"]
        env = r["environment"]
        check(env["vm"] == {"accel": k["accel"], "cpu": k["cpu"]}, f"{where}: environment vm {env['vm']}")
        want_levels = 4 if "la57=off" in k["cpu"] else 5
        check(env["paging_levels"] == want_levels, f"{where}: {env['paging_levels']}-level paging")
        check(k["release"] == env["kernel_release"], f"{where}: release {k['release']} vs {env['kernel_release']}")
        for row in r["results"]:
            check(row["status"] in ("pass", "skip"), f"{where}: {row['probe']} {row['status']}: {row['reason']}")
            if row["status"] == "skip":
                check(row["reason"], f"{where}: {row['probe']} skipped without a reason")
            if row["probe"] == "noncanonical-jump" and k["accel"] == "tcg":
                check("QEMU TCG" in row["expected"]["why"], f"{where}: TCG difference not named")
        # The audit read the package's own config, handed to the guest.
        check(r["audit"]["kconfig"] == "/vmakit/config", f"{where}: audit read {r['audit']['kconfig']}")
        unknown = [c["name"] for c in r["audit"]["checks"] if c["status"] == "unknown"]
        check(not unknown, f"{where}: audit checks unknown: {unknown}")
    diffs = {d["name"] for d in j["differences"]}
    check({"paging_levels", "kernel_release", "mseal"} <= diffs, f"differences: {sorted(diffs)}")


def live(name, cpu):
    need_qemu()
    h = Harness()
    p = h.run("vm", "--kernel", kernel(name), "--cpu", cpu, "--memory", "2048", "--timeout", "900", "--host-root",
              "--exec", "--", "ctest", "--test-dir", ARGS.build, "-R", LIVE_TESTS, "--output-on-failure",
              "--no-tests=error", timeout=1000)
    check(p.returncode == 0, f"live tests in {name} cpu {cpu}: exit {p.returncode}\n{p.stdout[-6000:]}\n"
                             f"{p.stderr[-3000:]}")
    check("100% tests passed" in p.stdout, f"ctest summary missing:\n{p.stdout[-3000:]}")
    print(p.stdout[-1500:])


def case_live_bookworm_la57():
    live(BOOKWORM, "max")


def case_live_trixie():
    live(TRIXIE, "max,la57=off")


if __name__ == "__main__":
    sys.exit(main(globals(), ["harness", "kernels", "build"]))
