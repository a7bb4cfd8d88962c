#!/usr/bin/python3
"""An arm64 process read on this (x86_64) machine: the maps and the core of
tests/programs/testee.c captured in Debian 12's arm64 kernel under QEMU
(tests/data/README.md), read with `vma ... --arch aarch64` and `--core`.

  arm64_saved_test.py --vma BUILD/vma --data tests/data

Checks: the saved maps classify as `vma map --pid` did live in the guest
(thread stacks by shape, images by permissions: none of the guest's files are
here); a tagged address is annotated with its tag and its untagged region; an
address above VA_BITS is non-canonical with arm64's consequence; the core's
target is aarch64 with 48-bit VAs, its mappings classify as live, each
thread's stack is found by its SP, and `vma fault` explains the text write.
Exit 0 pass, 1 fail.
"""

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from casetest import Checklist  # noqa: E402

check = Checklist()


def vma(args, *argv):
    p = subprocess.run([args.vma, *argv], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise SystemExit(f"FAIL vma {' '.join(argv)}: exit {p.returncode}\n{p.stderr}")
    return json.loads(p.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vma", required=True)
    ap.add_argument("--data", required=True)
    args = ap.parse_args()
    base = os.path.join(args.data, "testee-arm64-linux-6.1")
    golden = open(base + ".kinds").read().split()
    addrs = {}
    for line in open(base + ".addresses"):
        w = line.split()
        if len(w) >= 2 and w[1].startswith("0x"):
            addrs.setdefault(w[0], []).append((int(w[1], 16), w[2] if len(w) > 2 else None))

    regions = vma(args, "map", "--maps", base + ".maps", "--arch", "aarch64", "--json")["regions"]
    check([r["kind"] for r in regions] == golden, "saved arm64 maps classify as the live guest process did")

    anon = addrs["anon"][0][0]
    tagged = (0x5A << 56) | anon
    w = vma(args, "whereis", "--maps", base + ".maps", "--arch", "aarch64", "--json", hex(tagged),
            "0x00ff000000001000", "0xffff800080000000")
    check(w[0]["tag"] == "0x5a" and int(w[0]["untagged"], 16) == anon and w[0]["kind"] == "anon",
          f"tagged {tagged:#x}: tag 0x5a, untagged in anon ({w[0].get('tag')}, {w[0].get('untagged')}, {w[0]['kind']})")
    check(w[1]["kind"] == "non-canonical" and "translation fault" in w[1]["summary"],
          f"0x00ff000000001000: non-canonical, a translation fault on arm64 ({w[1]['summary']})")
    check(w[2]["kind"] == "kernel", "0xffff800080000000: the kernel half (TTBR1)")

    core = base + ".core"
    regions = vma(args, "map", "--core", core, "--json")["regions"]
    check([r["kind"] for r in regions] == golden, "the arm64 core's mappings classify as the live guest process did")
    for addr, tid in addrs["thread_stack"]:
        a = vma(args, "whereis", "--core", core, "--json", hex(addr))[0]
        check(a["kind"] == "thread-stack" and str(a["thread"]) == tid,
              f"thread {tid}'s local {addr:#x}: its own thread stack (core SP) ({a['kind']}, {a['thread']})")
    f = vma(args, "fault", "--core", core, "--json")
    text = addrs["text"][0][0]
    check(f["signal"] == "SIGSEGV" and f["code"] == "SEGV_ACCERR" and f["at"]["kind"] == "text"
          and abs(int(f["addr"], 16) - text) < 0x10000 and "read-only text page" in f["explanation"],
          f"vma fault: the store into text ({f['signal']} {f['code']} {f['addr']} {f['explanation']})")
    return check.exit_status()


if __name__ == "__main__":
    sys.exit(main())
