#!/usr/bin/env python3
"""Tests of the LAVA test definition (harness/lava/vmakit-harness.yaml):
it is a well-formed Lava-Test Test Definition 1.0, and its steps, run as
LAVA's test shell runs them (from the repository root, params as shell
variables, lava-test-case on PATH: here a stub that records its calls),
report exactly the results `vma-harness run --format json` gives; the job
template renders to the job issue 21 describes; the results reader
(scripts/lava_job.py) reads lava-run's tagged YAML lines and fails as it
must. The failing profile under a real dispatcher is lava_run_test.py's
(it replaced this file's stub run of it).

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


def case_steps_no_progress():
    """Under LAVA the harness's stderr is the serial console, a terminal: the
    step keeps the ASLR progress bar out of it."""
    import pty
    d = definition()
    with tempfile.TemporaryDirectory() as root:
        shutil.copytree(os.path.join(ARGS.source, "harness", "lava"), os.path.join(root, "harness", "lava"))
        env = dict(os.environ, HARNESS=ARGS.harness, PROFILE="default",
                   EXTRA="--only null-read --with-aslr --aslr-samples 20")
        pid, fd = pty.fork()
        if pid == 0:
            os.chdir(root)
            os.execve("/bin/sh", ["/bin/sh", "-c", d["run"]["steps"][0]], env)
        out = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        _, status = os.waitpid(pid, 0)
        text = out.decode(errors="replace")
        check(os.waitstatus_to_exitcode(status) == 0, f"step exited {status}: {text[-2000:]}")
        check("TAP version 13" in text, f"no KTAP on the terminal: {text[-2000:]}")
        check("execs" not in text, f"progress output on the terminal: {text[-2000:]}")


def render_job(**kw):
    cmd = ["/usr/bin/python3", os.path.join(ARGS.source, "scripts", "lava_job.py"), "job",
           os.path.join(ARGS.source, "harness", "lava", "qemu-job.yaml.jinja2"),
           "--kernel-url", "file:///k/vmlinuz", "--initramfs-url", "file:///k/initrd.cpio",
           "--repository", "file:///src/defs"]
    for k, v in kw.items():
        cmd += ["--" + k.replace("_", "-"), v]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    check(p.returncode == 0, f"lava_job.py job: {p.stderr}")
    return yaml.safe_load(p.stdout)


def case_job_template():
    job = render_job(profile="hardened", extra="--with-audit --only wx-mmap")
    check(job["device_type"] == "qemu" and job["context"]["arch"] == "amd64", f"device/context {job}")
    deploy, boot, test = (a[k] for a, k in zip(job["actions"], ("deploy", "boot", "test")))
    check(deploy["to"] == "tmpfs", f"deploy to {deploy['to']}")
    check(deploy["images"]["kernel"]["url"] == "file:///k/vmlinuz", f"kernel {deploy['images']['kernel']}")
    ramdisk = deploy["images"]["ramdisk"]
    check(ramdisk == {"image_arg": "-initrd {ramdisk}", "url": "file:///k/initrd.cpio", "format": "cpio.newc",
                      "overlays": {"lava": True}}, f"ramdisk {ramdisk}")
    check(boot["method"] == "qemu" and boot["media"] == "tmpfs" and boot["prompts"] == ["vmakit# "], f"boot {boot}")
    (tdef,) = test["definitions"]
    check(tdef["repository"] == "file:///src/defs" and tdef["from"] == "git", f"definition {tdef}")
    check(tdef["path"] == "harness/lava/vmakit-harness.yaml", f"path {tdef['path']}")
    check(tdef["parameters"] == {"PROFILE": "hardened", "EXTRA": "--with-audit --only wx-mmap"},
          f"parameters {tdef['parameters']}")


LOG_LINE = ('- {"dt": "2026-12-04T16:00:00.000000", "lvl": "results", "msg": {"case": "%s", '
            '"definition": "%s", "duration": "0.01", "extra": {"line": ! "768"}, "result": "%s"}}\n')


def summarize(cases, lava_rc=0):
    """lava_job.py results over a log of `cases` [(definition, case, result)]."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as log:
        log.write('- {"dt": "2026-12-04T16:00:00.000000", "lvl": "info", "msg": "lava-dispatcher, installed"}\n')
        for definition, case, result in cases:
            log.write(LOG_LINE % (case, definition, result))
        log.flush()
        return subprocess.run(["/usr/bin/python3", os.path.join(ARGS.source, "scripts", "lava_job.py"), "results",
                               log.name, "--lava-rc", str(lava_rc)], capture_output=True, text=True, timeout=60)


def case_results_reader():
    ok = [("1_vmakit-harness", "null-read", "pass"), ("1_vmakit-harness", "pkey", "skip"),
          ("lava", "job", "pass")]
    p = summarize(ok)
    check(p.returncode == 0, f"all pass: exit {p.returncode} {p.stderr}")
    check(p.stdout.splitlines()[:4] == ["KTAP version 1", "1..2", "ok 1 null-read", "ok 2 pkey # SKIP"],
          f"KTAP {p.stdout}")
    p = summarize(ok + [("1_vmakit-harness", "wx-mmap", "fail")])
    check(p.returncode == 1 and "not ok 3 wx-mmap" in p.stdout, f"a failing case: {p.returncode} {p.stdout}")
    check("lava-run: failing cases: wx-mmap" in p.stderr, f"not named: {p.stderr}")
    p = summarize(ok, lava_rc=1)
    check(p.returncode == 1 and "lava-run exited 1" in p.stderr, f"lava-run failed: {p.returncode} {p.stderr}")
    p = summarize([("lava", "job", "pass")])
    check(p.returncode == 1 and "no vmakit-harness case" in p.stderr, f"no case: {p.returncode} {p.stderr}")


if __name__ == "__main__":
    sys.exit(main(globals(), ["harness", "source"]))
