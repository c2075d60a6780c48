"""Bone-guided shape fitting: time-averaged bone lengths -> one body shape per track.

Seed: ARTS §3.3.2, Eq. 6–9.

    J_mean = W (T̄ + S β_mean)                                                       (Eq. 6)
    J_aligned,j = J_aligned,i + B_ij (J_mean,j − J_mean,i) / |J_mean,j − J_mean,i|    (Eq. 7)
    β'_init = S⁻¹ (W⁻¹ J_aligned − T̄)                                                (Eq. 8)
    β_init  = FC_{S⁻¹}( FC_{W⁻¹}(J_aligned) − T̄ )                                     (Eq. 9)

Eq. 7 is applied along the kinematic tree (each aligned child hangs from its *aligned* parent, so
J_aligned is a consistent skeleton with exactly the bone lengths B and the template's directions).
Our body models are reached only through ``rest_joints(shape) -> (B,24,3)`` (the composition
W(T̄ + S·) of Eq. 6), so the product W·S of Eq. 8 is its Jacobian D = ∂J_rest/∂shape at the mean
shape (finite differences; exact for linear shape spaces such as the PCA space of an SMPL-format
file, a linearisation for Anny's 6 phenotypes):

    analytic:  β = β_mean + (DᵀD + λI)⁻¹ Dᵀ (J_aligned − J_mean)      (root-relative; Eq. 8)

iterated a few times (re-linearising at the new shape — Gauss–Newton; ``iters=1`` is Eq. 8
verbatim). By default the residual is taken on bone vectors rather than joints, with robust
weights (see :func:`fit_shape_analytic`). Shapes are clamped to the model's range (Anny phenotypes live in [0, 1]).

The MLP of Eq. 9 (:class:`ShapeMLP`): a linear layer initialised with that pseudo-inverse
(analytic-init) plus a small residual MLP whose last layer starts at zero, fine-tuned on shapes
sampled from the model's own shape space with noise on the bone lengths (the mocap corpus has
bone lengths but no shape truth). ``init="random"`` gives the MLP-only row of ARTS Table 4.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..checkpoint import load_pretrained_model
from ..skeleton import SMPL24_PARENTS, bone_lengths as _bone_lengths
from ..paths import WEIGHTS_DIR

PARENTS = SMPL24_PARENTS


# ----------------------------------------------------------------------------------- helpers
def shape_bounds(model) -> tuple[float, float] | None:
    """(low, high) of the model's shape parameters, or None if unbounded (PCA/betas)."""
    b = getattr(model, "shape_bounds", None)
    if b is not None:
        return (float(b[0]), float(b[1]))
    if str(getattr(model, "name", "")).lower() in ("anny-native", "anny-standin"):
        return (0.0, 1.0)  # Anny's native phenotypes
    return None


def sample_shapes(model, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random shapes from the model's shape space: uniform in the range (Anny phenotypes,
    kept 0.05 inside the ends) or N(0, 1) per component (PCA/betas), (n, S) float32."""
    S = int(model.num_shape)
    b = shape_bounds(model)
    if b is not None:
        lo, hi = b
        u = torch.rand(n, S, generator=generator)
        return (lo + 0.05 * (hi - lo) + u * 0.9 * (hi - lo)).float()
    return torch.randn(n, S, generator=generator).float()


PCA_LIMIT = 3.0  # unbounded (PCA / betas) shape spaces: keep within +-3 standard deviations


def clamp_shape(model, shape: torch.Tensor) -> torch.Tensor:
    """Clamp shape parameters into the model's box bounds, or to +-PCA_LIMIT for unbounded spaces.

    Args:
        model: body model (its ``shape_bounds`` decide the box).
        shape: (..., S) shape parameters.

    Returns:
        (..., S) clamped copy.
    """
    b = shape_bounds(model)
    return shape.clamp(b[0], b[1]) if b is not None else shape.clamp(-PCA_LIMIT, PCA_LIMIT)


@torch.no_grad()
def rest_joints(model, shape: torch.Tensor) -> torch.Tensor:
    """(B,S) -> (B,24,3) root-relative rest joints, float64."""
    J = model.rest_joints(shape.to(torch.float32)).to(torch.float64)
    return J - J[..., :1, :]


def align_to_bones(rest: torch.Tensor, bones: torch.Tensor) -> torch.Tensor:
    """Eq. 7 along the tree: (...,24,3) template joints + (...,23) bone lengths -> (...,24,3)
    skeleton with the template's bone directions and the given lengths (root kept)."""
    out = [rest[..., 0, :]]
    for j in range(1, len(PARENTS)):
        p = PARENTS[j]
        d = rest[..., j, :] - rest[..., p, :]
        d = d / d.norm(dim=-1, keepdim=True).clamp_min(1e-9)
        out.append(out[p] + bones[..., j - 1, None] * d)
    return torch.stack(out, -2)


