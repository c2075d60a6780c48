"""Motion-centric refinement: cross-attention with the motion as query over per-frame evidence.

Seed: ARTS §3.3.3 (Eq. 10; motion M from Eq. 2):

    M = concat[M_0, {S_t - S_{t-1}}]                                       (Eq. 2)
    h = CrossAttn(Q = MLP(M), K = V = MLP(evidence)),  θ = θ_init + MLP_θ(h)    (Eq. 10)

ARTS' evidence is per-frame image features; we have none, so the keys/values are the per-frame
*skeleton* evidence: the input root-relative joints J, the FIK rotations and the TIK rotations (6D,
Zhou et al.) and per-joint confidences. The query is the motion M of the input joints
(:func:`unveil.fit.disentangle.motion`). One or two cross-attention layers (pre-norm, each with a
feed-forward MLP) over a 32-frame window, width 96, and a zero-initialised MLP head predicting a
residual on the per-joint 6D rotations of θ_init = TIK (so an untrained net returns θ_init exactly).
Pose only: ARTS' shape head is left out; the shape stays the bone-guided one
(:mod:`unveil.fit.shape`, Eq. 6–9), one per track.

Global-frame invariant like TIK: root rotations, joints and motion enter in the window's middle-frame
root frame. Trained (``unveil train arts-refine``) with TIK's noise recipe
(:mod:`unveil.training.fit`): train-split windows, Gaussian noise std = p × mean bone length,
p ~ U(0, 0.12), a quarter clean; target the FIK rotations of the clean joints; loss = rotation L2 +
10 × forward-kinematics joint L2 + 1 × FK acceleration L2 (the motion is the point).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..checkpoint import load_pretrained_model
from ..skeleton import forward_kinematics
from .ik import joints_to_rotations
from .tik import WINDOW, window_starts, blend_windows, rotmat_to_6d, sixd_to_rotmat
from .tik import add_noise, load_tik, refine_rotations, train_on_noisy_windows
from ..paths import WEIGHTS_DIR

EVIDENCE_DIM = 24 * 3 + 24 * 6 + 24 * 6 + 24  # joints, FIK 6D, TIK 6D, confidences
ARCH = "arts_refine"  # the checkpoint's "arch" (unveil.checkpoint); config: window, dim, layers


class CrossBlock(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.nq = nn.LayerNorm(dim)
        self.nkv = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.nff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, q, kv):
        k = self.nkv(kv)
        q = q + self.attn(self.nq(q), k, k, need_weights=False)[0]
        return q + self.ff(self.nff(q))


class MotionRefine(nn.Module):
    def __init__(self, window: int = WINDOW, dim: int = 96, heads: int = 4, layers: int = 2):
        super().__init__()
        self.window = window
        self.q_embed = nn.Sequential(nn.Linear(24 * 3, dim), nn.GELU(), nn.Linear(dim, dim))
        self.kv_embed = nn.Sequential(nn.Linear(EVIDENCE_DIM, dim), nn.GELU(), nn.Linear(dim, dim))
        self.pos = nn.Parameter(torch.zeros(window, dim))
        nn.init.normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList([CrossBlock(dim, heads) for _ in range(layers)])
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 24 * 6))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, base: torch.Tensor, fik: torch.Tensor, joints: torch.Tensor,
                conf: torch.Tensor | None = None) -> torch.Tensor:
        """base (B,W,24,3,3) θ_init (TIK) rotations, fik (B,W,24,3,3) FIK rotations, joints
        (B,W,24,3) root-relative input joints, conf (B,W,24) or None (= ones) -> (B,W,24,3,3)."""
        B, W = base.shape[:2]
        Rm = base[:, W // 2, 0]                                             # (B,3,3)
        RmT = Rm[:, None].transpose(-1, -2)

        def canon(R):
            R = R.clone()
            R[:, :, 0] = RmT @ R[:, :, 0]
            return R

        b6 = rotmat_to_6d(canon(base))
        f6 = rotmat_to_6d(canon(fik))
        Jc = joints @ Rm[:, None]                                           # Rm^T x
        M = torch.cat([torch.diff(Jc, dim=1).mean(1, keepdim=True), torch.diff(Jc, dim=1)], 1) \
            if W > 1 else torch.zeros_like(Jc)                              # Eq. 2
        if conf is None:
            conf = torch.ones(B, W, 24, dtype=Jc.dtype)
        ev = torch.cat([Jc.reshape(B, W, -1), f6.reshape(B, W, -1), b6.reshape(B, W, -1), conf], -1)
        kv = self.kv_embed(ev) + self.pos[:W]
        q = self.q_embed(M.reshape(B, W, -1) * 10.0) + self.pos[:W]       # motion ~cm/frame: scale up
        for blk in self.blocks:
            q = blk(q, kv)
        out = sixd_to_rotmat(b6 + self.head(q).reshape(B, W, 24, 6))
        out0 = Rm[:, None] @ out[:, :, 0]
        return torch.cat([out0[:, :, None], out[:, :, 1:]], 2)


@torch.no_grad()
def refine_sequence(net: MotionRefine, joints, rest_joints, fik=None, tik_net=None, base=None,
                    conf=None) -> torch.Tensor:
    """Whole sequence: joints (T,24,3) + rest (24,3) -> refined local rotations (T,24,3,3) float64.
    ``fik`` precomputed FIK rotations; ``base`` precomputed θ_init (else TIK with ``tik_net`` or the
    shipped weights; FIK when there are none); ``conf`` (T,24) optional."""
    J = torch.as_tensor(np.asarray(joints) if not isinstance(joints, torch.Tensor) else joints).double()
    rest = torch.as_tensor(np.asarray(rest_joints) if not isinstance(rest_joints, torch.Tensor) else rest_joints).double()
    J = J - J[:, :1]
    F = joints_to_rotations(J, rest) if fik is None else torch.as_tensor(fik).double()
    if base is None:
        tnet = tik_net if tik_net is not None else load_tik()
        base = refine_rotations(tnet, J, rest, fik=F) if tnet is not None else F
    base = torch.as_tensor(base).float()
    F = F.float()
    Jr = J.float()
    T = J.shape[0]
    C = torch.ones(T, 24) if conf is None else torch.as_tensor(np.asarray(conf), dtype=torch.float32)
    W = net.window
    if T < W:
        pad = W - T
        base, F, Jr, C = (torch.cat([x, x[-1:].expand(pad, *x.shape[1:])]) for x in (base, F, Jr, C))
    Tp = base.shape[0]
    starts = window_starts(Tp, W)
    win = lambda x, ss: torch.stack([x[s:s + W] for s in ss])  # noqa: E731
    pred = torch.cat([net(win(base, starts[i:i + 64]), win(F, starts[i:i + 64]), win(Jr, starts[i:i + 64]),
                          win(C, starts[i:i + 64])) for i in range(0, len(starts), 64)])
    return blend_windows(pred, starts, Tp)[:T].double()


_CACHE: dict = {}


def load_motion_refine(path=None) -> MotionRefine | None:
    """The committed weights (weights/arts_refine.pt), or None when absent."""
    path = Path(path) if path else (WEIGHTS_DIR / "arts_refine.pt")
    if not path.exists():
        return None
    if str(path) not in _CACHE:
        _CACHE[str(path)], _ = load_pretrained_model(path, ARCH, lambda c: MotionRefine(**c))
    return _CACHE[str(path)]


# ------------------------------------------------------------------------------------- training
def train_net(J: torch.Tensor, rest: torch.Tensor, tik_net, steps: int = 1500, batch: int = 32, seed: int = 0,
              lr: float = 1e-3, pmax: float = 0.12, log=print, time_limit: float | None = None) -> MotionRefine:
    """J (N,W,24,3) clean windows, rest (N,24,3), frozen TIK (or None: θ_init = FIK) -> trained net
    (TIK's training loop and noise recipe, :func:`unveil.fit.tik.train_on_noisy_windows`, plus a
    joint-acceleration term)."""
    def step_loss(net, fik, Jn, gt, target, rest_b, W):
        with torch.no_grad():
            base = tik_net(fik, Jn) if tik_net is not None else fik
        pred = net(base, fik, Jn)
        loss_rot = ((pred - target) ** 2).mean()
        _, pos = forward_kinematics(pred, rest_b[:, None].expand(-1, W, -1, -1))
        loss_j = ((pos - gt) ** 2).sum(-1).mean()
        acc = (pos[:, 2:] - 2 * pos[:, 1:-1] + pos[:, :-2]) - (gt[:, 2:] - 2 * gt[:, 1:-1] + gt[:, :-2])
        loss_a = (acc ** 2).sum(-1).mean()
        return (loss_rot + 10.0 * loss_j + 10.0 * loss_a,
                f"joint {math.sqrt(loss_j.item()) * 1000:.1f}mm accel {math.sqrt(loss_a.item()) * 1000:.1f}mm")

    return train_on_noisy_windows(lambda W: MotionRefine(window=W), J, rest, step_loss, "arts-refine", steps=steps,
                                  batch=batch, seed=seed, lr=lr, pmax=pmax, log=log, time_limit=time_limit)


@torch.no_grad()
def evaluate(clips, rest_fn, net, tik_net, noise: float, seed: int = 0) -> dict:
    """Mean per-clip MPJPE / Accel (mm) of FK(rotations) vs the clean joints for FIK, TIK, TIK+refine."""
    g = torch.Generator().manual_seed(seed)
    res = {k: ([], []) for k in ("FIK", "TIK", "TIK+refine")}
    for j in clips:
        J = torch.as_tensor(np.asarray(j), dtype=torch.float64)
        J = J - J[:, :1]
        rest = rest_fn(j).double()
        Jn = add_noise(J[None].float(), noise, generator=g)[0].double()
        F = joints_to_rotations(Jn, rest)
        Tk = refine_rotations(tik_net, Jn, rest, fik=F) if tik_net is not None else F
        Rf = refine_sequence(net, Jn, rest, fik=F, base=Tk)
        for k, R in (("FIK", F), ("TIK", Tk), ("TIK+refine", Rf)):
            _, P = forward_kinematics(R.double(), rest.expand(len(J), 24, 3))
            res[k][0].append(float((P - J).norm(dim=-1).mean()) * 1000)
            a = (P[2:] - 2 * P[1:-1] + P[:-2]) - (J[2:] - 2 * J[1:-1] + J[:-2])
            res[k][1].append(float(a.norm(dim=-1).mean()) * 1000)
    return {k: {"mpjpe": round(float(np.mean(v[0])), 1), "accel": round(float(np.mean(v[1])), 1)}
            for k, v in res.items()}
