"""Fit the detector-true 2D noise model (issue 12) from rendered *training-split* video.

Source: every cached render of a training-split clip under :func:`unveil.data.synthvideo.cache_root`
(``<stem>.npz`` ground truth + ``<stem>.det.npz`` real BlazePose output; render more with
``unveil train blazepose-noise --render N``, resumable because renders are cached). Evaluation and
validation clips are never read (:func:`training_renders` checks the corpus splits).

Reference 2D = what :mod:`unveil.data.synth2d` projects: the clip's *mocap* COCO-17 points
(:func:`unveil.data.corpus.coco17_3d`) placed like :func:`unveil.data.synthvideo.mocap_truth`
(scaled by the leg-length ratio, on the rendered body's pelvis) and projected by the render's
camera. The residual ``detector - reference`` therefore holds BlazePose's keypoint convention
(its hips and shoulders sit elsewhere than the mocap joints), its noise, and its failures.

Fitted per frame and joint, in units of the true box height ``h`` (max - min of the reference 2D):

- conditions: visibility (the render's ``occluded`` mask: < 50 % of the joint's area seen),
  body orientation (front / side / back: cosine between the body's forward direction and the
  direction to the camera, > 0.5 / between / < -0.5) and size (box height / image height:
  < 0.3, 0.3-0.6, >= 0.6; the camera distance in resolution-free form);
- ``bias`` (17, 2 vis, 3 orient, 2): mean residual in a body-aligned 2D frame (``up`` = the
  reference mid-hip -> mid-shoulder direction, ``right`` perpendicular), of frames without swaps;
- ``sigma`` (17, 2, 3): the robust scale (1.4826 x median absolute deviation per axis, mean of
  both) of the residual after the bias; ``size_mult`` (3,): error scale per size bin relative to
  all (pooled over joints);
- ``radius_q`` (2, 101): quantiles of ``|residual - bias| / sigma`` (the tails: BlazePose's
  outliers); ``rho`` (2,): lag-1 autocorrelation of the residual's latent Gaussian (its radius's
  rank mapped to a Rayleigh radius, same direction: what the sampler's AR(1) draws);
- ``conf_q`` (17, 2, 21): quantiles of the detector's confidence per joint and visibility;
  ``conf_rho`` (2,) its lag-1 autocorrelation (of the normal scores);
- swaps: per orientation, the per-frame probability that the arm group / leg group is labelled
  left<->right (``swap_p`` (3, 2)) and that *both* are (``flip_p`` (3,), a front/back flip), and
  the mean length of such runs in frames (``swap_len`` (2,), ``flip_len``).

Cells with fewer than :data:`MIN_CELL` samples fall back to the pooled value over orientation
(then over joints). Written by :func:`fit` to ``unveil/weights/blazepose_noise.npz`` (plain
arrays, ``allow_pickle=False``); sampled by :mod:`unveil.data.detector_noise`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .. import atomic
from ..data import detector_noise, synthvideo
from ..data.corpus import coco17_3d, eval_clip_names, load_split
from ..data.detector_noise import (ARM_PAIRS, CONF_LEVELS, LEG_PAIRS, RADIUS_LEVELS, body_frame, orientation_bin,
                                   size_bin)
from ..errors import UnveilError
from ..paths import WEIGHTS_DIR
from ..skeleton import SMPL24_INDEX as JI

OUT = WEIGHTS_DIR / "blazepose_noise.npz"
MIN_CELL = 30
SWAP_MARGIN = 0.5      # a pair is swapped when the crossed distance < SWAP_MARGIN x the straight one
SWAP_MIN_SEP = 0.05    # ... and the pair's true points are at least this far apart (x box height)
RENDER_KINDS = ("object", "lower", "truncation", "person", "none", "pole", "mixed")


def render_training_clips(n_clips: int, seed: int = 12, frames: int = 60, workers: int = 1, view: str = "front",
                          log=print) -> int:
    """Render (cached) ``n_clips`` training-split clips, two scene kinds each (rotating through
    :data:`RENDER_KINDS`), at supersample 1, and run the detector on them; ``view="back"``: seen
    from behind (the renderer's default camera stays within 70 degrees of the subject's facing).
    Returns the number of sequences."""
    clips = load_split("train", max_clips=n_clips, seed=seed)
    ev = eval_clip_names()
    n = 0
    for i, c in enumerate(clips):
        if c.name in ev:  # pragma: no cover - the split never holds evaluation clips
            raise UnveilError(f"{c.name} is an evaluation clip")
        ks = [RENDER_KINDS[(2 * i + k) % len(RENDER_KINDS)] for k in range(2)]
        synthvideo.load_render_sequences(ks, [c], 0, max_frames=frames, workers=workers, supersample=1, log=log,
                                         view=view)
        n += len(ks)
    return n


def training_renders(cache: Path | None = None, split: str = "train") -> list[tuple[Path, Path, object]]:
    """(truth npz, detector npz, clip) of every cached render of a ``split`` clip ("train" for the
    fit, "val" for :func:`heldout`; never the evaluation split)."""
    if split not in ("train", "val"):
        raise UnveilError(f"renders of the {split!r} split are not read here (train or val only)")
    cache = Path(cache) if cache else synthvideo.cache_root()
    train = {c.name: c for c in load_split(split)}
    ev = eval_clip_names()
    out = []
    for det in sorted(cache.glob("*.det.npz")):
        stem = det.name[: -len(".det.npz")]
        name = stem.split("__")[0]
        truth = cache / f"{stem}.npz"
        if name in ev or name not in train or not truth.is_file():
            continue
        out.append((truth, det, train[name]))
    return out


def _reference_2d(tr: dict, clip) -> np.ndarray:
    """(T, 17, 2) the clip's mocap COCO-17 points placed on the render and projected."""
    T = len(tr["keypoints2d_true"])
    cw = np.asarray(coco17_3d(clip), np.float64)[:T]
    cj = np.asarray(clip.joints, np.float64)[:T]
    bj = np.asarray(tr["joints_world"], np.float64)
    leg = lambda J: (np.linalg.norm(J[:, JI["L_hip"]] - J[:, JI["L_knee"]], axis=-1)  # noqa: E731
                     + np.linalg.norm(J[:, JI["L_knee"]] - J[:, JI["L_ankle"]], axis=-1))
    ratio = float(np.median(leg(bj)) / max(np.median(leg(cj)), 1e-6))
    pw = (cw - cj[:, :1]) * ratio + bj[:, :1]
    pc = pw @ np.asarray(tr["R"], np.float64).T + np.asarray(tr["t"], np.float64)
    f, pp = float(tr["focal"]), np.asarray(tr["principal_point"], np.float64)
    return pc[..., :2] / pc[..., 2:3] * f + pp


