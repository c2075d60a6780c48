"""Frame-wise analytic swing–twist inverse kinematics (FIK) on the SMPL-24 tree.

Seeds: ARTS §3.3.1 ("Temporal Inverse Kinematics", Eq. 4: swing = f(J), twist = g(evidence)),
MoPO §3.3 Eq. 10–11 and HybrIK (ARTS ref. [19]): a joint's local rotation is split into a *swing*
that carries the rest bone direction onto the observed one, and a *twist* about the bone.

    R_j = Swing(t_j -> d_j) · Twist(t_j, phi_j),   d_j = G_parent(j)^T (x_child - x_j) / |.|

where t_j is the rest-pose bone direction (child minus joint, rest skeleton) and G the global
rotation of the parent, solved in tree order (so each joint's swing is expressed in its parent's
already-posed frame). Joints with several children (pelvis: hips + spine1; spine3: neck + collars)
get the best-fit rotation (Kabsch, ``roma.special_procrustes``) of two directions: the left–right
pair's difference vector and the middle child's bone (robust to skeletons whose hips/collars hang
lower or higher than the body model's; the pair's own offsets are then not matched exactly).
Leaves (feet, head, hands) carry no evidence: identity.

Twist (documented choice): joint positions carry no twist, so it comes from a *prior* plus the
only evidence the skeleton has — the hinge constraint of knees and elbows. Hips and shoulders get
the twist that puts the knee/elbow bend in that hinge's plane (knee bends backwards about the
body's left–right axis, elbow forwards about the vertical axis in the T-pose), faded to zero when
the limb is almost straight (where twist is unobservable) and taken modulo 180° (the smallest
twist either side) so hyper-extension never flips the limb. Every other joint has zero twist
(the minimal rotation). The learned temporal refinement of swing + twist is
:mod:`unveil.fit.tik` (ARTS Eq. 5).

Conventions: rotations are local (relative to the parent; the root's is the global orientation),
rotation matrices act on column vectors, the rest skeleton is the body model's zero pose
(T-pose, Y up, facing +Z). Joint positions may be in any frame (world or camera): the root
rotation absorbs it. Any leading batch dimensions.
"""

from __future__ import annotations

import numpy as np
import roma
import torch

from ..skeleton import SMPL24_PARENTS, forward_kinematics
from ..skeleton import SMPL24_FLIP

