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
from scipy.linalg import solveh_banded

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


def root_normal_equations(X: np.ndarray, xn: np.ndarray, yn: np.ndarray, w: np.ndarray, smooth: float = 1.0,
                          depth_prior: float = 4.0, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """The normal equations of :func:`root_translation`'s least squares, as a banded matrix.

    The unknowns are ordered ``(t_0x, t_0y, t_0z, t_1x, ...)``. A frame's projection rows touch
    only its own three unknowns and the second-difference prior couples frames at most two apart,
    so the (3T, 3T) normal matrix has 6 sub-diagonals (2 when T < 3: no prior) and is written in
    LAPACK's lower band storage, ``ab[i - j, j] = N[i, j]``, O(T) memory.

    Args:
        X: (T, B, 3) the body joints relative to the root (camera axes, metres).
        xn, yn: (T, B) the detections in normalised image coordinates.
        w: (T, B) the rows' weights (0: no row; the coordinates of those entries are not read).
        smooth: weight of the second-difference prior; depth_prior: see :func:`root_translation`.
        chunk: frames per step of the rows' sums (0: all at once; the same numbers).

    Returns:
        (ab (u+1, 3T) float64 with u = 6 for T ≥ 3 else 2, rhs (3T,) float64).
    """
    X = np.asarray(X)
    if X.ndim != 3 or X.shape[2] != 3:
        raise ValueError(f"X must be (T, B, 3), got {X.shape}")
    T, B = X.shape[:2]
    for name, a in (("xn", xn), ("yn", yn), ("w", w)):
        if np.shape(a) != (T, B):
            raise ValueError(f"{name} must be ({T}, {B}) like X, got {np.shape(a)}")
    u = 6 if T >= 3 else 2
    ab = np.zeros((u + 1, 3 * T))
    rhs = np.zeros(3 * T)
    diag = ab[0].reshape(T, 3)
    rz = rhs.reshape(T, 3)
    # the projection rows' sums per frame, `chunk` frames at a time (float64 temporaries bounded; each
    # frame's sums are the same whatever the chunk)
    step = int(chunk) if chunk and chunk > 0 else max(T, 1)
    for a in range(0, T, step):
        sl = slice(a, a + step)
        Xc = np.asarray(X[sl], dtype=np.float64)
        wc = np.asarray(w[sl], dtype=np.float64)
        keep = wc > 0
        q = np.where(keep, wc, 0.0) ** 2                                        # the rows are weighted by w
        for axis, coord in ((0, xn), (1, yn)):
            c = np.where(keep, np.asarray(coord[sl], dtype=np.float64), 0.0)
            r = np.where(keep, c * Xc[..., 2] - Xc[..., axis], 0.0)             # the row's right-hand side / w
            diag[sl, axis] += q.sum(1)
            ab[2 - axis].reshape(T, 3)[sl, axis] -= (q * c).sum(1)              # N[3t+2, 3t+axis]
            diag[sl, 2] += (q * c * c).sum(1)
            rz[sl, axis] += (q * r).sum(1)
            rz[sl, 2] -= (q * c * r).sum(1)
    if T >= 3:   # smooth² DᵀD per coordinate, D the (T-2, T) second difference (1, -2, 1)
        s2 = float(smooth) ** 2
        d0 = np.zeros(T)
        d0[:-2] += 1.0
        d0[1:-1] += 4.0
        d0[2:] += 1.0
        d1 = np.zeros(T - 1)
        d1[:-1] -= 2.0
        d1[1:] -= 2.0
        diag += s2 * d0[:, None]
        ab[3, :3 * (T - 1)] = np.repeat(s2 * d1, 3)
        ab[6, :3 * (T - 2)] = s2
    eps = 1e-3   # weak prior keeping an unconstrained track in front of the camera
    diag[:, 2] += eps * eps
    rz[:, 2] += eps * eps * depth_prior
    return ab, rhs


def root_translation(joints_rel: np.ndarray, keypoints2d: np.ndarray, camera: Camera,
                     min_conf: float = 0.3, smooth: float = 1.0, depth_prior: float = 4.0,
                     solver: str = "banded") -> np.ndarray:
    """Camera-frame root (pelvis) positions (T, 3) for a track.

    joints_rel: (T, 24, 3) SMPL-24 joints, camera axes, pelvis at the origin (metres).
    keypoints2d: (T, 17, 3) COCO-17 pixels + confidence (the body keypoints are used; face points
        are skipped because no SMPL-24 joint sits there).
    smooth: weight of the second-difference prior, in units of normalised image coordinates per
        metre of acceleration (1.0 suits 25-60 fps video).
    depth_prior: depth (m) used, with a tiny weight, only where a whole stretch has no evidence.
    solver: "banded" (default): the normal equations in band storage (:func:`root_normal_equations`)
        by a banded Cholesky, O(T) memory; "sparse": the sparse least-squares system solved by
        SuperLU (the earlier solver: the same solution to rounding; the evidence fit's root solve on
        10,000 frames peaked at +71 MB with it, +10.5 MB banded, docs/batch.md "Fourth pass"). A banded
        matrix that is not positive definite (the root undetermined, e.g. a frame without keypoints
        and no prior to bridge it) goes to the sparse solver, as before.
    """
    joints_rel = np.asarray(joints_rel)
    kp = np.asarray(keypoints2d)
    if joints_rel.ndim != 3 or joints_rel.shape[1:] != (24, 3):
        raise ValueError(f"joints_rel must be (T, 24, 3), got {joints_rel.shape}")
    if kp.ndim != 3 or kp.shape[1] != 17 or kp.shape[0] != joints_rel.shape[0]:
        raise ValueError(f"keypoints2d must be (T, 17, 3) matching joints, got {kp.shape}")
    # the body points only, in float64 (the joints: per chunk in root_normal_equations; no float64
    # copy of every frame's 24 joints / 17 keypoints)
    X = joints_rel[:, _BODY_J]                          # (T, B, 3)
    kb = kp[:, _BODY].astype(np.float64)                # (T, B, 3)
    xn = (kb[..., 0] - camera.cx) / camera.focal        # (T, B)
    yn = (kb[..., 1] - camera.cy) / camera.focal
    w = np.where(kb[..., 2] >= min_conf, kb[..., 2], 0.0)
    del kb
    return root_from_rows(X, xn, yn, w, smooth, depth_prior, solver)


def root_from_rows(X: np.ndarray, xn: np.ndarray, yn: np.ndarray, w: np.ndarray, smooth: float = 1.0,
                   depth_prior: float = 4.0, solver: str = "banded") -> np.ndarray:
    """:func:`root_translation` from the body joints, normalised detections and row weights
    (:func:`root_normal_equations`' arguments; ``solver`` as in :func:`root_translation`).

    Returns:
        (T, 3) float32 root positions, depth at least 0.1 m.
    """
    if solver not in ("banded", "sparse"):
        raise ValueError(f"solver must be 'banded' or 'sparse', got {solver!r}")
    if solver == "banded":
        t = solve_root_banded(X, xn, yn, w, smooth, depth_prior)
        if t is not None:
            return t
    return _root_translation_sparse(np.asarray(X, np.float64), np.asarray(xn, np.float64),
                                    np.asarray(yn, np.float64), np.asarray(w, np.float64), smooth, depth_prior)


def solve_root_banded(X: np.ndarray, xn: np.ndarray, yn: np.ndarray, w: np.ndarray, smooth: float = 1.0,
                      depth_prior: float = 4.0) -> np.ndarray | None:
    """:func:`root_from_rows` by a banded Cholesky solve of the normal equations.

    Returns:
        (T, 3) float32 root positions (depth at least 0.1 m), or None when the normal matrix is not
        positive definite (the root is not determined by the rows and the prior).
    """
    T = len(X)
    ab, rhs = root_normal_equations(X, xn, yn, w, smooth, depth_prior)
    try:
        sol = solveh_banded(ab, rhs, overwrite_ab=True, overwrite_b=True, lower=True, check_finite=False)
    except np.linalg.LinAlgError:   # not positive definite
        return None
    if not np.isfinite(sol).all():
        return None
    t = sol.reshape(T, 3)
    t[:, 2] = np.maximum(t[:, 2], 0.1)
    return t.astype(np.float32)


def _root_translation_sparse(X: np.ndarray, xn: np.ndarray, yn: np.ndarray, w: np.ndarray, smooth: float,
                             depth_prior: float) -> np.ndarray:
    """The least squares of :func:`root_translation` as one sparse system solved by SuperLU."""
    T, B = X.shape[:2]

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
