"""`unveil run VIDEO|--keypoints KP.json -o OUT`: the stage sequence, each stage cached under OUT/.

Stages (shared/design/pipeline.md): **keypoints** (video -> people -> BlazePose-33 2D tracks, or an
imported JSON) -> **lift** (MoPO, :func:`unveil.motion.stage.lift_tracks`) -> **fit** (ARTS,
:func:`unveil.fit.stage.fit_tracks`) -> **write** (tracks/<id>.npz, keypoints.json, summary.json,
overlay.mp4). A later stage whose module does not import (not built yet, or failing) is skipped
with a note in summary.json, and the fields it would fill are left out of the npz.

Caching: each stage writes ``OUT/cache/<stage>.npz`` and ``<stage>.json`` (its key: the SHA-256 of
the content of every input file that affects it -- video or keypoints file, detector models, body
model file, shipped weights and code -- never their paths or times, the frame range, the stage
options, and the previous stage's key; :mod:`unveil.digest`). A rerun with the same key loads the
result instead of recomputing (resume); any change to the input or an option invalidates that stage
and everything after it.

Hostile input (:mod:`unveil.validate`, :mod:`unveil.outdir`): every option and input is checked
before OUT is created; one run owns OUT at a time (a lock), files of an earlier run that this run
does not produce are removed, ``OUT/manifest.json`` lists what it wrote, and ``summary.json``'s
``status`` is ``ok``, ``degraded`` (notes) or ``failed`` (an output asked for is missing; non-zero
exit).

Camera: ``--focal PX`` or :func:`unveil.skeleton.default_focal`, principal point at the image centre.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib
import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from . import __version__, outdir
from .atomic import record, save_npz, write_text
from .digest import body_model_sha256, detector_sha256, file_sha256
from .errors import UnveilError
from .runtime import TORCH_THREADS, pin_torch_threads, torch_threads
from .io.track_filter import MIN_CONFIDENCE, MIN_FRAMES, filter_tracks
from .skeleton import default_focal, to_coco17
from .types import BodyTrack, Camera, Track2D, Track3D
from .validate import IncompleteRunError, check_run, check_threads, explain_tracks, outcome

STAGE_VERSION = {"keypoints": 1, "lift": 1, "fit": 1, "evidence": 1}


# ------------------------------------------------------------------------------------ caching
def _key_hash(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _cache_load(out: Path, stage: str, key: dict):
    meta, data = out / "cache" / f"{stage}.json", out / "cache" / f"{stage}.npz"
    if not (meta.is_file() and data.is_file()):
        return None
    try:
        m = json.loads(meta.read_text())
        if m.get("hash") != _key_hash(key):
            return None
        with np.load(data, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        record(meta), record(data)  # reused: part of this run's output (outdir manifest)
        return arrays, m
    except Exception:
        return None


def _cache_save(out: Path, stage: str, key: dict, arrays: dict, info: dict) -> None:
    save_npz(out / "cache" / f"{stage}.npz", **arrays)
    write_text(out / "cache" / f"{stage}.json", json.dumps({"hash": _key_hash(key), "key": key, **info}, default=str))


def _source_hash(*rel: str) -> str:
    """Hash of some of unveil's own files (glob patterns under the package: source and shipped
    weights): changed code or retrained weights invalidate the stage's cache."""
    h = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for r in rel:
        files = sorted(root.glob(r))
        if not files:
            h.update(r.encode())
        for p in files:
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:12]


def _pack(tracks, fields) -> dict:
    arr = {"ids": np.array([t.id for t in tracks], np.int64)}
    for t in tracks:
        for f in fields:
            v = getattr(t, f, None)
            if v is not None:
                arr[f"t{t.id}_{f}"] = np.asarray(v)
        for k, v in (getattr(t, "extras", None) or {}).items():
            arr[f"t{t.id}_x_{k}"] = np.asarray(v)
    return arr


def _unpack(arr: dict, cls, fields, **const) -> list:
    out = []
    for tid in arr["ids"].tolist():
        kw = {f: arr[f"t{tid}_{f}"] for f in fields if f"t{tid}_{f}" in arr}
        if cls is Track2D:
            pre = f"t{tid}_x_"
            kw["extras"] = {k[len(pre):]: v for k, v in arr.items() if k.startswith(pre)}
            kw["layout"] = str(arr.get(f"t{tid}_layout", np.array("blazepose33")))
        out.append(cls(id=int(tid), **kw, **const))
    return out


