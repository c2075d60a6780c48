"""BlazePose GHUM (MediaPipe Pose) run with ``ai-edge-litert``: person detector + 33-keypoint landmarks.

Re-implements MediaPipe's CPU graph (mediapipe/modules/pose_detection + pose_landmark, v0.10.21):

- **Detector** (``pose_detection.tflite``, 224x224, input in [-1, 1]): the frame is letterboxed to a
  square (aspect kept, black padding); 2254 SSD anchors (strides 8, 16, 32x3; fixed size 1) decode
  ``(dx, dy, w, h, 4 keypoints)`` scaled by 224; score = sigmoid(clip(logit, ±100)); weighted NMS at
  IoU 0.3. Keypoint 0 is the hip centre, keypoint 1 a point whose distance and direction give the
  whole-body size and rotation.
- **ROI** (AlignmentPointsRectsCalculator + RectTransformation): square, centred on the hip centre,
  side ``2 * |k1 - k0| * 1.25``, rotation ``pi/2 - atan2(-(y1 - y0), x1 - x0)`` (pixels; the crop's
  "up" points along k0 -> k1).
- **Landmarks** (``pose_landmark_full.tflite``, 256x256 rotation-aligned crop, input in [0, 1]):
  39 x (x, y, z, visibility logit, presence logit) in crop pixels; 0-32 are the BlazePose-33
  keypoints, 33/34 the helper points that place the next frame's ROI the same way (MediaPipe's own
  tracking), 35/36 the upper-body ones; a pose score (already a probability); 39 world landmarks
  (metres, hip-centred) rotated by the ROI rotation as MediaPipe does; the 256x256 person
  segmentation of the crop (``Landmarks.mask``). ``hide`` paints given crop pixels grey before the
  call (other people in the crop, :func:`hide_mask`).

Everything here is in *pixels of the full frame*; :func:`crop_matrix` is the one place that defines
the crop geometry, so ``image -> crop -> image`` round-trips exactly (tested).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import tempfile
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from ..runtime import threads as _threads
from .assets import model_path
from .taps import TAPS, check_tap_details, pool_tokens

DET_SIZE = 224
LMK_SIZE = 256
ROI_SCALE = 1.25
HIDE_FILL = 128  # grey painted over hidden pixels of a landmark crop (LandmarkModel ``hide``)


@dataclass
class Roi:
    """A square, rotated region of the frame: centre (cx, cy) and side ``size`` in pixels,
    ``rotation`` in radians (positive: the crop's up axis leans to the image's right)."""

    cx: float
    cy: float
    size: float
    rotation: float = 0.0

    def box(self) -> np.ndarray:
        """Axis-aligned bounding box (x0, y0, x1, y1) of the rotated square."""
        c = crop_corners(self)
        return np.array([c[:, 0].min(), c[:, 1].min(), c[:, 0].max(), c[:, 1].max()], np.float32)


@dataclass
class Detection:
    score: float
    box: np.ndarray        # (4,) x0, y0, x1, y1 pixels
    keypoints: np.ndarray  # (4, 2) pixels: hip centre, body scale/rotation, shoulder centre, upper-body

    def roi(self) -> Roi:
        return roi_from_points(self.keypoints[0], self.keypoints[1])


@dataclass
class Landmarks:
    score: float                # pose presence score (probability)
    keypoints: np.ndarray       # (33, 3) x, y pixels, visibility in [0, 1]
    presence: np.ndarray        # (33,) in [0, 1]
    z: np.ndarray               # (33,) relative depth, same scale as x (pixels)
    world: np.ndarray           # (33, 3) metres, hip-centred, camera-aligned axes
    aux: np.ndarray             # (6, 2) helper points 33..38 in pixels
    roi: Roi                    # the crop they came from
    tokens: dict | None = None  # feature tokens (unveil.detect.taps.TOKEN_SHAPES) when the model is tapped
    mask: np.ndarray | None = None  # (LMK_SIZE, LMK_SIZE) bool: the model's person segmentation, pixels of ``roi``'s crop

    def next_roi(self) -> Roi:
        """The ROI for the next frame from the helper points (MediaPipe's tracking)."""
        return roi_from_points(self.aux[0], self.aux[1])

    def box(self, min_vis: float = 0.3) -> np.ndarray:
        """Tight box around the keypoints with visibility >= min_vis (all when too few)."""
        k = self.keypoints
        sel = k[:, 2] >= min_vis
        if sel.sum() < 4:
            sel[:] = True
        xy = k[sel, :2]
        return np.array([*xy.min(0), *xy.max(0)], np.float32)


# ------------------------------------------------------------------------------ crop geometry
def roi_from_points(center, scale_point, scale: float = ROI_SCALE) -> Roi:
    """Square ROI aligned with the vector center -> scale_point (MediaPipe alignment + scale 1.25)."""
    x0, y0 = float(center[0]), float(center[1])
    x1, y1 = float(scale_point[0]), float(scale_point[1])
    size = 2.0 * math.hypot(x1 - x0, y1 - y0) * scale
    rot = math.pi / 2 - math.atan2(-(y1 - y0), x1 - x0)
    rot = (rot + math.pi) % (2 * math.pi) - math.pi
    return Roi(x0, y0, max(size, 1.0), rot)


def crop_matrix(roi: Roi, out_size: int) -> np.ndarray:
    """(2, 3) affine map from crop pixels (u, v) in [0, out_size) to frame pixels (x, y)."""
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    k = roi.size / out_size
    A = np.array([[c, -s], [s, c]]) * k
    b = np.array([roi.cx, roi.cy]) - A @ np.array([out_size / 2.0, out_size / 2.0])
    return np.concatenate([A, b[:, None]], axis=1)


def crop_to_image(uv: np.ndarray, roi: Roi, out_size: int) -> np.ndarray:
    M = crop_matrix(roi, out_size)
    uv = np.asarray(uv, np.float64)
    return uv @ M[:, :2].T + M[:, 2]


def image_to_crop(xy: np.ndarray, roi: Roi, out_size: int) -> np.ndarray:
    M = crop_matrix(roi, out_size)
    xy = np.asarray(xy, np.float64)
    return (xy - M[:, 2]) @ np.linalg.inv(M[:, :2]).T


def mask_in_crop(mask: np.ndarray, mask_roi: Roi, roi: Roi, out_size: int = LMK_SIZE) -> np.ndarray:
    """A crop-space mask moved into another crop's pixels.

    Args:
        mask: (S, S) bool or numeric (> 0.5 is in), pixels of the crop of ``mask_roi``.
        mask_roi: the ROI that ``mask`` was made on.
        roi: the ROI of the crop to express it in.
        out_size: side of the output crop.

    Returns:
        (out_size, out_size) bool: True where the frame pixel under the crop of ``roi`` is in ``mask``
        (False outside ``mask``'s crop).
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.shape[0] != mask.shape[1]:
        raise ValueError(f"mask must be (S, S), got {mask.shape}")
    Mm, Mr = crop_matrix(mask_roi, mask.shape[0]), crop_matrix(roi, out_size)
    inv = np.linalg.inv(Mm[:, :2])
    N = np.concatenate([inv @ Mr[:, :2], (inv @ (Mr[:, 2] - Mm[:, 2]))[:, None]], axis=1)
    out = cv2.warpAffine(mask.astype(np.uint8), N, (out_size, out_size),
                         flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out > 0


def hide_mask(roi: Roi, others: list, own=None, out_size: int = LMK_SIZE,
              max_shared: float = 0.5) -> np.ndarray | None:
    """Pixels of the crop of ``roi`` that belong to other people: the union of their segmentation
    masks (from their own last landmark calls) minus the tracked person's own last mask (they may be
    in front: their own pixels are never hidden).

    Another person whose mask shares more than ``max_shared`` of the smaller of the two masks with
    the own mask is left visible: that is one person held twice (a partial-pose duplicate), which
    the tracker's duplicate merge must see as such (measured: pose2sim Demo_MultiPerson cam01's
    duplicate of the man shares 0.76-0.81 of its mask with his track's; the man and the woman in
    front of each other on cam03 share <= 0.07).

    Args:
        roi: the crop about to be run.
        others: :class:`Landmarks` of the other people (those without a ``mask`` are skipped).
        own: the tracked person's last :class:`Landmarks` (or None).
        out_size: side of the crop.
        max_shared: see above.

    Returns:
        (out_size, out_size) bool, or None when nothing of the crop is hidden.
    """
    box = roi.box()
    own_m = None
    hide = None
    for o in others:
        if o.mask is None:
            continue
        ob = o.roi.box()
        if ob[0] >= box[2] or ob[2] <= box[0] or ob[1] >= box[3] or ob[3] <= box[1]:
            continue  # their crop does not touch this one
        m = mask_in_crop(o.mask, o.roi, roi, out_size)
        if not m.any():
            continue
        if own is not None and own.mask is not None:
            if own_m is None:
                own_m = mask_in_crop(own.mask, own.roi, roi, out_size)
            if (m & own_m).sum() > max_shared * min(m.sum(), own_m.sum()):
                continue  # the same person, probably: left to the duplicate merge
        hide = m if hide is None else hide | m
    if hide is None:
        return None
    if own_m is not None:
        hide &= ~own_m
    return hide if hide.any() else None


def sample_mask(mask: np.ndarray, mask_roi: Roi, xy: np.ndarray) -> np.ndarray:
    """Read a crop-space mask at frame pixels (nearest crop pixel; False outside the crop).

    Args:
        mask: (S, S) bool, pixels of the crop of ``mask_roi``.
        mask_roi: the ROI the mask was made on.
        xy: (N, 2) frame pixels.
    Returns:
        (N,) bool.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.shape[0] != mask.shape[1]:
        raise ValueError(f"mask must be (S, S), got {mask.shape}")
    uv = np.floor(image_to_crop(np.asarray(xy, np.float64).reshape(-1, 2), mask_roi, mask.shape[0])).astype(np.int64)
    inside = ((uv >= 0) & (uv < mask.shape[0])).all(1)
    out = np.zeros(len(uv), bool)
    out[inside] = mask[uv[inside, 1], uv[inside, 0]] > 0
    return out


