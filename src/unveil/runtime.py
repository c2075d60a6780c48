"""Process-wide runtime settings (threads) shared by commands and benchmarks."""

from __future__ import annotations

import os

_configured = False


def threads() -> int:
    """Threads to use: $UNVEIL_THREADS (capped to the CPU count) or all cores."""
    cores = os.cpu_count() or 1
    raw = os.environ.get("UNVEIL_THREADS", "0") or "0"
    try:
        n = int(raw)
    except ValueError:
        from .errors import UnveilError

        raise UnveilError(f"UNVEIL_THREADS / --threads must be a whole number (got {raw!r})") from None
    return min(n, cores) if n > 0 else cores


def init_torch(n: int | None = None):
    """Import torch with its thread pool sized to the free cores; returns the module.

    Without ``n`` the pool is sized once per process (from UNVEIL_THREADS / the core count): later
    calls (e.g. every ``load_body_model``) leave a caller's own ``torch.set_num_threads`` alone.
    An explicit ``n`` always applies.
    """
    global _configured
    import torch

    if n is None and _configured:
        return torch
    n = n or threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    _configured = True
    return torch
