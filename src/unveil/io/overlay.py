"""Draw 2D keypoints, skeleton edges, boxes and track ids on frames (OpenCV), for `unveil run --render`."""

from __future__ import annotations

import cv2
import numpy as np

from ..skeleton import BLAZEPOSE33_EDGES, COCO17_EDGES

_EDGES = {"blazepose33": BLAZEPOSE33_EDGES, "coco17": COCO17_EDGES}


def track_color(tid: int) -> tuple[int, int, int]:
    """A stable, distinct RGB colour per track id (golden-ratio hue walk)."""
    h = int((tid * 0.61803398875 % 1.0) * 180)
    hsv = np.uint8([[[h, 220, 255]]])
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0])


def draw_person(img: np.ndarray, keypoints: np.ndarray, layout: str = "blazepose33", tid: int | None = None,
                box=None, min_conf: float = 0.3, roi_corners=None) -> np.ndarray:
    """Draw one person in place on an RGB image; keypoints (K, 3) x, y, confidence."""
    col = track_color(tid or 0)
    s = max(1, round(max(img.shape[:2]) / 500))
    kp = np.asarray(keypoints, np.float32)
    for a, b in _EDGES.get(layout, ()):
        if kp[a, 2] >= min_conf and kp[b, 2] >= min_conf:
            cv2.line(img, tuple(int(v) for v in kp[a, :2]), tuple(int(v) for v in kp[b, :2]), col, s, cv2.LINE_AA)
    for x, y, c in kp:
        if c >= min_conf:
            cv2.circle(img, (int(x), int(y)), s + 1, col, -1, cv2.LINE_AA)
        else:
            cv2.circle(img, (int(x), int(y)), s + 1, (128, 128, 128), 1, cv2.LINE_AA)
    if box is not None:
        x0, y0, x1, y1 = (int(v) for v in box)
        cv2.rectangle(img, (x0, y0), (x1, y1), col, 1)
        if tid is not None:
            cv2.putText(img, str(tid), (x0, max(12, y0 - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * s, col, s, cv2.LINE_AA)
    if roi_corners is not None:
        cv2.polylines(img, [np.asarray(roi_corners, np.int32)], True, col, 1)
    return img
