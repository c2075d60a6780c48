"""`unveil run VIDEO|--keypoints KP.json -o OUT`: the stage sequence, each stage cached under OUT/.

Stages (shared/design/pipeline.md), the :class:`~unveil.stages.Stage` objects in :data:`STAGES`,
run in order by :func:`unveil.stages.run_stages` (one timing / error / caching policy):
**keypoints** (video -> people -> BlazePose-33 2D tracks, or an imported JSON; too-short tracks
dropped) -> **lift** (MoPO, :func:`unveil.motion.stage.lift_tracks`) -> **fit** (ARTS,
:func:`unveil.fit.stage.fit_tracks`) -> **trajectory** (RopeTP prior) -> **evidence** (body onto
the visible 2D keypoints) -> **write** (tracks/<id>.npz, keypoints.json) -> **export** (GLB, BVH,
TRC, viewer.html) -> **render** (overlay.mp4); then summary.json. A 3D stage that fails (or whose
module does not import) is skipped with a note in summary.json, and the fields it would fill are
left out of the npz.

Caching: keypoints (video), lift, fit and evidence write ``OUT/cache/<stage>.npz`` and
``<stage>.json`` (its key: the SHA-256 of the content of every input file that affects it -- video
or keypoints file, detector models, body model file, the stage's declared modules and weight files
-- never their paths or times, the frame range, the stage options, and the previous stage's key;
:func:`unveil.stages.stage_key`, :mod:`unveil.digest`). A rerun with the same key loads the result
instead of recomputing (resume); any change to the input or an option invalidates that stage and
everything after it.

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
import importlib
import json
import os
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Sequence

import numpy as np

from . import __version__, outdir
from .atomic import save_npz, write_text
from .body.model_hash import body_model_sha256
from .detect.assets import detector_sha256, model_path
from .digest import file_sha256
from .errors import UnveilError
from .io.keypoints_json import dump
from .runtime import TORCH_THREADS, pin_torch_threads, torch_threads, trim_heap
from .io.track_filter import MIN_CONFIDENCE, MIN_FRAMES, filter_tracks
from .io.video import iter_frames
from .paths import WEIGHTS_DIR
from .progress import Reporter
from .skeleton import default_focal, to_coco17
from .stages import RunContext, Stage, pack_tracks, run_stages, unpack_tracks
from .trajectory.camera import frame_confidence, root_translation
from .trajectory.world import to_world, world_from_camera
from .types import BodyTrack, Camera, Track2D, Track3D
from .validate import IncompleteRunError, check_run, check_threads, explain_tracks, outcome
from .runtime import set_threads

# the fields each cached stage stores per track (unveil.stages.pack_tracks)
T2D_FIELDS = ("frames", "keypoints", "boxes", "world_landmarks")
T3D_FIELDS = ("frames", "joints", "occluded", "confidence")
BODY_FIELDS = ("frames", "global_orient", "body_pose", "transl", "shape", "joints_cam", "joints_world",
               "keypoints3d_body", "observed", "observed_weight")


# the 2D front end's model-call counts (detect.people.PeopleTracker.counts) in summary.json
_CALL_STATS = ("detect_calls", "frame_detect_calls", "tile_detect_calls", "search_detect_calls",
               "landmark_calls", "follow_calls", "hidden_calls")


# ------------------------------------------------------------------------------------ stages
# Each stage: a run(ctx) function (and, for a cached stage, its key / save / load) plus one Stage(...)
# entry in STAGES. The model code is imported inside run() so that torch and the weights load only
# when the stage computes (a cache hit or --no-lift never imports them).
def _from_video(ctx: RunContext) -> bool:
    return ctx.opt.video is not None


def _video_key(ctx: RunContext) -> dict:
    o = ctx.opt
    return {"video_sha256": file_sha256(Path(o.video)), "detector_sha256": detector_sha256(), "start": o.start,
            "end": o.end, "stride": o.stride, "max_frames": o.max_frames, "redetect_every": o.redetect_every,
            "tiles": o.tiles, **({"image_features": True} if o.image_features else {})}


def _detect(ctx: RunContext) -> None:
    """People + 2D keypoints from the video (:func:`unveil.detect.people.track_video`)."""
    from .detect.people import track_video  # deferred: ai-edge-litert and the detector models

    o = ctx.opt
    total = ctx.checked.video_info.n_frames
    if total is not None:
        total = len(range(o.start, min(o.end or total, total), o.stride))
        if o.max_frames:
            total = min(total, o.max_frames)
    if ctx.progress is not None:
        ctx.progress.set_total(total)
    stats: dict = {}
    ctx.tracks2d = track_video(Path(o.video), start=o.start, end=o.end, stride=o.stride,
                               max_frames=o.max_frames, redetect_every=o.redetect_every, tiles=o.tiles,
                               stats=stats, progress=ctx.progress, features=o.image_features)
    ctx.stats = dict(stats)


def _save_2d(ctx: RunContext) -> tuple[dict, dict]:
    arr = pack_tracks(ctx.tracks2d, T2D_FIELDS)
    for t in ctx.tracks2d:
        arr[f"t{t.id}_layout"] = np.array(t.layout)
        for k, v in (t.features or {}).items():  # image tokens (--image-features): cache only
            arr[f"t{t.id}_f_{k}"] = np.asarray(v)
    return arr, {"stats": ctx.stats}


def _load_2d(ctx: RunContext, arr: dict, info: dict) -> None:
    ctx.tracks2d = unpack_tracks(arr, Track2D, T2D_FIELDS)
    for t in ctx.tracks2d:
        pre = f"t{t.id}_f_"
        t.features = {k[len(pre):]: v for k, v in arr.items() if k.startswith(pre)} or None
    ctx.stats = info.get("stats", {})


def _detected(ctx: RunContext) -> None:
    """After detection (or its cache): frame count, the front end's own timings, then the track filter."""
    s = ctx.stats
    ctx.n_frames = int(s.get("frames", 0))
    ctx.frame_indices = s.get("frame_indices", [])
    ctx.seconds.update({f"keypoints.{k}": float(s[k]) for k in ("decode", "detect", "landmarks", "tracking")
                        if k in s})
    ctx.cpu_seconds.update({f"keypoints.{k}": float(s[f"{k}_cpu"]) for k in ("decode", "detect", "landmarks")
                            if f"{k}_cpu" in s})
    _select_tracks(ctx)


