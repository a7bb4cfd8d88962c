#!/usr/bin/env python3
"""Bad input through the whole `vma` program: one case per invocation
(ctest runs each as its own test). Every run must end with exit 0 (an answer)
or 2 (bad input, one line on stderr naming the file or pid), never a signal.

usage: cli_robust_test.py --vma VMA [--testee TESTEE] --data DIR --core-seed CORE CASE
Exit 0 pass, 1 fail, 77 skip (the reason is printed).
"""
import argparse
import json
import os
import random
import resource
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from reach import reachable  # noqa: E402
from softcheck import check, failed, skip  # noqa: E402

ARGS = None


def vma(*args, timeout=60, user=None):
    cmd = [ARGS.vma, *args]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", reachable(ARGS.vma), *args]
    p = subprocess.run(cmd, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def no_signal(rc, what, err=""):
    check(rc in (0, 2), f"{what}: exit {rc} (0 or 2, never a signal){' - ' + err.strip() if rc not in (0, 2) else ''}")


def write(d, name, data):
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


# ---------------------------------------------------------------- maps
def case_maps_non_utf8_json(d):
    path = write(d, "ff.maps", b"00400000-00401000 r-xp 00000000 08:01 123 /tmp/a\xffb\xc3(\n")
    rc, out, err = vma("map", "--maps", path, "--json")
    check(rc == 0, f"map --json of a 0xff path: exit {rc} ({err.strip()})")
    doc = json.loads(out.decode("utf-8"))  # strict: valid UTF-8 or an exception
    check(doc["regions"][0]["path"] == "/tmp/a\ufffdb\ufffd(", f"invalid bytes become U+FFFD: {doc['regions'][0]['path']!r}")
    rc, out, err = vma("whereis", "--maps", path, "--json", "0x400010")
    check(rc == 0, f"whereis --json: exit {rc} ({err.strip()})")
    json.loads(out.decode("utf-8"))
    rc, out, err = vma("map", "--maps", path)
    # Issue 22: text shows bytes that are not UTF-8 as \xNN escapes (safe_text).
    check(rc == 0 and b"/tmp/a\\xffb\\xc3(" in out, "text output shows the bytes as \\xNN escapes")


def case_maps_nul(d):
    data = b"1000-2000 r--p 00000000 00:00 0\n3000-4000 r--p 00000000 fd:01 7 /a\x00b\n"
    path = write(d, "nul.maps", data)
    rc, out, err = vma("map", "--maps", path)
    check(rc == 2, f"NUL byte: exit {rc}")
    check(err == f"vma: {path}:2: malformed maps entry: NUL byte in line\n", f"message: {err!r}")


def case_maps_escaped_newline(d):
    path = write(d, "nl.maps", b"00400000-00401000 r--p 00000000 08:01 123 /tmp/a\\012b (deleted)\n")
    rc, out, err = vma("map", "--maps", path, "--json")
    check(rc == 0, f"\\012: exit {rc} ({err.strip()})")
    r = json.loads(out)["regions"][0]
    check(r["path"] == "/tmp/a\nb (deleted)" and r.get("deleted") is True, f"decoded and deleted: {r['path']!r}")


def case_maps_long_line(d):
    name = "/" + "a" * (1 << 20)
    path = write(d, "long.maps", f"00400000-00401000 r--p 00000000 08:01 123 {name}\n".encode())
    rc, out, err = vma("map", "--maps", path, "--json")
    check(rc == 0, f"1 MiB line: exit {rc} ({err.strip()})")
    check(json.loads(out)["regions"][0]["path"] == name, "1 MiB path kept whole")
    rc, out, err = vma("whereis", "--maps", path, "0x400000")
    check(rc == 0, f"whereis on a 1 MiB line: exit {rc}")


def case_maps_not_a_file(d):
    empty = write(d, "empty.maps", b"")
    for path, rc_want, want in ((d, 2, f"vma: {d}: is a directory\n"),
                                (d + "/missing", 2, f"vma: {d}/missing: cannot open: No such file or directory\n"),
                                ("/dev/zero", 2, "vma: /dev/zero: larger than 1 GiB: not a maps file\n"),
                                (empty, 0, "")):
        rc, out, err = vma("map", "--maps", path, timeout=120)
        check(rc == rc_want and err == want, f"--maps {path}: exit {rc}, {err.strip()!r}")


def peak_rss_kib(args):
    p = subprocess.run(["/usr/bin/time", "-f", "%M", ARGS.vma, *args], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=600)
    return p.returncode, int(p.stderr.decode().strip().splitlines()[-1])


def case_maps_500k_lines(d):
    if not os.access("/usr/bin/time", os.X_OK):
        skip("/usr/bin/time (Debian package time) is not installed: peak RSS cannot be measured")
    path = os.path.join(d, "big.maps")
    with open(path, "w") as f:
        for i in range(500000):
            f.write("%x-%x rw-p 00000000 00:00 0                          [anon:n%d]\n"
                    % (0x10000 + i * 0x2000, 0x11000 + i * 0x2000, i))
    size_kib = os.path.getsize(path) // 1024
    # Measured on the 6.18 machine: a 38 MiB file takes ~6-7x in text and JSON
    # (the file, the parsed mappings, the classified regions and the output
    # each held once). The bound leaves room for allocator differences and
    # sanitizer builds are excluded.
    for mode in ([], ["--json"]):
        start = time.monotonic()
        rc, rss = peak_rss_kib(["map", "--maps", path, *mode])
        secs = time.monotonic() - start
        print(f"   map --maps {' '.join(mode) or '(text)'}: {secs:.1f} s, peak RSS {rss // 1024} MiB "
              f"for a {size_kib // 1024} MiB file ({rss / size_kib:.1f}x)")
        check(rc == 0, f"500,000 lines {mode}: exit {rc}")
        check(rss < 12 * size_kib, f"500,000 lines {mode}: peak RSS {rss} KiB < 12 x file size {size_kib} KiB")


def case_maps_mutated(d):
    seed = int(os.environ.get("VMAKIT_SEED", "0")) or random.randrange(1, 1 << 30)
    print(f"   seed {seed} (rerun with VMAKIT_SEED={seed})")
    rng = random.Random(seed)
    sources = [os.path.join(ARGS.data, "testee-linux-6.18.maps"), os.path.join(ARGS.data, "testee-linux-6.18.smaps")]
    counts = {0: 0, 2: 0}
    for n in range(300):
        src = open(sources[n % 2], "rb").read()
        b = bytearray(src)
        for _ in range(rng.choice((1, 1, 2, 4, 16))):
            i = rng.randrange(len(b))
            op = rng.randrange(4)
            if op == 0:
                b[i] = rng.randrange(256)
            elif op == 1:
                b[i] = rng.choice(b"0123456789abcdef-: \n\\rwxps/[]")
            elif op == 2:
                del b[i]
            else:
                b[i:i] = bytes([rng.randrange(256)])
        path = write(d, "m.maps", bytes(b))
        for args in (["map", "--maps", path, "--json"], ["whereis", "--maps", path, "0x5555", "0x7fffffffe000"]):
            rc, out, err = vma(*args)
            if rc not in (0, 2):
                write(d, "crash.maps", bytes(b))
                check(False, f"mutation {n}: {' '.join(args[:1])} exit {rc}: {err.strip()}")
                return
            if rc == 2 and not (err.startswith("vma: ") and err.count("\n") == 1):
                check(False, f"mutation {n}: exit 2 without one 'vma: ' line: {err!r}")
                return
            if rc == 0 and args[-1] == "--json":
                json.loads(out.decode("utf-8"))
            counts[rc] += 1
    check(True, f"300 mutated files, 600 runs: {counts[0]} answers (exit 0), {counts[2]} errors (exit 2), no signal")


# ---------------------------------------------------------------- cores
def core_structures(data):
    """Offsets where each structure of a 64-bit ELF core starts and ends."""
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    cuts = {0, 4, 16, 64, phoff, phoff + phentsize * phnum}
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        cuts.add(phoff + i * phentsize)
        cuts.update((p_offset, p_offset + p_filesz))
        if p_type == 4:  # PT_NOTE: every note header, name and descriptor
            off = p_offset
            while off + 12 <= p_offset + p_filesz:
                namesz, descsz, _ = struct.unpack_from("<III", data, off)
                name_end = off + 12 + ((namesz + 3) & ~3)
                cuts.update((off, off + 12, name_end, name_end + descsz))
                off = name_end + ((descsz + 3) & ~3)
    return sorted(c for c in cuts if 0 <= c < len(data))


def case_core_truncated(d):
    data = open(ARGS.core_seed, "rb").read()
    rc, out, err = vma("map", "--core", ARGS.core_seed)
    check(rc == 0, f"the whole seed core reads: exit {rc} ({err.strip()})")
    cuts = core_structures(data)
    bad = 0
    for c in cuts:
        for at in (c - 1, c, c + 1):
            if at <= 0 or at >= len(data):
                continue
            path = write(d, "cut.core", data[:at])
            rc, out, err = vma("map", "--core", path)
            # Cut before the end of the last dumped byte: the core is short of
            # what its headers promise, so it is an error naming the file.
            if rc != 2 or not err.startswith(f"vma: {path}: "):
                bad += 1
                print(f"   cut at {at}: exit {rc}, {err.strip()!r}")
    check(bad == 0, f"{len(cuts)} structure boundaries (+-1 byte) of a kernel core: exit 2 naming the file each time")


def sparse(d, name, head, size):
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)
    return path


