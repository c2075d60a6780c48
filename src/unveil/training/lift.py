"""Training recipes of MoPO's LSTM lifter and ARTS' dual-stream lifter (:mod:`unveil.motion.lift`;
``unveil train mopo-lift-lstm*`` / ``mopo-lift-dual``, table in :mod:`unveil.train`).

:func:`train_steps` is the loop every lifter recipe shares (also the render fine-tune,
:mod:`unveil.training.render_lift`): AdamW + one-cycle LR, loss = MPJPE + 0.5 x velocity MPJPE.
"""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from ..checkpoint import read_checkpoint, save_checkpoint
from ..motion.lift import ARCH, build, mpjpe
from ..paths import WEIGHTS_DIR
from . import windows


def train_steps(model, sample, steps: int, lr: float, tag: str, log=print, use_conf: bool = True) -> None:
    """The training loop every lifter recipe shares: AdamW + one-cycle LR, loss = MPJPE + 0.5 x
    velocity MPJPE (metres), gradient clipping at 1. ``sample()`` returns a window batch dict
    (``windows`` layout). Leaves the model in eval mode."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=max(0.05, 2.0 / steps))
    t0 = time.time()
    for it in range(steps):
        b = sample()
        x = torch.as_tensor(windows.features(b, use_conf=use_conf))
        y = torch.as_tensor(windows.root_relative(b["joints_cam"]))
        pred = model(x)
        loss = mpjpe(pred, y) + 0.5 * mpjpe(pred[:, 1:] - pred[:, :-1], y[:, 1:] - y[:, :-1])
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if it % 100 == 0 or it == steps - 1:
            log(f"[{tag}] step {it}/{steps} loss {loss.item() * 1000:.1f} mm  ({time.time() - t0:.0f} s)")
    model.eval()


def train(kind: str = "lstm", steps: int = 4000, seed: int = 0, out=None, window: int = 32,
          batch: int = 32, lr: float = 1e-3, use_conf: bool = True, init=None, log=print) -> dict:
    """Train a lifter on synthetic 2D windows (noise + occlusions) of the mocap train split."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    model = build(kind) if kind == "lstm" else build(kind, window=window)
    if init is not None:  # continue from a checkpoint (fine-tuning stage)
        model.load_state_dict(read_checkpoint(init, ARCH)["state"])
    sampler = windows.WindowSampler("train", window=window, seed=seed)
    val = windows.WindowSampler("val", window=window, seed=seed + 1000).sample(128)
    vx = torch.as_tensor(windows.features(val, use_conf=use_conf))
    vy = torch.as_tensor(windows.root_relative(val["joints_cam"]))
    t0 = time.time()
    train_steps(model, lambda: sampler.sample(batch), steps, lr, f"lift/{kind}", log, use_conf=use_conf)
    with torch.no_grad():
        v = float(mpjpe(model(vx), vy)) * 1000
    secs = time.time() - t0
    name = f"mopo_lift_{kind}" + ("" if use_conf else "_noconf")
    path = out or (WEIGHTS_DIR / f"{name}.pt")
    save_checkpoint(path, ARCH, {"kind": kind, "window": window, "use_conf": use_conf}, model.state_dict(),
                    {"seed": seed, "steps": steps, "val_mpjpe_mm": v, "train_seconds": secs})
    log(f"[lift/{kind}] val MPJPE {v:.1f} mm, {secs:.0f} s; wrote {path}")
    return {"val_mpjpe_mm": v, "train_seconds": secs}


# `unveil train` entry points (see unveil/train.py)
def train_lstm(**kw):
    return train("lstm", **kw)


def finetune_lstm(**kw):
    """Second stage of the shipped LSTM lifter: continue from the shipped weights, lower lr."""
    kw.setdefault("steps", 3000)
    return train("lstm", lr=3e-4, init=WEIGHTS_DIR / "mopo_lift_lstm.pt", **kw)


def train_lstm_noconf(**kw):
    return train("lstm", use_conf=False, **kw)


def train_dual(**kw):
    kw.setdefault("steps", 700)
    return train("dual", window=16, batch=16, **kw)