_T2D = ("frames", "keypoints", "boxes", "world_landmarks")
_T3D = ("frames", "joints", "occluded", "confidence")
_BT = ("frames", "global_orient", "body_pose", "transl", "shape", "joints_cam", "joints_world",
       "keypoints3d_body", "observed", "observed_weight")


# ---------------------------------------------------------------------------------- progress
class _Progress:
    def __init__(self, total: int | None, desc: str, enabled: bool):
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm  # a notebook widget under Jupyter (the Python API), text elsewhere

            self.bar = tqdm(total=total, desc=desc, unit="frame", file=sys.stderr, leave=False)

    def __call__(self, _i=None):
        if self.bar is not None:
            self.bar.update(1)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _optional(mod: str, attr: str, notes: list):
    try:
        return getattr(importlib.import_module(mod), attr)
    except Exception as e:  # not built yet, or broken: skip the stage, say so
        notes.append(f"{mod}.{attr} unavailable ({type(e).__name__}: {e}); stage skipped")
        return None


# --------------------------------------------------------------------------------------- run
# the 2D front end's model-call counts (detect.people.PeopleTracker.counts) in summary.json
_CALL_STATS = ("detect_calls", "frame_detect_calls", "tile_detect_calls", "search_detect_calls",
               "landmark_calls", "follow_calls")


def run(*args, **kwargs) -> dict:
    # :func:`_run` with torch at TORCH_THREADS threads (signature and docstring copied below); the
    # OUT that _run claims is finished or failed here (unveil.outdir), and an OS error (full disk,
    # read-only folder) becomes a one-line UnveilError
    try:
        with torch_threads(TORCH_THREADS), outdir.session():
            return _run(*args, **kwargs)
    except OSError as e:
        where = f" {e.filename}" if e.filename else ""
        raise UnveilError(f"could not write{where}: {e.strerror or e}") from e


