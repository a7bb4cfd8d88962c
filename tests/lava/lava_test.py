#!/usr/bin/env python3
"""Tests of the LAVA test definition (harness/lava/vmakit-harness.yaml):
it is a well-formed Lava-Test Test Definition 1.0, and its steps, run as
LAVA's test shell runs them (from the repository root, params as shell
variables, lava-test-case on PATH: here a stub that records its calls),
report exactly the results `vma-harness run --format json` gives.

    lava_test.py CASE --harness PATH --source DIR
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import yaml  # Debian python3-yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "pylib"))
from casetest import check, main  # noqa: E402

ARGS = None
STUB = """#!/bin/sh
# lava-test-case NAME --result RESULT, recorded one per line.
echo "$1 $3" >>"$LAVA_STUB_LOG"
"""


def definition():
    with open(os.path.join(ARGS.source, "harness", "lava", "vmakit-harness.yaml")) as f:
        return yaml.safe_load(f)


def run_steps(params):
    """Runs the definition's steps in a copy of harness/lava; the recorded
    (name, result) pairs and the steps' output."""
    d = definition()
    with tempfile.TemporaryDirectory() as root:
        shutil.copytree(os.path.join(ARGS.source, "harness", "lava"), os.path.join(root, "harness", "lava"))
        bindir = os.path.join(root, "stub-bin")
        os.mkdir(bindir)
        stub = os.path.join(bindir, "lava-test-case")
        with open(stub, "w") as f:
            f.write(STUB)
        os.chmod(stub, 0o755)
        log = os.path.join(root, "lava.log")
        env = dict(os.environ, PATH=bindir + ":" + os.environ["PATH"], LAVA_STUB_LOG=log)
        env.update({k: str(v) for k, v in d["params"].items()})
        env.update(params)
        out = ""
        for step in d["run"]["steps"]:
            p = subprocess.run(["/bin/sh", "-c", step], cwd=root, env=env, capture_output=True, text=True,
                               timeout=300)
            out += p.stdout + p.stderr
            check(p.returncode == 0, f"step {step!r} exited {p.returncode}: {out[-2000:]}")
        check(os.path.exists(os.path.join(root, "output", "vma-harness.ktap")), "no output/vma-harness.ktap")
        recorded = []
        if os.path.exists(log):
            with open(log) as f:
                recorded = [tuple(line.split()) for line in f if line.strip()]
        return recorded, out


def lava_name(name):
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def expected(args):
    """(name, result) per result of `vma-harness run --format json ARGS`."""
    p = subprocess.run([ARGS.harness, "run", "--format", "json", *args], capture_output=True, text=True, timeout=300)
    j = json.loads(p.stdout)
    status = {"pass": "pass", "skip": "skip", "fail": "fail", "error": "fail", "unknown": "skip"}
    want = [(lava_name(r["probe"]), status[r["status"]]) for r in j["results"]]
    for c in j.get("audit", {}).get("checks", []):
        want.append((lava_name("audit:" + c["name"]), status[c["status"]]))
    want.append(("vma-harness-exit", "pass" if p.returncode == 0 else "fail"))
    return want


def case_definition():
    d = definition()
    check(d["metadata"]["format"] == "Lava-Test Test Definition 1.0", f"format {d['metadata'].get('format')}")
    check(d["metadata"]["name"] == "vmakit-harness", "name")
    check(d["metadata"]["description"], "no description")
    steps = d["run"]["steps"]
    check(isinstance(steps, list) and steps and all(isinstance(s, str) for s in steps), f"steps {steps!r}")
    check(set(d["params"]) == {"HARNESS", "PROFILE", "EXTRA"}, f"params {sorted(d['params'])}")


def case_steps_report():
    only = "null-read,noncanonical-jump,pkey,mseal,wx-mmap"
    got, out = run_steps({"HARNESS": ARGS.harness, "PROFILE": "default", "EXTRA": f"--only {only} --with-audit"})
    want = expected(["--profile", "default", "--only", only, "--with-audit"])
    check(got == want, f"LAVA results differ from the harness's JSON:\n got {got}\nwant {want}\n{out[-2000:]}")
    check("TAP version 13" in out, "the KTAP is not in the log")


def case_steps_report_failure():
    got, out = run_steps({"HARNESS": ARGS.harness, "PROFILE": "hardened", "EXTRA": "--only wx-mmap"})
    check(got == [("wx-mmap", "fail"), ("vma-harness-exit", "fail")], f"got {got}\n{out[-2000:]}")
    check("vma-harness exit status 1" in out, out[-1000:])


if __name__ == "__main__":
    sys.exit(main(globals(), ["harness", "source"]))
