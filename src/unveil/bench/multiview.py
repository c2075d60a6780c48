"""`unveil bench multiview`: score unveil's monocular output on real calibrated multi-view video.

Data: pose2sim's ``Demo_MultiPerson`` (``scripts/fetch_media.sh multi`` -> ``media/pose2sim_multi/``):
four calibrated phone cameras (1088x1920, 60 fps, 100 frames), two people who occlude each other
and leave the frame edge, bystanders in the background; calibration ``Calib.qca.txt`` (Qualisys XML).

Protocol (``shared/design/real-video-findings.md``):

1. ``unveil run`` on every view (calibrated focal length ``--focal fx``; the pipeline puts the
   principal point at the image centre, so the scorer maps its camera frame onto the calibrated one
   with the pixel-preserving shear of :func:`pipeline_to_world`) into ``OUT/<tag>/camXX/`` (stage
   caches: a rerun only recomputes what changed; a new tag seeds its keypoint cache from another tag).
2. **Pseudo ground truth**: unveil's own 2D keypoints (COCO-17 from BlazePose-33), undistorted,
   matched across views (:func:`match_tracks`: a track belongs to a person when the person's
   triangulation reprojects onto it), then triangulated per frame and joint by a
   confidence-weighted DLT with per-view outlier rejection (:func:`triangulate_robust`). The
   calibration is rough: a per-camera pixel offset is fitted alternately with the 3D points
   (:func:`fit_offsets`) and reported, with the triangulation's reprojection residual (the floor of
   the check).
3. **Scores** on the 12 limb joints (shoulders, elbows, wrists, hips, knees, ankles), every view's
   output mapped to the world frame with its calibrated extrinsics: MPJPE after mid-hip alignment,
   PA-MPJPE (per-frame similarity Procrustes), frames with a limb-joint error > 300 mm after mid-hip
   alignment (front/back flips), cross-view consistency (PA-MPJPE between two views' outputs of the
   same person and frame), and the output body's 2D reprojection error against the detector's
   visible keypoints (% of the person's height). BlazePose's own world landmarks are the baseline
   row (no reprojection score: they carry no position).

3D keypoints scored: the track npz's ``keypoints3d_body`` (T,17,3 camera metres, COCO-17 keypoints
of the fitted body mesh) when present, else the SMPL-24 ``joints_cam`` limb joints. The two
conventions differ: SMPL joints are joint *centres* inside the body, the triangulated COCO
keypoints are BlazePose's landmarks. Measured on this clip (medians, ``joints_cam`` vs
triangulated): the man's shoulder width 0.25-0.29 vs 0.34 m, shoulder-to-hip-centre 0.40-0.44 vs
0.53 m; hip width 0.20-0.22 vs 0.17-0.20 m (docs/bench/multiview.md). Per-frame PA absorbs one
common scale, not these shape differences, so ``joints_cam`` rows carry some convention error
(hips and shoulders) that ``keypoints3d_body`` removes; MPJPE's mid-hip alignment uses each
side's own hip centre.

Never run this on pose2sim's ``Demo_SinglePerson``: it is the independent acceptance check.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import shlex
import shutil
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..atomic import write_text
from .environment import describe, environment
from .perturb import KINDS, perturbed_front_end
from ..detect.chirality import swap_names
from ..errors import UnveilError
from ..metrics import similarity_align
from ..skeleton import COCO17_TO_SMPL24, to_coco17

# COCO-17 limb keypoints: shoulders, elbows, wrists, hips, knees, ankles (COCO order 5..16)
LIMB_COCO: tuple[int, ...] = tuple(range(5, 17))
LIMB_SMPL: tuple[int, ...] = tuple(COCO17_TO_SMPL24[k] for k in LIMB_COCO)
LIMB_NAMES = ("l_shoulder", "r_shoulder", "l_elbow", "r_elbow", "l_wrist", "r_wrist", "l_hip", "r_hip",
              "l_knee", "r_knee", "l_ankle", "r_ankle")
HIPS_IN_LIMB = (6, 7)            # positions of l_hip / r_hip inside LIMB_COCO
FLIP_MM = 300.0                  # a limb joint this far off (after mid-hip alignment) = a flip
VIS_CONF = 0.5                   # detector confidence above which a keypoint counts as visible
MIN_LIMB = 8                     # limb joints (both hips among them) a frame needs to be scored
DEPTH_FLIP_M = 0.10              # a limb joint this far in front of / behind the mid-hip (truth) can flip


# ------------------------------------------------------------------------------------ calibration
@dataclass
class CalibCamera:
    """One calibrated camera, OpenCV convention: ``x_cam = R @ x_world + t`` (metres), pixels
    ``K @ distort(x_cam / z)``.

    Attributes: name, K (3,3), dist (4,) OpenCV k1 k2 p1 p2, R (3,3), t (3,), size (width, height).
    """

    name: str
    K: np.ndarray
    dist: np.ndarray
    R: np.ndarray
    t: np.ndarray
    size: tuple[int, int]

    @property
    def center(self) -> np.ndarray:
        """(3,) camera position in the world frame."""
        return -self.R.T @ self.t


def parse_qca(text: str) -> list[CalibCamera]:
    """Qualisys ``.qca.txt`` calibration (XML) -> cameras sorted by name.

    Conventions as pose2sim's ``calib_qca_fun`` (v0.10.49): intrinsics and distortion are in 1/64
    pixel units (``focalLengthU/64``, ``centerPointU/64 - fov_video.left``, ``radialDistortion1/64``);
    the transform's rows ``r11 r12 r13 / ...`` are the world->camera rotation of a y-up, z-backward
    camera and ``x y z`` (mm) its position, so the OpenCV camera is ``R = Rx(pi) @ M``,
    ``t = -R @ pos``. The world frame is the calibration's (Z up, metres).

    Args:
        text: the file's XML text.
    Returns:
        list of :class:`CalibCamera`.
    Raises:
        UnveilError: not a Qualisys calibration / a field missing.
    """
    try:
        root = ET.fromstring(text)
        cams = []
        for tag in root.findall("cameras/camera"):
            fov, tr, it = tag.find("fov_video"), tag.find("transform"), tag.find("intrinsic")
            left, top = float(fov.get("left")), float(fov.get("top"))
            w = int(round(float(fov.get("right")) - left + 1))
            h = int(round(float(fov.get("bottom")) - top + 1))
            g = lambda k: float(it.get(k))  # noqa: E731
            K = np.array([[g("focalLengthU") / 64, 0, g("centerPointU") / 64 - left],
                          [0, g("focalLengthV") / 64, g("centerPointV") / 64 - top], [0, 0, 1]])
            dist = np.array([g("radialDistortion1"), g("radialDistortion2"), g("tangentalDistortion1"),
                             g("tangentalDistortion2")]) / 64
            M = np.array([[float(tr.get(f"r{i}{j}")) for j in (1, 2, 3)] for i in (1, 2, 3)])
            pos = np.array([float(tr.get(k)) for k in "xyz"]) / 1000.0
            R = np.diag([1.0, -1.0, -1.0]) @ M
            cams.append(CalibCamera(str(tag.get("serial")), K, dist, R, -R @ pos, (w, h)))
    except (ET.ParseError, AttributeError, TypeError, ValueError) as e:
        raise UnveilError(f"not a readable Qualisys .qca.txt calibration ({type(e).__name__}: {e})") from e
    if not cams:
        raise UnveilError("the calibration file lists no cameras (expected cameras/camera elements)")
    return sorted(cams, key=lambda c: c.name)


def load_qca(path: str | Path) -> list[CalibCamera]:
    """:func:`parse_qca` of a file."""
    p = Path(path)
    if not p.is_file():
        raise UnveilError(f"calibration file not found: {p} (run scripts/fetch_media.sh multi)")
    return parse_qca(p.read_text())


def project(cam: CalibCamera, X: np.ndarray, offset=(0.0, 0.0), distort: bool = True) -> np.ndarray:
    """World points -> pixels.

    Args:
        cam: the camera.
        X: (..., 3) world points (metres).
        offset: (2,) pixel offset added to the image (the fitted calibration correction).
        distort: apply the lens distortion (False: the undistorted pinhole pixels).
    Returns:
        (..., 2) pixels (NaN where the point is not in front of the camera).
    """
    X = np.asarray(X, np.float64)
    xc = X.reshape(-1, 3) @ cam.R.T + cam.t
    z = xc[:, 2:3]
    xn = xc[:, :2] / np.where(z > 1e-6, z, np.nan)
    if distort:
        k1, k2, p1, p2 = cam.dist
        x, y = xn[:, 0], xn[:, 1]
        r2 = x * x + y * y
        rad = 1 + k1 * r2 + k2 * r2 * r2
        xn = np.stack([x * rad + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
                       y * rad + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y], 1)
    uv = xn @ cam.K[:2, :2].T + cam.K[:2, 2] + np.asarray(offset, np.float64)
    return uv.reshape(X.shape[:-1] + (2,))


def undistort(cam: CalibCamera, uv: np.ndarray) -> np.ndarray:
    """(..., 2) distorted pixels -> (..., 2) undistorted pixels of the same K (cv2.undistortPoints)."""
    uv = np.asarray(uv, np.float64)
    flat = uv.reshape(-1, 1, 2)
    out = np.full(flat.shape, np.nan)
    ok = np.isfinite(flat).all(-1)[:, 0]
    if ok.any():
        out[ok] = cv2.undistortPoints(flat[ok], cam.K, cam.dist, P=cam.K)
    return out.reshape(uv.shape)


# ---------------------------------------------------------------------------------- triangulation
def triangulate_dlt(cams: list[CalibCamera], uv: np.ndarray, w: np.ndarray, offsets=None) -> np.ndarray:
    """Weighted linear (DLT) triangulation, batched.

    Each view contributes the two rows ``w * (x * P3 - P1)``, ``w * (y * P3 - P2)`` in normalised
    coordinates (``K^-1 (uv - offset)``), so weights act on comparable scales.

    Args:
        cams: V cameras.
        uv: (N, V, 2) undistorted pixels (NaN allowed where w == 0).
        w: (N, V) weights (0 = view unused).
        offsets: (V, 2) pixel offsets of the views (default 0).
    Returns:
        (N, 3) world points; NaN where fewer than two views have weight > 0.
    """
    uv = np.asarray(uv, np.float64)
    w = np.asarray(w, np.float64)
    N, V = w.shape
    off = np.zeros((V, 2)) if offsets is None else np.asarray(offsets, np.float64)
    A = np.zeros((N, 2 * V, 4))
    for v, cam in enumerate(cams):
        xn = (np.nan_to_num(uv[:, v]) - off[v] - cam.K[:2, 2]) / np.diag(cam.K)[:2]
        P = np.concatenate([cam.R, cam.t[:, None]], 1)              # normalised projection (3, 4)
        A[:, 2 * v] = w[:, v, None] * (xn[:, :1] * P[2] - P[0])
        A[:, 2 * v + 1] = w[:, v, None] * (xn[:, 1:] * P[2] - P[1])
    X = np.full((N, 3), np.nan)
    ok = (w > 0).sum(1) >= 2
    if ok.any():
        _, _, Vt = np.linalg.svd(A[ok])
        h = Vt[:, -1]
        with np.errstate(divide="ignore", invalid="ignore"):
            X[ok] = h[:, :3] / h[:, 3:]
    return X


def point_sigma(cams: list[CalibCamera], X: np.ndarray, used: np.ndarray, offsets=None) -> np.ndarray:
    """How well the used views pin each point down: the largest standard deviation (metres per
    pixel of image noise) of the least-squares 3D position, ``sqrt(max eig((J^T J)^-1))`` with J the
    (2 x used views, 3) Jacobian of the projections. Two views looking at each other from opposite
    sides (rays nearly parallel) have a tiny reprojection residual whatever the depth along the
    rays: their sigma is large.

    Args:
        cams: V cameras.
        X: (N, 3) world points.
        used: (N, V) views that took part.
        offsets: unused by the Jacobian (kept for symmetry with the other calls).
    Returns:
        (N,) metres per pixel (inf where fewer than two views or X is NaN).
    """
    X = np.asarray(X, np.float64)
    H = np.zeros((len(X), 3, 3))
    for v, c in enumerate(cams):
        xc = np.nan_to_num(X) @ c.R.T + c.t
        z = np.where(np.abs(xc[:, 2:3]) > 1e-6, xc[:, 2:3], 1e-6)
        ju = c.K[0, 0] / z * (c.R[0] - xc[:, :1] / z * c.R[2])          # (N, 3)
        jv = c.K[1, 1] / z * (c.R[1] - xc[:, 1:2] / z * c.R[2])
        m = used[:, v, None, None]
        H += np.where(m, ju[:, :, None] * ju[:, None] + jv[:, :, None] * jv[:, None], 0.0)
    ev = np.linalg.eigvalsh(H)[:, 0]                                       # smallest eigenvalue of J^T J
    out = np.full(len(X), np.inf)
    ok = (used.sum(1) >= 2) & np.isfinite(X).all(1) & (ev > 0)
    out[ok] = 1.0 / np.sqrt(ev[ok])
    return out


def triangulate_robust(cams: list[CalibCamera], uv: np.ndarray, conf: np.ndarray, offsets=None,
                       min_conf: float = VIS_CONF, max_px: float = 25.0,
                       min_keep: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Confidence-weighted DLT with per-view outlier rejection.

    Views whose confidence is below ``min_conf`` are unused. While a point's largest reprojection
    error exceeds ``max_px`` and more than ``min_keep`` views remain, the view whose removal leaves
    the smallest largest error is dropped (leave-one-out: an outlier pulls the DLT point, so the
    view with the largest error is not always the outlier). A point whose remaining views still
    disagree by more than ``max_px`` is NaN. With ``min_keep=3`` a rejection never leaves a pair:
    on this data 38 % of the bones of points left with two of three views deviated > 20 % from the
    person's median length (2 % with three or more views, 10 % for points only two views saw),
    since two views always agree on *some* point and one of three cannot tell which is the outlier.

    Args:
        cams: V cameras.
        uv: (N, V, 2) undistorted pixels.
        conf: (N, V) detector confidences (NaN / 0 = not seen).
        offsets: (V, 2) pixel offsets (default 0).
        min_conf: confidence threshold for a view to take part.
        max_px: reprojection error (pixels) above which a view is an outlier.
        min_keep: views that must remain after a rejection.
    Returns:
        X (N, 3) world points (NaN: not triangulated), used (N, V) bool views kept,
        resid (N, V) reprojection error in pixels of every view with a detection (NaN elsewhere).
    """
    V = len(cams)
    off = np.zeros((V, 2)) if offsets is None else np.asarray(offsets, np.float64)
    conf = np.nan_to_num(np.asarray(conf, np.float64))
    uv = np.asarray(uv, np.float64)
    used = (conf >= min_conf) & np.isfinite(uv).all(-1)

    def worst(X, u, c, m):      # largest error over the used views (inf where a used view is NaN)
        return np.where(m, np.nan_to_num(_reproj_err(cams, X, u, off), nan=np.inf), -1.0).max(1)

    X = triangulate_dlt(cams, uv, np.where(used, conf, 0.0), off)
    for _ in range(V - 2):
        todo = np.flatnonzero((worst(X, uv, conf, used) > max_px) & (used.sum(1) > min_keep))
        if not todo.size:
            break
        u, c, m = uv[todo], conf[todo], used[todo]
        trial = np.full((len(todo), V), np.inf)
        for v in range(V):
            mv_ = m.copy()
            mv_[:, v] = False
            Xv = triangulate_dlt(cams, u, np.where(mv_, c, 0.0), off)
            trial[:, v] = np.where(m[:, v], worst(Xv, u, c, mv_), np.inf)
        used[todo, trial.argmin(1)] = False
        X[todo] = triangulate_dlt(cams, u, np.where(used[todo], c, 0.0), off)
    resid = _reproj_err(cams, X, uv, off)
    fail = ~(np.where(used, np.nan_to_num(resid, nan=np.inf), 0.0) <= max_px).all(1) | (used.sum(1) < 2)
    X[fail] = np.nan
    used[fail] = False
    return X, used, resid


