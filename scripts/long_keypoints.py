"""Write a long keypoints JSON for memory tests: the packaged demo walk played forward and backward
(ping-pong) to N frames, one person, projected by a static camera (1280x720, focal 1000, 30 fps) as
in tests/conftest.py (docs/batch.md).

    PYTHONPATH=src .venv/bin/python scripts/long_keypoints.py OUT.json 10000
"""

from __future__ import annotations

import sys

import numpy as np

from unveil.demo import load_motion
from unveil.io.keypoints_json import dump
from unveil.skeleton import project
from unveil.types import Track2D


def main(path: str, n: int) -> None:
    m = load_motion()
    j, face = np.asarray(m["joints"], np.float64), np.asarray(m["face"], np.float64)
    T = len(j)
    idx = np.arange(n) % (2 * T - 2)
    idx = np.where(idx < T, idx, 2 * T - 2 - idx)
    body = [16, 17, 18, 19, 20, 21, 1, 2, 4, 5, 7, 8]  # SMPL-24 joints of COCO-17 keypoints 5..16
    coco = np.concatenate([face, j[:, body]], 1)[idx]
    centre = j[:, 0].mean(0)
    cam_c = centre + np.array([0.5, 0.3, 7.0])
    f = centre - cam_c
    f /= np.linalg.norm(f)
    r = np.cross(f, [0.0, 1.0, 0.0])
    r /= np.linalg.norm(r)
    R = np.stack([r, np.cross(f, r), f])  # world -> OpenCV camera
    uv = project((coco - cam_c) @ R.T, 1000.0, (640.0, 360.0))
    kp = np.concatenate([uv, np.full((*uv.shape[:2], 1), 0.95)], -1).astype(np.float32)
    dump(path, [Track2D(id=0, frames=np.arange(n), keypoints=kp, layout="coco17")], fps=30.0, width=1280,
         height=720, focal=1000.0)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
