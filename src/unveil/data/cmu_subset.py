"""The CMU subset on a Character Creator rig: 61 CMU clips as SMPL-24 joints at 30 fps.

``$UNVEIL_SHARED/data/mocap/cmu-subset-iclone.tar.xz`` (the public ``IClone-CMU-Mocap`` conversion
of CMU Graphics Lab clips of subjects 1, 2, 3, 5, 6, 7 onto a ``CC_Base_*`` rig; CMU terms: free for
research, may be included in commercial products, the data itself may not be resold) is unpacked
once into ``paths.cache_dir()/"mocap"/"cmu-iclone"``, read with :mod:`unveil.data.bvh` (skeleton
kind ``"cc"``, centimetres, Y up, 60 fps), retargeted to SMPL-24 where the body model has its joints
(the learned convention of :mod:`unveil.data.convention`, table ``convention_cc.json``, fitted on
the non-evaluation clips only) and resampled to 30 fps. The arrays are cached beside the Bandai
corpus in ``mocap/cmusub-<id>`` (the id hashes this module's layout version and the ``cc`` table,
so the Bandai corpus cache and its id are untouched) and loaded as :class:`corpus.MocapClip`.

What the files really hold (measured on all 61 clips, see ``tests/test_cmu_subset.py``):

- **T-pose frame.** Only subject 7's clips 3-12 start with a T-pose (arms horizontal, a 2.5-3 m
  jump of the root into the first motion frame); every other clip starts in motion (frame 0 -> 1
  moves no joint more than 10 cm). The first frame is dropped where it is such a jump
  (:func:`first_motion_frame`), never blindly.
- **Floor.** Two export layouts: 002_01-03 and 007_01 stand on y = 0 (the rig root on the floor),
  the other clips put the hips near y = 0 (floor ~ -0.9 m). Each clip is shifted vertically so the
  5th percentile of its lower toe joint's height is :data:`TOE_FLOOR_HEIGHT` (the Bandai corpus'
  median of the same statistic, its ``floor_check``); the shift is stored per clip in the manifest.
  Uneven-terrain and playground clips (subjects 1, 3) keep their terrain relative to that floor.
- **One rig for six actors.** Every file has the same bone offsets (the conversion's rig: leg
  1.61 m of leg+spine bones): the clips add motion, not new body proportions.

Splits (by clip): ``eval`` every clip of subject 2 (``002_*``, 10 clips: an unseen actor, never
trained or tuned on); ``val`` 10 % of the others chosen by SHA-1 of the name
(:func:`corpus.choose_val_split`); ``train`` the rest. Clip names are ``cmu-cc-SSS_TT``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import tarfile
import time
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

import numpy as np

from .. import atomic, paths
from ..errors import MissingAssetError, UnveilError
from ..skeleton import SMPL24_INDEX
from . import bvh as bvhmod
from . import corpus
from .convention import load_table, table_path

LAYOUT_VERSION = 2  # 2: floor shift measured on the 30 fps frames
TARBALL = "cmu-subset-iclone.tar.xz"
KIND = "cc"
PREFIX = "cmu-cc-"
EVAL_SUBJECT = "002"
SPLITS = ("train", "val", "eval")
VAL_FRACTION = 0.10
SOURCE = "cmu-iclone"
# 5th percentile of the lower toe joint height per clip: the Bandai corpus' median (its manifest's
# floor_check, 0.048 m, measured on corpus v4)
TOE_FLOOR_HEIGHT = 0.048
# a first frame that is a T-pose added in front of the motion: some joint jumps this far (m) into
# frame 1 (1/60 s; 0.3 m would be 18 m/s). Measured: T-pose clips jump 2.5-3.1 m, others <= 0.10 m
TPOSE_JUMP = 0.3


def clip_name(path: str | os.PathLike) -> str:
    """``.../002_01.bvh`` -> ``cmu-cc-002_01``."""
    return PREFIX + Path(path).stem


def subject_of(name: str) -> str:
    """``cmu-cc-002_01`` (or a derived name) -> ``"002"``."""
    return corpus.base_name(name)[len(PREFIX):].split("_")[0]


def is_eval_name(name: str) -> bool:
    """True for a clip of the evaluation subject (or anything derived from one)."""
    b = corpus.base_name(name)
    return b.startswith(PREFIX) and subject_of(b) == EVAL_SUBJECT


def eval_names() -> set[str]:
    """Names of the evaluation clips in the archive (empty without the shared data)."""
    m = paths.mocap_dir()
    if m is None or not (m / TARBALL).is_file():
        return set()
    return {n for n in _archive_names(str(m / TARBALL)) if is_eval_name(n)}


@lru_cache(maxsize=2)
def _archive_names(tar_path: str) -> tuple[str, ...]:
    d = raw_dir()
    if (d / ".unpacked").is_file():
        return tuple(sorted(clip_name(f) for f in d.rglob("*.bvh")))
    with tarfile.open(tar_path, "r:xz") as tf:
        return tuple(sorted(clip_name(m.name) for m in tf.getmembers() if m.name.endswith(".bvh")))


def raw_dir() -> Path:
    return paths.cache_dir() / "mocap" / "cmu-iclone"


def subset_id() -> str:
    """``v<LAYOUT_VERSION>-<sha1 of convention_cc.json>`` (``-plain`` without a table)."""
    import hashlib

    t = table_path(KIND)
    if not t.is_file():
        return f"v{LAYOUT_VERSION}-plain"
    return f"v{LAYOUT_VERSION}-{hashlib.sha1(t.read_bytes()).hexdigest()[:8]}"


def cache_path() -> Path:
    return paths.cache_dir() / "mocap" / f"cmusub-{subset_id()}"


def require_archive() -> Path:
    m = paths.mocap_dir()
    if m is None:
        raise MissingAssetError("the CMU subset needs the developers' shared data: set UNVEIL_SHARED="
                                f"path/to/shared (with data/mocap/{TARBALL})")
    if not (m / TARBALL).is_file():
        raise MissingAssetError(f"mocap archive not found: {m / TARBALL}")
    return m


def unpack(log=print) -> list[Path]:
    """Unpack the archive into the cache (once); the BVH paths sorted by name."""
    m = require_archive()
    dst = raw_dir()
    marker = dst / ".unpacked"
    if not marker.is_file():
        t0 = time.time()
        dst.mkdir(parents=True, exist_ok=True)
        with tarfile.open(m / TARBALL, "r:xz") as tf:
            tf.extractall(dst, filter="data")
        atomic.write_text(marker, f"{TARBALL}\n")
        _archive_names.cache_clear()
        log(f"unpacked {TARBALL} in {time.time() - t0:.1f} s -> {dst}")
    files = sorted(dst.rglob("*.bvh"), key=lambda p: p.name)
    if not files:
        raise MissingAssetError(f"no BVH files under {dst} (delete {marker} and rebuild)")
    return files


def descriptions() -> dict[str, str]:
    """Clip name -> CMU's motion description (``CMU_data.csv`` of the archive)."""
    out = {}
    for f in raw_dir().rglob("CMU_data.csv"):
        with open(f, newline="") as fh:
            for row in csv.DictReader(fh):
                try:
                    out[f"{PREFIX}{int(row['Subject']):03d}_{int(row['Trial #']):02d}"] = row["Motion Description"]
                except (KeyError, ValueError):
                    continue
    return out


