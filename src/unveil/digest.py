"""Content hashes of input files for the stage cache keys (OUT/cache/<stage>.json).

A cache key names what a file *contains*, never where it lies or when it was touched: an edited
body-model file, a re-encoded video of the same size, or a keypoints file copied over another all
change the key. Every file is hashed whole with SHA-256 (hashlib; about 1.1 GB/s on the 2-core
development machine with SHA extensions, so a 1 GB video adds about a second per run). A file is
hashed at most once per process for the same (path, size, mtime, ctime, inode) -- ctime changes on
every write and cannot be set back, unlike mtime -- so the memo only saves time inside one process
(two stages read the video); every new process hashes again.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .errors import UnveilError

_MEMO: dict[tuple, str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a whole file (or of every file under a folder, by relative path).

    Args:
        path: a file, or a folder (e.g. an OpenPose output folder): its files are hashed in
            sorted relative-path order, each name then its content.

    Returns:
        64 hex characters.
    """
    p = Path(path)
    try:
        st = p.stat()
        memo_key = (str(p.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, p.is_dir())
        if memo_key in _MEMO:
            return _MEMO[memo_key]
        if p.is_dir():
            h = hashlib.sha256()
            for f in sorted(q for q in p.rglob("*") if q.is_file()):
                h.update(str(f.relative_to(p)).encode() + b"\0")
                h.update(file_sha256(f).encode())
            digest = h.hexdigest()
        else:
            with open(p, "rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest()
    except OSError as e:
        raise UnveilError(f"cannot read {p} ({e.strerror or type(e).__name__})") from None
    _MEMO[memo_key] = digest
    return digest


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
        from .body.anny_smpl import anny_smpl_path

        path = anny_smpl_path()
    else:
        path = Path(spec).expanduser()
    return file_sha256(path) if path.is_file() else "missing"


def detector_sha256() -> str:
    """One hash over the 2D detector model files present (``unveil models fetch``)."""
    import hashlib

    from .detect.assets import MODELS, models_dir

    h = hashlib.sha256()
    for name in sorted(MODELS):
        p = models_dir() / name
        h.update(name.encode() + b"=" + (file_sha256(p) if p.is_file() else "missing").encode() + b";")
    return h.hexdigest()
