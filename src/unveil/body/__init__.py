"""Body models behind one small interface (see :mod:`unveil.body.base`).

Names are imported lazily so that ``unveil models build`` can check its caches without torch.
"""

__all__ = ["BodyModel", "load_body_model", "as_rotmats", "PART_NAMES", "PART_COLORS"]


def __getattr__(name):
    if name in __all__:
        from . import base  # deferred: loads numpy, roma, torch

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
