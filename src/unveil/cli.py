"""The ``unveil`` command line.

Each command lives in its own module and owns its own argument parser: this file only maps the
command words to ``module:function`` (imported lazily, so ``unveil --help`` is instant) and turns a
:class:`~unveil.errors.UnveilError` into one clear line and a non-zero exit.

A newcomer following one frame: ``unveil run VIDEO -o OUT`` -> :func:`unveil.pipeline.main`
(read -> people -> keypoints -> occlusion -> lift/complete -> IK + shape -> trajectory -> mesh ->
write).
"""

from __future__ import annotations

import importlib
import os
import sys

from .errors import UnveilError
from .runtime import set_threads, threads  # noqa: F401  (set_threads: the public name callers used here)
from . import __version__

# (command words) -> (module:function, one-line help). The function takes (argv, prog) -> int.
COMMANDS: dict[tuple[str, ...], tuple[str, str]] = {
    ("run",): ("unveil.pipeline:main", "video (or --keypoints JSON) -> per-person 3D motion and meshes"),
    ("batch",): ("unveil.batch:main", "many videos (folder, glob, list of paths) -> OUT/<name>/ each, on Ray; resumable"),
    ("live",): ("unveil.live:main", "online causal mode: camera / file / stream -> one JSON pose line per frame"),
    ("demo",): ("unveil.demo:main", "render a clip with known truth, run the pipeline on it, score it"),
    ("models", "fetch"): ("unveil.detect.assets:main", "fetch and verify the 2D detector models (from PyPI/npm)"),
    ("models", "build"): ("unveil.body.setup:main", "build the body-model caches (Anny compact file, Anny-SMPL file)"),
    ("models", "list"): ("unveil.detect.assets:list_main", "show which model files are present"),
    ("data", "build"): ("unveil.data.corpus:main", "unpack and retarget the mocap corpus into the cache"),
    ("data", "cmu"): ("unveil.data.cmu_subset:main", "unpack and retarget the CMU subset (Character Creator rig) into the cache"),
    ("data", "deepmimic"): ("unveil.data.deepmimic:main", "fetch the DeepMimic clips of the pybullet wheel (PyPI) and convert them into the cache"),
    ("data", "convention"): ("unveil.data.convention:main", "fit / check the learned mocap -> body-model joint convention"),
    ("data", "render"): ("unveil.data.synthvideo:main", "render ground-truth videos per scene kind, run the detector, contact sheet"),
    ("bench", "accuracy"): ("unveil.bench.accuracy:main", "accuracy tables on the evaluation split, per occlusion kind"),
    ("bench", "live"): ("unveil.bench.live:main", "live mode: latency, sustained fps, dropped frames, accuracy vs offline"),
    ("bench", "speed"): ("unveil.bench.speed:main", "per-stage frames/s and peak memory"),
    ("bench", "tracking"): ("unveil.bench.tracking:main", "identity of 2-4 rendered people crossing: MOTA / IDF1 / ID switches"),
    ("bench", "multiview"): ("unveil.bench.multiview:main", "real calibrated multi-view video: monocular 3D vs triangulated keypoints"),
    ("bench", "body"): ("unveil.bench.body:main", "body-model forward-pass timings"),
    ("bench", "ik"): ("unveil.bench.ik:main", "ARTS IK/shape ablations: FIK vs TIK under noise, shape fitting, round trip"),
    ("bench", "trajectory"): ("unveil.bench.trajectory:main", "global trajectory on true local joints: camera root vs RopeTP prior"),
    ("body", "show"): ("unveil.bench.body_show:main", "render the body model posed from a mocap frame to PNG"),
    ("train",): ("unveil.train:main", "train a model (fixed seed) and write its weights"),
}


def _usage() -> str:
    lines = ["usage: unveil [--threads N] COMMAND ...", "", "commands:"]
    for words, (_, helptext) in COMMANDS.items():
        lines.append(f"  {' '.join(words):<18} {helptext}")
    lines += ["", "Run `unveil COMMAND --help` for a command's options.",
              "Environment: UNVEIL_CACHE, UNVEIL_MODELS, ANNY_CACHE_DIR, UNVEIL_SHARED, UNVEIL_THREADS."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--threads"] and len(argv) >= 2:
        if not argv[1].isdigit() or int(argv[1]) < 1:
            print(f"unveil: error: --threads must be a whole number >= 1 (got {argv[1]!r})", file=sys.stderr)
            return 2
        os.environ["UNVEIL_THREADS"] = argv[1]
        argv = argv[2:]
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        print(f"unveil {__version__}")
        return 0
    for n in (2, 1):
        key = tuple(argv[:n])
        if key in COMMANDS:
            target, _ = COMMANDS[key]
            rest = argv[n:]
            break
    else:
        groups = sorted({w[0] for w in COMMANDS if len(w) > 1 and w[0] == argv[0]})
        if groups:
            subs = [w[1] for w in COMMANDS if w[0] == argv[0] and len(w) > 1]
            print(f"unveil: error: `unveil {argv[0]}` needs one of: {', '.join(subs)}", file=sys.stderr)
        else:
            print(f"unveil: error: unknown command {argv[0]!r} (see `unveil --help`)", file=sys.stderr)
        return 2
    mod_name, func_name = target.split(":")
    prog = "unveil " + " ".join(key)
    try:
        set_threads()
        func = getattr(importlib.import_module(mod_name), func_name)
        return int(func(rest, prog=prog) or 0)
    except UnveilError as e:
        print(f"unveil: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("unveil: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