def _reproj_err(cams, X, uv, off) -> np.ndarray:
    """(N, V) pixel distance between the undistorted projection of X and uv (NaN if behind)."""
    return np.stack([np.linalg.norm(project(c, X, off[v], distort=False) - uv[:, v], axis=-1)
                     for v, c in enumerate(cams)], 1)


def translation_modes(cams: list[CalibCamera], centre: np.ndarray) -> np.ndarray:
    """(2V, 3) image motion of every camera per metre of scene translation at ``centre``.

    A per-camera pixel offset and a small shift of the whole scene are nearly interchangeable (the
    scene is compact, so a shift moves each camera's image almost uniformly): these are the
    directions :func:`fit_offsets` leaves at zero.

    Args:
        cams: V cameras.
        centre: (3,) world point (the scene's centroid).
    Returns:
        (2V, 3) Jacobian d(pixel)/d(translation), stacked x, y per camera.
    """
    rows = []
    for c in cams:
        x, y, z = c.R @ centre + c.t
        fx, fy = c.K[0, 0], c.K[1, 1]
        rows += [fx / z * (c.R[0] - x / z * c.R[2]), fy / z * (c.R[1] - y / z * c.R[2])]
    return np.array(rows)


def fit_offsets(cams: list[CalibCamera], uv: np.ndarray, conf: np.ndarray, iters: int = 10,
                **kw) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-camera pixel offsets fitted alternately with the 3D points (rough calibration).

    Each round triangulates with :func:`triangulate_robust` and moves every camera's offset by the
    median signed reprojection residual of its inlier observations; the part of the offsets that a
    shift of the whole scene would explain equally well (:func:`translation_modes`, a near-gauge
    that otherwise drifts) is projected out, so the offsets are the smallest correction.

    Args:
        cams, uv, conf: as :func:`triangulate_robust` (``uv`` (N, V, 2) undistorted pixels).
        iters: alternation rounds.
        **kw: passed to :func:`triangulate_robust`.
    Returns:
        offsets (V, 2) pixels, X (N, 3), used (N, V), resid (N, V) of the final triangulation.
    """
    V = len(cams)
    off = np.zeros((V, 2))
    for _ in range(iters):
        X, used, _ = triangulate_robust(cams, uv, conf, off, **kw)
        ok = np.isfinite(X).all(-1)
        if ok.sum() < 10:
            break
        for v, c in enumerate(cams):
            m = used[:, v]
            if m.sum() >= 10:
                d = uv[m, v] - project(c, X[m], off[v], distort=False)
                off[v] += np.median(d, 0)
        G = translation_modes(cams, np.median(X[ok], 0))
        flat = off.reshape(-1)
        off = (flat - G @ np.linalg.lstsq(G, flat, rcond=None)[0]).reshape(V, 2)
    X, used, resid = triangulate_robust(cams, uv, conf, off, **kw)
    return off, X, used, resid


# ------------------------------------------------------------------------------- person matching
def match_tracks(cams: list[CalibCamera], views: list[dict], n_frames: int, max_rel: float = 0.15,
                 min_common: int = 10) -> list[list[tuple[int, int]]]:
    """Group the views' 2D tracks into people seen by several cameras.

    A seed is a pair of tracks in two views; its per-frame triangulation (all COCO-17 keypoints
    visible in both) must reproject onto both (median error < ``max_rel`` x the track's person
    height) and is scored by how many other views hold a track that agrees the same way. The best
    seed grows into a person by adding every agreeing track (at most one per view and frame; a
    fragmented track of the same view joins when it does not overlap in time); its tracks are then
    removed and the next seed is taken. People seen by one view only are not returned.

    Args:
        cams: V cameras.
        views: per view ``{track_id: {"frames": (T,), "uv": (T, 17, 2) undistorted px,
            "conf": (T, 17), "height": (T,) person height px}}``.
        n_frames: frames in the clip (frame indices are < n_frames).
        max_rel: agreement threshold (median reprojection error / person height).
        min_common: frames two tracks must share to be compared.
    Returns:
        list of people, each a list of (view, track_id); people ordered by how many views see them.
    """
    V = len(cams)

    def dense(v, tid):
        tr = views[v][tid]
        uv = np.full((n_frames, 17, 2), np.nan)
        cf = np.zeros((n_frames, 17))
        hh = np.full(n_frames, np.nan)
        uv[tr["frames"]], cf[tr["frames"]], hh[tr["frames"]] = tr["uv"], tr["conf"], tr["height"]
        return uv, cf, hh

    D = {(v, tid): dense(v, tid) for v in range(V) for tid in views[v]}

    def triang(members):
        uv = np.full((n_frames, 17, V, 2), np.nan)
        cf = np.zeros((n_frames, 17, V))
        for v, tid in members:
            u, c, _ = D[(v, tid)]
            have = c > 0
            uv[:, :, v][have], cf[:, :, v][have] = u[have], c[have]
        X, used, _ = triangulate_robust(cams, uv.reshape(-1, V, 2), cf.reshape(-1, V), max_px=np.inf)
        return X.reshape(n_frames, 17, 3)

    def agree(X, v, tid):
        u, c, hh = D[(v, tid)]
        m = (c >= VIS_CONF) & np.isfinite(X).all(-1)
        if m.any(1).sum() < min_common:
            return np.inf
        e = (np.linalg.norm(project(cams[v], X, distort=False) - u, axis=-1) / hh[:, None])[m]
        e = e[np.isfinite(e)]
        return float(np.median(e)) if e.size else np.inf

    left = set(D)
    people = []
    while True:
        best = None
        for (va, ta), (vb, tb) in itertools.combinations(sorted(left), 2):
            if va == vb:
                continue
            X = triang([(va, ta), (vb, tb)])
            ea, eb = agree(X, va, ta), agree(X, vb, tb)
            if not max(ea, eb) < max_rel:
                continue
            support = [min((agree(X, v, t) for (v, t) in left if v == v2), default=np.inf)
                       for v2 in range(V) if v2 not in (va, vb)]
            key = (sum(s < max_rel for s in support), -max(ea, eb))
            if best is None or key > best[0]:
                best = (key, [(va, ta), (vb, tb)])
        if best is None:
            break
        members = best[1]
        grown = True
        while grown:
            grown = False
            X = triang(members)
            cands = sorted(((agree(X, v, t), v, t) for (v, t) in left if (v, t) not in members))
            for e, v, t in cands:
                if not e < max_rel:
                    break
                fr = set(views[v][t]["frames"].tolist())
                if any(mv == v and fr & set(views[mv][mt]["frames"].tolist()) for mv, mt in members):
                    continue
                members.append((v, t))
                grown = True
                break
        people.append(sorted(members))
        left -= set(members)
    people.sort(key=lambda p: -len({v for v, _ in p}))
    return people


# ------------------------------------------------------------------------------------- scoring
def pipeline_to_world(cam: CalibCamera, X: np.ndarray, focal: float, principal_point, offset=(0.0, 0.0)) -> np.ndarray:
    """A view's monocular output (pipeline camera frame) -> calibrated world frame.

    The pipeline's camera has ``focal`` and ``principal_point`` (image centre); the calibrated one
    has K and the fitted pixel offset. Each point keeps its depth and its pixel: ``x' = (f / fx) x +
    z (pp_x - cx - off_x) / fx`` (same for y), then ``world = R^T (x' - t)``.

    Args:
        cam: calibrated camera of the view.
        X: (..., 3) pipeline camera-frame points (metres).
        focal: the pipeline's focal length (px).
        principal_point: (2,) the pipeline's principal point (px).
        offset: (2,) the view's fitted pixel offset.
    Returns:
        (..., 3) world points.
    """
    X = np.asarray(X, np.float64)
    f = np.diag(cam.K)[:2]
    c = cam.K[:2, 2] + np.asarray(offset, np.float64)
    xy = focal / f * X[..., :2] + X[..., 2:3] * (np.asarray(principal_point, np.float64) - c) / f
    xc = np.concatenate([xy, X[..., 2:3]], -1)
    return (xc - cam.t) @ cam.R


def limb_errors(pred: np.ndarray, gt: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame limb-joint errors of world-frame predictions against the pseudo ground truth.

    Joints whose ground truth is NaN (not triangulated) are left out of that frame's alignment and
    mean; a frame needs both hips and at least :data:`MIN_LIMB` limb joints, else its errors are NaN.

    Args:
        pred: (F, 12, 3) limb joints in :data:`LIMB_COCO` order (metres, world frame).
        gt: (F, 12, 3) triangulated limb keypoints, same order (NaN: missing).
    Returns:
        ``mpjpe`` (F,) mm after mid-hip alignment, ``pa_mpjpe`` (F,) mm after per-frame similarity
        Procrustes (on the valid joints), ``max_err`` (F,) mm largest mid-hip-aligned joint error,
        ``joints`` (F,) valid joints per frame.
    """
    p, g = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    valid = np.isfinite(g).all(-1) & np.isfinite(p).all(-1)
    n = valid.sum(1)
    ok = valid[:, list(HIPS_IN_LIMB)].all(1) & (n >= MIN_LIMB)
    hp, hg = p[:, HIPS_IN_LIMB].mean(1, keepdims=True), g[:, HIPS_IN_LIMB].mean(1, keepdims=True)
    e = np.where(valid, np.linalg.norm((p - hp) - (g - hg), axis=-1) * 1000, np.nan)
    pa = np.full(len(p), np.nan)
    full = ok & valid.all(1)
    if full.any():
        pa[full] = np.linalg.norm(similarity_align(p[full], g[full]) - g[full], axis=-1).mean(-1) * 1000
    for f in np.flatnonzero(ok & ~full):
        m = valid[f]
        pa[f] = np.linalg.norm(similarity_align(p[f, m], g[f, m]) - g[f, m], axis=-1).mean() * 1000
    with np.errstate(invalid="ignore"):
        mp = np.where(ok, np.nanmean(np.where(valid, e, np.nan), 1), np.nan)
        mx = np.where(ok, np.nanmax(np.where(valid, e, -np.inf), 1), np.nan)
    return {"mpjpe": mp, "pa_mpjpe": pa, "max_err": mx, "joints": n}


def depth_errors(pred_cam: np.ndarray, gt_cam: np.ndarray, min_depth: float = DEPTH_FLIP_M) -> dict[str, np.ndarray]:
    """The limb joints' depth relative to the mid-hip, in one camera's frame, against the triangulation's.

    Per frame, both sides are made relative to their own hip centre; the prediction is scaled by
    the least-squares factor onto the ground truth (over the frame's valid limb joints, all three
    axes), then per joint ``|s z_pred - z_gt|`` is the depth error and a **flip** is a joint whose
    depth relative to the mid-hip has the opposite sign of the triangulation's where the latter is
    at least ``min_depth`` metres (front/back confusions; the hips are left out: their depth
    relative to the mid-hip is symmetric).

    Args:
        pred_cam: (F, 12, 3) limb joints in :data:`LIMB_COCO` order, camera axes (metres; any
            origin: only differences are used).
        gt_cam: (F, 12, 3) triangulated limb keypoints in the same camera's axes (NaN: missing).
        min_depth: the smallest |ground-truth depth| at which a sign disagreement counts as a flip.
    Returns:
        ``depth`` (F, 12) mm (NaN where not scored: frames without both hips, missing joints),
        ``flip`` (F, 12) bool, ``flip_scored`` (F, 12) bool (joints where a flip could be counted).
    """
    p, g = np.asarray(pred_cam, np.float64), np.asarray(gt_cam, np.float64)
    if p.shape != g.shape or p.ndim != 3 or p.shape[1:] != (len(LIMB_COCO), 3):
        raise ValueError(f"pred {p.shape} / gt {g.shape} must both be (F, 12, 3)")
    valid = np.isfinite(g).all(-1) & np.isfinite(p).all(-1)
    ok = valid[:, list(HIPS_IN_LIMB)].all(1)
    pr = p - p[:, HIPS_IN_LIMB].mean(1, keepdims=True)
    gr = g - g[:, HIPS_IN_LIMB].mean(1, keepdims=True)
    pr0, gr0 = np.where(valid[..., None], pr, 0.0), np.where(valid[..., None], gr, 0.0)
    s = (pr0 * gr0).sum((1, 2)) / np.maximum((pr0 * pr0).sum((1, 2)), 1e-12)
    zp, zg = s[:, None] * pr[..., 2], gr[..., 2]
    m = valid & ok[:, None]
    depth = np.where(m, np.abs(zp - zg) * 1000, np.nan)
    scored = m & (np.abs(np.nan_to_num(zg)) >= min_depth)
    scored[:, list(HIPS_IN_LIMB)] = False
    flip = scored & (np.sign(np.nan_to_num(zp)) != np.sign(np.nan_to_num(zg)))
    return {"depth": depth, "flip": flip, "flip_scored": scored}


def cross_view_pa(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(F, J, 3), (F, J, 3) two views' world-frame outputs -> (F,) PA-MPJPE in mm, symmetrised
    (mean of aligning a onto b and b onto a)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ab = np.linalg.norm(similarity_align(a, b) - b, axis=-1).mean(-1)
    ba = np.linalg.norm(similarity_align(b, a) - a, axis=-1).mean(-1)
    return 500.0 * (ab + ba)


def reprojection_pct(X_cam: np.ndarray, kp2d: np.ndarray, focal: float, principal_point,
                     height: np.ndarray, min_conf: float = VIS_CONF) -> np.ndarray:
    """Reprojection error of a view's 3D output against the detector's visible keypoints.

    Args:
        X_cam: (F, 12, 3) output limb joints in the pipeline's camera frame.
        kp2d: (F, 12, 3) detected limb keypoints (x, y, confidence), same order.
        focal, principal_point: the pipeline's camera.
        height: (F,) person height in pixels.
        min_conf: confidence above which a keypoint is visible.
    Returns:
        (M,) errors in % of the person height, one per visible keypoint.
    """
    X = np.asarray(X_cam, np.float64)
    uv = X[..., :2] / np.maximum(X[..., 2:3], 1e-6) * focal + np.asarray(principal_point, np.float64)
    e = np.linalg.norm(uv - kp2d[..., :2], axis=-1) / np.asarray(height, np.float64)[:, None] * 100
    m = (kp2d[..., 2] >= min_conf) & np.isfinite(e)
    return e[m]


# ----------------------------------------------------------------------------------------- run
def _calib_focal(cam: CalibCamera) -> float:
    return float(cam.K[0, 0])


def _has_features(keypoints_json: Path) -> bool:
    """Whether a keypoint-stage cache was made with ``--image-features`` (its key says so)."""
    try:
        return bool(json.loads(keypoints_json.read_text()).get("key", {}).get("image_features", False))
    except (OSError, ValueError, AttributeError):
        return False


PERTURB_MARK = "perturb.txt"   # in OUT/<tag>/: the tag's outputs were made from changed frames (--perturb)


def run_views(videos: list[Path], cams: list[CalibCamera], out: Path, tag: str, frames: int | None,
              run_args: str, threads: int | None, fresh_2d: bool = False) -> list[Path]:
    """``unveil run`` (in-process) on each view into ``out/<tag>/<cam>/``.

    A view folder without a keypoint cache gets one copied from another tag's folder of the same
    view (the pipeline checks the cache key itself: a copy that does not match is recomputed).
    ``fresh_2d``: no copy, and the view's own stage caches are removed first (the front end sees
    changed frames, ``--perturb``, which the cache keys do not know).

    Returns:
        the per-view output folders.
    """
    from ..pipeline import main as run_main  # deferred: loads ijson

    dirs = []
    for vid, cam in zip(videos, cams):
        d = out / tag / cam.name
        cache = d / "cache"
        if fresh_2d and cache.exists():
            shutil.rmtree(cache)
        if not fresh_2d and not (cache / "keypoints.json").exists():
            # a cache made with the same --image-features setting first (its key differs otherwise)
            feats = "--image-features" in shlex.split(run_args or "")
            cands = sorted(out.glob(f"*/{cam.name}/cache/keypoints.json"),
                           key=lambda p: _has_features(p) != feats)
            for other in cands:
                if (other.parents[2] / PERTURB_MARK).exists():   # made from changed frames (--perturb)
                    continue
                cache.mkdir(parents=True, exist_ok=True)
                for ext in ("json", "npz"):
                    src = other.parent / f"keypoints.{ext}"
                    if src.exists():
                        shutil.copy2(src, cache / src.name)
                break
        argv = [str(vid), "-o", str(d), "--focal", f"{_calib_focal(cam):.4f}", "--no-render", "--no-export"]
        if frames:
            argv += ["--max-frames", str(frames)]
        if threads:
            argv += ["--threads", str(threads)]
        argv += shlex.split(run_args or "")
        print(f"[{cam.name}] unveil run {' '.join(shlex.quote(a) for a in argv)}", flush=True)
        try:
            rc = run_main(argv)
        except SystemExit as e:  # argparse rejected a --run-args option
            raise UnveilError(f"unveil run rejected the arguments {run_args!r} (exit {e.code})") from None
        if rc:
            raise UnveilError(f"unveil run failed on {vid} (exit {rc})")
        dirs.append(d)
    return dirs


def load_view(d: Path, cam: CalibCamera) -> dict:
    """Read a view's track npz files -> ``{track_id: dict}`` with COCO-17 keypoints, undistorted
    pixels, person height (px; vertical extent of all the detector's keypoints) and the 3D output."""
    tracks = {}
    for f in sorted((d / "tracks").glob("*.npz"), key=lambda p: int(p.stem) if p.stem.isdigit() else -1):
        if not f.stem.isdigit():
            continue
        z = np.load(f)
        layout = str(z["layout"]) if "layout" in z else "coco17"
        kp_all = np.asarray(z["keypoints2d"], np.float64)
        kp = to_coco17(kp_all, layout)
        t = {"frames": np.asarray(z["frames"], np.int64), "kp": kp, "uv": undistort(cam, kp[..., :2]),
             "conf": kp[..., 2].copy(), "height": np.ptp(kp_all[..., 1], axis=1),
             "focal": float(z["focal"]), "pp": np.asarray(z["principal_point"], np.float64)}
        if "held" in z:
            t["conf"][~np.asarray(z["held"], bool)] = 0.0
        if "keypoints3d_body" in z:
            t["out3d"], t["out3d_source"] = np.asarray(z["keypoints3d_body"], np.float64)[:, list(LIMB_COCO)], "keypoints3d_body"
        elif "joints_cam" in z:
            t["out3d"], t["out3d_source"] = np.asarray(z["joints_cam"], np.float64)[:, list(LIMB_SMPL)], "joints_cam"
        if "world_landmarks" in z:
            wl = np.asarray(z["world_landmarks"], np.float64)
            # the second baseline row: BlazePose with unveil's left/right renaming (detect/chirality.py)
            t["blaze3d_renamed"] = to_coco17(wl, "blazepose33")[:, list(LIMB_COCO)]
            if "lr_swapped" in z:   # the baseline row is BlazePose as it comes: undo unveil's renaming
                wl = swap_names(wl, np.asarray(z["lr_swapped"], bool))
            t["blaze3d"] = to_coco17(wl, "blazepose33")[:, list(LIMB_COCO)]
        tracks[int(f.stem)] = t
    return tracks


def triangulate_people(cams, views, people, n_frames, **kw) -> dict:
    """Stack every person's per-frame detections across views, fit the per-camera offsets on all of
    them, and triangulate. Returns ``offsets`` (V,2), ``X`` (P, n_frames, 17, 3) (NaN: not
    triangulated), ``used``/``resid`` (P, n_frames, 17, V), the observation depth ``z``, and the
    stacked inputs ``uv`` (P, n_frames, 17, V, 2) undistorted pixels, ``conf`` (P, n_frames, 17, V)."""
    V, P = len(cams), len(people)
    uv = np.full((P, n_frames, 17, V, 2), np.nan)
    cf = np.zeros((P, n_frames, 17, V))
    for p, members in enumerate(people):
        for v, tid in members:
            tr = views[v][tid]
            uv[p, tr["frames"], :, v] = tr["uv"]
            cf[p, tr["frames"], :, v] = tr["conf"]
    off, X, used, resid = fit_offsets(cams, uv.reshape(-1, V, 2), cf.reshape(-1, V), **kw)
    z = np.stack([(X @ c.R.T + c.t)[:, 2] for c in cams], 1)
    sh = (P, n_frames, 17)
    return {"offsets": off, "X": X.reshape(sh + (3,)), "used": used.reshape(sh + (V,)),
            "resid": resid.reshape(sh + (V,)), "z": z.reshape(sh + (V,)), "uv": uv, "conf": cf}


def frame_agreement(cam: CalibCamera, X: np.ndarray, track: dict, offset=(0.0, 0.0)) -> np.ndarray:
    """Per frame of a track: median distance between its visible keypoints and the person's
    triangulation projected into the view, as a fraction of the person's height.

    Args:
        cam: the view's camera.
        X: (n_frames, 17, 3) the person's triangulated keypoints (world, NaN: missing).
        track: a :func:`load_view` track (``frames``, ``uv`` undistorted, ``conf``, ``height``).
        offset: (2,) the view's pixel offset.
    Returns:
        (T,) agreement per track frame (NaN where nothing is comparable).
    """
    fr = track["frames"]
    e = np.linalg.norm(project(cam, X[fr], offset, distort=False) - track["uv"], axis=-1) / track["height"][:, None]
    e = np.where((track["conf"] >= VIS_CONF) & np.isfinite(e), e, np.nan)
    out = np.full(len(fr), np.nan)
    ok = np.isfinite(e).any(1)
    out[ok] = np.nanmedian(e[ok], 1)
    return out


# the scored rows: unveil's output, BlazePose's world landmarks as they come, and the same landmarks
# with unveil's left/right renaming (a stricter baseline where the detector swapped sides)
ROWS = ("unveil", "blazepose", "blazepose_renamed")


def score(cams, views, people, tri, max_rel: float = 0.15) -> dict:
    """Scores of the unveil output and of BlazePose's world landmarks (see the module docstring).

    A (view, track, frame) sample is scored when the track belongs to a person, both hips and at
    least :data:`MIN_LIMB` limb keypoints of that person and frame were triangulated (the others
    are left out of that frame's scores), both rows have an output there (the same frames for
    both), and the track agrees with the person in that frame (:func:`frame_agreement` <
    ``max_rel``: a track that jumped to someone else for a while is not scored there).
    Returns the JSON-ready result dict."""
    rows = {k: {"pa": [], "mpjpe": [], "flip": [], "reproj": [], "cross": [], "per_view": {}, "per_person": {},
                "depth": [], "depth_flip": [], "depth_flip_scored": []}
            for k in ROWS}
    world = {k: {} for k in ROWS}     # row -> (person, frame) -> {view: (12, 3)}
    sources = set()
    for p, members in enumerate(people):
        gt_all = tri["X"][p][:, list(LIMB_COCO)]
        fin_gt = np.isfinite(gt_all).all(-1)
        good = fin_gt[:, list(HIPS_IN_LIMB)].all(1) & (fin_gt.sum(1) >= MIN_LIMB)
        for v, tid in members:
            cam, tr = cams[v], views[v][tid]
            fr = tr["frames"]
            agree = np.nan_to_num(frame_agreement(cam, tri["X"][p], tr, tri["offsets"][v]), nan=np.inf) < max_rel
            sel = good[fr] & agree
            for key in ("out3d", "blaze3d"):
                if key in tr:
                    sel &= np.isfinite(tr[key]).all((1, 2))
            if not sel.any():
                continue
            gt = gt_all[fr[sel]]
            outs, cams3d = {}, {}
            gt_cam = gt @ cam.R.T + cam.t                            # world -> this camera's axes
            if "out3d" in tr:
                sources.add(tr["out3d_source"])
                outs["unveil"] = pipeline_to_world(cam, tr["out3d"][sel], tr["focal"], tr["pp"], tri["offsets"][v])
                cams3d["unveil"] = outs["unveil"] @ cam.R.T + cam.t   # the calibrated camera's axes
                r = reprojection_pct(tr["out3d"][sel], tr["kp"][sel][:, list(LIMB_COCO)], tr["focal"], tr["pp"],
                                     tr["height"][sel])
                rows["unveil"]["reproj"].append(r)
            if "blaze3d" in tr:
                for name, key in (("blazepose", "blaze3d"), ("blazepose_renamed", "blaze3d_renamed")):
                    b3 = tr.get(key, tr["blaze3d"])[sel]
                    outs[name] = b3 @ cam.R       # camera axes -> world axes
                    cams3d[name] = b3
            for name, w in outs.items():
                e = limb_errors(w, gt)
                row = rows[name]
                de = depth_errors(cams3d[name], gt_cam)
                row["depth"].append(de["depth"])
                row["depth_flip"].append(de["flip"])
                row["depth_flip_scored"].append(de["flip_scored"])
                pv = row["per_view"].setdefault(cam.name, {"pa": [], "mpjpe": [], "flip": []})
                pp = row["per_person"].setdefault(p, {"pa": [], "mpjpe": [], "flip": []})
                for dst in (row, pv, pp):
                    dst["pa"].append(e["pa_mpjpe"])
                    dst["mpjpe"].append(e["mpjpe"])
                    dst["flip"].append(e["max_err"] > FLIP_MM)
                for f, x in zip(fr[sel], w):
                    world[name].setdefault((p, int(f)), {})[v] = x
    for name, d in world.items():
        a_all, b_all = [], []
        for per in d.values():
            for va, vb in itertools.combinations(sorted(per), 2):
                a_all.append(per[va]); b_all.append(per[vb])
        if a_all:
            rows[name]["cross"].append(cross_view_pa(np.stack(a_all), np.stack(b_all)))

    def summary(row):
        cat = lambda k: np.concatenate(row[k]) if row[k] else np.zeros(0)  # noqa: E731
        pa, mp, fl, rp, cr = (cat(k) for k in ("pa", "mpjpe", "flip", "reproj", "cross"))
        s = {"pa_mpjpe": float(pa.mean()) if pa.size else None, "mpjpe": float(mp.mean()) if mp.size else None,
             "cross_view_pa": float(cr.mean()) if cr.size else None,
             "reproj_median_pct": float(np.median(rp)) if rp.size else None,
             "frames_over_300mm": int(fl.sum()), "frames_scored": int(pa.size), "cross_view_pairs": int(cr.size)}
        if row["depth"]:   # limb joints' depth relative to the mid-hip, camera frame (depth_errors)
            de = np.concatenate(row["depth"])
            dfl, dsc = np.concatenate(row["depth_flip"]), np.concatenate(row["depth_flip_scored"])
            with np.errstate(invalid="ignore"):
                per = np.nanmean(de, 0)
            s["depth_rel_mm"] = float(np.nanmean(de)) if np.isfinite(de).any() else None
            s["depth_rel_mm_per_joint"] = {n: (None if not np.isfinite(v) else float(v))
                                           for n, v in zip(LIMB_NAMES, per)}
            s["depth_flips"] = int(dfl.sum())
            s["depth_flips_pct"] = float(100 * dfl.sum() / max(int(dsc.sum()), 1))
            s["depth_flip_joints_scored"] = int(dsc.sum())
        for part in ("per_view", "per_person"):
            s[part] = {v: {"pa_mpjpe": float(np.concatenate(x["pa"]).mean()),
                           "mpjpe": float(np.concatenate(x["mpjpe"]).mean()),
                           "frames_over_300mm": int(np.concatenate(x["flip"]).sum()),
                           "frames_scored": int(np.concatenate(x["pa"]).size)}
                       for v, x in sorted(row[part].items())}
        return s

    return {**{k: summary(rows[k]) for k in ROWS}, "unveil_3d_source": sorted(sources)}


def floor_pa(cams: list[CalibCamera], tri: dict, rounds: int = 3, seed: int = 0) -> float | None:
    """The pseudo ground truth's own limb PA-MPJPE (mm), by a residual bootstrap: every inlier
    observation is replaced by the projection of its triangulated point plus a residual vector
    drawn from all inlier residuals of the same camera, the points are re-triangulated with the
    same views and weights, and PA-MPJPE between the re-triangulated and the original limb joints
    is averaged over the frames the scores can use. To first order this is the error the 2D noise
    and calibration misfit put into the ground truth: a floor for the PA-MPJPE any method can show.

    Args:
        cams: V cameras.
        tri: :func:`triangulate_people` output.
        rounds: bootstrap rounds.
        seed: random seed.
    Returns:
        mm, or None when no frame qualifies.
    """
    rng = np.random.default_rng(seed)
    V = len(cams)
    X = tri["X"].reshape(-1, 3)
    used, conf = tri["used"].reshape(-1, V), tri["conf"].reshape(-1, V)
    uv = tri["uv"].reshape(-1, V, 2)
    proj = np.stack([project(c, X, tri["offsets"][v], distort=False) for v, c in enumerate(cams)], 1)
    d = uv - proj
    lim = tri["X"][:, :, list(LIMB_COCO)]
    fin = np.isfinite(lim).all(-1)
    good = fin[..., list(HIPS_IN_LIMB)].all(-1) & (fin.sum(-1) >= MIN_LIMB)
    if not good.any():
        return None
    out = []
    for _ in range(rounds):
        new = proj.copy()
        for v in range(V):
            m = np.flatnonzero(used[:, v])
            new[m, v] = proj[m, v] + d[rng.choice(m, len(m)), v]
        Xb = triangulate_dlt(cams, new, np.where(used, conf, 0.0), tri["offsets"]).reshape(tri["X"].shape)
        e = limb_errors(Xb[:, :, list(LIMB_COCO)][good], lim[good])
        out.append(np.nanmean(e["pa_mpjpe"]))
    return float(np.mean(out))


def triangulation_report(cams, tri) -> dict:
    """Residual of the pseudo ground truth (its inlier observations): px, mm at the point's depth,
    and the bootstrap PA-MPJPE floor (:func:`floor_pa`)."""
    used, res, z = tri["used"], tri["resid"], tri["z"]
    out = {"offsets_px": {c.name: [round(float(x), 2) for x in tri["offsets"][v]] for v, c in enumerate(cams)}}
    r = res[used]
    mm = (res * z / np.stack([c.K[0, 0] for c in cams])[None] * 1000)[used]
    out.update(residual_px_median=float(np.median(r)) if r.size else None,
               residual_px_mean=float(r.mean()) if r.size else None,
               residual_mm_median=float(np.median(mm)) if mm.size else None,
               floor_pa_mpjpe=floor_pa(cams, tri),
               observations=int(r.size),
               points=int(np.isfinite(tri["X"]).all(-1).sum()),
               views_per_point=float(used.sum(-1)[np.isfinite(tri["X"]).all(-1)].mean()) if r.size else None)
    return out


def _fmt(x, spec=".1f"):
    return "n/a" if x is None else format(x, spec)


def print_table(res: dict) -> None:
    """Print the result dict as the bench table."""
    u, b = res["scores"]["unveil"], res["scores"]["blazepose"]
    print(f"\nunveil bench multiview: {res['data']}, {res['frames']} frames x {len(res['views'])} views, "
          f"{len(res['people'])} people matched; unveil 3D from {', '.join(res['scores']['unveil_3d_source']) or '-'}")
    hdr = f"{'row':<34}{'PA-MPJPE':>9}{'MPJPE':>8}{'cross-view PA':>15}{'reproj med %h':>15}{'>300mm':>8}{'frames':>8}"
    print(hdr)
    print("-" * len(hdr))
    for name, s in ((f"unveil [{res['tag']}]", u), ("BlazePose world landmarks", b)):
        print(f"{name:<34}{_fmt(s['pa_mpjpe']):>9}{_fmt(s['mpjpe']):>8}{_fmt(s['cross_view_pa']):>15}"
              f"{_fmt(s['reproj_median_pct'], '.2f'):>15}{s['frames_over_300mm']:>8}{s['frames_scored']:>8}")
    for name, s in ((f"unveil [{res['tag']}]", u), ("BlazePose world landmarks", b)):
        if s.get("depth_rel_mm") is not None:
            print(f"{name}: limb depth rel. mid-hip {s['depth_rel_mm']:.1f} mm, front/back flips "
                  f"{s['depth_flips']} / {s['depth_flip_joints_scored']} ({s['depth_flips_pct']:.1f} %)")
    if u["pa_mpjpe"] and b["pa_mpjpe"]:
        print(f"unveil PA-MPJPE vs BlazePose: {100 * (u['pa_mpjpe'] / b['pa_mpjpe'] - 1):+.1f} %")
    r = res["scores"].get("blazepose_renamed")
    if r and r["pa_mpjpe"] and u["pa_mpjpe"]:
        print(f"BlazePose with unveil's left/right renaming: PA-MPJPE {r['pa_mpjpe']:.1f}, MPJPE {_fmt(r['mpjpe'])} "
              f"(unveil vs it: {100 * (u['pa_mpjpe'] / r['pa_mpjpe'] - 1):+.1f} %)")
    print("per view (PA-MPJPE / MPJPE mm, frames): " + "; ".join(
        f"{v} unveil {s['pa_mpjpe']:.0f}/{s['mpjpe']:.0f} blaze {b['per_view'].get(v, {}).get('pa_mpjpe', float('nan')):.0f}"
        f"/{b['per_view'].get(v, {}).get('mpjpe', float('nan')):.0f} ({s['frames_scored']})"
        for v, s in u["per_view"].items()))
    print("per person (PA-MPJPE / MPJPE mm, frames): " + "; ".join(
        f"person {p} unveil {s['pa_mpjpe']:.0f}/{s['mpjpe']:.0f} blaze "
        f"{b['per_person'].get(p, {}).get('pa_mpjpe', float('nan')):.0f}"
        f"/{b['per_person'].get(p, {}).get('mpjpe', float('nan')):.0f} ({s['frames_scored']})"
        for p, s in u["per_person"].items()))
    t = res["triangulation"]
    print(f"triangulation (floor of the check): residual median {_fmt(t['residual_px_median'], '.2f')} px "
          f"(~{_fmt(t['residual_mm_median'], '.1f')} mm at the person; bootstrap PA-MPJPE floor "
          f"{_fmt(t['floor_pa_mpjpe'])} mm), {t['points']} points, "
          f"{_fmt(t['views_per_point'], '.2f')} views/point; per-camera offsets px: "
          + ", ".join(f"{k} ({x:+.1f}, {y:+.1f})" for k, (x, y) in t["offsets_px"].items()))
    for v in res["views"]:
        print(f"  {v['camera']}: {v['tracks']} tracks; track->person {v['matched'] or '-'}; "
              f"bystanders {v['bystanders'] or '-'}; unmatched {v['unmatched'] or '-'}")


def evaluate(media: Path, out: Path, tag: str = "default", frames: int | None = None, run_args: str = "",
             threads: int | None = None, run: bool = True, min_views: int = 3, fresh_2d: bool = False) -> dict:
    """The whole bench: run the pipeline on every view (unless ``run`` is False: score what is in
    ``out/<tag>/``), build the pseudo ground truth, score. People matched in fewer than
    ``min_views`` views are bystanders (not triangulated, not scored). Returns the result dict."""
    t0 = time.perf_counter()
    cams = load_qca(media / "Calib.qca.txt")
    videos = [media / f"{c.name}.mp4" for c in cams]
    missing = [str(v) for v in videos if not v.is_file()]
    if missing:
        raise UnveilError(f"missing video(s) {', '.join(missing)} (run scripts/fetch_media.sh multi)")
    if run:
        dirs = run_views(videos, cams, out, tag, frames, run_args, threads, fresh_2d)
    else:
        dirs = [out / tag / c.name for c in cams]
        if not all((d / "tracks").is_dir() for d in dirs):
            raise UnveilError(f"no pipeline outputs under {out / tag} (run without --no-run first)")
    t_run = time.perf_counter() - t0
    views = [load_view(d, c) for d, c in zip(dirs, cams)]
    n_frames = 1 + max((int(t["frames"].max()) for vw in views for t in vw.values()), default=-1)
    if n_frames <= 0:
        raise UnveilError("the pipeline found no people in any view")
    found = match_tracks(cams, views, n_frames)
    people = [p for p in found if len({v for v, _ in p}) >= min_views]
    bystanders = [p for p in found if len({v for v, _ in p}) < min_views]
    if not people:
        raise UnveilError(f"no person was matched in {min_views} or more views")
    tri = triangulate_people(cams, views, people, n_frames)
    res = {"data": media.name, "tag": tag, "run_args": run_args, "frames": n_frames,
           "people": [[(cams[v].name, int(t)) for v, t in p] for p in people],
           "bystanders": [[(cams[v].name, int(t)) for v, t in p] for p in bystanders],
           "views": [{"camera": c.name, "tracks": len(views[v]),
                      "matched": {int(t): pi for pi, p in enumerate(people) for vv, t in p if vv == v},
                      "bystanders": sorted(int(t) for p in bystanders for vv, t in p if vv == v),
                      "unmatched": sorted(int(t) for t in views[v] if not any((v, t) in p for p in found))}
                     for v, c in enumerate(cams)],
           "calibration": {c.name: {"focal": [float(c.K[0, 0]), float(c.K[1, 1])],
                                    "principal_point": [float(c.K[0, 2]), float(c.K[1, 2])],
                                    "image_centre": [c.size[0] / 2, c.size[1] / 2]} for c in cams},
           "triangulation": triangulation_report(cams, tri),
           "scores": score(cams, views, people, tri)}
    res["seconds"] = {"pipeline": round(t_run, 1), "total": round(time.perf_counter() - t0, 1)}
    return res


def main(argv: list[str], prog: str = "unveil bench multiview") -> int:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--media", default="media/pose2sim_multi",
                    help="folder with cam01..04.mp4 and Calib.qca.txt (scripts/fetch_media.sh multi)")
    ap.add_argument("-o", "--out", default="out/bench_multiview", help="pipeline outputs go to OUT/<tag>/<cam>/")
    ap.add_argument("--tag", default="default", help="name of this pipeline configuration (row label, subfolder)")
    ap.add_argument("--frames", type=int, default=None, help="first N frames of each view (default: all 100)")
    ap.add_argument("--run-args", default="", help='extra options for every view\'s `unveil run`, e.g. "--no-traj-prior"')
    ap.add_argument("--threads", type=int, default=None, help="CPU threads for the pipeline runs")
    ap.add_argument("--no-run", dest="run", action="store_false", default=True,
                    help="score the outputs already in OUT/<tag>/ without running the pipeline")
    ap.add_argument("--json", default=None, help="write the result here (default: OUT/<tag>/multiview.json)")
    ap.add_argument("--perturb", default="none", choices=KINDS,
                    help="change every frame the 2D front end sees in a way no viewer would notice (one level "
                         "brighter / darker, one pixel right / down, +-1 noise): rerun a configuration under each to "
                         "see how much of a difference between two rows is chance (unveil.bench.perturb)")
    argv = list(argv)
    for i in range(len(argv) - 1):      # `--run-args "--no-x"`: argparse would read --no-x as an option
        if argv[i] == "--run-args":
            argv[i:i + 2] = [f"--run-args={argv[i + 1]}"]
            break
    a = ap.parse_args(argv)
    if a.perturb != "none" and not a.run:
        raise UnveilError("--perturb changes the frames of a run: it cannot be used with --no-run")
    if a.frames is not None and a.frames < 10:
        raise UnveilError("--frames must be >= 10")
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", a.tag):
        raise UnveilError(f"--tag must be a plain name (letters, digits, _ . + -), got {a.tag!r}")
    out = Path(a.out)
    with perturbed_front_end(a.perturb):
        mark = out / a.tag / PERTURB_MARK
        fresh = a.run and (a.perturb != "none" or mark.exists())   # caches made from other frames than this run's
        if a.perturb != "none":
            mark.parent.mkdir(parents=True, exist_ok=True)
            write_text(mark, a.perturb + "\n")   # before the run: a stopped run's caches stay marked
        res = evaluate(Path(a.media), out, a.tag, a.frames, a.run_args, a.threads, a.run, fresh_2d=fresh)
        if a.perturb == "none" and a.run and mark.exists():
            mark.unlink()
    res["environment"] = environment(a.threads)
    res["perturb"] = a.perturb if a.run else (mark.read_text().strip() if mark.exists() else "none")
    print_table(res)
    print(describe(res["environment"]))
    dst = Path(a.json) if a.json else out / a.tag / "multiview.json"
    dst.parent.mkdir(parents=True, exist_ok=True)
    write_text(dst, json.dumps(res, indent=1))
    print(f"wrote {dst}  ({res['seconds']['total']:.0f} s, pipeline {res['seconds']['pipeline']:.0f} s)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
