"""Blend the lifted 3D with the detector's own 3D (BlazePose GHUM world landmarks) for the joints it sees.

Why: on real video the two estimates err largely independently (``docs/fit/evidence.md``, "Third
session"): on the 372 fully triangulated samples of pose2sim ``Demo_MultiPerson`` the lifter (broad
TCN + ARTS) scores PA-MPJPE 68.4 mm, BlazePose's world landmarks 64.1 mm, and their plain mean
56.2 mm. The lifter learned from mocap through virtual cameras, the landmark model from real images.
Hidden joints stay the lifter's (the prior's job); only seen limb joints are blended, and only in
frames where nearly the whole body is seen (``whole``): BlazePose's 3D of a partly hidden body, and
of rendered bodies, is poor (on the rendered demo clip its world landmarks score 132 mm MPJPE).

For each frame t and limb joint j (shoulders, elbows, wrists, hips, knees, ankles)::

    B_tj = L_tj − R_t o_j                       (BlazePose keypoint → body joint, o_j the calibrated
                                                 keypoint offset in the torso frame R_t, shoulders and
                                                 hips only; the others' offsets are under 2 cm)
    s_t  = argmin_s Σ_j ‖s B̃_tj − J̃_tj‖²         (B̃, J̃ relative to their hip centres: BlazePose's
                                                 scale is its own, the body's is the lifter's)
    J'_tj = J_tj + λ v_tj (s_t B̃_tj + h^J_t − J_tj)   (h^J_t the lifter's hip centre)

with λ the share (``MoPO(landmarks=λ)``, default 0.3) and v_tj ∈ [0, 1] the joint's visibility (1 − the
occlusion gate of :func:`unveil.motion.stage.gated_blend`), times a frame factor that fades from 1
(all 12 limb joints seen) to 0 (a fraction ``whole`` = 0.95 or fewer seen, i.e. any limb joint hidden). The joints BlazePose does not place
(pelvis and spine, neck, head, collars, hands, feet) move with the limb joint they hang on:
feet with the ankles, hands with the wrists, collars/neck/head/upper spine with the shoulders'
mean, pelvis and lower spine with the hips' mean; the result is made root-relative again.
"""

from __future__ import annotations

import numpy as np

from ..skeleton import SMPL24_INDEX as JI

# SMPL-24 limb joints and the BlazePose-33 landmark that sees each
LIMB_SMPL = (JI["L_shoulder"], JI["R_shoulder"], JI["L_elbow"], JI["R_elbow"], JI["L_wrist"],
             JI["R_wrist"], JI["L_hip"], JI["R_hip"], JI["L_knee"], JI["R_knee"],
             JI["L_ankle"], JI["R_ankle"])
LIMB_BLAZEPOSE = (11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)
# keypoint offsets of the shoulders and hips in the torso frame (x = body's left, y up, z forward), m:
# the vertical and forward parts of the detector-to-body offsets measured on rendered video
# (weights/keypoint_offsets_blazepose.md); the lateral part is left out (on real video the detector's
# shoulder points are not inside the joints: docs/fit/evidence.md)
TORSO_OFFSETS = {11: (0.0, 0.047, 0.032), 12: (0.0, 0.047, 0.032), 23: (0.0, -0.002, 0.041),
                 24: (0.0, -0.002, 0.041)}
# joints without a landmark -> the limb joints whose mean displacement they take
FOLLOW = {
    JI["pelvis"]: (JI["L_hip"], JI["R_hip"]), JI["spine1"]: (JI["L_hip"], JI["R_hip"]),
    JI["spine2"]: (JI["L_hip"], JI["R_hip"], JI["L_shoulder"], JI["R_shoulder"]),
    JI["spine3"]: (JI["L_shoulder"], JI["R_shoulder"]), JI["neck"]: (JI["L_shoulder"], JI["R_shoulder"]),
    JI["head"]: (JI["L_shoulder"], JI["R_shoulder"]),
    JI["L_collar"]: (JI["L_shoulder"], JI["R_shoulder"]),
    JI["R_collar"]: (JI["L_shoulder"], JI["R_shoulder"]),
    JI["L_foot"]: (JI["L_ankle"],), JI["R_foot"]: (JI["R_ankle"],),
    JI["L_hand"]: (JI["L_wrist"],), JI["R_hand"]: (JI["R_wrist"],),
}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def torso_frames(landmarks: np.ndarray) -> np.ndarray:
    """(T,33,3) BlazePose world landmarks (x right, y down, z away from the camera) -> (T,3,3)
    rotation whose columns are the body's left, up and forward axes in those coordinates."""
    lm = np.asarray(landmarks, np.float64)
    left = _unit(lm[:, 23] - lm[:, 24] + lm[:, 11] - lm[:, 12])
    up = 0.5 * (lm[:, 11] + lm[:, 12]) - 0.5 * (lm[:, 23] + lm[:, 24])
    up = _unit(up - (up * left).sum(-1, keepdims=True) * left)
    fwd = np.cross(left, up)
    return np.stack([left, up, fwd], -1)


