"""Image-evidence depth: the limb joints' 3D relative to the hips from the landmark model's feature
tokens + the 2D keypoints, per frame (issue 18; the smallest test of RopeTP's Rope idea, §3.2).

On real video the dominant remaining error is the limbs' relative depth (``docs/fit/evidence.md``);
the BlazePose landmark model is a backbone trained on real images, and its inner maps are read out
as per-keypoint tokens (:mod:`unveil.detect.taps`). :class:`ImageDepthNet` is one hierarchy level
of Rope: part tokens (the 33 BlazePose keypoints; each = its pooled ``kp`` (288) and ``mid`` (48)
features, projected, + its normalised 2D position and visibility + a learned part embedding), two
layers of self-attention among them (Rope's ISL at one level), and an MLP from each of the 12 limb
tokens to that joint's 3D relative to the hip centre (camera axes, metres). ``use_tokens=False``
is the keypoints-only twin (the same network without the image features): the ablation that says
what the image features buy.

:func:`depth_blend` moves the lifted limb joints' depth (relative to the hip centre) towards the
network's, per seen joint, like :func:`unveil.motion.landmark_blend.landmark_blend` does towards
BlazePose's world landmarks (scale-aligned per frame; only the depth, ``z``, is changed).

Trained by :mod:`unveil.training.image_depth` (weights ``weights/image_depth.pt``, card beside it).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..checkpoint import load_pretrained_model, read_checkpoint
from ..paths import WEIGHTS_DIR
from ..skeleton import SMPL24_INDEX as JI
from . import rope
from .landmark_blend import FOLLOW, LIMB_BLAZEPOSE, LIMB_SMPL

ARCH = "image_depth"
WEIGHTS_NAME = "image_depth.pt"
WEIGHTS_NAME_KP = "image_depth_kponly.pt"
TOKEN_SHAPES = {"kp": (33, 288), "mid": (33, 48), "body": (1152,)}
N_KP = 33
# BlazePose-33 left/right label swap
BLAZEPOSE33_FLIP = (0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17, 20, 19, 22, 21,
                    24, 23, 26, 25, 28, 27, 30, 29, 32, 31)
# the 12 limb joints (order LIMB_SMPL: L/R pairs) left/right swap
LIMB_FLIP = (1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10)


def prepare(kp33: np.ndarray, focal, principal_point, tok_kp=None, tok_mid=None, tok_body=None) -> dict:
    """Network inputs from detector outputs.

    Args:
        kp33: (N,33,3) BlazePose-33 keypoints, pixels + visibility.
        focal: (N,) or scalar focal length, px.
        principal_point: (N,2) or (2,) px.
        tok_kp: (N,33,288) ``kp`` tokens or None (keypoints-only).
        tok_mid: (N,33,48) ``mid`` tokens or None.
        tok_body: (N,1152) whole-body token or None (only :class:`unveil.motion.rope.RopeNet`
            with its WhoBo level reads it).

    Returns:
        {"pts": (N,33,3) float32: image-plane coordinates relative to the hip centre, divided by
        the torso's 2D size (hip centre to shoulder centre), and the visibility; "feats": (N,33,336)
        float32 (only with tokens); "body": (N,1152) float32 (only with ``tok_body``)}.

    Raises:
        ValueError: arrays of the wrong shape.
    """
    kp = np.asarray(kp33, np.float32)
    if kp.ndim != 3 or kp.shape[1:] != (N_KP, 3):
        raise ValueError(f"kp33 must be (N,33,3), got {kp.shape}")
    n = len(kp)
    f = np.broadcast_to(np.asarray(focal, np.float32), (n,))
    pp = np.broadcast_to(np.asarray(principal_point, np.float32), (n, 2))
    uv = (kp[..., :2] - pp[:, None]) / f[:, None, None]
    hip = 0.5 * (uv[:, 23] + uv[:, 24])
    sho = 0.5 * (uv[:, 11] + uv[:, 12])
    size = np.maximum(np.linalg.norm(sho - hip, axis=-1), 1e-3)
    pts = np.concatenate([(uv - hip[:, None]) / size[:, None, None], kp[..., 2:3]], -1).astype(np.float32)
    out = {"pts": pts}
    if tok_kp is not None:
        tk, tm = np.asarray(tok_kp, np.float32), np.asarray(tok_mid, np.float32)
        if tk.shape != (n,) + TOKEN_SHAPES["kp"] or tm.shape != (n,) + TOKEN_SHAPES["mid"]:
            raise ValueError(f"tokens must be (N,33,288) and (N,33,48), got {tk.shape} {tm.shape}")
        out["feats"] = np.concatenate([tk, tm], -1)
    if tok_body is not None:
        tb = np.asarray(tok_body, np.float32)
        if tb.shape != (n,) + TOKEN_SHAPES["body"]:
            raise ValueError(f"the body token must be (N,1152), got {tb.shape}")
        out["body"] = tb
    return out


class ImageDepthNet(nn.Module):
    """Part tokens -> 2-layer self-attention -> per limb joint 3D relative to the hip centre.

    Args:
        use_tokens: read the image tokens (False: the keypoints-only twin).
        dim, heads, layers: transformer width, heads and depth.
    Forward: ``pts`` (N,33,3), ``feats`` (N,33,336) (only with tokens) -> (N,12,3) metres, camera
    axes, order :data:`unveil.motion.landmark_blend.LIMB_SMPL`.
    """

    def __init__(self, use_tokens: bool = True, dim: int = 64, heads: int = 4, layers: int = 2):
        super().__init__()
        self.use_tokens = bool(use_tokens)
        self.pts = nn.Sequential(nn.Linear(3, dim), nn.GELU(), nn.Linear(dim, dim))
        self.part = nn.Parameter(torch.zeros(1, N_KP, dim))
        nn.init.normal_(self.part, std=0.02)
        if self.use_tokens:
            self.feat = nn.Sequential(nn.LayerNorm(336), nn.Linear(336, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True, norm_first=True)
        self.enc = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 3))

    def forward(self, pts: torch.Tensor, feats: torch.Tensor | None = None) -> torch.Tensor:
        if pts.ndim != 3 or pts.shape[1:] != (N_KP, 3):
            raise ValueError(f"pts must be (N,33,3), got {tuple(pts.shape)}")
        h = self.pts(pts) + self.part
        if self.use_tokens:
            if feats is None or feats.shape != pts.shape[:2] + (336,):
                raise ValueError(f"feats must be (N,33,336), got {None if feats is None else tuple(feats.shape)}")
            h = h + self.feat(feats)
        h = self.enc(h)
        out = self.head(h[:, list(LIMB_BLAZEPOSE)])
        return out - 0.5 * (out[:, 6:7] + out[:, 7:8])


def load(path=None, use_tokens: bool = True) -> nn.Module:
    """The shipped network (``weights/image_depth.pt``, or the keypoints-only twin), eval mode; a
    file of arch ``rope_depth`` (e.g. ``weights/image_depth_rope.pt``) gives a
    :class:`unveil.motion.rope.RopeNet` (same inputs and outputs, + the ``body`` token)."""
    p = path or WEIGHTS_DIR / (WEIGHTS_NAME if use_tokens else WEIGHTS_NAME_KP)
    if read_checkpoint(p)["arch"] == rope.ARCH:
        model, _ = load_pretrained_model(p, rope.ARCH, lambda c: rope.RopeNet(**c))
    else:
        model, _ = load_pretrained_model(p, ARCH, lambda c: ImageDepthNet(**c))
    return model.eval()


def needs(model: nn.Module) -> tuple[str, ...]:
    """The feature tokens ``model`` reads: () (keypoints only), ("kp", "mid") or ("kp", "mid", "body")."""
    if not model.use_tokens:
        return ()
    return ("kp", "mid", "body") if getattr(model, "reads_body", False) else ("kp", "mid")


def predict(model: nn.Module, kp33: np.ndarray, focal: float, principal_point, features: dict | None,
            batch: int = 1024) -> np.ndarray:
    """(T,33,3) keypoints (+ ``features`` {"kp": (T,33,288), "mid": (T,33,48)[, "body": (T,1152)]})
    -> (T,12,3) limb joints relative to the hip centre, camera axes, metres (``model``: an
    :class:`ImageDepthNet` or a :class:`unveil.motion.rope.RopeNet`)."""
    need = needs(model)
    if need and (features is None or any(k not in features for k in need)):
        raise ValueError("this image-depth network needs the image features (run with --image-features)")
    x = prepare(kp33, focal, principal_point, features["kp"] if need else None,
                features["mid"] if need else None, features["body"] if "body" in need else None)
    out = []
    with torch.no_grad():
        for s in range(0, len(kp33), batch):
            out.append(model(**{k: torch.as_tensor(v[s:s + batch]) for k, v in x.items()}).numpy())
    return np.concatenate(out) if out else np.zeros((0, 12, 3), np.float32)


def depth_blend(joints: np.ndarray, pred: np.ndarray, visible: np.ndarray, share: float = 0.5,
                held: np.ndarray | None = None) -> np.ndarray:
    """Move the limb joints' depth relative to the hip centre towards the network's.

    For frame t and limb joint j: ``s_t`` = the least-squares scale of the prediction onto the
    lifted limb joints (both hip-centred, clipped to [0.5, 2]); ``z'_tj = z_tj + λ v_tj
    (s_t p_tj,z + h_t,z − z_tj)`` with ``h_t`` the lifted hip centre, λ = ``share``, ``v`` the
    visibility; the joints without a landmark follow theirs (:data:`FOLLOW`); the result is made
    root-relative again.

    Args:
        joints: (T,24,3) root-relative lifted joints, camera axes.
        pred: (T,12,3) network output (:func:`predict`).
        visible: (T,24) visibility in [0,1].
        share: λ (0 returns ``joints`` unchanged).
        held: (T,) bool frames with a detection (others unchanged); None = all.
    Returns:
        (T,24,3) float32.
    """
    J = np.asarray(joints, np.float64)
    P = np.asarray(pred, np.float64)
    vis = np.clip(np.asarray(visible, np.float64), 0.0, 1.0)
    if J.ndim != 3 or J.shape[1:] != (24, 3):
        raise ValueError(f"joints must be (T,24,3), got {J.shape}")
    if P.shape != (len(J), 12, 3) or vis.shape != J.shape[:2]:
        raise ValueError(f"pred {P.shape} / visible {vis.shape} do not match joints {J.shape}")
    if share <= 0 or len(J) == 0:
        return J.astype(np.float32)
    limb = list(LIMB_SMPL)
    hip_c = 0.5 * (J[:, JI["L_hip"]] + J[:, JI["R_hip"]])
    Jr = J[:, limb] - hip_c[:, None]
    s = np.clip((P * Jr).sum((1, 2)) / np.maximum((P * P).sum((1, 2)), 1e-9), 0.5, 2.0)
    lam = share * vis[:, limb]
    if held is not None:
        lam = lam * np.asarray(held, bool)[:, None]
    delta = np.zeros_like(J)
    delta[:, limb, 2] = lam * (s[:, None] * P[..., 2] + hip_c[:, None, 2] - J[:, limb, 2])
    for j, src in FOLLOW.items():
        delta[:, j] = delta[:, list(src)].mean(1)
    out = J + delta
    return (out - out[:, :1]).astype(np.float32)


__all__ = ["ImageDepthNet", "prepare", "predict", "needs", "load", "depth_blend", "ARCH", "WEIGHTS_NAME",
           "WEIGHTS_NAME_KP", "TOKEN_SHAPES", "BLAZEPOSE33_FLIP", "LIMB_FLIP"]