def splits(names: list[str]) -> dict[str, list[str]]:
    """Clip names -> {"train", "val", "eval"} (eval = subject 2; val = 10 % of the rest by SHA-1)."""
    ev = sorted(n for n in names if is_eval_name(n))
    val = corpus.choose_val_split(names, ev, VAL_FRACTION)
    return corpus.assign_splits(names, ev, val)


# ------------------------------------------------------------------------------------- process
def first_motion_frame(gpos: np.ndarray, scale: float = 0.01) -> int:
    """1 if frame 0 is an added T-pose (some joint jumps more than :data:`TPOSE_JUMP` m into frame
    1), else 0. ``gpos``: (T, J, 3) BVH joint positions in file units (``scale`` m per unit)."""
    if len(gpos) < 2:
        return 0
    jump = float(np.linalg.norm(gpos[1] - gpos[0], axis=-1).max()) * scale
    return 1 if jump > TPOSE_JUMP else 0


def floor_shift(joints: np.ndarray) -> float:
    """Height (m) to subtract so the clip's toe statistic matches :data:`TOE_FLOOR_HEIGHT`.

    Args:
        joints: (T, 24, 3) SMPL-24 joints, metres, Y up.
    Returns:
        5th percentile over frames of the lower toe joint's height, minus TOE_FLOOR_HEIGHT.
    """
    toes = joints[:, [SMPL24_INDEX["L_foot"], SMPL24_INDEX["R_foot"]], 1].min(1)
    return float(np.percentile(toes, 5)) - TOE_FLOOR_HEIGHT


def process(path: str | os.PathLike, convention: str = "learned") -> dict:
    """One CMU-subset BVH -> {"joints" (T,24,3) f32, "face" (T,5,3) f32, "fps_in", "dropped",
    "floor_shift"} at 30 fps, metres, Y up, floor y = 0 (see the module docstring)."""
    b = bvhmod.read_bvh(path)
    kind = bvhmod.skeleton_kind(b)
    if kind != KIND:
        raise UnveilError(f"{path}: expected a Character Creator (CC_Base_*) skeleton, found {kind!r}")
    grot, gpos = bvhmod.forward_kinematics(b)
    s = first_motion_frame(gpos, bvhmod.UNIT_SCALE[kind])
    grot, gpos = grot[s:], gpos[s:]
    head_rot = grot[:, b.index(bvhmod.HEAD_JOINT[kind])]
    joints = bvhmod.to_smpl24(b, gpos, kind, grot, convention=convention)
    learned = convention == "learned" and load_table(kind) is not None
    face = corpus.face_points(joints, head_rot, kind, body_convention=learned)
    joints, face = corpus.resample(joints, b.fps), corpus.resample(face, b.fps)
    shift = floor_shift(joints)  # on the 30 fps frames the corpus keeps
    joints[..., 1] -= shift
    face[..., 1] -= shift
    return {"joints": joints.astype(np.float32), "face": face.astype(np.float32), "kind": kind,
            "fps_in": b.fps, "dropped": s, "floor_shift": shift}