def covered_by_others(own, others: list, max_shared: float = 0.5) -> np.ndarray | None:
    """Keypoints of one person that lie on another person's pixels and not on their own: that person
    is in front of them there, so the detector's keypoint is a guess (BlazePose gives such
    keypoints visibility 0.6-0.9; pose2sim ``Demo_MultiPerson`` cam03, the man's left arm behind the
    woman, docs/frontend.md "Fifth pass").

    Both masks are the landmark model's person segmentation of the same frame. A keypoint on both
    masks is not flagged (the limb may be in front), nor one whose own mask is missing. Another
    person sharing more than ``max_shared`` of their mask with the own one is the same person held
    twice (:func:`hide_mask`) and is skipped.

    Args:
        own: the person's :class:`Landmarks` of this frame (with ``mask``).
        others: :class:`Landmarks` of the other people held in this frame.
        max_shared: see above.
    Returns:
        (33,) bool, or None when ``own`` has no mask.
    """
    if own.mask is None:
        return None
    xy = own.keypoints[:, :2]
    on_own = sample_mask(own.mask, own.roi, xy)
    out = np.zeros(len(xy), bool)
    box = own.roi.box()
    for o in others:
        if o.mask is None:
            continue
        ob = o.roi.box()
        if ob[0] >= box[2] or ob[2] <= box[0] or ob[1] >= box[3] or ob[3] <= box[1]:
            continue
        m = mask_in_crop(o.mask, o.roi, own.roi, own.mask.shape[0])
        if (m & own.mask).sum() > max_shared * min(m.sum(), own.mask.sum()):
            continue
        out |= sample_mask(o.mask, o.roi, xy)
    return out & ~on_own


