"""Temporal inverse kinematics (TIK): temporal self-attention over swing + twist.

Seed: ARTS §3.3.1, Eq. 4–5:

    swing = MLP(J), twist = MLP(F)                                  (Eq. 4)
    θ_init = MSA(MLP(concat[swing, twist]))                          (Eq. 5)

Here the per-frame swing *and* twist come from the analytic FIK (:mod:`unveil.fit.ik`: swing from
the joints, twist from the hinge prior — we have no image features F), as 6D rotations (Zhou et
al.), concatenated with the root-relative joints J. A linear embedding + learned positional
embedding + a 2-layer transformer encoder (multi-head self-attention over a window of frames)
predicts a residual on the 6D rotations of every frame of the window; Gram–Schmidt gives the
rotation matrices. Global-frame invariant: root rotations and joints enter in the window's
middle-frame root frame. Trained (``unveil train tik``) on the mocap train split: inputs are joints
with i.i.d. Gaussian noise (std = p × the clip's mean bone length, p ~ U(0, 0.12) per window), the
rest skeleton is the body model's, shaped to the clip's bone lengths (as in the pipeline), targets
the FIK rotations of the clean joints; loss = rotation L2 + 10 × forward-kinematics joint L2.

Long sequences are processed in overlapping windows; each frame takes the prediction of the
window where it sits most centrally.
"""

from __future__ import annotations

import math
import time

import numpy as np
import roma
import torch
from torch import nn

from ..checkpoint import load_pretrained_model
from ..skeleton import forward_kinematics
from .ik import joints_to_rotations
from ..paths import WEIGHTS_DIR
from ..skeleton import bone_lengths

WINDOW = 32
ARCH = "tik"  # the checkpoint's "arch" (unveil.checkpoint); config: window, dim


