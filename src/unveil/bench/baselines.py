"""Baseline rows of ``unveil bench accuracy``: per-frame lifting, +interpolation, +Savitzky–Golay.

Seed: the non-temporal and naive-temporal baselines of the occlusion literature (MoPO Tab. 5 and
MoRo §5 compare against per-frame estimates and simple temporal filling/smoothing):

- ``perframe``: :mod:`unveil.motion.perframe` on every frame independently.
- ``interp``: ``perframe``, then every SMPL-24 joint whose 2D evidence has confidence < 0.6 in a
  frame is replaced by linear interpolation in time of that joint between the nearest frames where
  its evidence is confident (held constant before the first / after the last confident frame; left
  as predicted when it is never confident). A joint's evidence is its COCO-17 keypoint
  (skeleton.COCO17_TO_SMPL24); L/R_hand follow the wrist, L/R_foot the ankle, the head the mean of
  the five face points; pelvis, spine, neck and collars have no 2D keypoint and are never replaced.
- ``savgol``: ``perframe``, then a Savitzky–Golay filter along time on every joint coordinate
  (window 15 frames = 0.5 s at 30 fps, polynomial order 2; shorter windows for short clips).
"""

from __future__ import annotations

import numpy as np

from ..geometry import savgol_time
from ..skeleton import COCO17_TO_SMPL24
from .registry import register
from ..motion.perframe import lift

CONF_THRESHOLD = 0.6
SAVGOL_WINDOW = 15
SAVGOL_ORDER = 2


def smpl_confidence(keypoints2d: np.ndarray) -> np.ndarray:
    """(T, 17, 3) COCO-17 -> (T, 24) per-SMPL-joint 2D evidence confidence (NaN: no keypoint)."""
    conf = np.asarray(keypoints2d)[..., 2]
    out = np.full(conf.shape[:-1] + (24,), np.nan, dtype=np.float32)
    for k, j in enumerate(COCO17_TO_SMPL24):
        if j >= 0:
            out[..., j] = conf[..., k]
    out[..., 22], out[..., 23] = out[..., 20], out[..., 21]   # hands follow wrists
    out[..., 10], out[..., 11] = out[..., 7], out[..., 8]     # feet follow ankles
    out[..., 15] = conf[..., :5].mean(-1)                     # head from the face points
    return out


def interpolate_low_confidence(joints: np.ndarray, conf: np.ndarray, thr: float = CONF_THRESHOLD) -> np.ndarray:
    """Linear interpolation in time of joints whose confidence < thr (see module docstring)."""
    out = joints.copy()
    T = joints.shape[0]
    t = np.arange(T)
    for j in range(joints.shape[1]):
        c = conf[:, j]
        if np.isnan(c).all():
            continue
        good = c >= thr
        if good.all() or not good.any():
            continue
        for d in range(3):
            out[~good, j, d] = np.interp(t[~good], t[good], joints[good, j, d])
    return out


def savgol(joints: np.ndarray, window: int = SAVGOL_WINDOW, order: int = SAVGOL_ORDER) -> np.ndarray:
    """(T, J, 3) -> the same, Savitzky–Golay filtered along time (:func:`unveil.geometry.savgol_time`)."""
    return savgol_time(joints, window, order)


def _perframe(inputs):
    return lift(inputs.keypoints2d, inputs.camera)


def perframe(inputs) -> dict:
    return {"joints": _perframe(inputs)}


def interp(inputs) -> dict:
    j = _perframe(inputs)
    return {"joints": interpolate_low_confidence(j, smpl_confidence(inputs.keypoints2d))}


def savgol_row(inputs) -> dict:
    return {"joints": savgol(_perframe(inputs))}


register("perframe", perframe, group="baseline", note="per-frame MLP lifter, no temporal context")
register("interp", interp, group="baseline", note="perframe + linear interpolation of joints with confidence < 0.6")
register("savgol", savgol_row, group="baseline", note="perframe + Savitzky-Golay (15 frames, order 2)")
