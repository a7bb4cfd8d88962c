"""Checks that go on after a failure, for scripts that test many inputs in
one case (tests/robustness/): each check prints `ok:` or `FAIL:`, the case
runs to its end, and `failed()` says how many failed. Exit 77 is ctest's
skip (only for a missing tool or kernel feature, named in the message)."""

import sys

FAILED = []


def check(cond, what):
    print(("ok: " if cond else "FAIL: ") + what)
    if not cond:
        FAILED.append(what)


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def failed():
    """The number of failed checks, said once when there are any."""
    if FAILED:
        print(f"{len(FAILED)} check(s) failed")
    return len(FAILED)
