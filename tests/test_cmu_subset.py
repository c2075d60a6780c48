"""The CMU subset on a Character Creator rig (unveil.data.cmu_subset), mirroring and the training
mixes (unveil.data.corpus): joint mapping, splits, and that no evaluation clip reaches training."""

from __future__ import annotations

import json

import numpy as np
import pytest

from unveil.data import bvh as B
from unveil.data import cmu_subset as CS
from unveil.data import deepmimic as DM
from unveil.data import convention as CV
from unveil.data import corpus as C
from unveil.data import synth2d as S
from unveil.errors import UnveilError
from unveil.skeleton import SMPL24_FLIP, SMPL24_INDEX as I, SMPL24_NAMES, SMPL24_PARENTS


def _bvh(name):
    files = {f.stem: f for f in CS.unpack(log=lambda *a: None)}
    return B.read_bvh(files[name])


def _standin():
    c = S.standin_clip(60, seed=1, name="dataset-2_walk_normal_001")
    return C.MocapClip(name=c.name, source="standin", fps=30.0, joints=c.joints, face=c.face)


# ------------------------------------------------------------------------------ no shared data
def test_cc_table_shipped():
    d = json.loads(CV.table_path("cc").read_text())
    assert d["kind"] == "cc" and d["names"] == list(SMPL24_NAMES)
    assert np.asarray(d["offsets"]).shape == (24, 3)
    # fitted on the 51 clips that are not subject 2 (46 train + 5 val), never the evaluation subject
    assert d["fit"]["split"] == "train+val" and d["fit"]["clips"] == 51
    assert np.linalg.norm(d["offsets"], axis=1).max() < 0.2  # centimetres, not metres of drift


def test_bandai_corpus_id_ignores_the_cc_table():
    """The shipped weights' caches are keyed by the Bandai corpus id: adding the CMU-subset table
    must not change it (v4-9894601c = the id before the CMU subset existed, corpus v4)."""
    assert C.corpus_id() == "v4-9894601c"
    assert CS.subset_id().startswith(f"v{CS.LAYOUT_VERSION}-") and not CS.subset_id().endswith("-plain")


def test_mirror_swaps_left_right_and_is_an_involution():
    c = _standin()
    m = C.mirror_clip(c)
    J, M = np.asarray(c.joints), np.asarray(m.joints)
    assert m.name == c.name + "@mirror" and C.base_name(m.name) == c.name
    # the mirrored left knee does what the right knee did, reflected (x -> -x)
    np.testing.assert_allclose(M[:, I["L_knee"]], J[:, I["R_knee"]] * [-1, 1, 1])
    np.testing.assert_allclose(M[:, I["pelvis"]], J[:, I["pelvis"]] * [-1, 1, 1])
    # still a body with its left side on its left: the stand-in faces +Z with its left at +X
    assert (M[:, I["L_hip"], 0] > M[:, I["R_hip"], 0]).all()
    assert (M[:, I["L_shoulder"], 0] > M[:, I["R_shoulder"], 0]).all()
    F = np.asarray(m.face)
    assert (F[:, 1, 0] > F[:, 2, 0]).all() and (F[:, 3, 0] > F[:, 4, 0]).all()  # l_eye / l_ear left
    # bone lengths unchanged, and not the identity (the walk is asymmetric within a frame)
    bones = lambda x: np.linalg.norm(x[:, 1:] - x[:, list(SMPL24_PARENTS[1:])], axis=-1)  # noqa: E731
    np.testing.assert_allclose(bones(M), bones(J), atol=1e-5)
    assert np.abs(M - J).max() > 0.1
    mm = C.mirror_clip(m)
    assert mm.name == c.name and not mm.meta["mirrored"]
    np.testing.assert_array_equal(mm.joints, c.joints)
    np.testing.assert_array_equal(mm.face, c.face)
    assert tuple(SMPL24_FLIP[i] for i in SMPL24_FLIP) == tuple(range(24))


def test_parse_mix():
    assert C.parse_mix("bandai") == ({"bandai": 1}, False)
    assert C.parse_mix("bandai+cmu*10+mirror") == ({"bandai": 1, "cmu": 10}, True)
    for bad in ("", "mirror", "bandai+amass", "cmu*0", "cmu*x"):
        with pytest.raises(UnveilError):
            C.parse_mix(bad)


def test_eval_names_are_recognised_in_derived_names():
    assert CS.is_eval_name("cmu-cc-002_05") and CS.is_eval_name("cmu-cc-002_05@mirror@30")
    assert not CS.is_eval_name("cmu-cc-005_02@mirror") and not CS.is_eval_name("dataset-1_kick_normal_001")
    assert S._is_eval(C.MocapClip("cmu-cc-002_10@17", "x", 30.0, np.zeros((1, 24, 3)), np.zeros((1, 5, 3))), set())


