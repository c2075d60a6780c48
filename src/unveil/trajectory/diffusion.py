"""RopeTP trajectory prior: a small DDIM over the canonical root trajectory (RopeTP §3.3, Eq. 4-10).

What is generated: the canonical trajectory ``x`` (T, 4) = (dx, dz, dyaw, height) of
:mod:`unveil.trajectory.canonical` (MoRo Eq. 2, yaw-only), conditioned on ``c`` = the heading-free,
root-relative local joints ``L_t`` and their frame-to-frame change (144 channels). As in RopeTP the
network predicts ``x0`` directly (Eq. 7) and sampling is deterministic DDIM (sigma = 0, Eq. 8)::

    x_t = sqrt(a_t) x0 + sqrt(1 - a_t) eps                         (training, a_t cosine, 50 steps)
    x0^ = D(x_t, t, c);  eps^ = (x_t - sqrt(a_t) x0^) / sqrt(1 - a_t)
    x_{t'} = sqrt(a_t') x0^ + sqrt(1 - a_t') eps^                  (10 sampling steps t -> t')

Loss (Eq. 10): Huber(x0^ - x0) on normalised channels + ``LAMBDA_FOOT`` x the contact-consistency
loss (:func:`unveil.trajectory.contact.contact_loss`, ground-truth contact labels) + BCE of a
foot-contact head (4 logits per frame: ankles, toes) that reads only the condition encoding.
During sampling an optional contact *guidance* takes ``GUIDE_STEPS`` gradient steps on the contact
loss (weighted by the head's probabilities) on every x0^.

Network (CPU-friendly, ~0.3 M parameters): a condition encoder (1x1 + 2 dilated conv layers), a
noisy-trajectory embedding plus a sinusoidal step embedding, 5 residual dilated 1D-conv blocks
(kernel 5, dilations 1, 2, 4, 8, 1: receptive field ~65 frames = 2 s at 30 fps); it is fully
convolutional, so a whole sequence is sampled at once (trained on 64-frame windows).

Fusion with the camera evidence (:func:`refine_trajectory`): see its docstring -- one linear
least-squares problem (banded normal equations, :func:`solve_world_root`) over the world root positions with three kinds of rows: camera observations
with an anisotropic weight (tight across the viewing ray, loose along it, scaled by the frame's
keypoint confidence), the prior's per-frame steps, and zero-slide rows for feet the contact head
marks as planted.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch
from scipy.linalg import solveh_banded
import torch.nn as nn
import torch.nn.functional as F

from ..checkpoint import load_pretrained_model
from ..paths import WEIGHTS_DIR
from ..runtime import trim_heap
from . import canonical as C
from .contact import FEET, contact_loss
from ..errors import MissingAssetError
from .world import estimate_up, world_from_camera

WEIGHTS = WEIGHTS_DIR / "ropetp.pt"
ARCH = "ropetp_denoiser"  # the checkpoint's "arch" (unveil.checkpoint); config: hidden
N_STEPS = 50          # training noise schedule
SAMPLE_STEPS = 10     # DDIM steps at inference
SAMPLE_WINDOW = 2048  # frames per window of sample() on a long sequence (plus sample_halo() each side)
WINDOW = 64
FPS = 30.0
LAMBDA_FOOT = 20.0
GUIDE_STEPS = 0
COND_DIM = 144


# ------------------------------------------------------------------------------------ schedule
def alphas_bar(n: int = N_STEPS) -> torch.Tensor:
    """Cosine schedule (Nichol & Dhariwal) cumulative alphas a_t, t = 0..n-1 (a_0 close to 1)."""
    s = 0.008
    t = torch.arange(n + 1, dtype=torch.float64) / n
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    ab = (f / f[0])[1:]
    return ab.clamp(1e-4, 0.9999).float()


def sample_timesteps(n_sample: int = SAMPLE_STEPS, n: int = N_STEPS) -> list[int]:
    return sorted({int(round(v)) for v in np.linspace(n - 1, 0, n_sample)}, reverse=True)


# ------------------------------------------------------------------------------------ features
def cond_features(local: torch.Tensor) -> torch.Tensor:
    """(..., T, 24, 3) heading-free local joints -> (..., T, 144): positions and forward change."""
    vel = torch.cat([local[..., 1:, :, :] - local[..., :-1, :, :], torch.zeros_like(local[..., :1, :, :])], -3)
    return torch.cat([local.flatten(-2), vel.flatten(-2)], -1)


# ---------------------------------------------------------------------------------------- model
class _Block(nn.Module):
    def __init__(self, h: int, k: int, dil: int):
        super().__init__()
        self.c1 = nn.Conv1d(h, h, k, padding=dil * (k // 2), dilation=dil)
        self.c2 = nn.Conv1d(h, h, 1)
        self.t = nn.Linear(h, h)

    def forward(self, x, temb):
        y = self.c1(F.silu(x)) + self.t(temb)[..., None]
        return x + self.c2(F.silu(y))


class TrajDenoiser(nn.Module):
    """x0-predicting denoiser + foot-contact head. Tensors are (B, T, C)."""

    def __init__(self, hidden: int = 96, x_dim: int = 4, cond_dim: int = COND_DIM, dilations=(1, 2, 4, 8, 1)):
        super().__init__()
        self.hidden = hidden
        self.cond = nn.Sequential(nn.Conv1d(cond_dim, hidden, 1), nn.SiLU(),
                                  nn.Conv1d(hidden, hidden, 5, padding=2), nn.SiLU(),
                                  nn.Conv1d(hidden, hidden, 5, padding=4, dilation=2))
        self.x_in = nn.Conv1d(x_dim, hidden, 1)
        self.temb = nn.Sequential(nn.Linear(32, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.blocks = nn.ModuleList([_Block(hidden, 5, d) for d in dilations])
        self.out = nn.Conv1d(hidden, x_dim, 1)
        self.contact = nn.Sequential(nn.SiLU(), nn.Conv1d(hidden, hidden, 5, padding=2), nn.SiLU(),
                                     nn.Conv1d(hidden, len(FEET), 1))
        # normalisation statistics (set from the training data, saved with the weights)
        self.register_buffer("x_mean", torch.zeros(x_dim))
        self.register_buffer("x_std", torch.ones(x_dim))
        self.register_buffer("c_mean", torch.zeros(cond_dim))
        self.register_buffer("c_std", torch.ones(cond_dim))
        self.register_buffer("alphas_bar", alphas_bar())

    def encode(self, cond: torch.Tensor) -> torch.Tensor:
        """(B, T, 144) raw condition features -> (B, hidden, T)."""
        return self.cond(((cond - self.c_mean) / self.c_std).transpose(1, 2))

    def contact_logits(self, hc: torch.Tensor) -> torch.Tensor:
        return self.contact(hc).transpose(1, 2)                       # (B, T, 4)

    def _step_embedding(self, t: torch.Tensor) -> torch.Tensor:
        half = 16
        freqs = torch.exp(-math.log(1000.0) * torch.arange(half, dtype=torch.float32) / half)
        a = t.float()[:, None] * freqs[None]
        return self.temb(torch.cat([torch.sin(a), torch.cos(a)], -1))

    def denoise(self, xt: torch.Tensor, t: torch.Tensor, hc: torch.Tensor) -> torch.Tensor:
        """Normalised noisy trajectory (B, T, 4), steps (B,), encoded condition -> normalised x0^."""
        temb = self._step_embedding(t)
        h = hc + self.x_in(xt.transpose(1, 2))
        for b in self.blocks:
            h = b(h, temb)
        return self.out(F.silu(h)).transpose(1, 2)

    def norm_x(self, x):
        return (x - self.x_mean) / self.x_std

    def denorm_x(self, x):
        return x * self.x_std + self.x_mean


# ------------------------------------------------------------------------------------- sampling
def sample(model: TrajDenoiser, local: torch.Tensor, seed: int = 0, steps: int = SAMPLE_STEPS,
           guide_steps: int = GUIDE_STEPS, guide_lr: float = 0.5, window: int | None = SAMPLE_WINDOW) -> dict:
    """DDIM (sigma = 0) sample of the canonical trajectory for local joints (B, T, 24, 3) (or (T, 24, 3)).

    Returns {"x": (B, T, 4) canonical trajectory (metres/frame, rad/frame, metres),
    "contact": (B, T, 4) foot-contact probabilities}. Deterministic for a given ``seed``.

    ``window``: a sequence longer than ``window`` + 2 :func:`sample_halo` frames is sampled
    ``window`` frames at a time, each with :func:`sample_halo` frames of context on either side (the
    network is convolutional: a frame's output depends on the frames within the halo only, and the
    noise is drawn for the whole sequence at once), so the activations ((B, 96, frames) per layer) and
    the condition features stay bounded on a long video; the same numbers as one pass (tested).
    None, or ``guide_steps`` > 0 (the contact guidance's loss spans the sequence): one pass.
    """
    squeeze = local.dim() == 3
    local = (local[None] if squeeze else local).float()
    B, T = local.shape[:2]
    g = torch.Generator().manual_seed(int(seed))
    ts = sample_timesteps(steps, len(model.alphas_bar))
    noise = torch.randn(B, T, 4, generator=g)
    halo = sample_halo(model, len(ts))
    if window is None or guide_steps or T <= window + 2 * halo:
        x, pc = _sample_span(model, local, noise, ts, guide_steps, guide_lr)
    else:
        x, pc = torch.empty(B, T, 4), torch.empty(B, T, len(FEET))
        for lo in range(0, T, window):
            hi = min(lo + window, T)
            a, b = max(lo - halo, 0), min(hi + halo, T)
            xw, pw = _sample_span(model, local[:, a:b], noise[:, a:b], ts, 0, guide_lr)
            x[:, lo:hi], pc[:, lo:hi] = xw[:, lo - a:hi - a], pw[:, lo - a:hi - a]
            del xw, pw
    if squeeze:
        x, pc = x[0], pc[0]
    return {"x": x, "contact": pc}


def sample_halo(model: TrajDenoiser, n_steps: int = SAMPLE_STEPS) -> int:
    """Frames of context either side of a window that make :func:`sample`'s windows give the
    one-pass numbers: the condition encoder's and contact head's reach (and the forward change of
    :func:`cond_features`: 1 frame) plus ``n_steps`` times the denoiser's, rounded up to 16 (for the
    shipped network and 10 steps: 6 + 2 + 1 + 10 x 32 = 329 -> 336)."""
    def reach(mods) -> int:
        return sum(m.dilation[0] * (m.kernel_size[0] // 2) for m in mods if isinstance(m, nn.Conv1d))
    per_step = sum(reach([b.c1]) for b in model.blocks) + reach([model.x_in, model.out])
    n = reach(model.cond) + reach(model.contact) + 1 + int(n_steps) * per_step
    return -(-n // 16) * 16


def _sample_span(model: TrajDenoiser, local: torch.Tensor, noise: torch.Tensor, ts: list[int], guide_steps: int,
                 guide_lr: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The DDIM loop of :func:`sample` on (B, n, 24, 3) local joints and their (B, n, 4) noise:
    ((B, n, 4) trajectory, (B, n, 4) contact probabilities)."""
    B = local.shape[0]
    with torch.no_grad():
        hc = model.encode(cond_features(local))
        pc = torch.sigmoid(model.contact_logits(hc))
    ab = model.alphas_bar
    xt = noise
    x0 = xt
    for i, t in enumerate(ts):
        with torch.no_grad():
            x0 = model.denoise(xt, torch.full((B,), t), hc)
        if guide_steps:
            x0 = _contact_guidance(model, x0, local, pc, guide_steps, guide_lr)
        a = ab[t]
        eps = (xt - a.sqrt() * x0) / (1 - a).sqrt()
        a_prev = ab[ts[i + 1]] if i + 1 < len(ts) else torch.tensor(1.0)
        xt = a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps
    return model.denorm_x(x0), pc


