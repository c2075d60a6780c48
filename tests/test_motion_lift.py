import numpy as np
import torch

from unveil.motion.lift import FEAT_DIM, DualStreamLifter, LSTMLifter, features
from unveil.types import Camera


def _kp(T=10, seed=0):
    rng = np.random.default_rng(seed)
    kp = np.zeros((T, 17, 3), np.float32)
    kp[..., :2] = rng.uniform(400, 700, size=(T, 17, 2))
    kp[..., 2] = rng.uniform(0, 1, size=(T, 17))
    return kp


def test_features_shape_and_conf_switch():
    cam = Camera(focal=1000.0, cx=960, cy=540, width=1920, height=1080)
    f = features(_kp(), cam)
    assert f.shape == (10, FEAT_DIM)
    g = features(_kp(), cam, use_conf=False)
    assert torch.all(g[:, 2:51:3] == 1.0)


def test_lstm_lifter_shapes_causal_root():
    torch.manual_seed(0)
    m = LSTMLifter(hidden=32, embed=32).eval()
    x = torch.randn(2, 12, FEAT_DIM)
    with torch.no_grad():
        y = m(x)
        y_prefix = m(x[:, :7])
    assert y.shape == (2, 12, 24, 3)
    assert torch.all(y[:, :, 0] == 0)
    assert torch.allclose(y[:, :7], y_prefix, atol=1e-6)  # frame by frame: the future never leaks back


def test_dual_stream_lifter_windows():
    torch.manual_seed(0)
    m = DualStreamLifter(dim=16, blocks=1, heads=2, window=8).eval()
    with torch.no_grad():
        y = m(torch.randn(2, 21, FEAT_DIM))
        z = m(torch.randn(1, 5, FEAT_DIM))
    assert y.shape == (2, 21, 24, 3) and z.shape == (1, 5, 24, 3)
    assert torch.all(y[:, :, 0] == 0)


def test_lstm_numpy_inference_matches_forward():
    torch.manual_seed(0)
    m = LSTMLifter(hidden=32, embed=24).eval()
    x = torch.randn(1, 15, FEAT_DIM)
    with torch.no_grad():
        ref = m(x)[0].numpy()
    assert np.allclose(m.infer(x[0]), ref, atol=1e-4)
