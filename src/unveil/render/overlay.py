"""Overlay video of recovered bodies: the body-model mesh (semi-transparent, rendered with
:mod:`unveil.render.raster`) and its skeleton over the input frames; joints that the pipeline
marked occluded are drawn as red hollow circles, visible ones as filled circles.

Seed: issue 7 / pipeline.md outputs (``overlay.mp4``). Nothing from a paper.
"""

from __future__ import annotations

import numpy as np

from ..skeleton import SMPL24_BONES
from .raster import Framebuffer, Light

TRACK_COLORS = [(0.35, 0.75, 1.0), (1.0, 0.7, 0.3), (0.5, 1.0, 0.5), (1.0, 0.5, 0.9)]


def _cv2():
    import cv2

    return cv2


def project_points(p_cam: np.ndarray, camera) -> np.ndarray:
    z = np.maximum(p_cam[..., 2:3], 1e-6)
    return p_cam[..., :2] / z * camera.focal + np.array([camera.cx, camera.cy])


def draw_frame(frame: np.ndarray, camera, people: list[dict], alpha: float = 0.55,
               supersample: int = 1) -> np.ndarray:
    """One overlay frame.

    ``people``: dicts with ``vertices_cam`` (V,3) or None, ``faces`` (F,3), ``joints_cam`` (24,3),
    ``occluded24`` (24,) bool or None, ``id``, optional ``truth_joints_cam`` (24,3) drawn thin white.
    """
    cv2 = _cv2()
    img = frame.copy()
    meshes = [p for p in people if p.get("vertices_cam") is not None]
    if meshes:
        fb = Framebuffer(camera, supersample=supersample, light=Light(ambient=0.45, diffuse=0.6, specular=0.15),
                         background=(0, 0, 0))
        for p in meshes:
            col = TRACK_COLORS[int(p.get("id", 0)) % len(TRACK_COLORS)]
            fb.draw(p["vertices_cam"], p["faces"], col, object_id=int(p.get("id", 0)))
        res = fb.resolve()
        m = res.object_id >= 0
        img[m] = (alpha * res.image[m] + (1 - alpha) * img[m]).astype(np.uint8)
    for p in people:
        if p.get("truth_joints_cam") is not None:
            uv = project_points(p["truth_joints_cam"], camera)
            for a, b in SMPL24_BONES:
                cv2.line(img, tuple(np.round(uv[a]).astype(int)), tuple(np.round(uv[b]).astype(int)),
                         (255, 255, 255), 1, cv2.LINE_AA)
        uv = project_points(p["joints_cam"], camera)
        occ = p.get("occluded24")
        col = tuple(int(255 * c) for c in TRACK_COLORS[int(p.get("id", 0)) % len(TRACK_COLORS)])
        for a, b in SMPL24_BONES:
            cv2.line(img, tuple(np.round(uv[a]).astype(int)), tuple(np.round(uv[b]).astype(int)), col, 2,
                     cv2.LINE_AA)
        for j in range(len(uv)):
            c = tuple(np.round(uv[j]).astype(int))
            if occ is not None and occ[j]:
                cv2.circle(img, c, 5, (255, 40, 40), 2, cv2.LINE_AA)
            else:
                cv2.circle(img, c, 3, col, -1, cv2.LINE_AA)
    return img


def put_text(img: np.ndarray, text: str, y: int = 22) -> np.ndarray:
    cv2 = _cv2()
    # a 1-px drop shadow (a thicker outline would not line up: Hershey glyphs widen with thickness)
    for dx, dy in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
        cv2.putText(img, text, (8 + dx, y + dy), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, text, (8, y), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return img
