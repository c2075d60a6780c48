"""Root translation in the camera frame from root-relative 3D joints and 2D keypoints.

For a static pinhole camera, the root translation ``t`` of frame ``i`` makes the projected joints
``pi(X_k + t)`` match the detected 2D keypoints ``u_k``. Written in normalised coordinates
``x_k = (u_k - c) / f`` the reprojection constraint is linear in ``t`` (the DLT trick used by
MoPO/WHAM-style camera-space roots):

    t_x - x_k t_z = x_k Z_k - X_k,      t_y - y_k t_z = y_k Z_k - Y_k

Every frame contributes these rows, weighted by the keypoint confidence; a second-difference
smoothness term couples frames (a constant-velocity prior, the smallest useful trajectory prior),
so frames with few or no confident keypoints are filled in from their neighbours. One sparse
least-squares solve gives the whole track.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..skeleton import COCO17_TO_SMPL24
from ..types import Camera

_BODY = [k for k, j in enumerate(COCO17_TO_SMPL24) if j >= 0]
_BODY_J = [COCO17_TO_SMPL24[k] for k in _BODY]


def frame_confidence(keypoints2d: np.ndarray) -> np.ndarray:
    """Per-frame confidence of a 2D track (the weight the trajectory refinement gives each frame).

    Args:
        keypoints2d: (T, 17, 3) COCO-17 keypoints ``(u, v, confidence)``.

    Returns:
        (T,) mean confidence of the 12 body keypoints (shoulders .. ankles), clipped to [0, 1].
    """
    return np.clip(np.asarray(keypoints2d)[:, 5:, 2].mean(-1), 0.0, 1.0)


def root_translation(joints_rel: np.ndarray, keypoints2d: np.ndarray, camera: Camera,
                     min_conf: float = 0.3, smooth: float = 1.0, depth_prior: float = 4.0) -> np.ndarray:
    """Camera-frame root (pelvis) positions (T, 3) for a track.

    joints_rel: (T, 24, 3) SMPL-24 joints, camera axes, pelvis at the origin (metres).
    keypoints2d: (T, 17, 3) COCO-17 pixels + confidence (the body keypoints are used; face points
        are skipped because no SMPL-24 joint sits there).
    smooth: weight of the second-difference prior, in units of normalised image coordinates per
        metre of acceleration (1.0 suits 25-60 fps video).
    depth_prior: depth (m) used, with a tiny weight, only where a whole stretch has no evidence.
    """
    joints_rel = np.asarray(joints_rel, dtype=np.float64)
    kp = np.asarray(keypoints2d, dtype=np.float64)
    if joints_rel.ndim != 3 or joints_rel.shape[1:] != (24, 3):
        raise ValueError(f"joints_rel must be (T, 24, 3), got {joints_rel.shape}")
    if kp.ndim != 3 or kp.shape[1] != 17 or kp.shape[0] != joints_rel.shape[0]:
        raise ValueError(f"keypoints2d must be (T, 17, 3) matching joints, got {kp.shape}")
    T = joints_rel.shape[0]
    X = joints_rel[:, _BODY_J]                          # (T, B, 3)
    xn = (kp[:, _BODY, 0] - camera.cx) / camera.focal    # (T, B)
    yn = (kp[:, _BODY, 1] - camera.cy) / camera.focal
    w = np.where(kp[:, _BODY, 2] >= min_conf, kp[:, _BODY, 2], 0.0)
    B = len(_BODY)

    rows, cols, vals, rhs = [], [], [], []
    r = 0
    fr = np.repeat(np.arange(T), B)
    for axis, coord in ((0, xn), (1, yn)):
        c = coord.reshape(-1)
        ww = w.reshape(-1)
        keep = ww > 0
        n = int(keep.sum())
        idx = np.arange(n) + r
        f = fr[keep]
        rows += [idx, idx]
        cols += [3 * f + axis, 3 * f + 2]
        vals += [ww[keep], -c[keep] * ww[keep]]
        b = (c * X[..., 2].reshape(-1) - X[..., axis].reshape(-1))[keep] * ww[keep]
        rhs.append(b)
        r += n
    # smoothness: t[i-1] - 2 t[i] + t[i+1] = 0
    if T >= 3:
        for d in range(3):
            i = np.arange(1, T - 1)
            idx = np.arange(T - 2) + r
            rows += [idx, idx, idx]
            cols += [3 * (i - 1) + d, 3 * i + d, 3 * (i + 1) + d]
            vals += [np.full(T - 2, smooth), np.full(T - 2, -2 * smooth), np.full(T - 2, smooth)]
            rhs.append(np.zeros(T - 2))
            r += T - 2
    # weak prior keeping an unconstrained track in front of the camera
    eps = 1e-3
    idx = np.arange(T) + r
    rows += [idx]
    cols += [3 * np.arange(T) + 2]
    vals += [np.full(T, eps)]
    rhs.append(np.full(T, eps * depth_prior))
    r += T
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(r, 3 * T))
    b = np.concatenate(rhs)
    sol = spla.spsolve((A.T @ A).tocsc(), A.T @ b)
    t = sol.reshape(T, 3)
    t[:, 2] = np.maximum(t[:, 2], 0.1)
    return t.astype(np.float32)