def _imported(ctx: RunContext) -> None:
    """The 2D tracks of a ``--keypoints`` file (read and checked by :func:`unveil.validate.check_run`)."""
    ctx.tracks2d = ctx.checked.keypoints.tracks
    allf = np.concatenate([t.frames for t in ctx.tracks2d]) if ctx.tracks2d else np.zeros(0, int)
    ctx.frame_indices = sorted(set(allf.tolist()))
    ctx.n_frames = len(ctx.frame_indices)
    _select_tracks(ctx)


def _select_tracks(ctx: RunContext) -> None:
    """Drop too-short / low-confidence tracks, say which get no 3D, and set the camera."""
    o = ctx.opt
    ctx.tracks2d, ctx.dropped = filter_tracks(ctx.tracks2d, o.min_frames, o.min_confidence,
                                              detected=o.video is not None)
    ctx.no_3d = explain_tracks(ctx.tracks2d, ctx.n_frames, o.video is not None, ctx.notes)
    ctx.camera = Camera(focal=float(ctx.focal or default_focal(ctx.width, ctx.height)), cx=ctx.width / 2.0,
                        cy=ctx.height / 2.0, width=int(ctx.width), height=int(ctx.height))


def _lift_input(ctx: RunContext) -> list[Track2D]:
    return [t for t in ctx.tracks2d if t.id not in ctx.no_3d]


