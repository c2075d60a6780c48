"""Peak resident memory of each exporter on a finished run's bodies (docs/batch.md, issue 17).

    PYTHONPATH=src .venv/bin/python scripts/export_peak_rss.py RUN_OUT VIDEO DST

RUN_OUT: an ``unveil run`` output folder (its ``cache/evidence.npz`` and ``tracks/<id>.npz``:
``joints_world``); VIDEO: the run's video (the viewer's stills); DST: where the files are written
(compare them with RUN_OUT's own: ``cmp``). For each file, in the pipeline's order: RSS before, the
peak while it was written (``VmHWM`` after a reset, ``/proc/self/clear_refs``) and RSS after, in MB.
The C heap is trimmed before each (:func:`unveil.runtime.trim_heap`, when the code has it), as
:func:`unveil.stages.run_stages` does between stages. Linux only.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from unveil.body import load_body_model
from unveil.io import export_registry
from unveil.io.exporter import ExportContext, file_name
from unveil.pipeline import BODY_FIELDS
from unveil.stages import unpack_tracks
from unveil.types import BodyTrack

try:
    from unveil.runtime import trim_heap
except ImportError:  # code from before trim_heap (a baseline)
    def trim_heap() -> bool:
        return False


def status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(key)) / 1024


def reset_hwm() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def main(out: Path, video: str, dst: Path) -> None:
    torch.set_num_threads(1)
    dst.mkdir(parents=True, exist_ok=True)
    s = json.loads((out / "summary.json").read_text())
    bodies = unpack_tracks(dict(np.load(out / "cache" / "evidence.npz")), BodyTrack, BODY_FIELDS, body_model="anny")
    for b in bodies:
        b.joints_world = np.load(out / "tracks" / f"{b.id}.npz")["joints_world"]
    files: list[str] = []
    ctx = ExportContext(body_model=load_body_model("anny"), fps=s["fps"], frame_rate=s["fps"], rig="smpl",
                        files=files, notes=[], image=(s["width"], s["height"], s["camera"]["focal"]),
                        video={"path": video, "start": 0, "end": None, "stride": 1, "max_frames": None})
    print(f"frames {[len(b.frames) for b in bodies]}, RSS at start {status_mb('VmRSS:'):.1f} MB")
    for e in export_registry.EXPORTERS:
        for tracks in ([[b] for b in bodies] if e.scope == "track" else [bodies]):
            name = file_name(e, tracks[0]) if e.scope == "track" else file_name(e)
            trim_heap()
            r0 = status_mb("VmRSS:")
            reset_hwm()
            t = time.perf_counter()
            e.write(dst / name, tracks, ctx)
            files.append(name)
            peak = status_mb("VmHWM:")
            print(f"{name:12s} before {r0:7.1f} peak {peak:7.1f} (+{peak - r0:5.1f}) after {status_mb('VmRSS:'):7.1f}"
                  f"  {time.perf_counter() - t:5.1f} s")
    if ctx.notes:
        print("notes:", ctx.notes)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        raise SystemExit(__doc__.strip().splitlines()[2].strip())
    main(Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
