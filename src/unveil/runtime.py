"""Process-wide runtime settings (threads) shared by commands and benchmarks: the one place that
sets torch's thread pool (:func:`init_torch`, :func:`torch_threads`, :func:`pin_torch_threads`).

torch is imported inside these functions on purpose (a heavy dependency): the CLI imports this
module before any command, and ``unveil --help`` must not pay for torch.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import sys
from .errors import UnveilError

_configured = False
_libc: object = None  # the C library once looked up by trim_heap (False: it has no malloc_trim)


def threads() -> int:
    """Threads to use: $UNVEIL_THREADS (capped to the CPU count) or all cores."""
    cores = os.cpu_count() or 1
    raw = os.environ.get("UNVEIL_THREADS", "0") or "0"
    try:
        n = int(raw)
    except ValueError:
        raise UnveilError(f"UNVEIL_THREADS / --threads must be a whole number (got {raw!r})") from None
    return min(n, cores) if n > 0 else cores


def init_torch(n: int | None = None):
    """Import torch with its thread pool sized to the free cores; returns the module.

    Without ``n`` the pool is sized once per process (from UNVEIL_THREADS / the core count): later
    calls (e.g. every ``load_body_model``) leave a caller's own ``torch.set_num_threads`` alone.
    An explicit ``n`` always applies.
    """
    global _configured
    import torch  # deferred: heavy (see the module docstring)

    if n is None and _configured:
        return torch
    n = n or threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    _configured = True
    return torch


# torch intra-op threads for the model stages after the 2D front end (lift, fit, trajectory prior,
# exports): their tensors are small (T x 24 joints), and on a shared 2-core box 2 OpenMP threads
# cost 10-20x more CPU than 1 (measured on vtest.avi, load ~6: ARTS fit 19.4 vs 2.0 CPU-s for 8
# tracks, RopeTP prior 35.1 vs 1.5 CPU-s; results equal to 1e-6; docs/frontend.md). The 2D front
# end runs its own worker threads (ai-edge-litert, not torch).
TORCH_THREADS = 1


@contextlib.contextmanager
def torch_threads(n: int = TORCH_THREADS):
    """Run a block with ``n`` torch intra-op threads (the previous count is restored after)."""
    import torch  # deferred: heavy (see the module docstring)

    old = torch.get_num_threads()
    if n and n != old:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != old:
            torch.set_num_threads(old)


def pin_torch_threads(n: int = TORCH_THREADS) -> None:
    """Set ``n`` torch threads, not restored (e.g. back to ``n`` inside ``pipeline.run`` after a
    loader called :func:`init_torch`, which sizes the pool to all cores)."""
    import torch  # deferred: heavy (see the module docstring)

    if n and torch.get_num_threads() != n:
        torch.set_num_threads(n)


def set_threads(n: int | None = None) -> int:
    """Use ``n`` (default: $UNVEIL_THREADS or all cores) threads in torch / numpy / OpenCV."""
    if n is None:
        n = threads()
    os.environ["UNVEIL_THREADS"] = str(n)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(n))
    if "torch" in sys.modules:  # set now only when already imported (torch is heavy)
        pin_torch_threads(n)
    return n


def trim_heap() -> bool:
    """Give the C heap's free memory back to the operating system (glibc's ``malloc_trim(0)``).

    glibc keeps the memory a stage freed (its large temporaries, the 2D front end's per-frame
    objects) in the process's heap, so without this every stage of a run starts from the previous
    stages' high-water mark and the run's peak grows with the video's length (docs/batch.md).
    :func:`unveil.stages.run_stages` calls it after every stage; it frees nothing that is in use.

    Returns:
        True when memory was given back; False when none was, or the C library has no
        ``malloc_trim`` (not glibc: macOS, musl), where it does nothing.
    """
    global _libc
    if _libc is None:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            lib.malloc_trim.argtypes = [ctypes.c_size_t]
            _libc = lib
        except (OSError, AttributeError):
            _libc = False
    if not _libc:
        return False
    return bool(_libc.malloc_trim(0))
