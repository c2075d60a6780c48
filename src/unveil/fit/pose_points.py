"""Axis-angle pose -> posed joints and COCO-17 body keypoints, with a hand-written backward.

The evidence fit (:mod:`unveil.fit.evidence`) evaluates, every Adam step, the rotation matrices of
every joint (Rodrigues), forward kinematics down the SMPL-24 tree and the 17 keypoints riding on the
body's segments, and differentiates through them. Through autograd that is a few hundred tiny
operations per step (nine tree levels of batched 3x3 products, forward and backward), and their
per-operation overhead, not arithmetic, was most of the stage's cost. :func:`pose_points` returns
the same values (computed by the very same functions) but its backward is a handful of whole-tensor
operations, from the rigid-body view of the chain:

- every output point (joint ``c`` >= 1, keypoint ``k``) rides on one segment frame: joint ``c`` on
  its parent's, keypoint ``k`` on ``KEYPOINT_FRAME[k]`` (its anchor joint is that frame's joint or
  one of its children, so the point is ``pos_f + G_f · const``);
- turning joint j's local rotation by a small left rotation ``δ`` (``R_j -> exp([δ]x) R_j``) turns,
  in camera axes, by ``ω = G_p(j) δ`` every point riding on a frame of j's subtree, about ``pos_j``;
  so ``dE/dδ = G_p(j)ᵀ (Σ_x (x × g_x) − pos_j × Σ_x g_x)``, the sums running over those points
  (``g_x`` = dE/dx): one constant (24, 40) subtree matrix product for all joints at once;
- the axis-angle vector θ moves R by ``dR Rᵀ = [J_l(θ) dθ]x`` (``J_l`` the left Jacobian of SO(3)),
  so ``dE/dθ = J_l(θ)ᵀ dE/dδ``.

The rest joints and keypoint offsets are constants here (no gradient): a fit that frees the body
shape (``EvidenceConfig.fit_shape``) keeps using autograd.
"""

from __future__ import annotations

import functools

import torch

from ..skeleton import SMPL24_PARENTS

# each COCO-17 keypoint = joint ``KEYPOINT_ANCHOR[k]`` + the global rotation of joint
# ``KEYPOINT_FRAME[k]`` applied to a fixed offset (the segment the skin point rides on)
KEYPOINT_ANCHOR: tuple[int, ...] = (15, 15, 15, 15, 15, 16, 17, 18, 19, 20, 21, 1, 2, 4, 5, 7, 8)
KEYPOINT_FRAME: tuple[int, ...] = (15, 15, 15, 15, 15, 13, 14, 16, 17, 18, 19, 0, 0, 1, 2, 4, 5)
_ANCHOR_IDX = torch.tensor(KEYPOINT_ANCHOR)
_FRAME_IDX = torch.tensor(KEYPOINT_FRAME)


def body_keypoints(glob: torch.Tensor, joints: torch.Tensor, offsets) -> torch.Tensor:
    """COCO-17 keypoints of a posed body.

    Args:
        glob: (..., 24, 3, 3) global joint rotations; joints: (..., 24, 3) joint positions.
        offsets: (17, 3) (or (..., 17, 3), per frame) offsets in rest-pose axes
            (:func:`unveil.fit.evidence.default_offsets` or calibrated).
    Returns:
        (..., 17, 3) keypoints in the joints' frame.
    """
    if glob.shape[-3:] != (24, 3, 3) or joints.shape[-2:] != (24, 3):
        raise ValueError(f"expected (...,24,3,3) rotations and (...,24,3) joints, got {tuple(glob.shape)}, "
                         f"{tuple(joints.shape)}")
    off = offsets.to(joints.dtype) if isinstance(offsets, torch.Tensor) else torch.as_tensor(
        offsets, dtype=joints.dtype)
    # index_select: its backward (index_add) is ~2x cheaper than advanced indexing's
    g = glob.index_select(-3, _FRAME_IDX)
    return joints.index_select(-2, _ANCHOR_IDX) + (g * off[..., None, :]).sum(-1)


