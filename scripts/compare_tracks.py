"""Compare the ``tracks/*.npz`` of two ``unveil run`` output folders array by array (``np.array_equal``,
NaN equal to NaN), e.g. before / after a refactor that must not change results:

    .venv/bin/python scripts/compare_tracks.py OUT_BEFORE OUT_AFTER [OUT_BEFORE2 OUT_AFTER2 ...]

Prints one line per track file (arrays compared, and each array that differs: its dtype/shape on
both sides and the largest absolute difference) and exits 1 if any file, array name, dtype, shape
or value differs, 0 when every array of every track file is equal.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def _load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _max_abs(a: np.ndarray, b: np.ndarray) -> str:
    if a.shape != b.shape or a.dtype.kind not in "fiub" or b.dtype.kind not in "fiub":
        return "n/a"
    d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return f"{np.nanmax(d):.3g}" if d.size else "0"


def compare(before: Path, after: Path) -> list[str]:
    """Differences between ``before/tracks/*.npz`` and ``after/tracks/*.npz``.

    Args:
        before, after: two ``unveil run`` output folders.

    Returns:
        one line per difference (empty: every file and array equal); prints a line per file.
    """
    fa = {p.name for p in (before / "tracks").glob("*.npz")}
    fb = {p.name for p in (after / "tracks").glob("*.npz")}
    problems = [f"{before}: {n} only in before" for n in sorted(fa - fb)]
    problems += [f"{after}: {n} only in after" for n in sorted(fb - fa)]
    if not fa and not fb:
        problems.append(f"{before}: no tracks/*.npz on either side")
    for name in sorted(fa & fb):
        a, b = _load(before / "tracks" / name), _load(after / "tracks" / name)
        bad = [f"{k}: only in before" for k in sorted(set(a) - set(b))]
        bad += [f"{k}: only in after" for k in sorted(set(b) - set(a))]
        for k in sorted(set(a) & set(b)):
            x, y = a[k], b[k]
            if x.dtype != y.dtype or x.shape != y.shape:
                bad.append(f"{k}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}")
            elif not np.array_equal(x, y, equal_nan=x.dtype.kind in "fc"):
                bad.append(f"{k}: values differ (max |diff| {_max_abs(x, y)})")
        print(f"{before.name}/tracks/{name} vs {after.name}: {len(set(a) & set(b))} arrays, "
              + ("all equal" if not bad else f"{len(bad)} differ: " + "; ".join(bad)))
        problems += [f"{name} {m}" for m in bad]
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folders", nargs="+", type=Path, help="pairs of output folders: BEFORE AFTER [BEFORE AFTER ...]")
    a = ap.parse_args(argv)
    if len(a.folders) % 2:
        ap.error("give folders in pairs (BEFORE AFTER)")
    for p in a.folders:
        if not (p / "tracks").is_dir():
            ap.error(f"{p}: no tracks/ folder (not an unveil run output)")
    problems = []
    for before, after in zip(a.folders[::2], a.folders[1::2]):
        problems += compare(before, after)
    print(f"{len(problems)} difference(s) in {len(a.folders) // 2} pair(s) of runs")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
