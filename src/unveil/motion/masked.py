"""MoRo-style masked generative motion prior for occluded frames (MoRo §4; small CPU version).

Three parts, after MoRo §4:

1. **Pose tokenizer** (MoRo §4.1, a VQ-VAE): per-frame root-relative camera-frame SMPL-24 pose
   p_t (69 numbers, pelvis fixed at 0) -> z_t = E(p_t) in R^64 -> nearest code
   k_t = argmin_k ||z_t - c_k||, codebook C = 256 x 64 -> p^_t = D(c_{k_t}). Loss
   ||p - p^||_1-ish (MPJPE) + ||sg[z] - c||^2 + beta ||z - sg[c]||^2 (beta = 0.25), straight-through
   gradient; dead codes are re-seeded from encoder outputs.
2. **Masked transformer over time** (MoRo §4.2): a window of W = 64 frames; frame t's input is the
   embedding of its token k_t if trusted, else a learned [MASK] embedding, plus a projection of the
   condition (the default lifter's per-frame estimate, ``stage.DEFAULT`` = TCN + Savitzky-Golay, and
   the MoPO detector's per-joint confidence S''), plus a learned position embedding; 3 pre-norm
   encoder layers (width 128, 4 heads) -> logits over the 256 codes for every frame. Training
   masks every low-confidence frame and a random share gamma(u) = cos(pi u / 2), u ~ U(0,1) of the
   others (half of the time as contiguous spans, like occlusions); cross-entropy on masked frames.
3. **Confidence-guided iterative decoding** (MoRo §4.3, after MaskGIT): start with all
   low-confidence frames masked (M of them); at step s = 1..T predict all masked frames, keep the
   most confident predictions and re-mask the n_s = floor(M cos(pi/2 * s/T)) least confident ones
   (n_T = 0). Frames whose 2D confidence is high are never masked: their tokens are the tokenizer's
   code of the lifter estimate. Decoded tokens -> poses D(c_k) (rotated back with the lifter's body
   frame, smoothed by a 9-frame Savitzky-Golay since tokens are quantised); these are blended into
   the lifter output only on occluded joints of occluded frames (weight ``BLEND`` = 0.5, chosen on
   the validation split, see ``weights/moro.md``).

Training: ``unveil train moro --seed 0`` (recipe: :mod:`unveil.training.moro`; weights ``weights/moro.pt``,
float16, see ``moro.md``).
Bench rows: ``moro`` (T=5) and the MoRo Tab. 3 step ablation ``moro-T1``, ``moro-T10``, ``moro-T20``.
This is NOT the pipeline default.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..geometry import savgol_joints
from ..checkpoint import load_pretrained_model
from ..paths import WEIGHTS_DIR
from ..errors import MissingAssetError
from .stage import confidence24
from . import stage

WEIGHTS = WEIGHTS_DIR / "moro.pt"
ARCH = "moro"  # the checkpoint's "arch" (unveil.checkpoint); config: {}
WINDOW = 64
N_CODES = 256
CODE_DIM = 64
WIDTH = 128
LAYERS = 3
N_COND = 69 + 24
# blend 0.5: on the validation split (train() output, weights/moro.md) blend 1 hurt the occluded
# joints (70.8 vs lifter 63.9 mm), 0.5 / 0.25 helped (61.7 / 61.4 mm).
BLEND = 0.5


# ------------------------------------------------------------------------------------ tokenizer
def body_frame(joints: torch.Tensor) -> torch.Tensor:
    """(..., 24, 3) -> (..., 3, 3) rotation whose columns are the body axes: x = left hip - right hip,
    y = pelvis -> neck (orthogonalised), z = x cross y. Canonical pose = joints @ R."""
    x = joints[..., 1, :] - joints[..., 2, :]
    up = joints[..., 12, :] - joints[..., 0, :]
    x = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    y = up - (up * x).sum(-1, keepdim=True) * x
    y = y / y.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    return torch.stack([x, y, torch.linalg.cross(x, y)], dim=-1)


class PoseTokenizer(nn.Module):
    """VQ-VAE over single-frame root-relative SMPL-24 poses (..., 24, 3) <-> token ids (...).
    Poses are tokenized in the body frame (:func:`body_frame`: the view direction is not part of
    the token); :meth:`decode` rotates back with a given frame R (the lifter's, at inference)."""

    def __init__(self, n_codes: int = N_CODES, dim: int = CODE_DIM, hidden: int = 256):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(69, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, dim))
        self.dec = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, 69))
        self.codebook = nn.Parameter(torch.randn(n_codes, dim) * 0.1)

    def encode(self, joints: torch.Tensor) -> torch.Tensor:
        rel = joints[..., 1:, :] - joints[..., :1, :]
        return self.enc((rel @ body_frame(joints)).flatten(-2))

    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        d = (z.unsqueeze(-2) - self.codebook).pow(2).sum(-1)
        return d.argmin(-1)

    def tokenize(self, joints: torch.Tensor) -> torch.Tensor:
        return self.quantize(self.encode(joints))

    def decode_latent(self, z: torch.Tensor) -> torch.Tensor:
        d = self.dec(z).unflatten(-1, (23, 3))
        return torch.cat([torch.zeros_like(d[..., :1, :]), d], dim=-2)

    def decode(self, tokens: torch.Tensor, frame: torch.Tensor | None = None) -> torch.Tensor:
        """tokens (...) -> body-frame poses, or camera-frame ones when ``frame`` (..., 3, 3) is given."""
        p = self.decode_latent(self.codebook[tokens])
        return p if frame is None else p @ frame.transpose(-1, -2)

    def forward(self, joints: torch.Tensor, beta: float = 0.25):
        """-> (reconstruction (..., 24, 3), vq loss, tokens) with the straight-through estimator."""
        z = self.encode(joints)
        k = self.quantize(z)
        c = self.codebook[k]
        vq = (z.detach() - c).pow(2).mean() + beta * (z - c.detach()).pow(2).mean()
        zq = z + (c - z).detach()
        return self.decode_latent(zq) @ body_frame(joints).transpose(-1, -2), vq, k