@functools.lru_cache(maxsize=4)
def _subtree_matrix(dtype: torch.dtype) -> torch.Tensor:
    """(24, 40) ``A[j, i]`` = 1 when point i (joints 1..23, then the 17 keypoints) rides on a
    frame in the subtree of joint j (j included)."""
    parents = SMPL24_PARENTS
    attach = [int(parents[c]) for c in range(1, 24)] + list(KEYPOINT_FRAME)
    A = torch.zeros(24, len(attach), dtype=dtype)
    for i, f in enumerate(attach):
        j = f
        while j >= 0:       # f and all its ancestors have f in their subtree
            A[j, i] = 1.0
            j = int(parents[j])
    return A


_PARENT_OF = torch.tensor([int(p) for p in SMPL24_PARENTS[1:]])   # parents of joints 1..23


def left_jacobian_t(theta: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``J_l(θ)ᵀ a`` for (..., 3) axis-angle vectors θ and (..., 3) vectors a, with
    ``J_l(θ) = I + (1 − cos φ)/φ² [θ]x + (φ − sin φ)/φ³ [θ]x²`` (φ = ‖θ‖; the second coefficient by its
    series below φ = 0.1).

    Returns:
        (..., 3).
    """
    if theta.shape != a.shape or theta.shape[-1] != 3:
        raise ValueError(f"expected two (..., 3) tensors of one shape, got {tuple(theta.shape)}, {tuple(a.shape)}")
    t, v = theta.reshape(-1, 3), a.reshape(-1, 3)
    t2 = t * t
    phi2 = (t2[:, 0] + t2[:, 1] + t2[:, 2])[:, None]
    ph = phi2.sqrt().clamp_min(1e-6)
    s_half = torch.sin(0.5 * ph)
    c1 = 2 * s_half * s_half / (ph * ph)                          # (1 − cos φ)/φ², accurate at small φ too
    c2 = torch.where(ph < 0.1, 1.0 / 6 - phi2 / 120 + phi2 * phi2 / 5040, (ph - torch.sin(ph)) / (ph * ph * ph))
    s = torch.linalg.cross(t, v)
    return (v - c1 * s + c2 * torch.linalg.cross(t, s)).reshape(a.shape)


_EYE9 = torch.eye(3).reshape(9)
_OUTER_I = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2])
_OUTER_J = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2])
_SKEW_IDX = torch.tensor([3, 2, 1, 2, 3, 0, 1, 0, 3])       # into (x, y, z, 0): [θ]x row by row
_SKEW_SIGN = torch.tensor([0.0, -1.0, 1.0, 1.0, 0.0, -1.0, -1.0, 1.0, 0.0])


def rotvec_to_rotmat(theta: torch.Tensor, epsilon: float = 1e-6) -> torch.Tensor:
    """Rodrigues' formula ``R = cos φ I + (sin φ / φ) [θ]x + (1 − cos φ)/φ² θθᵀ`` (φ = ‖θ‖), and
    ``I + [θ]x`` below ``epsilon``: the values of ``roma.rotvec_to_rotmat`` up to float rounding, in
    fewer, whole-row operations.

    Args:
        theta: (..., 3) axis-angle vectors.
    Returns:
        (..., 3, 3) rotation matrices.
    """
    if theta.shape[-1] != 3:
        raise ValueError(f"expected (..., 3) axis-angle vectors, got {tuple(theta.shape)}")
    t = theta.reshape(-1, 3)
    t2 = t * t
    phi = (t2[:, 0] + t2[:, 1] + t2[:, 2]).sqrt()[:, None]
    small = phi < epsilon
    ph = phi.clamp_min(epsilon)
    co = torch.cos(ph)
    a = torch.where(small, 1.0, torch.sin(ph) / ph)
    b = torch.where(small, 0.0, (1 - co) / (ph * ph))
    co = torch.where(small, 1.0, co)
    dt = theta.dtype
    skew = torch.nn.functional.pad(t, (0, 1)).index_select(1, _SKEW_IDX) * _SKEW_SIGN.to(dt)
    outer = t.index_select(1, _OUTER_I) * t.index_select(1, _OUTER_J)
    return (co * _EYE9.to(dt) + a * skew + b * outer).reshape(*theta.shape[:-1], 3, 3)


@functools.lru_cache(maxsize=1)
def _tree() -> tuple:
    """Constants of :func:`pose_forward` for the SMPL-24 tree: per depth level (its joints, their
    parents' places in the previous level), the permutation from level order back to joint order,
    the 40 points' frames (joints 1..23 ride on their parents, keypoints on KEYPOINT_FRAME) and the
    (24, 23) matrix ``anc[j, a − 1]`` = 1 when joint a (>= 1) lies on the path from the root to j."""
    parents = [int(p) for p in SMPL24_PARENTS]
    depth: list[int] = []
    for p in parents:
        depth.append(0 if p < 0 else depth[p] + 1)
    levels, prev, order = [], [], []
    for d in range(max(depth) + 1):
        js = [j for j in range(len(parents)) if depth[j] == d]
        levels.append((torch.tensor(js), torch.tensor([prev.index(parents[j]) for j in js]) if d else None))
        prev = js
        order += js
    inv = [order.index(j) for j in range(len(parents))]
    anc = torch.zeros(24, 23)
    for j in range(24):
        a = j
        while a >= 1:
            anc[j, a - 1] = 1.0
            a = parents[a]
    return (levels, torch.tensor(inv), torch.tensor(parents[1:] + list(KEYPOINT_FRAME)), torch.arange(1, 24),
            torch.tensor(parents[1:]), anc)


def pose_forward(theta: torch.Tensor, rest: torch.Tensor, offsets: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The values of :func:`pose_points` (no gradient), and the global rotations.

    The global rotations go down the tree level by level (as :func:`unveil.skeleton.forward_kinematics`);
    then every joint and keypoint is its frame's joint plus the frame's rotation applied to a constant
    vector (one batched product for all 40 points), the joints summing those vectors along their path
    from the root (one matrix product): the values of ``forward_kinematics`` and :func:`body_keypoints`
    up to float rounding (sums in another order).

    Args:
        theta: (N, 24, 3) axis-angle; rest: (N, 24, 3) rest joints; offsets: (N, 17, 3) or (17, 3).
    Returns:
        (local rotations (N, 24, 3, 3), global rotations (N, 24, 3, 3), joints (N, 24, 3),
        keypoints (N, 17, 3)).
    """
    if theta.ndim != 3 or theta.shape[1:] != (24, 3) or rest.shape != theta.shape or offsets.shape[-2:] != (17, 3):
        raise ValueError(f"expected theta (N, 24, 3), rest (N, 24, 3), offsets (N or -, 17, 3); got "
                         f"{tuple(theta.shape)}, {tuple(rest.shape)}, {tuple(offsets.shape)}")
    levels, inv, attach, child, parent, anc = _tree()
    n = theta.shape[0]
    with torch.no_grad():
        R = rotvec_to_rotmat(theta)
        globs: list[torch.Tensor] = []
        for js, prev in levels:
            loc = R.index_select(1, js)
            globs.append(loc if prev is None else globs[-1].index_select(1, prev) @ loc)
        G = torch.cat(globs, 1).index_select(1, inv)
        L = torch.cat([rest.index_select(1, child) - rest.index_select(1, parent),
                       rest.index_select(1, _ANCHOR_IDX) - rest.index_select(1, _FRAME_IDX) + offsets], 1)
        P = (G.index_select(1, attach) @ L[..., None])[..., 0]                                  # (N, 40, 3)
        v = P[:, :23].transpose(0, 1).reshape(23, n * 3)
        pos = (anc.to(theta.dtype) @ v).reshape(24, n, 3).transpose(0, 1) + rest[:, :1]
        kp = pos.index_select(1, _FRAME_IDX) + P[:, 23:]
        return R, G, pos, kp


def pose_backward(theta: torch.Tensor, glob: torch.Tensor, pos: torch.Tensor, kp: torch.Tensor,
                  gpos: torch.Tensor | None, gkp: torch.Tensor | None) -> torch.Tensor:
    """The gradient with respect to θ of a function of the joints and keypoints, from its gradients
    with respect to them (module docstring).

    Args:
        theta: (..., 24, 3); glob, pos, kp: :func:`pose_forward`'s (..., 24, 3, 3), (..., 24, 3),
            (..., 17, 3); gpos: (..., 24, 3) and gkp: (..., 17, 3) gradients (None: zero).
    Returns:
        (..., 24, 3) gradient with respect to ``theta``.
    """
    lead = theta.shape[:-2]
    if gpos is None:
        gpos = torch.zeros_like(pos)
    if gkp is None:
        gkp = torch.zeros_like(kp)
    X = torch.cat([pos[..., 1:, :], kp], -2)                            # (..., 40, 3) points
    gX = torch.cat([gpos[..., 1:, :], gkp], -2)
    Y = torch.cat([torch.linalg.cross(X, gX), gX], -1)                  # (..., 40, 6)
    A = _subtree_matrix(theta.dtype)
    n = Y[..., 0, 0].numel()
    Z = (A @ Y.reshape(n, 40, 6).transpose(0, 1).reshape(40, n * 6)).reshape(24, n, 6).transpose(0, 1)
    Z = Z.reshape(*lead, 24, 6)                                         # subtree sums of x × g, g
    a_w = Z[..., :3] - torch.linalg.cross(pos, Z[..., 3:])              # (..., 24, 3) camera axes
    Gp = glob.index_select(-3, _PARENT_OF)                              # (..., 23, 3, 3)
    a_loc = torch.cat([a_w[..., :1, :], (Gp.transpose(-1, -2) @ a_w[..., 1:, :, None])[..., 0]], -2)
    return left_jacobian_t(theta, a_loc)


class _PosePoints(torch.autograd.Function):
    @staticmethod
    def forward(ctx, theta, rest, offsets):
        R, glob, pos, kp = pose_forward(theta, rest, offsets)
        ctx.save_for_backward(theta, glob, pos, kp)
        ctx.mark_non_differentiable(R)
        return R, pos, kp

    @staticmethod
    def backward(ctx, _gR, gpos, gkp):
        theta, glob, pos, kp = ctx.saved_tensors
        return pose_backward(theta, glob, pos, kp, gpos, gkp), None, None


def pose_points(theta: torch.Tensor, rest: torch.Tensor, offsets: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Local rotation matrices, posed joints and body keypoints of axis-angle poses.

    The values are those of ``roma.rotvec_to_rotmat``, :func:`unveil.skeleton.forward_kinematics`
    and :func:`body_keypoints`; the gradient with respect to ``theta`` is computed in closed form
    (module docstring), equal to autograd's through those functions up to float rounding.

    Args:
        theta: (..., 24, 3) axis-angle local rotations (root: global).
        rest: (..., 24, 3) rest joints, root at the origin (no gradient).
        offsets: (17, 3) or (..., 17, 3) keypoint offsets in rest-pose axes (no gradient).
    Returns:
        (rotation matrices (..., 24, 3, 3) without gradient, joints (..., 24, 3), keypoints (..., 17, 3)).
    Raises:
        ValueError: on other shapes, or when ``rest`` / ``offsets`` require a gradient.
    """
    if theta.shape[-2:] != (24, 3) or rest.shape[-2:] != (24, 3) or offsets.shape[-2:] != (17, 3):
        raise ValueError(f"expected theta (..., 24, 3), rest (..., 24, 3), offsets (..., 17, 3); got "
                         f"{tuple(theta.shape)}, {tuple(rest.shape)}, {tuple(offsets.shape)}")
    if rest.requires_grad or offsets.requires_grad:
        raise ValueError("pose_points differentiates theta only (use autograd when the shape is fitted)")
    rest = rest.expand(*theta.shape[:-2], 24, 3)
    return _PosePoints.apply(theta, rest, offsets.to(theta.dtype))


__all__ = ["pose_points", "pose_forward", "pose_backward", "rotvec_to_rotmat", "body_keypoints", "left_jacobian_t", "KEYPOINT_ANCHOR", "KEYPOINT_FRAME"]
