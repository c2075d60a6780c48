"""Pipeline stages as objects, and the one loop that runs them (issue 13, "stages as objects").

A :class:`Stage` declares what it is (``name``, ``version``), what its cache key hashes (the
package's own modules and weight files it depends on, ``hashes``; the options and inputs it reads,
``key``; the stage before it whose key chains into its own, ``after``), when it runs (``switch``,
``when``), how a failure is reported (``soft`` / ``hard`` / ``failure``) and how its product is
stored in ``OUT/cache`` (``save`` / ``load``). Its ``run(ctx)`` reads its inputs from the
:class:`RunContext` and sets its product there.

:func:`run_stages` is the only place with the timing / error / caching policy:

- **when**: a stage whose ``switch`` option is off is skipped with its ``off_note``; one whose
  ``when(ctx)`` is false (its input is missing: no 3D tracks to fit) is skipped silently.
- **timing**: wall and process-CPU seconds of every stage that runs (cache hits included) go to
  ``ctx.seconds[name]`` / ``ctx.cpu_seconds[name]`` (``summary.json``).
- **caching**: a stage with ``key`` has the key ``{"v": version, **key(ctx), "prev": hash of the
  key of stage `after`, "code": hash of the files matching `hashes`}`` (:func:`stage_key`); with
  ``save`` / ``load`` too its product is written to ``OUT/cache/<name>.npz`` + ``<name>.json``, and
  a later run with the same key loads it instead of running (``ctx.cached``). Any change of an input,
  an option, a hashed file or an earlier stage's key re-runs the stage and every stage after it.
- **errors**: an exception of a type in ``hard`` ends the run; one in ``soft`` becomes a note
  (``failure`` formatted with ``kind`` and ``message``; the traceback on stderr unless
  ``ctx.quiet``) and the run goes on without the stage's product; any other ends the run.
- **progress**: with ``ctx.reporter`` (:class:`unveil.progress.Reporter`), every stage that runs
  ends with one status line on stderr (``done``, ``cached`` or ``failed`` for a soft failure; a
  switched-off stage: ``skipped``; none for an exception that ends the run, whose error line is the
  one line bad input gives); ``ctx.progress`` is the running stage's frame counter (bars on a
  terminal).

Tests pass stand-in stages (:func:`substitute`: the real declaration, another ``run``) to
:func:`unveil.pipeline.run` (``stages=``) or put them in ``unveil.pipeline.STAGES``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Sequence

import numpy as np

from .atomic import record, save_npz, write_text
from .progress import Reporter
from .progress import Stage as ProgressStage
from .runtime import trim_heap
from .types import BodyTrack, Camera, Track2D, Track3D

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass
class RunContext:
    """What the stages of one run share: the options, each stage's product and the run's record.

    Products are ``None`` until the stage that makes them has run (or failed softly).
    """

    out: Path                         # the run's output folder
    opt: SimpleNamespace              # the keyword arguments of unveil.pipeline.run
    checked: object = None            # unveil.validate.CheckedInputs (the parsed --keypoints file)
    # the 2D front end (keypoints stage)
    tracks2d: list[Track2D] | None = None
    stats: dict = field(default_factory=dict)     # the detector's counters and timings (video input)
    fps: float = 0.0
    width: int = 0
    height: int = 0
    n_frames: int = 0
    frame_indices: list = field(default_factory=list)
    focal: float | None = None        # given (--focal or the keypoints file), else None
    camera: Camera | None = None
    dropped: list = field(default_factory=list)   # tracks removed by io.track_filter
    no_3d: dict = field(default_factory=dict)     # track id -> why it gets no 3D
    # the 3D stages
    tracks3d: list[Track3D] | None = None
    bodies: list[BodyTrack] | None = None
    evidence_info: list | None = None             # the evidence fit's per-track diagnostics
    # the outputs
    track_files: dict = field(default_factory=dict)
    exported: dict = field(default_factory=lambda: {"files": [], "notes": []})
    overlay_written: bool = False
    # the run's record (summary.json)
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    cached: list[str] = field(default_factory=list)     # stages loaded from OUT/cache
    completed: list[str] = field(default_factory=list)  # stages that ran (or loaded) without failing
    keys: dict[str, dict] = field(default_factory=dict)  # stage name -> its cache key
    # progress (unveil.progress): the run's reporter (None: silent) and, while a stage runs, its
    # counter: call it once per frame (a per-frame hook), set_total(n) when the frame count is known
    reporter: Reporter | None = None
    progress: ProgressStage | None = None

    @property
    def quiet(self) -> bool:
        return bool(getattr(self.opt, "quiet", True))

    @property
    def export_notes(self) -> list[str]:
        """Notes of the export stage (``summary.json["exports"]["notes"]``)."""
        return self.exported["notes"]


def _always(ctx: RunContext) -> bool:
    return True


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline (see the module docstring for how :func:`run_stages` uses each field).

    Attributes:
        name: the stage's name in ``summary.json`` (``seconds``, ``stages_cached``) and ``OUT/cache``.
        version: bump it when the stage's result changes for a reason its hashed files do not show.
        run: ``run(ctx)`` computes the product from ``ctx`` and sets it on ``ctx``.
        hashes: glob patterns under the ``unveil`` package (modules, weight files) whose content
            enters the cache key (``"code"``).
        after: the stage whose key enters this one's (``"prev"``); None for the first stage.
        key: ``key(ctx) -> dict``: the inputs (content hashes) and options the result depends on;
            None: the stage has no key (it is never cached and no later stage chains onto it).
        save: ``save(ctx) -> (arrays, info)``: the product as npz arrays + JSON info for the cache.
        load: ``load(ctx, arrays, info)``: put a cached product back on ``ctx``.
        finish: ``finish(ctx)``: runs after ``run`` or ``load`` (derived state that is not cached).
        switch: the run option (``ctx.opt``) that turns the stage off when false.
        off_note: the note when ``switch`` is off (to ``note_to``).
        when: ``when(ctx) -> bool``: whether the stage's input is there (false: skipped silently).
        soft: exception types that become a note (the run goes on without this stage's product).
        hard: exception types that end the run even though they are in ``soft`` (subclasses).
        failure: the note for a soft failure, formatted with ``kind`` (exception type) and ``message``.
        note_to: the ``ctx`` list the notes go to (``notes`` or ``export_notes``).
    """

    name: str
    version: int
    run: Callable[[RunContext], None]
    hashes: tuple[str, ...] = ()
    after: str | None = None
    key: Callable[[RunContext], dict] | None = None
    save: Callable[[RunContext], tuple[dict, dict]] | None = None
    load: Callable[[RunContext, dict, dict], None] | None = None
    finish: Callable[[RunContext], None] | None = None
    switch: str | None = None
    off_note: str | None = None
    when: Callable[[RunContext], bool] = _always
    soft: tuple[type[BaseException], ...] = ()
    hard: tuple[type[BaseException], ...] = ()
    failure: str = "{name} failed ({kind}: {message})"
    note_to: str = "notes"

    @property
    def cached(self) -> bool:
        """Whether the stage's product is stored in ``OUT/cache``."""
        return self.key is not None and self.save is not None and self.load is not None

    def with_run(self, run: Callable[[RunContext], None]) -> "Stage":
        """The same stage (name, key, cache, error policy) computed by another ``run`` (a stand-in)."""
        return dataclasses.replace(self, run=run)


