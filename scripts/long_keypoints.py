"""Write a long keypoints JSON for memory tests: the packaged demo walk played forward and backward
(ping-pong) to N frames, one person, projected by a static camera (1280x720, focal 1000, 30 fps) as
in tests/conftest.py (docs/batch.md).

    PYTHONPATH=src .venv/bin/python scripts/long_keypoints.py OUT.json 10000
"""

from __future__ import annotations

import sys

import numpy as np

from unveil.data.demo_motion import demo_coco17_camera, load_motion
from unveil.io.keypoints_json import dump
from unveil.skeleton import project
from unveil.types import Track2D


def main(path: str, n: int) -> None:
    m = load_motion()
    j, face = np.asarray(m["joints"], np.float64), np.asarray(m["face"], np.float64)
    T = len(j)
    idx = np.arange(n) % (2 * T - 2)
    idx = np.where(idx < T, idx, 2 * T - 2 - idx)
    coco, R, cam_c = demo_coco17_camera(j, face)
    coco = coco[idx]
    uv = project((coco - cam_c) @ R.T, 1000.0, (640.0, 360.0))
    kp = np.concatenate([uv, np.full((*uv.shape[:2], 1), 0.95)], -1).astype(np.float32)
    dump(path, [Track2D(id=0, frames=np.arange(n), keypoints=kp, layout="coco17")], fps=30.0, width=1280,
         height=720, focal=1000.0)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
