"""A gravity-aligned world frame for a static camera, from the people it sees.

With a static, uncalibrated camera the only cue for "up" is the people: standing/walking bodies are
upright on average and their feet touch one floor plane. ``up`` is the mean pelvis->neck direction
(confidence-weighted over all tracks), refined by a plane fit through the lowest foot positions when
the feet cover enough of the floor. The world frame is Y up, its Z axis the camera's viewing
direction projected onto the floor, the origin on the floor under the first root position. For
datasets where the camera is level this reduces to flipping the camera's y axis.
"""

from __future__ import annotations

import numpy as np

from ..skeleton import SMPL24_INDEX

_FEET = [SMPL24_INDEX[n] for n in ("L_ankle", "R_ankle", "L_foot", "R_foot")]


def _normalise(v):
    return v / max(np.linalg.norm(v), 1e-9)


def estimate_up(joints_cam: np.ndarray) -> np.ndarray:
    """Unit 'up' vector in camera coordinates from (T, 24, 3) (or (N, T, 24, 3)) camera joints."""
    j = np.asarray(joints_cam, dtype=np.float64).reshape(-1, 24, 3)
    spine = j[:, SMPL24_INDEX["neck"]] - j[:, SMPL24_INDEX["pelvis"]]
    up = _normalise(spine.mean(0))
    feet = j[:, _FEET].reshape(-1, 3)
    # floor plane from foot points: needs a spread of at least 1 m in the floor's two directions
    if len(feet) >= 30:
        h = feet @ up
        low = feet[h <= np.quantile(h, 0.2)]
        c = low - low.mean(0)
        _, s, vt = np.linalg.svd(c, full_matrices=False)
        if s[1] / np.sqrt(len(low)) > 0.3:
            n = vt[2] * np.sign(vt[2] @ up)
            if n @ up > np.cos(np.deg2rad(25)):  # trust the plane only near the body estimate
                up = _normalise(n)
    return up


def world_from_camera(joints_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(R, t) with x_world = R @ x_cam + t: Y up, floor at y = 0, origin under the first root."""
    j = np.asarray(joints_cam, dtype=np.float64).reshape(-1, 24, 3)
    up = estimate_up(j)
    fwd = np.array([0.0, 0.0, 1.0]) - up * up[2]
    if np.linalg.norm(fwd) < 1e-6:
        fwd = np.array([1.0, 0.0, 0.0]) - up * up[0]
    z = _normalise(fwd)
    x = np.cross(up, z)
    R = np.stack([x, up, z])  # rows: world axes in camera coordinates
    floor = np.quantile(j[:, _FEET].reshape(-1, 3) @ up, 0.05)
    root0 = R @ j[0, 0]
    t = -np.array([root0[0], floor, root0[2]])
    return R.astype(np.float32), t.astype(np.float32)


def to_world(joints_cam: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    return (np.asarray(joints_cam) @ np.asarray(R).T + np.asarray(t)).astype(np.float32)
