"""2D -> 3D lifters: MoPO's LSTM lifter (MoPO §4.1, Eq. 3) and ARTS' dual-stream transformer
(ARTS, Tang et al. 2024, §3.2.1, Eq. 1).

Input normalisation: the project's shared one, :mod:`unveil.motion.normalize` (camera
intrinsics, then hip-centred and scaled by max(torso, box/2); the centre and log-scale are kept as
features, as CLIFF does), plus every keypoint's confidence. Output: SMPL-24 joints, root-relative
(pelvis = 0), camera axes (OpenCV), metres.

- :class:`LSTMLifter` (MoPO): a linear embedding of the frame's 2D pose; an LSTM cell that takes
  the embedding, the *previous frame's estimated 3D pose* and the hidden state, and returns the
  current 3D pose and hidden state -- strictly frame by frame (causal, online).
- :class:`DualStreamLifter` (ARTS Eq. 1): tokens T x K x C with spatial and temporal positional
  embeddings; each of L1 blocks computes ``X' = MSA_ST(X) + MSA_TS(X)`` (spatial-then-temporal
  plus temporal-then-spatial attention). C1 = 48 instead of 256 keeps it CPU friendly (a training step
  of 16 windows x 16 frames takes ~0.6 s on this shared 2-core box); T = 16 as in ARTS.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..checkpoint import load_pretrained_model
from ..paths import WEIGHTS_DIR
from .normalize import normalize_keypoints

ARCH = "mopo_lifter"  # the checkpoint's "arch" (unveil.checkpoint); config: kind, window, use_conf

NUM_KP = 17
NUM_J = 24
FEAT_DIM = NUM_KP * 3 + 3


def features(keypoints2d, camera=None, *, focal=None, principal_point=None, use_conf: bool = True) -> torch.Tensor:
    """(..., T, 17, 3) pixels + confidence -> (..., T, FEAT_DIM) lifter input via
    :mod:`unveil.motion.normalize`. ``use_conf=False`` sets every confidence to 1 (the
    "estimated poses" ablation: the lifter is blind to what the detector doubts)."""
    kp = torch.as_tensor(np.asarray(keypoints2d, dtype=np.float32))
    if not use_conf:
        kp = kp.clone()
        kp[..., 2] = 1.0
    return normalize_keypoints(kp, camera, focal=focal, principal_point=principal_point).features()


def _root0(out: torch.Tensor) -> torch.Tensor:
    """(..., 69) non-root joints -> (..., 24, 3) with the pelvis at the origin."""
    j = out.reshape(out.shape[:-1] + (NUM_J - 1, 3))
    return torch.cat([torch.zeros_like(j[..., :1, :]), j], dim=-2)


class LSTMLifter(nn.Module):
    """MoPO lifter: (B, T, FEAT_DIM) -> (B, T, 24, 3), frame by frame with previous-3D feedback."""

    def __init__(self, hidden: int = 128, embed: int = 128):
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(FEAT_DIM, embed), nn.GELU(), nn.Linear(embed, embed))
        self.cell = nn.LSTMCell(embed + (NUM_J - 1) * 3, hidden)
        self.out = nn.Sequential(nn.Linear(hidden + embed, hidden), nn.GELU(),
                                 nn.Linear(hidden, (NUM_J - 1) * 3))
        self.hidden = hidden

    def forward(self, feats: torch.Tensor, state=None):
        B, T, _ = feats.shape
        e = self.embed(feats)
        if state is None:
            prev = feats.new_zeros(B, (NUM_J - 1) * 3)
            hc = None
        else:
            prev, hc = state
        outs = []
        for t in range(T):
            hc = self.cell(torch.cat([e[:, t], prev], dim=-1), hc)
            prev = self.out(torch.cat([hc[0], e[:, t]], dim=-1))
            outs.append(prev)
        y = torch.stack(outs, dim=1)
        return _root0(y)

    @torch.no_grad()
    def infer(self, feats) -> np.ndarray:
        """Fast CPU inference of one sequence (T, FEAT_DIM) -> (T, 24, 3) numpy, same numbers as
        ``forward``: everything that depends only on the input is computed for all frames at once
        in torch; the recurrent loop runs in numpy (per-call overhead ~1 us instead of ~10 us)."""
        from scipy.special import erf

        feats = torch.as_tensor(feats, dtype=torch.float32)
        e = self.embed(feats)                                                   # (T, E)
        E = e.shape[-1]
        Wih, Whh = self.cell.weight_ih.numpy(), self.cell.weight_hh.numpy()
        pre_g = (e @ self.cell.weight_ih[:, :E].T + self.cell.bias_ih + self.cell.bias_hh).numpy()
        Wp = np.ascontiguousarray(Wih[:, E:].T)                                 # prev-3D part
        WhhT = np.ascontiguousarray(Whh.T)
        l1, l2 = self.out[0], self.out[2]
        H = self.hidden
        pre_o = (e @ l1.weight[:, H:].T + l1.bias).numpy()
        W1h = np.ascontiguousarray(l1.weight[:, :H].numpy().T)
        W2, b2 = np.ascontiguousarray(l2.weight.numpy().T), l2.bias.numpy()
        T = feats.shape[0]
        out = np.empty((T, W2.shape[1]), np.float32)
        prev = np.zeros(W2.shape[1], np.float32)
        h = np.zeros(H, np.float32)
        c = np.zeros(H, np.float32)
        r2 = np.float32(1 / np.sqrt(2))
        for t in range(T):
            g = pre_g[t] + prev @ Wp + h @ WhhT
            i, f, gg, o = g[:H], g[H:2 * H], g[2 * H:3 * H], g[3 * H:]
            c = c / (1 + np.exp(-f)) + np.tanh(gg) / (1 + np.exp(-i))
            h = np.tanh(c) / (1 + np.exp(-o))
            z = h @ W1h + pre_o[t]
            z = 0.5 * z * (1 + erf(z * r2))
            prev = z @ W2 + b2
            out[t] = prev
        return np.concatenate([np.zeros((T, 1, 3), np.float32), out.reshape(T, NUM_J - 1, 3)], axis=1)


class _MSA(nn.Module):
    """Pre-norm multi-head self-attention + MLP over the second-to-last token axis."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.n1 = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.n2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x):  # (N, S, C)
        h = self.n1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.n2(x))


