#!/usr/bin/python3
"""End-to-end tests of the LLDB plugin (plugin/lldb, libvma-lldb.so):
`lldb -b` transcripts against the testee (tests/programs/testee.c).

    lldb_test.py --plugin SO --testee PATH [--cli PATH] [--lldb LLDB]
                 [--lldb-server SERVER] CASE

CASE is one of: whereis, cli-equal, regions, fault-text-write,
fault-null-read, fault-guard, fault-noncanonical, fault-sigbus, errors,
remote, remote-fault, launch, core. Each is one ctest test. Every process started here is killed
and reaped, on success and on failure. Exit 0 pass, 1 fail.
"""

import argparse
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
from host import kind_above_47_bits  # noqa: E402
from merged import kernel_vmas, merged_checks, merged_text_rows, merged_values  # noqa: E402

TIMEOUT = 240  # seconds for one lldb run; the machine is shared and slow
KEEP_GOING = "settings set interpreter.stop-command-source-on-error false"

ARGS = None
FAILURES = []


def check(cond, what, detail=""):
    if cond:
        print("ok: " + what)
    else:
        FAILURES.append(what)
        print("FAIL: " + what + (("\n    " + str(detail).replace("\n", "\n    ")) if detail else ""))


# ---------------------------------------------------------------------------
# Processes

class Testee:
    """The testee with its stdin held open, and its "name address [tid]"
    lines. Leaving the `with` block closes stdin, then kills and reaps."""

    def __init__(self, *extra):
        self.proc = subprocess.Popen([ARGS.testee, *extra], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.values = {}  # name -> [address, ...]
        self.tids = {}    # address -> tid, for thread stacks and arenas
        self.pid = self.proc.pid
        for line in self.proc.stdout:
            parts = line.split()
            if parts == ["ready"]:
                break
            if len(parts) >= 2 and parts[1].startswith("0x"):
                addr = int(parts[1], 16)
                self.values.setdefault(parts[0], []).append(addr)
                if len(parts) >= 3:
                    self.tids[addr] = int(parts[2])
        else:
            self.close()
            raise RuntimeError("testee exited before 'ready'")

    def first(self, name):
        return self.values[name][0]

    def close(self):
        try:
            self.proc.stdin.close()
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Server:
    """lldb-server gdbserver attached to `pid` (or launching `launch`),
    listening on a port it picks (127.0.0.1:0) and reports through --pipe."""

    def __init__(self, pid=None, launch=()):
        rfd, wfd = os.pipe()
        what = ["--attach", str(pid)] if pid is not None else ["--", *launch]
        self.proc = subprocess.Popen([ARGS.lldb_server, "gdbserver", "127.0.0.1:0", "--pipe", str(wfd),
                                      *what],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, pass_fds=(wfd,), start_new_session=True)
        os.close(wfd)
        try:
            data = os.read(rfd, 64)  # the port as text and a NUL; b"" if it failed
        finally:
            os.close(rfd)
        digits = data.split(b"\0")[0].strip()
        if not digits.isdigit():
            self.stop()
            raise RuntimeError("lldb-server reported no port: %r" % data)
        self.port = int(digits)

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------
# LLDB

def lldb(commands, *, args=(), after_crash=(), load=True, env=None):
    """Runs `lldb -b` with the plugin loaded and `commands`; returns
    (returncode, [(command, output), ...], whole transcript)."""
    argv = [ARGS.lldb, "-b", "-x", "--no-use-colors", "-O", KEEP_GOING]
    if load:
        argv += ["-O", "plugin load " + ARGS.plugin]
    argv += list(args)
    # `-o` commands stop at the first failing one whatever the setting says;
    # commands sourced with `-s` honour it (REFERENCE.md section 6). But `-k`
    # commands only run after a crash in `-o` commands: runs that crash use
    # `-o` and must not fail before the crash.
    with tempfile.NamedTemporaryFile("w", prefix="vma-lldb-", suffix=".cmds") as f:
        if after_crash:
            for c in commands:
                argv += ["-o", c]
            for c in after_crash:
                argv += ["-k", c]
        else:
            f.write("".join(c + "\n" for c in commands))
            f.flush()
            argv += ["-s", f.name]
        # surrogateescape: a name that is not UTF-8 (a path is bytes) comes
        # through as the same bytes (os.fsdecode does the same).
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, errors="surrogateescape",
                           timeout=TIMEOUT, env=env)
    return p.returncode, sections(p.stdout), p.stdout


def sections(transcript):
    """Splits a transcript at the echoed "(lldb) CMD" lines."""
    out = []
    for line in transcript.splitlines(keepends=True):
        if line.startswith("(lldb) "):
            out.append([line[len("(lldb) "):].rstrip("\n"), ""])
        elif out:
            out[-1][1] += line
    return [(c, o) for c, o in out]


def output_of(secs, command, nth=0):
    found = [o for c, o in secs if c == command]
    return found[nth] if len(found) > nth else None


def json_of(secs, command):
    """The JSON document a command printed (text before the first '[' or '{'
    line, like LLDB's own process messages, and warnings after it are
    skipped)."""
    text = output_of(secs, command)
    if text is None:
        return None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("[") or line.startswith("{"):
            try:  # warnings may follow the document
                return json.JSONDecoder().raw_decode("\n".join(lines[i:]))[0]
            except ValueError:
                return None
    return None


