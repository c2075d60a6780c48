"""Evaluation metrics for 3D human motion (MoRo §5.3, ARTS §4.1.2, WHAM/GVHMR conventions).

Inputs are numpy arrays of joint positions in **metres**, shape ``(T, J, 3)`` (T frames, J joints,
SMPL-24 unless said otherwise); masks are boolean ``(T, J)`` (True = counted). Every returned number
is in **millimetres** (or mm per frame^k, or % for RTE) -- see each function. A metric with nothing
to average returns ``nan`` (never 0), so an empty occluded set cannot look perfect.

=================  =====================================================================  ===========
metric             definition                                                             unit
=================  =====================================================================  ===========
MPJPE              mean_{t,j} ||(p - p_root) - (g - g_root)||, root = pelvis (joint 0)    mm
MPJPE-vis / -occ   the same over visible / occluded (t, j) pairs only (mask below)        mm
PA-MPJPE           per-frame similarity Procrustes (rotation, translation, scale) then    mm
                   mean joint error (Umeyama; reflection excluded)
PVE                mean vertex error after subtracting each mesh's root (pelvis) joint    mm
Accel              mean_{t,j} ||a_pred - a_gt||, a_t = x_{t-1} - 2 x_t + x_{t+1}, on       mm/frame^2
                   root-aligned joints (HMMR/VIBE; "mm/s^2" in ARTS is this quantity);
                   ``fps=`` converts to mm/s^2 (x fps^2); ``align="none"`` gives G-Accel
Jitter             mean_{t,j} ||x_{t+2} - 3x_{t+1} + 3x_t - x_{t-1}|| of the *prediction*  mm/frame^3
                   (WHAM/MoRo; they report it per s^3: ``fps=`` multiplies by fps^3)
Foot sliding       mean displacement ||p_{t+1} - p_t|| of predicted foot joints (ankles,   mm
                   toes) over frame pairs where the ground truth foot is in contact:
                   height within ``height_tol`` of its own low (5th percentile) height
                   and horizontal speed below ``speed_tol`` m/s, at both t and t+1
GMPJPE             global MPJPE after one rigid transform (R, t; no scale) fitted on the   mm
                   first ``n_first`` frames (default 2) and applied to the whole sequence
                   (MoRo: no 100-frame segments); ``align="all"`` fits on all frames
                   (WHAM/GVHMR WA-MPJPE)
RTE                root translation error: rigid (no scale) whole-sequence alignment of   % of path
                   the root trajectory, mean_t ||g_t - aligned p_t|| / (GT path length)
                   x 100 (GVHMR); nan if the GT root travels < ``min_travel`` m
=================  =====================================================================  ===========

Occlusion masks come from the 2D side as COCO-17 ``(T, 17)``; :func:`coco17_to_smpl24_mask` maps
them to SMPL-24: each SMPL joint is given the COCO keypoints that determine it (``SMPL24_FROM_COCO``;
limb joints one keypoint, the head all five face points, torso joints the hips and/or shoulders)
and is *occluded* when at least half of them are occluded (ties count as occluded, so MPJPE-vis only
holds joints whose evidence is clearly visible).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .geometry import rigid_fit
from .skeleton import SMPL24_INDEX as _I

PELVIS = 0
FOOT_JOINTS = (_I["L_ankle"], _I["R_ankle"], _I["L_foot"], _I["R_foot"])

# SMPL-24 joint -> the COCO-17 keypoints that carry its evidence
SMPL24_FROM_COCO: tuple[tuple[int, ...], ...] = (
    (11, 12),            # pelvis
    (11,), (12,),        # L_hip, R_hip
    (11, 12),            # spine1
    (13,), (14,),        # knees
    (5, 6, 11, 12),      # spine2
    (15,), (16,),        # ankles
    (5, 6),              # spine3
    (15,), (16,),        # feet (toes) <- ankles
    (5, 6),              # neck
    (5,), (6,),          # collars
    (0, 1, 2, 3, 4),     # head <- face points
    (5,), (6,),          # shoulders
    (7,), (8,),          # elbows
    (9,), (10,),         # wrists
    (9,), (10,),         # hands <- wrists
)


def _f(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _mean(err: np.ndarray, mask=None) -> float:
    if mask is not None:
        mask = np.broadcast_to(np.asarray(mask, dtype=bool), err.shape)
        err = err[mask]
    return float(err.mean() * 1000.0) if err.size else float("nan")


def root_relative(x, root: int | Sequence[int] = PELVIS) -> np.ndarray:
    """Subtract the root joint (or the mean of several joints, e.g. both hips) from every joint."""
    x = _f(x)
    r = x[..., [root] if isinstance(root, int) else list(root), :].mean(-2, keepdims=True)
    return x - r


def coco17_to_smpl24_mask(occluded17) -> np.ndarray:
    """(..., 17) bool occlusion per COCO keypoint -> (..., 24) bool occlusion per SMPL-24 joint."""
    occ = np.asarray(occluded17, dtype=bool)
    out = np.empty(occ.shape[:-1] + (24,), dtype=bool)
    for j, src in enumerate(SMPL24_FROM_COCO):
        out[..., j] = occ[..., list(src)].sum(-1) * 2 >= len(src)
    return out


# ------------------------------------------------------------------------------ local accuracy
def mpjpe(pred, gt, mask=None, root: int | Sequence[int] | None = PELVIS) -> float:
    """Root-aligned MPJPE in mm (``root=None``: no alignment). ``mask`` (T, J) selects pairs."""
    p, g = _f(pred), _f(gt)
    if root is not None:
        p, g = root_relative(p, root), root_relative(g, root)
    return _mean(np.linalg.norm(p - g, axis=-1), mask)


def mpjpe_vis_occ(pred, gt, occluded, root=PELVIS) -> dict[str, float]:
    """MPJPE (all), MPJPE-vis and MPJPE-occ in mm. ``occluded``: (T, 24) bool, or (T, 17) COCO."""
    occ = np.asarray(occluded, dtype=bool)
    if occ.shape[-1] == 17:
        occ = coco17_to_smpl24_mask(occ)
    return {"mpjpe": mpjpe(pred, gt, None, root), "mpjpe_vis": mpjpe(pred, gt, ~occ, root),
            "mpjpe_occ": mpjpe(pred, gt, occ, root)}


def similarity_align(pred, gt) -> np.ndarray:
    """Per-frame (leading dims) Umeyama similarity alignment of pred (..., J, 3) onto gt."""
    X, Y = _f(pred), _f(gt)
    mx, my = X.mean(-2, keepdims=True), Y.mean(-2, keepdims=True)
    X0, Y0 = X - mx, Y - my
    H = np.swapaxes(X0, -1, -2) @ Y0                    # (..., 3, 3)
    U, S, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(np.swapaxes(Vt, -1, -2) @ np.swapaxes(U, -1, -2)))
    d = np.where(d == 0, 1.0, d)
    D = np.ones(S.shape)
    D[..., -1] = d
    R = np.swapaxes(Vt, -1, -2) @ (D[..., :, None] * np.swapaxes(U, -1, -2))   # maps X0 -> Y0
    var = (X0 ** 2).sum((-1, -2))
    scale = (S * D).sum(-1) / np.maximum(var, 1e-12)
    return scale[..., None, None] * (X0 @ np.swapaxes(R, -1, -2)) + my


def pa_mpjpe(pred, gt, mask=None) -> float:
    """Procrustes-aligned MPJPE in mm (alignment per frame on all joints; ``mask`` selects errors)."""
    return _mean(np.linalg.norm(similarity_align(pred, gt) - _f(gt), axis=-1), mask)


def pve(pred_verts, gt_verts, pred_root=None, gt_root=None) -> float:
    """Per-vertex error in mm. Roots ((T, 3), e.g. pelvis joints) are subtracted when given; with
    none given the meshes are compared as they are."""
    p, g = _f(pred_verts), _f(gt_verts)
    if pred_root is not None:
        p = p - _f(pred_root)[..., None, :]
    if gt_root is not None:
        g = g - _f(gt_root)[..., None, :]
    return _mean(np.linalg.norm(p - g, axis=-1))


# ------------------------------------------------------------------------------ motion quality
def _valid_windows(valid, k: int):
    """(T,) frame validity -> (T-k,) validity of every window of k+1 consecutive frames."""
    if valid is None:
        return None
    v = np.asarray(valid, dtype=bool)
    out = v[: len(v) - k].copy()
    for i in range(1, k + 1):
        out &= v[i: len(v) - k + i]
    return out


def accel_error(pred, gt, valid=None, fps: float | None = None, align: str = "root") -> float:
    """Acceleration error in mm/frame^2 (mm/s^2 if ``fps``). ``valid`` (T,) bool frames: a second
    difference counts only when its three frames are valid. ``align``: "root" (local) | "none"."""
    p, g = _f(pred), _f(gt)
    if align == "root":
        p, g = root_relative(p), root_relative(g)
    ap = p[:-2] - 2 * p[1:-1] + p[2:]
    ag = g[:-2] - 2 * g[1:-1] + g[2:]
    err = np.linalg.norm(ap - ag, axis=-1)
    w = _valid_windows(valid, 2)
    val = _mean(err, None if w is None else w[:, None])
    return val * (fps ** 2 if fps else 1.0)


def jitter(pred, fps: float | None = None, valid=None) -> float:
    """Mean third-difference magnitude of the prediction, mm/frame^3 (mm/s^3 if ``fps``).
    Pass world/global joints for WHAM-style jitter, root-relative ones for local jitter."""
    p = _f(pred)
    j3 = p[3:] - 3 * p[2:-1] + 3 * p[1:-2] - p[:-3]
    w = _valid_windows(valid, 3)
    val = _mean(np.linalg.norm(j3, axis=-1), None if w is None else w[:, None])
    return val * (fps ** 3 if fps else 1.0)


def foot_contact(gt_world, fps: float = 30.0, height_tol: float = 0.05, speed_tol: float = 0.3,
                 feet: Sequence[int] = FOOT_JOINTS) -> np.ndarray:
    """(T, len(feet)) bool contact of the ground-truth foot joints (world frame, Y up, metres):
    height above the joint's own 5th-percentile height < ``height_tol`` and horizontal speed
    (central difference) < ``speed_tol`` m/s."""
    g = _f(gt_world)[:, list(feet)]
    y = g[..., 1]
    low = np.percentile(y, 5, axis=0)
    xz = g[..., [0, 2]]
    v = np.gradient(xz, axis=0) * fps if len(g) > 1 else np.zeros_like(xz)
    speed = np.linalg.norm(v, axis=-1)
    return (y - low < height_tol) & (speed < speed_tol)


def foot_sliding(pred, gt_world, contact=None, fps: float = 30.0,
                 feet: Sequence[int] = FOOT_JOINTS, **contact_kw) -> float:
    """Mean predicted foot displacement (mm per frame) while the ground-truth foot is in contact at
    both ends of the step. ``pred`` may be in any rigid frame (camera or world): displacements are
    frame-independent. ``contact``: (T, len(feet)) bool to override :func:`foot_contact`."""
    p = _f(pred)[:, list(feet)]
    c = foot_contact(gt_world, fps, feet=feet, **contact_kw) if contact is None else np.asarray(contact, bool)
    step = np.linalg.norm(p[1:] - p[:-1], axis=-1)
    return _mean(step, c[1:] & c[:-1])


# ------------------------------------------------------------------------------ global accuracy
def gmpjpe(pred, gt, align: str = "first", n_first: int = 2, mask=None) -> float:
    """Global MPJPE in mm. ``pred`` (T, J, 3) absolute joints in any frame (e.g. camera), ``gt`` in
    world. One rigid transform fitted on the first ``n_first`` frames (``align="first"``, MoRo
    GMPJPE / W-MPJPE without segments) or on all frames (``"all"``, WA-MPJPE); ``"none"``: as is."""
    p, g = _f(pred), _f(gt)
    if align != "none":
        k = len(p) if align == "all" else max(1, min(n_first, len(p)))
        R, t = rigid_fit(p[:k], g[:k])
        p = p @ R.T + t
    return _mean(np.linalg.norm(p - g, axis=-1), mask)


def rte(pred_root, gt_root, min_travel: float = 0.1) -> float:
    """Root translation error in % of the GT path length (GVHMR): whole-sequence rigid alignment
    (no scale) of the (T, 3) root trajectories, mean error / path length x 100."""
    p, g = _f(pred_root).reshape(-1, 3), _f(gt_root).reshape(-1, 3)
    travel = float(np.linalg.norm(np.diff(g, axis=0), axis=-1).sum())
    if travel < min_travel:
        return float("nan")
    R, t = rigid_fit(p, g)
    err = np.linalg.norm(p @ R.T + t - g, axis=-1)
    return float(err.mean() / travel * 100.0)


# ------------------------------------------------------------------------------ all at once
def evaluate(pred, gt, occluded=None, pred_global=None, gt_world=None, fps: float = 30.0,
             pred_verts=None, gt_verts=None) -> dict[str, float]:
    """Every applicable metric for one sequence.

    pred, gt: (T, 24, 3) joints (root-relative or absolute; they are root-aligned here) in the same
    axes (e.g. camera). occluded: (T, 24) or COCO (T, 17) bool. pred_global: (T, 24, 3) absolute
    predicted joints (camera or world frame); gt_world: (T, 24, 3) world Y-up truth (needed for
    foot contact, GMPJPE, RTE). Keys: mpjpe, mpjpe_vis, mpjpe_occ, pa_mpjpe, accel (mm/frame^2),
    jitter (mm/frame^3, of the root-relative prediction), foot_sliding, gmpjpe,
    rte, pve. Without ``pred_global`` the global metrics are nan (pass the local prediction plus
    the true root track as ``pred_global`` for an "oracle-root" foot sliding).
    """
    out: dict[str, float] = {}
    if occluded is not None:
        out.update(mpjpe_vis_occ(pred, gt, occluded))
    else:
        out["mpjpe"] = mpjpe(pred, gt)
    out["pa_mpjpe"] = pa_mpjpe(pred, gt)
    out["accel"] = accel_error(pred, gt)
    out["jitter"] = jitter(root_relative(pred))  # local: comparable for methods without a root track
    if gt_world is not None:
        if pred_global is not None:
            out["foot_sliding"] = foot_sliding(pred_global, gt_world, fps=fps)
            out["gmpjpe"] = gmpjpe(pred_global, gt_world)
            out["rte"] = rte(_f(pred_global)[:, PELVIS], _f(gt_world)[:, PELVIS])
        else:  # no global prediction: sliding / GMPJPE / RTE are undefined (nan, never 0)
            out["foot_sliding"] = out["gmpjpe"] = out["rte"] = float("nan")
    if pred_verts is not None and gt_verts is not None:
        out["pve"] = pve(pred_verts, gt_verts)
    return out
