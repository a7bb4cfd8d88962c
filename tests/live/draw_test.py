#!/usr/bin/python3
"""Live and end-to-end tests of `vma map --draw`, `--svg`, `--mark` and
`vma fault --draw` on the project's testee, the SVG checked in headless
Chromium (the pixels of known bands, read back from a screenshot).

Each check prints a line; exit 1 if any failed.
"""
import argparse
import fcntl
import os
import pty
import re
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import termios
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from drawing import ROW, band_at, bands  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--vma", required=True)
ap.add_argument("--testee", required=True)
args = ap.parse_args()
args.vma, args.testee = os.path.abspath(args.vma), os.path.abspath(args.testee)

failures = []
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def run(argv, env=None, expect=0):
    e = dict(os.environ)
    e.pop("NO_COLOR", None)
    e.update(env or {})
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=e)
    if p.returncode != expect:
        print(f"  {' '.join(argv)} exited {p.returncode}: {p.stderr.strip()}")
    return p


def cells(s):
    return len(ANSI.sub("", s))


class Testee:
    def __init__(self, *extra, cwd=None, core=False):
        pre = (lambda: resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,) * 2)) if core else None
        self.p = subprocess.Popen([args.testee, *extra], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  cwd=cwd, preexec_fn=pre)
        self.lines = []
        for line in self.p.stdout:
            if line.startswith("ready"):
                break
            self.lines.append(line.split())
        self.pid = int(next(l[1] for l in self.lines if l[0] == "pid"))

    def addrs(self, name):
        return [(int(l[1], 16), int(l[2]) if len(l) > 2 else None) for l in self.lines if l[0] == name]

    def close(self):
        self.p.kill()
        self.p.wait()


