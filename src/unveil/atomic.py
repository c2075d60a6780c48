"""Atomic file writing: write to a temporary sibling, then rename (a run never leaves half a file)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterable, Iterator

_UMASK = os.umask(0)
os.umask(_UMASK)

# Callbacks told about every file this process finishes writing (see :func:`record`); the run's
# OUT manifest (:mod:`unveil.outdir`) listens here.
_RECORDERS: list[Callable[[Path], None]] = []


def add_recorder(fn: Callable[[Path], None]) -> None:
    """Call ``fn(path)`` for every file completed by :func:`commit` (or passed to :func:`record`)."""
    _RECORDERS.append(fn)


def remove_recorder(fn: Callable[[Path], None]) -> None:
    if fn in _RECORDERS:
        _RECORDERS.remove(fn)


def record(path: str | os.PathLike) -> None:
    """Tell the recorders that ``path`` belongs to the current output (written, or reused as is)."""
    for fn in list(_RECORDERS):
        fn(Path(path))


def commit(tmp: str | os.PathLike, path: str | os.PathLike) -> None:
    """Give a finished temporary file the usual mode (mkstemp makes 0600) and rename it onto ``path``."""
    os.chmod(tmp, 0o666 & ~_UMASK)
    os.replace(tmp, path)
    record(path)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``.

    ``suffix`` defaults to the target's suffix so that writers which pick a format from the
    extension (numpy, PIL, PyAV) keep working.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix if suffix is not None else path.suffix,
                               dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        commit(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_parts(path: str | os.PathLike, parts: Iterable[str]) -> None:
    """Write the text ``"".join(parts)`` (UTF-8) atomically, one piece at a time: a long file is
    never held whole in memory.

    Args:
        path: the file.
        parts: the text's pieces, in order (a generator is consumed once).
    """
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as f:
        for piece in parts:
            f.write(piece)


def save_npz(path: str | os.PathLike, **arrays) -> None:
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