def normal_exit(rc, transcript):
    """lldb exited by itself (0, or 1 after a failed command): no crash, no abort."""
    return rc in (0, 1) and "PLEASE submit a bug report" not in transcript and \
        "Stack dump" not in transcript


# ---------------------------------------------------------------------------
# Cases

def case_whereis():
    with Testee() as t:
        stacks = t.values["thread_stack"]
        arenas = t.values["arena"]
        exprs = ["$rsp", "$pc", "&global_data", "&global_bss", "(char*)&global_data + 1",
                 hex(t.first("heap"))] + [hex(a) for a in arenas] + [hex(a) for a in stacks] + \
            [hex(t.first("guard")), hex(t.first("gap")), "0", "0xffffffff81000000",
             "0x0000800000000000", hex(t.first("memfd")), hex(t.first("deleted"))]
        madv = t.values.get("madv_guard")
        if madv:
            exprs.append(hex(madv[0]))
        quoted = " ".join('"%s"' % e if " " in e else e for e in exprs)
        cmd = "vma whereis --json " + quoted
        rc, secs, out = lldb([cmd, "vma whereis $rsp &global_data", "detach"], args=["-p", str(t.pid)])
        check(normal_exit(rc, out), "lldb exits normally", out[-2000:])
        res = json_of(secs, cmd)
        check(isinstance(res, list) and len(res) == len(exprs), "one annotation per expression",
              out[-3000:])
        if not isinstance(res, list) or len(res) != len(exprs):
            return
        by = dict(zip(exprs, res))
        kind = lambda e: by[e]["kind"]
        check(kind("$rsp") == "stack", "$rsp is stack", by["$rsp"])
        check(by["$rsp"]["thread"] == t.pid, "$rsp is the main thread's (tid = pid)", by["$rsp"])
        check(kind("$pc") == "text", "$pc is text", by["$pc"])
        check(int(by["&global_data"]["address"], 16) == t.first("global_data"),
              "&global_data evaluates to the printed address")
        check(kind("&global_data") == "data", "&global_data is data", by["&global_data"])
        check(by["&global_data"]["symbol"] == "global_data", "&global_data's symbol",
              by["&global_data"])
        check(kind("&global_bss") == "bss", "&global_bss is bss", by["&global_bss"])
        e = "(char*)&global_data + 1"
        check(int(by[e]["address"], 16) == t.first("global_data") + 1,
              "a quoted expression with spaces is one expression", by[e])
        check(kind(hex(t.first("heap"))) == "heap", "malloc in main is heap")
        for a in arenas:
            check(kind(hex(a)) == "heap", "arena pointer %#x is heap" % a, by[hex(a)])
        for a in stacks:
            r = by[hex(a)]
            check(r["kind"] == "thread-stack" and r["thread"] == t.tids[a],
                  "thread stack %#x is thread-stack of tid %d" % (a, t.tids[a]), r)
        check(kind(hex(t.first("guard"))) == "guard", "PROT_NONE page is guard")
        if madv:
            check(kind(hex(madv[0])) == "guard", "MADV_GUARD_INSTALL page is guard",
                  by[hex(madv[0])])
        check(kind(hex(t.first("gap"))) == "unmapped", "gap is unmapped")
        check(kind("0") == "null-page", "0 is null-page")
        check(kind("0xffffffff81000000") == "kernel", "0xffffffff81000000 is kernel")
        check(kind("0x0000800000000000") == kind_above_47_bits(),
              "0x800000000000 is %s (this machine's paging)" % kind_above_47_bits())
        check(kind(hex(t.first("memfd"))) == "shared", "memfd is shared")
        check(kind(hex(t.first("deleted"))) == "file" and by[hex(t.first("deleted"))]["region"]["deleted"],
              "deleted file is a deleted file mapping", by[hex(t.first("deleted"))])
        text = output_of(secs, "vma whereis $rsp &global_data") or ""
        check(re.search(r"^0x[0-9a-f]{16}  stack  on the main thread's stack", text, re.M) is not None,
              "text output: $rsp says stack", text)
        check(re.search(r"^0x[0-9a-f]{16}  data  ", text, re.M) is not None,
              "text output: &global_data says data", text)


def case_cli_equal():
    if not ARGS.cli:
        check(False, "the CLI (--cli) is needed for this case")
        return
    with Testee() as t:
        addrs = [t.first(n) for n in ("global_data", "global_bss", "rodata", "relro", "text",
                                       "libc_text", "main_stack", "heap", "anon", "guard", "memfd",
                                       "deleted", "gap")]
        addrs += t.values["thread_stack"] + t.values["arena"] + t.values.get("madv_guard", [])
        addrs += [0, 0x10, 0xffffffff81000000, 0x0000800000000000, 0xffffffffff600000]
        hexes = [hex(a) for a in addrs]
        # LLDB first (literals are not evaluated, so nothing is allocated in
        # the testee), then the CLI on the same, unchanged process.
        cmd = "vma whereis --json " + " ".join(hexes)
        rc, secs, out = lldb([cmd, "detach"], args=["-p", str(t.pid)])
        check(normal_exit(rc, out), "lldb exits normally", out[-2000:])
        plugin = json_of(secs, cmd)
        cli = subprocess.run([ARGS.cli, "whereis", "--pid", str(t.pid), "--json", *hexes],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=TIMEOUT)
        check(cli.returncode == 0, "CLI whereis --pid succeeds", cli.stderr)
        try:
            cli_json = json.loads(cli.stdout)
        except ValueError:
            cli_json = None
        check(plugin is not None and plugin == cli_json,
              "vma whereis --json in LLDB equals `vma whereis --pid PID --json` (%d addresses)" % len(addrs),
              first_difference(plugin, cli_json))
        # Same bytes, not only the same document: both print dump(2).
        text = output_of(secs, cmd) or ""
        check(cli.stdout.strip() in text, "the JSON text is identical (2-space indent)")


