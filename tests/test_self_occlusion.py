"""Self-occlusion of COCO-17 keypoints by the body's own capsules (unveil.fit.self_occlusion)."""

from __future__ import annotations

import numpy as np
import pytest

from unveil.fit.self_occlusion import segment_distance, self_occluded
from unveil.skeleton import SMPL24_INDEX as I

# camera frame: x right, y down, z forward; the body stands 3 m in front of the camera, facing it
# (its left side on the image's right, +x)
_J = {
    "pelvis": (0, 0, 3), "L_hip": (0.09, 0.05, 3), "R_hip": (-0.09, 0.05, 3),
    "spine1": (0, -0.12, 3), "spine2": (0, -0.25, 3), "spine3": (0, -0.35, 3), "neck": (0, -0.5, 3),
    "L_collar": (0.07, -0.45, 3), "R_collar": (-0.07, -0.45, 3), "head": (0, -0.6, 3),
    "L_shoulder": (0.18, -0.45, 3), "R_shoulder": (-0.18, -0.45, 3), "L_elbow": (0.2, -0.2, 3),
    "R_elbow": (-0.2, -0.2, 3), "L_wrist": (0.2, 0.05, 3), "R_wrist": (-0.2, 0.05, 3),
    "L_hand": (0.2, 0.12, 3), "R_hand": (-0.2, 0.12, 3), "L_knee": (0.09, 0.45, 3), "R_knee": (-0.09, 0.45, 3),
    "L_ankle": (0.09, 0.85, 3), "R_ankle": (-0.09, 0.85, 3), "L_foot": (0.09, 0.9, 2.9), "R_foot": (-0.09, 0.9, 2.9),
}
JOINTS = np.zeros((24, 3))
for name, p in _J.items():
    JOINTS[I[name]] = p
_FACE = np.array([(0, -0.62, 2.9), (0.03, -0.65, 2.92), (-0.03, -0.65, 2.92), (0.07, -0.63, 3.0), (-0.07, -0.63, 3.0)])
_BODY_KP = ["L_shoulder", "R_shoulder", "L_elbow", "R_elbow", "L_wrist", "R_wrist", "L_hip", "R_hip",
            "L_knee", "R_knee", "L_ankle", "R_ankle"]
KP = np.concatenate([_FACE, JOINTS[[I[n] for n in _BODY_KP]]])


def _turn(x: np.ndarray, deg: float) -> np.ndarray:
    """The body turned by ``deg`` about the vertical axis through its pelvis (90: its left side to the camera)."""
    a = np.deg2rad(deg)
    out = x.copy()
    out[..., 0] = np.cos(a) * x[..., 0] + np.sin(a) * (x[..., 2] - 3)
    out[..., 2] = 3 - np.sin(a) * x[..., 0] + np.cos(a) * (x[..., 2] - 3)
    return out


def _flags(deg: float) -> dict:
    so = self_occluded(_turn(JOINTS, deg)[None], _turn(KP, deg)[None], height=1.7)[0]
    names = ["nose", "l_eye", "r_eye", "l_ear", "r_ear"] + [n.lower() for n in _BODY_KP]
    return {n for n, f in zip(names, so) if f}


def test_facing_the_camera_nothing_hidden():
    assert _flags(0) == set()


def test_facing_away_hides_the_face_only():
    assert _flags(180) == {"nose", "l_eye", "r_eye"}


def test_side_view_hides_the_far_arm_not_the_near_one():
    hidden = _flags(90)                               # the left side faces the camera
    assert {"r_wrist", "r_elbow", "r_shoulder"} <= hidden
    assert not {"l_wrist", "l_elbow", "l_shoulder", "nose"} & hidden
    hidden = _flags(-90)                              # the mirror case
    assert {"l_wrist", "l_elbow", "l_shoulder"} <= hidden and not {"r_wrist", "r_elbow"} & hidden


def test_far_away_and_batched():
    # the same body 20 m away in frames 1: the decision does not depend on the distance
    J = np.stack([JOINTS, JOINTS + [0, 0, 17], _turn(JOINTS, 90)])
    K = np.stack([KP, KP + [0, 0, 17], _turn(KP, 90)])
    so = self_occluded(J, K)
    assert so.shape == (3, 17) and not so[0].any() and not so[1].any() and so[2].any()


def testsegment_distance_precomputed():
    seg = lambda *p: np.array(p, float)  # noqa: E731
    cases = [  # (p0, p1, q0, q1, distance)
        (seg(0, 0, 0), seg(1, 0, 0), seg(0.5, 1, 0), seg(0.5, 1, 1), 1.0),        # skew, interior points
        (seg(0, 0, 0), seg(1, 0, 0), seg(0, 1, 0), seg(1, 1, 0), 1.0),            # parallel
        (seg(0, 0, 0), seg(1, 0, 0), seg(2, 1, 0), seg(3, 1, 0), np.sqrt(2)),     # endpoint to endpoint
        (seg(0, 0, 0), seg(0, 0, 0), seg(1, 1, 0), seg(1, -1, 0), 1.0),           # a point against a segment
        (seg(0, 0, 0), seg(2, 0, 0), seg(1, -1, 0), seg(1, 1, 0), 0.0),           # crossing
    ]
    for p0, p1, q0, q1, d in cases:
        assert segment_distance(p0, p1, q0, q1) == pytest.approx(d, abs=1e-12)
        assert segment_distance(q0, q1, p0, p1) == pytest.approx(d, abs=1e-12)


def test_bad_shapes():
    with pytest.raises(ValueError):
        self_occluded(JOINTS, KP)                      # no frame axis
    with pytest.raises(ValueError):
        self_occluded(JOINTS[None], KP[None, :12])
    with pytest.raises(ValueError):
        self_occluded(JOINTS[None], np.stack([KP, KP]))


def test_in_chunks_equals_one_pass(monkeypatch):
    """Issue 17: ``self_occluded`` works ``CHUNK`` frames at a time (bounded temporaries on a long video):
    the same flags as one pass over every frame (300 frames of the body turned through a full circle and
    jittered, chunks of 7: the last one short), and the chunks did run."""
    import unveil.fit.self_occlusion as so_mod

    rng = np.random.default_rng(0)
    deg = np.linspace(0, 360, 300)
    J = np.stack([_turn(JOINTS, d) for d in deg]) + rng.normal(0, 0.03, (300, 24, 3))
    K = np.stack([_turn(KP, d) for d in deg]) + rng.normal(0, 0.03, (300, 17, 3))
    monkeypatch.setattr(so_mod, "CHUNK", 1000)
    one = self_occluded(J, K, height=1.6)
    calls = []
    real = so_mod._self_occluded
    monkeypatch.setattr(so_mod, "_self_occluded", lambda j, *a: calls.append(len(j)) or real(j, *a))
    monkeypatch.setattr(so_mod, "CHUNK", 7)
    chunked = self_occluded(J, K, height=1.6)
    assert len(calls) == 43 and calls[-1] == 300 - 42 * 7
    assert chunked.dtype == bool and chunked.shape == (300, 17)
    assert 0.05 < one.mean() < 0.5 and np.array_equal(one, chunked)
    assert self_occluded(J[:0], K[:0]).shape == (0, 17)
