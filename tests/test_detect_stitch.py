"""Offline identity stitching (unveil.detect.stitch) on synthetic fragments with known identities."""

from __future__ import annotations

import numpy as np

from unveil.detect.stitch import colour_descriptor, join, split_at_gaps, stitch_tracks
from unveil.types import Track2D

rng = np.random.default_rng(1)
POSE = rng.uniform(-1, 1, size=(33, 2)) * [20, 50]  # a fixed 33-point "pose" around the centre
POSE[:, 1] = np.abs(POSE[:, 1])                     # legs below the shoulders, roughly
POSE[[11, 12], 1], POSE[[23, 24], 1], POSE[[25, 26], 1], POSE[[27, 28], 1] = -40, 0, 25, 50
POSE[[11, 23, 25, 27], 0], POSE[[12, 24, 26, 28], 0] = -10, 10


def fragment(tid, frames, centre_fn, colour, vis=0.9, scale=1.0):
    frames = np.asarray(frames)
    kp = np.zeros((len(frames), 33, 3), np.float32)
    for j, f in enumerate(frames):
        kp[j, :, :2] = centre_fn(f) + POSE * scale
    kp[..., 2] = vis
    boxes = np.concatenate([kp[..., :2].min(1), kp[..., :2].max(1)], 1)
    col = np.tile(np.asarray(colour, np.float32), (len(frames), 1))
    return Track2D(id=tid, frames=frames, keypoints=kp, layout="blazepose33", boxes=boxes,
                   extras={"held": np.ones(len(frames), bool), "pose_score": np.full(len(frames), 0.95, np.float32),
                           "colour": col})


def walk_a(f):
    return np.array([50.0 + 4 * f, 200.0])


def walk_b(f):
    return np.array([450.0 - 4 * f, 205.0])


RED, BLUE = (0.8, 0.1, 0.1, 0.2, 0.2, 0.3), (0.1, 0.2, 0.8, 0.3, 0.3, 0.2)


def owner(t, people):
    """Name of the person every held frame of t belongs to (None if it mixes people)."""
    names = set()
    for f, kp, h in zip(t.frames, t.keypoints, t.extras["held"]):
        if h:
            c = kp[:, :2].mean(0) - POSE.mean(0)
            names.add(min(people, key=lambda n: np.hypot(*(people[n](f) - c))))
    return names.pop() if len(names) == 1 else None


def test_crossing_fragments_are_joined_and_noise_dropped():
    # A and B cross at frame 50; each is lost around the crossing and comes back as a new fragment
    frags = [fragment(0, range(0, 45), walk_a, RED), fragment(1, range(0, 48), walk_b, BLUE),
             fragment(2, range(56, 100), walk_a, RED), fragment(3, range(53, 100), walk_b, BLUE),
             fragment(4, range(20, 26), lambda f: np.array([300.0, 60.0]), (0.5,) * 6, vis=0.4)]  # 6 frames of "object"
    info = {}
    out = stitch_tracks(frags, fps=30.0, info=info)
    assert len(out) == 2 and info["dropped"] == [4]
    people = {"A": walk_a, "B": walk_b}
    assert sorted(owner(t, people) for t in out) == ["A", "B"]
    for t in out:
        assert t.frames.tolist() == list(range(100))
        gap = ~t.extras["held"]
        assert gap.sum() in (11, 5) and np.all(t.keypoints[gap, :, 2] == 0)  # bridged frames say so
        assert np.all(t.extras["pose_score"][gap] == 0)


def test_colour_decides_between_two_near_people():
    """Two people standing side by side both hidden for 1 s: motion cannot tell which is which
    (fragments start swapped in order), the colour of torso and legs does."""
    pa, pb = (lambda f: np.array([200.0, 200.0])), (lambda f: np.array([235.0, 200.0]))
    frags = [fragment(0, range(0, 40), pa, RED), fragment(1, range(0, 40), pb, BLUE),
             fragment(2, range(70, 100), lambda f: np.array([225.0, 200.0]), RED),   # A moved right
             fragment(3, range(70, 100), lambda f: np.array([210.0, 200.0]), BLUE)]  # B moved left
    out = stitch_tracks(frags, fps=30.0)
    assert len(out) == 2
    for t in out:
        c = t.extras["colour"][t.extras["held"]]
        assert np.allclose(c, c[0])  # each joined track is one colour = one person


