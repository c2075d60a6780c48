"""Where each stage's resident memory peaks, without slowing it down (docs/batch.md, issue 17): run
``unveil run --keypoints KP.json -o OUT --no-render`` with the named stages (default: fit, trajectory,
evidence, write, export) watched by a thread that reads ``VmRSS`` every 5 ms and, at each new high,
records the main thread's ``unveil`` stack; print per stage its start, peak and end RSS and where the
peak was.

    PYTHONPATH=src .venv/bin/python scripts/sample_rss.py KP.json OUT [STAGE ...]

Unlike ``scripts/line_rss.py`` (the memory in use, line by line, with ``MALLOC_MMAP_THRESHOLD_`` low and
~4x slower) this sees the RSS the run itself has (default malloc settings, glibc's freed heap
included) and a spike inside one C call; the stack is where the main thread was when the thread
sampled (it runs while the main thread is in a C call or between lines). Linux only.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from unveil import pipeline
from unveil.cli import main
from unveil.runtime import trim_heap

PAGE = os.sysconf("SC_PAGE_SIZE")
_FD = os.open("/proc/self/statm", os.O_RDONLY)
MAIN = threading.main_thread().ident


def rss_mb() -> float:
    """This process's resident set (MB)."""
    return int(os.pread(_FD, 100, 0).split()[1]) * PAGE / 2**20


def stack() -> str:
    """The main thread's innermost ``unveil`` frames (file:line, innermost first)."""
    f = sys._current_frames().get(MAIN)
    out = []
    while f is not None:
        if "unveil/" in f.f_code.co_filename:
            out.append(f"{f.f_code.co_filename.split('unveil/')[-1]}:{f.f_lineno}")
        f = f.f_back
    return " < ".join(out[:6])


def watched(name: str, run):
    def stage_run(ctx):
        trim_heap()   # as run_stages does after every stage
        base = rss_mb()
        best = [base, "start"]
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                r = rss_mb()
                if r > best[0]:
                    best[0], best[1] = r, stack()
                time.sleep(0.005)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        try:
            run(ctx)
        finally:
            stop.set()
            th.join()
        print(f"[{name}] start {base:.1f} peak {best[0]:.1f} (+{best[0] - base:.1f}) after {rss_mb():.1f} "
              f"at {best[1]}", flush=True)
    return stage_run


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    names = sys.argv[3:] or ["fit", "trajectory", "evidence", "write", "export"]
    pipeline.STAGES = tuple(s.with_run(watched(s.name, s.run)) if s.name in names else s for s in pipeline.STAGES)
    sys.argv = ["unveil", "--threads", "1", "run", "--keypoints", sys.argv[1], "-o", sys.argv[2], "--no-render"]
    main()
