"""Export files of the output contract (``<id>.glb``, ``scene.glb``, ``<id>.bvh``, ``<id>.trc``,
``viewer.html``; ``docs/outputs.md``): :func:`write_exports` runs every exporter of
:data:`unveil.io.export_registry.EXPORTERS` (the formats, :class:`unveil.io.exporter.Exporter`).

The exports are in the Y-up world frame of the npz's ``joints_world``; the shared maths
(camera->world map, world pose, key times) is :mod:`unveil.io.world_motion`.
"""

from __future__ import annotations

import traceback
from pathlib import Path

from ..body import load_body_model
from ..runtime import trim_heap
from ..types import BodyTrack
from . import export_registry
from .exporter import ExportContext, file_name
from .world_motion import shared_transforms


def write_exports(out_dir, bodies: list[BodyTrack], body_model, fps: float, glb: bool = True,
                  bvh: bool = True, viewer: bool = True, verbose: bool = False, scene: bool = True,
                  rig: str = "smpl", frame_rate: float | None = None, trc: bool = True, image=None,
                  video: dict | None = None, **switches: bool) -> dict:
    """Write ``OUT/<id>.glb``, ``OUT/<id>.bvh``, ``OUT/<id>.trc``, ``OUT/scene.glb`` and
    ``OUT/viewer.html`` (every registered exporter that is switched on); never raises on a failing
    file.

    Args:
        glb, bvh, viewer, scene, trc: switch a built-in exporter off (``scene`` also needs ``glb``);
            ``switches``: ``<name>=False`` for an exporter registered later (on by default).
        fps: the tracks' frame rate (video fps / stride); ``frame_rate``: the rate of the frame
            indices (the video's; default ``fps``), which places people on the scene's timeline.
        rig: joint names in the GLB files (``smpl`` | ``mixamo`` | ``vrm``).
        image: ``(width, height, focal)`` of the video in pixels: the viewer's camera frustum gets
            the true field of view and aspect (default: a nominal 60 degrees, 16:9).
        video: ``{"path", "start", "end", "stride", "max_frames"}``: the viewer shows downscaled
            stills of the video on the frustum (:func:`unveil.io.viewer.video_stills`).

    Returns ``{"files": [...], "notes": [...]}`` (a failing file is a note, the others still get
    written), for summary.json.

    Raises:
        ValueError: a switch names no registered exporter.
    """
    exporters = export_registry.EXPORTERS
    on = {"glb": glb, "bvh": bvh, "viewer": viewer, "scene": scene, "trc": trc, **switches}
    unknown = sorted(set(switches) - {e.name for e in exporters})
    if unknown:
        raise ValueError(f"no exporter named {', '.join(unknown)} (have {[e.name for e in exporters]})")
    out = Path(out_dir)
    files: list[str] = []
    notes: list[str] = []
    if isinstance(body_model, str):
        try:
            body_model = load_body_model(body_model)
        except Exception as e:
            return {"files": [], "notes": [f"export skipped: body model unavailable ({type(e).__name__}: {e})"]}
    ctx = ExportContext(body_model=body_model, fps=fps, frame_rate=frame_rate, rig=rig, files=files, notes=notes,
                        image=image, video=video)
    enabled = [e for e in exporters if on.get(e.name, True) and all(on.get(r, True) for r in e.requires)]

    def attempt(exporter, name: str, tracks: list[BodyTrack]) -> None:
        try:
            exporter.write(out / name, tracks, ctx)
            files.append(name)
        except Exception as e:
            notes.append(f"{name} not written ({type(e).__name__}: {e})")
            if verbose:
                traceback.print_exc()
        finally:
            # each file's freed temporaries go back to the system before the next one (on a long
            # video the writers' heap garbage otherwise piles up over the files: docs/batch.md)
            trim_heap()

    bodies = list(bodies or [])
    with shared_transforms():   # each track's camera -> world map computed once for all the files
        for b in bodies:
            for e in enabled:
                if e.scope == "track":
                    attempt(e, file_name(e, b), [b])
        if bodies:
            for e in enabled:
                if e.scope == "run":
                    attempt(e, file_name(e), bodies)
    return {"files": files, "notes": notes}


__all__ = ["write_exports"]
