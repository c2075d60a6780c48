"""Content hash of the body model behind a ``--body-model`` spec, for the stage cache keys and the
:func:`unveil.body.load_body_model` cache (no torch import: ``unveil run`` computes it before loading)."""

from __future__ import annotations

from pathlib import Path

from ..digest import file_sha256
from .anny_smpl import anny_smpl_path


def body_model_sha256(spec: str) -> str:
    """Content hash of the file behind a ``--body-model`` spec (``anny``: the Anny-SMPL cache file;
    ``anny-native``: the ``anny`` package version; a path: that file). ``"missing"`` if absent."""
    spec = str(spec)
    if spec == "anny-native":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return f"anny-native-{version('anny')}"
        except PackageNotFoundError:
            return "anny-native"
    if spec in ("anny", "anny-smpl"):
        path = anny_smpl_path()
    else:
        path = Path(spec).expanduser()
    return file_sha256(path) if path.is_file() else "missing"
