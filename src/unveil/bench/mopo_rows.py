"""Benchmark rows of the MoPO motion stage (group ``mopo``) and its validation table.

Importing this module registers every ``mopo-*`` row whose weights are shipped in
:mod:`unveil.bench.registry` (it is listed in ``registry.METHOD_MODULES``); the runtime stage
:mod:`unveil.motion.stage` registers nothing. ``python -m unveil.bench.mopo_rows [N] [lstm]`` prints
the validation-split table design choices were made on.
"""

from __future__ import annotations

import sys

from ..data import synth2d
from ..data.corpus import load_split
from ..motion.stage import MoPO
from ..paths import WEIGHTS_DIR
from . import accuracy, registry

# MoPO constructor switches of each row (MoPO Tab. 5 ablations + the lifter/smoothing variants)
BENCH_ROWS: dict[str, dict] = {
    "mopo": {},
    "mopo-det-spatial": {"detector": "spatial"},
    "mopo-det-temporal": {"detector": "temporal"},
    "mopo-estimated": {"use_conf": False, "complete": False},
    "mopo-estimated-conf": {"complete": False},
    "mopo-len-4:2": {"lengths": (4, 2)},
    "mopo-len-8:4": {"lengths": (8, 4)},
    "mopo-len-16:1": {"lengths": (16, 1)},
    "mopo-dual": {"lifter": "dual"},
    "mopo-fusion": {"fusion": True},
    "mopo-bidir-blend": {"bidirectional": True, "blend_tau": 30.0},
    "mopo-tcn": {"lifter": "tcn", "complete": False},
    "mopo-tcn-complete": {"lifter": "tcn", "bidirectional": True, "blend_tau": 30.0},
    "mopo-tcn-smooth": {"lifter": "tcn", "complete": False, "smooth": 9},
    # issue 12: the TCN retrained on Bandai + CMU subset + mirrors, alone and gated with the
    # Bandai-only TCN for the hidden joints (motion.stage.gated_blend)
    "mopo-tcn-broad-smooth": {"lifter": "tcn", "complete": False, "smooth": 9, "weights": "mopo_lift_tcn_broad.pt"},
    "mopo-tcn-gated": {"lifter": "tcn", "complete": False, "smooth": 9, "weights": "mopo_lift_tcn_broad.pt",
                       "hidden_weights": "mopo_lift_tcn.pt"},
    # issue 12, detector-true noise / new bodies: fine-tunes of the broad TCN, gated like mopo-tcn-gated
    # (weights/mopo_lift_tcn_prop.md)
    **{f"mopo-tcn-{tag}-gated": {"lifter": "tcn", "complete": False, "smooth": 9, "weights": f"mopo_lift_tcn_{tag.replace('-', '_')}.pt",
                                 "hidden_weights": "mopo_lift_tcn.pt"}
       for tag in ("prop", "bpnoise", "bpnoise-prop")},
    # fifth session: the prop row with test-time mirror averaging (motion.stage.mirror_average) = the default
    "mopo-tcn-prop-gated-mirror": {"lifter": "tcn", "complete": False, "smooth": 9, "weights": "mopo_lift_tcn_prop.pt",
                                   "hidden_weights": "mopo_lift_tcn.pt", "mirror": True},
    # issue 12, new motion: the prop recipe with the DeepMimic clips in the mix (mopo_lift_tcn_prop_dm.md),
    # used exactly as the default row
    "mopo-tcn-prop-dm-gated-mirror": {"lifter": "tcn", "complete": False, "smooth": 9, "weights": "mopo_lift_tcn_prop_dm.pt",
                                      "hidden_weights": "mopo_lift_tcn.pt", "mirror": True},
    # seventh session: that recipe continued with the pose augmentation (mopo_lift_tcn_prop_dm_pose.md)
    "mopo-tcn-prop-dm-pose-gated-mirror": {"lifter": "tcn", "complete": False, "smooth": 9,
                                           "weights": "mopo_lift_tcn_prop_dm_pose.pt",
                                           "hidden_weights": "mopo_lift_tcn.pt", "mirror": True},
}