@dataclass
class Linearisation:
    shape0: torch.Tensor   # (S,)
    J0: torch.Tensor       # (72,) root-relative rest joints at shape0
    D: torch.Tensor        # (72, S) ∂J/∂shape (W·S of Eq. 8)
    pinv: torch.Tensor     # (S, 72) damped pseudo-inverse of D
    damping: float = 0.02


def linearise(model, shape0: torch.Tensor | None = None, eps: float = 1e-2, damping: float | None = None,
              joint_tol: float = 0.0015) -> Linearisation:
    """Finite-difference Jacobian of the root-relative rest joints w.r.t. shape at ``shape0``.

    ``damping`` λ is the weight of a prior pulling the shape to ``shape0`` (the mean), giving the
    damped pseudo-inverse (DᵀD + λI)⁻¹Dᵀ; by default λ = 72·joint_tol² / σ² (a shape one prior
    standard deviation σ away — 1 for PCA/betas, 0.3 for phenotypes — costs as much as every
    joint coordinate off by ``joint_tol`` metres). Bone
    lengths from another skeleton (the mocap retarget) are not all reachable, and the undamped
    solution runs to absurd shapes (tens of standard deviations)."""
    s0 = (model.default_shape() if shape0 is None else shape0).detach().to(torch.float64).reshape(-1)
    S = s0.numel()
    E = torch.eye(S, dtype=torch.float64) * eps
    batch = torch.cat([s0[None], s0 + E, s0 - E], 0)
    J = rest_joints(model, batch).reshape(2 * S + 1, -1)
    D = ((J[1:S + 1] - J[S + 1:]) / (2 * eps)).T                     # (72, S)
    if damping is None:
        sigma = 0.3 if shape_bounds(model) is not None else 1.0
        damping = 72 * joint_tol ** 2 / sigma ** 2
    lam = float(damping)
    pinv = torch.linalg.solve(D.T @ D + lam * torch.eye(S, dtype=D.dtype), D.T)
    return Linearisation(shape0=s0, J0=J[0], D=D, pinv=pinv, damping=damping)


# ----------------------------------------------------------------------------------- analytic
def _bone_vectors(J: torch.Tensor) -> torch.Tensor:
    """(..., 24, 3) -> (..., 23, 3) child minus parent."""
    return J[..., 1:, :] - J[..., list(PARENTS[1:]), :]


