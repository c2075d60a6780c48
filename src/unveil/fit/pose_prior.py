"""A learned density over body poses: a Gaussian mixture on the local joint rotations.

The evidence fit (:mod:`unveil.fit.evidence`) needs a pose prior that keeps poses human while the
2D keypoints pull the visible limbs. Following SMPLify (Bogo et al., ECCV 2016, §3.3 "pose prior"),
the prior is a mixture of ``K`` full-covariance Gaussians fitted to poses of the training mocap
split, over the axis-angle local rotations of the 21 body joints (SMPL-24 joints 1..21; the hand
joints 22, 23 carry no mocap evidence and are left out)::

    E_θ(θ) = -log Σ_k π_k N(θ; μ_k, Σ_k)        θ ∈ R^63

The mixture is fitted by EM (:func:`fit_gmm`; recipe ``unveil train pose-prior`` in
:mod:`unveil.training.fit`) and shipped as ``weights/pose_prior_gmm.npz`` (plain arrays, loaded
with ``allow_pickle=False``) with a weight card beside it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..paths import WEIGHTS_DIR

PRIOR_JOINTS: tuple[int, ...] = tuple(range(1, 22))
PRIOR_FILE = "pose_prior_gmm.npz"


@dataclass
class PosePrior:
    """Gaussian mixture over (..., 63) axis-angle body poses.

    Attributes:
        weights: (K,) mixture weights, sum 1.
        means: (K, D) component means.
        precisions_chol: (K, D, D) lower Cholesky factors ``L`` with ``Σ^-1 = L Lᵀ``.
        log_norm: (K,) ``log π_k - D/2 log 2π + log |L_k|`` (the per-component constant).
    """

    weights: torch.Tensor
    means: torch.Tensor
    precisions_chol: torch.Tensor
    log_norm: torch.Tensor

    @classmethod
    def from_arrays(cls, weights, means, covariances) -> "PosePrior":
        w = torch.as_tensor(np.asarray(weights), dtype=torch.float64)
        mu = torch.as_tensor(np.asarray(means), dtype=torch.float64)
        cov = torch.as_tensor(np.asarray(covariances), dtype=torch.float64)
        if mu.ndim != 2 or cov.shape != (mu.shape[0], mu.shape[1], mu.shape[1]) or w.shape != (mu.shape[0],):
            raise ValueError(f"GMM shapes do not agree: weights {tuple(w.shape)}, means {tuple(mu.shape)}, "
                             f"covariances {tuple(cov.shape)}")
        prec = torch.linalg.inv(cov)
        L = torch.linalg.cholesky(prec)
        D = mu.shape[1]
        log_det = torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1)
        log_norm = torch.log(w) - 0.5 * D * math.log(2 * math.pi) + log_det
        f = torch.float32
        return cls(w.to(f), mu.to(f), L.to(f), log_norm.to(f))

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])

    def nll(self, pose: torch.Tensor) -> torch.Tensor:
        """Negative log density of (..., D) poses -> (...,)."""
        if pose.shape[-1] != self.dim:
            raise ValueError(f"pose prior expects (..., {self.dim}) poses, got {tuple(pose.shape)}")
        d = pose.to(self.means.dtype)[..., None, :] - self.means                  # (..., K, D)
        m = torch.einsum("...kd,kde->...ke", d, self.precisions_chol)             # Lᵀ d
        log_p = self.log_norm - 0.5 * (m * m).sum(-1)                              # (..., K)
        return -torch.logsumexp(log_p, dim=-1)

    def nll_grad(self, pose: torch.Tensor) -> torch.Tensor:
        """Gradient of :meth:`nll` with respect to (N, D) poses -> (N, D): ``Σ_k r_k L_k L_kᵀ d_k``
        with ``r`` the components' responsibilities (closed form, for the evidence fit's gradient;
        all components in one matrix product each way)."""
        if pose.ndim != 2 or pose.shape[-1] != self.dim:
            raise ValueError(f"pose prior expects (N, {self.dim}) poses, got {tuple(pose.shape)}")
        K, D = self.means.shape
        L_all, mu_L = self._stacked
        m = (pose.to(self.means.dtype) @ L_all).reshape(-1, K, D) - mu_L                 # Lᵀ d per component
        r = torch.softmax(self.log_norm - 0.5 * (m * m).sum(-1), dim=-1)              # (N, K)
        return (r[..., None] * m).reshape(-1, K * D) @ L_all.T

    @functools.cached_property
    def _stacked(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(D, K·D) the components' ``L`` side by side, and (K, D) ``L_kᵀ μ_k``."""
        K, D = self.means.shape
        return (self.precisions_chol.permute(1, 0, 2).reshape(D, K * D).contiguous(),
                torch.einsum("kd,kde->ke", self.means, self.precisions_chol))


