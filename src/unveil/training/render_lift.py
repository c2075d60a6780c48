"""Training pairs that match the detector: rendered training-split video + the real detector's
2D keypoints + the exact 3D truth; fine-tune the MoPO LSTM lifter on them mixed with synthetic 2D.

Seed: issue 7 item 7 and MoRo §5 (the BEDLAM idea: fine-tune on rendered people whose 3D is known,
so the model learns the *detector's* errors -- e.g. BlazePose putting a hidden ankle on top of the
box, or keeping a hidden wrist at visibility 0.73 -- instead of a hand-made noise model). The
lifter is MoPO's (§4.1, Eq. 3: ``P3d_t = LSTM(E(P2d_t), P3d_{t-1}, h_{t-1})``); the loss is the
one of :func:`unveil.training.lift.train`: ``MPJPE + 0.5 * velocity error`` on root-relative joints.

- :func:`build_pairs` renders (cached, :mod:`unveil.data.synthvideo`) a seeded subset of a mocap
  split -- ``train`` for training, ``val`` for the decision, never ``eval`` -- runs the detector
  (cached) and packs detector keypoints + truth into one npz under ``$UNVEIL_CACHE/render_train``.
  Clip ``i`` is rendered in :data:`KINDS_PER_CLIP` scene kinds, rotating through all seven.
- :class:`RenderWindowSampler` draws random windows from those pairs (plus a left/right mirror:
  ``u -> 2 cx - u`` with COCO/SMPL labels swapped and camera ``x`` negated), in the format of
  :class:`unveil.training.windows.WindowSampler`.
- :func:`finetune` continues from the shipped ``mopo_lift_lstm.pt`` with each batch half rendered
  windows, half synthetic 2D windows, and writes ``mopo_lift_lstm_render.pt`` (a new file; the
  shipped lifter is untouched). ``unveil train mopo-lift-render`` runs it.
- Bench rows (``mopo-render``, ``mopo-limbs``) and the validation-split decision: :mod:`unveil.bench.render_rows`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from .. import atomic, paths
from ..checkpoint import save_checkpoint
from ..data import synthvideo
from ..data.corpus import corpus_id, load_split
from ..errors import UnveilError
from ..motion import lift
from ..motion.lift import mpjpe
from ..paths import WEIGHTS_DIR
from ..skeleton import COCO17_FLIP, SMPL24_FLIP
from . import windows
from .lift import train_steps

ALL_KINDS = ("none", "object", "pole", "truncation", "person", "lower", "mixed")
KINDS_PER_CLIP = 3
# the shipped recipe (see weights/mopo_lift_lstm_render.md)
TRAIN_CLIPS = 8
VAL_CLIPS = 2
TRAIN_SUPERSAMPLE = 1   # training renders without 2x anti-aliasing (3x cheaper); val/eval renders use 2
FRAMES = 60
WEIGHTS_NAME = "mopo_lift_lstm_render.pt"
VAL_KINDS = ("none", "object", "truncation", "person", "lower", "mixed")   # the benchmark's kinds
# 3D truth of the rendered pairs: the clip's mocap skeleton (synthvideo.mocap_truth), the convention
# of every other training set; "body" (the rendered body model's joints) differs by ~45 mm per joint
TRUTH = "mocap"


def kinds_for_clip(i: int, per_clip: int = KINDS_PER_CLIP) -> list[str]:
    return [ALL_KINDS[(per_clip * i + k) % len(ALL_KINDS)] for k in range(per_clip)]


def pairs_path(split: str, n_clips: int, frames: int, seed: int, kinds=None, supersample: int = 2,
               truth: str = "body") -> Path:
    tag = "rot" if kinds is None else "-".join(kinds)
    tt = "" if truth == "body" else f"_{truth}"
    return (paths.cache_dir() / "render_train"
            / f"{split}_{n_clips}c_{frames}f_s{seed}_ss{supersample}_{tag}{tt}_{corpus_id()}.npz")


def pack(seqs) -> dict:
    """RenderSequences -> one dict of concatenated arrays + per-sequence offsets."""
    T = np.array([len(s.keypoints2d) for s in seqs], np.int64)
    cat = lambda f: np.concatenate([np.asarray(f(s), np.float32) for s in seqs]) if seqs else np.zeros(0)  # noqa: E731
    return {
        "keypoints2d": cat(lambda s: s.keypoints2d), "joints_cam": cat(lambda s: s.joints_cam),
        "occluded": np.concatenate([np.asarray(s.occluded, bool) for s in seqs]),
        "offsets": np.concatenate([[0], np.cumsum(T)]).astype(np.int64),
        "focal": np.array([s.camera.focal for s in seqs], np.float32),
        "principal_point": np.array([[s.camera.cx, s.camera.cy] for s in seqs], np.float32),
        "names": np.array([s.name for s in seqs]), "kinds": np.array([s.kind for s in seqs]),
        "detected": np.array([int(s.info.get("detected_frames", len(s.keypoints2d))) for s in seqs]),
    }


def build_pairs(split: str = "train", n_clips: int = TRAIN_CLIPS, frames: int = FRAMES, seed: int = 0,
                kinds=None, workers: int = 2, supersample: int = 2, truth: str = "body", log=print) -> dict:
    """Render ``n_clips`` clips of ``split`` (``kinds``: the same kinds for every clip, or None for
    :func:`kinds_for_clip`), run the detector, save and return the packed pairs (cached)."""
    if split == "eval":
        raise UnveilError("training pairs never come from the evaluation split")
    path = pairs_path(split, n_clips, frames, seed, kinds, supersample, truth)
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    t0 = time.time()
    clips = load_split(split, max_clips=n_clips, seed=seed)
    seqs = []
    for i, c in enumerate(clips):
        ks = list(kinds) if kinds is not None else kinds_for_clip(i)
        seqs += synthvideo.load_render_sequences(ks, [c], seed, max_frames=frames, workers=workers, log=log,
                                                 supersample=supersample, truth=truth)
    d = pack(seqs)
    d["seconds"] = np.array(time.time() - t0)
    atomic.save_npz(path, **d)
    log(f"[render-train] {split}: {len(seqs)} sequences, {int(d['offsets'][-1])} frames "
        f"({int(d['detected'].sum())} with a detection) in {float(d['seconds']):.0f} s; wrote {path}")
    return d


class RenderWindowSampler:
    """Random ``window``-frame windows of packed pairs (+ mirror), WindowSampler's batch format."""

    def __init__(self, pairs: dict, window: int = 32, seed: int = 0, mirror: bool = True):
        self.d, self.window, self.mirror = pairs, window, mirror
        off = pairs["offsets"]
        self.seqs = [i for i in range(len(off) - 1) if off[i + 1] - off[i] >= window]
        if not self.seqs:
            raise ValueError(f"no rendered sequence has {window} frames")
        lens = np.array([off[i + 1] - off[i] - window + 1 for i in self.seqs], np.float64)
        self.p = lens / lens.sum()
        self.rng = np.random.default_rng(seed)

    def sample(self, n: int) -> dict:
        W, d, off = self.window, self.d, self.d["offsets"]
        out = {"keypoints2d": np.empty((n, W, 17, 3), np.float32), "joints_cam": np.empty((n, W, 24, 3), np.float32),
               "occluded": np.empty((n, W, 17), bool), "focal": np.empty(n, np.float32),
               "principal_point": np.empty((n, 2), np.float32)}
        for b, si in enumerate(self.rng.choice(self.seqs, n, p=self.p)):
            s = off[si] + self.rng.integers(0, off[si + 1] - off[si] - W + 1)
            kp, jc, occ = d["keypoints2d"][s:s + W].copy(), d["joints_cam"][s:s + W].copy(), d["occluded"][s:s + W]
            pp = d["principal_point"][si]
            if self.mirror and self.rng.random() < 0.5:
                kp = kp[:, list(COCO17_FLIP)]
                kp[..., 0] = 2 * pp[0] - kp[..., 0]
                jc = jc[:, list(SMPL24_FLIP)] * np.array([-1, 1, 1], np.float32)
                occ = occ[:, list(COCO17_FLIP)]
            out["keypoints2d"][b], out["joints_cam"][b], out["occluded"][b] = kp, jc, occ
            out["focal"][b], out["principal_point"][b] = d["focal"][si], pp
        return out

    def all_windows(self, stride: int | None = None) -> dict:
        """Every window (stride ``window``, no mirror) -- a fixed evaluation set."""
        W, off = self.window, self.d["offsets"]
        rows = []
        for si in self.seqs:
            for s in range(off[si], off[si + 1] - W + 1, stride or W):
                rows.append((si, s))
        d = self.d
        return {"keypoints2d": np.stack([d["keypoints2d"][s:s + W] for _, s in rows]).astype(np.float32),
                "joints_cam": np.stack([d["joints_cam"][s:s + W] for _, s in rows]).astype(np.float32),
                "occluded": np.stack([d["occluded"][s:s + W] for _, s in rows]),
                "focal": d["focal"][[si for si, _ in rows]], "principal_point": d["principal_point"][[si for si, _ in rows]]}


