"""A look at one benchmark clip: true vs per-frame-lifted trajectory of an occluded joint, and the
occlusion mask over time (matplotlib; ``pip install unveil[plots]``).

``python -m unveil.bench.plots [--clip NAME] [--kind lower] [--joint L_ankle] [--seed 0] -o docs/x.png``
"""

from __future__ import annotations

import argparse

import numpy as np

from .. import atomic
from ..errors import UnveilError
from ..skeleton import COCO17_NAMES, COCO17_TO_SMPL24, SMPL24_INDEX
from ..data.occlusions import runs
from ..data import synth2d
from ..data.corpus import load_split


def plot_clip(seq, preds: dict, joint: str, path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise UnveilError("plots need matplotlib: pip install 'unveil[plots]'") from e
    j = SMPL24_INDEX[joint]
    k = COCO17_TO_SMPL24.index(j) if j in COCO17_TO_SMPL24 else None
    gt = seq.joints_rel[:, j]
    T = gt.shape[0]
    t = np.arange(T) / seq.fps
    occ = seq.occluded[:, k] if k is not None else np.zeros(T, bool)
    fig, ax = plt.subplots(5, 1, figsize=(11, 11), sharex=True,
                           gridspec_kw={"height_ratios": [2, 2, 2, 2, 2.2]})
    colors = {"perframe": "tab:red", "interp": "tab:green", "savgol": "tab:purple"}

    def shade(a):
        for s, e in _runs(occ):
            a.axvspan(t[s], t[min(e, T - 1)], color="0.85", lw=0)

    for d, name in enumerate("xyz"):
        a = ax[d]
        shade(a)
        a.plot(t, gt[:, d], "k", lw=2, label="ground truth")
        for m, p in preds.items():
            a.plot(t, p[:, j, d], color=colors.get(m), lw=1, label=m)
        a.set_ylabel(f"{name} (m, camera,\npelvis-relative)")
    ax[0].legend(loc="upper right", ncol=4, fontsize=8)
    ax[0].set_title(f"{seq.name} · kind {seq.kind} · {joint} (grey: its 2D keypoint is hidden)")
    a = ax[3]
    shade(a)
    for m, p in preds.items():
        a.plot(t, 1000 * np.linalg.norm(p[:, j] - gt, axis=-1), color=colors.get(m), lw=1, label=m)
    a.plot(t, 1000 * seq.keypoints2d[:, k, 2] if k is not None else np.zeros(T), "0.4", lw=1, ls="--",
           label="2D confidence ×1000")
    a.set_ylabel(f"{joint} error (mm)")
    a.legend(loc="upper right", ncol=4, fontsize=8)
    ax[4].imshow(seq.occluded.T, aspect="auto", interpolation="nearest", cmap="Greys",
                 extent=[t[0], t[-1], 16.5, -0.5])
    ax[4].set_yticks(range(17))
    ax[4].set_yticklabels(COCO17_NAMES, fontsize=7)
    ax[4].set_xlabel("time (s)")
    ax[4].set_title("ground-truth occlusion mask (black = hidden)", fontsize=9)
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)


def _runs(m):
    return runs(m)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m unveil.bench.plots")
    ap.add_argument("--clip", default=None, help="evaluation clip name (default: the first walking one)")
    ap.add_argument("--kind", default="lower")
    ap.add_argument("--joint", default="L_ankle")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--out", required=True)
    a = ap.parse_args(argv)
    from . import baselines  # deferred: loads scipy

    clips = load_split("eval")
    if a.clip:
        idx = [i for i, c in enumerate(clips) if c.name == a.clip]
        if not idx:
            raise UnveilError(f"no evaluation clip {a.clip!r}")
        i = idx[0]
    else:
        i = next((i for i, c in enumerate(clips) if "walk" in c.name), 0)
    seq = synth2d.make_sequence(clips[i], a.kind, a.seed, occluder=clips[(i + 1) % len(clips)])
    inp = synth2d.inputs_of(seq)
    preds = {"perframe": baselines.perframe(inp)["joints"], "interp": baselines.interp(inp)["joints"],
             "savgol": baselines.savgol_row(inp)["joints"]}
    plot_clip(seq, preds, a.joint, a.out)
    print(f"wrote {a.out} ({seq.name}, {a.kind}, {a.joint})")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