def _contact_guidance(model, x0n, local, pc, steps, lr):
    x = x0n.detach().clone().requires_grad_(True)
    for _ in range(steps):
        loss = contact_loss(model.denorm_x(x), local, pc) * 100.0
        (gx,) = torch.autograd.grad(loss, x)
        x = (x - lr * gx).detach().requires_grad_(True)
    return x.detach()


@lru_cache(maxsize=2)
def load(path: str | None = None) -> TrajDenoiser:
    """The shipped (or given) weights, eval mode."""
    p = WEIGHTS if path is None else path
    try:
        model, _ = load_pretrained_model(p, ARCH, lambda c: TrajDenoiser(**c))
    except FileNotFoundError as e:
        raise MissingAssetError(f"RopeTP weights missing: {p} (train them: unveil train ropetp)") from e
    return model


# -------------------------------------------------------------------------------------- fusion
def _resample(a: np.ndarray, n_out: int) -> np.ndarray:
    T = a.shape[0]
    if T == n_out:
        return a
    src = np.linspace(0, T - 1, n_out)
    i0 = np.floor(src).astype(int).clip(0, T - 1)
    i1 = np.minimum(i0 + 1, T - 1)
    w = (src - i0).reshape((-1,) + (1,) * (a.ndim - 1))
    return a[i0] * (1 - w) + a[i1] * w