PARENTS = SMPL24_PARENTS
CHILDREN: tuple[tuple[int, ...], ...] = tuple(
    tuple(c for c, p in enumerate(PARENTS) if p == j) for j in range(len(PARENTS))
)
# (upper-limb joint, hinge joint, end joint, hinge axis in the rest frame, bend direction)
HINGES: tuple[tuple[int, int, int, tuple[float, float, float], tuple[float, float, float]], ...] = (
    (1, 4, 7, (1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),    # L hip -> knee bends the shin backwards
    (2, 5, 8, (1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),    # R hip
    (16, 18, 20, (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),  # L shoulder -> elbow bends the forearm forwards
    (17, 19, 21, (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),  # R shoulder
)
_EPS = 1e-8


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(_EPS)


def _skew(v: torch.Tensor) -> torch.Tensor:
    z = torch.zeros_like(v[..., 0])
    x, y, w = v[..., 0], v[..., 1], v[..., 2]
    return torch.stack([torch.stack([z, -w, y], -1), torch.stack([w, z, -x], -1),
                        torch.stack([-y, x, z], -1)], -2)


def swing_rotation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Minimal rotation (..., 3, 3) taking direction ``a`` onto direction ``b`` (zero twist).

    Antiparallel inputs rotate by pi about an axis perpendicular to ``a``.
    """
    a, b = _unit(a), _unit(b)
    a, b = torch.broadcast_tensors(a, b)
    v = torch.cross(a, b, dim=-1)
    c = (a * b).sum(-1)
    K = _skew(v)
    eye = torch.eye(3, dtype=a.dtype, device=a.device).expand(K.shape)
    R = eye + K + K @ K / (1.0 + c).clamp_min(1e-6)[..., None, None]
    anti = c < -1.0 + 1e-6
    if bool(anti.any()):
        # axis: a x e for the coordinate axis least aligned with a
        e = torch.zeros_like(a)
        idx = a.abs().argmin(-1, keepdim=True)
        e.scatter_(-1, idx, 1.0)
        axis = _unit(torch.cross(a, e, dim=-1))
        R_pi = 2.0 * axis[..., :, None] * axis[..., None, :] - eye
        R = torch.where(anti[..., None, None], R_pi, R)
    return R


def axis_angle_matrix(axis: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotation (..., 3, 3) about unit ``axis`` (..., 3) by ``angle`` (...) radians."""
    return roma.rotvec_to_rotmat(_unit(axis) * angle[..., None])


def _fit_rotation(rest_dirs: torch.Tensor, obs_dirs: torch.Tensor, weights=None) -> torch.Tensor:
    """Best rotation R with obs ≈ R rest for (..., N, 3) direction sets (weighted Kabsch)."""
    M = (obs_dirs[..., :, None] * rest_dirs[..., None, :])
    if weights is not None:
        M = M * weights[..., None, None]
    return roma.special_procrustes(M.sum(-3))


def _aim(bone: torch.Tensor, corr: torch.Tensor, max_frac: float = 0.5) -> torch.Tensor:
    """Observed bone vector plus the correction (observed minus posed joint position), the
    correction capped at ``max_frac`` of the bone length so the aimed direction never strays more
    than ~30 degrees from the observed one (a body-model bone longer than the observed one would
    otherwise overshoot its target and fold back)."""
    n_b = bone.norm(dim=-1, keepdim=True)
    n_c = corr.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    return bone + corr * (max_frac * n_b / n_c).clamp(max=1.0)


def _multi_child_dirs(kids, t, d):
    """Direction sets for a joint with several children (rest ``t``, observed ``d``: (..., k, 3)).

    A left/right pair (hips, collars) is used through its difference vector (robust to skeletons
    that hang the pair lower or higher than the body model does) together with the middle child's
    bone direction; other joints use every child direction."""
    pair = [i for i, c in enumerate(kids) if SMPL24_FLIP[c] != c]
    mid = [i for i, c in enumerate(kids) if SMPL24_FLIP[c] == c]
    if len(pair) == 2 and len(mid) == 1:
        a, b = pair
        m = mid[0]
        rest = torch.stack([_unit(t[..., a, :] - t[..., b, :]), _unit(t[..., m, :])], -2)
        obs = torch.stack([_unit(d[..., a, :] - d[..., b, :]), _unit(d[..., m, :])], -2)
        return rest, obs
    return _unit(t), _unit(d)


def _as_tensor(x, like=None) -> tuple[torch.Tensor, bool]:
    if isinstance(x, torch.Tensor):
        return x, False
    dtype = like.dtype if isinstance(like, torch.Tensor) else torch.float64
    return torch.as_tensor(np.asarray(x), dtype=dtype), True


def joints_to_rotations(joints, rest_joints, twist: str = "hinge", return_global: bool = False,
                        aim: str = "position"):
    """Swing(-twist) IK: SMPL-24 joint positions -> local rotations.

    joints: (..., 24, 3) observed positions (any frame; only bone directions are used).
    rest_joints: (..., 24, 3) the body model's zero-pose joints (broadcast against ``joints``).
    twist: "hinge" (hip/shoulder twist from the knee/elbow hinge plane, else zero) or "zero".
    aim: "position" (default) aims each bone from the joint's *posed* position (forward kinematics
    so far) at the observed child (the correction capped at half the bone length), so that a joint the rest skeleton cannot place exactly (e.g. a
    collar hung differently) does not shift its whole subtree; "direction" uses the observed bone
    direction (HybrIK). Identical when the rest skeleton fits the observation.
    Returns local rotation matrices (..., 24, 3, 3) (index 0 = global orientation), the same type
    (numpy or torch) as ``joints``; with ``return_global`` also the global rotations.
    Exactly reproduces every bone direction of a single-child joint; multi-child joints (pelvis,
    spine3) are a least-squares fit. Differentiable (torch in, torch out).
    """
    J, was_np = _as_tensor(joints)
    rest, _ = _as_tensor(rest_joints, like=J)
    rest = rest.to(J.dtype)
    J, rest = torch.broadcast_tensors(J, rest)
    batch = J.shape[:-2]
    eye = torch.eye(3, dtype=J.dtype, device=J.device).expand(*batch, 3, 3)
    n = len(PARENTS)
    glob: list[torch.Tensor | None] = [None] * n
    local: list[torch.Tensor | None] = [None] * n
    pos: list[torch.Tensor | None] = [None] * n
    hinge_of = {h[0]: h for h in HINGES} if twist == "hinge" else {}
    for j in range(n):
        p = PARENTS[j]
        Gp = eye if p < 0 else glob[p]
        if p < 0 or aim != "position":
            pos[j] = J[..., j, :]
        else:
            pos[j] = pos[p] + (Gp @ (rest[..., j, :] - rest[..., p, :])[..., None]).squeeze(-1)
        kids = CHILDREN[j]
        if not kids:
            R = eye
        else:
            t = torch.stack([rest[..., c, :] - rest[..., j, :] for c in kids], -2)   # (...,k,3)
            d = torch.stack([_aim(J[..., c, :] - J[..., j, :], J[..., j, :] - pos[j]) for c in kids], -2)
            d_loc = (Gp.transpose(-1, -2)[..., None, :, :] @ d[..., None]).squeeze(-1)
            if len(kids) == 1:
                R = swing_rotation(t[..., 0, :], d_loc[..., 0, :])
                if j in hinge_of:
                    R = R @ _hinge_twist(hinge_of[j], t[..., 0, :], Gp @ R, J, rest)
            else:
                R = _fit_rotation(*_multi_child_dirs(kids, t, d_loc))
        local[j] = R
        glob[j] = Gp @ R
    out = torch.stack(local, -3)
    if return_global:
        g = torch.stack(glob, -3)
        return (out.numpy(), g.numpy()) if was_np else (out, g)
    return out.numpy() if was_np else out


def _hinge_twist(hinge, t, G_swung, J, rest) -> torch.Tensor:
    """Twist about the rest bone ``t`` of an upper limb that puts the next joint's bend into its
    hinge plane (see module docstring). Returns (..., 3, 3) to right-multiply the swing."""
    _, k, e, axis, bend = hinge
    t = _unit(t)
    # direction of the lower limb in the upper limb's swung (untwisted) local frame
    d0 = _unit((G_swung.transpose(-1, -2) @ (J[..., e, :] - J[..., k, :])[..., None]).squeeze(-1))
    # remove the component along the rest lower-limb direction's plane normal: work about t
    perp = d0 - (d0 * t).sum(-1, keepdim=True) * t
    bend_v = torch.as_tensor(bend, dtype=J.dtype, device=J.device).expand_as(t)
    bend_v = _unit(bend_v - (bend_v * t).sum(-1, keepdim=True) * t)
    # signed angle (about t) from perp to the bend direction
    s = (torch.cross(perp, bend_v, dim=-1) * t).sum(-1)
    c = (perp * bend_v).sum(-1)
    ang = torch.atan2(s, c)
    # modulo pi: the smallest twist that puts the bend in the hinge plane, either side
    ang = torch.remainder(ang + torch.pi / 2, torch.pi) - torch.pi / 2
    # fade out when the limb is nearly straight (sin of the bend angle below ~0.17..0.5)
    sin_bend = perp.norm(dim=-1)
    w = ((sin_bend - 0.17) / (0.5 - 0.17)).clamp(0.0, 1.0)
    w = w * w * (3 - 2 * w)
    # twist applied before the swing: R_local = S · Twist(t, -ang·w) rotates d0's perpendicular
    # part onto the bend direction (the inverse twist acts on the child's direction)
    return axis_angle_matrix(t, -ang * w)


def rotations_to_joints(local_rot, rest_joints, root=None):
    """Forward kinematics helper: (..., 24, 3, 3) local rotations + rest joints -> (..., 24, 3)
    joints; the root is placed at ``root`` (..., 3) (default: its rest position)."""
    R, was_np = _as_tensor(local_rot)
    rest, _ = _as_tensor(rest_joints, like=R)
    rest = rest.to(R.dtype)
    R, rest = torch.broadcast_tensors(R, rest[..., None].expand(*rest.shape, 3))
    rest = rest[..., 0]
    _, pos = forward_kinematics(R, rest)
    if root is not None:
        r, _ = _as_tensor(root, like=R)
        pos = pos - pos[..., :1, :] + r.to(pos.dtype)[..., None, :]
    return pos.numpy() if was_np else pos


def rest_skeleton_tpose(height: float = 1.7, dtype=torch.float64) -> torch.Tensor:
    """A hand-made SMPL-24 T-pose (Y up, facing +Z, +X = the body's left, pelvis at 0) scaled to
    ``height`` metres: a stand-in rest skeleton for tests and for use without a body model."""
    j = np.array([
        [0.00, 0.00, 0.00],    # pelvis
        [0.08, -0.08, 0.00], [-0.08, -0.08, 0.00], [0.00, 0.10, -0.02],   # hips, spine1
        [0.09, -0.48, 0.01], [-0.09, -0.48, 0.01], [0.00, 0.23, 0.01],    # knees, spine2
        [0.09, -0.88, -0.03], [-0.09, -0.88, -0.03], [0.00, 0.29, 0.03],  # ankles, spine3
        [0.10, -0.94, 0.11], [-0.10, -0.94, 0.11], [0.00, 0.50, -0.01],   # feet, neck
        [0.07, 0.41, 0.00], [-0.07, 0.41, 0.00], [0.00, 0.58, 0.04],      # collars, head
        [0.17, 0.44, -0.01], [-0.17, 0.44, -0.01],                        # shoulders
        [0.43, 0.43, -0.03], [-0.43, 0.43, -0.03],                        # elbows
        [0.68, 0.43, -0.02], [-0.68, 0.43, -0.02],                        # wrists
        [0.76, 0.42, -0.03], [-0.76, 0.42, -0.03],                        # hands
    ])
    return torch.as_tensor(j * (height / 1.62), dtype=dtype)


def rotmats_to_axis_angle(rotmats, chunk: int = 1024):
    """(..., 24, 3, 3) -> (global_orient (..., 3), body_pose (..., 23, 3)) axis-angle, numpy float32.

    A (T, 24, 3, 3) sequence is converted ``chunk`` frames at a time (its float64 copy stays
    bounded on a long video; every frame's result is the same)."""
    R = torch.as_tensor(np.asarray(rotmats)) if not isinstance(rotmats, torch.Tensor) else rotmats
    if R.ndim == 4 and R.shape[0] > chunk > 0:
        aa = np.concatenate([roma.rotmat_to_rotvec(R[i:i + chunk].double()).cpu().numpy().astype(np.float32)
                             for i in range(0, R.shape[0], chunk)])
    else:
        aa = roma.rotmat_to_rotvec(R.double()).cpu().numpy().astype(np.float32)
    return aa[..., 0, :], aa[..., 1:, :]
