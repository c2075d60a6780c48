"""Compare two `unveil run` / `unveil demo` output folders: every array of tracks/*.npz and cache/*.npz
(np.array_equal, dtype and shape too; NaN == NaN) and the export files byte for byte.

Usage: ``python scripts/compare_outputs.py OUT_A OUT_B`` (exit 1 on any difference).
"""
import hashlib, sys
from pathlib import Path
import numpy as np

a, b = Path(sys.argv[1]), Path(sys.argv[2])
bad = 0
for sub in ("tracks", "cache"):
    fa = sorted(p.name for p in (a / sub).glob("*.npz"))
    fb = sorted(p.name for p in (b / sub).glob("*.npz"))
    if fa != fb:
        print(f"{sub}: file lists differ {fa} vs {fb}"); bad += 1
    for name in fa:
        if name not in fb:
            continue
        za, zb = np.load(a / sub / name, allow_pickle=False), np.load(b / sub / name, allow_pickle=False)
        if sorted(za.files) != sorted(zb.files):
            print(f"{sub}/{name}: keys differ"); bad += 1
        for k in sorted(za.files):
            x, y = za[k], zb[k] if k in zb.files else None
            eq = y is not None and x.shape == y.shape and x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind in "fc")
            extra = ""
            if not eq and y is not None and x.shape == y.shape and x.dtype.kind in "fc":
                extra = f" max|diff| {np.nanmax(np.abs(x.astype(np.float64) - y)):.3g}"
            print(f"{sub}/{name}:{k} {x.dtype}{list(x.shape)} {'EQUAL' if eq else 'DIFFERENT' + extra}")
            bad += not eq
for name in sorted({q.name for q in a.iterdir() if q.suffix in (".glb", ".bvh", ".trc", ".html") or q.name == "keypoints.json"}):
    ha = hashlib.sha256((a / name).read_bytes()).hexdigest() if (a / name).exists() else None
    hb = hashlib.sha256((b / name).read_bytes()).hexdigest() if (b / name).exists() else None
    print(f"{name}: {'IDENTICAL BYTES' if ha == hb and ha else 'DIFFERENT'}")
    bad += not (ha == hb and ha)
print("all equal" if bad == 0 else f"{bad} differences")
sys.exit(1 if bad else 0)
