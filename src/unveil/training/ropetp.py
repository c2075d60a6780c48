"""Training recipe of the RopeTP trajectory prior (:mod:`unveil.trajectory.diffusion`; ``unveil train
ropetp``): 64-frame windows of the mocap corpus "train" split (canonical trajectory + local joints +
contact labels, random sagittal mirror, condition noise); loss of Eq. 10 (Huber on x0 + foot contact
consistency + contact-head BCE); validation numbers on the "val" split (:func:`evaluate`)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..checkpoint import save_checkpoint
from ..data.corpus import load_split
from ..metrics import rte as rte_fn
from ..skeleton import SMPL24_FLIP
from ..trajectory import canonical as C
from ..trajectory.contact import contact_labels, contact_loss
from ..trajectory.diffusion import (ARCH, FPS, LAMBDA_FOOT, WEIGHTS, WINDOW, TrajDenoiser, cond_features, load,
                                    sample)


def prepare_clips(clips, fps: float = FPS) -> list[dict]:
    out = []
    for c in clips:
        j = np.asarray(c.joints, np.float64)
        if j.shape[0] < WINDOW:
            continue
        x, local, _ = C.canonicalize(j)
        out.append({"x": x.astype(np.float32), "local": local.astype(np.float32),
                    "contact": contact_labels(j, fps).astype(np.float32)})
    return out


def sample_batch(data, rng, B, window=WINDOW, noise=0.03):
    lens = np.array([d["x"].shape[0] - window + 1 for d in data], np.float64)
    idx = rng.choice(len(data), size=B, p=lens / lens.sum())
    xs, ls, cs = [], [], []
    for i in idx:
        d = data[i]
        s = int(rng.integers(0, d["x"].shape[0] - window + 1))
        xs.append(d["x"][s:s + window])
        ls.append(d["local"][s:s + window])
        cs.append(d["contact"][s:s + window])
    x, loc, c = (torch.from_numpy(np.stack(a)) for a in (xs, ls, cs))
    # random mirror about the sagittal plane (x -> -x): swaps nothing in the trajectory but dx, dyaw
    flip = torch.from_numpy(rng.random(B) < 0.5)
    if flip.any():
        lf = loc[flip][..., list(SMPL24_FLIP), :] * torch.tensor([-1.0, 1.0, 1.0])
        loc[flip] = lf
        x[flip] = x[flip] * torch.tensor([-1.0, 1.0, -1.0, 1.0])
        cf = c[flip]
        c[flip] = cf[..., [1, 0, 3, 2]]
    sig = torch.from_numpy(rng.uniform(0, noise, (B, 1, 1, 1)).astype(np.float32))
    noisy = loc + sig * torch.from_numpy(rng.standard_normal(loc.shape).astype(np.float32))
    return x, loc, noisy, c


def denoiser_loss(model, x, loc, noisy, c, g):
    B = x.shape[0]
    ab = model.alphas_bar
    t = torch.randint(0, len(ab), (B,), generator=g)
    a = ab[t][:, None, None]
    xn = model.norm_x(x)
    eps = torch.randn(xn.shape, generator=g)
    xt = a.sqrt() * xn + (1 - a).sqrt() * eps
    hc = model.encode(cond_features(noisy))
    x0 = model.denoise(xt, t, hc)
    l_rec = F.smooth_l1_loss(x0, xn)
    l_foot = contact_loss(model.denorm_x(x0), loc, c)
    l_con = F.binary_cross_entropy_with_logits(model.contact_logits(hc), c)
    return l_rec + LAMBDA_FOOT * l_foot + 0.5 * l_con, (l_rec.item(), l_foot.item(), l_con.item())


def evaluate(model, data, seed: int = 0, max_clips: int = 40) -> dict:
    """Val numbers: sampled-prior errors on clean local joints of whole clips."""
    vel_err, h_err, acc, slide_p, slide_gt, rte = [], [], [], [], [], []
    for d in data[:max_clips]:
        loc = torch.from_numpy(d["local"])
        out = sample(model, loc, seed=seed)
        x, p = out["x"], out["contact"]
        xg = torch.from_numpy(d["x"])
        c = torch.from_numpy(d["contact"])
        vel_err.append(float((x[:-1, :2] - xg[:-1, :2]).norm(dim=-1).mean()) * 1000)
        h_err.append(float((x[:, 3] - xg[:, 3]).abs().mean()) * 1000)
        acc.append(float(((p > 0.5) == (c > 0.5)).float().mean()))
        slide_p.append(float(contact_loss(x, loc, c)) * 1000)
        slide_gt.append(float(contact_loss(xg, loc, c)) * 1000)
        # whole-clip trajectory from the prior alone, with the true (observed) heading
        xh = xg.clone()
        xh[:, [0, 1, 3]] = x[:, [0, 1, 3]]
        rp, _ = C.integrate(xh)
        rg, _ = C.integrate(xg)
        v = rte_fn(rp.numpy(), rg.numpy())
        if np.isfinite(v):
            rte.append(v)
    return {"vel_err_mm_per_frame": round(float(np.mean(vel_err)), 2),
            "height_err_mm": round(float(np.mean(h_err)), 1),
            "contact_acc": round(float(np.mean(acc)), 3),
            "foot_slide_prior_mm": round(float(np.mean(slide_p)), 2),
            "foot_slide_truth_mm": round(float(np.mean(slide_gt)), 2),
            "prior_only_rte_pct": round(float(np.mean(rte)), 1) if rte else None,
            "clips": min(len(data), max_clips)}


def train(seed: int = 0, out=None, steps: int = 2000, batch: int = 32, lr: float = 2e-3,
          time_limit: float = 540.0, log=print) -> dict:
    """Train on corpus "train", report on "val"; writes ``ropetp.pt`` (the ``unveil train ropetp`` row)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    g = torch.Generator().manual_seed(seed)
    t0 = time.time()
    data = prepare_clips(load_split("train"))
    val = prepare_clips(load_split("val"))
    allx = np.concatenate([d["x"] for d in data])
    allc = np.concatenate([cond_features(torch.from_numpy(d["local"][::4])).numpy() for d in data])
    model = TrajDenoiser()
    model.x_mean.copy_(torch.from_numpy(allx.mean(0)))
    model.x_std.copy_(torch.from_numpy(allx.std(0) + 1e-6))
    model.c_mean.copy_(torch.from_numpy(allc.mean(0)))
    model.c_std.copy_(torch.from_numpy(allc.std(0) + 1e-3))
    log(f"ropetp: {len(data)} train clips, {len(val)} val clips, {sum(p.numel() for p in model.parameters())} "
        f"parameters, prep {time.time() - t0:.0f} s")
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    t1 = time.time()
    done = 0
    for it in range(steps):
        # cosine learning rate over the recipe's progress: steps done or wall time used, whichever
        # is further along (the box is shared; the time cap keeps ``unveil train ropetp`` ~10 min)
        prog = max(it / steps, (time.time() - t1) / time_limit)
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (it + 1) / 50) * 0.5 * (1 + math.cos(math.pi * min(prog, 1.0)))
        x, loc, noisy, c = sample_batch(data, rng, batch)
        loss, parts = denoiser_loss(model, x, loc, noisy, c, g)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        done = it + 1
        if it % 200 == 0:
            log(f"  step {it}: loss {loss.item():.4f} (rec {parts[0]:.4f}, foot {parts[1] * 1000:.2f} mm, "
                f"contact {parts[2]:.3f}) {time.time() - t1:.0f} s")
        if time.time() - t1 > time_limit:
            log(f"  time limit reached at step {done}")
            break
    model.eval()
    res = evaluate(model, val, seed=seed)
    res.update(steps=done, train_seconds=round(time.time() - t1, 1))
    path = Path(out) if out else WEIGHTS
    save_checkpoint(path, ARCH, {"hidden": model.hidden}, model.state_dict(), {"seed": seed, "val": res})
    load.cache_clear()
    res["weights"] = str(path)
    return res
