"""``overlay.mp4`` of `unveil run` (and the drawing helpers of `unveil demo`'s overlay).

- ``--overlay mesh`` (default): the recovered body mesh of every person, rendered semi-transparent
  with the project's own rasteriser (:mod:`unveil.io.raster`, numpy only) through the run's
  camera, its SMPL-24 skeleton, joints judged occluded as red rings (visible ones filled), and the
  track id above the head. The mesh is the npz pose (``global_orient``, ``body_pose``, ``shape``,
  ``transl``, camera frame) through the body model.
- ``--overlay 2d``: the 2D keypoints, skeleton edges, boxes and ids (OpenCV); grey hollow circles
  for keypoints below the confidence threshold.
- ``--overlay both``: the mesh, then the 2D keypoints on top.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..skeleton import BLAZEPOSE33_EDGES, COCO17_EDGES, SMPL24_BONES, SMPL24_INDEX, to_coco17
from ..errors import UnveilError
from .rig_names import RIG_NAMES
from .video import VideoWriter

OVERLAY_MODES = ("mesh", "2d", "both")
TRACK_COLORS = [(0.35, 0.75, 1.0), (1.0, 0.7, 0.3), (0.5, 1.0, 0.5), (1.0, 0.5, 0.9)]  # the demo's, RGB 0-1

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


def check_output_options(overlay: str = "mesh", rig_names: str = "smpl") -> None:
    """Raise :class:`unveil.errors.UnveilError` (one line) for an unknown ``--overlay`` mode or
    ``--rig-names`` set."""
    if overlay not in OVERLAY_MODES:
        raise UnveilError(f"unknown overlay {overlay!r} (one of: {', '.join(OVERLAY_MODES)})")
    if rig_names not in RIG_NAMES:
        raise UnveilError(f"unknown rig names {rig_names!r} (one of: {', '.join(RIG_NAMES)})")


# ------------------------------------------------------------------------------------ mesh overlay
def project_points(p_cam: np.ndarray, camera) -> np.ndarray:
    """(..., 3) camera-frame points -> (..., 2) pixels (pinhole, ``camera.focal``/``cx``/``cy``)."""
    z = np.maximum(p_cam[..., 2:3], 1e-6)
    return p_cam[..., :2] / z * camera.focal + np.array([camera.cx, camera.cy])


def draw_frame(frame: np.ndarray, camera, people: list[dict], alpha: float = 0.55,
               supersample: int = 1) -> np.ndarray:
    """One overlay frame (a copy of the RGB ``frame``).

    ``people``: dicts with ``vertices_cam`` (V,3) or None, ``faces`` (F,3), ``joints_cam`` (24,3),
    ``occluded24`` (24,) bool or None, ``id``, optional ``color`` (RGB in 0-1; default a colour per
    id from :data:`TRACK_COLORS`), ``label`` (text above the head), ``truth_joints_cam`` (24,3) drawn
    thin white. Occluded joints: red rings; visible joints: filled dots.
    """
    from .raster import Framebuffer, Light  # deferred: loads scipy

    img = frame.copy()

    def colour(p):
        return p.get("color") or TRACK_COLORS[int(p.get("id", 0)) % len(TRACK_COLORS)]

    meshes = [p for p in people if p.get("vertices_cam") is not None]
    if meshes:
        fb = Framebuffer(camera, supersample=supersample, light=Light(ambient=0.45, diffuse=0.6, specular=0.15),
                         background=(0, 0, 0))
        for p in meshes:
            fb.draw(p["vertices_cam"], p["faces"], colour(p), object_id=int(p.get("id", 0)))
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
        col = tuple(int(255 * c) for c in colour(p))
        small = np.ptp(uv[:, 1]) < 200  # people under ~200 px: thin lines, so the mesh stays visible
        lw, dot, ring = (1, 2, 4) if small else (2, 3, 5)
        for a, b in SMPL24_BONES:
            cv2.line(img, tuple(np.round(uv[a]).astype(int)), tuple(np.round(uv[b]).astype(int)), col, lw,
                     cv2.LINE_AA)
        for j in range(len(uv)):
            c = tuple(np.round(uv[j]).astype(int))
            if occ is not None and occ[j]:
                cv2.circle(img, c, ring, (255, 40, 40), 2, cv2.LINE_AA)
            else:
                cv2.circle(img, c, dot, col, -1, cv2.LINE_AA)
        if p.get("label"):
            head = uv[SMPL24_INDEX["head"]]
            put_text(img, str(p["label"]), int(round(head[1])) - 14, x=int(round(head[0])) - 6, color=col)
    return img


def put_text(img: np.ndarray, text: str, y: int = 22, x: int = 8, color=(255, 255, 255)) -> np.ndarray:
    """``text`` at (x, y) with a 1-px dark drop shadow, in place."""
    # a 1-px drop shadow (a thicker outline would not line up: Hershey glyphs widen with thickness)
    for dx, dy in ((1, 1), (-1, 1), (1, -1), (-1, -1)):
        cv2.putText(img, text, (x + dx, y + dy), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.55, tuple(int(c) for c in color), 1, cv2.LINE_AA)
    return img


class _TrackMesh:
    """One body track's posed mesh, computed ``chunk`` frames at a time as the video plays (memory
    stays ``chunk x V x 3`` floats per person however long the video)."""

    def __init__(self, body, body_model, chunk: int = 32):
        self.b, self.model, self.chunk = body, body_model, chunk
        self.rows = {int(f): i for i, f in enumerate(np.asarray(body.frames).tolist())}
        self.start, self.verts, self.faces = -1, None, None

    def vertices(self, row: int) -> np.ndarray:
        from .body_arrays import pose_body  # deferred: loads roma

        if self.faces is None:
            self.faces = self.model.faces.cpu().numpy()
        if self.verts is None or not (self.start <= row < self.start + len(self.verts)):
            self.start = row - row % self.chunk
            sl = slice(self.start, self.start + self.chunk)
            self.verts = pose_body(self.model, self.b.global_orient[sl], self.b.body_pose[sl], self.b.shape,
                                   self.b.transl[sl])["vertices"]
        return self.verts[row - self.start]


def occluded24(occluded: np.ndarray, layout: str) -> np.ndarray:
    """(T, K) per-keypoint occlusion of a 2D layout -> (T, 24) per SMPL-24 joint (at least half of a
    joint's COCO-17 evidence occluded: :func:`unveil.metrics.coco17_to_smpl24_mask`)."""
    from ..metrics import coco17_to_smpl24_mask  # deferred: loads scipy

    occ = np.asarray(occluded, bool)
    if occ.shape[-1] == 24:
        return occ
    return coco17_to_smpl24_mask(to_coco17(occ[..., None], layout)[..., 0])


def write_run_overlay(path, frames, tracks2d, camera, fps: float, mode: str = "mesh", bodies=None,
                      tracks3d=None, body_model=None, max_side: int = 1280, on_frame=None) -> dict:
    """Write ``overlay.mp4`` of `unveil run`.

    Args:
        path: output file.
        frames: iterable of ``(frame index, RGB uint8 (H, W, 3))``.
        tracks2d: :class:`unveil.types.Track2D` list (the ``2d`` layer; ids).
        camera: :class:`unveil.types.Camera` of the run.
        mode: ``mesh`` | ``2d`` | ``both`` (see the module docstring).
        bodies: :class:`unveil.types.BodyTrack` list (camera frame) for the mesh layer; tracks3d:
            their :class:`unveil.types.Track3D` (occlusion flags); body_model: a loaded body model or
            spec (None or unloadable: the skeleton is drawn without the mesh).
        max_side: frames larger than this are scaled down before encoding.
        on_frame: called with the frame index after each frame (progress bars).

    Returns:
        ``{"mode": mode, "mesh": bool (a mesh was drawn), "notes": [...]}``.
    """
    if mode not in OVERLAY_MODES:
        raise ValueError(f"overlay mode {mode!r} (one of {', '.join(OVERLAY_MODES)})")
    notes: list[str] = []
    per_frame: dict[int, list] = {}
    if mode in ("2d", "both"):
        for t in tracks2d:
            held = (t.extras or {}).get("held")
            for j, f in enumerate(t.frames.tolist()):
                if held is not None and not held[j]:
                    continue  # bridged occlusion: nothing was seen there
                per_frame.setdefault(f, []).append((t.id, t.keypoints[j], None if t.boxes is None else t.boxes[j],
                                                    t.layout))
    meshes: list[_TrackMesh] = []
    occ: dict[int, np.ndarray] = {}
    if mode in ("mesh", "both"):
        if not bodies:
            notes.append("no body fit: mesh layer empty")
        model = body_model
        if bodies and (model is None or isinstance(model, (str, Path))):
            try:
                from ..body import load_body_model  # deferred: looked up at call time (tests substitute unveil.body.load_body_model)

                model = load_body_model(str(model or "anny"))
            except Exception as e:  # the skeleton is still drawn
                notes.append(f"mesh not drawn: body model unavailable ({type(e).__name__}: {e})")
                model = None
        lay = {t.id: t.layout for t in tracks2d}
        for t3 in tracks3d or []:
            occ[t3.id] = occluded24(t3.occluded, lay.get(t3.id, "coco17"))
        meshes = [_TrackMesh(b, model) for b in bodies or []]
    drew_mesh = False
    with VideoWriter(path, fps) as w:
        for i, img in frames:
            people = []
            for m in meshes:
                r = m.rows.get(int(i))
                if r is None:
                    continue
                tid = int(m.b.id)
                o = occ.get(tid)
                people.append({"id": tid, "joints_cam": np.asarray(m.b.joints_cam[r]), "faces": None,
                               "vertices_cam": None, "occluded24": None if o is None or r >= len(o) else o[r],
                               "color": tuple(c / 255.0 for c in track_color(tid)), "label": str(tid)})
                if m.model is not None:
                    try:
                        people[-1]["vertices_cam"], people[-1]["faces"] = m.vertices(r), m.faces
                        drew_mesh = True
                    except Exception as e:  # this person's skeleton is still drawn
                        notes.append(f"mesh not drawn for track {tid} ({type(e).__name__}: {e})")
                        m.model = None
            if people:
                img = draw_frame(img, camera, people)
            for tid, kp, box, layout in per_frame.get(int(i), []):
                draw_person(img, kp, layout, tid=tid, box=box)
            h, wd = img.shape[:2]
            scale = min(1.0, max_side / max(h, wd))  # keep the overlay cheap to encode for 4K/portrait video
            if scale < 1.0:
                img = cv2.resize(img, (round(wd * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
            w.write(img)
            if on_frame is not None:
                on_frame(i)
    return {"mode": mode, "mesh": drew_mesh, "notes": notes}
