"""Run every shipped network on fixed seeded inputs and save what it returns (one npz), so that a
change of the checkpoint files or of their loaders can be checked bit for bit.

Only the public loaders and the networks' own ``forward`` are used, so the same script runs on an
older tree (``PYTHONPATH=<old>/src``): ``python scripts/checkpoint_outputs.py OUT.npz`` on both
trees, then ``python scripts/checkpoint_outputs.py --compare A.npz B.npz`` (np.array_equal per
array; exit 1 on any difference). Also saves every parameter / buffer of every loaded network.
"""

from __future__ import annotations

import sys
import types

import numpy as np


def _outputs() -> dict[str, np.ndarray]:
    import roma
    import torch

    from unveil.fit import motion_refine, shape, tik
    from unveil.motion import fusion, lift, masked, occlusion, perframe, predict, tcn
    from unveil.paths import WEIGHTS_DIR
    from unveil.trajectory import diffusion

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)

    def rnd(*shape):
        return torch.rand(*shape, generator=g)

    def rots(*shape):
        return roma.rotvec_to_rotmat((rnd(*shape, 3) - 0.5) * 2.0)

    out: dict[str, np.ndarray] = {}

    def keep(name, model, y):
        for k, v in model.state_dict().items():
            out[f"{name}/param/{k}"] = v.detach().cpu().numpy()
        ys = y if isinstance(y, (tuple, list)) else (y,)
        for i, t in enumerate(ys):
            if torch.is_tensor(t):
                out[f"{name}/out{i}"] = t.detach().cpu().numpy()

    with torch.no_grad():
        m = tcn.load()
        keep("mopo_lift_tcn", m, m(rnd(1, 40, tcn.N_IN)))
        m = tcn.load(str(WEIGHTS_DIR / "mopo_lift_tcn_broad.pt"))
        keep("mopo_lift_tcn_broad", m, m(rnd(1, 40, tcn.N_IN)))
        m = perframe.load()
        keep("perframe", m, m(rnd(40, perframe.N_IN)))
        m = masked.load()
        j = rnd(2, 16, 24, 3)
        keep("moro", m, m.tokenizer(j)[0])
        out["moro/transformer"] = m.transformer(m.tokenizer(j)[2], rnd(2, 16, masked.N_COND)).numpy()
        for kind, conf, name in (("lstm", True, "mopo_lift_lstm"), ("lstm", False, "mopo_lift_lstm_noconf"),
                                 ("dual", True, "mopo_lift_dual")):
            m = lift.load(kind, conf)
            keep(name, m, m(rnd(1, 40, lift.FEAT_DIM)))
            out[f"{name}/use_conf"] = np.asarray(m.use_conf)
        m = lift.load(path=WEIGHTS_DIR / "mopo_lift_lstm_render.pt")
        keep("mopo_lift_lstm_render", m, m(rnd(1, 40, lift.FEAT_DIM)))
        out["mopo_lift_lstm_render/use_conf"] = np.asarray(m.use_conf)
        for mode in ("temporal", "spatiotemporal"):
            m = occlusion.load(mode)
            keep(f"mopo_occlusion_{mode}", m, m(rnd(1, 30, 17)))
        for n_in, n_out in ((16, 8), (16, 1), (4, 2), (8, 4)):
            m = predict.load(n_in, n_out)
            keep(f"mopo_predict_{n_in}_{n_out}", m, m(rnd(2, n_in, 24, 3)))
        m = fusion.load()
        keep("mopo_fusion", m, m(rnd(1, 20, 24, 3), rnd(1, 20, 33, fusion.EVIDENCE_DIM)))
        m = diffusion.load()
        hc = m.encode(rnd(1, 48, diffusion.COND_DIM))
        keep("ropetp", m, (m.denoise(rnd(1, 48, 4), torch.tensor([10]), hc), m.contact_logits(hc)))
        m = tik.load_tik()
        W = m.window
        keep("tik", m, m(rots(2, W, 24), rnd(2, W, 24, 3)))
        m = motion_refine.load_motion_refine()
        W = m.window
        keep("arts_refine", m, m(rots(2, W, 24), rots(2, W, 24), rnd(2, W, 24, 3), rnd(2, W, 24)))
        shape._WEIGHTS_CACHE.clear()
        for S in range(1, 64):  # the shipped MLP's shape count, found by asking the loader
            m = shape.load_shape_mlp(types.SimpleNamespace(name="anny", num_shape=S))
            if m is not None:
                break
        keep("shape_mlp_anny", m, m(rnd(5, 23) * 0.3 + 0.05))
    return out


def main(argv: list[str]) -> int:
    if argv[:1] == ["--compare"] and len(argv) == 3:
        a, b = np.load(argv[1]), np.load(argv[2])
        bad = 0
        if sorted(a.files) != sorted(b.files):
            print("different arrays:", sorted(set(a.files) ^ set(b.files)))
            bad += 1
        nets: dict[str, list[bool]] = {}
        for k in sorted(set(a.files) & set(b.files)):
            eq = a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and np.array_equal(a[k], b[k])
            nets.setdefault(k.split("/")[0], []).append(eq)
            if not eq:
                print(f"DIFFERENT {k}")
                bad += 1
        for n, eqs in nets.items():
            print(f"{n}: {sum(eqs)}/{len(eqs)} arrays equal")
        print(f"{len(a.files)} arrays, {bad} differences")
        return 1 if bad else 0
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = _outputs()
    np.savez(argv[0], **out)
    print(f"wrote {argv[0]}: {len(out)} arrays")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
