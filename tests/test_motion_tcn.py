"""Temporal-context (dilated TCN) lifter: shapes, edge padding, augmentation, shipped weights."""
import numpy as np
import pytest
import torch

from unveil.paths import WEIGHTS_DIR
from unveil.types import Camera

CAM = Camera(focal=1200.0, cx=960.0, cy=540.0, width=1920, height=1080)
BASE = all((WEIGHTS_DIR / n).is_file() for n in ("perframe.pt", "mopo_occlusion.pt"))
SHIPPED = BASE and (WEIGHTS_DIR / "mopo_lift_tcn.pt").is_file()


def _kp(T=50, seed=0):
    rng = np.random.default_rng(seed)
    kp = np.zeros((T, 17, 3), np.float32)
    kp[..., :2] = np.array([960, 540]) + rng.normal(0, 120, size=(1, 17, 2)) + rng.normal(0, 2, (T, 17, 2))
    kp[..., 2] = 0.9
    return kp


def test_model_shapes_root_and_zero_init_is_base():
    from unveil.motion.tcn import N_FEAT, N_IN, N_KP, TCNLifter

    m = TCNLifter(channels=16)
    x = torch.randn(2, 7, N_IN)  # shorter than the receptive field: edge replication handles it
    y = m(x)
    assert y.shape == (2, 7, 24, 3)
    # the output layer starts at zero: the model starts as the per-frame estimate it is given
    assert torch.allclose(y, x[..., N_FEAT + N_KP:].unflatten(-1, (24, 3)))


def test_model_sees_future_frames():
    from unveil.motion.tcn import N_IN, TCNLifter

    torch.manual_seed(0)
    m = TCNLifter(channels=16)
    torch.nn.init.normal_(m.out.weight, std=0.1)
    x = torch.randn(1, 90, N_IN)
    x2 = x.clone()
    x2[0, 60] += 1.0  # a change 20 frames in the future moves frame 40, not frame 5
    d = (m(x2) - m(x)).abs().sum(dim=(-1, -2))[0]
    assert d[40] > 0 and d[5] == 0


def test_windowed_equals_one_pass():
    """tcn.windowed (long videos: CHUNK output frames per call, each window with the receptive radius of
    real context) gives exactly the one-pass output, edges included; with less context it would not."""
    from unveil.motion.tcn import N_IN, TCNLifter, windowed

    torch.manual_seed(0)
    m = TCNLifter(channels=16)
    torch.nn.init.normal_(m.out.weight, std=0.1)
    x = torch.randn(1, 350, N_IN)
    with torch.no_grad():
        one = m(x)
        # measured 2026-12-07: max difference 2.4e-7 (float roundoff of convolutions over other lengths;
        # 0.0 with the shipped weights on a 10,000-frame track); with 39 frames of context instead of 40:
        # 5.5e-6, with 30: 3.2e-3. Bound 1e-6
        assert (windowed(m, x, chunk=100) - one).abs().max() < 1e-6
        assert torch.equal(windowed(m, x, chunk=350), one)
        shorter = m(x[:, 70:190])[:, 30:90]  # frames 100..159 with 30 frames of context: the padding reaches them
        assert (shorter - one[:, 100:160]).abs().max() > 1e-4


def test_augment_occlusions_only_lowers_confidence_in_hidden_spans():
    from unveil.training.tcn import augment_occlusions

    kp = np.stack([_kp(60, s) for s in range(8)])
    out = augment_occlusions(kp, np.random.default_rng(0), p=1.0)
    assert out.shape == kp.shape and out.dtype == np.float32
    changed = out[..., 2] != kp[..., 2]
    assert changed.any() and (out[..., 2][changed] <= 0.5).all()
    assert np.array_equal(kp[..., 2], np.full(kp.shape[:-1], 0.9, np.float32))  # input untouched


@pytest.mark.skipif(not SHIPPED, reason="TCN lifter weights not shipped (unveil train mopo-lift-tcn)")
def test_shipped_lift_shapes_and_stage_row():
    from unveil.motion.stage import MoPO
    from unveil.motion.tcn import lift

    j = lift(_kp(), CAM)
    assert j.shape == (50, 24, 3) and np.isfinite(j).all() and np.all(j[:, 0] == 0)
    assert lift(_kp()[:0], CAM).shape == (0, 24, 3)
    res = MoPO(lifter="tcn", complete=False)(_kp(), CAM)
    assert np.allclose(res["joints"], j, atol=1e-5)


@pytest.mark.skipif(not SHIPPED, reason="TCN lifter weights not shipped (unveil train mopo-lift-tcn)")
def test_shipped_weights_reconstruct_validation_clip(mocap_dir):
    """A validation-split clip with legs hidden ('lower'): the TCN lifter reconstructs it under a
    loose bound and beats the per-frame lifter on it."""
    from unveil.data import corpus, synth2d
    from unveil.motion import perframe
    from unveil.motion.tcn import lift

    clip = corpus.load_split("val", max_clips=1, seed=0)[0]
    clip = synth2d.slice_clip(clip, 0, min(240, len(clip.joints)))
    seq = synth2d.make_sequence(clip, "lower", 0)
    truth = seq.joints_cam - seq.joints_cam[:, :1]
    err = lambda j: float(np.linalg.norm(j - truth, axis=-1).mean()) * 1000  # noqa: E731
    e_tcn, e_pf = err(lift(seq.keypoints2d, seq.camera)), err(perframe.lift(seq.keypoints2d, seq.camera))
    assert e_tcn < 120.0 and e_tcn < e_pf
