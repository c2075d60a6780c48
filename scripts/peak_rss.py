"""Run a command and report its peak resident memory, overall and per `unveil` stage (docs/batch.md).

    PYTHONPATH=src .venv/bin/python scripts/peak_rss.py [--json OUT.json] -- unveil --threads 1 run long.mp4 -o OUT

- ``peak_rss_mb``: the child's ``ru_maxrss`` (:func:`os.wait4`, the kernel's high-water mark of the
  process; the same figure ``/usr/bin/time -v`` prints as "Maximum resident set size").
- ``stages``: each stage's own peak: the kernel's high-water mark (``VmHWM`` in ``/proc/<pid>/status``)
  read when the stage's status line ``unveil: [<stage>] ...`` appears on stderr (:mod:`unveil.progress`),
  then reset (``echo 5 > /proc/<pid>/clear_refs``), so the next stage starts from its current RSS.
  Where the reset is not allowed, ``VmRSS`` sampled every ``--interval`` s instead (can miss a short spike).
  ``peak_rss_mb`` is then the largest of the stage peaks and ``ru_maxrss`` (the peak since the last reset).
- The command's stderr is passed through; its exit status is this script's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time

STATUS = re.compile(r"^unveil: \[([\w.-]+)\] (done|cached|skipped|failed)")


def rss_mb(pid: int) -> float | None:
    """Current VmRSS of ``pid`` in MB (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def hwm_mb(pid: int) -> float | None:
    """Peak RSS of ``pid`` since it started or since the last :func:`reset_hwm` (VmHWM), in MB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def reset_hwm(pid: int) -> bool:
    """Reset the peak RSS of ``pid`` to its current RSS (Linux ``clear_refs`` 5); False if not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interval", type=float, default=0.25, help="seconds between RSS samples")
    ap.add_argument("--json", help="also write the report here")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="-- the command")
    a = ap.parse_args(argv)
    cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
    if not cmd:
        ap.error("no command")
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, bufsize=1)
    stages: list[dict] = []
    cur = {"peak": 0.0, "hwm": True}
    lock = threading.Lock()
    done = threading.Event()

    def sample():
        while not done.is_set():
            r = rss_mb(p.pid)
            if r is not None:
                with lock:
                    cur["peak"] = max(cur["peak"], r)
            time.sleep(a.interval)

    def read():
        for line in p.stderr:
            sys.stderr.write(line)
            m = STATUS.match(line)
            if m:
                with lock:
                    h = hwm_mb(p.pid) if cur["hwm"] else None
                    peak = max(h, cur["peak"]) if h is not None else cur["peak"]
                    stages.append({"stage": m.group(1), "status": m.group(2), "peak_rss_mb": round(peak, 1),
                                   "rss_after_mb": round(rss_mb(p.pid) or 0.0, 1),
                                   "t_s": round(time.perf_counter() - t0, 1)})
                    cur["hwm"] = reset_hwm(p.pid)
                    cur["peak"] = rss_mb(p.pid) or 0.0

    th = [threading.Thread(target=sample, daemon=True), threading.Thread(target=read, daemon=True)]
    for t in th:
        t.start()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    th[1].join()
    peak = max([ru.ru_maxrss / 1024.0] + [s["peak_rss_mb"] for s in stages])
    rep = {"cmd": cmd, "rc": p.returncode, "wall_s": round(time.perf_counter() - t0, 1),
           "peak_rss_mb": round(peak, 1), "ru_maxrss_mb": round(ru.ru_maxrss / 1024.0, 1), "stages": stages}
    print(json.dumps(rep))
    if a.json:
        tmp = a.json + ".tmp"
        with open(tmp, "w") as f:
            json.dump(rep, f, indent=1)
        os.replace(tmp, a.json)
    return p.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
