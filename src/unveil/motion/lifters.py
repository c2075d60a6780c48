"""The lifter protocol and registry: 2D keypoints of one person -> root-relative 3D joints.

A lifter is any object with ``lift(keypoints2d, camera) -> joints`` (:class:`Lifter`); a model
module whose module-level ``lift`` has that signature (:mod:`unveil.motion.tcn`,
:mod:`unveil.motion.perframe`) is one as it is. :data:`LIFTERS` maps the names that
``motion.stage.MoPO(lifter=NAME)`` (and the ``mopo-*`` bench rows) accept to a factory
``make(use_conf) -> Lifter``; :func:`get` builds (once, cached) the lifter of a name.

Adding a lifter: its network, loader and ``lift`` in ``motion/<name>.py`` (its training recipe in
``training/<name>.py``), and one line in :data:`LIFTERS` (or :func:`register` from outside).
"""

from __future__ import annotations

import functools
from typing import Callable, Protocol, runtime_checkable

import numpy as np

from ..types import Camera
from . import lift, perframe, tcn


@runtime_checkable
class Lifter(Protocol):
    def lift(self, keypoints2d: np.ndarray, camera: Camera) -> np.ndarray:
        """Lift one person's sequence.

        Args:
            keypoints2d: (T, 17, 3) COCO-17 pixels + detector confidence, T >= 1.
            camera: the video's pinhole intrinsics (``focal``, ``cx``, ``cy``).

        Returns:
            (T, 24, 3) SMPL-24 joints, root-relative (pelvis = 0), camera axes (OpenCV), metres.
        """


# name -> make(use_conf): use_conf = the lifter sees the detector confidences (else all 1: the
# "estimated poses" ablation); lifters that read them in their own way (TCN, per-frame) ignore it.
LIFTERS: dict[str, Callable[[bool], Lifter]] = {
    "tcn": lambda use_conf: tcn,              # temporal-context TCN (reads S'' itself): the default
    "lstm": functools.partial(lift.SequenceLifter, "lstm"),    # MoPO's LSTM (Eq. 3)
    "dual": functools.partial(lift.SequenceLifter, "dual"),    # ARTS' dual-stream transformer
    "lstm_render": functools.partial(lift.SequenceLifter, "lstm_render"),  # LSTM fine-tuned on renders
    "perframe": lambda use_conf: perframe,    # one frame at a time (the baseline)
}


def register(name: str, make: Callable[[bool], Lifter]) -> None:
    """Add (or replace) lifter ``name``; ``make(use_conf)`` returns a :class:`Lifter`."""
    LIFTERS[name] = make
    get.cache_clear()


@functools.lru_cache(maxsize=None)
def get(name: str, use_conf: bool = True) -> Lifter:
    """The lifter ``name`` (built once per ``(name, use_conf)``).

    Raises:
        ValueError: ``name`` is not in :data:`LIFTERS`.
    """
    if name not in LIFTERS:
        raise ValueError(f"unknown lifter {name!r} (expected one of {sorted(LIFTERS)})")
    return LIFTERS[name](use_conf)
