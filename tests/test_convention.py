"""The learned mocap -> body-model joint convention (unveil.data.convention)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from unveil.data import bvh as B
from unveil.data import convention as C
from unveil.skeleton import SMPL24_NAMES

from assets import need_anny_file


def test_shipped_table_is_complete():
    d = json.loads(C.table_path("bandai").read_text())
    assert d["names"] == list(SMPL24_NAMES)
    assert np.asarray(d["offsets"]).shape == (24, 3)
    assert d["fit"]["split"] == "train" and d["command"].startswith("unveil data convention --fit")
    assert 0.5 < d["ref_size"] < 2.0
    # offsets are centimetres, not metres of drift
    assert np.linalg.norm(d["offsets"], axis=1).max() < 0.2


def _walk(mocap_dir, tmp_path):
    from test_bvh import _bandai_walk

    return B.read_bvh(_bandai_walk(mocap_dir, tmp_path))


def test_plain_offsets_reproduce_the_plain_mapping(mocap_dir, tmp_path):
    b = _walk(mocap_dir, tmp_path)
    grot, gpos = B.forward_kinematics(b)
    grot, gpos = grot[::20], gpos[::20]
    ref = 1.3  # any reference size: offsets are stored for it and scaled back by apply
    o = C.plain_offsets(b, gpos, grot, "bandai", ref)
    got = C.apply(b, gpos, grot, "bandai", o, ref)
    want = B.to_smpl24(b, gpos, "bandai", convention="plain")
    assert np.abs(got - want).max() < 1e-6


def test_learned_joints_fit_the_body_model_better(mocap_dir, tmp_path):
    """On a clip the table was not fitted on (an evaluation clip): shape + pose fitted to the
    joints of each mapping; the learned mapping must leave a much smaller residual."""
    pytest.importorskip("torch")
    from unveil.body import load_body_model
    from unveil.data import corpus

    need_anny_file()  # absent: skip (fail on CI); present but broken: the load below fails
    model = load_body_model("anny")
    files = corpus.unpack(mocap_dir)
    ev = set(corpus.read_eval_names(mocap_dir))
    clips = [f for f in files if corpus._clip_name(f) in ev][:2]
    res = C.fit_convention(clips, model, iters=150, offsets=C.load_table("bandai")["offsets"], log=lambda *a: None)
    assert res["plain_mpjpe_mm"] > 25.0
    assert res["mpjpe_mm"] < 10.0, res["mpjpe_mm"]


def test_learned_spine_and_head_are_anatomical(mocap_dir, tmp_path):
    """The head joint must sit above the neck on the midline, as on the body model (a fit without
    the midline constraint and the spine pose prior put it 4-10 cm sideways or 45-60 deg forward)."""
    from unveil.skeleton import SMPL24_INDEX as I

    b = _walk(mocap_dir, tmp_path)
    J, *_ = B.bvh_to_smpl24(b)
    left = J[:, I["L_hip"]] - J[:, I["R_hip"]]
    left[:, 1] = 0.0
    left /= np.linalg.norm(left, axis=-1, keepdims=True)
    hn = J[:, I["head"]] - J[:, I["neck"]]
    lateral = np.abs((hn * left).sum(-1)).mean()
    tilt = np.degrees(np.arccos(np.clip(hn[:, 1] / np.linalg.norm(hn, axis=-1), -1, 1))).mean()
    assert lateral < 0.015, lateral
    assert tilt < 35.0, tilt
    for a, c in (("pelvis", "spine1"), ("spine1", "spine2"), ("spine2", "spine3"), ("spine3", "neck")):
        d = J[:, I[c]] - J[:, I[a]]
        assert (d[:, 1] > 0.03).mean() > 0.95, (a, c)  # each spine joint above the previous one
