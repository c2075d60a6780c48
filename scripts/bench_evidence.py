"""The evidence fit on a real run's own inputs: closed-form gradient (the default) against autograd
(``EvidenceConfig(closed_form_grad=False)``, the code before it), alternated in one process so that a
shared, busy machine slows both alike; CPU time of this process, one torch thread (docs/fit/evidence.md
"Speed").

Runs ``unveil run`` once (``--no-render --no-export``, into a temporary folder, or ``--out``) with a
hook that records the evidence stage's inputs (the bodies after the trajectory prior, the 2D and 3D
tracks, the camera), then fits them ``--repeats`` times each way and prints, per way, the lowest CPU
seconds of ``fit_tracks``, person-frames per CPU-second, and the largest difference between the two
ways' outputs (``--sensitivity``: and the spread that float rounding alone gives).

    PYTHONPATH=src .venv/bin/python scripts/bench_evidence.py VIDEO [--repeats 3] [-- RUN ARGS...]
    PYTHONPATH=src .venv/bin/python scripts/bench_evidence.py --demo DEMO_OUT   # the demo's video, focal
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

import unveil.fit.evidence as ev
from unveil.body import load_body_model
from unveil.pipeline import run
from unveil.runtime import torch_threads


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video", nargs="?", help="video to run (or --demo)")
    ap.add_argument("--demo", help="an `unveil demo -o DIR` folder: its rendered video and known focal")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", help="run folder (default: a temporary one)")
    ap.add_argument("--sensitivity", action="store_true",
                    help="also fit by autograd from a start moved by 1e-7 rad: the spread float rounding alone gives")
    a, rest = ap.parse_known_args()
    rest = [x for x in rest if x != "--"]
    kw = {}
    video = a.video
    if a.demo:
        d = json.loads((Path(a.demo) / "demo.json").read_text())
        video = d["files"]["video"]
        truth = np.load(d["files"]["truth"], allow_pickle=False)
        kw["focal"] = float(truth["focal"]) if "focal" in truth.files else None
    if not video:
        ap.error("give a VIDEO or --demo DIR")
    captured: dict = {}
    orig = ev.evidence_tracks

    def hook(bodies, tracks2d, tracks3d, camera, model, cfg=ev.EvidenceConfig()):
        captured.update(bodies=bodies, tracks2d=tracks2d, tracks3d=tracks3d, camera=camera, model=model, cfg=cfg)
        return orig(bodies, tracks2d, tracks3d, camera, model, cfg)

    ev.evidence_tracks = hook
    with tempfile.TemporaryDirectory() as tmp:
        out = a.out or tmp
        args = dict(video=str(video), out_dir=out, render=False, export=False, quiet=True)
        if kw.get("focal"):
            args["focal"] = kw["focal"]
        run(**args, **_extra(rest))
    ev.evidence_tracks = orig
    if not captured:
        print("the evidence stage did not run (no bodies?)")
        return 1
    c = captured
    model = load_body_model("anny") if c["model"] is None else c["model"]
    by2 = {t.id: t for t in c["tracks2d"]}
    by3 = {t.id: t for t in c["tracks3d"] or []}
    items = [(b, by2[b.id], by3.get(b.id)) for b in c["bodies"] if b.id in by2 and len(b.frames) > 0]
    frames = sum(len(b.frames) for b, _, _ in items)
    res: dict = {False: [], True: []}
    outs = {}
    with torch_threads(1):
        for _ in range(max(1, a.repeats)):
            for closed in (False, True):
                c0 = time.process_time()
                outs[closed], _ = ev.fit_tracks(items, c["camera"], model, replace(c["cfg"], closed_form_grad=closed))
                res[closed].append(time.process_time() - c0)
    print(f"{video}: {len(items)} track(s), {frames} person-frames, fit_tracks CPU seconds (lowest of {a.repeats}):")
    for closed, name in ((False, "autograd (before)"), (True, "closed form (default)")):
        t = min(res[closed])
        print(f"  {name:<22} {t:7.3f} s  {frames / t:7.1f} person-frames per CPU-second  (all runs: "
              f"{', '.join(f'{x:.3f}' for x in res[closed])})")
    print(f"  speed-up {min(res[False]) / min(res[True]):.2f}x")
    _diff("closed form vs autograd", outs[False], outs[True])
    if a.sensitivity:   # how far float rounding alone moves the fit: autograd from a start moved by 1e-7 rad
        rng = np.random.default_rng(0)
        moved = [(replace(b, body_pose=(b.body_pose + 1e-7 * rng.standard_normal(b.body_pose.shape)).astype(np.float32)),
                  t2, t3) for b, t2, t3 in items]
        with torch_threads(1):
            pert, _ = ev.fit_tracks(moved, c["camera"], model, replace(c["cfg"], closed_form_grad=False))
        _diff("autograd vs autograd from a start moved by 1e-7 rad (float rounding)", outs[False], pert)
    return 0


def _diff(name: str, xs, ys) -> None:
    """Print the largest and mean joint distance between two lists of fitted bodies, per track (mm)."""
    per = [np.linalg.norm(np.asarray(x.joints_cam, np.float64) - y.joints_cam, axis=-1) for x, y in zip(xs, ys)]
    print(f"  joints_cam, {name}: " + "; ".join(f"track {x.id}: max {d.max() * 1000:.3f} mm, mean {d.mean() * 1000:.4f} mm"
                                              for x, d in zip(xs, per)))


def _extra(rest: list[str]) -> dict:
    """``--name value`` / ``--no-name`` pairs after ``--`` as keyword arguments of unveil.pipeline.run."""
    out: dict = {}
    i = 0
    while i < len(rest):
        k = rest[i].lstrip("-").replace("-", "_")
        if k.startswith("no_"):
            out[k[3:]] = False
            i += 1
        else:
            v = rest[i + 1]
            try:
                v = json.loads(v)
            except ValueError:
                pass
            out[k] = v
            i += 2
    return out


if __name__ == "__main__":
    sys.exit(main())
