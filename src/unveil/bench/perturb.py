"""Changes of the pixels no viewer would notice, to measure how much a result depends on chance
(docs/frontend.md "Seventh pass"; `unveil bench multiview --perturb`, scripts/perturb_tracks.py).

Kinds: ``brighter`` / ``darker`` (every pixel one level up / down), ``right`` / ``down`` (the frame
shifted by one pixel, the edge row or column repeated), ``noise`` (-1 / 0 / +1 level per pixel,
seeded by the frame index); ``none`` leaves the frames alone.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ..detect import people
from ..errors import UnveilError

KINDS = ("none", "brighter", "darker", "right", "down", "noise")


def perturb(img: np.ndarray, kind: str, index: int) -> np.ndarray:
    """One frame (H, W, 3) uint8 changed by ``kind`` (:data:`KINDS`); ``index`` seeds ``noise``."""
    if kind == "none":
        return img
    if kind == "brighter":
        return np.clip(img.astype(np.int16) + 1, 0, 255).astype(np.uint8)
    if kind == "darker":
        return np.clip(img.astype(np.int16) - 1, 0, 255).astype(np.uint8)
    if kind == "right":
        return np.ascontiguousarray(np.concatenate([img[:, :1], img[:, :-1]], 1))
    if kind == "down":
        return np.ascontiguousarray(np.concatenate([img[:1], img[:-1]], 0))
    if kind == "noise":
        step = np.random.default_rng(index).integers(-1, 2, img.shape)
        return np.clip(img.astype(np.int16) + step, 0, 255).astype(np.uint8)
    raise UnveilError(f"unknown perturbation {kind!r} (one of {', '.join(KINDS)})")


@contextlib.contextmanager
def perturbed_front_end(kind: str):
    """Inside the block the 2D front end (:func:`unveil.detect.people.track_video`) sees its frames
    changed by ``kind``."""
    if kind not in KINDS:
        raise UnveilError(f"unknown perturbation {kind!r} (one of {', '.join(KINDS)})")
    real = people.iter_frames

    def frames(*a, **k):
        for i, img in real(*a, **k):
            yield i, perturb(img, kind, i)

    people.iter_frames = real if kind == "none" else frames
    try:
        yield
    finally:
        people.iter_frames = real


__all__ = ["KINDS", "perturb", "perturbed_front_end"]
