"""Registry of methods scored by ``unveil bench accuracy``.

A method is ``fn(inputs) -> {"joints": (T,24,3) root-relative camera-frame metres (pelvis at 0),
optional "joints_cam": (T,24,3) absolute camera-frame metres}`` where ``inputs`` is a
:class:`unveil.data.synth2d.SeqInputs` (``keypoints2d`` (T,17,3) COCO-17 pixels + confidence,
``camera``, ``fps``) -- never the ground truth.

Modules register their rows at import time::

    from unveil.bench.registry import register
    register("mopo", my_fn, group="mopo", note="full MoPO")

The harness imports the modules in :data:`METHOD_MODULES` lazily; a module that is missing or fails
to import is skipped with a note (printed with the tables). Add your module to that list.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable
from ..errors import UnveilError

METHOD_MODULES: tuple[str, ...] = (
    "unveil.bench.baselines",
    "unveil.bench.mopo_rows",
    "unveil.fit.stage",
    "unveil.bench.trajectory",
    "unveil.bench.moro_rows",
    "unveil.bench.render_rows",
    "unveil.bench.pipeline_rows",
    "unveil.bench.image_depth_rows",
)


@dataclass
class Method:
    name: str
    fn: Callable
    group: str = "other"
    note: str = ""


_METHODS: dict[str, Method] = {}
_LOAD_NOTES: list[str] | None = None


def register(name: str, fn: Callable, group: str = "other", note: str = "") -> Callable:
    """Register ``fn`` as row ``name`` (re-registering a name replaces it). Returns ``fn``."""
    _METHODS[name] = Method(name, fn, group, note)
    return fn


def load_all(modules=METHOD_MODULES) -> list[str]:
    """Import the method modules once; returns notes about the ones that were skipped."""
    global _LOAD_NOTES
    if _LOAD_NOTES is None:
        notes = []
        for m in modules:
            try:
                importlib.import_module(m)
            except ModuleNotFoundError as e:
                if e.name and (m == e.name or m.startswith(e.name + ".")):
                    notes.append(f"{m}: not present, skipped")
                else:
                    notes.append(f"{m}: import failed ({type(e).__name__}: {e}), skipped")
            except Exception as e:  # noqa: BLE001 - a broken module must not stop the benchmark
                notes.append(f"{m}: import failed ({type(e).__name__}: {e}), skipped")
        _LOAD_NOTES = notes
    return list(_LOAD_NOTES)


def names(group: str | None = None) -> list[str]:
    return [n for n, m in _METHODS.items() if group is None or m.group == group]


def get(name: str) -> Method:
    if name not in _METHODS:
        raise UnveilError(f"unknown method {name!r}; registered: {', '.join(_METHODS) or '(none)'}")
    return _METHODS[name]


def methods() -> dict[str, Method]:
    return dict(_METHODS)
