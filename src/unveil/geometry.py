"""Small numerical helpers shared by the runtime, the exports and the benchmarks (one copy each).

- :func:`rigid_fit`: the Kabsch / Umeyama rotation + translation (no scale) between two point sets,
  :math:`\\min_{R \\in SO(3), t} \\sum_i \\lVert R x_i + t - y_i \\rVert^2`, solved by the SVD of the
  cross-covariance :math:`H = \\sum_i (x_i - \\bar x)(y_i - \\bar y)^T = U S V^T`,
  :math:`R = V \\operatorname{diag}(1, 1, \\det(V U^T)) U^T`, :math:`t = \\bar y - R \\bar x`.
  ``roma.rigid_points_registration`` solves the same problem in torch; it is not used here because
  its result differs from this one in the last bits (float64 torch SVD vs LAPACK), and this one
  writes ``cam_to_world_R`` / ``cam_to_world_t`` of ``tracks/<id>.npz``.
- :func:`vertex_normals`: area-weighted vertex normals of a triangle mesh.
- :func:`savgol_time` / :func:`savgol_joints`: a Savitzky–Golay filter along time with the window
  shortened to the sequence (the second one for root-relative joints).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import savgol_filter


def rigid_fit(src, dst) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares proper rotation and translation (Kabsch, no scale) with ``dst ~ R src + t``.

    Args:
        src, dst: (..., 3) point sets of the same size (flattened to (N, 3)); rows with a non-finite
            value in either set are left out.

    Returns:
        R (3, 3) float64 with det +1, t (3,) float64.

    Raises:
        ValueError: the two sets differ in size or are not 3D points.
    """
    # one float64 copy of each set, centred in place (a long track's joints: no further copies)
    src = np.array(src, np.float64)
    dst = np.array(dst, np.float64)
    if src.shape[-1:] != (3,) or src.size != dst.size or dst.shape[-1:] != (3,):
        raise ValueError(f"rigid_fit needs two (N, 3) point sets of one size, got {src.shape} and {dst.shape}")
    src, dst = src.reshape(-1, 3), dst.reshape(-1, 3)
    ok = np.isfinite(src).all(1) & np.isfinite(dst).all(1)
    if not ok.all():
        src, dst = src[ok], dst[ok]
    ms, md = src.mean(0), dst.mean(0)
    src -= ms
    dst -= md
    U, _, Vt = np.linalg.svd(src.T @ dst)
    d = np.sign(np.linalg.det(Vt.T @ U.T)) or 1.0
    R = Vt.T @ np.diag([1.0, 1.0, d]) @ U.T
    return R, md - R @ ms


def vertex_normals(vertices, faces, fallback=None, dtype=np.float64) -> np.ndarray:
    """Area-weighted vertex normals of a triangle mesh (faces counter-clockwise seen from outside in
    a right-handed frame): the sum of the incident faces' cross products, normalised.

    Args:
        vertices: (V, 3) positions. faces: (F, 3) vertex indices.
        fallback: (3,) normal for a vertex whose sum has length <= 1e-12 (default: left at 0).
        dtype: precision of the sums (the GLB writer sums its float32 positions in float32).

    Returns:
        (V, 3) float32 unit normals.
    """
    v = np.asarray(vertices, dtype=dtype)
    f = np.asarray(faces)
    if v.ndim != 2 or v.shape[1] != 3 or f.ndim != 2 or f.shape[1] != 3:
        raise ValueError(f"vertex_normals needs (V, 3) vertices and (F, 3) faces, got {v.shape}, {f.shape}")
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    ln = np.linalg.norm(n, axis=-1, keepdims=True)
    if fallback is None:
        n /= np.maximum(ln, 1e-12)
    else:
        n = np.where(ln > 1e-12, n / np.where(ln > 1e-12, ln, 1.0), np.asarray(fallback, np.float64))
    return n.astype(np.float32)


def savgol_window(length: int, window: int, order: int = 2) -> int:
    """The Savitzky–Golay window used on ``length`` samples: ``window`` shortened to the longest odd
    length that fits; 0 when that is not above ``order`` (the filter is then a no-op)."""
    w = min(int(window), length if length % 2 else length - 1)
    return w if w > order else 0


def savgol_time(x: np.ndarray, window: int, order: int = 2, axis: int = 0, dtype=None) -> np.ndarray:
    """Savitzky–Golay smoothing (polynomial ``order``) along ``axis``, window from :func:`savgol_window`.

    Args:
        x: (..., T, ...) samples along ``axis``.
        dtype: of the result (default ``x``'s).

    Returns:
        An array of ``x``'s shape: the filtered samples, or a copy of ``x`` when the sequence is too
        short to filter.
    """
    x = np.asarray(x)
    w = savgol_window(x.shape[axis], window, order)
    if not w:
        return x.astype(dtype or x.dtype, copy=True)
    return savgol_filter(x, w, order, axis=axis).astype(dtype or x.dtype)


def savgol_joints(joints: np.ndarray, window: int, order: int = 2) -> np.ndarray:
    """Savitzky–Golay smoothing of a (T, J, 3) joint sequence along time, then root-relative.

    Returns:
        (T, J, 3) float32 with joint 0 at the origin; ``joints`` itself when ``T`` is too short to
        filter (:func:`savgol_window`).
    """
    if not savgol_window(len(joints), window, order):
        return joints
    out = savgol_time(joints, window, order, dtype=np.float32)
    return out - out[:, :1]


__all__ = ["rigid_fit", "vertex_normals", "savgol_window", "savgol_time", "savgol_joints"]