def weights_present(cfg: dict) -> bool:
    """Whether every weight file MoPO needs for the switches ``cfg`` is shipped.

    Args:
        cfg: MoPO constructor keywords (a :data:`BENCH_ROWS` value or ``motion.stage.DEFAULT``).

    Returns:
        True when all the files are in the weights folder.
    """
    need = []
    if cfg.get("detector", "spatiotemporal") != "spatial":
        need.append("mopo_occlusion.pt")
    need.append(f"mopo_lift_{cfg.get('lifter', 'lstm')}{'' if cfg.get('use_conf', True) else '_noconf'}.pt")
    if cfg.get("lifter") == "tcn":
        need += ["perframe.pt", "mopo_occlusion.pt"]
        need += [str(cfg[k]) for k in ("weights", "hidden_weights") if cfg.get(k)]
    if cfg.get("complete", True):
        n, l = cfg.get("lengths", (16, 8))
        need.append(f"mopo_predict_{n}_{l}.pt")
    if cfg.get("fusion"):
        need.append("mopo_fusion.pt")
    return all((WEIGHTS_DIR / n).is_file() for n in need)


def bench_fn(cfg: dict):
    """A benchmark method for the MoPO switches ``cfg``: ``seq -> {"joints": (T, 24, 3)}``."""
    model = MoPO(**cfg)

    def fn(seq):
        return {"joints": model(seq.keypoints2d, seq.camera)["joints"]}

    return fn


def register_bench(registry=registry) -> list[str]:
    """Register every MoPO row whose weights are shipped; returns the names registered."""
    names = []
    for name, cfg in BENCH_ROWS.items():
        if weights_present(cfg):
            registry.register(name, bench_fn(cfg), group="mopo")
            names.append(name)
    return names


def validate(configs: dict[str, dict] | None = None, n_clips: int = 12, seed: int = 0, kinds=None,
             baselines=("perframe", "interp"), max_frames: int = 300, log=print) -> dict:
    """Score MoPO variants on the mocap *validation* split (never the evaluation split) with the
    benchmark's own metrics -- what design choices (e.g. ``blend_tau``) are tuned on.
    ``python -m unveil.bench.mopo_rows`` prints the table."""
    kinds = list(kinds or accuracy.KINDS)
    clips = load_split("val", max_clips=n_clips, seed=seed)
    clips = [synth2d._slice_clip(c, 0, min(max_frames, len(c.joints))) for c in clips]
    seqs = {k: [synth2d.make_sequence(c, k, seed, occluder=clips[(i + 1) % len(clips)])
                for i, c in enumerate(clips)] for k in kinds}
    registry.load_all()
    names = [b for b in baselines if b in registry.names()]
    for name, cfg in (configs or {"mopo": {}}).items():
        registry.register(name, bench_fn(cfg), group="mopo-val")
        names.append(name)
    res = accuracy.run_benchmark(seqs, names, log=lambda *a: None)
    log(accuracy.markdown(res, f"## MoPO variants on the validation split ({len(clips)} clips, seed {seed})"))
    return res


try:  # rows appear in `unveil bench accuracy` when the harness imports this module
    register_bench()
except Exception:  # noqa: BLE001 - a missing weight/optional dependency skips the rows
    pass


if __name__ == "__main__":  # pragma: no cover
    cfgs = {"mopo-bidir-blend": {"bidirectional": True, "blend_tau": 30.0},
            **{k: v for k, v in BENCH_ROWS.items() if k.startswith("mopo-tcn")}}
    if len(sys.argv) > 2 and sys.argv[2] == "lstm":  # the LSTM-era choices (bidirectional, blend tau)
        cfgs = {"mopo-estimated-conf": {"complete": False}, "mopo": {}, "mopo-bidir": {"bidirectional": True},
                "mopo-blend30": {"blend_tau": 30.0}, "mopo-bidir-blend30": {"bidirectional": True, "blend_tau": 30.0},
                "mopo-bidir-blend60": {"bidirectional": True, "blend_tau": 60.0}}
    validate(cfgs, n_clips=int(sys.argv[1]) if len(sys.argv) > 1 else 12, baselines=("perframe", "interp", "savgol"))
