"""Layering of the package (issue 13): ratchets on cross-module ``_private`` imports and on import
cycles between the top-level subpackages, and a run-time check that importing the runtime pulls in
no offline code and registers no benchmark rows. The static runtime -> offline rule itself is the
import-linter contract in ``.importlinter`` (``lint-imports``, run by scripts/test.sh)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import grimp

SRC = Path(os.environ.get("UNVEIL_LAYERING_SRC", Path(__file__).resolve().parents[1] / "src"))

# Measured on 2026-12-07 (branch wt13, after the layering step) by the two counters below (no
# margin: they may only go down; lower the number when you remove one). main before this step had
# 10 private imports (motion.masked imported stage._weights_present) and 57 cycle edges; 55 after the
# recipes moved to unveil.training and the IK bench to unveil.bench.ik (fit no longer reaches data/render).
# 56 (wt31, stages as objects): pipeline -> motion was an importlib.import_module("unveil.motion.stage")
# string that grimp could not see; it is now a real (deferred) import, so the existing edge is counted.
# It is on a cycle only at this package granularity, through offline code still inside motion/
# (motion.render_train -> bench.accuracy, while bench.speed/live/multiview -> pipeline); no module-level
# chain leads from motion back to pipeline (grimp find_shortest_chain: None). It leaves the count when
# render_train moves under bench/training (it did, wt36: 55).
# main at 43a87d3 had 8 private imports; 7 after the geometry helpers (wt32: motion.masked no longer
# imports stage._savgol).
# 6 private imports and 55 cycle edges (wt36, models apart from recipes): the training code of the
# motion/trajectory model files moved to unveil.training, motion.render_train to
# training.render_lift + bench.render_rows (so motion -> bench and the pipeline -> motion cycle are
# gone), masked no longer imports stage._confidence24 (now public: confidence24).
# Then 5 and 13 (wt36): trajectory/bench.py, body/bench.py and body/show.py moved to bench/ (trajectory,
# body, body_show) and bench.accuracy's _pool became pool_clips: no runtime package reaches bench/ any
# more, so every cycle through it (trajectory -> bench -> ... -> trajectory) is gone. The 13 left are
# cycles among the offline packages (bench, data, demo, training) and among io / render / body /
# digest / detect.
# Then 0 and 0 (wt38): the last five private names became public (fit.shape.clamp_shape,
# fit.tik.window_starts, detect.blazepose.box_iou, body.anny.import_anny); the blazepose-world bench
# row is registered by bench.render_rows, not by data.synthvideo (data -> bench was the one edge that
# closed every offline cycle); digest.body_model_sha256 moved to body.model_hash and
# digest.detector_sha256 to detect.assets (digest imports no package any more); the re-export shim
# render/overlay.py is gone (demo and data.synthvideo import unveil.io.overlay), which ends io <-> render.
# Both must stay 0 (issue 13: zero import loops, no cross-module private imports).
PRIVATE_IMPORTS_MAX = 0
CYCLE_EDGES_MAX = 0
# Internal imports inside functions whose line has no "# deferred: <reason>" comment (issue 13: no
# import inside a function unless it defers a heavy optional dependency, saying which). main at 3352217
# had 256 internal imports inside functions, 242 of them without the comment; wt42 hoisted 141 to
# module top (each one only where it adds no third-party package to the module's import closure,
# closes no module-level import cycle and is not a name tests substitute at call time) and marked the
# other 101 with their reason (115 marked in all). May only go down.
UNMARKED_DEFERRED_MAX = 0


def private_imports(root: Path = SRC / "unveil") -> list[str]:
    """Every ``from X import _name`` of a module of the package (relative or ``unveil.*``).

    Returns:
        ``"file:line name"`` strings, one per private name imported across modules.
    """
    out = []
    for p in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(p.read_text(), str(p))):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level == 0 and not (node.module or "").startswith("unveil"):
                continue
            for a in node.names:
                if a.name.startswith("_") and not a.name.startswith("__"):
                    out.append(f"{p.relative_to(root)}:{node.lineno} {a.name}")
    return out


def unmarked_deferred_imports(root: Path = SRC / "unveil") -> list[str]:
    """Every import of a module of the package (``from .x import``/``from unveil.x import``) that sits
    inside a function and whose first line carries no ``# deferred:`` comment.

    Returns:
        ``"file:line"`` strings.
    """
    out = []
    for p in sorted(root.rglob("*.py")):
        src = p.read_text()
        lines = src.splitlines()

        def walk(node: ast.AST, in_function: bool) -> None:
            for c in ast.iter_child_nodes(node):
                if (
                    in_function
                    and isinstance(c, ast.ImportFrom)
                    and (c.level > 0 or (c.module or "").startswith("unveil"))
                    and "# deferred:" not in lines[c.lineno - 1]
                ):
                    out.append(f"{p.relative_to(root)}:{c.lineno}")
                walk(c, in_function or isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef)))

        walk(ast.parse(src, str(p)), False)
    return out


def cycle_edges() -> list[tuple[str, str]]:
    """Dependencies between top-level subpackages/modules of ``unveil`` that lie on an import cycle.

    Returns:
        Sorted ``(importer, imported)`` pairs of top-level names (``unveil.pipeline``, ``unveil.fit``, ...)
        such that the imported one also reaches the importer.
    """
    g = grimp.build_graph("unveil")

    def top(m: str) -> str:
        return ".".join(m.split(".")[:2])

    edges = {(top(m), top(i)) for m in g.modules for i in g.find_modules_directly_imported_by(m)}
    edges = {(a, b) for a, b in edges if a != b and "unveil" not in (a, b)}
    adj: dict[str, set[str]] = {}
    for a, b in edges:
        adj.setdefault(a, set()).add(b)

    def reaches(src: str, dst: str) -> bool:
        seen, todo = {src}, [src]
        while todo:
            for y in adj.get(todo.pop(), ()):
                if y == dst:
                    return True
                if y not in seen:
                    seen.add(y)
                    todo.append(y)
        return False

    return sorted((a, b) for a, b in edges if reaches(b, a))


def test_private_imports_do_not_grow():
    found = private_imports()
    assert len(found) <= PRIVATE_IMPORTS_MAX, "new cross-module _private imports:\n" + "\n".join(found)


def test_function_level_imports_are_marked():
    found = unmarked_deferred_imports()
    assert len(found) <= UNMARKED_DEFERRED_MAX, (
        "imports inside functions without a '# deferred: <heavy dependency or cycle>' comment "
        "(hoist them to the module top, or say why they must wait):\n" + "\n".join(found)
    )


def test_import_cycles_do_not_grow():
    cyc = cycle_edges()
    assert len(cyc) <= CYCLE_EDGES_MAX, "\n".join(f"{a} -> {b}" for a, b in cyc)
    # the loop data.synthvideo -> demo -> pipeline -> trajectory.bench -> bench -> data is broken
    assert ("unveil.data", "unveil.demo") not in cyc and ("unveil.pipeline", "unveil.bench") not in cyc


def test_runtime_imports_no_offline_code():
    """Import every runtime module (as `unveil run` may): no offline module gets loaded, no
    benchmark row gets registered."""
    code = """
import importlib, pkgutil, sys
import unveil
OFFLINE = ("unveil.bench", "unveil.data", "unveil.demo", "unveil.render", "unveil.train", "unveil.training")
mods = ["unveil.pipeline", "unveil.api", "unveil.cli", "unveil.live", "unveil.batch"]
for pkg in ("body", "detect", "fit", "io", "motion", "trajectory"):
    p = importlib.import_module("unveil." + pkg)
    mods += [m.name for m in pkgutil.iter_modules(p.__path__, p.__name__ + ".")]
for m in mods:
    if not m.startswith(OFFLINE):
        importlib.import_module(m)
bad = sorted(m for m in sys.modules if m.startswith(OFFLINE))
print("\\n".join(bad))
sys.exit(1 if bad else 0)
"""
    env = {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, f"offline modules imported by the runtime:\n{r.stdout}{r.stderr[-2000:]}"
