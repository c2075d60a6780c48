"""unveil: video of people -> per-person 3D body meshes and motion, robust to occlusion, on CPU.

Python API (:mod:`unveil.api`): ``from unveil import run, load`` -> :class:`unveil.api.Result`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:  # imported lazily below: `unveil --help` stays instant
    from .api import CameraInfo, Person, Result, load, run

_API = ("run", "load", "Result", "Person", "CameraInfo")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    if name in _API:
        from . import api  # deferred: loads numpy

        return getattr(api, name)
    raise AttributeError(f"module 'unveil' has no attribute {name!r}")
