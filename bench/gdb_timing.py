"""In-session timing for GDB (bench/run.py): `gdb -x bench/gdb_timing.py` adds

    bench-time REPS COMMAND...

which runs COMMAND REPS times with gdb.execute(..., to_string=True) and prints
one line

    BENCH {"cmd": ..., "seconds": [...], "ok": true, "lines": N, "error": ""}

The timer excludes attaching and GDB's start-up. Errors are reported in the
line, never raised, so the batch goes on.
"""

import json
import time

import gdb


class BenchTime(gdb.Command):
    """bench-time REPS COMMAND: time COMMAND REPS times (bench/run.py)."""

    def __init__(self):
        super().__init__("bench-time", gdb.COMMAND_USER)

    def invoke(self, arg, from_tty):
        reps_text, _, cmd = arg.strip().partition(" ")
        record = {"cmd": cmd, "seconds": [], "ok": True, "lines": 0, "error": ""}
        try:
            for _ in range(int(reps_text)):
                t0 = time.perf_counter()
                out = gdb.execute(cmd, to_string=True)
                record["seconds"].append(time.perf_counter() - t0)
                record["lines"] = (out or "").count("\n")
        except Exception as e:
            record["ok"] = False
            record["error"] = "%s: %s" % (type(e).__name__, e)
        print("BENCH " + json.dumps(record), flush=True)


BenchTime()
