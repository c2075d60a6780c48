"""Canonicalised frame-to-frame root motion (MoRo, Eq. 2), yaw-only.

MoRo Eq. 2 writes each frame's global motion in the previous frame's body frame::

    Phi_cano^t = (Phi^t)^-1 Phi^(t+1),      gamma_cano^t = (Phi^t)^-1 (gamma^(t+1) - gamma^t)

so the trajectory representation no longer depends on where the sequence starts or which way it
faces. Here ``Phi^t`` is reduced to the body's *heading* (a rotation about the world Y axis by the
yaw ``theta_t``): gravity is known in a Y-up world, only the heading is arbitrary. Per frame ``t``
the canonical trajectory ``x_t`` (``CHANNELS``) is

    dx, dz  = R_y(-theta_t) (r_{t+1} - r_t) horizontal components (m / frame)
    dyaw    = wrap(theta_{t+1} - theta_t)                            (rad / frame)
    height  = r_t . y                                                (m above the floor)

(the last frame repeats the previous frame's motion), and the *local* joints, root-relative and
heading-free, are ``L_t = R_y(-theta_t) (J_t - r_t)``. :func:`integrate` inverts it: starting
from ``theta_0`` and the first root position it accumulates yaw and the rotated steps.

The heading ``theta`` is the facing direction ``f = left x up`` with ``left = (L_hip - R_hip) +
(L_shoulder - R_shoulder)`` projected on the floor; ``theta = atan2(f_x, f_z)`` (SMPL rest pose
faces +Z: theta = 0). Everything is torch (differentiable, leading batch dims); numpy arrays are
accepted and returned as numpy.
"""

from __future__ import annotations

import numpy as np
import torch

from ..skeleton import SMPL24_INDEX

CHANNELS = ("dx", "dz", "dyaw", "height")
_LH, _RH = SMPL24_INDEX["L_hip"], SMPL24_INDEX["R_hip"]
_LS, _RS = SMPL24_INDEX["L_shoulder"], SMPL24_INDEX["R_shoulder"]


def _t(x):
    return (torch.from_numpy(np.asarray(x, np.float64)), True) if not torch.is_tensor(x) else (x, False)


def _out(x, was_np):
    return x.detach().cpu().numpy().astype(np.float32) if was_np else x


def wrap(a):
    """Angles wrapped to (-pi, pi]."""
    return torch.atan2(torch.sin(a), torch.cos(a))


def rot_y(theta: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation about +Y by ``theta`` (maps +Z to (sin, 0, cos))."""
    c, s = torch.cos(theta), torch.sin(theta)
    z, o = torch.zeros_like(theta), torch.ones_like(theta)
    return torch.stack([torch.stack([c, z, s], -1), torch.stack([z, o, z], -1),
                        torch.stack([-s, z, c], -1)], -2)


def heading(joints):
    """(..., T, 24, 3) world joints -> (..., T) yaw of the body's facing direction."""
    j, was_np = _t(joints)
    left = (j[..., _LH, :] - j[..., _RH, :]) + (j[..., _LS, :] - j[..., _RS, :])
    # f = left x up, up = +Y:  f = (-left_z, 0, left_x)
    th = torch.atan2(-left[..., 2], left[..., 0])
    return _out(th, was_np)


def canonicalize(joints_world):
    """World joints (..., T, 24, 3) -> (x (..., T, 4) canonical trajectory, local (..., T, 24, 3)).

    Also returns the anchor ``(theta_0 (...,), root_0 (..., 3))`` needed by :func:`integrate`.
    """
    j, was_np = _t(joints_world)
    th = heading(j)
    root = j[..., 0, :]
    Rinv = rot_y(-th)                                                    # (..., T, 3, 3)
    local = torch.einsum("...ij,...kj->...ki", Rinv, j - root[..., None, :])
    step = root[..., 1:, :] - root[..., :-1, :]
    step_c = torch.einsum("...ij,...j->...i", Rinv[..., :-1, :, :], step)
    dyaw = wrap(th[..., 1:] - th[..., :-1])
    mot = torch.cat([step_c[..., [0, 2]], dyaw[..., None]], -1)          # (..., T-1, 3)
    mot = torch.cat([mot, mot[..., -1:, :]], -2) if mot.shape[-2] else torch.zeros_like(root)
    x = torch.cat([mot, root[..., 1:2]], -1)
    return _out(x, was_np), _out(local, was_np), (_out(th[..., 0], was_np), _out(root[..., 0, :], was_np))


def integrate(x, theta0=0.0, root0=None):
    """Canonical trajectory (..., T, 4) -> (root (..., T, 3) world, theta (..., T)).

    ``theta0``: heading of frame 0; ``root0``: (..., 3) position of frame 0 (only its x, z are
    used; the height comes from ``x``). Defaults: facing +Z at the origin.
    """
    x, was_np = _t(x)
    th0 = torch.as_tensor(np.asarray(theta0) if not torch.is_tensor(theta0) else theta0, dtype=x.dtype)
    th0 = th0.expand(x.shape[:-2])
    dyaw = x[..., :-1, 2]
    th = torch.cat([th0[..., None], th0[..., None] + torch.cumsum(dyaw, -1)], -1)
    R = rot_y(th[..., :-1])
    step = torch.stack([x[..., :-1, 0], torch.zeros_like(dyaw), x[..., :-1, 1]], -1)
    step_w = torch.einsum("...ij,...j->...i", R, step)
    xz = torch.cumsum(step_w, -2)
    xz = torch.cat([torch.zeros_like(xz[..., :1, :]), xz], -2)
    if root0 is not None:
        r0 = torch.as_tensor(np.asarray(root0) if not torch.is_tensor(root0) else root0, dtype=x.dtype)
        xz = xz + (r0 * torch.tensor([1.0, 0.0, 1.0], dtype=x.dtype))[..., None, :]
    root = torch.stack([xz[..., 0], x[..., 3], xz[..., 2]], -1)
    return _out(root, was_np), _out(th, was_np)


def uncanonicalize(x, local, theta0=0.0, root0=None):
    """Inverse of :func:`canonicalize`: (x (..., T, 4), local (..., T, 24, 3)) -> world joints."""
    x, was_np = _t(x)
    local, _ = _t(local)
    root, th = integrate(x, theta0, root0)
    j = torch.einsum("...ij,...kj->...ki", rot_y(th), local.to(x.dtype)) + root[..., None, :]
    return _out(j, was_np)
