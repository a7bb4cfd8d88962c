#!/usr/bin/python3
"""End-to-end tests of the `vma` CLI: live processes, saved maps, bad input.

Each check prints a line; the script exits 1 if any failed.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from host import kind_above_47_bits  # noqa: E402
from merged import kernel_vmas, merged_checks, merged_text_rows, merged_values  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--vma", required=True)
ap.add_argument("--testee", required=True)
ap.add_argument("--data", required=True)
args = ap.parse_args()

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def vma(*argv, expect=0):
    p = subprocess.run([args.vma, *argv], capture_output=True, text=True, timeout=60)
    if p.returncode != expect:
        print(f"  vma {' '.join(argv)} exited {p.returncode}: {p.stderr.strip()}")
    return p


class Testee:
    def __init__(self, *extra):
        self.p = subprocess.Popen([args.testee, *extra], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.lines = []
        for line in self.p.stdout:
            if line.startswith("ready"):
                break
            self.lines.append(line.split())
        self.pid = int(next(l[1] for l in self.lines if l[0] == "pid"))

    def addrs(self, name):
        return [(l[1], int(l[2]) if len(l) > 2 and l[2].isdigit() else None) for l in self.lines if l[0] == name and l[1].startswith("0x")]

    def close(self):
        self.p.kill()
        self.p.wait()


def parse_maps_line(line):
    m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) ([0-9a-f]+:[0-9a-f]+) (\d+) ?\s*(.*)$", line)
    return m.groups()


# --- live process ----------------------------------------------------------
t = Testee()
try:
    expected = {
        "global_data": "data", "global_bss": "bss", "rodata": "rodata", "relro": "relro", "text": "text",
        "libc_text": "text", "main_stack": "stack", "heap": "heap", "arena": "heap", "thread_stack": "thread-stack",
        "anon": "anon", "guard": "guard", "madv_guard": "guard", "memfd": "shared", "deleted": "file",
        "gap": "unmapped",
    }
    asked = [(name, a, tid) for name in expected for a, tid in t.addrs(name)]
    p = vma("whereis", "--pid", str(t.pid), "--json", *[a for _, a, _ in asked], "0", "0xffffffff81000000",
            "0x800000000000")
    out = json.loads(p.stdout)
    check(len(out) == len(asked) + 3, "whereis --json answers every address, in order")
    for (name, a, tid), o in zip(asked, out):
        check(o["address"] == hex(int(a, 16)) and o["kind"] == expected[name],
              f"whereis {name} {a}: {o['kind']} (want {expected[name]})")
        if name == "thread_stack":
            check(o["thread"] == tid, f"whereis {name} {a}: thread {o['thread']} (want {tid})")
    check([o["kind"] for o in out[-3:]] == ["null-page", "kernel", kind_above_47_bits()],
          f"whereis 0, a kernel address and 0x800000000000 ({kind_above_47_bits()} here)")
    gap = out[[n for n, _, _ in asked].index("gap")]
    check(gap["below"] is not None and gap["above"] is not None and gap["region"] is None,
          "a gap address names its neighbours")

    # map --json lists exactly the kernel's lines.
    with open(f"/proc/{t.pid}/maps") as f:
        kernel = [parse_maps_line(l.rstrip("\n")) for l in f]
    # A VMA that holds two things is listed as its parts (each with "vma"):
    # folded back, the parts are the kernel's lines.
    regions = kernel_vmas(json.loads(vma("map", "--pid", str(t.pid), "--json").stdout)["regions"])
    check(len(regions) == len(kernel), f"map --json has one region per maps line ({len(regions)} vs {len(kernel)})")
    same = True
    for r, (s, e, perms, off, dev, inode, path) in zip(regions, kernel):
        mine = (r["start"], r["end"], r["perms"], r["offset"], r["dev"], r["inode"], r["path"])
        theirs = (hex(int(s, 16)), hex(int(e, 16)), perms, hex(int(off, 16)), dev, int(inode), path)
        if mine != theirs:
            same = False
            print(f"  differs: {mine} vs {theirs}")
    check(same, "map --json fields equal /proc/PID/maps field by field")
    check(all(r["kind"] for r in regions), "every region has a kind")

    text = vma("map", "--pid", str(t.pid), "--gaps").stdout
    check(text.splitlines()[0].split()[:5] == ["START", "END", "PERM", "SIZE", "KIND"], "map text has a header")
    check(any(l.endswith(" unmapped") for l in text.splitlines()), "map --gaps shows gaps")
    check(not any(l.endswith(" ") for l in text.splitlines()), "map text has no trailing blanks")
    check("\x1b[" not in text, "no colour when stdout is not a terminal")
    check("\x1b[" in vma("map", "--pid", str(t.pid), "--color", "always").stdout, "--color always colours")
    th = json.loads(vma("map", "--pid", str(t.pid), "--json", "--kind", "thread-stack").stdout)["regions"]
    check(sorted(r["thread"] for r in th) == sorted(tid for _, tid in t.addrs("thread_stack")),
          "map --kind thread-stack: one region per thread, with its TID")
finally:
    t.close()

# --- a VMA that holds two things (an image's .bss and anonymous memory the
# kernel merged into it): live, and from the same map saved to a file -------
t = Testee("--merge-bss")
try:
    try:
        vals = merged_values(t.lines)
    except AssertionError as e:
        vals = None
        check(False, str(e))
    if vals:
        with open(f"/proc/{t.pid}/maps") as f:
            saved_text = f.read()
        lines = [l for l in saved_text.splitlines()
                 if int(l.split("-")[0], 16) == vals["merged_vma_start"]]
        check(len(lines) == 1 and int(lines[0].split()[0].split("-")[1], 16) == vals["merged_vma_end"],
              f"the kernel shows the .bss and the new pages as one VMA: {lines}")
        addrs = [hex(vals["merged_bss"]), hex(vals["merged_anon"])]
        with tempfile.NamedTemporaryFile("w", suffix=".maps") as f:
            f.write(saved_text)
            f.flush()
            for src in (["--pid", str(t.pid)], ["--maps", f.name]):
                bss, anon = json.loads(vma("whereis", *src, "--json", *addrs).stdout)
                regions = json.loads(vma("map", *src, "--json").stdout)["regions"]
                for ok, what, detail in merged_checks(vals, bss, anon, regions):
                    check(ok, f"{src[0]}: {what}" + ("" if ok else f": {detail}"))
                text = vma("map", *src).stdout
                rows = merged_text_rows(vals, text)
                check(len(rows) == 2 and "bss" in rows[0] and "with the anon after it" in rows[0]
                      and "anon" in rows[1] and "with the bss before it" in rows[1],
                      f"{src[0]}: map text shows the two parts with a note: {rows}")
                w = vma("whereis", *src, addrs[1]).stdout
                check(f"vma        {vals['merged_vma_start']:#x}-{vals['merged_vma_end']:#x}" in w,
                      f"{src[0]}: whereis text names the kernel VMA: {w}")
finally:
    t.close()

# --- a running thread: its SP comes from ptrace, and it keeps running -------
t = Testee("--spin")
try:
    (a, tid), = t.addrs("spin_stack")
    with open(f"/proc/{t.pid}/task/{tid}/syscall") as f:
        check(f.read().startswith("running"), "the spinning thread is running (no SP in /proc)")
    o = json.loads(vma("whereis", "--pid", str(t.pid), "--json", a).stdout)[0]
    check(o["kind"] == "thread-stack" and o["thread"] == tid, f"a running thread's stack: {o['kind']} {o['thread']}")
    with open(f"/proc/{t.pid}/task/{tid}/stat") as f:
        state = f.read().rsplit(")", 1)[1].split()[0]
    with open(f"/proc/{t.pid}/task/{tid}/status") as f:
        tracer = [l for l in f if l.startswith("TracerPid:")][0].split()[1]
    check(state in ("R", "S") and tracer == "0", f"the thread was let go (state {state}, tracer {tracer})")
finally:
    t.close()

# --- saved maps --------------------------------------------------------------
saved = os.path.join(args.data, "testee-linux-6.18.maps")
golden = open(os.path.join(args.data, "testee-linux-6.18.kinds")).read().split()
regions = json.loads(vma("map", "--maps", saved, "--json").stdout)["regions"]
check([r["kind"] for r in regions] == golden, "saved maps classify as the live process did")
with tempfile.TemporaryDirectory() as tmp:
    # Other inodes: the ELF files count as unavailable, the fallback rules decide.
    other = os.path.join(tmp, "other.maps")
    with open(saved) as f, open(other, "w") as g:
        for line in f:
            g.write(re.sub(r"^(\S+ \S+ \S+ \S+ )([1-9]\d*)", lambda m: m.group(1) + "9" + m.group(2), line))
    regions = json.loads(vma("map", "--maps", other, "--json").stdout)["regions"]
    check([r["kind"] for r in regions] == golden, "saved maps without their ELF files classify the same")
    smaps = json.loads(vma("map", "--maps", os.path.join(args.data, "testee-linux-6.18.smaps"), "--json").stdout)
    check([r["kind"] for r in smaps["regions"]] == golden, "smaps classifies as maps does")
    check(any("gd" in r.get("vm_flags", "").split() for r in smaps["regions"] if r["kind"] == "stack"),
          "smaps VmFlags reach the JSON")

    # --- bad input: exit 2, one line naming what and where ------------------
    bad = os.path.join(tmp, "bad.maps")
    with open(bad, "w") as f:
        f.write("1000-2000 r--p 00000000 00:00 0\n3000-4000 r--p 00000000 00:00 0\n5000-6000 rwzp 00000000 00:00 0\n")
    big = os.path.join(tmp, "big.maps")
    with open(big, "w") as f:
        for i in range(500000):
            f.write(f"{0x10000 + i * 0x2000:x}-{0x11000 + i * 0x2000:x} rw-p 00000000 00:00 0 \n")
        f.write("zzzz\n")
    nul = os.path.join(tmp, "nul.maps")
    with open(nul, "wb") as f:
        f.write(b"1000-2000 r--p 00000000 00:00 0 /a\x00b\n")
    cases = [
        ([], None),
        (["frobnicate"], 'vma: unknown command "frobnicate" (expected whereis, map, fault or kinds)'),
        (["whereis", "0x1"], "vma: no source: give --pid PID, --maps FILE or --core FILE"),
        (["whereis", "--pid", "1", "--maps", bad, "0"], "vma: give only one of --pid, --maps and --core"),
        (["whereis", "--pid", "999999999", "0"], "vma: pid 999999999: no such process"),
        (["whereis", "--pid", "0", "0"], "vma: pid 0: not a valid process id"),
        (["whereis", "--maps", saved], "vma: whereis: no address given"),
        (["whereis", "--maps", saved, "0xzz"], 'vma: invalid address "0xzz": expected 0x-prefixed hex or decimal'),
        (["whereis", "--maps", saved, "0x10000000000000000"],
         'vma: invalid address "0x10000000000000000": does not fit in 64 bits'),
        (["whereis", "--maps", saved, "--arch", "sparc", "0"],
         'vma: unknown architecture "sparc" (expected x86_64, x86_64-la57, aarch64 or aarch64-52)'),
        (["map", "--maps", os.path.join(tmp, "missing.maps")],
         f"vma: {os.path.join(tmp, 'missing.maps')}: cannot open: No such file or directory"),
        (["map", "--maps", bad],
         f'vma: {bad}:3: malformed maps entry: bad permissions "rwzp" (expected [r-][w-][x-][ps]) (field 2)'),
        (["map", "--maps", big], f"vma: {big}:500001: malformed maps entry: missing dash between address range (field 1)"),
        (["map", "--maps", nul], f"vma: {nul}:1: malformed maps entry: NUL byte in line"),
        (["map", "--maps", saved, "--kind", "nope"], 'vma: --kind: unknown kind "nope" (see `vma kinds`)'),
        (["map", "--maps", saved, "--color", "sometimes"], 'vma: --color: expected auto, always or never, not "sometimes"'),
        (["map", "--core", "/bin/true"], "vma: /bin/true: not a core file (ET_DYN)"),
        (["fault"], "vma: fault: give --core FILE (for a live process, use `vma fault` in LLDB or GDB)"),
        (["kinds", "extra"], 'vma: kinds: unexpected argument "extra"'),
    ]
    for argv, want in cases:
        p = vma(*argv, expect=2)
        lines = p.stderr.strip().splitlines()
        if want is None:
            check(p.returncode == 2 and "usage: vma" in p.stderr, "no command: usage on stderr, exit 2")
            continue
        check(p.returncode == 2 and lines == [want], f"vma {' '.join(argv)[:60]} -> exit 2, {want[:70]}")
    for argv, needle in [(["map", "--maps", saved, "--bogus"], "unrecognised option '--bogus'"),
                         (["whereis", "--pid", "abc", "0"], "the argument ('abc') for option '--pid' is invalid (see `vma whereis --help`)")]:
        p = vma(*argv, expect=2)
        check(p.returncode == 2 and needle in p.stderr and p.stderr.startswith("vma: "),
              f"vma {' '.join(argv)} -> exit 2 naming the option")

check(vma("kinds").stdout.count("\n") == 19, "kinds lists the 19 kinds")
check(vma("--help").returncode == 0, "--help exits 0")

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
