"""Rules that drop tracks too short or too uncertain to be people (``--min-frames``,
``--min-confidence``), applied after the 2D stage so no later stage spends time on them.

- ``min_frames``: fewer frames than this (fragments left at crossings, a detection flickering on a
  background object). Default for video input 10 frames (1/3 s at 30 fps): on ``vtest.avi`` the
  first 90 frames gave 5- and 6-frame fragments next to tracks of 10 frames and more.
- ``min_confidence``: the mean keypoint confidence over the frames the person was actually seen
  (``held``; bridged frames carry confidence 0 and are not counted) below this. Default 0.5: the
  people of ``vtest.avi`` score 0.69-0.90.

Imported keypoints (``--keypoints``) are kept as given unless the options are passed explicitly.

Measured on the whole of ``vtest.avi`` (795 frames; ``unveil run media/vtest.avi -o OUT
--no-render``, summary.json ``dropped_tracks``): 44 tracks, the defaults drop 2 (5 and 6 frames).
Not caught: a blue sign post on the grass tracked for 14 frames (mean seen confidence 0.70, box
5 x 36 px); its box shape and keypoint spread overlap those of real side-on, distant people on the
same video, so no size/shape rule is applied.
"""

from __future__ import annotations

import numpy as np

MIN_FRAMES = 10
MIN_CONFIDENCE = 0.5


def seen_confidence(track) -> float:
    """Mean keypoint confidence of a :class:`unveil.types.Track2D` over its ``held`` frames (all
    frames when the track has no ``held`` flags)."""
    kp = np.asarray(track.keypoints)
    held = (track.extras or {}).get("held")
    if held is not None and np.asarray(held, bool).any():
        kp = kp[np.asarray(held, bool)]
    return float(kp[..., 2].mean()) if kp.size else 0.0


def filter_tracks(tracks2d: list, min_frames: int | None, min_confidence: float | None,
                  detected: bool = True) -> tuple[list, list[dict]]:
    """Split tracks into kept and dropped.

    Args:
        tracks2d: :class:`unveil.types.Track2D` list.
        min_frames, min_confidence: the thresholds; None = the default for the input kind
            (``detected``: :data:`MIN_FRAMES` / :data:`MIN_CONFIDENCE`; imported: keep all).
        detected: the tracks come from the video detector (not an imported JSON).

    Returns:
        ``(kept, dropped)``; each dropped entry ``{"id", "frames", "first_frame", "confidence",
        "reason"}`` (for summary.json).
    """
    if min_frames is None:
        min_frames = MIN_FRAMES if detected else 1
    if min_confidence is None:
        min_confidence = MIN_CONFIDENCE if detected else 0.0
    kept, dropped = [], []
    for t in tracks2d:
        n, c = len(t.frames), seen_confidence(t)
        reason = (f"{n} frames < --min-frames {min_frames}" if n < min_frames else
                  f"mean confidence {c:.2f} < --min-confidence {min_confidence}" if c < min_confidence else None)
        if reason is None:
            kept.append(t)
        else:
            dropped.append({"id": int(t.id), "frames": n, "first_frame": int(t.frames[0]) if n else None,
                            "confidence": round(c, 3), "reason": reason})
    return kept, dropped


__all__ = ["MIN_FRAMES", "MIN_CONFIDENCE", "filter_tracks", "seen_confidence"]
