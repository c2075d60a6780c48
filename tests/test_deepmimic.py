"""The DeepMimic clips of the pybullet wheel (unveil.data.deepmimic): file reading, forward
kinematics against hand-computed positions, the SMPL-24 mapping, splits and the evaluation guard.

The forward-kinematics tests run on a URDF written here with the shipped character's joint origins
(no download); the tests on the 15 real clips need the cache (``unveil data deepmimic``) and skip
without it."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from unveil.data import corpus as C
from unveil.data import deepmimic as D
from unveil.errors import UnveilError
from unveil.skeleton import SMPL24_INDEX as I, SMPL24_PARENTS

# the shipped humanoid.urdf's joints (origins in URDF units, 4 x metres)
ORIGINS = {"root": ("base", "0 0 0", "fixed"), "chest": ("root", "0 0.944604 0", "spherical"),
           "neck": ("chest", "0 0.895576 0", "spherical"), "right_hip": ("root", "0 0 0.339548", "spherical"),
           "right_knee": ("right_hip", "0 -1.686184 0", "revolute"),
           "right_ankle": ("right_knee", "0 -1.639480 0", "spherical"),
           "right_shoulder": ("chest", "-0.096200 0.974000 0.732440", "spherical"),
           "right_elbow": ("right_shoulder", "0 -1.099152 0", "revolute"),
           "right_wrist": ("right_elbow", "0 -1.035788 0", "fixed"),
           "left_hip": ("root", "0 0 -0.339548", "spherical"), "left_knee": ("left_hip", "0 -1.686184 0", "revolute"),
           "left_ankle": ("left_knee", "0 -1.639480 0", "spherical"),
           "left_shoulder": ("chest", "-0.096200 0.974000 -0.732440", "spherical"),
           "left_elbow": ("left_shoulder", "0 -1.099152 0", "revolute"),
           "left_wrist": ("left_elbow", "0 -1.035788 0", "fixed")}
URDF = "<robot name='humanoid'>" + "".join(
    f"<link name='{c}'/><joint name='{c}' type='{t}'><parent link='{p}'/><child link='{c}'/>"
    f"<origin rpy='0 0 0' xyz='{xyz}'/></joint>" for c, (p, xyz, t) in ORIGINS.items()) + "</robot>\x00"
IDX = {n: i for i, n in enumerate(D.JOINT_NAMES)}


def _q(axis, deg):
    """(w, x, y, z) quaternion of a rotation by ``deg`` about ``axis``."""
    a = np.radians(deg) / 2
    return [np.cos(a)] + list(np.sin(a) * np.asarray(axis, float))


def _row(**kw):
    f = D.rest_frame()
    cols = {"root_pos": (1, 3), "root": (4, 4), "chest": (8, 4), "neck": (12, 4), "right_hip": (16, 4),
            "right_knee": (20, 1), "right_ankle": (21, 4), "right_shoulder": (25, 4), "right_elbow": (29, 1),
            "left_hip": (30, 4), "left_knee": (34, 1), "left_ankle": (35, 4), "left_shoulder": (39, 4),
            "left_elbow": (43, 1)}
    for k, v in kw.items():
        c, n = cols[k]
        f[c:c + n] = np.atleast_1d(v)
    return f


def _motion(rows, loop="none"):
    return json.dumps({"Loop": loop, "Frames": [list(map(float, r)) for r in rows]})


# ------------------------------------------------------------------------------ no download
def test_layout_matches_the_interpolator():
    """Row columns as humanoid_pose_interpolator.py reads them: 44 numbers, quaternions w first."""
    cols = [c for *_, c in D.LINKS]
    assert cols == [8, 12, 16, 20, 21, 25, 29, 30, 34, 35, 39, 43] and D.ROW == 44
    assert [k for *_, k, _ in D.LINKS].count("rev") == 4


def test_fk_rest_pose_is_the_urdf_offsets_times_a_quarter():
    pos, rot = D.forward_kinematics(D.rest_frame()[None], D.read_urdf(URDF))
    p = pos[0]
    np.testing.assert_allclose(p[IDX["root"]], 0, atol=1e-12)
    np.testing.assert_allclose(p[IDX["chest"]], [0, 0.236151, 0], atol=1e-6)
    np.testing.assert_allclose(p[IDX["neck"]], [0, 0.236151 + 0.223894, 0], atol=1e-6)
    np.testing.assert_allclose(p[IDX["right_hip"]], [0, 0, 0.084887], atol=1e-6)
    np.testing.assert_allclose(p[IDX["right_knee"]], [0, -0.421546, 0.084887], atol=1e-6)
    np.testing.assert_allclose(p[IDX["right_ankle"]], [0, -0.421546 - 0.40987, 0.084887], atol=1e-6)
    np.testing.assert_allclose(p[IDX["left_shoulder"]], [-0.02405, 0.236151 + 0.2435, -0.18311], atol=1e-6)
    np.testing.assert_allclose(p[IDX["left_wrist"]], [-0.02405, 0.236151 + 0.2435 - 0.274788 - 0.258947, -0.18311],
                               atol=1e-6)
    np.testing.assert_allclose(rot[0], np.broadcast_to(np.eye(3), rot[0].shape), atol=1e-12)


def test_fk_hip_flexion_knee_and_root():
    urdf = D.read_urdf(URDF)
    # right hip 90 degrees about z (the lateral axis): the thigh points forward (+x) at hip height;
    # knee -90 degrees (the URDF's limit is [-3.14, 0]): the shin then points down again
    f = _row(right_hip=_q([0, 0, 1], 90), right_knee=-np.pi / 2, root_pos=[1.0, 0.9, -2.0])
    p = D.forward_kinematics(f[None], urdf)[0][0]
    hip = np.array([1.0, 0.9, -2.0 + 0.084887])
    np.testing.assert_allclose(p[IDX["right_hip"]], hip, atol=1e-6)
    np.testing.assert_allclose(p[IDX["right_knee"]], hip + [0.421546, 0, 0], atol=1e-6)
    np.testing.assert_allclose(p[IDX["right_ankle"]], hip + [0.421546, -0.40987, 0], atol=1e-6)
    # knee alone: the shin swings backwards (-x) for a negative angle
    p = D.forward_kinematics(_row(right_knee=-np.pi / 2)[None], urdf)[0][0]
    np.testing.assert_allclose(p[IDX["right_ankle"]], [-0.40987, -0.421546, 0.084887], atol=1e-6)
    # root yaw +90 degrees about y: the right hip (+z) goes to +x
    p = D.forward_kinematics(_row(root=_q([0, 1, 0], 90))[None], urdf)[0][0]
    np.testing.assert_allclose(p[IDX["right_hip"]], [0.084887, 0, 0], atol=1e-6)
    # elbow +90 degrees: forearm forward
    p = D.forward_kinematics(_row(left_elbow=np.pi / 2)[None], urdf)[0][0]
    np.testing.assert_allclose(p[IDX["left_wrist"]] - p[IDX["left_elbow"]], [0.258947, 0, 0], atol=1e-6)


def test_quaternion_convention():
    R = D.quat_to_matrix(np.array(_q([1, 0, 0], 90)))
    np.testing.assert_allclose(R @ [0, 1, 0], [0, 0, 1], atol=1e-12)  # w first, right-handed
    np.testing.assert_allclose(D.quat_to_matrix(np.array([2.0, 0, 0, 0])), np.eye(3))  # normalised
    with pytest.raises(ValueError):
        D.quat_to_matrix(np.zeros((2, 3)))


def test_smpl24_rest_skeleton_is_a_body():
    urdf = D.read_urdf(URDF)
    pos, rot = D.forward_kinematics(D.rest_frame()[None], urdf)
    J = D.to_smpl24(pos, rot, D.derived_offsets(urdf))[0]
    # the spine climbs from pelvis to head on the midline (z = 0); feet forward of the ankles
    ys = [J[I[n], 1] for n in ("pelvis", "spine1", "spine2", "spine3", "neck", "head")]
    assert all(a < b for a, b in zip(ys, ys[1:])), ys
    assert np.abs(J[[I[n] for n in ("pelvis", "spine1", "spine2", "spine3", "neck", "head")], 2]).max() < 1e-9
    for s in "LR":
        d = J[I[f"{s}_foot"]] - J[I[f"{s}_ankle"]]
        assert 0.12 < d[0] < 0.16 and -0.06 < d[1] < -0.03
        assert abs(np.linalg.norm(J[I[f"{s}_hand"]] - J[I[f"{s}_wrist"]]) - 0.111) < 0.005
    assert J[I["L_hip"], 2] < 0 < J[I["R_hip"], 2]  # z is the body's right
    # neck above the shoulder line, head a head-joint above it (the body model: 10 and 11 cm)
    sh = 0.5 * (J[I["L_shoulder"]] + J[I["R_shoulder"]])
    assert 0.08 < J[I["neck"], 1] - sh[1] < 0.12 and 0.09 < J[I["head"], 1] - J[I["neck"], 1] < 0.13


def test_resample_slerps_and_keeps_bones():
    urdf = D.read_urdf(URDF)
    a = _row(right_hip=_q([0, 0, 1], 0))
    b = _row(right_hip=_q([0, 0, 1], 120), root_pos=[0.3, 0, 0])
    a[0] = b[0] = 1 / 16  # 16 fps -> 30 fps
    F = D.resample_frames(np.stack([a, b, a]))
    assert F.shape == (int(2 / 16 * 30) + 1, 44) and np.allclose(F[:, 0], 1 / 30)
    np.testing.assert_allclose(F[0], np.r_[1 / 30, a[1:]])
    # a sample at 1/30 s is 16/30 of the way: angle 64 degrees, root x 0.16
    w = (1 / 30) * 16
    np.testing.assert_allclose(F[1, 16:20], _q([0, 0, 1], 120 * w), atol=1e-9)
    np.testing.assert_allclose(F[1, 1], 0.3 * w, atol=1e-12)
    pos = D.forward_kinematics(F, urdf)[0]
    thigh = np.linalg.norm(pos[:, IDX["right_knee"]] - pos[:, IDX["right_hip"]], axis=-1)
    np.testing.assert_allclose(thigh, 0.421546, atol=1e-6)


def test_loop_frames_shifts_each_cycle():
    a, b = _row(root_pos=[0, 0.9, 0]), _row(root_pos=[0.5, 0.95, 0.1])
    a[0] = 1.0
    b[0] = 0.0
    F, n = D.loop_frames(np.stack([a, b]), min_seconds=2.5)
    assert n == 3 and F.shape[0] == 4
    np.testing.assert_allclose(F[:, 1:4], [[0, 0.9, 0], [0.5, 0.9, 0.1], [1.0, 0.9, 0.2], [1.5, 0.95, 0.3]])


@pytest.mark.parametrize("text,msg", [
    ("{not json", "invalid JSON"),
    ('{"Loop": "none"}', "Frames"),
    ('{"Frames": [[1, 2, 3], [1, 2, 3]]}', "44 numbers"),
    ('{"Frames": [[1, 2], [3]]}', "44 numbers"),
])
def test_malformed_motion_files(text, msg):
    with pytest.raises(UnveilError, match=msg) as e:
        D.read_motion(text, "bad.txt")
    assert "\n" not in str(e.value) and str(e.value).startswith("bad.txt")


def test_bad_durations_and_quaternions():
    r = _row()
    z = r.copy()
    z[0] = 0.0
    with pytest.raises(UnveilError, match="durations"):
        D.read_motion(_motion([z, r]))
    q = r.copy()
    q[8:12] = 0.0
    with pytest.raises(UnveilError, match="zero quaternion"):
        D.read_motion(_motion([r, q]))
    with pytest.raises(UnveilError, match="lacks the joints"):
        D.read_urdf("<robot><joint name='x'><parent link='a'/><child link='b'/></joint></robot>")
    with pytest.raises(UnveilError, match="not valid XML"):
        D.read_urdf("<robot>")


def test_process_synthetic_clip():
    rows = [_row(root_pos=[0.1 * k, 0.9, 0], left_knee=-0.05 * k) for k in range(20)]
    for r in rows:
        r[0] = 1 / 60
    out = D.process(_motion(rows), URDF, "synthetic")
    assert out["joints"].shape == (10, 24, 3) and out["face"].shape == (10, 5, 3) and out["cycles"] == 1
    np.testing.assert_allclose(out["joints"][:, I["L_hip"], 0], 0.2 * np.arange(10), atol=1e-9)
    nose = out["face"][:, 0] - out["joints"][:, I["head"]]
    assert (nose[:, 0] > 0.05).all()  # the face looks forward (+x)


def test_eval_guard_names():
    assert D.is_eval_name("deepmimic-roll@mirror@12") and not D.is_eval_name("deepmimic-crawl")
    assert C.is_eval_clip("deepmimic-cartwheel@mirror", set()) and "deepmimic-getup_faceup" in C.eval_clip_names()
    assert C.parse_mix("bandai+deepmimic*25+mirror") == ({"bandai": 1, "deepmimic": 25}, True)
    sp = D.splits([D.clip_name(m) for m in D.MOTIONS])
    assert sorted(sp["eval"]) == sorted(D.EVAL_CLIPS) and len(sp["train"]) == 12 and sp["val"] == []


def test_cli_bad_wheel_is_one_line(tmp_path):
    bad = tmp_path / "pybullet-3.2.7-x.whl"
    bad.write_bytes(b"not a zip")
    env = {"UNVEIL_CACHE": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "unveil", "data", "deepmimic", "--wheel", str(bad)],
                       capture_output=True, text=True, env={**env, "PYTHONPATH": ":".join(sys.path)})
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "not a wheel" in r.stderr, r.stderr


# ------------------------------------------------------------------------- the real clips
@pytest.fixture(scope="module")
def real():
    if not D.raw_ok():
        pytest.skip("DeepMimic clips not in the cache (run `unveil data deepmimic`)")
    D.build(log=lambda *a: None)
    return {s: D.load_split(s) for s in D.SPLITS}


def test_real_clips(real):
    names = {s: [c.name for c in cl] for s, cl in real.items()}
    assert sorted(names["eval"]) == sorted(D.EVAL_CLIPS) and len(names["train"]) == 12 and names["val"] == []
    assert not set(names["train"]) & set(names["eval"])
    bones = [(j, p) for j, p in enumerate(SMPL24_PARENTS) if p >= 0]
    for c in real["train"] + real["eval"]:
        J = np.asarray(c.joints, np.float64)
        assert c.fps == 30.0 and J.shape[1:] == (24, 3) and np.isfinite(J).all()
        L = np.stack([np.linalg.norm(J[:, j] - J[:, p], axis=-1) for j, p in bones], 1)
        # every bone rigid over the clip (float32 storage: 0.1 mm) but spine2 -> spine3, which
        # crosses the character's chest pivot (measured 21.6-24.1 cm over the 15 clips)
        k = [j for j, _ in bones].index(I["spine3"])
        assert np.ptp(np.delete(L, k, axis=1), axis=0).max() < 1e-4, c.name
        assert 0.21 < L[:, k].min() and L[:, k].max() < 0.245, c.name
        # nothing far below the floor but the hands: the character has no wrist joint, a palm on
        # the floor is a straight hand through it (measured: down to -8.7 cm in getup_facedown)
        hands = [I["L_hand"], I["R_hand"]]
        assert np.delete(J, hands, axis=1)[:, :, 1].min() > -0.02, c.name
        assert J[:, hands, 1].min() > -0.10, c.name
        assert c.n_frames >= 45
    walk = next(c for c in real["train"] if c.name == "deepmimic-walk")
    toe = np.asarray(walk.joints)[:, [I["L_foot"], I["R_foot"]], 1].min(1)
    assert abs(np.percentile(toe, 5) - D.TOE_FLOOR_HEIGHT) < 0.03
    # walking clips go about 1.2 m/s, upright: head 1.4-1.7 m up
    J = np.asarray(walk.joints)
    assert 1.3 < J[:, I["head"], 1].mean() < 1.8


def test_eval_never_in_training_clips(real):
    for split in ("train", "val"):
        clips = C.training_clips(split, "deepmimic*3+mirror")
        assert not any(D.is_eval_name(c.name) for c in clips)
    tr = C.training_clips("train", "deepmimic*2+mirror")
    assert len(tr) == 12 * 2 * 2


def test_body_rest_matches_the_body_model():
    """BODY_REST is the default body model's rest skeleton (re-measured where it is built)."""
    from assets import need_anny_file

    need_anny_file()
    from unveil.body import load_body_model
    from unveil.skeleton import SMPL24_NAMES

    J = load_body_model("anny").rest_joints().detach().cpu().numpy()
    for n, v in D.BODY_REST.items():
        np.testing.assert_allclose(J[SMPL24_NAMES.index(n)], v, atol=0.002, err_msg=n)
