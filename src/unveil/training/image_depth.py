"""Training data and recipe of the image-evidence depth network (issue 18, :mod:`unveil.motion.image_depth`).

Data (:func:`build_sequences`): clips of the mocap *training* split (``val`` for the decision;
never ``eval``) rendered by :mod:`unveil.data.synthvideo` (cached under ``$UNVEIL_CACHE/synthvideo``,
resumable: every finished clip stays), each in :data:`KINDS_PER_CLIP` scene kinds rotating through
all seven, every ``STRIDE``-th mocap frame (more poses per rendered frame; the clip name gets a
``@st2`` suffix, so the outfit, scene and camera draws differ from the plain renders). The video is
run through the *tapped* landmark model (``track_video(features=True)``); per frame the detected
person nearest the truth (as :func:`unveil.data.synthvideo.detect_to_coco17`) gives the BlazePose-33
2D keypoints, the feature tokens (:data:`unveil.detect.taps.TOKEN_SHAPES`) and the world landmarks;
the 3D truth is the clip's mocap skeleton (:func:`unveil.data.synthvideo.mocap_truth`, the
convention of every training set here). One npz per (clip, kind) next to the render
(``<stem>.tok.npz``), so the set grows across sessions.

Recipe (:func:`train`): per frame, inputs -> the 12 limb joints relative to their hip centre
(camera axes, metres); loss = L1 on the 3D + 2 x L1 on the depth (z) part, on frames with a
detection; no mirror augmentation (the tokens cannot be mirrored, and the keypoints-only twin is
trained exactly the same way).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from .. import atomic
from ..checkpoint import save_checkpoint
from ..data import synthvideo
from ..data.corpus import load_split
from ..errors import UnveilError
from ..motion import image_depth as idm
from ..motion import rope
from ..motion.landmark_blend import blazepose_limb_joints
from ..paths import WEIGHTS_DIR
from ..skeleton import to_coco17

ALL_KINDS = ("none", "object", "pole", "truncation", "person", "lower", "mixed")
KINDS_PER_CLIP = 2
STRIDE = 2
FRAMES = 60
SUPERSAMPLE = 1
# the shipped recipe (weights/image_depth.md)
TRAIN_CLIPS = 64
VAL_CLIPS = 6
# session 7: clips of build_varied (after the first TRAIN_CLIPS) in the Rope and image-fusion recipes
VARIED_CLIPS = 22
STEPS = 1500


def kinds_for_clip(i: int, per_clip: int = KINDS_PER_CLIP) -> list[str]:
    return [ALL_KINDS[(per_clip * i + k) % len(ALL_KINDS)] for k in range(per_clip)]


def match_tracks(tracks, truth2d: np.ndarray) -> dict:
    """Per frame, the detected person nearest the truth's COCO-17 body keypoints (T,17,2).

    Returns arrays over the T frames: ``kp33`` (T,33,3), ``world`` (T,33,3) (NaN: none), ``tok_kp``
    (T,33,288), ``tok_mid`` (T,33,48), ``tok_body`` (T,1152) float16 and ``detected`` (T,) bool
    (a held detection with tokens)."""
    T = len(truth2d)
    shp = idm.TOKEN_SHAPES
    out = {"kp33": np.zeros((T, 33, 3), np.float32), "world": np.full((T, 33, 3), np.nan, np.float32),
           **{f"tok_{k}": np.zeros((T,) + s, np.float16) for k, s in shp.items()},
           "detected": np.zeros(T, bool)}
    best = np.full(T, np.inf)
    for tr in tracks:
        if tr.features is None:
            raise UnveilError("tracks carry no image features (run the tapped landmark model)")
        kp = np.asarray(tr.keypoints, np.float32)
        c17 = to_coco17(kp, tr.layout)
        held = np.asarray(tr.extras.get("held", np.ones(len(kp), bool)), bool)
        for row, f in enumerate(np.asarray(tr.frames)):
            if not (0 <= f < T) or not held[row]:
                continue
            d = np.nanmean(np.linalg.norm(c17[row, 5:, :2] - truth2d[f, 5:], axis=-1))
            if d < best[f]:
                best[f] = d
                out["kp33"][f] = kp[row]
                out["world"][f] = tr.world_landmarks[row]
                for k in shp:
                    out[f"tok_{k}"][f] = tr.features[k][row]
                out["detected"][f] = True
    return out


def build_one(clip_name: str, joints_world: np.ndarray, kind: str, seed: int = 0, workers: int = 2,
              log=print, width: int = 960, height: int = 540, supersample: int = SUPERSAMPLE,
              view: str = "front") -> Path:
    """Render (cached) one clip in one kind, run the tapped detector (cached) -> the ``.tok.npz`` path.
    ``width``/``height``/``supersample``/``view``: :func:`unveil.data.synthvideo.render_sequence`'s (a
    variant of :data:`VARIETY`)."""
    r = synthvideo.render_sequence(joints_world, clip_name, kind, seed, width=width, height=height,
                                   workers=workers, supersample=supersample, view=view)
    path = Path(str(r["video"])[:-4] + ".tok.npz")
    if path.exists():
        return path
    from ..detect.people import track_video  # deferred: loads cv2, scipy

    t0 = time.time()
    tr = synthvideo.load_truth(r["truth"])
    tracks = track_video(str(r["video"]), features=True, workers=1, num_threads=1)
    m = match_tracks(tracks, tr["keypoints2d_true"])
    _, jc = synthvideo.mocap_truth(joints_world, tr["joints_world"], tr["R"], tr["t"])
    atomic.save_npz(path, **m, joints_cam=jc, occluded=np.asarray(tr["occluded"], bool),
                    focal=np.array(float(tr["focal"]), np.float32),
                    principal_point=np.asarray(tr["principal_point"], np.float32),
                    size=np.array([int(tr["width"]), int(tr["height"])]), kind=np.array(kind),
                    name=np.array(clip_name))
    if log:
        log(f"[image-depth] {clip_name} [{kind}]: {int(m['detected'].sum())}/{len(jc)} frames detected, "
            f"render {r['seconds']:.0f} s, detect {time.time() - t0:.0f} s")
    return path


def build_sequences(split: str = "train", n_clips: int = 24, seed: int = 0, workers: int = 2,
                    kinds=None, log=print) -> list[Path]:
    """Render + detect ``n_clips`` clips of ``split`` (resumable); returns the ``.tok.npz`` paths."""
    if split == "eval":
        raise UnveilError("training data never comes from the evaluation split")
    out = []
    clips = load_split(split)
    order = np.random.default_rng(seed).permutation(len(clips))[:n_clips]  # nested: more clips keep the first
    for i, c in enumerate(clips[k] for k in order):
        jw = np.asarray(c.joints, np.float32)[::STRIDE][:FRAMES]
        if len(jw) < 20:
            continue
        for kind in (kinds or kinds_for_clip(i)):
            out.append(build_one(f"{c.name}@st{STRIDE}", jw, kind, seed, workers, log))
    return out


# Session 7 (issue 18): more varied renders, for the clips after the first TRAIN_CLIPS of the same
# seeded order. Each clip gets one variant (cycling) besides its two rotating kinds. What varies is
# what the synthetic video engine supports: the render seed (other outfit colours, sleeve length,
# wall style and colour, floor tint, camera azimuth / height 0.7-1.8 m / vertical FoV 45-65 deg,
# occluder draws), the frame shape (portrait 540x960, a phone held upright: the subject larger in
# a narrower horizontal field), the camera side (``back``: seen from behind) and 2x anti-aliasing
# (as the evaluation renders; the first 64 clips were rendered without).
VARIETY = (
    {"seed": 1, "width": 960, "height": 540, "supersample": 2, "view": "front"},
    {"seed": 1, "width": 540, "height": 960, "supersample": 2, "view": "front"},
    {"seed": 2, "width": 960, "height": 540, "supersample": 2, "view": "back"},
    {"seed": 2, "width": 540, "height": 960, "supersample": 2, "view": "front"},
)


def build_varied(split: str = "train", n_clips: int = 0, start: int = TRAIN_CLIPS, order_seed: int = 0,
                 workers: int = 1, deadline: float | None = None, log=print) -> list[Path]:
    """Render + detect clips ``start .. start + n_clips`` of ``split``'s seeded order (the order of
    :func:`build_sequences`, so they never repeat its first ``start`` clips), clip ``i`` in
    :data:`VARIETY` ``[i % 4]`` and the kinds :func:`kinds_for_clip` ``(i)``; resumable.
    ``deadline`` (``time.time()`` value): start no new render after it (what is done stays).
    Returns the ``.tok.npz`` paths that exist."""
    if split == "eval":
        raise UnveilError("training data never comes from the evaluation split")
    out = []
    clips = load_split(split)
    order = np.random.default_rng(order_seed).permutation(len(clips))[start:start + n_clips]
    for i, k in enumerate(order, start=start):
        c = clips[k]
        jw = np.asarray(c.joints, np.float32)[::STRIDE][:FRAMES]
        if len(jw) < 20:
            continue
        v = VARIETY[i % len(VARIETY)]
        for kind in kinds_for_clip(i):
            if deadline is not None and time.time() > deadline:
                return out
            out.append(build_one(f"{c.name}@st{STRIDE}", jw, kind, v["seed"], workers, log, v["width"],
                                 v["height"], v["supersample"], v["view"]))
    return out


def load_sequences(paths) -> dict:
    """Concatenate ``.tok.npz`` files -> dict of (N, ...) arrays (frames with a detection only)."""
    keys = ("kp33", "tok_kp", "tok_mid", "tok_body", "joints_cam", "world")
    acc = {k: [] for k in keys + ("focal", "pp", "size", "seq", "kind")}
    for si, p in enumerate(paths):
        with np.load(p, allow_pickle=False) as z:
            det = z["detected"]
            n = int(det.sum())
            for k in keys:
                acc[k].append(z[k][det])
            acc["focal"].append(np.full(n, float(z["focal"]), np.float32))
            acc["pp"].append(np.repeat(z["principal_point"][None], n, 0))
            acc["size"].append(np.repeat(z["size"][None], n, 0))
            acc["seq"].append(np.full(n, si))
            acc["kind"].append(np.full(n, str(z["kind"])))
    return {k: np.concatenate(v) for k, v in acc.items()}


def _subset(d: dict, m: np.ndarray) -> dict:
    return {k: v[m] for k, v in d.items()}


def targets(joints_cam: np.ndarray) -> np.ndarray:
    """(N,24,3) camera-frame truth -> (N,12,3) limb joints relative to their hip centre."""
    J = np.asarray(joints_cam, np.float32)[:, list(idm.LIMB_SMPL)]
    return J - 0.5 * (J[:, 6:7] + J[:, 7:8])


def batch_inputs(d: dict, idx, use_tokens: bool, mirror=None, body: bool = False) -> dict:
    """Network inputs of frames ``idx`` (see :func:`unveil.motion.image_depth.prepare`); ``body``:
    also the whole-body token (a :class:`unveil.motion.rope.RopeNet` with WhoBo)."""
    kp = d["kp33"][idx].copy()
    if mirror is not None and mirror.any():
        kp[mirror] = kp[mirror][:, list(idm.BLAZEPOSE33_FLIP)]
        kp[mirror, :, 0] = 2 * d["pp"][idx][mirror, 0, None] - kp[mirror, :, 0]
    x = idm.prepare(kp, d["focal"][idx], d["pp"][idx],
                    d["tok_kp"][idx] if use_tokens else None, d["tok_mid"][idx] if use_tokens else None,
                    d["tok_body"][idx] if (use_tokens and body) else None)
    return x


def _scaled_errors(p: np.ndarray, y: np.ndarray) -> dict:
    """(N,12,3) hip-centred prediction vs truth -> errors (mm) after the per-frame least-squares scale."""
    s = (p * y).sum((1, 2)) / np.maximum((p * p).sum((1, 2)), 1e-9)
    pa = p * s[:, None, None]
    far = np.abs(y[..., 2]) > 0.10
    return {"frames": int(len(y)), "mpjpe_mm": float(np.linalg.norm(p - y, axis=-1).mean() * 1000),
            "scaled_mpjpe_mm": float(np.linalg.norm(pa - y, axis=-1).mean() * 1000),
            "depth_mm": float(np.abs(pa[..., 2] - y[..., 2]).mean() * 1000),
            "flips_pct": float(100 * ((np.sign(pa[..., 2]) != np.sign(y[..., 2])) & far).sum() / max(far.sum(), 1))}


def blazepose_errors(d: dict) -> dict:
    """The same errors for BlazePose's own world landmarks (the reference on these frames)."""
    w = np.asarray(d["world"], np.float64)
    ok = np.isfinite(w).all((1, 2))
    return _scaled_errors(blazepose_limb_joints(w[ok]), targets(d["joints_cam"])[ok].astype(np.float64))


