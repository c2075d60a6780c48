"""Per-frame lifter baseline: COCO-17 2D + confidence of ONE frame -> SMPL-24 root-relative 3D.

Seed: the "single-frame" baseline every temporal lifter is compared against (MoPO Tab. 5 row 1's
"estimated" input without motion context; ARTS §3.2.1 without its temporal stream): a small
residual MLP on the normalised 2D of one frame (:mod:`unveil.motion.normalize`: camera-normalised,
hip-centred, scaled, confidences as a channel, centre + log-scale as extra features), with no
temporal context at all.

Model: 54 inputs -> Linear(384) -> 2 residual blocks [LayerNorm, Linear 384, GELU, Linear 384] ->
LayerNorm -> Linear(72) = (24, 3) metres, camera axes (OpenCV), pelvis at 0 (the pelvis output is
forced to 0). 642 k parameters, stored as float16 (1.3 MB).

Training (``unveil train perframe``, the recipe in :mod:`unveil.training.perframe`): windows from
``synth2d.training_windows("train")`` (random virtual cameras, detector noise, all six occlusion kinds),
every frame an independent sample; loss = mean per-joint L2 distance (MPJPE) in metres; AdamW, cosine
learning rate, fixed seed. The command, seed and time are recorded in ``unveil/weights/perframe.md``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..checkpoint import load_pretrained_model
from ..paths import WEIGHTS_DIR
from .normalize import normalize_keypoints
from ..errors import MissingAssetError

WEIGHTS = WEIGHTS_DIR / "perframe.pt"
ARCH = "perframe_lifter"  # the checkpoint's "arch" (unveil.checkpoint); config: {}
HIDDEN = 384
N_IN = 17 * 3 + 3


class _Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, d)
        self.fc2 = nn.Linear(d, d)

    def forward(self, x):
        return x + self.fc2(nn.functional.gelu(self.fc1(self.norm(x))))


class PerFrameLifter(nn.Module):
    def __init__(self, hidden: int = HIDDEN, blocks: int = 2):
        super().__init__()
        self.inp = nn.Linear(N_IN, hidden)
        self.blocks = nn.Sequential(*[_Block(hidden) for _ in range(blocks)])
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, 24 * 3)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """(..., 54) normalised features -> (..., 24, 3) root-relative joints (pelvis = 0)."""
        y = self.out(self.norm(self.blocks(self.inp(feats)))).unflatten(-1, (24, 3))
        return y - y[..., :1, :]


def features(keypoints2d, focal, principal_point) -> torch.Tensor:
    return normalize_keypoints(keypoints2d, focal=focal, principal_point=principal_point).features()


@lru_cache(maxsize=2)
def load(path: str | None = None) -> PerFrameLifter:
    p = Path(path) if path else WEIGHTS
    if not p.is_file():
        raise MissingAssetError(f"per-frame lifter weights missing: {p} (run `unveil train perframe`)")
    model, _ = load_pretrained_model(p, ARCH, lambda c: PerFrameLifter(**c))
    return model


@torch.no_grad()
def lift(keypoints2d: np.ndarray, camera, model: PerFrameLifter | None = None) -> np.ndarray:
    """(T, 17, 3) COCO-17 pixels + confidence -> (T, 24, 3) root-relative camera-frame metres."""
    model = model or load()
    f = features(keypoints2d, float(camera.focal), (float(camera.cx), float(camera.cy)))
    return model(f).numpy().astype(np.float32)
