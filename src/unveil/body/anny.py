"""Anny (PyPI ``anny==0.6.2``, default topology) driven by SMPL-24 local rotations.

Anny (NAVER, Apache-2.0; MakeHuman assets CC0) is a 104-bone rig over a 13,718-vertex mesh, Z up,
facing -Y, +X the model's left, resting in an A-pose, shaped by 6 phenotypes in [0, 1] (gender,
age, muscle, weight, height, proportions). This module makes it obey the unveil body interface
(:mod:`unveil.body.base`):

1. **Axes.** Everything is computed in Anny's frame and mapped to ours by ``Q``:
   ``(x, y, z)_ours = (x, z, -y)_anny`` (Z-up/-Y-facing -> Y-up/+Z-facing; +X stays the left).
   A rotation ``R`` given in our frame acts in Anny's as ``Q^T R Q``.
2. **Bone mapping** (``../shared/design/body-models.md``): SMPL-24 joint j <- the head of Anny bone
   ``SMPL24_TO_ANNY[j]``; every SMPL parent is an Anny ancestor, and the Anny bones in between (and
   all bones below the mapped ones: fingers, toes, face) stay at identity.
3. **A-pose -> T-pose.** For each shape, world rotations ``C_j`` take the A-pose to the SMPL T-pose:
   each arm segment (shoulder->elbow, elbow->wrist, wrist->hand) is swung onto +-X and each leg
   segment (hip->knee, knee->ankle) onto -Y (straight down); ``C_j = swing_j C_parent(j)``.
4. **Driving.** Anny's ``local-ref`` pose parameters are local rotations in world-aligned axes, so
   the cumulative world rotation of a bone is the product of the deltas along its chain. With SMPL
   global rotations ``G_j = G_p R_j`` we want bone j's world rotation (relative to the A-pose) to be
   ``A_j = G_j C_j``, hence the delta on the mapped bone is
   ``D_j = A_p^-1 A_j = C_p^T R_j C_j`` (``D_0 = R_0``).
5. SMPL-24 joints = the posed heads of the mapped bones; the root head sits at the origin.

The default shape is a neutral adult: all phenotypes 0.5 except age 2/3 (Anny's "young" adult
anchor; 0.5 would be a teenager).
"""

from __future__ import annotations

import os

import numpy as np
import roma
import torch

from .. import paths
from ..skeleton import SMPL24_PARENTS
from .base import NUM_JOINTS, BodyModel

SMPL24_TO_ANNY: tuple[str, ...] = (
    "root", "upperleg01.L", "upperleg01.R", "spine04", "lowerleg01.L", "lowerleg01.R", "spine03",
    "foot.L", "foot.R", "spine01", "toe3-1.L", "toe3-1.R", "neck01", "clavicle.L", "clavicle.R",
    "head", "upperarm01.L", "upperarm01.R", "lowerarm01.L", "lowerarm01.R", "wrist.L", "wrist.R",
    "finger3-1.L", "finger3-1.R",
)
PHENOTYPES: tuple[str, ...] = ("gender", "age", "muscle", "weight", "height", "proportions")
DEFAULT_PHENOTYPES: tuple[float, ...] = (0.5, 2.0 / 3.0, 0.5, 0.5, 0.5, 0.5)

# Anny frame -> ours: (x, y, z) -> (x, z, -y)
Q = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
# T-pose targets, in Anny's frame: segment (joint -> child) -> direction
_TARGETS: dict[int, tuple[int, tuple[float, float, float]]] = {
    16: (18, (1.0, 0.0, 0.0)), 18: (20, (1.0, 0.0, 0.0)), 20: (22, (1.0, 0.0, 0.0)),
    17: (19, (-1.0, 0.0, 0.0)), 19: (21, (-1.0, 0.0, 0.0)), 21: (23, (-1.0, 0.0, 0.0)),
    1: (4, (0.0, 0.0, -1.0)), 4: (7, (0.0, 0.0, -1.0)),
    2: (5, (0.0, 0.0, -1.0)), 5: (8, (0.0, 0.0, -1.0)),
}


def import_anny():
    """Import the optional ``anny`` package (heavy: deferred until a model is built).

    Returns:
        The ``anny`` module, with ``ANNY_CACHE_DIR`` defaulting to the project cache dir.
    """
    os.environ.setdefault("ANNY_CACHE_DIR", str(paths.anny_cache_dir()))
    import anny  # noqa: WPS433 (heavy, imported lazily)

    return anny