def _lift(ctx: RunContext) -> None:
    """2D -> 3D joints (MoPO: occlusion, lift, completion)."""
    from .motion.stage import DEFAULT, MoPO, lift_tracks  # deferred: torch and the lifter weights

    o = ctx.opt
    model = MoPO(**DEFAULT, image_depth=o.image_depth, image_depth_weights=o.image_depth_weights,
                 image_fusion=o.image_fusion) if (o.image_depth > 0 or o.image_fusion) else None
    ctx.tracks3d = lift_tracks(_lift_input(ctx), ctx.camera, model, fps=ctx.fps)


def _lift_key(ctx: RunContext) -> dict:
    key = {"focal": ctx.camera.focal, "tracks": [int(t.id) for t in ctx.tracks2d], "fps": ctx.fps}
    if ctx.opt.image_depth > 0:  # the option off keeps the key (and the output) of a run without it
        key.update(image_depth=float(ctx.opt.image_depth), image_depth_weights=ctx.opt.image_depth_weights)
    if ctx.opt.image_fusion:  # likewise
        key.update(image_fusion=str(ctx.opt.image_fusion))
    return key


def _fit(ctx: RunContext) -> None:
    """3D joints -> body-model parameters (ARTS: shape, IK, TIK)."""
    from .body import load_body_model  # deferred: torch
    from .fit.stage import fit_tracks  # deferred: torch and the fit weights

    bm = load_body_model(ctx.opt.body_model)
    pin_torch_threads()  # loading a body model resets torch to all cores
    ctx.bodies = fit_tracks(ctx.tracks3d, ctx.tracks2d, ctx.camera, bm)


def _save_bodies(ctx: RunContext, **info) -> tuple[dict, dict]:
    name = str(ctx.bodies[0].body_model) if ctx.bodies else str(ctx.opt.body_model)
    return pack_tracks(ctx.bodies, BODY_FIELDS), {**info, "body_model_name": name}


def _load_bodies(ctx: RunContext, arr: dict, info: dict) -> None:
    # the model's own name as the fit gave it (a rerun must equal a fresh run)
    name = str(info.get("body_model_name", ctx.opt.body_model))
    ctx.bodies = unpack_tracks(arr, BodyTrack, BODY_FIELDS, body_model=name)


def _trajectory(ctx: RunContext) -> None:
    """The fit gives a camera-space root from reprojection (depth-poor); the RopeTP prior regenerates
    the world trajectory from the local motion + foot contacts and is fused with it (one sparse
    least-squares solve per track, in one world frame shared by all tracks)."""
    pin_torch_threads()
    from .trajectory.diffusion import refine_trajectory  # deferred: torch and the RopeTP weights

    bodies = ctx.bodies
    world = world_from_camera(np.concatenate([np.asarray(b.joints_cam) for b in bodies], 0))
    by2 = {t.id: t for t in ctx.tracks2d}
    for b in bodies:
        t2 = by2.get(b.id)
        if t2 is None or len(b.frames) < 3:
            continue
        sel = np.clip(np.searchsorted(np.asarray(t2.frames), np.asarray(b.frames)), 0, len(t2.frames) - 1)
        conf = frame_confidence(to_coco17(np.asarray(t2.keypoints), t2.layout)[sel])
        old = np.asarray(b.joints_cam, np.float32)
        new = refine_trajectory(old, conf, ctx.fps, world=world)
        b.transl = (np.asarray(b.transl) + (new[:, 0] - old[:, 0])).astype(np.float32)
        b.joints_cam = new.astype(np.float32)


def _evidence(ctx: RunContext) -> None:
    """Pull the body onto the visible 2D keypoints (:mod:`unveil.fit.evidence`)."""
    from .body import load_body_model  # deferred: torch
    from .fit.evidence import evidence_tracks  # deferred: torch and the pose prior

    pin_torch_threads()
    ctx.bodies, ctx.evidence_info = evidence_tracks(ctx.bodies, ctx.tracks2d, ctx.tracks3d, ctx.camera,
                                                    load_body_model(ctx.opt.body_model))