def crop_corners(roi: Roi) -> np.ndarray:
    return crop_to_image(np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64), roi, 1)


def crop(image: np.ndarray, roi: Roi, out_size: int) -> np.ndarray:
    """Rotation-aligned square crop (black outside the frame)."""
    M = crop_matrix(roi, out_size)
    return cv2.warpAffine(image, M, (out_size, out_size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, float, float, float]:
    """Resize keeping the aspect ratio into a black size x size square.
    Returns (square, scale, pad_x, pad_y): frame pixel p -> square pixel p*scale + pad."""
    h, w = image.shape[:2]
    scale = size / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    out = np.zeros((size, size, 3), np.uint8)
    px, py = (size - nw) // 2, (size - nh) // 2
    out[py:py + nh, px:px + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return out, scale, float(px), float(py)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, np.float64), -100.0, 100.0)))


_STDERR_LOCK = threading.Lock()  # fd 2 is process-wide: one redirection at a time


@contextlib.contextmanager
def _filtered_stderr(drop: str = "INFO: Created TensorFlow Lite XNNPACK delegate"):
    """Capture what native code writes to file descriptor 2 inside the block and write it back
    without the lines starting with ``drop`` (the TFLite runtime prints an INFO line per
    interpreter straight to fd 2, past Python's logging). Serialised across threads: two
    interleaved save/redirect/restore sequences (worker threads creating interpreters at once)
    left fd 2 pointing at a deleted temporary file, and everything later written to stderr was lost."""
    with _STDERR_LOCK:
        yield from _filtered_stderr_locked(drop)


