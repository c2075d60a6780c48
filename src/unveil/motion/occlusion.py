"""Spatio-temporal occlusion detector (MoPO, Tang et al. 2026, §3.2, Eq. 1-2).

The 2D detector's per-keypoint confidence ``S_t`` is smoothed with the previous frame's

    S'_t  = alpha * S_t + (1 - alpha) * S_{t-1}            (Eq. 1, alpha = 0.8)

and a small GRU that reads only the *past* confidences S_0..S_{t-1} predicts an offset

    S''_t = RNN(S_0 .. S_{t-1}) + S'_t                      (Eq. 2)

A keypoint is visible iff S''_t > 0.6 (the paper's threshold). Everything is causal, so the
detector runs online (:meth:`OcclusionDetector.step`) or over a whole sequence (``forward``).

Variants for the ablation (MoPO Tab. 5 rows 1-3):

- ``spatial``        S'' = S_t (current-frame confidence only; no parameters)
- ``temporal``       S'' = S_{t-1} + RNN(S_0..S_{t-1}) (past frames only, never the current one)
- ``spatiotemporal`` Eq. 1 + Eq. 2 (the full detector)

Training (:func:`unveil.training.occlusion.train`, ``unveil train mopo-occlusion``): binary cross-entropy
between ``(S'' - 0.6) * SHARPNESS`` and the ground-truth visibility of synthetic sequences (``unveil.data.synth2d.training_windows``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..checkpoint import load_pretrained_model
from ..paths import WEIGHTS_DIR

ARCH = "occlusion_detector"  # the checkpoint's "arch" (unveil.checkpoint): one state per mode, keys "<mode>.<name>"

ALPHA = 0.8
THRESHOLD = 0.6
SHARPNESS = 10.0  # logit = (S'' - THRESHOLD) * SHARPNESS when training
MODES = ("spatial", "temporal", "spatiotemporal")
EDGE_MARGIN = 0.02  # fraction of the image size beyond its border where a keypoint counts as cut off
                    # (the synthetic training occlusions use the same rule: unveil.data.occlusions)


def out_of_frame(xy: np.ndarray, width: float, height: float, margin: float = EDGE_MARGIN) -> np.ndarray:
    """Keypoints the image cannot show: more than ``margin`` of the image size beyond its border.

    Args:
        xy: (..., 2) pixels.
        width, height: image size in pixels (<= 0: unknown, nothing is out).
        margin: see above.
    Returns:
        (...) bool.
    """
    xy = np.asarray(xy)
    if xy.shape[-1] != 2:
        raise ValueError(f"xy must be (..., 2), got {xy.shape}")
    if width <= 0 or height <= 0:
        return np.zeros(xy.shape[:-1], bool)
    mx, my = margin * width, margin * height
    u, v = xy[..., 0], xy[..., 1]
    return (u < -mx) | (u > width + mx) | (v < -my) | (v > height + my)


def ema_confidence(S, alpha: float = ALPHA):
    """Eq. 1 over the time axis (-2) of (..., T, K) confidences; the first frame keeps S_0."""
    if isinstance(S, torch.Tensor):
        prev = torch.cat([S[..., :1, :], S[..., :-1, :]], dim=-2)
    else:
        S = np.asarray(S, dtype=np.float32)
        prev = np.concatenate([S[..., :1, :], S[..., :-1, :]], axis=-2)
    return alpha * S + (1.0 - alpha) * prev


class OcclusionDetector(nn.Module):
    """(B, T, K) confidences -> (B, T, K) final confidence S''; visible iff S'' > 0.6."""

    def __init__(self, num_keypoints: int = 17, hidden: int = 32, mode: str = "spatiotemporal",
                 alpha: float = ALPHA, threshold: float = THRESHOLD):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        self.mode, self.alpha, self.threshold = mode, alpha, threshold
        self.num_keypoints, self.hidden = num_keypoints, hidden
        # input: the previous frame's confidences; output: an offset for the current frame
        self.gru = nn.GRU(num_keypoints, hidden, batch_first=True)
        self.head = nn.Linear(hidden, num_keypoints)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def _base(self, S: torch.Tensor) -> torch.Tensor:
        if self.mode == "spatial":
            return S
        prev = torch.cat([S[:, :1], S[:, :-1]], dim=1)
        if self.mode == "temporal":
            return prev
        return self.alpha * S + (1.0 - self.alpha) * prev

    def forward(self, S: torch.Tensor) -> torch.Tensor:
        squeeze = S.dim() == 2
        if squeeze:
            S = S[None]
        base = self._base(S)
        if self.mode == "spatial":
            out = base
        else:
            # the RNN sees S_0..S_{t-1} when predicting frame t (frame 0 sees S_0 itself: no past)
            past = torch.cat([S[:, :1], S[:, :-1]], dim=1)
            h, _ = self.gru(past)
            out = base + self.head(h)
        return out[0] if squeeze else out

    @torch.no_grad()
    def visible(self, S) -> np.ndarray:
        """Numpy/torch (..., T, K) confidences -> bool visibility of the same shape."""
        t = torch.as_tensor(np.asarray(S, dtype=np.float32))
        shape = t.shape
        out = self(t.reshape(-1, shape[-2], shape[-1]))
        return (out > self.threshold).reshape(shape).numpy()

    # ---------------------------------------------------------------------------- online use
    def init_state(self, batch: int = 1):
        return {"prev": None, "h": None}

    @torch.no_grad()
    def step(self, S_t: torch.Tensor, state: dict) -> tuple[torch.Tensor, torch.Tensor, dict]:
        """One frame (B, K) -> (S'' (B, K), visible (B, K), new state). Same numbers as forward."""
        prev = S_t if state["prev"] is None else state["prev"]
        if self.mode == "spatial":
            out = S_t
        else:
            base = prev if self.mode == "temporal" else self.alpha * S_t + (1 - self.alpha) * prev
            h_out, h = self.gru(prev[:, None], state["h"])
            out = base + self.head(h_out[:, 0])
            state = {"prev": S_t, "h": h}
        if self.mode == "spatial":
            state = {"prev": S_t, "h": None}
        return out, out > self.threshold, state


def detector_scores(det: OcclusionDetector, conf: np.ndarray, visible_true: np.ndarray) -> dict:
    """Accuracy / F1 of 'occluded' for (N, T, K) confidences against ground-truth visibility."""
    vis = det.visible(conf)
    occ_pred, occ_true = ~vis, ~np.asarray(visible_true, bool)
    tp = float((occ_pred & occ_true).sum())
    prec = tp / max(float(occ_pred.sum()), 1.0)
    rec = tp / max(float(occ_true.sum()), 1.0)
    return {"accuracy": float((vis == ~occ_true).mean()), "occ_precision": prec, "occ_recall": rec,
            "occ_f1": 2 * prec * rec / max(prec + rec, 1e-9)}


def load(mode: str = "spatiotemporal", path=None) -> OcclusionDetector:
    """The shipped detector of ``mode`` (``spatial`` needs no weights)."""
    det = OcclusionDetector(mode=mode)
    if mode != "spatial":
        det, _ = load_pretrained_model(path or (WEIGHTS_DIR / "mopo_occlusion.pt"), ARCH,
                                       lambda c: OcclusionDetector(mode=mode, hidden=c["hidden"]), prefix=f"{mode}.")
    return det.eval()
