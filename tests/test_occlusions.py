"""occlusions: masks cover what each kind should hide; detector outputs behave as documented."""

import numpy as np
import pytest

from unveil.data import occlusions as O
from unveil.data import synth2d as S

LEGS = [13, 14, 15, 16]


@pytest.fixture(scope="module")
def clip():
    return S.standin_clip(150, seed=1)


def test_none_hides_nothing_in_frame(clip):
    for seed in range(5):
        s = S.make_sequence(clip, "none", seed)
        assert s.occluded.mean() < 0.02


def test_lower_hides_knees_and_ankles_for_3s(clip):
    s = S.make_sequence(clip, "lower", 0)
    m = s.occluded
    runs = O.runs(m[:, LEGS].all(1))
    assert max(e - b for b, e in runs) >= 90  # > 3 s at 30 fps
    assert not m[:, :5].any()  # face stays visible
    b, e = max(runs, key=lambda r: r[1] - r[0])
    # ankles reported on the wall top: above (smaller v than) the true ankle, low confidence
    kp = s.keypoints2d
    assert (kp[b:e, 15, 1] < s.keypoints2d_true[b:e, 15, 1]).mean() > 0.9
    assert kp[b:e, LEGS, 2].max() <= 0.5


def test_lower_short_clip_hides_whole_window():
    c = S.standin_clip(60, seed=2)
    s = S.make_sequence(c, "lower", 0)
    assert s.occluded[:, LEGS].all()


def test_object_box_sweeps_1_to_3_s(clip):
    for seed in range(4):
        s = S.make_sequence(clip, "object", seed)
        box = s.info["occlusion"]["object"]
        n = box["end"] - box["start"]
        assert 30 <= n <= 90
        st, e = box["start"], box["end"]
        assert s.occluded[st:e].any()
        # nothing is hidden outside the sweep (the stand-in walk stays in frame) ...
        assert not s.occluded[:st].any() and not s.occluded[e:].any()
        # ... and inside it exactly the keypoints whose true projection lies in the box
        u, v = s.keypoints2d_true[st:e, :, 0], s.keypoints2d_true[st:e, :, 1]
        inside = ((u >= np.asarray(box["x0"])[:, None]) & (u <= np.asarray(box["x1"])[:, None])
                  & (v >= box["y0"]) & (v <= box["y1"]))
        assert np.array_equal(s.occluded[st:e], inside)


def test_object_mask_matches_geometry():
    T = 40
    uv = np.zeros((T, 17, 2)) + np.array([500.0, 500.0])
    uv[:, 9] = [100.0, 100.0]  # far away keypoint never covered
    uv[:, :, 1] += np.linspace(0, 300, 17)[None]
    scene = O.Scene(uv=uv, depth=np.full((T, 17), 4.0), width=1920, height=1080, focal=1000.0, fps=30.0)
    occ = O.object_box(scene, np.random.default_rng(0))
    b = occ.info["object"]
    s, e = b["start"], b["end"]
    u = uv[s:e, :, 0]
    v = uv[s:e, :, 1]
    exp = (u >= b["x0"][:, None]) & (u <= b["x1"][:, None]) & (v >= b["y0"]) & (v <= b["y1"])
    assert np.array_equal(occ.mask[s:e], exp)
    assert not occ.mask[:, 9].any()


def test_truncation_cuts_at_frame_edge(clip):
    modes = set()
    for seed in range(6):
        s = S.make_sequence(clip, "truncation", seed)
        modes.add(s.info["camera"]["truncation"])
        uv = s.keypoints2d_true
        out = (uv[..., 0] < -0.02 * 1920) | (uv[..., 0] > 1.02 * 1920) | (uv[..., 1] < -0.02 * 1080) | (uv[..., 1] > 1.02 * 1080)
        assert np.array_equal(out, s.occluded)
        assert s.occluded.mean() > 0.05
    assert modes == {"legs", "side"}


def test_person_occluder_in_front_and_confusable(clip):
    hit = 0
    snapped = 0
    for seed in range(8):
        s = S.make_sequence(clip, "person", seed, occluder=S.standin_clip(150, seed=9, name="occ"))
        hit += s.occluded.sum()
        conf = s.keypoints2d[..., 2][s.occluded]
        snapped += (conf > 0.5).sum()
    assert hit > 0
    assert snapped > 0  # some hidden joints snap to the occluder with confidence above 0.5


def test_runs():
    assert O.runs(np.array([0, 1, 1, 0, 1], bool)) == [(1, 3), (4, 5)]
    assert O.runs(np.zeros(3, bool)) == []


def test_truncation_cuts_a_standing_distant_person():
    """A person who does not move (narrow in angle, any FoV) is still cut in every seed."""
    c = S.standin_clip(60, seed=5, name="still")
    walk = (c.joints[:, :1] * np.array([0, 0, 1.0])).astype(np.float32)  # (T,1,3) forward travel
    c.joints = c.joints - walk
    c.face = c.face - walk
    for seed in range(10):
        s = S.make_sequence(c, "truncation", seed)
        assert s.occluded.mean() > 0.05, (seed, s.info["camera"])
