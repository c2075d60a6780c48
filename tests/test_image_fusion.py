"""MoPO's fusion (Eq. 6-9) over the landmark model's image tokens (unveil.motion.image_fusion, issue 18)."""
import numpy as np
import pytest
import torch

from unveil.checkpoint import CheckpointError, read_checkpoint, save_checkpoint
from unveil.motion import image_fusion as imf
from unveil.motion.stage import DEFAULT, MoPO
from unveil.paths import WEIGHTS_DIR
from unveil.types import Camera

CAM = Camera(focal=1200.0, cx=960.0, cy=540.0, width=1920, height=1080)


def _track(T=20, seed=0):
    rng = np.random.default_rng(seed)
    kp = np.zeros((T, 33, 3), np.float32)
    kp[..., :2] = rng.uniform(700, 1200, (T, 33, 2))
    kp[..., 2] = rng.uniform(0.5, 1.0, (T, 33))
    feats = {"kp": rng.normal(0, 1, (T, 33, 288)).astype(np.float16),
             "mid": rng.normal(0, 1, (T, 33, 48)).astype(np.float16)}
    joints = rng.normal(0, 0.3, (T, 24, 3)).astype(np.float32)
    joints -= joints[:, :1]
    return joints, kp, feats


def test_token_shapes():
    joints, kp, feats = _track()
    tok = imf.image_tokens(kp, CAM.focal, (CAM.cx, CAM.cy), feats["kp"], feats["mid"])
    assert tok.shape == (20, 33, imf.TOKEN_DIM) and imf.TOKEN_DIM == 3 + 288 + 48
    net = imf.ImageTokenFusion()
    out = net(torch.from_numpy(joints)[None].repeat(2, 1, 1, 1), torch.from_numpy(tok)[None].repeat(2, 1, 1, 1))
    assert out.shape == (2, 20, 24, 3)


def test_untrained_is_identity():
    joints, kp, feats = _track()
    out = imf.refine(imf.ImageTokenFusion().eval(), joints, kp, CAM.focal, (CAM.cx, CAM.cy), feats)
    np.testing.assert_array_equal(out, joints)


def test_trained_changes_only_held_frames_and_keeps_the_root():
    joints, kp, feats = _track()
    kp[5] = 0.0                                    # frame 5: no detection
    feats["kp"][7] = 0                             # frame 7: no tokens
    net = imf.ImageTokenFusion().eval()
    torch.manual_seed(0)
    with torch.no_grad():
        for p in net.fusion.out[-1].parameters():  # a non-zero output layer
            p.normal_(0, 0.05)
    out = imf.refine(net, joints, kp, CAM.focal, (CAM.cx, CAM.cy), feats)
    np.testing.assert_array_equal(out[[5, 7]], joints[[5, 7]])
    np.testing.assert_array_equal(out[:, 0], joints[:, 0])
    assert np.abs(out - joints).max() > 1e-3


def test_bad_shapes_raise_valueerror():
    joints, kp, feats = _track()
    net = imf.ImageTokenFusion()
    tok = torch.from_numpy(imf.image_tokens(kp, CAM.focal, (CAM.cx, CAM.cy), feats["kp"], feats["mid"]))[None]
    j = torch.from_numpy(joints)[None]
    with pytest.raises(ValueError):
        net(j[:, :, :17], tok)
    with pytest.raises(ValueError):
        net(j, tok[..., :100])
    with pytest.raises(ValueError):
        net(j, tok[:, :10])                       # T differs
    with pytest.raises(ValueError):
        net(j, tok, torch.ones(1, 3))
    with pytest.raises(ValueError):
        imf.refine(net, joints, kp[:, :17], CAM.focal, (CAM.cx, CAM.cy), feats)
    with pytest.raises(ValueError):
        imf.image_tokens(kp, CAM.focal, (CAM.cx, CAM.cy), feats["kp"][..., :100], feats["mid"])


def test_load_reports_missing_keys(tmp_path):
    net = imf.ImageTokenFusion()
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("norm.")}
    p = tmp_path / "bad.pt"
    save_checkpoint(p, imf.ARCH, {}, state, {})
    with pytest.raises(CheckpointError, match="missing keys"):
        imf.load(p)


@pytest.mark.skipif(not (WEIGHTS_DIR / imf.WEIGHTS_NAME).is_file(), reason="image_fusion.pt not shipped")
def test_shipped_weights_load_and_run():
    ck = read_checkpoint(WEIGHTS_DIR / imf.WEIGHTS_NAME, imf.ARCH)
    assert (WEIGHTS_DIR / "image_fusion.md").is_file()           # the weight card beside it
    assert ck["meta"]["val_fused"]["frames"] > 0
    net = imf.load()
    joints, kp, feats = _track(T=30)
    out = imf.refine(net, joints, kp, CAM.focal, (CAM.cx, CAM.cy), feats)
    assert out.shape == (30, 24, 3) and np.isfinite(out).all()
    # the trained fusion does something, and its correction stays a correction (< 0.5 m)
    assert 0 < np.abs(out - joints).max() < 0.5
    if ck["config"].get("depth_only"):
        np.testing.assert_array_equal(out[..., :2], joints[..., :2])


def test_lift_stage_option_off_is_unchanged_and_on_runs():
    joints, kp, feats = _track(T=24)
    from unveil.skeleton import to_coco17
    kp17 = to_coco17(kp, "blazepose33")
    ev = {"kp33": kp, "features": feats}
    off = MoPO(**DEFAULT)(kp17, CAM, image_evidence=ev)["joints"]
    base = MoPO(**DEFAULT)(kp17, CAM)["joints"]
    np.testing.assert_array_equal(off, base)
    if (WEIGHTS_DIR / imf.WEIGHTS_NAME).is_file():
        on = MoPO(**DEFAULT, image_fusion=imf.WEIGHTS_NAME)(kp17, CAM, image_evidence=ev)["joints"]
        assert on.shape == base.shape and np.isfinite(on).all()


def test_depth_only_bounded_variant_moves_only_depth_within_the_bound():
    joints, kp, feats = _track()
    net = imf.ImageTokenFusion(depth_only=True, max_delta=0.1).eval()
    with torch.no_grad():
        for p in net.fusion.out[-1].parameters():
            p.normal_(0, 1.0)                      # large raw corrections
    out = imf.refine(net, joints, kp, CAM.focal, (CAM.cx, CAM.cy), feats)
    np.testing.assert_array_equal(out[..., :2], joints[..., :2])
    d = np.abs(out[..., 2] - joints[..., 2])
    assert d.max() <= 0.1 + 1e-6 and d.max() > 0.05
