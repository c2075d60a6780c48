"""Swing–twist IK (unveil.fit.ik) on a hand-made rest skeleton (no body model needed)."""

import numpy as np
import roma
import torch

from unveil.fit.ik import (joints_to_rotations, rest_skeleton_tpose, rotations_to_joints,
                           rotmats_to_axis_angle, swing_rotation)


def test_rest_pose_gives_identity():
    rest = rest_skeleton_tpose()
    R = joints_to_rotations(rest, rest)
    assert R.shape == (24, 3, 3)
    assert torch.allclose(R, torch.eye(3, dtype=R.dtype).expand(24, 3, 3), atol=1e-9)


def test_rest_pose_translated_and_numpy():
    rest = rest_skeleton_tpose().numpy()
    R = joints_to_rotations(rest + np.array([0.3, -1.0, 4.0]), rest)
    assert isinstance(R, np.ndarray)
    np.testing.assert_allclose(R, np.broadcast_to(np.eye(3), (24, 3, 3)), atol=1e-9)


def test_posed_skeleton_round_trip_recovers_joints():
    torch.manual_seed(0)
    rest = rest_skeleton_tpose()
    Rt = roma.rotvec_to_rotmat(torch.randn(64, 24, 3, dtype=torch.float64) * 0.6)
    Jt = rotations_to_joints(Rt, rest, root=torch.randn(64, 3, dtype=torch.float64))
    for twist in ("zero", "hinge"):
        Ri = joints_to_rotations(Jt, rest, twist=twist)
        assert torch.allclose(roma.rotmat_to_unitquat(Ri).norm(dim=-1), torch.ones(64, 24, dtype=Ri.dtype))
        Ji = rotations_to_joints(Ri, rest, root=Jt[:, 0])
        assert (Ji - Jt).norm(dim=-1).max() < 1e-6


def test_root_orientation_recovered():
    rest = rest_skeleton_tpose()
    G = roma.rotvec_to_rotmat(torch.tensor([0.3, 2.0, -0.5], dtype=torch.float64))
    R = joints_to_rotations(rest @ G.T, rest)
    assert torch.allclose(R[0], G, atol=1e-9)
    assert torch.allclose(R[1:], torch.eye(3, dtype=R.dtype).expand(23, 3, 3), atol=1e-9)


def test_hinge_twist_recovers_hip_twist_of_a_bent_knee():
    rest = rest_skeleton_tpose()
    R = torch.eye(3, dtype=torch.float64).repeat(24, 1, 1)
    # hip: flex forward and twist about the thigh; knee: pure hinge flexion about x
    R[1] = roma.rotvec_to_rotmat(torch.tensor([-0.6, 0.0, 0.0], dtype=torch.float64)) @ \
        roma.rotvec_to_rotmat(torch.tensor([0.0, 0.4, 0.0], dtype=torch.float64))
    R[4] = roma.rotvec_to_rotmat(torch.tensor([1.2, 0.0, 0.0], dtype=torch.float64))
    J = rotations_to_joints(R, rest)
    Rh = joints_to_rotations(J, rest, twist="hinge")
    Rz = joints_to_rotations(J, rest, twist="zero")
    err_h = roma.rotmat_geodesic_distance(Rh[1], R[1])
    err_z = roma.rotmat_geodesic_distance(Rz[1], R[1])
    # the rest thigh is not exactly vertical, so the recovered twist is close, not exact
    assert err_h < 0.05 < err_z
    assert roma.rotmat_geodesic_distance(Rh[4], R[4]) < 0.05


def test_swing_rotation_antiparallel_and_axis_angle():
    a = torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    R = swing_rotation(a, -a)
    assert torch.allclose((R @ a[..., None]).squeeze(-1), -a, atol=1e-9)
    go, bp = rotmats_to_axis_angle(torch.eye(3).repeat(5, 24, 1, 1))
    assert go.shape == (5, 3) and bp.shape == (5, 23, 3) and np.abs(bp).max() < 1e-6
