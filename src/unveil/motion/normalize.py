"""The one 2D input normalisation shared by every lifter (per-frame MLP, MoPO LSTM, ARTS dual-stream).

Seed: MoPO §4.1 / ARTS §3.2.1 feed the lifters 2D keypoints "normalised" without fixing how; unveil
fixes it here once so that every model sees the same numbers:

1. pixels -> camera-normalised coordinates ``x = (u - cx) / f``, ``y = (v - cy) / f``
   (so the same pose at the same place gives the same numbers for any image size / focal length);
2. per frame, centre ``c`` = the hip midpoint (COCO-17 keypoints 11, 12) and scale
   ``s = max(torso, 0.5 * box)`` where ``torso`` is the distance from the shoulder midpoint to the hip
   midpoint and ``box`` the larger side of the bounding box of keypoints with confidence >= 0.3
   (all keypoints when fewer than 4 pass); ``s`` is clamped to >= 1e-3. The torso term keeps the
   scale sane when the legs are cut off (truncation) or hidden; the box term dominates otherwise;
3. keypoints -> ``(x - c) / s``; confidences kept as the third channel;
4. ``c`` (2 numbers) and ``log s`` (1 number) are kept as extra features: they carry where the person
   is and how far away (depth ~ f·height/pixels), which root-relative models may ignore and
   trajectory models need.

:func:`normalize_keypoints` accepts numpy or torch, with any leading batch dims, and returns torch
float32 tensors ready for a model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

L_SHO, R_SHO, L_HIP, R_HIP = 5, 6, 11, 12
CONF_BOX = 0.3
MIN_SCALE = 1e-3


@dataclass
class NormalizedKeypoints:
    keypoints: torch.Tensor  # (..., T, K, 3): centred+scaled x, y, confidence
    center: torch.Tensor     # (..., T, 2) hip midpoint, camera-normalised coordinates
    scale: torch.Tensor      # (..., T, 1) per-frame scale s (camera-normalised units)

    def features(self) -> torch.Tensor:
        """(..., T, K*3 + 3): flattened keypoints, then centre (2) and log scale (1)."""
        flat = self.keypoints.flatten(-2)
        return torch.cat([flat, self.center, torch.log(self.scale)], dim=-1)

    @property
    def num_features(self) -> int:
        return self.keypoints.shape[-2] * 3 + 3


def _camera_params(camera=None, focal=None, principal_point=None):
    if camera is not None:
        return float(camera.focal), (float(camera.cx), float(camera.cy))
    if focal is None or principal_point is None:
        raise ValueError("normalize_keypoints needs a Camera or focal + principal_point")
    return focal, principal_point


def normalize_keypoints(keypoints2d, camera=None, *, focal=None, principal_point=None) -> NormalizedKeypoints:
    """(..., T, 17, 3) COCO-17 pixels + confidence -> :class:`NormalizedKeypoints`.

    ``camera`` is a :class:`unveil.types.Camera`; alternatively pass ``focal`` and
    ``principal_point`` (scalars / (2,), or tensors broadcastable to the leading batch dims as
    (..., 1) and (..., 2) for per-sequence cameras in a batch).
    """
    kp = torch.as_tensor(np.asarray(keypoints2d) if not isinstance(keypoints2d, torch.Tensor) else keypoints2d,
                         dtype=torch.float32)
    f, pp = _camera_params(camera, focal, principal_point)
    f = torch.as_tensor(f, dtype=torch.float32)
    pp = torch.as_tensor(pp, dtype=torch.float32)
    if f.ndim >= 1:  # per-sequence focal (B,) or (B,1) -> (B,1,1,1)
        f = f.reshape(*f.shape[:1], *([1] * (kp.ndim - 1)))
    if pp.ndim >= 2:  # (B,2) -> (B,1,1,2)
        pp = pp.reshape(pp.shape[0], *([1] * (kp.ndim - 2)), 2)
    xy = (kp[..., :2] - pp) / f
    conf = kp[..., 2:3]
    center = 0.5 * (xy[..., L_HIP, :] + xy[..., R_HIP, :])                      # (..., T, 2)
    sho = 0.5 * (xy[..., L_SHO, :] + xy[..., R_SHO, :])
    torso = torch.linalg.norm(sho - center, dim=-1)                              # (..., T)
    good = conf[..., 0] >= CONF_BOX                                              # (..., T, K)
    few = good.sum(-1, keepdim=True) < 4
    good = good | few
    big = torch.finfo(torch.float32).max
    lo = torch.where(good[..., None], xy, torch.full_like(xy, big)).amin(-2)
    hi = torch.where(good[..., None], xy, torch.full_like(xy, -big)).amax(-2)
    box = (hi - lo).amax(-1)
    scale = torch.maximum(torso, 0.5 * box).clamp_min(MIN_SCALE)[..., None]       # (..., T, 1)
    out = torch.cat([(xy - center[..., None, :]) / scale[..., None, :], conf], dim=-1)
    return NormalizedKeypoints(out, center, scale)
