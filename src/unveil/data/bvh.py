"""A tolerant BVH reader: parse, forward kinematics, retarget to SMPL-24 joints (metres, Y up).

Why our own parser: the Bandai Namco motion dataset puts 6 channels (position + rotation) on every
joint although only ``Hips`` really translates, which several readers reject; the CMU conversion
(B. Hahne) has zero-length links (LHipJoint, RHipJoint, LowerBack, LeftShoulder, ...) and a T-pose
in frame 0. This reader accepts any channel count/order per joint, ``End Site`` blocks, stray
whitespace/CRLF, and a ``Frames:`` count that disagrees with the data (the rows present win).

Forward kinematics (standard BVH semantics, vectorised over frames)::

    R_local(j, t) = prod_{axis in channel order} R_axis(angle)        (intrinsic, e.g. Z then X then Y)
    t_local(j, t) = position channels of j if j translates, else OFFSET(j)
    G(j, t) = G(parent, t) @ R_local(j, t)
    p(j, t) = p(parent, t) + G(parent, t) @ t_local(j, t)

"Translates" means: the joint is the root, or its position channels move away from its OFFSET by
more than ``translate_tol`` (in file units) somewhere in the clip. Every other joint uses its
OFFSET, so bone lengths are exactly constant over time even when a file stores noisy per-joint
position channels (Bandai stores values equal to OFFSET up to ~1e-5 cm).

Retargeting to SMPL-24 uses the tables of ``shared/design/keypoints.md`` (``lerp(a, b, t)`` where
no joint exists); Bandai is in centimetres (x 0.01), the CMU BVH in units of x 0.05644 m, the
CMU subset on a Character Creator rig (kind ``"cc"``, ``CC_Base_*`` joints) in centimetres.
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UnveilError
from ..skeleton import SMPL24_NAMES

__all__ = ["Bvh", "parse_bvh", "read_bvh", "forward_kinematics", "skeleton_kind", "to_smpl24",
           "SMPL24_FROM", "UNIT_SCALE", "bvh_to_smpl24"]


@dataclass
class Bvh:
    """A parsed BVH file. End sites are included as joints without channels (named ``<parent>_end``)."""

    names: list[str]
    parents: np.ndarray            # (J,) int, -1 for the root(s)
    offsets: np.ndarray            # (J, 3) float64, file units
    channels: list[list[str]]      # per joint, e.g. ["Xposition", ..., "Zrotation", ...]
    is_end: np.ndarray             # (J,) bool
    frame_time: float
    motion: np.ndarray             # (T, C) float64, all channels of a frame in file order
    chan_start: np.ndarray = field(default=None)  # (J,) first motion column of each joint

    @property
    def n_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time if self.frame_time > 0 else 30.0

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"BVH has no joint {name!r}") from None


_NUM = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def parse_bvh(text: str, source: str = "<text>") -> Bvh:
    """Parse BVH text. Raises :class:`UnveilError` with the file name on malformed input."""
    m = re.search(r"^\s*MOTION\s*$", text, flags=re.M)
    if m is None:
        raise UnveilError(f"{source}: not a BVH file (no MOTION section)")
    head, motion_txt = text[: m.start()], text[m.end():]
    toks = head.split()
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    is_end: list[bool] = []
    stack: list[int] = []
    pending: int | None = None  # joint declared, its "{" not yet seen
    i = 0
    n = len(toks)
    try:
        while i < n:
            tok = toks[i]
            up = tok.upper()
            if up in ("ROOT", "JOINT"):
                name = toks[i + 1]
                parent = stack[-1] if stack else -1
                names.append(name); parents.append(parent); offsets.append([0.0, 0.0, 0.0])
                channels.append([]); is_end.append(False)
                pending = len(names) - 1
                i += 2
            elif up == "END":  # "End Site"
                parent = stack[-1] if stack else -1
                base = names[parent] if parent >= 0 else "root"
                names.append(f"{base}_end"); parents.append(parent); offsets.append([0.0, 0.0, 0.0])
                channels.append([]); is_end.append(True)
                pending = len(names) - 1
                i += 2 if i + 1 < n and toks[i + 1].upper() == "SITE" else 1
            elif tok == "{":
                if pending is None:
                    raise ValueError("'{' without a joint")
                stack.append(pending)
                pending = None
                i += 1
            elif tok == "}":
                if not stack:
                    raise ValueError("unbalanced '}'")
                stack.pop()
                i += 1
            elif up == "OFFSET":
                j = pending if pending is not None else stack[-1]
                offsets[j] = [float(toks[i + 1]), float(toks[i + 2]), float(toks[i + 3])]
                i += 4
            elif up == "CHANNELS":
                j = pending if pending is not None else stack[-1]
                k = int(toks[i + 1])
                channels[j] = [c for c in toks[i + 2: i + 2 + k]]
                i += 2 + k
            else:  # HIERARCHY and anything unknown: skip
                i += 1
    except (IndexError, ValueError) as e:
        raise UnveilError(f"{source}: malformed BVH hierarchy ({e})") from None
    if not names:
        raise UnveilError(f"{source}: BVH hierarchy has no joints")

    # --- motion header
    frame_time = 1.0 / 30.0
    lines = motion_txt.split("\n")
    k = 0
    while k < len(lines) and (not lines[k].strip() or ":" in lines[k]):
        line = lines[k].strip()
        if line.lower().startswith("frame time"):
            frame_time = float(line.split(":", 1)[1])
        k += 1
    n_chan = sum(len(c) for c in channels)
    body = "\n".join(lines[k:])
    vals = np.zeros(0)
    if n_chan:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vals = np.fromstring(body, dtype=np.float64, sep=" ")  # C parser; stops at a bad token
        if vals.size % n_chan:  # a bad token or a truncated last row: token-by-token (bad -> nan)
            vals = np.array([float(v) if _NUM.match(v) else np.nan for v in body.split()])
    if n_chan:
        n_rows = vals.size // n_chan
        motion = vals[: n_rows * n_chan].reshape(n_rows, n_chan)
    else:
        motion = np.zeros((0, 0))
    if motion.shape[0] == 0:
        raise UnveilError(f"{source}: BVH has no motion frames")
    starts = np.cumsum([0] + [len(c) for c in channels])[:-1]
    return Bvh(names=names, parents=np.asarray(parents, dtype=np.int64),
               offsets=np.asarray(offsets, dtype=np.float64), channels=channels,
               is_end=np.asarray(is_end, dtype=bool), frame_time=frame_time, motion=motion,
               chan_start=np.asarray(starts, dtype=np.int64))


def read_bvh(path: str | os.PathLike) -> Bvh:
    path = Path(path)
    if not path.is_file():
        raise UnveilError(f"BVH file not found: {path}")
    return parse_bvh(path.read_text(encoding="utf-8", errors="replace"), source=str(path))


# ------------------------------------------------------------------------------ kinematics
_AXIS_SLOTS = {  # (cos entries, +sin entry, -sin entry, fixed 1 entry) of a principal rotation
    "X": (((1, 1), (2, 2)), (2, 1), (1, 2), (0, 0)),
    "Y": (((0, 0), (2, 2)), (0, 2), (2, 0), (1, 1)),
    "Z": (((0, 0), (1, 1)), (1, 0), (0, 1), (2, 2)),
}


def _axis_rot(axis: str, deg: np.ndarray) -> np.ndarray:
    """(T,) degrees -> (T, 3, 3) rotation about a principal axis (right-handed)."""
    a = np.deg2rad(deg)
    c, s = np.cos(a), np.sin(a)
    cos_ij, ps, ms, one = _AXIS_SLOTS[axis]
    m = np.zeros(a.shape + (3, 3))
    for i, j in cos_ij:
        m[..., i, j] = c
    m[..., ps[0], ps[1]] = s
    m[..., ms[0], ms[1]] = -s
    m[..., one[0], one[1]] = 1.0
    return m


def local_transforms(bvh: Bvh, translate_tol: float = 1e-3):
    """Per-joint local rotations (T, J, 3, 3) and translations (T, J, 3), file units."""
    T, J = bvh.n_frames, len(bvh.names)
    rot = np.broadcast_to(np.eye(3), (T, J, 3, 3)).copy()
    trans = np.broadcast_to(bvh.offsets, (T, J, 3)).copy()
    for j, chans in enumerate(bvh.channels):
        if not chans:
            continue
        c0 = bvh.chan_start[j]
        pos = np.zeros((T, 3))
        has_pos = False
        R = None
        for k, ch in enumerate(chans):
            v = bvh.motion[:, c0 + k]
            kind = ch[1:].lower()
            ax = ch[0].upper()
            if kind == "position":
                pos[:, "XYZ".index(ax)] = v
                has_pos = True
            elif kind == "rotation":
                Ra = _axis_rot(ax, v)
                R = Ra if R is None else R @ Ra
        if R is not None:
            rot[:, j] = R
        if has_pos and (bvh.parents[j] < 0 or np.abs(pos - bvh.offsets[j]).max() > translate_tol):
            trans[:, j] = pos
    return rot, trans


def forward_kinematics(bvh: Bvh, translate_tol: float = 1e-3):
    """Global rotations (T, J, 3, 3) and positions (T, J, 3) in file units and axes."""
    rot, trans = local_transforms(bvh, translate_tol)
    T, J = rot.shape[:2]
    grot = np.empty_like(rot)
    gpos = np.empty_like(trans)
    for j in range(J):
        p = bvh.parents[j]
        if p < 0:
            grot[:, j] = rot[:, j]
            gpos[:, j] = trans[:, j]
        else:
            grot[:, j] = grot[:, p] @ rot[:, j]
            gpos[:, j] = gpos[:, p] + np.einsum("tij,tj->ti", grot[:, p], trans[:, j])
    return grot, gpos


# ------------------------------------------------------------------------------ retargeting
# SMPL-24 joint -> source joint name, or ("lerp", a, b, t) = a + t (b - a). From keypoints.md.
SMPL24_FROM: dict[str, dict[str, object]] = {
    "bandai": {
        "pelvis": "Hips", "L_hip": "UpperLeg_L", "R_hip": "UpperLeg_R", "spine1": "Spine",
        "L_knee": "LowerLeg_L", "R_knee": "LowerLeg_R", "spine2": "Chest",
        "L_ankle": "Foot_L", "R_ankle": "Foot_R", "spine3": ("lerp", "Chest", "Neck", 0.5),
        "L_foot": "Toes_L", "R_foot": "Toes_R", "neck": "Neck", "L_collar": "Shoulder_L",
        "R_collar": "Shoulder_R", "head": "Head", "L_shoulder": "UpperArm_L",
        "R_shoulder": "UpperArm_R", "L_elbow": "LowerArm_L", "R_elbow": "LowerArm_R",
        "L_wrist": "Hand_L", "R_wrist": "Hand_R", "L_hand": "Hand_L", "R_hand": "Hand_R",
    },
    "cmu": {
        "pelvis": "Hips", "L_hip": "LeftUpLeg", "R_hip": "RightUpLeg", "spine1": "Spine",
        "L_knee": "LeftLeg", "R_knee": "RightLeg", "spine2": ("lerp", "Spine", "Spine1", 0.5),
        "L_ankle": "LeftFoot", "R_ankle": "RightFoot", "spine3": "Spine1",
        "L_foot": "LeftToeBase", "R_foot": "RightToeBase", "neck": "Neck1",
        "L_collar": ("lerp", "Spine1", "LeftArm", 0.35), "R_collar": ("lerp", "Spine1", "RightArm", 0.35),
        "head": "Head", "L_shoulder": "LeftArm", "R_shoulder": "RightArm", "L_elbow": "LeftForeArm",
        "R_elbow": "RightForeArm", "L_wrist": "LeftHand", "R_wrist": "RightHand",
        "L_hand": "LFingers", "R_hand": "RFingers",
    },
    # the CMU subset retargeted onto a Character Creator rig (IClone-CMU-Mocap; every bone points
    # along its local +Y). CC_Base_Pelvis sits on CC_Base_Hip and carries the thighs' rotation;
    # Waist/Spine01/Spine02 are 8 / 12.5 / 27 cm above the hip, NeckTwist01 is the neck base,
    # Clavicle starts 3 cm beside the midline; Mid1 (middle-finger knuckle) is the hand point
    # (the CMU capture has no finger motion: the fingers move rigidly with the hand)
    "cc": {
        "pelvis": "CC_Base_Pelvis", "L_hip": "CC_Base_L_Thigh", "R_hip": "CC_Base_R_Thigh",
        "spine1": "CC_Base_Spine01", "L_knee": "CC_Base_L_Calf", "R_knee": "CC_Base_R_Calf",
        "spine2": "CC_Base_Spine02", "L_ankle": "CC_Base_L_Foot", "R_ankle": "CC_Base_R_Foot",
        "spine3": ("lerp", "CC_Base_Spine02", "CC_Base_NeckTwist01", 0.25),
        "L_foot": "CC_Base_L_ToeBase", "R_foot": "CC_Base_R_ToeBase", "neck": "CC_Base_NeckTwist01",
        "L_collar": "CC_Base_L_Clavicle", "R_collar": "CC_Base_R_Clavicle", "head": "CC_Base_Head",
        "L_shoulder": "CC_Base_L_Upperarm", "R_shoulder": "CC_Base_R_Upperarm",
        "L_elbow": "CC_Base_L_Forearm", "R_elbow": "CC_Base_R_Forearm",
        "L_wrist": "CC_Base_L_Hand", "R_wrist": "CC_Base_R_Hand",
        "L_hand": "CC_Base_L_Mid1", "R_hand": "CC_Base_R_Mid1",
    },
}
UNIT_SCALE = {"bandai": 0.01, "cmu": 0.05644, "cc": 0.01}
# the source joint whose global rotation is the SMPL head's (used for face points)
HEAD_JOINT = {"bandai": "Head", "cmu": "Head", "cc": "CC_Base_Head"}


def skeleton_kind(bvh: Bvh) -> str:
    names = set(bvh.names)
    if {"UpperLeg_L", "LowerLeg_L", "Toes_L"} <= names:
        return "bandai"
    if {"LeftUpLeg", "LeftToeBase", "Neck1"} <= names:
        return "cmu"
    if {"CC_Base_L_Thigh", "CC_Base_L_Calf", "CC_Base_NeckTwist01", "CC_Base_R_Mid1"} <= names:
        return "cc"
    raise UnveilError("unknown BVH skeleton (expected Bandai, CMU or Character Creator joint names); "
                      f"joints: {', '.join(bvh.names[:8])}...")


def to_smpl24(bvh: Bvh, gpos: np.ndarray, kind: str | None = None, grot: np.ndarray | None = None,
              convention: str = "learned") -> np.ndarray:
    """(T, J, 3) global positions in file units -> (T, 24, 3) SMPL-24 joints in metres.

    ``convention="learned"`` with the global rotations ``grot`` puts each joint where the body
    model has it (:mod:`unveil.data.convention`, when a table ships for this skeleton kind);
    ``"plain"`` (or no ``grot``) is the table mapping below."""
    kind = kind or skeleton_kind(bvh)
    if convention not in ("learned", "plain"):
        raise ValueError(f"convention must be 'learned' or 'plain', got {convention!r}")
    if convention == "learned" and grot is not None:
        from .convention import to_smpl24 as learned  # deferred: import cycle (unveil.data.convention imports unveil.data.bvh at module level)

        out = learned(bvh, gpos, grot, kind)
        if out is not None:
            return out
    table, scale = SMPL24_FROM[kind], UNIT_SCALE[kind]
    out = np.empty(gpos.shape[:-2] + (24, 3), dtype=np.float64)
    for i, smpl in enumerate(SMPL24_NAMES):
        src = table[smpl]
        if isinstance(src, tuple):
            _, a, b, t = src
            pa, pb = gpos[..., bvh.index(a), :], gpos[..., bvh.index(b), :]
            out[..., i, :] = pa + t * (pb - pa)
        else:
            out[..., i, :] = gpos[..., bvh.index(src), :]
    return out * scale


def bvh_to_smpl24(path_or_bvh, convention: str = "learned") -> tuple[np.ndarray, np.ndarray, float, str]:
    """Convenience: file -> (joints (T,24,3) metres, head global rotation (T,3,3), fps, kind)."""
    bvh = path_or_bvh if isinstance(path_or_bvh, Bvh) else read_bvh(path_or_bvh)
    kind = skeleton_kind(bvh)
    grot, gpos = forward_kinematics(bvh)
    return (to_smpl24(bvh, gpos, kind, grot, convention), grot[:, bvh.index(HEAD_JOINT[kind])],
            bvh.fps, kind)
