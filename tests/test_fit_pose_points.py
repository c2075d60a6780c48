"""unveil.fit.pose_points (the evidence fit's pose -> joints / keypoints with a closed-form backward)
and PosePrior.nll_grad: the same values and gradients as autograd through roma,
unveil.skeleton.forward_kinematics, body_keypoints and PosePrior.nll, on random inputs."""

import numpy as np
import pytest
import roma
import torch

from unveil.fit.pose_points import (body_keypoints, left_jacobian_t, pose_backward, pose_forward, pose_points,
                                    rotvec_to_rotmat)
from unveil.fit.pose_prior import PosePrior, fit_gmm
from unveil.skeleton import forward_kinematics


def _inputs(n=6, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    theta = torch.randn(n, 24, 3, generator=g, dtype=dtype) * 0.8
    theta[0, 3] = 0.0                  # exactly zero, tiny and small angles: the series branches
    theta[1, 5] = 1e-7
    theta[2, 6] *= 0.05 / theta[2, 6].norm()
    theta[3, 7] *= 0.0999 / theta[3, 7].norm()
    theta[3, 8] *= 0.1001 / theta[3, 8].norm()
    rest = torch.randn(n, 24, 3, generator=g, dtype=dtype) * 0.2
    rest[:, 0] = 0.0
    offsets = torch.randn(n, 17, 3, generator=g, dtype=dtype) * 0.05
    return theta, rest, offsets


def _reference(theta, rest, offsets):
    R = roma.rotvec_to_rotmat(theta)
    glob, pos = forward_kinematics(R, rest)
    return R, glob, pos, body_keypoints(glob, pos, offsets)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 2e-6)])
def test_values_are_those_of_roma_and_forward_kinematics(dtype, tol):
    theta, rest, offsets = _inputs(dtype=dtype)
    for got, ref in zip(pose_forward(theta, rest, offsets), _reference(theta, rest, offsets)):
        # measured 2026-12-07: float64 max difference 1.4e-15, float32 3.0e-7 (sums in another order)
        assert got.dtype == dtype
        torch.testing.assert_close(got, ref, atol=tol, rtol=0)
    R, pos, kp = pose_points(theta, rest, offsets[0])     # one (17, 3) offset set for every frame
    torch.testing.assert_close(kp, _reference(theta, rest, offsets[0].expand(6, 17, 3))[3], atol=tol, rtol=0)
    assert not R.requires_grad


def test_gradient_equals_autograd_through_roma_and_forward_kinematics():
    theta, rest, offsets = _inputs()
    theta[1, 5] = 1e-5     # above roma's first-order branch (< 1e-6), whose derivative is exact only to O(φ)
    g = torch.Generator().manual_seed(1)
    gpos = torch.randn(6, 24, 3, generator=g, dtype=torch.float64)
    gkp = torch.randn(6, 17, 3, generator=g, dtype=torch.float64)
    grads = []
    for fn in (lambda t: pose_points(t, rest, offsets)[1:], lambda t: _reference(t, rest, offsets)[2:]):
        t = theta.clone().requires_grad_(True)
        pos, kp = fn(t)
        ((pos * gpos).sum() + (kp * gkp).sum()).backward()
        grads.append(t.grad)
    # measured 2026-12-07: max difference 7.2e-12 (gradients up to 8.3); bound 1e-9
    torch.testing.assert_close(grads[0], grads[1], atol=1e-9, rtol=0)
    # one output without gradient (None) counts as zero
    t = theta.clone().requires_grad_(True)
    pose_points(t, rest, offsets)[2].mul(gkp).sum().backward()
    _, glob, pos, kp = pose_forward(theta, rest, offsets)
    torch.testing.assert_close(t.grad, pose_backward(theta, glob, pos, kp, None, gkp))


def test_gradcheck():
    theta, rest, offsets = _inputs(n=4)
    t = theta.clone().requires_grad_(True)
    # fast mode: random projections of the Jacobian against finite differences (the full check takes ~20 s)
    assert torch.autograd.gradcheck(lambda x: pose_points(x, rest, offsets)[1:], (t,), fast_mode=True)


def test_left_jacobian_series_and_closed_form_agree_with_autograd():
    """J_l(θ)ᵀ a is the gradient of a · (left rotation increment): check it against the derivative of
    exp([δ]x) R(θ) ≈ R(θ + J_l⁻¹ δ) by autograd of roma at both sides of the series switch (φ = 0.1)."""
    for phi in (0.0, 1e-5, 0.05, 0.0999, 0.1001, 1.0, 3.0):   # (roma: first order below 1e-6)
        axis = torch.tensor([0.3, -0.5, 0.8], dtype=torch.float64)
        theta = (axis / axis.norm() * phi).requires_grad_(True)
        M = torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
        R = roma.rotvec_to_rotmat(theta)
        (R * M).sum().backward()
        with torch.no_grad():
            A = M @ R.T                                        # dE/d(left increment) = vee(A - Aᵀ)
            a = torch.stack([A[2, 1] - A[1, 2], A[0, 2] - A[2, 0], A[1, 0] - A[0, 1]])
            got = left_jacobian_t(theta.detach(), a)
        torch.testing.assert_close(got, theta.grad, atol=1e-10, rtol=1e-9, msg=f"phi={phi}")


def test_rotvec_to_rotmat_equals_roma_and_rejects_bad_shapes():
    theta, _, _ = _inputs(dtype=torch.float32)
    # measured 2026-12-07: max difference 2.4e-7
    torch.testing.assert_close(rotvec_to_rotmat(theta), roma.rotvec_to_rotmat(theta), atol=1e-6, rtol=0)
    with pytest.raises(ValueError):
        rotvec_to_rotmat(torch.zeros(4, 2))
    with pytest.raises(ValueError):
        pose_points(torch.zeros(2, 23, 3), torch.zeros(2, 23, 3), torch.zeros(17, 3))
    with pytest.raises(ValueError):   # the rest joints are constants here
        pose_points(torch.zeros(2, 24, 3), torch.zeros(2, 24, 3, requires_grad=True), torch.zeros(17, 3))


def test_prior_nll_grad_equals_autograd():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (400, 6)) @ rng.normal(0, 1, (6, 6))
    gmm = fit_gmm(x, k=3, iters=20)
    prior = PosePrior.from_arrays(gmm["weights"], gmm["means"], gmm["covariances"])
    q = torch.tensor(rng.normal(0, 2, (50, 6)), dtype=torch.float32, requires_grad=True)
    prior.nll(q).sum().backward()
    got = prior.nll_grad(q.detach())
    # float32: measured 2026-12-07 max relative difference ~1e-6 of the largest entry; bound 1e-4
    torch.testing.assert_close(got, q.grad, atol=1e-4 * float(q.grad.abs().max()), rtol=0)
    with pytest.raises(ValueError):
        prior.nll_grad(torch.zeros(3, 5))
