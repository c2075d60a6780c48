"""Per-frame stage times of `unveil live` (issue 17): where the latency tail comes from.

Runs :class:`unveil.live.LiveEstimator` frame by frame on a video (every frame, unpaced, one
thread, so each stage's wall time is its own) with timers around each stage: the 2D front end
(split into person-detector and landmark-model wall time from the tracker's own counters), the
causal occlusion detector, the lifter window, the predictor fill, the shape refit, swing-twist IK,
the reprojection root, and the JSON line. Prints median / p95 / max ms per stage, and the stage
sums of the slowest 5% of frames (what their tail is made of).

    PYTHONPATH=src python scripts/profile_live.py VIDEO [--workers N] [--focal F] [--redetect N]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict

import numpy as np

from unveil import live
from unveil.fit import ik, shape
from unveil.io.video import iter_frames
from unveil.motion import tcn
from unveil.skeleton import default_focal
from unveil.trajectory import camera as tcam
from unveil.types import Camera

T: dict = defaultdict(float)


def timed(mod, name, key):
    fn = getattr(mod, name)

    def wrap(*a, **k):
        t = time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            T[key] += time.perf_counter() - t
    setattr(mod, name, wrap)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("video")
    ap.add_argument("--workers", type=int, default=None, help="front-end model threads (default: live's)")
    ap.add_argument("--focal", type=float, default=None)
    ap.add_argument("--redetect", type=int, default=5)
    ap.add_argument("--json", default=None, help="write the per-frame rows here")
    a = ap.parse_args()
    frames = [img for _, img in iter_frames(a.video)]
    h, w = frames[0].shape[:2]
    cam = Camera(a.focal or default_focal(w, h), w / 2, h / 2, w, h)
    est = live.LiveEstimator(cam, workers=a.workers, redetect_every=a.redetect)
    est.warmup(h, w)
    timed(tcn, "lift", "lift")
    timed(ik, "joints_to_rotations", "ik")
    timed(tcam, "root_translation", "root")
    timed(shape, "fit_shape", "shape")
    pred = est.predictor
    est.predictor = lambda x: (lambda t: (pred(x), T.__setitem__("fill", T["fill"] + time.perf_counter() - t))[0])(
        time.perf_counter())
    det_step = est.det.step

    def occ_step(*a, **k):
        t = time.perf_counter()
        out = det_step(*a, **k)
        T["occlusion"] += time.perf_counter() - t
        return out
    est.det.step = occ_step
    rows = []
    eng = est.tracker.eng
    for i, img in enumerate(frames):
        T.clear()
        d0, l0, n0 = eng.wall["detect"], eng.wall["landmarks"], est.tracker.counts["detect_calls"]
        t0 = time.perf_counter()
        obs, alive = est.observe(i, img)
        t1 = time.perf_counter()
        people = est.advance(i, obs, alive)
        t2 = time.perf_counter()
        json.dumps({"people": [live._jsonable(p) for p in people]}, separators=(",", ":"))
        t3 = time.perf_counter()
        r = {"frame": i, "total": (t3 - t0) * 1e3, "front": (t1 - t0) * 1e3,
             "detector": (eng.wall["detect"] - d0) * 1e3, "landmarks": (eng.wall["landmarks"] - l0) * 1e3,
             "detect_calls": est.tracker.counts["detect_calls"] - n0, "people": len(obs),
             "back": (t2 - t1) * 1e3, "json": (t3 - t2) * 1e3}
        r.update({k: v * 1e3 for k, v in T.items()})
        rows.append(r)
    est.close()
    keys = ["total", "front", "detector", "landmarks", "back", "occlusion", "lift", "fill", "shape", "ik", "root", "json"]
    tot = np.array([r["total"] for r in rows])
    slow = tot >= np.percentile(tot, 95)
    print(f"{len(rows)} frames, workers={eng.workers}, load {os.getloadavg()[0]:.2f}")
    print(f"{'stage':<10} {'median':>7} {'p95':>7} {'max':>7} {'mean':>7} {'mean in slowest 5%':>19}")
    for k in keys:
        v = np.array([r.get(k, 0.0) for r in rows])
        print(f"{k:<10} {np.median(v):7.1f} {np.percentile(v, 95):7.1f} {v.max():7.1f} {v.mean():7.1f} "
              f"{v[slow].mean():19.1f}")
    dc = np.array([r["detect_calls"] for r in rows])
    print(f"frames with a detector call: {(dc > 0).sum()} of {len(rows)}; of the slowest 5%: "
          f"{(dc[slow] > 0).sum()} of {slow.sum()}; total ms with vs without a detector call: "
          f"{np.median(tot[dc > 0]) if (dc > 0).any() else float('nan'):.1f} vs {np.median(tot[dc == 0]):.1f} (medians)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f)


if __name__ == "__main__":
    main()
