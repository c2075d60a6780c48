"""The body-model interface every stage codes against, and :func:`load_body_model`.

A :class:`BodyModel` is a ``torch.nn.Module`` that turns SMPL-24 local rotations (root = global
orientation), a shape vector and a translation into mesh vertices and SMPL-24 joints:

- ``name: str``, ``faces: LongTensor (F, 3)``, ``num_shape: int``
- ``default_shape() -> (S,)`` (a neutral adult)
- ``rest_joints(shape (B, S)) -> (B, 24, 3)``: the zero pose, which is the SMPL T-pose: Y up,
  facing +Z, +X is the body's left, metres, **the pelvis exactly at the origin** (so ``transl`` is the
  pelvis position; for a user SMPL file this differs from SMPL's own ``transl`` by ``J_0(shape)``,
  see :meth:`BodyModel.smpl_transl`).
- ``forward(rotmats (B, 24, 3, 3), shape (B, S) | (S,) | None, transl (B, 3) | None)
  -> {"vertices": (B, V, 3), "joints": (B, 24, 3)}``. ``rotmats`` may also be axis-angle
  ``(B, 24, 3)``; any leading batch dims are accepted (``(T, 24, 3, 3)``, ``(N, T, 24, 3, 3)``...).
  ``joints`` are the SMPL-24 joints of the posed body (forward kinematics of the rest joints),
  ``transl`` is added to everything.

Colouring (for renderers): ``skin_weights: (V, 24)`` float, each vertex's linear-blend-skinning
weights over the SMPL-24 joints (rows sum to 1), and ``vertex_parts: (V,)`` int8 labels into
:data:`PART_NAMES` = (skin, hair, shirt, trousers, shoes), derived from the skin weights and the
T-pose geometry (hair = the top/back of the head; shirt = the torso above a waistband between
pelvis and spine1, up to the base of the neck, and the inner half of the upper arms; trousers =
waistband to 4 cm above the ankles; shoes = below that; the rest — face, neck, outer upper arms,
forearms, hands — is skin). :data:`PART_COLORS` gives a default RGB per part, and
:meth:`BodyModel.vertex_colors` the (V, 3) uint8 colours.

Which implementation ``load_body_model("anny")`` returns: **the Anny-derived SMPL-format model**
(:mod:`unveil.body.anny_smpl`, run by :class:`unveil.body.smpl.SMPLBody`). It is the same mesh and
the same skinning (weights merged onto the 24 joints, exact because the Anny bones between two
mapped joints stay at identity), its joints agree with native Anny to a few mm, it is faster (one
24-joint dense LBS instead of a 104-bone rig; ``unveil bench body`` prints both), and its shape
space is linear (10 PCA components of Anny's phenotypes, 0 = the neutral adult, unit variance),
which suits fitting. The native rig stays available as ``"anny-native"`` (shape = Anny's 6
phenotypes in [0, 1]) for fidelity checks. Specs:

- ``"anny"`` / ``"anny-smpl"``: the Anny-SMPL file built by ``unveil models build``
- ``"anny-native"``: :class:`unveil.body.anny.AnnyBody`
- a path to an SMPL / SMPL-H / SMPL-X ``.npz`` or ``.pkl``: :class:`unveil.body.smpl.SMPLBody`
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import roma
import torch

from ..errors import MissingAssetError, UnveilError
from .model_hash import body_model_sha256
from .. import runtime
from .anny_smpl import anny_smpl_path

NUM_JOINTS = 24
PART_NAMES: tuple[str, ...] = ("skin", "hair", "shirt", "trousers", "shoes")
PART_COLORS: dict[str, tuple[int, int, int]] = {
    "skin": (224, 172, 140), "hair": (60, 42, 30), "shirt": (52, 101, 164),
    "trousers": (74, 84, 110), "shoes": (34, 30, 28),
}
# SMPL-24 joint -> part (before the hair rule). 0 skin, 2 shirt, 3 trousers, 4 shoes.
_JOINT_PART = np.array([
    3, 3, 3, 2, 3, 3, 2, 4, 4, 2, 4, 4, 0, 2, 2, 0, 2, 2, 0, 0, 0, 0, 0, 0,
], dtype=np.int8)


def as_rotmats(pose: torch.Tensor) -> torch.Tensor:
    """(..., 24, 3) axis-angle or (..., 24, 3, 3) rotation matrices -> (..., 24, 3, 3)."""
    pose = torch.as_tensor(pose)
    if pose.shape[-2:] == (3, 3) and pose.dim() >= 3 and pose.shape[-3] == NUM_JOINTS:
        return pose
    if pose.shape[-1] == 3 and pose.shape[-2] == NUM_JOINTS:
        return roma.rotvec_to_rotmat(pose)
    raise ValueError(f"expected (..., 24, 3, 3) rotation matrices or (..., 24, 3) axis-angle, got {tuple(pose.shape)}")


class BodyModel(torch.nn.Module):
    """Base class; subclasses implement ``_rest_joints`` and ``_forward`` on flat batches."""

    name: str = "body"
    num_shape: int = 0

    def __init__(self):
        super().__init__()
        self.register_buffer("_dtype_ref", torch.zeros((), dtype=torch.float32), persistent=False)

    # ---------------------------------------------------------------- to implement
    def _rest_joints(self, shape: torch.Tensor) -> torch.Tensor:  # (N,S) -> (N,24,3)
        raise NotImplementedError

    def _forward(self, rotmats: torch.Tensor, shape: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """rotmats (N,24,3,3), shape (N,S) or (1,S) -> vertices (N,V,3), joints (N,24,3), pelvis-centred."""
        raise NotImplementedError

    def default_shape(self) -> torch.Tensor:
        return torch.zeros(self.num_shape, dtype=self.dtype, device=self.device)

    @property
    def skin_weights(self) -> torch.Tensor:  # (V, 24)
        raise NotImplementedError

    # ---------------------------------------------------------------- common
    @property
    def dtype(self) -> torch.dtype:
        return self._dtype_ref.dtype

    @property
    def device(self) -> torch.device:
        return self._dtype_ref.device

    def _shape(self, shape, batch: tuple[int, ...]) -> torch.Tensor:
        """Shape -> (N, S) with N = prod(batch), or (1, S) when one shape is shared."""
        if shape is None:
            return self.default_shape()[None]
        shape = torch.as_tensor(shape, dtype=self.dtype, device=self.device)
        if shape.shape[-1] != self.num_shape:
            raise ValueError(f"{self.name}: shape has {shape.shape[-1]} values, expected {self.num_shape}")
        if shape.dim() == 1:
            return shape[None]
        if shape.numel() == self.num_shape:
            return shape.reshape(1, -1)
        shape = shape.expand(*batch, self.num_shape).reshape(-1, self.num_shape)
        if not shape.requires_grad and bool((shape == shape[:1]).all()):
            return shape[:1]  # one shape for the whole batch: the rest mesh is computed once
        return shape

    def rest_joints(self, shape=None) -> torch.Tensor:
        """(..., S) or None -> (..., 24, 3) T-pose joints, pelvis at the origin."""
        if shape is None:
            return self._rest_joints(self.default_shape()[None])[0]
        shape = torch.as_tensor(shape, dtype=self.dtype, device=self.device)
        lead = shape.shape[:-1]
        out = self._rest_joints(shape.reshape(-1, self.num_shape))
        return out.reshape(*lead, NUM_JOINTS, 3)

    def rest_vertices(self, shape=None) -> torch.Tensor:
        """(S,) or None -> (V, 3) T-pose vertices (pelvis at the origin)."""
        eye = torch.eye(3, dtype=self.dtype, device=self.device).expand(1, NUM_JOINTS, 3, 3)
        s = self._shape(shape, (1,))
        return self._forward(eye, s[:1])[0][0]

    def forward(self, rotmats, shape=None, transl=None) -> dict[str, torch.Tensor]:
        rot = as_rotmats(torch.as_tensor(rotmats)).to(self.dtype)
        batch = tuple(rot.shape[:-3])
        rot = rot.reshape(-1, NUM_JOINTS, 3, 3).to(self.device)
        n = rot.shape[0]
        s = self._shape(shape, batch)
        if s.shape[0] not in (1, n):
            raise ValueError(f"{self.name}: {s.shape[0]} shapes for {n} poses")
        verts, joints = self._forward(rot, s)
        if transl is not None:
            t = torch.as_tensor(transl, dtype=self.dtype, device=self.device)
            t = t.expand(*batch, 3).reshape(-1, 1, 3)
            verts = verts + t
            joints = joints + t
        return {"vertices": verts.reshape(*batch, -1, 3), "joints": joints.reshape(*batch, NUM_JOINTS, 3)}

    def smpl_transl(self, transl, shape=None):
        """Our ``transl`` (pelvis position) -> the SMPL-convention translation (pelvis - J_0(shape))
        of a model whose own rest pelvis is at ``self.rest_pelvis_offset(shape)``."""
        return torch.as_tensor(transl) - self.rest_pelvis_offset(shape)

    def rest_pelvis_offset(self, shape=None) -> torch.Tensor:
        """Where the model's own file puts the rest pelvis (zero for Anny)."""
        return torch.zeros(3, dtype=self.dtype, device=self.device)

    @functools.cached_property
    def vertex_parts(self) -> np.ndarray:
        """(V,) int8 labels into PART_NAMES (see the module docstring)."""
        with torch.no_grad():
            w = self.skin_weights.detach().cpu().numpy()
            v = self.rest_vertices().detach().cpu().numpy()
            j = self.rest_joints().detach().cpu().numpy()
        dominant = w.argmax(1)
        parts = _JOINT_PART[dominant].copy()
        y = v[:, 1]
        # clean horizontal lines in the T-pose: shoes below the ankles, waistband between pelvis
        # and spine1, neckline at the base of the neck
        lower = np.isin(dominant, (0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11))
        ankle_y = j[[7, 8], 1].mean()
        waist_y = j[0, 1] + 0.75 * (j[3, 1] - j[0, 1])
        parts[lower] = np.where(y[lower] < ankle_y + 0.04, 4, np.where(y[lower] < waist_y, 3, 2))
        upper = np.isin(dominant, (9, 12, 13, 14))
        parts[upper] = np.where((dominant[upper] == 12) & (y[upper] > j[12, 1] - 0.01), 0, 2)
        head = j[15]
        head_w = w[:, 15]
        # hair: head vertices above the eyes (a bit over the head joint), or at the back of the head
        above = y > head[1] + 0.06
        back = (v[:, 2] < head[2] - 0.02) & (y > head[1] - 0.02)
        parts[(head_w > 0.5) & (above | back)] = 1
        # short sleeves: the inner half of the upper arm is shirt, the rest of the arm skin
        for sh, el in ((16, 18), (17, 19)):
            on = dominant == sh
            frac = np.abs(v[:, 0] - j[sh, 0]) / max(abs(j[el, 0] - j[sh, 0]), 1e-6)
            parts[on] = np.where(frac[on] > 0.55, 0, 2)
        return parts.astype(np.int8)

    def vertex_colors(self) -> np.ndarray:
        """(V, 3) uint8 default colours from :attr:`vertex_parts`."""
        table = np.array([PART_COLORS[p] for p in PART_NAMES], dtype=np.uint8)
        return table[self.vertex_parts]


