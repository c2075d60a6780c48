"""Process-wide runtime settings (threads) shared by commands and benchmarks."""

from __future__ import annotations

import os


def threads() -> int:
    return int(os.environ.get("UNVEIL_THREADS", "0") or 0) or (os.cpu_count() or 1)


def init_torch(n: int | None = None):
    """Import torch with its thread pool sized to the free cores; returns the module."""
    import torch

    n = n or threads()
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return torch
