"""The image-evidence depth network and its blend in the lift stage (unveil.motion.image_depth, issue 18)."""
import numpy as np
import pytest
import torch

from unveil.detect.taps import TOKEN_SHAPES
from unveil.motion import image_depth as idm
from unveil.motion.landmark_blend import LIMB_SMPL
from unveil.paths import WEIGHTS_DIR
from unveil.types import Camera, Track2D

CAM = Camera(focal=1200.0, cx=960.0, cy=540.0, width=1920, height=1080)


def _inputs(T=5, seed=0):
    rng = np.random.default_rng(seed)
    kp = np.zeros((T, 33, 3), np.float32)
    kp[..., :2] = np.array([960, 540]) + rng.normal(0, 120, size=(T, 33, 2))
    kp[..., 2] = rng.uniform(0.3, 1.0, (T, 33))
    feats = {k: rng.uniform(0, 6, (T,) + s).astype(np.float16) for k, s in TOKEN_SHAPES.items()}
    return kp, feats


def test_token_shapes_match_the_taps_and_flow_through_the_network():
    assert idm.TOKEN_SHAPES == TOKEN_SHAPES     # the network reads what the front end writes
    kp, feats = _inputs()
    x = idm.prepare(kp, CAM.focal, (CAM.cx, CAM.cy), feats["kp"], feats["mid"])
    assert x["pts"].shape == (5, 33, 3) and x["feats"].shape == (5, 33, 288 + 48)
    for use_tokens in (True, False):
        net = idm.ImageDepthNet(use_tokens=use_tokens)
        args = {k: torch.as_tensor(v) for k, v in x.items() if use_tokens or k == "pts"}
        out = net(**args)
        assert out.shape == (5, 12, 3)
        # relative to the hip centre (limb order: the hips are entries 6 and 7)
        np.testing.assert_allclose((out[:, 6] + out[:, 7]).detach().numpy(), 0.0, atol=1e-6)
    with pytest.raises(ValueError):
        idm.prepare(kp[:, :17], CAM.focal, (CAM.cx, CAM.cy))
    with pytest.raises(ValueError):
        idm.prepare(kp, CAM.focal, (CAM.cx, CAM.cy), feats["kp"][:, :17], feats["mid"])
    with pytest.raises(ValueError):
        idm.ImageDepthNet(use_tokens=True)(torch.as_tensor(x["pts"]))   # tokens missing


@pytest.mark.parametrize("name,use_tokens", [(idm.WEIGHTS_NAME, True), (idm.WEIGHTS_NAME_KP, False)])
def test_shipped_weights_load_and_run(name, use_tokens):
    assert (WEIGHTS_DIR / name).is_file() and (WEIGHTS_DIR / name.replace(".pt", ".md")).is_file()
    net = idm.load(WEIGHTS_DIR / name)
    assert net.use_tokens is use_tokens and not net.training
    kp, feats = _inputs(T=7)
    pred = idm.predict(net, kp, CAM.focal, (CAM.cx, CAM.cy), feats if use_tokens else None)
    assert pred.shape == (7, 12, 3) and np.isfinite(pred).all()
    # limb joints within a body's reach of the hips
    assert np.abs(pred).max() < 1.5
    if use_tokens:
        with pytest.raises(ValueError):
            idm.predict(net, kp, CAM.focal, (CAM.cx, CAM.cy), None)


def test_depth_blend_moves_only_the_seen_limb_depths():
    rng = np.random.default_rng(0)
    J = rng.normal(0, 0.25, (6, 24, 3))
    J[:, 0] = 0.0
    hip = 0.5 * (J[:, 1] + J[:, 2])
    pred = J[:, list(LIMB_SMPL)] - hip[:, None]
    pred[..., 2] += 0.2 * (np.arange(12) >= 8)        # the network puts knees and ankles 20 cm deeper
    vis = np.ones((6, 24))
    vis[:, LIMB_SMPL[11]] = 0.0                       # the right ankle is hidden
    np.testing.assert_array_equal(idm.depth_blend(J, pred, vis, 0.0), J.astype(np.float32))
    out = idm.depth_blend(J, pred, vis, 0.5)
    np.testing.assert_allclose(out[..., :2], J[..., :2], atol=1e-6)           # x, y untouched
    dz = (out[..., 2] - out[:, :1, 2]) - (J[..., 2] - J[:, :1, 2])
    assert np.abs(dz[:, LIMB_SMPL[8]] - 0.1).max() < 0.03                      # halfway (scale ~1)
    assert np.abs(dz[:, LIMB_SMPL[11]]).max() < 1e-6                           # hidden: unchanged
    held = np.array([True, False, True, True, True, True])
    out2 = idm.depth_blend(J, pred, vis, 0.5, held)
    np.testing.assert_allclose(out2[1], J[1], atol=1e-6)                       # no detection: unchanged
    with pytest.raises(ValueError):
        idm.depth_blend(J, pred[:, :6], vis, 0.5)


def test_option_off_leaves_the_lift_bit_identical():
    """The lift stage with the image-depth option at 0 (the default) is the stage without it,
    bit for bit, whether or not the track carries image tokens; switched on, it changes the output."""
    from unveil.motion.stage import DEFAULT, MoPO, lift_tracks

    T = 30
    kp, feats = _inputs(T=T, seed=1)
    kp[..., 2] = 0.95
    wl = np.random.default_rng(2).normal(0, 0.3, (T, 33, 3)).astype(np.float32)
    plain = Track2D(id=0, frames=np.arange(T), keypoints=kp, layout="blazepose33", world_landmarks=wl)
    with_f = Track2D(id=0, frames=np.arange(T), keypoints=kp, layout="blazepose33", world_landmarks=wl,
                     features=feats)
    assert DEFAULT.get("image_depth", 0.0) == 0.0
    a = lift_tracks([plain], CAM)[0].joints
    b = lift_tracks([with_f], CAM)[0].joints
    c = lift_tracks([with_f], CAM, MoPO(**DEFAULT, image_depth=0.0))[0].joints
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    if (WEIGHTS_DIR / idm.WEIGHTS_NAME).is_file():
        on = lift_tracks([with_f], CAM, MoPO(**DEFAULT, image_depth=0.5))[0].joints
        assert np.abs(on - a).max() > 1e-3
        # a track without tokens (e.g. imported keypoints) is lifted as without the option
        np.testing.assert_array_equal(lift_tracks([plain], CAM, MoPO(**DEFAULT, image_depth=0.5))[0].joints, a)


def test_bad_option_values_are_one_clear_error(tmp_path):
    """--image-depth outside [0, 1], or the token network without video + --image-features: an
    UnveilError before OUT is created."""
    from unveil import pipeline
    from unveil.errors import UnveilError
    from unveil.io.keypoints_json import dump

    rng = np.random.default_rng(0)
    kp = np.concatenate([rng.uniform(100, 300, (12, 17, 2)), rng.uniform(0, 1, (12, 17, 1))], -1)
    path = tmp_path / "kp.json"
    dump(path, [Track2D(id=0, frames=np.arange(12), keypoints=kp.astype(np.float32), layout="coco17")],
         fps=30, width=640, height=480)
    for i, (kw, msg) in enumerate((({"image_depth": 1.5}, "must be in"), ({"image_depth": 0.5}, "needs a video"),
                                   ({"image_depth": 0.5, "image_features": True}, "needs a video"))):
        out = tmp_path / f"out{i}"
        with pytest.raises(UnveilError, match=msg):
            pipeline.run(keypoints_json=path, out_dir=out, render=False, progress=False, **kw)
        assert not out.exists()
