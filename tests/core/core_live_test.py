#!/usr/bin/python3
"""Live tests of vma::CoreSource: make a real core of the testee and compare
what core/ makes of it with what core/ makes of the live process, saved just
before the core was written.

  kernel  the testee faults (--crash=text-write --crash-after-stdin) with
          RLIMIT_CORE unlimited; the kernel writes the core.
  gcore   `gcore` (gdb) writes a core of the running testee.

Checks: every live VMA is in the core with the same bounds, permissions and
name; every region classifies the same (thread stacks with the same TID);
the testee's printed addresses and a few addresses outside every VMA
classify the same; threads, main TID, the files' build-ids; for the kernel
core the fatal signal, its address and PC.

Exit 0 pass, 1 fail, 77 skip (cores go to a collector, gcore missing).
Cores are written to a temporary directory and deleted.
"""
import argparse
import glob
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from host import la57  # noqa: E402
from merged import merged_values  # noqa: E402

SKIP = 77


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(SKIP)


def parse_maps(text):
    out = []
    for line in text.splitlines():
        f = line.split(None, 5)
        lo, hi = f[0].split("-")
        out.append({"start": int(lo, 16), "end": int(hi, 16), "perms": f[1],
                    "offset": int(f[2], 16), "name": f[5].strip() if len(f) > 5 else ""})
    return out


def tool(args, cmd):
    r = subprocess.run([args.tool] + cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"vma-core-tool {' '.join(cmd)} failed ({r.returncode}): {r.stderr}")
    return json.loads(r.stdout)


def start_testee(args, crash, workdir):
    # --merge-bss: one VMA holding a library's .bss and anonymous pages after
    # it; a core has the VMA as one PT_LOAD and must split it as live does.
    cmd = [args.testee, "--merge-bss"] + (["--crash=text-write", "--crash-after-stdin"] if crash else [])

    def pre():
        # Unlimited cores for the kernel test; coredump_filter 0x3f adds
        # file-backed private and shared contents (bits 2, 3) to the default
        # 0x33. Bounds do not depend on it (every VMA gets a PT_LOAD), but the
        # contents let a reader check build-ids and read data of files that
        # are gone. It is inherited by the testee across execve.
        if crash:
            resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        with open("/proc/self/coredump_filter", "w") as f:
            f.write("0x3f")

    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                         preexec_fn=pre, cwd=workdir)
    printed = []
    for line in p.stdout:
        line = line.strip()
        if line == "ready":
            return p, printed
        printed.append(line.split())
    p.kill()
    p.wait()
    raise RuntimeError("testee exited before printing ready")


def find_kernel_core(pattern, pid, workdir, since):
    # core_pattern is not changed by tests; find where it put the core.
    pat = pattern.replace("%%", "\0").replace("%p", str(pid)).replace("%P", str(pid))
    while "%" in pat:
        i = pat.index("%")
        pat = pat[:i] + "*" + pat[i + 2:]
    pat = pat.replace("\0", "%")
    if not pat.startswith("/"):
        pat = os.path.join(workdir, pat)
    cands = glob.glob(pat) + glob.glob(pat + ".*")  # core_uses_pid appends .PID
    cands = [c for c in cands if os.path.isfile(c) and os.stat(c).st_mtime >= since - 1]
    return max(cands, key=os.path.getmtime) if cands else None


class Checker:
    def __init__(self):
        self.failures = []
        self.passed = 0

    def check(self, ok, what):
        if ok:
            self.passed += 1
        else:
            self.failures.append(what)
            print(f"FAIL: {what}")


