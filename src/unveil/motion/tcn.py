"""Temporal-context lifter for occluded 2D: a dilated temporal convolution over past AND future frames
(the "lift" of MoPO §4.1 with ARTS §3.2.1's temporal context; architecture after VideoPose3D,
Pavllo et al. 2019, §3: 1-D convolutions with dilations 1, 3, 9, 27, receptive field 81 frames).

Why: the frame-by-frame LSTM lifter of MoPO (Eq. 3) generalises badly to unseen motion styles and
its causal completion (Eq. 5) drifts on long gaps. This model sees +-40 frames of normalised 2D,
the 2D detector's confidences AND the MoPO occlusion detector's output S'' (Eq. 1-2, kept in front),
plus the per-frame MLP's estimate of the frame (:mod:`unveil.motion.perframe`, which generalises
better); it predicts a correction of that estimate for every frame:

    Y_t = P(x_t) + f_theta(x_{t-40..t+40}, S_{t-40..t+40}, S''_{t-40..t+40}, P(x)_{t-40..t+40})

where x are the normalised COCO-17 keypoints (:mod:`unveil.motion.normalize`), P the per-frame
lifter and f_theta the dilated convolution stack:

    in (54 + 17 + 72 = 143 ch) -> Conv1x1(C) -> 4 x [ x + Conv1x1(GELU(Conv_k3,d(GELU(x)))) ], d = 1,3,9,27
    -> Conv1x1(69) (root fixed at 0)

All convolutions are "same"-padded by edge replication, so one pass gives a pose for every frame
of a sequence of any length (offline; ~40 frames of look-ahead). C = 128 (~0.3 M parameters)
keeps training within ~10 min on one CPU thread.

Training (``unveil train mopo-lift-tcn``): 81-frame windows of ``synth2d.training_windows("train")``
(all six occlusion kinds, random virtual cameras, detector-like noise, outliers, swaps) plus extra
occlusion augmentation applied to the raw 2D before everything else: whole legs / one body side /
random joints hidden for 0.3-3 s (confidence drawn in [0, 0.5], position drifting), and frame-wise
joint dropouts. Loss: MPJPE + 0.5 x velocity error, metres; then two fine-tunes at lr 5e-4
(``mopo-lift-tcn-finetune``; ``mopo-lift-tcn-finetune-occ``, which weights joints with doubtful input
evidence 3x). Weights float16 in
``weights/mopo_lift_tcn.pt`` (command, seed, time and validation numbers in the .md next to it).
"""

from __future__ import annotations

import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..checkpoint import load_pretrained_model, save_checkpoint
from ..paths import WEIGHTS_DIR

WEIGHTS = WEIGHTS_DIR / "mopo_lift_tcn.pt"
WINDOW = 81
DILATIONS = (1, 3, 9, 27)
ARCH = "tcn_lifter"  # the checkpoint's "arch" (unveil.checkpoint); config: channels, dilations
N_KP = 17
N_FEAT = N_KP * 3 + 3
N_IN = N_FEAT + N_KP + 72
CHANNELS = 128

_LEGS = (11, 12, 13, 14, 15, 16)
_LEFT = (1, 3, 5, 7, 9, 11, 13, 15)
_RIGHT = (2, 4, 6, 8, 10, 12, 14, 16)


class _Block(nn.Module):
    def __init__(self, c: int, d: int):
        super().__init__()
        self.d = d
        self.conv = nn.Conv1d(c, c, 3, dilation=d)
        self.mix = nn.Conv1d(c, c, 1)

    def forward(self, x):
        h = nn.functional.gelu(x)
        h = nn.functional.pad(h, (self.d, self.d), mode="replicate")
        return x + self.mix(nn.functional.gelu(self.conv(h)))


class TCNLifter(nn.Module):
    """(B, T, N_IN) -> (B, T, 24, 3) correction added to the per-frame estimate (pelvis = 0)."""

    def __init__(self, channels: int = CHANNELS, dilations=DILATIONS):
        super().__init__()
        self.inp = nn.Conv1d(N_IN, channels, 1)
        self.blocks = nn.Sequential(*[_Block(channels, d) for d in dilations])
        self.out = nn.Conv1d(channels, 69, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.inp(x.transpose(1, 2)))
        d = self.out(nn.functional.gelu(h)).transpose(1, 2).unflatten(-1, (23, 3))
        base = x[..., N_FEAT + N_KP:].unflatten(-1, (24, 3))
        return base + torch.cat([torch.zeros_like(d[..., :1, :]), d], dim=-2)


def inputs(keypoints2d, focal, principal_point, detector=None) -> torch.Tensor:
    """(..., T, 17, 3) pixels + confidence -> (..., T, N_IN) model input: normalised 2D features,
    MoPO detector output S'' (Eq. 2), per-frame lifter estimate (root-relative, 72)."""
    from . import occlusion, perframe
    from .normalize import normalize_keypoints

    kp = torch.as_tensor(np.asarray(keypoints2d, np.float32)) if not isinstance(keypoints2d, torch.Tensor) \
        else keypoints2d.float()
    feats = normalize_keypoints(kp, focal=focal, principal_point=principal_point).features()
    det = detector if detector is not None else _detector()
    conf = kp[..., 2]
    lead = conf.shape[:-2]
    S2 = det(conf.reshape(-1, *conf.shape[-2:])).reshape(*lead, *conf.shape[-2:])
    base = perframe.load()(feats).flatten(-2)
    return torch.cat([feats, S2, base], dim=-1)


@lru_cache(maxsize=1)
def _detector():
    from . import occlusion

    return occlusion.load("spatiotemporal")


