"""Bench rows of the render fine-tuned lifter (:mod:`unveil.training.render_lift`) and its
validation-split decision (``python -m unveil.bench.render_rows``).

- ``mopo-render`` = the ``mopo-bidir-blend`` row's MoPO configuration with the lifter fine-tuned on
  rendered detector output (the two differ only in the lifter's weights);
- ``mopo-limbs`` = the pipeline's MoPO (``motion.stage.DEFAULT``) scored on the 12 limb joints only,
  the like-for-like comparison for the ``blazepose-world`` row.
"""

from __future__ import annotations

from ..data import synthvideo
from ..data.corpus import load_split
from ..data.synthvideo import LIMB_JOINTS
from ..motion.stage import DEFAULT, MoPO
from ..paths import WEIGHTS_DIR
from ..training.render_lift import FRAMES, VAL_CLIPS, VAL_KINDS, WEIGHTS_NAME
from . import accuracy, mopo_rows, registry


def validate(n_clips: int = VAL_CLIPS, seed: int = 0, synthetic_clips: int = 12, truths=("mocap", "body"),
             log=print) -> dict:
    """The decision data: the pipeline's MoPO with the shipped lifter (``mopo-bidir-blend``) vs the
    render-fine-tuned one (``mopo-render``) on rendered *validation* clips through the real detector
    (the benchmark's kinds and protocol, the same renders as the validation of
    :func:`unveil.training.render_lift.finetune`) and on
    the synthetic-2D validation benchmark (:func:`unveil.bench.mopo_rows.validate`)."""
    registry.load_all()
    names = [n for n in ("perframe", "mopo-tcn-smooth", BASE_ROW, "mopo-render") if n in registry.names()]
    clips = load_split("val", max_clips=n_clips, seed=seed)
    ren = {}
    for truth in truths:
        seqs = synthvideo.load_render_sequences(VAL_KINDS, clips, seed, max_frames=FRAMES, log=log, truth=truth)
        by_kind: dict = {}
        for sq in seqs:
            by_kind.setdefault(sq.kind, []).append(sq)
        ren[truth] = accuracy.run_benchmark(by_kind, names, log=lambda *a: None)
        log(accuracy.markdown(ren[truth], f"## render source, validation split ({n_clips} clips x {FRAMES} frames, "
                                          f"seed {seed}), truth = {truth} skeleton"))
    cfgs = {"pipeline-default": dict(DEFAULT), BASE_ROW: dict(mopo_rows.BENCH_ROWS[BASE_ROW])}
    if "mopo-render" in names:
        cfgs["mopo-render"] = dict(RENDER_CFG)
    syn = mopo_rows.validate(cfgs, n_clips=synthetic_clips, seed=seed, baselines=("perframe",), log=log)
    return {"render": ren, "synthetic": syn}


# ------------------------------------------------------------------------------------ bench rows
def _limbs_fn():
    model = MoPO(**DEFAULT)

    def fn(inputs):
        return {"joints": model(inputs.keypoints2d, inputs.camera)["joints"], "score_joints": LIMB_JOINTS}

    return fn


# the fine-tuned lifter in the configuration of the `mopo-bidir-blend` row (shipped LSTM lifter,
# bidirectional completion + blend), so that the two rows differ only in the lifter's weights
RENDER_CFG = {"lifter": "lstm_render", "bidirectional": True, "blend_tau": 30.0}
BASE_ROW = "mopo-bidir-blend"


def _render_fn():
    model = MoPO(**RENDER_CFG)

    def fn(inputs):
        return {"joints": model(inputs.keypoints2d, inputs.camera)["joints"]}

    return fn


def register_bench(registry=registry) -> list[str]:
    """Register ``blazepose-world`` (:func:`unveil.data.synthvideo.blazepose_world_row`), ``mopo-limbs``
    and (when its weights exist) ``mopo-render``; returns the names."""
    names = ["blazepose-world", "mopo-limbs"]
    registry.register("blazepose-world", synthvideo.blazepose_world_row, group="render",
                      note="BlazePose GHUM world landmarks -> 12 limb joints (scored on those only); render source only")
    registry.register("mopo-limbs", _limbs_fn(), group="mopo",
                      note="MoPO (pipeline default) scored on the 12 limb joints (compare: blazepose-world)")
    if (WEIGHTS_DIR / WEIGHTS_NAME).is_file():
        registry.register("mopo-render", _render_fn(), group="mopo",
                          note="mopo-bidir-blend with the LSTM lifter fine-tuned on rendered detector output")
        names.append("mopo-render")
    return names


register_bench()


if __name__ == "__main__":  # pragma: no cover
    validate()