def pose_features(body_pose: torch.Tensor) -> torch.Tensor:
    """(..., 23, 3) axis-angle body pose (SMPL joints 1..23) -> (..., 63) prior features."""
    if body_pose.shape[-2:] != (23, 3):
        raise ValueError(f"body_pose must be (..., 23, 3), got {tuple(body_pose.shape)}")
    return body_pose[..., : len(PRIOR_JOINTS), :].reshape(*body_pose.shape[:-2], 3 * len(PRIOR_JOINTS))


def fit_gmm(x: np.ndarray, k: int = 8, iters: int = 100, seed: int = 0, reg: float = 1e-3) -> dict:
    """EM for a full-covariance Gaussian mixture (k-means++-style init).

    Args:
        x: (N, D) samples.
        k: number of components; iters: EM iterations; reg: added to the covariance diagonals.
    Returns:
        {"weights" (k,), "means" (k, D), "covariances" (k, D, D), "log_likelihood": mean per sample}.
    """
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or len(x) < k:
        raise ValueError(f"fit_gmm needs (N >= k, D) samples, got {x.shape}")
    rng = np.random.default_rng(seed)
    n, d = x.shape
    means = [x[rng.integers(n)]]
    for _ in range(1, k):
        d2 = np.min(((x[:, None] - np.stack(means)[None]) ** 2).sum(-1), axis=1)
        means.append(x[rng.choice(n, p=d2 / d2.sum())])
    mu = np.stack(means)
    cov = np.repeat((np.cov(x.T) + reg * np.eye(d))[None], k, 0)
    w = np.full(k, 1.0 / k)
    ll = -np.inf
    for _ in range(iters):
        L = np.linalg.cholesky(np.linalg.inv(cov))                                 # (k,D,D)
        m = np.einsum("nkd,kde->nke", x[:, None] - mu[None], L)
        log_p = (np.log(w) - 0.5 * d * np.log(2 * np.pi) + np.log(np.diagonal(L, axis1=1, axis2=2)).sum(-1)
                 - 0.5 * (m ** 2).sum(-1))
        mx = log_p.max(1, keepdims=True)
        lse = mx[:, 0] + np.log(np.exp(log_p - mx).sum(1))
        r = np.exp(log_p - lse[:, None])                                           # (n,k)
        nk = r.sum(0) + 1e-9
        w = nk / n
        mu = (r.T @ x) / nk[:, None]
        for j in range(k):
            dx = x - mu[j]
            cov[j] = (r[:, j, None] * dx).T @ dx / nk[j] + reg * np.eye(d)
        new_ll = float(lse.mean())
        if abs(new_ll - ll) < 1e-5:
            ll = new_ll
            break
        ll = new_ll
    return {"weights": w, "means": mu, "covariances": cov, "log_likelihood": ll}


@functools.lru_cache(maxsize=4)
def load_pose_prior(path: str | None = None) -> PosePrior | None:
    """The shipped pose prior (``weights/pose_prior_gmm.npz``), or None when it is absent."""
    p = Path(path) if path else WEIGHTS_DIR / PRIOR_FILE
    if not p.is_file():
        return None
    with np.load(p, allow_pickle=False) as z:
        return PosePrior.from_arrays(z["weights"], z["means"], z["covariances"])


__all__ = ["PosePrior", "fit_gmm", "load_pose_prior", "pose_features", "PRIOR_JOINTS", "PRIOR_FILE"]
