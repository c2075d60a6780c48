"""What a benchmark ran on: the versions of the libraries whose numerics reach the results, the CPU
and the thread count (written beside benchmark numbers, so that numbers from two machines can be told
apart; docs/bench/multiview.md "Eighth session")."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

from .. import __version__
from ..runtime import threads as default_threads

# distributions whose code computes what the benchmarks score (detector runtime, image I/O, decoding, fits)
PACKAGES = ("ai-edge-litert", "numpy", "opencv-python-headless", "av", "torch", "scipy")


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo; else :func:`platform.processor`)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment(threads: int | None = None) -> dict:
    """unveil's version, Python, platform, CPU model and count, the threads used, and the versions of
    :data:`PACKAGES` (None where one is not installed)."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {"unveil": __version__, "python": sys.version.split()[0], "platform": platform.platform(),
            "cpu": cpu_model(), "cpu_count": os.cpu_count(), "threads": int(threads or default_threads()),
            "packages": versions}


def describe(env: dict) -> str:
    """One line for a benchmark's printout."""
    pk = ", ".join(f"{k} {v}" for k, v in env["packages"].items() if v)
    return f"environment: unveil {env['unveil']}, Python {env['python']}, {env['cpu']} x{env['cpu_count']}, " \
           f"{env['threads']} thread(s); {pk}"


__all__ = ["environment", "describe", "cpu_model", "PACKAGES"]
