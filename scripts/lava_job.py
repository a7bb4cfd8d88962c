#!/usr/bin/env python3
"""The LAVA pieces of scripts/lava-run.sh, usable alone by a lab admin:

    lava_job.py device --templates DIR DICTIONARY      the device YAML
    lava_job.py job TEMPLATE --kernel-url U --initramfs-url U --repository R
                [--profile P] [--extra ARGS] [--name N] [--minutes M]
    lava_job.py results LOG [--lava-rc N]                KTAP summary

`device` renders a device dictionary ({% extends 'qemu.jinja2' %}) against
lava-server's device-type templates as the server does (jinja2,
trim_blocks=True); `job` fills harness/lava/qemu-job.yaml.jinja2; both
print YAML. `results` reads every `results` line of a lava-run log
(its stdout: one `{"dt": ..., "lvl": "results", "msg": {...}}` per line,
`- ` before each when written as a YAML list, with YAML tags such as `! "768"`, so a YAML loader, never json),
prints the vmakit cases as KTAP and exits 1 when a case failed, when
lava-run failed (--lava-rc, nonzero) or when no vmakit case was recorded.
"""

import argparse
import os
import sys

import jinja2  # Debian python3-jinja2
import yaml  # Debian python3-yaml

DEFINITION = "vmakit-harness"


def render_device(args):
    env = jinja2.Environment(loader=jinja2.FileSystemLoader([os.path.dirname(os.path.abspath(args.dictionary)),
                                                            args.templates]),
                             trim_blocks=True, autoescape=False)
    text = env.get_template(os.path.basename(args.dictionary)).render()
    yaml.safe_load(text)  # a template that renders to bad YAML fails here, not in lava-run
    print(text)


def render_job(args):
    with open(args.template) as f:
        template = jinja2.Environment(trim_blocks=True, undefined=jinja2.StrictUndefined).from_string(f.read())
    text = template.render(kernel_url=args.kernel_url, initramfs_url=args.initramfs_url,
                           repository=args.repository, profile=args.profile, extra=args.extra,
                           kernel_name=args.name, job_minutes=args.minutes)
    yaml.safe_load(text)
    print(text)


def results_of(log):
    """The `msg` of every results line of a lava-run log, in order."""
    out = []
    with open(log, errors="replace") as f:
        for line in f:
            if '"lvl": "results"' not in line:
                continue
            entry = yaml.safe_load(line.strip().removeprefix("- "))
            out.append(entry["msg"])
    return out


def summarize(args):
    results = results_of(args.log) if os.path.exists(args.log) else []
    ours = [r for r in results if str(r.get("definition", "")).endswith(DEFINITION)]
    lava_failed = [r for r in results if r.get("definition") == "lava" and r.get("result") == "fail"]
    print("KTAP version 1")
    print(f"1..{len(ours)}")
    counts = {"pass": 0, "fail": 0, "skip": 0}
    for i, r in enumerate(ours, 1):
        result = str(r.get("result"))
        counts[result if result in counts else "fail"] += 1
        ok = "ok" if result in ("pass", "skip") else "not ok"
        print(f"{ok} {i} {r['case']}" + (" # SKIP" if result == "skip" else ""))
    for r in lava_failed:
        print(f"# lava: {r.get('case')} {r.get('result')}")
    print(f"# Totals: pass:{counts['pass']} fail:{counts['fail']} xfail:0 xpass:0 skip:{counts['skip']} error:0")
    failing = [r["case"] for r in ours if r.get("result") not in ("pass", "skip")]
    problems = []
    if failing:
        problems.append("failing cases: " + " ".join(failing))
    if args.lava_rc:
        problems.append(f"lava-run exited {args.lava_rc}")
    if lava_failed:
        problems.append("LAVA actions failed: " + " ".join(str(r.get("case")) for r in lava_failed))
    if not ours:
        problems.append(f"no {DEFINITION} case recorded in {args.log}")
    for p in problems:
        print(f"lava-run: {p}", file=sys.stderr)
    return 1 if problems else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("device")
    d.add_argument("--templates", required=True, help="lava-server's usr/share/lava-server/device-types")
    d.add_argument("dictionary")
    j = sub.add_parser("job")
    j.add_argument("template")
    j.add_argument("--kernel-url", required=True)
    j.add_argument("--initramfs-url", required=True)
    j.add_argument("--repository", required=True, help="a git URL holding harness/lava/")
    j.add_argument("--profile", default="default")
    j.add_argument("--extra", default="--with-audit", help="more vma-harness run options (--extra=ARGS)")
    j.add_argument("--name", default="kernel")
    j.add_argument("--minutes", type=int, default=10)
    r = sub.add_parser("results")
    r.add_argument("log")
    r.add_argument("--lava-rc", type=int, default=0)
    args = p.parse_args()
    if args.cmd == "device":
        render_device(args)
    elif args.cmd == "job":
        render_job(args)
    else:
        return summarize(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
