"""Left/right name swaps of the landmark model (unveil.detect.chirality)."""

import numpy as np
import pytest

from unveil.detect.chirality import BODY, GROUPS, N_KP, relabel_left_right, swap_names, swap_states
from unveil.types import Track2D


def walker(T=120, fps=60.0, seed=0):
    """A BlazePose-33 track of a person walking across the image, seen from the front: every left
    point 40 px right of its right twin (ankles crossing side-on are tested separately)."""
    rng = np.random.default_rng(seed)
    t = np.arange(T) / fps
    centre = np.stack([300 + 120 * t, 400 + 5 * np.sin(2 * np.pi * t)], 1)        # (T, 2)
    base = rng.uniform(-80, 80, (N_KP, 2))
    for left, right in GROUPS.values():
        for a, b in zip(left, right):
            base[b] = base[a] - [80.0, 0.0]
    kp = np.zeros((T, N_KP, 3))
    kp[..., :2] = centre[:, None] + base[None] + rng.normal(0, 1.0, (T, N_KP, 2))
    kp[..., 2] = 0.9
    boxes = np.concatenate([kp[..., :2].min(1), kp[..., :2].max(1)], 1)
    boxes[:, 3] = boxes[:, 1] + 400.0
    wl = rng.normal(0, 0.3, (T, N_KP, 3))
    pres = rng.uniform(0.5, 1, (T, N_KP))
    feats = {"kp": rng.normal(0, 1, (T, N_KP, 4)).astype(np.float16), "body": rng.normal(0, 1, (T, 8)).astype(np.float16)}
    return Track2D(id=0, frames=np.arange(T), keypoints=kp, layout="blazepose33", boxes=boxes, world_landmarks=wl,
                   extras={"presence": pres, "held": np.ones(T, bool)}, features=feats)


def swapped(track, frames):
    """The track with the detector's names swapped in ``frames`` (every per-keypoint array)."""
    perm = np.arange(N_KP)
    for left, right in GROUPS.values():
        perm[list(left)], perm[list(right)] = right, left
    kp, wl, pres = track.keypoints.copy(), track.world_landmarks.copy(), track.extras["presence"].copy()
    feats = {k: v.copy() for k, v in track.features.items()}
    kp[frames] = kp[frames][:, perm]
    wl[frames] = wl[frames][:, perm]
    pres[frames] = pres[frames][:, perm]
    feats["kp"][frames] = feats["kp"][frames][:, perm]
    return Track2D(id=0, frames=track.frames, keypoints=kp, layout="blazepose33", boxes=track.boxes,
                   world_landmarks=wl, extras={**track.extras, "presence": pres}, features=feats)


def test_a_swapped_run_is_renamed_back_in_every_array():
    clean = walker()
    bad = swapped(clean, np.r_[40:52, 53:60])        # a run with one right frame inside, as on cam02
    fixed, info = relabel_left_right(bad, fps=60.0)
    assert info == {"frames": 19}
    np.testing.assert_array_equal(fixed.extras["lr_swapped"], np.isin(np.arange(120), np.r_[40:52, 53:60]))
    np.testing.assert_array_equal(fixed.keypoints, clean.keypoints)
    np.testing.assert_array_equal(fixed.world_landmarks, clean.world_landmarks)
    np.testing.assert_array_equal(fixed.extras["presence"], clean.extras["presence"])
    np.testing.assert_array_equal(fixed.features["kp"], clean.features["kp"])
    np.testing.assert_array_equal(fixed.features["body"], clean.features["body"])   # not per keypoint
    assert bad.keypoints[45, 11, 0] != clean.keypoints[45, 11, 0]                     # input not changed


def test_a_clean_track_is_left_alone():
    clean = walker(seed=3)
    fixed, info = relabel_left_right(clean, fps=60.0)
    assert info == {"frames": 0} and not fixed.extras["lr_swapped"].any()
    assert fixed.keypoints is clean.keypoints


def test_crossing_sides_is_not_a_swap():
    """Side-on walker: left and right ankles/knees pass each other every step. Each point moves
    smoothly through the other's place; both namings cost about the same there, the detector's
    names stay."""
    T, fps = 150, 30.0
    tr = walker(T, fps, seed=1)
    t = np.arange(T) / fps
    phase = 40 * np.sin(2 * np.pi * 1.0 * t)                     # one stride per second
    kp = tr.keypoints.copy()
    for a, b in zip(*BODY):
        mid = (kp[:, a, 0] + kp[:, b, 0]) / 2
        kp[:, a, 0], kp[:, b, 0] = mid + phase, mid - phase        # sides cross at every zero of phase
    tr = Track2D(id=0, frames=tr.frames, keypoints=kp, layout="blazepose33", boxes=tr.boxes)
    _, info = relabel_left_right(tr, fps=fps)
    assert info == {"frames": 0}


def test_a_run_longer_than_the_cost_allows_keeps_the_detector_names():
    """Continuity cannot tell which naming of a long run is right; past swap_cost's reach the
    detector wins (the documented limit)."""
    bad = swapped(walker(T=300), np.r_[100:260])
    _, info = relabel_left_right(bad, fps=60.0)
    assert info == {"frames": 0}