def first_difference(a, b, path="$"):
    if type(a) is not type(b):
        return "%s: %r vs %r" % (path, a, b)
    if isinstance(a, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                return "%s.%s: only in %s" % (path, k, "plugin" if k in a else "CLI")
            d = first_difference(a[k], b[k], path + "." + k)
            if d:
                return d
        return ""
    if isinstance(a, list):
        if len(a) != len(b):
            return "%s: %d vs %d entries" % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, "%s[%d]" % (path, i))
            if d:
                return d
        return ""
    return "" if a == b else "%s: %r (plugin) vs %r (CLI)" % (path, a, b)


REGION_RE = re.compile(r"^\[(0x[0-9a-f]+)-(0x[0-9a-f]+)\) ([r-][w-][x-])", re.M)


def case_regions():
    with Testee() as t:
        rc, secs, out = lldb(["vma map --json"], args=["-p", str(t.pid)])
        regions = (json_of(secs, "vma map --json") or {}).get("regions")
        check(normal_exit(rc, out) and regions, "vma map --json lists regions", out[-2000:])
        if not regions:
            return
        cmds = ["memory region " + r["start"] for r in regions]
        rc, secs, out = lldb(["vma map --json"] + cmds + ["detach"], args=["-p", str(t.pid)])
        check(normal_exit(rc, out), "lldb exits normally", out[-2000:])
        regions = json_of(secs, "vma map --json")["regions"]
        mismatches = []
        # `memory region` answers with the kernel's VMA: a VMA that holds two
        # things is compared whole (its parts folded back).
        for r in kernel_vmas(regions):
            text = output_of(secs, "memory region " + r["start"]) or ""
            m = REGION_RE.search(text)
            got = (m.group(1), m.group(2), m.group(3)) if m else None
            want = ("0x%016x" % int(r["start"], 16), "0x%016x" % int(r["end"], 16), r["perms"][:3])
            if got != want:
                mismatches.append("%s: vma %s, memory region %s" % (r["start"], want, got or text.strip()))
        check(not mismatches, "bounds and perms of all %d regions equal `memory region`" % len(regions),
              "\n".join(mismatches))
        starts = [int(r["start"], 16) for r in regions]
        ends = [int(r["end"], 16) for r in regions]
        check(all(ends[i] <= starts[i + 1] for i in range(len(regions) - 1)),
              "regions are sorted and do not overlap")
        kinds = {r["kind"] for r in regions}
        for k in ("text", "rodata", "relro", "data", "heap", "stack", "thread-stack", "guard",
                  "vdso", "vvar", "shared", "file"):
            check(k in kinds, "the map has a %s region" % k, sorted(kinds))


