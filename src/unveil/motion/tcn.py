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

Training (``unveil train mopo-lift-tcn``, the recipe in :mod:`unveil.training.tcn`): 81-frame windows
of synthetic 2D with extra occlusion augmentation; loss MPJPE + 0.5 x velocity error, then two
fine-tunes. Weights float16 in ``weights/mopo_lift_tcn.pt`` (command, seed, time and validation
numbers in the .md next to it).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..checkpoint import load_pretrained_model
from ..paths import WEIGHTS_DIR
from . import occlusion, perframe
from .normalize import normalize_keypoints
from ..errors import MissingAssetError

WEIGHTS = WEIGHTS_DIR / "mopo_lift_tcn.pt"
WINDOW = 81
DILATIONS = (1, 3, 9, 27)
ARCH = "tcn_lifter"  # the checkpoint's "arch" (unveil.checkpoint); config: channels, dilations
N_KP = 17
N_FEAT = N_KP * 3 + 3
N_IN = N_FEAT + N_KP + 72
CHANNELS = 128


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
    kp = torch.as_tensor(np.asarray(keypoints2d, np.float32)) if not isinstance(keypoints2d, torch.Tensor) \
        else keypoints2d.float()
    feats = normalize_keypoints(kp, focal=focal, principal_point=principal_point).features()
    det = detector if detector is not None else default_detector()
    conf = kp[..., 2]
    lead = conf.shape[:-2]
    S2 = det(conf.reshape(-1, *conf.shape[-2:])).reshape(*lead, *conf.shape[-2:])
    net = perframe.load()   # per frame: CHUNK frames at a time (its hidden layers on a long video)
    base = torch.cat([net(feats[..., i:i + CHUNK, :]) for i in range(0, max(feats.shape[-2], 1), CHUNK)],
                     -3).flatten(-2)
    return torch.cat([feats, S2, base], dim=-1)


@lru_cache(maxsize=1)
def default_detector():
    """The shipped spatio-temporal MoPO occlusion detector (cached), whose S'' the lifter reads."""
    return occlusion.load("spatiotemporal")


@lru_cache(maxsize=2)
def load(path: str | None = None) -> TCNLifter:
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
    return windowed(model, x)[0].numpy().astype(np.float32)


CHUNK = 1024  # output frames per TCN call on long sequences (windowed)


def windowed(model: TCNLifter, x: torch.Tensor, chunk: int = CHUNK) -> torch.Tensor:
    """``model(x)`` computed ``chunk`` output frames at a time, each window with the network's receptive
    radius (the sum of its dilations: 40 frames) of real context on both sides, so every output sees
    exactly the frames it sees in one pass (the replicate padding only ever reaches the sequence's own
    ends); the activations then stay bounded on a long video.

    Args:
        model: the lifter; x: (B, T, N_IN) inputs (:func:`inputs`).
    Returns:
        (B, T, 24, 3), as ``model(x)``.
    """
    T = x.shape[1]
    if T <= chunk:
        return model(x)
    r = sum(int(b.d) for b in model.blocks)
    parts = []
    for lo in range(0, T, chunk):
        hi = min(T, lo + chunk)
        a, b = max(0, lo - r), min(T, hi + r)
        parts.append(model(x[:, a:b])[:, lo - a:hi - a])
    return torch.cat(parts, 1)


# Shipped variants (recipes in :mod:`unveil.training.tcn`).
# The broader training mix of issue 12: Bandai + the CMU subset scaled to the Bandai leg length (its 46
# training clips listed 8 times,
# so ~16 % of the windows show the CMU actors / rig) + a left-right mirrored copy of every clip.
# Its weights are a separate, non-default file (weights/mopo_lift_tcn_broad.md says why).
BROAD_MIX = "bandai+cmuscaled*8+mirror"
WEIGHTS_BROAD = WEIGHTS_DIR / "mopo_lift_tcn_broad.pt"


# Issue 12's camera distribution on top of the broad mix: half the windows seen by the benchmark's
# cameras, half by phone / webcam / CCTV-like ones (:func:`unveil.data.synth2d.sample_camera_real`).
REAL_CAMERAS = "mixed"
WEIGHTS_REAL = WEIGHTS_DIR / "mopo_lift_tcn_real.pt"
