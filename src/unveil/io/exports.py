"""Export files of the output contract (``<id>.glb``, ``scene.glb``, ``<id>.bvh``, ``<id>.trc``,
``viewer.html``; ``docs/outputs.md``).

The body fit (:class:`unveil.types.BodyTrack`) is in the OpenCV camera frame; the exports are in the
Y-up world frame of the npz's ``joints_world``. :func:`world_motion` recovers the rigid
camera->world transform ``x_w = R x_c + t`` from the track's own ``joints_cam``/``joints_world`` pair
(Kabsch, exact for a rigid map), so the exported motion lands exactly on ``joints_world``; without
``joints_world`` it uses :func:`unveil.trajectory.world.world_from_camera`, and failing that the
OpenCV->Y-up flip ``diag(1, -1, -1)``. World pose: ``R_root' = R R_root``, ``transl' = R transl + t``.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import roma
import torch

from ..types import BodyTrack

_FLIP = np.diag([1.0, -1.0, -1.0])


@dataclass
class WorldMotion:
    rotmats: np.ndarray      # (T, 24, 3, 3) float64 SMPL-24 local rotations, root = world orientation
    transl: np.ndarray       # (T, 3) float64 world pelvis position, metres
    shape: np.ndarray        # (S,) float32
    rest_joints: np.ndarray  # (24, 3) float64, pelvis at the origin
    times: np.ndarray        # (T,) float64 seconds from the track's first frame
    R: np.ndarray            # (3, 3) camera -> world rotation
    t: np.ndarray            # (3,) camera -> world translation


def kabsch(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rigid (R, t) minimising |R src + t - dst| for (N, 3) point sets (proper rotation)."""
    src = np.asarray(src, np.float64).reshape(-1, 3)
    dst = np.asarray(dst, np.float64).reshape(-1, 3)
    ok = np.isfinite(src).all(1) & np.isfinite(dst).all(1)
    src, dst = src[ok], dst[ok]
    ms, md = src.mean(0), dst.mean(0)
    U, _, Vt = np.linalg.svd((src - ms).T @ (dst - md))
    d = np.sign(np.linalg.det(Vt.T @ U.T)) or 1.0
    R = Vt.T @ np.diag([1.0, 1.0, d]) @ U.T
    return R, md - R @ ms


def camera_to_world(track: BodyTrack) -> tuple[np.ndarray, np.ndarray]:
    """(R, t) with x_world = R x_cam + t for this track (see the module docstring)."""
    jc = np.asarray(track.joints_cam, np.float64)
    if track.joints_world is not None:
        return kabsch(jc, track.joints_world)
    try:
        from ..trajectory.world import world_from_camera

        R, t = world_from_camera(jc)
        return np.asarray(R, np.float64), np.asarray(t, np.float64)
    except Exception:
        return _FLIP.copy(), np.zeros(3)


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


def world_motion(track: BodyTrack, body_model, fps: float) -> WorldMotion:
    T = len(track.frames)
    go = np.asarray(track.global_orient, np.float64).reshape(T, 3)
    bp = np.asarray(track.body_pose, np.float64).reshape(T, 23, 3)
    rot = roma.rotvec_to_rotmat(torch.from_numpy(np.concatenate([go[:, None], bp], 1))).numpy()
    R, t = camera_to_world(track)
    rot[:, 0] = R @ rot[:, 0]
    transl = np.asarray(track.transl, np.float64) @ R.T + t
    shape = np.asarray(track.shape, np.float32)
    with torch.no_grad():
        rest = body_model.rest_joints(torch.from_numpy(shape)[None].to(body_model.dtype))[0]
    rest = rest.double().cpu().numpy()
    return WorldMotion(rotmats=rot, transl=transl, shape=shape, rest_joints=rest - rest[:1],
                       times=frame_times(track.frames, fps), R=R, t=t)


