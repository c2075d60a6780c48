"""Training recipe of the MoPO occlusion detector (:mod:`unveil.motion.occlusion`; ``unveil train
mopo-occlusion``): binary cross-entropy between ``(S'' - 0.6) * SHARPNESS`` and the ground-truth
visibility of synthetic windows (:class:`unveil.training.windows.WindowSampler`)."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from ..checkpoint import save_checkpoint
from ..motion.occlusion import ARCH, SHARPNESS, THRESHOLD, OcclusionDetector, detector_scores
from ..paths import WEIGHTS_DIR
from . import windows as mdata


def train(steps: int = 600, seed: int = 0, out=None, window: int = 64, batch: int = 64,
          log=print) -> dict:
    """Train the temporal and spatio-temporal detectors on synthetic windows; save both."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    sampler = mdata.WindowSampler("train", window=window, seed=seed)
    val = mdata.WindowSampler("val", window=window, seed=seed + 1000).sample(256)
    results, states = {}, {}
    t0 = time.time()
    for mode in ("spatiotemporal", "temporal"):
        det = OcclusionDetector(mode=mode)
        opt = torch.optim.Adam(det.parameters(), lr=3e-3)
        for it in range(steps):
            b = sampler.sample(batch)
            S = torch.as_tensor(b["keypoints2d"][..., 2])
            y = torch.as_tensor((~b["occluded"]).astype(np.float32))
            loss = nn.functional.binary_cross_entropy_with_logits((det(S) - THRESHOLD) * SHARPNESS, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if it % 200 == 0 or it == steps - 1:
                log(f"[occlusion/{mode}] step {it} loss {loss.item():.4f}")
        det.eval()
        results[mode] = detector_scores(det, val["keypoints2d"][..., 2], ~val["occluded"])
        states[mode] = det.state_dict()
    results["spatial"] = detector_scores(OcclusionDetector(mode="spatial").eval(),
                                         val["keypoints2d"][..., 2], ~val["occluded"])
    results["train_seconds"] = time.time() - t0
    path = out or (WEIGHTS_DIR / "mopo_occlusion.pt")
    save_checkpoint(path, ARCH, {"hidden": 32, "modes": sorted(states)},
                    {f"{m}.{k}": v for m, sd in states.items() for k, v in sd.items()},
                    {"seed": seed, "steps": steps, "val": results})
    log(f"[occlusion] wrote {path}: {results}")
    return results
