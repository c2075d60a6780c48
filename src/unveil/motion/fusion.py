"""Motion-aware cross-attention fusion of image evidence with the motion context (MoPO §3.3,
Eq. 6-9).

    F_M = RNN(P_com)                              (Eq. 6, a GRU over the completed poses)
    C_M = concat[F_M, Flatten(P_com)]             (Eq. 7, the motion context)
    F'  = CrossAttn(Q = C_M W_q, K = F W_k, V = F W_v)   (Eq. 8-9, per frame)

MoPO regresses SMPL parameters from F'; unveil's body fitting is analytic (ARTS IK), so here F'
predicts a *residual correction* of the completed joints (zero-initialised: an untrained fusion
is the identity).

Image evidence -- the plug-in point. MoPO's F is a ViT feature per frame; no pretrained image
backbone can be downloaded here, so the evidence is whatever per-frame tokens the detector gives:
:func:`keypoint_evidence` builds one token per COCO-17 keypoint (normalised x, y, confidence,
detected visibility) and, when a BlazePose track has them, one token per world landmark (x, y, z,
presence). A real backbone plugs in by producing its own ``(T, M, D)`` tokens and a fusion module
built with ``evidence_dim=D``; nothing else changes.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..checkpoint import load_pretrained_model
from ..paths import WEIGHTS_DIR

ARCH = "cross_attention_fusion"  # the checkpoint's "arch" (unveil.checkpoint); config: {}

NUM_J = 24
EVIDENCE_DIM = 8  # [x, y, conf, visible, X, Y, Z, is_world_landmark]


def keypoint_evidence(feats: torch.Tensor, visible: torch.Tensor, world_landmarks=None) -> torch.Tensor:
    """(..., T, 54) lifter features + (..., T, 17) detector visibility (+ optional (..., T, 33, 3)
    BlazePose world landmarks) -> (..., T, M, EVIDENCE_DIM) evidence tokens (M = 17 or 50)."""
    kp = feats[..., : 17 * 3].reshape(feats.shape[:-1] + (17, 3))
    z = torch.zeros(kp.shape[:-1] + (4,), dtype=feats.dtype)
    tok = torch.cat([kp, visible.to(feats.dtype)[..., None], z], dim=-1)
    if world_landmarks is not None:
        wl = torch.as_tensor(np.asarray(world_landmarks, np.float32))
        wtok = torch.zeros(wl.shape[:-1] + (EVIDENCE_DIM,), dtype=feats.dtype)
        wtok[..., 4:7] = wl
        wtok[..., 7] = 1.0
        tok = torch.cat([tok, wtok], dim=-2)
    return tok


class CrossAttentionFusion(nn.Module):
    """(B, T, 24, 3) completed joints + (B, T, M, D) evidence -> refined (B, T, 24, 3)."""

    def __init__(self, evidence_dim: int = EVIDENCE_DIM, max_tokens: int = 50, motion_dim: int = 64,
                 dim: int = 64, heads: int = 4):
        super().__init__()
        self.rnn = nn.GRU(NUM_J * 3, motion_dim, batch_first=True)              # Eq. 6
        self.q = nn.Linear(motion_dim + NUM_J * 3, dim)                         # Eq. 7 -> query
        self.kv = nn.Linear(evidence_dim, dim)
        self.tok_pe = nn.Parameter(torch.zeros(1, max_tokens, dim))
        nn.init.trunc_normal_(self.tok_pe, std=0.02)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)         # Eq. 8-9
        self.out = nn.Sequential(nn.Linear(2 * dim, dim), nn.GELU(), nn.Linear(dim, (NUM_J - 1) * 3))
        nn.init.zeros_(self.out[-1].weight)
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, joints: torch.Tensor, evidence: torch.Tensor) -> torch.Tensor:
        B, T = joints.shape[:2]
        flat = joints.reshape(B, T, -1)
        fm, _ = self.rnn(flat)
        q = self.q(torch.cat([fm, flat], dim=-1)).reshape(B * T, 1, -1)
        M = evidence.shape[-2]
        kv = (self.kv(evidence) + self.tok_pe[:, :M]).reshape(B * T, M, -1)
        f = self.attn(q, kv, kv, need_weights=False)[0].reshape(B, T, -1)
        delta = self.out(torch.cat([f, q.reshape(B, T, -1)], dim=-1)).reshape(B, T, NUM_J - 1, 3)
        return joints + torch.cat([torch.zeros_like(delta[:, :, :1]), delta], dim=2)


def load(path=None) -> CrossAttentionFusion:
    m, _ = load_pretrained_model(path or (WEIGHTS_DIR / "mopo_fusion.pt"), ARCH, lambda c: CrossAttentionFusion(**c))
    return m
