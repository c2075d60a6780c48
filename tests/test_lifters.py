"""motion.lifters: the Lifter protocol and registry that motion.stage.MoPO uses (issue 13)."""

from __future__ import annotations

import numpy as np
import pytest

from unveil.motion import lifters, perframe, stage, tcn
from unveil.paths import WEIGHTS_DIR
from unveil.types import Camera

CAM = Camera(focal=800.0, cx=320.0, cy=240.0, width=640, height=480)


def _kp(T=12, seed=0):
    rng = np.random.default_rng(seed)
    kp = np.zeros((T, 17, 3), np.float32)
    kp[..., :2] = rng.uniform(200, 400, (1, 17, 2)) + rng.normal(0, 2, (T, 17, 2))
    kp[..., 2] = rng.uniform(0.3, 1.0, (T, 17))
    return kp


def test_registry_names_and_unknown_name():
    assert {"tcn", "lstm", "dual", "lstm_render", "perframe"} <= set(lifters.LIFTERS)
    assert lifters.get("tcn") is tcn and isinstance(lifters.get("tcn"), lifters.Lifter)
    with pytest.raises(ValueError, match="unknown lifter 'nope'"):
        lifters.get("nope")


def test_mopo_uses_a_registered_lifter(monkeypatch):
    """One registry line makes a new lifter usable by MoPO (a stand-in: a constant pose)."""

    class Const:
        def __init__(self, use_conf):
            self.use_conf = use_conf

        def lift(self, keypoints2d, camera):
            out = np.zeros((len(keypoints2d), 24, 3), np.float32)
            out[:, 1:, 1] = 0.5 if self.use_conf else -0.5
            return out

    monkeypatch.setitem(lifters.LIFTERS, "const", Const)
    lifters.get.cache_clear()
    try:
        if not (WEIGHTS_DIR / "mopo_occlusion.pt").is_file():
            pytest.skip("occlusion detector weights missing")
        kp = _kp()
        res = stage.MoPO(lifter="const", complete=False)(kp, CAM)
        assert res["joints"].shape == (12, 24, 3) and np.all(res["joints"][:, 1:, 1] == 0.5)
        res = stage.MoPO(lifter="const", complete=False, use_conf=False)(kp, CAM)
        assert np.all(res["joints"][:, 1:, 1] == -0.5)
    finally:
        lifters.get.cache_clear()


@pytest.mark.parametrize("name", ["perframe", "lstm"])
def test_mopo_lifter_equals_the_model_itself(name):
    """MoPO through the registry gives exactly the model's own lift (no completion / smoothing)."""
    need = {"perframe": "perframe.pt", "lstm": "mopo_lift_lstm.pt"}[name]
    for f in (need, "mopo_occlusion.pt"):
        if not (WEIGHTS_DIR / f).is_file():
            pytest.skip(f"{f} missing")
    kp = _kp(20, 1)
    got = stage.MoPO(lifter=name, complete=False)(kp, CAM)["joints"]
    if name == "perframe":
        want = perframe.lift(kp, CAM)
    else:
        from unveil.motion import lift

        want = lift.load("lstm").infer(lift.features(kp, CAM))
    np.testing.assert_array_equal(got, np.asarray(want, np.float32))
