"""Training recipe of the temporal-context TCN lifter (:mod:`unveil.motion.tcn`; ``unveil train
mopo-lift-tcn*``, table in :mod:`unveil.train`).

81-frame windows of ``synth2d.training_windows("train")`` (all six occlusion kinds, random virtual
cameras, detector-like noise, outliers, swaps) plus extra occlusion augmentation applied to the raw 2D
before everything else (:func:`augment_occlusions`). Loss: MPJPE + 0.5 x velocity error, metres; then
two fine-tunes at lr 5e-4 (``mopo-lift-tcn-finetune``; ``mopo-lift-tcn-finetune-occ``, which weights
joints with doubtful input evidence 3x). The ``-broad`` / ``-real`` variants train on
:data:`unveil.motion.tcn.BROAD_MIX` (and :data:`unveil.motion.tcn.REAL_CAMERAS`).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import save_checkpoint
from ..data.cmu_subset import subset_id
from ..data.deepmimic import source_id as deepmimic_id
from ..data.corpus import corpus_id
from ..data.detector_noise import MODEL_PATH as NOISE_MODEL
from ..data.synth2d import BONE_RATIOS, training_windows
from ..motion.predict import occluded_smpl24
from ..motion.tcn import (ARCH, BROAD_MIX, DILATIONS, N_KP, REAL_CAMERAS, WEIGHTS, WEIGHTS_BROAD, WEIGHTS_REAL,
                          WINDOW, TCNLifter, default_detector, inputs, load)

_LEGS = (11, 12, 13, 14, 15, 16)
_LEFT = (1, 3, 5, 7, 9, 11, 13, 15)
_RIGHT = (2, 4, 6, 8, 10, 12, 14, 16)


def augment_occlusions(kp: np.ndarray, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Extra occlusions on raw (B, T, 17, 3) pixel keypoints (a copy is returned): with probability
    ``p`` per window, a group (legs / one side / 1-4 random joints) is hidden for 0.3-3 s (or the whole
    window): confidence in [0, 0.5], position drifting by a random walk of ~box scale; plus 2% frame-wise
    joint dropouts (confidence in [0, 0.3], position kept)."""
    kp = kp.copy()
    B, T = kp.shape[:2]
    for b in range(B):
        box_h = float(np.ptp(kp[b, :, :, 1])) + 1.0
        if rng.random() < p:
            r = rng.random()
            if r < 0.4:
                js = list(_LEGS) if rng.random() < 0.6 else [13, 14, 15, 16]
            elif r < 0.7:
                js = list(_LEFT if rng.random() < 0.5 else _RIGHT)
            else:
                js = list(rng.choice(N_KP, int(rng.integers(1, 5)), replace=False))
            L = T if rng.random() < 0.2 else int(rng.integers(10, min(T, 90) + 1))
            s = int(rng.integers(0, T - L + 1))
            walk = np.cumsum(rng.normal(0, 0.01 * box_h, (L, 1, 2)), axis=0)
            kp[b, s:s + L][:, js, :2] += walk
            kp[b, s:s + L][:, js, 2] = rng.uniform(0.0, 0.5, (L, len(js)))
        drop = rng.random((T, N_KP)) < 0.02
        kp[b, :, :, 2] = np.where(drop, rng.uniform(0, 0.3, (T, N_KP)), kp[b, :, :, 2])
    return kp.astype(np.float32)