def load_render(tp, dp, clip) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One cached render: its truth record ``tr`` and the detector's keypoints ``kp`` (T,33,3), cut to
    their common length T, the reference 2D of the body ``ref`` (T,33,2), whether each frame has a
    detection ``found`` (T,) (frames without one carry confidence 0) and the reference's height in
    pixels ``h`` (T,)."""
    with np.load(tp, allow_pickle=False) as z:
        tr = {k: z[k] for k in z.files}
    with np.load(dp, allow_pickle=False) as z:
        kp = z["keypoints2d"].astype(np.float64)
    T = min(len(kp), len(tr["keypoints2d_true"]), len(clip.joints))
    tr = {k: (v[:T] if np.ndim(v) and len(v) == len(kp) else v) for k, v in tr.items()}
    kp = kp[:T]
    ref = _reference_2d(tr, clip)
    found = kp[..., 2].max(-1) > 0
    h = np.maximum(ref[..., 1].max(-1) - ref[..., 1].min(-1), 1.0)
    return tr, kp, ref, found, h


def collect(renders) -> dict:
    """Per-frame residual records of the renders (see the module docstring)."""
    rows = {k: [] for k in ("res", "vis", "orient", "size", "conf", "swap", "seq", "h")}
    names = []
    for si, (tp, dp, clip) in enumerate(renders):
        tr, kp, ref, found, h = load_render(tp, dp, clip)
        T = len(kp)
        up, right = body_frame(ref)
        d = (kp[..., :2] - ref) / h[:, None, None]
        res = np.stack([(d * right).sum(-1), (d * up).sum(-1)], -1)          # (T, 17, 2) body frame
        jc = np.asarray(tr["joints_cam"], np.float64)
        ori = orientation_bin(jc)
        sz = size_bin(h / float(tr["height"]))
        swap = np.zeros((T, 2), bool)
        for g, pairs in enumerate((ARM_PAIRS, LEG_PAIRS)):
            straight = sum(np.linalg.norm(kp[:, a, :2] - ref[:, a], axis=-1) + np.linalg.norm(kp[:, b, :2] - ref[:, b], axis=-1)
                           for a, b in pairs)
            crossed = sum(np.linalg.norm(kp[:, a, :2] - ref[:, b], axis=-1) + np.linalg.norm(kp[:, b, :2] - ref[:, a], axis=-1)
                          for a, b in pairs)
            sep = np.mean([np.linalg.norm(ref[:, a] - ref[:, b], axis=-1) for a, b in pairs], axis=0) / h
            swap[:, g] = (crossed < SWAP_MARGIN * straight) & (sep > SWAP_MIN_SEP)
        keep = found
        rows["res"].append(res[keep])
        rows["vis"].append(np.asarray(tr["occluded"], bool)[keep])
        rows["orient"].append(ori[keep])
        rows["size"].append(sz[keep])
        rows["conf"].append(kp[keep][..., 2])
        rows["swap"].append(swap[keep])
        rows["seq"].append(np.full(int(keep.sum()), si))
        rows["h"].append(h[keep])
        names.append(tp.name.split("__r")[0])
    out = {k: np.concatenate(v) for k, v in rows.items()}
    out["names"] = names
    return out


def _runs(x: np.ndarray, seq: np.ndarray) -> list[int]:
    """Lengths of True runs of a per-frame flag, never across sequences."""
    out, n = [], 0
    for i in range(len(x)):
        if x[i] and (n == 0 or seq[i] == seq[i - 1]):
            n += 1
        else:
            if n:
                out.append(n)
            n = 1 if x[i] else 0
    if n:
        out.append(n)
    return out


def _lag1(v: np.ndarray, seq: np.ndarray) -> float:
    """Lag-1 autocorrelation of per-frame values (N, ...) within sequences."""
    same = seq[1:] == seq[:-1]
    a, b = v[1:][same].ravel(), v[:-1][same].ravel()
    ok = np.isfinite(a) & np.isfinite(b)
    return float(np.corrcoef(a[ok], b[ok])[0, 1]) if ok.sum() > 10 else 0.0


def fit_arrays(d: dict) -> dict:
    """The noise-model arrays (module docstring) from :func:`collect`'s records."""
    res, vis, ori, sz, conf, swap, seq = (d[k] for k in ("res", "vis", "orient", "size", "conf", "swap", "seq"))
    N, K = vis.shape
    flip = swap[:, 0] & swap[:, 1]
    clean = ~(swap[:, 0] | swap[:, 1])                          # frames without a swap: the noise
    bias = np.zeros((K, 2, 3, 2))
    sigma = np.zeros((K, 2, 3))
    count = np.zeros((K, 2, 3), np.int64)
    for v in (0, 1):
        sel_v = (vis == bool(v)) & clean[:, None]
        pooled = res[sel_v]
        pb = np.median(pooled, 0) if len(pooled) else np.zeros(2)
        ps = float(1.4826 * np.median(np.abs(pooled - pb), 0).mean()) if len(pooled) else 0.05
        for k in range(K):
            rk = res[sel_v[:, k], k]
            kb = np.mean(rk, 0) if len(rk) >= MIN_CELL else pb
            ks = float(1.4826 * np.median(np.abs(rk - np.median(rk, 0)), 0).mean()) if len(rk) >= MIN_CELL else ps
            for o in range(3):
                ro = res[sel_v[:, k] & (ori == o), k]
                count[k, v, o] = len(ro)
                if len(ro) >= MIN_CELL:
                    bias[k, v, o] = np.mean(ro, 0)
                    sigma[k, v, o] = 1.4826 * np.median(np.abs(ro - np.median(ro, 0)), 0).mean()
                else:
                    bias[k, v, o], sigma[k, v, o] = kb, ks
    sigma = np.maximum(sigma, 1e-3)
    K_idx = np.arange(K)[None]
    b_all = bias[K_idx, vis.astype(int), ori[:, None]]          # (N, K, 2)
    s_all = sigma[K_idx, vis.astype(int), ori[:, None]]         # (N, K)
    r = np.linalg.norm(res - b_all, axis=-1) / s_all            # (N, K)
    size_mult = np.ones(3)
    vis_clean = (~vis) & clean[:, None]
    base = np.median(r[vis_clean])
    for b in range(3):
        sel = vis_clean & (sz == b)[:, None]
        if sel.sum() >= MIN_CELL:
            size_mult[b] = float(np.median(r[sel]) / base)
    radius_q = np.zeros((2, len(RADIUS_LEVELS)))
    rho = np.zeros(2)
    conf_q = np.zeros((K, 2, len(CONF_LEVELS)))
    conf_rho = np.zeros(2)
    from scipy.special import ndtri  # scipy: offline fitting only

    for v in (0, 1):
        sel = (vis == bool(v)) & clean[:, None]
        rv = r[sel] / size_mult[np.broadcast_to(sz[:, None], vis.shape)[sel]]
        radius_q[v] = np.quantile(rv, RADIUS_LEVELS) if len(rv) else np.quantile(r, RADIUS_LEVELS)
        # temporal correlation of the latent Gaussian the sampler draws (a copula: radius -> its rank
        # in radius_q -> the Rayleigh radius of that rank, same direction); the residual's own lag-1
        # correlation is lower (heavy tails), so it is not what the sampler needs
        rn = r / size_mult[sz][:, None]
        u = np.clip(np.interp(rn, radius_q[v], RADIUS_LEVELS), 1e-4, 1 - 1e-4)
        e = res - b_all
        dirn = e / np.maximum(np.linalg.norm(e, axis=-1, keepdims=True), 1e-12)
        z = dirn * np.sqrt(-2.0 * np.log(1.0 - u))[..., None]
        rho[v] = _lag1(np.where(sel[..., None], z, np.nan), seq)
        cv = conf[vis == bool(v)]
        for k in range(K):
            ck = conf[vis[:, k] == bool(v), k]
            conf_q[k, v] = np.quantile(ck if len(ck) >= MIN_CELL else cv, CONF_LEVELS) if len(cv) else 0.0
        # normal scores of the confidences (their rank within the joint's own distribution)
        z = np.full(conf.shape, np.nan)
        for k in range(K):
            m = vis[:, k] == bool(v)
            if m.sum() > 2:
                rank = np.argsort(np.argsort(conf[m, k])) + 0.5
                z[m, k] = ndtri(rank / m.sum())
        conf_rho[v] = _lag1(z, seq)
    swap_p = np.zeros((3, 2))
    flip_p = np.zeros(3)
    n_or = np.zeros(3, np.int64)
    for o in range(3):
        m = ori == o
        n_or[o] = int(m.sum())
        if m.sum():
            swap_p[o] = (swap[m] & ~flip[m, None]).mean(0)
            flip_p[o] = flip[m].mean()
    swap_len = np.array([np.mean(_runs(swap[:, g] & ~flip, seq) or [1]) for g in range(2)])
    flip_len = float(np.mean(_runs(flip, seq) or [1]))
    return {"bias": bias.astype(np.float32), "sigma": sigma.astype(np.float32), "count": count,
            "size_mult": size_mult.astype(np.float32), "radius_levels": np.asarray(RADIUS_LEVELS, np.float32),
            "radius_q": radius_q.astype(np.float32), "rho": rho.astype(np.float32),
            "conf_levels": np.asarray(CONF_LEVELS, np.float32), "conf_q": conf_q.astype(np.float32),
            "conf_rho": conf_rho.astype(np.float32), "swap_p": swap_p.astype(np.float32),
            "flip_p": flip_p.astype(np.float32), "swap_len": swap_len.astype(np.float32),
            "flip_len": np.array(flip_len, np.float32), "orient_frames": n_or}


