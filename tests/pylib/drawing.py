"""Reads the text of `vma map --draw` (core/draw.cc's draw_text) back into
bands, for the CLI, LLDB, GDB and harness tests.

A row is: "==>" or 3 blanks, the band's start address on its bottom row (18
blanks on its other rows), the bar between "|" (":" for gaps) naming the
band's kind on its top row ("~" folded, "!!" W+X, "x" guard fill), then the
perms, size and label on the top row and the pointer ("<== mark ADDR") on the
marked row.
"""
import re

ROW = re.compile(r"^(==>|   )(0x[0-9a-f]{16}| {18}) ([|:])(.{14})([|:])(.*)$")


def bands(text):
    """The drawing's bands, top first: dicts with kind, start (int, the band's
    lowest address), rows, text (the top row after the bar), bar (the top
    row's bar), marked (the pointer's text, "" when not marked)."""
    out = []
    for line in text.splitlines():
        m = ROW.match(line)
        if not m:
            continue
        arrow, addr, _, bar, _, rest = m.groups()
        kind = bar.strip(" x!~")
        if kind:  # a band's top row names its kind
            out.append({"kind": kind, "start": None, "rows": 0, "text": rest, "bar": bar, "marked": ""})
        if not out:
            continue
        out[-1]["rows"] += 1
        if arrow == "==>":
            out[-1]["marked"] = rest
        if addr.strip():
            out[-1]["start"] = int(addr, 16)
    return out


def band_at(bs, addr):
    """The band holding addr (bands are top first, each down to its start)."""
    for b in bs:
        if b["start"] is not None and b["start"] <= addr:
            return b
    return None


def testee_checks(text, madv, tids, columns=80, rows=40):
    """What a drawing of the testee (tests/programs/testee.c) at columns x
    rows, marked at its MADV guard page `madv`, must show: (ok, what) pairs
    for a test's own check()."""
    lines = [l for l in text.splitlines() if l.strip()]
    bs = bands(text)
    marked = [b for b in bs if b["marked"]]
    out = [(0 < len(lines) <= rows and all(len(l) <= columns for l in lines),
            "the drawing fits %dx%d (%d lines)" % (columns, rows, len(lines))),
           (len(marked) == 1 and marked[0]["kind"] == "guard" and marked[0]["start"] == madv & ~0xfff
            and ("<== mark %#x" % madv) in marked[0]["marked"], "--mark points at the MADV guard page's band"),
           (any(b["kind"] == "vdso" for b in bs) and bool(bs) and bs[0]["kind"] == "kernel",
            "the vDSO and the kernel half are bands")]
    for tid in tids:
        out.append((any(b["kind"] == "thread-stack" and ("tid %d" % tid) in b["text"] for b in bs),
                    "thread %d's stack is labelled with its TID" % tid))
    return out


def fault_checks(text, kind):
    """What `vma fault --draw` must show: the fault first, then the drawing
    pointing at the fault address in a band of `kind`."""
    m = re.search(r"^SIG[A-Z]+ \([A-Z_]+\) at (0x[0-9a-f]+)", text, re.M)
    if m is None:
        return [(False, "vma fault --draw prints the fault first")]
    marked = [b for b in bands(text) if b["marked"]]
    return [(True, "vma fault --draw prints the fault first"),
            (len(marked) == 1 and marked[0]["kind"] == kind and ("<== fault " + m.group(1)) in marked[0]["marked"],
             "vma fault --draw points at the fault address, in a %s band" % kind)]