def _body_keypoints_without_evidence(ctx: RunContext) -> None:
    """Bodies the evidence fit did not fit (off, or skipped) still get ``keypoints3d_body``: the same
    COCO-17 points of the body, placed as the detector places them (:func:`unveil.fit.evidence.keypoints_of_body`)."""
    if "evidence" in ctx.completed or not ctx.bodies or all(b.keypoints3d_body is not None for b in ctx.bodies):
        return
    from .body import load_body_model  # deferred: torch
    from .fit.evidence import keypoints_of_body  # deferred: torch and the pose prior

    model = load_body_model(ctx.opt.body_model)
    for b in ctx.bodies:
        if b.keypoints3d_body is None and len(b.frames):
            b.keypoints3d_body = keypoints_of_body(b, model)


def _write(ctx: RunContext) -> None:
    _body_keypoints_without_evidence(ctx)
    ctx.track_files = _write_tracks(ctx.out, ctx.tracks2d, ctx.tracks3d, ctx.bodies, ctx.camera, ctx.notes,
                                    ctx.opt.body_model, ctx.opt.save_vertices)
    trim_heap()  # the npz files' freed temporaries go back before keypoints.json is written (docs/batch.md)
    dump(ctx.out / "keypoints.json", ctx.tracks2d, ctx.fps, ctx.width, ctx.height, ctx.camera.focal)


def _export(ctx: RunContext) -> None:
    """<id>.glb, scene.glb, <id>.bvh, <id>.trc, viewer.html (:func:`unveil.io.exports.write_exports`)."""
    pin_torch_threads()
    from .io.exports import write_exports  # deferred: torch, roma

    o = ctx.opt
    ctx.exported = write_exports(ctx.out, ctx.bodies, o.body_model, ctx.fps, verbose=not o.quiet, rig=o.rig_names,
                                 frame_rate=ctx.fps * (o.stride if o.video is not None else 1),
                                 image=(ctx.camera.width, ctx.camera.height, ctx.camera.focal),
                                 video=None if o.video is None else {"path": str(o.video), "start": o.start,
                                                                     "end": o.end, "stride": o.stride,
                                                                     "max_frames": o.max_frames})


def _render(ctx: RunContext) -> None:
    o = ctx.opt
    if ctx.progress is not None:
        ctx.progress.set_total(ctx.n_frames)
    res = _render_overlay(ctx.out / "overlay.mp4", o.video, ctx.tracks2d, ctx.fps, ctx.width, ctx.height, o.start,
                          o.end, o.stride, o.max_frames, ctx.frame_indices, ctx.camera, o.overlay, ctx.bodies,
                          ctx.tracks3d, o.body_model, on_frame=ctx.progress)
    ctx.notes += [f"overlay: {n}" for n in res["notes"]]
    ctx.overlay_written = True


# The 3D stages: an UnveilError (a problem with the user's input) ends the run; any other failure is a
# note and the run goes on without the stage's product.
_SOFT = dict(soft=(Exception,), hard=(UnveilError,))