def case_draw():
    env = dict(os.environ, COLUMNS="80", LINES="40")
    d = tempfile.mkdtemp(prefix="vma-lldb-draw.")
    try:
        with Testee() as t:
            madv = t.first("madv_guard")
            svg = os.path.join(d, "map.svg")
            cmds = ["vma map --draw --mark %#x" % madv, "vma map --svg %s --mark &global_data" % svg,
                    "vma map --draw --json", "vma map --mark 0x1000", "vma map --svg /nonexistent/x.svg", "detach"]
            rc, secs, out = lldb(cmds, args=["-p", str(t.pid)], env=env)
            check(normal_exit(rc, out), "lldb exits normally", out[-2000:])
            text = output_of(secs, cmds[0]) or ""
            tids = [t.tids[a] for a in t.values["thread_stack"]]
            for ok, what in drawing.testee_checks(text, madv, tids):
                check(ok, "vma map --draw: " + what, text)
            check(os.path.exists(svg) and "<title>" in open(svg).read() and 'class="mark"' in open(svg).read(),
                  "vma map --svg FILE --mark EXPR writes an SVG with the mark")
            err = output_of(secs, cmds[2]) or ""
            check("not with --json" in err, "--draw --json is refused", err)
            err = output_of(secs, cmds[3]) or ""
            check("--mark: give --draw or --svg FILE too" in err, "--mark alone is refused", err)
            err = output_of(secs, cmds[4]) or ""
            check("--svg /nonexistent/x.svg: cannot write: No such file or directory" in err,
                  "--svg to a missing directory names the path", err)
        rc, secs, out = lldb(["process launch -- --crash=guard"], after_crash=["vma fault --draw", "kill"],
                             args=[ARGS.testee], env=env)
        check(normal_exit(rc, out), "lldb exits normally after a fault", out[-2000:])
        text = output_of(secs, "vma fault --draw") or ""
        for ok, what in drawing.fault_checks(text, "guard"):
            check(ok, what, text)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def case_merged_bss():
    """One kernel VMA holding a library's .bss and anonymous pages the testee
    mapped flush after it: attached, and over gdb-remote (LLDB's region list
    instead of /proc)."""
    with Testee("--merge-bss") as t:
        try:
            vals = merged_values([[n, hex(a)] for n, v in t.values.items() for a in v])
        except AssertionError as e:
            check(False, str(e))
            return
        where = "vma whereis --json %#x %#x" % (vals["merged_bss"], vals["merged_anon"])
        region = "memory region %#x" % vals["merged_anon"]
        rc, secs, out = lldb([where, "vma map --json", "vma map", region, "detach"], args=["-p", str(t.pid)])
        check(normal_exit(rc, out), "lldb exits normally", out[-2000:])
        w, m = json_of(secs, where), json_of(secs, "vma map --json")
        if not w or not m or len(w) != 2:
            check(False, "live: two annotations and a map", out[-3000:])
            return
        for ok, what, detail in merged_checks(vals, w[0], w[1], m["regions"]):
            check(ok, "live: " + what, detail)
        rows = merged_text_rows(vals, output_of(secs, "vma map") or "")
        check(len(rows) == 2, "live: map text shows both parts with their note", rows)
        mr = REGION_RE.search(output_of(secs, region) or "")
        check(mr is not None and (int(mr.group(1), 16), int(mr.group(2), 16)) ==
              (vals["merged_vma_start"], vals["merged_vma_end"]),
              "LLDB's own `memory region` sees the one kernel VMA", output_of(secs, region))
        with Server(t.pid) as srv:
            rc, secs, out = lldb(["target create " + ARGS.testee, "gdb-remote 127.0.0.1:%d" % srv.port,
                                  where, "vma map --json", "detach"])
            check(normal_exit(rc, out), "lldb exits normally (remote)", out[-2000:])
            w, m = json_of(secs, where), json_of(secs, "vma map --json")
            if not w or not m or len(w) != 2:
                check(False, "remote: two annotations and a map", out[-3000:])
                return
            for ok, what, detail in merged_checks(vals, w[0], w[1], m["regions"]):
                check(ok, "remote: " + what, detail)


FAULTS = {
    # kind: (signal, code, region kind at si_addr, si_addr check, words in the explanation)
    "text-write": ("SIGSEGV", "SEGV_ACCERR", "text", "nonzero", "write"),
    "null-read": ("SIGSEGV", "SEGV_MAPERR", "null-page", "zero", "null"),
    "guard": ("SIGSEGV", "SEGV_ACCERR", "guard", "nonzero", ""),
    "noncanonical": ("SIGSEGV", "SI_KERNEL", "null-page", "zero", "si_addr is 0"),
    "sigbus": ("SIGBUS", "BUS_ADRERR", "file", "nonzero", ""),
}


def case_fault(kind):
    signame, code, at_kind, addr_rule, words = FAULTS[kind]
    rc, secs, out = lldb(["process launch -- --crash=" + kind],
                         after_crash=["vma fault --json", "vma fault", "kill"],
                         args=[ARGS.testee])
    check(normal_exit(rc, out), "lldb exits normally", out[-2000:])
    f = json_of(secs, "vma fault --json")
    check(f is not None, "vma fault --json prints a fault", out[-3000:])
    if f is None:
        return
    check(f["signal"] == signame, "signal is " + signame, f["signal"])
    check(f["code"] == code, "si_code is " + code, f["code"])
    check(f["at"]["kind"] == at_kind, "fault address is in a %s region" % at_kind, f["at"])
    addr = int(f["addr"], 16) if f["addr"] else None
    if addr_rule == "zero":
        check(addr == 0, "si_addr is 0", f["addr"])
    else:
        check(addr not in (None, 0), "si_addr is the address touched", f["addr"])
    check(f["pc"] is not None and f["instruction"], "pc and the faulting instruction are shown",
          (f["pc"], f["instruction"]))
    check(words.lower() in f["explanation"].lower(), "explanation mentions %r" % words,
          f["explanation"])
    text = output_of(secs, "vma fault") or ""
    check(text.startswith("%s (%s)" % (signame, code)), "text output starts with the signal and code",
          text)
    if kind == "noncanonical":
        check("non-canonical" in f["explanation"], "SI_KERNEL is explained as a non-canonical access",
              f["explanation"])


