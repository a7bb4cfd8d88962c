#!/usr/bin/python3
"""End-to-end tests of vma-harness: one ctest test per case.

    harness_test.py CASE --harness PATH --testprobe PATH --noptrace PATH

Exit 0 pass, 1 fail, 77 skip (a missing feature, named). Every case runs the
real harness on the real probes or on tests/harness/testprobe.c, and cleans
up what it starts (a leftover process is itself a failure).
"""

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import casetest  # noqa: E402
from reach import reachable, reachable_harness  # noqa: E402
from casetest import Failure, Skip, check, run_tool  # noqa: E402,F401


ARGS = None

BUILTIN_IDS = (
    "null-read null-write null-exec kernel-read kernel-write noncanonical-read "
    "noncanonical-jump text-write rodata-write relro-write vdso-write exec-stack "
    "exec-heap exec-bss exec-data exec-anon wx-mmap wx-mprotect text-mprotect-write "
    "guard-prot-none guard-madvise thread-stack-overflow stack-overflow sigbus-eof "
    "sigbus-memfd-shrink vsyscall-read vsyscall-call mmap-min-addr use-after-munmap "
    "pkey mseal mdwe execstack-elf mte-sync mte-async pac-auth bti-landing tbi-read"
).split()
ARM64_ONLY = ("mte-sync", "mte-async", "pac-auth", "bti-landing", "tbi-read")




def harness(*args, timeout=60, wrapper=(), env=None):
    return run_tool(ARGS.harness, *args, timeout=timeout, wrapper=wrapper, env=env)


def run_json(*args, expect_exit=None, **kw):
    p = harness("run", "--format", "json", *args, **kw)
    if expect_exit is not None:
        check(p.returncode == expect_exit,
              f"{' '.join(p.cmd)}: exit {p.returncode}, expected {expect_exit}\n{p.stderr}\n{p.stdout[-3000:]}")
    try:
        report = json.loads(p.stdout)
    except json.JSONDecodeError as e:
        raise Failure(f"output is not JSON ({e}):\n{p.stdout[:2000]}\n{p.stderr}")
    return p, report


def by_probe(report):
    return {r["probe"]: r for r in report["results"]}


def marker_processes(marker):
    p = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return [int(x) for x in p.stdout.split()]


def assert_no_leftovers(marker):
    """Nothing whose command line holds marker may run; kills any found."""
    deadline = time.monotonic() + 1.0
    left = marker_processes(marker)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = marker_processes(marker)
    if left:
        info = subprocess.run(["ps", "-o", "pid,ppid,pgid,stat,args", "-p", ",".join(map(str, left))],
                              capture_output=True, text=True).stdout
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        raise Failure(f"processes left running:\n{info}")


def new_marker(case):
    return f"vmakit-test-{case}-{uuid.uuid4().hex[:12]}"


