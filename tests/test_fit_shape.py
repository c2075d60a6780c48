"""Bone-guided shape fitting (unveil.fit.shape) on a small stand-in body model."""

import numpy as np
import torch

from unveil.fit.disentangle import bone_lengths, disentangle, motion
from unveil.fit.ik import rest_skeleton_tpose
from unveil.fit.shape import (align_to_bones, bone_length_error, fit_shape_analytic, linearise,
                              train_shape_mlp)
from unveil.skeleton import bone_lengths as skel_bone_lengths


class StandIn(torch.nn.Module):
    """Rest joints = template scaled per region by 4 'phenotypes' in [0, 1] (mildly non-linear)."""

    name = "anny-standin"
    num_shape = 4

    def __init__(self):
        super().__init__()
        self.rest = rest_skeleton_tpose(dtype=torch.float32)
        legs = torch.zeros(24)
        legs[[1, 2, 4, 5, 7, 8, 10, 11]] = 1
        arms = torch.zeros(24)
        arms[[16, 17, 18, 19, 20, 21, 22, 23]] = 1
        spine = torch.zeros(24)
        spine[[3, 6, 9, 12, 15]] = 1
        self.masks = (torch.ones(24), legs, arms, spine)

    def default_shape(self):
        return torch.full((self.num_shape,), 0.5)

    def rest_joints(self, shape):
        s = shape.reshape(-1, self.num_shape)
        offs = [self.rest[j] - self.rest[p] if p >= 0 else self.rest[0]
                for j, p in enumerate((-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21))]
        offs = torch.stack(offs)
        k = (1 + 0.3 * (s[:, :1] - 0.5) + 0.1 * (s[:, :1] - 0.5) ** 2)[:, :, None] * torch.ones(1, 24, 1)
        for i in range(1, 4):
            k = k * (1 + 0.25 * (s[:, i:i + 1] - 0.5))[:, :, None] ** self.masks[i][None, :, None]
        o = offs[None] * k
        parents = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
        out = [o[:, 0]]
        for j in range(1, 24):
            out.append(out[parents[j]] + o[:, j])
        return torch.stack(out, 1)


def test_disentangle_eq2_eq3():
    rng = np.random.default_rng(0)
    J = rng.normal(size=(10, 24, 3)).astype(np.float32)
    d = disentangle(J)
    assert d.bone_lengths.shape == (23,) and d.motion.shape == (10, 24, 3)
    np.testing.assert_allclose(d.motion[1:], J[1:] - J[:-1], atol=1e-6)
    np.testing.assert_allclose(d.motion[0], (J[1:] - J[:-1]).mean(0), atol=1e-6)
    np.testing.assert_allclose(d.bone_lengths, skel_bone_lengths(J).mean(0), rtol=1e-5)
    w = np.ones((10,))
    w[3] = 0
    assert not np.allclose(bone_lengths(J, w), d.bone_lengths)
    assert bone_lengths(J, robust=True).shape == (23,)
    assert np.all(motion(J[:1]) == 0)


def test_align_to_bones_gives_exact_lengths():
    rest = rest_skeleton_tpose()
    B = torch.linspace(0.05, 0.4, 23, dtype=torch.float64)
    Ja = align_to_bones(rest, B)
    assert torch.allclose(skel_bone_lengths(Ja), B)


def test_analytic_shape_recovers_known_shape():
    model = StandIn()
    true = torch.tensor([[0.2, 0.8, 0.3, 0.7], [0.9, 0.1, 0.6, 0.4]])
    B = skel_bone_lengths(model.rest_joints(true))
    s = fit_shape_analytic(model, B, iters=4, lin=linearise(model, damping=1e-9))
    assert torch.allclose(s, true, atol=2e-3), s
    assert bone_length_error(model, s, B).max() < 1e-3
    # with the default shape prior: biased towards the mean, but the bone lengths still match
    s = fit_shape_analytic(model, B, iters=4)
    assert bone_length_error(model, s, B).max() < 5e-3
    # one closed-form step (Eq. 8 verbatim) is already close for this mildly non-linear model
    s1 = fit_shape_analytic(model, B, iters=1, lin=linearise(model, damping=1e-9))
    assert (s1 - true).abs().max() < 0.1


def test_analytic_init_mlp_starts_at_the_pseudo_inverse_and_trains():
    model = StandIn()
    lin = linearise(model)
    assert lin.D.shape == (72, 4)
    net = train_shape_mlp(model, init="analytic", n_train=256, steps=25, log=None)
    true = torch.tensor([[0.3, 0.6, 0.4, 0.5]])
    B = skel_bone_lengths(model.rest_joints(true)).float()
    with torch.no_grad():
        s = net(B)
    assert (s - true).abs().max() < 0.1