def up_from_legs(joints_cam: np.ndarray) -> np.ndarray:
    """Unit 'up' in camera coordinates: mean vector from the mid-ankle point to the pelvis (see
    :func:`unveil.trajectory.world.estimate_up`)."""
    return estimate_up(joints_cam, method="legs")


def refine_trajectory(joints_cam: np.ndarray, confidence: np.ndarray | None = None, fps: float = 30.0,
                      model: TrajDenoiser | None = None, seed: int = 0, sigma_lat: float = 0.03,
                      depth_ratio: float = 0.05, sigma_step: float = 0.01, sigma_contact: float = 0.005,
                      contact_thr: float = 0.5, use_prior: bool = True, contact: np.ndarray | None = None,
                      world=None, up: str = "legs", return_info: bool = False, solver: str = "banded"):
    """Camera-frame joints (T, 24, 3) with a camera-derived root -> the same joints on a refined root.

    1. World frame from the people (:func:`unveil.trajectory.world.world_from_camera`); canonicalise
       (heading ``theta_t`` observed from the hips/shoulders, local joints ``L_t``).
    2. RopeTP prior: DDIM-sample (dx, dz, dyaw, h) and contact probabilities from ``L`` (at 30 fps;
       other rates are resampled). Prior step ``s_t = R_y(theta_t) (dx_t, h_{t+1} - h_t, dz_t)``
       (the observed heading is used: given the pose it is exact; the generated dyaw is not needed).
    3. Least squares over the world roots ``r_t`` (3T unknowns, one solve: :func:`solve_world_root`):
       - camera rows ``W_t^(1/2) (r_t - o_t)`` where ``o_t`` is the input root, ``u_t`` the unit
         ray from the camera to it and ``W_t^(1/2) = sqrt(c_t) [(I - u u^T) / sigma_lat +
         u u^T / (sigma_lat + depth_ratio |o_t - cam|)]``: image-plane directions are trusted,
         depth much less (reprojection roots are depth-poor), all scaled by the frame confidence
         ``c_t`` (floored at 0.05 so every frame stays anchored);
       - prior rows ``(r_{t+1} - r_t - s_t) / sigma_step``;
       - contact rows, for each foot k with ``p_t,k p_{t+1},k > contact_thr``:
         ``(r_{t+1} - r_t + F_{t+1,k} - F_{t,k}) / sigma_contact`` (F = root-relative world foot):
         a planted foot does not slide.
    ``use_prior=False`` drops the prior rows (contacts + camera only: the ablation).
    ``confidence``: (T,) per-frame 2D confidence in [0, 1] (default 1). ``contact``: (T, 4)
    probabilities overriding the contact head (tests, oracle ablations). ``world``: (R, t) with
    x_world = R x_cam + t (Y up) when the caller knows the world frame; otherwise ``up="legs"``
    (default) takes "up" as the mean mid-ankle -> pelvis vector (:func:`up_from_legs`) and
    ``up="spine"`` uses :func:`unveil.trajectory.world.world_from_camera` (mean pelvis -> neck).
    Chosen on val (40 clips x kinds none/object/person/mixed, <= 300 frames, true local joints):
    GMPJPE 75.2 vs 89.5 mm, RTE 4.17 vs 4.74 %; up error on 40 val clips 5.9 deg mean / 13.3 max
    vs 5.8 / 18.8 for the spine.
    ``solver``: "banded" (default) or "sparse", see :func:`solve_world_root` (the same roots to float
    rounding; ``info["root_solver"]`` says which one solved).
    """
    if solver not in ("banded", "sparse"):
        raise ValueError(f"solver must be 'banded' or 'sparse', got {solver!r}")
    jc = np.asarray(joints_cam, np.float64)
    T = jc.shape[0]
    if jc.ndim != 3 or jc.shape[1:] != (24, 3):
        raise ValueError(f"joints_cam must be (T, 24, 3), got {jc.shape}")
    conf = np.ones(T) if confidence is None else np.clip(np.asarray(confidence, np.float64).reshape(T), 0, 1)
    if T < 3:
        return (jc.astype(np.float32), {}) if return_info else jc.astype(np.float32)
    model = model or load()
    if world is None:
        world = world_from_camera(jc, up=up)
    R, t = (np.asarray(a, np.float64) for a in world)
    jw = jc @ R.T + t
    theta = C.heading(jw).astype(np.float64)
    rel_w = jw - jw[:, :1]                                               # world axes, root-relative
    _, local, _ = C.canonicalize(jw)
    obs = jw[:, 0].copy()                                                # the input root (world)
    del jc, jw    # (T, 24, 3) float64 each, not needed past here: not held through the sampling
    n30 = max(3, int(round((T - 1) * FPS / fps)) + 1) if abs(fps - FPS) > 1e-3 else T
    loc30 = torch.from_numpy(_resample(local.astype(np.float64), n30)).float()
    del local
    out = sample(model, loc30, seed=seed)
    del loc30
    trim_heap()   # the sampler's freed activations go back before the solve (long videos: docs/batch.md)
    x30, p30 = out["x"].numpy().astype(np.float64), out["contact"].numpy().astype(np.float64)
    scale = FPS / fps                                                    # metres per frame at fps
    x = _resample(x30, T)
    x[:, :2] *= scale
    p = _resample(p30, T) if contact is None else np.asarray(contact, np.float64).reshape(T, len(FEET))
    step_l = np.stack([x[:-1, 0], x[1:, 3] - x[:-1, 3], x[:-1, 1]], -1)
    step_w = np.einsum("tij,tj->ti", C.rot_y(torch.from_numpy(theta[:-1])).numpy(), step_l)

    cam_w = t                                                            # camera centre in world
    u = obs - cam_w
    dist = np.linalg.norm(u, axis=-1, keepdims=True)
    u = u / np.maximum(dist, 1e-6)
    uu = u[:, :, None] * u[:, None, :]
    w = np.sqrt(np.maximum(conf, 0.05))[:, None, None]
    M = w * ((np.eye(3) - uu) / sigma_lat + uu / (sigma_lat + depth_ratio * dist[:, :, None]))
    del u, uu, dist, w
    f = np.arange(T)
    blocks = [(M, [f], [1.0], obs)]
    eye = np.broadcast_to(np.eye(3), (T - 1, 3, 3))
    if use_prior:
        blocks.append((eye / sigma_step, [f[1:], f[:-1]], [1.0, -1.0], step_w))
    n_contact = 0
    for k, j in enumerate(FEET):
        on = np.where(p[1:, k] * p[:-1, k] > contact_thr)[0]
        if len(on):
            n_contact += len(on)
            b = -(rel_w[on + 1, j] - rel_w[on, j])
            blocks.append((np.broadcast_to(np.eye(3) / sigma_contact, (len(on), 3, 3)), [on + 1, on], [1.0, -1.0], b))
    root, used = solve_world_root(blocks, T, solver)
    del blocks, M
    jw_new = rel_w + root[:, None, :]
    jc_new = ((jw_new - t) @ R).astype(np.float32)
    if return_info:
        return jc_new, {"x": x, "contact": p, "world_R": R, "world_t": t, "n_contact_rows": n_contact,
                        "root_solver": used}
    return jc_new


