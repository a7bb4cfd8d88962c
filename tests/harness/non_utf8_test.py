#!/usr/bin/python3
"""The harness reports a fault in a file whose name is not UTF-8 without
aborting: JSON goes through vma::to_text (invalid bytes become U+FFFD).
Before, nlohmann's dump() threw type_error 316 and the harness died (134)."""
import json
import os
import subprocess
import sys
import tempfile

harness, probe = sys.argv[1], sys.argv[2]
with tempfile.TemporaryDirectory() as d:
    spec = os.path.join(d, "spec.toml")
    with open(spec, "w") as f:
        f.write('[[probe]]\nname = "non-utf8-path"\ncommand = ["/usr/bin/python3", "%s"]\n'
                'expect = { outcome = "fault", signal = "SIGBUS", code = "BUS_ADRERR" }\ntimeout = 20\n' % probe)
    p = subprocess.run([harness, "run", "--only", "non-utf8-path", "--spec", spec, "--format", "json", "--as-root"],
                       capture_output=True, timeout=60,
                       env=dict(os.environ, TMPDIR=d))  # the probe's file goes in d, removed below
    ok = p.returncode == 0
    r = json.loads(p.stdout.decode("utf-8"))["results"][0] if ok else {}
    path = r.get("observed", {}).get("region", {}).get("path", "")
    ok = ok and r.get("status") == "pass" and "\ufffd-not-utf8" in path
    print(("ok   " if ok else "FAIL ") + "non-UTF-8 region path: exit %d, %r" % (p.returncode, path or p.stderr[-300:]))
    sys.exit(0 if ok else 1)
