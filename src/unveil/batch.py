"""``unveil batch INPUTS -o OUT``: many videos (or keypoints JSON files), one task each, on Ray.

INPUTS: folders (their video / ``.json`` files, not recursive), glob patterns (``'clips/*.mp4'``),
text files of paths (``.txt``: one path a line, ``#`` comments; relative paths are taken from the
list's folder) or single files. Each input gets its own output folder ``OUT/<stem>/`` (the same as
``unveil run INPUT -o OUT/<stem>``: :func:`unveil.pipeline.run`, with its per-stage cache).

Backends (``--backend``):

* ``ray`` (default): a local Ray instance started here (no setup; ``pip install 'unveil[ray]'``)
  or an existing cluster with ``--ray-address ADDR``. Each task asks Ray for ``--cpus-per-task``
  CPUs (default 1) and runs the pipeline with that many threads, so concurrent tasks do not
  oversubscribe the cores; each task runs in a fresh worker process (``max_calls=1``), so memory is
  returned after every video and the peak memory reported is that task's own.
* ``local``: a process pool on this machine (``cores // cpus-per-task`` processes, one fresh process
  per video), for machines without Ray.
* ``serial``: a plain loop in this process (all cores per video unless ``--cpus-per-task``); the
  baseline for throughput comparisons.

Resumable: ``OUT/batch.json`` keeps one record per input with a key (SHA-256 of the input's
content and the run options); a rerun skips every input whose record is ``ok``/``degraded`` with
the same key and whose ``OUT/<stem>/summary.json`` is still there. An input that failed (or a batch
that was killed) is run again, and resumes from its own stage cache. A failing input never stops
the batch: it is listed with its one-line error in ``OUT/batch.json`` and ``OUT/batch.csv``
(per input: status, frames, fps, tracks, seconds per stage, wall seconds, peak memory).
"""

from __future__ import annotations

import argparse
import csv
import glob
import hashlib
import io
import json
import logging
import multiprocessing
import os
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from .atomic import write_text
from .digest import file_sha256
from .errors import UnveilError
from .runtime import set_threads

BATCH_VERSION = 1
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv", ".ts", ".mts")
KEYPOINT_SUFFIXES = (".json",)
RAY_MISSING = ("`unveil batch --backend ray` needs Ray, which is not installed: pip install 'unveil[ray]' "
               "(or use --backend local)")
CSV_FIELDS = ("name", "status", "skipped", "frames", "fps", "tracks", "wall_s", "frames_per_s", "peak_rss_mb",
              "seconds", "input", "out", "error")
# pipeline.run keywords a batch passes through (with their command-line defaults)
RUN_OPTIONS = ("body_model", "focal", "render", "export", "max_frames", "stride", "traj_prior", "evidence_fit",
               "min_frames", "min_confidence")


# ------------------------------------------------------------------------------------ inputs
def collect_inputs(specs: list[str]) -> list[Path]:
    """Expand INPUTS into a sorted, de-duplicated list of files.

    Args:
        specs: folders, glob patterns, ``.txt`` lists of paths, or files.

    Returns:
        The input paths (a path listed in a ``.txt`` that does not exist is kept: it fails on its
        own in the batch). Raises :class:`UnveilError` when a spec matches nothing.
    """
    found: list[Path] = []
    for s in specs:
        p = Path(s)
        if p.is_dir():
            got = sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in VIDEO_SUFFIXES + KEYPOINT_SUFFIXES)
        elif p.is_file() and p.suffix.lower() == ".txt":
            got = []
            for line in p.read_text(errors="replace").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    q = Path(line).expanduser()
                    got.append(q if q.is_absolute() else p.parent / q)
        elif p.is_file():
            got = [p]
        elif glob.has_magic(s):
            got = sorted(Path(q) for q in glob.glob(s, recursive=True) if Path(q).is_file())
        else:
            raise UnveilError(f"no such input: {s}")
        if not got:
            raise UnveilError(f"no videos or keypoints files in {s}")
        found += got
    seen, out = set(), []
    for q in found:
        k = str(q.resolve()) if q.exists() else str(q.absolute())
        if k not in seen:
            seen.add(k)
            out.append(q)
    return out


def job_names(paths: list[Path]) -> list[str]:
    """One output folder name per input: the file stem, ``stem_2``, ``stem_3`` ... for repeats
    (in input order, so a rerun with the same inputs gives the same names)."""
    names, used = [], set()
    for p in paths:
        base = p.stem or "input"
        n, k = base, 1
        while n in used:
            k += 1
            n = f"{base}_{k}"
        used.add(n)
        names.append(n)
    return names