def concat_batches(a: dict, b: dict) -> dict:
    return {k: np.concatenate([a[k], b[k]]) for k in ("keypoints2d", "joints_cam", "occluded", "focal",
                                                      "principal_point")}


def window_mpjpe(model, batch: dict) -> float:
    """Root-relative MPJPE (mm) of a lifter over a batch of windows."""
    with torch.no_grad():
        x = torch.as_tensor(windows.features(batch))
        y = torch.as_tensor(windows.root_relative(batch["joints_cam"]))
        return float(mpjpe(model(x), y)) * 1000


def finetune(steps: int = 800, seed: int = 0, out=None, batch: int = 32, render_fraction: float = 0.5,
             lr: float = 3e-4, window: int = 32, n_clips: int = TRAIN_CLIPS, frames: int = FRAMES,
             init=None, truth: str = TRUTH, log=print) -> dict:
    """Fine-tune the shipped LSTM lifter on rendered+detected training pairs mixed with synthetic
    2D windows (see the module docstring); returns validation numbers before/after."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    pairs = build_pairs("train", n_clips, frames, seed, supersample=TRAIN_SUPERSAMPLE, truth=truth, log=log)
    rs = RenderWindowSampler(pairs, window=window, seed=seed)
    ss = windows.WindowSampler("train", window=window, seed=seed)
    val_syn = windows.WindowSampler("val", window=window, seed=seed + 1000).sample(128)
    vpairs = build_pairs("val", VAL_CLIPS, frames, seed, kinds=VAL_KINDS, truth=truth, log=log)
    val_ren = RenderWindowSampler(vpairs, window=window, seed=seed).all_windows(stride=window // 2)
    model = lift.load("lstm", path=init) if init else lift.load("lstm")
    model.train()
    before = {"val_synth_mm": window_mpjpe(model, val_syn), "val_render_mm": window_mpjpe(model, val_ren)}
    log(f"[lift-render] before: val synthetic {before['val_synth_mm']:.1f} mm, val render "
        f"{before['val_render_mm']:.1f} mm ({len(val_ren['focal'])} windows)")
    n_r = int(round(batch * render_fraction))
    t0 = time.time()
    train_steps(model, lambda: concat_batches(rs.sample(n_r), ss.sample(batch - n_r)), steps, lr, "lift-render", log)
    after = {"val_synth_mm": window_mpjpe(model, val_syn), "val_render_mm": window_mpjpe(model, val_ren)}
    secs = time.time() - t0
    path = Path(out) if out else WEIGHTS_DIR / WEIGHTS_NAME
    save_checkpoint(path, lift.ARCH, {"kind": "lstm", "window": window, "use_conf": True}, model.state_dict(),
                    {"seed": seed, "steps": steps, "render_fraction": render_fraction, "truth": truth,
                     "train_pairs": int(pairs["offsets"][-1]), "val_before": before, "val_after": after,
                     "train_seconds": secs})
    log(f"[lift-render] after: val synthetic {after['val_synth_mm']:.1f} mm, val render {after['val_render_mm']:.1f} mm;"
        f" {secs:.0f} s; wrote {path}")
    return {"before": before, "after": after, "train_seconds": secs,
            "train_frames": int(pairs["offsets"][-1]), "train_sequences": len(pairs["focal"])}


# `unveil train mopo-lift-render` (see unveil/train.py)
def train_lift(**kw):
    return finetune(**kw)