def fit(out: str | None = None, render: int = 0, log=print) -> dict:
    """Render ``render`` more training clips (0 = only what is cached), fit, write the npz.

    Returns a summary (sequences, frames, per-class medians) that the card quotes."""
    t0 = time.time()
    if render:
        render_training_clips(render, log=log)
    renders = training_renders()
    if not renders:
        raise UnveilError("no cached training-split renders: run with --render N first")
    d = collect(renders)
    arr = fit_arrays(d)
    path = Path(out) if out else OUT
    meta = {"sequences": d["names"], "frames": int(len(d["vis"])), "seconds": round(time.time() - t0, 1),
            "recipe": "unveil train blazepose-noise"}
    atomic.save_npz(path, meta=np.array(json.dumps(meta)), **arr)
    vis = d["vis"]
    summ = {"sequences": len(d["names"]), "frames": int(len(vis)), "visible_joint_frames": int((~vis).sum()),
            "hidden_joint_frames": int(vis.sum()),
            "median_sigma_visible": float(np.median(arr["sigma"][:, 0])),
            "median_sigma_hidden": float(np.median(arr["sigma"][:, 1])),
            "rho": arr["rho"].tolist(), "size_mult": arr["size_mult"].tolist(),
            "swap_p": arr["swap_p"].tolist(), "flip_p": arr["flip_p"].tolist(),
            "swap_len": arr["swap_len"].tolist(), "flip_len": float(arr["flip_len"]),
            "orient_frames": arr["orient_frames"].tolist(), "seconds": meta["seconds"], "out": str(path)}
    log(json.dumps(summ, indent=1))
    return summ


