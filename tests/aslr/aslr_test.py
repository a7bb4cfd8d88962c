#!/usr/bin/python3
"""End-to-end tests of `vma-harness aslr` and `vma-harness audit` (issue 6).

    aslr_test.py CASE --harness PATH

Exit 0 pass, 1 fail, 77 skip (a missing tool or kernel feature, named).
Every expected value is read here independently of the harness: sysctls from
/proc/sys, the Kconfig with Python's gzip, CPU flags from /proc/cpuinfo,
paxtest's own programs for the bit counts.
"""

import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import casetest  # noqa: E402
from reach import reachable  # noqa: E402
from casetest import Failure, Skip, check, run_tool  # noqa: E402,F401

ARGS = None

REGIONS = ["stack", "pie", "heap", "heap-exec", "mmap", "mmap-big", "shlib", "vdso", "arg",
           "thread-stack", "shlib-delta"]
STATUSES = {"pass", "fail", "skip", "unknown"}

PAXTEST_DIR = "/usr/lib/paxtest"
# harness region -> paxtest program measuring the same thing (paxtest 0.9.15,
# 1,500 popen()s each). Debian builds every paxtest program PIE, so its
# "ET_EXEC" tests (randheap1, randmain1) are PIE too: heap-exec has no peer.
PAXTEST_PEERS = {
    "stack": "randstack1", "pie": "randmain2", "heap": "randheap2", "mmap": "randamap",
    "shlib": "randshlib", "vdso": "randvdso",
}
PAXTEST_TOLERANCE = 2  # issue 6: agree within 2 bits at 1,500 samples




def harness(*args, timeout=120, wrapper=()):
    return run_tool(ARGS.harness, *args, timeout=timeout, wrapper=wrapper)


def load_json(p):
    try:
        return json.loads(p.stdout)
    except json.JSONDecodeError as e:
        raise Failure(f"{' '.join(p.cmd)}: not JSON ({e}):\n{p.stdout[:2000]}\n{p.stderr}")


# ---- independent readers -----------------------------------------------------

