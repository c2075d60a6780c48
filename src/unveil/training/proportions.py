"""Bone-length ratio table for the proportion augmentation (issue 12, "new bodies").

Random Anny phenotypes (:mod:`unveil.body.anny`: gender, muscle, weight, height, proportions
U(0, 1); age U(0.5, 1): teenagers to old adults) give the SMPL-24 rest-pose joints of many body
shapes; each row of the table is one shape's bone lengths divided by the default phenotype's, then
divided by its "height" ratio (pelvis -> head chain + one leg) so the table varies *proportions*
(long legs and a short trunk, long forearms, wide hips ...), not overall size. Left/right bones
keep Anny's symmetry. :func:`unveil.data.synth2d.vary_proportions` applies a row to a mocap clip
by forward kinematics (bone directions kept, lengths scaled).

``unveil train bone-ratios`` writes ``unveil/weights/anny_bone_ratios.npz`` (``ratios`` (N, 24) float32,
row[0] = 1 for the root; ``phenotypes`` (N, 6)); plain arrays, no pickle.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from .. import atomic
from ..body.anny import AnnyBody
from ..paths import WEIGHTS_DIR
from ..skeleton import SMPL24_PARENTS

OUT = WEIGHTS_DIR / "anny_bone_ratios.npz"
HEIGHT_CHAIN = (3, 6, 9, 12, 15, 4, 7)   # bones ending at these joints: spine to head + the left leg


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(N, 24, 3) joints -> (N, 24) length of the bone ending at each joint (0 for the root)."""
    j = np.asarray(joints, np.float64)
    if j.ndim != 3 or j.shape[1:] != (24, 3):
        raise ValueError(f"bone_lengths expects (N, 24, 3) joints, got {j.shape}")
    out = np.zeros(j.shape[:2])
    for k in range(1, 24):
        out[:, k] = np.linalg.norm(j[:, k] - j[:, SMPL24_PARENTS[k]], axis=-1)
    return out


def ratio_table(n: int = 512, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 24) proportion ratios and the (n, 6) phenotypes they come from (module docstring)."""
    body = AnnyBody()
    g = torch.Generator().manual_seed(seed)
    ph = torch.rand(n, 6, generator=g)
    ph[:, 1] = 0.5 + 0.5 * ph[:, 1]
    with torch.no_grad():
        J = torch.cat([body.rest_joints(ph[i:i + 64]) for i in range(0, n, 64)]).numpy()
        J0 = body.rest_joints(body.default_shape()[None]).numpy()
    L, L0 = bone_lengths(J), bone_lengths(J0)
    r = np.ones_like(L)
    r[:, 1:] = L[:, 1:] / L0[:, 1:]
    hc = list(HEIGHT_CHAIN)
    r[:, 1:] /= (L[:, hc].sum(1) / L0[:, hc].sum(1))[:, None]
    return r.astype(np.float32), ph.numpy().astype(np.float32)


def fit(out: str | None = None, n: int = 512, seed: int = 0, log=print) -> dict:
    """Write the ratio table (see the module docstring); returns a summary."""
    t0 = time.time()
    r, ph = ratio_table(n, seed)
    path = Path(out) if out else OUT
    meta = {"n": n, "seed": seed, "recipe": "unveil train bone-ratios", "seconds": round(time.time() - t0, 1)}
    atomic.save_npz(path, ratios=r, phenotypes=ph, meta=np.array(json.dumps(meta)))
    q = np.quantile(r[:, 1:], [0.05, 0.5, 0.95], axis=0)
    summ = {**meta, "out": str(path), "p05": q[0].round(3).tolist(), "p50": q[1].round(3).tolist(),
            "p95": q[2].round(3).tolist()}
    log(json.dumps(summ))
    return summ


def train(seed: int = 0, out: str | None = None, steps: int | None = None) -> dict:
    """``unveil train bone-ratios`` (``steps`` unused: no optimisation)."""
    return fit(out, seed=seed)