def _run(video=None, keypoints_json=None, out_dir="out", body_model: str = "anny", focal: float | None = None,
        render: bool = True, start: int = 0, end: int | None = None, stride: int = 1,
        max_frames: int | None = None, redetect_every: int = 5, tiles: bool = True,
        progress: bool | None = None, lift: bool = True, fit: bool = True, quiet: bool = True,
        export: bool = True, traj_prior: bool = True, evidence_fit: bool = True, save_vertices: bool = False,
        overlay: str = "mesh", rig_names: str = "smpl", min_frames: int | None = None,
        min_confidence: float | None = None) -> dict:
    """Run the pipeline; returns the summary dict (also written to OUT/summary.json).

    ``evidence_fit``: pull the body onto the visible 2D keypoints (:mod:`unveil.fit.evidence`);
    ``save_vertices``: add the posed mesh to each npz; ``overlay``: what ``overlay.mp4`` draws
    (``mesh`` | ``2d`` | ``both``); ``rig_names``: joint names in the GLB files (``smpl`` | ``mixamo``
    | ``vrm``); ``min_frames`` / ``min_confidence``: tracks shorter than this many frames, or with a
    lower mean keypoint confidence, are dropped after the 2D stage (listed in summary.json; None:
    :mod:`unveil.io.track_filter`'s defaults for video, keep all for ``keypoints_json``). The
    Python API with typed results is :func:`unveil.api.run`."""
    from .io.overlay import check_output_options

    check_output_options(overlay, rig_names)  # before any work: a typo fails at once
    # check every option and input before OUT is created: bad input leaves nothing behind
    kf = check_run(video, keypoints_json, out_dir, body_model, focal, start, end, stride, max_frames,
                   redetect_every, need_body=lift and fit).keypoints
    out = Path(out_dir)
    od = outdir.open_run(out, {"input": str(video if video is not None else keypoints_json),
                               "kind": "video" if video is not None else "keypoints"})
    if progress is None:
        progress = sys.stderr.isatty()
    notes: list[str] = []
    seconds: dict[str, float] = {}
    cpu_seconds: dict[str, float] = {}  # process CPU time (all threads) per stage: robust to other load
    cached: list[str] = []

    # ---------------------------------------------------------------- keypoints (2D tracks)
    t0, c0 = time.perf_counter(), time.process_time()
    if video is not None:
        from .io.video import probe

        vpath = Path(video)
        info = probe(vpath)
        inp = {"video_sha256": file_sha256(vpath), "detector_sha256": detector_sha256()}
        key = {"v": STAGE_VERSION["keypoints"], **inp, "start": start, "end": end, "stride": stride,
               "max_frames": max_frames, "redetect_every": redetect_every, "tiles": tiles,
               "code": _source_hash("detect/*.py")}
        fps, width, height = info.fps / stride, info.width, info.height
        hit = _cache_load(out, "keypoints", key)
        stats: dict = {}
        if hit is not None:
            arr, meta = hit
            tracks2d = _unpack(arr, Track2D, _T2D)
            stats = meta.get("stats", {})
            cached.append("keypoints")
        else:
            from .detect.people import track_video

            total = info.n_frames
            if total is not None:
                total = len(range(start, min(end or total, total), stride))
                if max_frames:
                    total = min(total, max_frames)
            bar = _Progress(total, "people+keypoints", progress)
            try:
                tracks2d = track_video(vpath, start=start, end=end, stride=stride, max_frames=max_frames,
                                       redetect_every=redetect_every, tiles=tiles, stats=stats, progress=bar)
            finally:
                bar.close()
            arr = _pack(tracks2d, _T2D)
            for t in tracks2d:
                arr[f"t{t.id}_layout"] = np.array(t.layout)
            stats = {k: v for k, v in stats.items()}
            _cache_save(out, "keypoints", key, arr, {"stats": stats})
        n_frames = int(stats.get("frames", 0))
        frame_indices = stats.get("frame_indices", [])
        seconds.update({f"keypoints.{k}": float(stats[k]) for k in ("decode", "detect", "landmarks", "tracking")
                        if k in stats})
        cpu_seconds.update({f"keypoints.{k}": float(stats[f"{k}_cpu"]) for k in ("decode", "detect", "landmarks")
                            if f"{k}_cpu" in stats})
    else:
        kpath = Path(keypoints_json)
        inp = {"keypoints_sha256": file_sha256(kpath)}
        key = {"v": STAGE_VERSION["keypoints"], **inp}
        tracks2d, fps, width, height = kf.tracks, kf.fps, kf.width, kf.height
        focal = focal or kf.focal
        allf = np.concatenate([t.frames for t in tracks2d]) if tracks2d else np.zeros(0, int)
        frame_indices = sorted(set(allf.tolist()))
        n_frames = len(frame_indices)
        stats = {}
    seconds["keypoints"] = time.perf_counter() - t0
    cpu_seconds["keypoints"] = time.process_time() - c0
    tracks2d, dropped = filter_tracks(tracks2d, min_frames, min_confidence, detected=video is not None)
    no_3d = explain_tracks(tracks2d, n_frames, video is not None, notes)  # id -> why it gets no 3D
    camera = Camera(focal=float(focal or default_focal(width, height)), cx=width / 2.0, cy=height / 2.0,
                    width=int(width), height=int(height))

    # ---------------------------------------------------------------------------- lift (MoPO)
    tracks3d: list[Track3D] | None = None
    lift_key = {"v": STAGE_VERSION["lift"], "prev": _key_hash(key), "focal": camera.focal,
                "tracks": [int(t.id) for t in tracks2d],
                "code": _source_hash("motion/*.py", "geometry.py", "checkpoint.py", "weights/mopo_*.pt",
                                    "weights/perframe.pt")}
    lift_in = [t for t in tracks2d if t.id not in no_3d]
    if lift and lift_in:
        t0, c0 = time.perf_counter(), time.process_time()
        hit = _cache_load(out, "lift", lift_key)
        if hit is not None:
            tracks3d = _unpack(hit[0], Track3D, _T3D)
            cached.append("lift")
        else:
            fn = _optional("unveil.motion.stage", "lift_tracks", notes)
            if fn is not None:
                try:
                    tracks3d = fn(lift_in, camera)
                    _cache_save(out, "lift", lift_key, _pack(tracks3d, _T3D), {})
                except UnveilError:
                    raise
                except Exception as e:
                    notes.append(f"lift failed ({type(e).__name__}: {e}); later stages skipped")
                    if not quiet:
                        traceback.print_exc()
                    tracks3d = None
        seconds["lift"] = time.perf_counter() - t0
        cpu_seconds["lift"] = time.process_time() - c0
    elif not lift:
        notes.append("lift disabled (--no-lift)")

    # ----------------------------------------------------------------------------- fit (ARTS)
    bodies: list[BodyTrack] | None = None
    fit_key = {"v": STAGE_VERSION["fit"], "prev": _key_hash(lift_key), "body_model": body_model_sha256(body_model),
               "code": _source_hash("fit/*.py", "trajectory/*.py", "checkpoint.py", "weights/tik*.pt",
                                    "weights/shape*.pt", "weights/ropetp*.pt")}
    if fit and tracks3d:
        t0, c0 = time.perf_counter(), time.process_time()
        hit = _cache_load(out, "fit", fit_key)
        if hit is not None:
            # the model's own name as the fit gave it (a rerun must equal a fresh run)
            bodies = _unpack(hit[0], BodyTrack, _BT, body_model=str(hit[1].get("body_model_name", body_model)))
            cached.append("fit")
        else:
            fn = _optional("unveil.fit.stage", "fit_tracks", notes)
            if fn is not None:
                try:
                    from .body import load_body_model

                    bm = load_body_model(body_model)
                    pin_torch_threads()  # loading a body model resets torch to all cores
                    bodies = fn(tracks3d, tracks2d, camera, bm)
                    _cache_save(out, "fit", fit_key, _pack(bodies, _BT),
                                {"body_model_name": str(bodies[0].body_model) if bodies else str(body_model)})
                except UnveilError:
                    raise
                except Exception as e:
                    notes.append(f"fit failed ({type(e).__name__}: {e}); body-model fields left out")
                    if not quiet:
                        traceback.print_exc()
                    bodies = None
        seconds["fit"] = time.perf_counter() - t0
        cpu_seconds["fit"] = time.process_time() - c0

    # ----------------------------------------------------------------- trajectory (RopeTP prior)
    # The fit gives a camera-space root from reprojection (depth-poor); the RopeTP prior regenerates
    # the world trajectory from the local motion + foot contacts and is fused with it (one sparse
    # least-squares solve per track, in one world frame shared by all tracks).
    if traj_prior and bodies:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            pin_torch_threads()
            from .trajectory.camera import frame_confidence
            from .trajectory.diffusion import refine_trajectory
            from .trajectory.world import world_from_camera

            world = world_from_camera(np.concatenate([np.asarray(b.joints_cam) for b in bodies], 0))
            by2 = {t.id: t for t in tracks2d}
            for b in bodies:
                t2 = by2.get(b.id)
                if t2 is None or len(b.frames) < 3:
                    continue
                sel = np.clip(np.searchsorted(np.asarray(t2.frames), np.asarray(b.frames)), 0, len(t2.frames) - 1)
                conf = frame_confidence(to_coco17(np.asarray(t2.keypoints), t2.layout)[sel])
                old = np.asarray(b.joints_cam, np.float32)
                new = refine_trajectory(old, conf, fps, world=world)
                b.transl = (np.asarray(b.transl) + (new[:, 0] - old[:, 0])).astype(np.float32)
                b.joints_cam = new.astype(np.float32)
        except Exception as e:  # the camera-space root stays; say why
            notes.append(f"trajectory prior skipped ({type(e).__name__}: {e})")
            if not quiet:
                traceback.print_exc()
        seconds["trajectory"] = time.perf_counter() - t0
        cpu_seconds["trajectory"] = time.process_time() - c0
    elif not traj_prior:
        notes.append("trajectory prior disabled (--no-traj-prior)")

    # -------------------------------------------------------- evidence fit (body onto the 2D keypoints)
    ev_key = {"v": STAGE_VERSION["evidence"], "prev": _key_hash(fit_key), "traj_prior": bool(traj_prior),
              "fps": fps, "code": _source_hash("fit/evidence.py", "fit/pose_prior.py", "weights/pose_prior*.npz",
                                               "weights/keypoint_offsets*.npz", "trajectory/*.py")}
    evidence_done = False
    if evidence_fit and bodies:
        t0, c0 = time.perf_counter(), time.process_time()
        hit = _cache_load(out, "evidence", ev_key)
        if hit is not None:
            bodies = _unpack(hit[0], BodyTrack, _BT, body_model=str(hit[1].get("body_model_name", body_model)))
            cached.append("evidence")
            evidence_done = True
        else:
            try:
                from .body import load_body_model
                from .fit.evidence import evidence_tracks

                pin_torch_threads()
                bodies, ev_diag = evidence_tracks(bodies, tracks2d, tracks3d, camera, load_body_model(body_model))
                _cache_save(out, "evidence", ev_key, _pack(bodies, _BT),
                            {"tracks": ev_diag, "body_model_name": str(bodies[0].body_model) if bodies else str(body_model)})
                evidence_done = True
            except Exception as e:  # the ARTS fit stays; say why
                notes.append(f"evidence fit skipped ({type(e).__name__}: {e})")
                if not quiet:
                    traceback.print_exc()
        seconds["evidence"] = time.perf_counter() - t0
        cpu_seconds["evidence"] = time.process_time() - c0
    elif not evidence_fit:
        notes.append("evidence fit disabled (--no-evidence-fit)")

    # ---------------------------------------------------------------------------------- write
    t0, c0 = time.perf_counter(), time.process_time()
    track_files = _write_tracks(out, tracks2d, tracks3d, bodies, camera, notes, body_model, save_vertices)
    from .io.keypoints_json import dump

    dump(out / "keypoints.json", tracks2d, fps, width, height, camera.focal)
    seconds["write"] = time.perf_counter() - t0
    cpu_seconds["write"] = time.process_time() - c0

    # ---------------------------------------------- export (EXPORT engineer: <id>.glb, <id>.bvh, viewer.html)
    exported: dict = {"files": [], "notes": [] if export else ["disabled (--no-export)"]}
    if export and bodies:
        t0, c0 = time.perf_counter(), time.process_time()
        try:  # never fatal: a failure is a note in summary.json "exports"
            pin_torch_threads()
            from .io.exports import write_exports

            exported = write_exports(out, bodies, body_model, fps, verbose=not quiet, rig=rig_names,
                                     frame_rate=fps * (stride if video is not None else 1))
        except Exception as e:
            exported["notes"].append(f"export failed ({type(e).__name__}: {e})")
        seconds["export"] = time.perf_counter() - t0
        cpu_seconds["export"] = time.process_time() - c0

    overlay_written = False
    if render:
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            res = _render_overlay(out / "overlay.mp4", video, tracks2d, fps, width, height, start, end, stride,
                                  max_frames, frame_indices, camera, overlay, bodies, tracks3d, body_model,
                                  progress=progress, n_frames=n_frames)
            notes += [f"overlay: {n}" for n in res["notes"]]
            overlay_written = True
        except UnveilError as e:
            notes.append(f"overlay not written: {e}")
        seconds["render"] = time.perf_counter() - t0
        cpu_seconds["render"] = time.process_time() - c0

    ppf = stats.get("people_per_frame") if stats else None
    status, problems = outcome(tracks2d, tracks3d, bodies, exported, notes, lift=lift, fit=fit, export=export,
                               render=render, overlay_written=overlay_written, no_3d=no_3d)
    total_s = sum(v for k, v in seconds.items() if "." not in k)
    summary = {
        "input": str(video if video is not None else keypoints_json),
        "kind": "video" if video is not None else "keypoints",
        "fps": fps, "width": width, "height": height, "frames": n_frames,
        "frame_range": {"start": start, "end": end, "stride": stride, "max_frames": max_frames},
        "camera": {"focal": camera.focal, "principal_point": [camera.cx, camera.cy],
                   "focal_source": "given" if focal else "default_focal (55 deg vertical FoV guess)"},
        "body_model": str(body_model),
        "tracks": [{"id": int(t.id), "first_frame": int(t.frames[0]), "last_frame": int(t.frames[-1]),
                    "frames": int(len(t.frames)), "layout": t.layout,
                    "mean_confidence": float(np.mean(t.keypoints[..., 2])), "file": track_files.get(t.id)}
                   for t in tracks2d],
        "dropped_tracks": dropped,
        "people_per_frame": {"mean": float(np.mean(ppf)), "max": int(np.max(ppf))} if ppf else None,
        "seconds": {k: round(v, 4) for k, v in seconds.items()},
        "cpu_seconds": {k: round(v, 4) for k, v in cpu_seconds.items()},
        "fps_end_to_end": round(n_frames / total_s, 3) if total_s > 0 and n_frames else None,
        "model_calls_per_frame": ({k: round(stats[k] / n_frames, 4) for k in _CALL_STATS if k in stats}
                                  if stats and n_frames else None),
        "stages_cached": cached,
        "stages_done": ["keypoints"] + (["lift"] if tracks3d else []) + (["fit"] if bodies else [])
                       + (["evidence"] if evidence_done else []),
        "exports": exported,
        "notes": notes,
        "status": status,
        "problems": problems,
        "versions": _versions(),
    }
    write_text(out / "summary.json", json.dumps(summary, indent=1))
    od.finish(status)  # earlier runs' files this run did not write are removed; manifest.json
    return summary


