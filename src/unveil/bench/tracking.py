"""`unveil bench tracking`: identity of 2-4 rendered people crossing, scored with ``motmetrics``.

Scenes (rendered with the synthetic video engine, :mod:`unveil.data.synthvideo`, cached under its
cache folder): the demo walk (``unveil demo``'s clip, evaluation split) given to 2, 3 or 4 people,
each with a random outfit (distinct clothing), turned about the vertical through the path's centre
and moved sideways / along the walk (``CROSSINGS``): people walk towards each other on lines 0.9 m
apart in depth, so their images cross and the one behind is hidden for a moment; with 3-4 people
more walkers, 1.5 m ahead / behind, on further lines. The camera is placed by the engine's own recipe (kind ``none``) to see every person, looking
across the walks (perpendicular to them).

Truth per person and frame: the box of its 17 projected COCO-17 points; a person counts in a frame
when at least 9 of the 17 points are inside the image (hidden behind another person still counts:
a tracker that bridges the occlusion gets it right). Hypotheses: each unveil track's box of its
COCO-17 points (bridged frames included, interpolated). Matching: box IoU >= 0.5
(``motmetrics.distances.iou_matrix`` semantics, computed here). Printed per scene and in total:
MOTA, IDF1, ID switches (and per 1,000 person-frames), misses, false positives, tracks; rows for the
online tracker alone (``stitch off``) and with the offline stitching (``stitch on``, what ``unveil
run`` writes).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from ..detect.people import track_video
from ..detect.stitch import BODY17, stitch_tracks
from .. import atomic
from ..data.demo_motion import load_motion
from ..io.video import VideoWriter
from .perturb import KINDS, perturbed_front_end

# (yaw in degrees about the path centre, sideways offset, offset along the walk; metres) of person
# 0..n-1; the camera looks across the walk (sideways = depth), so opposite walkers cross in the image
CROSSINGS = {
    2: [(0, 0.0, 0.0), (180, 0.9, 0.0)],
    3: [(0, 0.0, 0.0), (180, 0.9, 0.0), (0, -0.9, 1.5)],
    4: [(0, 0.0, 0.0), (180, 0.9, 0.0), (0, -0.9, 1.5), (180, 1.8, -1.5)],
}


def _rot_y(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])


def _place(joints: np.ndarray, yaw_deg: float, side_off: float, ahead: float = 0.0) -> np.ndarray:
    """(T, 24, 3) walk turned by ``yaw_deg`` about the vertical through its path centre, then moved
    ``side_off`` metres to the side of its travel direction and ``ahead`` metres along it."""
    pel = joints[:, 0]
    c = np.array([pel[:, 0].mean(), 0.0, pel[:, 2].mean()])
    d = pel[-1, [0, 2]] - pel[0, [0, 2]]
    d = d / max(np.linalg.norm(d), 1e-9)
    side, fwd = np.array([d[1], 0.0, -d[0]]), np.array([d[0], 0.0, d[1]])
    return ((joints - c) @ _rot_y(yaw_deg).T + c + side_off * side + ahead * fwd).astype(np.float32)


def render_crossing(n_people: int, frames: int = 120, seed: int = 0, width: int = 640, height: int = 480,
                    workers: int = 2, out_dir: Path | None = None, log=None) -> dict:
    """Render (cached) one crossing scene. Returns {"video": path, "boxes": (n, T, 4) truth boxes
    (NaN where the person does not count), "fps": 30.0, "cached": bool}."""
    from ..data import synthvideo as sv  # deferred: loads torch

    out_dir = Path(out_dir) if out_dir is not None else sv.cache_root() / "tracking"
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"crossing{n_people}__s{seed}__{width}x{height}__{frames}f__r{sv.RENDER_VERSION}-2"
    video, truth = out_dir / f"{stem}.mp4", out_dir / f"{stem}.npz"
    if video.exists() and truth.exists():
        with np.load(truth) as z:
            return {"video": video, "boxes": z["boxes"], "fps": 30.0, "cached": True}
    walk = load_motion()["joints"][:frames].astype(np.float64)
    rng = np.random.default_rng(sv._seed("tracking", n_people, seed))
    rigs, posed = [], []
    for k, (yaw, off, ahead) in enumerate(CROSSINGS[n_people]):
        rig = sv.BodyRig("anny" if not rigs else rigs[0].body, rng=np.random.default_rng(int(rng.integers(1 << 30))))
        rigs.append(rig)
        posed.append(rig.retarget(_place(walk, yaw, off, ahead)))
    verts_all = np.concatenate([p["vertices"] for p in posed], 1)
    # the engine's recipe views a walk from 40-80 degrees off its direction; it is given the walk
    # turned so that the camera ends up looking straight across the real walks (framing: all people)
    name = f"tracking{n_people}"
    j0 = posed[0]["joints"]
    az0 = sv.make_recipe("none", seed, verts_all, j0, width, height, name).info["azimuth_deg"]
    pel = j0[:, 0]
    base = np.rad2deg(np.arctan2(*(pel[-1, [0, 2]] - pel[0, [0, 2]])))
    off = (az0 - base + 180) % 360 - 180          # camera azimuth relative to the walk
    turn = np.sign(off) * 90 - off
    c = np.array([pel[:, 0].mean(), 0.0, pel[:, 2].mean()])
    recipe = sv.make_recipe("none", seed, verts_all, (j0 - c) @ _rot_y(turn).T + c, width, height, name)
    sc = recipe.scene
    R, t = np.asarray(sc.R, np.float64), np.asarray(sc.t, np.float64)
    cam = sc.camera
    boxes = np.full((n_people, frames, 4), np.nan, np.float32)
    for k, p in enumerate(posed):
        kc = p["coco17"].astype(np.float64) @ R.T + t
        z = np.maximum(kc[..., 2], 1e-6)
        uv = np.stack([cam.focal * kc[..., 0] / z + cam.cx, cam.focal * kc[..., 1] / z + cam.cy], -1)
        inside = (kc[..., 2] > 0.1) & (uv[..., 0] >= 0) & (uv[..., 0] < width) & (uv[..., 1] >= 0) & (uv[..., 1] < height)
        ok = inside.sum(1) >= 9
        b = np.concatenate([uv.min(1), uv.max(1)], 1)
        boxes[k, ok] = b[ok]
    t0 = time.time()
    with VideoWriter(video, 30.0, crf=18) as w:
        for i, img, _, _ in sv.render_frames(recipe, rigs, [p["vertices"] for p in posed], 2, workers):
            w.write(img)
            if log and (i + 1) % 30 == 0:
                log(f"  {stem}: frame {i + 1}/{frames} ({(i + 1) / (time.time() - t0):.1f} frames/s)")
    atomic.save_npz(truth, boxes=boxes)
    return {"video": video, "boxes": boxes, "fps": 30.0, "cached": False}


def _iou_dist(gt: np.ndarray, hyp: np.ndarray, max_d: float = 0.5) -> np.ndarray:
    """(G, H) 1 - IoU, NaN where IoU < 1 - max_d (motmetrics' "no match")."""
    if len(gt) == 0 or len(hyp) == 0:
        return np.empty((len(gt), len(hyp)))
    x0 = np.maximum(gt[:, None, 0], hyp[None, :, 0]); y0 = np.maximum(gt[:, None, 1], hyp[None, :, 1])
    x1 = np.minimum(gt[:, None, 2], hyp[None, :, 2]); y1 = np.minimum(gt[:, None, 3], hyp[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    d = 1 - inter / np.maximum(area(gt)[:, None] + area(hyp)[None] - inter, 1e-9)
    d[d > max_d] = np.nan
    return d


def score(tracks, boxes: np.ndarray, frame_indices) -> dict:
    """MOT scores of ``tracks`` (list[Track2D]) against truth ``boxes`` (n, T, 4; NaN: absent)."""
    import motmetrics as mm

    hyp: dict[int, dict[int, np.ndarray]] = {}
    for tr in tracks:
        kp = tr.keypoints[:, BODY17 if tr.keypoints.shape[1] == 33 else slice(None), :2]
        b = np.concatenate([kp.min(1), kp.max(1)], 1)
        for f, bb in zip(tr.frames, b):
            hyp.setdefault(int(f), {})[int(tr.id)] = bb
    acc = mm.MOTAccumulator(auto_id=False)
    person_frames = 0
    for f in frame_indices:
        present = [k for k in range(len(boxes)) if np.isfinite(boxes[k, f]).all()]
        person_frames += len(present)
        h = hyp.get(int(f), {})
        ids = sorted(h)
        g = np.array([boxes[k, f] for k in present]).reshape(-1, 4)
        hb = np.array([h[i] for i in ids]).reshape(-1, 4)
        acc.update(present, ids, _iou_dist(g, hb), frameid=int(f))
    mh = mm.metrics.create()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = mh.compute(acc, metrics=["mota", "idf1", "num_switches", "num_misses", "num_false_positives"], name="x")
    r = {k: float(s[k].iloc[0]) for k in s.columns}
    r["person_frames"] = person_frames
    r["tracks"] = len(tracks)
    r["switches_per_1000"] = 1000 * r["num_switches"] / max(person_frames, 1)
    return r


def main(argv: list[str], prog: str = "unveil bench tracking") -> int:
    ap = argparse.ArgumentParser(prog=prog, description="identity through crossings: MOTA / IDF1 / ID switches "
                                                        "on rendered 2-4 people (motmetrics)")
    ap.add_argument("--people", type=int, nargs="+", default=[2, 3, 4], choices=sorted(CROSSINGS))
    ap.add_argument("--frames", type=int, default=120, help="frames per scene (30 fps; default 120)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2, help="render processes")
    ap.add_argument("--perturb", default="none", choices=KINDS,
                    help="the tracker sees every frame changed in a way no viewer would notice (unveil.bench.perturb): "
                         "rerun under each kind to see how much of a difference between two trackers is chance")
    a = ap.parse_args(argv)
    try:
        import motmetrics  # noqa: F401
    except ImportError:
        print(f"{prog}: needs motmetrics (pip install 'unveil[bench]')", file=sys.stderr)
        return 2
    rows = []
    for n in a.people:
        r = render_crossing(n, a.frames, a.seed, workers=a.workers, log=lambda m: print(m, flush=True))
        print(f"scene: {n} people, {r['video']}" + (" (cached)" if r["cached"] else ""), flush=True)
        st: dict = {}
        with perturbed_front_end(a.perturb):
            raw = track_video(r["video"], stats=st, stitch=False)
        fi = st["frame_indices"]
        rows.append((n, "stitch off", score(raw, r["boxes"], fi)))
        joined = stitch_tracks(raw, fps=r["fps"], processed=np.asarray(fi, np.int64))
        rows.append((n, "stitch on", score(joined, r["boxes"], fi)))
    print(f"| people | identity | MOTA | IDF1 | ID switches | per 1,000 person-frames | misses | false pos. | tracks | person-frames |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    tot: dict = {}
    for n, mode, s in rows:
        print(f"| {n} | {mode} | {s['mota']:.3f} | {s['idf1']:.3f} | {s['num_switches']:.0f} | "
              f"{s['switches_per_1000']:.2f} | {s['num_misses']:.0f} | {s['num_false_positives']:.0f} | "
              f"{s['tracks']} | {s['person_frames']} |")
        t = tot.setdefault(mode, {"sw": 0, "pf": 0, "miss": 0, "fp": 0})
        t["sw"] += s["num_switches"]; t["pf"] += s["person_frames"]
        t["miss"] += s["num_misses"]; t["fp"] += s["num_false_positives"]
    for mode, t in tot.items():
        print(f"all scenes, {mode}: ID switches {t['sw']:.0f} in {t['pf']} person-frames "
              f"({1000 * t['sw'] / max(t['pf'], 1):.2f} per 1,000), misses {t['miss']:.0f}, false positives {t['fp']:.0f}")
    return 0
