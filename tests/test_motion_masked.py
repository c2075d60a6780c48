import numpy as np
import pytest
import torch

from unveil.motion import masked


def test_tokenizer_round_trip_shapes():
    torch.manual_seed(0)
    tok = masked.PoseTokenizer()
    j = torch.randn(2, 7, 24, 3)
    ids = tok.tokenize(j)
    assert ids.shape == (2, 7) and ids.dtype == torch.long
    assert int(ids.min()) >= 0 and int(ids.max()) < masked.N_CODES
    rec = tok.decode(ids)
    assert rec.shape == (2, 7, 24, 3)
    assert torch.all(rec[..., 0, :] == 0)  # pelvis fixed at the origin
    rec2, vq, k = tok(j)
    assert rec2.shape == j.shape and vq.ndim == 0 and torch.equal(k, ids)
    # straight-through: the encoder receives gradients through the quantiser
    (rec2.sum() + vq).backward()
    assert tok.enc[0].weight.grad is not None and tok.enc[0].weight.grad.abs().sum() > 0


def test_cosine_schedule_values():
    np.testing.assert_allclose(masked.cosine_schedule([0.0, 0.5, 1.0]), [1.0, np.sqrt(0.5), 0.0], atol=1e-12)
    assert masked.remask_counts(10, 5) == [9, 8, 5, 3, 0]
    assert masked.remask_counts(10, 1) == [0]
    c = masked.remask_counts(37, 20)
    assert c[-1] == 0 and all(a >= b for a, b in zip(c, c[1:]))


@pytest.mark.parametrize("steps", [1, 5, 10])
def test_decoding_keeps_unmasked_frames(steps):
    torch.manual_seed(0)
    tr = masked.MaskedMotionTransformer().eval()
    W = 20
    tokens = torch.randint(0, masked.N_CODES, (W,))
    m = torch.zeros(W, dtype=torch.bool)
    m[5:12] = True
    cond = torch.randn(W, masked.N_COND)
    with torch.no_grad():
        out = masked.iterative_decode(tr, tokens, m, cond, steps=steps)
    assert torch.equal(out[~m], tokens[~m])
    assert int(out[m].max()) < masked.N_CODES  # every masked frame got a real code (no [MASK] left)


def test_refine_changes_only_occluded_joints():
    torch.manual_seed(0)
    model = masked.MoRo().eval()
    rng = np.random.default_rng(0)
    T = 90
    lifted = rng.normal(0, 0.3, (T, 24, 3)).astype(np.float32)
    lifted -= lifted[:, :1]
    occ = np.zeros((T, 24), bool)
    occ[30:50, [4, 7]] = True
    out = masked.refine(lifted, occ, np.ones((T, 24), np.float32), steps=5, model=model)
    assert out.shape == (T, 24, 3)
    np.testing.assert_allclose(out[~occ], lifted[~occ], atol=1e-6)
    assert not np.allclose(out[occ], lifted[occ])
    np.testing.assert_array_equal(masked.refine(lifted, np.zeros_like(occ), np.ones((T, 24)), model=model), lifted)


def test_shipped_weights_load():
    if not masked.WEIGHTS.is_file():
        pytest.skip("weights/moro.pt not shipped")
    assert masked.WEIGHTS.stat().st_size < 3_000_000
    m = masked.load()
    assert isinstance(m, masked.MoRo)
    ids = m.tokenizer.tokenize(torch.zeros(3, 24, 3))
    assert ids.shape == (3,)
