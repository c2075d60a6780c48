"""``OUT/<id>.trc``: one person's SMPL-24 joints as motion-capture markers for OpenSim / Pose2Sim.

Format: the tab-separated TRC text that OpenSim's ``TRCFileAdapter`` and Pose2Sim read
(``PathFileType 4 (X/Y/Z)``; a header row of ``DataRate CameraRate NumFrames NumMarkers Units
OrigDataRate OrigDataStartFrame OrigNumFrames``; then ``Frame# Time`` and one X/Y/Z column triple per
marker). Markers: the 24 SMPL joints named as in :data:`unveil.skeleton.SMPL24_NAMES`, in the Y-up
world frame of ``joints_world`` (OpenSim's ground is Y up too), metres. ``Time`` is the video clock
(``frame / frame_rate``); ``Frame#`` counts the track's rows from 1; ``OrigDataStartFrame`` is the
first video frame (1-based).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..atomic import write_parts
from ..skeleton import SMPL24_NAMES
from ..types import BodyTrack
from .exporter import ExportContext
from . import world_motion
from .world_motion import camera_to_world


def trc_text(joints_world: np.ndarray, frames: np.ndarray, fps: float, frame_rate: float | None = None,
             name: str = "unveil.trc", marker_names=SMPL24_NAMES) -> str:
    """The TRC file's text.

    Args:
        joints_world: (T, M, 3) metres, Y up.
        frames: (T,) video frame indices.
        fps: the rows' rate (DataRate); frame_rate: the frame indices' rate (default ``fps``).
        name: the file name written in the first line.

    Returns:
        The text (``\\n`` line ends).
    """
    return "".join(trc_parts(joints_world, frames, fps, frame_rate, name, marker_names))


def trc_parts(joints_world: np.ndarray, frames: np.ndarray, fps: float, frame_rate: float | None = None,
              name: str = "unveil.trc", marker_names=SMPL24_NAMES, chunk: int | None = None):
    """:func:`trc_text` in pieces: the header, then ``chunk`` rows per piece (default
    :data:`unveil.io.world_motion.FRAME_CHUNK`), so a writer never holds a long track's whole text.

    Raises:
        ValueError: the markers, names and frames do not match.
    """
    j = np.asarray(joints_world, np.float64)
    fr = np.asarray(frames, np.int64)
    T, M = j.shape[:2]
    if len(marker_names) != M or fr.shape != (T,):
        raise ValueError(f"{M} markers, {len(marker_names)} names, {fr.shape} frames for {T} rows")
    rate = float(frame_rate or fps)
    lines = [f"PathFileType\t4\t(X/Y/Z)\t{name}",
             "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\tOrigDataStartFrame\tOrigNumFrames",
             f"{fps:.6g}\t{fps:.6g}\t{T}\t{M}\tm\t{fps:.6g}\t{int(fr[0]) + 1 if T else 1}\t{T}",
             "Frame#\tTime\t" + "\t\t\t".join(marker_names) + "\t\t",
             "\t\t" + "\t".join(f"{a}{i + 1}" for i in range(M) for a in "XYZ"),
             ""]
    yield "\n".join(lines) + "\n"
    chunk = world_motion.FRAME_CHUNK if chunk is None else max(1, int(chunk))
    for lo in range(0, T, chunk):
        rows = []
        for r in range(lo, min(lo + chunk, T)):
            vals = "\t".join(f"{v:.6f}" for v in j[r].reshape(-1))
            rows.append(f"{r + 1}\t{fr[r] / rate:.6f}\t{vals}\n")
        yield "".join(rows)


def write_trc(path, body_track: BodyTrack, fps: float, frame_rate: float | None = None) -> None:
    """Write ``path`` (atomically) from the track's ``joints_world`` (or, without it, its
    ``joints_cam`` moved by :func:`unveil.io.world_motion.camera_to_world`)."""
    jw = body_track.joints_world
    if jw is None:
        R, t = camera_to_world(body_track)
        jw = np.asarray(body_track.joints_cam, np.float64) @ R.T + t
    write_parts(path, trc_parts(jw, body_track.frames, fps, frame_rate, name=Path(path).name))


class TrcExporter:
    """``OUT/<id>.trc``: the 24 joints as OpenSim markers per person (:func:`write_trc`)."""

    name, suffix, scope, requires = "trc", ".trc", "track", ()

    def write(self, path, tracks, ctx: ExportContext) -> None:
        write_trc(path, tracks[0], ctx.fps, ctx.frame_rate)


__all__ = ["trc_text", "trc_parts", "write_trc", "TrcExporter"]