def _filtered_stderr_locked(drop: str):
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real fd 2 (embedded interpreters): nothing to filter
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            text = tmp.read().decode(errors="replace")
            keep = "".join(ln for ln in text.splitlines(keepends=True) if not ln.startswith(drop))
            if keep:
                sys.stderr.write(keep)
                sys.stderr.flush()


def _interpreter(name: str, num_threads: int | None):
    from ai_edge_litert.interpreter import Interpreter

    with _filtered_stderr():
        it = Interpreter(model_path=str(model_path(name)), num_threads=int(num_threads or _threads()))
        it.allocate_tensors()
    return it


# ----------------------------------------------------------------------------------- detector
def ssd_anchors(size: int = DET_SIZE, strides=(8, 16, 32, 32, 32)) -> np.ndarray:
    """(N, 2) anchor centres in [0, 1] (MediaPipe SsdAnchorsCalculator, fixed_anchor_size, 2 per layer)."""
    out = []
    i = 0
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        n_per = 2 * (j - i)
        fm = math.ceil(size / strides[i])
        ys, xs = np.meshgrid((np.arange(fm) + 0.5) / fm, (np.arange(fm) + 0.5) / fm, indexing="ij")
        c = np.stack([xs.ravel(), ys.ravel()], 1)
        out.append(np.repeat(c, n_per, axis=0))
        i = j
    return np.concatenate(out).astype(np.float32)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of box a (4,) against boxes b (N, 4)."""
    x0 = np.maximum(a[0], b[:, 0]); y0 = np.maximum(a[1], b[:, 1])
    x1 = np.minimum(a[2], b[:, 2]); y1 = np.minimum(a[3], b[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = lambda r: np.clip(r[..., 2] - r[..., 0], 0, None) * np.clip(r[..., 3] - r[..., 1], 0, None)
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def weighted_nms(boxes, scores, keypoints, iou_thresh: float = 0.3):
    """MediaPipe's weighted NMS: each cluster (IoU > thresh with its best) is score-averaged."""
    order = np.argsort(-scores)
    boxes, scores, keypoints = boxes[order], scores[order], keypoints[order]
    alive = np.ones(len(scores), bool)
    out = []
    for i in range(len(scores)):
        if not alive[i]:
            continue
        ious = box_iou(boxes[i], boxes)
        grp = alive & (ious > iou_thresh)
        grp[i] = True
        w = scores[grp][:, None]
        box = (boxes[grp] * w).sum(0) / w.sum()
        kps = (keypoints[grp] * w[:, :, None]).sum(0) / w.sum()
        out.append((float(scores[i]), box, kps))
        alive &= ~grp
    return out


class PoseDetector:
    """BlazePose person detector on a whole frame or a sub-region (``region`` = x0, y0, x1, y1)."""

    def __init__(self, min_score: float = 0.5, nms_iou: float = 0.3, num_threads: int | None = None):
        self.it = _interpreter("pose_detection.tflite", num_threads)
        self.inp = self.it.get_input_details()[0]["index"]
        outs = {d["name"]: d["index"] for d in self.it.get_output_details()}
        self.reg_idx, self.cls_idx = outs["Identity"], outs["Identity_1"]
        self.anchors = ssd_anchors()
        self.min_score, self.nms_iou = min_score, nms_iou

    def __call__(self, image: np.ndarray, region=None) -> list[Detection]:
        ox = oy = 0
        if region is not None:
            x0, y0, x1, y1 = [int(round(v)) for v in region]
            x0, y0 = max(x0, 0), max(y0, 0)
            image = image[y0:y1, x0:x1]
            ox, oy = x0, y0
        sq, scale, px, py = letterbox(image, DET_SIZE)
        x = (sq.astype(np.float32) / 127.5 - 1.0)[None]
        self.it.set_tensor(self.inp, x)
        self.it.invoke()
        reg = self.it.get_tensor(self.reg_idx)[0]
        score = _sigmoid(self.it.get_tensor(self.cls_idx)[0, :, 0])
        keep = score >= self.min_score
        if not keep.any():
            return []
        reg, score, anc = reg[keep], score[keep], self.anchors[keep]
        c = reg[:, 0:2] / DET_SIZE + anc
        wh = reg[:, 2:4] / DET_SIZE
        boxes = np.concatenate([c - wh / 2, c + wh / 2], 1) * DET_SIZE
        kps = (reg[:, 4:12].reshape(-1, 4, 2) / DET_SIZE + anc[:, None, :]) * DET_SIZE
        dets = []
        for s, b, k in weighted_nms(boxes, score, kps, self.nms_iou):
            b = (b.reshape(2, 2) - [px, py]) / scale + [ox, oy]
            k = (k - [px, py]) / scale + [ox, oy]
            dets.append(Detection(s, b.ravel().astype(np.float32), k.astype(np.float32)))
        return dets