STAGES: tuple[Stage, ...] = (
    Stage("keypoints", 1, _detect, hashes=("detect/*.py",), key=_video_key, save=_save_2d, load=_load_2d,
          finish=_detected, when=_from_video),
    Stage("keypoints", 1, _imported, key=lambda c: {"keypoints_sha256": file_sha256(Path(c.opt.keypoints_json))},
          when=lambda c: not _from_video(c)),
    Stage("lift", 1, _lift, hashes=("motion/*.py", "geometry.py", "checkpoint.py", "weights/mopo_*.pt",
                                  "weights/perframe.pt", "weights/image_depth*.pt", "weights/image_fusion*.pt"),
          after="keypoints",
          key=_lift_key,
          save=lambda c: (pack_tracks(c.tracks3d, T3D_FIELDS), {}),
          load=lambda c, arr, info: setattr(c, "tracks3d", unpack_tracks(arr, Track3D, T3D_FIELDS)),
          switch="lift", off_note="lift disabled (--no-lift)", when=lambda c: bool(_lift_input(c)),
          failure="lift failed ({kind}: {message}); later stages skipped", **_SOFT),
    Stage("fit", 1, _fit, hashes=("fit/*.py", "trajectory/*.py", "checkpoint.py", "weights/tik*.pt",
                                  "weights/shape*.pt", "weights/ropetp*.pt"), after="lift",
          key=lambda c: {"body_model": body_model_sha256(c.opt.body_model)}, save=_save_bodies, load=_load_bodies,
          switch="fit", when=lambda c: bool(c.tracks3d),
          failure="fit failed ({kind}: {message}); body-model fields left out", **_SOFT),
    Stage("trajectory", 1, _trajectory, switch="traj_prior", off_note="trajectory prior disabled (--no-traj-prior)",
          when=lambda c: bool(c.bodies), soft=(Exception,), failure="trajectory prior skipped ({kind}: {message})"),
    Stage("evidence", 1, _evidence, hashes=("fit/evidence.py", "fit/pose_points.py", "fit/pose_prior.py",
                                            "fit/self_occlusion.py", "weights/pose_prior*.npz",
                                            "weights/keypoint_offsets*.npz", "trajectory/*.py"), after="fit",
          key=lambda c: {"traj_prior": bool(c.opt.traj_prior), "fps": c.fps},
          save=lambda c: _save_bodies(c, tracks=c.evidence_info), load=_load_bodies,
          switch="evidence_fit", off_note="evidence fit disabled (--no-evidence-fit)", when=lambda c: bool(c.bodies),
          soft=(Exception,), failure="evidence fit skipped ({kind}: {message})"),
    Stage("write", 1, _write),
    Stage("export", 1, _export, switch="export", off_note="disabled (--no-export)", note_to="export_notes",
          when=lambda c: bool(c.bodies), soft=(Exception,), failure="export failed ({kind}: {message})"),
    Stage("render", 1, _render, switch="render", soft=(UnveilError,), failure="overlay not written: {message}"),
)


