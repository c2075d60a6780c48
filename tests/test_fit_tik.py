"""Temporal IK (unveil.fit.tik): shapes, frame invariance, windowing, a few training steps."""

import roma
import torch

from unveil.fit.ik import joints_to_rotations, rest_skeleton_tpose, rotations_to_joints
from unveil.fit.tik import TIK, add_noise, refine_rotations, rotmat_to_6d, sixd_to_rotmat, train_tik


def _clip(T=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    rest = rest_skeleton_tpose().float()
    base = torch.randn(24, 3, generator=g) * 0.3
    t = torch.linspace(0, 1, T)[:, None, None]
    R = roma.rotvec_to_rotmat(base * (0.5 + t))
    return rotations_to_joints(R, rest), rest


def test_6d_round_trip():
    R = roma.random_rotmat(10)
    assert torch.allclose(sixd_to_rotmat(rotmat_to_6d(R)), R, atol=1e-5)


def test_untrained_tik_is_identity_and_frame_invariant():
    torch.manual_seed(0)
    J, rest = _clip()
    net = TIK(window=16, dim=32).eval()
    R0 = joints_to_rotations(J.double(), rest.double())
    out = refine_rotations(net, J, rest)          # zero-initialised head: returns FIK
    assert out.shape == (40, 24, 3, 3)
    assert torch.allclose(out, R0, atol=1e-4)
    # make the head non-zero: a global rotation of the input rotates only the root output
    torch.nn.init.normal_(net.head.weight, std=0.05)
    G = roma.rotvec_to_rotmat(torch.tensor([0.4, -1.0, 0.2]))
    a = refine_rotations(net, J, rest)
    b = refine_rotations(net, J @ G.T, rest)
    assert torch.allclose(b[:, 1:], a[:, 1:], atol=1e-3)
    assert torch.allclose(b[:, 0], G.double() @ a[:, 0], atol=1e-3)
    # shorter than a window, and a non-multiple of the stride
    assert refine_rotations(net, J[:7], rest).shape == (7, 24, 3, 3)
    assert refine_rotations(net, J[:37], rest).shape == (37, 24, 3, 3)


def test_noise_level_and_short_training():
    J, rest = _clip(T=64)
    g = torch.Generator().manual_seed(0)
    Jn = add_noise(J[None], 0.1, generator=g)[0]
    from unveil.skeleton import bone_lengths

    std = (Jn - J).std()
    assert 0.5 < float(std / (0.1 * bone_lengths(J).mean())) < 1.5
    W = torch.stack([J[i:i + 16] for i in range(0, 48, 4)])
    net = train_tik(W, rest.expand(len(W), 24, 3), steps=3, batch=4, log=None)
    assert isinstance(net, TIK) and net.window == 16


def test_refine_rotations_blends_each_batch_as_it_goes(monkeypatch):
    """refine_rotations blends each batch of windows into the sequence as soon as the network gives
    it (memory bounded by the batch): the same rotations, bit for bit, as predicting every window
    first and blending them all (blend_windows), for several batch sizes."""
    from unveil.fit import tik

    torch.manual_seed(0)
    J, rest = _clip(T=203)
    J = J + torch.linspace(0, 1, 203)[:, None, None] * torch.tensor([0.3, -0.2, 1.0])  # a moving root
    net = TIK(window=16, dim=32).eval()
    torch.nn.init.normal_(net.head.weight, std=0.05)
    R0 = joints_to_rotations(J.double(), rest.double())
    x, Jr = R0.float(), (J - J[:, :1]).float()
    starts = tik.window_starts(203, 16)
    assert len(starts) == 25
    for batch in (64, 4, 1):
        monkeypatch.setattr(tik, "BATCH", batch)
        with torch.no_grad():
            pred = torch.cat([net(torch.stack([x[s:s + 16] for s in starts[i:i + batch]]),
                                  torch.stack([Jr[s:s + 16] for s in starts[i:i + batch]]))
                              for i in range(0, len(starts), batch)])
        want = tik.blend_windows(pred, starts, 203).double()
        assert torch.equal(refine_rotations(net, J, rest, fik=R0), want), batch
        # float32 FIK in, float32 out (the fit stage's memory-saving path): the same numbers
        got32 = refine_rotations(net, J, rest, fik=R0.float(), dtype=torch.float32)
        assert got32.dtype == torch.float32 and torch.equal(got32, want.float()), batch


def test_refine_rotations_short_clip_in_float32():
    """A clip shorter than the window (padded by its last frame): float32 FIK in and out gives the
    float64 path's numbers."""
    torch.manual_seed(0)
    J, rest = _clip(T=9)
    net = TIK(window=16, dim=32).eval()
    torch.nn.init.normal_(net.head.weight, std=0.05)
    R0 = joints_to_rotations(J.double(), rest.double())
    want = refine_rotations(net, J, rest, fik=R0)
    assert want.shape == (9, 24, 3, 3) and want.dtype == torch.float64
    assert torch.equal(refine_rotations(net, J, rest, fik=R0.float(), dtype=torch.float32), want.float())
