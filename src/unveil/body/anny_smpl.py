"""An SMPL-format body model derived from Anny alone (CC0/Apache-derived, so the project builds it).

Recipe (``../shared/design/body-models.md``), on top of the native rig in :mod:`unveil.body.anny`:

1. **Template**: the neutral adult (:data:`unveil.body.anny.DEFAULT_PHENOTYPES`) posed into the
   SMPL T-pose, Y up, facing +Z, pelvis at the origin.
2. **Shape space**: ``n_samples`` random phenotypes (seeded; gender, muscle, weight, height,
   proportions uniform in [0, 1], age uniform in [0.45, 1]: teenagers to old adults), each T-posed;
   PCA (SVD) of their vertex offsets from the template -> ``shapedirs`` (V, 3, 10), scaled so each
   coefficient has unit variance over the samples (like SMPL betas). 0 = the neutral adult.
   These are *not* SMPL betas.
3. **Joint regressor** (24, V): for each SMPL-24 joint, an affine combination (weights sum to 1,
   ridge towards uniform) of its ``k`` nearest template vertices, least-squares fitted so that it
   reproduces the native Anny joint (mapped bone head) over all samples.
4. **Skinning weights** (V, 24): Anny's weights summed onto each bone's SMPL-24 owner (exact for
   poses of the mapped bones, since the bones in between stay at identity).
5. **Pose correctives**: none (``posedirs`` all zero; Anny has none).

``unveil models build`` writes it to :func:`anny_smpl_path` (a few MB, compressed npz).
"""

from __future__ import annotations

import time

import numpy as np

from .. import atomic, paths

VERSION = "v1"
NUM_SHAPE = 10


def anny_smpl_path():
    return paths.cache_dir() / "body" / f"anny-smpl-{VERSION}.npz"


def sample_phenotypes(n: int, seed: int = 0):
    import torch

    g = torch.Generator().manual_seed(seed)
    p = torch.rand(n, 6, generator=g)
    p[:, 1] = 0.45 + 0.55 * p[:, 1]
    return p


def _tposed(body, phen, batch: int = 32):
    import torch

    verts, joints = [], []
    eye = torch.eye(3)
    with torch.no_grad():
        for i in range(0, len(phen), batch):
            s = phen[i:i + batch]
            out = body(eye.expand(len(s), 24, 3, 3), s)
            verts.append(out["vertices"])
            joints.append(out["joints"])
    return torch.cat(verts).double(), torch.cat(joints).double()


def fit_joint_regressor(template: np.ndarray, verts: np.ndarray, joints: np.ndarray, k: int = 400,
                        ridge: float = 1e-7) -> np.ndarray:
    """(V,3) template, (N,V,3) sample vertices, (N,24,3) sample joints -> (24, V) regressor."""
    N, V, _ = verts.shape
    reg = np.zeros((joints.shape[1], V), np.float64)
    j0 = joints.mean(0)
    for j in range(joints.shape[1]):
        idx = np.argsort(np.linalg.norm(template - j0[j], axis=1))[:k]
        X = verts[:, idx, :].transpose(0, 2, 1).reshape(N * 3, k)       # rows: sample/coord
        y = joints[:, j, :].reshape(N * 3)
        # affine constraint sum w = 1: w = w0 + B z with w0 uniform, B a basis of sum-zero vectors
        w0 = np.full(k, 1.0 / k)
        B = np.linalg.svd(np.ones((1, k)))[2][1:].T                     # (k, k-1)
        A = X @ B
        r = y - X @ w0
        z = np.linalg.solve(A.T @ A + ridge * np.eye(k - 1), A.T @ r)
        reg[j, idx] = w0 + B @ z
    return reg