def _windows(split: str, n: int, seed: int, window: int = WINDOW, cache_dir: str | None = "/tmp/unveil_tcn_cache",
             mix: str = "bandai", cameras: str = "standard", noise: str = "hand", proportions: float = 0.0,
             poses: float = 0.0, placement: float = 0.0):
    """training_windows in chunks of 250 (seeds seed*1000 + i), cached as .npz under ``cache_dir``;
    ``mix``: the training sources (:func:`unveil.data.corpus.training_clips`); ``cameras``: the
    camera profile (:data:`unveil.data.synth2d.CAMERA_PROFILES`); ``noise`` / ``proportions``: the
    detector model (or "mixed": the "hand" and "blazepose" sets together, 2n windows) and the
    proportion-augmentation probability, ``poses`` the pose-augmentation one (:func:`training_windows`)."""
    keys = ("keypoints2d", "joints_rel", "focal", "principal_point")
    if noise == "mixed":  # both detector models: the "hand" and the "blazepose" window sets (n each)
        parts = [_windows(split, n, seed, window, cache_dir, mix, cameras, nz, proportions, poses, placement)
                 for nz in ("hand", "blazepose")]
        return {k: np.concatenate([p[k] for p in parts]) for k in keys}
    tag = f"corpus-{corpus_id()}"
    if mix != "bandai":
        tag += f"_{mix.replace('*', 'x').replace('+', '-')}-{subset_id()}"
        if "deepmimic" in mix:
            tag += f"-dm{deepmimic_id()}"
    if cameras != "standard":
        tag += f"_cam-{cameras}"
    if noise != "hand":
        tag += f"_noise-{noise}-{_file_digest(NOISE_MODEL)}"
    if proportions:
        tag += f"_prop{proportions:g}-{_file_digest(BONE_RATIOS)}"
    if poses:
        tag += f"_pose{poses:g}-{POSE_AUG_VERSION}"
    if placement:
        tag += f"_place{placement:g}-{PLACEMENT_VERSION}"
    path = Path(cache_dir) / f"{split}_{window}_{n}_{seed}_{tag}.npz" if cache_dir else None
    if path is not None and path.is_file():
        z = np.load(path, allow_pickle=False)
        return {k: z[k] for k in keys}
    parts = [training_windows(split, window=window, n=min(250, n - i), seed=seed * 1000 + i // 250, mix=mix,
                              cameras=cameras, noise=noise, proportions=proportions, poses=poses, placement=placement)
             for i in range(0, n, 250)]
    d = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **d)
    return d


