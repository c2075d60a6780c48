"""Skeleton disentanglement: joints J, time-averaged bone lengths B, motion M.

Seed: ARTS §3.2.2, Eq. 2–3.

    M_t = { S_t - S_{t-1} }_{t=2..T},   M_0 = avg_t(M_t),   M = concat[M_0, M_t]        (Eq. 2)
    B_n = 1/T · sum_t || S_{t,i} - S_{t,j} ||   for bone n = (parent i, child j)          (Eq. 3)

J is the joint sequence itself. B carries the (time-consistent) body shape and feeds
:mod:`unveil.fit.shape`; J feeds the IK (:mod:`unveil.fit.ik`); M is the motion query of the
refinement (:mod:`unveil.fit.refine`). Bone order is SMPL-24 child order (``skeleton.SMPL24_BONES``:
bone n joins joint n+1 to its parent). ``weights`` (T,) or (T,24) optionally down-weight frames or
joints (e.g. occluded ones) in the average of Eq. 3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..skeleton import SMPL24_PARENTS


@dataclass
class Disentangled:
    joints: np.ndarray        # (T, 24, 3)  J
    bone_lengths: np.ndarray  # (23,)       B
    motion: np.ndarray        # (T, 24, 3)  M


def motion(joints: np.ndarray) -> np.ndarray:
    """Eq. 2: (..., T, J, 3) -> (..., T, J, 3) frame differences with their mean prepended."""
    joints = np.asarray(joints)
    if joints.shape[-3] < 2:
        return np.zeros_like(joints)
    d = np.diff(joints, axis=-3)
    return np.concatenate([d.mean(axis=-3, keepdims=True), d], axis=-3)


def bone_lengths(joints: np.ndarray, weights: np.ndarray | None = None, parents=SMPL24_PARENTS,
                 robust: bool = False) -> np.ndarray:
    """Eq. 3: (..., T, J, 3) -> (..., J-1) time-averaged bone lengths.

    weights: (T,) per-frame or (T, J) per-joint confidences (a bone uses the smaller of its two
    joints' weights). ``robust`` uses the weighted median instead of the mean (noisy inputs).
    """
    joints = np.asarray(joints, dtype=np.float64)
    idx = [c for c, p in enumerate(parents) if p >= 0]
    par = [parents[c] for c in idx]
    L = np.linalg.norm(joints[..., idx, :] - joints[..., par, :], axis=-1)  # (..., T, N)
    if weights is None:
        w = np.ones_like(L)
    else:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.ndim == joints.ndim - 2:  # per frame
            w = np.broadcast_to(weights[..., None], L.shape)
        else:
            w = np.minimum(weights[..., idx], weights[..., par])
    w = np.maximum(w, 1e-6)
    if robust:
        return _weighted_median(L, w)
    return (L * w).sum(-2) / w.sum(-2)


def _weighted_median(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    order = np.argsort(x, axis=-2)
    xs = np.take_along_axis(x, order, -2)
    ws = np.take_along_axis(w, order, -2)
    cw = np.cumsum(ws, axis=-2)
    half = cw[..., -1:, :] / 2
    k = (cw < half).sum(-2, keepdims=True)
    return np.take_along_axis(xs, k, -2)[..., 0, :]


def disentangle(joints: np.ndarray, weights: np.ndarray | None = None, robust: bool = False) -> Disentangled:
    """(T, 24, 3) joints -> Disentangled(J, B, M) (ARTS Eq. 2–3)."""
    joints = np.asarray(joints, dtype=np.float32)
    return Disentangled(joints=joints,
                        bone_lengths=bone_lengths(joints, weights, robust=robust).astype(np.float32),
                        motion=motion(joints).astype(np.float32))