def test_no_link_when_far_or_too_late():
    frags = [fragment(0, range(0, 30), lambda f: np.array([100.0, 200.0]), RED),
             fragment(1, range(40, 80), lambda f: np.array([600.0, 200.0]), RED),   # too far for 10 frames
             fragment(2, range(200, 240), lambda f: np.array([100.0, 200.0]), RED)]  # gap 170 frames > 3 s
    out = stitch_tracks(frags, fps=30.0)
    assert len(out) == 3


def test_join_interpolates_positions_in_the_gap():
    a = fragment(7, [0, 1, 2], lambda f: np.array([10.0 * f, 0.0]), RED)
    b = fragment(8, [6, 7], lambda f: np.array([10.0 * f, 0.0]), RED)
    t = join([a, b], processed=np.arange(0, 8, 1))
    assert t.id == 7 and t.frames.tolist() == list(range(8))
    np.testing.assert_allclose(t.keypoints[4, :, 0], 40.0 + POSE[:, 0], atol=1e-4)
    assert t.extras["held"].tolist() == [True] * 3 + [False] * 3 + [True] * 2
    assert np.isnan(t.extras["colour"][4]).all()


def test_colour_descriptor_reads_torso_and_legs():
    img = np.zeros((300, 300, 3), np.uint8)
    img[:150] = (200, 0, 0)   # top half red (torso), bottom half blue (legs)
    img[150:] = (0, 0, 200)
    kp = np.zeros((33, 3), np.float32)
    kp[:, :2] = [150, 150] + POSE * [2.0, 2.0]
    kp[:, 1] -= 20             # hips at 130: torso in the red half, legs below 150 in the blue
    kp[:, 2] = 0.9
    d = colour_descriptor(img, kp)
    np.testing.assert_allclose(d[:3], [200 / 255, 0, 0], atol=1e-6)
    assert d[5] > 0.5 and d[3] < 0.5  # legs mostly blue (the thigh's top samples may be red)


def test_duplicate_and_handover_and_small_things():
    """A second track on the same person (partial pose: same keypoints, fewer visible) is a
    duplicate; one that outlives the first takes the person over (one track); a tiny thing
    (box under 5 % of the frame height) is dropped; a different person beside stays."""
    a = fragment(0, range(0, 60), walk_a, RED)
    dup = fragment(1, range(10, 30), walk_a, RED)             # inside a's life: dropped
    dup.keypoints[:, 25:, 2] = 0.1                             # legs not seen
    later = fragment(2, range(50, 100), walk_a, RED)          # overlaps a's end, then goes on
    other = fragment(3, range(0, 100), lambda f: walk_a(f) + [60.0, 0.0], BLUE)   # a person beside A
    tiny = fragment(4, range(0, 100), lambda f: np.array([20.0, 20.0]), (0.5,) * 6, scale=0.05)
    info = {}
    out = stitch_tracks([a, dup, later, other, tiny], fps=30.0, frame_height=480, info=info)
    assert info["duplicates"] == [1] and info["handovers"] == [(0, 2)] and info["dropped"] == [4]
    assert info["splits"] == []
    assert len(out) == 2
    people = {"A": walk_a, "O": lambda f: walk_a(f) + [60.0, 0.0]}
    assert sorted(owner(t, people) for t in out) == ["A", "O"]
    assert all(t.frames.tolist() == list(range(100)) for t in out)


def test_crop_that_slides_onto_another_person_is_split_and_relinked():
    """At a crossing the tracker's crop slides from A (red) onto B (blue): one track holds A then B
    while B's own track ended there. The colour change splits the track; the parts are linked to the
    right people (A's part to A's later fragment, B's part to B's earlier track)."""
    def mixed(f):
        return walk_a(f) if f < 50 else walk_b(f)

    slid = fragment(0, range(0, 90), mixed, RED)
    slid.extras["colour"][50:] = BLUE
    b_early = fragment(1, range(0, 48), walk_b, BLUE)
    a_late = fragment(2, range(75, 100), walk_a, RED)
    info = {}
    out = stitch_tracks([slid, b_early, a_late], fps=30.0, info=info)
    assert info["splits"] == [0]
    people = {"A": walk_a, "B": walk_b}
    assert sorted(owner(t, people) for t in out) == ["A", "B"]   # no track mixes the two any more
    assert len(out) == 2


