"""The Python API: ``from unveil import run, load``.

.. code-block:: python

    from unveil import run
    r = run("clip.mp4")                       # writes unveil_out/clip/ (cached: a rerun resumes)
    p = r.people[0]
    p.joints_world.shape                      # (T, 24, 3) metres, Y up
    r.camera.focal, r.camera.cam_to_world_R   # intrinsics; x_world = R @ x_cam + t

:func:`run` runs the same pipeline as ``unveil run`` (:func:`unveil.pipeline.run`) and returns a
:class:`Result` read back from the output folder; :func:`load` reads a finished output folder. Every
array keeps the frame and units of ``docs/outputs.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import UnveilError

_KEYPOINT_SUFFIXES = (".json",)


@dataclass(frozen=True)
class CameraInfo:
    """The static pinhole camera of a run (OpenCV axes: x right, y down, z forward).

    ``cam_to_world_R`` (3, 3) / ``cam_to_world_t`` (3,): ``x_world = R @ x_cam + t`` (the world is
    Y up, metres, floor at y = 0); None when no person got 3D joints."""

    focal: float
    principal_point: np.ndarray            # (2,) px
    width: int
    height: int
    cam_to_world_R: np.ndarray | None = None
    cam_to_world_t: np.ndarray | None = None

    @property
    def K(self) -> np.ndarray:
        """(3, 3) intrinsic matrix."""
        cx, cy = (float(v) for v in self.principal_point)
        return np.array([[self.focal, 0, cx], [0, self.focal, cy], [0, 0, 1]], np.float64)


@dataclass
class Person:
    """One tracked person. T = the person's frames; arrays absent from the npz (a stage that did not
    run, ``--save-vertices`` not given) are None. Shapes, frames and units: ``docs/outputs.md``."""

    id: int
    frames: np.ndarray                     # (T,) video frame indices
    times: np.ndarray                      # (T,) seconds: frames / video fps
    keypoints2d: np.ndarray                # (T, K, 3) px, px, confidence
    layout: str                            # "blazepose33" | "coco17"
    occluded: np.ndarray | None = None     # (T, K) bool
    joints_cam: np.ndarray | None = None   # (T, 24, 3) m, camera frame
    joints_world: np.ndarray | None = None  # (T, 24, 3) m, world frame (Y up)
    global_orient: np.ndarray | None = None        # (T, 3) axis-angle, camera frame
    global_orient_world: np.ndarray | None = None  # (T, 3) axis-angle, world frame
    body_pose: np.ndarray | None = None    # (T, 23, 3) axis-angle, local
    transl: np.ndarray | None = None       # (T, 3) m, pelvis, camera frame
    transl_world: np.ndarray | None = None  # (T, 3) m, pelvis, world frame
    shape: np.ndarray | None = None        # (S,) body-model shape
    body_model: str | None = None
    vertices: np.ndarray | None = None     # (T, V, 3) m, camera frame (--save-vertices)
    faces: np.ndarray | None = None        # (F, 3) int32
    path: Path | None = None               # the npz file
    arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # every npz array

    @property
    def first_frame(self) -> int:
        return int(self.frames[0])

    @property
    def last_frame(self) -> int:
        return int(self.frames[-1])


@dataclass
class Result:
    """What a run produced: ``people`` (sorted by id), the ``camera``, ``summary`` (summary.json as a
    dict) and the output folder."""

    out_dir: Path
    fps: float
    people: list[Person]
    camera: CameraInfo
    summary: dict
    files: list[Path] = field(default_factory=list)  # every file in out_dir except the stage cache

    def person(self, pid: int) -> Person:
        """The person with track id ``pid`` (KeyError when absent)."""
        for p in self.people:
            if p.id == pid:
                return p
        raise KeyError(f"no person with id {pid} (ids: {[p.id for p in self.people]})")


_PERSON_FIELDS = ("occluded", "joints_cam", "joints_world", "global_orient", "global_orient_world", "body_pose",
                  "transl", "transl_world", "shape", "vertices", "faces")


def _person(path: Path, frame_rate: float) -> Person:
    with np.load(path, allow_pickle=False) as z:
        arr = {k: z[k] for k in z.files}
    frames = np.asarray(arr["frames"], np.int64)
    kw = {f: arr[f] for f in _PERSON_FIELDS if f in arr}
    return Person(id=int(path.stem), frames=frames, times=frames / float(frame_rate),
                  keypoints2d=arr["keypoints2d"], layout=str(arr.get("layout", "coco17")),
                  body_model=str(arr["body_model"]) if "body_model" in arr else None, path=path, arrays=arr, **kw)


def load(out_dir: str | Path) -> Result:
    """Read a finished ``unveil run`` output folder.

    Args:
        out_dir: the folder given to ``unveil run -o``.

    Returns:
        :class:`Result`; raises :class:`unveil.errors.UnveilError` when ``out_dir`` has no summary.json.
    """
    out = Path(out_dir)
    sp = out / "summary.json"
    if not sp.is_file():
        raise UnveilError(f"not an unveil output folder (no summary.json): {out}")
    summary = json.loads(sp.read_text())
    fps = float(summary["fps"])
    stride = int((summary.get("frame_range") or {}).get("stride") or 1)
    frame_rate = fps * stride  # frames are video indices
    people = []
    for t in summary.get("tracks", []):
        if t.get("file") and (out / t["file"]).is_file():
            people.append(_person(out / t["file"], frame_rate))
    people.sort(key=lambda p: p.id)
    cam = summary.get("camera", {})
    R = t_ = None
    for p in people:
        if "cam_to_world_R" in p.arrays:
            R, t_ = p.arrays["cam_to_world_R"], p.arrays["cam_to_world_t"]
            break
    camera = CameraInfo(focal=float(cam.get("focal", 0.0)),
                        principal_point=np.asarray(cam.get("principal_point", [0.0, 0.0]), np.float64),
                        width=int(summary.get("width", 0)), height=int(summary.get("height", 0)),
                        cam_to_world_R=R, cam_to_world_t=t_)
    files = sorted(p for p in out.rglob("*") if p.is_file() and "cache" not in p.relative_to(out).parts[:1])
    return Result(out_dir=out, fps=fps, people=people, camera=camera, summary=summary, files=files)


def run(source: str | Path, out_dir: str | Path | None = None, **options) -> Result:
    """Run the pipeline on a video or a keypoints JSON and return the typed result.

    Args:
        source: a video file (any container FFmpeg reads) or a keypoints ``.json`` (unveil's format,
            see README) or an OpenPose folder.
        out_dir: output folder; default ``unveil_out/<source stem>`` under the current directory.
            Stages are cached there: calling again with the same inputs resumes.
        **options: keyword options of :func:`unveil.pipeline.run` (``focal``, ``body_model``,
            ``render``, ``start``, ``end``, ``stride``, ``max_frames``, ``save_vertices``,
            ``overlay``, ``rig_names``, ``min_frames``, ``min_confidence``, ``export``, ...).

    Returns:
        :class:`Result` (also readable later with :func:`load`).
    """
    from .pipeline import run as pipeline_run  # deferred: loads ijson, scipy, torch

    src = Path(source)
    out = Path(out_dir) if out_dir is not None else Path("unveil_out") / src.stem
    for bad in ("video", "keypoints_json", "out_dir"):
        if bad in options:
            raise TypeError(f"unveil.run: pass the input as `source` and the folder as `out_dir`, not {bad}=")
    as_keypoints = src.is_dir() or src.suffix.lower() in _KEYPOINT_SUFFIXES
    pipeline_run(video=None if as_keypoints else src, keypoints_json=src if as_keypoints else None,
                 out_dir=out, **options)
    return load(out)


__all__ = ["run", "load", "Result", "Person", "CameraInfo"]
