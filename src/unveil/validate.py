"""Checks of every ``unveil run`` option and input before any heavy work, and the run's outcome.

:func:`check_run` runs first in :func:`unveil.pipeline.run`, before OUT is created: a bad option,
an unreadable or odd input, a missing detector model or a body-model file that does not load is a
one-line :class:`~unveil.errors.UnveilError` (non-zero exit) and leaves no OUT behind.

:func:`outcome` decides ``summary.json``'s ``"status"`` after a run:

- ``"failed"``: an output the run was asked for is missing (a GLB/BVH/viewer the disk refused, an
  overlay that could not be encoded, a 3D stage that crashed or did not import). ``unveil run``
  then exits non-zero (:class:`IncompleteRunError`) with the first reason.
- ``"degraded"``: everything asked for was written but a note says the result is weaker than usual
  (trajectory prior skipped, a track without 3D because it is too short or has no confident
  keypoint, no person found).
- ``"ok"``: neither.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import UnveilError
from . import body

MAX_IMAGE_SIDE = 16384
MAX_FPS = 1000.0
# --focal range, in units of the larger image side: 0.05 is a ~170 deg field of view, 100 a 0.6 deg
# telephoto (a 600 mm lens on a full-frame sensor is ~17 image widths)
FOCAL_RANGE = (0.05, 100.0)


class IncompleteRunError(UnveilError):
    """The run finished but could not write an output it was asked for."""

    exit_code = 4


@dataclass
class CheckedInputs:
    """What :func:`check_run` read while checking (reused by the run, not read twice)."""

    video_info: object | None = None  # unveil.types.VideoInfo
    keypoints: object | None = None   # unveil.io.keypoints_json.KeypointsFile
    width: int = 0
    height: int = 0


def check_number(name: str, value, lo: float | None = None, hi: float | None = None, integer: bool = False,
                 lo_open: bool = False):
    """A finite number within [lo, hi] (``lo_open``: above ``lo``), else a one-line error.

    Args:
        name: how the option is called in the message (``--focal``).
        value: the value to check (``None`` passes: an option left out).

    Returns:
        the value unchanged.
    """
    if value is None:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UnveilError(f"{name} must be a number (got {value!r})")
    if not math.isfinite(value):
        raise UnveilError(f"{name} must be a finite number (got {value!r})")
    if integer and value != int(value):
        raise UnveilError(f"{name} must be a whole number (got {value!r})")
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise UnveilError(f"{name} must be {'above' if lo_open else 'at least'} {lo:g} (got {value!r})")
    if hi is not None and value > hi:
        raise UnveilError(f"{name} must be at most {hi:g} (got {value!r})")
    return value


def check_threads(n: int | None) -> tuple[int | None, str | None]:
    """``--threads N``: at least 1; above the CPU count it is capped (returns the note to print).

    Returns:
        (threads to use or None, a note or None)
    """
    if n is None:
        return None, None
    check_number("--threads", n, lo=1, integer=True)
    cores = os.cpu_count() or 1
    if n > cores:
        return cores, f"--threads {n} capped to {cores} (the CPU count): more threads only cost memory"
    return int(n), None


def check_run(video=None, keypoints_json=None, out_dir="out", body_model="anny", focal=None, start=0, end=None,
              stride=1, max_frames=None, redetect_every=5, need_body=True, need_detector=True) -> CheckedInputs:
    """Check options and inputs of a run (see the module docstring); raises one-line UnveilError.

    Args:
        need_body: the fit stage will run (the body model must load now, not after detection).
        need_detector: the video path will run the detector (its model files must be present).

    Returns:
        :class:`CheckedInputs` with the probed video or the loaded keypoints file.
    """
    if (video is None) == (keypoints_json is None):
        raise UnveilError("give exactly one input: a VIDEO or --keypoints KP.json")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UnveilError(f"output path exists and is not a folder: {out}")
    check_number("--start", start, lo=0, integer=True)
    check_number("--stride", stride, lo=1, integer=True)
    check_number("--max-frames", max_frames, lo=1, integer=True)
    check_number("--redetect", redetect_every, lo=1, integer=True)
    check_number("--end", end, lo=start + 1 if isinstance(start, int) else 1, integer=True)
    res = CheckedInputs()
    if video is not None:
        from .io.video import probe  # deferred: loads numpy

        info = probe(Path(video))
        if not (math.isfinite(info.fps) and 0 < info.fps <= MAX_FPS):
            raise UnveilError(f"video {video}: frame rate {info.fps!r} is not usable (expected 0 < fps <= {MAX_FPS:g})")
        if max(info.width, info.height) > MAX_IMAGE_SIDE:
            raise UnveilError(f"video {video}: {info.width}x{info.height} is larger than {MAX_IMAGE_SIDE} px")
        if need_detector:
            from .detect.assets import MODELS, model_path  # deferred: loads numpy

            for name in MODELS:
                model_path(name)  # MissingAssetError: run `unveil models fetch`
        res.video_info, res.width, res.height = info, info.width, info.height
    else:
        from .io.keypoints_json import load  # deferred: loads ijson, numpy

        kf = load(keypoints_json)
        res.keypoints, res.width, res.height = kf, kf.width, kf.height
        if kf.focal is not None and focal is None:
            _check_focal(f"'focal' in {keypoints_json}", kf.focal, kf.width, kf.height)
    _check_focal("--focal", focal, res.width, res.height)
    if need_body:
        body.load_body_model(body_model)  # one-line UnveilError for a missing / bad / unsafe file
    return res


def _check_focal(name: str, focal, width: int, height: int) -> None:
    if focal is None:
        return
    check_number(name, focal, lo=0, lo_open=True)
    side = max(width, height)
    lo, hi = FOCAL_RANGE[0] * side, FOCAL_RANGE[1] * side
    if not lo <= focal <= hi:
        raise UnveilError(f"{name} {focal:g} px is implausible for a {width}x{height} image "
                          f"(expected {lo:g} to {hi:g} px)")


def outcome(tracks2d, tracks3d, bodies, exported: dict, notes: list, *, lift: bool, fit: bool, export: bool,
            render: bool, overlay_written: bool, no_3d: dict | None = None) -> tuple[str, list[str]]:
    """The run's status and the reasons it failed (see the module docstring).

    Args:
        tracks2d / tracks3d / bodies: the stage results (None where a stage did not run).
        exported: ``write_exports``'s ``{"files": [...], "notes": [...]}``.
        notes: the run's notes (degraded-but-valid results).
        lift / fit / export / render: what the run was asked for.
        overlay_written: whether overlay.mp4 was written.
        no_3d: track id -> why it was not lifted (left out of the "3D missing" failure).

    Returns:
        (``"ok"|"degraded"|"failed"``, the failure reasons)
    """
    problems: list[str] = []
    no_3d = no_3d or {}
    want3d = [t.id for t in tracks2d if t.id not in no_3d]
    if lift and want3d:
        got = {t.id for t in tracks3d or []}
        if not got:
            why = [n for n in notes if n.startswith(("lift", "unveil.motion"))]
            problems.append(f"no 3D joints: {why[0] if why else 'the lift stage did not run'}")
        elif fit and not bodies:
            why = [n for n in notes if n.startswith(("fit", "unveil.fit"))]
            problems.append(f"no body fit: {why[0] if why else 'the fit stage did not run'}")
    if export and bodies:
        written = set(exported.get("files", []))
        expected = [f"{b.id}.{k}" for b in bodies for k in ("glb", "bvh")] + ["viewer.html"]
        missing = [f for f in expected if f not in written]
        bad = [n for n in exported.get("notes", []) if "disabled" not in n]
        if missing or bad:
            problems.append("export incomplete: " + (bad[0] if bad else f"{', '.join(missing)} not written"))
    if render and not overlay_written:
        why = [n for n in notes if n.startswith("overlay")]
        problems.append(why[0] if why else "overlay.mp4 not written")
    if problems:
        return "failed", problems
    degraded = [n for n in notes if "disabled (--" not in n]  # a user's own --no-* choice is no defect
    return ("degraded" if degraded else "ok"), []


def explain_tracks(tracks2d, n_frames: int, from_video: bool, notes: list) -> dict:
    """Say why a clip gave no person, and which tracks get no 3D (all keypoint scores 0).

    Appends one note per finding to ``notes``.

    Args:
        tracks2d: the 2D tracks (``unveil.types.Track2D``, keypoints (T, K, 3)).
        n_frames: frames read from the input.
        from_video: the tracks come from the detector (not from a keypoints file).

    Returns:
        track id -> reason, for the tracks left out of the 3D stages.
    """
    import numpy as np

    if not tracks2d:
        if from_video:
            from .detect.people import MIN_TRACK_LEN  # deferred: loads cv2, numpy, scipy

            if n_frames < MIN_TRACK_LEN:
                notes.append(f"no person track: only {n_frames} frame(s) were read and a track needs at least "
                             f"{MIN_TRACK_LEN} (shorter ones are dropped as detector noise); use a longer clip")
            else:
                notes.append(f"no person found in {n_frames} frames (no detection held for {MIN_TRACK_LEN} frames)")
        return {}
    skip = {}
    for t in tracks2d:
        sc = np.asarray(t.keypoints)[..., 2]
        if sc.size == 0 or float(sc.max()) <= 0.0:
            skip[t.id] = "every keypoint score is 0"
            notes.append(f"track {t.id}: every keypoint score is 0 (no evidence of a person): 2D kept, no 3D for it")
    return skip