def swing(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Smallest rotation taking direction(s) a (..., 3) onto b (..., 3) -> (..., 3, 3)."""
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    axis = torch.linalg.cross(a, b, dim=-1)
    s = axis.norm(dim=-1, keepdim=True)
    c = (a * b).sum(-1, keepdim=True)
    angle = torch.atan2(s, c)
    return roma.rotvec_to_rotmat(axis / s.clamp_min(1e-12) * angle)


class AnnyBody(BodyModel):
    """Native Anny rig behind the :class:`BodyModel` interface (shape = 6 phenotypes)."""

    name = "anny-native"
    num_shape = 6

    def __init__(self, skinning_method: str | None = None):
        super().__init__()
        anny = import_anny()
        # rig/topology "anny" (the default): never "smpl"/"smplx"
        self.anny = anny.Anny(skinning_method=skinning_method).to(torch.float32)
        labels = list(self.anny.bone_labels)
        self.bone_index = [labels.index(n) for n in SMPL24_TO_ANNY]
        # each Anny bone -> its nearest mapped ancestor-or-self (SMPL-24 joint)
        parents = [int(p) for p in self.anny.bone_parents]
        owner = [-1] * len(labels)
        mapped = {b: j for j, b in enumerate(self.bone_index)}
        for b in range(len(labels)):
            k = b
            while k not in mapped:
                k = parents[k]
            owner[b] = mapped[k]
        self.bone_owner = owner
        self.register_buffer("faces", torch.as_tensor(self.anny.faces, dtype=torch.long), persistent=False)
        self.register_buffer("Q", Q.clone(), persistent=False)
        self.register_buffer("_default", torch.tensor(DEFAULT_PHENOTYPES), persistent=False)

    def default_shape(self) -> torch.Tensor:
        return self._default.clone()

    @property
    def skin_weights(self) -> torch.Tensor:
        w = self.anny.vertex_bone_weights.to(self.dtype)          # (V, K)
        idx = self.anny.vertex_bone_indices.long()                 # (V, K)
        owner = torch.as_tensor(self.bone_owner, device=idx.device)[idx]
        out = torch.zeros(w.shape[0], NUM_JOINTS, dtype=w.dtype, device=w.device)
        out.scatter_add_(1, owner, w)
        return out / out.sum(1, keepdim=True).clamp_min(1e-12)

    # ------------------------------------------------------------------ internals
    def rest_model(self, shape: torch.Tensor) -> dict[str, torch.Tensor]:
        """Anny's A-pose rest model (Anny frame) for phenotypes (N, 6)."""
        m = self.anny
        _, phen, local, facial = m.get_tensor_inputs(None, shape.to(m.dtype), None, None)
        coeffs = m._get_phenotype_blendshape_coefficients(phen, local, facial)
        return m.get_rest_model(coeffs)

    def tpose_corrections(self, heads: torch.Tensor) -> torch.Tensor:
        """(N, 24, 3) A-pose SMPL-24 joint positions (Anny frame) -> (N, 24, 3, 3) world rotations C_j."""
        n = heads.shape[0]
        eye = torch.eye(3, dtype=heads.dtype, device=heads.device).expand(n, 3, 3)
        C = [eye] * NUM_JOINTS
        for j in range(1, NUM_JOINTS):
            p = SMPL24_PARENTS[j]
            C[j] = C[p]
            if j in _TARGETS:
                child, target = _TARGETS[j]
                d = (C[p] @ (heads[:, child] - heads[:, j])[..., None])[..., 0]
                tgt = torch.tensor(target, dtype=heads.dtype, device=heads.device).expand_as(d)
                C[j] = swing(d, tgt) @ C[p]
        return torch.stack(C, dim=1)

    def _pose(self, rotmats: torch.Tensor, shape: torch.Tensor):
        m = self.anny
        rest = self.rest_model(shape)
        heads = rest["rest_bone_heads"][:, self.bone_index]
        C = self.tpose_corrections(heads)                       # (Ns, 24, 3, 3)
        R = self.Q.T @ rotmats.to(m.dtype) @ self.Q             # our frame -> Anny frame
        Cp = C[:, list(SMPL24_PARENTS[1:])]
        D = torch.cat([R[:, :1], Cp.transpose(-1, -2) @ R[:, 1:] @ C[:, 1:]], dim=1)
        n = rotmats.shape[0]
        delta = torch.eye(4, dtype=m.dtype, device=R.device).repeat(n, m.bone_count, 1, 1)
        delta[:, self.bone_index, :3, :3] = D
        transforms, poses = m.get_bone_transforms(delta, rest["rest_bone_poses"])
        verts = m.get_skinned_vertices(rest["rest_vertices"].expand(transforms.shape[0], -1, -1), transforms)
        joints = poses[:, self.bone_index, :3, 3]
        root = poses[:, :1, :3, 3]
        return (verts - root) @ self.Q.T, (joints - root) @ self.Q.T

    def _forward(self, rotmats, shape):
        return self._pose(rotmats, shape)

    def _rest_joints(self, shape):
        rest = self.rest_model(shape)
        heads = rest["rest_bone_heads"][:, self.bone_index]
        C = self.tpose_corrections(heads)
        # T-pose joints: FK of the corrections alone
        joints = [heads[:, 0] - heads[:, 0]]
        for j in range(1, NUM_JOINTS):
            p = SMPL24_PARENTS[j]
            off = (C[:, p] @ (heads[:, j] - heads[:, p])[..., None])[..., 0]
            joints.append(joints[p] + off)
        return torch.stack(joints, 1) @ self.Q.T

    def phenotypes_dict(self, shape) -> dict[str, float]:
        return dict(zip(PHENOTYPES, np.asarray(shape, dtype=float).tolist()))
