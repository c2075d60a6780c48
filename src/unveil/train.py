"""``unveil train NAME [--seed S] [--steps N] [--out PATH]`` -- train one model with a fixed seed.

A tiny dispatcher: NAME -> "module:function"; the function takes keyword arguments ``seed``,
``steps`` (only passed when given) and ``out`` (weights path; None = the shipped location under
``unveil/weights``) and returns a dict of final validation numbers, which are printed.
Other model owners add their rows to :data:`TRAINERS`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import time

from .errors import UnveilError
from .runtime import init_torch

TRAINERS: dict[str, str] = {
    "mopo-occlusion": "unveil.training.occlusion:train",
    "mopo-lift-lstm": "unveil.training.lift:train_lstm",
    "mopo-lift-lstm-finetune": "unveil.training.lift:finetune_lstm",
    "mopo-lift-lstm-noconf": "unveil.training.lift:train_lstm_noconf",
    "mopo-lift-dual": "unveil.training.lift:train_dual",
    "mopo-lift-tcn": "unveil.training.tcn:train",
    "mopo-lift-tcn-long": "unveil.training.tcn:train_long",
    "mopo-lift-tcn-finetune": "unveil.training.tcn:finetune",
    "mopo-lift-tcn-finetune-occ": "unveil.training.tcn:finetune_occ",
    "mopo-lift-tcn-broad": "unveil.training.tcn:train_broad",
    "mopo-lift-tcn-broad-finetune": "unveil.training.tcn:finetune_broad",
    "mopo-lift-tcn-broad-finetune-occ": "unveil.training.tcn:finetune_occ_broad",
    "mopo-lift-tcn-bpnoise": "unveil.training.tcn:finetune_noise",
    "mopo-lift-tcn-prop": "unveil.training.tcn:finetune_prop",
    "mopo-lift-tcn-prop-dm": "unveil.training.tcn:finetune_prop_dm",
    "mopo-lift-tcn-prop-dm-pose": "unveil.training.tcn:finetune_prop_dm_pose",
    "mopo-lift-tcn-prop-dm-place": "unveil.training.tcn:finetune_prop_dm_place",
    "mopo-lift-tcn-prop-dm-cam": "unveil.training.tcn:finetune_prop_dm_cam",
    "mopo-lift-tcn-bpnoise-prop": "unveil.training.tcn:finetune_noise_prop",
    "mopo-lift-tcn-mixnoise-prop": "unveil.training.tcn:finetune_mixed_prop",
    "blazepose-noise": "unveil.training.noise_model:train",
    "bone-ratios": "unveil.training.proportions:train",
    "mopo-lift-tcn-real": "unveil.training.tcn:train_real",
    "mopo-lift-tcn-real-finetune": "unveil.training.tcn:finetune_real",
    "mopo-lift-tcn-real-finetune-occ": "unveil.training.tcn:finetune_occ_real",
    "mopo-lift-render": "unveil.training.render_lift:train_lift",
    "image-depth": "unveil.training.image_depth:train_image_depth",
    "image-depth-kponly": "unveil.training.image_depth:train_image_depth_kponly",
    "image-depth-rope": "unveil.training.image_depth:train_rope",
    "image-depth-rope-varied": "unveil.training.image_depth:train_rope_varied",
    "image-depth-rope-kponly": "unveil.training.image_depth:train_rope_kponly",
    "image-depth-rope-fulco": "unveil.training.image_depth:train_rope_fulco",
    "image-depth-rope-inter": "unveil.training.image_depth:train_rope_inter",
    "image-depth-rope-nowhobo": "unveil.training.image_depth:train_rope_nowhobo",
    "image-depth-rope-noicl": "unveil.training.image_depth:train_rope_noicl",
    "image-depth-wide": "unveil.training.image_depth:train_image_depth_wide",
    "mopo-predict": "unveil.training.predict:train_16_8",
    "mopo-predict-4-2": "unveil.training.predict:train_4_2",
    "mopo-predict-8-4": "unveil.training.predict:train_8_4",
    "mopo-predict-16-1": "unveil.training.predict:train_16_1",
    "mopo-fusion": "unveil.training.fusion:train",
    "image-fusion": "unveil.training.image_fusion:train_depth",
    "image-fusion-unbounded": "unveil.training.image_fusion:train_unbounded",
    "tik": "unveil.training.fit:train_tik",
    "tik-broad": "unveil.training.fit:train_tik_broad",
    "shape": "unveil.training.fit:train_shape",
    "pose-prior": "unveil.training.fit:train_pose_prior",
    "pose-prior-broad": "unveil.training.fit:train_pose_prior_broad",
    "keypoint-offsets": "unveil.training.fit:train_keypoint_offsets",
    "arts-refine": "unveil.training.fit:train_arts_refine",
    "perframe": "unveil.training.perframe:train",
    "ropetp": "unveil.training.ropetp:train",
    "moro": "unveil.training.moro:train",
}


def main(argv: list[str], prog: str = "unveil train") -> int:
    ap = argparse.ArgumentParser(prog=prog, description="Train a model with a fixed seed and write its weights.")
    ap.add_argument("name", nargs="?", help="model to train (omit to list them)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=None, help="optimiser steps (default: the recipe's)")
    ap.add_argument("--out", default=None, help="weights file (default: the shipped one in unveil/weights)")
    a = ap.parse_args(argv)
    if not a.name:
        for name, target in TRAINERS.items():
            print(f"  {name:<24} {target}")
        return 0
    if a.name not in TRAINERS:
        raise UnveilError(f"unknown model {a.name!r}; choose one of: {', '.join(TRAINERS)}")

    init_torch()
    mod, fn = TRAINERS[a.name].split(":")
    kw = {"seed": a.seed, "out": a.out}
    if a.steps is not None:
        kw["steps"] = a.steps
    t0 = time.time()
    res = getattr(importlib.import_module(mod), fn)(**kw)
    print(json.dumps({"model": a.name, "seed": a.seed, "seconds": round(time.time() - t0, 1), "result": res},
                     default=str))
    return 0
