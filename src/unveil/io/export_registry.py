"""The export formats that :func:`unveil.io.exports.write_exports` writes, in this order (per person:
the track-scope ones; then the run-scope ones, which may use the files written before them).

To add a format: a module in ``unveil/io`` with a class that follows
:class:`unveil.io.exporter.Exporter`, and one line in :data:`EXPORTERS` (or :func:`register` from
outside the package). It is then on by default and ``write_exports(..., <name>=False)`` turns it off.
"""

from __future__ import annotations

from .bvh_export import BvhExporter
from .exporter import Exporter
from .gltf import GlbExporter, SceneGlbExporter
from .trc import TrcExporter
from .viewer import ViewerExporter

EXPORTERS: list[Exporter] = [
    GlbExporter(),       # <id>.glb
    BvhExporter(),       # <id>.bvh
    TrcExporter(),       # <id>.trc
    SceneGlbExporter(),  # scene.glb (needs glb)
    ViewerExporter(),    # viewer.html (last: links the GLB/BVH files)
]


def register(exporter: Exporter, before: str | None = None) -> None:
    """Add ``exporter`` to :data:`EXPORTERS` (at the end, or before the one named ``before``).

    Raises:
        ValueError: the name is taken, ``before`` is unknown, or the object is not an Exporter.
    """
    if not isinstance(exporter, Exporter) or exporter.scope not in ("track", "run"):
        raise ValueError(f"not an Exporter (name, suffix, scope 'track'|'run', requires, write): {exporter!r}")
    names = [e.name for e in EXPORTERS]
    if exporter.name in names:
        raise ValueError(f"an exporter named {exporter.name!r} is already registered")
    if before is not None and before not in names:
        raise ValueError(f"no exporter named {before!r} (have {names})")
    EXPORTERS.insert(names.index(before) if before else len(EXPORTERS), exporter)


__all__ = ["EXPORTERS", "register"]