def test_mixed_pose_fragments_of_one_person_join_into_one_track():
    """Demo_MultiPerson cam03, in miniature. M (red) walks past W (blue, standing). The tracker gave
    M two tracks: ``m0`` (0-39) and ``mix`` (20-79), whose frames 20-33 are a second, offset pose on
    M (a mixed crop), then 6 frames lost, then 40-79 on M -- with W's face and hands on M's body
    (the landmark model on a crop holding both). It used to stay two tracks for M (and the face
    points made ``mix`` a duplicate of W); now the gap cuts ``mix``, its later part continues
    ``m0``, and its short offset part is dropped as a ghost on M."""
    w_at = lambda f: np.array([300.0, 200.0])  # noqa: E731
    m0 = fragment(0, range(0, 40), walk_a, RED)
    w = fragment(1, range(0, 100), w_at, BLUE)
    mix = fragment(2, range(20, 80), walk_a, RED)
    mix.keypoints[:14, :, :2] += [10.0, 25.0]                   # 20-33: an offset pose on M
    mix.extras["held"][14:20] = False                           # 34-39: lost
    mix.keypoints[14:20, :, 2] = 0.0
    face_hands = list(range(0, 11)) + list(range(15, 23))       # 40-79: W's face and hands
    for j in range(20, 60):
        mix.keypoints[j, face_hands, :2] = w_at(0) + POSE[face_hands]
    info = {}
    out = stitch_tracks([m0, w, mix], fps=60.0, frame_height=480, info=info)
    assert info["duplicates"] == [] and info["gap_splits"] == [2] and len(info["ghosts"]) == 1
    assert len(out) == 2
    hips = lambda t, f: t.keypoints[list(t.frames).index(f), [23, 24], :2].mean(0)  # noqa: E731
    m = next(t for t in out if t.frames[0] == 0 and np.hypot(*(hips(t, 0) - walk_a(0))) < 1)
    assert m.frames.tolist() == list(range(80)) and bool(m.extras["held"].all())
    assert all(np.hypot(*(hips(m, f) - walk_a(f) - POSE[[23, 24]].mean(0))) < 1e-3 for f in m.frames)
    ww = next(t for t in out if t is not m)
    assert ww.frames.tolist() == list(range(100))
    # before: no cut at gaps, and face points counted as the same person
    old = stitch_tracks([fragment(0, range(0, 40), walk_a, RED), fragment(1, range(0, 100), w_at, BLUE), mix],
                        fps=60.0, frame_height=480, split_gap=0)
    assert len(old) == 3


def test_split_at_gaps():
    t = fragment(0, range(0, 30), walk_a, RED)
    t.extras["held"][[5, 10, 11, 12, 20, 21, 22, 23]] = False
    parts = split_at_gaps(t, 3)
    # 3+ unheld frames cut (10-12, 20-23); a 1-frame gap (5) stays inside its part
    assert [p.frames.tolist() for p in parts] == [list(range(0, 10)), list(range(13, 20)), list(range(24, 30))]
    assert all(p.extras["held"][[0, -1]].all() for p in parts)
    assert [p.frames.tolist() for p in split_at_gaps(t, 4)] == [list(range(0, 20)), list(range(24, 30))]
    assert split_at_gaps(t, 5) == [t]


def test_same_person_is_decided_by_the_body_not_the_face(monkeypatch):
    """Another person's face and hands on this body (a mixed crop): not the same person. With all 33
    points compared (the old rule) the 19 face and hand points made it one."""
    from unveil.detect import stitch

    w_at = lambda f: np.array([300.0, 200.0])  # noqa: E731
    w = fragment(1, range(0, 60), w_at, BLUE)
    mix = fragment(2, range(0, 60), walk_a, RED)
    face_hands = list(range(0, 11)) + list(range(15, 23))
    mix.keypoints[:, face_hands, :2] = w_at(0) + POSE[face_hands]
    assert stitch.same_person_frac(w, mix)[0] < 0.2
    monkeypatch.setattr(stitch, "BODY_POINTS", list(range(33)))
    assert stitch.same_person_frac(w, mix)[0] >= 0.6