def job_key(path: Path, options: dict) -> str | None:
    """Resume key of one input: SHA-256 of its content and the run options (None if unreadable)."""
    try:
        sha = file_sha256(path)
    except Exception:
        return None
    blob = json.dumps({"v": BATCH_VERSION, "input": sha, "options": options}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def one_line(e: BaseException) -> str:
    """A one-line description of an error (UnveilError: its message; else ``Type: message``)."""
    msg = (str(e).strip().splitlines() or [""])[0]
    return msg if isinstance(e, UnveilError) else f"{type(e).__name__}: {msg}".rstrip(": ")


# -------------------------------------------------------------------------------------- task
def process_one(source: str, out_dir: str, options: dict, threads: int) -> dict:
    """Run the pipeline on one input (inside a Ray task, a pool process or the batch's own process).

    Args:
        source: a video or keypoints JSON path.
        out_dir: its output folder.
        options: :func:`unveil.pipeline.run` keywords.
        threads: CPU threads this task may use.

    Returns:
        A record: ``status`` (``ok``/``degraded``/``failed``), ``error`` (one line or None),
        ``frames``, ``fps``, ``tracks``, ``seconds`` (per stage), ``wall_s``, ``peak_rss_mb`` (the
        process's peak resident memory: this task's own in a fresh worker), ``pid``, ``nice`` (the
        worker's scheduling niceness).
    """
    from .pipeline import run  # deferred: loads ijson, numpy, scipy, torch

    t0 = time.perf_counter()
    os.environ["UNVEIL_THREADS"] = str(threads)
    set_threads(threads)
    rec: dict = {"status": "failed", "error": None, "frames": None, "fps": None, "tracks": None, "seconds": {}}
    try:
        src = Path(source)
        as_kp = src.is_dir() or src.suffix.lower() in KEYPOINT_SUFFIXES
        s = run(video=None if as_kp else src, keypoints_json=src if as_kp else None, out_dir=out_dir,
                progress=False, **options)
        rec.update(status=s["status"], frames=s["frames"], fps=s["fps"], tracks=len(s["tracks"]),
                   seconds={k: v for k, v in s["seconds"].items() if "." not in k})
        if s["status"] == "failed":
            rec["error"] = (s.get("problems") or ["run incomplete"])[0]
    except Exception as e:  # a failing input never stops the batch
        rec["error"] = one_line(e)
    rec["wall_s"] = round(time.perf_counter() - t0, 3)
    rec["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
    rec["pid"] = os.getpid()
    rec["nice"] = os.nice(0)
    return rec


# ---------------------------------------------------------------------------------- backends
def import_ray():
    """``import ray``, or a one-line :class:`UnveilError` naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise UnveilError(RAY_MISSING) from None
    return ray


# Ray runs its workers at niceness 15 by default (ray-project/ray#24928): on a busy machine a local batch
# then got ~8 % of a core (docs/batch.md). A local instance started here runs them like `unveil run`.
LOCAL_RAY_SYSTEM_CONFIG = {"worker_niceness": 0}


def _run_ray(jobs, options, cpus, address, on_done):
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        kw = ({"address": address} if address else
              {"num_cpus": os.cpu_count() or 1, "_system_config": dict(LOCAL_RAY_SYSTEM_CONFIG)})
        try:
            ray.init(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING, **kw)
        except Exception as e:
            raise UnveilError(f"could not start/connect to Ray{f' at {address}' if address else ''}: "
                              f"{one_line(e)}") from None
        started = True
    try:
        task = ray.remote(num_cpus=cpus, max_calls=1)(process_one)
        refs = {task.remote(str(j["input"]), str(j["out"]), options, cpus): j for j in jobs}
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for r in done:
                try:
                    rec = ray.get(r)
                except Exception as e:  # the worker died (out of memory, killed): list it, go on
                    rec = {"status": "failed", "error": one_line(e)}
                on_done(refs[r], rec)
    finally:
        if started:
            ray.shutdown()


def _run_local(jobs, options, cpus, on_done):
    workers = max(1, (os.cpu_count() or 1) // cpus)
    ctx = multiprocessing.get_context("spawn")  # a clean interpreter per video (no forked torch state)
    with ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=ctx, max_tasks_per_child=1) as ex:
        futs = {ex.submit(process_one, str(j["input"]), str(j["out"]), options, cpus): j for j in jobs}
        for f in as_completed(futs):
            try:
                rec = f.result()
            except Exception as e:
                rec = {"status": "failed", "error": one_line(e)}
            on_done(futs[f], rec)


def _run_serial(jobs, options, cpus, on_done):
    for j in jobs:
        on_done(j, process_one(str(j["input"]), str(j["out"]), options, cpus))


# ------------------------------------------------------------------------------------- batch
def _write_reports(out: Path, head: dict, records: list[dict]) -> None:
    write_text(out / "batch.json", json.dumps({**head, "videos": records}, indent=1, default=str))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    w.writeheader()
    for r in records:
        w.writerow({**r, "seconds": ";".join(f"{k}={v}" for k, v in (r.get("seconds") or {}).items())})
    write_text(out / "batch.csv", buf.getvalue())


def run_batch(inputs: list[str], out_dir: str | Path, backend: str = "ray", ray_address: str | None = None,
              cpus_per_task: int | None = None, progress: bool | None = None, **options) -> dict:
    """Run the pipeline on every input; returns the ``batch.json`` dict (also written to OUT).

    Args:
        inputs: INPUTS specs (:func:`collect_inputs`).
        out_dir: OUT; each input writes ``OUT/<name>/``.
        backend: ``ray`` | ``local`` | ``serial``.
        ray_address: an existing Ray cluster (``ray``; default: a local instance, or the one this
            process already started with ``ray.init``).
        cpus_per_task: CPUs (threads) per input (default 1; ``serial``: all cores).
        progress: show progress bars (default: when stderr is a terminal).
        **options: :func:`unveil.pipeline.run` keywords (``RUN_OPTIONS``).

    Returns:
        ``{"version", "backend", "options", "cpus_per_task", "wall_s", "counts", "videos": [record]}``
        with one record per input (``name``, ``input``, ``out``, ``key``, ``status``, ``skipped``,
        ``error``, ``frames``, ``fps``, ``tracks``, ``seconds``, ``wall_s``, ``frames_per_s``,
        ``peak_rss_mb``).
    """
    if backend not in ("ray", "local", "serial"):
        raise UnveilError(f"--backend must be ray, local or serial (got {backend!r})")
    if backend == "ray":
        import_ray()  # before any work: a missing extra fails at once
    bad = set(options) - set(RUN_OPTIONS)
    if bad:
        raise UnveilError(f"unknown batch option(s): {', '.join(sorted(bad))}")
    cores = os.cpu_count() or 1
    if cpus_per_task is not None and cpus_per_task < 1:
        raise UnveilError("--cpus-per-task must be >= 1")
    cpus = cpus_per_task or (cores if backend == "serial" else 1)
    if backend != "ray" or not ray_address:
        cpus = min(cpus, cores)
    paths = collect_inputs(inputs)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UnveilError(f"output exists and is not a folder: {out}")
    out.mkdir(parents=True, exist_ok=True)
    prev: dict = {}
    try:
        prev = {r["name"]: r for r in json.loads((out / "batch.json").read_text()).get("videos", [])}
    except Exception:
        pass
    records: list[dict] = []
    todo: list[dict] = []
    for p, name in zip(paths, job_names(paths)):
        key = job_key(p, options)
        rec = {"name": name, "input": str(p), "out": str(out / name), "key": key}
        old = prev.get(name)
        if (key and old and old.get("key") == key and old.get("status") in ("ok", "degraded")
                and (out / name / "summary.json").is_file()):
            rec.update({k: v for k, v in old.items() if k not in rec}, skipped=True)
        else:
            rec.update(status="pending", skipped=False)
            todo.append(rec)
        records.append(rec)
    head = {"version": BATCH_VERSION, "backend": backend, "ray_address": ray_address, "options": options,
            "cpus_per_task": cpus}
    t0 = time.perf_counter()

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if progress is None:
        progress = sys.stderr.isatty()
    bars = Progress(TextColumn("{task.description:<8}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), disable=not progress)
    expected = {id(r): _frame_count(Path(r["input"]), options) for r in todo}
    vbar = bars.add_task("videos", total=len(records), completed=len(records) - len(todo))
    fbar = bars.add_task("frames", total=sum(v or 0 for v in expected.values()) or None)

    def on_done(job: dict, rec: dict) -> None:
        job.update(rec)
        frames = job.get("frames")
        job["frames_per_s"] = round(frames / job["wall_s"], 2) if frames and job.get("wall_s") else None
        bars.advance(vbar)
        bars.advance(fbar, expected.get(id(job)) or frames or 0)
        _write_reports(out, {**head, "wall_s": round(time.perf_counter() - t0, 3)}, records)

    with bars:
        if todo:
            if backend == "ray":
                _run_ray(todo, options, cpus, ray_address, on_done)
            elif backend == "local":
                _run_local(todo, options, cpus, on_done)
            else:
                _run_serial(todo, options, cpus, on_done)
    counts = {s: sum(1 for r in records if r.get("status") == s) for s in ("ok", "degraded", "failed")}
    counts["skipped"] = sum(1 for r in records if r.get("skipped"))
    head.update(wall_s=round(time.perf_counter() - t0, 3), counts=counts)
    _write_reports(out, head, records)
    return {**head, "videos": records}


def _frame_count(path: Path, options: dict) -> int | None:
    """Frames a video input will give (for the frame progress bar; None when unknown)."""
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        return None
    try:
        from .io.video import probe  # deferred: loads numpy

        n = probe(path).n_frames
    except Exception:
        return None
    if n is None:
        return None
    n = len(range(0, n, int(options.get("stride") or 1)))
    return min(n, options["max_frames"]) if options.get("max_frames") else n


def summary_table(result: dict):
    """A rich Table of the batch (one row per input) and a totals caption."""
    from rich.table import Table

    t = Table(title=f"unveil batch ({result['backend']}, {result['cpus_per_task']} CPU per task)")
    for c in ("input", "status", "frames", "fps", "tracks", "wall s", "frames/s", "peak MB", "error"):
        t.add_column(c, justify="right" if c in ("frames", "fps", "tracks", "wall s", "frames/s", "peak MB") else "left")

    def f(v, fmt="{}"):
        return "" if v is None else fmt.format(v)

    done = 0
    for r in result["videos"]:
        st = r.get("status", "?") + (" (skipped)" if r.get("skipped") else "")
        if not r.get("skipped") and r.get("frames"):
            done += r["frames"]
        t.add_row(r["name"], st, f(r.get("frames")), f(r.get("fps"), "{:.1f}"), f(r.get("tracks")),
                  f(r.get("wall_s"), "{:.1f}"), f(r.get("frames_per_s"), "{:.1f}"), f(r.get("peak_rss_mb"), "{:.0f}"),
                  r.get("error") or "")
    c = result["counts"]
    rate = f"{done / result['wall_s']:.1f} frames/s" if result["wall_s"] > 0 and done else "-"
    t.caption = (f"{c['ok'] + c['degraded']} done ({c['skipped']} skipped), {c['failed']} failed; "
                 f"{done} frames processed in {result['wall_s']:.1f} s ({rate})")
    return t


# --------------------------------------------------------------------------------------- CLI
def main(argv: list[str], prog: str = "unveil batch") -> int:
    ap = argparse.ArgumentParser(prog=prog, description="run the pipeline on many videos (one task each, on Ray)")
    ap.add_argument("inputs", nargs="+", help="folders, glob patterns, .txt lists of paths, or files")
    ap.add_argument("-o", "--out", required=True, help="output folder: OUT/<name>/ per input, OUT/batch.json/.csv")
    ap.add_argument("--backend", choices=("ray", "local", "serial"), default="ray",
                    help="ray (default; pip install 'unveil[ray]'), local (process pool), serial (plain loop)")
    ap.add_argument("--ray-address", default=None, help="an existing Ray cluster (default: a local instance)")
    ap.add_argument("--cpus-per-task", type=int, default=None,
                    help="CPUs (threads) per video (default 1; serial: all cores)")
    ap.add_argument("--body-model", default="anny", help="anny (default) or a path to an SMPL/SMPL-X file")
    ap.add_argument("--focal", type=float, default=None, help="focal length in pixels for every input")
    ap.add_argument("--no-render", dest="render", action="store_false", default=True, help="skip overlay.mp4")
    ap.add_argument("--no-export", dest="export", action="store_false", default=True, help="skip glb/bvh/trc/viewer")
    ap.add_argument("--max-frames", type=int, default=None, help="at most this many frames per input")
    ap.add_argument("--stride", type=int, default=1, help="use every N-th frame")
    ap.add_argument("--no-traj-prior", dest="traj_prior", action="store_false", default=True)
    ap.add_argument("--no-evidence-fit", dest="evidence_fit", action="store_false", default=True)
    a = ap.parse_args(argv)
    if a.max_frames is not None and a.max_frames < 1:
        raise UnveilError("--max-frames must be >= 1")
    if a.stride < 1:
        raise UnveilError("--stride must be >= 1")
    opts = {"body_model": a.body_model, "focal": a.focal, "render": a.render, "export": a.export,
            "max_frames": a.max_frames, "stride": a.stride, "traj_prior": a.traj_prior, "evidence_fit": a.evidence_fit}
    res = run_batch(a.inputs, a.out, backend=a.backend, ray_address=a.ray_address, cpus_per_task=a.cpus_per_task,
                    **opts)
    from rich.console import Console

    Console(width=None if sys.stdout.isatty() else 160).print(summary_table(res))
    print(f"-> {a.out}/batch.json, {a.out}/batch.csv")
    return 1 if res["counts"]["failed"] else 0