def substitute(stages: Sequence[Stage], **runs: Callable[[RunContext], None]) -> tuple[Stage, ...]:
    """``stages`` with the ``run`` of each stage named in ``runs`` replaced (stand-ins for tests).

    Args:
        stages: the stage list (e.g. ``unveil.pipeline.STAGES``).
        runs: stage name -> its stand-in ``run(ctx)``.

    Returns:
        a new tuple of stages, in the same order.
    """
    unknown = set(runs) - {s.name for s in stages}
    if unknown:
        raise ValueError(f"no stage named {', '.join(sorted(unknown))}")
    return tuple(s.with_run(runs[s.name]) if s.name in runs else s for s in stages)


# ------------------------------------------------------------------------------------ caching
def key_hash(key: dict) -> str:
    """The short SHA-256 of a cache key (its JSON with sorted keys)."""
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]


def source_hash(*rel: str) -> str:
    """Hash of some of unveil's own files (glob patterns under the package: source and shipped
    weights): changed code or retrained weights invalidate the stage's cache. A pattern that
    matches nothing enters the hash as text."""
    h = hashlib.sha256()
    for r in rel:
        files = sorted(PACKAGE_DIR.glob(r))
        if not files:
            h.update(r.encode())
        for p in files:
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:12]


def stage_key(stage: Stage, ctx: RunContext) -> dict:
    """The cache key of ``stage`` in this run (see the module docstring); needs the key of ``after``."""
    key = {"v": stage.version, **stage.key(ctx)}
    if stage.after is not None:
        if stage.after not in ctx.keys:
            raise RuntimeError(f"stage {stage.name!r} chains onto {stage.after!r}, which has no key in this run")
        key["prev"] = key_hash(ctx.keys[stage.after])
    if stage.hashes:
        key["code"] = source_hash(*stage.hashes)
    return key


