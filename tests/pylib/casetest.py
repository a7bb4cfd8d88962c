"""Scaffolding shared by the end-to-end test scripts run as one ctest test
per case (tests/aslr/aslr_test.py, tests/harness/harness_test.py):

    SCRIPT CASE --harness PATH [more options]

Exit 0 pass, 1 fail, 77 skip (ctest's SKIP_RETURN_CODE; only for a missing
tool or kernel feature, named in the message). A script defines case_NAME()
functions (NAME with dashes on the command line), raises Failure through
check() and Skip through skip(), and calls main() with its globals.
"""

import argparse
import subprocess
import time

SKIP = 77


class Failure(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def skip(why):
    raise Skip(why)


def run_tool(path, *args, timeout, wrapper=(), env=None):
    """Runs `wrapper + path + args`, text output captured; the result carries
    .seconds (wall) and .cmd."""
    cmd = list(wrapper) + [path] + list(args)
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    p.seconds = time.monotonic() - t0
    p.cmd = cmd
    return p


def main(module_globals, required_options):
    """Parses CASE and the --OPTION PATH arguments named in
    `required_options`, stores them as the script's ARGS and runs the case."""
    cases = {name[5:].replace("_", "-"): fn for name, fn in module_globals.items()
             if name.startswith("case_") and callable(fn)}
    ap = argparse.ArgumentParser()
    ap.add_argument("case", choices=sorted(cases))
    for opt in required_options:
        ap.add_argument("--" + opt, required=True)
    args = ap.parse_args()
    module_globals["ARGS"] = args
    try:
        cases[args.case]()
    except Failure as e:
        print(f"FAIL {args.case}: {e}")
        return 1
    except Skip as e:
        print(f"SKIP {args.case}: {e}")
        return SKIP
    print(f"PASS {args.case}")
    return 0


class Checklist:
    """Checks that all run and are all reported (`ok   ...` / `FAIL ...`),
    for scripts that check many facts of one expensive run; exit_status() is
    0 when all passed, else 1."""

    def __init__(self):
        self.failures = []

    def __call__(self, ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            self.failures.append(what)

    def exit_status(self):
        print(f"{len(self.failures)} failed" if self.failures else "all passed")
        return 1 if self.failures else 0
