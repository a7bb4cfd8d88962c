#!/usr/bin/python3
"""vmakit benchmarks (issue 8): one command, one run, one machine.

    /usr/bin/python3 bench/run.py --build BUILD          full run (~6-8 min)
    /usr/bin/python3 bench/run.py --build BUILD --quick  smoke run (seconds; ctest -L bench)

Builds what it needs in BUILD (ninja -j1; --no-build to skip), measures the
five items of issue 8 side by side and writes BENCHMARKS.md (repository root)
and bench/results.json, or both into --out DIR. A product that is not built
(the LLDB plugin, the harness, Google Benchmark) gives rows marked "skipped"
with the reason; nothing is estimated. Exit status: 0 when every measurement
that could run ran, 1 when one errored (a product failed), 2 on usage errors.
Missed targets do not change the exit status: these are measurements, not
tests.

Timing: whole commands are timed with time.perf_counter around fork/exec/wait
(stdout to /dev/null) and os.wait4 for peak RSS; debugger commands are timed
inside one attached session (bench/lldb_timing.py, bench/gdb_timing.py), so
attaching and start-up are excluded. Each number is min and median of n runs.
Run as root to raise vm.max_map_count for the 1,000,000-VMA process (restored
afterwards); without root that size is skipped.
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
LLDB = shutil.which("lldb-19") or shutil.which("lldb")
GDB = shutil.which("gdb")
PAXTEST = shutil.which("paxtest")

FULL = {
    "map_sizes": [1000, 10000, 60000, 1000000],  # item 1 (LLDB, GDB map), item 3 (CLI map vs cat)
    "whereis_sizes": [100, 10000, 60000, 1000000],  # item 2
    "debugger_map_max": 60000,  # LLDB's `memory region --all` is one round trip a region: minutes at 1M
    "map_targets": [60000, 1000000],  # sizes item 3's `vma map` <= 1.5x cat target is judged at
    "lldb_sessions": 3,       # fresh attaches per size: cold first-call numbers
    "cli_reps": 10,
    "warm_reps": 20,          # in-session repeats of whereis
    "parse_lines": 500000,
    "parse_reps": 5,
    "gbench_reps": 5,
    "gbench_min_time": None,
    "harness_reps": 5,
    "per_probe_n": 100,
    "paxtest": True,
    "aslr_samples": 1500,
    "vm_reps": 3,             # item 6: boots per kernel and CPU model (TCG timing is noisy)
    "vm_matrix": True,
}
QUICK = {
    "map_sizes": [1000],
    "whereis_sizes": [100, 1000],
    "debugger_map_max": 1000,
    "map_targets": [1000],
    "lldb_sessions": 1,
    "cli_reps": 2,
    "warm_reps": 2,
    "parse_lines": 20000,
    "parse_reps": 2,
    "gbench_reps": 1,
    "gbench_min_time": 0.01,
    "harness_reps": 1,
    "per_probe_n": 3,
    "paxtest": False,
    "aslr_samples": 20,
    "vm_reps": 1,
    "vm_matrix": False,
    "vm_quick": True,         # one kernel, one CPU model: proves the measurement runs
}
VM_KERNELS = ["bookworm-amd64", "trixie-amd64"]   # scripts/fetch-kernels.sh names
VM_CPUS = ["max", "max,la57=off"]                   # 5-level paging on and off
QEMU = shutil.which("qemu-system-x86_64")
BUSYBOX = "/bin/busybox"
# arm64 (issue 15): Debian 12's arm64 kernel and busybox (fetch-kernels.sh
# puts both in --kernels), the aarch64 cross build (scripts/cross-aarch64.sh)
# in build-aarch64/ beside --build; QEMU as harness/vm/arch.cc's aarch64 row.
ARM64_KERNEL = "bookworm-arm64"
QEMU_ARM64 = shutil.which("qemu-system-aarch64")
ARM64_QEMU_ARGS = ["-machine", "virt,mte=on,accel=tcg", "-cpu", "max,pauth-impdef=on"]
# Issue 20: boot to report on the six kernels the matrix is tested on.
SIX_KERNELS = ["bullseye-amd64", "bookworm-amd64", "trixie-amd64", "sid-amd64", "bullseye-arm64", "bookworm-arm64"]


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


class BenchError(Exception):
    """A product that exists failed: the run reports it and exits 1."""


# ---------------------------------------------------------------- helpers

def stats(values):
    values = sorted(values)
    if not values:
        return None
    return {"min": values[0], "median": statistics.median(values), "max": values[-1], "n": len(values),
            "values": values}


def run_timed(argv, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=None, timeout=600):
    """Runs argv to completion: wall seconds, exit code, peak RSS (KiB), CPU."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=stdout, stdin=stdin, stderr=subprocess.PIPE if stdout is not None else None,
                         env=env)
    deadline = t0 + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            p.kill()
            pid, status, ru = os.wait4(p.pid, 0)
            raise BenchError("%s: timed out after %d s" % (" ".join(argv), timeout))
        time.sleep(0.0005)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    return {"wall": wall, "rc": p.returncode, "maxrss_kib": ru.ru_maxrss, "user": ru.ru_utime, "sys": ru.ru_stime,
            "stderr": err}


