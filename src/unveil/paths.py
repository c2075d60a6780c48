"""Where unveil keeps things.

Search order for every folder: an explicit environment variable, then a default under the user
cache (``$XDG_CACHE_HOME`` or ``~/.cache``).

- ``UNVEIL_CACHE``   root of all generated/fetched files (default ``~/.cache/unveil``)
- ``UNVEIL_MODELS``  detector models (default ``$UNVEIL_CACHE/models``)
- ``ANNY_CACHE_DIR`` Anny's compact model cache (default ``$UNVEIL_CACHE/anny``)
- ``UNVEIL_SHARED``  the developers' ../shared folder (mocap data, seeds); absent on user machines
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
WEIGHTS_DIR = PACKAGE_DIR / "weights"


def cache_dir() -> Path:
    env = os.environ.get("UNVEIL_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base).expanduser() / "unveil"


def models_dir() -> Path:
    env = os.environ.get("UNVEIL_MODELS")
    return Path(env).expanduser() if env else cache_dir() / "models"


def anny_cache_dir() -> Path:
    env = os.environ.get("ANNY_CACHE_DIR")
    return Path(env).expanduser() if env else cache_dir() / "anny"


def shared_dir() -> Path | None:
    """The ../shared folder if ``UNVEIL_SHARED`` points at an existing one, else None."""
    env = os.environ.get("UNVEIL_SHARED")
    if not env:
        return None
    p = Path(env).expanduser()
    return p if p.is_dir() else None


def mocap_dir() -> Path | None:
    s = shared_dir()
    if s is None:
        return None
    p = s / "data" / "mocap"
    return p if p.is_dir() else None
