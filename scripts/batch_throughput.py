"""Batch throughput: N copies of one video through `unveil batch`, a plain loop (``--backend serial``,
all cores per video) against local Ray (1 CPU per task), same machine, same run; prints both wall
times and their ratio (docs/batch.md).

    PYTHONPATH=src .venv/bin/python scripts/batch_throughput.py VIDEO [--copies 10] [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from unveil.batch import run_batch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one, removed)")
    ap.add_argument("--order", default="serial,ray", help="backends in the order they run")
    a = ap.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix="unveil_batch_tp_"))
    vids = work / "videos"
    vids.mkdir(parents=True, exist_ok=True)
    for i in range(a.copies):
        shutil.copy(a.video, vids / f"copy{i:02d}{Path(a.video).suffix}")
    opts = dict(render=False, export=False)
    res = {}
    for backend in a.order.split(","):
        out = work / f"out_{backend}"
        shutil.rmtree(out, ignore_errors=True)
        load0 = os.getloadavg()[0]
        t0 = time.perf_counter()
        r = run_batch([str(vids)], out, backend=backend, progress=False, **opts)
        wall = time.perf_counter() - t0
        frames = sum(v.get("frames") or 0 for v in r["videos"])
        res[backend] = {"wall_s": round(wall, 1), "frames": frames, "frames_per_s": round(frames / wall, 2),
                        "counts": r["counts"], "cpus_per_task": r["cpus_per_task"],
                        "peak_rss_mb_max": max(v.get("peak_rss_mb") or 0 for v in r["videos"]),
                        "load_before": round(load0, 2), "load_after": round(os.getloadavg()[0], 2)}
        print(backend, json.dumps(res[backend]), flush=True)
    if "serial" in res and "ray" in res:
        print(f"ratio ray/serial throughput: {res['serial']['wall_s'] / res['ray']['wall_s']:.2f}")
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
