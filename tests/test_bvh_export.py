"""BVH export: read back with the project's reader, FK, compare with the body model's posed joints."""

from __future__ import annotations

import numpy as np
import pytest
import roma
import torch

from unveil.data.bvh import forward_kinematics, read_bvh
from unveil.io.bvh_export import euler_zxy, write_bvh
from unveil.skeleton import SMPL24_NAMES, SMPL24_PARENTS

from assets import need_anny_file

from test_gltf import make_track, standin_model  # the same stand-in body model and random tracks

torch.set_num_threads(1)


def _axis(ax, deg):
    return roma.rotvec_to_rotmat(torch.tensor(np.deg2rad(deg) * np.eye(3)["XYZ".index(ax)])).numpy()


def test_euler_zxy_convention():
    from scipy.spatial.transform import Rotation

    R = Rotation.random(5, random_state=0).as_matrix()
    z, x, y = euler_zxy(R).T
    for i in range(5):
        np.testing.assert_allclose(_axis("Z", z[i]) @ _axis("X", x[i]) @ _axis("Y", y[i]), R[i], atol=1e-9)


@pytest.mark.parametrize("world", [True, False])
def test_bvh_roundtrip_fk(tmp_path, world):
    model = standin_model()
    track, ref = make_track(model, T=7, seed=11, world=world)
    p = tmp_path / "3.bvh"
    write_bvh(p, track, model, fps=25.0)
    bvh = read_bvh(p)
    assert bvh.n_frames == 7 and abs(bvh.fps - 25.0) < 1e-4
    names = [n for n, e in zip(bvh.names, bvh.is_end) if not e]
    assert sorted(names) == sorted(SMPL24_NAMES) and names[0] == "pelvis"
    assert bvh.channels[0][:3] == ["Xposition", "Yposition", "Zposition"] and len(bvh.channels[1]) == 3
    for j, n in enumerate(SMPL24_NAMES):  # hierarchy = SMPL-24 parents
        pj = SMPL24_PARENTS[j]
        if pj >= 0:
            assert bvh.names[bvh.parents[bvh.index(n)]] == SMPL24_NAMES[pj]
    _, gpos = forward_kinematics(bvh)
    joints = gpos[:, [bvh.index(n) for n in SMPL24_NAMES]] / 100.0
    if world:
        assert np.abs(joints - ref["joints"]).max() < 1e-3
        np.testing.assert_allclose(joints, track.joints_world, atol=1e-4)
    else:  # rigidly related to the camera-frame joints
        jc = track.joints_cam.astype(np.float64)
        dj = np.linalg.norm(joints[:, :, None] - joints[:, None], axis=-1)
        dc = np.linalg.norm(jc[:, :, None] - jc[:, None], axis=-1)
        assert np.abs(dj - dc).max() < 1e-3
    # offsets in cm: bone lengths of the track's rest skeleton
    rest = model.rest_joints(torch.from_numpy(track.shape)[None])[0].double().numpy()
    i = bvh.index("L_knee")
    np.testing.assert_allclose(np.linalg.norm(bvh.offsets[i]), 100 * np.linalg.norm(rest[4] - rest[1]), atol=1e-4)


def test_bvh_anny_roundtrip(tmp_path):
    from unveil.body import load_body_model
    need_anny_file()  # absent: skip (fail on CI); present but broken: the load below fails
    model = load_body_model("anny")
    track, ref = make_track(model, T=4, seed=12)
    write_bvh(tmp_path / "a.bvh", track, model, fps=30.0)
    bvh = read_bvh(tmp_path / "a.bvh")
    _, gpos = forward_kinematics(bvh)
    joints = gpos[:, [bvh.index(n) for n in SMPL24_NAMES]] / 100.0
    assert np.abs(joints - ref["joints"]).max() < 1e-3