def write_exports(out_dir, bodies: list[BodyTrack], body_model, fps: float, glb: bool = True,
                  bvh: bool = True, viewer: bool = True, verbose: bool = False, scene: bool = True,
                  rig: str = "smpl", frame_rate: float | None = None, trc: bool = True, image=None,
                  video: dict | None = None) -> dict:
    """Write ``OUT/<id>.glb``, ``OUT/<id>.bvh``, ``OUT/<id>.trc``, ``OUT/scene.glb`` and
    ``OUT/viewer.html``; never raises.

    Args:
        fps: the tracks' frame rate (video fps / stride); ``frame_rate``: the rate of the frame
            indices (the video's; default ``fps``), which places people on the scene's timeline.
        rig: joint names in the GLB files (``smpl`` | ``mixamo`` | ``vrm``).
        image: ``(width, height, focal)`` of the video in pixels: the viewer's camera frustum gets
            the true field of view and aspect (default: a nominal 60 degrees, 16:9).
        video: ``{"path", "start", "end", "stride", "max_frames"}``: the viewer shows downscaled
            stills of the video on the frustum (:func:`unveil.io.viewer.video_stills`).

    Returns ``{"files": [...], "notes": [...]}`` (a failing file is a note, the others still get
    written), for summary.json.
    """
    out = Path(out_dir)
    files: list[str] = []
    notes: list[str] = []
    if isinstance(body_model, str):
        try:
            from ..body import load_body_model

            body_model = load_body_model(body_model)
        except Exception as e:
            return {"files": [], "notes": [f"export skipped: body model unavailable ({type(e).__name__}: {e})"]}
    for b in bodies or []:
        for kind, enabled in (("glb", glb), ("bvh", bvh), ("trc", trc)):
            if not enabled:
                continue
            name = f"{b.id}.{kind}"
            try:
                if kind == "glb":
                    from .gltf import write_glb

                    write_glb(out / name, b, body_model, fps, rig=rig)
                elif kind == "bvh":
                    from .bvh_export import write_bvh

                    write_bvh(out / name, b, body_model, fps)
                else:
                    from .trc import write_trc

                    write_trc(out / name, b, fps, frame_rate)
                files.append(name)
            except Exception as e:
                notes.append(f"{name} not written ({type(e).__name__}: {e})")
                if verbose:
                    traceback.print_exc()
    if scene and glb and bodies:
        try:
            from .gltf import write_scene_glb

            write_scene_glb(out / "scene.glb", bodies, body_model, fps, frame_rate, rig=rig)
            files.append("scene.glb")
        except Exception as e:
            notes.append(f"scene.glb not written ({type(e).__name__}: {e})")
            if verbose:
                traceback.print_exc()
    if viewer and bodies:
        try:
            from .viewer import write_viewer

            tracks = {}
            for b in bodies:
                jw = b.joints_world
                if jw is None:
                    m = world_motion(b, body_model, fps)
                    jw = np.asarray(b.joints_cam, np.float64) @ m.R.T + m.t
                tracks[b.id] = (np.asarray(b.frames), np.asarray(jw), getattr(b, "observed", None))
            mesh = None
            if body_model is not None:
                try:
                    from .gltf import build_scene_glb

                    # scene.glb's content with 4 skin influences per vertex: three.js reads one
                    # JOINTS/WEIGHTS set (and renormalises it), so a second set would only add bytes
                    mesh = build_scene_glb(bodies, body_model, fps, frame_rate, max_influences=4, rig="smpl")
                except Exception as e:
                    notes.append(f"viewer.html without body meshes ({type(e).__name__}: {e})")
                    if verbose:
                        traceback.print_exc()
            cam = camera_to_world(bodies[0])
            if image is not None:
                w, h, f = (float(v) for v in image)
                if w > 0 and h > 0 and f > 0:
                    cam = (*cam, float(np.degrees(2 * np.arctan(w / (2 * f)))), w / h)
            stills = None
            if video is not None:
                try:
                    from .viewer import video_stills

                    stills = video_stills(video["path"], np.concatenate([np.asarray(b.frames) for b in bodies]),
                                          **{k: video[k] for k in ("start", "end", "stride", "max_frames") if k in video})
                except Exception as e:
                    notes.append(f"viewer.html without video stills ({type(e).__name__}: {e})")
            # the 3D page when three.js is cached, else the 2D page, which says so itself
            write_viewer(out / "viewer.html", tracks, fps=fps, camera=cam, stills=stills,
                         links=[f for f in files if f.endswith((".glb", ".bvh"))], glb=mesh, frame_rate=frame_rate)
            files.append("viewer.html")
        except Exception as e:
            notes.append(f"viewer.html not written ({type(e).__name__}: {e})")
            if verbose:
                traceback.print_exc()
    return {"files": files, "notes": notes}
