"""Motion predictor and iterative completion of occluded joints (MoPO §3.2 Eq. 3-5, §4.1
Eq. 18-20; the MLP-Mixer follows siMLPe, Guo et al. WACV 2023).

    P_pred[N+1 .. N+L] = IDCT( MLP-Mixer( DCT( P[1 .. N] ) ) )                  (Eq. 4)
    z0 = DCT(P) W0 + b0 ;  z_i = z_{i-1} + LN(W_i z_{i-1} + b_i) ;  out = z_m W_{m+1} + b_{m+1}
                                                                             (Eq. 18-20)

W0 and W_{m+1} mix the spatial axis (C = 3 x 24 coordinates); the m blocks mix the temporal
(DCT-coefficient) axis, LayerNorm over the spatial axis. As in siMLPe, the IDCT output's first L
frames are added to the last observed frame (a residual), so an untrained net predicts "hold".

Width choice for CPU: m = 8 blocks (the paper: m = 48). The completion calls the predictor once
per frame that has an occluded joint, strictly sequentially, so its cost on a CPU is dominated by
per-layer call overhead (tensors here are 16 x 72), i.e. linear in m; 8 blocks keep a call around
0.1 ms while validation error barely moves beyond that on this data (see weights/mopo_predict.md).

Completion (Eq. 5): walking forward through the sequence, the occluded joints of frame t are
replaced by the prediction from the N already-completed frames before it; visible joints are never
changed. Sequences (or starts) shorter than N are padded by repeating the first frame.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ..checkpoint import load_pretrained_model
from ..paths import WEIGHTS_DIR

ARCH = "motion_predictor"  # the checkpoint's "arch" (unveil.checkpoint); config: n_in, n_out, blocks

NUM_J = 24

# SMPL-24 joint <- the COCO-17 keypoints that show it (a joint is occluded when fewer than half are
# visible). The pelvis is the root-relative origin and is never "completed".
SMPL24_FROM_COCO17: tuple[tuple[int, ...], ...] = (
    (), (11,), (12,), (11, 12), (13,), (14,), (5, 6, 11, 12), (15,), (16,), (5, 6), (15,), (16,),
    (5, 6), (5,), (6,), (0, 1, 2, 3, 4), (5,), (6,), (7,), (8,), (9,), (10,), (9,), (10,),
)


def occluded_smpl24(occ17) -> np.ndarray:
    """(..., 17) bool occluded COCO keypoints -> (..., 24) bool occluded SMPL joints."""
    occ17 = np.asarray(occ17, bool)
    out = np.zeros(occ17.shape[:-1] + (NUM_J,), bool)
    for j, src in enumerate(SMPL24_FROM_COCO17):
        if src:
            out[..., j] = occ17[..., list(src)].mean(-1) > 0.5
    return out


def dct_matrix(n: int) -> np.ndarray:
    """Orthonormal DCT-II matrix D (n, n): coefficients = D @ x, and x = D.T @ coefficients."""
    k = np.arange(n)[:, None]
    i = np.arange(n)[None, :]
    D = np.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    D[0] /= math.sqrt(2.0)
    return D.astype(np.float32)


class _TemporalBlock(nn.Module):
    """z <- z + LN(W z + b) with W mixing the temporal (coefficient) axis (Eq. 19)."""

    def __init__(self, n: int, c: int):
        super().__init__()
        self.fc = nn.Linear(n, n)
        self.ln = nn.LayerNorm(c)
        nn.init.xavier_uniform_(self.fc.weight, gain=1e-4)
        nn.init.zeros_(self.fc.bias)

    def forward(self, z):  # (B, N, C)
        return z + self.ln(self.fc(z.transpose(1, 2)).transpose(1, 2))


class MotionPredictor(nn.Module):
    """(B, N, 24, 3) root-relative joints -> (B, L, 24, 3) the next L frames."""

    def __init__(self, n_in: int = 16, n_out: int = 8, blocks: int = 8):
        super().__init__()
        if n_out > n_in:
            raise ValueError("prediction length must not exceed the input length")
        self.n_in, self.n_out, self.blocks_n = n_in, n_out, blocks
        c = NUM_J * 3
        D = torch.as_tensor(dct_matrix(n_in))
        self.register_buffer("D", D)
        self.register_buffer("Dt", D.T.contiguous())
        self.fc_in = nn.Linear(c, c)
        self.blocks = nn.Sequential(*[_TemporalBlock(n_in, c) for _ in range(blocks)])
        self.fc_out = nn.Linear(c, c)
        nn.init.zeros_(self.fc_out.weight)
        nn.init.zeros_(self.fc_out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N = x.shape[:2]
        flat = x.reshape(B, N, -1)
        z = self.fc_in(self.D @ flat)          # DCT, then spatial FC (Eq. 18)
        z = self.blocks(z)                     # temporal mixing blocks (Eq. 19)
        y = self.Dt @ self.fc_out(z)           # spatial FC, then IDCT (Eq. 20)
        y = y[:, : self.n_out] + flat[:, -1:]  # residual from the last observed frame
        return y.reshape(B, self.n_out, NUM_J, 3)


class NumpyPredictor:
    """The same network as :class:`MotionPredictor` evaluated with numpy for one window at a time
    (the iterative completion is sequential, so per-call overhead is what costs)."""

    def __init__(self, m: MotionPredictor):
        with torch.no_grad():
            self.n_in, self.n_out = m.n_in, m.n_out
            self.D = m.D.numpy()
            self.DtL = np.ascontiguousarray(m.Dt.numpy()[: m.n_out])           # only the first L rows
            self.Wi, self.bi = m.fc_in.weight.numpy().T.copy(), m.fc_in.bias.numpy()
            self.blocks = [(b.fc.weight.numpy().copy(), b.fc.bias.numpy()[:, None].copy(), b.ln.weight.numpy(),
                            b.ln.bias.numpy(), b.ln.eps) for b in m.blocks]
            self.Wo, self.bo = m.fc_out.weight.numpy().T.copy(), m.fc_out.bias.numpy()
            c = self.Wi.shape[0]
            self.avg = np.full((c, 1), 1.0 / c, np.float32)  # row means as a matmul (cheaper than .mean)

    def __call__(self, window: np.ndarray) -> np.ndarray:
        """(N, 24, 3) -> (L, 24, 3)."""
        x = window.reshape(self.n_in, -1)
        z = (self.D @ x) @ self.Wi + self.bi
        for W, b, g, beta, eps in self.blocks:
            y = W @ z + b
            y -= y @ self.avg
            y *= 1.0 / np.sqrt((y * y) @ self.avg + eps)
            z = z + y * g + beta
        y = self.DtL @ (z @ self.Wo + self.bo) + x[-1]
        return y.reshape(self.n_out, NUM_J, 3)


def _complete_forward(P: np.ndarray, occ: np.ndarray, fast: NumpyPredictor) -> np.ndarray:
    N = fast.n_in
    buf = np.concatenate([np.repeat(P[:1], N, axis=0), P], axis=0)  # pad by repeating frame 0
    for t in np.nonzero(occ.any(-1))[0]:
        pred = fast(buf[t:t + N])[0]
        m = occ[t]
        buf[t + N, m] = pred[m]
    return buf[N:]


def _gap_distances(occ: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per (t, j): frames since the last visible frame (inf if none) and until the next one."""
    T = occ.shape[0]
    idx = np.arange(T, dtype=np.float64)[:, None]
    last = np.where(~occ, idx, -np.inf)
    last = np.maximum.accumulate(last, axis=0)
    nxt = np.where(~occ, idx, np.inf)
    nxt = np.minimum.accumulate(nxt[::-1], axis=0)[::-1]
    return idx - last, nxt - idx