def rotmat_to_6d(R: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 6): the first two columns (Zhou et al. 2019)."""
    return torch.cat([R[..., :, 0], R[..., :, 1]], -1)


def sixd_to_rotmat(x: torch.Tensor) -> torch.Tensor:
    return roma.special_gramschmidt(torch.stack([x[..., :3], x[..., 3:]], -1))


class TIK(nn.Module):
    def __init__(self, window: int = WINDOW, dim: int = 128, heads: int = 4, layers: int = 2):
        super().__init__()
        self.window = window
        self.embed = nn.Sequential(nn.Linear(24 * 6 + 24 * 3, dim), nn.GELU(), nn.Linear(dim, dim))
        self.pos = nn.Parameter(torch.zeros(window, dim))
        enc = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=0.0, batch_first=True,
                                         norm_first=True)
        self.msa = nn.TransformerEncoder(enc, layers, enable_nested_tensor=False)
        self.head = nn.Linear(dim, 24 * 6)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        nn.init.normal_(self.pos, std=0.02)

    def forward(self, rotmats: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
        """rotmats (B, W, 24, 3, 3) FIK local rotations, joints (B, W, 24, 3) root-relative (any
        frame) -> refined rotations (B, W, 24, 3, 3).

        Invariant to the global frame: the root rotations and the joints are expressed in the
        window's middle-frame root frame before the network and rotated back after it."""
        B, W = rotmats.shape[:2]
        Rm = rotmats[:, W // 2, 0]                                          # (B,3,3)
        rot = rotmats.clone()
        rot[:, :, 0] = Rm[:, None].transpose(-1, -2) @ rotmats[:, :, 0]
        Jc = joints @ Rm[:, None]                                            # Rm^T x
        x6 = rotmat_to_6d(rot)
        x = torch.cat([x6.reshape(B, W, -1), Jc.reshape(B, W, -1)], -1)
        h = self.embed(x) + self.pos[:W]
        h = self.msa(h)
        out = sixd_to_rotmat(x6 + self.head(h).reshape(B, W, 24, 6))
        out0 = Rm[:, None] @ out[:, :, 0]
        return torch.cat([out0[:, :, None], out[:, :, 1:]], 2)


def window_starts(T: int, W: int) -> list[int]:
    """Start frames of half-overlapping windows of length W covering T frames (last one flush).

    Args:
        T: number of frames.
        W: window length.

    Returns:
        Sorted start indices; ``[0]`` when ``T <= W``.
    """
    if T <= W:
        return [0]
    stride = W // 2
    starts = list(range(0, T - W + 1, stride))
    if starts[-1] != T - W:
        starts.append(T - W)
    return starts


@torch.no_grad()
def refine_rotations(net: TIK, joints, rest_joints, fik=None, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """TIK on a whole sequence.

    Args:
        net: the TIK network.
        joints: (T, 24, 3) joints (any frame); rest_joints: (24, 3) rest joints.
        fik: precomputed FIK rotations (T, 24, 3, 3) (any float dtype: the network sees them as float32).
        dtype: of the result (its values are float32 ones whatever the dtype; float32 halves its memory).
    Returns:
        (T, 24, 3, 3) local rotations, torch ``dtype``.
    """
    J = torch.as_tensor(np.asarray(joints), dtype=torch.float32) if not isinstance(joints, torch.Tensor) \
        else joints.float()
    rest = torch.as_tensor(np.asarray(rest_joints), dtype=torch.float32) if not isinstance(rest_joints, torch.Tensor) \
        else rest_joints.float()
    R0 = joints_to_rotations(J.double(), rest.double()) if fik is None else torch.as_tensor(fik)
    T = J.shape[0]
    W = net.window
    if T < W:  # pad by repeating the last frame
        pad = W - T
        x = R0.float()
        x = torch.cat([x, x[-1:].expand(pad, -1, -1, -1)])
        Jr = (J - J[:, :1]).float()
        Jr = torch.cat([Jr, Jr[-1:].expand(pad, -1, -1)])
    else:
        # each window's input is cut from the rotations and joints as the batch needs it (no float32 /
        # root-relative copy of the whole sequence; the same values: both are frame-wise)
        x, Jr = R0, J
    Tp = max(T, W)
    starts = window_starts(Tp, W)
    # BATCH windows per network call, each call's predictions blended in at once (memory bounded by
    # the batch, not by the video's length; the same calls and the same blend as predicting all first)
    out = torch.zeros((Tp, 24, 3, 3), dtype=torch.float32)
    best = torch.full((Tp,), -1.0)
    for i in range(0, len(starts), BATCH):
        part = starts[i:i + BATCH]
        pred = net(torch.stack([x[s:s + W].float() for s in part]),
                   torch.stack([(Jr[s:s + W] - Jr[s:s + W, :1]).float() for s in part]))
        blend_into(out, best, pred, part, starts[-1])
    return out[:T].to(dtype)


BATCH = 64  # TIK windows per network call in refine_rotations


def blend_windows(pred: torch.Tensor, starts: list[int], length: int) -> torch.Tensor:
    """Overlapping window predictions (n, W, ...) starting at ``starts`` -> one sequence (length, ...):
    each frame takes the prediction of the window in which it sits most centrally (the first and last
    windows own the sequence's ends)."""
    out = torch.zeros((length,) + tuple(pred.shape[2:]), dtype=pred.dtype)
    best = torch.full((length,), -1.0)
    blend_into(out, best, pred, starts, starts[-1])
    return out


def blend_into(out: torch.Tensor, best: torch.Tensor, pred: torch.Tensor, starts: list[int], last: int) -> None:
    """The step of :func:`blend_windows` for some of the windows, in order (call it for consecutive
    groups of windows: the result is the same as one call with all of them).

    Args:
        out: (length, ...) the sequence, updated in place.
        best: (length,) float, how central each frame's current prediction is (-1: none yet), updated.
        pred: (n, W, ...) the predictions of the windows starting at ``starts`` (n start frames).
        last: the start of the sequence's last window (it owns the sequence's end).
    """
    W = pred.shape[1]
    if pred.shape[0] != len(starts) or out.shape[1:] != pred.shape[2:] or best.shape != out.shape[:1]:
        raise ValueError(f"pred {tuple(pred.shape)} for {len(starts)} starts, out {tuple(out.shape)}, "
                         f"best {tuple(best.shape)}")
    centre = torch.minimum(torch.arange(W) + 0.5, W - 0.5 - torch.arange(W).float())
    for i, s in enumerate(starts):
        c = centre.clone()
        if s == 0:
            c[: W // 2] = W  # sequence start: nothing better available
        if s == last:
            c[W // 2:] = W
        take = c > best[s:s + W]
        out[s:s + W][take] = pred[i][take]
        best[s:s + W] = torch.maximum(best[s:s + W], c)


_CACHE: dict = {}


def load_tik(path=None) -> TIK | None:
    """The committed TIK weights (weights/tik.pt), or None when absent."""
    path = path or (WEIGHTS_DIR / "tik.pt")
    if not path.exists():
        return None
    if str(path) not in _CACHE:
        _CACHE[str(path)], _ = load_pretrained_model(path, ARCH, lambda c: TIK(**c))
    return _CACHE[str(path)]


# ------------------------------------------------------------------------------------- training
def add_noise(joints: torch.Tensor, p, generator=None) -> torch.Tensor:
    """i.i.d. Gaussian noise, std = p × mean bone length (per leading batch item), on (..., T, 24, 3)."""
    L = bone_lengths(joints).mean(dim=(-1, -2))  # (...,)
    p = torch.as_tensor(p, dtype=joints.dtype)
    std = (p * L)[..., None, None, None]
    return joints + std * torch.randn(joints.shape, generator=generator, dtype=joints.dtype)


def build_training_windows(clips_joints: list[np.ndarray], rest_fn, window: int = WINDOW, n: int = 4096,
                           seed: int = 0):
    """Random windows of clean joints + the rest skeleton for each (rest_fn(joints) -> (24, 3))."""
    rng = np.random.default_rng(seed)
    rests = [torch.as_tensor(rest_fn(j), dtype=torch.float32) for j in clips_joints]
    ok = [i for i, j in enumerate(clips_joints) if len(j) >= window]
    Js, Rs = [], []
    for _ in range(n):
        i = ok[rng.integers(len(ok))]
        s = rng.integers(0, len(clips_joints[i]) - window + 1)
        Js.append(torch.as_tensor(clips_joints[i][s:s + window], dtype=torch.float32))
        Rs.append(rests[i])
    return torch.stack(Js), torch.stack(Rs)


def train_on_noisy_windows(make_net, J: torch.Tensor, rest: torch.Tensor, step_loss, tag: str, steps: int = 1500,
                           batch: int = 32, seed: int = 0, lr: float = 1e-3, pmax: float = 0.12, log=print,
                           time_limit: float | None = None):
    """The training loop shared by TIK and the motion-centric refinement (deterministic for a seed).

    J (N, W, 24, 3) clean windows, rest (N, 24, 3). Each step draws ``batch`` windows, adds
    bone-length-relative noise p ~ U(0, pmax) (a quarter of the batch clean), runs FIK on them and
    calls ``step_loss(net, fik, Jn, clean, target, rest_b, W) -> (loss, detail)`` where ``clean`` are
    the clean root-relative windows and ``target`` their FIK rotations. AdamW + cosine LR, gradient clipping at 1.
    """
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    N, W = J.shape[:2]
    net = make_net(W)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    Jc = J - J[:, :, :1]
    with torch.no_grad():
        target = joints_to_rotations(Jc.double(), rest[:, None].double()).float()  # (N,W,24,3,3)
    t0 = time.time()
    for step in range(steps):
        idx = torch.randint(0, N, (batch,), generator=g)
        p = torch.rand(batch, generator=g) * pmax
        p[: batch // 4] = 0.0
        Jn = add_noise(Jc[idx], p, generator=g)
        Jn = Jn - Jn[:, :, :1]
        with torch.no_grad():
            fik = joints_to_rotations(Jn.double(), rest[idx, None].double()).float()
        loss, detail = step_loss(net, fik, Jn, Jc[idx], target[idx], rest[idx], W)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        sched.step()
        if log and (step % 100 == 0 or step == steps - 1):
            log(f"{tag} step {step} loss {loss.item():.4f} {detail} ({time.time() - t0:.0f}s)")
        if time_limit and time.time() - t0 > time_limit:
            if log:
                log(f"{tag}: stopped at step {step} (time limit {time_limit:.0f}s)")
            break
    net.eval()
    return net


def train_tik(J: torch.Tensor, rest: torch.Tensor, steps: int = 1500, batch: int = 32, seed: int = 0,
              lr: float = 1e-3, pmax: float = 0.12, log=print, time_limit: float | None = None) -> TIK:
    """J (N, W, 24, 3) clean windows, rest (N, 24, 3) -> trained TIK (deterministic for a seed)."""

    def step_loss(net, fik, Jn, clean, target, rest_b, W):
        pred = net(fik, Jn)
        loss_rot = ((pred - target) ** 2).mean()
        _, pos = forward_kinematics(pred, rest_b[:, None].expand(-1, W, -1, -1))
        loss_j = ((pos - clean) ** 2).sum(-1).mean()
        return loss_rot + 10.0 * loss_j, f"rot {loss_rot.item():.4f} joint {math.sqrt(loss_j.item()) * 1000:.1f}mm"

    return train_on_noisy_windows(lambda W: TIK(window=W), J, rest, step_loss, "tik", steps=steps, batch=batch,
                                  seed=seed, lr=lr, pmax=pmax, log=log, time_limit=time_limit)
