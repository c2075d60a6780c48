"""``unveil bench body``: forward-pass time of each available body model (median of N after warmup).

Times ``model(rotmats, shape, transl)`` under ``torch.no_grad()`` with random poses (seeded) at
each batch size, for: ``anny`` (the Anny-derived SMPL-format model, the default), ``anny-native``
(Anny's own 104-bone rig) and any ``--model PATH`` (SMPL / SMPL-X files). Prints a markdown table.
Threads: ``--threads`` (default ``$UNVEIL_THREADS`` / all cores); the table says how many.
"""

from __future__ import annotations

import argparse
import statistics
import time
from .. import runtime
from ..errors import UnveilError


def time_model(model, batch: int, repeats: int = 20, warmup: int = 3, seed: int = 0) -> dict:
    import roma
    import torch

    g = torch.Generator().manual_seed(seed)
    rot = roma.rotvec_to_rotmat(torch.randn(batch, 24, 3, generator=g) * 0.3)
    shape = model.default_shape()[None].expand(batch, -1)
    transl = torch.randn(batch, 3, generator=g)
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            t = time.perf_counter()
            model(rot, shape, transl)
            if i >= warmup:
                times.append((time.perf_counter() - t) * 1000)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "repeats": repeats}


def main(argv: list[str], prog: str = "unveil bench body") -> int:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 64], help="batch sizes (default 1 64)")
    ap.add_argument("--repeats", type=int, default=20, help="timed runs per cell (default 20)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--model", action="append", default=None,
                    help="body model spec(s) to time (default: anny, anny-native); repeatable")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)

    from ..body.base import load_body_model  # deferred: loads numpy, roma, torch

    torch = runtime.init_torch(args.threads)
    specs = args.model or ["anny", "anny-native"]
    print(f"body-model forward pass, torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
          f"median of {args.repeats} after {args.warmup} warmup runs")
    header = "| model | vertices | shape dims | " + " | ".join(f"batch {b} ms" for b in args.batch) + " | per-frame ms @ max batch |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for spec in specs:
        try:
            model = load_body_model(spec)
        except UnveilError as e:
            print(f"| {spec} | unavailable: {e} |")
            continue
        cells = [time_model(model, b, args.repeats, args.warmup)["median_ms"] for b in args.batch]
        nv = int(model.rest_vertices().shape[0])
        per = cells[-1] / args.batch[-1]
        print(f"| {model.name} | {nv} | {model.num_shape} | " + " | ".join(f"{c:.1f}" for c in cells)
              + f" | {per:.2f} |")
    return 0