@torch.no_grad()
def complete(joints, occluded, predictor: MotionPredictor, bidirectional: bool = False,
             blend_tau: float | None = None) -> np.ndarray:
    """Eq. 5: (T, 24, 3) joints + (T, 24) bool occluded -> completed copy (visible joints untouched).

    ``bidirectional=True`` (an offline extension, not in the paper): also complete the time-reversed
    sequence and blend the two per joint, weighting each by its closeness to the visible frame it
    extrapolates from, so a long gap is filled from both of its ends.

    ``blend_tau`` (extension): trust the motion prediction only near the visible frames it
    extrapolates from, ``w = exp(-d / tau)`` with ``d`` the distance (frames) to the nearest usable
    visible frame, and keep the lifter's own (confidence-aware) estimate for the rest,
    ``P = w * P_pred + (1 - w) * P_lift``. Long or never-visible gaps then fall back to the lifter.
    """
    P = np.array(joints, dtype=np.float32, copy=True)
    occ = np.asarray(occluded, bool)
    if not occ.any():
        return P
    fast = NumpyPredictor(predictor)
    fwd = _complete_forward(P, occ, fast)
    a, b = _gap_distances(occ)
    if bidirectional:
        bwd = _complete_forward(P[::-1].copy(), occ[::-1], fast)[::-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(np.isinf(a), 0.0, np.where(np.isinf(b), 1.0, b / (a + b)))
        w = np.where(occ, w, 1.0).astype(np.float32)[..., None]
        out = w * fwd + (1 - w) * bwd
        d = np.minimum(a, b)
    else:
        out, d = fwd, a
    if blend_tau:
        w = np.where(occ, np.exp(-d / float(blend_tau)), 1.0).astype(np.float32)[..., None]
        out = w * out + (1 - w) * P
    return out


def load(n_in: int = 16, n_out: int = 8, path=None) -> MotionPredictor:
    m, _ = load_pretrained_model(path or (WEIGHTS_DIR / f"mopo_predict_{n_in}_{n_out}.pt"), ARCH,
                                 lambda c: MotionPredictor(**c))
    return m