# --------------------------------------------------------------------------------------- run
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
         min_confidence: float | None = None, image_features: bool = False, image_depth: float = 0.0,
         image_depth_weights: str | None = None, image_fusion: str | None = None,
         stages: Sequence[Stage] | None = None) -> dict:
    """Run the pipeline; returns the summary dict (also written to OUT/summary.json).

    ``evidence_fit``: pull the body onto the visible 2D keypoints (:mod:`unveil.fit.evidence`);
    ``save_vertices``: add the posed mesh to each npz; ``overlay``: what ``overlay.mp4`` draws
    (``mesh`` | ``2d`` | ``both``); ``rig_names``: joint names in the GLB files (``smpl`` | ``mixamo``
    | ``vrm``); ``min_frames`` / ``min_confidence``: tracks shorter than this many frames, or with a
    lower mean keypoint confidence, are dropped after the 2D stage (listed in summary.json; None:
    :mod:`unveil.io.track_filter`'s defaults for video, keep all for ``keypoints_json``);
    ``image_features``: run the tapped landmark model and keep per-person image tokens
    (``Track2D.features``, :mod:`unveil.detect.taps`) in the keypoints stage's cache;
    ``image_depth``: the image-evidence network's share in the seen limb joints' depth relative to
    the hips (:mod:`unveil.motion.image_depth`, 0 = off; the shipped network needs
    ``image_features``); ``image_depth_weights``: its weight file (None = ``image_depth.pt``;
    ``image_depth_kponly.pt`` = the keypoints-only twin);
    ``image_fusion``: MoPO's fusion over the image tokens in the lift stage
    (:mod:`unveil.motion.image_fusion`): its weight file (e.g. ``image_fusion.pt``), None = off;
    needs ``image_features``;
    ``stages``: the stages to run (default :data:`STAGES`; tests pass stand-ins,
    :func:`unveil.stages.substitute`). The Python API with typed results is :func:`unveil.api.run`."""
    opt = SimpleNamespace(**locals())  # the options, as the stages read them (ctx.opt)
    from .io.overlay import check_output_options  # deferred: OpenCV

    check_output_options(overlay, rig_names)  # before any work: a typo fails at once
    # check every option and input before OUT is created: bad input leaves nothing behind
    checked = check_run(video, keypoints_json, out_dir, body_model, focal, start, end, stride, max_frames,
                        redetect_every, need_body=lift and fit)
    if not (0.0 <= image_depth <= 1.0):
        raise UnveilError(f"--image-depth must be in [0, 1], got {image_depth}")
    if image_depth > 0 and (not image_features or video is None) and image_depth_reads_tokens(image_depth_weights):
        raise UnveilError("--image-depth needs a video and --image-features (the network reads the image tokens)")
    if image_fusion and (not image_features or video is None):
        raise UnveilError("--image-fusion needs a video and --image-features (it reads the image tokens)")
    if image_fusion:
        fpath = WEIGHTS_DIR / image_fusion if "/" not in str(image_fusion) else Path(image_fusion)
        if not fpath.is_file():
            raise UnveilError(f"--image-fusion: no such file {fpath}")
    if image_features and video is not None:  # the tapped landmark model (`unveil models fetch` derives it)
        model_path("pose_landmark_full_taps.tflite")
    out = Path(out_dir)
    od = outdir.open_run(out, {"input": str(video if video is not None else keypoints_json),
                               "kind": "video" if video is not None else "keypoints"})
    # a status line per stage on stderr (bars on a terminal); progress=False: silent (unveil.progress)
    ctx = RunContext(out=out, opt=opt, checked=checked, reporter=Reporter(progress))
    if video is not None:
        info = checked.video_info
        ctx.fps, ctx.width, ctx.height, ctx.focal = info.fps / stride, info.width, info.height, focal
    else:
        kf = checked.keypoints
        ctx.fps, ctx.width, ctx.height, ctx.focal = kf.fps, kf.width, kf.height, focal or kf.focal
    run_stages(STAGES if stages is None else stages, ctx)
    summary = _summary(ctx)
    write_text(out / "summary.json", json.dumps(summary, indent=1))
    od.finish(summary["status"])  # earlier runs' files this run did not write are removed; manifest.json
    return summary


