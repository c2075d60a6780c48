"""The mocap corpus: every Bandai clip (and the CMU sanity clip) as SMPL-24 joints at 30 fps.

``unveil data build`` (or the first :func:`load_split`) unpacks
``$UNVEIL_SHARED/data/mocap/bandai-motiondataset.tar.xz`` into ``paths.cache_dir()/"mocap"/"bandai"``,
reads every BVH with :mod:`unveil.data.bvh`, retargets to SMPL-24 joint positions where the body
model has them (:mod:`unveil.data.convention`; metres, world Y up; the capture floor is y = 0, kept as recorded: both sources are already floor-calibrated, see
``floor_check`` in the manifest), resamples to 30 fps (linear; Bandai is 30 fps already, CMU is 120)
and stores one set of read-only ``.npy`` arrays per split (memory-mapped on load).

Splits (by clip, never by frame):

- ``eval``  exactly the 42 clips of ``bandai-eval-split.txt`` -- never returned by train/val.
- ``val``   the clips listed in ``unveil/data/val_split.txt`` (5 % of the remaining clips, chosen
  once by sorting the names by SHA-1 and taking the first 5 %; see :func:`choose_val_split`).
- ``train`` every other Bandai clip.
- ``cmu``   ``cmu/01_01.bvh`` without its added T-pose frame 0.

Face points (nose, l_eye, r_eye, l_ear, r_ear) are not in the mocap; they are derived honestly from
the head joint's *global rotation* ``G_head(t)`` and fixed offsets:

1. Calibrate a head frame in the head bone's local axes, once per clip: the body's facing direction
   ``f(t) = normalize(left(t) x up)`` with ``left = (L_hip - R_hip) + (L_shoulder - R_shoulder)``
   (horizontal) and the head's up ``u(t) = normalize(head - neck)`` are taken into the head's local
   frame (``G_head(t)^T f(t)``), averaged over the clip and orthonormalised (``u`` first);
   ``l = u x f``. The face then turns and nods with ``G_head(t)`` (the head's own rotation).
2. Face point = head joint + s * (a_f F + a_u U + a_l L) with ``F, U, L = G_head(t) @ (f, u, l)``
   and the offsets ``FACE_OFFSETS`` below in metres for a reference body (neck-to-mid-hip
   distance 0.43 m), scaled by ``s = median_t |neck - mid_hip| / 0.43``, plus a per-source lift
   ``HEAD_JOINT_LIFT`` along U that accounts for where each skeleton puts its head joint. Bandai's
   ``Head`` sits 6.4 cm above its ``Neck`` (skull base; +2 cm puts the eyes ~19 cm above the
   shoulder joints, anthropometric tables give ~22 cm for a 1.6 m adult, the skull-base reading
   ~15 cm). CMU's ``Head`` sits 10 cm above ``Neck1`` and 10 cm below the head-top end site
   (1.54 m), i.e. near eye level: -6 cm puts the eyes ~9 cm below the head top.
   The offsets are anthropometric guesses (eyes 7 cm above and 8 cm in front of the skull base,
   6.4 cm apart; ears 15 cm apart, 5 cm above it; nose tip 10 cm in front), not measured on these
   actors: expect a few cm of systematic error on the synthetic face keypoints.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import tarfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import atomic, paths
from ..errors import MissingAssetError, UnveilError
from ..skeleton import COCO17_TO_SMPL24, SMPL24_FLIP, SMPL24_INDEX
from . import bvh as bvhmod
from .convention import load_table
from ..skeleton import SMPL24_INDEX as I

CORPUS_VERSION = 4  # 3: the learned joint convention (unveil.data.convention); 4: the body model's face
FPS = 30.0
SPLITS = ("train", "val", "eval", "cmu")
CORPUS_KINDS = ("bandai", "cmu")  # skeleton kinds of this corpus (their convention tables key its cache)
VAL_FRACTION = 0.05
TARBALL = "bandai-motiondataset.tar.xz"
EVAL_LIST = "bandai-eval-split.txt"
VAL_SPLIT_FILE = Path(__file__).with_name("val_split.txt")

FACE_NAMES = ("nose", "l_eye", "r_eye", "l_ear", "r_ear")
# (forward, up, left) metres relative to the SMPL head joint, reference body (see module doc)
FACE_OFFSETS = np.array([
    [0.100, 0.035, 0.000],   # nose tip
    [0.080, 0.070, 0.032],   # left eye
    [0.080, 0.070, -0.032],  # right eye
    [0.000, 0.050, 0.075],   # left ear (tragus)
    [0.000, 0.050, -0.075],  # right ear
])
REF_TORSO = 0.43
HEAD_JOINT_LIFT = {"bandai": 0.02, "cmu": -0.06}
# For joints in the body model's convention (unveil.data.convention): the face of the body model
# itself, measured on the default Anny rest mesh (the COCO-17 face points of
# ``synthvideo.BodyRig.coco17_rest``, i.e. what a render shows) relative to its head joint, in the
# same (forward, up = head - neck, left) frame, scaled to a neck-to-mid-hip distance of REF_TORSO.
# tests/test_corpus.py re-measures them when the body model is built.
FACE_OFFSETS_BODY = np.array([
    [0.087, 0.032, 0.000],   # nose tip
    [0.059, 0.054, 0.020],   # left eye
    [0.059, 0.054, -0.020],  # right eye
    [-0.013, 0.014, 0.063],  # left ear
    [-0.013, 0.014, -0.063],  # right ear
])


@dataclass
class MocapClip:
    """One mocap clip. Arrays are float32 and read-only (memory-mapped); copy before editing."""

    name: str
    source: str                    # "bandai-1" | "bandai-2" | "cmu"
    fps: float                     # always 30
    joints: np.ndarray             # (T, 24, 3) SMPL-24, metres, world Y up, floor y = 0
    face: np.ndarray               # (T, 5, 3) nose, l_eye, r_eye, l_ear, r_ear
    meta: dict = field(default_factory=dict)  # e.g. {"content": "walk", "style": "normal"}

    @property
    def n_frames(self) -> int:
        return int(self.joints.shape[0])

    def __len__(self) -> int:
        return self.n_frames


def coco17_3d(clip: MocapClip) -> np.ndarray:
    """(T, 17, 3) world positions of the COCO-17 keypoints: face points + SMPL-24 body joints."""
    out = np.empty((clip.n_frames, 17, 3), dtype=np.float32)
    out[:, :5] = clip.face
    body = [j for j in COCO17_TO_SMPL24[5:]]
    out[:, 5:] = clip.joints[:, body]
    return out


# ------------------------------------------------------------------------------- derivation
def _normalize(v, axis=-1):
    return v / np.maximum(np.linalg.norm(v, axis=axis, keepdims=True), 1e-9)


def face_points(joints: np.ndarray, head_rot: np.ndarray, kind: str, body_convention: bool = False) -> np.ndarray:
    """(T,24,3) metres + (T,3,3) head global rotation (file axes = world axes) -> (T,5,3).

    ``body_convention``: the joints are in the body model's convention (a learned table was
    applied): the face is placed with :data:`FACE_OFFSETS_BODY`, otherwise with the anthropometric
    :data:`FACE_OFFSETS` + :data:`HEAD_JOINT_LIFT` of the skeleton kind."""
    J = joints
    I = SMPL24_INDEX
    up = np.array([0.0, 1.0, 0.0])
    left = (J[:, I["L_hip"]] - J[:, I["R_hip"]]) + (J[:, I["L_shoulder"]] - J[:, I["R_shoulder"]])
    left[:, 1] = 0.0
    fwd = _normalize(np.cross(_normalize(left), up))
    hup = _normalize(J[:, I["head"]] - J[:, I["neck"]])
    Rt = np.swapaxes(head_rot, -1, -2)
    u_loc = _normalize(np.einsum("tij,tj->ti", Rt, hup).mean(0))
    f_loc = np.einsum("tij,tj->ti", Rt, fwd).mean(0)
    f_loc = _normalize(f_loc - np.dot(f_loc, u_loc) * u_loc)
    l_loc = np.cross(u_loc, f_loc)
    F = head_rot @ f_loc
    U = head_rot @ u_loc
    L = head_rot @ l_loc
    mid_hip = 0.5 * (J[:, I["L_hip"]] + J[:, I["R_hip"]])
    s = float(np.median(np.linalg.norm(J[:, I["neck"]] - mid_hip, axis=-1))) / REF_TORSO
    if body_convention:
        off = FACE_OFFSETS_BODY.copy()
    else:
        off = FACE_OFFSETS.copy()
        off[:, 1] += HEAD_JOINT_LIFT.get(kind, 0.0)
    off = off * s
    head = J[:, I["head"]]
    return (head[:, None] + off[None, :, 0:1] * F[:, None] + off[None, :, 1:2] * U[:, None]
            + off[None, :, 2:3] * L[:, None])


def resample(x: np.ndarray, fps_in: float, fps_out: float = FPS) -> np.ndarray:
    """Linear resampling along axis 0 (any trailing shape)."""
    if abs(fps_in - fps_out) < 1e-3 * fps_out:
        return x
    T = x.shape[0]
    t_out = np.arange(0.0, (T - 1) / fps_in + 1e-9, 1.0 / fps_out) * fps_in
    i0 = np.clip(np.floor(t_out).astype(np.int64), 0, T - 1)
    i1 = np.minimum(i0 + 1, T - 1)
    w = (t_out - i0).reshape((-1,) + (1,) * (x.ndim - 1))
    return x[i0] * (1 - w) + x[i1] * w


def process_bvh(path: str | os.PathLike, drop_first: bool = False) -> dict:
    """One BVH file -> {"joints": (T,24,3) f32, "face": (T,5,3) f32, "kind", "fps_in"} at 30 fps."""
    b = bvhmod.read_bvh(path)
    kind = bvhmod.skeleton_kind(b)
    grot, gpos = bvhmod.forward_kinematics(b)
    fps = b.fps
    head_rot = grot[:, b.index(bvhmod.HEAD_JOINT[kind])]
    # body joints where the body model has them (unveil.data.convention), and then the body
    # model's own face around its head joint; kinds without a learned table keep the plain
    # mapping and the anthropometric face

    learned = load_table(kind) is not None
    joints = bvhmod.to_smpl24(b, gpos, kind, grot, convention="learned")
    if drop_first:
        joints, head_rot = joints[1:], head_rot[1:]
    face = face_points(joints, head_rot, kind, body_convention=learned)
    return {"joints": resample(joints, fps).astype(np.float32),
            "face": resample(face, fps).astype(np.float32), "kind": kind, "fps_in": fps}


def _process_one(args):
    path, drop_first = args
    return process_bvh(path, drop_first)


# ----------------------------------------------------------------------------------- splits
def _clip_name(path: str | os.PathLike) -> str:
    return Path(path).stem


def read_eval_names(mocap: Path) -> list[str]:
    f = mocap / EVAL_LIST
    if not f.is_file():
        raise MissingAssetError(f"evaluation split list not found: {f}")
    return [_clip_name(line.strip()) for line in f.read_text().splitlines() if line.strip()]


def choose_val_split(names: list[str], eval_names: list[str], fraction: float = VAL_FRACTION) -> list[str]:
    """Deterministic validation subset: non-eval clips sorted by SHA-1 of the name, first ``fraction``."""
    ev = set(eval_names)
    rest = sorted(n for n in names if n not in ev)
    k = max(1, int(round(fraction * len(rest))))
    return sorted(sorted(rest, key=lambda n: hashlib.sha1(n.encode()).hexdigest())[:k])


def read_val_names() -> list[str]:
    if not VAL_SPLIT_FILE.is_file():
        raise MissingAssetError(f"validation split list missing from the package: {VAL_SPLIT_FILE}")
    return [ln.strip() for ln in VAL_SPLIT_FILE.read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]


def assign_splits(names: list[str], eval_names: list[str], val_names: list[str]) -> dict[str, list[str]]:
    ev, va = set(eval_names), set(val_names) - set(eval_names)
    return {"train": sorted(n for n in names if n not in ev and n not in va),
            "val": sorted(n for n in names if n in va),
            "eval": sorted(n for n in names if n in ev)}


def _meta(name: str) -> dict:
    parts = name.split("_")
    if len(parts) >= 4 and parts[0].startswith("dataset-"):
        return {"dataset": parts[0], "content": parts[1], "style": parts[2], "take": parts[3]}
    return {}


# ------------------------------------------------------------------------------------ build
@lru_cache(maxsize=1)
def corpus_id() -> str:
    """``v<CORPUS_VERSION>-<sha1 of the shipped convention tables>``: caches derived from the corpus
    (its own arrays, training windows, renders) are keyed by it, so a re-fitted convention
    (``unveil data convention --fit``) never meets stale data."""
    h = hashlib.sha1()
    # only the tables of the skeleton kinds this corpus holds (Bandai, the CMU sanity clip): the
    # CMU-subset table (convention_cc.json) keys its own cache (unveil.data.cmu_subset)
    for t in sorted(Path(__file__).parent.glob("convention_*.json")):
        if t.stem.split("_", 1)[1] in CORPUS_KINDS:
            h.update(t.name.encode() + t.read_bytes())
    return f"v{CORPUS_VERSION}-{h.hexdigest()[:8]}"


def corpus_dir() -> Path:
    return paths.cache_dir() / "mocap" / f"corpus-{corpus_id()}"


def raw_dir() -> Path:
    return paths.cache_dir() / "mocap" / "bandai"


def _require_mocap() -> Path:
    m = paths.mocap_dir()
    if m is None:
        raise MissingAssetError("the mocap corpus needs the developers' shared data: set UNVEIL_SHARED="
                                "path/to/shared (with data/mocap/bandai-motiondataset.tar.xz)")
    return m


def unpack(mocap: Path, log=print) -> list[Path]:
    """Unpack the Bandai tarball into the cache (once) and return the BVH paths, sorted by name."""
    dst = raw_dir()
    marker = dst / ".unpacked"
    if not marker.is_file():
        t0 = time.time()
        tar_path = mocap / TARBALL
        if not tar_path.is_file():
            raise MissingAssetError(f"mocap archive not found: {tar_path}")
        dst.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tar_path, "r:xz") as tf:
            tf.extractall(dst, filter="data")
        atomic.write_text(marker, f"{TARBALL}\n")
        log(f"unpacked {TARBALL} in {time.time() - t0:.1f} s -> {dst}")
    files = sorted(dst.rglob("*.bvh"), key=lambda p: p.name)
    if not files:
        raise MissingAssetError(f"no BVH files under {dst} (delete {marker} and rebuild)")
    return files


def save_split(out: Path, split: str, names: list[str], sources: list[str], results: list[dict]) -> dict:
    """Write one split's arrays (``SPLIT_joints.npy``, ``_face``, ``_starts``, ``_clips.json``) atomically
    under ``out``; ``results`` are :func:`process_bvh` dicts. Returns {"clips", "frames"}."""
    lengths = np.array([r["joints"].shape[0] for r in results], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    joints = (np.concatenate([r["joints"] for r in results]) if results
              else np.zeros((0, 24, 3), np.float32))
    face = np.concatenate([r["face"] for r in results]) if results else np.zeros((0, 5, 3), np.float32)
    for key, arr in (("joints", joints), ("face", face), ("starts", starts)):
        with atomic.atomic_path(out / f"{split}_{key}.npy") as tmp:
            np.save(tmp, arr)
    atomic.write_text(out / f"{split}_clips.json", json.dumps({"names": names, "sources": sources}))
    return {"clips": len(names), "frames": int(starts[-1])}


def build(force: bool = False, workers: int | None = None, log=print) -> dict:
    """Build the corpus cache; returns the manifest (also written to ``manifest.json``)."""
    out = corpus_dir()
    man_path = out / "manifest.json"
    if man_path.is_file() and not force:
        return json.loads(man_path.read_text())
    mocap = _require_mocap()
    lock_path = paths.cache_dir() / "mocap" / ".build.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:  # one builder at a time (tests of several users, CI)
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - Windows: no lock
            pass
        if man_path.is_file() and not force:  # another process built it while we waited
            return json.loads(man_path.read_text())
        return _build(out, man_path, mocap, workers, log)


def _build(out: Path, man_path: Path, mocap: Path, workers: int | None, log) -> dict:
    t0 = time.time()
    files = unpack(mocap, log=log)
    names = [_clip_name(f) for f in files]
    by_name = dict(zip(names, files))
    eval_names = read_eval_names(mocap)
    missing = sorted(set(eval_names) - set(names))
    if missing:
        raise UnveilError(f"evaluation clips missing from the archive: {', '.join(missing[:5])}")
    splits = assign_splits(names, eval_names, read_val_names())
    workers = workers or max(1, min(os.cpu_count() or 1, int(os.environ.get("UNVEIL_THREADS", "0") or 0) or 2))
    jobs = [(str(by_name[n]), False) for s in ("train", "val", "eval") for n in splits[s]]
    cmu = mocap / "cmu" / "01_01.bvh"
    if cmu.is_file():
        jobs.append((str(cmu), True))
    log(f"retargeting {len(jobs)} clips on {workers} process(es) ...")
    t1 = time.time()
    if workers > 1:
        with ProcessPoolExecutor(workers) as ex:
            results = list(ex.map(_process_one, jobs, chunksize=16))
    else:
        results = [_process_one(j) for j in jobs]
    t_proc = time.time() - t1
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"version": CORPUS_VERSION, "fps": FPS, "splits": {}}
    k = 0
    floor = []
    for s in ("train", "val", "eval"):
        res = results[k: k + len(splits[s])]
        k += len(splits[s])
        srcs = [n.split("_")[0].replace("dataset-", "bandai-") for n in splits[s]]
        manifest["splits"][s] = save_split(out, s, splits[s], srcs, res)
        floor += [float(np.percentile(r["joints"][:, [10, 11], 1].min(1), 5)) for r in res]
    if cmu.is_file():
        manifest["splits"]["cmu"] = save_split(out, "cmu", ["cmu-01_01"], ["cmu"], results[k:k + 1])
    else:
        manifest["splits"]["cmu"] = save_split(out, "cmu", [], [], [])
    fl = np.array(floor)
    manifest["floor_check"] = {
        "what": "per clip, 5th percentile of the lower toe joint height (m)",
        "median": float(np.median(fl)), "min": float(fl.min()), "max": float(fl.max())}
    manifest["build_seconds"] = round(time.time() - t0, 1)
    manifest["retarget_seconds"] = round(t_proc, 1)
    manifest["workers"] = workers
    atomic.write_text(man_path, json.dumps(manifest, indent=1))
    load_arrays.cache_clear()
    for old in out.parent.glob("corpus-v*"):  # caches of older layouts (open memory maps survive)
        if old != out and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
    log(f"corpus built in {manifest['build_seconds']} s -> {out}")
    return manifest


# ------------------------------------------------------------------------------------- load
@lru_cache(maxsize=12)
def load_arrays(split: str, root: str):
    """Memory-mapped arrays of one split written by :func:`save_split` under ``root``:
    (joints (N,24,3), face (N,5,3), starts (C+1,), names, sources)."""
    out = Path(root)
    joints = np.load(out / f"{split}_joints.npy", mmap_mode="r", allow_pickle=False)
    face = np.load(out / f"{split}_face.npy", mmap_mode="r", allow_pickle=False)
    starts = np.load(out / f"{split}_starts.npy", allow_pickle=False)
    info = json.loads((out / f"{split}_clips.json").read_text())
    return joints, face, starts, info["names"], info["sources"]


def load_split(split: str, max_clips: int | None = None, seed: int = 0) -> list[MocapClip]:
    """Clips of one split (train | val | eval | cmu), building the cache on first use.

    ``max_clips``: a deterministic random subset (``numpy.random.default_rng(seed)``), kept in
    name order. Arrays are read-only memory maps.
    """
    if split not in SPLITS:
        raise UnveilError(f"unknown mocap split {split!r} (expected one of {', '.join(SPLITS)})")
    out = corpus_dir()
    if not (out / "manifest.json").is_file():
        build()
    joints, face, starts, names, sources = load_arrays(split, str(out))
    mocap = paths.mocap_dir()
    if split in ("train", "val") and mocap is not None and (mocap / EVAL_LIST).is_file():
        if set(names) & set(read_eval_names(mocap)):  # stale cache vs a changed eval list: rebuild
            build(force=True)
            joints, face, starts, names, sources = load_arrays(split, str(out))
            if set(names) & set(read_eval_names(mocap)):  # pragma: no cover - a bug, never data
                raise UnveilError(f"evaluation clips in the {split!r} split after a rebuild")
    idx = np.arange(len(names))
    if max_clips is not None and max_clips < len(names):
        idx = np.sort(np.random.default_rng(seed).choice(len(names), size=max_clips, replace=False))
    clips = []
    for i in idx:
        a, b = int(starts[i]), int(starts[i + 1])
        clips.append(MocapClip(name=names[i], source=sources[i], fps=FPS, joints=joints[a:b],
                               face=face[a:b], meta=_meta(names[i])))
    return clips


# ------------------------------------------------------------------ mirroring, training pools
MIRROR_TAG = "@mirror"  # name suffix of a mirrored clip; "@" keeps the base name (``base_name``)
# face points left <-> right: nose, l_eye, r_eye, l_ear, r_ear
FACE_FLIP = (0, 2, 1, 4, 3)


def base_name(name: str) -> str:
    """The source clip of a derived clip: ``NAME@mirror@120`` (a mirrored window) -> ``NAME``."""
    return name.split("@")[0]


def mirror_clip(clip: MocapClip) -> MocapClip:
    """The clip reflected left <-> right: world x -> -x (a reflection in the vertical y-z plane; Y
    stays up, the floor stays at y = 0) and every left joint / face point swapped with its right
    one, so the result is again a body with its left side on its left. An involution up to the
    name: ``mirror_clip(mirror_clip(c))`` has ``c``'s arrays. Named ``NAME@mirror``.

    Args:
        clip: a corpus clip (joints (T,24,3), face (T,5,3)).
    Returns:
        a new :class:`MocapClip` with float32 copies (writable) of the mirrored arrays.
    """
    flip = np.array([-1.0, 1.0, 1.0], np.float32)
    joints = np.asarray(clip.joints, np.float32)[:, list(SMPL24_FLIP)] * flip
    face = np.asarray(clip.face, np.float32)[:, list(FACE_FLIP)] * flip
    name = clip.name[: -len(MIRROR_TAG)] if clip.name.endswith(MIRROR_TAG) else clip.name + MIRROR_TAG
    meta = dict(clip.meta)
    meta["mirrored"] = not meta.get("mirrored", False)
    return MocapClip(name=name, source=clip.source, fps=clip.fps, joints=joints, face=face, meta=meta)


def eval_clip_names() -> set[str]:
    """Every clip that must never reach training: the Bandai evaluation split, the CMU subset's
    evaluation subject (empty sets where ``UNVEIL_SHARED`` is unset) and the DeepMimic evaluation
    clips (:data:`unveil.data.deepmimic.EVAL_CLIPS`, always)."""
    from . import cmu_subset, deepmimic  # deferred: import cycle (both import unveil.data.corpus at module level)

    m = paths.mocap_dir()
    ev = set(read_eval_names(m)) if m is not None and (m / EVAL_LIST).is_file() else set()
    return ev | cmu_subset.eval_names() | set(deepmimic.EVAL_CLIPS)


def is_eval_clip(name: str, eval_names: set[str] | None = None) -> bool:
    """True for an evaluation clip or anything derived from one (a window, a mirrored copy).
    ``eval_names``: :func:`eval_clip_names` if already at hand (computed otherwise)."""
    from . import cmu_subset, deepmimic  # deferred: import cycle (both import unveil.data.corpus at module level)

    b = base_name(name)
    ev = eval_clip_names() if eval_names is None else eval_names
    return cmu_subset.is_eval_name(b) or deepmimic.is_eval_name(b) or b in ev


TRAINING_SOURCES = ("bandai", "cmu", "cmuscaled", "deepmimic")


def parse_mix(mix: str) -> tuple[dict[str, int], bool]:
    """``"bandai"`` | ``"bandai+cmu"`` | ``"bandai+cmu*10+mirror"`` | ... -> ({source: repeats}, mirror).

    ``SOURCE*K`` lists that source's clips K times: windows are drawn in proportion to clip
    length, so K up-weights a small source (the CMU subset is 2.3 % of the Bandai training frames)."""
    parts = [p.strip() for p in mix.split("+") if p.strip()]
    mirror = "mirror" in parts
    sources: dict[str, int] = {}
    bad = []
    for p in parts:
        if p == "mirror":
            continue
        name, _, k = p.partition("*")
        if name not in TRAINING_SOURCES or (k and not (k.isdigit() and int(k) >= 1)):
            bad.append(p)
            continue
        sources[name] = int(k) if k else 1
    if bad or not sources:
        raise UnveilError(f"unknown training mix {mix!r} (sources: {', '.join(TRAINING_SOURCES)}, each "
                          "optionally '*K' (K repeats), optionally '+mirror', e.g. 'bandai+cmu*10+mirror')")
    return sources, mirror


def median_leg_length(clips: list[MocapClip]) -> float:
    """Median over frames of the left leg length (hip-knee + knee-ankle, metres) of ``clips``."""
    legs = []
    for c in clips:
        j = np.asarray(c.joints, np.float64)
        legs.append(np.linalg.norm(j[:, I["L_hip"]] - j[:, I["L_knee"]], axis=-1)
                    + np.linalg.norm(j[:, I["L_knee"]] - j[:, I["L_ankle"]], axis=-1))
    return float(np.median(np.concatenate(legs)))


def scale_clip(clip: MocapClip, s: float) -> MocapClip:
    """The clip scaled by ``s`` about the world origin (a smaller or larger body doing the same
    motion: strides scale too, the floor stays at y = 0). Named ``NAME@x<s>``."""
    return MocapClip(name=f"{clip.name}@x{s:.3f}", source=clip.source, fps=clip.fps,
                     joints=(np.asarray(clip.joints, np.float32) * np.float32(s)),
                     face=(np.asarray(clip.face, np.float32) * np.float32(s)), meta=dict(clip.meta))


def training_clips(split: str, mix: str = "bandai") -> list[MocapClip]:
    """The clips a training recipe may use: ``split`` "train" or "val" of every source in ``mix``
    (``"bandai"``: this corpus, exactly what :func:`load_split` returns; ``"cmu"``: the CMU subset
    on the Character Creator rig, :mod:`unveil.data.cmu_subset`; ``"cmuscaled"``: the same clips
    scaled to the Bandai training split's median leg length — every CMU actor was retargeted onto one
    1.85 m rig, a body size that is an artefact of the conversion, not of the actors; ``"deepmimic"``:
    the 12 training clips of :mod:`unveil.data.deepmimic`, no "val" clips), plus a left <-> right mirrored
    copy of each clip with ``+mirror``. Evaluation clips (Bandai evaluation split, CMU subject 2,
    the DeepMimic evaluation clips) can never be in it: they are filtered again here and an :class:`UnveilError` is raised if
    one was returned by a loader (a stale cache).

    Args:
        split: "train" or "val".
        mix: sources joined by "+", each optionally "*K" (repeats), optionally "+mirror"
            (see :func:`parse_mix`).
    Returns:
        list of :class:`MocapClip` (Bandai first, then CMU, then DeepMimic; each mirrored copy after
        its source).
    """
    from . import cmu_subset, deepmimic  # deferred: import cycle (both import unveil.data.corpus at module level)

    if split not in ("train", "val"):
        raise UnveilError(f"training clips come only from 'train' or 'val', not {split!r}")
    sources, mirror = parse_mix(mix)
    clips: list[MocapClip] = []
    if "bandai" in sources:
        clips += load_split(split) * sources["bandai"]
    if "cmu" in sources:
        clips += cmu_subset.load_split(split) * sources["cmu"]
    if "cmuscaled" in sources:
        ref = median_leg_length(load_split("train", max_clips=200, seed=0))
        clips += [scale_clip(c, ref / median_leg_length([c])) for c in cmu_subset.load_split(split)] * sources["cmuscaled"]
    if "deepmimic" in sources:
        clips += deepmimic.load_split(split) * sources["deepmimic"]
    ev = eval_clip_names()
    leaked = sorted({c.name for c in clips if is_eval_clip(c.name, ev)})
    if leaked:
        raise UnveilError(f"evaluation clips in the {split!r} training pool: {', '.join(leaked[:5])}")
    if mirror:
        clips = [x for c in clips for x in (c, mirror_clip(c))]
    return clips


# -------------------------------------------------------------------------------------- CLI
def main(argv: list[str], prog: str = "unveil data build") -> int:
    ap = argparse.ArgumentParser(prog=prog, description="Unpack and retarget the mocap corpus into the "
                                 "cache (SMPL-24 joints + face points, 30 fps, one array set per split).")
    ap.add_argument("--force", action="store_true", help="rebuild even if the cache exists")
    ap.add_argument("--workers", type=int, default=None, help="processes (default: --threads / 2)")
    ap.add_argument("--write-val-split", action="store_true",
                    help="(maintainers) regenerate unveil/data/val_split.txt from the archive")
    args = ap.parse_args(argv)
    if args.write_val_split:
        mocap = _require_mocap()
        names = [_clip_name(f) for f in unpack(mocap)]
        val = choose_val_split(names, read_eval_names(mocap))
        atomic.write_text(VAL_SPLIT_FILE, "# validation clips (5% of non-eval Bandai clips, SHA-1 order); "
                          "see unveil.data.corpus.choose_val_split\n" + "\n".join(val) + "\n")
        print(f"wrote {len(val)} names to {VAL_SPLIT_FILE}")
        return 0
    man = build(force=args.force, workers=args.workers)
    print(f"corpus: {corpus_dir()}  (build took {man['build_seconds']} s, retarget {man['retarget_seconds']} s)")
    for s, d in man["splits"].items():
        print(f"  {s:<6} {d['clips']:>5} clips  {d['frames']:>7} frames  ({d['frames'] / FPS / 60:.1f} min)")
    fc = man["floor_check"]
    print(f"  floor check (5th pct toe height per clip, m): median {fc['median']:.3f} "
          f"min {fc['min']:.3f} max {fc['max']:.3f}")
    return 0
