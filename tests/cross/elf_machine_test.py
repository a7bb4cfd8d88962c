#!/usr/bin/python3
"""Checks that a cross build made what it says: every product is a 64-bit
little-endian ELF for the named machine (e_machine), and the dynamically
linked ones ask for that machine's loader (PT_INTERP).

  elf_machine_test.py --machine aarch64 --build DIR

Products: vma, vma-harness and every file in DIR/probes that is an ELF file.
Exit 0 pass, 1 fail (each wrong file named).
"""

import argparse
import os
import struct
import sys

MACHINES = {
    # e_machine (include/uapi/linux/elf-em.h) and the glibc loader path.
    "aarch64": (183, "/lib/ld-linux-aarch64.so.1"),
    "x86_64": (62, "/lib64/ld-linux-x86-64.so.2"),
}


def read_elf(path):
    """(e_machine, interp or None), or None when not a 64-bit LE ELF file."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    e_machine = struct.unpack_from("<H", data, 18)[0]
    e_phoff = struct.unpack_from("<Q", data, 32)[0]
    e_phentsize, e_phnum = struct.unpack_from("<HH", data, 54)
    interp = None
    for i in range(e_phnum):
        p_type, _flags, p_offset, _v, _p, p_filesz = struct.unpack_from("<IIQQQQ", data, e_phoff + i * e_phentsize)
        if p_type == 3:  # PT_INTERP
            interp = data[p_offset:p_offset + p_filesz].rstrip(b"\0").decode()
    return e_machine, interp


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--machine", required=True, choices=sorted(MACHINES))
    ap.add_argument("--build", required=True)
    args = ap.parse_args()
    want_machine, want_interp = MACHINES[args.machine]
    paths = [os.path.join(args.build, "vma"), os.path.join(args.build, "vma-harness")]
    probe_dir = os.path.join(args.build, "probes")
    for name in sorted(os.listdir(probe_dir)) if os.path.isdir(probe_dir) else []:
        p = os.path.join(probe_dir, name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            paths.append(p)
    failed = 0
    probes = 0
    for p in paths:
        if not os.path.exists(p):
            print(f"FAIL {p}: missing")
            failed += 1
            continue
        elf = read_elf(p)
        if elf is None:
            print(f"FAIL {p}: not a 64-bit little-endian ELF file")
            failed += 1
            continue
        machine, interp = elf
        if machine != want_machine:
            print(f"FAIL {p}: e_machine {machine}, expected {want_machine} ({args.machine})")
            failed += 1
        elif interp is not None and interp != want_interp:
            print(f"FAIL {p}: interpreter {interp}, expected {want_interp}")
            failed += 1
        else:
            print(f"ok   {p}: {args.machine}" + (f", {interp}" if interp else ", static"))
        probes += p.startswith(probe_dir)
    if probes < 30:
        print(f"FAIL {probe_dir}: only {probes} probe programs")
        failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
