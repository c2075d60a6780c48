"""Foot contact: labels, and the contact-consistency (no foot sliding) term of RopeTP §3.3 Eq. 10.

RopeTP trains its trajectory denoiser with ``L_foot = 1/(N-1) sum_i ||x0^(i+1) - x0^i|| f_i``:
a foot marked in contact (``f_i``) must not move between frames. With the canonical trajectory of
:mod:`unveil.trajectory.canonical` the foot displacement from frame t to t+1, written in frame t's
heading frame, needs no integration::

    slide_t = R_y(dyaw_t) L_{t+1} - L_t + (dx_t, h_{t+1} - h_t, dz_t)

(``L`` the heading-free local foot joints). :func:`contact_loss` averages ``||slide_t||`` over the
frame pairs where both ends are in contact (``c_t c_{t+1}``; soft probabilities work too).
Labels follow :func:`unveil.metrics.foot_contact` (height within 5 cm of the joint's own low,
horizontal speed < 0.3 m/s) so training and the foot-sliding metric agree.
"""

from __future__ import annotations

import numpy as np
import torch

from ..metrics import FOOT_JOINTS, foot_contact
from .canonical import rot_y

FEET = tuple(FOOT_JOINTS)  # L_ankle, R_ankle, L_foot, R_foot


def contact_labels(joints_world: np.ndarray, fps: float = 30.0) -> np.ndarray:
    """(T, 24, 3) world joints (Y up) -> (T, 4) bool contact of ankles and toes."""
    return foot_contact(np.asarray(joints_world, np.float64), fps=fps, feet=FEET)


def foot_slide(x: torch.Tensor, local: torch.Tensor) -> torch.Tensor:
    """Per-frame foot displacement (..., T-1, 4, 3) in frame t's heading frame.

    x: (..., T, 4) canonical trajectory (dx, dz, dyaw, height); local: (..., T, 24, 3) heading-free
    root-relative joints (or (..., T, 4, 3) already the feet).
    """
    feet = local[..., list(FEET), :] if local.shape[-2] == 24 else local
    R = rot_y(x[..., :-1, 2])                                             # (..., T-1, 3, 3)
    nxt = torch.einsum("...ij,...kj->...ki", R, feet[..., 1:, :, :])
    step = torch.stack([x[..., :-1, 0], x[..., 1:, 3] - x[..., :-1, 3], x[..., :-1, 1]], -1)
    return nxt - feet[..., :-1, :, :] + step[..., None, :]


def contact_loss(x: torch.Tensor, local: torch.Tensor, contact: torch.Tensor) -> torch.Tensor:
    """Mean foot displacement (metres / frame) over in-contact frame pairs (RopeTP Eq. 10).

    contact: (..., T, 4) bool or probabilities. Returns a scalar (0 when nothing is in contact).
    """
    c = contact.to(x.dtype)
    w = c[..., 1:, :] * c[..., :-1, :]
    d = torch.sqrt((foot_slide(x, local) ** 2).sum(-1) + 1e-12)
    return (d * w).sum() / w.sum().clamp_min(1.0)