def evaluate(model, d: dict, batch: int = 512) -> dict:
    """Errors (mm) of the model on all frames of ``d``: 3D (after per-frame scale alignment, as the
    blend uses it), the depth part and front/back flips (:func:`_scaled_errors`)."""
    model.eval()
    y = targets(d["joints_cam"])
    preds = []
    with torch.no_grad():
        for s in range(0, len(y), batch):
            idx = np.arange(s, min(s + batch, len(y)))
            x = batch_inputs(d, idx, model.use_tokens, body=getattr(model, "reads_body", False))
            preds.append(model(**{k: torch.as_tensor(v) for k, v in x.items()}).numpy())
    p = np.concatenate(preds) if preds else np.zeros((0, 12, 3), np.float32)
    return _scaled_errors(p.astype(np.float64), y.astype(np.float64))


def train(steps: int = STEPS, use_tokens: bool = True, seed: int = 0, n_clips: int = TRAIN_CLIPS,
          val_clips: int = VAL_CLIPS,
          batch: int = 128, lr: float = 1e-3, out=None, log=print, workers: int = 2, arch: str = idm.ARCH,
          rope_config: dict | None = None, net_config: dict | None = None, varied_clips: int = 0) -> dict:
    """Train :class:`unveil.motion.image_depth.ImageDepthNet` (``use_tokens`` False: the
    keypoints-only twin) on rendered training-split clips; validate on rendered ``val`` clips.

    ``arch`` = :data:`unveil.motion.rope.ARCH`: a :class:`unveil.motion.rope.RopeNet` with
    ``rope_config`` (its level / WhoBo / ICL flags) instead, same data, steps, seed and loss; default
    weights ``weights/image_depth_rope.pt``. ``net_config``: other constructor arguments (``dim``,
    ``heads``, ``layers``) of either network (e.g. the wider one-level capacity control).
    ``varied_clips``: also the first that many clips of :func:`build_varied` (session 7's varied renders)."""
    if arch not in (idm.ARCH, rope.ARCH):
        raise UnveilError(f"unknown image-depth arch {arch!r}")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tr = load_sequences(build_sequences("train", n_clips, seed, workers, log=log)
                        + build_varied("train", varied_clips, TRAIN_CLIPS, seed, workers, log=log))
    va = load_sequences(build_sequences("val", val_clips, seed, workers, log=log))
    y = torch.as_tensor(targets(tr["joints_cam"]))
    config = {"use_tokens": bool(use_tokens), **{k: int(v) for k, v in (net_config or {}).items()}}
    if arch == rope.ARCH:
        config.update({k: bool(v) for k, v in (rope_config or {}).items()})
        model = rope.RopeNet(**config)
    else:
        model = idm.ImageDepthNet(**config)
    body = getattr(model, "reads_body", False)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    X = {k: torch.as_tensor(v) for k, v in batch_inputs(tr, np.arange(len(y)), use_tokens, body=body).items()}  # once
    t0 = time.time()
    for step in range(steps):
        model.train()
        idx = torch.as_tensor(rng.integers(0, len(y), batch))
        yt = y[idx]
        p = model(**{k: v[idx] for k, v in X.items()})
        loss = (p - yt).abs().mean() + 2 * (p[..., 2] - yt[..., 2]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if log and (step % 250 == 0 or step == steps - 1):
            log(f"[image-depth] step {step} loss {loss.item():.4f} ({time.time() - t0:.0f} s)")
    secs = time.time() - t0
    res = {"train_frames": int(len(y)), "train_sequences": int(tr["seq"].max() + 1),
           "train": evaluate(model, tr), "val": evaluate(model, va), "val_blazepose": blazepose_errors(va),
           "val_per_kind": {str(k): evaluate(model, _subset(va, va["kind"] == k)) for k in sorted(set(va["kind"]))},
           "train_seconds": secs}
    if out:
        path = Path(out)
    elif arch == rope.ARCH:
        path = WEIGHTS_DIR / rope.WEIGHTS_NAME
    else:
        path = WEIGHTS_DIR / (idm.WEIGHTS_NAME if use_tokens else idm.WEIGHTS_NAME_KP)
    save_checkpoint(path, arch, config, model.state_dict(),
                    {"seed": seed, "steps": steps, "batch": batch, "lr": lr, "n_clips": n_clips,
                     "val_clips": val_clips, "kinds_per_clip": KINDS_PER_CLIP, "stride": STRIDE,
                     "frames": FRAMES, "varied_clips": int(varied_clips), **res})
    if log:
        log(f"[image-depth] {arch} {config}: train {res['train']} val {res['val']}; wrote {path}")
        for k, v in res["val_per_kind"].items():
            log(f"[image-depth]   val {k}: {v}")
    return res


# `unveil train image-depth` (see unveil/train.py)
def train_image_depth(**kw):
    return train(**kw)


# `unveil train image-depth-kponly`: the keypoints-only twin (the ablation)
def train_image_depth_kponly(**kw):
    return train(use_tokens=False, **kw)


# `unveil train image-depth-rope[-VARIANT]`: RopeNet (RopeTP's part hierarchy), the Table-4
# ablations (unveil.motion.rope.VARIANTS) and the full model's keypoints-only twin; same recipe.
# Only the full model is shipped (weights/image_depth_rope.pt); give the others --out.
def train_rope(**kw):
    return train(arch=rope.ARCH, rope_config=rope.VARIANTS["full"], **kw)


# `unveil train image-depth-rope-varied`: the full Rope on the 64 clips + session 7's VARIED_CLIPS
# varied renders (weights/image_depth_rope_varied.pt; give --out, the default path is the 64-clip file's)
def train_rope_varied(**kw):
    return train(arch=rope.ARCH, rope_config=rope.VARIANTS["full"], varied_clips=VARIED_CLIPS, **kw)


def train_rope_kponly(**kw):
    return train(arch=rope.ARCH, rope_config=rope.VARIANTS["full"], use_tokens=False, **kw)


def train_rope_fulco(**kw):
    return train(arch=rope.ARCH, rope_config=rope.VARIANTS["fulco"], **kw)


def train_rope_inter(**kw):
    return train(arch=rope.ARCH, rope_config=rope.VARIANTS["inter"], **kw)


def train_rope_nowhobo(**kw):
    return train(arch=rope.ARCH, rope_config=rope.VARIANTS["nowhobo"], **kw)


def train_rope_noicl(**kw):
    return train(arch=rope.ARCH, rope_config=rope.VARIANTS["noicl"], **kw)


# `unveil train image-depth-wide`: the one-level ImageDepthNet at width 128 (~340k parameters,
# near RopeNet's 413k): the capacity control of the Rope ablation (not shipped; give --out)
def train_image_depth_wide(**kw):
    return train(net_config={"dim": 128}, **kw)
