#!/usr/bin/python3
"""A program run from overlayfs (a container's root, the kernel matrix's
guests): /proc/PID/maps may name its files with the layer's device while
stat() of the path says the overlay's, the inode the same (measured in the
6.1 and 6.12 guests, 9p lower layer: maps 00:1b, stat 00:1d; on the 6.18
development machine, ext4 lower layer, both say the overlay's). A saved map
must still find the ELF file (sections, symbols), as the live map does. The
vm tests run this inside the guests (tests/vm, LIVE_TESTS).

Needs root (mount). Exit 0 pass, 1 fail, 77 skip.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--vma", required=True)
ap.add_argument("--testee", required=True)
args = ap.parse_args()

if os.geteuid() != 0:
    print("SKIP: needs root to mount overlayfs")
    sys.exit(77)

failures = []


def check(ok, what):
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


d = tempfile.mkdtemp(prefix="vmakit-overlay-")
os.chmod(d, 0o755)
merged = os.path.join(d, "merged")
try:
    for sub in ("lower", "upper", "work", "merged"):
        os.mkdir(os.path.join(d, sub))
    shutil.copy2(args.testee, os.path.join(d, "lower", "testee"))
    opts = f"lowerdir={d}/lower,upperdir={d}/upper,workdir={d}/work"
    m = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, merged], capture_output=True, text=True)
    if m.returncode != 0:
        # Only a kernel without overlayfs (or a sandbox that forbids mounts)
        # says no here.
        print(f"SKIP: cannot mount overlayfs: {m.stderr.strip()}")
        sys.exit(77)
    try:
        exe = os.path.join(merged, "testee")
        p = subprocess.Popen([exe], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            lines = []
            for line in p.stdout:
                if line.strip() == "ready":
                    break
                lines.append(line.split())
            big = next(l[1] for l in lines if l[0] == "big_bss")
            data = next(l[1] for l in lines if l[0] == "global_data")
            maps = open(f"/proc/{p.pid}/maps").read()
            row = next(l for l in maps.splitlines() if l.endswith(exe))
            dev_maps = row.split()[3]
            st = os.stat(exe)
            dev_stat = "%02x:%02x" % (os.major(st.st_dev), os.minor(st.st_dev))
            print(f"# maps says dev {dev_maps}, stat says {dev_stat}, inode {st.st_ino}")
            saved = os.path.join(d, "saved.maps")
            with open(saved, "w") as f:
                f.write(maps)
            for src in (["--pid", str(p.pid)], ["--maps", saved]):
                r = subprocess.run([args.vma, "whereis", *src, "--json", data, big], capture_output=True, text=True,
                                   timeout=60)
                out = json.loads(r.stdout) if r.returncode == 0 else []
                check(len(out) == 2 and out[0]["symbol"] == "global_data" and out[0]["section"] == ".data",
                      f"{src[0]}: global_data has its symbol and section from the ELF file: "
                      f"{[(o['kind'], o['section'], o['symbol']) for o in out] or r.stderr}")
                check(len(out) == 2 and out[1]["kind"] == "bss" and out[1]["section"] == ".bss",
                      f"{src[0]}: big_bss is .bss")
        finally:
            p.kill()
            p.wait()
    finally:
        subprocess.run(["umount", merged])
finally:
    shutil.rmtree(d, ignore_errors=True)

print(f"{len(failures)} failed")
sys.exit(1 if failures else 0)
