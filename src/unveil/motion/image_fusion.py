"""MoPO's motion-aware cross-attention fusion (§3.3, Eq. 6-9) over the landmark model's *image*
tokens (issue 18, item 3).

:class:`unveil.motion.fusion.CrossAttentionFusion` is MoPO's fusion with the evidence ``F`` made of
keypoint tokens (2D, confidence, world landmarks). Here ``F`` is, per frame, the 33 tapped
per-keypoint image tokens of the BlazePose landmark model (:mod:`unveil.detect.taps`: ``kp`` 288 +
``mid`` 48 features pooled under each keypoint's heatmap), each with its normalised 2D position and
visibility (:func:`unveil.motion.image_depth.prepare`) -- the backbone features MoPO fuses, from the
only image backbone available here:

    F_M = GRU(P)                                   (Eq. 6, over the lifted joints P, (T, 24, 3))
    C_M = concat[F_M, Flatten(P)]                  (Eq. 7)
    F'  = CrossAttn(Q = C_M W_q, K = F W_k, V = F W_v)   (Eq. 8-9, per frame, over the 33 tokens)
    P'  = P + g_t * MLP(concat[F', Q])             (zero-initialised: untrained = the identity)

``g_t`` = 1 on frames whose tokens are present (a held detection), 0 elsewhere (the joints of those
frames pass through unchanged). The module is the existing :class:`CrossAttentionFusion` with
``evidence_dim`` = 3 + 336 and 33 token slots (its learned token embedding = a part embedding), a
LayerNorm on the 336 image features in front. Deviation from MoPO: it predicts a residual correction
of root-relative joints, not SMPL parameters (the body fit is analytic here, as for the keypoint
fusion).

Weights: ``weights/image_fusion.pt`` (card beside it), trained by ``unveil train image-fusion``
(:mod:`unveil.training.image_fusion`) on rendered training-split video. Used by the lift stage when
``unveil run --image-features --image-fusion`` is given (:class:`unveil.motion.stage.MoPO`
``image_fusion=``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..checkpoint import load_pretrained_model
from ..paths import WEIGHTS_DIR
from .fusion import NUM_J, CrossAttentionFusion
from .image_depth import N_KP, TOKEN_SHAPES, prepare

ARCH = "image_token_fusion"
WEIGHTS_NAME = "image_fusion.pt"
FEAT_DIM = TOKEN_SHAPES["kp"][1] + TOKEN_SHAPES["mid"][1]  # 336
TOKEN_DIM = 3 + FEAT_DIM  # normalised x, y, visibility + the image features


def image_tokens(kp33: np.ndarray, focal, principal_point, tok_kp: np.ndarray, tok_mid: np.ndarray) -> np.ndarray:
    """Per-frame image evidence tokens.

    Args:
        kp33: (T,33,3) BlazePose-33 keypoints, pixels + visibility.
        focal: scalar or (T,) focal length, px.
        principal_point: (2,) or (T,2) px.
        tok_kp: (T,33,288) tapped ``kp`` tokens.
        tok_mid: (T,33,48) tapped ``mid`` tokens.
    Returns:
        (T,33,TOKEN_DIM) float32: [hip-centred, torso-normalised x, y, visibility, kp (288), mid (48)].
    Raises:
        ValueError: arrays of the wrong shape.
    """
    x = prepare(kp33, focal, principal_point, tok_kp, tok_mid)
    return np.concatenate([x["pts"], x["feats"]], -1).astype(np.float32)


class ImageTokenFusion(nn.Module):
    """(B,T,24,3) root-relative joints + (B,T,33,TOKEN_DIM) image tokens (+ (B,T) frame gate) ->
    refined (B,T,24,3); the root stays at 0.

    Args:
        dim: attention width; motion_dim: the GRU's state size; heads: attention heads.
        depth_only: correct only the depth (camera z) of the joints, not x, y (the image evidence is
            for relative depth; x, y are the 2D's);
        max_delta: bound each correction to +- this many metres (``max_delta * tanh(raw / max_delta)``;
            0 = unbounded).
    """

    def __init__(self, dim: int = 64, motion_dim: int = 64, heads: int = 4, depth_only: bool = False,
                 max_delta: float = 0.0):
        super().__init__()
        self.depth_only, self.max_delta = bool(depth_only), float(max_delta)
        self.norm = nn.LayerNorm(FEAT_DIM)
        self.fusion = CrossAttentionFusion(evidence_dim=TOKEN_DIM, max_tokens=N_KP, motion_dim=motion_dim,
                                           dim=dim, heads=heads)

    def forward(self, joints: torch.Tensor, tokens: torch.Tensor, gate: torch.Tensor | None = None) -> torch.Tensor:
        if joints.ndim != 4 or joints.shape[2:] != (NUM_J, 3):
            raise ValueError(f"joints must be (B,T,24,3), got {tuple(joints.shape)}")
        if tokens.ndim != 4 or tokens.shape[:2] != joints.shape[:2] or tokens.shape[2:] != (N_KP, TOKEN_DIM):
            raise ValueError(f"tokens must be (B,T,33,{TOKEN_DIM}) with joints' B, T, got {tuple(tokens.shape)}")
        if gate is not None and gate.shape != joints.shape[:2]:
            raise ValueError(f"gate must be (B,T), got {tuple(gate.shape)}")
        ev = torch.cat([tokens[..., :3], self.norm(tokens[..., 3:])], -1)
        delta = self.fusion(joints, ev) - joints
        if self.max_delta > 0:
            delta = self.max_delta * torch.tanh(delta / self.max_delta)
        if self.depth_only:
            delta = delta * torch.tensor([0.0, 0.0, 1.0], dtype=delta.dtype)
        if gate is not None:
            delta = delta * gate.to(delta.dtype)[..., None, None]
        return joints + delta


def load(path=None) -> ImageTokenFusion:
    """The shipped fusion (``weights/image_fusion.pt``) or ``path``, eval mode; missing or unexpected
    keys are an error (:func:`unveil.checkpoint.load_pretrained_model`)."""
    m, _ = load_pretrained_model(path or (WEIGHTS_DIR / WEIGHTS_NAME), ARCH, lambda c: ImageTokenFusion(**c))
    return m.eval()


def refine(model: ImageTokenFusion, joints: np.ndarray, kp33: np.ndarray, focal: float, principal_point,
           features: dict) -> np.ndarray:
    """Run the fusion on one track.

    Args:
        model: an :class:`ImageTokenFusion`.
        joints: (T,24,3) root-relative lifted joints.
        kp33: (T,33,3) the track's BlazePose-33 keypoints.
        focal, principal_point: the camera's.
        features: {"kp": (T,33,288), "mid": (T,33,48), ...} the track's image tokens.
    Returns:
        (T,24,3) float32; frames without a detection (all-zero keypoint confidence or tokens) unchanged.
    """
    j = np.asarray(joints, np.float32)
    kp = np.asarray(kp33, np.float32)
    if j.ndim != 3 or j.shape[1:] != (NUM_J, 3) or kp.shape != (len(j), N_KP, 3):
        raise ValueError(f"refine: joints (T,24,3) and kp33 (T,33,3) expected, got {j.shape}, {kp.shape}")
    if len(j) == 0:
        return j
    tk = np.asarray(features["kp"], np.float32)
    tok = image_tokens(kp, focal, principal_point, tk, features["mid"])
    held = (kp[..., 2].max(-1) > 0) & (np.abs(tk).sum((1, 2)) > 0)
    with torch.no_grad():
        out = model(torch.from_numpy(j)[None], torch.from_numpy(tok)[None], torch.from_numpy(held)[None])
    return out[0].numpy().astype(np.float32)


__all__ = ["ImageTokenFusion", "image_tokens", "load", "refine", "ARCH", "WEIGHTS_NAME", "TOKEN_DIM", "FEAT_DIM"]
