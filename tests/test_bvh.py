"""BVH reader: parsing, forward kinematics, retargeting to SMPL-24."""

from __future__ import annotations

import numpy as np
import pytest

from unveil.data import bvh as B
from unveil.errors import UnveilError
from unveil.skeleton import SMPL24_INDEX, bone_lengths

TINY = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Chest
  {
    OFFSET 0 10 0
    CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 5 0
    }
  }
  JOINT Leg
  {
    OFFSET 2 0 0
    CHANNELS 3 Zrotation Xrotation Yrotation
  }
}
MOTION
Frames: 3
Frame Time: 0.0333333
0 0 0 0 0 0   0 10 0 0 0 0   0 0 0
1 2 3 90 0 0  0 10.000001 0 0 0 0   0 0 0
0 0 0 0 90 0  0 10 0 0 0 0   0 0 0
"""


def test_tiny_bvh_parses_and_fk():
    b = B.parse_bvh(TINY)
    assert b.names == ["Hips", "Chest", "Chest_end", "Leg"]
    assert list(b.parents) == [-1, 0, 1, 0]
    assert b.n_frames == 3 and abs(b.fps - 30.0) < 1e-3
    grot, gpos = B.forward_kinematics(b)
    # frame 0: rest
    np.testing.assert_allclose(gpos[0, 1], [0, 10, 0], atol=1e-9)
    np.testing.assert_allclose(gpos[0, 2], [0, 15, 0], atol=1e-9)
    # frame 1: root at (1,2,3), rotated 90 deg about Z: local +Y -> world -X
    np.testing.assert_allclose(gpos[1, 0], [1, 2, 3], atol=1e-9)
    np.testing.assert_allclose(gpos[1, 1], [1 - 10, 2, 3], atol=1e-6)
    np.testing.assert_allclose(gpos[1, 3], [1, 2 + 2, 3], atol=1e-9)
    # frame 2: 90 deg about X: local +Y -> world +Z
    np.testing.assert_allclose(gpos[2, 2], [0, 0, 15], atol=1e-9)
    # the Chest's near-constant position channels are treated as its (fixed) offset
    np.testing.assert_allclose(np.linalg.norm(gpos[:, 1] - gpos[:, 0], axis=-1), 10.0, atol=1e-12)
    assert np.allclose(grot @ np.swapaxes(grot, -1, -2), np.eye(3), atol=1e-9)


def test_tolerant_of_truncated_rows_and_bad_input():
    b = B.parse_bvh(TINY.rstrip() + " 5 5\n")  # a truncated extra row is dropped
    assert b.n_frames == 3
    crlf = B.parse_bvh(TINY.replace("\n", "\r\n").replace("  ", "\t"))  # Windows line ends, tabs
    np.testing.assert_array_equal(crlf.motion, B.parse_bvh(TINY).motion)
    assert crlf.names == ["Hips", "Chest", "Chest_end", "Leg"]
    with pytest.raises(UnveilError):
        B.parse_bvh("HIERARCHY\nROOT a\n{\n")
    with pytest.raises(UnveilError):
        B.skeleton_kind(b)


def test_cmu_stature_and_rigidity(mocap_dir):
    b = B.read_bvh(mocap_dir / "cmu" / "01_01.bvh")
    assert B.skeleton_kind(b) == "cmu" and abs(b.fps - 120) < 0.1
    _, gpos = B.forward_kinematics(b)
    head_top = gpos[0, b.index("Head_end"), 1] * B.UNIT_SCALE["cmu"]
    assert abs(head_top - 1.53) < 0.02, head_top
    joints = B.to_smpl24(b, gpos)
    assert joints.shape == (b.n_frames, 24, 3)
    bl = bone_lengths(joints)
    assert np.ptp(bl, axis=0).max() < 1e-6
    # T-pose frame: arms horizontal, left side at +x, feet near the floor
    I = SMPL24_INDEX
    t0 = joints[0]
    assert t0[I["L_wrist"], 0] - t0[I["R_wrist"], 0] > 1.0
    assert abs(t0[I["L_wrist"], 1] - t0[I["L_shoulder"], 1]) < 0.1
    assert 0.0 < t0[I["L_foot"], 1] < 0.1


def _bandai_walk(mocap_dir, tmp_path):
    import tarfile

    name = "dataset/Bandai-Namco-Research-Motiondataset-1/data/dataset-1_walk_normal_001.bvh"
    from unveil.data.corpus import raw_dir

    cached = raw_dir() / name
    if cached.is_file():
        return cached
    with tarfile.open(mocap_dir / "bandai-motiondataset.tar.xz", "r:xz") as tf:
        tf.extract(name, tmp_path, filter="data")
    return tmp_path / name


def test_bandai_walk(mocap_dir, tmp_path):
    b = B.read_bvh(_bandai_walk(mocap_dir, tmp_path))
    assert B.skeleton_kind(b) == "bandai" and abs(b.fps - 30) < 0.01
    joints, head_rot, fps, kind = B.bvh_to_smpl24(b)
    assert head_rot.shape == (b.n_frames, 3, 3)
    # the plain table mapping is rigid; the learned convention's joints ride on different mocap
    # segments (unveil.data.convention), so its bone lengths vary a little with the pose
    plain, *_ = B.bvh_to_smpl24(b, convention="plain")
    assert np.ptp(bone_lengths(plain), axis=0).max() < 1e-6
    assert bone_lengths(joints).std(0).max() < 0.01
    assert np.abs(joints - plain).max() > 0.05  # the learned table is in use
    travel = np.linalg.norm(joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]])
    assert 7.5 < travel < 8.5, travel
    I = SMPL24_INDEX
    # upright, metres, Y up: head well above pelvis above knees above ankles
    y = joints[:, :, 1].mean(0)
    assert y[I["head"]] > y[I["neck"]] > y[I["pelvis"]] > y[I["L_knee"]] > y[I["L_ankle"]] > 0
    assert 1.2 < y[I["head"]] < 1.6
