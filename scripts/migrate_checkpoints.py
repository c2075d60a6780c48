"""One-off: rewrite the shipped weight files (src/unveil/weights/*.pt) from their five older layouts
into the one checkpoint format ``{"arch", "config", "state", "meta"}`` (:mod:`unveil.checkpoint`).

Tensors are copied as they are (float16 stays float16); the old extra keys (seed, steps, validation
numbers, ...) go to ``meta``. Files already in the format are left alone, so running it twice is a
no-op. Proof that nothing changed: ``scripts/checkpoint_outputs.py`` before and after (see its doc).

Usage: ``PYTHONPATH=src python scripts/migrate_checkpoints.py [WEIGHTS_DIR]``
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from unveil.checkpoint import KEYS, save_checkpoint
from unveil.fit import motion_refine, shape, tik
from unveil.motion import fusion, lift, masked, occlusion, perframe, predict, tcn
from unveil.paths import WEIGHTS_DIR
from unveil.trajectory import diffusion

NOTE = "migrated by scripts/migrate_checkpoints.py from the layout: "


def _rest(ck: dict, *used: str) -> dict:
    return {k: v for k, v in ck.items() if k not in used}


def convert(name: str, ck: dict) -> tuple[str, dict, dict, dict]:
    """(arch, config, state, meta) of an old-layout checkpoint ``ck`` of the file ``name``."""
    if name.startswith("mopo_lift_tcn"):  # flat float16 state_dict + a "dilations" tensor
        sd = dict(ck)
        dil = [int(d) for d in sd.pop("dilations")]
        return tcn.ARCH, {"channels": int(sd["inp.weight"].shape[0]), "dilations": dil}, sd, \
            {"migrated": NOTE + "flat float16 state_dict + 'dilations'"}
    if name in ("moro.pt", "perframe.pt"):  # flat float16 state_dict
        arch = masked.ARCH if name == "moro.pt" else perframe.ARCH
        return arch, {}, dict(ck), {"migrated": NOTE + "flat float16 state_dict"}
    if name.startswith("mopo_lift_"):  # {"kind", "state", "use_conf", "window", ...}
        cfg = {"kind": ck["kind"], "window": int(ck["window"]), "use_conf": bool(ck["use_conf"])}
        return lift.ARCH, cfg, dict(ck["state"]), \
            {**_rest(ck, "kind", "state", "use_conf", "window"), "migrated": NOTE + "{kind, state, use_conf, window, ...}"}
    if name == "mopo_occlusion.pt":  # {"states": {mode: state_dict}, "hidden", ...}
        states = {f"{m}.{k}": v for m, sd in ck["states"].items() for k, v in sd.items()}
        return occlusion.ARCH, {"hidden": int(ck["hidden"]), "modes": sorted(ck["states"])}, states, \
            {**_rest(ck, "states", "hidden"), "migrated": NOTE + "{states: {mode: state_dict}, hidden, ...}"}
    if name.startswith("mopo_predict_"):  # {"state", "n_in", "n_out", "blocks", ...}
        cfg = {k: int(ck[k]) for k in ("n_in", "n_out", "blocks")}
        return predict.ARCH, cfg, dict(ck["state"]), \
            {**_rest(ck, "state", "n_in", "n_out", "blocks"), "migrated": NOTE + "{state, n_in, n_out, blocks, ...}"}
    if name == "mopo_fusion.pt":  # {"state", ...}
        return fusion.ARCH, {}, dict(ck["state"]), {**_rest(ck, "state"), "migrated": NOTE + "{state, ...}"}
    if name == "ropetp.pt":  # {"state", "config", ...}
        return diffusion.ARCH, dict(ck["config"]), dict(ck["state"]), \
            {**_rest(ck, "state", "config"), "migrated": NOTE + "{state, config, ...}"}
    if name == "tik.pt":  # flat state_dict; window and width from the positional embedding
        return tik.ARCH, {"window": int(ck["pos"].shape[0]), "dim": int(ck["pos"].shape[1])}, dict(ck), \
            {"migrated": NOTE + "flat state_dict"}
    if name == "arts_refine.pt":  # flat state_dict; layers counted from the block names
        layers = len({k.split(".")[1] for k in ck if k.startswith("blocks.")})
        cfg = {"window": int(ck["pos"].shape[0]), "dim": int(ck["pos"].shape[1]), "layers": layers}
        return motion_refine.ARCH, cfg, dict(ck), {"migrated": NOTE + "flat state_dict"}
    if name.startswith("shape_mlp_"):  # flat state_dict; sizes from the layers
        cfg = {"num_shape": int(ck["fc.weight"].shape[0]), "hidden": int(ck["mlp.0.weight"].shape[0])}
        return shape.ARCH, cfg, dict(ck), {"migrated": NOTE + "flat state_dict"}
    raise ValueError(f"{name}: no known old layout")


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else WEIGHTS_DIR
    files = sorted(folder.glob("*.pt"))
    if not files:
        print(f"no .pt files in {folder}", file=sys.stderr)
        return 2
    for p in files:
        ck = torch.load(p, map_location="cpu", weights_only=True)
        if isinstance(ck, dict) and set(ck) == set(KEYS):
            print(f"{p.name}: already in the format")
            continue
        size = p.stat().st_size
        arch, cfg, state, meta = convert(p.name, ck)
        save_checkpoint(p, arch, cfg, state, meta)
        print(f"{p.name}: {arch} {cfg}; {len(state)} tensors; {size} -> {p.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