# --------------------------------------------------------------------------------- shared data
def test_tpose_frame_maps_to_a_plausible_skeleton(mocap_dir):
    """007_03 starts with the added T-pose: both mappings give an adult-sized body with its left
    joints on its left and anatomical bone lengths; the T-pose frame is detected and dropped."""
    b = _bvh("007_03")
    grot, gpos = B.forward_kinematics(b)
    assert B.skeleton_kind(b) == "cc"
    assert CS.first_motion_frame(gpos) == 1
    assert CS.first_motion_frame(B.forward_kinematics(_bvh("002_01"))[1]) == 0  # starts in motion
    for conv in ("plain", "learned"):
        J = B.to_smpl24(b, gpos[:1], "cc", grot[:1], convention=conv)[0]
        up = np.array([0.0, 1.0, 0.0])
        fwd = (J[I["L_foot"]] + J[I["R_foot"]] - J[I["L_ankle"]] - J[I["R_ankle"]])
        fwd[1] = 0
        left = np.cross(up, fwd / np.linalg.norm(fwd))
        for n in ("hip", "knee", "ankle", "foot", "collar", "shoulder", "elbow", "wrist", "hand"):
            assert (J[I["L_" + n]] - J[I["R_" + n]]) @ left > 0.05, (conv, n)
        L = lambda a, c: float(np.linalg.norm(J[I[a]] - J[I[c]]))  # noqa: E731
        # adult ranges (m), generous: thigh/shin 0.35-0.55, upper arm 0.2-0.36, forearm 0.18-0.32
        assert 0.35 < L("L_hip", "L_knee") < 0.55 and 0.35 < L("R_knee", "R_ankle") < 0.55, conv
        assert 0.20 < L("L_shoulder", "L_elbow") < 0.36 and 0.18 < L("R_elbow", "R_wrist") < 0.32, conv
        assert 0.10 < L("L_hip", "R_hip") < 0.30 and 0.25 < L("L_shoulder", "R_shoulder") < 0.50, conv
        assert 1.3 < J[I["head"], 1] - min(J[I["L_ankle"], 1], J[I["R_ankle"], 1]) < 1.9, conv
        # T-pose: arms horizontal, head above neck above pelvis
        arm = J[I["L_wrist"]] - J[I["L_shoulder"]]
        assert abs(arm[1]) < 0.15 * np.linalg.norm(arm), conv
        assert J[I["head"], 1] > J[I["neck"], 1] > J[I["spine2"], 1] > J[I["pelvis"], 1], conv


def test_subset_splits_floor_and_fps(mocap_dir):
    ev = CS.load_split("eval")
    assert len(ev) == 10 and all(c.name.startswith("cmu-cc-002_") for c in ev)
    tr, va = CS.load_split("train"), CS.load_split("val")
    assert len(tr) + len(va) == 51 and not any(CS.subject_of(c.name) == "002" for c in tr + va)
    assert {CS.subject_of(c.name) for c in tr} == {"001", "003", "005", "006", "007"}
    # 61 clips, ~26,500 frames at 60 fps (shared/README.md) -> ~13,250 at 30 fps, less 10 T-poses
    total = sum(c.n_frames for c in ev + tr + va)
    assert 13000 < total < 13400, total
    for c in ev + va:
        J = np.asarray(c.joints)
        assert c.fps == 30.0 and J.shape[1:] == (24, 3) and np.isfinite(J).all()
        toes = J[:, [I["L_foot"], I["R_foot"]], 1].min(1)
        assert abs(np.percentile(toes, 5) - CS.TOE_FLOOR_HEIGHT) < 0.002, c.name  # floor-calibrated
        # at 30 fps no joint moves more than 0.5 m between frames (15 m/s)
        assert np.linalg.norm(np.diff(J, axis=0), axis=-1).max() < 0.5, c.name
        assert c.meta["description"], c.name


def test_no_evaluation_clip_reaches_a_training_set(mocap_dir, monkeypatch):
    """Neither a Bandai evaluation clip nor a CMU subject-2 clip (nor a mirrored copy of one) is in
    any training pool, nor in the windows drawn from it; a loader that returned one is caught."""
    ev = set(C.read_eval_names(mocap_dir)) | {c.name for c in CS.load_split("eval")}
    assert len(ev) == 52 and S.eval_names() == ev | set(DM.EVAL_CLIPS)  # + the 3 DeepMimic ones
    for split in ("train", "val"):
        pool = C.training_clips(split, "bandai+cmu*2+mirror")
        names = {C.base_name(c.name) for c in pool}
        assert any(n.startswith("cmu-cc-") for n in names) and any(c.name.endswith("@mirror") for c in pool)
        assert not names & ev, sorted(names & ev)[:5]
        w = S.training_windows(split, window=32, n=12, seed=0, mix="bandai+cmu*20+mirror")
        assert not {C.base_name(n) for n in w["name"]} & ev
    # negative control: a stale CMU cache that put subject 2 into "train" is refused
    monkeypatch.setattr(CS, "load_split", lambda split: _eval_as_train())
    with pytest.raises(UnveilError, match="evaluation clips"):
        C.training_clips("train", "cmu")


def _eval_as_train():
    return [C.MocapClip(name="cmu-cc-002_01", source="cmu-iclone", fps=30.0, joints=np.zeros((40, 24, 3)),
                        face=np.zeros((40, 5, 3)))]


def test_bench_accuracy_eval_cmu(mocap_dir, tmp_path):
    from unveil.bench import accuracy

    rc = accuracy.main(["--eval", "cmu", "--quick", "--clips", "2", "--kinds", "none,person",
                        "--methods", "perframe", "--out", str(tmp_path)], prog="unveil bench accuracy")
    assert rc == 0
    res = json.loads((tmp_path / "accuracy.json").read_text())
    assert res["config"]["eval"] == "cmu" and set(res["kinds"]) == {"none", "person"}
    assert res["kinds"]["none"]["clips"] == 2


def test_scaled_cmu_source_has_the_bandai_body_size(mocap_dir):
    """"cmuscaled": the CMU clips (one 1.85 m conversion rig) scaled to Bandai's median leg length."""
    clips = C.training_clips("val", "bandai+cmuscaled")
    cmu = [c for c in clips if c.name.startswith("cmu")]
    bandai = [c for c in clips if not c.name.startswith("cmu")]
    assert cmu and all("@x" in c.name for c in cmu)
    ref = C.median_leg_length(C.load_split("train", max_clips=200, seed=0))
    assert abs(C.median_leg_length(cmu) - ref) < 0.01                     # measured: equal to 1 mm
    assert abs(C.median_leg_length(bandai) - ref) < 0.03
    assert not any(C.is_eval_clip(c.name) for c in clips)
