"""bench: registry, baseline rows on a tiny sequence, scoring, tables, CLI wiring."""

import json

import numpy as np
import pytest
import torch

from unveil.bench import accuracy, registry
from unveil.data import synth2d as S


@pytest.fixture(scope="module")
def seqs():
    c = S.standin_clip(60, seed=0)
    o = S.standin_clip(60, seed=1, name="occ")
    return {k: [S.make_sequence(c, k, 0, occluder=o)] for k in ("none", "object", "lower")}


@pytest.fixture()
def random_perframe(monkeypatch):
    """Baselines with an untrained (seeded) lifter, so the test needs no shipped weights."""
    from unveil.motion import perframe

    torch.manual_seed(0)
    model = perframe.PerFrameLifter().eval()
    monkeypatch.setattr(perframe, "load", lambda path=None: model)
    return model


def test_baseline_rows_run_on_tiny_sequence(seqs, random_perframe):
    import unveil.bench.baselines  # noqa: F401 - registers the rows

    seq = seqs["object"][0]
    inp = S.inputs_of(seq)
    assert not hasattr(inp, "joints_cam") and not hasattr(inp, "occluded")
    for name in ("perframe", "interp", "savgol"):
        out = registry.get(name).fn(inp)
        j = out["joints"]
        assert j.shape == (60, 24, 3) and np.isfinite(j).all()
        assert np.allclose(j[:, 0], 0, atol=1e-6)


def test_interpolation_and_savgol_hand_cases():
    from unveil.bench.baselines import interpolate_low_confidence, savgol, smpl_confidence

    T = 5
    j = np.zeros((T, 24, 3))
    j[:, 20, 0] = [0.0, 9.0, 9.0, 3.0, 4.0]
    conf = np.ones((T, 24))
    conf[1:3, 20] = 0.1
    out = interpolate_low_confidence(j, conf)
    assert np.allclose(out[:, 20, 0], [0.0, 1.0, 2.0, 3.0, 4.0])
    kp = np.ones((T, 17, 3))
    kp[:, 9, 2] = 0.2
    c = smpl_confidence(kp)
    assert np.allclose(c[:, 20], 0.2) and np.allclose(c[:, 22], 0.2) and np.isnan(c[:, 0]).all()
    line = np.linspace(0, 1, 31)[:, None, None] * np.ones((1, 24, 3))
    assert np.allclose(savgol(line), line)  # a Savitzky-Golay filter keeps polynomials


def test_perfect_method_scores_zero_and_tables(seqs):
    registry.register("_truth_for_test", lambda inp: None)  # replaced below per sequence
    truth = {id(s.keypoints2d): s for k in seqs for s in seqs[k]}

    def oracle(inp):
        s = next(s for s in truth.values() if np.array_equal(s.keypoints2d, inp.keypoints2d))
        return {"joints": s.joints_rel, "joints_cam": s.joints_cam}

    registry.register("_truth_for_test", oracle, group="test")
    res = accuracy.run_benchmark(seqs, ["_truth_for_test"], log=lambda *a: None)
    for kind, r in res["kinds"].items():
        row = r["rows"]["_truth_for_test"]
        for key in ("mpjpe", "pa_mpjpe", "accel", "gmpjpe"):
            assert row[key] == pytest.approx(0.0, abs=1e-3), (kind, key)
    assert "mpjpe_occ" in res["kinds"]["lower"]["rows"]["_truth_for_test"]
    md = accuracy.markdown(res)
    assert "### lower" in md and "| _truth_for_test |" in md


def test_scores_deterministic_and_error_detected(seqs, random_perframe):
    import unveil.bench.baselines  # noqa: F401

    a = accuracy.run_benchmark(seqs, ["perframe", "savgol"], log=lambda *a: None)
    b = accuracy.run_benchmark(seqs, ["perframe", "savgol"], log=lambda *a: None)
    assert accuracy.markdown(a) == accuracy.markdown(b)
    assert a["kinds"]["none"]["rows"]["perframe"]["mpjpe"] > 10  # an untrained lifter is wrong
    registry.register("_bad_shape", lambda inp: {"joints": np.zeros((3, 24, 3))}, group="test")
    c = accuracy.run_benchmark(seqs, ["_bad_shape"], log=lambda *a: None)
    assert any("_bad_shape" in n for n in c["notes"])


def test_registry_skips_missing_modules():
    registry._LOAD_NOTES = None
    try:
        notes = registry.load_all(("unveil.bench.baselines", "unveil.no_such_module_xyz"))
    finally:
        registry._LOAD_NOTES = None
    assert any("no_such_module_xyz" in n and "skipped" in n for n in notes)
    with pytest.raises(Exception):
        registry.get("no-such-method")


def test_cli_quick_runs(shared_dir, tmp_path, random_perframe):
    rc = accuracy.main(["--quick", "--clips", "2", "--kinds", "none,lower", "--methods", "perframe,interp",
                        "--out", str(tmp_path)], prog="unveil bench accuracy")
    assert rc == 0
    res = json.loads((tmp_path / "accuracy.json").read_text())
    assert set(res["kinds"]) == {"none", "lower"}
    assert (tmp_path / "accuracy.md").read_text().count("| perframe |") == 2


def test_bad_kind_is_user_error():
    from unveil.errors import UnveilError

    with pytest.raises(UnveilError):
        accuracy.main(["--kinds", "nope"], prog="x")


def test_shipped_perframe_weights_on_a_validation_clip(mocap_dir):
    """The shipped lifter reconstructs a validation-split clip (never the eval split) reasonably."""
    from unveil import metrics
    from unveil.data.corpus import load_split
    from unveil.motion import perframe

    perframe.load.cache_clear()
    clip = load_split("val", max_clips=1, seed=0)[0]
    seq = S.make_sequence(clip, "none", 0)
    pred = perframe.lift(seq.keypoints2d, seq.camera)
    err = metrics.mpjpe(pred, seq.joints_rel)
    assert err < 120.0, err
    rnd = perframe.PerFrameLifter().eval()
    assert metrics.mpjpe(perframe.lift(seq.keypoints2d, seq.camera, rnd), seq.joints_rel) > err