def write(dirname, name, text):
    path = os.path.join(dirname, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def spec_probe(name, mode, marker, expect, timeout=None):
    lines = ["[[probe]]", f'name = "{name}"',
             f'command = ["{reachable(ARGS.testprobe)}", "{mode}", "{marker}"]',  # run as nobody under root
             f"expect = {expect}"]
    if timeout is not None:
        lines.append(f"timeout = {timeout}")
    return "\n".join(lines) + "\n\n"


SEGV_NULL = '{ outcome = "fault", signal = "SIGSEGV", code = "SEGV_MAPERR", region = "null-page" }'


def check_default_report(report, capture):
    check(report["environment"]["capture"] == capture,
          f"capture {report['environment']['capture']}, expected {capture}")
    for key in ("kernel_release", "arch", "paging_levels", "vsyscall", "mmap_min_addr",
                "randomize_va_space", "uid", "seccomp", "tracer_pid", "container_hints", "cpu"):
        check(key in report["environment"], f"environment lacks {key}")
    for f in ("nx", "smep", "smap", "pku", "shstk", "la57"):
        check(f in report["environment"]["cpu"], f"environment.cpu lacks {f}")
    results = by_probe(report)
    check([r["probe"] for r in report["results"]] == BUILTIN_IDS,
          f"results not in probe order: {[r['probe'] for r in report['results']]}")
    bad = {k: (r["status"], r["reason"]) for k, r in results.items() if r["status"] not in ("pass", "skip")}
    check(not bad, f"not passing: {json.dumps(bad, indent=1)}")
    # Skips only for missing features, each named.
    env = report["environment"]
    for k, r in results.items():
        if r["status"] == "skip":
            # The arm64-only probes skip on x86_64, each saying so.
            arm64_only = k in ARM64_ONLY and env["arch"] != "aarch64" and r["reason"].startswith("arm64 only")
            check(arm64_only or k in ("pkey", "guard-madvise", "mseal", "mdwe", "vsyscall-read", "vsyscall-call"),
                  f"{k} skipped: {r['reason']}")
            check(r["reason"], f"{k} skipped without a reason")
    if not env["cpu"]["pku"]:
        check(results["pkey"]["status"] == "skip", "pkey should skip without PKU")
    # Exactness, spot-checked against REFERENCE.md §3.
    nr = results["null-read"]["observed"]
    check(nr["signal"] == "SIGSEGV" and nr["code"] == "SEGV_MAPERR" and nr["addr"] == "0x0"
          and nr["region"]["kind"] == "null-page", f"null-read observed {nr}")
    nc = results["noncanonical-read"]["observed"]
    check(nc["code"] == "SI_KERNEL" and nc["addr"] == "0x0" and nc["region"]["kind"] == "non-canonical"
          and nc["region"]["of"] == "target", f"noncanonical-read observed {nc}")
    es = results["exec-stack"]["observed"]
    check(es["code"] == "SEGV_ACCERR" and es["addr"] == es["target"] == es["pc"]
          and es["region"]["kind"] == "stack" and es["region"]["path"] == "[stack]", f"exec-stack observed {es}")
    tw = results["text-write"]["observed"]
    check(tw["region"]["kind"] == "text" and tw["region"]["path"].endswith("/text-write")
          and "x" in tw["region"]["perms"], f"text-write observed {tw}")
    sb = results["sigbus-eof"]["observed"]
    check(sb["signal"] == "SIGBUS" and sb["code"] == "BUS_ADRERR", f"sigbus-eof observed {sb}")
    for k, r in results.items():
        if r["observed"]["outcome"] == "fault":
            check(re.fullmatch(r"0x[0-9a-f]+", r["observed"]["addr"] or ""), f"{k}: addr {r['observed'].get('addr')}")
            check("region" in r["observed"], f"{k}: fault without region")
    s = report["summary"]
    check(s["total"] == len(BUILTIN_IDS) and s["fail"] == 0 and s["error"] == 0, f"summary {s}")


# ---- cases -------------------------------------------------------------------

def case_default_ptrace():
    p, report = run_json(expect_exit=0)
    check_default_report(report, "ptrace")
    if os.geteuid() == 0:
        check(report["environment"]["probe_uid"] == 65534, "root must run probes as nobody")
    print(f"default run, ptrace capture: {p.seconds:.3f} s wall, {report['summary']}")


def case_default_handler():
    p, report = run_json("--capture=handler", expect_exit=0)
    check_default_report(report, "handler")
    for r in report["results"]:
        if r["observed"]["outcome"] == "fault":
            check(r["observed"]["capture"] == "handler", f"{r['probe']}: capture {r['observed']['capture']}")
    print(f"default run, handler capture: {p.seconds:.3f} s wall")


def case_noptrace_fallback():
    # LeakSanitizer (VMAKIT_SANITIZE builds) needs ptrace at exit: off here.
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    p, report = run_json(expect_exit=0, wrapper=[ARGS.noptrace], env=env)
    check(report["environment"]["seccomp"] == 2, f"seccomp {report['environment']['seccomp']}, expected 2")
    check_default_report(report, "handler")
    # --capture=ptrace where ptrace is forbidden is a usage error.
    q = harness("run", "--capture=ptrace", wrapper=[ARGS.noptrace], env=env)
    check(q.returncode == 2 and "ptrace is not permitted" in q.stderr, f"exit {q.returncode}: {q.stderr}")


def case_speed():
    # Target: the whole default run in <= 3 s on 2 cores; allow slack for a
    # loaded CI machine, report the number.
    p, report = run_json("--jobs", "2", expect_exit=0)
    print(f"default run --jobs 2: {p.seconds:.3f} s wall (harness says {report['summary']['seconds']:.3f} s)")
    check(p.seconds < 10, f"default run took {p.seconds:.1f} s")


def case_only():
    p, report = run_json("--only", "exec-stack,null-read", "--only", "pkey", expect_exit=0)
    check([r["probe"] for r in report["results"]] == ["null-read", "exec-stack", "pkey"],
          f"--only gave {[r['probe'] for r in report['results']]}")
    q = harness("run", "--only", "no-such-probe")
    check(q.returncode == 2 and "no-such-probe" in q.stderr, f"unknown --only: exit {q.returncode} {q.stderr}")


def parse_tap(text):
    """A small TAP 13 / KTAP parser: returns (plan, tests, totals, bailed)."""
    lines = text.splitlines()
    check(lines and lines[0] == "TAP version 13", f"first line {lines[:1]}")
    plan, tests, totals, bailed = None, [], None, False
    for line in lines[1:]:
        if m := re.fullmatch(r"1\.\.(\d+)", line):
            check(plan is None, "two plans")
            plan = int(m.group(1))
        elif m := re.fullmatch(r"(not ok|ok) (\d+) ([^#]+?)(?: # (.*))?", line):
            tests.append({"ok": m.group(1) == "ok", "num": int(m.group(2)), "name": m.group(3),
                          "directive": m.group(4) or ""})
        elif m := re.fullmatch(r"# Totals: pass:(\d+) fail:(\d+) xfail:(\d+) xpass:(\d+) skip:(\d+) error:(\d+)",
                               line):
            totals = dict(zip(("pass", "fail", "xfail", "xpass", "skip", "error"), map(int, m.groups())))
        elif line.startswith("Bail out!"):
            bailed = True
        elif line.startswith("#") or line == "":
            pass
        else:
            raise Failure(f"not TAP: {line!r}")
    check(plan is not None, "no plan")
    check([t["num"] for t in tests] == list(range(1, len(tests) + 1)), "test numbers not 1..N")
    check(bailed or plan == len(tests), f"plan 1..{plan} but {len(tests)} tests")
    check(totals is not None, "no Totals line")
    return plan, tests, totals, bailed


def case_ktap():
    p = harness("run", "--format", "ktap")
    check(p.returncode == 0, f"exit {p.returncode}")
    plan, tests, totals, _ = parse_tap(p.stdout)
    check(plan == len(BUILTIN_IDS), f"plan {plan}")
    check([t["name"] for t in tests] == BUILTIN_IDS, "names")
    skips = [t for t in tests if t["directive"].startswith("SKIP")]
    check(totals["skip"] == len(skips) and totals["pass"] == len(tests) - len(skips) and totals["fail"] == 0,
          f"totals {totals}")
    h = harness("run", "--format", "ktap", "--profile", "hardened")
    check(h.returncode == 1, f"hardened ktap exit {h.returncode}")
    _, htests, htotals, _ = parse_tap(h.stdout)
    failed = {t["name"] for t in htests if not t["ok"]}
    check({"wx-mmap", "wx-mprotect", "text-mprotect-write"} <= failed, f"hardened not ok: {failed}")
    check(htotals["fail"] == len(failed), f"hardened totals {htotals} vs {failed}")


def case_junit():
    p = harness("run", "--format", "junit", "--profile", "hardened")
    check(p.returncode == 1, f"exit {p.returncode}")
    root = ET.fromstring(p.stdout)
    check(root.tag == "testsuites", f"root {root.tag}")
    suites = root.findall("testsuite")
    check(len(suites) == 1, f"{len(suites)} testsuites")
    suite = suites[0]
    cases = suite.findall("testcase")
    check([c.get("name") for c in cases] == BUILTIN_IDS, "testcase names")
    failures = [c.get("name") for c in cases if c.find("failure") is not None]
    skipped = [c.get("name") for c in cases if c.find("skipped") is not None]
    errors = [c.get("name") for c in cases if c.find("error") is not None]
    check(int(suite.get("tests")) == len(cases), "tests attribute")
    check(int(suite.get("failures")) == len(failures), f"failures attribute {suite.get('failures')} vs {failures}")
    check(int(suite.get("skipped")) == len(skipped), "skipped attribute")
    check(int(suite.get("errors")) == len(errors) == 0, f"errors {errors}")
    check({"wx-mmap", "wx-mprotect", "text-mprotect-write"} <= set(failures), f"failures {failures}")
    for c in cases:
        check(float(c.get("time")) >= 0 and c.get("classname"), f"testcase attributes {c.attrib}")
    check(suite.find("properties/property[@name='kernel_release']") is not None, "no kernel_release property")


def case_hardened():
    p, report = run_json("--profile", "hardened", expect_exit=1)
    results = by_probe(report)
    for k in ("wx-mmap", "wx-mprotect", "text-mprotect-write"):
        check(results[k]["status"] == "fail", f"{k}: {results[k]['status']}")
        check(results[k]["observed"]["outcome"] == "allowed", f"{k} observed {results[k]['observed']}")
        check(results[k]["expected"]["outcome"] == "refused", f"{k} expected {results[k]['expected']}")
    # Everything default enforces still passes under hardened.
    for k in ("null-read", "exec-stack", "text-write", "guard-prot-none"):
        check(results[k]["status"] == "pass", f"{k}: {results[k]['status']} {results[k]['reason']}")


def case_profile_file():
    with tempfile.TemporaryDirectory() as d:
        prof = write(d, "p.toml", 'base = "default"\n[expect.wx-mmap]\noutcome = "refused"\nerrno = "EACCES"\n'
                                  '[expect.null-read]\nregion = ["null-page", "unmapped"]\n')
        p, report = run_json("--profile", prof, "--only", "wx-mmap,null-read", expect_exit=1)
        r = by_probe(report)
        check(r["wx-mmap"]["status"] == "fail" and r["wx-mmap"]["expected"]["errno"] == "EACCES",
              f"wx-mmap {r['wx-mmap']}")
        check(r["null-read"]["status"] == "pass" and r["null-read"]["expected"]["region"] == ["null-page", "unmapped"]
              and r["null-read"]["expected"]["code"] == "SEGV_MAPERR", f"null-read {r['null-read']}")
        # A profile that expects what this kernel does passes.
        prof2 = write(d, "q.toml", '[expect.wx-mmap]\noutcome = "allowed"\n')
        run_json("--profile", prof2, "--only", "wx-mmap", expect_exit=0)


def case_spec_pass():
    m = new_marker("spec-pass")
    with tempfile.TemporaryDirectory() as d:
        spec = write(d, "s.toml", spec_probe("my-null-deref", "segv", m, SEGV_NULL) +
                     spec_probe("handles-usr1", "sigusr", m, SEGV_NULL))
        p, report = run_json("--spec", spec, "--only", "my-null-deref,handles-usr1", expect_exit=0)
        r = by_probe(report)
        check(r["my-null-deref"]["status"] == "pass", f"{r['my-null-deref']}")
        check(r["handles-usr1"]["status"] == "pass", f"{r['handles-usr1']}")
        check("got SIGUSR1" in r["handles-usr1"]["observed"].get("notes", []),
              f"SIGUSR1 not passed through: {r['handles-usr1']['observed']}")
    assert_no_leftovers(m)


def case_spec_hang():
    m = new_marker("hang")
    with tempfile.TemporaryDirectory() as d:
        spec = write(d, "s.toml", spec_probe("hangs", "hang", m, SEGV_NULL, timeout=1))
        p, report = run_json("--spec", spec, "--only", "hangs", expect_exit=1)
        r = by_probe(report)["hangs"]
        check(r["status"] == "error" and "timeout" in r["reason"], f"hang: {r['status']} {r['reason']}")
        check(1.0 <= p.seconds < 5, f"took {p.seconds:.2f} s for a 1 s timeout")
    assert_no_leftovers(m)


def case_spec_grandchildren():
    m = new_marker("grandchildren")
    with tempfile.TemporaryDirectory() as d:
        spec = write(d, "s.toml",
                     spec_probe("spawns", "spawn", m, '{ outcome = "allowed" }') +
                     spec_probe("spawns-crashes", "spawn-crash", m, SEGV_NULL) +
                     spec_probe("spawns-hangs", "spawn-hang", m, SEGV_NULL, timeout=1))
        for capture in ("--capture=ptrace", "--capture=handler"):
            p, report = run_json("--spec", spec, "--only", "spawns,spawns-crashes,spawns-hangs", capture,
                                 expect_exit=1)
            r = by_probe(report)
            check(r["spawns"]["status"] == "pass", f"spawns: {r['spawns']}")
            check("spawned" in r["spawns"]["observed"].get("notes", []), "the probe did not spawn")
            if capture == "--capture=ptrace":
                check(r["spawns-crashes"]["status"] == "pass", f"spawns-crashes: {r['spawns-crashes']}")
            else:
                # No handler in a user probe: the death signal is all there is.
                check(r["spawns-crashes"]["observed"]["signal"] == "SIGSEGV", f"{r['spawns-crashes']}")
            check(r["spawns-hangs"]["status"] == "error" and "timeout" in r["spawns-hangs"]["reason"],
                  f"spawns-hangs: {r['spawns-hangs']}")
            assert_no_leftovers(m)


def case_clean_exit():
    m = new_marker("clean")
    with tempfile.TemporaryDirectory() as d:
        spec = write(d, "s.toml", spec_probe("exits-cleanly", "clean", m, SEGV_NULL) +
                     spec_probe("exits-3", "stderr-exit", m, SEGV_NULL))
        p, report = run_json("--spec", spec, "--only", "exits-cleanly,exits-3", expect_exit=1)
        r = by_probe(report)
        c = r["exits-cleanly"]
        check(c["status"] == "fail" and c["observed"]["outcome"] == "exited" and c["observed"]["exit_code"] == 0,
              f"exits-cleanly: {c}")
        e = r["exits-3"]
        check(e["status"] == "error" and "exited 3" in e["reason"]
              and "something broke" in e["observed"].get("stderr", ""), f"exits-3: {e}")
    assert_no_leftovers(m)


def case_other_signal():
    m = new_marker("abort")
    with tempfile.TemporaryDirectory() as d:
        spec = write(d, "s.toml", spec_probe("aborts", "abort", m, SEGV_NULL))
        for capture in ("--capture=ptrace", "--capture=handler"):
            p, report = run_json("--spec", spec, "--only", "aborts", capture, expect_exit=1)
            r = by_probe(report)["aborts"]
            check(r["status"] == "fail" and r["observed"]["signal"] == "SIGABRT" and "SIGABRT" in r["reason"],
                  f"{capture} aborts: {r}")
    assert_no_leftovers(m)


def interrupt(sig, expected_exit):
    m = new_marker(f"interrupt-{sig}")
    with tempfile.TemporaryDirectory() as d:
        spec = write(d, "s.toml",
                     spec_probe("h1", "spawn-hang", m, SEGV_NULL, timeout=60) +
                     spec_probe("h2", "spawn-hang", m, SEGV_NULL, timeout=60) +
                     spec_probe("h3", "hang", m, SEGV_NULL, timeout=60))
        proc = subprocess.Popen([ARGS.harness, "run", "--format", "json", "--jobs", "2", "--spec", spec,
                                 "--only", "null-read,h1,h2,h3"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            # Wait until both running probes and their grandchildren exist.
            deadline = time.monotonic() + 10
            while len(marker_processes(m)) < 6 and time.monotonic() < deadline:
                time.sleep(0.05)
            check(len(marker_processes(m)) >= 6, f"probes did not start: {marker_processes(m)}")
            t0 = time.monotonic()
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=10)
            took = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        check(proc.returncode == expected_exit, f"exit {proc.returncode}, expected {expected_exit}\n{err}")
        check(took < 3, f"took {took:.2f} s to stop")
        report = json.loads(out)
        s = report["summary"]
        check(s["interrupted"] == signal.Signals(sig).name, f"summary {s}")
        r = by_probe(report)
        check(r["null-read"]["status"] == "pass", "null-read should have finished before")
        for k in ("h1", "h2"):
            check(r[k]["status"] == "error" and "interrupted" in r[k]["reason"], f"{k}: {r[k]}")
        check("h3" not in r and s["not_run"] == 1, f"h3 should not have run: {s}")
    assert_no_leftovers(m)


def case_sigterm():
    interrupt(signal.SIGTERM, 143)


def case_sigint():
    interrupt(signal.SIGINT, 130)


def case_bad_toml():
    with tempfile.TemporaryDirectory() as d:
        cases = [
            # (file, option, text, line, col, message part)
            ("syntax.toml", "--spec", '[[probe]]\nname = "x"\ncommand = ["a" "b"]\n', 3, None, ""),
            ("key.toml", "--spec", '[[probe]]\nname = "x"\ncommand = ["a"]\ncomand = ["b"]\n'
                                   'expect = { outcome = "allowed" }\n', 4, 1, "unknown key 'comand'"),
            ("signal.toml", "--spec", '[[probe]]\nname = "x"\ncommand = ["a"]\n'
                                      'expect = { outcome = "fault", signal = "SIGFOO" }\n', 4, None,
             "unknown signal 'SIGFOO'"),
            ("code.toml", "--spec", '[[probe]]\nname = "x"\ncommand = ["a"]\n'
                                    'expect = { outcome = "fault", signal = "SIGSEGV", code = "BUS_ADRERR" }\n',
             4, None, "unknown code 'BUS_ADRERR'"),
            ("kind.toml", "--spec", '[[probe]]\nname = "x"\ncommand = ["a"]\n\n'
                                    'expect = { outcome = "fault", region = "nul-page" }\n', 5, None,
             "unknown region kind 'nul-page'"),
            ("ekey.toml", "--spec", '[[probe]]\nname = "x"\ncommand = ["a"]\n'
                                    'expect = { outcome = "fault", sginal = "SIGSEGV" }\n', 4, None,
             "unknown key 'sginal'"),
            ("errno.toml", "--profile", '[expect.mseal]\noutcome = "refused"\nerrno = "EPREM"\n', 3, 9,
             "unknown errno name 'EPREM'"),
            ("probe.toml", "--profile", 'base = "default"\n[expect.no-such]\noutcome = "allowed"\n', 2, None,
             "unknown probe 'no-such'"),
            ("base.toml", "--profile", 'base = "paranoid"\n', 1, 8, "unknown base profile 'paranoid'"),
            ("top.toml", "--profile", 'bsae = "default"\n', 1, 1, "unknown key 'bsae'"),
        ]
        for name, opt, text, line, col, part in cases:
            path = write(d, name, text)
            for cmd in ("run", "list"):
                p = harness(cmd, opt, path)
                check(p.returncode == 2, f"{name} ({cmd}): exit {p.returncode}, expected 2\n{p.stderr}")
                m = re.match(re.escape(path) + r":(\d+):(\d+): (.*)", p.stderr)
                check(m, f"{name}: no file:line:col in {p.stderr!r}")
                check(int(m.group(1)) == line, f"{name}: line {m.group(1)}, expected {line}: {p.stderr}")
                check(col is None or int(m.group(2)) == col, f"{name}: column {m.group(2)}, expected {col}")
                check(part in m.group(3), f"{name}: message {m.group(3)!r} lacks {part!r}")
                check(p.stdout == "", f"{name}: printed a report on bad input")


def case_usage():
    for args, part in ((["run", "--profile", "nope"], "unknown profile 'nope'"),
                       (["run", "--format", "yaml"], "unknown format"),
                       (["run", "--spec", "/nonexistent/spec.toml"], "cannot read spec file"),
                       (["run", "--jobs", "x"], "jobs"),
                       (["frobnicate"], "unknown command"),
                       (["demo", "nope"], "unknown demo"),
                       ([], "missing command")):
        p = harness(*args)
        check(p.returncode == 2 and part in p.stderr, f"{args}: exit {p.returncode} {p.stderr!r}")


def case_list():
    p = harness("list")
    check(p.returncode == 0, f"exit {p.returncode}")
    for i in BUILTIN_IDS:
        check(re.search(rf"^{re.escape(i)} ", p.stdout, re.M), f"list lacks {i}")
    check("not built" not in p.stdout, "a probe is not built")
    j = json.loads(harness("list", "--format", "json", "--profile", "hardened").stdout)
    probes = {x["probe"]: x for x in j["probes"]}
    check(list(probes) == BUILTIN_IDS, "list json ids")
    check(probes["wx-mmap"]["expected"]["outcome"] == "refused", "hardened list: wx-mmap")


def case_privileges():
    if os.geteuid() != 0:
        raise Skip("needs root (checks that root drops to nobody for probes)")
    m = new_marker("whoami")
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        spec = write(d, "s.toml", spec_probe("whoami", "whoami", m, '{ outcome = "allowed" }'))
        _, report = run_json("--spec", spec, "--only", "whoami,mmap-min-addr", expect_exit=0)
        r = by_probe(report)
        check("uid=65534" in r["whoami"]["observed"]["notes"], f"as nobody: {r['whoami']['observed']}")
        check(r["mmap-min-addr"]["observed"].get("errno") == "EPERM", f"{r['mmap-min-addr']}")
        _, report = run_json("--spec", spec, "--only", "whoami,mmap-min-addr", "--as-root", expect_exit=0)
        r = by_probe(report)
        check("uid=0" in r["whoami"]["observed"]["notes"], f"--as-root: {r['whoami']['observed']}")
        # Root may map below mmap_min_addr (CAP_SYS_RAWIO); the expectation follows.
        check(r["mmap-min-addr"]["observed"]["outcome"] == "allowed", f"{r['mmap-min-addr']}")
        check(report["environment"]["probe_uid"] == 0, "probe_uid with --as-root")
    assert_no_leftovers(m)


def case_unprivileged():
    # As root, become nobody for the whole harness (setpriv); otherwise this
    # already is an unprivileged run. ptrace of one's own children must work.
    wrapper = ()
    if os.geteuid() == 0:
        wrapper = ("setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups")
        ARGS.harness = reachable_harness(ARGS.harness)
    p, report = run_json(expect_exit=0, wrapper=wrapper)
    check(report["environment"]["uid"] != 0 and report["environment"]["probe_uid"] == report["environment"]["uid"],
          f"uid {report['environment']['uid']} probe_uid {report['environment']['probe_uid']}")
    check_default_report(report, "ptrace")
    check(by_probe(report)["mmap-min-addr"]["observed"].get("errno") == "EPERM", "mmap-min-addr as non-root")


PAXTEST_DIR = "/usr/lib/paxtest"
# paxtest program -> the harness probe that tests the same protection.
PAXTEST_PAIRS = {
    "anonmap": "exec-anon", "execbss": "exec-bss", "execdata": "exec-data", "execheap": "exec-heap",
    "execstack": "exec-stack", "mprotanon": "wx-mprotect", "writetext": "text-mprotect-write",
}


def case_paxtest_agreement():
    # Issue 5: agree with Debian's paxtest on its NX and mprotect tests.
    if not os.path.isdir(PAXTEST_DIR):
        raise Skip(f"paxtest is not installed ({PAXTEST_DIR}; apt-get install paxtest)")
    _, report = run_json("--only", ",".join(PAXTEST_PAIRS.values()), expect_exit=0)
    results = by_probe(report)
    env = dict(os.environ, LD_LIBRARY_PATH=PAXTEST_DIR)
    for prog, probe in PAXTEST_PAIRS.items():
        out = subprocess.run([os.path.join(PAXTEST_DIR, prog)], capture_output=True, text=True, env=env,
                             cwd=PAXTEST_DIR, timeout=30).stdout
        m = re.search(r":\s*(Killed|Vulnerable)\s*$", out)
        check(m, f"paxtest {prog}: no verdict in {out!r}")
        protected = m.group(1) == "Killed"
        observed = results[probe]["observed"]["outcome"]
        check(protected == (observed in ("fault", "refused")),
              f"paxtest {prog} says {m.group(1)}, vma-harness {probe} observed {observed}")
        print(f"{prog:10} {m.group(1):10} {probe:20} {observed}")


def case_demo():
    expect = {
        "wx": ["rw-p", "SEGV_ACCERR", "r-xp", "returned 42", "MDWE"],
        "guard": ["[stack]", "SEGV_MAPERR", "SEGV_ACCERR", "guard", "---p"],
        "null": ["mmap_min_addr", "SEGV_MAPERR", "null"],
        "stack": ["[stack]", "SEGV_ACCERR", "SEGV_MAPERR"],
    }
    # Each touching step of wx and guard draws the address space pointing at
    # the address touched, sized by COLUMNS and LINES (less 6 rows for the
    # step's text), then the fault.
    touches = {"wx": 2, "guard": 3}
    env = dict(os.environ, COLUMNS="80", LINES="40")
    for which, parts in expect.items():
        p = harness("demo", which, "--step", timeout=30, env=env)  # --step: stdin is not a tty, no waiting
        check(p.returncode == 0, f"demo {which}: exit {p.returncode}\n{p.stderr}")
        for part in parts:
            check(part in p.stdout, f"demo {which}: output lacks {part!r}:\n{p.stdout}")
        check("error:" not in p.stdout, f"demo {which}: {p.stdout}")
        if which not in touches:
            continue
        lines = p.stdout.splitlines()
        arrows = [i for i, l in enumerate(lines) if l.startswith("==>")]
        touched = [re.search(r"<== touch (0x[0-9a-f]+)", lines[i]) for i in arrows]
        touched = [m.group(1) for m in touched if m]
        check(len(touched) == touches[which], f"demo {which}: {len(touched)} drawings point at a touched address")
        for a in touched:
            # The step's fault follows its drawing: the next "-> " line names the address touched
            # (or its page, for "touch the byte below"), then the signal.
            i = next(i for i in arrows if f"<== touch {a}" in lines[i])
            nxt = next((j for j in range(i, len(lines)) if lines[j].startswith("-> ")), None)
            check(nxt is not None and lines[nxt + 1].lstrip().startswith("SIG")
                  and a in lines[nxt + 1], f"demo {which}: the fault at {a} follows its drawing")
        drawn = [l for l in lines if re.match(r"^(==>|   )(0x[0-9a-f]{16}| {18}) [|:]", l)]
        check(drawn and all(len(l) <= 80 for l in drawn),
              f"demo {which}: the drawings fit 80 columns")
    p = harness("demo", "guard", "--step", timeout=30, env=env)
    check(re.search(r"^==>.*<== fault 0x", p.stdout, re.M) is not None,
          "demo guard: the stack overflow's fault address (not touched on purpose) is drawn too")


if __name__ == "__main__":
    sys.exit(casetest.main(globals(), ['harness', 'testprobe', 'noptrace']))
