"""Self-occlusion: which 2D keypoints the person's own body hides from the camera.

BlazePose's per-keypoint visibility reports the frame edge and other objects, but hardly the body
hiding itself: on the pose2sim phone videos a woman seen from behind gets nose and eye visibility
0.98–1.0, and a far wrist behind the torso 0.9+. Those 2D positions are the detector's guesses, not
evidence, and a user must not be told they were observed. This module decides it geometrically
from a 3D body (the incoming lifted + ARTS-fitted joints, before the evidence fit), with the body
approximated by capsules — the swept-sphere body of classical model-based trackers (e.g. Sminchisescu
& Triggs, CVPR 2001; Stoll et al., ICCV 2011 use sums of Gaussians to the same end) — around the
SMPL-24 bones:

    keypoint k is self-occluded at frame t  ⇔  ∃ capsule c ∉ own(k):
        dist( [0, (1 − m_t / ‖P_tk‖) · P_tk],  [A_tc, B_tc] )  <  r_c · s_t

with ``P_tk`` the keypoint in camera coordinates (camera at the origin), ``[A_tc, B_tc]`` the
capsule's bone, ``r_c`` its radius for a 1.70 m body, ``s_t`` = the body height / 1.70 m, and
``m_t = margin · s_t``: the straight line from the camera to a point ``margin`` in front of the
keypoint passes through another body part. ``own(k)`` are the capsules the keypoint sits in (its
limb segments; the head for the ears); nose and eyes have none, so a head turned away hides them
(the ray crosses the back of the head). The capsule radii are round numbers for an adult (not fitted); the test is
only as right as the incoming 3D pose (a depth flip flips it too).
"""

from __future__ import annotations

import numpy as np

from ..skeleton import SMPL24_INDEX as I

# (joint a, joint b, radius in metres for a 1.70 m body); the head's runs from the neck through the
# head joint (the base of the skull) to as far again beyond it (the face points lie 0.13-0.16 m from
# the neck along that axis, 0.05-0.1 m off it, on this body model)
CAPSULES: tuple[tuple[str, str, float], ...] = (
    ("pelvis", "neck", 0.09),                   # 0 spine
    ("L_hip", "L_shoulder", 0.08),              # 1 torso, left side
    ("R_hip", "R_shoulder", 0.08),              # 2 torso, right side
    ("neck", "head", 0.05),                     # 3 head (extended: HEAD_EXTEND)
    ("L_shoulder", "L_elbow", 0.05),            # 4
    ("R_shoulder", "R_elbow", 0.05),            # 5
    ("L_elbow", "L_wrist", 0.04),               # 6
    ("R_elbow", "R_wrist", 0.04),               # 7
    ("L_wrist", "L_hand", 0.04),                # 8
    ("R_wrist", "R_hand", 0.04),                # 9
    ("L_hip", "L_knee", 0.07),                  # 10
    ("R_hip", "R_knee", 0.07),                  # 11
    ("L_knee", "L_ankle", 0.05),                # 12
    ("R_knee", "R_ankle", 0.05),                # 13
    ("L_ankle", "L_foot", 0.04),                # 14
    ("R_ankle", "R_foot", 0.04),                # 15
)

# COCO-17 keypoint -> the capsules it sits in (never tested against them)
COCO17_OWN: tuple[tuple[int, ...], ...] = (
    (), (), (), (3,), (3,),                      # nose, eyes: a head turned away hides them; the ears
                                                 # lie inside the head capsule (0.045 m off its axis)
    (1, 4), (2, 5),                              # shoulders
    (4, 6), (5, 7),                              # elbows
    (6, 8), (7, 9),                              # wrists
    (0, 1, 10), (0, 2, 11),                      # hips (inside the pelvis)
    (10, 12), (11, 13),                          # knees
    (12, 14), (13, 15),                          # ankles
)

HEAD = 3
HEAD_EXTEND = 1.0  # the head capsule's far end: head + HEAD_EXTEND * (head - neck)
REFERENCE_HEIGHT = 1.70
MARGIN = 0.08     # metres (1.70 m body): a part must be this far in front of the keypoint to hide it


