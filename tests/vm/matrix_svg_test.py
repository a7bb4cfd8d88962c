#!/usr/bin/python3
"""`vma-harness matrix --from-json FILE --svg OUT` on the saved guest reports
(tests/data/vm/: Linux 6.1 with 5-level paging, 6.12 with 4-level) plus a boot
that never reported, drawn by headless Chromium: the pixels of known cells
and bars are read back from a screenshot. No QEMU. Exit 1 if a check failed.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

ap = argparse.ArgumentParser()
ap.add_argument("--harness", required=True)
ap.add_argument("--data", required=True)
args = ap.parse_args()
failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def harness(*argv):
    return subprocess.run([args.harness, *argv], capture_output=True, text=True, timeout=60)


tmp = tempfile.mkdtemp(prefix="vma-matrix-svg.")
try:
    load = lambda n: json.load(open(os.path.join(args.data, n)))
    doc = {"kernels": [
        {"kernel": "bookworm-amd64", "release": "6.1.0-57-amd64", "cpu": "max", "accel": "tcg", "seconds": 17.0,
         "exit_status": 0, "error": None, "report": load("bookworm-max.json")},
        {"kernel": "trixie-amd64", "release": "6.12.117+deb13-amd64", "cpu": "max,la57=off", "accel": "tcg",
         "seconds": 9.6, "exit_status": 0, "error": None, "report": load("trixie-max-la57-off.json")},
        {"kernel": "broken", "release": "", "cpu": "max", "accel": "tcg", "seconds": 3.0, "exit_status": 2,
         "error": "vm broken: the kernel never reached init", "report": None}], "differences": []}
    saved = os.path.join(tmp, "matrix.json")
    json.dump(doc, open(saved, "w"))
    svg = os.path.join(tmp, "matrix.svg")
    p = harness("matrix", "--from-json", saved, "--svg", svg)
    check(p.returncode == 2, f"a matrix with a boot that never reported exits 2 ({p.returncode})")
    check("[3] broken, cpu max, ?, tcg: ERROR vm broken" in p.stdout, "the text report is printed as well")
    check(os.path.exists(svg), "--svg writes the file")

    # Bad input: exit 2 and a message naming the file and field.
    p = harness("matrix", "--from-json", os.path.join(tmp, "nope.json"))
    check(p.returncode == 2 and "--from-json " + os.path.join(tmp, "nope.json") + ": No such file or directory"
          in p.stderr, "--from-json of a missing file: exit 2, names it")
    bad = json.loads(json.dumps(doc))
    bad["kernels"][1]["exit_status"] = "zero"
    json.dump(bad, open(os.path.join(tmp, "bad.json"), "w"))
    p = harness("matrix", "--from-json", os.path.join(tmp, "bad.json"))
    check(p.returncode == 2 and "kernels[1].exit_status: expected a number" in p.stderr,
          "--from-json with a bad field: exit 2, names the field")
    p = harness("matrix", "--from-json", saved, "--svg", "/nonexistent/dir/m.svg")
    check(p.returncode == 2 and "--svg /nonexistent/dir/m.svg: cannot write" in p.stderr,
          "--svg into a missing directory: exit 2 before anything runs")

    root = ET.parse(svg).getroot()
    ns = {"s": "http://www.w3.org/2000/svg"}
    w, h = int(root.get("width")), int(root.get("height"))
    png = os.path.join(tmp, "matrix.png")
    chromium = shutil.which("chromium")
    check(chromium is not None, "chromium is installed (scripts/setup.sh installs it)")
    if chromium:
        r = subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            "--force-device-scale-factor=1", f"--window-size={w},{h}", f"--screenshot={png}",
                            "file://" + svg], capture_output=True, text=True, timeout=120,
                           env={**os.environ, "HOME": tmp})
        check(r.returncode == 0 and os.path.exists(png), "chromium --headless --screenshot")
        from PIL import Image
        img = Image.open(png).convert("RGB")
        check(img.size == (w, h), f"screenshot {img.size} is the SVG's {w}x{h}")

        def near(a, b, tol=12):
            return all(abs(x - y) <= tol for x, y in zip(a, b))

        def rgb(css):
            return tuple(int(css[i:i + 2], 16) for i in (1, 3, 5))

        def cell(probe, col):
            g = root.find(f"s:g[@class='cell'][@data-probe='{probe}'][@data-col='{col}']", ns)
            return g, g.find("s:rect", ns)

        def right_middle(rect, inset=10):
            x, y, rw, rh = (float(rect.get(k)) for k in ("x", "y", "width", "height"))
            return img.getpixel((int(x + rw - inset), int(y + rh / 2)))

        for probe, col, status, colour in [("mseal", 0, "skip", "#bdbdbd"), ("mseal", 1, "pass", "#4caf50"),
                                           ("null-read", 0, "pass", "#4caf50")]:
            g, rect = cell(probe, col)
            got = right_middle(rect)
            check(g.get("data-status") == status and near(got, rgb(colour)),
                  f"screenshot: {probe} on column {col} is painted {status} {colour} (got {got})")
        # The boot that never reported: a hatch (white and grey pixels), not a verdict colour.
        g, rect = cell("mseal", 2)
        x, y, rw, rh = (int(float(rect.get(k))) for k in ("x", "y", "width", "height"))
        px = {img.getpixel((i, j)) for i in range(x + 2, x + rw - 2) for j in range(y + 2, y + rh - 2)}
        check(any(near(p_, (255, 255, 255)) for p_ in px) and any(max(p_) < 220 for p_ in px)
              and not any(near(p_, rgb("#4caf50")) for p_ in px), "screenshot: the broken boot's cells are hatched")
        # ASLR bars: the 28-bit bar is painted, and longer than the 19-bit one by 28:19.
        lengths = {}
        for col in (0, 1):
            gb = root.find(f"s:g[@class='aslr'][@data-region='mmap-big'][@data-col='{col}']", ns)
            rect = gb.find("s:rect", ns)
            x, y, rh = int(float(rect.get("x"))), int(float(rect.get("y"))), int(float(rect.get("height")))
            row = [img.getpixel((i, y + rh // 2)) for i in range(x, x + 190)]
            painted = [i for i, p_ in enumerate(row) if near(p_, rgb(rect.get("fill")))]
            lengths[col] = len(painted)
        check(lengths[0] > 0 and abs(lengths[0] / max(1, lengths[1]) - 28 / 19) < 0.1,
              f"screenshot: mmap-big's bars are 28:19 long ({lengths[0]} and {lengths[1]} px)")
        if os.environ.get("VMA_DRAW_KEEP"):
            shutil.copy(png, os.path.join(os.environ["VMA_DRAW_KEEP"], "matrix.png"))
finally:
    shutil.rmtree(tmp, ignore_errors=True)
print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
