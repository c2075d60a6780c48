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


def test_bidirectional_completion_blends_and_keeps_visible():
    from unveil.motion.predict import _gap_distances

    occ = np.zeros((10, 24), bool)
    occ[3:7, 4] = True
    a, b = _gap_distances(occ)
    assert a[3, 4] == 1 and b[3, 4] == 4 and a[6, 4] == 4 and b[6, 4] == 1
    m = MotionPredictor(4, 2, blocks=1).eval()
    # a joint that moves linearly: untrained "hold" from each side gives the nearer end's value
    J = np.zeros((10, 24, 3), np.float32)
    J[:, 4, 0] = np.arange(10)
    J[occ] = 100.0  # garbage where occluded
    out = complete(J, occ, m, bidirectional=True)
    assert np.array_equal(out[~occ], J[~occ])
    assert np.all(out[3:7, 4, 0] > 2) and np.all(out[3:7, 4, 0] < 7)


def test_blend_falls_back_to_lifter_without_visible_history():
    m = MotionPredictor(4, 2, blocks=1).eval()
    J = np.random.default_rng(1).normal(size=(12, 24, 3)).astype(np.float32)
    occ = np.zeros((12, 24), bool)
    occ[:, 7] = True          # never visible -> keep the lifter's estimate
    occ[5:8, 4] = True        # short gap -> mostly the prediction
    out = complete(J, occ, m, blend_tau=10.0)
    assert np.allclose(out[:, 7], J[:, 7])
    assert np.array_equal(out[~occ], J[~occ])
    hold = J[4, 4]
    assert np.linalg.norm(out[5, 4] - hold) < np.linalg.norm(J[5, 4] - hold)
