"""Ownership of one output folder (OUT) by one ``unveil run`` at a time.

- **Lock**: ``OUT/.unveil.lock`` is held with ``fcntl.flock`` for the whole run and holds the
  holder's pid. A second run into the same OUT fails at once with a one-line error naming that pid.
  The kernel drops the lock when the holder exits in any way (SIGKILL too), so there is never a
  stale lock to delete; the file itself stays (deleting it would let two runs lock two inodes).
- **Orphan temporaries**: atomic writes (:mod:`unveil.atomic`) go through ``.<name>.<8 random
  chars><suffix>`` siblings; one left by a killed run is removed when the next run takes the lock
  (under the lock no other writer can own it). Only ``OUT``, ``OUT/tracks`` and ``OUT/cache`` are
  swept, and only names of that exact shape.
- **Manifest** (``OUT/manifest.json``): every file this run wrote or reused (cache hits), with its
  size, and the run's status. It is written last.
- **Stale-output policy**: a run owns what it writes. Files listed in the previous run's manifest
  that this run did not produce are removed when it finishes, so OUT always matches a fresh run
  with the same options (``tracks/7.npz`` of an earlier run with another track count, its
  ``overlay.mp4`` after ``--no-render``, ...). Files unveil never wrote (the user's own, the
  demo's ``render/``) are never touched. An OUT written before manifests existed is cleaned by the
  output names unveil uses (:data:`LEGACY_PATTERNS`). After a *failed* run the cache is kept (a
  rerun resumes); its earlier deliverables are removed all the same.
- **Use**: :func:`open_run` inside a :class:`session` (``unveil.pipeline.run`` does both).
- **Failed runs**: if the run fails after OUT was claimed, ``summary.json`` says
  ``"status": "failed"`` with the one-line error; an OUT that this run created and wrote nothing
  useful into (no cache entry) is removed again, as if the input had been rejected up front.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import time
from pathlib import Path

from . import __version__
from .atomic import add_recorder, remove_recorder, write_text
from .errors import UnveilError

LOCK_NAME = ".unveil.lock"
MANIFEST_NAME = "manifest.json"
SWEPT_DIRS = ("", "tracks", "cache")
# tempfile.mkstemp(prefix=".<name>.", suffix=<name's suffix>): 8 characters from [a-z0-9_]
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}(?P<suffix>\.[A-Za-z0-9]+)?$")
# an OUT from before manifests: the names a run writes
LEGACY_PATTERNS = ("tracks/*.npz", "[0-9]*.glb", "[0-9]*.bvh", "overlay.mp4", "viewer.html", "keypoints.json",
                   "cache/*.npz", "cache/*.json")


class OutDir:
    """One claimed OUT: the lock, the record of files written, and the finishing steps.

    Use :func:`claim` (a context manager) rather than this class directly.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.created = False
        self.written: set[str] = set()
        self.previous: list[str] | None = None  # the last manifest's files (None: no manifest)
        self.context: dict = {}
        self.finished = False
        self._fd: int | None = None

    # ------------------------------------------------------------------ claim / release
    def acquire(self) -> "OutDir":
        p = self.path
        try:
            if p.exists() and not p.is_dir():
                raise UnveilError(f"output path exists and is not a folder: {p}")
            self.created = not p.exists()
            p.mkdir(parents=True, exist_ok=True)
            fd = os.open(p / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise UnveilError(f"cannot write to the output folder {p} ({e.strerror or type(e).__name__})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise UnveilError(f"cannot lock the output folder {p} ({e.strerror})") from None
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise UnveilError(f"output folder {p} is in use by another unveil run (pid {holder}); "
                              "wait for it to finish or choose another -o") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        self.previous = _read_manifest(p)
        self.remove_orphans()
        add_recorder(self._record)
        return self

    def release(self) -> None:
        remove_recorder(self._record)
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def _record(self, path: Path) -> None:
        try:
            rel = Path(os.path.abspath(path)).relative_to(os.path.abspath(self.path))
        except ValueError:
            return  # not under OUT
        self.written.add(rel.as_posix())

    # ------------------------------------------------------------------ housekeeping
    def remove_orphans(self) -> list[str]:
        """Delete temporaries left by a killed run (see the module docstring); returns their names."""
        gone = []
        for d in SWEPT_DIRS:
            folder = self.path / d
            if not folder.is_dir():
                continue
            for f in folder.iterdir():
                m = _TEMP_RE.match(f.name)
                if m and f.is_file() and m.group("name").endswith(m.group("suffix") or ""):
                    with contextlib.suppress(OSError):
                        f.unlink()
                        gone.append(f.relative_to(self.path).as_posix())
        return gone

    def owned_before(self) -> set[str]:
        """Files an earlier run produced here: its manifest, or the legacy output names."""
        if self.previous is not None:
            return set(self.previous)
        found = set()
        for pat in LEGACY_PATTERNS:
            found.update(f.relative_to(self.path).as_posix() for f in self.path.glob(pat) if f.is_file())
        return found

    def remove_stale(self, keep_cache: bool = False) -> list[str]:
        """Remove the earlier run's files that this run did not produce; returns their names."""
        gone = []
        for rel in sorted(self.owned_before() - self.written - {MANIFEST_NAME, LOCK_NAME}):
            if keep_cache and rel.startswith("cache/"):
                continue
            f = self.path / rel
            if ".." in Path(rel).parts or Path(rel).is_absolute() or not f.is_file():
                continue  # a manifest is data: never follow it out of OUT
            with contextlib.suppress(OSError):
                f.unlink()
                gone.append(rel)
        for d in ("tracks", "cache"):
            with contextlib.suppress(OSError):
                (self.path / d).rmdir()  # only if now empty
        return gone

    def write_manifest(self, status: str) -> None:
        files = {}
        for rel in sorted(self.written):
            with contextlib.suppress(OSError):
                files[rel] = (self.path / rel).stat().st_size
        write_text(self.path / MANIFEST_NAME, json.dumps(
            {"unveil": __version__, "status": status, "pid": os.getpid(),
             "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "files": files}, indent=1))

    def finish(self, status: str) -> None:
        """After a run that returned: drop stale files, then write the manifest."""
        self.remove_stale(keep_cache=False)
        self.write_manifest(status)
        self.finished = True

    def fail(self, error: BaseException, summary: dict | None = None) -> None:
        """After a run that raised: a failed summary.json + manifest, or no OUT at all if this run
        created it and nothing worth keeping was written."""
        useful = {w for w in self.written if w.startswith("cache/")}
        if self.created and not useful:
            remove_recorder(self._record)
            shutil.rmtree(self.path, ignore_errors=True)
            return
        msg = "interrupted" if isinstance(error, KeyboardInterrupt) else (str(error).splitlines() or [""])[0]
        if not isinstance(error, (UnveilError, KeyboardInterrupt)):
            msg = f"{type(error).__name__}: {msg}"
        s = dict(summary or {})
        s.update(status="failed", error=msg)
        with contextlib.suppress(OSError):
            write_text(self.path / "summary.json", json.dumps(s, indent=1, default=str))
            self.remove_stale(keep_cache=True)
            self.write_manifest("failed")


def _read_manifest(out: Path) -> list[str] | None:
    p = out / MANIFEST_NAME
    if not p.is_file():
        return None
    try:
        files = json.loads(p.read_text()).get("files", {})
        return [str(f) for f in files] if isinstance(files, (dict, list)) else []
    except (OSError, ValueError, AttributeError):
        return []


_ACTIVE: list[OutDir] = []


def open_run(path: str | os.PathLike, context: dict | None = None) -> OutDir:
    """Claim OUT for the run in progress (inside a :class:`session`): lock, sweep orphans, record.

    Args:
        path: the output folder (created if missing).
        context: fields copied into a failed run's ``summary.json`` (input, kind).

    Returns:
        the :class:`OutDir`; the run calls its :meth:`~OutDir.finish` after writing summary.json.
    """
    od = OutDir(path).acquire()
    od.context = dict(context or {})
    _ACTIVE.append(od)
    return od


class session:
    """``with session(): run(...)``: every OUT claimed inside by :func:`open_run` is released at
    the end; after an exception it is marked failed first (:meth:`OutDir.fail`)."""

    def __enter__(self):
        self.depth = len(_ACTIVE)
        return self

    def __exit__(self, et, ev, tb):
        while len(_ACTIVE) > self.depth:
            od = _ACTIVE.pop()
            try:
                if ev is not None:
                    od.fail(ev, od.context)
                elif not od.finished:
                    od.fail(UnveilError("the run ended before writing its summary"), od.context)
            finally:
                od.release()
        return False
