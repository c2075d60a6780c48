import numpy as np
import torch

from unveil.fit.ik import joints_to_rotations, rest_skeleton_tpose
from unveil.fit.motion_refine import MotionRefine, load_motion_refine, refine_sequence, train_net
from unveil.paths import WEIGHTS_DIR
from unveil.skeleton import forward_kinematics


def _random_rotations(T, seed=0):
    import roma

    g = torch.Generator().manual_seed(seed)
    return roma.rotvec_to_rotmat(0.3 * torch.randn(T, 24, 3, generator=g, dtype=torch.float64))


def _sequence(T=40):
    rest = rest_skeleton_tpose().double()
    R = _random_rotations(T)
    _, J = forward_kinematics(R, rest.expand(T, 24, 3))
    return J - J[:, :1], rest


def test_shapes():
    net = MotionRefine(window=8, dim=32, layers=1)
    B, W = 3, 8
    R = _random_rotations(B * W).float().reshape(B, W, 24, 3, 3)
    J = torch.randn(B, W, 24, 3)
    out = net(R, R, J, torch.rand(B, W, 24))
    assert out.shape == (B, W, 24, 3, 3)
    assert torch.allclose(out @ out.transpose(-1, -2), torch.eye(3).expand_as(out), atol=1e-4)


def test_zero_init_returns_input_rotations():
    J, rest = _sequence(T=45)  # longer than one window: exercises the overlapping windows
    net = MotionRefine(window=16, dim=32, layers=1).eval()
    base = _random_rotations(45, seed=1)
    out = refine_sequence(net, J, rest, base=base)
    assert out.shape == (45, 24, 3, 3)
    assert torch.allclose(out, base, atol=1e-5)
    # short sequence (padded) with FIK as θ_init
    F = joints_to_rotations(J[:10], rest)
    out = refine_sequence(net, J[:10], rest, fik=F, base=F)
    assert torch.allclose(out, F, atol=1e-5)


def test_training_step_changes_output():
    J, rest = _sequence(T=16)
    Jw = J.float().reshape(2, 8, 24, 3)
    restw = rest.float()[None].expand(2, 24, 3).contiguous()
    net = train_net(Jw, restw, None, steps=3, batch=2, log=None)
    assert isinstance(net, MotionRefine)
    assert any(p.abs().sum() > 0 for p in net.head[-1].parameters())


def test_shipped_weights_load():
    if not (WEIGHTS_DIR / "arts_refine.pt").exists():
        import pytest

        pytest.skip("no weights/arts_refine.pt")
    net = load_motion_refine()
    assert net is not None and net.window == 32
    assert sum(p.numel() for p in net.parameters()) < 500_000
    J, rest = _sequence(T=40)
    out = refine_sequence(net, J, rest, base=joints_to_rotations(J, rest))
    assert out.shape == (40, 24, 3, 3) and torch.isfinite(out).all()
    assert np.isfinite(out.numpy()).all()
