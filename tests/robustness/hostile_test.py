#!/usr/bin/env python3
"""Issue 22, hostile input part 2: one case per invocation (ctest runs each
as its own test), each a repro from the issue that failed on the code
before it. Files destroyed, write errors ignored, terminal escapes passed
through, size amplification, saved reports of the wrong shape, `vma fault`
at a stop that is not a memory fault, GDB's argument splitting, probes'
TMPDIR, messages, truncated kernels.

usage: hostile_test.py --vma VMA --harness HARNESS --testee TESTEE --data DIR
                       [--lldb LLDB --plugin SO] [--gdb-script PY] CASE
Exit 0 pass, 1 fail, 77 skip (the reason is printed).
"""
import argparse
import json
import os
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from softcheck import check, failed, skip  # noqa: E402

ARGS = None
PY_HELPER = r"""
import mmap, os, sys
names = [os.fsencode(a) for a in sys.argv[1:]]
keep = []
for n in names:
    with open(n, "wb") as f:
        f.write(b"x" * 4096)
    fd = os.open(n, os.O_RDONLY)
    keep.append(mmap.mmap(fd, 4096, prot=mmap.PROT_READ))
    os.close(fd)
print("ready", os.getpid(), flush=True)
for line in open("/proc/self/maps", "rb"):
    for n in names:
        if line.rstrip(b"\n").endswith(n):
            print("at", line.split(b"-")[0].decode(), flush=True)
sys.stdin.read()
"""


def run(cmd, timeout=120, stdout=subprocess.PIPE, env=None, user_env=None, cwd=None):
    if user_env:
        env = dict(os.environ, **user_env)
    p = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, timeout=timeout, env=env,
                       stdin=subprocess.DEVNULL, cwd=cwd)
    return p.returncode, p.stdout if p.stdout is not None else b"", p.stderr.decode("utf-8", "replace")


def vma(*args, **kw):
    return run([ARGS.vma, *args], **kw)


def harness(*args, **kw):
    return run([ARGS.harness, *args], **kw)


def raw_controls(data):
    """The control bytes a terminal acts on (C0 but newline, DEL, C1 as UTF-8)."""
    out = [b for b in data if (b < 0x20 and b != 0x0a) or b == 0x7f]
    for i in range(len(data) - 1):
        if data[i] == 0xc2 and 0x80 <= data[i + 1] <= 0x9f:
            out.append(data[i + 1])
    return out