run = functools.wraps(_run)(run)  # run(...) shows _run's signature and docstring


def _write_tracks(out: Path, tracks2d, tracks3d, bodies, camera: Camera, notes: list, body_model="anny",
                  save_vertices: bool = False) -> dict:
    """Write ``OUT/tracks/<id>.npz`` per 2D track (fields and frames: ``docs/outputs.md``); returns
    ``{id: relative file name}``. ``save_vertices`` adds the posed mesh ``vertices`` (T, V, 3, camera
    frame) and ``faces`` (F, 3) (loads ``body_model``)."""
    by3 = {t.id: t for t in tracks3d or []}
    byb = {b.id: b for b in bodies or []}
    world_rt = None
    # camera-frame joints when there is no body fit: lifted joints + the reprojection root
    cam_joints = {}
    if tracks3d and not bodies:
        rt = _optional("unveil.trajectory.camera", "root_translation", notes)
        if rt is not None:
            for t2 in tracks2d:
                t3 = by3.get(t2.id)
                if t3 is None:
                    continue
                try:
                    root = rt(t3.joints, to_coco17(t2.keypoints, t2.layout), camera)
                    cam_joints[t2.id] = (t3.joints + root[:, None, :]).astype(np.float32)
                except Exception as e:
                    notes.append(f"root translation failed for track {t2.id} ({type(e).__name__}: {e})")
    jc_all = [b.joints_cam for b in byb.values()] or list(cam_joints.values())
    if jc_all:
        wf = _optional("unveil.trajectory.world", "world_from_camera", notes)
        if wf is not None:
            try:
                world_rt = wf(np.concatenate([np.asarray(j) for j in jc_all], 0))
            except Exception as e:
                notes.append(f"world frame failed ({type(e).__name__}: {e})")
    files = {}
    mesh_model = None
    for t2 in tracks2d:
        a = {"frames": np.asarray(t2.frames, np.int64), "keypoints2d": np.asarray(t2.keypoints, np.float32),
             "layout": np.array(t2.layout), "focal": np.float32(camera.focal),
             "principal_point": camera.principal_point, "image_size": np.array([camera.width, camera.height])}
        if t2.boxes is not None:
            a["boxes"] = t2.boxes
        if t2.world_landmarks is not None:
            a["world_landmarks"] = t2.world_landmarks
        for k in ("held", "presence", "pose_score"):  # detector evidence (BlazePose tracks)
            if k in (t2.extras or {}):
                a[k] = np.asarray(t2.extras[k])
        t3 = by3.get(t2.id)
        if t3 is not None:
            a["occluded"] = np.asarray(t3.occluded, bool)
            a["joints_rel"] = np.asarray(t3.joints, np.float32)
            if t3.confidence is not None:
                a["joint_confidence"] = np.asarray(t3.confidence, np.float32)
        b = byb.get(t2.id)
        if b is not None:
            a.update(global_orient=b.global_orient, body_pose=b.body_pose, transl=b.transl, shape=b.shape,
                     joints_cam=b.joints_cam, body_model=np.array(b.body_model))
            if b.joints_world is not None:
                a["joints_world"] = b.joints_world
            for k in ("keypoints3d_body", "observed", "observed_weight"):
                if getattr(b, k, None) is not None:
                    a[k] = np.asarray(getattr(b, k))
        elif t2.id in cam_joints:
            a["joints_cam"] = cam_joints[t2.id]
        rt = None  # this track's camera -> world transform
        if "joints_cam" in a and "joints_world" not in a and world_rt is not None:
            from .trajectory.world import to_world

            a["joints_world"] = to_world(a["joints_cam"], *world_rt)
            rt = world_rt
            if b is not None:
                b.joints_world = a["joints_world"]  # the exports use the shared world frame
        elif b is not None and b.joints_world is not None:
            from .io.world_motion import camera_to_world

            rt = camera_to_world(b)  # the rigid map between the fit's own joints_cam / joints_world
        if rt is not None:
            a["cam_to_world_R"] = np.asarray(rt[0], np.float32)
            a["cam_to_world_t"] = np.asarray(rt[1], np.float32)
            if b is not None:
                from .io.body_arrays import world_pose

                a["global_orient_world"], a["transl_world"] = world_pose(b.global_orient, b.transl, *rt)
        if b is not None and save_vertices:
            try:
                from .io.body_arrays import pose_body

                if mesh_model is None:
                    from .body import load_body_model

                    mesh_model = load_body_model(body_model)
                mesh = pose_body(mesh_model, b.global_orient, b.body_pose, b.shape, b.transl)
                a["vertices"], a["faces"] = mesh["vertices"], mesh["faces"]
            except UnveilError:
                raise
            except Exception as e:
                notes.append(f"vertices not saved for track {t2.id} ({type(e).__name__}: {e})")
        name = f"tracks/{t2.id}.npz"
        save_npz(out / name, **a)
        files[t2.id] = name
    return files


