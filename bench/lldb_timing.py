"""In-session timing for LLDB (bench/run.py).

`command script import bench/lldb_timing.py` adds

    bench-time REPS COMMAND...

which runs COMMAND REPS times through the command interpreter (the output is
collected, not printed) and appends one line

    BENCH {"cmd": ..., "seconds": [...], "ok": true, "lines": N, "error": ""}

to the command's result. The timer excludes attaching and LLDB's start-up.
bench-time itself always succeeds, so one failing command does not end an
`lldb -b` batch.
"""

import json
import time

import lldb


def bench_time(debugger, command, result, internal_dict):
    reps_text, _, cmd = command.strip().partition(" ")
    record = {"cmd": cmd, "seconds": [], "ok": True, "lines": 0, "error": ""}
    try:
        reps = int(reps_text)
        interp = debugger.GetCommandInterpreter()
        for _ in range(reps):
            res = lldb.SBCommandReturnObject()
            t0 = time.perf_counter()
            interp.HandleCommand(cmd, res)
            record["seconds"].append(time.perf_counter() - t0)
            if not res.Succeeded():
                record["ok"] = False
                record["error"] = (res.GetError() or "").strip()
                break
            record["lines"] = (res.GetOutput() or "").count("\n")
    except Exception as e:  # reported, never raised into LLDB
        record["ok"] = False
        record["error"] = "%s: %s" % (type(e).__name__, e)
    result.AppendMessage("BENCH " + json.dumps(record))
    result.SetStatus(lldb.eReturnStatusSuccessFinishResult)


def __lldb_init_module(debugger, internal_dict):
    debugger.HandleCommand("command script add -f %s.bench_time bench-time" % __name__)
