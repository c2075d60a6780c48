"""``unveil models build``: build the body-model caches (idempotent; quick when done).

1. Anny's own cache in :func:`unveil.paths.anny_cache_dir` (``ANNY_CACHE_DIR``): the first
   ``anny.Anny()`` builds it (~75 s, ~790 MB); only ``build_compact_model_data_*.safetensors``
   (~51 MB) is needed afterwards, so the rest is deleted.
2. The Anny-derived SMPL-format model (:mod:`unveil.body.anny_smpl`), a few MB.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from .. import paths


def _compact_files(cache: Path) -> list[Path]:
    return sorted(cache.glob("**/build_compact_model_data_*.safetensors"))


def ensure_anny_cache(log=print) -> Path:
    cache = paths.anny_cache_dir()
    os.environ["ANNY_CACHE_DIR"] = str(cache)
    if not _compact_files(cache):
        log(f"anny: building the model cache in {cache} (about a minute, once)...")
        t = time.perf_counter()
        from .anny import import_anny  # deferred: loads numpy, roma, torch

        import_anny().Anny()
        log(f"anny: built in {time.perf_counter() - t:.0f} s")
    freed = 0
    keep = set(_compact_files(cache))
    for f in cache.glob("**/*.safetensors"):
        if f not in keep:
            freed += f.stat().st_size
            f.unlink()
    if freed:
        log(f"anny: deleted {freed / 1e6:.0f} MB of intermediate cache files (kept the compact file)")
    return cache


def ensure_anny_smpl(force: bool = False, log=print) -> Path:
    from .anny_smpl import anny_smpl_path, build  # deferred: loads numpy

    path = anny_smpl_path()
    if force or not path.exists():
        log("anny-smpl: deriving the SMPL-format model from Anny...")
        build(path=path, log=log)
    return path


def main(argv: list[str], prog: str = "unveil models build") -> int:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true", help="rebuild the Anny-SMPL file even if present")
    args = ap.parse_args(argv)
    cache = ensure_anny_cache()
    path = ensure_anny_smpl(force=args.force)
    size = sum(f.stat().st_size for f in _compact_files(cache)) / 1e6
    print(f"body models ready: anny cache {cache} ({size:.0f} MB), anny-smpl {path} "
          f"({path.stat().st_size / 1e6:.1f} MB)")
    return 0