def compare(c, live_maps, live, core, printed, pid, tids, lossy=()):
    """lossy: starts of VMAs whose permissions the core writer cannot keep
    (gcore); their perms and kind are reported, not checked."""
    core_maps = {(m["start_i"], m["end_i"]): m for m in core["mappings"]}
    # 1. Every live VMA is in the core: bounds, permissions, name.
    for m in live_maps:
        key = (m["start"], m["end"])
        cm = core_maps.get(key)
        c.check(cm is not None, f"live VMA {m['start']:#x}-{m['end']:#x} {m['perms']} {m['name']} not in the core")
        if not cm:
            continue
        if m["start"] in lossy:
            print(f"known loss: {m['start']:#x} {m['name'] or 'anon'}: live {m['perms']}, core {cm['perms']}")
        else:
            c.check(cm["perms"] == m["perms"], f"{m['start']:#x}: perms core {cm['perms']} live {m['perms']}")
        c.check(cm["name"] == m["name"], f"{m['start']:#x}: name core {cm['name']!r} live {m['name']!r}")
        if m["name"].startswith("/"):
            c.check(int(cm["offset"], 16) == m["offset"],
                    f"{m['start']:#x}: offset core {cm['offset']} live {m['offset']:#x}")
    live_keys = {(m["start"], m["end"]) for m in live_maps}
    for key, cm in core_maps.items():
        c.check(key in live_keys, f"core mapping {key[0]:#x}-{key[1]:#x} {cm['name']} was not live")

    # 2. Every region classifies the same.
    core_regions = {(int(r["start"], 16), int(r["end"], 16)): r for r in core["regions"]}
    kinds = {}
    for r in live["regions"]:
        key = (int(r["start"], 16), int(r["end"], 16))
        cr = core_regions.get(key)
        if not cr:
            continue  # reported above
        kinds[r["kind"]] = kinds.get(r["kind"], 0) + 1
        if key[0] in lossy:
            print(f"known loss: {key[0]:#x}: live {r['kind']}, core {cr['kind']}")
            continue
        c.check((cr["kind"], cr["tid"]) == (r["kind"], r["tid"]),
                f"{key[0]:#x} {r['name']}: core {cr['kind']} tid {cr['tid']} ({cr['note']}), "
                f"live {r['kind']} tid {r['tid']} ({r['note']})")
    print("live kinds compared:", ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    required = ["text", "rodata", "relro", "data", "heap", "stack", "thread-stack", "guard", "vdso",
                "anon", "file", "shared"] + (["vvar"] if not lossy else [])
    for k in required:
        c.check(k in kinds, f"no live region of kind {k} to compare")

    # 3. Printed addresses and addresses outside every VMA.
    expect = {"text": "text", "libc_text": "text", "rodata": "rodata", "relro": "relro",
              "global_data": "data", "heap": "heap", "arena": "heap", "thread_stack": "thread-stack",
              "main_stack": "stack", "guard": "guard", "memfd": "shared", "deleted": "file",
              "anon": "anon", "gap": "unmapped", "null": "null-page", "noncanonical": "non-canonical",
              "kernel": "kernel", "merged_bss": "bss", "merged_anon": "anon"}
    for i, (name, addr, tid) in enumerate(printed):
        cl, ll = core["lookups"][i], live["lookups"][i]
        if any(m["start"] in lossy and m["start"] <= addr < m["end"] for m in live_maps):
            print(f"known loss: {name} {cl['addr']}: live {ll['kind']}, core {cl['kind']}")
            continue
        if "readings" in cl:
            # The core cannot tell 4- from 5-level paging: both readings,
            # one of which is what the live process (this machine) says.
            c.check(ll["kind"] in cl["readings"] and ll["tid"] is None,
                    f"{name} {cl['addr']}: core readings {cl['readings']}, live {ll['kind']}")
            continue
        c.check((cl["kind"], cl["tid"]) == (ll["kind"], ll["tid"]),
                f"{name} {cl['addr']}: core {cl['kind']} tid {cl['tid']}, live {ll['kind']} tid {ll['tid']}")
        if name in expect:
            c.check(cl["kind"] == expect[name], f"{name} {cl['addr']}: core says {cl['kind']}, expected {expect[name]}")
        if name == "thread_stack":
            c.check(cl["tid"] == tid, f"thread_stack {cl['addr']}: core tid {cl['tid']}, printed {tid}")
        if name == "main_stack":
            c.check(cl["tid"] == pid, f"main_stack {cl['addr']}: core tid {cl['tid']}, pid {pid}")

    above = next(i for i, (n, _, _) in enumerate(printed) if n == "above47")
    c.check(core["lookups"][above].get("readings") == ["non-canonical", "unmapped"],
            f"a core answers 0x800000000000 with both readings: {core['lookups'][above]}")
    c.check(live["lookups"][above]["kind"] == ("unmapped" if la57() else "non-canonical"),
            f"live, 0x800000000000 is {live['lookups'][above]['kind']} ({'5' if la57() else '4'}-level paging)")

    # 3b. The merged VMA: one mapping in the core, two regions (its parts).
    vals = merged_values([[n, hex(a)] for n, a, _ in printed])
    cut = vals["merged_anon"] - 8
    vma = {"start": hex(vals["merged_vma_start"]), "end": hex(vals["merged_vma_end"])}
    c.check((vals["merged_vma_start"], vals["merged_vma_end"]) in core_maps,
            f"the merged VMA {vma} is one mapping of the core")
    parts = [(r["kind"], r["start"], r["end"]) for r in core["regions"] if r.get("vma") == vma]
    c.check(parts == [("bss", vma["start"], hex(cut)), ("anon", hex(cut), vma["end"])],
            f"the core's merged VMA is two regions, bss then anon: {parts}")

    # 4. Threads.
    c.check(sorted(t["tid"] for t in core["threads"]) == sorted(tids),
            f"core threads {[t['tid'] for t in core['threads']]}, live {tids}")
    c.check(core["threads_known"], "core: threads_known is false")
    c.check(core["main_tid"] == pid, f"core main_tid {core['main_tid']}, pid {pid}")

    # 5. The files NT_FILE names that exist here: same build-id.
    for fc in core["file_checks"]:
        if "(deleted)" in fc["path"]:
            c.check(not fc["usable"], f"deleted file {fc['path']} used")
        else:
            c.check(fc["status"].startswith("ok (build-id "), f"{fc['path']}: {fc['status']}")


def run(args):
    workdir = tempfile.mkdtemp(prefix="vmakit-core-")
    try:
        return run_in(args, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_in(args, workdir):
    crash = args.mode == "kernel"
    pattern = open("/proc/sys/kernel/core_pattern").read().strip()
    if crash:
        if pattern.startswith("|"):
            skip(f"kernel.core_pattern pipes cores to a collector ({pattern!r}); tests do not change it")
        soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
        if hard != resource.RLIM_INFINITY and os.geteuid() != 0:
            skip(f"RLIMIT_CORE hard limit is {hard} and cannot be raised unprivileged")
    elif not shutil.which("gcore"):
        skip("gcore (gdb) is not installed")

    since = __import__("time").time()
    p, printed_raw = start_testee(args, crash, workdir)
    try:
        pid = int(next(l[1] for l in printed_raw if l[0] == "pid"))
        printed = [(l[0], int(l[1], 16), int(l[2]) if len(l) > 2 else None)
                   for l in printed_raw if l[0] not in ("pid", "madv_guard") and len(l) >= 2
                   and l[1].startswith("0x")]
        # madv_guard: a MADV_GUARD_INSTALL page is invisible in a core (no
        # page, no VMA): only live sources see it (pagemap bit 58).
        # above47: non-canonical with 4-level paging, user space with
        # 5-level (a core cannot tell which: both readings).
        outside = [("null", 0x10, None), ("noncanonical", 0x0100000000000000, None),
                   ("above47", 0x0000800000000000, None), ("kernel", 0xffffffff81000000, None)]
        printed += outside
        addrs = [hex(a) for _, a, _ in printed]
        live_maps_text = open(f"/proc/{pid}/maps").read()
        tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
        live = tool(args, ["pid", str(pid)] + addrs)
        if crash:
            p.stdin.close()
            rc = p.wait(timeout=120)
            if rc != -signal.SIGSEGV:
                print(f"FAIL: testee exit status {rc}, expected SIGSEGV")
                return 1
            core_path = find_kernel_core(pattern, pid, workdir, since)
            if not core_path:
                print(f"FAIL: no core file found for pattern {pattern!r} (pid {pid})")
                return 1
        else:
            base = os.path.join(workdir, "gcore")
            r = subprocess.run(["gcore", "-o", base, str(pid)], capture_output=True, text=True, timeout=240)
            core_path = f"{base}.{pid}"
            if r.returncode != 0 or not os.path.exists(core_path):
                print(f"FAIL: gcore failed ({r.returncode}): {r.stdout}{r.stderr}")
                return 1
            p.stdin.close()
            p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    try:
        core = tool(args, ["core", core_path] + addrs)
    finally:
        if not core_path.startswith(workdir):
            os.unlink(core_path)
    for m in core["mappings"]:
        m["start_i"], m["end_i"] = int(m["start"], 16), int(m["end"], 16)
    print(f"core {args.mode}: {len(core['mappings'])} mappings, {len(core['threads'])} threads, "
          f"fault {core['fault']}")

    c = Checker()
    live_maps = parse_maps(live_maps_text)
    lossy = set()
    if args.mode == "gcore":
        # gdb leaves out VMAs it must not dump (VM_IO / VmFlags "dd"): the
        # vvar pages. Everything else must be there.
        omit = ("[vvar]", "[vvar_vclock]")
        print("gcore omits:", [m["name"] for m in live_maps if m["name"] in omit])
        live_maps = [m for m in live_maps if m["name"] not in omit]
        live["regions"] = [r for r in live["regions"] if r["name"] not in omit]
        # gdb sets PF_R on every segment. CoreSource restores PROT_NONE for
        # thread-stack guards and arena tails; the testee's lone PROT_NONE
        # page ("guard") and [vsyscall]'s --x cannot be restored.
        guard = next(a for n, a, _ in printed if n == "guard")
        lossy = {m["start"] for m in live_maps
                 if m["name"] == "[vsyscall]" or m["start"] <= guard < m["end"]}
    compare(c, live_maps, live, core, printed, pid, tids, lossy)

    text = next(r for r in core["regions"] if r["kind"] == "text" and r["name"] == os.path.realpath(args.testee))
    in_text = lambda a: int(text["start"], 16) <= int(a, 16) < int(text["end"], 16)
    if crash:
        f = core["fault"]
        c.check(f is not None, "kernel core: no fatal fault")
        if f:
            c.check((f["signo"], f["code"]) == (11, 2), f"fault signo {f['signo']} code {f['code']}, expected SIGSEGV SEGV_ACCERR")
            c.check(f["addr"] is not None and in_text(f["addr"]), f"fault address {f['addr']} not in the testee's text {text['start']}")
            c.check(f["pc"] is not None and in_text(f["pc"]), f"fault pc {f['pc']} not in the testee's text")
            c.check(f["tid"] == pid, f"fault tid {f['tid']}, the main thread {pid} faulted")
    else:
        f = core["fault"]
        # gdb records the SIGSTOP of its attach; that is no fatal signal.
        c.check(f is None, f"gcore: unexpected fatal fault {f}")

    print(f"{c.passed} checks passed, {len(c.failures)} failed")
    return 1 if c.failures else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--testee", required=True)
    ap.add_argument("mode", choices=["kernel", "gcore"])
    args = ap.parse_args()
    args.tool, args.testee = os.path.abspath(args.tool), os.path.abspath(args.testee)
    sys.exit(run(args))


if __name__ == "__main__":
    main()