def case_errors():
    # No target.
    rc, secs, out = lldb(["vma map", "vma whereis $pc", "vma fault", "help vma", "version"])
    check(normal_exit(rc, out), "no target: lldb exits normally", out[-2000:])
    for c in ("vma map", "vma whereis $pc", "vma fault"):
        check("error: %s: no target" % c.split(" $")[0] in (output_of(secs, c) or ""),
              "no target: `%s` says so" % c, output_of(secs, c))
    h = output_of(secs, "help vma") or ""
    check(all(w in h for w in ("whereis", "map", "fault")), "help vma lists whereis, map, fault", h)
    check(output_of(secs, "version") is not None, "lldb kept going after the errors")

    # No process; flags and kinds are checked before the process.
    rc, secs, out = lldb(["vma whereis $pc", "vma map --bogus", "vma map --kind nosuch",
                          "vma whereis --json", "vma map --kind", "help vma whereis", "version"],
                         args=[ARGS.testee])
    check(normal_exit(rc, out), "no process: lldb exits normally", out[-2000:])
    check("error: vma whereis: no process" in (output_of(secs, "vma whereis $pc") or ""),
          "no process: vma whereis says so", output_of(secs, "vma whereis $pc"))
    check("error: vma map: unknown option '--bogus'; valid options: --json, --kind K, --gaps, --draw, --svg FILE, --mark EXPR"
          in (output_of(secs, "vma map --bogus") or ""),
          "unknown flag: error lists the valid ones", output_of(secs, "vma map --bogus"))
    check("error: vma map: unknown kind 'nosuch'; kinds: text, " in (output_of(secs, "vma map --kind nosuch") or ""),
          "unknown kind: error lists the kinds", output_of(secs, "vma map --kind nosuch"))
    check("error: vma whereis: give at least one expression" in (output_of(secs, "vma whereis --json") or ""),
          "no expression: error", output_of(secs, "vma whereis --json"))
    check("error: vma map: option '--kind' needs a value" in (output_of(secs, "vma map --kind") or ""),
          "missing value: error", output_of(secs, "vma map --kind"))
    check("vma whereis [--json] <expr>..." in (output_of(secs, "help vma whereis") or ""),
          "help vma whereis shows the syntax", output_of(secs, "help vma whereis"))

    # Stopped process: a bad expression shows LLDB's own error; a breakpoint
    # stop is not a fault; then the process exits.
    rc, secs, out = lldb(["breakpoint set -n read", "process launch -i /dev/null",
                          "vma whereis nosuchvar", "vma whereis mu",
                          "vma whereis --bogus $pc", "vma fault", "continue", "continue",
                          "vma map", "vma whereis $pc", "vma fault", "target delete", "vma map",
                          "version"],
                         args=[ARGS.testee])
    check(normal_exit(rc, out), "bad inputs: lldb exits normally", out[-3000:])
    bad = output_of(secs, "vma whereis nosuchvar") or ""
    check("error: vma whereis: cannot evaluate 'nosuchvar': " in bad and "nosuchvar" in bad.split(": ", 3)[-1],
          "bad expression: LLDB's own error is shown", bad)
    check("not an address; take its address with '&'" in (output_of(secs, "vma whereis mu") or ""),
          "a union value (pthread_mutex_t mu) is refused with a hint", output_of(secs, "vma whereis mu"))
    check("error: vma whereis: unknown option '--bogus'; valid options: --json" in
          (output_of(secs, "vma whereis --bogus $pc") or ""), "whereis: unknown flag",
          output_of(secs, "vma whereis --bogus $pc"))
    check("not a signal" in (output_of(secs, "vma fault") or ""),
          "vma fault at a breakpoint: not a signal", output_of(secs, "vma fault"))
    check("exited with status" in (output_of(secs, "vma map") or "") and
          "error: vma map: process" in (output_of(secs, "vma map") or ""),
          "exited process: vma map says so", output_of(secs, "vma map"))
    check("error: vma whereis: process" in (output_of(secs, "vma whereis $pc", 0) or ""),
          "exited process: vma whereis says so", output_of(secs, "vma whereis $pc"))
    check("error: vma map: no target" in (output_of(secs, "vma map", 1) or ""),
          "after `target delete`: no target", output_of(secs, "vma map", 1))
    check(output_of(secs, "version") is not None, "lldb kept going after the errors")


def case_launch():
    """A process LLDB launched (no attach): per-stop cache, registers, threads."""
    mmap_call = "(char*)((void*(*)(void*,unsigned long,int,int,int,long))mmap)(0, 0x7000, 3, 0x22, -1, 0)"
    rc, secs, out = lldb(["breakpoint set -n read", "process launch -i /dev/null",
                          "vma whereis --json $rsp $pc", "vma map --json --kind thread-stack",
                          "thread list", "vma map --kind stack", "vma map --gaps --kind unmapped",
                          "expression -- " + mmap_call, "vma map --json",
                          "settings set use-color true", "vma whereis 0",
                          "kill"],
                         args=[ARGS.testee])
    check(normal_exit(rc, out), "lldb exits normally", out[-2000:])
    w = json_of(secs, "vma whereis --json $rsp $pc")
    check(w and w[0]["kind"] == "stack" and w[1]["kind"] == "text", "$rsp stack, $pc text", w)
    ts = (json_of(secs, "vma map --json --kind thread-stack") or {}).get("regions", [])
    tids = set(int(x) for x in re.findall(r"tid = (\d+)", output_of(secs, "thread list") or ""))
    check(len(ts) == 2 and all(r["kind"] == "thread-stack" and r["thread"] in tids for r in ts),
          "--kind thread-stack: both thread stacks, with TIDs LLDB lists", (ts, tids))
    st = output_of(secs, "vma map --kind stack") or ""
    check(st.count("[stack]") == 1 and "thread-stack" not in st, "--kind stack filters", st)
    gaps = output_of(secs, "vma map --gaps --kind unmapped") or ""
    check("unmapped" in gaps, "--gaps shows gaps", gaps)
    # The map is cached per stop; running code (here, a call to mmap) is a
    # new stop, so the new VMA must be seen.
    mapped = re.search(r"= (0x[0-9a-f]+)", output_of(secs, "expression -- " + mmap_call) or "")
    after = (json_of(secs, "vma map --json") or {}).get("regions", [])
    new_addr = int(mapped.group(1), 16) if mapped else None
    holder = [r for r in after if new_addr is not None and int(r["start"], 16) <= new_addr < int(r["end"], 16)]
    check(holder and holder[0]["kind"] == "anon",
          "memory mapped by an expression is in the next `vma map` (the per-stop cache is dropped)",
          (new_addr, holder, output_of(secs, "expression -- " + mmap_call)))
    check("\x1b[1;31mnull-page\x1b[0m" in (output_of(secs, "vma whereis 0") or ""),
          "colour when LLDB's use-color is on", output_of(secs, "vma whereis 0"))


