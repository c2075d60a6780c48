"""The world-frame motion that every export writes (``<id>.glb``, ``scene.glb``, ``<id>.bvh``,
``<id>.trc``, ``viewer.html``; ``docs/outputs.md``).

The body fit (:class:`unveil.types.BodyTrack`) is in the OpenCV camera frame; the exports are in the
Y-up world frame of the npz's ``joints_world``. :func:`world_motion` recovers the rigid
camera->world transform ``x_w = R x_c + t`` from the track's own ``joints_cam``/``joints_world`` pair
(Kabsch, :func:`unveil.geometry.rigid_fit`, exact for a rigid map), so the exported motion lands
exactly on ``joints_world``; without ``joints_world`` it uses
:func:`unveil.trajectory.world.world_from_camera`, and failing that the OpenCV->Y-up flip
``diag(1, -1, -1)``. World pose: ``R_root' = R R_root``, ``transl' = R transl + t``.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from math import gcd

import numpy as np
import roma
import torch

from ..geometry import rigid_fit
from ..trajectory.world import world_from_camera
from ..types import BodyTrack

FLIP_YUP = np.diag([1.0, -1.0, -1.0])


@dataclass
class WorldMotion:
    global_orient: np.ndarray  # (T, 3) the track's root axis-angle (camera frame), as the track holds it
    body_pose: np.ndarray      # (T, 23, 3) the track's other local axis-angles, as the track holds them
    transl: np.ndarray       # (T, 3) float64 world pelvis position, metres
    shape: np.ndarray        # (S,) float32
    rest_joints: np.ndarray  # (24, 3) float64, pelvis at the origin
    times: np.ndarray        # (T,) float64 seconds from the track's first frame
    R: np.ndarray            # (3, 3) camera -> world rotation
    t: np.ndarray            # (3,) camera -> world translation

    def rotmats_chunks(self, chunk: int | None = None):
        """The world pose as rotation matrices, ``chunk`` frames at a time (default
        :data:`FRAME_CHUNK`): the writers never hold every frame's matrices (1.7 KB per frame).

        Yields:
            ``(lo, hi, rotmats)``: rotmats (hi - lo, 24, 3, 3) float64 local rotations of frames
            lo..hi-1, the root's = the world orientation ``R @ R_root``.
        """
        chunk = FRAME_CHUNK if chunk is None else max(1, int(chunk))
        for lo in range(0, len(self), chunk):
            rot = roma.rotvec_to_rotmat(torch.from_numpy(self.rotvecs_of(lo, lo + chunk))).numpy()
            rot[:, 0] = self.R @ rot[:, 0]
            yield lo, lo + len(rot), rot

    def __len__(self) -> int:
        return len(self.global_orient)

    def rotvecs_of(self, lo: int, hi: int) -> np.ndarray:
        """(n, 24, 3) float64 local axis-angles of frames lo..hi-1 (root first, camera frame)."""
        go = np.asarray(self.global_orient[lo:hi], np.float64)
        return np.concatenate([go[:, None], np.asarray(self.body_pose[lo:hi], np.float64)], 1)

    @property
    def rotvecs(self) -> np.ndarray:
        """(T, 24, 3) float64 every frame's local axis-angles (:meth:`rotvecs_of`)."""
        return self.rotvecs_of(0, len(self))

    @property
    def rotmats(self) -> np.ndarray:
        """(T, 24, 3, 3) float64 every frame's rotations at once (:meth:`rotmats_chunks`)."""
        parts = [r for _, _, r in self.rotmats_chunks()]
        return np.concatenate(parts) if parts else np.zeros((0, 24, 3, 3))


# id(track) -> (track, R, t) while :func:`shared_transforms` is active (None: not active)
_SHARED: dict | None = None


@contextlib.contextmanager
def shared_transforms():
    """Within the block, :func:`camera_to_world` computes each track's transform once and gives the
    same (R, t) to every later call for that track (the exports of one run: the GLB, BVH, scene and
    viewer writers each need it, and each computation holds two float64 copies of the track's joints,
    ~11.6 MB at 10,000 frames). The tracks must not change inside the block."""
    global _SHARED
    outer, _SHARED = _SHARED, ({} if _SHARED is None else _SHARED)
    try:
        yield
    finally:
        _SHARED = outer


def camera_to_world(track: BodyTrack) -> tuple[np.ndarray, np.ndarray]:
    """(R, t) with x_world = R x_cam + t for this track (see the module docstring); inside
    :func:`shared_transforms`, computed once per track (copies of the same arrays)."""
    if _SHARED is None:
        return _camera_to_world(track)
    hit = _SHARED.get(id(track))
    if hit is None or hit[0] is not track:
        hit = _SHARED[id(track)] = (track, *_camera_to_world(track))   # the track is held: its id stays unique
    return hit[1].copy(), hit[2].copy()


def _camera_to_world(track: BodyTrack) -> tuple[np.ndarray, np.ndarray]:
    jc = np.asarray(track.joints_cam, np.float64)
    if track.joints_world is not None:
        return rigid_fit(jc, track.joints_world)
    try:
        R, t = world_from_camera(jc)
        return np.asarray(R, np.float64), np.asarray(t, np.float64)
    except Exception:
        return FLIP_YUP.copy(), np.zeros(3)


def frame_times(frames: np.ndarray, fps: float) -> np.ndarray:
    """Seconds from the first frame. ``frames`` are video indices; a constant stride (the gcd of the
    steps, e.g. ``--stride 2`` with ``fps`` already divided by it) counts as one frame at ``fps``."""
    f = np.asarray(frames, np.int64)
    if f.size < 2:
        return np.zeros(f.size)
    step = 0
    for d in np.diff(f).tolist():
        step = gcd(step, int(d))
    step = max(step, 1)
    return (f - f[0]) / step / float(fps)


FRAME_CHUNK = 1024  # frames per call in by_frames


def by_frames(fn, a: np.ndarray, chunk: int = FRAME_CHUNK) -> np.ndarray:
    """``fn(a)`` for a per-frame function, computed ``chunk`` frames at a time (its temporary arrays
    then stay bounded on a long video; the result is the same).

    Args:
        fn: maps (n, ...) -> (n, ...) frame by frame (numpy in, numpy out).
        a: (T, ...) array.
    Returns:
        (T, ...) the concatenated results.
    """
    if len(a) <= chunk:
        return fn(a)
    return np.concatenate([fn(a[i:i + chunk]) for i in range(0, len(a), chunk)])


def world_motion(track: BodyTrack, body_model, fps: float) -> WorldMotion:
    """The track's pose, root path and rest skeleton in the world frame (see the module docstring)."""
    T = len(track.frames)
    go = np.asarray(track.global_orient).reshape(T, 3)  # kept as they are: float64 a chunk at a time
    bp = np.asarray(track.body_pose).reshape(T, 23, 3)
    R, t = camera_to_world(track)
    transl = np.asarray(track.transl, np.float64) @ R.T + t
    shape = np.asarray(track.shape, np.float32)
    with torch.no_grad():
        rest = body_model.rest_joints(torch.from_numpy(shape)[None].to(body_model.dtype))[0]
    rest = rest.double().cpu().numpy()
    return WorldMotion(global_orient=go, body_pose=bp, transl=transl, shape=shape, rest_joints=rest - rest[:1],
                       times=frame_times(track.frames, fps), R=R, t=t)


__all__ = ["WorldMotion", "camera_to_world", "shared_transforms", "frame_times", "world_motion", "by_frames", "FLIP_YUP", "FRAME_CHUNK"]