def _file_digest(path) -> str:
    """First 8 hex digits of a data file's sha256 (cache keys follow the file's content)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:8]


def evaluate(model: TCNLifter, data: dict, batch: int = 64) -> float:
    """Root-relative MPJPE (mm) of ``model`` on a window set (no augmentation)."""
    errs = []
    with torch.no_grad():
        for i in range(0, len(data["keypoints2d"]), batch):
            sl = slice(i, i + batch)
            x = inputs(data["keypoints2d"][sl], torch.as_tensor(data["focal"][sl])[:, None],
                       torch.as_tensor(data["principal_point"][sl]))
            y = torch.as_tensor(data["joints_rel"][sl])
            errs.append(torch.linalg.norm(model(x) - y, dim=-1).mean(dim=(1, 2)))
    return float(torch.cat(errs).mean()) * 1000


def train(seed: int = 0, out: str | None = None, steps: int = 2400, windows: int = 8000, batch: int = 32,
          lr: float = 2e-3, window: int = WINDOW, dilations=DILATIONS, init: str | None = None,
          data_seed: int | None = None, occ_weight: float = 0.0, mix: str = "bandai", cameras: str = "standard",
          noise: str = "hand", proportions: float = 0.0, val_noise: str | None = None, poses: float = 0.0,
          placement: float = 0.0, log=print) -> dict:
    """Train the TCN lifter (see module docstring); writes float16 weights to ``out``.
    ``mix``: training sources (default: the Bandai corpus; :data:`BROAD_MIX` adds the CMU subset and
    mirrored copies). Validation windows come from the same sources' "val" clips (detector model
    ``val_noise``, default ``noise``; never with the proportion or pose augmentation)."""
    t0 = time.time()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    ds = seed if data_seed is None else data_seed
    tr = _windows("train", windows, ds, window, mix=mix, cameras=cameras, noise=noise, proportions=proportions,
                  poses=poses, placement=placement)
    va = _windows("val", 200, ds + 1, window, mix=mix, cameras=cameras, noise=val_noise or noise)
    log(f"tcn: {len(tr['keypoints2d'])} train windows x {window}, data in {time.time() - t0:.0f} s")
    model = TCNLifter(dilations=dilations)
    if init:  # continue from a weights file (fine-tuning)
        model.load_state_dict(load(init).state_dict())
    val0 = evaluate(model, va)
    log(f"tcn: {sum(p.numel() for p in model.parameters())} parameters; val MPJPE at start {val0:.1f} mm")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=max(0.05, 3 / steps))
    det = default_detector()
    N = len(tr["keypoints2d"])
    for step in range(steps):
        idx = rng.choice(N, batch, replace=False)
        kp = augment_occlusions(tr["keypoints2d"][idx], rng)
        with torch.no_grad():
            x = inputs(kp, torch.as_tensor(tr["focal"][idx])[:, None], torch.as_tensor(tr["principal_point"][idx]),
                       detector=det)
        y = torch.as_tensor(tr["joints_rel"][idx])
        pred = model(x)
        err = torch.linalg.norm(pred - y, dim=-1)
        loss = err.mean()
        if occ_weight:  # extra weight on joints whose 2D evidence is doubtful (conf < 0.5) in the input
            w = 1.0 + occ_weight * torch.as_tensor(occluded_smpl24(kp[..., 2] < 0.5), dtype=torch.float32)
            loss_w = (err * w).sum() / w.sum()
        else:
            loss_w = loss
        vel = torch.linalg.norm((pred[:, 1:] - pred[:, :-1]) - (y[:, 1:] - y[:, :-1]), dim=-1).mean()
        opt.zero_grad()
        (loss_w + 0.5 * vel).backward()
        opt.step()
        sched.step()
        if (step + 1) % 100 == 0:
            log(f"  step {step + 1}/{steps} train MPJPE {loss.item() * 1000:.1f} mm ({time.time() - t0:.0f} s)")
    model.eval()
    val = evaluate(model, va)
    path = Path(out) if out else WEIGHTS
    save_checkpoint(path, ARCH, {"channels": model.inp.out_channels, "dilations": [int(d) for d in dilations]},
                    {k: v.half() for k, v in model.state_dict().items()},
                    {"recipe": "unveil train mopo-lift-tcn", "seed": seed, "steps": steps, "val_mpjpe_mm": round(val, 1),
                     "mix": mix, "cameras": cameras, "noise": noise, "proportions": proportions, "poses": poses,
                     "placement": placement, "init": str(init or "")})
    load.cache_clear()
    res = {"val_mpjpe_mm": round(val, 1), "train_windows": N, "window": window, "dilations": list(dilations),
           "mix": mix, "cameras": cameras, "noise": noise, "proportions": proportions, "poses": poses,
           "placement": placement, "val_start_mm": round(val0, 1),
           "steps": steps,
           "seconds": round(time.time() - t0, 1), "weights": str(path)}
    log(f"tcn: val MPJPE {val:.1f} mm (root-relative, 200 val windows, all kinds), {res['seconds']} s -> {path}")
    return res


def train_long(seed: int = 0, out: str | None = None, steps: int = 2400) -> dict:
    """Variant with a longer receptive field (dilations 1, 3, 9, 27, 54: 189 frames, ~6 s) trained on
    161-frame windows (batch 16, so a step costs about what the 81-frame recipe's does)."""
    return train(seed=seed, out=out, steps=steps, windows=4000, batch=16, window=161,
                 dilations=(1, 3, 9, 27, 54))


def finetune(seed: int = 1, out: str | None = None, steps: int = 1500, init: str | None = None) -> dict:
    """Continue training the shipped (or ``init``) weights at a lower learning rate (5e-4), same
    data windows as ``train(seed=0)``, a different batch / augmentation order (``seed``)."""
    return train(seed=seed, out=out, steps=steps, lr=5e-4, init=init or str(WEIGHTS), data_seed=0)


def finetune_occ(seed: int = 2, out: str | None = None, steps: int = 1200, init: str | None = None) -> dict:
    """Fine-tune with occluded joints weighted 3x in the MPJPE term (lr 5e-4, same windows)."""
    return train(seed=seed, out=out, steps=steps, lr=5e-4, init=init or str(WEIGHTS), data_seed=0, occ_weight=2.0)

def train_broad(seed: int = 0, out: str | None = None, steps: int = 2400) -> dict:
    """Stage 1 of the recipe on :data:`BROAD_MIX` (writes :data:`WEIGHTS_BROAD` by default)."""
    return train(seed=seed, out=out or str(WEIGHTS_BROAD), steps=steps, mix=BROAD_MIX)


def finetune_broad(seed: int = 1, out: str | None = None, steps: int = 1500, init: str | None = None) -> dict:
    """Stage 2 of the recipe on :data:`BROAD_MIX` (continues from ``init``, default :data:`WEIGHTS_BROAD`)."""
    return train(seed=seed, out=out or str(WEIGHTS_BROAD), steps=steps, lr=5e-4, init=init or out or str(WEIGHTS_BROAD),
                 data_seed=0, mix=BROAD_MIX)


def finetune_occ_broad(seed: int = 2, out: str | None = None, steps: int = 1200, init: str | None = None) -> dict:
    """Stage 3 of the recipe on :data:`BROAD_MIX` (continues from ``init``, default :data:`WEIGHTS_BROAD`)."""
    return train(seed=seed, out=out or str(WEIGHTS_BROAD), steps=steps, lr=5e-4, init=init or out or str(WEIGHTS_BROAD),
                 data_seed=0, occ_weight=2.0, mix=BROAD_MIX)


def train_real(seed: int = 0, out: str | None = None, steps: int = 2400) -> dict:
    """Stage 1 of the recipe on :data:`BROAD_MIX` with :data:`REAL_CAMERAS` (writes :data:`WEIGHTS_REAL`)."""
    return train(seed=seed, out=out or str(WEIGHTS_REAL), steps=steps, mix=BROAD_MIX, cameras=REAL_CAMERAS)


def finetune_real(seed: int = 1, out: str | None = None, steps: int = 1500, init: str | None = None) -> dict:
    """Stage 2 (continues from ``init``, default ``out`` or :data:`WEIGHTS_REAL`)."""
    return train(seed=seed, out=out or str(WEIGHTS_REAL), steps=steps, lr=5e-4, init=init or out or str(WEIGHTS_REAL),
                 data_seed=0, mix=BROAD_MIX, cameras=REAL_CAMERAS)


def finetune_occ_real(seed: int = 2, out: str | None = None, steps: int = 1200, init: str | None = None) -> dict:
    """Stage 3 (continues from ``init``, default ``out`` or :data:`WEIGHTS_REAL`)."""
    return train(seed=seed, out=out or str(WEIGHTS_REAL), steps=steps, lr=5e-4, init=init or out or str(WEIGHTS_REAL),
                 data_seed=0, occ_weight=2.0, mix=BROAD_MIX, cameras=REAL_CAMERAS)


# ------------------------------------------------------------------ issue 12: detector-true noise, proportions
# Fine-tunes of the shipped broad TCN (stage-2 style: lr 5e-4, continues from WEIGHTS_BROAD); the
# training windows are ``NEW_WINDOWS`` fresh broad-mix windows with the measured BlazePose noise
# model and/or the Anny proportion augmentation (p = 0.5); validation windows (200, val split) use the
# variant's own noise model, no proportion change.
NEW_STEPS = 600
NEW_WINDOWS = 4000
WEIGHTS_NOISE = WEIGHTS_BROAD.with_name("mopo_lift_tcn_bpnoise.pt")
WEIGHTS_PROP = WEIGHTS_BROAD.with_name("mopo_lift_tcn_prop.pt")
WEIGHTS_NOISE_PROP = WEIGHTS_BROAD.with_name("mopo_lift_tcn_bpnoise_prop.pt")
WEIGHTS_MIXED_PROP = WEIGHTS_BROAD.with_name("mopo_lift_tcn_mixnoise_prop.pt")


# issue 12, new motion: the prop recipe with the DeepMimic training clips (unveil.data.deepmimic) in
# the mix, repeated 25 times: 7.1 % of the 81-frame window starts (665 of the DeepMimic clips' against
# 173,879 Bandai + 8 x 5,469 CMU, before mirroring)
DM_MIX = "bandai+cmuscaled*8+deepmimic*25+mirror"
WEIGHTS_PROP_DM = WEIGHTS_BROAD.with_name("mopo_lift_tcn_prop_dm.pt")


# issue 12, seventh session (real video, the lifter alone): the prop-dm recipe continued from the
# default's weights with the pose augmentation (synth2d.vary_pose) on POSE_P of the windows, fresh
# windows (data seed 5): poses the clips do not hold (a leg lifted sideways, the torso leaning).
POSE_AUG_VERSION = "v1"     # bump when synth2d.vary_pose / POSE_GROUPS change (cache key)
POSE_P = 0.5
WEIGHTS_PROP_DM_POSE = WEIGHTS_BROAD.with_name("mopo_lift_tcn_prop_dm_pose.pt")
# ... and with BlazePose's shoulder / hip keypoint placement (synth2d.blazepose_placement) on PLACEMENT_P of
# the windows; or with the phone / CCTV camera profile (REAL_CAMERAS) instead of the benchmark's cameras
PLACEMENT_VERSION = "v1"    # bump when synth2d.PLACEMENT_OFFSETS / blazepose_placement change (cache key)
PLACEMENT_P = 0.5
WEIGHTS_PROP_DM_PLACE = WEIGHTS_BROAD.with_name("mopo_lift_tcn_prop_dm_place.pt")
WEIGHTS_PROP_DM_CAM = WEIGHTS_BROAD.with_name("mopo_lift_tcn_prop_dm_cam.pt")


def _finetune_new(out, default_out, seed, steps, init, noise, proportions, mix=BROAD_MIX, poses=0.0, data_seed=3,
                  placement=0.0, cameras="standard"):
    return train(seed=seed, out=out or str(default_out), steps=steps, windows=NEW_WINDOWS, lr=5e-4,
                 init=init or str(WEIGHTS_BROAD), data_seed=data_seed, mix=mix, noise=noise,
                 proportions=proportions, poses=poses, placement=placement, cameras=cameras)


def finetune_noise(seed: int = 1, out: str | None = None, steps: int = NEW_STEPS, init: str | None = None) -> dict:
    """(a) the broad TCN fine-tuned on windows with the measured BlazePose noise model."""
    return _finetune_new(out, WEIGHTS_NOISE, seed, steps, init, "blazepose", 0.0)


def finetune_prop(seed: int = 1, out: str | None = None, steps: int = NEW_STEPS, init: str | None = None) -> dict:
    """(b) the broad TCN fine-tuned with the proportion augmentation (hand-set noise)."""
    return _finetune_new(out, WEIGHTS_PROP, seed, steps, init, "hand", 0.5)


def finetune_prop_dm(seed: int = 1, out: str | None = None, steps: int = NEW_STEPS, init: str | None = None) -> dict:
    """(b) with new motion: the prop recipe on :data:`DM_MIX` (the DeepMimic training clips added)."""
    return _finetune_new(out, WEIGHTS_PROP_DM, seed, steps, init, "hand", 0.5, mix=DM_MIX)


def finetune_prop_dm_pose(seed: int = 1, out: str | None = None, steps: int = NEW_STEPS, init: str | None = None) -> dict:
    """The prop-dm recipe with the pose augmentation (:data:`POSE_P` of the windows), continued from the
    shipped default :data:`WEIGHTS_PROP_DM` on fresh windows (data seed 5)."""
    return _finetune_new(out, WEIGHTS_PROP_DM_POSE, seed, steps, init or str(WEIGHTS_PROP_DM), "hand", 0.5, mix=DM_MIX,
                         poses=POSE_P, data_seed=5)


def finetune_prop_dm_place(seed: int = 1, out: str | None = None, steps: int = NEW_STEPS, init: str | None = None) -> dict:
    """The prop-dm recipe with BlazePose's keypoint placement on :data:`PLACEMENT_P` of the windows, continued
    from :data:`WEIGHTS_PROP_DM` on fresh windows (data seed 5)."""
    return _finetune_new(out, WEIGHTS_PROP_DM_PLACE, seed, steps, init or str(WEIGHTS_PROP_DM), "hand", 0.5, mix=DM_MIX,
                         placement=PLACEMENT_P, data_seed=5)


def finetune_prop_dm_cam(seed: int = 1, out: str | None = None, steps: int = NEW_STEPS, init: str | None = None) -> dict:
    """The prop-dm recipe with :data:`REAL_CAMERAS` (half phone / webcam / CCTV cameras), continued from
    :data:`WEIGHTS_PROP_DM` on fresh windows (data seed 5)."""
    return _finetune_new(out, WEIGHTS_PROP_DM_CAM, seed, steps, init or str(WEIGHTS_PROP_DM), "hand", 0.5, mix=DM_MIX,
                         cameras=REAL_CAMERAS, data_seed=5)


def finetune_mixed_prop(seed: int = 1, out: str | None = None, steps: int = NEW_STEPS, init: str | None = None) -> dict:
    """(d) half the windows with the hand-set noise, half with the measured one; proportion augmentation."""
    return _finetune_new(out, WEIGHTS_MIXED_PROP, seed, steps, init, "mixed", 0.5)


def finetune_noise_prop(seed: int = 1, out: str | None = None, steps: int = NEW_STEPS, init: str | None = None) -> dict:
    """(c) both: measured noise model and proportion augmentation."""
    return _finetune_new(out, WEIGHTS_NOISE_PROP, seed, steps, init, "blazepose", 0.5)