class _DualBlock(nn.Module):
    """ARTS Eq. 1: X' = MSA_ST(X) + MSA_TS(X) with S = attention over joints, T = over frames."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.st_s, self.st_t = _MSA(dim, heads), _MSA(dim, heads)
        self.ts_t, self.ts_s = _MSA(dim, heads), _MSA(dim, heads)

    @staticmethod
    def _spatial(f, x):
        B, T, K, C = x.shape
        return f(x.reshape(B * T, K, C)).reshape(B, T, K, C)

    @staticmethod
    def _temporal(f, x):
        B, T, K, C = x.shape
        y = f(x.permute(0, 2, 1, 3).reshape(B * K, T, C))
        return y.reshape(B, K, T, C).permute(0, 2, 1, 3)

    def forward(self, x):
        st = self._temporal(self.st_t, self._spatial(self.st_s, x))
        ts = self._spatial(self.ts_s, self._temporal(self.ts_t, x))
        return 0.5 * (st + ts)


class DualStreamLifter(nn.Module):
    """ARTS lifter: (B, T, FEAT_DIM) -> (B, T, 24, 3) over windows of at most ``window`` frames."""

    def __init__(self, dim: int = 48, blocks: int = 3, heads: int = 4, window: int = 16):
        super().__init__()
        self.window = window
        self.tok = nn.Linear(3, dim)
        self.glob = nn.Linear(3, dim)
        self.pe_s = nn.Parameter(torch.zeros(1, 1, NUM_KP, dim))
        self.pe_t = nn.Parameter(torch.zeros(1, window, 1, dim))
        nn.init.trunc_normal_(self.pe_s, std=0.02)
        nn.init.trunc_normal_(self.pe_t, std=0.02)
        self.blocks = nn.ModuleList([_DualBlock(dim, heads) for _ in range(blocks)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(NUM_KP * dim, (NUM_J - 1) * 3)

    def forward_window(self, feats: torch.Tensor) -> torch.Tensor:
        B, T, _ = feats.shape
        kp = feats[..., : NUM_KP * 3].reshape(B, T, NUM_KP, 3)
        x = self.tok(kp) + self.glob(feats[..., NUM_KP * 3:])[:, :, None] + self.pe_s + self.pe_t[:, :T]
        for blk in self.blocks:
            x = blk(x)
        return _root0(self.head(self.norm(x).reshape(B, T, -1)))

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        B, T, _ = feats.shape
        W = self.window
        if T <= W:
            return self.forward_window(feats)
        starts = list(range(0, T - W + 1, W))
        if starts[-1] + W < T:
            starts.append(T - W)
        chunks = torch.stack([feats[:, s:s + W] for s in starts], dim=1).reshape(B * len(starts), W, -1)
        y = self.forward_window(chunks).reshape(B, len(starts), W, NUM_J, 3)
        out = feats.new_zeros(B, T, NUM_J, 3)
        for i, s in enumerate(starts):  # later windows overwrite the overlap (all frames covered)
            out[:, s:s + W] = y[:, i]
        return out


LIFTERS = {"lstm": LSTMLifter, "dual": DualStreamLifter}


def build(kind: str, **kw) -> nn.Module:
    if kind not in LIFTERS:
        raise ValueError(f"unknown lifter {kind!r} (expected one of {sorted(LIFTERS)})")
    return LIFTERS[kind](**kw)


def mpjpe(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.linalg.norm(a - b, dim=-1).mean()


def load(kind: str = "lstm", use_conf: bool = True, path=None) -> nn.Module:
    """The shipped lifter ``weights/mopo_lift_<kind>[_noconf].pt`` (or ``path``)."""
    name = f"mopo_lift_{kind}" + ("" if use_conf else "_noconf")
    model, ck = load_pretrained_model(path or (WEIGHTS_DIR / f"{name}.pt"), ARCH, build_from_config)
    model.use_conf = ck["config"]["use_conf"]
    return model


def build_from_config(config: dict) -> nn.Module:
    """A lifter from a checkpoint's config ``{"kind", "window", "use_conf"}`` (the LSTM is
    window-free: ``window`` is its training window)."""
    kind = config["kind"]
    return build(kind) if kind == "lstm" else build(kind, window=config["window"])


class SequenceLifter:
    """The :class:`unveil.motion.lifters.Lifter` of this module's networks: features
    (:func:`features`) -> the LSTM's fast :meth:`LSTMLifter.infer` or a forward pass.

    Args:
        kind: weight file ``mopo_lift_<kind>.pt`` (``"lstm"``, ``"dual"``, ``"lstm_render"``, ...).
        use_conf: the lifter sees the detector confidences (else all 1, the ``_noconf`` weights).
    """

    def __init__(self, kind: str = "lstm", use_conf: bool = True):
        self.kind, self.use_conf = kind, use_conf
        self.model = load(kind, use_conf=use_conf)

    @torch.inference_mode()
    def lift(self, keypoints2d: np.ndarray, camera) -> np.ndarray:
        """(T, 17, 3) COCO-17 pixels + confidence -> (T, 24, 3) root-relative camera-frame metres."""
        feats = features(keypoints2d, camera, use_conf=self.use_conf)[None]
        if hasattr(self.model, "infer"):
            return self.model.infer(feats[0])
        return self.model(feats)[0].numpy()