def draw_in_pty(argv, cols, rows, env):
    """Runs argv with stdout on a pty of cols x rows; returns its output."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    e = dict(os.environ)
    e.pop("NO_COLOR", None)
    e.pop("COLUMNS", None)
    e.pop("LINES", None)
    e.update(env)
    p = subprocess.Popen(argv, stdout=slave, stderr=subprocess.PIPE, env=e)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the pty
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    p.wait(timeout=60)
    return out.decode("utf-8", "replace").replace("\r\n", "\n")


tmp = tempfile.mkdtemp(prefix="vma-draw-test.")
t = Testee()
try:
    pid = str(t.pid)
    madv = t.addrs("madv_guard")[0][0]
    threads = t.addrs("thread_stack")
    page = madv & ~0xfff

    # --- text, not a terminal: COLUMNS x LINES, else 80x40, no colour -------
    for cols, rows in [(80, 40), (120, 60), (60, 20), (200, 30)]:
        p = run([args.vma, "map", "--pid", pid, "--draw"], {"COLUMNS": str(cols), "LINES": str(rows)})
        lines = p.stdout.splitlines()
        check(p.returncode == 0 and 0 < len(lines) <= rows and all(cells(l) <= cols for l in lines),
              f"--draw at COLUMNS={cols} LINES={rows}: {len(lines)} lines, widest {max(map(cells, lines))}")
        check("\x1b[" not in p.stdout, f"--draw at {cols}x{rows}: no colour when stdout is not a terminal")
    p = run([args.vma, "map", "--pid", pid, "--draw"], {"COLUMNS": "", "LINES": ""})
    lines = p.stdout.splitlines()
    check(len(lines) <= 40 and max(map(cells, lines)) <= 80 and len(lines) >= 30,
          f"--draw without COLUMNS/LINES: 80x40 ({len(lines)} lines)")

    p = run([args.vma, "map", "--pid", pid, "--draw", "--mark", hex(madv)], {"COLUMNS": "80", "LINES": "40"})
    text = p.stdout
    bs = bands(text)
    kinds = [b["kind"] for b in bs]
    check(kinds[0] == "kernel" and "non-canonical" in kinds and kinds[-1] == "null-page",
          "the kernel half, the non-canonical hole and the null page are bands")
    check(any(b["kind"] in ("text", "~text") or "text" in b["bar"] for b in bs), "a text band")
    heap = [b for b in bs if "[heap]" in b["text"]]
    check(len(heap) == 1 and heap[0]["kind"] == "heap", "the brk heap is a band of its own")
    check(any(b["kind"] == "vdso" and "[vdso]" in b["text"] for b in bs), "the vDSO is a band")
    for sp, tid in threads:
        b = band_at(bs, sp)
        below = bs[bs.index(b) + 1] if b in bs else None
        check(b is not None and b["kind"] == "thread-stack" and f"tid {tid}" in b["text"],
              f"thread {tid}'s stack is a band labelled with its TID")
        check(below is not None and below["kind"] == "guard" and "xx" in below["bar"] and str(tid) in below["text"]
              and below["start"] == b["start"] - 4096,
              f"the 4 KiB guard below thread {tid}'s stack is a band right below it")
    g = band_at(bs, madv)
    check(g is not None and g["kind"] == "guard" and g["start"] == page and "MADV guard page" in g["text"],
          "the MADV guard page is a band of its own, marked as a guard")
    marked = [b for b in bs if b["marked"]]
    check(len(marked) == 1 and marked[0] is g and f"<== mark {hex(madv)}" in g["marked"],
          "--mark points at the MADV guard page's band")
    check("~ folded:" in text, "the 38-VMA testee folds some runs in 40 rows, and says so")
    with open(os.path.join(tmp, "draw-80x40.txt"), "w") as f:
        f.write(text)

    # --- colour: a terminal, its size, NO_COLOR, --color ---------------------
    out = draw_in_pty([args.vma, "map", "--pid", pid, "--draw"], 100, 30, {})
    lines = out.splitlines()
    check("\x1b[" in out and len(lines) <= 30 and max(map(cells, lines)) <= 100,
          f"on a 100x30 terminal: its size ({len(lines)} lines, widest {max(map(cells, lines))}) and colour")
    out = draw_in_pty([args.vma, "map", "--pid", pid, "--draw"], 100, 30, {"NO_COLOR": "1"})
    check("\x1b[" not in out, "on a terminal with NO_COLOR: no colour")
    p = run([args.vma, "map", "--pid", pid, "--draw", "--color=always"], {"NO_COLOR": "1"})
    check("\x1b[" in p.stdout and ANSI.sub("", p.stdout) == run([args.vma, "map", "--pid", pid, "--draw"]).stdout,
          "--color=always colours the same drawing")

    # --- bad input -----------------------------------------------------------
    p = run([args.vma, "map", "--pid", pid, "--mark", "0x1000"], expect=2)
    check(p.returncode == 2 and "--mark: give --draw or --svg FILE too" in p.stderr, "--mark alone: exit 2")
    p = run([args.vma, "map", "--pid", pid, "--draw", "--mark", "0xzz"], expect=2)
    check(p.returncode == 2 and p.stderr.startswith("vma: --mark: "), "--mark 0xzz: exit 2, names the option")
    p = run([args.vma, "map", "--pid", pid, "--draw", "--json"], expect=2)
    check(p.returncode == 2 and "not with --json" in p.stderr, "--draw --json: exit 2")
    p = run([args.vma, "map", "--pid", pid, "--svg", "/nonexistent/dir/x.svg"], expect=2)
    check(p.returncode == 2 and p.stderr.strip() == "vma: --svg /nonexistent/dir/x.svg: cannot write: No such file or directory",
          "--svg into a missing directory: exit 2, names the path")

    # --- SVG in a real browser -------------------------------------------------
    svg = os.path.join(tmp, "testee.svg")
    p = run([args.vma, "map", "--pid", pid, "--svg", svg, "--mark", hex(madv)])
    check(p.returncode == 0 and p.stdout == "", "--svg writes the file and prints nothing")
    root = ET.parse(svg).getroot()
    ns = {"s": "http://www.w3.org/2000/svg"}
    groups = root.findall("s:g[@class='band']", ns)
    titles = [g.find("s:title", ns).text for g in groups]
    check(any(f"{page:#x}-{page + 4096:#x} (4 KiB)  guard" in t_ for t_ in titles),
          "SVG: the MADV guard page's hover title gives its bounds and kind")
    check(all(any(f"tid {tid}" in t_ and "thread-stack" in t_ for t_ in titles) for _, tid in threads),
          "SVG: each thread stack's title carries its TID")
    chromium = shutil.which("chromium")
    if not chromium:
        check(False, "chromium is installed (scripts/setup.sh installs it)")
    else:
        w, h = int(root.get("width")), int(root.get("height"))
        png = os.path.join(tmp, "testee.png")
        r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            f"--screenshot={png}", f"--window-size={w},{h}", "--force-device-scale-factor=1",
                            "file://" + svg], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "HOME": tmp})
        check(r.returncode == 0 and os.path.exists(png), f"chromium --headless --screenshot ({r.returncode})")
        from PIL import Image
        img = Image.open(png).convert("RGB")
        check(img.size == (w, h), f"screenshot is {img.size}, the SVG {w}x{h}")

        def rgb(css):
            return tuple(int(css[i:i + 2], 16) for i in (1, 3, 5))

        def near(a, b, tol=12):
            return all(abs(x - y) <= tol for x, y in zip(a, b))

        def bar_of(g):
            return next(r_ for r_ in g.findall("s:rect", ns) if r_.get("class") == "bar")

        def sample(rect):
            x, y, rw, rh = (float(rect.get(k)) for k in ("x", "y", "width", "height"))
            # Right end of the bar (the kind's name is at its left), middle row.
            return img.getpixel((int(x + rw - 6), int(y + rh / 2)))

        seen = {}
        for g in groups:
            kind = g.get("data-kind")
            title = g.find("s:title", ns).text
            rect = bar_of(g)
            if kind in ("heap", "vdso", "thread-stack", "text", "kernel") and "W+X" not in title:
                got = sample(rect)
                check(near(got, rgb(rect.get("fill"))),
                      f"screenshot: the {kind} band {g.get('data-first')} is painted {rect.get('fill')} (got {got})")
                seen[kind] = rect.get("fill")
        check(len(set(seen.values())) == len(seen) and len(seen) == 5,
              f"heap, vdso, thread-stack, text and kernel have 5 different colours: {seen}")
        # The MADV guard page: red under a black cross-hatch.
        mg = next(g for g in groups if int(g.get("data-first"), 16) == page)
        rect = bar_of(mg)
        x, y, rw, rh = (int(float(rect.get(k))) for k in ("x", "y", "width", "height"))
        px = [img.getpixel((i, j)) for i in range(x + 60, x + rw - 2) for j in range(y + 2, y + rh - 2)]
        check(any(near(p_, rgb(rect.get("fill")), 40) for p_ in px) and any(max(p_) < 80 for p_ in px),
              "screenshot: the MADV guard page's band is red with a dark hatch")
        # The mark's arrow, red, left of the bar at the guard page's rows.
        poly = mg.find("s:g[@class='mark']/s:polygon", ns)
        pts = [tuple(map(float, xy.split(","))) for xy in poly.get("points").split()]
        cx, cy = int(sum(p_[0] for p_ in pts) / 3), int(sum(p_[1] for p_ in pts) / 3)
        check(near(img.getpixel((cx, cy)), (0xd0, 0, 0), 30), "screenshot: the mark's red arrow is drawn")
        # Visible text: the browser laid out the labels (--dump-dom of the SVG
        # document as Chromium parsed it).
        r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "file://" + svg],
                           capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": tmp})
        check(all(f"tid {tid}" in r.stdout for _, tid in threads) and "MADV guard page" in r.stdout
              and "[vdso]" in r.stdout, "chromium --dump-dom: the labels are in the rendered document")
        if os.environ.get("VMA_DRAW_KEEP"):  # to look at it
            shutil.copy(png, os.path.join(os.environ["VMA_DRAW_KEEP"], "testee.png"))
finally:
    t.close()

# --- vma fault --core --draw: a kernel-written core of the testee -----------
pattern = open("/proc/sys/kernel/core_pattern").read().strip()
if pattern.startswith("|") or "/" in pattern:
    print(f"skip vma fault --draw: kernel.core_pattern is {pattern!r} (cores not written to the cwd); tests do not change it")
else:
    c = Testee("--crash=text-write", cwd=tmp, core=True)
    text_addr = c.addrs("text")[0][0]
    c.p.stdin.close()
    c.p.wait(timeout=30)
    cores = [f for f in os.listdir(tmp) if f.startswith("core")]
    check(len(cores) == 1, f"the testee left a core in its cwd ({cores})")
    if cores:
        core = os.path.join(tmp, cores[0])
        p = run([args.vma, "fault", "--core", core, "--draw"], {"COLUMNS": "80", "LINES": "40"})
        lines = p.stdout.splitlines()
        m = re.match(r"SIGSEGV \(SEGV_ACCERR\) at (0x[0-9a-f]+)", lines[0] if lines else "")
        check(m is not None, "vma fault --draw: the fault first")
        if m:
            addr = int(m.group(1), 16)
            drawing = p.stdout[p.stdout.index("\n", p.stdout.index(" VMAs, high addresses")) - 200:]
            bs = bands(p.stdout)
            fb = [b for b in bs if b["marked"]]
            check(len(fb) == 1 and "text" in fb[0]["bar"] and f"<== fault {addr:#x}" in fb[0]["marked"],
                  f"vma fault --draw: the drawing points at the fault address {addr:#x} in a text band")
            check(len([l for l in lines if ROW.match(l)]) <= 40 - 1, "vma fault --draw: the drawing fits 80x40")
        for f in cores:
            os.unlink(os.path.join(tmp, f))

shutil.rmtree(tmp, ignore_errors=True)
print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