def sysctl(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def kconfig():
    release = os.uname().release
    text = None
    if os.access("/proc/config.gz", os.R_OK):
        with gzip.open("/proc/config.gz", "rt") as f:
            text = f.read()
    elif os.path.exists(f"/boot/config-{release}"):
        with open(f"/boot/config-{release}") as f:
            text = f.read()
    if text is None:
        return None
    opts = {}
    for line in text.splitlines():
        m = re.match(r"^# CONFIG_(\w+) is not set$", line)
        if m:
            opts[m.group(1)] = "n"
            continue
        m = re.match(r"^CONFIG_(\w+)=(.*)$", line)
        if m:
            opts[m.group(1)] = m.group(2)
    return opts


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def cmdline_param(name):
    with open("/proc/cmdline") as f:
        words = f.read().split(" -- ")[0].split()
    value = None
    for w in words:
        k, _, v = w.partition("=")
        if k == name:
            value = v
    return value


# ---- audit -------------------------------------------------------------------

def audit_json(*args, expect_exit=None, wrapper=()):
    p = harness("audit", "--format", "json", *args, wrapper=wrapper)
    if expect_exit is not None:
        check(p.returncode == expect_exit, f"{' '.join(p.cmd)}: exit {p.returncode}, expected {expect_exit}\n"
                                           f"{p.stderr}\n{p.stdout[-3000:]}")
    report = load_json(p)
    check(isinstance(report.get("checks"), list) and report["checks"], f"no checks: {report}")
    for c in report["checks"]:
        check(set(c) == {"name", "value", "expected", "status", "why"}, f"check keys: {c}")
        check(c["status"] in STATUSES, f"status: {c}")
        check(all(isinstance(c[k], str) for k in c), f"types: {c}")
        check(c["why"], f"no why: {c}")
    return p, {c["name"]: c for c in report["checks"]}


def case_audit_values():
    p, checks = audit_json()
    # Exit status as `run`: 1 exactly when a check failed.
    failed = [n for n, c in checks.items() if c["status"] == "fail"]
    check(p.returncode == (1 if failed else 0), f"exit {p.returncode} with failures {failed}")

    sysctls = {
        "randomize_va_space": "/proc/sys/kernel/randomize_va_space",
        "mmap_min_addr": "/proc/sys/vm/mmap_min_addr",
        "mmap_rnd_bits": "/proc/sys/vm/mmap_rnd_bits",
        "mmap_rnd_compat_bits": "/proc/sys/vm/mmap_rnd_compat_bits",
        "kptr_restrict": "/proc/sys/kernel/kptr_restrict",
        "ptrace_scope": "/proc/sys/kernel/yama/ptrace_scope",
        "unprivileged_userfaultfd": "/proc/sys/vm/unprivileged_userfaultfd",
        "memfd_noexec": "/proc/sys/vm/memfd_noexec",
    }
    for name, path in sysctls.items():
        live = sysctl(path)
        c = checks[name]
        if live is None:
            check(c["value"].startswith("not present ("), f"{name}: {path} is absent, audit says {c}")
            check(c["status"] in ("skip", "fail"), f"{name}: absent but {c['status']}")
        else:
            check(c["value"] == live, f"{name}: live {live!r}, audit {c['value']!r}")
        print(f"{name:26} live {live!r:12} audit {c['value']!r} {c['status']}")
    if sysctl("/proc/sys/kernel/yama/ptrace_scope") is None:
        kc = kconfig()
        if kc is not None and kc.get("SECURITY_YAMA", "n") != "y":
            check(checks["ptrace_scope"]["value"] == "not present (Yama not built in)", checks["ptrace_scope"])
        check(checks["ptrace_scope"]["status"] == "skip", f"default profile: {checks['ptrace_scope']}")

    # vsyscall: this process's [vsyscall] line.
    mode = "none"
    with open("/proc/self/maps") as f:
        for line in f:
            if line.rstrip().endswith("[vsyscall]"):
                mode = "emulate" if line.split()[1].startswith("r") else "xonly"
    check(checks["vsyscall"]["value"] == mode, f"vsyscall: maps say {mode}, audit {checks['vsyscall']}")
    gap = cmdline_param("stack_guard_gap") or "256"
    check(checks["stack_guard_gap"]["value"] == gap, f"stack_guard_gap {gap} vs {checks['stack_guard_gap']}")

    kc = kconfig()
    for name, c in checks.items():
        if not name.startswith("CONFIG_") or c["value"].startswith("not present ("):
            continue
        opt = name[len("CONFIG_"):]
        if kc is None:
            check(c["value"].startswith("unknown (") and "/boot/config-" in c["value"], c)
            check(c["status"] == "unknown", c)
            continue
        if opt == "LEGACY_VSYSCALL":
            want = next((m.lower() for m in ("NONE", "XONLY", "EMULATE") if kc.get(f"LEGACY_VSYSCALL_{m}") == "y"),
                        "not present")
        else:
            want = kc.get(opt, "not present")
        check(c["value"] == want, f"{name}: Kconfig {want!r}, audit {c['value']!r}")

    flags = cpu_flags()
    if flags:
        for f in ("nx", "smep", "smap", "umip", "la57"):
            want = "yes" if f in flags else "no"
            check(checks[f"cpu.{f}"]["value"] == want, f"cpu.{f}: {want} vs {checks[f'cpu.{f}']}")
        pku = "yes" if {"pku", "ospke"} <= flags else "no"
        check(checks["cpu.pku"]["value"] == pku, checks["cpu.pku"])
        shstk = "yes" if "user_shstk" in flags else "no"
        check(checks["cpu.shstk"]["value"] == shstk, checks["cpu.shstk"])

    # The text table says the same.
    t = harness("audit")
    check(t.returncode == p.returncode, f"text exit {t.returncode} vs json {p.returncode}")
    check(re.search(r"^randomize_va_space\s+" + re.escape(checks["randomize_va_space"]["value"]) + r"\s", t.stdout,
                    re.M), t.stdout)
    check(re.search(r"\d+ checks: \d+ pass, \d+ fail, \d+ skip, \d+ unknown", t.stdout), t.stdout)


def case_audit_hardened():
    p, checks = audit_json("--profile", "hardened")
    live = int(sysctl("/proc/sys/vm/mmap_min_addr"))
    check(checks["mmap_min_addr"]["expected"] == ">= 65536", checks["mmap_min_addr"])
    check(checks["mmap_min_addr"]["status"] == ("pass" if live >= 65536 else "fail"), checks["mmap_min_addr"])
    failed = [n for n, c in checks.items() if c["status"] == "fail"]
    check(p.returncode == (1 if failed else 0), f"exit {p.returncode}, failures {failed}")
    if sysctl("/proc/sys/kernel/yama/ptrace_scope") is None:
        check(checks["ptrace_scope"]["status"] == "fail", f"hardened needs Yama: {checks['ptrace_scope']}")


def case_audit_profile_file():
    with tempfile.TemporaryDirectory() as d:
        good = os.path.join(d, "p.toml")
        with open(good, "w") as f:
            f.write('base = "hardened"\n[audit.mmap_min_addr]\nexpected = ">= 4096"\nwhy = "our fleet: 4096"\n'
                    '[audit.randomize_va_space]\nexpected = "0"\n')
        p, checks = audit_json("--profile", good)
        check(checks["mmap_min_addr"]["expected"] == ">= 4096", checks["mmap_min_addr"])
        check(checks["mmap_min_addr"]["status"] == "pass", checks["mmap_min_addr"])
        check(checks["mmap_min_addr"]["why"].startswith("our fleet: 4096"), checks["mmap_min_addr"])
        check(checks["randomize_va_space"]["status"] == ("pass" if sysctl("/proc/sys/kernel/randomize_va_space") == "0"
                                                         else "fail"), checks["randomize_va_space"])
        check(checks["vsyscall"]["expected"] == "none", f"base hardened not applied: {checks['vsyscall']}")
        check(p.returncode == 1, f"exit {p.returncode}")
        # The same file still works for `run` (its [audit] part is ignored there).
        r = harness("run", "--profile", good, "--only", "null-read", "--format", "json")
        check(r.returncode in (0, 1) and load_json(r)["results"], f"run with an audit profile: {r.stderr}")
        bad = {
            'base = "default"\n[audit.mmap_min_addr]\nexpected = ">= 64k"\n':
                ":3:12: bad number in '>= 64k' (>= N, <= N, > N, < N)",
            '[audit.mmap_min_address]\nexpected = "1"\n': ":1:8: unknown audit check 'mmap_min_address'",
            '[audit.mmap_min_addr]\nexpect = "1"\n': ":2:1: unknown key 'expect' in [audit.mmap_min_addr]",
            'base = "paranoid"\n': ":1:8: unknown base profile 'paranoid' (default, hardened)",
        }
        for text, msg in bad.items():
            path = os.path.join(d, "bad.toml")
            with open(path, "w") as f:
                f.write(text)
            p = harness("audit", "--profile", path)
            check(p.returncode == 2, f"{text!r}: exit {p.returncode}\n{p.stdout}{p.stderr}")
            check(path + msg in p.stderr, f"{text!r}: stderr {p.stderr!r}, wanted {path + msg!r}")
    p = harness("audit", "--profile", "nonesuch")
    check(p.returncode == 2 and "unknown profile 'nonesuch'" in p.stderr, p.stderr)
    p = harness("audit", "--format", "ktap")
    check(p.returncode == 2, f"audit --format ktap: exit {p.returncode}")


def case_audit_no_kconfig():
    # An unreadable Kconfig must be reported as such, never guessed: hide
    # /proc/config.gz behind a mode-000 file in a private mount namespace and
    # run the audit unprivileged (root would read it anyway).
    release = os.uname().release
    if os.path.exists(f"/boot/config-{release}"):
        raise Skip(f"/boot/config-{release} exists: cannot make the Kconfig unreadable here")
    if os.geteuid() != 0:
        raise Skip("needs root to bind-mount over /proc/config.gz")
    harness = reachable(ARGS.harness)  # run as nobody
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        hidden = os.path.join(d, "config.gz")
        open(hidden, "w").close()
        os.chmod(hidden, 0)
        # --propagation unchanged, then /proc alone made private: in a plain
        # chroot (/ no mount point) unshare cannot make / private ("cannot
        # change root filesystem propagation: Invalid argument"), and the bind
        # must not reach the outer namespace's /proc.
        script = (f"mount --make-private /proc && mount --bind {hidden} /proc/config.gz 2>/dev/null || exit 99; "
                  f"exec setpriv --reuid=65534 --regid=65534 --clear-groups {harness} audit --format json")
        if not os.path.exists("/proc/config.gz"):
            script = (f"exec setpriv --reuid=65534 --regid=65534 --clear-groups {harness} audit --format json")
        p = subprocess.run(["unshare", "-m", "--propagation", "unchanged", "sh", "-c", script],
                           capture_output=True, text=True, timeout=60)
        if p.returncode == 99 or "unshare failed" in p.stderr:
            raise Skip(f"cannot bind-mount over /proc/config.gz in a mount namespace: {p.stderr.strip()}")
        check(p.stdout.strip(), f"the audit as nobody printed a report (exit {p.returncode}: {p.stderr.strip()})")
        report = json.loads(p.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    want = f"unknown (/proc/config.gz: Permission denied; no /boot/config-{release} or /usr/lib/modules/{release}/config)"
    if not os.path.exists("/proc/config.gz"):
        want = f"unknown (no /proc/config.gz, /boot/config-{release} or /usr/lib/modules/{release}/config)"
    for name, c in checks.items():
        if name.startswith("CONFIG_") and not c["value"].startswith("not present ("):
            check(c["value"] == want, f"{name}: {c['value']!r}, wanted {want!r}")
            check(c["status"] == "unknown", c)
    check(checks["randomize_va_space"]["value"] == sysctl("/proc/sys/kernel/randomize_va_space"),
          "sysctls are still read")
    print(f"CONFIG_RANDOMIZE_BASE: {checks['CONFIG_RANDOMIZE_BASE']['value']}")


# ---- aslr --------------------------------------------------------------------

def aslr_json(samples, wrapper=(), expect_exit=None):
    p = harness("aslr", "--samples", str(samples), "--format", "json", wrapper=wrapper, timeout=300)
    if expect_exit is not None:
        check(p.returncode == expect_exit, f"{' '.join(p.cmd)}: exit {p.returncode}, expected {expect_exit}\n"
                                           f"{p.stderr}")
    report = load_json(p)
    regions = report.get("regions")
    check(isinstance(regions, list), f"no regions: {report}")
    check([r.get("region") for r in regions] == REGIONS, f"regions {[r.get('region') for r in regions]}")
    for r in regions:
        check(set(r) == {"region", "bits", "strict_bits", "samples"}, f"keys: {r}")
        check(isinstance(r["bits"], int) and 0 <= r["bits"] <= 64, r)
        check(isinstance(r["strict_bits"], (int, float)) and 0 <= r["strict_bits"] <= 64, r)
        check(r["samples"] == samples, f"{r['region']}: {r['samples']} samples, asked {samples}")
    check(isinstance(report.get("warnings"), list), f"warnings: {report.get('warnings')}")
    return p, report, {r["region"]: r for r in regions}


def case_aslr_json():
    p, report, regions = aslr_json(300)
    rvs = sysctl("/proc/sys/kernel/randomize_va_space")
    if rvs != "2" or report["warnings"]:
        check(any("ASLR" in w or "randomize_va_space" in w for w in report["warnings"]),
              f"randomize_va_space {rvs}, warnings {report['warnings']}")
        raise Skip(f"randomisation is not fully on here (randomize_va_space {rvs}, {report['warnings']})")
    check(p.returncode == 0, f"exit {p.returncode}: {p.stderr}")
    check(regions["stack"]["bits"] > 20, f"stack bits {regions['stack']}")
    # The stack's sub-page shift counts for paxtest, not for the page entropy.
    check(regions["stack"]["strict_bits"] < regions["stack"]["bits"], regions["stack"])
    rnd = int(sysctl("/proc/sys/vm/mmap_rnd_bits") or 28)
    for name in ("mmap", "shlib", "vdso", "pie"):
        check(abs(regions[name]["bits"] - rnd) <= 2, f"{name}: {regions[name]}, mmap_rnd_bits {rnd}")
        check(abs(regions[name]["strict_bits"] - rnd) <= 1, f"{name}: {regions[name]}, mmap_rnd_bits {rnd}")
    # A 2 MiB mapping is never better randomised than a small one.
    check(regions["mmap-big"]["bits"] <= regions["mmap"]["bits"], f"{regions['mmap-big']} vs {regions['mmap']}")
    for r in regions.values():
        check(r["bits"] > 0, f"{r['region']} did not vary")
    t = harness("aslr", "--samples", "50")
    check(t.returncode == 0 and re.search(r"^stack\s+\d+\s+\d+\.\d\s+50\s", t.stdout, re.M), t.stdout + t.stderr)
    check("WARNING" not in t.stdout + t.stderr, t.stdout)
    for bad in (["--samples", "1"], ["--samples", "x"], ["--format", "ktap"], ["--bogus"]):
        u = harness("aslr", *bad)
        check(u.returncode == 2, f"aslr {bad}: exit {u.returncode}")


def case_aslr_disabled():
    try:
        subprocess.run(["setarch", "-R", "true"], check=True, capture_output=True)
    except (FileNotFoundError, subprocess.CalledProcessError) as e:
        raise Skip(f"setarch -R does not work here: {e}")
    p, report, regions = aslr_json(20, wrapper=["setarch", "-R"], expect_exit=1)
    check(any("ADDR_NO_RANDOMIZE" in w for w in report["warnings"]), f"warnings {report['warnings']}")
    check(report["environment"]["addr_no_randomize"] is True, report["environment"])
    for r in regions.values():
        check(r["bits"] == 0 and r["strict_bits"] == 0, f"{r['region']} varied under setarch -R: {r}")
    check("WARNING: ASLR IS OFF" in p.stderr, f"stderr: {p.stderr!r}")
    t = harness("aslr", "--samples", "20", wrapper=["setarch", "-R"])
    check(t.stdout.count("WARNING: ASLR IS OFF") >= 2, f"text warns before and after the table:\n{t.stdout}")


def paxtest_program(prog):
    env = dict(os.environ, LD_LIBRARY_PATH=PAXTEST_DIR)
    t0 = time.monotonic()
    out = subprocess.run([os.path.join(PAXTEST_DIR, prog)], capture_output=True, text=True, env=env,
                         cwd=PAXTEST_DIR, timeout=300).stdout
    seconds = time.monotonic() - t0
    m = re.search(r":\s*(\d+) quality bits", out)
    if m:
        return int(m.group(1)), seconds, out.strip()
    if "No randomi" in out:
        return 0, seconds, out.strip()
    raise Failure(f"paxtest {prog}: no bit count in {out!r}")


def case_aslr_paxtest():
    # Issue 6: bits agree with paxtest's within 2 at 1,500 samples, and all
    # regions at 1,500 samples take at most a fifth of paxtest's time. Here
    # paxtest runs only the programs of the six compared regions (serially,
    # as paxtest does), so the time bound is stricter than against a whole
    # `paxtest kiddie` run (~19 such programs).
    if not os.path.isdir(PAXTEST_DIR):
        raise Skip(f"paxtest is not installed ({PAXTEST_DIR}; apt-get install paxtest)")
    p, report, regions = aslr_json(1500)
    check(not report["warnings"], f"warnings: {report['warnings']}")
    ours = p.seconds
    theirs = 0.0
    problems = []
    for region, prog in PAXTEST_PEERS.items():
        bits, seconds, line = paxtest_program(prog)
        theirs += seconds
        diff = regions[region]["bits"] - bits
        print(f"{region:8} vma-harness {regions[region]['bits']:3}  paxtest {prog:11} {bits:3}  "
              f"diff {diff:+d}  ({seconds:.1f} s)")
        if abs(diff) > PAXTEST_TOLERANCE:
            problems.append(f"{region}: {regions[region]['bits']} vs paxtest {prog} {bits} ({line})")
    print(f"time: vma-harness {ours:.2f} s for {len(REGIONS)} regions; paxtest {theirs:.2f} s for "
          f"{len(PAXTEST_PEERS)} regions; ratio {theirs / ours:.1f}")
    check(not problems, "; ".join(problems))
    check(ours * 5 <= theirs, f"vma-harness took {ours:.2f} s, more than a fifth of paxtest's {theirs:.2f} s")


def case_run_folded():
    common = ["--only", "null-read,exec-stack", "--with-audit", "--with-aslr", "--aslr-samples", "100"]
    p = harness("run", "--format", "json", *common, timeout=180)
    report = load_json(p)
    check({"audit", "aslr", "results", "summary", "environment"} <= set(report), f"keys {sorted(report)}")
    check([r["region"] for r in report["aslr"]["regions"]] == REGIONS, report["aslr"])
    check(report["audit"]["checks"] and all(set(c) == {"name", "value", "expected", "status", "why"}
                                             for c in report["audit"]["checks"]), report["audit"])
    n_audit, n_aslr = len(report["audit"]["checks"]), len(report["aslr"]["regions"])
    audit_failed = any(c["status"] == "fail" for c in report["audit"]["checks"])
    aslr_failed = any(r["bits"] == 0 for r in report["aslr"]["regions"])
    probe_failed = report["summary"]["fail"] + report["summary"]["error"] > 0
    check(p.returncode == (1 if audit_failed or aslr_failed or probe_failed else 0), f"exit {p.returncode}")

    k = harness("run", "--format", "ktap", *common, timeout=180)
    lines = k.stdout.splitlines()
    check(lines[0] == "TAP version 13" and lines[1] == f"1..{2 + n_audit + n_aslr}", lines[:2])
    results = [l for l in lines if re.match(r"^(not )?ok \d+ ", l)]
    check(len(results) == 2 + n_audit + n_aslr, f"{len(results)} results")
    check(any(re.match(r"^ok \d+ audit:randomize_va_space", l) for l in results), results)
    check(any(re.match(r"^(not )?ok \d+ aslr:stack$", l) for l in results), results)
    nums = [int(l.split()[1 if l.startswith("ok") else 2]) for l in results]
    check(nums == list(range(1, len(nums) + 1)), f"numbering {nums}")
    check(re.search(r"^# Totals: pass:\d+ fail:\d+ xfail:0 xpass:0 skip:\d+ error:\d+$", k.stdout, re.M), k.stdout)

    j = harness("run", "--format", "junit", *common, timeout=180)
    root = ET.fromstring(j.stdout)
    suites = {s.get("name"): s for s in root.findall("testsuite")}
    check({"vma-harness.audit", "vma-harness.aslr"} <= set(suites), sorted(suites))
    check(len(suites["vma-harness.audit"].findall("testcase")) == n_audit, "audit cases")
    check(len(suites["vma-harness.aslr"].findall("testcase")) == n_aslr, "aslr cases")
    check(int(root.get("tests")) == 2 + n_audit + n_aslr, root.attrib)
    for s in root.findall("testsuite"):
        cases = s.findall("testcase")
        check(int(s.get("tests")) == len(cases), s.attrib)
        check(int(s.get("failures")) == sum(1 for c in cases if c.find("failure") is not None), s.attrib)
        check(int(s.get("skipped")) == sum(1 for c in cases if c.find("skipped") is not None), s.attrib)

    t = harness("run", *common, timeout=180)
    for part in ("audit, profile default", "CHECK", "REGION", "BITS", "STRICT", "aslr: 11 regions", "2 probes:"):
        check(part in t.stdout, f"text lacks {part!r}:\n{t.stdout}")


if __name__ == "__main__":
    sys.exit(casetest.main(globals(), ['harness']))
