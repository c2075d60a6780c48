"""SMPL-family loader and skinning on small synthetic models (no gated files needed)."""

from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest
import roma
import scipy.sparse as sp
import torch

from unveil.body.base import load_body_model
from unveil.body.smpl import SMPLBody, read_model_file
from unveil.errors import UnveilError
from unveil.skeleton import SMPL24_INDEX, SMPL24_PARENTS

# A T-pose-like joint layout (Y up, facing +Z, +X = body's left), metres.
TPOSE = {
    "pelvis": (0, 0.9, 0), "L_hip": (0.1, 0.85, 0), "R_hip": (-0.1, 0.85, 0), "spine1": (0, 1.0, 0),
    "L_knee": (0.1, 0.5, 0), "R_knee": (-0.1, 0.5, 0), "spine2": (0, 1.1, 0), "L_ankle": (0.1, 0.1, 0),
    "R_ankle": (-0.1, 0.1, 0), "spine3": (0, 1.2, 0), "L_foot": (0.1, 0.0, 0.12),
    "R_foot": (-0.1, 0.0, 0.12), "neck": (0, 1.45, 0), "L_collar": (0.05, 1.4, 0),
    "R_collar": (-0.05, 1.4, 0), "head": (0, 1.6, 0), "L_shoulder": (0.18, 1.4, 0),
    "R_shoulder": (-0.18, 1.4, 0), "L_elbow": (0.45, 1.4, 0), "R_elbow": (-0.45, 1.4, 0),
    "L_wrist": (0.7, 1.4, 0), "R_wrist": (-0.7, 1.4, 0), "L_hand": (0.8, 1.4, 0), "R_hand": (-0.8, 1.4, 0),
}


def make_model(num_joints=24, parents=SMPL24_PARENTS, seed=0, posedirs_scale=0.0):
    """A tiny random SMPL-like model: vertex j sits on joint j (one-hot regressor, rigid weights)
    plus a few extra vertices blended between two joints."""
    rng = np.random.default_rng(seed)
    J = num_joints
    joints = np.zeros((J, 3))
    for name, p in TPOSE.items():
        joints[SMPL24_INDEX[name]] = p
    for k in range(24, J):  # extra joints: a little beyond their parent
        joints[k] = joints[parents[k]] + rng.normal(0, 0.02, 3)
    extra = joints[rng.integers(0, J, 10)] + rng.normal(0, 0.03, (10, 3))
    v_template = np.concatenate([joints, extra]).astype(np.float64)
    V = len(v_template)
    weights = np.zeros((V, J))
    weights[np.arange(J), np.arange(J)] = 1.0
    for i in range(J, V):
        a, b = rng.choice(J, 2, replace=False)
        weights[i, a], weights[i, b] = 0.7, 0.3
    shapedirs = rng.normal(0, 0.01, (V, 3, 10))
    shapedirs[:J] = 0.0  # joints do not move with shape in this toy model
    J_reg = np.zeros((J, V))
    J_reg[np.arange(J), np.arange(J)] = 1.0
    kintree = np.array([[4294967295] + list(parents[1:]), list(range(J))], dtype=np.int64)
    f = rng.integers(0, V, (12, 3))
    posedirs = rng.normal(0, posedirs_scale, (V, 3, (J - 1) * 9)) if posedirs_scale else np.zeros((V, 3, (J - 1) * 9))
    return dict(v_template=v_template, shapedirs=shapedirs, posedirs=posedirs, J_regressor=J_reg,
                weights=weights, kintree_table=kintree, f=f)


def write_chumpy_pickle(path, model):
    """Pickle ``model`` the way the original SMPL .pkl files look: chumpy ``Ch`` objects (here a
    stand-in class living in a fake ``chumpy.ch`` module, removed again before loading), a
    scipy.sparse regressor, protocol 2."""
    mod = types.ModuleType("chumpy.ch")

    class Ch:  # mimics chumpy.ch.Ch: the value lives in .x next to bookkeeping attributes
        def __init__(self, x):
            self.x = np.asarray(x)
            self._dirty_vars = set()
            self._itr = None

    Ch.__module__ = "chumpy.ch"
    Ch.__qualname__ = "Ch"
    mod.Ch = Ch
    pkg = types.ModuleType("chumpy")
    pkg.ch = mod
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = pkg, mod
    try:
        data = dict(model)
        data["v_template"] = Ch(model["v_template"])
        data["shapedirs"] = Ch(model["shapedirs"])
        data["weights"] = Ch(model["weights"])
        data["J_regressor"] = sp.csc_matrix(model["J_regressor"])
        data["bs_style"], data["bs_type"] = "lbs", "lrotmin"
        with open(path, "wb") as fh:
            pickle.dump(data, fh, protocol=2)
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]


def test_fake_chumpy_pickle_loads_and_poses(tmp_path):
    model = make_model(posedirs_scale=0.001)
    path = tmp_path / "basicModel_fake.pkl"
    write_chumpy_pickle(path, model)
    assert "chumpy" not in sys.modules
    raw = read_model_file(path)
    np.testing.assert_allclose(raw["v_template"], model["v_template"])
    np.testing.assert_allclose(raw["J_regressor"], model["J_regressor"])
    body = load_body_model(str(path))
    assert body.kind == "smpl" and body.num_shape == 10 and body.has_correctives
    assert tuple(body.faces.shape) == (12, 3)
    beta = torch.randn(10) * 0.5
    with torch.no_grad():
        out = body(torch.eye(3).expand(2, 24, 3, 3), beta, transl=torch.tensor([1.0, 2.0, 3.0]))
    # zero pose: template + shape blend, pelvis moved to transl
    pelvis = np.array(TPOSE["pelvis"])
    expect = model["v_template"] + model["shapedirs"] @ beta.double().numpy() - pelvis + [1, 2, 3]
    np.testing.assert_allclose(out["vertices"][0].numpy(), expect, atol=1e-5)
    np.testing.assert_allclose(out["joints"][1, 0].numpy(), [1, 2, 3], atol=1e-6)
    np.testing.assert_allclose(body.rest_pelvis_offset(beta).numpy(), pelvis, atol=1e-6)


