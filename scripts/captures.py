#!/usr/bin/env python3
"""Regenerate the captured sessions shown in the documentation.

Every transcript in README.md, plugin/lldb/README.md and plugin/gdb/README.md
that follows a line `<!-- capture: NAME -->`, and the picture
docs/vma-map-testee.{svg,png}, is made again by running its commands. They
run in a neutral directory (/tmp/vmakit-demo: the built programs copied
there, the test program compiled there from tests/programs/testee.c), so no
capture shows the build machine's own paths, and a capture that no longer
matches the programs is one command away from being true again.

usage: scripts/captures.py [--build DIR] [--only NAME[,NAME]] [--list] [--check]
  --list   the capture names and the files that hold them
  --check  exit 1 when a document holds a marker with no generator, a
           generator has no marker, or a document shows the source or build
           directory's absolute path (what a test runs; nothing is written)
Needs lldb-19, lldb-server-19, gdb and gdbserver; chromium for the PNG.
"""
import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOP = Path(__file__).resolve().parent.parent
DEMO = Path("/tmp/vmakit-demo")
DOCS = ["README.md", "plugin/lldb/README.md", "plugin/gdb/README.md"]
MARKER = re.compile(r"^<!-- capture: ([a-z0-9-]+) -->$")


def fail(msg):
    print(f"captures: {msg}", file=sys.stderr)
    sys.exit(2)


def stage(build):
    """Copy the built programs into DEMO and compile the testee there."""
    if DEMO.exists():
        shutil.rmtree(DEMO)
    DEMO.mkdir(parents=True)
    for name in ["vma", "libvma-lldb.so", "vma-gdb.py"]:
        if not (build / name).exists():
            fail(f"{build / name}: not built (build the tree first)")
        shutil.copy2(build / name, DEMO / name)
    for module in build.glob("_vmakit.cpython-*.so"):
        shutil.copy2(module, DEMO / module.name)
    shutil.copy2(TOP / "tests/programs/testee.c", DEMO / "testee.c")
    # The flags of tests/CMakeLists.txt's vma-testee, compiled where it lies,
    # so its debug information names the neutral directory.
    subprocess.run(["cc", "-O1", "-g", "-Wall", "-o", "vma-testee", "testee.c", "-pthread"],
                   cwd=DEMO, check=True)


def env(**extra):
    e = dict(os.environ, PATH=f"{DEMO}:{os.environ.get('PATH', '/usr/bin:/bin')}", LC_ALL="C.UTF-8")
    e.pop("NO_COLOR", None)
    e.update(extra)
    return e