def world_root_normal_equations(blocks, T: int) -> tuple[np.ndarray, np.ndarray]:
    """The normal equations of :func:`refine_trajectory`'s least squares, in LAPACK lower band storage.

    Each block is a list of row triples ``M_n (sum_k coef_k r_{f_k[n]}) = M_n b_n``; a triple touches
    one frame or two adjacent ones, so the (3T, 3T) normal matrix is block tridiagonal (3 x 3 blocks):
    5 sub-diagonals, ``ab[i - j, j] = N[i, j]``, O(T) memory (no (rows, 3T) matrix).

    Args:
        blocks: list of ``(M, frames, coefs, b)``: M (n, 3, 3), frames a list of one or two (n,) int
            arrays (two: ``frames[0] = frames[1] + 1``), coefs the matching floats, b (n, 3).
        T: number of frames.

    Returns:
        (ab (6, 3T) float64, rhs (3T,) float64).
    """
    D = np.zeros((T, 3, 3))            # N[t, t]
    O = np.zeros((max(T - 1, 0), 3, 3))  # N[t + 1, t]
    rhs = np.zeros((T, 3))
    for M, frames, coefs, b in blocks:
        M = np.asarray(M, np.float64)
        n = M.shape[0]
        if M.shape != (n, 3, 3) or np.shape(b) != (n, 3) or len(frames) not in (1, 2) or len(coefs) != len(frames):
            raise ValueError(f"a block must be M (n, 3, 3), b (n, 3), one or two frame arrays; got M {M.shape}, "
                             f"b {np.shape(b)}, {len(frames)} frame arrays")
        Q = np.einsum("nki,nkj->nij", M, M)                      # M^T M
        Qb = np.einsum("nij,nj->ni", Q, np.asarray(b, np.float64))
        if len(frames) == 1:
            fa, = frames
            ca, = coefs
            np.add.at(D, fa, ca * ca * Q)
            np.add.at(rhs, fa, ca * Qb)
        else:
            fa, fb = frames
            ca, cb = coefs
            if np.any(np.asarray(fa) != np.asarray(fb) + 1):
                raise ValueError("a two-frame block must couple frames t + 1 and t")
            np.add.at(D, fa, ca * ca * Q)
            np.add.at(D, fb, cb * cb * Q)
            np.add.at(O, fb, ca * cb * Q)
            np.add.at(rhs, fa, ca * Qb)
            np.add.at(rhs, fb, cb * Qb)
    ab = np.zeros((6, 3 * T))
    for i in range(3):
        for j in range(i + 1):
            ab[i - j].reshape(T, 3)[:, j] = D[:, i, j]           # N[3t+i, 3t+j]
    for i in range(3):
        for j in range(3):
            ab[3 + i - j, :3 * (T - 1)].reshape(T - 1, 3)[:, j] = O[:, i, j]   # N[3(t+1)+i, 3t+j]
    return ab, rhs.reshape(-1)