def _render_overlay(path: Path, video, tracks2d, fps, width, height, start, end, stride, max_frames, frame_indices,
                    camera: Camera, mode: str = "mesh", bodies=None, tracks3d=None, body_model="anny",
                    progress: bool = False, n_frames: int | None = None) -> dict:
    """``overlay.mp4`` over the video's frames (or a grey canvas for --keypoints input):
    :func:`unveil.io.overlay.write_run_overlay`."""
    from .io.overlay import write_run_overlay
    from .io.video import iter_frames

    if video is not None:
        frames = iter_frames(video, start=start, end=end, stride=stride, max_frames=max_frames)
    else:
        blank = np.full((int(height), int(width), 3), 40, np.uint8)
        frames = ((f, blank.copy()) for f in frame_indices)
    bar = _Progress(n_frames or None, f"overlay ({mode})", progress)
    try:
        return write_run_overlay(path, frames, tracks2d, camera, fps, mode=mode, bodies=bodies, tracks3d=tracks3d,
                                 body_model=body_model, on_frame=bar)
    finally:
        bar.close()


def _versions() -> dict:
    v = {"unveil": __version__, "python": sys.version.split()[0], "numpy": np.__version__}
    for mod in ("torch", "av", "cv2", "ai_edge_litert"):
        try:
            m = importlib.import_module(mod)
            v[mod] = getattr(m, "__version__", "?")
        except Exception:
            pass
    return v