def saved_matrix(d, kernel="bookworm-amd64"):
    load = lambda n: json.load(open(os.path.join(ARGS.data, "vm", n)))
    doc = {"kernels": [
        {"kernel": kernel, "release": "6.1.0-57-amd64", "cpu": "max", "accel": "tcg", "seconds": 17.0,
         "exit_status": 0, "error": None, "report": load("bookworm-max.json")},
        {"kernel": "trixie-amd64", "release": "6.12.117+deb13-amd64", "cpu": "max,la57=off", "accel": "tcg",
         "seconds": 9.6, "exit_status": 0, "error": None, "report": load("trixie-max-la57-off.json")}],
        "differences": []}
    path = os.path.join(d, "matrix.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    return path, doc


# ------------------------------------------------------------ 1. files destroyed
def case_from_json_keeps_files(d):
    saved, _ = saved_matrix(d)
    before = open(saved, "rb").read()
    rc, out, err = harness("matrix", "--from-json", saved, "--svg", saved)
    check(rc == 2 and err == f"vma-harness: --svg {saved}: is the input {saved} too; refusing to overwrite it\n",
          f"--from-json X --svg X: exit {rc}, {err!r}")
    check(open(saved, "rb").read() == before, "X is unchanged")
    link = os.path.join(d, "link.json")
    os.symlink(saved, link)
    rc, out, err = harness("matrix", "--from-json", link, "--svg", saved)
    check(rc == 2 and open(saved, "rb").read() == before, f"through a symbolic link too: exit {rc}")
    svg = os.path.join(d, "m.svg")
    rc, _, err = harness("matrix", "--from-json", saved, "--svg", svg)
    good = open(svg, "rb").read()
    check(rc == 0 and len(good) > 10000, f"a good run writes the SVG ({len(good)} bytes, exit {rc}, {err.strip()})")
    bad = os.path.join(d, "bad.json")
    open(bad, "w").write("{\"kernels\": 5}")
    for what in (bad, os.path.join(d, "missing.json"), d):
        rc, _, err = harness("matrix", "--from-json", what, "--svg", svg)
        check(rc == 2 and open(svg, "rb").read() == good, f"a failed --from-json {what} leaves the SVG as it was "
              f"(exit {rc}, {len(open(svg, 'rb').read())} bytes)")
    check(not [n for n in os.listdir(d) if ".tmp." in n], "no temporary file is left behind")
    maps = os.path.join(d, "x.maps")
    shutil.copy(os.path.join(ARGS.data, "testee-linux-6.18.maps"), maps)
    mb = open(maps, "rb").read()
    rc, _, err = vma("map", "--maps", maps, "--svg", maps)
    check(rc == 2 and open(maps, "rb").read() == mb and "is the input" in err,
          f"vma map --maps X --svg X: exit {rc}, X unchanged ({err.strip()})")


# ------------------------------------------------------------ 2. a directory
def case_from_json_directory(d):
    rc, out, err = harness("matrix", "--from-json", d)
    check(rc == 2 and err == f"vma-harness: --from-json {d}: is a directory\n", f"exit {rc}, {err!r}")


# ------------------------------------------------------------ 3. write errors
def case_write_errors(d):
    if not os.path.exists("/dev/full"):
        skip("/dev/full does not exist")
    saved, _ = saved_matrix(d)
    rc, out, err = harness("matrix", "--from-json", saved, "--svg", "/dev/full")
    check(rc == 2 and err == "vma-harness: --svg /dev/full: cannot write: No space left on device\n",
          f"matrix --svg /dev/full: exit {rc}, {err!r}")
    maps = os.path.join(ARGS.data, "testee-linux-6.18.maps")
    full = open("/dev/full", "wb")
    for argv in (["map", "--maps", maps], ["map", "--maps", maps, "--json"], ["whereis", "--maps", maps, "0x1000"],
                 ["map", "--maps", maps, "--draw"], ["kinds"], ["map", "--help"]):
        rc, _, err = vma(*argv, stdout=full)
        check(rc == 2 and err == "vma: write error: No space left on device\n",
              f"vma {' '.join(argv[:1] + argv[3:])} > /dev/full: exit {rc}, {err!r}")
    for argv in (["matrix", "--from-json", saved], ["matrix", "--from-json", saved, "--format", "json"],
                 ["run", "--only", "null-read"], ["list"]):
        rc, _, err = harness(*argv, stdout=full)
        check(rc == 2 and err.endswith("vma-harness: write error: No space left on device\n"),
              f"vma-harness {' '.join(argv[:1])} > /dev/full: exit {rc}, {err!r}")


# ------------------------------------------------------------ 4. size amplification
def case_size_amplification(d):
    saved, doc = saved_matrix(d)
    doc["kernels"][0]["kernel"] = "k" * (20 << 20)
    doc["kernels"][0]["report"]["results"][0]["probe"] = "p" * (5 << 20)
    with open(saved, "w") as f:
        json.dump(doc, f)
    svg = os.path.join(d, "m.svg")
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "%M", ARGS.harness, "matrix", "--from-json", saved, "--svg", svg],
                       capture_output=True, timeout=300) if os.access("/usr/bin/time", os.X_OK) else None
    if p is None:
        rc, out, err = harness("matrix", "--from-json", saved, "--svg", svg, timeout=300)
        rss = 0
    else:
        rc, out, rss = p.returncode, p.stdout, int(p.stderr.decode().strip().splitlines()[-1])
    secs = time.monotonic() - t0
    size = os.path.getsize(svg) if os.path.exists(svg) else 0
    print(f"   25 MB of names: {secs:.1f} s, SVG {size} bytes, text {len(out)} bytes, peak RSS {rss // 1024} MiB")
    check(rc == 0, f"exit {rc}")
    check(size < 1 << 20, f"the SVG stays small ({size} bytes < 1 MiB)")
    check(len(out) < 1 << 20 and max(len(l) for l in out.splitlines()) < 1000,
          f"the text stays small ({len(out)} bytes, longest line {max(len(l) for l in out.splitlines())})")
    check(rss == 0 or rss < 1 << 20, f"peak RSS {rss} KiB < 1 GiB")


