"""Training recipe of the MoPO motion predictor (:mod:`unveil.motion.predict`; ``unveil train
mopo-predict*``): root-relative camera-frame mocap windows of N + L frames (+ input noise),
MPJPE of the L predicted frames."""

from __future__ import annotations

import time

import numpy as np
import torch

from ..checkpoint import save_checkpoint
from ..motion.predict import ARCH, NUM_J, MotionPredictor
from ..paths import WEIGHTS_DIR
from . import windows


def train(n_in: int = 16, n_out: int = 8, steps: int = 4000, seed: int = 0, out=None, batch: int = 128,
          lr: float = 1e-3, blocks: int = 8, noise_mm: float = 10.0, log=print) -> dict:
    """Train on root-relative camera-frame mocap windows of N + L frames (+ input noise)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = MotionPredictor(n_in, n_out, blocks)
    sampler = windows.JointWindowSampler("train", window=n_in + n_out, seed=seed)
    val = torch.as_tensor(windows.JointWindowSampler("val", window=n_in + n_out, seed=seed + 1000).sample(512))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=max(0.05, 2.0 / steps))
    t0 = time.time()
    for it in range(steps):
        y = torch.as_tensor(sampler.sample(batch))
        x = y[:, :n_in] + torch.as_tensor(rng.normal(0, noise_mm / 1000, (batch, n_in, NUM_J, 3)),
                                          dtype=torch.float32) * (torch.rand(batch, 1, 1, 1) < 0.7)
        x[:, :, 0] = 0
        pred = model(x)
        tgt = y[:, n_in:]
        loss = torch.linalg.norm(pred - tgt, dim=-1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if it % 200 == 0 or it == steps - 1:
            log(f"[predict {n_in}:{n_out}] step {it}/{steps} loss {loss.item() * 1000:.1f} mm ({time.time() - t0:.0f} s)")
    model.eval()
    with torch.no_grad():
        p = model(val[:, :n_in])
        err = torch.linalg.norm(p - val[:, n_in:], dim=-1).mean(dim=(0, 2)) * 1000
        hold = torch.linalg.norm(val[:, n_in - 1:n_in] - val[:, n_in:], dim=-1).mean(dim=(0, 2)) * 1000
    res = {"val_mm_per_future_frame": [round(float(e), 1) for e in err],
           "hold_last_frame_mm": [round(float(e), 1) for e in hold], "train_seconds": time.time() - t0}
    path = out or (WEIGHTS_DIR / f"mopo_predict_{n_in}_{n_out}.pt")
    save_checkpoint(path, ARCH, {"n_in": n_in, "n_out": n_out, "blocks": blocks}, model.state_dict(),
                    {"seed": seed, "steps": steps, "val": res})
    log(f"[predict {n_in}:{n_out}] {res}; wrote {path}")
    return res


# `unveil train` entry points (see unveil/train.py): input:prediction lengths of MoPO Tab. 5
def train_16_8(**kw):
    return train(16, 8, **kw)


def train_4_2(**kw):
    return train(4, 2, **kw)


def train_8_4(**kw):
    return train(8, 4, **kw)


def train_16_1(**kw):
    return train(16, 1, **kw)
