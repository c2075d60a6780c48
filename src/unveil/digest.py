"""Content hashes of input files for the stage cache keys (OUT/cache/<stage>.json).

A cache key names what a file *contains*, never where it lies or when it was touched: an edited
body-model file, a re-encoded video of the same size, or a keypoints file copied over another all
change the key. Every file is hashed whole with SHA-256 (hashlib; about 1.1 GB/s on the 2-core
development machine with SHA extensions, so a 1 GB video adds about a second per run). A file is
hashed at most once per process for the same (path, size, mtime, ctime, inode) -- ctime changes on
every write and cannot be set back, unlike mtime -- so the memo only saves time inside one process
(two stages read the video); every new process hashes again. The body-model and detector hashes built on
it are :func:`unveil.body.model_hash.body_model_sha256` and :func:`unveil.detect.assets.detector_sha256`.
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