def segment_distance(p0: np.ndarray, p1: np.ndarray, q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
    """Closest distance between segments [p0, p1] and [q0, q1] (broadcast over leading axes, (..., 3)).

    The clamped closed form of Ericson, *Real-Time Collision Detection* (2005), §5.1.9."""
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0
    a = (d1 * d1).sum(-1)
    e = (d2 * d2).sum(-1)
    f = (d2 * r).sum(-1)
    c = (d1 * r).sum(-1)
    b = (d1 * d2).sum(-1)
    eps = 1e-12
    a_ok, e_ok = a > eps, e > eps
    a_, e_ = np.maximum(a, eps), np.maximum(e, eps)
    denom = a * e - b * b
    # both proper segments: the closest points of the two lines, s clamped, then t from s
    s = np.where(denom > eps, np.clip((b * f - c * e) / np.maximum(denom, eps), 0.0, 1.0), 0.0)
    t = (b * s + f) / e_
    # t outside [0, 1]: clamp it and take s again for the clamped t
    s = np.where(t < 0.0, np.clip(-c / a_, 0.0, 1.0), np.where(t > 1.0, np.clip((b - c) / a_, 0.0, 1.0), s))
    t = np.clip(t, 0.0, 1.0)
    # degenerate segments (points)
    s = np.where(e_ok, s, np.clip(-c / a_, 0.0, 1.0))          # q is a point: t = 0
    t = np.where(e_ok, t, 0.0)
    t = np.where(a_ok, t, np.clip(f / e_, 0.0, 1.0))           # p is a point: s = 0
    s = np.where(a_ok, s, 0.0)
    t = np.where(a_ok | e_ok, t, 0.0)
    diff = (p0 + d1 * s[..., None]) - (q0 + d2 * t[..., None])
    return np.sqrt((diff * diff).sum(-1))


def self_occluded(joints_cam: np.ndarray, keypoints_cam: np.ndarray, height: float = REFERENCE_HEIGHT,
                  margin: float = MARGIN) -> np.ndarray:
    """Which COCO-17 keypoints the body's own capsules hide from a camera at the origin.

    Args:
        joints_cam: (T, 24, 3) SMPL-24 joints in camera coordinates (metres, +z forward).
        keypoints_cam: (T, 17, 3) the body's COCO-17 keypoints in the same coordinates.
        height: the body's height in metres (scales the radii and the margin).
        margin: metres (for a 1.70 m body) a part must lie in front of a keypoint to hide it.
    Returns:
        (T, 17) bool: True = hidden by another part of the same body (computed :data:`CHUNK` frames
        at a time: the pairwise keypoint x capsule temporaries, (n, 17, 16, 3) float64 = 6.5 KB per frame
        each, stay bounded).
    Raises:
        ValueError: on shapes other than the above.
    """
    J = np.asarray(joints_cam, np.float64)
    P = np.asarray(keypoints_cam, np.float64)
    if J.ndim != 3 or J.shape[1:] != (24, 3):
        raise ValueError(f"joints_cam must be (T, 24, 3), got {J.shape}")
    if P.ndim != 3 or P.shape[1:] != (17, 3) or P.shape[0] != J.shape[0]:
        raise ValueError(f"keypoints_cam must be ({J.shape[0]}, 17, 3), got {P.shape}")
    out = np.zeros((J.shape[0], 17), bool)
    for lo in range(0, J.shape[0], CHUNK):   # frame by frame: the same flags for any CHUNK
        out[lo:lo + CHUNK] = _self_occluded(J[lo:lo + CHUNK], P[lo:lo + CHUNK], height, margin)
    return out


CHUNK = 128  # frames per step of self_occluded: its (n, 17, 16, 3) float64 temporaries stay ~1 MB each


def _self_occluded(J: np.ndarray, P: np.ndarray, height: float, margin: float) -> np.ndarray:
    """:func:`self_occluded` of (n, 24, 3) float64 joints and (n, 17, 3) float64 keypoints."""
    s = float(height) / REFERENCE_HEIGHT
    a_idx = [I[a] for a, _, _ in CAPSULES]
    b_idx = [I[b] for _, b, _ in CAPSULES]
    radius = np.array([r for _, _, r in CAPSULES]) * s                    # (C,)
    A, B = J[:, a_idx], J[:, b_idx].copy()                                 # (T,C,3)
    B[:, HEAD] += HEAD_EXTEND * (B[:, HEAD] - A[:, HEAD])
    dist = np.linalg.norm(P, axis=-1, keepdims=True)                       # (T,17,1)
    end = P * np.clip(1.0 - margin * s / np.maximum(dist, 1e-9), 0.0, None)   # margin in front of the point
    origin = np.zeros_like(end)
    d = segment_distance(origin[:, :, None], end[:, :, None], A[:, None], B[:, None])   # (T,17,C)
    hit = d < radius
    own = np.zeros((17, len(CAPSULES)), bool)
    for k, caps in enumerate(COCO17_OWN):
        own[k, list(caps)] = True
    return (hit & ~own).any(-1)


__all__ = ["CAPSULES", "CHUNK", "COCO17_OWN", "MARGIN", "REFERENCE_HEIGHT", "segment_distance", "self_occluded"]