def fit_shape_analytic(model, bones, iters: int = 4, lin: Linearisation | None = None,
                       robust: float | None = 0.02, space: str = "bone") -> torch.Tensor:
    """Eq. 7–8: bone lengths (..., 23) -> shape (..., S).

    ``space="joint"``: Eq. 8 verbatim on the tree-aligned joints (a bone that cannot be matched
    shifts its whole subtree and so counts once per descendant). ``space="bone"`` (default): the
    same pseudo-inverse on bone vectors (the incidence operator applied to J_aligned and to D), so
    every bone counts once, with iteratively re-weighted least squares (Cauchy weights of scale
    ``robust`` metres) that give up on bones the body model cannot take (e.g. a mocap skeleton
    whose hand joint sits on the wrist). ``iters`` Gauss–Newton re-linearisations with the shape
    prior of :func:`linearise`; ``iters=1, robust=None, space="joint"`` is the closed form of Eq. 8.
    """
    B = torch.as_tensor(np.asarray(bones) if not isinstance(bones, torch.Tensor) else bones,
                        dtype=torch.float64)
    batch = B.shape[:-1]
    B = B.reshape(-1, 23)
    N = B.shape[0]
    lin = lin or linearise(model)
    S = lin.D.shape[1]
    s0 = lin.shape0.expand(N, -1)
    s = s0.clone()
    eye = torch.eye(S, dtype=torch.float64)
    w = torch.ones(N, 23, dtype=torch.float64)
    for it in range(max(1, iters)):
        if it == 0:
            J = lin.J0.reshape(1, 24, 3).expand(N, 24, 3)
            L = [lin] * N
        else:
            J = rest_joints(model, s)
            L = [linearise(model, si, damping=lin.damping) for si in s] if N <= 8 else [lin] * N
        D = torch.stack([li.D for li in L])                                   # (N,72,S)
        Ja = align_to_bones(J, B)
        if space == "joint":
            Dm, r, W = D, (Ja - J).reshape(N, 72), torch.ones(N, 72, dtype=torch.float64)
        else:
            Dm = _bone_vectors(D.reshape(N, 24, 3, S).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).reshape(N, 69, S)
            r = (_bone_vectors(Ja) - _bone_vectors(J)).reshape(N, 69)
            if robust and it > 0:
                res = (_bone_lengths(J) - B).abs()
                w = 1.0 / (1.0 + (res / robust) ** 2)
            W = w.repeat_interleave(3, dim=-1)
        A = Dm.transpose(-1, -2) @ (W[..., None] * Dm) + lin.damping * eye
        rhs = Dm.transpose(-1, -2) @ (W * (r + (Dm @ (s - s0)[..., None]).squeeze(-1)))[..., None]
        # Gauss–Newton step of |D ds - r|_W^2 + λ|s - s0|^2 (the prior keeps off-manifold skeletons sane)
        s = clamp_shape(model, s0 + torch.linalg.solve(A, rhs).squeeze(-1))
    return s.reshape(*batch, -1).float()


def bone_length_error(model, shape: torch.Tensor, bones) -> torch.Tensor:
    """Mean absolute bone-length error (metres) per sample: (..., S), (..., 23) -> (...)."""
    B = torch.as_tensor(np.asarray(bones), dtype=torch.float64) if not isinstance(bones, torch.Tensor) else bones.double()
    s = shape.reshape(-1, shape.shape[-1])
    L = _bone_lengths(rest_joints(model, s)).reshape(*B.shape)
    return (L - B).abs().mean(-1)


# ----------------------------------------------------------------------------------- MLP (Eq. 9)
class ShapeMLP(nn.Module):
    """β = s0 + FC_{pinv}(J_aligned − J_mean) + MLP(·)  (Eq. 9 with the residual MLP of
    'analytic-init'); ``init='random'`` re-initialises everything (the MLP-only ablation)."""

    def __init__(self, lin: Linearisation | None = None, num_shape: int = 6, hidden: int = 128,
                 init: str = "analytic"):
        super().__init__()
        S = lin.D.shape[1] if lin is not None else num_shape
        self.fc = nn.Linear(72, S)
        self.mlp = nn.Sequential(nn.Linear(72 + 23, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, S))
        self.register_buffer("J0", torch.zeros(72) if lin is None else lin.J0.float().clone())
        self.register_buffer("rest_dirs", torch.zeros(24, 3))
        self.init = init
        if lin is not None:
            J0 = lin.J0.reshape(24, 3)
            self.rest_dirs.copy_(J0.float())
            with torch.no_grad():
                if init == "analytic":
                    self.fc.weight.copy_(lin.pinv.float())
                    self.fc.bias.copy_((lin.shape0 - lin.pinv @ lin.J0).float())
                    self.mlp[-1].weight.zero_()
                    self.mlp[-1].bias.zero_()

    def forward(self, bones: torch.Tensor) -> torch.Tensor:
        Ja = align_to_bones(self.rest_dirs.to(bones.dtype).expand(*bones.shape[:-1], 24, 3), bones)
        x = Ja.reshape(*bones.shape[:-1], 72)
        return self.fc(x) + self.mlp(torch.cat([x - self.J0, bones], -1))


