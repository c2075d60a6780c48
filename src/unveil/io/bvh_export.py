"""SMPL-24 skeleton BVH (``OUT/<id>.bvh``) of one body track.

Format (Biovision BVH, as read by Blender, MotionBuilder and :mod:`unveil.data.bvh`):

- joints named as :data:`unveil.skeleton.SMPL24_NAMES`, hierarchy = SMPL-24 parents; ``OFFSET`` of a
  joint = ``rest_j - rest_parent(j)`` of the track's shape in **centimetres**, Y up (the SMPL
  T-pose, facing +Z); the root ``OFFSET`` is 0 and its position channels carry the world pelvis.
- channels: root ``Xposition Yposition Zposition Zrotation Xrotation Yrotation``, every other joint
  ``Zrotation Xrotation Yrotation``: intrinsic Z-X-Y Euler angles in degrees,
  ``R_local = Rz(z) @ Rx(x) @ Ry(y)`` (the usual mocap order).
- ``End Site`` after the leaves (feet, head, hands), continuing the last bone (5/15/8 cm).
- ``Frame Time`` = 1 / fps; one row per track frame (a track with gaps is written densely, the
  frames in between are not interpolated: see the npz ``frames``).

The motion is in the Y-up world frame of ``joints_world`` (see :mod:`unveil.io.world_motion`);
forward kinematics of the file gives the body model's posed joints (to the 6 printed decimals).
"""

from __future__ import annotations

import io

import numpy as np
from scipy.spatial.transform import Rotation

from ..atomic import write_parts
from ..skeleton import SMPL24_NAMES, SMPL24_PARENTS
from ..types import BodyTrack
from .exporter import ExportContext
from .world_motion import world_motion

ORDER = "ZXY"
_END_CM = {10: 5.0, 11: 5.0, 15: 15.0, 22: 8.0, 23: 8.0}


def euler_zxy(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotations -> (..., 3) degrees (z, x, y) with R = Rz(z) Rx(x) Ry(y)."""
    R = np.asarray(R, np.float64)
    flat = R.reshape(-1, 3, 3)
    ang = Rotation.from_matrix(flat).as_euler(ORDER, degrees=True)  # uppercase: intrinsic
    return ang.reshape(R.shape[:-2] + (3,))


def bvh_text(body_track: BodyTrack, body_model, fps: float) -> str:
    """The BVH file's text (see the module docstring)."""
    return "".join(bvh_parts(body_track, body_model, fps))


def bvh_parts(body_track: BodyTrack, body_model, fps: float):
    """:func:`bvh_text` in pieces: the hierarchy, then the motion rows ``FRAME_CHUNK`` frames per
    piece (a writer never holds a long track's whole text or every frame's angles)."""
    m = world_motion(body_track, body_model, fps)
    rest_cm = m.rest_joints * 100.0
    children = {j: [c for c in range(24) if SMPL24_PARENTS[c] == j] for j in range(24)}
    rot_ch = " ".join(f"{a}rotation" for a in ORDER)
    out = io.StringIO()
    out.write("HIERARCHY\n")

    def joint(j: int, depth: int):
        ind = "  " * depth
        p = SMPL24_PARENTS[j]
        off = rest_cm[j] - (rest_cm[p] if p >= 0 else 0.0)
        if p < 0:
            off = np.zeros(3)
        out.write(f"{ind}{'ROOT' if p < 0 else 'JOINT'} {SMPL24_NAMES[j]}\n{ind}{{\n")
        out.write(f"{ind}  OFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}\n")
        if p < 0:
            out.write(f"{ind}  CHANNELS 6 Xposition Yposition Zposition {rot_ch}\n")
        else:
            out.write(f"{ind}  CHANNELS 3 {rot_ch}\n")
        for c in children[j]:
            joint(c, depth + 1)
        if not children[j]:
            bone = rest_cm[j] - rest_cm[p]
            n = np.linalg.norm(bone)
            e = bone / n * _END_CM.get(j, 5.0) if n > 1e-9 else np.array([0.0, _END_CM.get(j, 5.0), 0.0])
            out.write(f"{ind}  End Site\n{ind}  {{\n{ind}    OFFSET {e[0]:.6f} {e[1]:.6f} {e[2]:.6f}\n{ind}  }}\n")
        out.write(f"{ind}}}\n")

    joint(0, 0)
    T = len(m)
    out.write(f"MOTION\nFrames: {T}\nFrame Time: {1.0 / float(fps):.8f}\n")
    yield out.getvalue()
    order = []  # depth-first joint order of the channel columns
    stack = [0]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(children[j]))
    for lo, hi, rot in m.rotmats_chunks():
        eul = euler_zxy(rot[:, order])                                          # (n, 24, 3)
        rows = np.concatenate([m.transl[lo:hi] * 100.0, eul.reshape(hi - lo, -1)], 1)   # (n, 3 + 72)
        out = io.StringIO()
        np.savetxt(out, rows, fmt="%.6f", delimiter=" ")
        yield out.getvalue()


def write_bvh(path, body_track: BodyTrack, body_model, fps: float) -> None:
    """Write ``path`` (atomically, piece by piece: :func:`bvh_parts`): see the module docstring."""
    write_parts(path, bvh_parts(body_track, body_model, fps))


class BvhExporter:
    """``OUT/<id>.bvh``: the SMPL-24 skeleton motion per person (:func:`write_bvh`)."""

    name, suffix, scope, requires = "bvh", ".bvh", "track", ()

    def write(self, path, tracks, ctx: ExportContext) -> None:
        write_bvh(path, tracks[0], ctx.body_model, ctx.fps)


__all__ = ["write_bvh", "bvh_text", "bvh_parts", "euler_zxy", "BvhExporter"]