@functools.lru_cache(maxsize=8)
def _load(spec: str, device: str, content: str = "") -> BodyModel:
    # ``content``: the file's hash, so an edited file is loaded again (not served from this cache)

    runtime.init_torch()
    if spec in ("anny", "anny-smpl"):
        from .smpl import SMPLBody  # deferred: import cycle (unveil.body.smpl imports unveil.body.base at module level)

        path = anny_smpl_path()
        if not path.exists():
            raise MissingAssetError(f"the Anny-SMPL body model {path} is missing: run `unveil models build`")
        model = SMPLBody.from_file(path, name="anny")
    elif spec == "anny-native":
        from .anny import AnnyBody  # deferred: import cycle (unveil.body.anny imports unveil.body.base at module level)

        model = AnnyBody()
    else:
        from .smpl import SMPLBody  # deferred: import cycle (unveil.body.smpl imports unveil.body.base at module level)

        p = Path(spec).expanduser()
        if not p.exists():
            raise UnveilError(f"body model {spec!r}: no such file (expected 'anny' or a path to an SMPL/SMPL-X .npz/.pkl)")
        model = SMPLBody.from_file(p)
    model.eval()
    return model.to(device)


def load_body_model(spec: str = "anny", device: str = "cpu") -> BodyModel:
    """The body model for ``spec`` (cached per spec and device); see the module docstring."""
    spec = str(spec)
    if spec not in ("anny", "anny-smpl", "anny-native"):
        spec = str(Path(spec).expanduser().resolve())
    return _load(spec, str(device), body_model_sha256(spec))