# ---------------------------------------------------------------------------------------- CLI
def main(argv: list[str], prog: str = "unveil run") -> int:
    ap = argparse.ArgumentParser(prog=prog, description="video (or --keypoints JSON) -> per-person 3D motion")
    ap.add_argument("video", nargs="?", help="input video (any container/codec FFmpeg reads)")
    ap.add_argument("--keypoints", metavar="KP.json", help="use 2D keypoints from a JSON file instead of a video")
    ap.add_argument("-o", "--out", required=True, help="output folder (stages are cached here; a rerun resumes)")
    ap.add_argument("--body-model", default="anny", help="anny (default) or a path to an SMPL/SMPL-X .npz/.pkl")
    ap.add_argument("--focal", type=float, default=None, help="focal length in pixels (default: a 55 deg FoV guess)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    ap.add_argument("--render", dest="render", action="store_true", default=True, help="write overlay.mp4 (default)")
    ap.add_argument("--no-render", dest="render", action="store_false", help="skip the overlay video")
    ap.add_argument("--start", type=int, default=0, help="first frame")
    ap.add_argument("--end", type=int, default=None, help="stop before this frame")
    ap.add_argument("--stride", type=int, default=1, help="use every N-th frame")
    ap.add_argument("--max-frames", type=int, default=None, help="at most this many frames")
    ap.add_argument("--redetect", type=int, default=5, help="run the person detector every N frames (default 5)")
    ap.add_argument("--no-tiles", dest="tiles", action="store_false", default=True,
                    help="detector on the whole frame only (faster; misses small people)")
    ap.add_argument("--no-lift", dest="lift", action="store_false", default=True, help="stop after 2D keypoints")
    ap.add_argument("--no-traj-prior", dest="traj_prior", action="store_false", default=True,
                    help="keep the camera-space reprojection root (skip the RopeTP trajectory prior)")
    ap.add_argument("--no-evidence-fit", dest="evidence_fit", action="store_false", default=True,
                    help="skip the evidence fit (body pulled onto the visible 2D keypoints)")
    ap.add_argument("--no-export", dest="export", action="store_false", default=True,
                    help="skip the <id>.glb / scene.glb / <id>.bvh / <id>.trc / viewer.html exports")
    ap.add_argument("--overlay", choices=("mesh", "2d", "both"), default="mesh",
                    help="overlay.mp4 draws the recovered mesh (default), the 2D keypoints, or both")
    ap.add_argument("--save-vertices", action="store_true",
                    help="add the posed mesh (vertices, faces) to each tracks/<id>.npz (large: T x V x 3 floats)")
    ap.add_argument("--rig-names", choices=("smpl", "mixamo", "vrm"), default="smpl",
                    help="joint names in the GLB files (mixamo / vrm: humanoid names retargeting tools map)")
    ap.add_argument("--min-frames", type=int, default=None,
                    help=f"drop tracks with fewer frames (default {MIN_FRAMES} for video; --keypoints: keep all)")
    ap.add_argument("--min-confidence", type=float, default=None,
                    help=f"drop tracks whose mean 2D keypoint confidence on the frames they were seen is lower "
                         f"(default {MIN_CONFIDENCE} for video; --keypoints: keep all)")
    a = ap.parse_args(argv)
    threads, capped = check_threads(a.threads)  # 1..cores (above: capped, said on stderr)
    if capped:
        print(f"unveil: note: {capped}", file=sys.stderr)
    if threads:
        from .cli import set_threads

        set_threads(threads)
    if a.video and a.keypoints:
        raise UnveilError("give either VIDEO or --keypoints, not both")
    if not a.video and not a.keypoints:
        raise UnveilError("no input: give a VIDEO or --keypoints KP.json")
    if a.min_frames is not None and a.min_frames < 1:
        raise UnveilError("--min-frames must be >= 1")
    if a.min_confidence is not None and not 0.0 <= a.min_confidence <= 1.0:
        raise UnveilError("--min-confidence must be in [0, 1]")
    for opt in ("start", "stride", "max_frames", "redetect"):
        v = getattr(a, opt)
        if v is not None and v < (1 if opt != "start" else 0):
            raise UnveilError(f"--{opt.replace('_', '-')} must be >= {1 if opt != 'start' else 0}")
    s = run(video=a.video, keypoints_json=a.keypoints, out_dir=a.out, body_model=a.body_model, focal=a.focal,
            render=a.render, start=a.start, end=a.end, stride=a.stride, max_frames=a.max_frames,
            redetect_every=a.redetect, tiles=a.tiles, lift=a.lift, quiet=not os.environ.get("UNVEIL_DEBUG"),
            export=a.export, traj_prior=a.traj_prior, evidence_fit=a.evidence_fit, save_vertices=a.save_vertices,
            overlay=a.overlay, rig_names=a.rig_names, min_frames=a.min_frames, min_confidence=a.min_confidence)
    print(f"{s['frames']} frames, {len(s['tracks'])} tracks -> {a.out}/tracks/  "
          f"({s['fps_end_to_end']} frames/s end to end; stages: {', '.join(s['stages_done'])})")
    for n in s["notes"]:
        print(f"note: {n}")
    for n in s["exports"]["notes"]:
        print(f"note: export: {n}")
    if s["status"] == "failed":
        raise IncompleteRunError(f"run incomplete: {s['problems'][0]} (status 'failed' in {a.out}/summary.json)")
    return 0
