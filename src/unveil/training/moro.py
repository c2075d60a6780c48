"""Training recipe of the MoRo-style masked motion prior (:mod:`unveil.motion.masked`; ``unveil train
moro``): the pose tokenizer (VQ-VAE) on ground-truth and lifted poses, then the masked transformer
(cross-entropy on masked frames) on synthetic 2D windows lifted by the default TCN lifter."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..checkpoint import save_checkpoint
from ..data.synth2d import training_windows
from ..geometry import savgol_time
from ..motion import tcn
from ..motion.masked import (ARCH, N_CODES, WEIGHTS, WINDOW, MoRo, body_frame, condition, load, refine)
from ..motion.predict import occluded_smpl24
from ..motion.stage import confidence24
from .tcn import augment_occlusions


def _training_data(split: str, n: int, seed: int, log=print) -> dict:
    """Windows of synthetic 2D (+ extra occlusion augmentation) -> gt joints_rel, default-lifter
    estimate (TCN + Savitzky-Golay 9), occluded24 and conf24 from the MoPO detector."""
    rng = np.random.default_rng(seed + 99)
    parts = []
    for i in range(0, n, 200):
        d = training_windows(split, window=WINDOW, n=min(200, n - i), seed=seed * 1000 + i // 200)
        kp = augment_occlusions(d["keypoints2d"], rng, p=0.5)
        with torch.no_grad():
            x = tcn.inputs(kp, torch.as_tensor(d["focal"])[:, None], torch.as_tensor(d["principal_point"]))
            lifted = tcn.load()(x).numpy()
        S2 = x[..., tcn.N_FEAT:tcn.N_FEAT + tcn.N_KP].numpy()
        lifted = savgol_time(lifted, 9, 2, axis=1, dtype=np.float32)
        lifted = lifted - lifted[..., :1, :]
        occ24 = occluded_smpl24(~(S2 > tcn.default_detector().threshold))
        parts.append({"gt": d["joints_rel"].astype(np.float32), "lifted": lifted, "occ24": occ24,
                      "conf24": confidence24(S2)})
        log(f"  data {min(i + 200, n)}/{n}")
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _train_mask(bad: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """bad (B, W) bool -> mask: all bad frames + a cosine-scheduled random share of the rest."""
    B, W = bad.shape
    u = torch.rand(B, generator=gen)
    ratio = torch.cos(math.pi / 2 * u)
    rnd = torch.rand(B, W, generator=gen) < ratio[:, None]
    spans = torch.zeros(B, W, dtype=torch.bool)
    for b in range(B):
        if torch.rand(1, generator=gen).item() < 0.5:
            L = max(1, int(ratio[b] * W))
            s = int(torch.randint(0, W - L + 1, (1,), generator=gen))
            spans[b, s:s + L] = True
    use_span = torch.rand(B, 1, generator=gen) < 0.5
    m = torch.where(use_span, spans, rnd) | bad
    return m


def _mpjpe(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b), axis=-1).mean() * 1000)


def train(seed: int = 0, out: str | None = None, steps: int = 1500, tok_steps: int = 2000, windows: int = 2400,
          batch: int = 32, log=print) -> dict:
    """Tokenizer then masked transformer; writes float16 weights; returns validation numbers."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.time()
    data = _training_data("train", windows, seed, log=log)
    val = _training_data("val", 200, seed + 500, log=log)
    log(f"data {time.time() - t0:.0f}s")
    model = MoRo()
    tokz = model.tokenizer
    gt = torch.from_numpy(data["gt"]).flatten(0, 1)
    # extra tokenizer data: the lifter's estimates too (the tokenizer encodes them at inference)
    poses = torch.cat([gt, torch.from_numpy(data["lifted"]).flatten(0, 1)])
    with torch.no_grad():
        tokz.codebook.data = tokz.encode(poses[torch.randperm(len(poses), generator=gen)[:N_CODES]]).clone()
    opt = torch.optim.Adam(tokz.parameters(), lr=5e-4)
    for it in range(tok_steps):
        idx = torch.randint(0, len(poses), (1024,), generator=gen)
        x = poses[idx]
        rec, vq, k = tokz(x)
        loss = torch.linalg.norm(rec - x, dim=-1).mean() + vq
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(tokz.parameters(), 1.0)
        opt.step()
        if it % 100 == 99:  # re-seed dead codes from encoder outputs
            with torch.no_grad():
                used = torch.bincount(k, minlength=N_CODES) > 0
                dead = torch.nonzero(~used).flatten()
                if len(dead):
                    z = tokz.encode(x)
                    tokz.codebook.data[dead] = z[torch.randint(0, len(z), (len(dead),), generator=gen)]
        if it % 300 == 299:
            log(f"  tok {it + 1}: loss {loss.item():.4f} codes used {int(used.sum())}")
    tokz.eval()
    with torch.no_grad():
        vgt = torch.from_numpy(val["gt"])
        tok_rec = _mpjpe(tokz.decode(tokz.tokenize(vgt), body_frame(vgt)).numpy(), val["gt"])
        tokens = tokz.tokenize(torch.from_numpy(data["gt"]))
        base_tok = tokz.tokenize(torch.from_numpy(data["lifted"]))
    log(f"tokenizer val reconstruction MPJPE {tok_rec:.1f} mm ({time.time() - t0:.0f}s)")
    for p in tokz.parameters():
        p.requires_grad_(False)
    tr = model.transformer
    cond = condition(torch.from_numpy(data["lifted"]), torch.from_numpy(data["conf24"]))
    bad = torch.from_numpy(data["occ24"].any(-1))
    opt = torch.optim.AdamW(tr.parameters(), lr=1e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 1e-3, total_steps=steps, pct_start=0.1)
    tr.train()
    for it in range(steps):
        idx = torch.randint(0, len(tokens), (batch,), generator=gen)
        m = _train_mask(bad[idx], gen)
        inp = torch.where(m, tr.mask_id, base_tok[idx])
        logits = tr(inp, cond[idx])
        loss = nn.functional.cross_entropy(logits[m], tokens[idx][m])
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(tr.parameters(), 1.0)
        opt.step()
        sched.step()
        if it % 250 == 249:
            log(f"  transformer {it + 1}: ce {loss.item():.3f} ({time.time() - t0:.0f}s)")
    model.eval()
    res = {"tokenizer_val_mpjpe_mm": round(tok_rec, 1)}
    # validation: occluded joints of occluded frames, lifter vs MoRo(T=5) at blend 1 and 0.5
    sel = val["occ24"] & val["occ24"].any(-1, keepdims=True)
    outs = {}
    for b in (1.0, 0.5, 0.25):
        outs[b] = np.stack([refine(val["lifted"][i], val["occ24"][i], val["conf24"][i], steps=5, blend=b,
                                   model=model) for i in range(len(val["gt"]))])
    err = lambda y: float(np.linalg.norm(y - val["gt"], axis=-1)[sel].mean() * 1000)  # noqa: E731
    res.update({"val_occ_mpjpe_lifter_mm": round(err(val["lifted"]), 1),
                "val_occ_mpjpe_moro_mm": round(err(outs[1.0]), 1),
                "val_occ_mpjpe_moro_blend05_mm": round(err(outs[0.5]), 1),
                "val_occ_mpjpe_moro_blend025_mm": round(err(outs[0.25]), 1),
                "val_mpjpe_lifter_mm": round(_mpjpe(val["lifted"], val["gt"]), 1),
                "val_mpjpe_moro_mm": round(_mpjpe(outs[1.0], val["gt"]), 1),
                "train_seconds": round(time.time() - t0, 1)})
    p = Path(out) if out else WEIGHTS
    save_checkpoint(p, ARCH, {}, {k: v.half() for k, v in model.state_dict().items()},
                    {"recipe": "unveil train moro", "seed": seed, "steps": steps, "val": res})
    load.cache_clear()
    log(str(res))
    return res
