"""Anny behind the body interface: native rig and the Anny-derived SMPL-format model."""

from __future__ import annotations

import numpy as np
import pytest
import roma
import torch

from unveil.body.base import PART_NAMES, load_body_model
from unveil.skeleton import SMPL24_INDEX

from assets import need_anny_cache, need_anny_file

I = SMPL24_INDEX


def _need_anny_cache():
    pytest.importorskip("anny")
    need_anny_cache()


def _need_anny_smpl():
    need_anny_file()


@pytest.fixture(scope="module")
def native():
    _need_anny_cache()
    torch.set_num_threads(1)
    return load_body_model("anny-native")


@pytest.fixture(scope="module")
def anny():
    _need_anny_smpl()
    torch.set_num_threads(1)
    return load_body_model("anny")


def _check_rest_layout(rest: torch.Tensor):
    rest = rest.detach()
    assert rest[0].abs().max() < 1e-5                                       # pelvis at the origin
    for n in ("hip", "knee", "ankle", "foot", "collar", "shoulder", "elbow", "wrist", "hand"):
        assert rest[I["L_" + n], 0] > 0.02 > -0.02 > rest[I["R_" + n], 0], n  # +X is the body's left
    y = lambda n: float(rest[I[n], 1])  # noqa: E731
    assert y("head") > y("neck") > y("spine3") > y("spine2") > y("spine1") > y("pelvis")
    assert y("pelvis") > y("L_knee") > y("L_ankle") > y("L_foot")
    assert 1.4 < y("head") - y("L_foot") + 0.15 < 2.0                       # an adult's stature
    assert rest[I["L_foot"], 2] > rest[I["L_ankle"], 2] + 0.05              # toes point forward (+Z)
    # T-pose: arms horizontal along +-X, legs straight down
    arm = rest[I["L_wrist"]] - rest[I["L_shoulder"]]
    assert abs(float(arm[1])) < 1e-3 and abs(float(arm[2])) < 1e-3 and float(arm[0]) > 0.4
    leg = rest[I["L_ankle"]] - rest[I["L_hip"]]
    assert abs(float(leg[0])) < 1e-3 and abs(float(leg[2])) < 1e-3


def test_native_rest_layout(native):
    _check_rest_layout(native.rest_joints())
    with torch.no_grad():
        j = native(torch.eye(3).expand(1, 24, 3, 3))["joints"][0]
    np.testing.assert_allclose(j.numpy(), native.rest_joints().numpy(), atol=1e-5)


def test_anny_smpl_rest_layout(anny):
    assert anny.num_shape == 10 and anny.faces.shape[1] == 3
    _check_rest_layout(anny.rest_joints())


@pytest.mark.parametrize("which", ["native", "anny"])
def test_left_shoulder_minus_90_about_z_moves_left_wrist_down(which, request):
    body = request.getfixturevalue(which)
    rest = body.rest_joints().detach()
    rot = torch.eye(3).repeat(1, 24, 1, 1)
    rot[0, I["L_shoulder"]] = roma.rotvec_to_rotmat(torch.tensor([0.0, 0.0, -np.pi / 2]))
    with torch.no_grad():
        j = body(rot)["joints"][0]
    sh, wr = I["L_shoulder"], I["L_wrist"]
    arm = float((rest[wr] - rest[sh]).norm())
    np.testing.assert_allclose(j[wr].numpy(), (rest[sh] + torch.tensor([0.0, -arm, 0.0])).numpy(), atol=2e-3)
    np.testing.assert_allclose(j[I["R_wrist"]].numpy(), rest[I["R_wrist"]].numpy(), atol=1e-5)
    # a knee bent by +90 deg about x brings the left ankle backward (-Z): SMPL convention
    rot = torch.eye(3).repeat(1, 24, 1, 1)
    rot[0, I["L_knee"]] = roma.rotvec_to_rotmat(torch.tensor([np.pi / 2, 0.0, 0.0]))
    with torch.no_grad():
        j = body(rot)["joints"][0]
    assert j[I["L_ankle"], 2] < rest[I["L_knee"], 2] - 0.3


def test_native_and_anny_smpl_agree(native, anny):
    torch.manual_seed(0)
    rot = roma.rotvec_to_rotmat(torch.randn(6, 24, 3) * 0.5)
    transl = torch.randn(6, 3)
    with torch.no_grad():
        a = anny(rot, transl=transl)
        n = native(rot, transl=transl)
    err = (a["joints"] - n["joints"]).norm(dim=-1)
    assert float(err.max()) < 0.005, float(err.max())          # joints within 5 mm
    verr = (a["vertices"] - n["vertices"]).norm(dim=-1)
    assert float(verr.median()) < 0.002, float(verr.median())  # the mesh agrees almost everywhere


def test_parts_and_skin_weights(anny):
    parts = anny.vertex_parts
    v = anny.rest_vertices().detach().numpy()
    assert parts.shape == (v.shape[0],)
    assert set(np.unique(parts)) == set(range(len(PART_NAMES)))
    mean_y = {name: v[parts == k, 1].mean() for k, name in enumerate(PART_NAMES)}
    assert mean_y["hair"] > mean_y["shirt"] > mean_y["trousers"] > mean_y["shoes"]
    w = anny.skin_weights
    assert w.shape == (v.shape[0], 24)
    np.testing.assert_allclose(w.sum(1).numpy(), 1.0, atol=1e-4)
    assert anny.vertex_colors().shape == (v.shape[0], 3)


def test_shape_changes_body_and_load_is_cached(anny):
    assert load_body_model("anny") is anny
    tall = anny.rest_joints(torch.full((10,), 2.0))
    base = anny.rest_joints()
    assert float((tall - base).abs().max()) > 0.01
    # a batch of shapes with one pose each
    with torch.no_grad():
        out = anny(torch.zeros(3, 24, 3), torch.randn(3, 10))
    assert out["vertices"].shape[0] == 3


def test_shape_from_phenotypes(native, anny):
    from unveil.body.anny import DEFAULT_PHENOTYPES
    from unveil.body.anny_smpl import shape_from_phenotypes

    phen = torch.tensor([DEFAULT_PHENOTYPES, (0.5, 2 / 3, 0.5, 0.5, 1.0, 0.5)])
    beta = shape_from_phenotypes(phen, anny, native)
    assert beta.shape == (2, 10) and float(beta[0].abs().max()) < 1e-3   # neutral adult = 0
    rest = anny.rest_joints(beta)
    stature = rest[:, I["head"], 1] - rest[:, I["L_ankle"], 1]
    assert float(stature[1]) > float(stature[0]) + 0.03                      # height 1.0 is taller
    with torch.no_grad():
        err = (anny.rest_vertices(beta[1]) - native.rest_vertices(phen[1])).norm(dim=-1)
    assert float(err.mean()) < 0.005


@pytest.mark.parametrize("which", ["native", "anny"])
def test_joints_are_forward_kinematics_of_rest_joints(which, request):
    """Fitting code relies on: posed joints = FK(local rotations, rest_joints(shape)) + transl."""
    from unveil.skeleton import forward_kinematics

    body = request.getfixturevalue(which)
    torch.manual_seed(1)
    rot = roma.rotvec_to_rotmat(torch.randn(4, 24, 3) * 0.6)
    transl = torch.randn(4, 3)
    with torch.no_grad():
        j = body(rot, transl=transl)["joints"]
    _, fk = forward_kinematics(rot, body.rest_joints().detach().expand(4, 24, 3))
    np.testing.assert_allclose(j.numpy(), (fk + transl[:, None]).numpy(), atol=2e-5)
