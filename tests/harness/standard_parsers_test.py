#!/usr/bin/python3
"""KTAP and JUnit output read by standard parsers (Debian python3-tap and
python3-junitparser), under the default profile (all pass or skip) and the
hardened one (the W^X probes fail): the counts the parsers see must equal
what the JSON report says."""
import json
import subprocess
import sys

from tap.parser import Parser
import junitparser

harness = sys.argv[1]
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


for profile in ("default", "hardened"):
    def run(fmt):
        return subprocess.run([harness, "run", "--profile", profile, "--format", fmt], capture_output=True, text=True,
                              timeout=120)
    js = json.loads(run("json").stdout)
    want = {s: sum(1 for r in js["results"] if r["status"] == s) for s in ("pass", "fail", "skip", "error")}
    check(want["pass"] > 0, f"{profile}: the JSON report has passes ({want})")

    ktap = run("ktap")
    lines = list(Parser().parse_text(ktap.stdout))
    results = [l for l in lines if l.category == "test"]
    plans = [l for l in lines if l.category == "plan"]
    check(len(plans) == 1 and plans[0].expected_tests == len(results) == len(js["results"]),
          f"{profile}: TAP plan 1..{len(results)} matches the results")
    skips = sum(1 for r in results if r.skip)
    not_ok = sum(1 for r in results if not r.ok)
    check(skips == want["skip"], f"{profile}: TAP skips {skips} == {want['skip']}")
    check(not_ok == want["fail"] + want["error"], f"{profile}: TAP not ok {not_ok} == fail+error")
    check(any(l.category == "version" for l in lines), f"{profile}: TAP version line")

    junit = run("junit")
    xml = junitparser.JUnitXml.fromstring(junit.stdout)
    suites = list(xml) if isinstance(xml, junitparser.JUnitXml) else [xml]
    cases = [c for s in suites for c in s]
    failed = sum(1 for c in cases if any(isinstance(r, junitparser.Failure) for r in c.result))
    errored = sum(1 for c in cases if any(isinstance(r, junitparser.Error) for r in c.result))
    skipped = sum(1 for c in cases if any(isinstance(r, junitparser.Skipped) for r in c.result))
    check(len(cases) == len(js["results"]), f"{profile}: JUnit has one testcase per probe ({len(cases)})")
    check((failed, errored, skipped) == (want["fail"], want["error"], want["skip"]),
          f"{profile}: JUnit failures/errors/skips {(failed, errored, skipped)} match the JSON")
    if profile == "hardened":
        names = {c.name for c in cases if any(isinstance(r, junitparser.Failure) for r in c.result)}
        check({"wx-mmap", "wx-mprotect", "text-mprotect-write"} <= names, "hardened: the W^X probes fail in JUnit")
        check(ktap.returncode == 1, "hardened: exit 1")

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