class Testee:
    """The test program, running until stdin closes; its printed addresses."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([str(DEMO / "vma-testee"), *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, cwd=DEMO)
        self.labels = {}
        for line in self.proc.stdout:
            words = line.split()
            if words == ["ready"]:
                break
            if len(words) >= 2:
                self.labels.setdefault(words[0], words[1])
        self.pid = self.proc.pid

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def run(argv, **kw):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=DEMO,
                       env=kw.pop("env", env()), timeout=120, **kw)
    return r.stdout


def shell(shown, argv, **kw):
    """`$ shown` and what argv printed."""
    return [f"$ {shown}"] + run(argv, **kw).rstrip("\n").split("\n")


def cut(lines, head, tail):
    if len(lines) <= head + tail + 1:
        return lines
    return lines[:head] + ["..."] + lines[-tail:]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the CLI (README.md) -------------------------------------------------------

def readme_cli():
    with Testee() as t:
        pid = str(t.pid)
        out = cut(shell("vma map --pid PID --gaps", ["vma", "map", "--pid", pid, "--gaps"]), 15, 6)
        addrs = [t.labels["thread_stack"], t.labels["gap"], t.labels["madv_guard"], "0xffffffff81000000"]
        out += shell("vma whereis --pid PID " + " ".join(addrs), ["vma", "whereis", "--pid", pid, *addrs])
    return out


def readme_draw():
    with Testee() as t:
        return shell("vma map --draw --pid PID", ["vma", "map", "--draw", "--pid", str(t.pid)],
                     env=env(COLUMNS="80", LINES="40"))


def docs_svg():
    """docs/vma-map-testee.svg, and its PNG from headless Chromium."""
    svg = TOP / "docs/vma-map-testee.svg"
    with Testee() as t:
        run(["vma", "map", "--pid", str(t.pid), "--svg", str(DEMO / "testee.svg")])
    shutil.copyfile(DEMO / "testee.svg", svg)
    chromium = shutil.which("chromium")
    if not chromium:
        print("captures: no chromium: docs/vma-map-testee.png left as it was", file=sys.stderr)
        return None
    width, height = re.search(r'<svg[^>]* width="(\d+)" height="(\d+)"', svg.read_text()).groups()
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--user-data-dir={profile}", f"--window-size={width},{height}",
                        f"--screenshot={TOP / 'docs/vma-map-testee.png'}", f"file://{svg}"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    return None


# --- LLDB (plugin/lldb/README.md) ---------------------------------------------

def lldb(commands, after_crash=()):
    argv = ["lldb-19", "-b", "-x", "-o", f"plugin load {DEMO}/libvma-lldb.so",
            "-o", f"target create {DEMO}/vma-testee"]
    for c in commands:
        argv += ["-o", c]
    for c in after_crash:
        argv += ["-k", c]
    return run(argv, env=env(COLUMNS="80", LINES="40")).rstrip("\n").split("\n")


def lldb_launch():
    return lldb(["breakpoint set -n read", "process launch -i /dev/null -o /dev/null",
                 'vma whereis $rsp &global_data "(char *)relro_table[0]"',
                 "vma map --kind thread-stack", "vma map --kind guard", "kill"])


def lldb_crash():
    return lldb(["process launch -o /dev/null -- --crash=text-write"], ["vma fault", "kill"])


def lldb_remote():
    with Testee() as t:
        port = free_port()
        server = subprocess.Popen(["lldb-server-19", "gdbserver", f"127.0.0.1:{port}", "--attach", str(t.pid)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1)
            out = lldb([f"gdb-remote 127.0.0.1:{port}", "vma map --kind heap", "vma map --kind guard",
                        "vma whereis $pc", "detach"])
        finally:
            server.kill()
            server.wait()
    # The thread listing after the stop says nothing about vma: trimmed.
    return [l for l in out if not re.match(r"^(\* |  )thread #|^    frame #|^(->)? +\d+ |^$", l)]


def lldb_fault_draw():
    out = lldb(["process launch -o /dev/null -- --crash=guard"], ["vma fault --draw", "kill"])
    start = next(i for i, l in enumerate(out) if l == "(lldb) vma fault --draw")
    end = next(i for i, l in enumerate(out) if l == "(lldb) kill")
    return out[start:end]


# --- GDB (plugin/gdb/README.md) -----------------------------------------------

GDB_NOISE = re.compile(r"^(\[Thread debugging|Using host libthread_db|\[Inferior \d|warning: |Remote debugging)")


def gdb(options, commands, program=(), columns=None):
    argv = ["gdb", "-batch", "-nx", "-x", str(DEMO / "vma-gdb.py"), *options]
    argv += ["-ex", "set confirm off", "-ex", "set sysroot /", "-ex", "echo @@capture@@\\n"]
    for c in commands:
        argv += ["-ex", c]
    argv += list(program)
    e = env(COLUMNS=columns[0], LINES=columns[1]) if columns else env()
    out = run(argv, env=e).rstrip("\n").split("\n")
    out = out[out.index("@@capture@@") + 1:]
    return [l for l in out if not GDB_NOISE.match(l)]


def json_cut(lines):
    """Keeps a --json answer's first 14 lines, then `  ...` and its end."""
    start = next(i for i, l in enumerate(lines) if l == "[")
    end = len(lines) - 1 - lines[::-1].index("]")
    return lines[:start] + cut(lines[start:end + 1], 14, 1)