# ------------------------------------------------------------------------------ transformer
class MaskedMotionTransformer(nn.Module):
    """Tokens (B, W) (id N_CODES = [MASK]) + condition (B, W, N_COND) -> logits (B, W, N_CODES)."""

    def __init__(self, n_codes: int = N_CODES, width: int = WIDTH, layers: int = LAYERS, window: int = WINDOW):
        super().__init__()
        self.tok = nn.Embedding(n_codes + 1, width)
        self.cond = nn.Sequential(nn.Linear(N_COND, width), nn.GELU(), nn.Linear(width, width))
        self.pos = nn.Parameter(torch.zeros(window, width))
        layer = nn.TransformerEncoderLayer(width, 4, 2 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, n_codes))
        self.mask_id = n_codes

    def forward(self, tokens: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        W = tokens.shape[-1]
        h = self.tok(tokens) + self.cond(cond) + self.pos[:W]
        return self.head(self.body(h))


def condition(lifted: torch.Tensor, conf24: torch.Tensor) -> torch.Tensor:
    """(..., W, 24, 3) lifter estimate + (..., W, 24) joint confidences -> (..., W, N_COND)."""
    rel = lifted[..., 1:, :] - lifted[..., :1, :]
    return torch.cat([(rel @ body_frame(lifted)).flatten(-2) * 2.0, conf24], dim=-1)


def cosine_schedule(r) -> np.ndarray:
    """MoRo / MaskGIT mask ratio gamma(r) = cos(pi r / 2), r in [0, 1] (1 -> 0)."""
    return np.cos(np.pi / 2 * np.asarray(r, np.float64))


def remask_counts(M: int, steps: int) -> list[int]:
    """How many of the M initially masked frames stay masked after each of ``steps`` steps."""
    return [int(math.floor(M * float(cosine_schedule((s + 1) / steps)))) for s in range(steps)]


@torch.no_grad()
def iterative_decode(model: MaskedMotionTransformer, tokens: torch.Tensor, masked: torch.Tensor,
                     cond: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """Confidence-guided iterative decoding of one window. tokens (W,) long (values at masked frames
    ignored), masked (W,) bool, cond (W, N_COND) -> tokens (W,); unmasked frames are never changed."""
    tok = tokens.clone()
    tok[masked] = model.mask_id
    todo = masked.clone()
    M = int(masked.sum())
    if M == 0:
        return tokens.clone()
    for keep_masked in remask_counts(M, steps):
        logits = model(tok[None], cond[None])[0]
        prob = logits.softmax(-1)
        conf, pred = prob.max(-1)
        idx = torch.nonzero(todo).flatten()
        cand = tok.clone()
        cand[idx] = pred[idx]
        # of the frames still masked, the least confident keep_masked are re-masked
        order = idx[torch.argsort(conf[idx], descending=True)]
        n_fix = max(len(order) - keep_masked, 0)
        fixed = order[:n_fix]
        tok[fixed] = cand[fixed]
        todo[fixed] = False
        if not todo.any():
            break
    tok[~masked] = tokens[~masked]
    return tok


class MoRo(nn.Module):
    def __init__(self):
        super().__init__()
        self.tokenizer = PoseTokenizer()
        self.transformer = MaskedMotionTransformer()


@lru_cache(maxsize=2)
def load(path: str | None = None) -> MoRo:
    p = Path(path) if path else WEIGHTS
    if not p.is_file():
        raise MissingAssetError(f"MoRo weights missing: {p} (run `unveil train moro`)")
    m, _ = load_pretrained_model(p, ARCH, lambda c: MoRo())
    return m


def _conf24(S2: np.ndarray) -> np.ndarray:
    return confidence24(S2)


@torch.inference_mode()
def refine(lifted: np.ndarray, occluded24: np.ndarray, conf24: np.ndarray, steps: int = 5,
           blend: float = 1.0, model: MoRo | None = None, smooth: int | None = 9) -> np.ndarray:
    """Fill occluded joints of occluded frames of ``lifted`` (T, 24, 3) with MoRo's decoded poses.
    Windows of 64 frames, hop 32; a frame takes its result from the window where it is most central."""
    model = model or load()
    lifted = np.asarray(lifted, np.float32)
    occ = np.asarray(occluded24, bool)
    T = len(lifted)
    bad = occ.any(-1)
    if T == 0 or not bad.any():
        return lifted.copy()
    J = torch.from_numpy(lifted)
    C = torch.from_numpy(np.asarray(conf24, np.float32))
    base_tok = model.tokenizer.tokenize(J)
    out_tok = base_tok.clone()
    W = min(WINDOW, T)
    starts = list(range(0, max(T - W, 0) + 1, W // 2))
    if starts[-1] != T - W:
        starts.append(T - W)
    best = np.full(T, -1.0)
    for s in starts:
        sl = slice(s, s + W)
        m = torch.from_numpy(bad[sl])
        if not m.any():
            continue
        dec = iterative_decode(model.transformer, base_tok[sl], m, condition(J[sl], C[sl]), steps=steps)
        centr = W / 2 - np.abs(np.arange(W) - (W - 1) / 2)
        upd = centr > best[sl]
        t_idx = np.arange(s, s + W)[upd]
        out_tok[t_idx] = dec[upd]
        best[t_idx] = centr[upd]
    poses = model.tokenizer.decode(out_tok, body_frame(J)).numpy()
    if smooth:  # tokens are quantised: smooth the decoded pose sequence (Savitzky-Golay, order 2)
        poses = savgol_joints(poses, int(smooth))
    w = (occ & bad[:, None]).astype(np.float32)[..., None] * float(blend)
    out = lifted * (1 - w) + poses * w
    return (out - out[:, :1]).astype(np.float32)


class MoRoMethod:
    """Default lifter (stage.DEFAULT) + MoRo refinement of occluded joints."""

    def __init__(self, steps: int = 5, blend: float = BLEND):
        self.steps, self.blend = steps, blend

    def __call__(self, keypoints2d, camera) -> np.ndarray:
        res = stage.MoPO(**stage.DEFAULT)(keypoints2d, camera)
        return refine(res["joints"], res["occluded24"], _conf24(res["confidence"]), steps=self.steps,
                      blend=self.blend)