def blazepose_limb_joints(landmarks: np.ndarray) -> np.ndarray:
    """(T,33,3) world landmarks -> (T,12,3) body-joint estimates of the 12 limb joints (order
    :data:`LIMB_SMPL`), relative to their hip centre: shoulders and hips moved by :data:`TORSO_OFFSETS`."""
    lm = np.asarray(landmarks, np.float64)
    if lm.ndim != 3 or lm.shape[1:] != (33, 3):
        raise ValueError(f"world landmarks must be (T,33,3), got {lm.shape}")
    out = lm[:, list(LIMB_BLAZEPOSE)].copy()
    R = torso_frames(lm)
    for i, b in enumerate(LIMB_BLAZEPOSE):
        if b in TORSO_OFFSETS:
            out[:, i] -= R @ np.asarray(TORSO_OFFSETS[b])
    return out - 0.5 * (out[:, 6] + out[:, 7])[:, None]


def landmark_blend(joints: np.ndarray, landmarks: np.ndarray, visible: np.ndarray, share: float = 0.5,
                   whole: float = 0.0) -> np.ndarray:
    """Blend the seen limb joints of ``joints`` with BlazePose's world landmarks (module docstring).

    Args:
        joints: (T,24,3) root-relative lifted joints, camera axes (x right, y down, z forward).
        landmarks: (T,33,3) BlazePose world landmarks of the same frames (NaN rows: none).
        visible: (T,24) visibility in [0,1] per joint (1 = seen).
        share: λ, BlazePose's share for a fully visible joint (0 = the lifter alone).
        whole: frames where the mean visibility of the 12 limb joints is at or below this get no
            blend; above, the share ramps linearly up to full at 1 (0 = no frame factor).
    Returns:
        (T,24,3) float32 root-relative joints.
    """
    J = np.asarray(joints, np.float64)
    lm = np.asarray(landmarks, np.float64)
    vis = np.clip(np.asarray(visible, np.float64), 0.0, 1.0)
    if J.ndim != 3 or J.shape[1:] != (24, 3):
        raise ValueError(f"joints must be (T,24,3), got {J.shape}")
    if lm.shape != (len(J), 33, 3) or vis.shape != J.shape[:2]:
        raise ValueError(f"landmarks {lm.shape} / visible {vis.shape} do not match joints {J.shape}")
    if share <= 0 or len(J) == 0:
        return J.astype(np.float32)
    ok = np.isfinite(lm).all((1, 2))
    if not ok.any():
        return J.astype(np.float32)
    B = blazepose_limb_joints(np.where(ok[:, None, None], lm, 0.0))
    limb = list(LIMB_SMPL)
    hip_c = 0.5 * (J[:, JI["L_hip"]] + J[:, JI["R_hip"]])
    Jr = J[:, limb] - hip_c[:, None]
    s = (B * Jr).sum((1, 2)) / np.maximum((B * B).sum((1, 2)), 1e-9)
    s = np.clip(s, 0.5, 2.0)
    target = s[:, None, None] * B + hip_c[:, None]
    lam = share * vis[:, limb] * ok[:, None]
    if whole > 0:   # only frames where (nearly) the whole body is seen: BlazePose's 3D of a partly hidden body is unreliable
        frac = vis[:, limb].mean(1)
        lam = lam * np.clip((frac - whole) / max(1.0 - whole, 1e-6), 0.0, 1.0)[:, None]
    delta = np.zeros_like(J)
    delta[:, limb] = lam[..., None] * (target - J[:, limb])
    for j, src in FOLLOW.items():
        delta[:, j] = delta[:, list(src)].mean(1)
    out = J + delta
    return (out - out[:, :1]).astype(np.float32)


__all__ = ["landmark_blend", "blazepose_limb_joints", "torso_frames", "LIMB_SMPL", "LIMB_BLAZEPOSE",
           "TORSO_OFFSETS", "FOLLOW"]