def build(force: bool = False, workers: int | None = None, log=print) -> dict:
    """Build the cached arrays (once); returns the manifest."""
    out = cache_path()
    man_path = out / "manifest.json"
    if man_path.is_file() and not force:
        return json.loads(man_path.read_text())
    lock_path = paths.cache_dir() / "mocap" / ".build-cmusub.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        except ImportError:  # pragma: no cover - Windows: no lock
            pass
        if man_path.is_file() and not force:
            return json.loads(man_path.read_text())
        t0 = time.time()
        files = unpack(log=log)
        by_name = {clip_name(f): f for f in files}
        sp = splits(list(by_name))
        workers = workers or max(1, min(os.cpu_count() or 1, int(os.environ.get("UNVEIL_THREADS", "0") or 0) or 2))
        order = [n for s in SPLITS for n in sp[s]]
        jobs = [str(by_name[n]) for n in order]
        log(f"retargeting {len(jobs)} CMU-subset clips on {workers} process(es) ...")
        if workers > 1:
            with ProcessPoolExecutor(workers) as ex:
                results = list(ex.map(process, jobs))
        else:
            results = [process(j) for j in jobs]
        res = dict(zip(order, results))
        out.mkdir(parents=True, exist_ok=True)
        manifest = {"layout": LAYOUT_VERSION, "id": subset_id(), "fps": corpus.FPS, "splits": {},
                    "clips": {n: {"dropped_first_frame": bool(r["dropped"]),
                                  "floor_shift_m": round(r["floor_shift"], 4)} for n, r in res.items()}}
        for s in SPLITS:
            manifest["splits"][s] = corpus.save_split(out, s, sp[s], [SOURCE] * len(sp[s]), [res[n] for n in sp[s]])
        manifest["build_seconds"] = round(time.time() - t0, 1)
        atomic.write_text(man_path, json.dumps(manifest, indent=1))
        corpus.load_arrays.cache_clear()
        for old in out.parent.glob("cmusub-*"):  # caches of other tables / layouts
            if old != out and old.is_dir():
                shutil.rmtree(old, ignore_errors=True)
        log(f"CMU subset built in {manifest['build_seconds']} s -> {out}")
        return manifest


def load_split(split: str) -> list[corpus.MocapClip]:
    """Clips of one split (train | val | eval), building the cache on first use.

    Args:
        split: "train", "val" or "eval" (= every clip of subject 2).
    Returns:
        list of :class:`corpus.MocapClip` (read-only memory maps; meta: subject, description).
    """
    if split not in SPLITS:
        raise UnveilError(f"unknown CMU-subset split {split!r} (expected one of {', '.join(SPLITS)})")
    out = cache_path()
    if not (out / "manifest.json").is_file():
        build()
    joints, face, starts, names, sources = corpus.load_arrays(split, str(out))
    if split != "eval" and any(is_eval_name(n) for n in names):  # pragma: no cover - a bug, never data
        raise UnveilError(f"evaluation clips in the CMU-subset {split!r} split")
    desc = descriptions()
    clips = []
    for i, n in enumerate(names):
        a, b = int(starts[i]), int(starts[i + 1])
        clips.append(corpus.MocapClip(name=n, source=sources[i], fps=corpus.FPS, joints=joints[a:b],
                                      face=face[a:b], meta={"subject": subject_of(n),
                                                            "description": desc.get(n, "")}))
    return clips


def main(argv: list[str], prog: str = "unveil data cmu") -> int:
    ap = argparse.ArgumentParser(prog=prog, description="Unpack and retarget the CMU subset (Character "
                                 "Creator rig) into the cache: SMPL-24 joints + face points, 30 fps.")
    ap.add_argument("--force", action="store_true", help="rebuild even if the cache exists")
    ap.add_argument("--workers", type=int, default=None)
    a = ap.parse_args(argv)
    man = build(force=a.force, workers=a.workers)
    print(f"CMU subset: {cache_path()}  (build took {man['build_seconds']} s)")
    for s, d in man["splits"].items():
        print(f"  {s:<6} {d['clips']:>3} clips  {d['frames']:>6} frames  ({d['frames'] / corpus.FPS / 60:.1f} min)")
    dropped = sorted(n for n, c in man["clips"].items() if c["dropped_first_frame"])
    print(f"  T-pose first frame dropped in {len(dropped)} clips: {', '.join(n[len(PREFIX):] for n in dropped)}")
    sh = np.array([c["floor_shift_m"] for c in man["clips"].values()])
    print(f"  floor shift (m): min {sh.min():.3f} median {np.median(sh):.3f} max {sh.max():.3f}")
    return 0
