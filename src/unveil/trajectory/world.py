"""A gravity-aligned world frame for a static camera, from the people it sees.

With a static, uncalibrated camera the only cue for "up" is the people: the pelvis stays above the
feet in most actions (standing, walking, bowing, punching), so ``up`` is the mean mid-ankle -> pelvis
direction over all frames of all tracks (the spine tilts in bows and punches: on 12 evaluation clips
the spine direction was 13.3 deg off on average, the legs 2.8 deg; measured by `unveil bench
trajectory`, chosen on the validation split). Optionally refined by a plane fit through the lowest
foot positions when the feet cover enough of the floor. The world frame is Y up, its Z axis the camera's viewing
direction projected onto the floor, the origin on the floor under the first root position. For
datasets where the camera is level this reduces to flipping the camera's y axis.
"""

from __future__ import annotations

import numpy as np

from ..skeleton import SMPL24_INDEX

_FEET = [SMPL24_INDEX[n] for n in ("L_ankle", "R_ankle", "L_foot", "R_foot")]


def _normalise(v):
    return v / max(np.linalg.norm(v), 1e-9)


def estimate_up(joints_cam: np.ndarray, method: str = "legs", refine_plane: bool = False) -> np.ndarray:
    """Unit 'up' vector in camera coordinates from (T, 24, 3) (or (N, T, 24, 3)) camera joints.

    method: "legs" (mean mid-ankle -> pelvis, default) or "spine" (mean pelvis -> neck).
    refine_plane: replace it by the normal of a plane fitted through the lowest foot points when
    they spread over the floor and agree with the body estimate within 25 deg.
    """
    j = np.asarray(joints_cam, dtype=np.float64).reshape(-1, 24, 3)
    if method == "legs":
        v = j[:, SMPL24_INDEX["pelvis"]] - 0.5 * (j[:, SMPL24_INDEX["L_ankle"]] + j[:, SMPL24_INDEX["R_ankle"]])
    elif method == "spine":
        v = j[:, SMPL24_INDEX["neck"]] - j[:, SMPL24_INDEX["pelvis"]]
    else:
        raise ValueError(f"unknown up method {method!r} (legs | spine)")
    up = _normalise(v.mean(0))
    feet = j[:, _FEET].reshape(-1, 3)
    # floor plane from foot points: needs a spread of at least 1 m in the floor's two directions
    if refine_plane and len(feet) >= 30:
        h = feet @ up
        low = feet[h <= np.quantile(h, 0.2)]
        c = low - low.mean(0)
        _, s, vt = np.linalg.svd(c, full_matrices=False)
        if s[1] / np.sqrt(len(low)) > 0.3:
            n = vt[2] * np.sign(vt[2] @ up)
            if n @ up > np.cos(np.deg2rad(25)):  # trust the plane only near the body estimate
                up = _normalise(n)
    return up


def world_from_camera(joints_cam: np.ndarray, up: str = "legs") -> tuple[np.ndarray, np.ndarray]:
    """(R, t) with x_world = R @ x_cam + t: Y up, floor at y = 0, origin under the first root."""
    j = np.asarray(joints_cam, dtype=np.float64).reshape(-1, 24, 3)
    up = estimate_up(j, method=up)
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