def _summary(ctx: RunContext) -> dict:
    """``summary.json`` of a run (docs/outputs.md): inputs, camera, tracks, timings, notes, status."""
    o = ctx.opt
    video, keypoints_json, body_model = o.video, o.keypoints_json, o.body_model
    start, end, stride, max_frames = o.start, o.end, o.stride, o.max_frames
    tracks2d, tracks3d, bodies, stats, camera = ctx.tracks2d, ctx.tracks3d, ctx.bodies, ctx.stats, ctx.camera
    n_frames = ctx.n_frames
    ppf = stats.get("people_per_frame") if stats else None
    status, problems = outcome(tracks2d, tracks3d, bodies, ctx.exported, ctx.notes, lift=o.lift, fit=o.fit,
                               export=o.export, render=o.render, overlay_written=ctx.overlay_written, no_3d=ctx.no_3d)
    total_s = sum(v for k, v in ctx.seconds.items() if "." not in k)
    return {
        "input": str(video if video is not None else keypoints_json),
        "kind": "video" if video is not None else "keypoints",
        "fps": ctx.fps, "width": ctx.width, "height": ctx.height, "frames": n_frames,
        "frame_range": {"start": start, "end": end, "stride": stride, "max_frames": max_frames},
        "camera": {"focal": camera.focal, "principal_point": [camera.cx, camera.cy],
                   "focal_source": "given" if ctx.focal else "default_focal (55 deg vertical FoV guess)"},
        "body_model": str(body_model),
        "tracks": [{"id": int(t.id), "first_frame": int(t.frames[0]), "last_frame": int(t.frames[-1]),
                    "frames": int(len(t.frames)), "layout": t.layout,
                    "mean_confidence": float(np.mean(t.keypoints[..., 2])), "file": ctx.track_files.get(t.id)}
                   for t in tracks2d],
        "dropped_tracks": ctx.dropped,
        "people_per_frame": {"mean": float(np.mean(ppf)), "max": int(np.max(ppf))} if ppf else None,
        "seconds": {k: round(v, 4) for k, v in ctx.seconds.items()},
        "cpu_seconds": {k: round(v, 4) for k, v in ctx.cpu_seconds.items()},
        "fps_end_to_end": round(n_frames / total_s, 3) if total_s > 0 and n_frames else None,
        "model_calls_per_frame": ({k: round(stats[k] / n_frames, 4) for k in _CALL_STATS if k in stats}
                                  if stats and n_frames else None),
        "stages_cached": ctx.cached,
        "stages_done": ["keypoints"] + (["lift"] if tracks3d else []) + (["fit"] if bodies else [])
                       + (["evidence"] if "evidence" in ctx.completed else []),
        "exports": ctx.exported,
        "notes": ctx.notes,
        "status": status,
        "problems": problems,
        "versions": _versions(),
    }




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
        for t2 in tracks2d:
            t3 = by3.get(t2.id)
            if t3 is None:
                continue
            try:
                root = root_translation(t3.joints, to_coco17(t2.keypoints, t2.layout), camera)
                cam_joints[t2.id] = (t3.joints + root[:, None, :]).astype(np.float32)
            except Exception as e:
                notes.append(f"root translation failed for track {t2.id} ({type(e).__name__}: {e})")
    jc_all = [b.joints_cam for b in byb.values()] or list(cam_joints.values())
    if jc_all:
        try:
            world_rt = world_from_camera(np.concatenate([np.asarray(j) for j in jc_all], 0))
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
        for k in ("held", "presence", "pose_score", "lr_swapped", "covered"):  # detector evidence (BlazePose tracks)
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
            a["joints_world"] = to_world(a["joints_cam"], *world_rt)
            rt = world_rt
            if b is not None:
                b.joints_world = a["joints_world"]  # the exports use the shared world frame
        elif b is not None and b.joints_world is not None:
            from .io.world_motion import camera_to_world  # deferred: torch, roma

            rt = camera_to_world(b)  # the rigid map between the fit's own joints_cam / joints_world
        if rt is not None:
            a["cam_to_world_R"] = np.asarray(rt[0], np.float32)
            a["cam_to_world_t"] = np.asarray(rt[1], np.float32)
            if b is not None:
                from .io.body_arrays import world_pose  # deferred: torch, roma

                a["global_orient_world"], a["transl_world"] = world_pose(b.global_orient, b.transl, *rt)
        if b is not None and save_vertices:
            try:
                from .io.body_arrays import pose_body  # deferred: torch, roma

                if mesh_model is None:
                    from .body import load_body_model  # deferred: torch

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
                    on_frame=None) -> dict:
    """``overlay.mp4`` over the video's frames (or a grey canvas for --keypoints input):
    :func:`unveil.io.overlay.write_run_overlay`."""
    from .io.overlay import write_run_overlay  # deferred: OpenCV

    if video is not None:
        frames = iter_frames(video, start=start, end=end, stride=stride, max_frames=max_frames)
    else:
        blank = np.full((int(height), int(width), 3), 40, np.uint8)
        frames = ((f, blank.copy()) for f in frame_indices)
    return write_run_overlay(path, frames, tracks2d, camera, fps, mode=mode, bodies=bodies, tracks3d=tracks3d,
                             body_model=body_model, on_frame=on_frame)


