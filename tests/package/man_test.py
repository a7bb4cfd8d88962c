#!/usr/bin/python3
"""The man pages in the build tree (packaging/man/gen_man.py) against the
programs they describe: SYNOPSIS is `PROG --help` and each COMMANDS
subsection is `PROG CMD --help`, line for line; every probe of `vma-harness
list` is in vmakit-probes(7); the required sections are there; man(1)
formats each page without a warning.

  man_test.py BUILD_DIR
"""

import gzip
import json
import os
import re
import subprocess
import sys

BUILD = sys.argv[1]
FAILS = []


def check(ok, what, detail=""):
    if not ok:
        FAILS.append(what)
        print("FAIL: %s%s" % (what, ("\n" + detail) if detail else ""), file=sys.stderr)


def run(argv):
    env = dict(os.environ, NO_COLOR="1", LC_ALL="C.UTF-8")
    return subprocess.run(argv, stdout=subprocess.PIPE, text=True, env=env, check=True).stdout


def page(name):
    with gzip.open(os.path.join(BUILD, "man", name + ".gz"), "rt") as f:
        return f.read()


def unroff(line):
    line = line[2:] if line.startswith("\\&") else line
    return line.replace("\\-", "-").replace("\\e", "\\")


def blocks(text):
    """{heading: [verbatim lines]} for the .nf blocks after .SH SYNOPSIS and
    after each .SS heading."""
    out, heading, inside, lines = {}, None, False, []
    for line in text.splitlines():
        if line.startswith(".SH ") or line.startswith(".SS "):
            heading = line[4:].strip('"')
        elif line == ".nf":
            inside, lines = True, []
        elif line == ".fi" and inside:
            inside = False
            out.setdefault(heading, unroff_lines(lines))
        elif inside:
            lines.append(line)
    return out


def unroff_lines(lines):
    return "\n".join(unroff(l) for l in lines) + "\n"


def man_warnings(name):
    p = subprocess.run(["man", "--warnings", "-l", os.path.join(BUILD, "man", name + ".gz")],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                       env=dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8"))
    return p.returncode, p.stderr.strip()


for prog, commands in (("vma", ["whereis", "map", "fault", "kinds"]),
                       ("vma-harness", ["list", "run", "aslr", "audit", "demo", "vm", "matrix"])):
    binary = os.path.join(BUILD, prog)
    text = page(prog + ".1")
    got = blocks(text)
    check(got.get("SYNOPSIS") == run([binary, "--help"]), "%s(1) SYNOPSIS is `%s --help`" % (prog, prog),
          (got.get("SYNOPSIS") or "")[:400])
    for cmd in commands:
        key = "%s %s" % (prog, cmd)
        check(got.get(key) == run([binary, cmd, "--help"]),
              "%s(1) %s is `%s --help`" % (prog, key, key), (got.get(key) or "(missing)")[:400])
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "EXIT STATUS", "EXAMPLES", "FILES",
                    "SEE ALSO"):
        check(re.search(r"^\.SH %s$" % section, text, re.M) is not None, "%s(1) has %s" % (prog, section))
    version = run([binary, "--version"]).split()[-1]
    check('"vmakit %s"' % version in text.splitlines()[0], "%s(1) .TH names version %s" % (prog, version))
    rc, err = man_warnings(prog + ".1")
    check(rc == 0 and not err, "man --warnings %s(1) is clean" % prog, err[:800])

probes = json.loads(run([os.path.join(BUILD, "vma-harness"), "list", "--format", "json"]))["probes"]
text = page("vmakit-probes.7")
for p in probes:
    check(("\\fB%s\\fR" % p["probe"].replace("-", "\\-")) in text, "vmakit-probes(7) lists " + p["probe"])
check(len(probes) >= 33, "vma-harness list has the 33 built-in probes (%d)" % len(probes))
rc, err = man_warnings("vmakit-probes.7")
check(rc == 0 and not err, "man --warnings vmakit-probes(7) is clean", err[:800])

if FAILS:
    sys.exit("%d failures" % len(FAILS))
print("ok: vma(1), vma-harness(1) equal the programs' --help; vmakit-probes(7) lists %d probes" % len(probes))
