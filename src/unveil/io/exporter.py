"""The ``Exporter`` protocol: one output file format of ``unveil run`` (``<id>.glb``, ``<id>.bvh``,
``<id>.trc``, ``scene.glb``, ``viewer.html``).

An exporter is a small object with a ``name`` (its switch in
:func:`unveil.io.exports.write_exports`, e.g. ``glb=False``), a ``suffix`` and a ``scope``:

- ``"track"``: one file per person, ``OUT/<id><suffix>``; ``write`` gets ``[track]``;
- ``"run"``: one file for the run, ``OUT/<name><suffix>``; ``write`` gets every track.

``requires`` names other exporters that must be switched on too (``scene.glb`` needs ``glb``).
The registry is :data:`unveil.io.export_registry.EXPORTERS` (modelled on pytorch3d's pluggable IO:
``IO().register_meshes_format(...)``); adding a format = a module with its exporter + one line there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

from ..types import BodyTrack


@dataclass
class ExportContext:
    """What every exporter may use besides the tracks.

    Attributes:
        body_model: the loaded body model (``rest_joints``, ``rest_vertices``, ``faces``, ...).
        fps: the tracks' frame rate (video fps / stride).
        frame_rate: the rate of the frame indices (the video's; default ``fps``).
        rig: joint names in skinned files (``smpl`` | ``mixamo`` | ``vrm``).
        files: the files written so far in this run, in order (the viewer links the GLB/BVH ones).
        notes: the run's export notes (``summary.json``): an exporter that writes its file with
            something left out says so here (a failure is raised instead).
        image: ``(width, height, focal)`` of the video in pixels, or None.
        video: ``{"path", "start", "end", "stride", "max_frames"}`` of the run's video, or None.
    """

    body_model: object
    fps: float
    frame_rate: float | None = None
    rig: str = "smpl"
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    image: tuple | None = None
    video: dict | None = None


@runtime_checkable
class Exporter(Protocol):
    name: str                  # the switch in write_exports (``glb``) and, for run scope, the file stem
    suffix: str                # ".glb"
    scope: str                 # "track" (OUT/<id><suffix>) | "run" (OUT/<name><suffix>)
    requires: tuple[str, ...]  # other exporters that must be on too

    def write(self, path: Path, tracks: Sequence[BodyTrack], ctx: ExportContext) -> None:
        """Write ``path`` atomically (:mod:`unveil.atomic`); raise on failure (a note, not fatal)."""
        ...


def file_name(exporter: Exporter, track: BodyTrack | None = None) -> str:
    """``<id><suffix>`` for a track-scope exporter, ``<name><suffix>`` for a run-scope one."""
    if exporter.scope == "track":
        return f"{track.id}{exporter.suffix}"
    return f"{exporter.name}{exporter.suffix}"


__all__ = ["Exporter", "ExportContext", "file_name"]
