"""Overlay drawing for recovered bodies (mesh + skeleton + occluded-joint rings): moved to the
runtime module :mod:`unveil.io.overlay` (``unveil run`` draws it too); re-exported here for the
demo and the synthetic-video tools."""

from __future__ import annotations

from ..io.overlay import TRACK_COLORS, draw_frame, project_points, put_text

__all__ = ["TRACK_COLORS", "draw_frame", "project_points", "put_text"]