def build(n_samples: int = 256, seed: int = 0, path=None, log=print) -> dict:
    """Build the Anny-SMPL npz; returns a dict of build statistics."""
    import torch

    from ..skeleton import SMPL24_PARENTS  # deferred: loads torch
    from .anny import DEFAULT_PHENOTYPES, AnnyBody  # deferred: loads roma, torch

    t0 = time.perf_counter()
    path = path or anny_smpl_path()
    body = AnnyBody()
    phen = sample_phenotypes(n_samples, seed)
    template, tj = _tposed(body, torch.tensor([DEFAULT_PHENOTYPES]))
    verts, joints = _tposed(body, phen)
    template, verts, joints = template[0].numpy(), verts.numpy(), joints.numpy()
    V = template.shape[0]
    X = (verts - template[None]).reshape(n_samples, V * 3)
    _, S, Vt = np.linalg.svd(X, full_matrices=False)
    explained = float((S[:NUM_SHAPE] ** 2).sum() / (S ** 2).sum())
    scale = S[:NUM_SHAPE] / np.sqrt(n_samples)
    shapedirs = (Vt[:NUM_SHAPE].T * scale).reshape(V, 3, NUM_SHAPE)
    # regressor: fitted on the samples + template, checked on held-out shapes
    reg = fit_joint_regressor(template, np.concatenate([verts, template[None]]),
                              np.concatenate([joints, tj.numpy()]))
    hv, hj = _tposed(body, sample_phenotypes(32, seed + 1))
    err = np.linalg.norm(np.einsum("jv,nvc->njc", reg, hv.numpy()) - hj.numpy(), axis=-1)
    # shape-space reconstruction error on the held-out shapes
    Xh = (hv.numpy() - template[None]).reshape(32, V * 3)
    coef = Xh @ Vt[:NUM_SHAPE].T
    rec = np.linalg.norm((Xh - coef @ Vt[:NUM_SHAPE]).reshape(32, V, 3), axis=-1)
    weights = body.skin_weights.detach().numpy().astype(np.float32)
    kintree = np.array([[4294967295] + list(SMPL24_PARENTS[1:]), list(range(24))], dtype=np.int64)
    data = dict(
        v_template=template.astype(np.float32),
        shapedirs=shapedirs.astype(np.float32),
        posedirs=np.zeros((V, 3, 207), np.float32),
        J_regressor=reg.astype(np.float32),
        weights=weights,
        kintree_table=kintree,
        f=body.faces.numpy().astype(np.int32),
        default_shape=np.zeros(NUM_SHAPE, np.float32),
        meta_source=np.array("anny==0.6.2 default topology, unveil.body.anny_smpl " + VERSION),
        meta_default_phenotypes=np.array(DEFAULT_PHENOTYPES, np.float32),
    )
    atomic.save_npz(path, **data)
    stats = dict(path=str(path), seconds=time.perf_counter() - t0, n_samples=n_samples,
                 explained_variance_10=explained, joint_err_mean_mm=float(err.mean() * 1000),
                 joint_err_max_mm=float(err.max() * 1000), shape_rec_err_mean_mm=float(rec.mean() * 1000),
                 size_mb=path.stat().st_size / 1e6)
    log(f"anny-smpl: wrote {path} ({stats['size_mb']:.1f} MB, {stats['seconds']:.0f} s); "
        f"10 shape comps explain {explained:.4f} of the variance; held-out joint regressor error "
        f"mean {stats['joint_err_mean_mm']:.2f} mm, max {stats['joint_err_max_mm']:.2f} mm; "
        f"held-out shape reconstruction {stats['shape_rec_err_mean_mm']:.2f} mm")
    return stats


def shape_from_phenotypes(phenotypes, body_smpl=None, body_native=None):
    """Anny phenotypes (..., 6) in [0, 1] (gender, age, muscle, weight, height, proportions) ->
    the Anny-SMPL shape coefficients (..., 10) whose mesh is closest (least squares over the
    T-posed vertices). E.g. a tall heavy man: ``(0.0, 2/3, 0.5, 0.8, 0.9, 0.5)``. Approximate:
    measured mean vertex distance 1.5-1.8 mm for such bodies, joints within a few cm at the
    extremes (the 10-component linear space does not hold every phenotype exactly)."""
    import torch

    from .base import load_body_model  # deferred: loads roma, torch

    body_smpl = body_smpl or load_body_model("anny")
    body_native = body_native or load_body_model("anny-native")
    phen = torch.as_tensor(phenotypes, dtype=torch.float32)
    lead = phen.shape[:-1]
    verts, _ = _tposed(body_native, phen.reshape(-1, 6))
    delta = (verts - body_smpl.v_template.double()[None]).reshape(verts.shape[0], -1)   # (N, V*3)
    A = body_smpl.shapedirs.double()                                                     # (V*3, S)
    coef = torch.linalg.lstsq(A, delta.T).solution.T
    return coef.to(torch.float32).reshape(*lead, A.shape[1])
