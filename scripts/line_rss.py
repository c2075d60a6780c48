"""Where a stage's memory goes, line by line: run ``unveil run --keypoints KP.json -o OUT --no-render
--no-export`` with the fit and evidence stages (or those named) traced, and print, per traced stage, its
peak RSS above the RSS it started from and the lines that raised the high-water mark (docs/batch.md).

    MALLOC_MMAP_THRESHOLD_=65536 PYTHONPATH=src .venv/bin/python scripts/line_rss.py KP.json OUT [STAGE ...]

Run it with ``MALLOC_MMAP_THRESHOLD_`` low, as above: large blocks then get their own mappings and go
back to the system when freed, so the RSS follows the memory in use (without it glibc keeps freed
memory and the RSS only shows high-water marks). The RSS (``/proc/self/statm``) is read after every
line of the watched files (:data:`WATCH`) while a traced stage runs: slow (the evidence fit on 10,000
frames ~4x its normal time), for diagnosis only.
"""

from __future__ import annotations

import collections
import os
import sys
import time

from unveil import pipeline, stages
from unveil.cli import main
from unveil.runtime import trim_heap

WATCH = ("fit/refine.py", "fit/evidence.py", "fit/stage.py", "fit/tik.py", "fit/ik.py", "pipeline.py", "stages.py",
         "trajectory/camera.py", "trajectory/diffusion.py")
PAGE = os.sysconf("SC_PAGE_SIZE")
_FD = os.open("/proc/self/statm", os.O_RDONLY)


def rss_mb() -> float:
    """This process's resident set (MB)."""
    return int(os.pread(_FD, 100, 0).split()[1]) * PAGE / 2**20


class Tracer:
    """RSS after each line of the watched files; the lines after which the high-water mark rose (> 1 MB)."""

    def __init__(self):
        self.base = self.peak = self.prev_rss = rss_mb()
        self.prev = None
        self.peak_at = "?"   # the line after which the RSS was at its peak (and its caller)
        self.rises: list[tuple[float, str, str]] = []
        self.jump = collections.defaultdict(float)   # line -> largest RSS rise over it

    def local(self, frame, event, arg):
        if event in ("line", "return"):
            r = rss_mb()
            if self.prev is not None:
                self.jump[self.prev] = max(self.jump[self.prev], r - self.prev_rss)
            if r > self.peak + 1.0:
                f = frame.f_back
                caller = f"{f.f_code.co_filename.split('unveil/')[-1]}:{f.f_lineno}" if f else "?"
                self.rises.append((r - self.base, str(self.prev), caller))
            if r > self.peak:
                f = frame.f_back
                self.peak_at = f"{self.prev} (called from {f.f_code.co_filename.split('unveil/')[-1]}:{f.f_lineno})" if f else str(self.prev)
            self.peak = max(self.peak, r)
            self.prev = f"{frame.f_code.co_filename.split('unveil/')[-1]}:{frame.f_lineno}"
            self.prev_rss = r
        return self.local

    def glob(self, frame, event, arg):
        return self.local if frame.f_code.co_filename.endswith(WATCH) else None


def traced(name: str, run):
    def stage_run(ctx):
        trim_heap()
        tr = Tracer()
        t0 = time.time()
        sys.settrace(tr.glob)
        try:
            run(ctx)
        finally:
            sys.settrace(None)
        print(f"[{name}] start {tr.base:.1f} MB, peak {tr.peak:.1f} (+{tr.peak - tr.base:.1f}), "
              f"after {rss_mb():.1f}, {time.time() - t0:.1f} s (traced)", flush=True)
        print(f"  peak reached after {tr.peak_at}")
        print("  largest rises over one line:")
        for line, d in sorted(tr.jump.items(), key=lambda kv: -kv[1])[:12]:
            if d > 0.5:
                print(f"    +{d:6.1f} MB  {line}")
        print("  high-water mark (MB above the start) and the line that raised it:")
        for d, line, caller in tr.rises:
            print(f"    {d:7.1f}  {line}  (called from {caller})")
    return stage_run


def run_main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit("usage: line_rss.py KP.json OUT [STAGE ...]")
    names = set(argv[2:]) or {"fit", "evidence"}
    orig = stages.run_stages

    def run_stages(seq, ctx):
        return orig([s.with_run(traced(s.name, s.run)) if s.name in names else s for s in seq], ctx)

    pipeline.run_stages = run_stages
    sys.argv = ["unveil", "--threads", "1", "run", "--keypoints", argv[0], "-o", argv[1], "--no-render", "--no-export"]
    main()


if __name__ == "__main__":
    run_main(sys.argv[1:])
