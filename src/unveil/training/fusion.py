"""Training recipe of the MoPO cross-attention fusion (:mod:`unveil.motion.fusion`; ``unveil train
mopo-fusion``): on top of the frozen shipped de-occlusion models (detector + LSTM lifter +
completion), a fixed pre-computed set of windows, MPJPE of the fused joints."""

from __future__ import annotations

import functools
import time

import numpy as np
import torch

from ..checkpoint import save_checkpoint
from ..motion import lift, occlusion, predict
from ..motion.fusion import ARCH, CrossAttentionFusion, keypoint_evidence
from ..paths import WEIGHTS_DIR
from . import windows


@functools.lru_cache(maxsize=1)
def shipped_models():
    """The frozen shipped detector, LSTM lifter and 16:8 predictor, loaded once (in this order: the
    recipe's torch random state, hence its fusion weights for a seed, depends on it)."""
    return occlusion.load("spatiotemporal"), lift.load("lstm", use_conf=True), predict.load(16, 8)


def _prepare(batch: dict):
    """Run the shipped de-occlusion (detector + LSTM lifter + completion) on a batch of windows."""
    det, lifter, pred = shipped_models()
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
