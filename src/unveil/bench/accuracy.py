"""``unveil bench accuracy``: every registered method × the evaluation split × occlusion kinds.

``--eval cmu`` scores the same protocol on the CMU subset's subject 2 (10 clips, an actor no
training clip shows, :mod:`unveil.data.cmu_subset`) instead of the Bandai split; ``--eval deepmimic``
on the 3 DeepMimic evaluation clips (get-up face-up, roll, cartwheel: motions no training source
has, :mod:`unveil.data.deepmimic`; needs no shared data, the clips come from the pybullet wheel).

Protocol (shared/design/pipeline.md, "Benchmark protocol"): the 42 evaluation clips
(``bandai-eval-split.txt``, never used for training) are seen by seeded random static cameras with
detector-like 2D and one synthetic occlusion kind per table (:mod:`unveil.data.synth2d`,
:mod:`unveil.data.occlusions`); the ``person`` occluder of clip i is evaluation clip i+1. Methods
(:mod:`unveil.bench.registry`) see only the 2D keypoints, the camera intrinsics and the fps.

Metrics come from :mod:`unveil.metrics` (millimetres; see that module for definitions). Per kind,
every number is pooled over all clips: a frame-weighted mean (vis/occ: weighted by the number of
visible / hidden (frame, joint) pairs; RTE: clip mean). MPJPE-vis / -occ use the COCO-17 occlusion
ground truth mapped to SMPL-24 joints by ``unveil.metrics``. Foot sliding of a root-relative
prediction is measured on the prediction placed on the true root trajectory (so it measures the
method's local foot motion only); GMPJPE / RTE only for methods that return ``joints_cam``.

``--source render`` scores the real detector on rendered clips
(``unveil.data.synthvideo.load_render_sequences``, owned by the synthetic-video work).
Deterministic: the same seed prints identical numbers. Writes ``accuracy.json`` and
``accuracy.md`` (atomically) under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from .. import atomic, paths
from ..errors import UnveilError
from ..skeleton import camera_to_world
from . import registry
from ..data import cmu_subset, deepmimic, synth2d
from ..data.corpus import load_split
from ..paths import mocap_dir
from ..data.synth2d import inputs_of
from ..runtime import init_torch

KINDS = ("none", "object", "truncation", "person", "lower", "mixed")
COLUMNS = (("mpjpe", "MPJPE"), ("mpjpe_vis", "MPJPE-vis"), ("mpjpe_occ", "MPJPE-occ"),
           ("pa_mpjpe", "PA-MPJPE"), ("accel", "Accel"), ("jitter", "Jitter"),
           ("foot_sliding", "FootSlide"), ("gmpjpe", "GMPJPE"), ("rte", "RTE %"))
QUICK_CLIPS = 3
QUICK_FRAMES = 150


# ---------------------------------------------------------------------------------- sequences
EVAL_SETS = ("bandai", "cmu", "deepmimic")


def eval_clips(eval_set: str = "bandai", n_clips: int | None = None, seed: int = 0) -> list:
    """The clips of an evaluation set: ``bandai`` = the 42-clip Bandai evaluation split, ``cmu`` =
    the CMU subset's subject 2 (10 clips of an actor no training clip shows,
    :mod:`unveil.data.cmu_subset`), ``deepmimic`` = the DeepMimic evaluation clips
    (:data:`unveil.data.deepmimic.EVAL_CLIPS`). ``n_clips``: a seeded subset (kept in name order)."""
    if eval_set == "bandai":
        return load_split("eval", max_clips=n_clips, seed=seed)
    if eval_set not in EVAL_SETS:
        raise UnveilError(f"unknown evaluation set {eval_set!r} (expected one of {', '.join(EVAL_SETS)})")
    clips = cmu_subset.load_split("eval") if eval_set == "cmu" else deepmimic.load_split("eval")
    if n_clips is not None and n_clips < len(clips):
        idx = np.sort(np.random.default_rng(seed).choice(len(clips), size=n_clips, replace=False))
        clips = [clips[i] for i in idx]
    return clips


def synthetic_sequences(kinds, n_clips: int | None, seed: int, max_frames: int | None = None,
                        eval_set: str = "bandai") -> dict:
    if mocap_dir() is None and eval_set != "deepmimic":
        raise UnveilError("the accuracy benchmark needs the mocap data: set UNVEIL_SHARED=path/to/shared")
    clips = eval_clips(eval_set, n_clips, seed)
    if max_frames:
        clips = [synth2d._slice_clip(c, 0, min(max_frames, c.n_frames)) for c in clips]
        for c in clips:
            c.name = c.name.split("@")[0]
    out = {}
    for kind in kinds:
        out[kind] = [synth2d.make_sequence(c, kind, seed, occluder=clips[(i + 1) % len(clips)] if len(clips) > 1 else None)
                     for i, c in enumerate(clips)]
    return out


def render_sequences(kinds, n_clips: int | None, seed: int, truth: str = "body") -> dict:
    try:
        from ..data.synthvideo import load_render_sequences  # deferred: sole statement of its block
    except ImportError as e:
        raise UnveilError(f"--source render needs unveil.data.synthvideo.load_render_sequences ({e})") from e
    kw = {} if n_clips is None else {"max_clips": n_clips}
    seqs = load_render_sequences(kinds=list(kinds), clips=None, seed=seed, truth=truth, **kw)
    out: dict = {k: [] for k in kinds}
    for s in seqs:
        out.setdefault(s.kind, []).append(s)
    return out


# ------------------------------------------------------------------------------------- scoring
def _mask24(occluded17: np.ndarray) -> np.ndarray:
    from .. import metrics  # deferred: loads scipy

    return np.asarray(metrics.coco17_to_smpl24_mask(occluded17), bool)


def score_sequence(seq, pred: dict) -> dict:
    """{metric: (value, weight)} for one sequence and one method's output."""
    from .. import metrics  # deferred: loads scipy

    gt_cam = np.asarray(seq.joints_cam, np.float64)
    gt_rel = gt_cam - gt_cam[:, :1]
    j = np.asarray(pred["joints"], np.float64)
    if j.shape != gt_rel.shape:
        raise ValueError(f"method returned joints of shape {j.shape}, expected {gt_rel.shape}")
    j = j - j[:, :1]
    T = j.shape[0]
    occ24 = _mask24(seq.occluded)
    R, t = np.asarray(seq.R, np.float64), np.asarray(seq.t, np.float64)
    gt_world = np.asarray(seq.joints_world, np.float64)
    # a method may ask to be scored on a subset of joints (e.g. BlazePose world landmarks: limbs only);
    # both are pelvis-relative already, so no re-alignment (a subset need not contain the pelvis)
    sel = list(pred["score_joints"]) if pred.get("score_joints") is not None else slice(None)
    js, gs, occs = j[:, sel], gt_rel[:, sel], occ24[:, sel]
    res = {
        "mpjpe": (metrics.mpjpe(js, gs, root=None), T),
        "pa_mpjpe": (metrics.pa_mpjpe(js, gs), T),
        "accel": (metrics.accel_error(js, gs, align="none"), max(T - 2, 0)),
        "jitter": (metrics.jitter(js), max(T - 3, 0)),
    }
    nv, no = int((~occs).sum()), int(occs.sum())
    if nv:
        res["mpjpe_vis"] = (metrics.mpjpe(js, gs, mask=~occs, root=None), nv)
    if no:
        res["mpjpe_occ"] = (metrics.mpjpe(js, gs, mask=occs, root=None), no)
    if "joints_cam" in pred and pred["joints_cam"] is not None:
        jc = np.asarray(pred["joints_cam"], np.float64)
        pw = camera_to_world(jc, R, t)
        res["gmpjpe"] = (metrics.gmpjpe(pw, gt_world), T)
        res["rte"] = (metrics.rte(pw[:, 0], gt_world[:, 0]), 1)
    else:
        pw = camera_to_world(j + gt_cam[:, :1], R, t)
    res["foot_sliding"] = (metrics.foot_sliding(pw, gt_world, fps=seq.fps), T)
    return {k: (float(v), w) for k, (v, w) in res.items() if v is not None and np.isfinite(v)}