# ---------------------------------------------------------------------------------- landmarks
class LandmarkModel:
    """The 33-keypoint BlazePose GHUM landmark model (full) on a rotation-aligned crop.

    ``taps``: run the derived model whose outputs also include inner tensors
    (``pose_landmark_full_taps.tflite``, :mod:`unveil.detect.taps`) and attach per-crop feature
    tokens to each :class:`Landmarks` (``tokens``); the landmarks themselves are the same."""

    def __init__(self, num_threads: int | None = None, taps: bool = False):
        self.taps = bool(taps)
        self.it = _interpreter("pose_landmark_full_taps.tflite" if self.taps else "pose_landmark_full.tflite",
                               num_threads)
        self.inp = self.it.get_input_details()[0]["index"]
        details = self.it.get_output_details()
        self.out = {d["name"]: d["index"] for d in details}
        if self.taps:
            check_tap_details(details)

    def __call__(self, image: np.ndarray, roi: Roi, hide: np.ndarray | None = None) -> Landmarks:
        """Landmarks of the person in the crop of ``roi``.

        Args:
            image: (H, W, 3) uint8 RGB frame.
            roi: the crop.
            hide: optional (LMK_SIZE, LMK_SIZE) bool, crop pixels painted grey (``HIDE_FILL``) before
                the call: other people in the crop (:func:`hide_mask`).

        Returns:
            :class:`Landmarks` with ``mask`` set (the model's segmentation of the crop, logit > 0,
            without the hidden pixels).
        """
        patch = crop(image, roi, LMK_SIZE)
        if hide is not None:
            if hide.shape != (LMK_SIZE, LMK_SIZE):
                raise ValueError(f"hide must be ({LMK_SIZE}, {LMK_SIZE}), got {hide.shape}")
            patch[hide] = HIDE_FILL
        self.it.set_tensor(self.inp, (patch.astype(np.float32) / 255.0)[None])
        self.it.invoke()
        raw = self.it.get_tensor(self.out["Identity"])[0].reshape(39, 5)
        score = float(np.ravel(self.it.get_tensor(self.out["Identity_1"]))[0])
        world = self.it.get_tensor(self.out["Identity_4"])[0].reshape(39, 3)[:33].copy()
        lm = decode_landmarks(raw, score, world, roi)
        lm.mask = self.it.get_tensor(self.out["Identity_2"])[0, :, :, 0] > 0.0
        if hide is not None:  # painted pixels are no evidence: a grey silhouette can be segmented as a person
            lm.mask &= ~hide
        if self.taps:
            heat = self.it.get_tensor(self.out["Identity_3"])[0]
            lm.tokens = pool_tokens(heat, {t.token: self.it.get_tensor(t.index)[0] for t in TAPS})
        return lm


def decode_landmarks(raw: np.ndarray, score: float, world: np.ndarray, roi: Roi) -> Landmarks:
    """(39, 5) crop-pixel model output -> Landmarks in frame pixels."""
    xy = crop_to_image(raw[:, :2], roi, LMK_SIZE).astype(np.float32)
    vis = _sigmoid(raw[:33, 3]).astype(np.float32)
    pres = _sigmoid(raw[:33, 4]).astype(np.float32)
    z = (raw[:33, 2] * roi.size / LMK_SIZE).astype(np.float32)
    c, s = math.cos(roi.rotation), math.sin(roi.rotation)
    wx = c * world[:, 0] - s * world[:, 1]
    wy = s * world[:, 0] + c * world[:, 1]
    world = np.stack([wx, wy, world[:, 2]], 1).astype(np.float32)
    kp = np.concatenate([xy[:33], vis[:, None]], 1)
    return Landmarks(score, kp, pres, z, world, xy[33:39], roi)
