"""Peak memory and time of the evidence fit's root solve alone on N random frames (docs/batch.md,
"Fourth pass"): ``old`` = the sparse SuperLU solve as it was (the verbatim copy in
tests/test_fit_evidence.py), ``new`` = :func:`unveil.fit.evidence.solve_root_smooth` (banded).
The peak is the kernel's high-water mark (VmHWM), reset just before the call, above the RSS then;
run with ``MALLOC_MMAP_THRESHOLD_=65536`` so that the RSS follows the memory in use. The root is saved
to OUT.npy (compare old and new).

    MALLOC_MMAP_THRESHOLD_=65536 PYTHONPATH=src:tests .venv/bin/python scripts/root_solve_rss.py old|new N OUT.npy
"""

from __future__ import annotations

import sys
import time

import numpy as np
from test_fit_evidence import CAM, _solve_root_smooth_before

from unveil.fit.evidence import solve_root_smooth


def status_mb(key: str) -> float:
    """A ``/proc/self/status`` memory field (MB)."""
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    raise KeyError(key)


def main(which: str, n: int, out: str) -> None:
    if which not in ("old", "new") or n < 1:
        raise SystemExit("usage: root_solve_rss.py old|new N OUT.npy")
    rng = np.random.default_rng(0)
    P = rng.normal(0, 0.35, (n, 17, 3)).astype(np.float32)            # a random body, a random-walk root
    tau = np.stack([np.cumsum(rng.normal(0, 0.02, n)), np.cumsum(rng.normal(0, 0.02, n)),
                    5.0 + np.cumsum(rng.normal(0, 0.02, n))], -1)
    X = P + tau[:, None]
    xy = (X[..., :2] / X[..., 2:3] * CAM.focal + [CAM.cx, CAM.cy] + rng.normal(0, 3.0, (n, 17, 2))).astype(np.float32)
    w = rng.uniform(0, 1, (n, 17)).astype(np.float32)
    f = _solve_root_smooth_before if which == "old" else solve_root_smooth
    f(P[:10], xy[:10], w[:10], CAM, 1.7)                              # the imports, before measuring
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    r0 = status_mb("VmRSS:")
    t0 = time.perf_counter()
    root = f(P, xy, w, CAM, 1.7)
    dt = time.perf_counter() - t0
    print(f"{which} N={n}: peak +{status_mb('VmHWM:') - r0:.1f} MB above {r0:.1f} MB, {dt:.2f} s")
    np.save(out, root)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