def pool_clips(per_clip: list[dict]) -> dict:
    acc: dict[str, list] = {}
    for r in per_clip:
        for k, (v, w) in r.items():
            acc.setdefault(k, []).append((v, w))
    out = {}
    for k, vw in acc.items():
        w = np.array([x[1] for x in vw], np.float64)
        v = np.array([x[0] for x in vw], np.float64)
        if w.sum() > 0:
            out[k] = float((v * w).sum() / w.sum())
    return out


def run_benchmark(seqs_by_kind: dict, method_names: list[str], log=print) -> dict:
    results: dict = {"kinds": {}, "notes": [], "timing": {}}
    for kind, seqs in seqs_by_kind.items():
        if not seqs:
            continue
        occ_frac = float(np.mean(np.concatenate([s.occluded.reshape(-1) for s in seqs])))
        frames = int(sum(s.joints_cam.shape[0] for s in seqs))
        rows = {}
        for name in method_names:
            m = registry.get(name)
            t0 = time.perf_counter()
            try:
                per = [score_sequence(s, m.fn(inputs_of(s))) for s in seqs]
            except Exception as e:  # noqa: BLE001 - one broken method must not stop the table
                results["notes"].append(f"{name} on {kind}: failed ({type(e).__name__}: {e})")
                continue
            dt = time.perf_counter() - t0
            results["timing"].setdefault(name, 0.0)
            results["timing"][name] += dt
            rows[name] = pool_clips(per)
        results["kinds"][kind] = {"clips": len(seqs), "frames": frames, "occluded_fraction": occ_frac,
                                  "rows": rows}
        log(f"  {kind}: {len(seqs)} clips, {frames} frames, {len(rows)} methods")
    return results


