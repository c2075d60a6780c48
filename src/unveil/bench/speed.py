"""`unveil bench speed [VIDEO] [--frames N]`: per-stage frames/s and peak memory, printed as a table.

Stages timed on the given video (default: media/vtest.avi from scripts/fetch_media.sh, else a
synthetic 640x480 clip made here, which has no real people, so detector/landmark rates on it only
measure the empty-frame cost): decode (PyAV), detect (BlazePose detector, whole frame + tiles, per
frame it runs on), landmarks (per person-crop), tracking (association bookkeeping), the end-to-end
2D front end, and MoPO's lift/complete (`unveil.motion.stage.speed_report()`) when it imports.
Peak memory: the process's max RSS (resource.getrusage). The table notes the machine's load
average, since other processes share the cores.

Per stage it prints frames/s from the summed per-call wall time, and CPU ms per frame (the CPU
time of the threads that ran the stage: robust to other load, unlike wall time). The default
(``--workers 1``, as ``unveil run``) is the serial path: one interpreter with UNVEIL_THREADS threads
per call, decoding on a background thread when there is more than one; per-stage CPU is then shown
only for 1 thread, as the interpreter's own threads cannot be attributed. ``--workers 2`` (opt-in,
not reproducible: :mod:`unveil.detect.people`) runs the per-person crops and detector tiles
concurrently, so the per-stage wall sums can exceed the elapsed time.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
from ..errors import UnveilError
from ..io.video import iter_frames, probe, write_video
from ..runtime import threads
from .environment import describe, environment


def _default_video() -> Path:
    root = Path(__file__).resolve().parents[3]
    for cand in (Path("media/vtest.avi"), root / "media" / "vtest.avi"):
        if cand.is_file():
            return cand
    return None


def _synthetic(path: Path, n: int = 60) -> Path:
    import cv2

    def frames():
        for i in range(n):
            img = np.full((480, 640, 3), 90, np.uint8)
            cv2.rectangle(img, (50 + 5 * i, 100), (120 + 5 * i, 400), (200, 160, 120), -1)
            yield img

    return write_video(path, frames(), fps=30)


def measure(video, frames: int = 100, redetect_every: int = 5, tiles: bool = True, workers: int | None = None) -> dict:
    from ..detect.people import track_video  # deferred: loads cv2, scipy

    info = probe(video)
    t = time.perf_counter()
    n = sum(1 for _ in iter_frames(video, max_frames=frames))
    decode_s = time.perf_counter() - t
    st: dict = {}
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t = time.perf_counter()
    tracks = track_video(video, max_frames=frames, redetect_every=redetect_every, tiles=tiles, stats=st,
                         workers=workers)
    total = time.perf_counter() - t
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    ppf = np.asarray(st.get("people_per_frame") or [0])
    res = {
        "video": str(video), "size": f"{info.width}x{info.height}", "frames": n,
        "people_per_frame": float(ppf.mean()), "tracks": len(tracks),
        "decode_fps": n / max(decode_s, 1e-9),
        "detect_ms_per_call": 1000 * st["detect"] / max(st["detect_calls"], 1),
        "detect_fps": n / max(st["detect"], 1e-9),
        "landmarks_ms_per_person": 1000 * st["landmarks"] / max(st["landmark_calls"], 1),
        "landmarks_fps": n / max(st["landmarks"], 1e-9),
        "tracking_fps": n / max(st["tracking"], 1e-9),
        "end_to_end_fps": n / max(total, 1e-9),
        "cpu_ms_per_frame": 1000 * cpu / max(n, 1),
        "workers": st.get("workers", 1),
        "prefetch": bool(st.get("prefetch", False)),
        "detect_calls_per_frame": st["detect_calls"] / max(n, 1),
        "landmark_calls_per_frame": st["landmark_calls"] / max(n, 1),
        **{f"{k}_per_frame": st.get(k, 0) / max(n, 1)
           for k in ("frame_detect_calls", "tile_detect_calls", "search_detect_calls")},
        "seconds": {k: st[k] for k in ("decode", "detect", "landmarks", "tracking")},
        "cpu_ms": {k: 1000 * st[f"{k}_cpu"] / max(n, 1) for k in ("decode", "detect", "landmarks")
                   if f"{k}_cpu" in st},
    }
    if len(res["cpu_ms"]) == 3:
        res["cpu_ms"]["rest"] = res["cpu_ms_per_frame"] - sum(res["cpu_ms"].values())
    try:
        from ..motion.stage import speed_report  # deferred: loads scipy, torch
    except Exception as e:  # MoPO not importable
        res["mopo"] = f"unavailable ({type(e).__name__})"
    else:
        try:
            from ..runtime import TORCH_THREADS, torch_threads  # deferred: guarded by try

            with torch_threads(TORCH_THREADS):  # as `unveil run` runs it
                res["mopo"] = speed_report(frames=max(n, 300))
        except Exception as e:
            res["mopo"] = f"failed ({type(e).__name__}: {e})"
    try:  # the evidence fit on a synthetic one-person track (body model needed)
        from .pipeline_rows import evidence_speed  # deferred: loads roma, scipy, torch

        res["evidence"] = {f"{n} fr x {k}": evidence_speed(n, people=k) for n, k in ((150, 1), (1000, 1), (150, 4))}
        # the same fit by autograd (the code before the closed-form gradient), for the ratio on this machine now
        res["evidence"]["150 fr x 1, autograd"] = evidence_speed(150, people=1, closed_form_grad=False)
    except Exception as e:
        res["evidence"] = f"failed ({type(e).__name__}: {e})"
    res["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    res["load_avg"] = os.getloadavg()
    return res


def taps_ratio(video, frames: int = 100, redetect_every: int = 5, tiles: bool = True, workers: int | None = None,
               repeats: int = 3) -> dict:
    """The 2D front end without and with the feature taps (:mod:`unveil.detect.taps`) on the same
    frames, alternated ``repeats`` times; each number is the lowest over the runs of its variant
    (other processes share the cores and only slow runs down).

    Returns:
        ``plain`` / ``taps``: CPU ms per frame (all threads, decode included), elapsed s, landmark
        wall ms per call and (1-thread interpreters only) landmark CPU ms per call; ``*_ratio``:
        taps / plain of each; ``keypoints_identical``: the tracks' frames and keypoints are equal.
    """
    from ..detect.people import track_video  # deferred: loads cv2, scipy

    runs: dict = {"plain": [], "taps": []}
    kps: dict = {}
    for _ in range(max(1, repeats)):
        for name in ("plain", "taps"):
            st: dict = {}
            ru0 = resource.getrusage(resource.RUSAGE_SELF)
            t = time.perf_counter()
            tracks = track_video(video, max_frames=frames, redetect_every=redetect_every, tiles=tiles, stats=st,
                                 workers=workers, features=name == "taps")
            wall = time.perf_counter() - t
            ru1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
            n, calls = max(st["frames"], 1), max(st["landmark_calls"], 1)
            r = {"cpu_ms_per_frame": 1000 * cpu / n, "elapsed_s": wall,
                 "landmarks_ms_per_call": 1000 * st["landmarks"] / calls}
            if "landmarks_cpu" in st:
                r["landmarks_cpu_ms_per_call"] = 1000 * st["landmarks_cpu"] / calls
            runs[name].append(r)
            kps[name] = [(t.frames, t.keypoints) for t in tracks]
            calls_per_frame = st["landmark_calls"] / n
    best = {k: {m: min(r[m] for r in v) for m in v[0]} for k, v in runs.items()}
    same = len(kps["plain"]) == len(kps["taps"]) and all(
        np.array_equal(fa, fb) and np.array_equal(ka, kb) for (fa, ka), (fb, kb) in zip(kps["plain"], kps["taps"]))
    out = {**best, "runs": runs, "keypoints_identical": bool(same), "landmark_calls_per_frame": calls_per_frame}
    for m in best["plain"]:
        out[m.replace("_per_frame", "").replace("_per_call", "") + "_ratio"] = best["taps"][m] / max(best["plain"][m], 1e-9)
    return out


def blazepose_single(video, frames: int = 100, num_threads: int | None = None, min_score: float = 0.5) -> dict:
    """MediaPipe-style single-person BlazePose pipeline, the speed reference: decode, the detector
    on the whole frame only while nobody is held, then the landmark model on the crop its own helper
    points place on the next frame (re-detect when the pose score drops below ``min_score``).

    Returns dict: frames, seconds (elapsed), cpu_s (process CPU time: every thread, decoding
    included), detect_calls, landmark_calls, fps, cpu_ms_per_frame.
    """
    from ..detect.blazepose import LandmarkModel, PoseDetector  # deferred: loads cv2

    det, lmk = PoseDetector(num_threads=num_threads), LandmarkModel(num_threads=num_threads)
    n = n_det = n_lmk = 0
    roi = None
    t, c = time.perf_counter(), time.process_time()
    for _, img in iter_frames(video, max_frames=frames):
        n += 1
        if roi is None:
            n_det += 1
            d = det(img)
            if not d:
                continue
            roi = d[0].roi()
        n_lmk += 1
        lm = lmk(img, roi)
        roi = lm.next_roi() if lm.score >= min_score else None
    dt, dc = time.perf_counter() - t, time.process_time() - c
    return {"frames": n, "seconds": dt, "cpu_s": dc, "detect_calls": n_det, "landmark_calls": n_lmk,
            "fps": n / max(dt, 1e-9), "cpu_ms_per_frame": 1000 * dc / max(n, 1)}


# what `--end-to-end` runs of `unveil run` (the default stages minus the two that write files the
# reference has no counterpart for): tracks/<id>.npz and keypoints.json are written
E2E_STAGES = ("keypoints", "lift", "fit", "trajectory", "evidence", "write")
E2E_LEFT_OUT = ("export (GLB/BVH/TRC/viewer.html)", "render (overlay.mp4)")


def end_to_end(video, frames: int = 100, repeats: int = 2, warmup_frames: int = 10) -> dict:
    """The whole ``unveil run`` pipeline (:func:`unveil.pipeline.run` with its default options but
    ``render=False, export=False``: stages :data:`E2E_STAGES`, each run into a fresh output folder
    so no stage cache is hit) against :func:`blazepose_single` on the same frames, alternated
    ``repeats`` times in this process; every number is the lowest over the runs of its side (other
    processes share the cores and only slow runs down).

    A short warm-up run (``warmup_frames``) first pays the one-off costs of a process (imports of
    torch and friends, weights read into the in-process caches); it is timed and reported as
    ``cold_start`` but not in the ratios.

    Args:
        video: path of the video.
        frames: frames to process (the first N).
        repeats: alternations (>= 1).
        warmup_frames: frames of the untimed-for-ratio warm-up run (0: none).

    Returns:
        dict: ``unveil`` / ``blazepose`` (best ``seconds``, ``cpu_s``, ``fps``, ``cpu_ms_per_frame``;
        process CPU time, all threads), ``runs`` (every run), ``cpu_ratio`` (BlazePose CPU per frame /
        unveil's: >= 1 means unveil is cheaper), ``fps_ratio`` (unveil fps / BlazePose fps),
        ``stage_cpu_ms`` / ``stage_ms`` (per frame, of unveil's lowest-CPU run, from its
        ``summary.json`` clocks; ``outside stages``: the run's process CPU not inside any stage),
        ``decode``: decoding the same frames alone (PyAV + RGB, as both sides do; best of the runs),
        ``calls`` (unveil's model calls per frame), ``people_per_frame``, ``tracks``, ``files``
        (what the run wrote under ``tracks/``), ``cold_start``.
    """
    import tempfile

    from ..pipeline import run as run_pipeline  # deferred: loads torch and the models on first use

    runs: dict = {"unveil": [], "blazepose": [], "decode": []}
    info: dict = {}
    with tempfile.TemporaryDirectory(prefix="unveil-e2e-") as tmp:
        cold = None
        if warmup_frames > 0:
            t, c = time.perf_counter(), time.process_time()
            run_pipeline(video=video, out_dir=Path(tmp) / "warmup", render=False, export=False,
                         max_frames=min(frames, warmup_frames), progress=False)
            cold = {"frames": min(frames, warmup_frames), "seconds": time.perf_counter() - t,
                    "cpu_s": time.process_time() - c}
        for r in range(max(1, repeats)):
            out = Path(tmp) / f"run{r}"
            t, c = time.perf_counter(), time.process_time()
            s = run_pipeline(video=video, out_dir=out, render=False, export=False, max_frames=frames,
                             progress=False)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            n = max(int(s["frames"]), 1)
            runs["unveil"].append({"frames": n, "seconds": wall, "cpu_s": cpu, "fps": n / max(wall, 1e-9),
                                   "cpu_ms_per_frame": 1000 * cpu / n, "stage_cpu_s": s["cpu_seconds"],
                                   "stage_s": s["seconds"], "status": s["status"]})
            if not info:
                info = {"calls": s.get("model_calls_per_frame") or {}, "tracks": len(s["tracks"]),
                        "people_per_frame": (s.get("people_per_frame") or {}).get("mean", 0.0),
                        "files": sorted(p.name for p in (out / "tracks").glob("*")) if (out / "tracks").is_dir()
                        else [], "stages_done": s["stages_done"], "status": s["status"]}
            b = blazepose_single(video, frames=frames)
            runs["blazepose"].append({**b, "cpu_ms_per_frame": 1000 * b["cpu_s"] / max(b["frames"], 1)})
            t, c = time.perf_counter(), time.process_time()  # decoding alone: a cost both sides pay
            nd = sum(1 for _ in iter_frames(video, max_frames=frames))
            runs["decode"].append({"frames": nd, "seconds": time.perf_counter() - t, "cpu_s": time.process_time() - c})
            runs["decode"][-1].update(fps=nd / max(runs["decode"][-1]["seconds"], 1e-9),
                                      cpu_ms_per_frame=1000 * runs["decode"][-1]["cpu_s"] / max(nd, 1))
    best = {k: {m: min(r[m] for r in v) for m in ("seconds", "cpu_s", "fps", "cpu_ms_per_frame")}
            for k, v in runs.items()}
    for k, v in runs.items():
        best[k]["fps"] = max(r["fps"] for r in v)
        best[k]["frames"] = v[0]["frames"]
    u = min(runs["unveil"], key=lambda r: r["cpu_s"])
    n = u["frames"]
    top = {k: v for k, v in u["stage_cpu_s"].items() if "." not in k}
    stage_cpu = {k: 1000 * v / n for k, v in u["stage_cpu_s"].items()}
    stage_cpu["outside stages"] = 1000 * (u["cpu_s"] - sum(top.values())) / n
    b = runs["blazepose"][0]
    return {"unveil": best["unveil"], "blazepose": best["blazepose"], "decode": best["decode"], "runs": runs,
            "cpu_ratio": best["blazepose"]["cpu_ms_per_frame"] / max(best["unveil"]["cpu_ms_per_frame"], 1e-9),
            "fps_ratio": best["unveil"]["fps"] / max(best["blazepose"]["fps"], 1e-9),
            "stage_cpu_ms": stage_cpu, "stage_ms": {k: 1000 * v / n for k, v in u["stage_s"].items()},
            "blazepose_calls": {"detect_calls": b["detect_calls"] / max(b["frames"], 1),
                                "landmark_calls": b["landmark_calls"] / max(b["frames"], 1)},
            "cold_start": cold, "load_avg": os.getloadavg(), **info}


def print_end_to_end(e: dict, video) -> None:
    """The table of :func:`end_to_end` on stdout."""
    u, b = e["unveil"], e["blazepose"]
    k = len(e["runs"]["unveil"])
    print(f"end to end: `unveil run` stages {', '.join(E2E_STAGES)} (left out: {', '.join(E2E_LEFT_OUT)}) vs the "
          f"BlazePose single-person pipeline, {u['frames']} frames of {video}, alternated {k}x, lowest of each; "
          f"{threads()} threads, load average {e['load_avg'][0]:.2f} on {os.cpu_count()} cores")
    print(describe(environment()))
    print(f"| {'pipeline':<28} | {'frames/s':>9} | {'CPU ms/frame':>12} | notes")
    print(f"|{'-' * 30}|{'-' * 11}|{'-' * 14}|{'-' * 40}")
    c = e["calls"]
    print(f"| {'unveil end to end':<28} | {u['fps']:>9.1f} | {u['cpu_ms_per_frame']:>12.1f} | {e['tracks']} tracks, "
          f"{e['people_per_frame']:.2f} people/frame, {c.get('detect_calls', 0):.3f} detector + "
          f"{c.get('landmark_calls', 0):.2f} landmark calls/frame; status {e['status']}; wrote "
          f"{len(e['files'])} file(s) in tracks/")
    bc = e["blazepose_calls"]
    print(f"| {'BlazePose single-person':<28} | {b['fps']:>9.1f} | {b['cpu_ms_per_frame']:>12.1f} | "
          f"{bc['detect_calls']:.3f} detector + {bc['landmark_calls']:.2f} landmark calls/frame, decode included")
    d = e["decode"]
    print(f"| {'(decode + RGB alone)':<28} | {d['fps']:>9.1f} | {d['cpu_ms_per_frame']:>12.1f} | "
          f"PyAV with its own threads; inside both rows above")
    print(f"unveil / BlazePose single-person: {e['cpu_ratio']:.3f} by process CPU time per frame, "
          f"{e['fps_ratio']:.3f} by elapsed frames/s (target >= 0.8)")
    ppf = max(e["people_per_frame"], 1e-9)
    print(f"per person-frame (unveil follows {ppf:.2f} people/frame, the reference 1): "
          f"{u['cpu_ms_per_frame'] / ppf:.1f} vs {b['cpu_ms_per_frame']:.1f} CPU-ms")
    print("unveil CPU ms per frame by stage (lowest-CPU run; summary.json clocks, process CPU time; "
          "keypoints.* are its parts, thread CPU of the model calls: decoding's own threads are in "
          "keypoints, not keypoints.decode):")
    for name, v in e["stage_cpu_ms"].items():
        wall = e["stage_ms"].get(name)
        print(f"  {name:<22} {v:8.2f}" + (f"   (wall {wall:.2f} ms/frame)" if wall is not None else ""))
    if e["cold_start"]:
        cs = e["cold_start"]
        print(f"cold start (first run in this process: imports, weights; {cs['frames']} frames): "
              f"{cs['seconds']:.2f} s elapsed, {cs['cpu_s']:.2f} CPU-s; not in the ratios")


def main(argv: list[str], prog: str = "unveil bench speed") -> int:
    ap = argparse.ArgumentParser(prog=prog, description="per-stage frames/s and peak memory of the 2D front end")
    ap.add_argument("video", nargs="?", help="video to time (default: media/vtest.avi, else a synthetic clip)")
    ap.add_argument("--frames", type=int, default=100, help="frames to process (default 100)")
    ap.add_argument("--redetect", type=int, default=5, help="detector every N frames")
    ap.add_argument("--no-tiles", dest="tiles", action="store_false", default=True)
    ap.add_argument("--workers", type=int, default=None,
                    help="model calls in flight (default 1 = serial, as unveil run; 2 or more: worker threads, "
                         "not reproducible, unveil.detect.people)")
    ap.add_argument("--baseline", action="store_true",
                    help="also time a MediaPipe-style single-person BlazePose pipeline on the same frames "
                         "(detector only while nobody is held) and print unveil's speed as a ratio of it")
    ap.add_argument("--taps", action="store_true",
                    help="also time the front end with the feature taps (image tokens) against without, "
                         "alternated twice on the same frames, and print the ratio")
    ap.add_argument("--end-to-end", action="store_true",
                    help="instead of the front-end table: time the whole `unveil run` pipeline (no render, no "
                         "export; npz + keypoints.json written) against the BlazePose single-person pipeline "
                         "on the same frames, alternated twice, with unveil's CPU per stage")
    a = ap.parse_args(argv)
    if a.frames < 1:
        raise UnveilError("--frames must be >= 1")

    video = a.video
    note = ""
    tmpdir = None
    if video is None:
        video = _default_video()
        if video is None:
            import tempfile

            tmpdir = tempfile.TemporaryDirectory()
            video = _synthetic(Path(tmpdir.name) / "synthetic.mp4")
            note = ("no media/vtest.avi (run scripts/fetch_media.sh); timing a synthetic 640x480 clip "
                    "without people: landmark/tracking rates are not meaningful")
    if a.end_to_end:
        print_end_to_end(end_to_end(video, frames=a.frames), video)
        return _finish(note, tmpdir)
    r = measure(video, frames=a.frames, redetect_every=a.redetect, tiles=a.tiles, workers=a.workers)
    cm = r["cpu_ms"]
    ms = lambda k: f"{cm[k]:.1f}" if k in cm else "-"
    rows = [
        ("decode", f"{r['decode_fps']:.1f}", ms("decode"), "PyAV, RGB" + (" (background thread)" if r["prefetch"] else "")),
        ("detect", f"{r['detect_fps']:.1f}", ms("detect"),
         f"{r['detect_ms_per_call']:.1f} ms/call, {r['detect_calls_per_frame']:.2f} calls/frame, every {a.redetect}+ "
         f"frames{' + tiles' if a.tiles else ''}"),
        ("landmarks", f"{r['landmarks_fps']:.1f}", ms("landmarks"),
         f"{r['landmarks_ms_per_person']:.1f} ms/call, {r['landmark_calls_per_frame']:.2f} calls/frame, "
         f"{r['people_per_frame']:.2f} people/frame"),
        ("tracking + rest", f"{r['tracking_fps']:.0f}", ms("rest"), "association bookkeeping, crops, Python"),
        ("2D front end", f"{r['end_to_end_fps']:.1f}", f"{r['cpu_ms_per_frame']:.1f}",
         f"end to end (elapsed), {r['tracks']} tracks, {r['workers']} worker(s)"),
    ]
    if isinstance(r["mopo"], dict):
        m = r["mopo"]
        rows.append(("MoPO lift+complete", f"{m['frames_per_s']:.0f}", "-",
                     f"det {m['detector_fps']:.0f}, lift {m['lifter_fps']:.0f}, complete {m['predictor_fps']:.0f} fr/s"
                     " (1 torch thread)"))
    else:
        rows.append(("MoPO lift+complete", "-", "-", r["mopo"]))
    if isinstance(r["evidence"], dict):
        for n, e in r["evidence"].items():
            rows.append((f"evidence ({n})", f"{e['fps_cpu']:.0f}",
                         f"{1000 * e['cpu_s'] / (e['frames'] * e['people']):.1f}",
                         f"{e['people']} person(s) in one fit, 1 torch thread, person-frames per CPU-second; reprojection "
                         f"{e['reproj_before_pct']:.2f} -> {e['reproj_after_pct']:.2f} % of height"))
    else:
        rows.append(("evidence fit", "-", "-", r["evidence"]))
    print(f"unveil bench speed: {r['video']} ({r['size']}), {r['frames']} frames, {threads()} threads, "
          f"load average {r['load_avg'][0]:.2f} on {os.cpu_count()} cores")
    print(describe(environment()))
    print(f"| {'stage':<20} | {'frames/s':>9} | {'CPU ms/frame':>12} | notes")
    print(f"|{'-' * 22}|{'-' * 11}|{'-' * 14}|{'-' * 40}")
    for name, fps, cpu_ms, notes in rows:
        print(f"| {name:<20} | {fps:>9} | {cpu_ms:>12} | {notes}")
    print(f"CPU time of the 2D front end: {r['cpu_ms_per_frame']:.1f} ms per frame, all threads together "
          f"(= {1000 / max(r['cpu_ms_per_frame'], 1e-9):.1f} frames/s per fully free core; less sensitive to "
          f"other processes than wall time)")
    print(f"detector calls per frame: {r['detect_calls_per_frame']:.3f} (whole frame "
          f"{r['frame_detect_calls_per_frame']:.3f}, tiles {r['tile_detect_calls_per_frame']:.3f}, "
          f"local searches for lost people {r['search_detect_calls_per_frame']:.3f})")
    if a.baseline:
        b = blazepose_single(video, frames=a.frames)
        print(f"BlazePose single-person pipeline (MediaPipe-style, decode included): {b['fps']:.1f} frames/s, "
              f"{b['cpu_ms_per_frame']:.1f} CPU-ms/frame ({b['detect_calls'] / max(b['frames'], 1):.2f} detector, "
              f"{b['landmark_calls'] / max(b['frames'], 1):.2f} landmark calls/frame)")
        print(f"unveil 2D front end / BlazePose single-person: {b['cpu_ms_per_frame'] / max(r['cpu_ms_per_frame'], 1e-9):.2f} "
              f"by CPU time per frame, {r['end_to_end_fps'] / max(b['fps'], 1e-9):.2f} by elapsed frames/s")
    if a.taps:
        tr = taps_ratio(video, frames=a.frames, redetect_every=a.redetect, tiles=a.tiles, workers=a.workers)
        for k in ("plain", "taps"):
            x = tr[k]
            lc = (f", {x['landmarks_cpu_ms_per_call']:.2f} CPU-ms/call" if "landmarks_cpu_ms_per_call" in x else "")
            print(f"2D front end {'with feature taps' if k == 'taps' else 'without taps':<18}: "
                  f"{x['cpu_ms_per_frame']:.1f} CPU-ms/frame, {x['elapsed_s']:.2f} s elapsed, landmarks "
                  f"{x['landmarks_ms_per_call']:.2f} ms/call{lc} (lowest of {len(tr['runs'][k])} alternated runs)")
        lr = f", {tr['landmarks_cpu_ms_ratio']:.3f} landmark CPU per call" if "landmarks_cpu_ms_ratio" in tr else ""
        print(f"feature taps / plain: {tr['cpu_ms_ratio']:.3f} by front-end CPU time per frame, "
              f"{tr['elapsed_s_ratio']:.3f} by elapsed time, {tr['landmarks_ms_ratio']:.3f} landmark wall per call"
              f"{lr}; keypoints identical: {'yes' if tr['keypoints_identical'] else 'NO'}")
    print(f"peak memory (max RSS): {r['peak_rss_mb']:.0f} MB")
    return _finish(note, tmpdir)


def _finish(note: str, tmpdir) -> int:
    """Print the run's note, remove the synthetic clip's folder, flush; exit status 0."""
    if note:
        print(f"note: {note}")
    if tmpdir is not None:
        tmpdir.cleanup()
    sys.stdout.flush()
    return 0