def case_core_huge(d):
    eight = 8 << 30
    try:
        garbage = sparse(d, "huge-garbage.core", os.urandom(4096), eight)
    except OSError as e:
        skip(f"cannot make an 8 GiB sparse file in {d}: {e}")
    for path, want in ((garbage, "not an ELF file"),):
        start = time.monotonic()
        rc, out, err = vma("map", "--core", path, timeout=60)
        secs = time.monotonic() - start
        check(rc == 2 and want in err, f"8 GiB sparse garbage: exit {rc}, {err.strip()!r}")
        check(secs < 5, f"8 GiB sparse garbage: fails in {secs:.2f} s (< 5 s, without reading it)")
    # A real core with 8 GiB of holes after it: the reader only reads what the
    # headers point at.
    data = open(ARGS.core_seed, "rb").read()
    padded = sparse(d, "huge-padded.core", data, eight)
    start = time.monotonic()
    rc, out, err = vma("map", "--core", padded, timeout=60)
    secs = time.monotonic() - start
    check(rc == 0, f"a core followed by 8 GiB of holes reads: exit {rc} ({err.strip()})")
    check(secs < 5, f"... in {secs:.2f} s (< 5 s)")
    # Program headers claiming a segment at 7 GiB of a sparse file.
    b = bytearray(data)
    phoff, = struct.unpack_from("<Q", b, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", b, 0x36)
    for i in range(phnum):
        at = phoff + i * phentsize
        if struct.unpack_from("<I", b, at)[0] == 1:  # PT_LOAD
            struct.pack_into("<Q", b, at + 8, 7 << 30)  # p_offset: 7 GiB
            break
    far = sparse(d, "huge-far.core", bytes(b), eight)
    start = time.monotonic()
    rc, out, err = vma("map", "--core", far, timeout=60)
    secs = time.monotonic() - start
    no_signal(rc, "a segment at 7 GiB of a sparse core", err)
    check(secs < 5, f"... answered in {secs:.2f} s (< 5 s, exit {rc}: {err.strip()[:120]!r})")


def case_core_not_core(d):
    obj = write(d, "x.o", open(ARGS.core_seed, "rb").read()[:0])
    for path, want in ((ARGS.vma, "not a core file (ET_DYN)"), ("/bin/true", "not a core file (ET_DYN)"),
                       (ARGS.data + "/testee-linux-6.18.maps", "not an ELF file (no ELF magic at offset 0)"),
                       (obj, "empty file"), ("/proc/self/maps", "empty file")):
        rc, out, err = vma("map", "--core", path)
        check(rc == 2 and err.startswith(f"vma: {path}: ") and want in err, f"--core {path}: exit {rc}, {err.strip()!r}")
    rc, out, err = vma("fault", "--core", ARGS.vma)
    check(rc == 2 and "not a core file" in err, f"fault --core on an executable: exit {rc}, {err.strip()!r}")


def case_core_fifo_in_nt_file(d):
    """A core whose NT_FILE names a FIFO must not hang the reader (opening a
    FIFO for reading blocks until a writer appears)."""
    data = open(ARGS.core_seed, "rb").read()
    old = None
    for token in data.split(b"\0"):
        if token.startswith(b"/") and len(token) > 8 and b"(deleted)" not in token:
            old = token
            break
    if old is None:
        skip("the seed core names no file")
    # A FIFO path of the same length, so the note's layout stays as it is.
    if len(old) < 12:
        skip(f"the seed core's path {old!r} is too short to hold a FIFO path")
    fifo = ("/tmp/" + "".join(random.choice("abcdefghijklmnop") for _ in range(len(old) - 5))).encode()
    os.mkfifo(fifo)
    try:
        fifo_core(d, data, old, fifo)
    finally:
        os.unlink(fifo)


def fifo_core(d, data, old, fifo):
    path = write(d, "fifo.core", data.replace(old, fifo))
    start = time.monotonic()
    try:
        rc, out, err = vma("map", "--core", path, timeout=20)
    except subprocess.TimeoutExpired:
        check(False, f"a core naming a FIFO ({fifo.decode()}): vma hung for 20 s")
        return
    no_signal(rc, "a core naming a FIFO", err)
    check(time.monotonic() - start < 10, "a core naming a FIFO: answered without waiting for a writer")


# ---------------------------------------------------------------- pids
def case_pid_nonexistent(d):
    pid_max = int(open("/proc/sys/kernel/pid_max").read())
    pid = next(p for p in range(pid_max - 1, 1, -1) if not os.path.exists(f"/proc/{p}"))
    rc, out, err = vma("map", "--pid", str(pid))
    check(rc == 2 and str(pid) in err and "no such process" in err.lower(), f"--pid {pid}: exit {rc}, {err.strip()!r}")
    rc, out, err = vma("whereis", "--pid", str(pid), "0x1000")
    check(rc == 2 and str(pid) in err, f"whereis --pid {pid}: exit {rc}, {err.strip()!r}")
    for bad in ("-1", "0", "abc", "99999999999"):
        rc, out, err = vma("map", "--pid", bad)
        check(rc == 2 and err.startswith("vma: "), f"--pid {bad}: exit {rc}, {err.strip()!r}")


def case_pid_other_user(d):
    if os.geteuid() == 0:
        if subprocess.run(["setpriv", "--help"], capture_output=True).returncode != 0:
            skip("running as root without setpriv(1): cannot become another user")
        child = subprocess.Popen(["sleep", "60"])
        try:
            rc, out, err = vma("map", "--pid", str(child.pid), user=65534)
            target = child.pid
        finally:
            child.kill()
            child.wait()
    else:
        target = 1
        if os.stat("/proc/1").st_uid == os.geteuid():
            skip("pid 1 belongs to this user: no other user's process to try")
        rc, out, err = vma("map", "--pid", "1")
    check(rc == 2 and str(target) in err and "permission denied" in err.lower(),
          f"another user's pid {target}: exit {rc}, {err.strip()!r}")


def tasks_of(uid):
    """Threads (tasks) of every process of `uid`: what RLIMIT_NPROC counts."""
    n = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.stat(f"/proc/{pid}").st_uid == uid:
                n += len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            pass
    return n


def case_pid_no_threads(d):
    # `vma map --pid` reads with a second thread parsing and a third scanning
    # for guard pages. With RLIMIT_NPROC used up it cannot start them
    # (std::system_error): it must still answer, the same map, exit 0.
    if not ARGS.testee:
        skip("no --testee")
    if os.geteuid() != 0:
        skip("needs root: RLIMIT_NPROC is set for another user (uid 65534), whose processes can be counted")
    if subprocess.run(["setpriv", "--help"], capture_output=True).returncode != 0 or \
            subprocess.run(["prlimit", "--version"], capture_output=True).returncode != 0:
        skip("setpriv(1) or prlimit(1) missing (util-linux)")
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    # 3,000 VMAs: about 150 KiB of maps, more than the 64 KiB piece the
    # reader hands to its parser thread.
    testee, cli = reachable(ARGS.testee), reachable(ARGS.vma)  # run as nobody
    t = subprocess.Popen([*nobody, testee, "--vmas=3000"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    try:
        for line in t.stdout:
            if line.strip() == "ready":
                break
        normal = subprocess.run([*nobody, cli, "map", "--pid", str(t.pid)], capture_output=True)
        check(normal.returncode == 0 and len(normal.stdout) > 64 * 1024,
              f"the map without a limit: exit {normal.returncode}, {len(normal.stdout)} bytes")
        limit = tasks_of(65534) + 1  # the limited process itself: nothing to spare
        probe = subprocess.run([*nobody, "prlimit", f"--nproc={limit}", "/usr/bin/python3", "-c",
                                "import threading; threading.Thread(target=int).start()"], capture_output=True)
        check(probe.returncode != 0 and b"can't start new thread" in probe.stderr,
              f"RLIMIT_NPROC {limit} leaves no thread to start (python3 could not start one)")
        # Under the sanitizer suite: LeakSanitizer stops the world at exit with
        # a tracer thread of its own, which the same limit denies ("fatal
        # error", exit 1); leaks are checked by every other test.
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":detect_leaks=0").lstrip(":")
        limited = subprocess.run([*nobody, "prlimit", f"--nproc={limit}", cli, "map", "--pid", str(t.pid)],
                                 capture_output=True, env=env)
        no_signal(limited.returncode, "vma map with no thread to spare", limited.stderr.decode(errors="replace"))
        check(limited.returncode == 0 and limited.stdout == normal.stdout,
              f"with no thread to spare: exit {limited.returncode}, the same map "
              f"({len(limited.stdout)} bytes against {len(normal.stdout)}) {limited.stderr.decode(errors='replace')!r}")
    finally:
        t.kill()
        t.wait()


def case_pid_zombie(d):
    child = subprocess.Popen(["/bin/sh", "-c", "exit 0"])
    try:
        for _ in range(200):
            state = open(f"/proc/{child.pid}/stat").read().rsplit(")", 1)[1].split()[0]
            if state == "Z":
                break
            time.sleep(0.01)
        check(state == "Z", f"pid {child.pid} is a zombie (state {state})")
        for args in (["map", "--pid", str(child.pid)], ["map", "--pid", str(child.pid), "--json"],
                     ["whereis", "--pid", str(child.pid), "0x1000"]):
            rc, out, err = vma(*args)
            no_signal(rc, f"{' '.join(args[:1])} on zombie {child.pid}", err)
            check(rc == 2 and f"pid {child.pid}: a zombie" in err and not out,
                  f"zombie: exit 2 and an error naming the pid and its state: exit {rc}, {err.strip()!r}")
            print(f"   {args[0]}: exit {rc}: {err.strip()[:160]!r}")
    finally:
        child.wait()


def case_pid_kernel_thread(d):
    # PF_KTHREAD in the flags word of /proc/PID/stat (the 9th field).
    kthread = None
    for entry in sorted(os.listdir("/proc"), key=lambda e: (len(e), e)):
        if not entry.isdigit():
            continue
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[6]) & 0x00200000:
            kthread = int(entry)
            break
    if kthread is None:
        skip("no kernel thread is visible in this pid namespace")
    for args in (["map", "--pid", str(kthread)], ["whereis", "--pid", str(kthread), "0x1000"]):
        rc, out, err = vma(*args)
        no_signal(rc, f"{args[0]} on kernel thread {kthread}", err)
        check(rc == 2 and f"pid {kthread}: a kernel thread" in err and not out,
              f"kernel thread: exit 2 and an error saying so: exit {rc}, {err.strip()!r}")
        print(f"   {args[0]}: exit {rc}: {err.strip()[:160]!r}")


def case_pid_exiting(d):
    if not ARGS.testee:
        skip("no --testee")
    rng = random.Random(int(os.environ.get("VMAKIT_SEED", "1")))
    counts = {}
    msgs = set()
    for n in range(60):
        t = subprocess.Popen([ARGS.testee], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        try:
            t.stdout.readline()  # first line: it is running
            v = subprocess.Popen([ARGS.vma, "map", "--pid", str(t.pid), "--json"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
            time.sleep(rng.uniform(0, 0.012))  # vma takes ~10-20 ms on the testee
            t.kill()
            t.wait()  # reaped at once: gone, not a zombie, when vma looks next
            _, err = v.communicate(timeout=60)
            rc = v.returncode
        finally:
            t.kill()
            t.wait()
        counts[rc] = counts.get(rc, 0) + 1
        if rc == 2:
            msgs.add(err.decode(errors="replace").strip().replace(str(t.pid), "PID"))
        if rc not in (0, 2):
            check(False, f"run {n}: vma exit {rc} when its target was killed mid-read: {err.decode(errors='replace')}")
            return
    check(True, f"60 targets killed at 0-12 ms into a read: exits {counts}, never a signal")
    for m in sorted(msgs):
        print(f"   {m}")
        check(m.startswith("vma: pid PID"), "the error names the pid")


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--vma", required=True)
    ap.add_argument("--testee")
    ap.add_argument("--data", required=True)
    ap.add_argument("--core-seed", required=True)
    ap.add_argument("case", choices=sorted(CASES))
    ARGS = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="vmakit-robust-") as d:
        os.chmod(d, 0o755)
        CASES[ARGS.case](d)
    return 1 if failed() else 0


if __name__ == "__main__":
    sys.exit(main())
