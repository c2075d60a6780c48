"""Video reading and writing with PyAV (FFmpeg): any common container/codec, streamed frame by frame.

- :func:`probe` -> :class:`unveil.types.VideoInfo` (fps, size, frame count when the container says).
- Rotation metadata (a phone's ``rotate=90/180/270``, stored as the display matrix that PyAV
  exposes as ``VideoFrame.rotation``, counter-clockwise degrees) is honoured: frames are turned
  upright before anything sees them, and ``probe`` gives the upright size (width and height swap
  for 90/270).
- :func:`iter_frames` yields ``(index, rgb uint8 (H, W, 3))`` for a frame range and stride, decoding
  one frame at a time (never the whole video in memory); ``start`` seeks to the nearest keyframe
  before it and decodes forward.
- :class:`VideoWriter` writes H.264 mp4 (yuv420p) to a temporary file renamed on close (atomic).

Bad input gives one-line :class:`~unveil.errors.UnveilError`: missing file, not a video, no frames.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from ..atomic import commit
from ..errors import UnveilError
from ..types import VideoInfo


def _open(path: str | os.PathLike):
    import av

    p = Path(path)
    if not p.exists():
        raise UnveilError(f"video not found: {p}")
    if p.is_dir():
        raise UnveilError(f"expected a video file, got a folder: {p}")
    try:
        container = av.open(str(p))
    except Exception as e:  # av.error.InvalidDataError and friends
        raise UnveilError(f"not a readable video: {p} ({type(e).__name__})") from None
    if not container.streams.video:
        container.close()
        raise UnveilError(f"no video stream in {p}")
    return container


def quarter_turns(frame) -> int:
    """Counter-clockwise quarter turns (0-3) that make a decoded frame upright (display matrix)."""
    rot = getattr(frame, "rotation", 0) or 0
    return int(round(float(rot) / 90.0)) % 4


def upright(rgb: np.ndarray, turns: int) -> np.ndarray:
    """``rgb`` (H, W, 3) turned ``turns`` quarter turns counter-clockwise (as displayed)."""
    return np.ascontiguousarray(np.rot90(rgb, turns)) if turns else rgb


def probe(path: str | os.PathLike) -> VideoInfo:
    """Frame rate, upright size and (if known) frame count; decodes at most the first frame (for
    its rotation metadata)."""
    c = _open(path)
    try:
        s = c.streams.video[0]
        turns = 0
        try:
            for frame in c.decode(s):
                turns = quarter_turns(frame)
                break
        except Exception:  # undecodable: iter_frames reports it with the frame range
            pass
        fps = float(s.average_rate or s.guessed_rate or s.base_rate or 30.0)
        n = int(s.frames) if s.frames else None
        if n is None and s.duration and s.time_base:
            n = int(round(float(s.duration * s.time_base) * fps))
        w, h = s.codec_context.width, s.codec_context.height
        if not w or not h:
            raise UnveilError(f"video stream without a frame size in {path}")
        if turns % 2:
            w, h = h, w
        return VideoInfo(path=str(path), fps=fps, width=int(w), height=int(h), n_frames=n or None,
                         rotation=90 * turns)
    finally:
        c.close()


def iter_frames(path: str | os.PathLike, start: int = 0, end: int | None = None, stride: int = 1,
                max_frames: int | None = None, threads: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame_index, rgb)`` for frames ``start <= i < end`` every ``stride``-th frame.

    Raises UnveilError if the video has no decodable frame in that range.
    """
    if stride < 1:
        raise UnveilError("--stride must be >= 1")
    if start < 0:
        raise UnveilError("--start must be >= 0")
    c = _open(path)
    yielded = 0
    try:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        if threads:
            s.thread_count = int(threads)
        fps = float(s.average_rate or s.guessed_rate or 30.0)
        index = 0
        if start > 0 and s.time_base:
            # seek to the keyframe before `start`; frame indices then come from the timestamps
            target = int(start / fps / float(s.time_base)) + (s.start_time or 0)
            try:
                c.seek(target, stream=s, backward=True, any_frame=False)
                index = None
            except Exception:
                index = 0
        t0 = s.start_time or 0
        try:
            for frame in c.decode(s):
                if index is None:
                    if frame.pts is None:
                        raise UnveilError(f"cannot seek in {path} (no timestamps); use --start 0")
                    index = int(round(float((frame.pts - t0) * s.time_base) * fps))
                i = index
                index += 1
                if i < start:
                    continue
                if end is not None and i >= end:
                    break
                if (i - start) % stride:
                    continue
                yield i, upright(frame.to_ndarray(format="rgb24"), quarter_turns(frame))
                yielded += 1
                if max_frames is not None and yielded >= max_frames:
                    break
        except UnveilError:
            raise
        except Exception as e:
            if yielded == 0:
                raise UnveilError(f"could not decode {path} ({type(e).__name__}: {e})") from None
            # a truncated tail: stop at the last good frame
    finally:
        c.close()
    if yielded == 0:
        raise UnveilError(f"no frames to read in {path}" + (f" from frame {start}" if start else ""))


def read_frame(path: str | os.PathLike, index: int) -> np.ndarray:
    """One frame (RGB uint8) by index."""
    for _, img in iter_frames(path, start=index, max_frames=1):
        return img
    raise UnveilError(f"frame {index} not found in {path}")  # pragma: no cover


class VideoWriter:
    """H.264 mp4 writer (``with VideoWriter(path, fps) as w: w.write(rgb)``); atomic on close."""

    def __init__(self, path: str | os.PathLike, fps: float, crf: int = 23, codec: str = "libx264"):
        import tempfile

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=self.path.suffix or ".mp4",
                                   dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(tmp)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.codec, self.crf = codec, crf
        self._c = None
        self._s = None
        self.n = 0

    def write(self, rgb: np.ndarray) -> None:
        import av

        rgb = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
        h, w = rgb.shape[:2]
        if self._c is None:
            self._c = av.open(str(self.tmp), mode="w")
            s = self._c.add_stream(self.codec, rate=self.fps)
            s.width, s.height = w - w % 2, h - h % 2
            s.pix_fmt = "yuv420p"
            if self.codec == "libx264":
                s.options = {"crf": str(self.crf), "preset": "veryfast"}
            self._s = s
        rgb = rgb[: self._s.height, : self._s.width]
        for pkt in self._s.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
            self._c.mux(pkt)
        self.n += 1

    def close(self) -> None:
        if self._c is None:
            self.tmp.unlink(missing_ok=True)
            raise UnveilError(f"no frames written to {self.path}")
        for pkt in self._s.encode():
            self._c.mux(pkt)
        self._c.close()
        commit(self.tmp, self.path)  # the usual file mode (not mkstemp's 0600), then rename

    def abort(self) -> None:
        if self._c is not None:
            try:
                self._c.close()
            except Exception:
                pass
        self.tmp.unlink(missing_ok=True)

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is None:
            self.close()
        else:
            self.abort()
        return False


def write_video(path: str | os.PathLike, frames, fps: float) -> Path:
    """Write an iterable of RGB frames as H.264 mp4 (atomic)."""
    with VideoWriter(path, fps) as w:
        for f in frames:
            w.write(f)
    return Path(path)
