#!/usr/bin/python3
"""`vma map` and `vma whereis` live inside Debian 12's arm64 kernel (issue 15
item 4): scripts/arm64-guest.sh boots it with the aarch64 cross build and
runs scripts/arm64-live.sh there, which starts the aarch64 testee and
prints `vma map --pid`, `vma whereis --pid` and the testee's own lines.

  arm64_live_test.py --build CROSS_BUILD --data tests/data

Checks: the live map classifies every line as the captured run did
(tests/data/testee-arm64-linux-6.1.kinds; addresses differ run to run),
thread stacks carry their TIDs, there is no [vsyscall], and whereis reports
the tag of a tagged address and arm64's non-canonical consequence.
Exit 0 pass, 1 fail.
"""

import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from casetest import Checklist  # noqa: E402

check = Checklist()


def section(out, name):
    m = re.search(r"^== " + re.escape(name) + r"\n(.*?)(?=^== )", out, re.S | re.M)
    return m.group(1) if m else ""


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True)
    ap.add_argument("--data", required=True)
    args = ap.parse_args()
    top = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    p = subprocess.run(["bash", os.path.join(top, "scripts", "arm64-guest.sh"), "--build", args.build,
                        "--timeout", "300", "--", "sh", "/vmakit/arm64-live.sh"],
                       capture_output=True, text=True, timeout=400)
    out = re.sub(r"\x1b\[[0-9;]*m", "", p.stdout)
    check(p.returncode == 0, f"guest run exit {p.returncode}\n{p.stderr[-2000:]}")
    live = [line.split() for line in section(out, "vma map --pid").splitlines()]
    kinds = [w[5] for w in live if len(w) > 5 and re.fullmatch(r"[r-][w-][x-][ps]", w[2])]
    golden = open(os.path.join(args.data, "testee-arm64-linux-6.1.kinds")).read().split()
    check(kinds == golden, f"live arm64 map kinds {kinds} == captured {golden}")
    tids = re.findall(r"^thread_stack 0x[0-9a-f]+ (\d+)$", section(out, "testee.out"), re.M)
    mapped = section(out, "vma map --pid")
    check(len(tids) == 2 and all(f"thread-stack [{t}]" in mapped for t in tids),
          f"each thread's stack carries its TID {tids}")
    check("[vsyscall]" not in mapped and "[vdso]" in mapped and "[vvar]" in mapped, "no vsyscall; vdso and vvar")
    where = section(out, "vma whereis --pid")
    check(re.search(r"tag\s+0x5a \(top byte ignored; untagged 0x1000\)", where) is not None,
          "whereis of a tagged address reports its tag")
    check("translation fault" in where, "whereis 0x00ff000000001000: arm64's non-canonical consequence")
    return check.exit_status()


if __name__ == "__main__":
    sys.exit(main())
