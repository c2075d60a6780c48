import numpy as np
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
