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
cross-attention refinement (§3.3.3) lives in `fit/motion_refine.py` (skeleton evidence instead of image
features; a benchmark row, not the default: it halves Accel but costs MPJPE, see weights/arts_refine.md).
"""

from __future__ import annotations

import numpy as np
import roma
import torch

from ..skeleton import forward_kinematics
from .shape import clamp_shape


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
            s.copy_(clamp_shape(model, s))
    _, delta, s = best
    with torch.no_grad():
        R = R0 @ roma.rotvec_to_rotmat(delta)
    return R.detach(), s.detach()


def fit_to_joints_many(model, items, iters: int = 60, lr: float = 0.02, w_delta: float = 1e-3,
                       w_shape: float = 1e-3, fit_shape: bool = True, chunk: int = 1024):
    """:func:`fit_to_joints` for several tracks at once (speed): ``items`` is a list of
    ``(joints, rot0, shape0, weights)``; returns a list of ``(rotmats, shape)``.

    Each track keeps its own parameters, loss, learning rates, best iterate and clamping (the total
    loss is the sum of the tracks' losses, which share no parameter), so the result is the
    per-track fit; only the forward kinematics run once on all frames, which removes the
    per-track cost of ~100 small torch ops per iteration.

    ``chunk``: the frames (of all tracks, in order) go through the forward kinematics and the backward
    pass ``chunk`` at a time, the gradient accumulated span by span (every term is a sum over frames,
    so it is the same gradient; the autograd graph, hence memory, stays bounded whatever the length);
    0: all frames in one graph."""
    if not items:
        return []
    Js, R0s, s0s, ws, deltas, ss, scales, groups = [], [], [], [], [], [], [], []
    for joints, rot0, shape0, weights in items:
        J = torch.as_tensor(np.asarray(joints), dtype=torch.float32) if not isinstance(joints, torch.Tensor) \
            else joints.detach().float()
        J = J - J[:, :1]
        s0 = torch.as_tensor(shape0).detach().float().reshape(-1)
        Js.append(J)
        R0s.append(torch.as_tensor(rot0).detach().float())
        s0s.append(s0)
        ws.append(torch.ones(J.shape[:2]) if weights is None else torch.as_tensor(np.asarray(weights), dtype=torch.float32))
        deltas.append(torch.zeros(J.shape[0], 24, 3, requires_grad=True))
        ss.append(s0.clone().requires_grad_(fit_shape))
        scales.append(float(s0.abs().max().clamp_min(1.0)))
    groups = [{"params": deltas, "lr": lr * 0.2}]
    if fit_shape:
        groups += [{"params": [s], "lr": lr * sc} for s, sc in zip(ss, scales)]
    opt = torch.optim.Adam(groups)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(iters, 1))
    K = len(items)
    T = [J.shape[0] for J in Js]
    best = [(float("inf"), d.detach().clone(), s.detach().clone()) for d, s in zip(deltas, ss)]
    w_sums = [w.sum() for w in ws]
    spans = frame_spans(T, chunk)
    for it in range(iters + 1):
        with torch.enable_grad():
            rest = [model.rest_joints(s[None])[0].float() for s in ss]           # as the single fit does
            rest = [r - r[:1] for r in rest]
            # the spans' graphs start at the rest joints (their gradient is summed over the spans, then
            # carried back to the shapes once)
            rest_in = [r.detach().requires_grad_(fit_shape) for r in rest]
            vals = [0.0] * K
            for span in spans:       # span: [(track, first frame, end frame), ...] of consecutive frames
                # the span's start rotations cut from each track's (no copy of all tracks' frames at once)
                R0 = R0s[span[0][0]][span[0][1]:span[0][2]] if len(span) == 1 else \
                    torch.cat([R0s[k][a:b] for k, a, b in span])
                R = R0 @ roma.rotvec_to_rotmat(torch.cat([deltas[k][a:b] for k, a, b in span]))
                rest_f = torch.cat([rest_in[k].expand(b - a, 24, 3) for k, a, b in span])
                _, pos = forward_kinematics(R, rest_f)
                losses = []
                for (k, a, b), p in zip(span, torch.split(pos, [b - a for _, a, b in span])):
                    err = ((p - Js[k][a:b]) ** 2).sum(-1)
                    data = (err * ws[k][a:b]).sum() / w_sums[k]
                    d2 = (deltas[k][a:b] ** 2).sum(-1)
                    # the mean over the track's (frames, joints): as one graph when the span holds the track
                    loss = data + w_delta * (d2.mean() if (a, b) == (0, T[k]) else d2.sum() / (T[k] * d2.shape[1]))
                    if a == 0:   # the shape term once per track
                        loss = loss + w_shape * ((ss[k] - s0s[k]) ** 2).sum() / scales[k] ** 2
                    losses.append(loss)
                for (k, _, _), v in zip(span, torch.stack(losses).tolist()):
                    vals[k] += v
                if it < iters:
                    torch.stack(losses).sum().backward()
            for k, v in enumerate(vals):  # keep each track's best iterate (never worse than the IK start)
                if v < best[k][0]:   # copied into the best iterate's own tensors (no second copy held)
                    best[k][1].copy_(deltas[k].detach())
                    best[k][2].copy_(ss[k].detach())
                    best[k] = (v, best[k][1], best[k][2])
            if it == iters:
                break
            if fit_shape:
                torch.autograd.backward([r for r, g in zip(rest, rest_in) if g.grad is not None],
                                        [g.grad for g in rest_in if g.grad is not None])
            opt.step()
            opt.zero_grad()
            sched.step()
        with torch.no_grad():
            for s in ss:
                s.copy_(clamp_shape(model, s))
    # the optimiser's moments, the parameters and their gradients (4 x (T,24,3) per track) are not needed
    # for the result (the best iterate has its own copy): freed before it is allocated
    del opt, sched, groups
    deltas.clear()
    out = []
    for k, (_, delta, s) in enumerate(best):
        with torch.no_grad():   # chunk frames at a time into the result (frame-wise: the same numbers)
            R = torch.empty_like(R0s[k])
            step = chunk if chunk and chunk > 0 else max(T[k], 1)
            for a in range(0, T[k], step):
                torch.matmul(R0s[k][a:a + step], roma.rotvec_to_rotmat(delta[a:a + step]), out=R[a:a + step])
        out.append((R, s.detach()))
    return out


def frame_spans(T: list[int], chunk: int) -> list[list[tuple[int, int, int]]]:
    """The frames of several tracks, concatenated in order, cut into spans of ``chunk`` frames.

    Args:
        T: the tracks' lengths (frames).
        chunk: frames per span (0 or less: one span).
    Returns:
        The spans in order, each a list of ``(track, first frame, end frame)`` pieces.
    """
    N = sum(T)
    chunk = chunk if chunk and chunk > 0 else max(N, 1)
    spans, cur, room = [], [], chunk
    for k, n in enumerate(T):
        a = 0
        while a < n:
            b = min(n, a + room)
            cur.append((k, a, b))
            room -= b - a
            a = b
            if room == 0:
                spans.append(cur)
                cur, room = [], chunk
    if cur:
        spans.append(cur)
    return spans