def test_swap_states_energy_minimum_on_a_tiny_case():
    # one pair, 4 frames, 100 px tall: named L at x=0, R at x=10, swapped in frame 2
    pts = np.zeros((4, 2, 1, 2))
    pts[:, 0, 0, 0], pts[:, 1, 0, 0] = 0.0, 10.0
    pts[2] = pts[2, ::-1]
    conf = np.ones((4, 2, 1))
    h = np.full(4, 100.0)
    # keeping the names costs two jumps of mean 0.1 h; renaming frame 2 costs lambda = 0.5 / fps
    assert swap_states(pts, conf, h, fps=10.0).tolist() == [False, False, True, False]     # 0.05 < 0.2
    assert swap_states(pts, conf, h, fps=2.0).tolist() == [False, False, False, False]     # 0.25 > 0.2
    # no confidence: no evidence, nothing renamed
    assert not swap_states(pts, np.zeros_like(conf), h, fps=10.0).any()


def test_bad_input():
    with pytest.raises(ValueError, match="points"):
        swap_states(np.zeros((4, 3, 1, 2)), np.ones((4, 3, 1)), np.ones(4), 30.0)
    with pytest.raises(ValueError, match="conf"):
        swap_states(np.zeros((4, 2, 1, 2)), np.ones((4, 2)), np.ones(4), 30.0)
    with pytest.raises(ValueError, match="fps"):
        swap_states(np.zeros((4, 2, 1, 2)), np.ones((4, 2, 1)), np.ones(4), 0.0)
    with pytest.raises(ValueError, match="33"):
        relabel_left_right(Track2D(id=0, frames=np.arange(3), keypoints=np.zeros((3, 17, 3)), layout="blazepose33"), 30.0)
    coco = Track2D(id=0, frames=np.arange(3), keypoints=np.zeros((3, 17, 3)), layout="coco17")
    assert relabel_left_right(coco, 30.0) == (coco, {})
    assert swap_states(np.zeros((1, 2, 1, 2)), np.ones((1, 2, 1)), np.ones(1), 30.0).tolist() == [False]


def energy(pts, conf, h, fps, s, swap_cost=0.5, cap=0.5):
    """The module docstring's energy of the labelling ``s``, written out plainly."""
    T, _, n, _ = pts.shape
    e = swap_cost / fps * sum(s)
    for t in range(1, T):
        num = den = 0.0
        for p in range(n):
            w = min(conf[t, 0, p], conf[t, 1, p], conf[t - 1, 0, p], conf[t - 1, 1, p])
            for side in (0, 1):
                a = pts[t, side ^ s[t], p]
                b = pts[t - 1, side ^ s[t - 1], p]
                num += w * min(np.linalg.norm(a - b) / h[t], cap)
                den += w
        e += num / den if den > 0 else 0.0
    return e


@pytest.mark.parametrize("seed", range(6))
def test_swap_states_reaches_the_brute_force_minimum(seed):
    rng = np.random.default_rng(seed)
    T, n = 7, 3
    pts = rng.normal(0, 1, (T, 2, n, 2)) * 5 + np.array([[0.0, 0.0], [30.0, 0.0]])[None, :, None]
    flip = rng.random(T) < 0.4
    pts[flip] = pts[flip][:, ::-1]
    conf = rng.uniform(0, 1, (T, 2, n)) * (rng.random((T, 2, n)) < 0.8)
    h = rng.uniform(80, 120, T)
    for fps in (5.0, 30.0):
        best = min(energy(pts, conf, h, fps, [(code >> t) & 1 for t in range(T)]) for code in range(2 ** T))
        got = swap_states(pts, conf, h, fps).astype(int).tolist()
        assert energy(pts, conf, h, fps, got) == pytest.approx(best, abs=1e-12)


def test_swap_names_undoes_itself_and_checks_shapes():
    a = np.arange(2 * N_KP * 3, dtype=float).reshape(2, N_KP, 3)
    m = np.array([False, True])
    b = swap_names(a, m)
    np.testing.assert_array_equal(b[0], a[0])
    np.testing.assert_array_equal(b[1, 11], a[1, 12])      # left shoulder <- right shoulder
    np.testing.assert_array_equal(b[1, 0], a[1, 0])        # the nose has no twin
    np.testing.assert_array_equal(swap_names(b, m), a)
    with pytest.raises(ValueError, match="33"):
        swap_names(np.zeros((2, 17, 3)), m)


def test_missing_points_are_no_evidence():
    clean = walker(seed=5)
    bad = swapped(clean, np.r_[40:52])
    kp = bad.keypoints.copy()
    kp[44:47, 11] = np.nan                                   # a shoulder missing inside the swapped run
    bad = Track2D(id=0, frames=bad.frames, keypoints=kp, layout="blazepose33", boxes=bad.boxes)
    fixed, info = relabel_left_right(bad, fps=60.0)
    assert info == {"frames": 12}
    np.testing.assert_array_equal(fixed.extras["lr_swapped"], np.isin(np.arange(120), np.r_[40:52]))
