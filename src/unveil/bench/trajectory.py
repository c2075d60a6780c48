"""Global-trajectory rows for ``unveil bench accuracy`` and the oracle table ``unveil bench trajectory``.

Rows registered in :mod:`unveil.bench.registry` (group ``trajectory``); each lifts the local pose
with the per-frame MLP lifter + Savitzky-Golay (the ``savgol`` baseline: the best lifter that needs
no extra weights) and differs only in the root trajectory:

- ``traj-camera``  reprojection least squares + constant-velocity smoothing
  (:func:`unveil.trajectory.camera.root_translation`);
- ``traj-contact`` that root refined with foot-contact rows only (contact head of the RopeTP model,
  no diffusion prior: the ablation);
- ``traj-ropetp``  that root refined with the RopeTP prior (DDIM steps + contacts,
  :func:`unveil.trajectory.diffusion.refine_trajectory`).

Because the local pose of a lifter limits GMPJPE, ``unveil bench trajectory`` scores the same three
trajectories on *ground-truth* local joints (``seq.joints_rel``, what a perfect lifter would give)
with the detector-like 2D of the benchmark: the difference is then the trajectory alone.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from .registry import register
from ..trajectory.camera import frame_confidence
from ..trajectory.camera import root_translation
from ..trajectory.diffusion import refine_trajectory
from .baselines import savgol_row
from .accuracy import KINDS, pool_clips, score_sequence, synthetic_sequences
from .. import atomic, paths
from ..runtime import init_torch
from ..errors import UnveilError


def trajectories(joints_rel: np.ndarray, keypoints2d: np.ndarray, camera, fps: float) -> dict:
    """Camera-frame joints (T, 24, 3) for each trajectory variant from root-relative camera joints."""
    rel = np.asarray(joints_rel, np.float32)
    rel = rel - rel[:, :1]
    root = root_translation(rel, keypoints2d, camera)
    jc = rel + root[:, None, :]
    conf = frame_confidence(keypoints2d)
    return {"camera": jc,
            "contact": refine_trajectory(jc, conf, fps, use_prior=False),
            "ropetp": refine_trajectory(jc, conf, fps)}


def _local(inputs) -> np.ndarray:
    return savgol_row(inputs)["joints"]


def _row(variant: str):
    def fn(inputs) -> dict:
        rel = _local(inputs)
        rel = rel - rel[:, :1]
        jc = rel + root_translation(rel, inputs.keypoints2d, inputs.camera)[:, None, :]
        if variant != "camera":
            jc = refine_trajectory(jc, frame_confidence(inputs.keypoints2d), inputs.fps,
                                   use_prior=variant == "ropetp")
        return {"joints": rel, "joints_cam": jc}

    return fn


register("traj-camera", _row("camera"), group="trajectory",
         note="savgol local pose + reprojection root (constant-velocity smoothing)")
register("traj-contact", _row("contact"), group="trajectory",
         note="traj-camera + foot-contact rows (RopeTP contact head), no diffusion prior")
register("traj-ropetp", _row("ropetp"), group="trajectory",
         note="traj-camera fused with the RopeTP DDIM trajectory prior + contacts")


# ------------------------------------------------------------------------------- oracle table
def oracle(n_clips: int | None, kinds, seed: int = 0, max_frames: int | None = None, log=print) -> dict:
    """Score camera / contact / ropetp trajectories on ground-truth local joints (see module doc)."""
    seqs = synthetic_sequences(kinds, n_clips, seed, max_frames)
    res: dict = {"kinds": {}}
    for kind, ss in seqs.items():
        per: dict[str, list] = {"camera": [], "contact": [], "ropetp": []}
        for s in ss:
            rel = np.asarray(s.joints_rel, np.float32)
            for name, jc in trajectories(rel, s.keypoints2d, s.camera, s.fps).items():
                per[name].append(score_sequence(s, {"joints": rel, "joints_cam": jc}))
        res["kinds"][kind] = {"clips": len(ss), "frames": int(sum(len(s.joints_cam) for s in ss)),
                              "rows": {f"gt-local+{k}": pool_clips(v) for k, v in per.items()}}
        log(f"  {kind}: {len(ss)} clips")
    return res


def markdown(res: dict, header: str) -> str:
    cols = (("gmpjpe", "GMPJPE mm"), ("rte", "RTE %"), ("foot_sliding", "FootSlide mm/frame"))
    lines = [header]
    for kind, r in res["kinds"].items():
        lines += ["", f"### {kind} ({r['clips']} clips, {r['frames']} frames)", "",
                  "| trajectory | " + " | ".join(c[1] for c in cols) + " |", "|---|" + "---:|" * len(cols)]
        for name, row in r["rows"].items():
            lines.append(f"| {name} | " + " | ".join(f"{row.get(c[0], float('nan')):.1f}" for c in cols) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str], prog: str = "unveil bench trajectory") -> int:
    ap = argparse.ArgumentParser(prog=prog, description="Global trajectory on ground-truth local joints: "
                                 "camera root vs + contacts vs + RopeTP prior (evaluation split).")
    ap.add_argument("--clips", type=int, default=None, help="N evaluation clips (seeded subset; default all)")
    ap.add_argument("--kinds", default="none,object,person,mixed")
    ap.add_argument("--frames", type=int, default=None, help="first N frames of each clip")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    init_torch()
    t0 = time.time()
    kinds = [k for k in a.kinds.split(",") if k]
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise UnveilError(f"unknown kind(s) {', '.join(bad)}")
    res = oracle(a.clips, kinds, a.seed, a.frames)
    md = markdown(res, f"## unveil bench trajectory — seed {a.seed}, clips {a.clips or 'all'}, "
                       f"frames {a.frames or 'all'} (ground-truth local joints, synthetic 2D)")
    out = Path(a.out) if a.out else paths.cache_dir() / "bench" / "trajectory"
    atomic.write_text(out / "trajectory.md", md)
    atomic.write_text(out / "trajectory.json", json.dumps(res, indent=1, default=float))
    print(md)
    print(f"wrote {out / 'trajectory.md'}; run time {time.time() - t0:.0f} s")
    return 0
