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

from ..checkpoint import load_pretrained_model, save_checkpoint

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


def _prepare(batch: dict):
    """Run the shipped de-occlusion (detector + LSTM lifter + completion) on a batch of windows."""
    from . import lift, predict, stage

    det = stage._detector("spatiotemporal")
    lifter = stage._lifter("lstm", True)
    pred = stage._predictor(16, 8)
    with torch.inference_mode():
        kp = torch.as_tensor(batch["keypoints2d"])
        vis = det(kp[..., 2]) > det.threshold
        feats = lift.features(batch["keypoints2d"], focal=batch["focal"], principal_point=batch["principal_point"])
        j = lifter(feats).numpy()
    occ24 = predict.occluded_smpl24(~vis.numpy())
    comp = np.stack([predict.complete(j[i], occ24[i], pred) for i in range(len(j))])
    ev = keypoint_evidence(feats, vis)
    gt = batch["joints_cam"] - batch["joints_cam"][..., :1, :]
    return torch.as_tensor(comp), ev.clone(), torch.as_tensor(gt, dtype=torch.float32)


def train(steps: int = 1500, seed: int = 0, out=None, window: int = 32, n_train: int = 1536,
          batch: int = 32, lr: float = 1e-3, log=print) -> dict:
    """Train the fusion on top of the frozen shipped de-occlusion models (fixed pre-computed set)."""
    import time

    from ..paths import WEIGHTS_DIR
    from . import windows

    torch.manual_seed(seed)
    t0 = time.time()
    tr = _prepare(windows.WindowSampler("train", window=window, seed=seed, pool=n_train).sample(n_train))
    va = _prepare(windows.WindowSampler("val", window=window, seed=seed + 1000, pool=256).sample(256))
    log(f"[fusion] prepared {n_train} train windows in {time.time() - t0:.0f} s")
    model = CrossAttentionFusion()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    g = torch.Generator().manual_seed(seed)
    for it in range(steps):
        idx = torch.randint(0, n_train, (batch,), generator=g)
        y = model(tr[0][idx], tr[1][idx])
        loss = torch.linalg.norm(y - tr[2][idx], dim=-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if it % 250 == 0 or it == steps - 1:
            log(f"[fusion] step {it}/{steps} loss {loss.item() * 1000:.1f} mm")
    model.eval()
    with torch.no_grad():
        before = float(torch.linalg.norm(va[0] - va[2], dim=-1).mean()) * 1000
        after = float(torch.linalg.norm(model(va[0], va[1]) - va[2], dim=-1).mean()) * 1000
    res = {"val_mpjpe_completed_mm": before, "val_mpjpe_fused_mm": after, "train_seconds": time.time() - t0}
    path = out or (WEIGHTS_DIR / "mopo_fusion.pt")
    save_checkpoint(path, ARCH, {}, model.state_dict(), {"seed": seed, "steps": steps, "val": res})
    log(f"[fusion] {res}; wrote {path}")
    return res


def load(path=None) -> CrossAttentionFusion:
    from ..paths import WEIGHTS_DIR

    m, _ = load_pretrained_model(path or (WEIGHTS_DIR / "mopo_fusion.pt"), ARCH, lambda c: CrossAttentionFusion(**c))
    return m