def gdb_attach():
    with Testee() as t:
        out = gdb(["-p", str(t.pid)], [
            "vma whereis $rsp &global_data", f"vma whereis {t.labels['arena']} {t.labels['madv_guard']}",
            "vma map --kind thread-stack", "vma whereis --json $pc", "detach"])
    return json_cut([l for l in out if not l.startswith("[Inferior")])


def gdb_crash():
    return gdb([], ["run --crash=text-write </dev/null >/dev/null", "vma fault",
                    "vma whereis $_siginfo._sifields._sigfault.si_addr", "kill"], [f"{DEMO}/vma-testee"])


def gdb_remote():
    port = free_port()
    server = subprocess.Popen(["gdbserver", "--once", f"127.0.0.1:{port}", f"{DEMO}/vma-testee",
                               "--crash=null-read"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=DEMO)
    try:
        time.sleep(1)
        return gdb([], [f"target remote 127.0.0.1:{port}", "continue", "vma map --kind heap",
                        "vma whereis $rsp", "kill"], [f"{DEMO}/vma-testee"])
    finally:
        server.kill()
        server.wait()


def gdb_draw():
    with Testee() as t:
        return gdb(["-p", str(t.pid)], ["vma map --draw --mark $rsp", "detach"], columns=("80", "30"))


CAPTURES = {
    "readme-cli": ("README.md", readme_cli),
    "readme-draw": ("README.md", readme_draw),
    "docs-svg": (None, docs_svg),
    "lldb-launch": ("plugin/lldb/README.md", lldb_launch),
    "lldb-crash": ("plugin/lldb/README.md", lldb_crash),
    "lldb-remote": ("plugin/lldb/README.md", lldb_remote),
    "lldb-fault-draw": ("plugin/lldb/README.md", lldb_fault_draw),
    "gdb-attach": ("plugin/gdb/README.md", gdb_attach),
    "gdb-crash": ("plugin/gdb/README.md", gdb_crash),
    "gdb-remote": ("plugin/gdb/README.md", gdb_remote),
    "gdb-draw": ("plugin/gdb/README.md", gdb_draw),
}


def markers(doc):
    return [m.group(1) for line in (TOP / doc).read_text().split("\n") if (m := MARKER.match(line))]


def replace_block(doc, name, lines):
    """The fenced block after NAME's marker in doc becomes lines."""
    path = TOP / doc
    text = path.read_text().split("\n")
    at = text.index(f"<!-- capture: {name} -->")
    if not text[at + 1].startswith("```"):
        fail(f"{doc}:{at + 2}: the capture marker {name} is not followed by a fenced block")
    end = next(i for i in range(at + 2, len(text)) if text[i].startswith("```"))
    text[at + 2:end] = [l.rstrip() for l in lines]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(text))
    tmp.replace(path)


def check(build):
    problems = []
    found = {name: doc for doc in DOCS for name in markers(doc)}
    for name, (doc, _) in CAPTURES.items():
        if doc and name not in found:
            problems.append(f"{doc}: no marker for capture {name}")
    for name, doc in found.items():
        if name not in CAPTURES:
            problems.append(f"{doc}: marker {name} has no generator in scripts/captures.py")
    for doc in DOCS + ["docs/vma-map-testee.svg"]:
        text = (TOP / doc).read_text()
        for where in {str(TOP), str(build.resolve())}:
            if where + "/" in text:
                problems.append(f"{doc}: shows the machine's own path {where}")
    for p in problems:
        print(f"captures: {p}", file=sys.stderr)
    return 1 if problems else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=str(TOP / "build"))
    ap.add_argument("--only", default="")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args()
    build = Path(a.build)
    if a.list:
        for name, (doc, _) in CAPTURES.items():
            print(f"{name}\t{doc or 'docs/vma-map-testee.svg, docs/vma-map-testee.png'}")
        return 0
    if a.check:
        return check(build)
    only = [n for n in a.only.split(",") if n]
    for n in only:
        if n not in CAPTURES:
            fail(f"--only: no capture named {n} (see --list)")
    stage(build)
    for name, (doc, make) in CAPTURES.items():
        if only and name not in only:
            continue
        lines = make()
        if doc:
            replace_block(doc, name, lines)
        print(f"captures: {name} regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