def test_pose_correctives_are_applied():
    model = make_model(posedirs_scale=0.01)
    body = SMPLBody(model)
    rot = torch.eye(3).repeat(1, 24, 1, 1)
    rot[0, SMPL24_INDEX["L_knee"]] = roma.rotvec_to_rotmat(torch.tensor([0.5, 0.0, 0.0]))
    with torch.no_grad():
        with_c = body(rot)["vertices"]
        body.has_correctives = False
        without = body(rot)["vertices"]
    assert (with_c - without).abs().max() > 1e-3


def test_left_shoulder_minus_90_about_z_moves_left_wrist_down():
    body = SMPLBody(make_model())
    rest = body.rest_joints()
    rot = torch.eye(3).repeat(1, 24, 1, 1)
    rot[0, SMPL24_INDEX["L_shoulder"]] = roma.rotvec_to_rotmat(torch.tensor([0.0, 0.0, -np.pi / 2]))
    with torch.no_grad():
        j = body(rot)["joints"][0]
    sh, wr = SMPL24_INDEX["L_shoulder"], SMPL24_INDEX["L_wrist"]
    arm = (rest[wr] - rest[sh]).norm()
    np.testing.assert_allclose(j[wr].numpy(), (rest[sh] + torch.tensor([0.0, -arm, 0.0])).numpy(), atol=1e-5)
    # the right arm and everything else stays put
    for k in (SMPL24_INDEX["R_wrist"], SMPL24_INDEX["head"], SMPL24_INDEX["L_ankle"]):
        np.testing.assert_allclose(j[k].numpy(), rest[k].numpy(), atol=1e-6)


def test_rest_layout_and_axis_angle_and_batch_dims(tmp_path):
    path = tmp_path / "toy.npz"
    # SMPL-X npz files carry object arrays (e.g. joint2num) that must not stop the loader
    np.savez(path, **make_model(), joint2num=np.array({"pelvis": 0}, dtype=object))
    body = load_body_model(str(path))
    rest = body.rest_joints()
    assert rest[0].abs().max() < 1e-6                                   # pelvis at origin
    for n in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist", "collar"):
        assert rest[SMPL24_INDEX["L_" + n], 0] > 0 > rest[SMPL24_INDEX["R_" + n], 0]
    y = lambda n: float(rest[SMPL24_INDEX[n], 1])  # noqa: E731
    assert y("head") > y("neck") > y("spine3") > y("pelvis") > y("L_knee") > y("L_ankle")
    aa = torch.zeros(3, 5, 24, 3)
    out = body(aa)
    assert out["vertices"].shape == (3, 5, body.v_template.shape[0], 3)
    assert out["joints"].shape == (3, 5, 24, 3)
    np.testing.assert_allclose(out["joints"][2, 4].detach().numpy(), rest.numpy(), atol=1e-6)


def test_smplx_joint_mapping_drives_hands():
    # SMPL-X tree: 22 body joints, jaw + eyes on the head, 15 joints per hand (5 fingers x 3)
    parents = list(SMPL24_PARENTS[:22]) + [15, 15, 15]
    for wrist in (20, 21):
        base = len(parents)
        for finger in range(5):
            parents += [wrist, base + 3 * finger, base + 3 * finger + 1]
    model = make_model(num_joints=55, parents=parents)
    model["posedirs"] = np.zeros((model["v_template"].shape[0], 3, 54 * 9))
    body = SMPLBody(model)
    assert body.kind == "smplx" and body.out_joints[22] == 28 and body.out_joints[23] == 43
    rot = torch.eye(3).repeat(1, 24, 1, 1)
    rot[0, 22] = roma.rotvec_to_rotmat(torch.tensor([0.0, 0.0, -1.0]))
    with torch.no_grad():
        rest = body(torch.eye(3).expand(1, 24, 3, 3))["vertices"][0]
        posed = body(rot)["vertices"][0]
    moved = (posed - rest).norm(dim=-1) > 1e-6
    # the left fingers' 2nd/3rd joints (vertices 26,27, 29,30, ...) move; the right hand does not
    assert moved[[26, 27, 29, 30]].all() and not moved[40:55].any() and not moved[:22].any()
    sw = body.skin_weights
    assert sw.shape == (body.v_template.shape[0], 24)
    np.testing.assert_allclose(sw.sum(1).numpy(), 1.0, atol=1e-6)


def test_bad_files_raise_clear_errors(tmp_path):
    with pytest.raises(UnveilError):
        load_body_model(str(tmp_path / "missing.npz"))
    bad = tmp_path / "bad.npz"
    np.savez(bad, foo=np.zeros(3))
    with pytest.raises(UnveilError, match="missing"):
        load_body_model(str(bad))
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(UnveilError):
        load_body_model(str(junk))
