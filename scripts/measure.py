#!/usr/bin/env python3
"""Run a command and measure wall time and peak RSS of its whole process tree.

Usage:
    python scripts/measure.py [--interval 0.02] [--log FILE] -- CMD [ARGS...]

Launches CMD, polls every --interval seconds (default 20 ms; 0 = never) with psutil, summing the
RSS of the process and all of its descendants (e.g. multiprocessing pool workers),
and records the maximum. When CMD exits, prints one JSON line to stdout:

    {"wall_s": 12.34, "cpu_s": 20.1, "peak_rss_mb": 456.7, "max_single_rss_mb": 210.2, "rc": 0, "samples": 617}

  wall_s             wall time from launch to exit (perf_counter; the exit is taken by a
                     thread blocked in wait4, so polling does not delay it)
  cpu_s              user+sys CPU seconds of CMD and all waited-for descendants
                     (wait4 rusage); less sensitive than wall_s to other load
  peak_rss_mb        max over polls of sum(RSS of the tree), MiB. Sampled: spikes shorter
                     than the interval can be missed; pages shared between forked
                     processes are counted once per process (the usual RSS-sum overestimate).
  max_single_rss_mb  max RSS of any single descendant process (kernel ru_maxrss of the
                     waited-for children, not sampled), MiB -- a cross-check for the tree peak.
                     Linux carries the pre-exec (forked-from-Python) RSS into it, so it never
                     reads below ~measure.py's own RSS (~14 MiB).
  rc                 exit code of CMD (negative = killed by that signal)

CMD's stdout/stderr go to --log FILE (default: this script's stderr), so stdout carries
only the JSON. Exit status of measure.py is CMD's exit status (1 if killed by a signal).
Requires psutil (scripts/requirements-ref.txt).
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time

import psutil


def tree_rss(proc):
    """Sum RSS (bytes) of proc and all its live descendants; tolerate processes vanishing."""
    try:
        procs = [proc] + proc.children(recursive=True)
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def main():
    ap = argparse.ArgumentParser(description="Measure wall time and peak process-tree RSS.")
    ap.add_argument("--interval", type=float, default=0.02,
                    help="poll interval in seconds; 0: no polling (peak_rss_mb is then 0), so the "
                         "measurement takes no CPU from the command while it runs")
    ap.add_argument("--log", help="file for the command's stdout+stderr (default: stderr)")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="command (after --)")
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("no command given")

    out = open(args.log, "w") if args.log else sys.stderr
    t0 = time.perf_counter()
    try:
        child = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    except OSError as e:
        print(json.dumps({"wall_s": 0.0, "cpu_s": 0.0, "peak_rss_mb": 0.0, "max_single_rss_mb": 0.0,
                          "rc": 127, "samples": 0, "error": str(e)}))
        return 127
    proc = psutil.Process(child.pid)
    # A thread blocks in wait4() and stamps the exit time: exact wall and CPU times
    # (Popen.wait(timeout) sleeps in growing steps and would add up to its timeout).
    done = threading.Event()
    ended = {}

    def reap():
        _, status, ru = os.wait4(child.pid, 0)
        ended["t"] = time.perf_counter()
        ended["status"] = status
        ended["ru"] = ru
        done.set()

    reaper = threading.Thread(target=reap, daemon=True)
    reaper.start()
    peak = 0
    samples = 0
    if args.interval > 0:
        while not done.is_set():
            peak = max(peak, tree_rss(proc))
            samples += 1
            done.wait(args.interval)
    reaper.join()
    wall = ended["t"] - t0
    child.returncode = os.waitstatus_to_exitcode(ended["status"])
    rc = child.returncode
    if out is not sys.stderr:
        out.close()

    # ru_maxrss (KiB on Linux): the largest RSS of CMD or any descendant it waited for.
    ru = ended["ru"]
    single = ru.ru_maxrss / 1024.0
    result = {
        "wall_s": round(wall, 4),
        "cpu_s": round(ru.ru_utime + ru.ru_stime, 3),
        "peak_rss_mb": round(peak / 2**20, 2),
        "max_single_rss_mb": round(single, 2),
        "rc": rc,
        "samples": samples,
    }
    print(json.dumps(result), flush=True)
    return rc if rc >= 0 else 1


if __name__ == "__main__":
    sys.exit(main())
