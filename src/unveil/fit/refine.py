"""Final mesh fit: one shared shape + per-frame rotations whose SMPL-24 joints match the targets.

Seed: MoRo supplementary §B (fit one shared shape per sequence so the mesh's joints match the
predicted joints; MoRo uses smplfitter) — here an equivalent small torch optimisation that works for
every :class:`unveil.body.base.BodyModel` (Anny-SMPL, native Anny, user SMPL files), because the
interface defines the posed joints as forward kinematics of ``rest_joints(shape)``:

    min_{β, δ}  Σ_t || FK(R⁰_t · exp(δ_t), J_rest(β)) − (J_t − J_t,root) ||²
              + λ_δ Σ |δ|²  +  λ_β |β − β⁰|²

R⁰ are the IK rotations (FIK/TIK; they keep their twist because δ is pulled to zero), β⁰ the
bone-guided shape. Only the joint positions are matched (no vertices are evaluated), so it costs
a few milliseconds per iteration for a few hundred frames. ARTS' learned motion-centric
cross-attention refinement (§3.3.3, Eq. 10) needs image features we do not have: not implemented.
"""

from __future__ import annotations

import numpy as np
import roma
import torch

from ..skeleton import forward_kinematics
from .shape import _clamp


def fit_to_joints(model, joints, rot0, shape0, iters: int = 60, lr: float = 0.02, w_delta: float = 1e-3,
                  w_shape: float = 1e-3, weights=None, fit_shape: bool = True):
    """joints (T, 24, 3) targets, rot0 (T, 24, 3, 3), shape0 (S,) -> (rotmats (T,24,3,3) float32,
    shape (S,) float32). ``weights`` (T, 24) optional per-joint confidences."""
    J = torch.as_tensor(np.asarray(joints), dtype=torch.float32) if not isinstance(joints, torch.Tensor) \
        else joints.detach().float()
    J = J - J[:, :1]
    R0 = torch.as_tensor(rot0).detach().float()
    s0 = torch.as_tensor(shape0).detach().float().reshape(-1)
    w = torch.ones(J.shape[:2]) if weights is None else torch.as_tensor(np.asarray(weights), dtype=torch.float32)
    delta = torch.zeros(J.shape[0], 24, 3, requires_grad=True)
    s = s0.clone().requires_grad_(fit_shape)
    scale = float(s0.abs().max().clamp_min(1.0))
    groups = [{"params": [delta], "lr": lr * 0.2}]
    if fit_shape:
        groups.append({"params": [s], "lr": lr * scale})
    opt = torch.optim.Adam(groups)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(iters, 1))
    best = (float("inf"), delta.detach().clone(), s.detach().clone())
    for it in range(iters + 1):
        with torch.enable_grad():
            rest = model.rest_joints(s[None])[0].float()
            rest = rest - rest[:1]
            R = R0 @ roma.rotvec_to_rotmat(delta)
            _, pos = forward_kinematics(R, rest.expand(J.shape[0], 24, 3))
            err = ((pos - J) ** 2).sum(-1)
            data = (err * w).sum() / w.sum()
            loss = data + w_delta * (delta ** 2).sum(-1).mean() + w_shape * ((s - s0) ** 2).sum() / scale ** 2
            if loss.item() < best[0]:  # keep the best iterate (never worse than the IK start)
                best = (loss.item(), delta.detach().clone(), s.detach().clone())
            if it == iters:
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        with torch.no_grad():
            s.copy_(_clamp(model, s))
    _, delta, s = best
    with torch.no_grad():
        R = R0 @ roma.rotvec_to_rotmat(delta)
    return R.detach(), s.detach()
