"""Training recipe of MoPO's fusion over the image tokens (:mod:`unveil.motion.image_fusion`;
``unveil train image-fusion``).

Data: the rendered training-split sequences of the image-depth network
(:func:`unveil.training.image_depth.build_sequences` + :func:`~unveil.training.image_depth.build_varied`,
the tapped detector's BlazePose-33 keypoints, world landmarks and tokens per frame, and the clip's
mocap 3D); validation: the same 6 val-split clips x 2 kinds as the image-depth network. Per
sequence, every run of consecutive frames with a detection (>= ``WINDOW`` frames) is lifted by the
*frozen default lift stage* (:data:`unveil.motion.stage.DEFAULT`, BlazePose world-landmark blend,
mirror averaging, without the final smoothing: the fusion sits before it, as the keypoint fusion);
the fusion learns the residual towards the truth (root-relative, camera axes). Loss: MPJPE over
the 24 joints + 2 x the mean absolute depth error of the 12 limb joints relative to the hip centre
(the error the image evidence is for). Windows of ``WINDOW`` frames, AdamW, seed-fixed.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from ..checkpoint import save_checkpoint
from ..motion import image_depth as idm
from ..motion.image_fusion import ARCH, WEIGHTS_NAME, ImageTokenFusion, image_tokens
from ..motion.stage import DEFAULT, MoPO
from ..paths import WEIGHTS_DIR
from ..skeleton import to_coco17
from ..types import Camera
from . import image_depth as tid

WINDOW = 24
STEPS = 1000


def _runs(mask: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    """[start, end) of the runs of True in ``mask`` at least ``min_len`` long."""
    out, s = [], None
    for i, m in enumerate(list(mask) + [False]):
        if m and s is None:
            s = i
        elif not m and s is not None:
            if i - s >= min_len:
                out.append((s, i))
            s = None
    return out


def lift_sequences(paths, log=print) -> list[dict]:
    """Per run of detected frames of each ``.tok.npz``: {"joints" (T,24,3) the frozen lift stage's
    output, "tokens" (T,33,TOKEN_DIM) float16, "truth" (T,24,3) root-relative, "seq", "kind"}."""
    model = MoPO(**{**DEFAULT, "smooth": None})
    out = []
    t0 = time.time()
    for si, p in enumerate(paths):
        with np.load(p, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        w, h = (int(v) for v in d["size"])
        pp = d["principal_point"].astype(np.float32)
        cam = Camera(focal=float(d["focal"]), cx=float(pp[0]), cy=float(pp[1]), width=w, height=h)
        for s, e in _runs(d["detected"], WINDOW):
            kp33 = d["kp33"][s:e].astype(np.float32)
            res = model(to_coco17(kp33, "blazepose33"), cam, world_landmarks=d["world"][s:e])
            jc = d["joints_cam"][s:e].astype(np.float32)
            out.append({"joints": res["joints"].astype(np.float32),
                        "tokens": image_tokens(kp33, cam.focal, pp, d["tok_kp"][s:e], d["tok_mid"][s:e]).astype(np.float16),
                        "truth": jc - jc[:, :1], "seq": si, "kind": str(d["kind"])})
    if log:
        log(f"[image-fusion] lifted {len(out)} runs ({sum(len(r['joints']) for r in out)} frames) of "
            f"{len(paths)} sequences in {time.time() - t0:.0f} s")
    return out


def _limb_rel(j: np.ndarray) -> np.ndarray:
    J = j[..., list(idm.LIMB_SMPL), :]
    return J - 0.5 * (J[..., 6:7, :] + J[..., 7:8, :])


def errors(runs: list[dict], model: ImageTokenFusion | None = None) -> dict:
    """MPJPE (mm, root-relative) and the limb joints' depth relative to the hips and flips after the
    per-frame scale (:func:`unveil.training.image_depth._scaled_errors`) of the lifted joints
    (``model`` None) or of the fused ones, over all frames of ``runs``."""
    preds, truth = [], []
    for r in runs:
        j = r["joints"]
        if model is not None:
            with torch.no_grad():
                j = model(torch.from_numpy(j)[None], torch.from_numpy(r["tokens"].astype(np.float32))[None])[0].numpy()
        preds.append(j)
        truth.append(r["truth"])
    if not preds:
        return {"frames": 0}
    p, y = np.concatenate(preds).astype(np.float64), np.concatenate(truth).astype(np.float64)
    res = tid._scaled_errors(_limb_rel(p), _limb_rel(y))
    res["mpjpe_root_mm"] = float(np.linalg.norm(p - y, axis=-1).mean() * 1000)
    return res


def _windows(runs: list[dict]) -> list[tuple[int, int]]:
    return [(ri, s) for ri, r in enumerate(runs) for s in range(0, len(r["joints"]) - WINDOW + 1)]


def train(steps: int = STEPS, seed: int = 0, out=None, batch: int = 32, lr: float = 1e-3,
          n_clips: int = tid.TRAIN_CLIPS, varied_clips: int = 0, log=print, workers: int = 1,
          config: dict | None = None) -> dict:
    """Train :class:`ImageTokenFusion` on the rendered sequences (see the module docstring).
    ``varied_clips``: how many clips of :func:`unveil.training.image_depth.build_varied` to add
    (the shipped recipe: 0, the first 64 clips only); ``config``: :class:`ImageTokenFusion`'s
    constructor arguments."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    varied = int(varied_clips)
    paths = tid.build_sequences("train", n_clips, 0, workers, log=log)
    paths += tid.build_varied("train", varied, tid.TRAIN_CLIPS, 0, workers, log=log)
    tr = lift_sequences(paths, log)
    va = lift_sequences(tid.build_sequences("val", tid.VAL_CLIPS, 0, workers, log=log), log)
    win = _windows(tr)
    config = dict(config or {})
    model = ImageTokenFusion(**config)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    limb = list(idm.LIMB_SMPL)
    t0 = time.time()
    for step in range(steps):
        model.train()
        pick = [win[i] for i in rng.integers(0, len(win), batch)]
        J = torch.from_numpy(np.stack([tr[r]["joints"][s:s + WINDOW] for r, s in pick]))
        F = torch.from_numpy(np.stack([tr[r]["tokens"][s:s + WINDOW] for r, s in pick]).astype(np.float32))
        Y = torch.from_numpy(np.stack([tr[r]["truth"][s:s + WINDOW] for r, s in pick]))
        P = model(J, F)
        lp, ly = P[..., limb, :], Y[..., limb, :]
        dp = lp[..., 2] - 0.5 * (lp[..., 6:7, 2] + lp[..., 7:8, 2])
        dy = ly[..., 2] - 0.5 * (ly[..., 6:7, 2] + ly[..., 7:8, 2])
        loss = torch.linalg.norm(P - Y, dim=-1).mean() + 2 * (dp - dy).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if log and (step % 250 == 0 or step == steps - 1):
            log(f"[image-fusion] step {step} loss {loss.item() * 1000:.1f} ({time.time() - t0:.0f} s)")
    model.eval()
    res = {"train_runs": len(tr), "train_frames": int(sum(len(r["joints"]) for r in tr)),
           "train_sequences": len(paths), "n_clips": n_clips, "varied_clips": varied,
           "train_seconds": time.time() - t0,
           "val_lifted": errors(va), "val_fused": errors(va, model),
           "train_lifted": errors(tr), "train_fused": errors(tr, model),
           "val_per_kind": {k: {"lifted": errors([r for r in va if r["kind"] == k]),
                                "fused": errors([r for r in va if r["kind"] == k], model)}
                            for k in sorted({r["kind"] for r in va})}}
    path = out or (WEIGHTS_DIR / WEIGHTS_NAME)
    save_checkpoint(path, ARCH, config, model.state_dict(),
                    {"seed": seed, "steps": steps, "batch": batch, "lr": lr, "window": WINDOW, **res})
    if log:
        log(f"[image-fusion] val lifted {res['val_lifted']}\n[image-fusion] val fused  {res['val_fused']}")
        log(f"[image-fusion] train lifted {res['train_lifted']}\n[image-fusion] train fused  {res['train_fused']}")
        for k, v in res["val_per_kind"].items():
            log(f"[image-fusion]   val {k}: lifted {v['lifted']} fused {v['fused']}")
        log(f"[image-fusion] wrote {path}")
    return res


# `unveil train image-fusion` (the shipped weights/image_fusion.pt): the bounded, depth-only variant
# (corrections of the joints' camera depth only, each within +-10 cm), on the 64 clips + session 7's
# varied renders
def train_depth(**kw):
    return train(config={"depth_only": True, "max_delta": 0.10}, varied_clips=tid.VARIED_CLIPS, **kw)


# `unveil train image-fusion-unbounded`: the first variant (x, y, z corrections, unbounded, the 64 clips
# only); not shipped (real video PA-MPJPE 70.5 -> 103.7 alone), give --out
def train_unbounded(**kw):
    return train(**kw)
