"""Body models behind one small interface (see :mod:`unveil.body.base`)."""

from .base import PART_COLORS, PART_NAMES, BodyModel, as_rotmats, load_body_model

__all__ = ["BodyModel", "load_body_model", "as_rotmats", "PART_NAMES", "PART_COLORS"]
