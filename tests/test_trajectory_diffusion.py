"""RopeTP trajectory prior: canonicalisation (MoRo Eq. 2), contact loss, DDIM sampler, shipped weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unveil.data.synth2d import standin_clip
from unveil.trajectory import canonical as C
from unveil.trajectory import contact as K
from unveil.trajectory import diffusion as D
from unveil.training import ropetp


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny convs: one thread is much faster than two contending ones on a loaded box."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _turning_walk(T=90, yaw0=0.7, turn=0.02, seed=0):
    """Stand-in walk, re-posed along a curving path (heading changes every frame)."""
    clip = standin_clip(T, seed=seed)
    j = np.asarray(clip.joints, np.float64)
    _, local, _ = C.canonicalize(j)
    x, _, _ = C.canonicalize(j)
    x[:, 2] = turn
    return C.uncanonicalize(x, local, yaw0, np.array([1.0, 0.0, -2.0])).astype(np.float64)


def test_heading_of_rotated_body():
    j = np.asarray(standin_clip(10).joints, np.float64)
    base = C.heading(j)
    R = C.rot_y(torch.tensor(0.9, dtype=torch.float64)).numpy()
    rot = C.heading(j @ R.T)
    d = np.angle(np.exp(1j * (rot - base - 0.9)))
    assert np.abs(d).max() < 1e-5


def test_canonical_round_trip():
    j = _turning_walk()
    x, local, (th0, r0) = C.canonicalize(j)
    assert x.shape == (90, 4) and local.shape == (90, 24, 3)
    assert np.allclose(x[:-1, 2], 0.02, atol=1e-5)          # the imposed turn rate is recovered
    back = C.uncanonicalize(x, local, th0, r0)
    assert np.abs(back - j).max() < 1e-4
    # invariant to where the sequence starts and which way it faces
    R = C.rot_y(torch.tensor(-1.3, dtype=torch.float64)).numpy()
    x2, local2, _ = C.canonicalize(j @ R.T + np.array([5.0, 0.0, 3.0]))
    assert np.abs(x2 - x).max() < 1e-5 and np.abs(local2 - local).max() < 1e-5


def test_contact_loss_zero_for_static_foot_positive_for_sliding():
    T = 20
    local = torch.zeros(T, 24, 3)
    local[:, list(K.FEET)] = torch.tensor([[0.1, -0.9, 0.0], [-0.1, -0.9, 0.0], [0.1, -0.95, 0.1], [-0.1, -0.95, 0.1]])
    x = torch.zeros(T, 4)
    x[:, 3] = 0.9
    c = torch.ones(T, 4)
    assert float(K.contact_loss(x, local, c)) == pytest.approx(0.0, abs=1e-5)
    # the root moves 2 cm/frame while the local feet stay put: the feet slide 2 cm/frame
    x[:, 1] = 0.02
    assert float(K.contact_loss(x, local, c)) == pytest.approx(0.02, abs=1e-4)
    # ... unless the feet move back in the body frame by the same amount (a planted stance foot)
    local2 = local.clone()
    local2[:, list(K.FEET), 2] -= 0.02 * torch.arange(T, dtype=torch.float32)[:, None]
    assert float(K.contact_loss(x, local2, c)) == pytest.approx(0.0, abs=1e-4)
    # contact-free frames do not count
    assert float(K.contact_loss(x, local, torch.zeros(T, 4))) == 0.0


def test_contact_labels_of_standing_feet():
    j = np.repeat(np.asarray(standin_clip(5).joints[:1], np.float64), 30, 0)
    lab = K.contact_labels(j)
    assert lab.shape == (30, 4) and lab.all()


def test_ddim_sampler_shapes_and_determinism():
    torch.manual_seed(0)
    model = D.TrajDenoiser(hidden=16).eval()
    _, local, _ = C.canonicalize(_turning_walk(T=40))
    loc = torch.from_numpy(local)
    a = D.sample(model, loc, seed=3)
    b = D.sample(model, loc, seed=3)
    c = D.sample(model, loc, seed=4)
    assert a["x"].shape == (40, 4) and a["contact"].shape == (40, 4)
    assert torch.equal(a["x"], b["x"])
    assert not torch.equal(a["x"], c["x"])
    assert ((a["contact"] >= 0) & (a["contact"] <= 1)).all()
    batch = D.sample(model, loc[None].repeat(2, 1, 1, 1), seed=3, guide_steps=2)
    assert batch["x"].shape == (2, 40, 4)
    assert D.sample_timesteps(10, 50)[0] == 49 and D.sample_timesteps(10, 50)[-1] == 0


def test_training_loss_decreases_on_one_batch():
    torch.manual_seed(0)
    clip = standin_clip(120)
    data = ropetp.prepare_clips([clip])
    model = D.TrajDenoiser(hidden=16)
    rng = np.random.default_rng(0)
    g = torch.Generator().manual_seed(0)
    x, loc, noisy, c = ropetp.sample_batch(data, rng, 4)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    first = None
    for _ in range(30):
        g.manual_seed(0)
        loss, _ = ropetp.denoiser_loss(model, x, loc, noisy, c, g)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.7 * first


# Validation-split clips that move (root speed 41 and 36 mm per frame; the clips these tests used
# before moved 1.7 mm per frame, where predicting "no motion" passed)
TURN_CLIP = "dataset-2_walk-turn-left_youthful_030"
WALK_CLIP = "dataset-2_walk_feminine_006"
# measured on 2026-12-07 by these tests (the values in their failure messages):
PRIOR_HEIGHT_M = 0.0034 * 1.5      # sampled root height vs truth: 3.4 mm, margin +50%
PRIOR_STEP_MM = 3.39 * 1.3         # per-frame step error 3.39 mm (a zero step: 40.9 mm), margin +30%
PRIOR_CONTACT_ACC = 0.95           # contact accuracy 0.992, margin -0.04
REFINE_WALK_MM = 71.2 * 1.15       # root error after refine_trajectory, depth noise 15 cm: 71.2 mm (input 131.8)


def _val_clip(name):
    from unveil.data.corpus import load_split

    clips = [c for c in load_split("val") if c.name == name]
    assert clips, f"{name} not in the validation split"
    return clips[0]


def test_shipped_weights_plausible_on_val_clip(mocap_dir):
    model = D.load()
    j = np.asarray(_val_clip(TURN_CLIP).joints[:150], np.float64)
    x_true, local, _ = C.canonicalize(j)
    assert np.linalg.norm(x_true[:-1, :2], axis=-1).mean() > 0.03  # the clip walks (> 0.9 m/s)
    out = D.sample(model, torch.from_numpy(local), seed=0)
    x = out["x"].numpy()
    res = {"height": np.abs(x[:, 3] - x_true[:, 3]).mean(), "max_step": np.abs(x[:, :2]).max(),
           "step_mm": np.linalg.norm(x[:-1, :2] - x_true[:-1, :2], axis=-1).mean() * 1000,
           "contact_acc": ((out["contact"].numpy() > 0.5) == K.contact_labels(j)).mean()}
    assert res["height"] < PRIOR_HEIGHT_M, res
    assert res["max_step"] < 0.25, res                          # < 7.5 m/s
    assert res["step_mm"] < PRIOR_STEP_MM, res
    assert res["contact_acc"] > PRIOR_CONTACT_ACC, res


def _noisy_walk(name, seed=0):
    """90 frames of a val clip seen from 5 m (OpenCV camera), root depth noise 15 cm, lateral 1 cm."""
    jw = np.asarray(_val_clip(name).joints[:90], np.float64)
    R = np.diag([-1.0, -1.0, 1.0])
    t = np.array([0.0, 1.0, 5.0]) - R @ jw[0, 0] * np.array([1, 0, 1])
    jc = jw @ R.T + t
    rng = np.random.default_rng(seed)
    noisy = jc + np.concatenate([rng.normal(0, 0.01, (90, 1, 2)), rng.normal(0, 0.15, (90, 1, 1))], -1)
    return jc, noisy


def _root_mm(a, b):
    return float(np.linalg.norm(a[:, 0] - b[:, 0], axis=-1).mean() * 1000)


def test_refine_trajectory_reduces_depth_noise_of_a_walk(mocap_dir):
    jc, noisy = _noisy_walk(WALK_CLIP)
    assert np.linalg.norm(np.diff(jc[:, 0], axis=0), axis=-1).mean() > 0.03  # it walks
    out, info = D.refine_trajectory(noisy, np.full(90, 0.9), 30.0, return_info=True)
    assert out.shape == (90, 24, 3) and np.isfinite(out).all() and info["x"].shape == (90, 4)
    # the pose is untouched, only the root moves
    assert np.abs((out - out[:, :1]) - (noisy - noisy[:, :1])).max() < 1e-4
    err = {"input": _root_mm(noisy, jc), "refined": _root_mm(out, jc)}
    assert err["refined"] < REFINE_WALK_MM and err["refined"] < 0.7 * err["input"], err


@pytest.mark.xfail(strict=True, raises=AssertionError, reason="known (2026-12-07): on moving clips the RopeTP prior rows make the "
                   "root worse than the contacts-only ablation (walk: 71.2 vs 38.7 mm; turning walk: 184 vs "
                   "142 mm, input 132); on exact input the prior moves the root by 64 / 105 mm")
def test_prior_beats_the_contacts_only_ablation(mocap_dir):
    """What the prior is for: strict xfail, so it reports (XPASS fails) the day the prior helps."""
    for name in (WALK_CLIP, TURN_CLIP):
        jc, noisy = _noisy_walk(name)
        with_prior = _root_mm(D.refine_trajectory(noisy, np.full(90, 0.9), 30.0), jc)
        without = _root_mm(D.refine_trajectory(noisy, np.full(90, 0.9), 30.0, use_prior=False), jc)
        assert with_prior < without, (name, with_prior, without)


def test_true_contacts_remove_foot_sliding_of_a_standing_person():
    """Solver check: camera root + ground-truth contact rows beat the camera root alone."""
    from unveil import metrics
    from unveil.data.synth2d import make_sequence
    from unveil.trajectory.camera import frame_confidence
    from unveil.trajectory.camera import root_translation

    from types import SimpleNamespace

    c = standin_clip(60, seed=1)
    # a person standing still (both feet planted) for 4 s
    clip = SimpleNamespace(name="standin_stand", fps=30.0, joints=np.repeat(np.asarray(c.joints[:1]), 120, 0),
                           face=np.repeat(np.asarray(c.face[:1]), 120, 0))
    seq = make_sequence(clip, "none", seed=0)
    rel = seq.joints_rel
    jc = rel + root_translation(rel, seq.keypoints2d, seq.camera)[:, None]
    contact = K.contact_labels(seq.joints_world).astype(float)
    model = D.TrajDenoiser(hidden=16).eval()  # only the contact head is overridden; prior unused
    out = D.refine_trajectory(jc, frame_confidence(seq.keypoints2d), seq.fps, model=model,
                              use_prior=False, contact=contact)
    gw = seq.joints_world

    def slide(j):
        return metrics.foot_sliding(j, gw, fps=seq.fps)  # displacements: any rigid frame

    assert contact.mean() > 0.9
    assert slide(out) < 0.5 * slide(jc)


def test_up_from_legs_of_a_standing_body_in_a_tilted_camera():
    j = np.asarray(standin_clip(30).joints, np.float64)
    ang = np.deg2rad(15.0)
    Rx = np.array([[1, 0, 0], [0, np.cos(ang), -np.sin(ang)], [0, np.sin(ang), np.cos(ang)]])
    up0, up = D.up_from_legs(j), D.up_from_legs(j @ Rx.T)
    assert np.allclose(up, Rx @ up0, atol=1e-6)                # rotates with the camera
    assert np.degrees(np.arccos(np.clip(up0[1], -1, 1))) < 10.0  # stand-in walk: roughly vertical
    from unveil.trajectory.world import world_from_camera

    R, t = world_from_camera(j @ Rx.T, up="legs")
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-6)


def _random_root_blocks(rng, T, prior=True, contact_p=0.5, weak_frames=()):
    """refine_trajectory-shaped least squares on T frames: camera rows (anisotropic, some frames nearly
    unobserved), prior steps, contact rows with gaps (random subsets of the frame pairs, per foot)."""
    f = np.arange(T)
    u = rng.normal(size=(T, 3))
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    uu = u[:, :, None] * u[:, None, :]
    c = np.sqrt(rng.uniform(0.05, 1.0, T))
    c[list(weak_frames)] = np.sqrt(0.05)
    M = c[:, None, None] * ((np.eye(3) - uu) / 0.03 + uu / rng.uniform(0.1, 0.4, (T, 1, 1)))
    blocks = [(M, [f], [1.0], rng.normal(0, 2, (T, 3)))]
    if prior and T > 1:
        blocks.append((np.broadcast_to(np.eye(3) / 0.01, (T - 1, 3, 3)), [f[1:], f[:-1]], [1.0, -1.0],
                       rng.normal(0, 0.03, (T - 1, 3))))
    for _ in range(4 if T > 1 else 0):
        on = np.where(rng.random(T - 1) < contact_p)[0]
        if len(on):
            blocks.append((np.broadcast_to(np.eye(3) / 0.005, (len(on), 3, 3)), [on + 1, on], [1.0, -1.0],
                           rng.normal(0, 0.01, (len(on), 3))))
    return blocks


@pytest.mark.parametrize("T,prior,contact_p", [(1, True, 0.5), (2, True, 0.5), (2, False, 1.0), (3, True, 0.0),
                                               (7, False, 0.3), (60, True, 0.5), (1500, True, 0.5)])
def test_banded_world_root_equals_the_sparse_solve(T, prior, contact_p):
    """The banded normal equations give the sparse least squares' roots (float rounding: measured max
    abs difference <= 3.0e-12 m on these (T = 2), roots 0.4-2.8 m; bound 1e-9 m), and the banded path is the one that ran."""
    rng = np.random.default_rng(T)
    blocks = _random_root_blocks(rng, T, prior, contact_p, weak_frames=range(0, T, 5))
    banded, used_b = D.solve_world_root(blocks, T)
    sparse, used_s = D.solve_world_root(blocks, T, "sparse")
    assert (used_b, used_s) == ("banded", "sparse")
    assert banded.shape == (T, 3) and np.isfinite(banded).all()
    assert np.abs(banded - sparse).max() < 1e-9, np.abs(banded - sparse).max()
    # the band matrix is the dense normal matrix NᵀN's lower band
    ab, rhs = D.world_root_normal_equations(blocks, T)
    if T <= 60:
        N = np.zeros((3 * T, 3 * T))
        for d in range(min(6, 3 * T)):
            idx = np.arange(3 * T - d)
            N[idx + d, idx] = ab[d, :3 * T - d]
        N = N + np.tril(N, -1).T
        assert np.abs(N @ banded.reshape(-1) - rhs).max() < 1e-8 * np.abs(rhs).max()


def test_banded_world_root_falls_back_when_undetermined():
    """A frame with no rows at all (M = 0, no prior or contact to bridge it): the banded matrix is singular,
    the sparse solver answers, as before."""
    rng = np.random.default_rng(1)
    blocks = _random_root_blocks(rng, 5, prior=False, contact_p=0.0)
    blocks[0][0][2] = 0.0
    with pytest.warns(Warning):    # SuperLU: the matrix is exactly singular
        _, used = D.solve_world_root(blocks, 5)
    assert used == "sparse"
    with pytest.raises(ValueError, match="solver"):
        D.solve_world_root(blocks, 5, "dense")
    with pytest.raises(ValueError, match="t \\+ 1 and t"):
        D.world_root_normal_equations([(np.ones((2, 3, 3)), [np.array([0, 1]), np.array([0, 1])], [1.0, -1.0],
                                        np.zeros((2, 3)))], 3)


def test_refine_trajectory_banded_equals_sparse():
    """End to end on an untrained denoiser (random prior steps) and random contact probabilities (runs of
    contact rows with gaps): the same joints in float32 (measured: max abs difference 0 on this clip;
    bound 1e-6 m), and info says the banded solver ran."""
    c = standin_clip(90, seed=2)
    jc = np.asarray(c.joints, np.float64) + np.array([0.0, 0.0, 4.0])
    torch.manual_seed(0)
    model = D.TrajDenoiser(hidden=16).eval()
    rng = np.random.default_rng(0)
    conf, contact = rng.uniform(0, 1, 90), rng.uniform(0, 1, (90, 4))
    a, ia = D.refine_trajectory(jc, conf, 30.0, model=model, return_info=True, contact=contact)
    b, ib = D.refine_trajectory(jc, conf, 30.0, model=model, return_info=True, contact=contact, solver="sparse")
    assert ia["root_solver"] == "banded" and ib["root_solver"] == "sparse"
    assert 20 < ia["n_contact_rows"] < 4 * 89 and ia["n_contact_rows"] == ib["n_contact_rows"]
    assert np.abs(a - b).max() < 1e-6, np.abs(a - b).max()


def test_sample_in_windows_equals_one_pass(monkeypatch):
    """Issue 17: ``sample`` on a long sequence, window by window with ``sample_halo`` frames of context
    either side (noise drawn for the whole sequence), gives the one-pass numbers bit for bit (shipped
    weights; 1,400 frames in windows of 300: 5 windows, the last one short; two sequences at once), and
    the windows did run: a halo shorter than the network's reach gives other numbers."""
    model = D.load()
    assert D.sample_halo(model) == 336   # 6 (condition encoder) + 2 (contact head) + 1 + 10 x 32, to 16
    torch.manual_seed(0)
    loc = torch.cumsum(torch.randn(2, 1400, 24, 3) * 0.01, 1)
    one = D.sample(model, loc, seed=3, window=None)
    spans = []
    real = D._sample_span
    monkeypatch.setattr(D, "_sample_span", lambda m, lc, *a: spans.append(lc.shape[1]) or real(m, lc, *a))
    win = D.sample(model, loc, seed=3, window=300)
    assert spans == [636, 936, 972, 836, 536]   # [lo - 336, lo + 300 + 336) cut to the sequence
    assert torch.equal(one["x"], win["x"]) and torch.equal(one["contact"], win["contact"])
    single = D.sample(model, loc[1], seed=3, window=300)     # (T, 24, 3) in, (T, 4) out
    assert single["x"].shape == (1400, 4)
    monkeypatch.setattr(D, "sample_halo", lambda m, n=D.SAMPLE_STEPS: 48)
    short = D.sample(model, loc, seed=3, window=300)
    assert not torch.equal(one["x"], short["x"])
    spans.clear()
    D.sample(model, loc, seed=3)   # the default window (2,048 frames): 1,400 frames in one pass
    assert spans == [1400]
