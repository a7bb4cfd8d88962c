"""What every front end must say of the testee's --merge-bss VMA (issue 13):
the kernel merged a loaded image's anonymous .bss VMA with two anonymous
pages the testee mapped flush after it (MAP_FIXED_NOREPLACE), so one line of
/proc/PID/maps holds two things. The .bss side is `bss`, the far side
`anon`; each is a region of its own whose "vma" is the kernel's whole VMA.

The testee prints merged_bss (8 bytes below the .bss end, page-rounded),
merged_anon (8 bytes above it), merged_vma_start and merged_vma_end; or
"merged_bss unsupported REASON" when it could not place the pages.
"""


def merged_values(lines):
    """{name: int} of the testee's merged_* lines (lines: split lines), or
    raises AssertionError with the testee's reason when it could not merge."""
    vals = {l[0]: l[1] for l in lines if l and l[0].startswith("merged_")}
    if not all(k in vals and vals[k].startswith("0x") for k in
               ("merged_bss", "merged_anon", "merged_vma_start", "merged_vma_end")):
        why = next((" ".join(l[2:]) for l in lines if l[:2] == ["merged_bss", "unsupported"]), "no merged_* lines")
        raise AssertionError("the testee could not make a merged .bss VMA: " + why)
    return {k: int(v, 16) for k, v in vals.items() if v.startswith("0x")}


def merged_checks(vals, bss, anon, regions=None):
    """(ok, what, detail) triples for whereis JSON objects `bss` and `anon`
    (the answers for merged_bss and merged_anon) and, if given, the regions
    of `map --json`."""
    lo, hi = vals["merged_vma_start"], vals["merged_vma_end"]
    cut = vals["merged_anon"] - 8
    vma = {"start": hex(lo), "end": hex(hi)}
    out = [
        (bss["kind"] == "bss", "the .bss side of the merged VMA is bss", bss),
        (anon["kind"] == "anon", "the side past the .bss end is anon, not bss", anon),
    ]
    for name, o in (("bss", bss), ("anon", anon)):
        r = o.get("region") or {}
        out.append((r.get("vma") == vma, f"the {name} part's region names the kernel VMA {lo:#x}-{hi:#x}", r))
    out.append(((bss.get("region") or {}).get("end") == hex(cut) and (anon.get("region") or {}).get("start") == hex(cut),
                f"the parts meet at the .bss end {cut:#x}", (bss.get("region"), anon.get("region"))))
    if regions is not None:
        parts = [(r["kind"], r["start"], r["end"]) for r in regions if r.get("vma") == vma]
        want = [("bss", hex(lo), hex(cut)), ("anon", hex(cut), hex(hi))]
        out.append((parts == want, "map lists the merged VMA as its two parts", parts))
    return out


def merged_text_rows(vals, text):
    """The rows of `vma map` text that show the deliberate merge's two parts
    (the layout may merge other VMAs too: libc's .bss in a fresh root)."""
    starts = (vals["merged_vma_start"], vals["merged_anon"] - 8)
    return [l for l in text.splitlines() if "one kernel VMA" in l and int(l.split()[0], 16) in starts]


def kernel_vmas(regions):
    """map --json regions folded back into the kernel's VMAs: consecutive
    parts of one "vma" become one entry with the VMA's bounds."""
    out = []
    for r in regions:
        v = r.get("vma")
        if v and out and out[-1].get("vma") == v:
            continue
        if v:
            r = dict(r, start=v["start"], end=v["end"])
        out.append(r)
    return out
