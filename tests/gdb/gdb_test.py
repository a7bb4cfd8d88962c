#!/usr/bin/python3
"""End-to-end tests of the GDB front end (plugin/gdb): `gdb -batch -nx`
transcripts against the testee (tests/programs/testee.c).

    gdb_test.py --build DIR --testee PATH --cli PATH CASE

Each CASE is one ctest test. Every process started here is killed and
reaped, on success and on failure. Exit 0 pass, 1 fail.
"""

import argparse
import contextlib
import difflib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
import drawing  # noqa: E402
from merged import kernel_vmas, merged_checks, merged_text_rows, merged_values  # noqa: E402

TIMEOUT = 180  # seconds for one gdb run; the machine is shared and slow

ARGS = None
FAILURES = []


def check(cond, what, detail=""):
    if cond:
        print("ok: " + what)
    else:
        FAILURES.append(what)
        print("FAIL: " + what + (("\n    " + detail.replace("\n", "\n    ")) if detail else ""))


def script():
    return os.path.join(ARGS.build, "vma-gdb.py")


# ---------------------------------------------------------------------------
# Processes

class Testee:
    """The testee with its stdin held open; parsed "name address [tid]" lines.
    Closing stdin lets it exit; the destructor path kills and reaps."""

    def __init__(self, *extra):
        self.proc = subprocess.Popen([ARGS.testee, *extra], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.values = {}      # name -> [address, ...]
        self.tids = {}        # (name, address) -> tid
        deadline = time.time() + 60
        for line in self.proc.stdout:
            line = line.strip()
            if line == "ready":
                break
            parts = line.split()
            if len(parts) >= 2 and parts[1].startswith("0x"):
                addr = int(parts[1], 16)
                self.values.setdefault(parts[0], []).append(addr)
                if len(parts) >= 3:
                    self.tids[(parts[0], addr)] = int(parts[2])
            elif parts and parts[0] == "pid":
                self.pid = int(parts[1])
            if time.time() > deadline:
                break
        else:
            raise RuntimeError("testee exited before ready: " + self.proc.stderr.read())

    def first(self, name):
        return self.values[name][0]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self.proc.stdin.close()
            self.proc.wait(timeout=20)
        except Exception:
            self.proc.kill()
            self.proc.wait()


def run(cmd, timeout=TIMEOUT, **kw):
    """Runs cmd; returns (rc, stdout, stderr). The process group is killed on timeout."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True, stdin=subprocess.DEVNULL, **kw)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        err += "\n[killed after %d s]" % timeout
    return p.returncode, out, err


def gdb(commands, pre=(), args=(), timeout=TIMEOUT, env=None):
    """gdb -batch -nx with vma-gdb.py loaded; commands are -ex lines. Each
    command is preceded by `echo @@@N\\n` so sections() can split stdout."""
    cmd = ["gdb", "-batch", "-nx", *pre, "-x", script()]
    for i, c in enumerate(commands):
        cmd += ["-ex", "echo @@@%d\\n" % i, "-ex", c]
    cmd += ["-ex", "echo @@@end\\n"]
    cmd += list(args)
    return run(cmd, timeout=timeout, env=env)


def sections(out, n):
    """stdout of gdb() split into the output of each command."""
    parts = {}
    cur = None
    for line in out.splitlines(keepends=True):
        m = re.match(r"^@@@(\d+|end)$", line.strip())
        if m:
            cur = None if m.group(1) == "end" else int(m.group(1))
            parts.setdefault(cur, "")
            continue
        if cur is not None:
            parts[cur] = parts.get(cur, "") + line
    return [parts.get(i, "") for i in range(n)]


def parse_json(text, what):
    try:
        return json.loads(text)
    except ValueError as e:
        check(False, what + ": output is JSON", "%s\n%s" % (e, text[:2000]))
        return None


def no_traceback(out, err, what):
    both = out + err
    check("Traceback" not in both and "Python Exception" not in both,
          what + ": no Python traceback", both[-2000:])


# ---------------------------------------------------------------------------
# JSON helpers (the contract in render.h / README)

def kind(a):
    return a.get("kind")


def tid(a):
    for k in ("thread", "tid"):
        if a.get(k) is not None:
            return a[k]
    reg = a.get("region") or {}
    return reg.get("tid")


def region_bounds(r):
    return int(r["start"], 16), int(r["end"], 16)


# ---------------------------------------------------------------------------
# Cases

def case_python_abi():
    """The module must be built for the Python GDB embeds."""
    rc, out, err = run(["gdb", "-batch", "-nx", "-ex",
                        "python import sys, platform, importlib.machinery; "
                        "print('VER', platform.python_version()); "
                        "print('SUFFIX', importlib.machinery.EXTENSION_SUFFIXES[0])"])
    ver = re.search(r"^VER (\S+)$", out, re.M)
    suffix = re.search(r"^SUFFIX (\S+)$", out, re.M)
    check(rc == 0 and ver and suffix, "gdb reports its Python", out + err)
    if not (ver and suffix):
        return
    modules = [n for n in os.listdir(ARGS.build) if n.startswith("_vmakit") and n.endswith(".so")]
    check(modules == ["_vmakit" + suffix.group(1)],
          "the build tree holds exactly _vmakit%s" % suffix.group(1), "found: %s" % modules)
    # Import it inside GDB and compare the Python it was compiled against.
    rc, out, err = run(["gdb", "-batch", "-nx", "-ex",
                        "python import sys; sys.path.insert(0, %r); import _vmakit, platform; "
                        "print('BUILT', _vmakit.python_version, 'RUN', platform.python_version())"
                        % ARGS.build])
    m = re.search(r"^BUILT (\S+) RUN (\S+)$", out, re.M)
    check(m is not None, "GDB's Python imports _vmakit", out + err)
    if m:
        check(m.group(1) == m.group(2),
              "module built for Python %s, GDB embeds %s" % (m.group(1), m.group(2)))
    rc, out, err = gdb(["help vma"])
    check("vma whereis" in out and "vma map" in out and "vma fault" in out,
          "help vma lists whereis, map, fault", out + err)
    no_traceback(out, err, "loading vma-gdb.py")


EXPECTED_KINDS = {
    "global_data": "data", "global_bss": "bss", "rodata": "rodata", "relro": "relro",
    "text": "text", "libc_text": "text", "main_stack": "stack", "heap": "heap",
    "arena": "heap", "thread_stack": "thread-stack", "anon": "anon", "guard": "guard",
    "madv_guard": "guard", "memfd": "shared", "deleted": "file", "gap": "unmapped",
}
# 2^56: non-canonical with 4-level and 5-level paging alike (2^47 is user
# space with 5-level paging, and a core cannot tell which it had).
FIXED = [("null", 0, "null-page"), ("kernel", 0xffffffff81000000, "kernel"),
         ("noncanonical", 0x0100000000000000, "non-canonical")]


def testee_addresses(t):
    """[(label, address, expected kind, expected tid or None)]"""
    out = []
    for name, kind_ in EXPECTED_KINDS.items():
        for a in t.values.get(name, []):
            want_tid = t.tids.get((name, a)) if name == "thread_stack" else None
            if name == "main_stack":
                want_tid = t.pid
            out.append(("%s %#x" % (name, a), a, kind_, want_tid))
    for label, a, k in FIXED:
        out.append((label, a, k, None))
    return out


def case_live_whereis():
    with Testee() as t:
        if "madv_guard" not in t.values:
            print("note: MADV_GUARD_INSTALL unsupported by this kernel (6.13+); not checked")
        addrs = testee_addresses(t)
        exprs = ["%#x" % a for _, a, _, _ in addrs]
        cmds = ["vma whereis --json " + " ".join(exprs),
                "vma whereis $rsp",
                "vma whereis --json $rsp $pc &global_data &global_bss *(void **)$rsp",
                "vma whereis &global_data",
                "vma whereis --json main global_data"]
        rc, out, err = gdb(cmds, pre=["-p", str(t.pid)])
        no_traceback(out, err, "live whereis")
        s = sections(out, len(cmds))
        js = parse_json(s[0], "whereis --json of the testee's addresses")
        if js is not None:
            check(len(js) == len(addrs), "one annotation per address", s[0][:500])
            for (label, a, want, want_tid), got in zip(addrs, js):
                check(kind(got) == want, "%s is %s" % (label, want),
                      "got %s: %s" % (kind(got), json.dumps(got)[:600]))
                if want_tid is not None:
                    check(tid(got) == want_tid, "%s has tid %d" % (label, want_tid),
                          "got %s" % tid(got))
        check(re.search(r"\bstack\b", s[1]) is not None and "thread-stack" not in s[1],
              "vma whereis $rsp says stack", s[1] + err[-1000:])
        js = parse_json(s[2], "whereis --json of GDB expressions")
        if js is not None and len(js) == 5:
            check([kind(x) for x in js[:4]] == ["stack", "text", "data", "bss"],
                  "$rsp $pc &global_data &global_bss: stack text data bss",
                  str([kind(x) for x in js]))
            # *(void **)$rsp: whatever the word at the stack pointer holds; it
            # must be annotated (not an error) and agree with a plain number.
            check(kind(js[4]) is not None, "*(void **)$rsp is annotated")
        else:
            check(False, "five annotations for five expressions", s[2][:1000] + err[-1000:])
        check("global_data" in s[3] or ".data" in s[3], "text output names the symbol or section",
              s[3])
        js = parse_json(s[4], "whereis of a function and an int variable")
        if js is not None:
            check([kind(x) for x in js] == ["text", "null-page"],
                  "`main` (a function) is text; `global_data` (an int, value 42) is the "
                  "address 42: null-page",
                  str([kind(x) for x in js]))


def case_live_json_equals_cli():
    if not os.access(ARGS.cli, os.X_OK):
        check(False, "the CLI exists at %s" % ARGS.cli)
        return
    with Testee() as t:
        addrs = testee_addresses(t)
        exprs = ["%#x" % a for _, a, _, _ in addrs]
        # The CLI runs from inside GDB, while GDB holds the process stopped.
        cli = [ARGS.cli, "whereis", "--pid", str(t.pid), "--json", *exprs]
        cli_map = [ARGS.cli, "map", "--pid", str(t.pid), "--json"]
        py = ("python import subprocess; r = subprocess.run(%r, capture_output=True, text=True); "
              "gdb.write(r.stdout + ('\\nCLI-STDERR ' + r.stderr if r.returncode else ''))")
        cli_text = [ARGS.cli, "whereis", "--pid", str(t.pid), "--color", "never", *exprs]
        cli_map_text = [ARGS.cli, "map", "--pid", str(t.pid), "--color", "never", "--gaps"]
        cmds = ["vma whereis --json " + " ".join(exprs), py % (cli,),
                "vma map --json", py % (cli_map,),
                "vma whereis " + " ".join(exprs), py % (cli_text,),
                "vma map --gaps", py % (cli_map_text,)]
        rc, out, err = gdb(cmds, pre=["-p", str(t.pid)])
        no_traceback(out, err, "json vs cli")
        s = sections(out, len(cmds))
        g, c = parse_json(s[0], "gdb whereis --json"), parse_json(s[1], "cli whereis --json")
        if g is not None and c is not None:
            check(g == c, "vma whereis --json in GDB equals `vma whereis --pid --json`",
                  diff(g, c))
        g, c = parse_json(s[2], "gdb map --json"), parse_json(s[3], "cli map --json")
        if g is not None and c is not None:
            check(g == c, "vma map --json in GDB equals `vma map --pid --json`", diff(g, c))
        for i, what in ((4, "vma whereis"), (6, "vma map --gaps")):
            check(s[i] == s[i + 1] and s[i].strip(), "%s text in GDB equals the CLI's" % what,
                  "\n".join(difflib.unified_diff(s[i].splitlines(), s[i + 1].splitlines(),
                                                 "gdb", "cli", lineterm=""))[:3000])


def diff(a, b):
    return "\n".join(list(difflib.unified_diff(json.dumps(a, indent=1, sort_keys=True).splitlines(),
                                               json.dumps(b, indent=1, sort_keys=True).splitlines(),
                                               "gdb", "cli", lineterm=""))[:80])


def info_proc_rows(text):
    rows = []
    for line in text.splitlines():
        m = re.match(r"^\s*(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+"
                     r"([r-][w-][x-][ps])\s*(.*)$", line)
        if m:
            rows.append((int(m.group(1), 16), int(m.group(2), 16), m.group(3), m.group(4).strip()))
    return rows


def case_live_map_bounds():
    """Every region of the live process: the same bounds and perms as GDB's
    `info proc mappings`, and a kind for each."""
    with Testee() as t:
        cmds = ["vma map --json", "info proc mappings", "vma map", "vma map --kind thread-stack --json",
                "vma map --gaps --json"]
        rc, out, err = gdb(cmds, pre=["-p", str(t.pid)])
        no_traceback(out, err, "live map")
        s = sections(out, len(cmds))
        js = parse_json(s[0], "vma map --json")
        rows = info_proc_rows(s[1])
        check(len(rows) > 10, "info proc mappings lists the testee's mappings (%d)" % len(rows),
              s[1][:1000])
        if js is None:
            return
        regions = js["regions"] if isinstance(js, dict) else js
        # A VMA that holds two things is listed as its parts: fold them back.
        mine = [(region_bounds(r), r.get("perms")) for r in kernel_vmas(regions)]
        theirs = [((a, b), p) for a, b, p, _ in rows]
        check(mine == theirs, "%d regions: bounds and perms equal `info proc mappings`"
              % len(theirs), "\n".join("vma  %s\ngdb  %s" % (x, y) for x, y in zip(mine, theirs)
                                       if x != y)[:3000] + "\ncounts %d %d" % (len(mine), len(theirs)))
        kinds = [r.get("kind") for r in regions]
        for k in ("text", "data", "heap", "stack", "thread-stack", "guard", "vdso", "shared", "file"):
            check(k in kinds, "vma map has a %s region" % k, str(sorted(set(kinds))))
        check(all(k for k in kinds), "every region has a kind")
        check(re.search(r"\bheap\b", s[2]) and re.search(r"\bstack\b", s[2]),
              "vma map text lists heap and stack", s[2][:2000])
        ts = parse_json(s[3], "vma map --kind thread-stack --json")
        if ts is not None:
            tregs = ts["regions"] if isinstance(ts, dict) else ts
            want = sorted(v for (n, _), v in t.tids.items() if n == "thread_stack")
            check(sorted(r.get("tid", r.get("thread")) for r in tregs) == want,
                  "--kind thread-stack: one region per thread with its TID %s" % want,
                  json.dumps(tregs)[:1500])
        gaps = parse_json(s[4], "vma map --gaps --json")
        if gaps is not None:
            gregs = gaps["regions"] if isinstance(gaps, dict) else gaps
            check(any(r.get("kind") == "unmapped" for r in gregs), "--gaps adds unmapped entries")


def case_merged_bss():
    """One kernel VMA holding a library's .bss and anonymous pages the testee
    mapped flush after it: live (gdb -p) and in a core GDB writes of it."""
    with Testee("--merge-bss") as t, tempfile.TemporaryDirectory(prefix="vmakit-gdb-") as d:
        try:
            vals = merged_values([[n, hex(a)] for n, v in t.values.items() for a in v])
        except AssertionError as e:
            check(False, str(e))
            return
        addrs = "%#x %#x" % (vals["merged_bss"], vals["merged_anon"])
        core = os.path.join(d, "testee.core")
        cmds = ["vma whereis --json " + addrs, "vma map --json", "vma map", "gcore " + core]
        rc, out, err = gdb(cmds, pre=["-p", str(t.pid)])
        no_traceback(out, err, "merged .bss, live")
        s = sections(out, len(cmds))
        js, mp = parse_json(s[0], "live whereis --json"), parse_json(s[1], "live map --json")
        if js is None or mp is None or len(js) != 2:
            check(False, "live: two annotations and a map", s[0][:1000] + err[-1000:])
            return
        for ok, what, detail in merged_checks(vals, js[0], js[1], mp["regions"]):
            check(ok, "live: " + what, json.dumps(detail)[:1500])
        rows = merged_text_rows(vals, s[2])
        check(len(rows) == 2, "live: map text shows both parts with their note", s[2][-3000:])
        if not os.path.exists(core):
            check(False, "gdb wrote a core", err[-1500:])
            return
        cmds = ["vma whereis --json " + addrs, "vma map --json"]
        rc, out, err = gdb(cmds, args=[ARGS.testee, core])
        no_traceback(out, err, "merged .bss, core")
        s = sections(out, len(cmds))
        js, mp = parse_json(s[0], "core whereis --json"), parse_json(s[1], "core map --json")
        if js is None or mp is None or len(js) != 2:
            check(False, "core: two annotations and a map", s[0][:1000] + err[-1000:])
            return
        for ok, what, detail in merged_checks(vals, js[0], js[1], mp["regions"]):
            check(ok, "core: " + what, json.dumps(detail)[:1500])


def case_launch_breakpoint():
    """Launched under GDB, stopped at a breakpoint in crash()."""
    cmds = ["break crash", "run --crash=null-read",
            "vma whereis --json $rsp $pc &global_data &global_bss &rodata_string",
            "vma whereis $pc", "up",
            "python print('SEL', gdb.selected_thread().num, gdb.selected_frame().level())",
            "vma map --kind stack",
            "python print('SEL', gdb.selected_thread().num, gdb.selected_frame().level())",
            "kill"]
    rc, out, err = gdb(cmds, args=["--args", ARGS.testee])
    no_traceback(out, err, "launched")
    s = sections(out, len(cmds))
    check(s[5].strip() == "SEL 1 1" and s[7].strip() == "SEL 1 1",
          "vma map leaves the selected thread and frame as they were", s[5] + s[7])
    js = parse_json(s[2], "whereis --json at a breakpoint")
    if js is not None:
        check([kind(x) for x in js] == ["stack", "text", "data", "bss", "rodata"],
              "at a breakpoint: $rsp stack, $pc text, &global_data data, &global_bss bss, "
              "&rodata_string rodata", str([kind(x) for x in js]))
    check("crash" in s[3], "vma whereis $pc names the function (crash)", s[3])


FAULTS = {
    # kind: (signal, si_code, region kind of the annotated address)
    "text-write": ("SIGSEGV", "SEGV_ACCERR", "text"),
    "null-read": ("SIGSEGV", "SEGV_MAPERR", "null-page"),
    "guard": ("SIGSEGV", "SEGV_ACCERR", "guard"),
    "noncanonical": ("SIGSEGV", "SI_KERNEL", None),
    "sigbus": ("SIGBUS", "BUS_ADRERR", "file"),
}


def case_fault(which):
    sig, code, want_kind = FAULTS[which]
    cmds = ["run --crash=" + which, "vma fault", "vma fault --json", "kill"]
    rc, out, err = gdb(cmds, args=["--args", ARGS.testee])
    no_traceback(out, err, "fault " + which)
    s = sections(out, len(cmds))
    text = s[1]
    check(sig in text, "vma fault says %s" % sig, text + err[-800:])
    check(code in text, "vma fault says %s" % code, text)
    if want_kind:
        check(re.search(r"\b%s\b" % re.escape(want_kind), text) is not None,
              "vma fault says %s" % want_kind, text)
    js = parse_json(s[2], "vma fault --json")
    if js is not None:
        blob = json.dumps(js)
        check(sig in blob and code in blob, "fault JSON has %s and %s" % (sig, code), blob[:1500])
        if want_kind:
            check('"%s"' % want_kind in blob, "fault JSON has kind %s" % want_kind, blob[:1500])


def case_fault_sent_by_kill():
    """A SIGSEGV sent with kill() (SI_USER) carries no fault address: the
    siginfo union holds si_pid there, and vma fault must not annotate it.
    Issue 22: it is no memory fault, and says so (it annotated the pc)."""
    with Testee() as t:
        cmds = ["python import os, signal; os.kill(%d, signal.SIGSEGV)" % t.pid, "continue",
                "vma fault --json", "vma fault", "kill"]
        rc, out, err = gdb(cmds, pre=["-p", str(t.pid)])
        no_traceback(out, err, "fault sent by kill")
        s = sections(out, len(cmds))
        js = parse_json(s[2], "vma fault --json after kill -SEGV")
        if js is not None:
            check(js.get("code") == "SI_USER" and js.get("signal") == "SIGSEGV",
                  "SIGSEGV SI_USER", json.dumps(js)[:800])
            check(js.get("addr") is None, "no fault address for SI_USER", json.dumps(js)[:800])
            check(js.get("at") is None and js.get("memory_fault") is False and js.get("pc"),
                  "not a memory fault: nothing annotated, the pc given", json.dumps(js)[:800])
        check("SIGSEGV (SI_USER): not a memory fault" in s[3], "text names SI_USER, not a memory fault", s[3])


def case_errors():
    cases = [
        # (what, pre, commands, expected message part)
        ("no process: whereis", [], ["vma whereis $rsp"], "no process"),
        ("no process: map", [], ["vma map"], "no process"),
        ("no process: fault", [], ["vma fault"], "no process"),
        ("exited process", ["--args", ARGS.testee], ["run </dev/null", "vma map"], "no process"),
        ("bad expression", ["--args", ARGS.testee, "--crash=null-read"],
         ["run", "vma whereis no_such_symbol_xyz"], 'No symbol "no_such_symbol_xyz"'),
        ("bad expression syntax", ["--args", ARGS.testee, "--crash=null-read"],
         ["run", "vma whereis )("], "cannot evaluate"),
        ("unknown flag", ["--args", ARGS.testee, "--crash=null-read"],
         ["run", "vma map --bogus"], "unknown option --bogus"),
        ("unknown flag whereis", ["--args", ARGS.testee, "--crash=null-read"],
         ["run", "vma whereis --jsn $pc"], "unknown option --jsn"),
        ("unknown kind", ["--args", ARGS.testee, "--crash=null-read"],
         ["run", "vma map --kind nosuchkind"], 'unknown region kind "nosuchkind"'),
        ("no address", ["--args", ARGS.testee, "--crash=null-read"],
         ["run", "vma whereis"], "no address given"),
        ("struct value", ["--args", ARGS.testee, "--crash=null-read"],
         ["run", "vma whereis $_siginfo"], "not an address"),
        ("unknown subcommand", [], ["vma frobnicate"], 'unknown subcommand "frobnicate"'),
    ]
    for what, pre, cmds, want in cases:
        args = []
        if "--args" in pre:
            args, pre = pre, []
        rc, out, err = gdb(cmds + ["kill"], pre=pre, args=args)
        no_traceback(out, err, what)
        if want:
            check(want in err, "%s: GDB error says %r" % (what, want), err[-1500:])
        # Each failing vma command's message starts with the command's name.
        check(re.search(r"^vma( \w+)?: ", err, re.M) is not None,
              "%s: the error names the command" % what, err[-1500:])


@contextlib.contextmanager
def gdbserver(*extra):
    """gdbserver on an ephemeral port with the testee crashing after 'ready'
    (extra: more testee arguments); yields the port (None when it did not
    start). The server's process group is killed and reaped on the way out."""
    p, port = free_gdbserver(*extra)
    try:
        check(port is not None, "gdbserver listens")
        yield port
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.wait()


def free_gdbserver(*extra):
    """Starts gdbserver on an ephemeral port with the testee crashing after
    'ready'; returns (proc, port)."""
    p = subprocess.Popen(["gdbserver", "--once", "127.0.0.1:0", ARGS.testee, "--crash=null-read", *extra],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, start_new_session=True)
    port = None
    deadline = time.time() + 60
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        m = re.search(r"Listening on port (\d+)", line)
        if m:
            port = int(m.group(1))
            break
    return p, port


def case_remote():
    if shutil.which("gdbserver") is None:
        check(False, "gdbserver is installed (apt install gdbserver)")
        return
    with gdbserver() as port:
        if port is None:
            return
        cmds = ["target remote 127.0.0.1:%d" % port, "continue",
                "python inf = gdb.selected_inferior(); print('CONN', inf.connection.type, "
                "'PID', inf.pid, 'LWPS', ','.join(str(t.ptid[1]) for t in inf.threads()))",
                "vma map --json", "vma map", "vma whereis --json $rsp $pc &global_data",
                "vma fault",
                # The fallback when the remote's /proc cannot be read through
                # vFile: GDB's `info proc mappings` (no dev, no inode).
                "python inf = gdb.selected_inferior(); import _vmakit; "
                "print(_vmakit.Source.regions(_info_proc_mappings_rows(), 'fallback', "
                "_threads(inf), inf.pid, 'x86_64').map(json=True))",
                "kill"]
        rc, out, err = gdb(cmds, args=[ARGS.testee])
        no_traceback(out, err, "remote")
        js = parse_json(sections(out, len(cmds))[7], "fallback map --json")
        if js is not None:
            kinds = {r.get("kind") for r in js["regions"]}
            for k in ("heap", "stack", "text", "thread-stack", "guard"):
                check(k in kinds, "remote fallback (info proc mappings) classifies %s" % k,
                      str(sorted(kinds)))
        s = sections(out, len(cmds))
        check("CONN remote" in s[2], "GDB is on a remote connection", s[2] + err[-500:])
        js = parse_json(s[3], "remote vma map --json")
        if js is not None:
            regions = js["regions"] if isinstance(js, dict) else js
            kinds = {r.get("kind") for r in regions}
            for k in ("heap", "stack", "text", "thread-stack", "data"):
                check(k in kinds, "remote map classifies %s" % k, str(sorted(kinds)))
            tids = sorted(tid(r) for r in regions if r.get("kind") == "thread-stack")
            m = re.search(r"PID (\d+) LWPS ([\d,]+)", s[2])
            lwps = sorted(int(x) for x in m.group(2).split(",")) if m else []
            pid = int(m.group(1)) if m else None
            check(len(tids) == 2 and tids == [x for x in lwps if x != pid],
                  "remote thread stacks carry the threads' TIDs (GDB's LWPs but the main one)",
                  "%s vs %s" % (tids, lwps))
        js = parse_json(s[5], "remote whereis --json")
        if js is not None:
            check([kind(x) for x in js] == ["stack", "text", "data"],
                  "remote: $rsp stack, $pc text, &global_data data", str([kind(x) for x in js]))
        check("SEGV_MAPERR" in s[6] and "null-page" in s[6], "remote vma fault: SEGV_MAPERR, null-page",
              s[6])


def case_non_utf8():
    """A mapped file whose name is not UTF-8 (a path is bytes): GDB takes str,
    so text shows the bytes as \\xNN escapes and JSON as U+FFFD (as the CLI's
    JSON does); live and through gdbserver, where the maps file arrives as
    bytes over vFile."""
    d = tempfile.mkdtemp(prefix="vmakit-gdb-")
    raw = os.path.join(os.fsencode(d), b"vmakit-\xff\xfe.bin")
    with open(raw, "wb") as f:
        f.write(b"x" * 4096)
    arg = "--map-file=" + os.fsdecode(raw)  # surrogateescape: the same bytes in argv
    escaped = d + "/vmakit-\\xff\\xfe.bin"
    replaced = d + "/vmakit-\ufffd\ufffd.bin"
    try:
        with Testee(arg) as t:
            addr = t.first("mapped_file")
            py = ("python import subprocess; r = subprocess.run(%r, capture_output=True); "
                  "gdb.write(r.stdout.decode() + ('CLI-STDERR ' + r.stderr.decode() if r.returncode else ''))")
            cmds = ["vma map", "vma whereis %#x" % addr, "vma map --json",
                    py % ([ARGS.cli, "map", "--pid", str(t.pid), "--json"],)]
            rc, out, err = gdb(cmds, pre=["-p", str(t.pid)])
            no_traceback(out, err, "non-UTF-8 name, live")
            s = sections(out, len(cmds))
            check("internal error" not in out + err, "non-UTF-8 name, live: no internal error", (out + err)[-1500:])
            row = [l for l in s[0].splitlines() if l.startswith("0x%016x" % addr)]
            check(len(row) == 1 and escaped in row[0], "live vma map text shows the name's bytes as \\xNN",
                  "\n".join(row) or s[0][-1500:])
            check(escaped in s[1],
                  "live vma whereis text shows the name's bytes as \\xNN", s[1])
            g, c = parse_json(s[2], "gdb map --json"), parse_json(s[3], "cli map --json")
            if g is not None and c is not None:
                check(g == c, "live vma map --json in GDB equals the CLI's", diff(g, c))
                paths = [r.get("path") for r in g["regions"] if int(r["start"], 16) == addr]
                check(paths == [replaced], "live JSON names it with U+FFFD", str(paths))
        with gdbserver(arg) as port:
            if port is None:
                return
            cmds = ["target remote 127.0.0.1:%d" % port, "continue", "vma map", "vma map --json", "kill"]
            rc, out, err = gdb(cmds, args=[ARGS.testee])
            no_traceback(out, err, "non-UTF-8 name, remote")
            s = sections(out, len(cmds))
            check("internal error" not in out + err, "non-UTF-8 name, remote: no internal error", (out + err)[-1500:])
            check(escaped in s[2], "remote vma map text shows the name's bytes as \\xNN", s[2][-1500:])
            js = parse_json(s[3], "remote map --json")
            if js is not None:
                paths = [r.get("path") for r in js["regions"] if (r.get("path") or "").startswith(d)]
                check(paths == [replaced], "remote JSON names it with U+FFFD", str(paths))
    finally:
        shutil.rmtree(d, ignore_errors=True)


def whereis_on_core(t, core, skip, what):
    """vma whereis --json of every testee address with GDB on `core`;
    returns the kinds by label."""
    addrs = testee_addresses(t)
    cmds = ["python import _vmakit; print('CORESRC', _vmakit.has_core_source)",
            "vma whereis --json " + " ".join("%#x" % a for _, a, _, _ in addrs),
            "vma map", "vma fault"]
    rc, out, err = gdb(cmds, args=[ARGS.testee, core])
    no_traceback(out, err, what)
    s = sections(out, len(cmds))
    if "CORESRC False" in s[0]:
        check("core-file reader" in err, "%s: without CoreSource, a clear error" % what,
              err[-800:])
        return None
    js = parse_json(s[1], "whereis --json on a " + what)
    if js is None:
        return None
    for (label, a, want, want_tid), got in zip(addrs, js):
        if label.split()[0] in skip:
            continue
        check(kind(got) == want, "%s: %s is %s" % (what, label, want),
              "got %s: %s" % (kind(got), json.dumps(got)[:500]))
        if want_tid is not None:
            check(tid(got) == want_tid, "%s: %s has tid %d" % (what, label, want_tid),
                  "got %s" % tid(got))
    check(re.search(r"\bheap\b", s[2]) and re.search(r"\bthread-stack\b", s[2]),
          "%s: vma map lists heap and thread stacks" % what, s[2][:1500] + err[-800:])
    return s


def case_core_kernel():
    """A kernel-written core of the testee (--crash=null-read after 'ready')."""
    with open("/proc/sys/kernel/core_pattern") as f:
        pattern = f.read().strip()
    if pattern.startswith("|"):
        print("SKIP: kernel.core_pattern pipes cores to %s; no core file to read" % pattern)
        sys.exit(77)
    import resource
    tmp = tempfile.mkdtemp(prefix="vmakit-gdb-kcore-")
    try:
        def limits():
            try:
                resource.setrlimit(resource.RLIMIT_CORE,
                                   (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            except (ValueError, OSError):  # unprivileged: as far as the hard limit goes
                hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
                resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
        proc = subprocess.Popen([ARGS.testee, "--crash=null-read"], cwd=tmp, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                preexec_fn=limits)
        t = Testee.__new__(Testee)
        t.proc, t.values, t.tids = proc, {}, {}
        out, _ = proc.communicate(timeout=120)
        for line in out.splitlines():
            parts = line.split()
            if parts and parts[0] == "pid":
                t.pid = int(parts[1])
            elif len(parts) >= 2 and parts[1].startswith("0x"):
                a = int(parts[1], 16)
                t.values.setdefault(parts[0], []).append(a)
                if len(parts) >= 3:
                    t.tids[(parts[0], a)] = int(parts[2])
        check(proc.returncode == -signal.SIGSEGV, "testee died of SIGSEGV", str(proc.returncode))
        cores = [os.path.join(tmp, n) for n in os.listdir(tmp) if n.startswith("core")]
        if not cores:
            print("SKIP: the kernel wrote no core to %s (core_pattern %r, RLIMIT_CORE hard "
                  "limit %r)" % (tmp, pattern, resource.getrlimit(resource.RLIMIT_CORE)[1]))
            sys.exit(77)
        # A kernel core keeps every VMA; MADV guard pages are invisible in
        # cores (core_source.h), the rest classifies as it did live.
        s = whereis_on_core(t, cores[0], {"madv_guard"}, "kernel core")
        if s is not None:
            check("SIGSEGV" in s[3] and "SEGV_MAPERR" in s[3] and "null-page" in s[3],
                  "kernel core: vma fault says SIGSEGV SEGV_MAPERR null-page", s[3])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def case_core_gcore():
    """gcore of the live testee. gcore writes no PT_LOAD for unmodified
    file-backed read-only segments (text, rodata) and writes PROT_NONE
    segments as readable, so only what a gcore keeps is compared."""
    tmp = tempfile.mkdtemp(prefix="vmakit-gdb-gcore-")
    try:
        with Testee() as t:
            core = os.path.join(tmp, "core")
            rc, out, err = run(["gdb", "-batch", "-nx", "-p", str(t.pid), "-ex", "gcore " + core])
            check(os.path.exists(core), "gcore wrote a core", err[-800:])
            if not os.path.exists(core):
                return
        lossy = {"madv_guard", "guard", "text", "libc_text", "rodata", "memfd", "deleted", "anon"}
        whereis_on_core(t, core, lossy, "gcore")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def case_install():
    """cmake --install, then the one .gdbinit line from a fresh directory."""
    tmp = tempfile.mkdtemp(prefix="vmakit-gdb-install-")
    try:
        # The gdb component alone: a full install needs every target built.
        rc, out, err = run(["cmake", "--install", ARGS.build, "--prefix", tmp,
                            "--component", "gdb"])
        check(rc == 0, "cmake --install", out[-1500:] + err[-1500:])
        installed = os.path.join(tmp, "share", "vmakit", "gdb", "vma-gdb.py")
        check(os.path.exists(installed), "installed " + installed)
        init = os.path.join(tmp, "gdbinit")
        with open(init, "w") as f:
            f.write("source %s\n" % installed)
        with Testee() as t:
            rc, out, err = run(["gdb", "-batch", "-nx", "-x", init, "-p", str(t.pid),
                                "-ex", "vma whereis $rsp"], cwd=tmp)
        no_traceback(out, err, "installed")
        check(re.search(r"\bstack\b", out) is not None,
              "installed vma-gdb.py: vma whereis $rsp says stack", out[-1500:] + err[-1500:])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def case_draw():
    env = dict(os.environ, COLUMNS="80", LINES="40")
    d = tempfile.mkdtemp(prefix="vma-gdb-draw.")
    try:
        with Testee() as t:
            madv = t.first("madv_guard")
            svg = os.path.join(d, "map.svg")
            cmds = ["vma map --draw --mark %#x" % madv, "vma map --svg %s --mark &global_data" % svg,
                    "vma map --draw --json", "vma map --mark 0x1000", "vma map --svg /nonexistent/x.svg"]
            rc, out, err = gdb(cmds, pre=["-p", str(t.pid)], env=env)
            no_traceback(out, err, "vma map --draw")
            s = sections(out, len(cmds))
            tids = [t.tids[("thread_stack", a)] for a in t.values["thread_stack"]]
            for ok, what in drawing.testee_checks(s[0], madv, tids):
                check(ok, "vma map --draw: " + what, s[0])
            body = open(svg).read() if os.path.exists(svg) else ""
            check("<title>" in body and 'class="mark"' in body, "vma map --svg FILE --mark EXPR writes the SVG")
            check("not with --json" in err, "--draw --json is refused", err)
            check("--mark: give --draw or --svg FILE too" in err, "--mark alone is refused", err)
            check("--svg /nonexistent/x.svg: cannot write: No such file or directory" in err,
                  "--svg into a missing directory names the path", err)
        cmds = ["run --crash=guard", "vma fault --draw", "kill"]
        rc, out, err = gdb(cmds, args=["--args", ARGS.testee], env=env)
        no_traceback(out, err, "vma fault --draw")
        text = sections(out, len(cmds))[1]
        for ok, what in drawing.fault_checks(text, "guard"):
            check(ok, what, text + err[-800:])
    finally:
        shutil.rmtree(d, ignore_errors=True)


CASES = {
    "draw": case_draw,
    "python_abi": case_python_abi,
    "live_whereis": case_live_whereis,
    "live_json_equals_cli": case_live_json_equals_cli,
    "live_map_bounds": case_live_map_bounds,
    "merged_bss": case_merged_bss,
    "launch_breakpoint": case_launch_breakpoint,
    "errors": case_errors,
    "fault_sent_by_kill": case_fault_sent_by_kill,
    "remote": case_remote,
    "non_utf8": case_non_utf8,
    "core_kernel": case_core_kernel,
    "core_gcore": case_core_gcore,
    "install": case_install,
}
for _k in FAULTS:
    CASES["fault_" + _k.replace("-", "_")] = (lambda k: lambda: case_fault(k))(_k)


def main():
    global ARGS
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--testee", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("case", choices=sorted(CASES))
    ARGS = ap.parse_args()
    ARGS.build, ARGS.testee, ARGS.cli = (os.path.abspath(p) for p in (ARGS.build, ARGS.testee, ARGS.cli))
    CASES[ARGS.case]()
    print("%s: %d failed" % (ARGS.case, len(FAILURES)))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