def solve_world_root(blocks, T: int, solver: str = "banded") -> tuple[np.ndarray, str]:
    """The world roots (T, 3) minimising the blocks' squared residuals (:func:`world_root_normal_equations`).

    Args:
        blocks: see :func:`world_root_normal_equations`.
        T: number of frames.
        solver: "banded" (default): the banded normal equations by a banded Cholesky
            (``scipy.linalg.solveh_banded``), O(T) memory; "sparse": the (rows, 3T) sparse system's
            normal equations by SuperLU (the earlier solver: +71 MB at 10,000 frames, docs/batch.md
            "Fifth pass"). A banded matrix that is not positive definite or a non-finite solution goes to
            the sparse solver, which gives what it always gave.

    Returns:
        (root (T, 3) float64, the solver that solved: "banded" or "sparse").
    """
    if solver not in ("banded", "sparse"):
        raise ValueError(f"solver must be 'banded' or 'sparse', got {solver!r}")
    if solver == "banded":
        ab, rhs = world_root_normal_equations(blocks, T)
        try:
            sol = solveh_banded(ab, rhs, overwrite_ab=True, overwrite_b=True, lower=True, check_finite=False)
        except (np.linalg.LinAlgError, ValueError):   # not positive definite / non-finite entries
            sol = None
        if sol is not None and np.isfinite(sol).all():
            return sol.reshape(T, 3), "banded"
    return _world_root_sparse(blocks, T), "sparse"


def _world_root_sparse(blocks, T: int) -> np.ndarray:
    """:func:`solve_world_root` as one sparse least-squares system (the earlier solver)."""
    rows, cols, vals, rhs = [], [], [], []
    r = 0
    for M, unk_frames, coefs, b in blocks:
        n = M.shape[0]
        for i in range(3):
            for f, cf in zip(unk_frames, coefs):
                for d in range(3):
                    rows.append(r + 3 * np.arange(n) + i)
                    cols.append(3 * f + d)
                    vals.append(cf * M[:, i, d])
        rhs.append(np.einsum("nij,nj->ni", M, b).reshape(-1))
        r += 3 * n
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(r, 3 * T))
    bvec = np.concatenate(rhs)
    return spla.spsolve((A.T @ A).tocsc(), A.T @ bvec).reshape(T, 3)
