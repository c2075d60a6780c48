"""The 15 DeepMimic humanoid clips of the PyPI ``pybullet`` wheel as SMPL-24 joints at 30 fps.

Source: ``pybullet==3.2.7`` (PyPI; licence **zlib**, ``pybullet-3.2.7.dist-info/LICENSE.txt``) ships
``pybullet_data/data/motions/humanoid3d_*.txt`` (the DeepMimic project's reference motions: crawl,
roll, get-up face-up / face-down, cartwheel, backflip, spin, spin-kick, jump, kick, punch, run,
walk, two dances) and the character ``pybullet_data/humanoid/humanoid.urdf``. The wheel holds no
licence file of its own for the motion data (the DeepMimic repository they come from is reported
MIT-licensed, not checked here; the clips are retargeted from public mocap, CMU / SFU).
:func:`fetch` runs ``pip download --no-deps pybullet==3.2.7`` (or reads a wheel given with
``--wheel``), checks the 17 files it needs against pinned sizes and sha256 and copies them into
``paths.cache_dir()/"mocap"/"deepmimic"``; the wheel itself is neither installed nor kept, and no
code of it runs (the URDF is read with ``xml.etree``, the clips with ``json``).

File format (checked against ``pybullet_envs/deep_mimic/env/humanoid_pose_interpolator.py`` of the
same wheel): ``{"Loop": "wrap" | "none", "Frames": [[44 numbers], ...]}``; a row is ``duration`` (s
until the next row; the last row's is ignored), root position (3, metres, Y up), root quaternion (w, x, y,
z), then chest, neck, right hip (quaternions w, x, y, z), right knee (1 angle, rad), right ankle,
right shoulder (quaternions), right elbow (1), left hip, left knee, left ankle, left shoulder, left
elbow. The character (x forward, y up, z to its right: a proper right-handed body, no reflection) is
the URDF scaled by 0.25 (``humanoid_stable_pd.py`` loads it with ``globalScaling=0.25``): joint
origins are bone offsets in the parent link's frame; knees and elbows are revolute about the link's
z axis (knee angles <= 0, elbow >= 0). Forward kinematics (:func:`forward_kinematics`): ``R_child =
R_parent @ R(q)``, ``p_child = p_parent + R_parent @ (0.25 * origin)``; the root joint sits at the
file's root position (the URDF's ``base -> root`` joint is fixed at 0), i.e. at the hip joints'
level.

SMPL-24 (:func:`to_smpl24`, a stated simple convention, not the learned table of
:mod:`unveil.data.convention`): hips, knees, ankles, shoulders, elbows and wrists are the
character's joint centres. The joints it lacks are points fixed on one of its links, placed where
the body model's default rest skeleton (Anny, ``BodyModel.rest_joints()``, :data:`BODY_REST`) has
them relative to joints both share, scaled to this character: pelvis, spine1, spine2 on the root
link relative to the hip centre (trunk scale = shoulder-centre height over the hip centre, 0.480 m
here against 0.494 m); spine3, neck and the collars on the chest link relative to the shoulder
centre (same scale); head = the body model's neck -> head bone turned by the neck link about the
neck point (the character's own neck pivot is at shoulder height, 12 cm lower: turning about it, the
neck -> head distance would stretch from 10 to 20 cm); feet (the body model's toe-base joint) on the
ankle link relative to the ankle (scaled by leg length, 0.831 / 0.902: they end 1 cm beyond the
character's foot box, whose 17.7 cm is short for a human foot); hands on the elbow link, 11 cm
beyond the wrist along the forearm. One bone crosses a pivot of the character and changes length as
it turns: spine2 -> spine3 (the chest pivot, 21.6-24.1 cm); every other bone is rigid. The face
points come from :func:`corpus.face_points` with the neck link's global rotation as the head
rotation (body-model face offsets).

Time: rows are placed at the cumulative durations (1/60, 1/30, 1/24 or 1/16 s; ``roll`` mixes 1/60
and 1/30) and resampled to 30 fps before the forward kinematics as DeepMimic's pose interpolator
plays them (root and angles linear, quaternions slerped: bone lengths stay exact). ``"wrap"`` clips
are cyclic (the last row is the first pose again): as DeepMimic plays them they are looped, each
cycle shifted by the cycle's horizontal root displacement, until the clip lasts :data:`MIN_SECONDS`
(so every clip is longer than the lifters' 81-frame window). Floor: the character's own floor is y =
0 for every clip (the physics ground plane); one shift for the whole source puts the median over the
upright clips (:data:`UPRIGHT`) of the per-clip 5th percentile of the lower toe joint at the corpus'
:data:`cmu_subset.TOE_FLOOR_HEIGHT` (lying clips keep their height above that floor).

Known flaws of the source (measured, kept as they are): the character has no wrist joint, so a palm
on the floor is a straight hand through it (hands down to 8.7 cm below the floor in getup_facedown,
6 cm in roll); the ``crawl`` loop is not seamless (a 26 cm jump of the left hand at the seam,
against 9 cm per frame at most elsewhere); ``run`` has a one-frame spike of the left arm in every
cycle (the hand moves 46 cm in 1/30 s, 20-25 cm before and after); ``kick`` and ``punch`` (46 and 64
frames, not cyclic) are shorter than the lifters' 81-frame window and never drawn for training.

Splits (chosen before any training, by motion kind: motions the Bandai and CMU training data do not
have): ``eval`` = :data:`EVAL_CLIPS` (get-up from lying face-up, a forward roll, a cartwheel; never
trained or tuned on), ``train`` = the other 12, no ``val`` (the source is 66 s of motion after
looping; the validation windows come from the other sources). Clip names are ``deepmimic-<motion>``
(``deepmimic-getup_faceup``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np

from .. import atomic, paths
from ..errors import MissingAssetError, UnveilError
from ..skeleton import SMPL24_INDEX, SMPL24_NAMES
from . import corpus
from .cmu_subset import TOE_FLOOR_HEIGHT

LAYOUT_VERSION = 1
WHEEL = "pybullet==3.2.7"
PREFIX = "deepmimic-"
SOURCE = "deepmimic"
SPLITS = ("train", "val", "eval")
EVAL_CLIPS = ("deepmimic-getup_faceup", "deepmimic-roll", "deepmimic-cartwheel")
# clips that stand or run on their feet (the floor statistic is measured on these only)
UPRIGHT = ("walk", "run", "jump", "kick", "punch", "spin", "spinkick", "dance_a", "dance_b")
URDF_SCALE = 0.25
MIN_SECONDS = 4.0
ROW = 44
MOTIONS = ("backflip", "cartwheel", "crawl", "dance_a", "dance_b", "getup_facedown", "getup_faceup",
           "jump", "kick", "punch", "roll", "run", "spin", "spinkick", "walk")
_SHA = {
    "LICENSE.txt": ("pybullet-3.2.7.dist-info/LICENSE.txt", 1022, "885cd516a8420acb7c3e0b1a7119913b686495001ae564e3229740460e8cff59"),
    "humanoid.urdf": ("pybullet_data/humanoid/humanoid.urdf", 9809, "4a449f923dcbd242c1c6a3ad15e62047c6cb2fc1d275bf31a339bf60d27a6894"),
    "humanoid3d_backflip.txt": (13536, "ffc5e117f69364e239eeedc86d6a30ab854500a375a1c137a405f1b7652905e6"),
    "humanoid3d_cartwheel.txt": (75101, "17453459a40ec4ea08346072748ae3c7c384b49e619753e9779637fa8a9f7c49"),
    "humanoid3d_crawl.txt": (80707, "104a3b675131a43e7a214e24c0ed631c6a0d814b85c8b66b71ce63b23a5731ae"),
    "humanoid3d_dance_a.txt": (90879, "15ef3731f594edc9ed078170f1075815cc164acaca9e35a46db12a31ac64b717"),
    "humanoid3d_dance_b.txt": (141863, "b5a9d7a3f2304f6242776d7ff6d19d1f6bcb98d78d68622761c3843b614a92b5"),
    "humanoid3d_getup_facedown.txt": (169673, "1bd1a96e9175f65eb66e10f225473b4467bd70c68e283f4006b2ab090e337c0b"),
    "humanoid3d_getup_faceup.txt": (210461, "5936c32d51dad9b0cd5e61df681079d160436cdce845c312f200d7a347c4040d"),
    "humanoid3d_jump.txt": (99221, "a433557e94b193d8a95530572a0e32f387eb6d9996987b4216efb65444c3c641"),
    "humanoid3d_kick.txt": (43601, "177cfb399466309ba7f4a8a987c3b6f6edde1cbe8b2d476e53dc6061ec5d4bac"),
    "humanoid3d_punch.txt": (60287, "1ab4b654cecdb4ff3b2a4bf4086e50397bef28435bb59ab3aedd6a6bdc926fde"),
    "humanoid3d_roll.txt": (55136, "50d75c2243b2859f8dcae4ad8fa14b59054dd9ee529b4fb52ec14470cd982c55"),
    "humanoid3d_run.txt": (23284, "2cbe488023b243e5769299158ce7c78875ec4b701a2ffe6c0beeaf83d16ca87b"),
    "humanoid3d_spin.txt": (49517, "9614f10b92e7a8b123990ad5bcfafc65aa4d8fa8ac7f10ade3c3591122d34425"),
    "humanoid3d_spinkick.txt": (35643, "60ec9c200d96e0cd71693061f24db0bd8da9eb295daf487f6f60f8dfb324075a"),
    "humanoid3d_walk.txt": (36185, "32d082c3599bc40aac50b1afa196ff1e2cf3842bb40f0541ab088845f6328a41"),
}
# name in the cache -> (path inside the wheel, size in bytes, sha256)
FILES = {k: (v if len(v) == 3 else (f"pybullet_data/data/motions/{k}", v[0], v[1])) for k, v in _SHA.items()}

# the character's links in file order after the root: (name, parent, kind, column of the row)
LINKS = (("chest", "root", "sph", 8), ("neck", "chest", "sph", 12),
         ("right_hip", "root", "sph", 16), ("right_knee", "right_hip", "rev", 20),
         ("right_ankle", "right_knee", "sph", 21), ("right_shoulder", "chest", "sph", 25),
         ("right_elbow", "right_shoulder", "rev", 29), ("left_hip", "root", "sph", 30),
         ("left_knee", "left_hip", "rev", 34), ("left_ankle", "left_knee", "sph", 35),
         ("left_shoulder", "chest", "sph", 39), ("left_elbow", "left_shoulder", "rev", 43))
JOINT_NAMES = ("root",) + tuple(n for n, *_ in LINKS) + ("right_wrist", "left_wrist")

# The body model's default rest skeleton (Anny, ``load_body_model("anny").rest_joints()``: x left,
# y up, z forward, metres, pelvis at 0), the joints the mapping needs; tests/test_deepmimic.py
# re-measures them where the body model is built.
BODY_REST = {
    "pelvis": (0.000, 0.000, 0.000), "L_hip": (0.115, -0.009, -0.008), "spine1": (0.000, 0.085, -0.040),
    "L_knee": (0.115, -0.457, -0.008), "spine2": (0.000, 0.161, -0.024), "L_ankle": (0.115, -0.911, -0.008),
    "spine3": (0.000, 0.392, -0.036), "L_foot": (0.125, -0.956, 0.150), "neck": (0.000, 0.586, -0.005),
    "L_collar": (0.025, 0.508, 0.013), "head": (0.000, 0.695, 0.033), "L_shoulder": (0.187, 0.485, 0.009),
    "L_elbow": (0.474, 0.484, 0.009), "L_wrist": (0.733, 0.484, 0.009), "L_hand": (0.847, 0.484, 0.009),
}


# ------------------------------------------------------------------------------------ fetch
def raw_dir() -> Path:
    return paths.cache_dir() / "mocap" / "deepmimic"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def raw_ok() -> bool:
    """True when every file of :data:`FILES` is in :func:`raw_dir` with its pinned size (the
    sha256 is checked when it is copied in and again by :func:`build`)."""
    d = raw_dir()
    return all((d / k).is_file() and (d / k).stat().st_size == size for k, (_, size, _) in FILES.items())


def extract(wheel: str | os.PathLike, log=print) -> Path:
    """Copy the 17 files of :data:`FILES` out of a ``pybullet-3.2.7`` wheel into :func:`raw_dir`
    (each checked against its pinned size and sha256; the wheel is only read as a zip)."""
    wheel = Path(wheel)
    if not wheel.is_file():
        raise MissingAssetError(f"wheel not found: {wheel}")
    try:
        z = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile as e:
        raise MissingAssetError(f"{wheel} is not a wheel (zip): {e}") from e
    out = raw_dir()
    out.mkdir(parents=True, exist_ok=True)
    with z:
        for name, (inner, size, sha) in FILES.items():
            try:
                data = z.read(inner)
            except KeyError:
                raise MissingAssetError(f"{inner} is not in {wheel.name} (expected {WHEEL})") from None
            if len(data) != size or _sha256(data) != sha:
                raise MissingAssetError(f"{inner} in {wheel.name} does not match its pinned size/sha256")
            atomic.write_bytes(out / name, data)
    log(f"DeepMimic: {len(FILES)} files from {wheel.name} -> {out}")
    return out


def fetch(wheel: str | os.PathLike | None = None, force: bool = False, log=print) -> Path:
    """Make sure the clips and the URDF are in :func:`raw_dir`: from ``wheel`` if given, else
    ``python -m pip download --no-deps pybullet==3.2.7`` into a temporary folder (about 100 MB,
    deleted afterwards)."""
    if raw_ok() and not force:
        return raw_dir()
    if wheel is not None:
        return extract(wheel, log=log)
    with tempfile.TemporaryDirectory(prefix="unveil-pybullet-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, WHEEL]
        log(f"downloading {WHEEL} (to extract its DeepMimic clips) ...")
        r = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(Path(tmp).glob("pybullet-*"))
        if r.returncode != 0 or not wheels:
            last = (r.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise MissingAssetError(f"could not download {WHEEL} with pip: {last}")
        if wheels[0].suffix != ".whl":
            raise MissingAssetError(f"pip gave {wheels[0].name}, not a wheel: pass one with --wheel PATH")
        return extract(wheels[0], log=log)


def require_raw() -> Path:
    if not raw_ok():
        raise MissingAssetError("the DeepMimic clips are not in the cache: run `unveil data deepmimic` "
                                "(downloads pybullet==3.2.7 with pip, or --wheel PATH)")
    return raw_dir()


# ------------------------------------------------------------------------------------- read
def read_urdf(text: str) -> dict:
    """The character's joints from the URDF text: {child link: (parent link, origin (3,) metres after
    :data:`URDF_SCALE`, type)}. Only the tags named here are read (no code runs)."""
    try:  # the shipped file ends with a NUL byte after </robot>
        root = ET.fromstring(text.rstrip("\x00").strip())
    except ET.ParseError as e:
        raise UnveilError(f"humanoid URDF is not valid XML: {e}") from None
    out = {}
    for j in root.iter("joint"):
        parent, child, org = j.find("parent"), j.find("child"), j.find("origin")
        if parent is None or child is None:
            raise UnveilError(f"URDF joint {j.get('name')!r} has no parent or child")
        xyz = [float(v) for v in (org.get("xyz", "0 0 0") if org is not None else "0 0 0").split()]
        if len(xyz) != 3:
            raise UnveilError(f"URDF joint {j.get('name')!r}: origin xyz must have 3 numbers")
        out[child.get("link")] = (parent.get("link"), np.array(xyz) * URDF_SCALE, j.get("type"))
    need = [n for n, *_ in LINKS] + ["right_wrist", "left_wrist"]
    missing = [n for n in need if n not in out]
    if missing:
        raise UnveilError(f"humanoid URDF lacks the joints {', '.join(missing)}")
    return out


def read_motion(text: str, name: str = "clip") -> tuple[np.ndarray, bool]:
    """A DeepMimic motion file -> ((N, 44) float64 rows, loops).

    Raises:
        UnveilError: not JSON, no "Frames", a row that is not 44 numbers, a negative or zero
            duration before the last row, or a zero quaternion.
    """
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise UnveilError(f"{name}: not a DeepMimic motion file (invalid JSON: {e.msg} at line {e.lineno})") from None
    if not isinstance(d, dict) or not isinstance(d.get("Frames"), list) or len(d["Frames"]) < 2:
        raise UnveilError(f"{name}: not a DeepMimic motion file (needs a \"Frames\" list of >= 2 rows)")
    try:
        F = np.asarray(d["Frames"], dtype=np.float64)
    except (TypeError, ValueError):
        raise UnveilError(f"{name}: \"Frames\" rows must all be lists of {ROW} numbers") from None
    if F.ndim != 2 or F.shape[1] != ROW:
        raise UnveilError(f"{name}: \"Frames\" rows must have {ROW} numbers, got shape {F.shape}")
    if not np.isfinite(F).all():
        raise UnveilError(f"{name}: non-finite numbers in \"Frames\"")
    if (F[:-1, 0] <= 0).any():
        raise UnveilError(f"{name}: frame durations must be > 0 (row {int(np.argmax(F[:-1, 0] <= 0))})")
    for _, _, kind, col in LINKS + (("root", None, "sph", 4),):
        if kind == "sph" and (np.linalg.norm(F[:, col:col + 4], axis=1) < 1e-6).any():
            raise UnveilError(f"{name}: zero quaternion in columns {col}-{col + 3}")
    return F, d.get("Loop", "none") == "wrap"


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """(..., 4) quaternions (w, x, y, z), normalised here -> (..., 3, 3) rotation matrices."""
    q = np.asarray(q, np.float64)
    if q.shape[-1] != 4:
        raise ValueError(f"quaternions must be (..., 4), got {q.shape}")
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
                     np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
                     np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)], -2)


def _rot_z(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, i = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, -s, o], -1), np.stack([s, c, o], -1), np.stack([o, o, i], -1)], -2)


def forward_kinematics(frames: np.ndarray, urdf: dict) -> tuple[np.ndarray, np.ndarray]:
    """Global joint positions and link rotations of the character.

    Args:
        frames: (T, 44) DeepMimic rows (see the module docstring).
        urdf: :func:`read_urdf` of ``humanoid.urdf``.
    Returns:
        pos (T, 15, 3) metres and rot (T, 15, 3, 3) global rotations, joints in
        :data:`JOINT_NAMES` order (the wrists carry their elbow link's rotation).
    """
    frames = np.asarray(frames, np.float64)
    if frames.ndim != 2 or frames.shape[1] != ROW:
        raise ValueError(f"frames must be (T, {ROW}), got {frames.shape}")
    T = frames.shape[0]
    pos = {"root": frames[:, 1:4]}
    rot = {"root": quat_to_matrix(frames[:, 4:8])}
    for name, parent, kind, col in LINKS:
        local = quat_to_matrix(frames[:, col:col + 4]) if kind == "sph" else _rot_z(frames[:, col])
        off = urdf[name][1]
        pos[name] = pos[parent] + rot[parent] @ off
        rot[name] = rot[parent] @ local
    for side in ("right", "left"):
        pos[f"{side}_wrist"] = pos[f"{side}_elbow"] + rot[f"{side}_elbow"] @ urdf[f"{side}_wrist"][1]
        rot[f"{side}_wrist"] = rot[f"{side}_elbow"]
    return (np.stack([pos[n] for n in JOINT_NAMES], 1).reshape(T, len(JOINT_NAMES), 3),
            np.stack([rot[n] for n in JOINT_NAMES], 1))


# --------------------------------------------------------------------------------- SMPL-24
def _body(name: str) -> np.ndarray:
    """The body model's rest joint in the character's axes (x forward, y up, z right)."""
    x, y, z = BODY_REST[name]
    return np.array([z, y, -x])


def _mirror_z(v: np.ndarray) -> np.ndarray:
    return v * np.array([1.0, 1.0, -1.0])


def derived_offsets(urdf: dict) -> dict[str, tuple[str, np.ndarray, str | None]]:
    """SMPL-24 joint -> (link of the character whose rotation carries it, offset (3,) in that link's
    frame, SMPL-24 joint it hangs from or None for the link's own joint), for the joints the
    character lacks (see the module docstring)."""
    rest_pos, _ = forward_kinematics(rest_frame()[None], urdf)
    P = dict(zip(JOINT_NAMES, rest_pos[0]))
    mid_hip = 0.5 * (P["left_hip"] + P["right_hip"])
    mid_sh = 0.5 * (P["left_shoulder"] + P["right_shoulder"])
    b_hip, b_sh = _body("L_hip") * [1, 1, 0], _body("L_shoulder") * [1, 1, 0]  # body centres (x, y)
    s_trunk = (mid_sh[1] - mid_hip[1]) / (b_sh[1] - b_hip[1])
    leg = np.linalg.norm(P["left_hip"] - P["left_knee"]) + np.linalg.norm(P["left_knee"] - P["left_ankle"])
    b_leg = (np.linalg.norm(_body("L_hip") - _body("L_knee")) + np.linalg.norm(_body("L_knee") - _body("L_ankle")))
    s_leg = leg / b_leg
    forearm = np.linalg.norm(P["left_wrist"] - P["left_elbow"])
    s_arm = forearm / np.linalg.norm(_body("L_wrist") - _body("L_elbow"))
    rest = {}
    for n in ("pelvis", "spine1", "spine2"):
        rest[n] = ("root", mid_hip + s_trunk * (_body(n) - b_hip))
    for n in ("spine3", "neck", "L_collar"):
        rest[n] = ("chest", mid_sh + s_trunk * (_body(n) - b_sh))
    rest["R_collar"] = ("chest", _mirror_z(rest["L_collar"][1]))
    head = s_trunk * (_body("head") - _body("neck"))
    for side, S in (("left", "L"), ("right", "R")):
        foot = s_leg * (_body("L_foot") - _body("L_ankle"))
        hand = s_arm * np.linalg.norm(_body("L_hand") - _body("L_wrist"))
        if S == "R":
            foot = _mirror_z(foot)
        rest[f"{S}_foot"] = (f"{side}_ankle", P[f"{side}_ankle"] + foot)
        rest[f"{S}_hand"] = (f"{side}_elbow", P[f"{side}_wrist"] + hand * np.array([0.0, -1.0, 0.0]))
    # every link is unrotated in the rest frame: an offset is its point minus the link's joint
    out = {n: (link, p - P[link], None) for n, (link, p) in rest.items()}
    # the head turns with the neck link about the body model's neck point (not about the character's
    # neck pivot, 12 cm lower at shoulder height): neck -> head stays a rigid bone
    out["head"] = ("neck", head, "neck")
    return out


def rest_frame() -> np.ndarray:
    """(44,) the character's rest pose (identity rotations, zero angles, root at 0)."""
    f = np.zeros(ROW)
    f[0] = 1.0 / 30
    for _, _, kind, col in LINKS + (("root", None, "sph", 4),):
        if kind == "sph":
            f[col] = 1.0
    return f


DIRECT = {"L_hip": "left_hip", "R_hip": "right_hip", "L_knee": "left_knee", "R_knee": "right_knee",
          "L_ankle": "left_ankle", "R_ankle": "right_ankle", "L_shoulder": "left_shoulder",
          "R_shoulder": "right_shoulder", "L_elbow": "left_elbow", "R_elbow": "right_elbow",
          "L_wrist": "left_wrist", "R_wrist": "right_wrist"}


def to_smpl24(pos: np.ndarray, rot: np.ndarray, offsets: dict) -> np.ndarray:
    """(T, 15, 3) + (T, 15, 3, 3) from :func:`forward_kinematics` and :func:`derived_offsets` ->
    (T, 24, 3) SMPL-24 joints, metres, Y up."""
    if pos.ndim != 3 or pos.shape[1:] != (len(JOINT_NAMES), 3):
        raise ValueError(f"pos must be (T, {len(JOINT_NAMES)}, 3), got {pos.shape}")
    idx = {n: i for i, n in enumerate(JOINT_NAMES)}
    out = np.empty((pos.shape[0], 24, 3))
    for j, name in enumerate(SMPL24_NAMES):
        if name in DIRECT:
            out[:, j] = pos[:, idx[DIRECT[name]]]
        else:
            link, o, anchor = offsets[name]
            base = pos[:, idx[link]] if anchor is None else out[:, SMPL24_INDEX[anchor]]
            out[:, j] = base + rot[:, idx[link]] @ o
    return out


def loop_frames(F: np.ndarray, min_seconds: float = MIN_SECONDS) -> tuple[np.ndarray, int]:
    """A cyclic clip played until it lasts ``min_seconds``: rows repeated without the closing row
    (it is the first pose again), each cycle's root shifted by the cycle's horizontal (x, z) root
    displacement. Returns (rows, cycles)."""
    cycle = float(F[:-1, 0].sum())
    n = max(1, int(np.ceil(min_seconds / cycle)))
    shift = F[-1, 1:4] - F[0, 1:4]
    shift[1] = 0.0
    parts = []
    for k in range(n):
        part = F[:-1].copy() if k < n - 1 else F.copy()
        part[:, 1:4] += k * shift
        parts.append(part)
    return np.concatenate(parts), n


def _slerp(q0: np.ndarray, q1: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(N, 4) x 2 unit quaternions, (N,) weights -> (N, 4) spherical interpolation (shorter arc)."""
    q0 = q0 / np.linalg.norm(q0, axis=-1, keepdims=True)
    q1 = q1 / np.linalg.norm(q1, axis=-1, keepdims=True)
    dot = (q0 * q1).sum(-1)
    q1 = np.where(dot[:, None] < 0, -q1, q1)
    dot = np.abs(dot).clip(-1.0, 1.0)
    th = np.arccos(dot)
    sin = np.sin(th)
    small = sin < 1e-6
    a = np.where(small, 1 - w, np.sin((1 - w) * th) / np.where(small, 1, sin))
    b = np.where(small, w, np.sin(w * th) / np.where(small, 1, sin))
    return a[:, None] * q0 + b[:, None] * q1


def resample_frames(F: np.ndarray, fps: float = corpus.FPS) -> np.ndarray:
    """(N, 44) rows at their cumulative durations -> (T, 44) rows every 1/fps s (as DeepMimic's pose
    interpolator plays them: root position and joint angles linear, quaternions slerped, so bone
    lengths stay exact). The duration column of the result is 1/fps."""
    F = np.asarray(F, np.float64)
    t = np.concatenate([[0.0], np.cumsum(F[:-1, 0])])
    t_out = np.arange(0.0, t[-1] + 1e-9, 1.0 / fps)
    i1 = np.clip(np.searchsorted(t, t_out, side="right"), 1, len(t) - 1)
    i0 = i1 - 1
    w = np.clip((t_out - t[i0]) / (t[i1] - t[i0]), 0.0, 1.0)
    out = F[i0] * (1 - w[:, None]) + F[i1] * w[:, None]  # root position, revolute angles
    for _, _, kind, col in LINKS + (("root", None, "sph", 4),):
        if kind == "sph":
            out[:, col:col + 4] = _slerp(F[i0, col:col + 4], F[i1, col:col + 4], w)
    out[:, 0] = 1.0 / fps
    return out


def process(motion_text: str, urdf_text: str, name: str = "clip", loop: bool = True) -> dict:
    """One DeepMimic motion -> {"joints" (T,24,3) f64 at 30 fps, "face" (T,5,3), "cycles", "fps_in"}
    on the character's floor (no floor shift yet; :func:`build` applies the source's one)."""
    F, wraps = read_motion(motion_text, name)
    urdf = read_urdf(urdf_text)
    cycles = 1
    if wraps and loop:
        F, cycles = loop_frames(F)
    fps_in = float(1.0 / np.median(F[:-1, 0]))
    pos, rot = forward_kinematics(resample_frames(F), urdf)
    joints = to_smpl24(pos, rot, derived_offsets(urdf))
    head_rot = rot[:, JOINT_NAMES.index("neck")]
    face = corpus.face_points(joints, head_rot, "deepmimic", body_convention=True)
    return {"joints": joints, "face": face, "cycles": cycles,
            "fps_in": fps_in}


# ----------------------------------------------------------------------------- splits, cache
def clip_name(motion: str) -> str:
    return PREFIX + motion


def is_eval_name(name: str) -> bool:
    """True for an evaluation clip or anything derived from one (a window, a mirrored copy)."""
    return corpus.base_name(name) in EVAL_CLIPS


def splits(names: list[str]) -> dict[str, list[str]]:
    ev = sorted(n for n in names if is_eval_name(n))
    return corpus.assign_splits(names, ev, [])


def source_id() -> str:
    """``v<LAYOUT_VERSION>-<sha1 of this module's source>`` (keys the array cache and windows)."""
    return f"v{LAYOUT_VERSION}-{hashlib.sha1(Path(__file__).read_bytes()).hexdigest()[:8]}"


def cache_path() -> Path:
    return paths.cache_dir() / "mocap" / f"deepmimic-{source_id()}"


def build(force: bool = False, wheel: str | None = None, log=print) -> dict:
    """Fetch (once) and convert the 15 clips; returns the manifest (``manifest.json``)."""
    out = cache_path()
    man_path = out / "manifest.json"
    if man_path.is_file() and not force:
        return json.loads(man_path.read_text())
    t0 = time.time()
    raw = fetch(wheel=wheel, log=log) if (wheel or not raw_ok()) else raw_dir()
    for k, (_, size, sha) in FILES.items():
        if _sha256((raw / k).read_bytes()) != sha:
            raise MissingAssetError(f"{raw / k} does not match its pinned sha256: run `unveil data deepmimic --force`")
    urdf_text = (raw / "humanoid.urdf").read_text()
    res = {clip_name(m): process((raw / f"humanoid3d_{m}.txt").read_text(), urdf_text, m) for m in MOTIONS}
    toe = [SMPL24_INDEX["L_foot"], SMPL24_INDEX["R_foot"]]
    stat = {n: float(np.percentile(r["joints"][:, toe, 1].min(1), 5)) for n, r in res.items()}
    shift = float(np.median([stat[clip_name(m)] for m in UPRIGHT])) - TOE_FLOOR_HEIGHT
    for r in res.values():
        r["joints"] = (r["joints"] - [0.0, shift, 0.0]).astype(np.float32)
        r["face"] = (r["face"] - [0.0, shift, 0.0]).astype(np.float32)
    sp = splits(list(res))
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"layout": LAYOUT_VERSION, "id": source_id(), "fps": corpus.FPS, "floor_shift_m": round(shift, 4),
                "splits": {}, "clips": {n: {"cycles": r["cycles"], "fps_in": round(r["fps_in"], 2),
                                            "frames": int(r["joints"].shape[0]),
                                            "toe_p5_m": round(stat[n] - shift, 4)} for n, r in res.items()}}
    for s in SPLITS:
        manifest["splits"][s] = corpus.save_split(out, s, sp[s], [SOURCE] * len(sp[s]), [res[n] for n in sp[s]])
    manifest["build_seconds"] = round(time.time() - t0, 1)
    atomic.write_text(man_path, json.dumps(manifest, indent=1))
    corpus.load_arrays.cache_clear()
    for old in out.parent.glob("deepmimic-v*"):  # caches of other layouts
        if old != out and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    log(f"DeepMimic clips built in {manifest['build_seconds']} s -> {out}")
    return manifest


def load_split(split: str) -> list[corpus.MocapClip]:
    """Clips of one split (train | val | eval), building the cache on first use.

    Args:
        split: "train" (12 clips), "val" (none) or "eval" (:data:`EVAL_CLIPS`).
    Returns:
        list of :class:`corpus.MocapClip` (read-only memory maps; meta: motion).
    """
    if split not in SPLITS:
        raise UnveilError(f"unknown DeepMimic split {split!r} (expected one of {', '.join(SPLITS)})")
    out = cache_path()
    if not (out / "manifest.json").is_file():
        build()
    joints, face, starts, names, sources = corpus.load_arrays(split, str(out))
    if split != "eval" and any(is_eval_name(n) for n in names):  # pragma: no cover - a bug, never data
        raise UnveilError(f"evaluation clips in the DeepMimic {split!r} split")
    return [corpus.MocapClip(name=n, source=sources[i], fps=corpus.FPS,
                             joints=joints[int(starts[i]):int(starts[i + 1])],
                             face=face[int(starts[i]):int(starts[i + 1])], meta={"motion": n[len(PREFIX):]})
            for i, n in enumerate(names)]


def main(argv: list[str], prog: str = "unveil data deepmimic") -> int:
    ap = argparse.ArgumentParser(prog=prog, description="Fetch the 15 DeepMimic clips of the PyPI wheel "
                                 f"{WHEEL} (pip download, not installed) and convert them into the cache "
                                 "(SMPL-24 joints + face points, 30 fps).")
    ap.add_argument("--wheel", default=None, help="read this pybullet-3.2.7 wheel instead of downloading it")
    ap.add_argument("--force", action="store_true", help="fetch and rebuild even if the cache exists")
    a = ap.parse_args(argv)
    if a.force or a.wheel:
        fetch(wheel=a.wheel, force=True)
    man = build(force=a.force or bool(a.wheel))
    print(f"DeepMimic: {cache_path()}  (build took {man['build_seconds']} s, floor shift {man['floor_shift_m']} m)")
    for s, d in man["splits"].items():
        print(f"  {s:<6} {d['clips']:>3} clips  {d['frames']:>6} frames  ({d['frames'] / corpus.FPS:.1f} s)")
    for n, c in man["clips"].items():
        print(f"  {n:<32} {c['frames']:>4} frames  {c['cycles']} cycle(s)  from {c['fps_in']:g} fps  "
              f"toe p5 {c['toe_p5_m']:+.3f} m{'  [eval]' if is_eval_name(n) else ''}")
    return 0