@lru_cache(maxsize=2)
def load(path: str | None = None) -> TCNLifter:
    from ..errors import MissingAssetError

    p = Path(path) if path else WEIGHTS
    if not p.is_file():
        raise MissingAssetError(f"TCN lifter weights missing: {p} (run `unveil train mopo-lift-tcn`)")
    model, _ = load_pretrained_model(p, ARCH, lambda c: TCNLifter(channels=c["channels"],
                                                                  dilations=tuple(c["dilations"])))
    return model


@torch.inference_mode()
def lift(keypoints2d: np.ndarray, camera, model: TCNLifter | None = None) -> np.ndarray:
    """(T, 17, 3) COCO-17 pixels + confidence -> (T, 24, 3) root-relative camera-frame metres."""
    kp = np.asarray(keypoints2d, np.float32)
    if len(kp) == 0:
        return np.zeros((0, 24, 3), np.float32)
    model = model or load()
    x = inputs(kp[None], float(camera.focal), (float(camera.cx), float(camera.cy)))
    return model(x)[0].numpy().astype(np.float32)


# --------------------------------------------------------------------------------------- training
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
             mix: str = "bandai", cameras: str = "standard"):
    """training_windows in chunks of 250 (seeds seed*1000 + i), cached as .npz under ``cache_dir``;
    ``mix``: the training sources (:func:`unveil.data.corpus.training_clips`); ``cameras``: the
    camera profile (:data:`unveil.data.synth2d.CAMERA_PROFILES`)."""
    from ..data.corpus import corpus_id
    from ..data.synth2d import training_windows

    keys = ("keypoints2d", "joints_rel", "focal", "principal_point")
    tag = f"corpus-{corpus_id()}"
    if mix != "bandai":
        from ..data.cmu_subset import subset_id

        tag += f"_{mix.replace('*', 'x').replace('+', '-')}-{subset_id()}"
    if cameras != "standard":
        tag += f"_cam-{cameras}"
    path = Path(cache_dir) / f"{split}_{window}_{n}_{seed}_{tag}.npz" if cache_dir else None
    if path is not None and path.is_file():
        z = np.load(path, allow_pickle=False)
        return {k: z[k] for k in keys}
    parts = [training_windows(split, window=window, n=min(250, n - i), seed=seed * 1000 + i // 250, mix=mix,
                              cameras=cameras)
             for i in range(0, n, 250)]
    d = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **d)
    return d


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
          log=print) -> dict:
    """Train the TCN lifter (see module docstring); writes float16 weights to ``out``.
    ``mix``: training sources (default: the Bandai corpus; :data:`BROAD_MIX` adds the CMU subset and
    mirrored copies). Validation windows come from the same sources' "val" clips."""
    t0 = time.time()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    ds = seed if data_seed is None else data_seed
    tr = _windows("train", windows, ds, window, mix=mix, cameras=cameras)
    va = _windows("val", 200, ds + 1, window, mix=mix, cameras=cameras)
    log(f"tcn: {len(tr['keypoints2d'])} train windows x {window}, data in {time.time() - t0:.0f} s")
    model = TCNLifter(dilations=dilations)
    if init:  # continue from a weights file (fine-tuning)
        model.load_state_dict(load(init).state_dict())
    log(f"tcn: {sum(p.numel() for p in model.parameters())} parameters; val MPJPE at start (= per-frame) "
        f"{evaluate(model, va):.1f} mm")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=max(0.05, 3 / steps))
    det = _detector()
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
            from .predict import occluded_smpl24

            w = 1.0 + occ_weight * torch.as_tensor(occluded_smpl24(kp[..., 2] < 0.5), dtype=torch.float32)
            loss_w = (err * w).sum() / w.sum()
        else:
            loss_w = loss
        vel = torch.linalg.norm((pred[:, 1:] - pred[:, :-1]) - (y[:, 1:] - y[:, :-1]), dim=-1).mean()
        opt.zero_grad()
        (loss_w + 0.5 * vel).backward()
        opt.step()
        sched.step()
        if (step + 1) % 200 == 0:
            log(f"  step {step + 1}/{steps} train MPJPE {loss.item() * 1000:.1f} mm ({time.time() - t0:.0f} s)")
    model.eval()
    val = evaluate(model, va)
    path = Path(out) if out else WEIGHTS
    save_checkpoint(path, ARCH, {"channels": model.inp.out_channels, "dilations": [int(d) for d in dilations]},
                    {k: v.half() for k, v in model.state_dict().items()},
                    {"recipe": "unveil train mopo-lift-tcn", "seed": seed, "steps": steps, "val_mpjpe_mm": round(val, 1)})
    load.cache_clear()
    res = {"val_mpjpe_mm": round(val, 1), "train_windows": N, "window": window, "dilations": list(dilations),
           "mix": mix, "cameras": cameras,
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


# The broader training mix of issue 12: Bandai + the CMU subset scaled to the Bandai leg length (its 46
# training clips listed 8 times,
# so ~16 % of the windows show the CMU actors / rig) + a left-right mirrored copy of every clip.
# Its weights are a separate, non-default file (weights/mopo_lift_tcn_broad.md says why).
BROAD_MIX = "bandai+cmuscaled*8+mirror"
WEIGHTS_BROAD = WEIGHTS_DIR / "mopo_lift_tcn_broad.pt"


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


# Issue 12's camera distribution on top of the broad mix: half the windows seen by the benchmark's
# cameras, half by phone / webcam / CCTV-like ones (:func:`unveil.data.synth2d.sample_camera_real`).
REAL_CAMERAS = "mixed"
WEIGHTS_REAL = WEIGHTS_DIR / "mopo_lift_tcn_real.pt"


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