def cache_load(out: Path, stage: str, key: dict) -> tuple[dict, dict] | None:
    """``OUT/cache/<stage>.npz`` + ``.json`` if their key hash matches ``key``, else None.

    Returns:
        (arrays, info) or None (absent, other key, or unreadable).
    """
    meta, data = out / "cache" / f"{stage}.json", out / "cache" / f"{stage}.npz"
    if not (meta.is_file() and data.is_file()):
        return None
    try:
        m = json.loads(meta.read_text())
        if m.get("hash") != key_hash(key):
            return None
        with np.load(data, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        record(meta), record(data)  # reused: part of this run's output (outdir manifest)
        return arrays, m
    except Exception:
        return None


def cache_save(out: Path, stage: str, key: dict, arrays: dict, info: dict) -> None:
    """Write ``OUT/cache/<stage>.npz`` and ``<stage>.json`` (the key, its hash and ``info``)."""
    save_npz(out / "cache" / f"{stage}.npz", **arrays)
    write_text(out / "cache" / f"{stage}.json", json.dumps({"hash": key_hash(key), "key": key, **info}, default=str))


def pack_tracks(tracks, fields: Sequence[str]) -> dict:
    """Tracks (``Track2D`` / ``Track3D`` / ``BodyTrack``) as flat npz arrays ``t<id>_<field>``."""
    arr = {"ids": np.array([t.id for t in tracks], np.int64)}
    for t in tracks:
        for f in fields:
            v = getattr(t, f, None)
            if v is not None:
                arr[f"t{t.id}_{f}"] = np.asarray(v)
        for k, v in (getattr(t, "extras", None) or {}).items():
            arr[f"t{t.id}_x_{k}"] = np.asarray(v)
    return arr


def unpack_tracks(arr: dict, cls, fields: Sequence[str], **const) -> list:
    """The inverse of :func:`pack_tracks`; ``const``: fields every track gets (``body_model``)."""
    out = []
    for tid in arr["ids"].tolist():
        kw = {f: arr[f"t{tid}_{f}"] for f in fields if f"t{tid}_{f}" in arr}
        if cls is Track2D:
            pre = f"t{tid}_x_"
            kw["extras"] = {k[len(pre):]: v for k, v in arr.items() if k.startswith(pre)}
            kw["layout"] = str(arr.get(f"t{tid}_layout", np.array("blazepose33")))
        out.append(cls(id=int(tid), **kw, **const))
    return out


# ------------------------------------------------------------------------------------ the loop
def run_stages(stages: Sequence[Stage], ctx: RunContext) -> RunContext:
    """Run ``stages`` in order on ``ctx`` with one timing / error / caching policy (module docstring).

    Returns:
        ``ctx`` (products, notes, seconds, cached and completed stages filled in).
    """
    rep = ctx.reporter
    for stage in stages:
        if stage.switch is not None and not getattr(ctx.opt, stage.switch):
            if stage.off_note:
                getattr(ctx, stage.note_to).append(stage.off_note)
            if rep is not None:
                rep.start(stage.name).end("skipped", f"{stage.switch} off")
            continue
        if not stage.when(ctx):
            continue
        t0, c0 = time.perf_counter(), time.process_time()
        ctx.progress = rep.start(stage.name) if rep is not None else None
        try:
            key = stage_key(stage, ctx) if stage.key is not None else None
            if key is not None:
                ctx.keys[stage.name] = key
            hit = cache_load(ctx.out, stage.name, key) if stage.cached else None
            try:
                if hit is not None:
                    stage.load(ctx, *hit)
                    ctx.cached.append(stage.name)
                else:
                    stage.run(ctx)
                    if stage.cached:
                        cache_save(ctx.out, stage.name, key, *stage.save(ctx))
                if stage.finish is not None:
                    stage.finish(ctx)
                ctx.completed.append(stage.name)
                trim_heap()  # the stage's freed temporaries go back to the system (bounded memory)
                if ctx.progress is not None:
                    ctx.progress.end("cached" if hit is not None else "done")
            except stage.hard:
                raise
            except stage.soft as e:
                getattr(ctx, stage.note_to).append(
                    stage.failure.format(name=stage.name, kind=type(e).__name__, message=e))
                if ctx.progress is not None:
                    ctx.progress.end("failed", type(e).__name__)
                if not ctx.quiet:
                    traceback.print_exc(file=sys.stderr)
        finally:
            ctx.seconds[stage.name] = time.perf_counter() - t0
            ctx.cpu_seconds[stage.name] = time.process_time() - c0
            if ctx.progress is not None:
                # no line for an exception that ends the run: its one error line says why (a no-op after end())
                ctx.progress.close()
                ctx.progress = None
    return ctx
