"""Benchmark rows of the MoRo masked motion prior (group ``moro``).

Importing this module registers the ``moro*`` rows in :mod:`unveil.bench.registry` when the MoRo
weights and the pipeline's default lifter are shipped (it is listed in ``registry.METHOD_MODULES``);
the runtime module :mod:`unveil.motion.masked` registers nothing.
"""

from __future__ import annotations

from ..motion.masked import WEIGHTS, MoRoMethod
from ..motion.stage import DEFAULT
from . import registry
from .mopo_rows import weights_present

# MoRoMethod keywords of each row: decoding steps T and the blend with the lifter's joints
BENCH_ROWS = {"moro": {"steps": 5}, "moro-T1": {"steps": 1}, "moro-T10": {"steps": 10}, "moro-T20": {"steps": 20},
              "moro-blend1": {"steps": 5, "blend": 1.0}}


def register_bench(registry=registry) -> list[str]:
    """Register the MoRo rows (none unless ``moro.pt`` and the default lifter's weights are shipped).

    Returns:
        The names registered.
    """
    if not (WEIGHTS.is_file() and weights_present(DEFAULT)):
        return []
    names = []
    for name, cfg in BENCH_ROWS.items():
        meth = MoRoMethod(**cfg)
        registry.register(name, lambda seq, meth=meth: {"joints": meth(seq.keypoints2d, seq.camera)},
                          group="moro", note=f"default lifter + MoRo masked prior, T={cfg['steps']}, blend {meth.blend}")
        names.append(name)
    return names


try:
    register_bench()
except Exception:  # noqa: BLE001 - the benchmark must import cleanly
    pass
