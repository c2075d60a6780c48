import numpy as np
import pytest
import roma
import torch

from unveil import skeleton as sk


def test_smpl24_tree_matches_contract():
    assert len(sk.SMPL24_NAMES) == 24
    assert sk.SMPL24_PARENTS == (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
    assert sk.SMPL24_NAMES[15] == "head" and sk.SMPL24_NAMES[23] == "R_hand"
    # every parent comes before its child
    assert all(p < c for c, p in enumerate(sk.SMPL24_PARENTS))


def test_flip_is_involution_and_swaps_sides():
    f = np.array(sk.SMPL24_FLIP)
    assert (f[f] == np.arange(24)).all()
    assert sk.SMPL24_NAMES[f[sk.SMPL24_INDEX["L_wrist"]]] == "R_wrist"
    c = np.array(sk.COCO17_FLIP)
    assert (c[c] == np.arange(17)).all()


def test_blazepose_to_coco_names_agree():
    for ci, bi in enumerate(sk.BLAZEPOSE33_TO_COCO17):
        assert sk.BLAZEPOSE33_NAMES[bi] == sk.COCO17_NAMES[ci]
    kp = np.random.default_rng(0).random((5, 33, 3))
    assert sk.to_coco17(kp, "blazepose33").shape == (5, 17, 3)


def test_forward_kinematics_rotates_child_about_parent():
    rest = torch.zeros(24, 3)
    for c, p in enumerate(sk.SMPL24_PARENTS):
        if p >= 0:
            rest[c] = rest[p] + torch.tensor([0.0, -0.1, 0.0])  # chain pointing down
    rot = torch.eye(3).repeat(24, 1, 1)
    rot[1] = roma.rotvec_to_rotmat(torch.tensor([0.0, 0.0, np.pi / 2]))  # L_hip: 90 deg about z
    _, pos = sk.forward_kinematics(rot, rest)
    knee = pos[4] - pos[1]
    assert torch.allclose(knee, torch.tensor([0.1, 0.0, 0.0]), atol=1e-6)  # -y rotated to +x
    assert torch.allclose(pos[2], rest[2])  # other branch untouched


def test_projection_and_camera_roundtrip():
    R = roma.rotvec_to_rotmat(torch.tensor([0.1, 0.2, 0.3])).numpy()
    t = np.array([0.1, -0.2, 4.0])
    x = np.random.default_rng(1).normal(size=(7, 3))
    assert np.allclose(sk.camera_to_world(sk.world_to_camera(x, R, t), R, t), x)
    uv = sk.project(np.array([[0.0, 0.0, 2.0], [1.0, 0.5, 2.0]]), 1000.0, (320, 240))
    assert np.allclose(uv, [[320, 240], [820, 490]])


def _fk_chain(local_rot, rest_joints, parents=sk.SMPL24_PARENTS):
    """The joint-by-joint forward kinematics (the reference for the level-batched one)."""
    glob, pos = [None] * len(parents), [None] * len(parents)
    for j, p in enumerate(parents):
        if p < 0:
            glob[j], pos[j] = local_rot[..., j, :, :], rest_joints[..., j, :]
        else:
            glob[j] = glob[p] @ local_rot[..., j, :, :]
            pos[j] = pos[p] + (glob[p] @ (rest_joints[..., j, :] - rest_joints[..., p, :]).unsqueeze(-1)).squeeze(-1)
    return torch.stack(glob, -3), torch.stack(pos, -2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch", [(), (7,), (3, 5)])
def test_forward_kinematics_equals_the_joint_chain(dtype, batch):
    """Level-batched FK: forward values bit-identical to the joint-by-joint chain, gradients equal to
    float rounding (relative 1e-5 for float32, 1e-12 for float64)."""
    g = torch.Generator().manual_seed(0)
    th = (0.5 * torch.randn(*batch, 24, 3, generator=g, dtype=dtype)).requires_grad_(True)
    rest = torch.randn(*batch, 24, 3, generator=g, dtype=dtype).requires_grad_(True)
    outs, grads = [], []
    for fk in (_fk_chain, sk.forward_kinematics):
        R, P = fk(roma.rotvec_to_rotmat(th), rest)
        outs.append((R, P))
        grads.append(torch.autograd.grad(R.sin().sum() + (P ** 2).sum(), (th, rest)))
    assert torch.equal(outs[0][0], outs[1][0]) and torch.equal(outs[0][1], outs[1][1])
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    for a, b in zip(*grads):
        assert float((a - b).abs().max() / a.abs().max()) < tol


def test_forward_kinematics_other_tree_and_bad_shapes():
    parents = (-1, 0, 1, 0, 3, 3)
    R = torch.eye(3).expand(2, 6, 3, 3).clone()
    R[:, 1] = torch.tensor([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    rest = torch.randn(2, 6, 3)
    a, b = _fk_chain(R, rest, parents), sk.forward_kinematics(R, rest, parents)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    with pytest.raises(ValueError):
        sk.forward_kinematics(R[:, :5], rest[:, :5], parents)
    with pytest.raises(ValueError):
        sk.forward_kinematics(R, rest, (-1, 2, 0, 0, 3, 3))  # a parent after its child
