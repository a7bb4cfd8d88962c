#!/usr/bin/python3
"""Generates vmakit's man pages from the built programs, so they cannot
drift from `--help`.

  gen_man.py command --program BIN --name TEXT --include FILE --output OUT
      vma(1), vma-harness(1): SYNOPSIS is `BIN --help`, COMMANDS is
      `BIN CMD --help` for every command BIN's --help names, the version is
      `BIN --version`'s; the hand-written sections (description, exit
      status, examples, files) come from FILE (`[SECTION]` lines, then roff,
      like help2man include files).
  gen_man.py probes --harness BIN --include FILE --output OUT
      vmakit-probes(7): every built-in probe `BIN list --format json` knows,
      with its description and the reason for its expected outcome under
      the default profile, after the hand-written text of FILE (roff).

The --help texts are copied verbatim (no-fill blocks), so a test can compare
a page with the program line by line (tests/package/man_test.py).
"""

import argparse
import json
import os
import re
import subprocess
import sys


def roff_line(line):
    """One line of text as roff: backslashes escaped, a leading . or ' made
    literal, ASCII hyphen-minus kept as a minus (options are typed)."""
    line = line.replace("\\", "\\e").replace("-", "\\-")
    if line.startswith((".", "'")):
        line = "\\&" + line
    return line


def run(argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env=dict(os.environ, NO_COLOR="1", LC_ALL="C.UTF-8"))
    if p.returncode != 0:
        sys.exit("gen_man: `%s` exited %d: %s" % (" ".join(argv), p.returncode, p.stderr.strip()))
    return p.stdout


def commands_of(program, help_text):
    """The commands a program's --help names, in order: `PROG CMD ...` usage
    lines (vma-harness) and the indented names of a `commands:` block (vma)."""
    name = re.escape(os.path.basename(program))
    found = []
    in_block = False
    for line in help_text.splitlines():
        m = re.match(r"^\s*(?:usage:)?\s*%s\s+([a-z][a-z-]*)\b" % name, line)
        if m and m.group(1) not in found:
            found.append(m.group(1))
        if re.match(r"^commands:\s*$", line):
            in_block = True
            continue
        if in_block:
            m = re.match(r"^  ([a-z][a-z-]*)\b", line)
            if m and m.group(1) not in found:
                found.append(m.group(1))
            elif line.strip() and not line.startswith("   "):
                in_block = False
    return found


def command_help(program, command):
    return run([program, command, "--help"])


def include_sections(path):
    """The hand-written sections of an include file: `[NAME OF SECTION]`
    lines, each followed by roff, as (name, text) in file order."""
    sections, name, lines = [], None, []
    with open(path) as f:
        for line in f:
            m = re.match(r"^\[([A-Z ]+)\]\s*$", line)
            if m:
                if name:
                    sections.append((name, "".join(lines).strip("\n")))
                name, lines = m.group(1), []
            elif name:
                lines.append(line)
    if name:
        sections.append((name, "".join(lines).strip("\n")))
    return sections


def verbatim(text):
    return [".nf"] + [roff_line(l) for l in text.rstrip("\n").splitlines()] + [".fi"]


def cmd_command(a):
    """A section-1 page: NAME, SYNOPSIS (the program's --help), the include
    file's DESCRIPTION, COMMANDS (each command's --help), then the include
    file's other sections in their order."""
    prog = os.path.basename(a.program)
    top = run([a.program, "--help"])
    version = run([a.program, "--version"]).split()[-1]
    sections = include_sections(a.include)
    out = ['.TH %s 1 "" "vmakit %s" "vmakit manual"' % (prog.upper(), version),
           ".SH NAME", "%s \\- %s" % (roff_line(prog), roff_line(a.name)),
           ".SH SYNOPSIS"] + verbatim(top)
    for name, text in sections:
        if name == "DESCRIPTION":
            out += [".SH DESCRIPTION", text]
    out.append(".SH COMMANDS")
    out.append("Each command's \\fB\\-\\-help\\fR, as the program prints it.")
    for cmd in commands_of(a.program, top):
        out.append('.SS "%s %s"' % (prog, cmd))
        out += verbatim(command_help(a.program, cmd))
    for name, text in sections:
        if name != "DESCRIPTION":
            out += [".SH " + name, text]
    with open(a.output, "w") as f:
        f.write("\n".join(out) + "\n")


def cmd_probes(a):
    listing = json.loads(run([a.harness, "list", "--format", "json", "--profile", "default"]))
    version = run([a.harness, "--version"]).split()[-1]
    with open(a.include) as f:
        text = f.read()
    env = listing["environment"]
    marker = '.\\" @PROBES@'
    if marker not in text:
        sys.exit("gen_man: %s has no %s line" % (a.include, marker))
    head, tail = text.split(marker, 1)
    tail = tail.split("\n", 1)[1]
    out = ['.TH VMAKIT-PROBES 7 "" "vmakit %s" "vmakit manual"' % version, head.rstrip("\n"),
           ".SH PROBES",
           "Every built-in probe, as \\fBvma\\-harness list\\fR describes it: what it does,",
           "then what the default profile expects. The expectation depends on the kernel",
           "and the CPU (a missing feature turns a probe into a skip, vsyscall modes differ):",
           "shown here as judged where this page was built (Linux %s %s);" % (
               roff_line(env["kernel_release"]), roff_line(env["arch"])),
           "\\fBvma\\-harness list\\fR prints it for the running machine. Probe ids are a",
           "stable contract."]
    for p in listing["probes"]:
        if p.get("user"):
            continue
        out.append(".TP")
        out.append("\\fB%s\\fR" % roff_line(p["probe"]))
        out.append(roff_line(p["description"]))
        out.append(".br")
        out.append("Expects: " + roff_line(describe_expected(p["expected"])))
    out.append(tail.rstrip("\n"))
    with open(a.output, "w") as f:
        f.write("\n".join(out) + "\n")


def describe_expected(e):
    """The expectation as one line, from the JSON that `list` prints: the
    signal, si_code, fault address and region kind of a fault, or the
    outcome of a syscall."""
    outcome = e.get("outcome", "")
    if outcome == "fault":
        parts = [e.get("signal", ""), e.get("code", "")]
        if e.get("addr") not in (None, "any"):
            parts.append("at the %s address" % e["addr"])
        if e.get("pc") not in (None, "any"):
            parts.append("with the pc at the %s address" % e["pc"])
        if e.get("region"):
            parts.append("in " + " or ".join(e["region"]))
        text = " ".join(p for p in parts if p)
    elif outcome == "refused":
        text = "the call refused with " + e.get("errno", "an error")
    elif outcome == "skip":
        text = "skip: " + e.get("skip", "")
    else:
        text = outcome
    if e.get("why"):
        text += " (%s)" % e["why"]
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    c = sub.add_parser("command")
    c.add_argument("--program", required=True)
    c.add_argument("--name", required=True)
    c.add_argument("--include", required=True)
    c.add_argument("--output", required=True)
    p = sub.add_parser("probes")
    p.add_argument("--harness", required=True)
    p.add_argument("--include", required=True)
    p.add_argument("--output", required=True)
    a = ap.parse_args()
    if a.what == "command":
        cmd_command(a)
    else:
        cmd_probes(a)


if __name__ == "__main__":
    main()