def _versions() -> dict:
    v = {"unveil": __version__, "python": sys.version.split()[0], "numpy": np.__version__}
    for mod in ("torch", "av", "cv2", "ai_edge_litert"):
        try:
            m = importlib.import_module(mod)
            v[mod] = getattr(m, "__version__", "?")
        except Exception:
            pass
    return v


def image_depth_reads_tokens(weights: str | None) -> bool:
    """Whether the image-depth weight file (a name in ``unveil/weights`` or a path; None = the shipped
    ``image_depth.pt``) reads the image tokens (its checkpoint config's ``use_tokens``).

    Raises:
        UnveilError: no such file, or not a checkpoint.
    """
    from .checkpoint import read_checkpoint  # deferred: torch

    name = weights or "image_depth.pt"
    path = WEIGHTS_DIR / name if "/" not in str(name) else Path(name)
    if not path.is_file():
        raise UnveilError(f"--image-depth-weights: no such file {path}")
    return bool(read_checkpoint(path)["config"].get("use_tokens", True))


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
    ap.add_argument("--redetect", type=int, default=5,
                    help="search for new people every N frames (default 5; frames of 30 fps video: at 60 fps "
                         "every 2N; the search backs off while it finds nobody new)")
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
    ap.add_argument("--no-progress", dest="progress", action="store_false", default=None,
                    help="no status line per stage (nor live bars) on stderr")
    ap.add_argument("--min-frames", type=int, default=None,
                    help=f"drop tracks with fewer frames (default {MIN_FRAMES} for video; --keypoints: keep all)")
    ap.add_argument("--min-confidence", type=float, default=None,
                    help=f"drop tracks whose mean 2D keypoint confidence on the frames they were seen is lower "
                         f"(default {MIN_CONFIDENCE} for video; --keypoints: keep all)")
    ap.add_argument("--image-features", action="store_true",
                    help="also keep image feature tokens per person and frame from the tapped landmark model "
                         "(cache/keypoints.npz only; docs/frontend.md)")
    ap.add_argument("--image-depth", type=float, default=0.0, metavar="SHARE",
                    help="blend the seen limb joints' depth relative to the hips towards the image-evidence "
                         "network's (share in [0, 1], default 0 = off; needs --image-features; "
                         "docs/image_evidence.md)")
    ap.add_argument("--image-depth-weights", default=None, metavar="NAME",
                    help="the image-depth network's weight file (default image_depth.pt; "
                         "image_depth_kponly.pt: the keypoints-only twin; image_depth_rope.pt: the Rope "
                         "part hierarchy, docs/image_evidence.md)")
    ap.add_argument("--image-fusion", nargs="?", const="image_fusion.pt", default=None, metavar="NAME",
                    help="refine the lifted joints with MoPO's cross-attention fusion over the image tokens "
                         "(weight file, default image_fusion.pt; needs --image-features; docs/image_evidence.md)")
    a = ap.parse_args(argv)
    threads, capped = check_threads(a.threads)  # 1..cores (above: capped, said on stderr)
    if capped:
        print(f"unveil: note: {capped}", file=sys.stderr)
    if threads:
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
            overlay=a.overlay, rig_names=a.rig_names, min_frames=a.min_frames, min_confidence=a.min_confidence,
            progress=a.progress, image_features=a.image_features, image_depth=a.image_depth,
            image_depth_weights=a.image_depth_weights, image_fusion=a.image_fusion)
    print(f"{s['frames']} frames, {len(s['tracks'])} tracks -> {a.out}/tracks/  "
          f"({s['fps_end_to_end']} frames/s end to end; stages: {', '.join(s['stages_done'])})")
    for n in s["notes"]:
        print(f"note: {n}")
    for n in s["exports"]["notes"]:
        print(f"note: export: {n}")
    if s["status"] == "failed":
        raise IncompleteRunError(f"run incomplete: {s['problems'][0]} (status 'failed' in {a.out}/summary.json)")
    return 0