def case_remote():
    with Testee() as t, Server(t.pid) as s:
        addrs = [t.first("heap"), t.first("main_stack"), t.first("text"), t.first("libc_text"),
                 t.first("global_data"), t.first("guard"), t.first("gap")] + t.values["arena"] + \
            t.values["thread_stack"]
        cmd = "vma whereis --json " + " ".join(hex(a) for a in addrs)
        rc, secs, out = lldb(["target create " + ARGS.testee, "gdb-remote 127.0.0.1:%d" % s.port,
                              "vma map --json", cmd, "vma map", "detach"])
        check(normal_exit(rc, out), "lldb exits normally", out[-2000:])
        regions = (json_of(secs, "vma map --json") or {}).get("regions")
        check(bool(regions), "vma map --json over gdb-remote lists regions", out[-3000:])
        if not regions:
            return
        # LLDB's region list knows no offset/dev/inode: ListSource, not /proc.
        check(all(r["inode"] is None and r["dev"] is None for r in regions),
              "the map comes from LLDB's region list (no dev/inode)", regions[:2])
        kinds = {r["kind"] for r in regions}
        for k in ("heap", "stack", "text", "thread-stack", "vdso"):
            check(k in kinds, "remote map has a %s region" % k, sorted(kinds))
        w = json_of(secs, cmd)
        check(isinstance(w, list) and len(w) == len(addrs), "remote whereis answers", out[-2000:])
        if not isinstance(w, list) or len(w) != len(addrs):
            return
        check(w[0]["kind"] == "heap", "remote: heap pointer is heap", w[0])
        check(w[1]["kind"] == "stack", "remote: main stack local is stack", w[1])
        check(w[2]["kind"] == "text" and w[2]["symbol"] == "main", "remote: &main is text, symbol main", w[2])
        check(w[3]["kind"] == "text" and w[3]["section"] == ".text", "remote: printf is libc text", w[3])
        check(w[4]["kind"] == "data" and w[4]["symbol"] == "global_data", "remote: &global_data is data", w[4])
        if ARGS.cli:
            cli = subprocess.run([ARGS.cli, "whereis", "--pid", str(t.pid), "--json",
                                  *[hex(a) for a in addrs]],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 timeout=TIMEOUT)
            local = json.loads(cli.stdout) if cli.returncode == 0 else []
            key = lambda r: (r["kind"], r["thread"], r["region"] and (r["region"]["start"], r["region"]["end"]))
            diffs = ["%s: remote %s, /proc %s" % (x["address"], key(x), key(y))
                     for x, y in zip(w, local) if key(x) != key(y)]
            check(len(local) == len(w) and not diffs,
                  "remote: kinds, threads and bounds equal `vma whereis --pid`", cli.stderr + "\n".join(diffs))
            # The whole map, region by region, against /proc. LLDB's region
            # list has no private/shared bit; core marks names that say
            # shared memory (a memfd) shared, so the kinds must agree.
            cli = subprocess.run([ARGS.cli, "map", "--pid", str(t.pid), "--json"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 timeout=TIMEOUT)
            local = json.loads(cli.stdout)["regions"] if cli.returncode == 0 else []
            rkey = lambda r: (r["start"], r["end"], r["perms"][:3], r["kind"], r.get("thread"))
            diffs = []
            for x in set(map(rkey, regions)) ^ set(map(rkey, local)):
                diffs.append(str(x))
            check(local and not diffs, "remote: `vma map` equals `vma map --pid` (%d regions)" % len(local),
                  cli.stderr + "\n".join(sorted(diffs)))
        # PROT_NONE VMAs: LLDB's list leaves them out; the plugin finds them.
        check(w[5]["kind"] == "guard", "remote: the PROT_NONE page is guard", w[5])
        check(w[6]["kind"] == "unmapped", "remote: the gap is unmapped", w[6])
        arenas = w[7:7 + len(t.values["arena"])]
        for a, r in zip(t.values["arena"], arenas):
            check(r["kind"] == "heap", "remote: arena pointer %#x is heap" % a, r)
        check(sum(1 for r in regions if r["kind"] == "guard" and r.get("note", "").startswith("guard below thread")) ==
              len(t.values["thread_stack"]), "remote: a guard below each thread stack",
              [r for r in regions if r["kind"] == "guard"])
        for a, r in zip(t.values["thread_stack"], w[7 + len(arenas):]):
            check(r["kind"] == "thread-stack" and r["thread"] == t.tids[a],
                  "remote: thread stack of tid %d" % t.tids[a], r)


def kernel_core(workdir, *testee_args):
    """Crashes the testee in `workdir` with RLIMIT_CORE raised; returns
    (core path, testee stdout) or exits 77 when cores do not land there."""
    import resource
    pattern = open("/proc/sys/kernel/core_pattern").read().strip()
    if pattern.startswith("|") or "/" in pattern:
        print("SKIP: kernel.core_pattern is %r: cores go to a collector or another directory" % pattern)
        sys.exit(77)

    def raise_limit():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    p = subprocess.run([ARGS.testee, *testee_args], cwd=workdir, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       preexec_fn=raise_limit, timeout=TIMEOUT)
    cores = [f for f in os.listdir(workdir) if f.startswith("core")]
    check(p.returncode == -signal.SIGSEGV and len(cores) == 1,
          "the testee died of SIGSEGV and left one core", (p.returncode, cores))
    return (os.path.join(workdir, cores[0]) if cores else None), p.stdout


def case_core():
    with tempfile.TemporaryDirectory(prefix="vma-lldb-core-") as d:
        core, out = kernel_core(d, "--crash=text-write")
        if not core:
            return
        values, tids = {}, {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[1].startswith("0x"):
                values.setdefault(parts[0], []).append(int(parts[1], 16))
                if len(parts) >= 3:
                    tids[int(parts[1], 16)] = int(parts[2])
        names = ("global_data", "global_bss", "rodata", "relro", "text", "libc_text", "main_stack",
                 "heap", "anon", "guard", "memfd", "deleted", "gap")
        addrs = [values[n][0] for n in names] + values["thread_stack"] + values["arena"]
        addrs += [0, 0xffffffff81000000, 0x0000800000000000]
        cmd = "vma whereis --json " + " ".join(hex(a) for a in addrs)
        rc, secs, tr = lldb(["vma fault --json", cmd, "vma map --json", "vma whereis $rsp"],
                            args=["-c", core, ARGS.testee])
        check(normal_exit(rc, tr), "lldb exits normally", tr[-2000:])
        f = json_of(secs, "vma fault --json")
        check(f is not None and (f["signal"], f["code"], f["at"]["kind"]) == ("SIGSEGV", "SEGV_ACCERR", "text"),
              "core: vma fault says SIGSEGV SEGV_ACCERR text", f or tr[-2000:])
        w = json_of(secs, cmd)
        check(isinstance(w, list) and len(w) == len(addrs), "core: whereis answers", tr[-2000:])
        if not isinstance(w, list) or len(w) != len(addrs):
            return
        by = dict(zip(addrs, w))
        want = {"global_data": "data", "global_bss": "bss", "rodata": "rodata", "relro": "relro",
                "text": "text", "libc_text": "text", "main_stack": "stack", "heap": "heap",
                "anon": "anon", "guard": "guard", "memfd": "shared", "deleted": "file",
                "gap": "unmapped"}
        for n, k in want.items():
            check(by[values[n][0]]["kind"] == k, "core: %s is %s" % (n, k), by[values[n][0]])
        for a in values["thread_stack"]:
            check(by[a]["kind"] == "thread-stack" and by[a]["thread"] == tids[a],
                  "core: thread stack of tid %d" % tids[a], by[a])
        for a in values["arena"]:
            check(by[a]["kind"] == "heap", "core: arena %#x is heap" % a, by[a])
        check("  stack  " in (output_of(secs, "vma whereis $rsp") or ""), "core: $rsp is stack",
              output_of(secs, "vma whereis $rsp"))
        # A core vmakit's reader refuses (truncated; LLDB still opens it):
        # LLDB's region list with a warning, and no made-up si_code.
        trunc = os.path.join(d, "truncated.core")
        with open(core, "rb") as src, open(trunc, "wb") as dst:
            dst.write(src.read(100000))
        rc, secs2, tr2 = lldb(["vma map", "vma fault --json"], args=["-c", trunc, ARGS.testee])
        check(normal_exit(rc, tr2), "truncated core: lldb exits normally", tr2[-2000:])
        check("using LLDB's region list" in (output_of(secs2, "vma map") or ""),
              "truncated core: the fallback to LLDB's region list is announced",
              output_of(secs2, "vma map"))
        f2 = json_of(secs2, "vma fault --json")
        check(f2 is not None and f2["signal"] == "SIGSEGV" and f2["code"] is None,
              "truncated core: signal from the stop reason, si_code unknown (not SI_USER)",
              f2 or tr2[-2000:])
        if ARGS.cli:
            cli = subprocess.run([ARGS.cli, "whereis", "--core", core, "--json", *[hex(a) for a in addrs]],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=TIMEOUT)
            try:
                cli_json = json.loads(cli.stdout)
            except ValueError:
                cli_json = None
            check(cli_json == w, "core: plugin JSON equals `vma whereis --core`",
                  cli.stderr or first_difference(w, cli_json))


def case_remote_fault():
    """vma fault over gdb-remote: siginfo comes through lldb-server."""
    with Server(launch=[ARGS.testee, "--crash=null-read"]) as s:
        rc, secs, out = lldb(["target create " + ARGS.testee, "gdb-remote 127.0.0.1:%d" % s.port,
                              "continue"], after_crash=["vma fault --json", "kill"])
        check(normal_exit(rc, out), "lldb exits normally", out[-2000:])
        f = json_of(secs, "vma fault --json")
        check(f is not None and (f["signal"], f["code"], f["addr"], f["at"]["kind"]) ==
              ("SIGSEGV", "SEGV_MAPERR", "0x0", "null-page"),
              "remote: SIGSEGV SEGV_MAPERR at 0x0 in the null page", f or out[-2000:])


def case_non_utf8():
    """A mapped file whose name is not UTF-8: text shows its bytes as \\xNN
    escapes (issue 22: safe_text; it showed them as they are) and JSON
    replaces each with U+FFFD, as the CLI does; live and over gdb-remote
    (LLDB's region list)."""
    d = tempfile.mkdtemp(prefix="vmakit-lldb-")
    raw = os.path.join(os.fsencode(d), b"vmakit-\xff\xfe.bin")
    with open(raw, "wb") as f:
        f.write(b"x" * 4096)
    name = os.fsdecode(raw)  # the same bytes, as lldb() decodes its transcript
    replaced = d + "/vmakit-\ufffd\ufffd.bin"
    shown = d + "/vmakit-\\xff\\xfe.bin"
    try:
        with Testee("--map-file=" + name) as t:
            addr = t.first("mapped_file")
            where, where_json = "vma whereis %#x" % addr, "vma whereis --json %#x" % addr
            rc, secs, out = lldb(["vma map", where, where_json, "detach"], args=["-p", str(t.pid)])
            check(normal_exit(rc, out), "lldb exits normally", out[-2000:])
            row = [l for l in (output_of(secs, "vma map") or "").splitlines() if l.startswith("0x%016x" % addr)]
            cli = subprocess.run([ARGS.cli, "map", "--pid", str(t.pid), "--color", "never"], stdout=subprocess.PIPE,
                                 text=True, errors="surrogateescape", timeout=TIMEOUT)
            cli_row = [l for l in cli.stdout.splitlines() if l.startswith("0x%016x" % addr)]
            check(len(row) == 1 and shown in row[0], "live vma map text has the name's bytes as escapes", row)
            check(row == cli_row, "live: the row equals the CLI's, byte for byte", "%r\n%r" % (row, cli_row))
            check(shown in (output_of(secs, where) or ""), "live vma whereis text has the name's bytes as escapes",
                  output_of(secs, where))
            w = json_of(secs, where_json)
            cli = subprocess.run([ARGS.cli, "whereis", "--pid", str(t.pid), "--json", hex(addr)],
                                 stdout=subprocess.PIPE, text=True, timeout=TIMEOUT)
            check(w is not None and w[0]["region"]["path"] == replaced, "live JSON names it with U+FFFD", w)
            check(w == json.loads(cli.stdout), "live whereis --json equals the CLI's",
                  first_difference(w, json.loads(cli.stdout)))
            with Server(t.pid) as srv:
                rc, secs, out = lldb(["target create " + ARGS.testee, "gdb-remote 127.0.0.1:%d" % srv.port,
                                      "vma map", "vma map --json", "detach"])
                check(normal_exit(rc, out), "lldb exits normally (remote)", out[-2000:])
                check(shown in (output_of(secs, "vma map") or ""), "remote vma map text has the name's bytes as escapes",
                      (output_of(secs, "vma map") or out)[-1500:])
                regions = (json_of(secs, "vma map --json") or {}).get("regions") or []
                paths = [r.get("path") for r in regions if int(r["start"], 16) == addr]
                check(paths == [replaced], "remote JSON names it with U+FFFD", paths)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--plugin", required=True)
    p.add_argument("--testee", required=True)
    p.add_argument("--cli")
    p.add_argument("--lldb", default="lldb-19")
    p.add_argument("--lldb-server", default="lldb-server-19")
    p.add_argument("case")
    ARGS = p.parse_args()
    for name in ("plugin", "testee", "cli"):
        if getattr(ARGS, name):
            setattr(ARGS, name, os.path.abspath(getattr(ARGS, name)))
    cases = {
        "whereis": case_whereis, "cli-equal": case_cli_equal, "regions": case_regions,
        "errors": case_errors, "remote": case_remote, "launch": case_launch, "core": case_core,
        "remote-fault": case_remote_fault, "non-utf8": case_non_utf8, "merged-bss": case_merged_bss,
        "draw": case_draw,
    }
    for k in FAULTS:
        cases["fault-" + k] = (lambda kind: lambda: case_fault(kind))(k)
    if ARGS.case not in cases:
        print("unknown case %s; cases: %s" % (ARGS.case, ", ".join(sorted(cases))))
        return 2
    cases[ARGS.case]()
    if FAILURES:
        print("%d check(s) failed: %s" % (len(FAILURES), "; ".join(FAILURES)))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