# ------------------------------------------------------------------------------------- output
def _fmt(v) -> str:
    return "—" if v is None else f"{v:.1f}"


def markdown(results: dict, header: str = "") -> str:
    lines = [header] if header else []
    for kind, r in results["kinds"].items():
        lines += ["", f"### {kind}  ({r['clips']} clips, {r['frames']} frames, "
                      f"{100 * r['occluded_fraction']:.1f}% keypoints hidden)", "",
                  "| method | " + " | ".join(c[1] for c in COLUMNS) + " |",
                  "|---|" + "---:|" * len(COLUMNS)]
        for name, row in r["rows"].items():
            lines.append(f"| {name} | " + " | ".join(_fmt(row.get(c[0])) for c in COLUMNS) + " |")
    lines += ["", "Units (unveil.metrics): mm (MPJPE*, PA-MPJPE, GMPJPE), mm/frame² (Accel), mm/frame³ (Jitter, "
              "root-relative prediction), mm/frame (FootSlide, while the true foot is in contact), RTE % of "
              "path; — = not applicable."]
    if results["notes"]:
        lines += ["", "Notes:"] + [f"- {n}" for n in results["notes"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str], prog: str = "unveil bench accuracy") -> int:
    ap = argparse.ArgumentParser(prog=prog, description="Accuracy tables on the evaluation split, per occlusion kind.")
    ap.add_argument("--quick", action="store_true", help=f"{QUICK_CLIPS} clips, first {QUICK_FRAMES} frames (CI)")
    ap.add_argument("--methods", default=None, help="comma-separated rows (default: every registered method)")
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated occlusion kinds")
    ap.add_argument("--clips", type=int, default=None, help="use N evaluation clips (seeded subset)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--source", choices=("synthetic", "render"), default="synthetic")
    ap.add_argument("--eval", dest="eval_set", choices=EVAL_SETS, default="bandai",
                    help="evaluation set of the synthetic source: bandai (the 42-clip evaluation split) or "
                    "cmu (CMU subset subject 2: 10 clips, an unseen actor on another skeleton) or deepmimic "
                    "(3 DeepMimic clips of the pybullet wheel: get-up face-up, roll, cartwheel: new motion)")
    ap.add_argument("--render-truth", choices=("body", "mocap"), default="body",
                    help="render source: score against the rendered body's joints or the clip's mocap joints")
    ap.add_argument("--out", default=None, help="output folder (default: $UNVEIL_CACHE/bench/accuracy-SOURCE)")
    a = ap.parse_args(argv)
    t0 = time.time()

    init_torch()
    kinds = [k.strip() for k in a.kinds.split(",") if k.strip()]
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise UnveilError(f"unknown kind(s) {', '.join(bad)} (expected {', '.join(KINDS)})")
    notes = registry.load_all()
    names = registry.names() if a.methods is None else [m.strip() for m in a.methods.split(",") if m.strip()]
    for n in names:
        registry.get(n)
    if not names:
        raise UnveilError("no method registered")
    n_clips = QUICK_CLIPS if a.quick and a.clips is None else a.clips
    print(f"unveil bench accuracy: source={a.source} eval={a.eval_set} seed={a.seed} clips={n_clips or 'all'} "
          f"kinds={','.join(kinds)} methods={','.join(names)}")
    if a.source == "synthetic":
        seqs = synthetic_sequences(kinds, n_clips, a.seed, QUICK_FRAMES if a.quick else None, a.eval_set)
    else:
        if a.eval_set != "bandai":
            raise UnveilError(f"--eval {a.eval_set} needs --source synthetic (no rendered clips of it yet)")
        seqs = render_sequences(kinds, n_clips, a.seed, a.render_truth)
    results = run_benchmark(seqs, names)
    results["notes"] = notes + results["notes"]
    results["config"] = {"source": a.source, "eval": a.eval_set, "seed": a.seed, "clips": n_clips, "quick": a.quick,
                         "render_truth": a.render_truth if a.source == "render" else None,
                         "kinds": kinds, "methods": names}
    header = (f"## unveil bench accuracy — source {a.source}, eval {a.eval_set}, seed {a.seed}, "
              f"{'quick' if a.quick else 'full'}, clips {n_clips or 'all'}")
    md = markdown(results, header)
    results["run_seconds"] = round(time.time() - t0, 1)
    tag = a.source + ("" if a.eval_set == "bandai" else f"-{a.eval_set}") + ("-quick" if a.quick else "")
    out = Path(a.out) if a.out else paths.cache_dir() / "bench" / f"accuracy-{tag}"
    atomic.write_text(out / "accuracy.md", md)
    atomic.write_text(out / "accuracy.json", json.dumps(results, indent=1, default=float))
    print(md)
    timing = ", ".join(f"{k} {v:.1f} s" for k, v in results["timing"].items())
    print(f"wrote {out / 'accuracy.md'} and accuracy.json; run time {results['run_seconds']} s (methods: {timing})")
    return 0