def make_shape_dataset(model, n: int, seed: int = 0, noise: float = 0.01, chunk: int = 256):
    """(bones (n,23) with Gaussian noise of ``noise`` metres, shapes (n,S)) sampled from the model."""
    g = torch.Generator().manual_seed(seed)
    shapes = sample_shapes(model, n, g)
    L = torch.cat([_bone_lengths(rest_joints(model, shapes[i:i + chunk])) for i in range(0, n, chunk)])
    L = L + noise * torch.randn(L.shape, generator=g, dtype=L.dtype)
    return L.float().clamp_min(1e-3), shapes


def train_shape_mlp(model, init: str = "analytic", n_train: int = 4096, steps: int = 1500, seed: int = 0,
                    noise: float = 0.01, lr: float = 1e-3, log=print) -> ShapeMLP:
    """Fine-tune :class:`ShapeMLP` on shapes sampled from ``model`` (deterministic for a seed).

    Loss: the bone-length error (cm², through the linearisation) + 0.1 × shape-parameter MSE."""
    torch.manual_seed(seed)
    lin = linearise(model)
    net = ShapeMLP(lin, init=init)
    bones, shapes = make_shape_dataset(model, n_train, seed=seed, noise=noise)
    clean, _ = make_shape_dataset(model, n_train, seed=seed, noise=0.0)
    clean = clean.double()
    J0, D, s0 = lin.J0, lin.D, lin.shape0
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed + 1)
    t0 = time.time()
    for step in range(steps):
        idx = torch.randint(0, n_train, (256,), generator=g)
        pred = net(bones[idx])
        # bone lengths of the predicted shape through the linearisation (exact for PCA/betas
        # spaces), in cm, plus a small shape-parameter term (the shape is not fully identifiable)
        Jp = (J0 + (pred.double() - s0) @ D.T).reshape(-1, 24, 3)
        loss = 0.1 * ((pred - shapes[idx]) ** 2).mean() + \
            (((_bone_lengths(Jp) - clean[idx]) * 100) ** 2).mean().float()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if log and (step % 500 == 0 or step == steps - 1):
            log(f"shape-mlp[{init}] step {step} loss {loss.item():.5f} ({time.time() - t0:.0f}s)")
    net.eval()
    return net


# ----------------------------------------------------------------------------------- front door
ARCH = "shape_mlp"  # the checkpoint's "arch" (unveil.checkpoint); config: num_shape, hidden
_WEIGHTS_CACHE: dict = {}


def load_shape_mlp(model) -> ShapeMLP | None:
    """The committed analytic-init MLP for this body model (weights/shape_mlp_<name>.pt), or None."""
    name = str(getattr(model, "name", "model")).split("/")[-1].split(".")[0]
    path = WEIGHTS_DIR / f"shape_mlp_{name}.pt"
    if not path.exists():
        return None
    key = (str(path), int(model.num_shape))
    if key not in _WEIGHTS_CACHE:
        net, ck = load_pretrained_model(path, ARCH, lambda c: ShapeMLP(None, **c))
        if ck["config"]["num_shape"] != int(model.num_shape):
            return None
        _WEIGHTS_CACHE[key] = net
    return _WEIGHTS_CACHE[key]


def fit_shape(model, bones, method: str = "auto") -> torch.Tensor:
    """Bone lengths (23,) -> shape (S,). method: analytic | mlp (the committed analytic-init MLP) |
    auto = analytic: on the val-split mocap skeletons the robust bone-space analytic fit matched
    bone lengths slightly better than the MLP (39.2 vs 40.1 mm, `unveil train shape`)."""
    B = torch.as_tensor(np.asarray(bones), dtype=torch.float32)
    if method == "auto":
        method = "analytic"
    if method == "mlp":
        net = load_shape_mlp(model)
        if net is not None:
            with torch.no_grad():
                return clamp_shape(model, net(B[None])[0])
        if method == "mlp":
            raise FileNotFoundError(f"no trained shape MLP for body model {getattr(model, 'name', '?')}")
    return fit_shape_analytic(model, B)


def clip_rest(template: torch.Tensor, joints: np.ndarray) -> torch.Tensor:
    """The template's bone directions with the clip's mean bone lengths (ARTS Eq. 7).

    Args:
        template: (24, 3) rest joints; joints: (T, 24, 3) a clip's joints.
    Returns:
        (24, 3) float64 rest joints.
    """
    return align_to_bones(template, torch.as_tensor(_bone_lengths(np.asarray(joints)).mean(0), dtype=torch.float64))