def run_timed_wait(argv, **kw):
    """run_timed with a blocking wait (no polling): for very short commands."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=kw.get("stdout", subprocess.DEVNULL), stdin=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=kw.get("env"))
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    return {"wall": wall, "rc": p.returncode, "maxrss_kib": ru.ru_maxrss, "cpu": ru.ru_utime + ru.ru_stime}


def repeat(argv, reps, ok_codes=(0,), **kw):
    runs = [run_timed_wait(argv, **kw) for _ in range(reps)]
    bad = [r for r in runs if r["rc"] not in ok_codes]
    if bad:
        r = run_timed(argv)
        raise BenchError("%s: exit %d: %s" % (" ".join(map(str, argv)), r["rc"], r["stderr"].strip()[:400]))
    return runs


def peak_rss_kib(argv):
    """Peak RSS of argv alone, by /usr/bin/time: wait4's ru_maxrss of a child
    of Python counts the pages the child had before its exec (Python's)."""
    if not os.path.exists("/usr/bin/time"):
        return max(r["maxrss_kib"] for r in repeat(argv, 1))
    r = subprocess.run(["/usr/bin/time", "-f", "RSS %M"] + argv, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    m = re.search(r"^RSS (\d+)$", r.stderr, re.M)
    if r.returncode != 0 or not m:
        raise BenchError("%s: exit %d: %s" % (" ".join(argv), r.returncode, r.stderr.strip()[:400]))
    return int(m.group(1))


def read_sysctl(name):
    try:
        return Path("/proc/sys/" + name.replace(".", "/")).read_text().strip()
    except OSError:
        return None


def write_sysctl(name, value):
    Path("/proc/sys/" + name.replace(".", "/")).write_text(str(value))


class ManyVmas:
    """bench/many_vmas.c with N VMAs; closes stdin (and kills) on exit."""

    def __init__(self, exe, n):
        self.n = n
        self.p = subprocess.Popen([exe, str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.vmas = self.addr = None
        for line in self.p.stdout:
            key, _, value = line.strip().partition(" ")
            if key == "vmas":
                self.vmas = int(value)
            elif key == "addr":
                self.addr = value if value.startswith("0x") else "0x" + value
            elif key == "ready":
                break
        if self.addr is None or self.p.poll() is not None:
            err = self.p.stderr.read()
            self.close()
            raise BenchError("many_vmas %d: %s" % (n, err.strip() or "did not start"))

    @property
    def pid(self):
        return self.p.pid

    def alive(self):
        return self.p.poll() is None

    def close(self):
        if self.p.poll() is None:
            try:
                self.p.stdin.close()
                self.p.wait(timeout=5)
            except Exception:
                self.p.kill()
                self.p.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def parse_bench_lines(text):
    out = []
    for line in text.splitlines():
        m = re.search(r"BENCH (\{.*\})\s*$", line)
        if m:
            out.append(json.loads(m.group(1)))
    return out


def debugger_session(argv, expect, timeout=900):
    """Runs a debugger batch; returns (records, wall). `expect` records must appear."""
    with tempfile.TemporaryFile() as out:
        t0 = time.perf_counter()
        try:
            p = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BenchError("%s: timed out after %d s" % (argv[0], timeout))
        wall = time.perf_counter() - t0
        out.seek(0)
        text = out.read().decode(errors="replace")
    recs = parse_bench_lines(text)
    if len(recs) != expect:
        raise BenchError("%s session: %d of %d timings (exit %d); output tail:\n%s"
                         % (Path(argv[0]).name, len(recs), expect, p.returncode, text[-1500:]))
    return recs, wall


def lldb_session(pid, cmds, plugin):
    argv = [LLDB, "-x", "-b", "-p", str(pid), "-o", "command script import %s" % (BENCH / "lldb_timing.py")]
    n = len(cmds)
    if plugin:
        argv += ["-o", "bench-time 1 plugin load %s" % plugin]
        n += 1
    for reps, cmd in cmds:
        argv += ["-o", "bench-time %d %s" % (reps, cmd)]
    argv += ["-o", "process detach"]
    recs, wall = debugger_session(argv, n)
    if plugin:
        load, recs = recs[0], recs[1:]
        if not load["ok"]:
            raise BenchError("lldb: plugin load %s: %s" % (plugin, load["error"]))
    return recs, wall


def gdb_session(pid, cmds, script):
    argv = [GDB, "-batch", "-nx", "-p", str(pid), "-x", str(script), "-x", str(BENCH / "gdb_timing.py")]
    for reps, cmd in cmds:
        argv += ["-ex", "bench-time %d %s" % (reps, cmd)]
    argv += ["-ex", "detach"]
    return debugger_session(argv, len(cmds))


def check_records(recs, where):
    for r in recs:
        if not r["ok"]:
            raise BenchError("%s: `%s` failed: %s" % (where, r["cmd"], r["error"]))


# ---------------------------------------------------------------- machine

def machine():
    info = {}
    cpuinfo = Path("/proc/cpuinfo").read_text()
    m = re.search(r"^model name\s*:\s*(.*)$", cpuinfo, re.M)
    info["cpu"] = m.group(1).strip() if m else platform.processor()
    info["cores"] = os.cpu_count()
    m = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
    info["memory_gib"] = round(int(m.group(1)) / 1048576, 1) if m else None
    u = os.uname()
    info["kernel"] = "%s %s %s" % (u.sysname, u.release, u.machine)
    hyp = "hypervisor" in cpuinfo
    info["virtualised"] = hyp
    try:
        osr = dict(l.split("=", 1) for l in Path("/etc/os-release").read_text().splitlines() if "=" in l)
        info["os"] = osr.get("PRETTY_NAME", "").strip('"')
    except OSError:
        info["os"] = ""
    info["loadavg_start"] = os.getloadavg()

    def version(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=60).stdout.splitlines()[0].strip()
        except Exception:
            return None
    info["lldb"] = version([LLDB, "--version"]) if LLDB else None
    info["gdb"] = version([GDB, "--version"]) if GDB else None
    info["python"] = sys.version.split()[0]
    try:
        info["git"] = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                     text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        info["git_dirty"] = bool(dirty)
    except Exception:
        info["git"] = None
    return info


def build_info(build):
    cache = build / "CMakeCache.txt"
    info = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            for key in ("CMAKE_BUILD_TYPE", "CMAKE_CXX_COMPILER", "VMAKIT_SANITIZE", "CMAKE_GENERATOR"):
                if line.startswith(key + ":"):
                    info[key] = line.split("=", 1)[1]
    comp = info.get("CMAKE_CXX_COMPILER")
    if comp:
        try:
            info["compiler"] = subprocess.run([comp, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
        except Exception:
            pass
    return info


def build_targets(build):
    """Builds each product this script measures that the build tree defines (-j1)."""
    wanted = ["vma", "vma-bench", "vmakit_gdb", "vma_lldb", "vma-harness", "vma-probes"]
    for t in wanted:
        r = subprocess.run(["cmake", "--build", str(build), "-j", "1", "--target", t], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        if r.returncode == 0:
            log("built %s" % t)
        elif "unknown target" in r.stdout or "No rule to make target" in r.stdout:
            log("%s is not a target of this build tree (its component is not configured)" % t)
        else:
            sys.exit("bench: building %s failed:\n%s" % (t, r.stdout[-3000:]))


# ---------------------------------------------------------------- the run

class Run:
    def __init__(self, build, cfg, quick):
        self.build = build
        self.cfg = cfg
        self.quick = quick
        self.items = {k: [] for k in ("1", "2", "3", "4", "5", "6")}
        self.errors = []
        self.notes = {k: [] for k in self.items}
        self.vma = build / "vma"
        self.many = build / "vma-bench-many-vmas"
        self.parse_tool = build / "vma-bench-parse"
        self.core_bench = build / "vma-bench-core"
        self.phases_tool = build / "vma-bench-map-phases"
        self.exec_floor = build / "vma-bench-exec-floor"
        self.lldb_plugin = build / "libvma-lldb.so"
        self.gdb_script = build / "vma-gdb.py"
        self.harness = build / "vma-harness"
        self.probes = build / "probes"

    # A row: what, target text, measured dict, status, and an explanation.
    def row(self, item, name, measured, target="", status="info", detail="", unit="ms", key=None, headline=""):
        r = {"name": name, "target": target, "measured": measured, "status": status, "detail": detail,
             "unit": unit, "key": key or name, "headline": headline}
        if self.quick and status in ("met", "missed"):
            r["status"] = "not evaluated (quick mode)"
        self.items[item].append(r)
        return r

    def skip(self, item, name, reason, target=""):
        self.items[item].append({"name": name, "target": target, "measured": None, "status": "skipped",
                                 "detail": reason, "unit": "", "key": name})

    def error(self, item, name, exc, target=""):
        log("ERROR %s: %s" % (name, exc))
        self.errors.append("%s: %s" % (name, exc))
        self.items[item].append({"name": name, "target": target, "measured": None, "status": "error",
                                 "detail": str(exc)[:600], "unit": "", "key": name})

    # -------------------------------------------------- items 1, 2, 3 (live processes)
    def live(self):
        cfg = self.cfg
        sizes = sorted(set(cfg["map_sizes"]) | set(cfg["whereis_sizes"]))
        if not self.vma.exists():
            for i in ("1", "2", "3"):
                self.skip(i, "all rows", "%s is not built" % self.vma)
            return
        if not self.many.exists():
            for i in ("1", "2", "3"):
                self.skip(i, "all rows", "%s is not built" % self.many)
            return
        have_lldb = LLDB is not None
        have_plugin = self.lldb_plugin.exists()
        have_gdb = GDB is not None and self.gdb_script.exists() and any(self.build.glob("_vmakit*.so"))
        self.results_live = {}
        for n in sizes:
            if n > 65000 and int(read_sysctl("vm.max_map_count") or 0) < n + 1000:
                for i in ("1", "2", "3"):
                    if (i == "2" and n in cfg["whereis_sizes"]) or (i != "2" and n in cfg["map_sizes"]):
                        self.skip(i, "%dk VMAs" % (n // 1000),
                                  "vm.max_map_count is %s and could not be raised (needs root)"
                                  % read_sysctl("vm.max_map_count"))
                continue
            log("process with %d VMAs" % n)
            try:
                self.live_size(n, have_lldb, have_plugin, have_gdb)
            except BenchError as e:
                self.error("1" if n in cfg["map_sizes"] else "2", "%d VMAs" % n, e)

    def live_size(self, n, have_lldb, have_plugin, have_gdb):
        cfg = self.cfg
        res = self.results_live.setdefault(n, {})
        in_map = n in cfg["map_sizes"]
        in_whereis = n in cfg["whereis_sizes"]
        dbg_map = in_map and n <= cfg["debugger_map_max"]
        proc = ManyVmas(str(self.many), n)
        try:
            res["vmas"] = proc.vmas
            addr = proc.addr
            label = "%s VMAs" % format(proc.vmas, ",")
            # ---- CLI
            if in_whereis:
                runs = repeat([str(self.vma), "whereis", "--pid", str(proc.pid), addr], cfg["cli_reps"])
                res["cli_whereis"] = stats([r["wall"] for r in runs])
            if in_map:
                # Alternated, so that load changes on a shared machine hit all three alike.
                argvs = {"cli_map": [str(self.vma), "map", "--pid", str(proc.pid)],
                         "cat": ["cat", "/proc/%d/maps" % proc.pid],
                         "cli_map_noguard": [str(self.vma), "map", "--pid", str(proc.pid), "--no-guard-scan"],
                         "cli_draw": [str(self.vma), "map", "--pid", str(proc.pid), "--draw"]}
                # --draw at 80x40, whatever terminal the run started from.
                envs = {"cli_draw": dict(os.environ, COLUMNS="80", LINES="40")}
                runs = {k: [] for k in argvs}
                for _ in range(cfg["cli_reps"]):
                    for k, argv in argvs.items():
                        runs[k] += repeat(argv, 1, env=envs.get(k))
                for k in argvs:
                    res[k] = stats([r["wall"] for r in runs[k]])
                    res[k + "_cpu"] = stats([r["cpu"] for r in runs[k]])
                res["cli_map_rss"] = peak_rss_kib([str(self.vma), "map", "--pid", str(proc.pid)])
                with open("/proc/%d/maps" % proc.pid, "rb") as f:
                    res["maps_bytes"] = len(f.read())
                if self.phases_tool.exists():
                    out = subprocess.run([str(self.phases_tool), str(proc.pid), str(max(2, cfg["cli_reps"] // 2))],
                                         capture_output=True, text=True)
                    if out.returncode != 0:
                        raise BenchError("vma-bench-map-phases: " + out.stderr.strip()[:400])
                    res["phases"] = json.loads(out.stdout)
                out = subprocess.run([str(self.vma), "map", "--pid", str(proc.pid), "--no-guard-scan"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                if out.returncode == 0:
                    runs = repeat([str(self.vma), "map", "--pid", str(proc.pid), "--no-guard-scan"], cfg["cli_reps"])
                    res["cli_map_noguard"] = stats([r["wall"] for r in runs])
            # ---- LLDB
            if have_lldb and (dbg_map or (in_whereis and have_plugin)):
                cold_map, cold_region, warm_region, warm_map, cold_where, warm_where, walls = [], [], [], [], [], [], []
                sessions = cfg["lldb_sessions"] if dbg_map else 1
                for s in range(sessions):
                    if not proc.alive():
                        raise BenchError("many_vmas died during the LLDB sessions")
                    cmds = []
                    if have_plugin and dbg_map:
                        cmds.append((1, "vma map"))
                        if s == 0:
                            cmds.append((3, "vma map"))
                    if have_plugin and in_whereis:
                        cmds.append((1 + cfg["warm_reps"], "vma whereis %s" % addr))
                    if dbg_map:
                        cmds.append((1, "memory region --all"))
                        if s == 0 and not self.quick:
                            cmds.append((1, "memory region --all"))
                    log("  lldb session %d/%d (%d VMAs)" % (s + 1, sessions, n))
                    recs, wall = lldb_session(proc.pid, cmds, self.lldb_plugin if have_plugin else None)
                    check_records(recs, "lldb at %d VMAs" % n)
                    walls.append(wall)
                    it = iter(recs)
                    if have_plugin and dbg_map:
                        r = next(it)
                        cold_map.append(r["seconds"][0])
                        res["lldb_map_lines"] = r["lines"]
                        if s == 0:
                            warm_map += next(it)["seconds"]
                    if have_plugin and in_whereis:
                        r = next(it)
                        cold_where.append(r["seconds"][0])
                        warm_where += r["seconds"][1:]
                    if dbg_map:
                        r = next(it)
                        cold_region.append(r["seconds"][0])
                        res["lldb_region_lines"] = r["lines"]
                        if s == 0 and not self.quick:
                            warm_region += next(it)["seconds"]
                res["lldb_session_wall"] = stats(walls)
                if cold_map:
                    res["lldb_map_cold"] = stats(cold_map)
                    res["lldb_map_warm"] = stats(warm_map)
                if cold_region:
                    res["lldb_region_cold"] = stats(cold_region)
                if warm_region:
                    res["lldb_region_warm"] = stats(warm_region)
                if cold_where:
                    res["lldb_whereis_first"] = stats(cold_where)
                    res["lldb_whereis"] = stats(warm_where)
            # ---- GDB
            if have_gdb and (in_whereis or dbg_map):
                if not proc.alive():
                    raise BenchError("many_vmas died before the GDB session")
                log("  gdb session (%d VMAs)" % n)
                cmds = []
                if in_whereis:
                    cmds.append((1 + cfg["warm_reps"], "vma whereis %s" % addr))
                if dbg_map:
                    cmds += [(1, "vma map"), (1, "info proc mappings")]
                recs, wall = gdb_session(proc.pid, cmds, self.gdb_script)
                check_records(recs, "gdb at %d VMAs" % n)
                it = iter(recs)
                if in_whereis:
                    r = next(it)
                    res["gdb_whereis_first"] = stats(r["seconds"][:1])
                    res["gdb_whereis"] = stats(r["seconds"][1:])
                if dbg_map:
                    res["gdb_map"] = stats(next(it)["seconds"])
                    res["gdb_proc_mappings"] = stats(next(it)["seconds"])
                res["gdb_session_wall"] = stats([wall])
            res["label"] = label
        finally:
            proc.close()

    def live_rows(self):
        cfg = self.cfg
        res = getattr(self, "results_live", {})
        map_sizes = [n for n in cfg["map_sizes"] if n in res]
        big = max(n for n in cfg["map_sizes"] if n <= cfg["debugger_map_max"])
        # item 1
        for n in map_sizes:
            r = res[n]
            lbl = r.get("label", "%d VMAs" % n)
            if "lldb_region_cold" in r:
                self.row("1", "LLDB `memory region --all`, %s" % lbl, r["lldb_region_cold"],
                         detail="first call after attach (lldb-server reads the map); %s output lines; "
                         "repeat in the same stop: %s" % (r.get("lldb_region_lines"), fmt_stats(r.get("lldb_region_warm"))),
                         key="lldb_region_%d" % n)
            elif LLDB is None:
                self.skip("1", "LLDB `memory region --all`, %d VMAs" % n, "lldb-19 is not installed")
            if "lldb_map_cold" in r:
                base = r.get("lldb_region_cold")
                speed = base["median"] / r["lldb_map_cold"]["median"] if base else None
                status, target = "info", ""
                if n == big:
                    target = ">= 100x faster than `memory region --all`"
                    status = "met" if speed and speed >= 100 else "missed"
                self.row("1", "LLDB `vma map`, %s" % lbl, r["lldb_map_cold"], target=target, status=status,
                         headline="%.0fx faster" % speed if speed else "",
                         detail="first call after attach; %s; %s output lines; repeat in the same stop "
                         "(cached map, render only): %s"
                         % ("%.0fx faster (medians)" % speed if speed else "no baseline", r.get("lldb_map_lines"),
                            fmt_stats(r.get("lldb_map_warm"))),
                         key="lldb_map_%d" % n)
            elif not self.lldb_plugin.exists():
                self.skip("1", "LLDB `vma map`, %d VMAs" % n, "the LLDB plugin (%s) is not built" % self.lldb_plugin,
                          target=">= 100x faster at 60k" if n == big else "")
            if "gdb_map" in r:
                gspeed = r["gdb_proc_mappings"]["median"] / r["gdb_map"]["median"]
                gtarget = ">= 5x faster than `info proc mappings`" if n == big else ""
                self.row("1", "GDB `info proc mappings`, %s" % lbl, r["gdb_proc_mappings"],
                         detail="GDB's own listing (reads /proc/PID/maps), first call after attach",
                         key="gdb_proc_mappings_%d" % n)
                self.row("1", "GDB `vma map`, %s" % lbl, r["gdb_map"], target=gtarget,
                         status=("met" if gspeed >= 5 else "missed") if gtarget else "info",
                         headline="%.1fx faster" % gspeed,
                         detail="first call after attach; %.1fx faster than `info proc mappings` (medians, same "
                         "session)" % gspeed, key="gdb_map_%d" % n)
            if "lldb_session_wall" in r:
                self.notes["1"].append("%s: whole `lldb -b -p` session (attach, commands, detach): %s s per session."
                                       % (lbl, fmt_stats(r["lldb_session_wall"], scale=1, unit="s")))
        # item 2
        wsizes = [n for n in cfg["whereis_sizes"] if n in res]
        small, large = min(cfg["whereis_sizes"]), max(cfg["whereis_sizes"])
        for fe, key, missing in (("CLI `vma whereis --pid`", "cli_whereis", None),
                                 ("LLDB `vma whereis`", "lldb_whereis",
                                  None if self.lldb_plugin.exists() else "the LLDB plugin (%s) is not built" % self.lldb_plugin),
                                 ("GDB `vma whereis`", "gdb_whereis",
                                  None if (GDB and self.gdb_script.exists()) else "the GDB front end is not built")):
            if missing:
                self.skip("2", fe, missing, target="<= 2x from %d to %s" % (small, format(large, ",")))
                continue
            for n in wsizes:
                r = res[n]
                if key not in r:
                    continue
                status, target, detail = "info", "", ""
                if key != "cli_whereis":
                    detail = "in-session repeats; the first call after attach: %s" % fmt_stats(r.get(key + "_first"))
                else:
                    detail = "whole process (start-up included)"
                if n == large and small in res and key in res[small]:
                    ratio = r[key]["median"] / res[small][key]["median"]
                    target = "<= 2x from %d to %s" % (res[small].get("vmas", small), format(r.get("vmas", n), ","))
                    status = "met" if ratio <= 2 else "missed"
                    detail = "%.2fx the %d-VMA median; " % (ratio, res[small].get("vmas", small)) + detail
                    headline = "%.2fx the %d-VMA median" % (ratio, res[small].get("vmas", small))
                else:
                    headline = ""
                self.row("2", "%s, %s" % (fe, r.get("label", n)), r[key], target=target, status=status, detail=detail,
                         key="%s_%d" % (key, n), headline=headline)
        for n in cfg["whereis_sizes"]:
            if n not in res and not any(x["name"].startswith("%dk" % (n // 1000)) for x in self.items["2"]):
                self.skip("2", "%d VMAs" % n, "not measured (see errors)")
        # item 3 (live half)
        for n in map_sizes:
            r = res[n]
            if "cli_map" not in r:
                continue
            ratio = r["cli_map"]["median"] / r["cat"]["median"]
            status, target = "info", ""
            if n in cfg["map_targets"]:
                target = "<= 1.5x `cat /proc/PID/maps`"
                status = "met" if ratio <= 1.5 else "missed"
            self.row("3", "`cat /proc/PID/maps`, %s" % r["label"], r["cat"], key="cat_%d" % n,
                     detail="the kernel's floor: fork, exec, read, write to /dev/null; CPU (user+sys) %s"
                     % fmt_stats(r["cat_cpu"]))
            noguard = r.get("cli_map_noguard")
            self.row("3", "CLI `vma map --pid`, %s" % r["label"], r["cli_map"], target=target, status=status,
                     headline="%.1fx cat" % ratio,
                     detail="%.1fx cat (wall medians); CPU (user+sys) %s, %.1fx cat's; peak RSS %s; "
                     "with `--no-guard-scan`: %s"
                     % (ratio, fmt_stats(r["cli_map_cpu"]), r["cli_map_cpu"]["median"] / max(1e-6, r["cat_cpu"]["median"]),
                        fmt_kib(r["cli_map_rss"]), fmt_stats(noguard)),
                     key="cli_map_%d" % n)
            if r.get("maps_bytes"):
                rss_ratio = r["cli_map_rss"] * 1024 / r["maps_bytes"]
                rtarget = "<= 3x the maps text" if n == max(cfg["map_sizes"]) else ""
                self.row("3", "CLI `vma map --pid` peak RSS, %s" % r["label"],
                         {"min": r["cli_map_rss"], "median": r["cli_map_rss"], "n": 1}, unit="KiB",
                         target=rtarget, status=("met" if rss_ratio <= 3 else "missed") if rtarget else "info",
                         headline="%.1fx the maps text" % rss_ratio,
                         detail="%.1fx the %.1f MB of /proc/PID/maps text (/usr/bin/time's maximum resident set)"
                         % (rss_ratio, r["maps_bytes"] / 1e6), key="cli_map_rss_%d" % n)
            if "cli_draw" in r:
                dratio = r["cli_draw"]["median"] / r["cli_map"]["median"]
                dstatus, dtarget = "info", ""
                if n == cfg["map_targets"][0]:
                    dtarget = "<= 2x `vma map --pid`"
                    dstatus = "met" if dratio <= 2 else "missed"
                self.row("3", "CLI `vma map --pid --draw` (80x40), %s" % r["label"], r["cli_draw"], target=dtarget,
                         status=dstatus, headline="%.2fx `vma map`" % dratio,
                         detail="%.2fx `vma map --pid` (wall medians, alternated with it); CPU (user+sys) %s"
                         % (dratio, fmt_stats(r["cli_draw_cpu"])), key="cli_draw_%d" % n)
            ph = r.get("phases")
            if ph:
                med = {k: statistics.median(ph[k])
                       for k in ("read", "parse", "snapshot", "snapshot_noguard", "build", "render", "json")}
                self.row("3", "where `vma map --pid` spends it, %s (vma-bench-map-phases)" % r["label"],
                         {"min": med["snapshot"] + med["build"] + med["render"],
                          "median": med["snapshot"] + med["build"] + med["render"], "n": len(ph["read"])},
                         detail="medians: snapshot %s (ProcSource parses while it reads and scans for guard "
                         "pages beside both; without the scan %s; alone, one after the other: read /proc/PID/maps "
                         "%s, parse %s), classify %s, render text %s (%.1f MB); `--json` instead: %s"
                         % (fmt_time(med["snapshot"]), fmt_time(med["snapshot_noguard"]), fmt_time(med["read"]),
                            fmt_time(med["parse"]), fmt_time(med["build"]), fmt_time(med["render"]),
                            ph["text_bytes"] / 1e6, fmt_time(med["json"])),
                         key="phases_%d" % n)

    # -------------------------------------------------- item 3: parser
    def parse(self, workdir):
        cfg = self.cfg
        if not self.parse_tool.exists():
            self.skip("3", "parse throughput", "%s is not built" % self.parse_tool, target=">= 200 MB/s")
            return
        f = workdir / "big.maps"
        subprocess.run([str(self.parse_tool), "generate", str(cfg["parse_lines"]), str(f)], check=True)
        try:
            log("parse %d lines" % cfg["parse_lines"])
            out = subprocess.run([str(self.parse_tool), "parse", str(f), str(cfg["parse_reps"])], capture_output=True,
                                 text=True)
            if out.returncode != 0:
                raise BenchError("vma-bench-parse: " + out.stderr.strip())
            j = json.loads(out.stdout)
            mbs = [j["bytes"] / s / 1e6 for s in j["seconds"]]
            st = stats(mbs)
            thr = {"min": st["min"], "median": st["median"], "max": st["max"], "n": st["n"], "values": st["values"]}
            self.row("3", "core `parse_maps`, %s lines (%.1f MB), wall clock, fresh memory each parse"
                     % (format(j["lines"], ","), j["bytes"] / 1e6), thr,
                     target=">= 200 MB/s", status="met" if st["median"] >= 200 else "missed", unit="MB/s",
                     detail="in memory, file read excluded; the result vector's page faults included; per parse %s"
                     % fmt_stats(stats(j["seconds"])),
                     key="parse_throughput")
            self.row("3", "peak RSS parsing it (`vma-bench-parse`)", {"min": j["maxrss_kib"], "median": j["maxrss_kib"], "n": 1},
                     unit="KiB", detail="of which %s is the file text itself (read before parsing); "
                     "parsed vector: %s" % (fmt_kib(j["maxrss_kib_loaded"]), fmt_kib(j["maxrss_kib"] - j["maxrss_kib_loaded"])),
                     key="parse_rss")
            if self.vma.exists():
                reps = max(1, cfg["parse_reps"] // 2 + 1)
                runs = [run_timed([str(self.vma), "map", "--maps", str(f)]) for _ in range(reps)]
                if any(r["rc"] != 0 for r in runs):
                    raise BenchError("vma map --maps: " + runs[0]["stderr"].strip()[:400])
                self.row("3", "CLI `vma map --maps` on it (read, parse, classify, print)",
                         stats([r["wall"] for r in runs]),
                         detail="peak RSS %s" % fmt_kib(max(r["maxrss_kib"] for r in runs)), key="cli_map_maps_file")
        finally:
            f.unlink(missing_ok=True)

    # -------------------------------------------------- item 4: Google Benchmark
    def core(self):
        cfg = self.cfg
        if not self.core_bench.exists():
            self.skip("4", "core micro-benchmarks",
                      "%s is not built (Google Benchmark, libbenchmark-dev, not found)" % self.core_bench)
            return
        log("core micro-benchmarks")
        argv = [str(self.core_bench), "--benchmark_format=json"]
        if cfg["gbench_reps"] > 1:
            argv += ["--benchmark_repetitions=%d" % cfg["gbench_reps"]]
        if cfg["gbench_min_time"]:
            argv += ["--benchmark_min_time=%s" % cfg["gbench_min_time"]]
        out = subprocess.run(argv, capture_output=True, text=True)
        if out.returncode != 0:
            raise BenchError("vma-bench-core: exit %d: %s" % (out.returncode, out.stderr.strip()[-600:]))
        j = json.loads(out.stdout)
        runs = {}
        for b in j["benchmarks"]:
            if b.get("run_type") == "aggregate" or b.get("error_occurred"):
                if b.get("error_occurred"):
                    raise BenchError("%s: %s" % (b["name"], b.get("error_message")))
                continue
            runs.setdefault(b.get("run_name", b["name"]), []).append(b)
        self.gbench_context = j.get("context", {})

        def secs(b):  # Google Benchmark reports real_time in the benchmark's time_unit
            return b["real_time"] * {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[b.get("time_unit", "ns")]
        for name, bs in runs.items():
            if name.startswith("BM_Draw"):
                ms = stats([secs(b) for b in bs])
                variant = name.split("/", 1)[1]
                self.row("4", "core `layout_map` + `draw_text` (`vma map --draw`, 80x40), %s regions (%s)" % (
                    format(int(bs[0]["regions"]), ","), variant.rsplit("_", 1)[0]), ms, unit="ms",
                    detail="%.0f ns per region (median wall): segments, folding to 40 rows, text"
                    % (ms["median"] * 1e9 / bs[0]["regions"]), key=name)
            elif name.startswith("BM_MapText"):
                ms = stats([secs(b) for b in bs])
                variant = name.split("/", 1)[1]
                self.row("4", "core `map_text` (the `vma map` text), %s regions (%s)" % (
                    format(int(bs[0]["regions"]), ","), variant.rsplit("_", 1)[0]), ms, unit="ms",
                    detail="%.0f ns per line (median wall)" % (ms["median"] * 1e9 / bs[0]["regions"]), key=name)
            elif name.startswith("BM_Find"):
                per_s = stats([b["items_per_second"] / 1e6 for b in bs])
                ns = stats([secs(b) * 1e9 for b in bs])
                shape = name.split("/", 1)[1]
                self.row("4", "`AddressMap::find`, %s regions (%s)" % (format(int(bs[0]["regions"]), ","), shape),
                         per_s, target=">= 10 million/s", status="met" if per_s["median"] >= 10 else "missed",
                         unit="million/s", detail="%.0f ns per lookup (median wall); hit ratio %.2f"
                         % (ns["median"], bs[0]["hit_ratio"]), key=name)
            elif name.startswith("BM_Build"):
                ms = stats([secs(b) for b in bs])
                shape = name.split("/", 1)[1]
                per_region = ms["median"] * 1e9 / bs[0]["regions"]
                self.row("4", "`AddressMap::build` (classify), %s regions (%s)"
                         % (format(int(bs[0]["regions"]), ","), shape), ms, unit="ms",
                         detail="%.0f ns per region (median); ELF files parsed once, cache kept across iterations"
                         % per_region, key=name)
            elif name.startswith("BM_ParseMaps"):
                mbs = stats([b["bytes_per_second"] / 1e6 for b in bs])
                self.row("4", "`parse_maps`, %s lines, per CPU second (Google Benchmark)" % format(int(name.split("/")[-1]), ","),
                         mbs, unit="MB/s",
                         target=">= 200 MB/s", status="met" if mbs["median"] >= 200 else "missed",
                         detail="same synthetic text as item 3; CPU time of the benchmark thread, so "
                         "waiting for a core on a loaded machine is not counted (item 3's row is wall clock)", key=name)

    # -------------------------------------------------- item 5: harness
    def harness_bench(self, workdir):
        cfg = self.cfg
        if not self.harness.exists():
            for name in ("full default run", "per-probe ptrace capture", "`aslr --samples 1500` vs paxtest"):
                self.skip("5", name, "%s is not built" % self.harness)
            self.paxtest(workdir, None)
            return
        log("harness: full default run")
        runs = []
        for _ in range(cfg["harness_reps"]):
            with tempfile.TemporaryFile() as out:
                r = run_timed([str(self.harness), "run"], stdout=out)
                out.seek(0)
                text = out.read().decode(errors="replace")
            if r["rc"] not in (0, 1):
                raise BenchError("vma-harness run: exit %d: %s" % (r["rc"], r["stderr"].strip()[:400]))
            r["summary"] = next((l for l in reversed(text.splitlines()) if " probes: " in l), "")
            runs.append(r)
        st = stats([r["wall"] for r in runs])
        self.row("5", "`vma-harness run` (default profile, default --jobs = %d CPUs)" % os.cpu_count(), st,
                 target="<= 3 s", status="met" if st["median"] <= 3 else "missed", unit="ms",
                 detail="%s; exit %d; CPU user+sys %.2f s" % (runs[0]["summary"].strip(), runs[0]["rc"],
                                                            runs[0]["user"] + runs[0]["sys"]), key="harness_run")
        # Per-probe cost: one probe (null-read) N times as user probes, --jobs 1.
        probe = self.probes / "null-read"
        if not probe.exists():
            self.skip("5", "per-probe ptrace capture", "%s is not built" % probe)
        else:
            n = cfg["per_probe_n"]
            spec = workdir / "per_probe.toml"
            ids = ["bench-%03d" % i for i in range(n)]
            spec.write_text("".join(
                '[[probe]]\nname = "%s"\ncommand = ["%s"]\nexpect = { outcome = "fault", signal = "SIGSEGV", '
                'code = "SEGV_MAPERR", region = "null-page" }\n\n' % (i, probe) for i in ids))
            log("harness: %d x null-read (ptrace, handler, bare)" % n)
            res = {}
            for capture in ("ptrace", "handler"):
                for count in (1, n):
                    # --as-root: the user probes are the build tree's null-read,
                    # which nobody cannot execute when the tree is under /root.
                    argv = [str(self.harness), "run", "--spec", str(spec), "--only", ",".join(ids[:count]),
                            "--jobs", "1", "--format", "json", "--capture=%s" % capture, "--as-root"]
                    walls = []
                    for _ in range(3 if not self.quick else 1):
                        with tempfile.TemporaryFile() as out:
                            r = run_timed(argv, stdout=out)
                            out.seek(0)
                            text = out.read().decode(errors="replace")
                        if r["rc"] != 0:
                            raise BenchError("vma-harness run --capture=%s (%d probes): exit %d: %s %s"
                                             % (capture, count, r["rc"], r["stderr"].strip()[:300], text[-300:]))
                        summary = json.loads(text).get("summary", {})
                        walls.append(r["wall"])
                    res[(capture, count)] = (stats(walls), summary)
            # Bare: fork+exec+SIGSEGV of the same probe, no tracer, from here.
            bare = []
            for _ in range(3 if not self.quick else 1):
                t0 = time.perf_counter()
                for _ in range(n):
                    run_timed_wait([str(probe)])
                bare.append(time.perf_counter() - t0)
            bare_st = stats(bare)
            for capture in ("ptrace", "handler"):
                one, _ = res[(capture, 1)]
                many, summary = res[(capture, n)]
                per = (many["median"] - one["median"]) / max(1, n - 1)
                self.row("5", "per probe, capture %s (null-read x %d, --jobs 1)" % (capture, n),
                         {"min": per, "median": per, "n": 1}, unit="ms",
                         detail="(run of %d - run of 1) / %d, medians of %d runs each: %s and %s; summary %s"
                         % (n, n - 1, many["n"], fmt_stats(many), fmt_stats(one), json.dumps(summary)),
                         key="per_probe_%s" % capture)
            self.row("5", "per probe, bare fork+exec+SIGSEGV of null-read (no harness)",
                     {"min": bare_st["min"] / n, "median": bare_st["median"] / n, "n": bare_st["n"]}, unit="ms",
                     detail="from Python's subprocess, no tracer; the floor the capture cost adds to",
                     key="per_probe_bare")
        self.paxtest(workdir, self.harness)

    # -------------------------------------------------- item 6 (kernel matrix, issue 14)
    def vm_bench(self, workdir, kernels_dir):
        """Boot to report per kernel and CPU model under TCG beside the bare
        boot of the same kernel to a busybox init (the floor), and the
        4-entry matrix."""
        if not self.harness.exists():
            self.skip("6", "kernel matrix", "%s is not built" % self.harness)
            return
        self.vm_arm64_bench(workdir, kernels_dir)
        self.vm_six_bench(workdir, kernels_dir)
        if QEMU is None:
            self.skip("6", "kernel matrix", "qemu-system-x86_64 is not installed (Debian qemu-system-x86)")
            return
        if not os.path.exists(BUSYBOX):
            self.skip("6", "kernel matrix", "%s is missing (Debian busybox-static)" % BUSYBOX)
            return
        kernels = [(k, Path(kernels_dir) / k) for k in VM_KERNELS]
        missing = [str(p) for _, p in kernels if not p.is_dir()]
        if missing:
            self.skip("6", "kernel matrix", "kernels not fetched (bash scripts/fetch-kernels.sh %s): %s"
                      % (kernels_dir, ", ".join(missing)))
            return
        if self.cfg.get("vm_quick"):
            kernels = kernels[:1]
        initrd = workdir / "bare-initrd.cpio"
        initrd.write_bytes(bare_initramfs())
        reps = self.cfg["vm_reps"]
        for name, path in kernels:
            image = kernel_image(path)
            for cpu in VM_CPUS[:1] if self.cfg.get("vm_quick") else VM_CPUS:
                log("vm: %s cpu %s: bare boot to init, then `vma-harness vm -- run` (%d each)" % (name, cpu, reps))
                bare = [bare_boot(image, initrd, cpu) for _ in range(reps)]
                runs = []
                for _ in range(reps):
                    with tempfile.TemporaryFile() as out:
                        r = run_timed([str(self.harness), "vm", "--kernel", str(path), "--cpu", cpu, "--accel", "tcg",
                                       "--", "run"], stdout=out, timeout=600)
                        out.seek(0)
                        text = out.read().decode(errors="replace")
                    if r["rc"] != 0:
                        raise BenchError("vma-harness vm --kernel %s --cpu %s -- run: exit %d: %s %s"
                                         % (name, cpu, r["rc"], r["stderr"].strip()[-400:], text[-300:]))
                    r["summary"] = next((l for l in reversed(text.splitlines()) if " probes: " in l), "")
                    runs.append(r)
                bst, st = stats(bare), stats([r["wall"] for r in runs])
                over = st["median"] - bst["median"]
                label = "%s cpu %s" % (name, cpu)
                self.row("6", "bare boot to init: %s" % label, bst, unit="ms",
                         detail="QEMU start to the first line of a busybox /init (initramfs of busybox alone), "
                                "TCG, -m 2048 -smp 1 (as vm under TCG)", key="vm_bare_%s_%s" % (name, cpu))
                ok = st["median"] <= 10 and over <= 2
                self.row("6", "`vma-harness vm -- run`: %s" % label, st, unit="ms",
                         target="<= 10 s, within 2 s of the bare boot", status="met" if ok else "missed",
                         headline="+%.1f s over the bare boot" % over,
                         detail="whole process: initramfs (harness, probes, libraries) built, booted, report read "
                                "back; %s; %.1f s over the bare boot (medians)" % (runs[0]["summary"].strip(), over),
                         key="vm_run_%s_%s" % (name, cpu))
        if not self.cfg["vm_matrix"]:
            self.skip("6", "4-entry matrix", "quick mode")
            return
        log("vm: matrix, 2 kernels x 2 CPU models")
        argv = [str(self.harness), "matrix", "--accel", "tcg", "--format", "json"]
        for _, path in kernels:
            argv += ["--kernel", str(path)]
        for cpu in VM_CPUS:
            argv += ["--cpu", cpu]
        with tempfile.TemporaryFile() as out:
            r = run_timed(argv, stdout=out, timeout=1200)
            out.seek(0)
            text = out.read().decode(errors="replace")
        if r["rc"] != 0:
            raise BenchError("vma-harness matrix: exit %d: %s" % (r["rc"], r["stderr"].strip()[-400:]))
        j = json.loads(text)
        per = ", ".join("%s cpu %s %.1f s" % (k["kernel"], k["cpu"], k["seconds"]) for k in j["kernels"])
        st = {"min": r["wall"], "median": r["wall"], "n": 1}
        self.row("6", "`vma-harness matrix`, 2 kernels x 2 CPU models (no ASLR, no audit)", st, unit="ms",
                 target="<= 40 s", status="met" if r["wall"] <= 40 else "missed",
                 detail="one run; %s; %d differences" % (per, len(j["differences"])), key="vm_matrix")

    def vm_six_bench(self, workdir, kernels_dir):
        """Issue 20: `vma-harness vm -- run` boot to report on each of the
        six Debian kernels the matrix is tested on (TCG, each arch's default
        CPU model), beside the bare boot of the same image."""
        reps = self.cfg["vm_reps"]
        names = SIX_KERNELS[:1] if self.cfg.get("vm_quick") else SIX_KERNELS
        for name in names:
            path = Path(kernels_dir) / name
            arm64 = name.endswith("-arm64")
            item = "boot to report: %s" % name
            if (QEMU_ARM64 if arm64 else QEMU) is None:
                self.skip("6", item, "qemu-system-%s is not installed" % ("aarch64" if arm64 else "x86_64"))
                continue
            if not path.is_dir():
                self.skip("6", item, "not fetched (bash scripts/fetch-kernels.sh; SUITES and --arch choose)")
                continue
            extra = []
            busybox = BUSYBOX
            if arm64:
                busybox = Path(kernels_dir) / "busybox-static-arm64" / "bin" / "busybox"
                guest_build = self.build.parent / "build-aarch64"
                if not (guest_build / "vma-harness").exists() or not busybox.exists():
                    self.skip("6", item, "no aarch64 build (bash scripts/cross-aarch64.sh) or arm64 busybox")
                    continue
                extra = ["--guest-build", str(guest_build)]
            image = kernel_image(path)
            initrd = workdir / ("bare-initrd-%s.cpio" % name)
            initrd.write_bytes(bare_initramfs(busybox))
            log("vm: %s: bare boot to init, then `vma-harness vm -- run` (%d each)" % (name, reps))
            bare = [bare_boot(image, initrd, "max", arm64=arm64) for _ in range(reps)]
            runs = []
            for _ in range(reps):
                with tempfile.TemporaryFile() as out:
                    r = run_timed([str(self.harness), "vm", "--kernel", str(path), "--accel", "tcg"] + extra +
                                  ["--", "run"], stdout=out, timeout=600)
                    out.seek(0)
                    text = out.read().decode(errors="replace")
                if r["rc"] != 0:
                    raise BenchError("vma-harness vm --kernel %s -- run: exit %d: %s %s"
                                     % (name, r["rc"], r["stderr"].strip()[-400:], text[-300:]))
                r["summary"] = next((l for l in reversed(text.splitlines()) if " probes: " in l), "")
                r["release"] = next((l.split()[1] for l in text.splitlines() if l.startswith("kernel ")), "?")
                runs.append(r)
            bst, st = stats(bare), stats([r["wall"] for r in runs])
            over = st["median"] - bst["median"]
            self.row("6", "%s (%s)" % (item, runs[0]["release"]), st, unit="ms",
                     headline="bare boot %.1f s, +%.1f s" % (bst["median"], over),
                     detail="whole `vma-harness vm -- run` process under TCG (%s); bare boot to a busybox init "
                            "%.1f s (median); %s" % ("aarch64 build" if arm64 else "cpu max", bst["median"],
                                                      runs[0]["summary"].strip()),
                     key="vm_six_%s" % name)

    def vm_arm64_bench(self, workdir, kernels_dir):
        """Issue 15: Debian 12's arm64 kernel under TCG, `vma-harness vm --
        run` (boot included) beside its bare boot; target <= 20 s."""
        path = Path(kernels_dir) / ARM64_KERNEL
        busybox = Path(kernels_dir) / "busybox-static-arm64" / "bin" / "busybox"
        guest_build = self.build.parent / "build-aarch64"
        if QEMU_ARM64 is None:
            self.skip("6", "arm64 guest", "qemu-system-aarch64 is not installed (Debian qemu-system-arm)")
            return
        if not path.is_dir() or not busybox.exists():
            self.skip("6", "arm64 guest", "%s or its busybox not fetched (bash scripts/fetch-kernels.sh %s)"
                      % (path, kernels_dir))
            return
        if not (guest_build / "vma-harness").exists():
            self.skip("6", "arm64 guest", "no aarch64 build in %s (bash scripts/cross-aarch64.sh)" % guest_build)
            return
        image = kernel_image(path)
        initrd = workdir / "bare-initrd-arm64.cpio"
        initrd.write_bytes(bare_initramfs(busybox))
        reps = self.cfg["vm_reps"]
        log("vm: %s: bare boot to init, then `vma-harness vm -- run` (%d each)" % (ARM64_KERNEL, reps))
        bare = [bare_boot(image, initrd, "", arm64=True) for _ in range(reps)]
        runs = []
        for _ in range(reps):
            with tempfile.TemporaryFile() as out:
                r = run_timed([str(self.harness), "vm", "--kernel", str(path), "--guest-build", str(guest_build),
                               "--accel", "tcg", "--", "run"], stdout=out, timeout=600)
                out.seek(0)
                text = out.read().decode(errors="replace")
            if r["rc"] != 0:
                raise BenchError("vma-harness vm --kernel %s -- run: exit %d: %s %s"
                                 % (ARM64_KERNEL, r["rc"], r["stderr"].strip()[-400:], text[-300:]))
            r["summary"] = next((l for l in reversed(text.splitlines()) if " probes: " in l), "")
            runs.append(r)
        bst, st = stats(bare), stats([r["wall"] for r in runs])
        self.row("6", "bare boot to init: %s" % ARM64_KERNEL, bst, unit="ms",
                 detail="QEMU start to the first line of a busybox /init, qemu-system-aarch64 -M virt,mte=on "
                        "-cpu max,pauth-impdef=on, TCG, -m 2048 -smp 1 (as vm under TCG)", key="vm_bare_arm64")
        self.row("6", "`vma-harness vm -- run`: %s (issue 15)" % ARM64_KERNEL, st, unit="ms",
                 target="<= 20 s", status="met" if st["median"] <= 20 else "missed",
                 headline="+%.1f s over the bare boot" % (st["median"] - bst["median"]),
                 detail="whole process, the aarch64 build in the guest; %s" % runs[0]["summary"].strip(),
                 key="vm_run_arm64")

    def paxtest(self, workdir, harness):
        samples = self.cfg["aslr_samples"]
        aslr_name = "`vma-harness aslr --samples %d`" % samples
        target = ">= 30x faster than `paxtest blackhat`"
        implemented = False
        if harness is not None:
            h = subprocess.run([str(harness), "aslr", "--help"], capture_output=True, text=True)
            implemented = h.returncode == 0 and "aslr" in (h.stdout + h.stderr) and "unknown" not in \
                (h.stdout + h.stderr).lower()
        pax = None
        if not self.cfg["paxtest"]:
            self.skip("5", "`paxtest blackhat`", "quick mode (paxtest takes about 35 s)")
        elif PAXTEST is None:
            self.skip("5", "`paxtest blackhat`", "paxtest is not installed (apt-get install paxtest)")
        else:
            log("paxtest blackhat (about 35 s)")
            logf = workdir / "paxtest.log"
            env = dict(os.environ, HOME=str(workdir))
            r = run_timed([PAXTEST, "blackhat", str(logf)], env=env, timeout=300)
            text = logf.read_text(errors="replace") if logf.exists() else ""
            killed = len(re.findall(r":\s*Killed", text))
            vuln = len(re.findall(r":\s*Vulnerable", text))
            aslr = len(re.findall(r"randomi[sz]ation test", text, re.I))
            pax = {"min": r["wall"], "median": r["wall"], "n": 1}
            self.row("5", "`paxtest blackhat` (Debian paxtest 1:0.9.15)", pax, unit="ms",
                     detail="one run (it is the slow side); exit %d; %d Killed, %d Vulnerable, %d randomisation "
                     "tests; CPU user+sys %.1f s" % (r["rc"], killed, vuln, aslr, r["user"] + r["sys"]),
                     key="paxtest")
        if not implemented:
            self.skip("5", aslr_name, "not implemented yet (issue 6): `vma-harness aslr` is not a command of this "
                      "build; paxtest's own time is measured above so the comparison is ready", target=target)
        else:
            self.aslr_rows(harness, samples, aslr_name, target, pax)

    def run_aslr(self, harness, samples, jobs=None):
        """One `vma-harness aslr` run: run_timed's record and the regions it reported."""
        argv = [str(harness), "aslr", "--samples", str(samples)] + (["--jobs", str(jobs)] if jobs else [])
        log(" ".join(argv[1:]))
        with tempfile.TemporaryFile() as out:
            r = run_timed(argv, stdout=out, timeout=900)
            out.seek(0)
            text = out.read().decode(errors="replace")
        if r["rc"] not in (0, 1):
            raise BenchError("vma-harness aslr: exit %d: %s" % (r["rc"], r["stderr"].strip()[:400]))
        r["regions"] = len(re.findall(r"^\S+\s+\d+\s+[\d.]+\s+%d\s" % samples, text, re.M))
        return r

    def aslr_rows(self, harness, samples, aslr_name, target, pax):
        """`vma-harness aslr` against paxtest, and per sample against the bare
        fork+exec+exit of the same samplers (vma-bench-exec-floor), one after
        the other in this run."""
        r = self.run_aslr(harness, samples)
        st = {"min": r["wall"], "median": r["wall"], "n": 1}
        speed = pax["median"] / r["wall"] if pax else None
        self.row("5", aslr_name, st, unit="ms", target=target,
                 status=("met" if speed >= 30 else "missed") if speed else "info",
                 headline="%.1fx faster" % speed if speed else "",
                 detail="%s; %d regions x %d fresh execs, default --jobs; exit %d; CPU user+sys %.1f s"
                 % (("%.1fx faster than paxtest (one run each)" % speed) if speed
                    else "no paxtest baseline in this run", r["regions"], samples, r["rc"], r["user"] + r["sys"]),
                 key="aslr")
        samplers = [self.probes / "aslr-sampler", self.probes / "aslr-sampler-nopie"]
        samplers = [str(p) for p in samplers if p.exists()]
        if not self.exec_floor.exists() or not samplers:
            self.skip("5", "ASLR per sample vs the exec floor", "%s or the samplers are not built" % self.exec_floor)
            return
        one = self.run_aslr(harness, samples, jobs=1)
        log("exec floor: %d x %s" % (samples, " + ".join(Path(p).name for p in samplers)))
        fl = subprocess.run([str(self.exec_floor), str(samples)] + samplers, capture_output=True, text=True,
                            timeout=900)
        if fl.returncode != 0:
            raise BenchError("vma-bench-exec-floor: " + fl.stderr.strip()[:400])
        floor = json.loads(fl.stdout)
        per = one["wall"] / samples
        floor_per = floor["wall"] / samples
        cpu_per = (one["user"] + one["sys"]) / samples
        floor_cpu_per = floor["cpu"] / samples
        ratio = per / floor_per
        self.row("5", "bare fork+exec+exit of the samplers (vma-bench-exec-floor), per sample",
                 {"min": floor_per, "median": floor_per, "n": 1}, unit="ms", key="aslr_floor",
                 detail="%d x (%s) from C, one at a time: %.2f s wall, CPU user+sys %.2f ms per sample"
                 % (samples, " + ".join(Path(p).name for p in samplers), floor["wall"], floor_cpu_per * 1e3))
        self.row("5", "`vma-harness aslr --jobs 1`, per sample", {"min": per, "median": per, "n": 1}, unit="ms",
                 target="<= 1.5x the bare fork+exec+exit", status="met" if ratio <= 1.5 else "missed",
                 headline="%.2fx the exec floor" % ratio, key="aslr_per_sample",
                 detail="%.2fx the floor's wall per sample, %.2fx its CPU (%.2f ms against %.2f ms); %d samples, "
                 "%.2f s; the two runs one after the other, same samplers"
                 % (ratio, cpu_per / max(1e-9, floor_cpu_per), cpu_per * 1e3, floor_cpu_per * 1e3, samples,
                    one["wall"]))



def bare_initramfs(busybox=BUSYBOX):
    """A newc archive of busybox and an /init that prints a line and powers
    off: what every guest boot costs before vmakit does anything."""
    out = bytearray()
    ino = [1]

    def entry(name, mode, data=b"", rmaj=0, rmin=0):
        fields = [ino[0], mode, 0, 0, 1, 0, len(data), 0, 0, rmaj, rmin, len(name) + 1, 0]
        ino[0] += 1
        out.extend(b"070701" + b"".join(b"%08x" % f for f in fields) + name.encode() + b"\0")
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))
    entry("bin", 0o40755)
    entry("dev", 0o40755)
    entry("dev/console", 0o20600, rmaj=5, rmin=1)
    entry("bin/busybox", 0o100755, Path(busybox).read_bytes())
    entry("init", 0o100755, b"#!/bin/busybox sh\n/bin/busybox echo @@bare init@@\n/bin/busybox poweroff -f\n")
    entry("TRAILER!!!", 0)
    out.extend(b"\0" * (-len(out) % 512))
    return bytes(out)


def kernel_image(path):
    """The image of an unpacked kernel package: boot/vmlinuz-* (Debian
    11-13) or usr/lib/modules/RELEASE/vmlinuz (sid's split packages)."""
    for pattern in ("boot/vmlinuz-*", "usr/lib/modules/*/vmlinuz", "lib/modules/*/vmlinuz"):
        found = sorted(Path(path).glob(pattern))
        if found:
            return found[0]
    raise BenchError("%s: no kernel image" % path)


def bare_boot(image, initrd, cpu, timeout=300, arm64=False):
    """Seconds from QEMU's start to the bare /init's line on the console."""
    machine = [QEMU_ARM64] + ARM64_QEMU_ARGS if arm64 else [QEMU, "-machine", "q35,accel=tcg", "-cpu", cpu]
    argv = machine + ["-m", "2048", "-smp", "1", "-display", "none",
                      "-monitor", "none", "-serial", "stdio", "-no-reboot", "-nodefaults", "-kernel", str(image),
                      "-initrd", str(initrd), "-append",
                      "console=%s quiet panic=-1 rdinit=/init" % ("ttyAMA0" if arm64 else "ttyS0")]
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        seen = b""
        while time.perf_counter() - t0 < timeout:
            chunk = p.stdout.read1(65536)
            if not chunk:
                break
            seen = (seen + chunk)[-4096:]
            if b"@@bare init@@" in seen:
                return time.perf_counter() - t0
        raise BenchError("bare boot of %s (cpu %s) never reached init" % (image, cpu))
    finally:
        p.kill()
        p.wait()


# ---------------------------------------------------------------- output

def fmt_time(seconds):
    if seconds is None:
        return "-"
    if seconds >= 10:
        return "%.1f s" % seconds
    if seconds >= 1:
        return "%.2f s" % seconds
    ms = seconds * 1000
    if ms >= 10:
        return "%.1f ms" % ms
    if ms >= 0.1:
        return "%.2f ms" % ms
    return "%.1f us" % (ms * 1000)


def fmt_stats(st, scale=None, unit=None):
    if not st:
        return "-"
    if unit == "s":
        return "min %.2f / median %.2f (n=%d)" % (st["min"], st["median"], st["n"])
    return "min %s / median %s (n=%d)" % (fmt_time(st["min"]), fmt_time(st["median"]), st["n"])


def fmt_kib(kib):
    return "%.1f MiB" % (kib / 1024)


def fmt_measured(r):
    st = r["measured"]
    if st is None:
        return "-"
    unit = r["unit"]
    if unit == "ms":
        if st["n"] == 1:
            return fmt_time(st["median"])
        return "%s / %s (n=%d)" % (fmt_time(st["min"]), fmt_time(st["median"]), st["n"])
    if unit == "KiB":
        return fmt_kib(st["median"])
    if unit in ("MB/s", "million/s"):
        # Rates: best is the max; min/median of the rate is the worst/typical.
        return "%.1f / %.1f %s (n=%d)" % (st["min"], st["median"], unit, st["n"])
    return "%s %s" % (st["median"], unit)


TITLES = {
    "1": "1. LLDB and GDB: `vma map` vs `memory region --all` and `info proc mappings`",
    "2": "2. `vma whereis` at growing VMA counts (CLI, LLDB, GDB)",
    "3": "3. CLI `vma map --pid` vs `cat /proc/PID/maps`; parser throughput and memory",
    "4": "4. core micro-benchmarks (Google Benchmark)",
    "5": "5. Harness",
    "6": "6. Kernel matrix: distro kernels booted in QEMU (issue 14)",
}

HOW = {
    "1": "A process of bench/many_vmas.c holds N VMAs (one anonymous region, every other page mprotected "
         "read-only so none merge). `lldb-19 -x -b -p PID` attaches; bench/lldb_timing.py times each command "
         "inside the session through the command interpreter (output collected, not printed; attach excluded). "
         "Each session is a fresh attach, so the first call of each command is cold: the numbers are first "
         "calls, one per session.",
    "2": "Same process; one address in the middle of the alternating region. CLI: the whole `vma whereis --pid "
         "PID ADDR` process, repeated. LLDB (`plugin load libvma-lldb.so`) and GDB (`gdb -batch -nx -p PID -x "
         "vma-gdb.py`): repeats inside one attached session (bench/gdb_timing.py), the first call reported "
         "apart.",
    "3": "`vma map --pid PID`, `vma map --pid PID --draw` (COLUMNS=80 LINES=40) and `cat /proc/PID/maps`, "
         "each a whole process with stdout to /dev/null, alternately repeated. The parser: bench/parse_tool.cc parses a synthetic maps file "
         "(bench/synthetic_maps.h: kernel format, 4 library lines, its bss and 5 anonymous lines per 10) "
         "already in memory; MB = 10^6 bytes; peak RSS from getrusage.",
    "4": "bench/core_bench.cc. `synthetic_100k`: the same synthetic map (library paths that do not exist "
         "here, so classification goes by permissions); `many_vmas_100k`: the benchmark's own map (real ELF "
         "files) plus alternating anonymous pages, as bench/many_vmas.c makes them. Lookups: addresses "
         "half uniform over the span, half inside random regions. Rates are Google Benchmark's (items or bytes "
         "per CPU second of the benchmark thread, its default), times are wall; on a loaded machine the two differ.",
    "5": "`vma-harness run` whole process, default profile and jobs. Per probe: a spec file of N user probes "
         "that all run probes/null-read, `--jobs 1`, once with ptrace capture and once with the signal-handler "
         "capture; (run of N - run of 1) / (N - 1). paxtest: Debian's `paxtest blackhat LOGFILE` (the "
         "`blind` mode named in the brief does not exist; its modes are kiddie and blackhat), with HOME in a "
         "temporary directory.",
    "6": "Debian 12's and 13's kernels (`scripts/fetch-kernels.sh`, in `--kernels DIR`) under QEMU's TCG "
         "(`--accel tcg`, -m 2048, one vCPU as `vm` uses under TCG), CPU model `max` (5-level paging) and `max,la57=off`. The floor: "
         "QEMU started on the same kernel with an initramfs of busybox alone, timed to its /init's first "
         "console line. Boot to report: `vma-harness vm --kernel K --cpu C --accel tcg -- run`, whole "
         "process (the initramfs with the harness, probes and libraries is built each time). The matrix: "
         "`vma-harness matrix` over both kernels and both CPU models, default profile, whole process.",
}


def write_markdown(path, run, mach, binfo, started, elapsed, argv_text):
    lines = []
    w = lines.append
    w("# vmakit benchmarks")
    w("")
    w("Generated by `bench/run.py` (issue 8) on %s in %.0f s. Do not edit by hand: re-run" % (started, elapsed))
    w("")
    w("```")
    w(argv_text)
    w("```")
    w("")
    w("(`--build` names a configured build tree; the script builds what it needs with `-j1`.) "
      "Every number is from this one run on this machine; min / median of n runs unless n=1. "
      "Raw values: `bench/results.json`.%s" % (" **Quick (smoke) mode: sizes are tiny and targets are not "
                                                "evaluated.**" if run.quick else ""))
    w("")
    w("## Machine")
    w("")
    w("| | |")
    w("|---|---|")
    w("| CPU | %s, %d cores%s |" % (mach["cpu"], mach["cores"], " (virtual machine)" if mach["virtualised"] else ""))
    w("| memory | %s GiB |" % mach["memory_gib"])
    w("| kernel | %s |" % mach["kernel"])
    w("| OS | %s |" % mach["os"])
    w("| build | %s, %s%s |" % (binfo.get("CMAKE_BUILD_TYPE", "?"), binfo.get("compiler", "?"),
                                ", sanitizers" if binfo.get("VMAKIT_SANITIZE", "OFF") == "ON" else ""))
    w("| debuggers | %s; %s |" % (mach["lldb"], mach["gdb"]))
    w("| source | git %s%s |" % (mach.get("git"), " + uncommitted changes" if mach.get("git_dirty") else ""))
    w("| load average | %.2f at start, %.2f at end (1 min) |" % (mach["loadavg_start"][0], mach["loadavg_end"][0]))
    w("")
    w("The machine is shared (other builds may run at the same time); a load average above the core count "
      "means the numbers carry that noise.")
    w("")
    w("## Summary")
    w("")
    w("| item | target | result |")
    w("|---|---|---|")
    for k in sorted(run.items):
        for r in run.items[k]:
            if r["target"]:
                w("| %s | %s: %s | **%s** %s%s |" % (k, r["name"], r["target"], r["status"],
                                                     (r.get("headline") + ", ") if r.get("headline") else "",
                                                     fmt_measured(r) if r["measured"] else r["detail"][:120]))
    w("")
    for k in sorted(run.items):
        if not run.items[k]:
            continue
        w("## " + TITLES[k])
        w("")
        w(HOW[k])
        w("")
        w("| measurement | target | measured (min / median) | result | notes |")
        w("|---|---|---|---|---|")
        for r in run.items[k]:
            w("| %s | %s | %s | %s | %s |" % (r["name"], r["target"] or "", fmt_measured(r), r["status"],
                                              r["detail"].replace("|", "\\|").replace("\n", " ")))
        for note in run.notes[k]:
            w("")
            w("- " + note)
        w("")
    if run.errors:
        w("## Errors in this run")
        w("")
        for e in run.errors:
            w("- " + e.replace("\n", " ")[:800])
        w("")
    analysis = BENCH / "ANALYSIS.md"
    if analysis.exists() and not run.quick:
        w(analysis.read_text().rstrip())
        w("")
    path.write_text("\n".join(lines))


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, help="a configured build tree of this repository")
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one repetition (smoke test)")
    ap.add_argument("--no-build", action="store_true", help="do not build; measure what is there")
    ap.add_argument("--out", help="directory for BENCHMARKS.md and results.json "
                                  "(default: the repository root and bench/; with --quick: BUILD/bench-smoke)")
    ap.add_argument("--only", help="comma-separated items to run (1-6); without --out the others keep the "
                                   "rows of the previous bench/results.json")
    ap.add_argument("--kernels", default=str(REPO / "kernels"),
                    help="item 6: unpacked kernel packages (scripts/fetch-kernels.sh DIR; default kernels/)")
    args = ap.parse_args()
    build = Path(args.build).resolve()
    if not (build / "CMakeCache.txt").exists():
        ap.error("%s is not a configured build tree (no CMakeCache.txt)" % build)
    cfg = QUICK if args.quick else FULL
    only = set(args.only.split(",")) if args.only else {"1", "2", "3", "4", "5", "6"}
    if args.out:
        out_dir = Path(args.out).resolve()
        md_path, json_path = out_dir / "BENCHMARKS.md", out_dir / "results.json"
    elif args.quick:
        out_dir = build / "bench-smoke"
        md_path, json_path = out_dir / "BENCHMARKS.md", out_dir / "results.json"
    else:
        md_path, json_path = REPO / "BENCHMARKS.md", BENCH / "results.json"
    md_path.parent.mkdir(parents=True, exist_ok=True)

    if not args.no_build:
        build_targets(build)
    # Probes and crashing children must not write cores (core_pattern may pipe to a collector).
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    t_start = time.perf_counter()
    mach = machine()
    binfo = build_info(build)
    run = Run(build, cfg, args.quick)

    # vm.max_map_count for the 1,000,000-VMA process; restored on every path
    # (errors, Ctrl-C, SIGTERM), since the raise is inside the try.
    old_max = read_sysctl("vm.max_map_count")
    raised = False
    need = max(cfg["whereis_sizes"] + cfg["map_sizes"]) + 1000

    def on_signal(signo, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    try:
        if ({"1", "2", "3"} & only) and old_max and int(old_max) < need:
            if os.geteuid() == 0:
                try:
                    write_sysctl("vm.max_map_count", need)
                    raised = True
                    log("vm.max_map_count %s -> %d (restored at the end)" % (old_max, need))
                except OSError as e:
                    log("cannot raise vm.max_map_count: %s" % e)
            else:
                log("not root: vm.max_map_count stays %s; sizes above it are skipped" % old_max)
        with tempfile.TemporaryDirectory(prefix="vmakit-bench-") as tmp:
            work = Path(tmp)
            for item, fn in (("4", run.core), ("3", lambda: run.parse(work)), ("1", run.live),
                             ("5", lambda: run.harness_bench(work)), ("6", lambda: run.vm_bench(work, args.kernels))):
                if item not in only and not (item == "1" and {"2", "3"} & only):
                    continue
                try:
                    fn()
                except BenchError as e:
                    run.error(item, "item %s" % item, e)
            if {"1", "2", "3"} & only:
                run.live_rows()
    finally:
        if raised:
            write_sysctl("vm.max_map_count", old_max)
            log("vm.max_map_count restored to %s" % old_max)
    # Items not run: left out, or, when the repository's own files are
    # rewritten, kept as the previous run measured them (and said so).
    previous = None
    if args.only and not args.out and not args.quick and json_path.exists():
        previous = json.loads(json_path.read_text())
    for k in list(run.items):
        if k not in only:
            run.items[k] = []
            if previous and previous.get("items", {}).get(k):
                run.items[k] = previous["items"][k]
                run.notes[k] = previous.get("notes", {}).get(k, []) + [
                    "Item %s is from the run of %s (git %s); `--only %s` did not re-measure it."
                    % (k, previous.get("started"), previous.get("machine", {}).get("git"), args.only)]
    mach["loadavg_end"] = os.getloadavg()
    elapsed = time.perf_counter() - t_start
    argv_text = "/usr/bin/python3 bench/run.py --build %s%s" % (
        os.path.relpath(build, REPO) if str(build).startswith(str(REPO)) else build, " --quick" if args.quick else "")
    write_markdown(md_path, run, mach, binfo, started, elapsed, argv_text)
    results = {"started": started, "seconds": elapsed, "quick": args.quick, "machine": mach, "build": binfo,
               "config": cfg, "items": run.items, "notes": run.notes, "errors": run.errors,
               "gbench_context": getattr(run, "gbench_context", None) or (previous or {}).get("gbench_context"),
               "live": {str(k): v for k, v in getattr(run, "results_live", {}).items()}
               or (previous or {}).get("live", {})}
    json_path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    log("wrote %s and %s in %.0f s" % (md_path, json_path, elapsed))
    for k in sorted(run.items):
        for r in run.items[k]:
            log("  [%s] %-70s %-12s %s" % (k, r["name"][:70], r["status"], fmt_measured(r)))
    return 1 if run.errors else 0


if __name__ == "__main__":
    sys.exit(main())