# ------------------------------------------------------------ 5. wrong shape
def case_from_json_wrong_shape(d):
    saved, doc = saved_matrix(d)
    cases = [
        ({"report": {"results": "x"}},
         "kernels: expected an array (the output of `vma-harness matrix --format json`)"),
        ({"kernels": [dict(doc["kernels"][0], report={"results": "x"})]}, "kernels[0].report.results: expected an array"),
        ({"kernels": [dict(doc["kernels"][0], report={"results": [5]})]}, "kernels[0].report.results[0]: expected an object"),
        ({"kernels": [dict(doc["kernels"][0], report={"results": [{"probe": 1, "status": "pass"}]})]},
         "kernels[0].report.results[0].probe: expected a string"),
        ({"kernels": [dict(doc["kernels"][0], report={})]},
         "kernels[0].report.results: missing (a `vma-harness run --format json` report)"),
        ({"kernels": [dict(doc["kernels"][0], report={"results": [], "aslr": {"regions": [{"region": "x", "bits": -1}]}})]},
         "kernels[0].report.aslr.regions[0].bits: expected a number >= 0"),
        ({"kernels": [dict(doc["kernels"][0], report={"results": [], "environment": []})]},
         "kernels[0].report.environment: expected an object"),
    ]
    for i, (bad, field) in enumerate(cases):
        path = os.path.join(d, f"bad{i}.json")
        json.dump(bad, open(path, "w"))
        rc, out, err = harness("matrix", "--from-json", path)
        want = f"vma-harness: --from-json {path}: {field}\n"
        check(rc == 2 and err == want and out == b"", f"{json.dumps(bad)[:60]}: exit {rc}, {err!r}")


# ------------------------------------------------------------ 6. terminal escapes
EVIL = "\x1b[2J\x1b]0;owned\x07k\x00cut\x9b31m\x7f"


def case_from_json_escapes(d):
    saved, doc = saved_matrix(d, kernel=EVIL)
    doc["kernels"][0]["report"]["results"][0]["reason"] = "reason \x1b[31m red"
    doc["kernels"][0]["report"]["results"][0]["status"] = "fail"
    json.dump(doc, open(saved, "w"))
    for fmt in ("text", "ktap"):
        rc, out, err = harness("matrix", "--from-json", saved, "--format", fmt)
        check(rc in (0, 1) and not raw_controls(out), f"--format {fmt}: no raw control byte "
              f"(exit {rc}, {sorted(set(raw_controls(out)))})")
        check(b"\\x1b[2J\\x1b]0;owned\\x07k\\x00cut\\xc2\\x9b31m\\x7f" in out,
              f"--format {fmt}: the name shown with escapes, whole (the NUL does not cut it)")
    rc, out, err = harness("matrix", "--from-json", saved, "--format", "json")
    check(json.loads(out)["kernels"][0]["kernel"] == EVIL, "--format json keeps the exact name")
    svg = os.path.join(d, "m.svg")
    rc, out, err = harness("matrix", "--from-json", saved, "--svg", svg, "--format", "junit")
    import xml.etree.ElementTree as ET
    for what, data in (("SVG", open(svg, "rb").read()), ("JUnit", out)):
        try:
            ET.fromstring(data)
            ok = True
        except ET.ParseError as e:
            ok = False
            print("  ", e)
        check(ok and not raw_controls(data.replace(b"\t", b"")), f"{what} is valid XML without control bytes")


