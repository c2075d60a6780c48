"""Training-window samplers for the MoPO recipes (a thin adapter over the project's data code).

- :class:`WindowSampler`: synthetic 2D windows (noise + occlusions + ground truth) from
  ``unveil.data.synth2d.training_windows`` -> a dict of stacked arrays. A pool is generated once and
  refreshed in part every few batches, so training does not wait on data generation.
- :class:`JointWindowSampler`: root-relative 3D joint windows of mocap clips seen by random virtual
  cameras (yaw anywhere, pitch +-25 deg), for the motion predictor (no 2D needed).
"""

from __future__ import annotations

import numpy as np

from ..data import corpus, synth2d
from ..motion.lift import features as lift_features
from ..skeleton import SMPL24_FLIP

KINDS = ("none", "object", "truncation", "person", "lower", "mixed")


def _stack(raw) -> dict:
    """Accept what training_windows returns (dict of arrays, an object, or a list of sequences)."""
    if isinstance(raw, dict):
        d = dict(raw)
    elif isinstance(raw, (list, tuple)):
        seqs = list(raw)
        d = {k: np.stack([getattr(s, k) for s in seqs]) for k in ("keypoints2d", "occluded", "joints_cam")}
        d["focal"] = np.array([s.camera.focal for s in seqs], np.float32)
        d["principal_point"] = np.array([[s.camera.cx, s.camera.cy] for s in seqs], np.float32)
        return d
    else:
        d = {k: getattr(raw, k) for k in dir(raw) if not k.startswith("_") and not callable(getattr(raw, k))}
    if "focal" not in d or "principal_point" not in d:
        cams = d.get("cameras") or d.get("camera")
        if isinstance(cams, (list, tuple)):
            d["focal"] = np.array([c.focal for c in cams], np.float32)
            d["principal_point"] = np.array([[c.cx, c.cy] for c in cams], np.float32)
        elif cams is not None:
            n = len(d["keypoints2d"])
            d["focal"] = np.full(n, cams.focal, np.float32)
            d["principal_point"] = np.tile(np.array([[cams.cx, cams.cy]], np.float32), (n, 1))
    out = {k: np.asarray(d[k]) for k in ("keypoints2d", "occluded", "joints_cam", "focal", "principal_point")}
    out["keypoints2d"] = out["keypoints2d"].astype(np.float32)
    out["joints_cam"] = out["joints_cam"].astype(np.float32)
    out["occluded"] = out["occluded"].astype(bool)
    out["focal"] = out["focal"].astype(np.float32).reshape(-1)
    out["principal_point"] = out["principal_point"].astype(np.float32).reshape(-1, 2)
    return out


class WindowSampler:
    def __init__(self, split: str = "train", window: int = 32, seed: int = 0, pool: int = 2048,
                 refresh: int = 32, kinds=KINDS):
        self._gen = synth2d.training_windows
        self.split, self.window, self.kinds = split, window, tuple(kinds)
        self.rng = np.random.default_rng(seed)
        self.seed, self.calls, self.refresh = seed, 0, refresh
        self.pool_size = pool
        self.pool = None

    def _make(self, n: int) -> dict:
        self.seed += 1
        return _stack(self._gen(split=self.split, window=self.window, n=n, seed=self.seed, kinds=self.kinds))

    def sample(self, n: int) -> dict:
        if self.pool is None:
            if n >= self.pool_size:
                return self._make(n)
            self.pool = self._make(self.pool_size)
        self.calls += 1
        if self.refresh and self.calls % 8 == 0:  # replace a slice of the pool with fresh windows
            new = self._make(self.refresh)
            idx = self.rng.choice(self.pool_size, self.refresh, replace=False)
            for k in self.pool:
                self.pool[k][idx] = new[k]
        idx = self.rng.choice(self.pool_size, n, replace=False)
        return {k: v[idx] for k, v in self.pool.items()}


def features(batch: dict, use_conf: bool = True) -> np.ndarray:
    """A window batch's (n, W, 17, 3) keypoints -> (n, W, FEAT_DIM) lifter features (numpy)."""
    return lift_features(batch["keypoints2d"], focal=batch["focal"], principal_point=batch["principal_point"],
                     use_conf=use_conf).numpy()


def root_relative(joints) -> np.ndarray:
    joints = np.asarray(joints, np.float32)
    return joints - joints[..., :1, :]


def _rot_x(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]], np.float32)


def _rot_y(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], np.float32)


def random_camera_rotation(rng) -> np.ndarray:
    """World (Y up) -> OpenCV camera rotation: random yaw, pitch in +-25 deg, y down."""
    flip = np.diag([1.0, -1.0, -1.0]).astype(np.float32)
    return _rot_x(rng.uniform(-0.44, 0.44)) @ flip @ _rot_y(rng.uniform(0, 2 * np.pi))


class JointWindowSampler:
    """(n, window, 24, 3) root-relative camera-frame joint windows from a mocap split."""

    def __init__(self, split: str = "train", window: int = 24, seed: int = 0, max_clips=None):
        clips = corpus.load_split(split, max_clips=max_clips, seed=seed)
        self.clips = [np.asarray(c.joints, np.float32) for c in clips if len(c.joints) >= window]
        if not self.clips:
            raise RuntimeError(f"no {split} clip has {window} frames")
        lens = np.array([len(c) - window + 1 for c in self.clips], np.float64)
        self.p = lens / lens.sum()
        self.window = window
        self.rng = np.random.default_rng(seed)

    def sample(self, n: int) -> np.ndarray:
        out = np.empty((n, self.window, 24, 3), np.float32)
        ci = self.rng.choice(len(self.clips), n, p=self.p)
        for i, c in enumerate(ci):
            clip = self.clips[c]
            s = self.rng.integers(0, len(clip) - self.window + 1)
            w = clip[s:s + self.window]
            w = w - w[:, :1]
            if self.rng.random() < 0.5:  # mirror (swap left/right and negate x)
                w = w[:, list(SMPL24_FLIP)] * np.array([-1, 1, 1], np.float32)
            out[i] = w @ random_camera_rotation(self.rng).T
        return out
