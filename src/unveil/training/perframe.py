"""Training recipe of the per-frame lifter baseline (:mod:`unveil.motion.perframe`; ``unveil train
perframe``): every frame of ``synth2d.training_windows("train")`` an independent sample; MPJPE in
metres; AdamW, one-cycle learning rate, fixed seed."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from ..checkpoint import save_checkpoint
from ..data.synth2d import training_windows
from ..motion.normalize import normalize_keypoints
from ..motion.perframe import ARCH, WEIGHTS, PerFrameLifter, load


def _dataset(split: str, n: int, seed: int, window: int = 32):
    w = training_windows(split, window=window, n=n, seed=seed)
    B, T = w["keypoints2d"].shape[:2]
    x = normalize_keypoints(w["keypoints2d"], focal=torch.as_tensor(w["focal"]),
                            principal_point=torch.as_tensor(w["principal_point"])).features()
    y = torch.as_tensor(w["joints_rel"], dtype=torch.float32)
    return x.reshape(B * T, -1), y.reshape(B * T, 24, 3)


def train(seed: int = 0, out: str | None = None, steps: int = 8000, windows: int = 8000,
          batch: int = 512, lr: float = 2e-3, log=print) -> dict:
    """Train the per-frame lifter; writes float16 weights to ``out`` (default: the shipped file)."""
    t0 = time.time()
    torch.manual_seed(seed)
    xtr, ytr = _dataset("train", windows, seed)
    xva, yva = _dataset("val", 200, seed + 1)
    log(f"perframe: {len(xtr)} train frames, {len(xva)} val frames, data in {time.time() - t0:.0f} s")
    model = PerFrameLifter()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        idx = torch.randint(0, len(xtr), (batch,), generator=g)
        pred = model(xtr[idx])
        loss = torch.linalg.norm(pred - ytr[idx], dim=-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 1000 == 0:
            log(f"  step {step + 1}/{steps} train MPJPE {loss.item() * 1000:.1f} mm")
    model.eval()
    with torch.no_grad():
        val = torch.linalg.norm(model(xva) - yva, dim=-1).mean().item() * 1000
    path = Path(out) if out else WEIGHTS
    save_checkpoint(path, ARCH, {}, {k: v.half() for k, v in model.state_dict().items()},
                    {"recipe": "unveil train perframe", "seed": seed, "steps": steps, "val_mpjpe_mm": round(val, 1)})
    load.cache_clear()
    res = {"val_mpjpe_mm": round(val, 1), "train_frames": len(xtr), "steps": steps,
           "seconds": round(time.time() - t0, 1), "weights": str(path)}
    log(f"perframe: val MPJPE {val:.1f} mm (root-relative, all kinds), {res['seconds']} s -> {path}")
    return res