def spawn_mapper(d, names):
    p = subprocess.Popen([sys.executable, "-c", PY_HELPER, *[os.path.join(d, n) for n in names]],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    first = p.stdout.readline().split()
    assert first[0] == "ready", first
    addrs = [p.stdout.readline().split()[1] for _ in names]
    return p, addrs


HOSTILE_NAME = "evil-\x1b[2J\x1b]0;owned\x07-\x1b[31mred\x0b.bin"


def live_checks(who, out_map, out_where):
    check(not raw_controls(out_map), f"{who}: vma map prints no raw control byte {sorted(set(raw_controls(out_map)))}")
    check(b"evil-\\x1b[2J\\x1b]0;owned\\x07-\\x1b[31mred\\x0b.bin" in out_map, f"{who}: vma map shows the name escaped")
    check(not raw_controls(out_where), f"{who}: vma whereis prints no raw control byte")
    check(b"evil-\\x1b[2J" in out_where, f"{who}: vma whereis shows the name escaped")


def case_live_escapes_cli(d):
    p, addrs = spawn_mapper(d, [HOSTILE_NAME])
    try:
        rc, out_map, err = vma("map", "--pid", str(p.pid))
        rc2, out_where, err2 = vma("whereis", "--pid", str(p.pid), "0x" + addrs[0])
        check(rc == 0 and rc2 == 0, f"exit {rc}, {rc2} ({err.strip()} {err2.strip()})")
        live_checks("CLI", out_map, out_where)
        rc, out, err = vma("map", "--pid", str(p.pid), "--draw", user_env={"COLUMNS": "200", "LINES": "200"})
        check(not raw_controls(out) and b"\\x1b[2J" in out, "CLI: vma map --draw shows the name escaped")
        rc, out, err = vma("map", "--pid", str(p.pid), "--json")
        names = [r["path"] for r in json.loads(out)["regions"]]
        check(os.path.join(d, HOSTILE_NAME) in names, "CLI: --json keeps the exact name")
    finally:
        p.kill()
        p.wait()


def case_live_escapes_lldb(d):
    if not ARGS.lldb or not ARGS.plugin:
        skip("no --lldb/--plugin given")
    p, addrs = spawn_mapper(d, [HOSTILE_NAME])
    try:
        cmd = [ARGS.lldb, "-b", "-x", "--no-use-colors", "-o", "plugin load " + ARGS.plugin, "-o",
               f"process attach -p {p.pid}", "-o", "script print('@@@map')", "-o", "vma map",
               "-o", "script print('@@@whereis')", "-o", "vma whereis 0x" + addrs[0], "-o", "process detach"]
        rc, out, err = run(cmd, timeout=120)
        check(b"@@@whereis" in out, f"lldb ran the commands (exit {rc}) {err[-300:]}")
        m, _, w = out.partition(b"@@@whereis")
        live_checks("LLDB", m.partition(b"@@@map")[2], w)
    finally:
        p.kill()
        p.wait()


def case_live_escapes_gdb(d):
    if not ARGS.gdb_script:
        skip("no --gdb-script given")
    p, addrs = spawn_mapper(d, [HOSTILE_NAME])
    try:
        cmd = ["gdb", "-batch", "-nx", "-x", ARGS.gdb_script, "-p", str(p.pid), "-ex", "echo @@@map\\n",
               "-ex", "vma map", "-ex", "echo @@@whereis\\n", "-ex", "vma whereis 0x" + addrs[0], "-ex", "detach"]
        rc, out, err = run(cmd, timeout=120)
        check(b"@@@whereis" in out, f"gdb ran the commands (exit {rc}) {err[-300:]}")
        m, _, w = out.partition(b"@@@whereis")
        live_checks("GDB", m.partition(b"@@@map")[2], w)
    finally:
        p.kill()
        p.wait()


# ------------------------------------------------------------ 7. not a memory fault
def case_fault_not_a_fault_lldb(d):
    if not ARGS.lldb or not ARGS.plugin:
        skip("no --lldb/--plugin given")
    cmd = [ARGS.lldb, "-b", "-x", "--no-use-colors", "-o", "plugin load " + ARGS.plugin, "-o",
           "process launch -s", "-o", "vma fault", "-o", "vma fault --json", "-o", "kill", "--", ARGS.testee]
    rc, out, err = run(cmd, timeout=120)
    text = out.decode("utf-8", "replace")
    print(text[-1500:])
    check("not a memory fault" in text, "the entry stop is said to be no memory fault")
    check("0x0000000000000000  unmapped" not in text and "NULL pointer" not in text and "null-page" not in text,
          "address 0 is not annotated")
    check('"memory_fault": false' in text, "--json says memory_fault false")


def case_fault_not_a_fault_gdb(d):
    if not ARGS.gdb_script:
        skip("no --gdb-script given")
    cmd = ["gdb", "-batch", "-nx", "-x", ARGS.gdb_script, "-ex", "starti", "-ex", "vma fault",
           "-ex", "vma fault --json", "-ex", "kill", "--args", ARGS.testee]
    rc, out, err = run(cmd, timeout=120)
    text = out.decode("utf-8", "replace")
    print(text[-1500:])
    check("SIGTRAP" in text and "not a memory fault" in text, "starti: SIGTRAP, not a memory fault")
    check("null-page" not in text and "NULL pointer" not in text, "nothing annotated as a fault address")
    check('"memory_fault": false' in text, "--json says memory_fault false")


def case_fault_core_not_a_fault(d):
    pattern = open("/proc/sys/kernel/core_pattern").read().strip()
    if pattern.startswith("|"):
        skip(f"kernel.core_pattern pipes cores to a collector ({pattern!r}); tests do not change it")
    if "/" in pattern:
        skip(f"kernel.core_pattern writes elsewhere ({pattern!r})")

    def pre():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    p = subprocess.Popen([ARGS.testee], stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=d, preexec_fn=pre)
    for line in p.stdout:
        if line.strip() == b"ready":
            break
    os.kill(p.pid, signal.SIGABRT)
    p.wait()
    cores = [os.path.join(d, n) for n in os.listdir(d) if n.startswith(pattern.split("%")[0] or "core")]
    if not cores:
        skip("no core was written (core_pattern %r)" % pattern)
    core = cores[0]
    rc, out, err = vma("fault", "--core", core)
    text = out.decode()
    print(text)
    check(rc == 0 and text.startswith("SIGABRT (SI_USER): not a memory fault\n"), f"exit {rc}, {text[:60]!r}")
    check("null-page" not in text, "address 0 is not annotated")
    rc, out, err = vma("fault", "--core", core, "--json")
    j = json.loads(out)
    check(j.get("memory_fault") is False and j["at"] is None and j["signal"] == "SIGABRT", f"--json: {j}")


# ------------------------------------------------------------ 8. GDB quoting
def case_gdb_quoting(d):
    if not ARGS.gdb_script:
        skip("no --gdb-script given")
    spaced = os.path.join(d, "a b.svg")
    cmd = ["gdb", "-batch", "-nx", "-x", ARGS.gdb_script, "-ex", "break main", "-ex", "run",
           "-ex", f"vma map --svg \"{spaced}\"", "-ex", "vma map --svg ''", "-ex", "echo @@@next\\n",
           "-ex", "kill", "--args", ARGS.testee]
    rc, out, err = run(cmd, timeout=120, user_env={"HOME": d}, cwd=d)
    print(out.decode()[-600:], err[-600:])
    check(os.path.isfile(spaced) and os.path.getsize(spaced) > 1000, "--svg \"a b.svg\" writes that file")
    check(not os.path.exists(os.path.join(d, "''")), "--svg '' writes no file named ''")
    check("vma map: --svg needs a value, not an empty one" in err, "--svg '' is an error")
    check(b"@@@next" in out, "the next command runs")


# ------------------------------------------------------------ 9. TMPDIR
def case_probe_tmpdir(d):
    if os.geteuid() != 0:
        skip("needs root: probes are dropped to nobody only when the harness runs as root")
    private = os.path.join(d, "root-only")
    os.mkdir(private, 0o700)
    os.chmod(d, 0o700)
    rc, out, err = harness("run", "--only", "sigbus-eof", "--format", "json", user_env={"TMPDIR": private})
    rows = json.loads(out)["results"] if out.strip().startswith(b"{") else []
    st = rows[0]["status"] if rows else None
    check(rc == 0 and st == "pass", f"sigbus-eof with a root-only TMPDIR: exit {rc}, {st}, "
          f"{rows[0].get('reason') if rows else err.strip()}")
    check(os.listdir(private) == [], "nothing left in the caller's TMPDIR")


# ------------------------------------------------------------ 10. messages
def case_messages(d):
    saved, _ = saved_matrix(d)
    bad = os.path.join(d, "bad.json")
    open(bad, "w").write("[]")
    rc, out, err = harness("matrix", "--from-json", bad)
    check(rc == 2 and len(err.splitlines()) == 1, f"a data error is one line, no usage: {err!r}")
    rc, out, err = harness("matrix", "--from-json", saved, "--format", "bogus")
    check(rc == 2 and "usage:" in err, "a usage error still shows the usage")
    rc, out, err = harness("matrix", "--from-json", saved, "--svg", "")
    check(rc == 2 and err.startswith("vma-harness: --svg: an empty file name\n"), f"matrix --svg '': exit {rc}, {err[:80]!r}")
    for argv in (["map", "--pid", str(os.getpid()), "--arch", "aarch64"],
                 ["whereis", "--pid", str(os.getpid()), "--arch", "aarch64", "0"]):
        rc, out, err = vma(*argv)
        check(rc == 2 and err == "vma: --arch: not with --pid (a live process has this machine's architecture)\n",
              f"vma {argv[0]} --pid --arch: exit {rc}, {err!r}")
    rc, out, err = vma("map", "--svg", "", "--maps", os.path.join(ARGS.data, "testee-linux-6.18.maps"))
    check(rc == 2 and err == "vma: --svg: an empty file name\n", f"vma map --svg '': exit {rc}, {err!r}")
    # vm checks the guest's arguments before it boots anything.
    kernel = bzimage(d, "k", whole=True)
    t0 = time.monotonic()
    rc, out, err = harness("vm", "--kernel", kernel, "--timeout", "20", "--", "run", "--format", "bogus", timeout=120)
    secs = time.monotonic() - t0
    check(rc == 2 and "unknown format 'bogus'" in err and "nothing was booted" in err and secs < 5,
          f"vm -- run --format bogus: exit {rc} in {secs:.1f} s, {err.strip()[:200]!r}")
    rc, out, err = harness("vm", "--kernel", kernel, "--timeout", "20", "--", "run", "--no-such-option", timeout=120)
    check(rc == 2 and "unrecognised option '--no-such-option'" in err, f"vm -- run --no-such-option: {rc} {err[:100]!r}")


def case_gcore_notes(d):
    if not shutil.which("gcore"):
        skip("gcore (gdb) is not installed")
    names = [f"data{i}.txt" for i in range(6)]
    p, _ = spawn_mapper(d, names)
    try:
        base = os.path.join(d, "g")
        r = subprocess.run(["gcore", "-o", base, str(p.pid)], capture_output=True, timeout=240)
        core = f"{base}.{p.pid}"
        check(r.returncode == 0 and os.path.exists(core), f"gcore wrote a core ({r.returncode})")
    finally:
        p.kill()
        p.wait()
    rc, out, err = vma("map", "--core", core)
    notes = [l for l in err.splitlines() if "not an ELF file" in l or "not ELF files" in l]
    print("\n".join(err.splitlines()[:20]))
    check(rc == 0 and len(notes) == 1, f"the data files are one note line, not {len(notes)}")
    check(any("6 files the core names are not ELF files" in l for l in notes) or
          any(" files the core names are not ELF files" in l and "and " in l for l in notes), "it counts them")


# ------------------------------------------------------------ 11. truncated kernels
def bzimage(d, name, whole):
    """A bzImage setup header (boot protocol 2.15) that says 8 MiB: whole or
    only its first 100 KB."""
    size = 8 << 20
    setup_sects = 31
    head = bytearray(0x10000)
    head[0x1f1] = setup_sects
    struct.pack_into("<I", head, 0x1f4, (size - (setup_sects + 1) * 512) // 16)
    head[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", head, 0x206, 0x20f)
    struct.pack_into("<H", head, 0x20e, 0x300)
    head[0x500:0x520] = b"6.99.0-test (nobody@nowhere) #1\0"
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size if whole else 100 * 1000)
    return path


def case_truncated_kernel(d):
    kernel = bzimage(d, "vmlinuz-trunc", whole=False)
    t0 = time.monotonic()
    rc, out, err = harness("vm", "--kernel", kernel, "--timeout", "20", "--", "run", timeout=120)
    secs = time.monotonic() - t0
    want = (f"{kernel}: truncated: its bzImage setup header says {8 << 20} bytes, the file has 100000")
    check(rc == 2 and want in err and secs < 5, f"exit {rc} in {secs:.1f} s: {err.strip()[:300]!r}")


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--vma", required=True)
    ap.add_argument("--harness", required=True)
    ap.add_argument("--testee", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--lldb")
    ap.add_argument("--plugin")
    ap.add_argument("--gdb-script")
    ap.add_argument("case")
    ARGS = ap.parse_args()
    fn = globals().get("case_" + ARGS.case)
    if fn is None:
        sys.exit(f"unknown case {ARGS.case}")
    d = tempfile.mkdtemp(prefix="vma-hostile-")
    try:
        fn(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)
    if failed():
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
