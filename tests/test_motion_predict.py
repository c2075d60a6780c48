import numpy as np
import torch

from unveil.motion.predict import MotionPredictor, complete, dct_matrix, occluded_smpl24


def test_dct_round_trip():
    D = dct_matrix(16)
    x = np.random.default_rng(0).normal(size=(16, 72)).astype(np.float32)
    assert np.allclose(D.T @ (D @ x), x, atol=1e-5)
    assert np.allclose(D @ D.T, np.eye(16), atol=1e-5)
    # constant signal -> only the DC coefficient
    c = D @ np.ones(16, np.float32)
    assert abs(c[0] - 4.0) < 1e-5 and np.abs(c[1:]).max() < 1e-5


def test_predictor_shapes_and_untrained_hold():
    for n, l in ((4, 2), (8, 4), (16, 1), (16, 8)):
        m = MotionPredictor(n, l, blocks=2).eval()
        x = torch.randn(3, n, 24, 3)
        y = m(x)
        assert y.shape == (3, l, 24, 3)
        # output layer starts at zero: predicts "hold the last frame"
        assert torch.allclose(y, x[:, -1:].expand_as(y))


def test_completion_leaves_visible_untouched_and_fills_occluded():
    torch.manual_seed(0)
    m = MotionPredictor(16, 8, blocks=2).eval()
    for p in m.fc_out.parameters():
        torch.nn.init.normal_(p, std=0.05)
    rng = np.random.default_rng(0)
    T = 40
    J = rng.normal(size=(T, 24, 3)).astype(np.float32)
    occ = np.zeros((T, 24), bool)
    occ[5:30, [4, 7, 10]] = True
    occ[2, 20] = True
    out = complete(J, occ, m)
    assert out.shape == J.shape
    assert np.array_equal(out[~occ], J[~occ])
    assert not np.allclose(out[occ], J[occ])
    # short sequence (< N) is padded with the first frame and still works
    out2 = complete(J[:5], occ[:5], m)
    assert out2.shape == (5, 24, 3)
    assert np.array_equal(complete(J, np.zeros_like(occ), m), J)


def test_occlusion_mapping():
    occ17 = np.zeros((2, 17), bool)
    occ17[0, [13, 15]] = True   # left knee + ankle
    occ17[1, [11]] = True       # one hip only
    o = occluded_smpl24(occ17)
    assert o.shape == (2, 24)
    assert o[0, 4] and o[0, 7] and o[0, 10] and not o[0, 5] and not o[0, 0]
    assert o[1, 1] and not o[1, 3]  # spine1 needs both hips gone


def test_numpy_predictor_matches_torch():
    from unveil.motion.predict import NumpyPredictor

    torch.manual_seed(0)
    m = MotionPredictor(16, 8, blocks=3).eval()
    for p in m.parameters():
        torch.nn.init.normal_(p, std=0.1)
    x = torch.randn(1, 16, 24, 3)
    with torch.no_grad():
        ref = m(x)[0].numpy()
    assert np.allclose(NumpyPredictor(m)(x[0].numpy()), ref, atol=1e-4)