def train(seed: int = 0, out: str | None = None, steps: int | None = None) -> dict:
    """``unveil train blazepose-noise``: render the seeded training clips (cached: 90 clips seen
    from the front, 30 from behind, see :func:`render_training_clips`) and fit (``seed`` and
    ``steps`` unused: the fit is deterministic and has no steps)."""
    render_training_clips(90, seed=12)
    render_training_clips(30, seed=21, view="back")
    return fit(out)


def heldout(model: str | None = None, seed: int = 0, log=print) -> dict:
    """Held-out check: 2D error percentiles (50 / 90 / 99, % of box height, against the
    mocap-convention reference) of the real detector on the cached *validation-split* renders vs the
    model sampled on the same frames (same hidden masks, orientations, sizes), seen and hidden joints,
    and the median confidence of hidden joints. Returns the numbers (also logged)."""
    m = detector_noise.load(model)
    rng = np.random.default_rng(seed)
    err = {"real": {0: [], 1: []}, "model": {0: [], 1: []}}
    conf = {"real": [], "model": []}
    renders = training_renders(split="val")
    for tp, dp, clip in renders:
        tr, kp, ref, found, h = load_render(tp, dp, clip)
        occ = np.asarray(tr["occluded"], bool)
        pos, c, _ = detector_noise.sample(ref, np.asarray(tr["joints_cam"], np.float64), occ, float(tr["height"]), rng, m)
        for key, p in (("real", kp[..., :2]), ("model", pos)):
            e = np.linalg.norm(p - ref, axis=-1) / h[:, None] * 100
            for v in (0, 1):
                err[key][v].append(e[found][occ[found] == bool(v)])
        conf["real"].append(kp[..., 2][found][occ[found]])
        conf["model"].append(c[found][occ[found]])
    out = {"sequences": len(renders)}
    for key in err:
        for v, name in ((0, "seen"), (1, "hidden")):
            e = np.concatenate(err[key][v]) if err[key][v] else np.zeros(1)
            out[f"{key}_{name}_p50_p90_p99"] = np.percentile(e, [50, 90, 99]).round(1).tolist()
            out[f"{name}_n"] = int(len(e))
        out[f"{key}_hidden_conf_median"] = round(float(np.median(np.concatenate(conf[key]))), 2) if conf[key] else None
    log(json.dumps(out))
    return out
