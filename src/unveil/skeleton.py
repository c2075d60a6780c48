"""Joint sets, parents and mappings used everywhere in unveil.

Conventions (every output follows them):

- 3D joints are SMPL-24 in the order below, metres.
- *World* frame: Y up, right-handed, the subject faces +Z in the T-pose (SMPL convention).
- *Camera* frame: OpenCV (x right, y down, z forward).
- Rotations are converted with ``roma`` (axis-angle, 6D, matrices, unit quaternions XYZW); the
  helpers below only fix the conventions and accept any leading batch dimensions.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

# --------------------------------------------------------------------------------------- SMPL-24
SMPL24_NAMES: tuple[str, ...] = (
    "pelvis", "L_hip", "R_hip", "spine1", "L_knee", "R_knee", "spine2", "L_ankle", "R_ankle",
    "spine3", "L_foot", "R_foot", "neck", "L_collar", "R_collar", "head", "L_shoulder",
    "R_shoulder", "L_elbow", "R_elbow", "L_wrist", "R_wrist", "L_hand", "R_hand",
)
SMPL24_PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)
SMPL24_INDEX = {n: i for i, n in enumerate(SMPL24_NAMES)}
# left <-> right permutation (for flips / swap augmentation)
SMPL24_FLIP: tuple[int, ...] = tuple(
    SMPL24_INDEX[n.replace("L_", "#").replace("R_", "L_").replace("#", "R_")] for n in SMPL24_NAMES
)
SMPL24_BONES: tuple[tuple[int, int], ...] = tuple((p, c) for c, p in enumerate(SMPL24_PARENTS) if p >= 0)

# ---------------------------------------------------------------------------------------- COCO-17
COCO17_NAMES: tuple[str, ...] = (
    "nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
    "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
)
COCO17_FLIP: tuple[int, ...] = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)
COCO17_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11), (6, 12),
    (11, 12), (11, 13), (13, 15), (12, 14), (14, 16),
)
# COCO-17 keypoints that correspond (approximately) to an SMPL-24 joint; -1 = face points, no joint.
COCO17_TO_SMPL24: tuple[int, ...] = (
    -1, -1, -1, -1, -1, 16, 17, 18, 19, 20, 21, 1, 2, 4, 5, 7, 8,
)
COCO17_LOWER: tuple[int, ...] = (11, 12, 13, 14, 15, 16)

# ----------------------------------------------------------------------------------- BlazePose-33
BLAZEPOSE33_NAMES: tuple[str, ...] = (
    "nose", "l_eye_inner", "l_eye", "l_eye_outer", "r_eye_inner", "r_eye", "r_eye_outer", "l_ear",
    "r_ear", "mouth_l", "mouth_r", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist",
    "r_wrist", "l_pinky", "r_pinky", "l_index", "r_index", "l_thumb", "r_thumb", "l_hip", "r_hip",
    "l_knee", "r_knee", "l_ankle", "r_ankle", "l_heel", "r_heel", "l_foot_index", "r_foot_index",
)
BLAZEPOSE33_TO_COCO17: tuple[int, ...] = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
BLAZEPOSE33_EDGES: tuple[tuple[int, int], ...] = (
    (11, 12), (11, 13), (13, 15), (12, 14), (14, 16), (11, 23), (12, 24), (23, 24), (23, 25),
    (25, 27), (27, 29), (29, 31), (27, 31), (24, 26), (26, 28), (28, 30), (30, 32), (28, 32),
    (0, 2), (0, 5), (2, 7), (5, 8), (15, 17), (15, 19), (16, 18), (16, 20),
)

LAYOUTS = {"coco17": COCO17_NAMES, "blazepose33": BLAZEPOSE33_NAMES, "smpl24": SMPL24_NAMES}


def to_coco17(keypoints: np.ndarray, layout: str) -> np.ndarray:
    """Convert (..., K, C) keypoints of ``layout`` to COCO-17 order."""
    if layout == "coco17":
        return keypoints
    if layout == "blazepose33":
        return keypoints[..., list(BLAZEPOSE33_TO_COCO17), :]
    raise ValueError(f"unknown keypoint layout {layout!r} (expected one of coco17, blazepose33)")


# ------------------------------------------------------------------------------------ kinematics
def bone_lengths(joints, parents=SMPL24_PARENTS):
    """(..., J, 3) joint positions -> (..., J-1) lengths of the bones child->parent (child order)."""
    idx = [c for c, p in enumerate(parents) if p >= 0]
    par = [parents[c] for c in idx]
    if isinstance(joints, torch.Tensor):
        return torch.linalg.norm(joints[..., idx, :] - joints[..., par, :], dim=-1)
    joints = np.asarray(joints)
    return np.linalg.norm(joints[..., idx, :] - joints[..., par, :], axis=-1)


@functools.lru_cache(maxsize=16)
def _fk_levels(parents: tuple[int, ...], device: str) -> tuple:
    """The joints of a kinematic tree grouped by depth, for :func:`forward_kinematics`: per level
    (joint indices, their parents' positions in the previous level, their parents), then the
    permutation from level order back to joint order. Index tensors on ``device``."""
    depth: list[int] = []
    for j, p in enumerate(parents):
        if p >= j:
            raise ValueError(f"parents must come before their children (joint {j} has parent {p})")
        depth.append(0 if p < 0 else depth[p] + 1)
    levels, prev, order = [], [], []
    for d in range(max(depth) + 1):
        js = [j for j in range(len(parents)) if depth[j] == d]
        t = lambda v: torch.tensor(v, dtype=torch.long, device=device)  # noqa: E731
        levels.append((t(js), t([prev.index(parents[j]) for j in js]) if d else None,
                       t([parents[j] for j in js]) if d else None))
        prev = js
        order += js
    inv = [0] * len(order)
    for k, j in enumerate(order):
        inv[j] = k
    return levels, torch.tensor(inv, dtype=torch.long, device=device)


def forward_kinematics(local_rot: torch.Tensor, rest_joints: torch.Tensor,
                       parents=SMPL24_PARENTS) -> tuple[torch.Tensor, torch.Tensor]:
    """Posed joints from local rotations.

    local_rot: (..., J, 3, 3) rotation of each joint relative to its parent (root: global).
    rest_joints: (..., J, 3) joint positions of the rest (zero) pose.
    Returns (global rotations (..., J, 3, 3), posed joints (..., J, 3)) with the root joint kept at
    its rest position (add a translation yourself).

    The joints of one depth in the tree are posed together (SMPL-24: 9 levels instead of 24
    joints: ~2x fewer autograd nodes, which dominate the cost of the small fits). The forward
    values are those of the joint-by-joint chain bit for bit (the same products per joint);
    gradients agree to float rounding (their sums are accumulated in another order).
    Raises ValueError when the shapes do not match ``parents``.
    """
    parents = tuple(int(p) for p in parents)
    J = len(parents)
    if local_rot.shape[-3:] != (J, 3, 3) or rest_joints.shape[-2:] != (J, 3):
        raise ValueError(f"expected local_rot (..., {J}, 3, 3) and rest_joints (..., {J}, 3), got "
                         f"{tuple(local_rot.shape)} and {tuple(rest_joints.shape)}")
    levels, inv = _fk_levels(parents, str(local_rot.device))
    globs, poss = [], []
    for js, prev_pos, par in levels:
        loc = local_rot.index_select(-3, js)
        if prev_pos is None:  # the roots
            globs.append(loc)
            poss.append(rest_joints.index_select(-2, js))
            continue
        gp = globs[-1].index_select(-3, prev_pos)
        offset = rest_joints.index_select(-2, js) - rest_joints.index_select(-2, par)
        globs.append(gp @ loc)
        poss.append(poss[-1].index_select(-2, prev_pos) + (gp @ offset.unsqueeze(-1)).squeeze(-1))
    return torch.cat(globs, -3).index_select(-3, inv), torch.cat(poss, -2).index_select(-2, inv)


# ------------------------------------------------------------------------------ frame conventions
# OpenCV camera (y down, z forward) <-> a Y-up world with the camera looking along +Z: flip y.
def world_to_camera(points, R, t):
    """x_cam = R @ x_world + t for (..., 3) points; R (3,3), t (3,)."""
    if isinstance(points, torch.Tensor):
        return points @ R.T + t
    return np.asarray(points) @ np.asarray(R).T + np.asarray(t)


def camera_to_world(points, R, t):
    if isinstance(points, torch.Tensor):
        return (points - t) @ R
    return (np.asarray(points) - np.asarray(t)) @ np.asarray(R)


def project(points_cam, focal, principal_point):
    """Pinhole projection of (..., 3) camera-frame points -> (..., 2) pixels."""
    if isinstance(points_cam, torch.Tensor):
        z = points_cam[..., 2:3].clamp_min(1e-6)
        return points_cam[..., :2] / z * focal + torch.as_tensor(principal_point, dtype=points_cam.dtype)
    points_cam = np.asarray(points_cam)
    z = np.maximum(points_cam[..., 2:3], 1e-6)
    return points_cam[..., :2] / z * focal + np.asarray(principal_point)


def default_focal(width: int, height: int) -> float:
    """Documented guess when the focal length is unknown: a 55 degree vertical field of view
    (the middle of phone/webcam lenses), f = (H/2) / tan(27.5 deg) ~= 0.96 H."""
    return float(height / 2.0 / np.tan(np.deg2rad(55.0) / 2.0))
