"""Evidence fit: pull the fitted body onto the visible 2D keypoints (issue 11).

After lifting, completion, ARTS fitting and the trajectory prior, the body agrees with the *lifted*
3D joints, not with the image: nothing so far moved a visible limb to where the detector saw it.
This stage re-optimises the local rotations θ_t (axis-angle, starting at the ARTS fit) and the root
translation τ_t of every frame (the body shape β stays the ARTS one unless ``fit_shape``) by
minimising, per track and over all its frames,

    E = λ_2d  Σ_tk w_tk ρ(max(0, ‖π(K_k(θ_t) + τ_t) − x_tk‖ / s_t − δ))   (visible pixels)
      + λ_rot Σ_tj (1 − o_tj) ‖θ_t,p(j) − θ⁰_t,p(j)‖² / σ_rot²          (a hidden bone keeps the prior's rotation)
      + λ_dep Σ_tk ŵ_tk (z_tk − z*_tk)² / σ_dep²                      (relative depth)
      + λ_θ   Σ_t E_GMM(θ_t) / D                                       (learned pose prior)
      + λ_acc Σ_tj ‖J̈_tj‖² / σ_acc²   + λ_foot Σ_t c_t ‖Δ foot_t‖² / σ_foot²
      + λ_τ   Σ_t (τ_t,z − τ⁰_t,z)² / (σ_τ τ⁰_t,z)²

with ``K_k`` the body's COCO-17 keypoints (:func:`body_keypoints`: a point fixed on a body segment
per keypoint, offsets calibrated on where the real detector puts them, :func:`load_offsets`),
``x_tk`` the detected keypoints, ``w_tk`` = confidence × (1 − occluded) of MoPO's occlusion
detector (optionally × a lower weight where the incoming body's own parts hide the keypoint from the
camera, :mod:`unveil.fit.self_occlusion`, ``EvidenceConfig.self_occlusion``; off by default: such
keypoints are only reported as not observed; so are keypoints on another person's pixels,
``Track2D.extras["covered"]``, and keypoints beyond the image border: giving them weight 0 made real
and rendered video worse, the detector's guesses there beat the prior's), ``s_t`` the person's projected height in pixels, δ a dead zone at the detector's noise
level, ``ρ`` the Geman–McClure robust function (SMPLify, Bogo et al. 2016, Eq. 3 uses it for the
same term), ``o_tj`` ∈ [0, 1] how much joint j is observed, ``p(j)`` the joint whose rotation
orients bone j, ``θ⁰`` the incoming pose (the prior's decision for hidden parts: MoPO / MoRo / the
lifter), ``z`` keypoint depths relative to the hip centre with the target ``z*`` = the blend of
the incoming (lifted) depth and BlazePose's own world landmarks (``depth_blazepose``), ``c_t``
foot contacts (feet slow in the incoming motion), and ``E_GMM`` the negative log density of
:mod:`unveil.fit.pose_prior`. The root is first solved in closed form (:func:`solve_root`), then
everything by Adam on the CPU; all tracks of a video share one optimisation with every term
normalised per track (:func:`fit_tracks`). The energy's gradient is written out term by term
(``EvidenceConfig.closed_form_grad``; the pose chain's backward in :mod:`unveil.fit.pose_points`),
about twice as fast as autograd for the same derivatives. :class:`EvidenceConfig` holds every
weight; measured effects in ``docs/fit/evidence.md``.

Outputs per track: the refitted parameters and joints, ``keypoints3d_body`` (T,17,3) camera-frame
COCO-17 keypoints of the body, and per SMPL-24 joint whether it was ``observed`` (a visible 2D
keypoint drives it, not hidden by an object, the frame edge or the body itself) or inferred, with a
confidence.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import roma
import torch

from ..paths import WEIGHTS_DIR
from ..runtime import torch_threads, trim_heap
from ..skeleton import SMPL24_PARENTS, BLAZEPOSE33_TO_COCO17, SMPL24_INDEX as JI, forward_kinematics, to_coco17
from ..types import BodyTrack, Camera, Track2D, Track3D
from .ik import rotmats_to_axis_angle
from .pose_points import KEYPOINT_ANCHOR, KEYPOINT_FRAME, body_keypoints, pose_backward, pose_forward, pose_points
from .pose_prior import PRIOR_JOINTS, load_pose_prior, pose_features
from .self_occlusion import self_occluded
from ..motion.occlusion import out_of_frame
from ..skeleton import COCO17_TO_SMPL24

# face points in the head joint's frame of the body model's rest pose (x = body's left, y up,
# z forward), metres: the body model's own face (unveil.data.corpus.FACE_OFFSETS_BODY, measured on
# the mesh; order nose, l_eye, r_eye, l_ear, r_ear)
FACE_REST_OFFSETS = np.array([
    [0.000, 0.032, 0.087],
    [0.020, 0.054, 0.059],
    [-0.020, 0.054, 0.059],
    [0.063, 0.014, -0.013],
    [-0.063, 0.014, -0.013],
], dtype=np.float32)
# which COCO-17 keypoints observe each SMPL-24 joint (as unveil.motion.predict.SMPL24_FROM_COCO17, and
# the pelvis is observed through the hips)
OBSERVED_BY: tuple[tuple[int, ...], ...] = (
    (11, 12), (11,), (12,), (11, 12), (13,), (14,), (5, 6, 11, 12), (15,), (16,), (5, 6), (15,), (16,),
    (5, 6), (5,), (6,), (0, 1, 2, 3, 4), (5,), (6,), (7,), (8,), (9,), (10,), (9,), (10,),
)


@dataclass(frozen=True)
class EvidenceConfig:
    """Weights and schedule of the evidence fit (see the module docstring for the terms)."""

    iters: int = 120
    lr: float = 0.02
    w_2d: float = 1.0
    gm_sigma: float = 0.05          # Geman-McClure scale, fraction of the person's height
    dead_zone: float = 0.01         # residuals below this fraction of the height cost nothing (detector noise)
    w_hidden: float = 0.0           # positional anchor of hidden joints (off: w_hidden_rot does it better)
    sigma_hidden: float = 0.05      # m
    w_hidden_rot: float = 1.0
    sigma_hidden_rot: float = 0.2   # rad
    w_depth: float = 0.2
    sigma_depth: float = 0.05       # m
    w_prior: float = 0.002
    w_accel: float = 0.02
    sigma_accel: float = 0.01       # m / frame²
    w_foot: float = 0.01
    sigma_foot: float = 0.005       # m / frame
    w_root_depth: float = 0.05
    sigma_root_depth: float = 0.05  # fraction of the depth
    fit_shape: bool = False         # optimise the shared shape too (off: the ARTS bone-length shape stays;
                                    # freeing it trades body size against depth: demo MPJPE-vis +4 mm)
    w_shape: float = 0.01
    min_weight: float = 0.2         # a keypoint with w below this counts as not observed
    min_conf: float = 0.0           # keypoints with a weight below this are not fitted at all
    threads: int = 1
    depth_blazepose: float = 0.5     # share of BlazePose's world-landmark depth in the depth target
    root_solve: bool = True         # closed-form root before the joint optimisation
    root_depth_weight: float = 0.1  # its pull towards the incoming root depth (vs the 2D rows)
    root_solver: str = "smooth"      # "frame": per-frame LS held near the incoming depth; "smooth": all
                                     # frames, smoothness prior, IRLS, depth from the 2D
    calibrated_offsets: bool = True  # use weights/keypoint_offsets_blazepose.npz when present
    shoulder_lateral: float | None = 0.0  # outward offset (m) of the shoulder keypoints from the joints, replacing
                                    # the rendered-video calibration's -0.025 (inwards), which made real people's
                                    # shoulders ~18 % too narrow (docs/fit/evidence.md); None = as calibrated;
                                    # applies to the calibrated offsets only
    closed_form_grad: bool = True   # the energy's gradient in closed form (the same derivatives, ~3x cheaper per
                                    # step, docs/fit/evidence.md "Speed"); False: autograd (the reference);
                                    # fit_shape always uses autograd
    self_occlusion: float | None = 1.0  # weight kept in the 2D term by a keypoint the body's own parts hide
                                    # from the camera (unveil.fit.self_occlusion, decided on the incoming 3D
                                    # body; the closed-form root solve always uses it): such a keypoint is never
                                    # reported "observed"; 1.0 = fitted as before (flags only: the default,
                                    # 0 and 0.5 did not win on every benchmark, docs/fit/evidence.md), 0 = fitted
                                    # as hidden; None = no self-occlusion test
    chunk: int = 1024               # frames per autograd span: the gradient of the energy is accumulated
                                    # span by span (same optimisation; memory bounded whatever the length);
                                    # 0: all frames in one graph


def keypoint_weights(track2d: Track2D, track3d: Track3D | None, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 pixels (T,17,2) and evidence weights (T,17) = confidence × (1 − occluded) at ``frames``."""
    kp = to_coco17(np.asarray(track2d.keypoints, np.float32), track2d.layout)
    sel = np.clip(np.searchsorted(np.asarray(track2d.frames), np.asarray(frames)), 0, len(track2d.frames) - 1)
    kp = kp[sel]
    w = np.clip(np.nan_to_num(kp[..., 2]), 0.0, 1.0)
    if track3d is not None and track3d.occluded is not None:
        occ = np.asarray(track3d.occluded, bool)
        if occ.shape[-1] == 33:
            occ = occ[..., list(BLAZEPOSE33_TO_COCO17)]
        if occ.shape == w.shape:
            w = w * (~occ)
    xy = np.nan_to_num(kp[..., :2])
    return xy.astype(np.float32), w.astype(np.float32)


def covered_keypoints(track2d: Track2D, frames: np.ndarray) -> np.ndarray:
    """(T,17) bool at ``frames``: COCO-17 keypoints the front end found on another person's pixels
    and not on the person's own (``extras["covered"]``, :func:`unveil.detect.blazepose.covered_by_others`);
    all False for tracks without the flag."""
    cov = (track2d.extras or {}).get("covered")
    frames = np.asarray(frames)
    if cov is None or track2d.layout != "blazepose33" or np.shape(cov)[1:] != (33,):
        return np.zeros((len(frames), 17), bool)
    sel = np.clip(np.searchsorted(np.asarray(track2d.frames), frames), 0, len(track2d.frames) - 1)
    return (np.asarray(cov, np.float64)[sel][:, list(BLAZEPOSE33_TO_COCO17)] > 0.5)


def observed_joints(w17: np.ndarray, min_weight: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """(T,17) keypoint evidence weights -> observed (T,24) bool and confidence (T,24) in [0,1].

    A joint is observed when the mean weight of the keypoints that see it (:data:`OBSERVED_BY`)
    reaches ``min_weight``; its confidence is that mean weight.
    """
    w17 = np.asarray(w17, np.float32)
    conf = np.stack([w17[..., list(src)].mean(-1) for src in OBSERVED_BY], -1)
    return conf >= min_weight, conf


OFFSETS_FILE = "keypoint_offsets_blazepose.npz"
_PARENT_IDX = torch.tensor(SMPL24_PARENTS[1:])   # joint j >= 1 -> the joint whose rotation orients bone j
_FEET_IDX = torch.tensor((JI["L_ankle"], JI["R_ankle"], JI["L_foot"], JI["R_foot"]))


def default_offsets(rest_joints: np.ndarray, height: float) -> np.ndarray:
    """(17, 3) keypoint offsets (rest-pose axes) of the synthetic renderer's COCO-17 regressor:
    limb keypoints on their joints, hips 0.9 × the hip half-width from the hip centre and 1 % of the
    body height lower, face points :data:`FACE_REST_OFFSETS` from the head joint."""
    r = np.asarray(rest_joints, np.float64)
    off = np.zeros((17, 3))
    off[:5] = FACE_REST_OFFSETS
    mid = 0.5 * (r[JI["L_hip"]] + r[JI["R_hip"]])
    for k, j in ((11, JI["L_hip"]), (12, JI["R_hip"])):
        off[k] = -0.1 * (r[j] - mid) + np.array([0.0, -0.01 * height, 0.0])
    return off.astype(np.float32)


@functools.lru_cache(maxsize=2)
def load_offsets(path: str | None = None) -> np.ndarray | None:
    """Detector-calibrated (17, 3) offsets (``weights/keypoint_offsets_blazepose.npz``), or None."""
    p = Path(path) if path else WEIGHTS_DIR / OFFSETS_FILE
    if not p.is_file():
        return None
    with np.load(p, allow_pickle=False) as z:
        off = np.asarray(z["offsets"], np.float32)
    if off.shape != (17, 3):
        raise ValueError(f"{p}: offsets must be (17, 3), got {off.shape}")
    return off


def rest_pose(model, shape: torch.Tensor) -> tuple[torch.Tensor, float]:
    """(24, 3) float32 rest joints relative to the pelvis, and the rest mesh's height (m), of ``shape``."""
    with torch.no_grad():
        verts = model.rest_vertices(shape.to(model.dtype)).float()
        rest = model.rest_joints(shape.to(model.dtype)).float()
    return rest - rest[:1], float(verts[:, 1].max() - verts[:, 1].min())


def keypoint_offsets(cfg: EvidenceConfig, rest_joints: np.ndarray, height: float) -> np.ndarray:
    """(17, 3) keypoint offsets the fit uses: the detector-calibrated ones (with ``cfg.shoulder_lateral``)
    when ``cfg.calibrated_offsets`` and the file ships, else :func:`default_offsets` of this body."""
    offsets = load_offsets() if cfg.calibrated_offsets else None
    if offsets is None:
        return default_offsets(rest_joints, height)
    if cfg.shoulder_lateral is not None:   # x = the body's left: left shoulder +, right shoulder -
        offsets = np.array(offsets, np.float32)
        offsets[5, 0], offsets[6, 0] = cfg.shoulder_lateral, -cfg.shoulder_lateral
    return offsets


def keypoints_of_body(body: BodyTrack, model, cfg: EvidenceConfig | None = None) -> np.ndarray:
    """(T, 17, 3) camera-frame COCO-17 keypoints of a body track, placed as the evidence fit places
    them (:func:`body_keypoints` with :func:`keypoint_offsets`): the ``keypoints3d_body`` of a body the
    evidence fit did not fit (``--no-evidence-fit``), so both kinds of run report the same points.

    Args:
        body: a body track (``global_orient`` (T, 3), ``body_pose`` (T, 23, 3), ``joints_cam`` (T, 24, 3),
            ``shape``).
        model: the body model (rest joints and vertices of ``body.shape``).
        cfg: the offsets' settings (default :class:`EvidenceConfig`).
    Returns:
        (T, 17, 3) float32 metres, camera frame.
    """
    cfg = cfg or EvidenceConfig()
    go, bp = np.asarray(body.global_orient, np.float32), np.asarray(body.body_pose, np.float32)
    jc = np.asarray(body.joints_cam, np.float32)
    T = len(jc)
    if go.shape != (T, 3) or bp.shape != (T, 23, 3) or jc.shape != (T, 24, 3):
        raise ValueError(f"body arrays must be (T,3), (T,23,3), (T,24,3); got {go.shape}, {bp.shape}, {jc.shape}")
    rest, height = rest_pose(model, torch.as_tensor(np.asarray(body.shape), dtype=torch.float32))
    with torch.no_grad():
        R = roma.rotvec_to_rotmat(torch.from_numpy(np.concatenate([go[:, None], bp], 1)))
        glob, _ = forward_kinematics(R, rest.expand(T, 24, 3))
        kp = body_keypoints(glob, torch.from_numpy(jc), keypoint_offsets(cfg, rest.numpy(), height))
    return kp.numpy().astype(np.float32)


def blazepose_relative_depth(track2d: Track2D, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BlazePose's own depth of each COCO-17 keypoint relative to its hip centre (T,17) metres
    (world landmarks: hip-centred, z away from the camera) and (T,) whether the frame has them."""
    T = len(frames)
    wl = track2d.world_landmarks
    if wl is None or np.asarray(wl).shape[-2:] != (33, 3):
        return np.zeros((T, 17), np.float32), np.zeros(T, bool)
    sel = np.clip(np.searchsorted(np.asarray(track2d.frames), np.asarray(frames)), 0, len(track2d.frames) - 1)
    z = np.asarray(wl, np.float64)[sel][..., list(BLAZEPOSE33_TO_COCO17), 2]
    rel = z - 0.5 * (z[:, 11] + z[:, 12])[:, None]
    ok = np.isfinite(rel).all(-1)
    return np.nan_to_num(rel).astype(np.float32), ok


def solve_root(kp_rel: np.ndarray, xy: np.ndarray, w: np.ndarray, camera: Camera, tau0: np.ndarray,
               depth_weight: float = 0.1) -> np.ndarray:
    """Per-frame root translation that best reprojects the body's keypoints onto the detections.

    Weighted linear least squares of the projection equations ``(P + τ)_x − x (P + τ)_z = 0`` (and
    y), ``x, y`` the normalised detections, plus a row ``λ (τ_z − τ⁰_z) = 0`` with
    ``λ = depth_weight × Σ w``, so that depth moves only as far as the 2D demands.

    Args:
        kp_rel: (T, K, 3) body keypoints relative to the root (camera axes); xy: (T, K, 2) pixels;
        w: (T, K) weights; tau0: (T, 3) the incoming root.
    Returns:
        (T, 3) root translations (``tau0`` where a frame has fewer than 2 weighted keypoints).
    """
    P = np.asarray(kp_rel, np.float64)
    x = (np.asarray(xy, np.float64)[..., 0] - camera.cx) / camera.focal
    y = (np.asarray(xy, np.float64)[..., 1] - camera.cy) / camera.focal
    w = np.asarray(w, np.float64)
    T = len(P)
    A = np.zeros((T, 3, 3))
    b = np.zeros((T, 3))
    for coord, axis in ((x, 0), (y, 1)):
        row = np.zeros(P.shape[:2] + (3,))
        row[..., axis] = 1.0
        row[..., 2] = -coord
        rhs = coord * P[..., 2] - P[..., axis]
        A += np.einsum("tk,tki,tkj->tij", w, row, row)
        b += np.einsum("tk,tki,tk->ti", w, row, rhs)
    lam = depth_weight * w.sum(1)
    A[:, 2, 2] += lam
    b[:, 2] += lam * np.asarray(tau0, np.float64)[:, 2]
    ok = (w > 0).sum(1) >= 2
    out = np.asarray(tau0, np.float64).copy()
    if ok.any():
        out[ok] = np.linalg.solve(A[ok], b[ok][..., None])[..., 0]
    return out.astype(np.float32)


ROOT_CHUNK = 1024  # frames per step of solve_root_smooth's residuals


def solve_root_smooth(kp_rel: np.ndarray, xy: np.ndarray, w: np.ndarray, camera: Camera, height: float,
                      irls: int = 3, sigma: float = 0.05, smooth: float = 1.0) -> np.ndarray:
    """Root translations (T, 3) of one track from all its frames at once: the projection equations
    of the body's 12 limb keypoints plus a second-difference smoothness prior
    (:func:`unveil.trajectory.camera.root_translation`), re-weighted ``irls`` times by the
    Geman–McClure weight of each keypoint's residual (σ = ``sigma`` × the person's height), so that
    2D outliers do not move the root; depth comes from the 2D (the body's size is known).

    Args:
        kp_rel: (T, 17, 3) body keypoints relative to the root (camera axes); xy: (T, 17, 2) pixels;
        w: (T, 17) weights; height: the body's standing height (m).
    Returns:
        (T, 3) float32 root translations.
    """
    from ..trajectory.camera import root_from_rows  # deferred: loads scipy

    if np.ndim(kp_rel) != 3 or np.shape(kp_rel)[1:] != (17, 3) or np.shape(xy) != np.shape(kp_rel)[:2] + (2,) \
            or np.shape(w) != np.shape(kp_rel)[:2]:
        raise ValueError(f"kp_rel (T,17,3), xy (T,17,2) and w (T,17) expected, got {np.shape(kp_rel)}, "
                         f"{np.shape(xy)}, {np.shape(w)}")
    # root_translation's rows: its 12 body keypoints (the others do not enter), normalised
    # coordinates, weights below 1e-3 dropped; the root of all frames by the banded solve (O(T) memory)
    body = [k for k, j in enumerate(COCO17_TO_SMPL24) if j >= 0]
    X = np.asarray(kp_rel)[:, body]                                    # (T,12,3), float64 per chunk below
    xy = np.asarray(xy)[:, body]                                       # (T,12,2)
    w = np.asarray(w)[:, body].astype(np.float64)
    xn = (xy[..., 0].astype(np.float64) - camera.cx) / camera.focal
    yn = (xy[..., 1].astype(np.float64) - camera.cy) / camera.focal
    T = len(X)
    ww = w
    tau = None
    for it in range(irls + 1):
        tau = root_from_rows(X, xn, yn, np.where(ww >= 1e-3, ww, 0.0), smooth=smooth)
        if it == irls:
            break
        ww = np.empty_like(w)
        for a in range(0, T, ROOT_CHUNK):   # the residuals' float64 temporaries ROOT_CHUNK frames at a time
            sl = slice(a, a + ROOT_CHUNK)
            Xc = X[sl].astype(np.float64) + tau[sl, None]
            proj = Xc[..., :2] / np.maximum(Xc[..., 2:3], 0.05) * camera.focal + [camera.cx, camera.cy]
            s = camera.focal * height / np.maximum(tau[sl, 2:3], 0.3)
            r2 = (np.linalg.norm(proj - xy[sl].astype(np.float64), axis=-1) / s) ** 2
            ww[sl] = w[sl] * sigma ** 2 / (r2 + sigma ** 2)
    return np.asarray(tau, np.float32)


def _gm(r2: torch.Tensor, sigma: float) -> torch.Tensor:
    s2 = sigma * sigma
    return s2 * r2 / (r2 + s2) / s2   # in [0, 1)


def fit_track(body: BodyTrack, track2d: Track2D, track3d: Track3D | None, camera: Camera, model,
              cfg: EvidenceConfig = EvidenceConfig(), prior=None) -> tuple[BodyTrack, dict]:
    """Refit one track's pose and root to its visible 2D keypoints (:func:`fit_tracks` for one).

    Args:
        body: the incoming fit (camera frame; ``joints_cam`` = body joints + ``transl``).
        track2d: the detector's keypoints (matched by id); track3d: the lift stage's record, for
            its occlusion flags (None: confidences alone).
        camera: pinhole intrinsics; model: the body model (:class:`unveil.body.base.BodyModel`).
    Returns:
        (the refitted :class:`BodyTrack` with ``keypoints3d_body``, ``observed`` and
        ``observed_weight`` set, diagnostics dict).
    """
    out, diags = fit_tracks([(body, track2d, track3d)], camera, model, cfg, prior)
    return out[0], diags[0]


def _prepare(body: BodyTrack, track2d: Track2D, track3d: Track3D | None, camera: Camera, model,
             cfg: EvidenceConfig) -> dict:
    """Per-track constants of the fit (numpy / torch, frames first)."""
    f32 = torch.float32
    frames = np.asarray(body.frames)
    T = len(frames)
    xy, w = keypoint_weights(track2d, track3d, frames)
    w = np.where(w >= cfg.min_conf, w, 0.0).astype(np.float32)
    beta0 = torch.as_tensor(np.asarray(body.shape), dtype=f32)
    rest, height = rest_pose(model, beta0)
    offsets = keypoint_offsets(cfg, rest.numpy(), height)
    self_occ = np.zeros(w.shape, bool)
    w_root = w                                      # the closed-form root solve weighs every keypoint as detected
    if cfg.self_occlusion is not None:
        self_occ = incoming_self_occlusion(body, rest, torch.as_tensor(np.asarray(offsets), dtype=f32), height)
        if cfg.self_occlusion != 1.0:
            w = np.where(self_occ, w * np.float32(cfg.self_occlusion), w).astype(np.float32)
    _, conf = observed_joints(w, cfg.min_weight)       # how much the fit treats each joint as seen
    covered = covered_keypoints(track2d, frames)   # behind another person: reported as inferred, still fitted
    cut = out_of_frame(xy, camera.width, camera.height)   # beyond the image border: the same
    obs, obs_conf = observed_joints(np.where(self_occ | covered | cut, 0.0, w).astype(np.float32), cfg.min_weight)  # reported
    J0c = torch.as_tensor(np.asarray(body.joints_cam), dtype=f32)
    feet = J0c.index_select(1, _FEET_IDX)
    fv = torch.zeros(T, 4)
    if T > 1:
        fv[1:] = (feet[1:] - feet[:-1]).norm(dim=-1)
    bp_rel, bp_ok = blazepose_relative_depth(track2d, frames)
    return {"T": T, "xy": xy, "w": w, "w_root": w_root, "obs": obs, "conf": conf, "obs_conf": obs_conf,
            "self_occ": self_occ, "covered": covered, "cut": cut, "beta0": beta0, "height": height,
            "rest": rest, "offsets": torch.as_tensor(np.asarray(offsets), dtype=f32),
            "theta0": torch.cat([torch.as_tensor(np.asarray(body.global_orient), dtype=f32)[:, None],
                                 torch.as_tensor(np.asarray(body.body_pose), dtype=f32)], 1),
            "tau0": torch.as_tensor(np.asarray(body.transl), dtype=f32), "J0c": J0c,
            "contact": (fv < 0.006).float(),                 # feet slow in the incoming motion (< 0.18 m/s at 30 fps)
            "bp_rel": bp_rel, "bp_ok": bp_ok}


def incoming_self_occlusion(body: BodyTrack, rest: torch.Tensor, offsets: torch.Tensor, height: float,
                            chunk: int = 1024) -> np.ndarray:
    """(T,17) bool: the COCO-17 keypoints of the incoming body (``body``'s pose, root and ``rest`` joints
    with ``offsets``) that its own parts hide from the camera (:func:`unveil.fit.self_occlusion.self_occluded`).

    Args:
        body: the track's body before the evidence fit (``global_orient`` (T,3), ``body_pose`` (T,23,3),
            ``transl`` (T,3), camera frame).
        rest: (24,3) rest joints, root at the origin; offsets: (17,3) keypoint offsets; height: metres.
    """
    theta = torch.cat([torch.as_tensor(np.asarray(body.global_orient), dtype=torch.float32)[:, None],
                       torch.as_tensor(np.asarray(body.body_pose), dtype=torch.float32)], 1)
    tau = torch.as_tensor(np.asarray(body.transl), dtype=torch.float32)
    out = np.zeros((len(theta), 17), bool)
    with torch.no_grad():
        for lo in range(0, len(theta), chunk):
            hi = min(lo + chunk, len(theta))
            _, pos, kp = pose_points(theta[lo:hi], rest.expand(hi - lo, 24, 3), offsets)
            t = tau[lo:hi, None]
            out[lo:hi] = self_occluded((pos + t).numpy(), (kp + t).numpy(), height)
    return out


def fit_tracks(items: list[tuple], camera: Camera, model, cfg: EvidenceConfig = EvidenceConfig(),
               prior=None) -> tuple[list[BodyTrack], list[dict]]:
    """Refit several tracks in one optimisation (each term normalised per track, so every track's
    parameters follow its own energy exactly as if fitted alone; one optimiser step then costs
    little more for N people than for one, its cost being mostly per-operation overhead).

    Args:
        items: ``(body, track2d, track3d)`` per track (see :func:`fit_track`).
    Returns:
        (refitted bodies, diagnostics per track).
    """
    t_start, c_start = time.perf_counter(), time.process_time()
    f32 = torch.float32
    P = [_prepare(b, t2, t3, camera, model, cfg) for b, t2, t3 in items]
    n = len(P)
    Ts = [p["T"] for p in P]
    seg = torch.cat([torch.full((T,), i, dtype=torch.long) for i, T in enumerate(Ts)])     # (N,) track of each frame
    N = int(sum(Ts))
    # the tracks' per-frame arrays, concatenated; each track's own copy is dropped once it is in (memory
    # on a long video: one copy of every per-frame input)
    cat = lambda k: torch.cat([torch.as_tensor(p.pop(k)) for p in P])  # noqa: E731
    xy_np = np.concatenate([p.pop("xy") for p in P])
    shared_w = all(p["w_root"] is p["w"] for p in P)
    w_np = np.concatenate([p.pop("w") for p in P])
    w_root = w_np if shared_w else np.concatenate([p["w_root"] for p in P])
    for p in P:
        p.pop("w_root")
    xy, w = torch.as_tensor(xy_np), torch.as_tensor(w_np)
    conf = torch.as_tensor(np.concatenate([p.pop("conf") for p in P]), dtype=f32)
    o = torch.clamp(conf / max(cfg.min_weight, 1e-6), 0.0, 1.0)                             # (N,24)
    theta0, tau0, J0c = cat("theta0"), cat("tau0"), cat("J0c")
    beta0 = torch.stack([p["beta0"] for p in P])                                            # (n,S)
    # per track; a span's frames take theirs by index (frame_rest / frame_offsets: no (N, ...) copy)
    rest_by_track = torch.stack([p["rest"] for p in P])                                    # (n,24,3)
    offsets_by_track = torch.stack([p["offsets"] for p in P])                              # (n,17,3)
    height = torch.tensor([p["height"] for p in P], dtype=f32)[seg]
    K = torch.tensor([camera.focal, camera.focal], dtype=f32)
    c = torch.tensor([camera.cx, camera.cy], dtype=f32)
    z0 = tau0[:, 2].clamp_min(0.3)
    scale = (camera.focal * height / z0)[:, None]                                           # (N,1) px
    # per-track normalisers (each term is a per-track mean, summed over tracks)
    T_f = torch.tensor(Ts, dtype=f32)
    inv_T = (1.0 / T_f)[seg]
    w_sum = torch.stack([w[seg == i].sum().clamp_min(1.0) for i in range(n)])[seg]
    wz = w / torch.stack([w[seg == i].mean().clamp_min(1e-6) for i in range(n)])[seg][:, None]
    same = seg[1:] == seg[:-1]                                                              # (N-1,) pairs inside a track
    trip = same[1:] & same[:-1]                                                             # (N-2,) triples inside a track
    inv_trip = (1.0 / (T_f - 2).clamp_min(1.0))[seg[1:-1]] * trip
    contact = cat("contact")
    cpair = contact[1:] * contact[:-1] * same[:, None]                                      # (N-1,4)
    cp_sum = torch.zeros(n).index_add_(0, seg[1:], cpair.sum(-1)).clamp_min(1.0)
    inv_cp = (1.0 / cp_sum)[seg[1:]]
    bp_ok = torch.as_tensor(np.concatenate([p.pop("bp_ok") for p in P]), dtype=f32)
    bp_rel = torch.as_tensor(np.concatenate([p.pop("bp_rel") for p in P]), dtype=f32)
    starts = np.cumsum([0] + Ts)
    track_slices = [slice(int(a), int(b)) for a, b in zip(starts[:-1], starts[1:])]

    if prior is None:
        prior = load_pose_prior()
    theta = theta0.clone().requires_grad_(True)                                             # (N,24,3) axis-angle
    d_beta = torch.zeros_like(beta0, requires_grad=True)
    tau = tau0.clone().requires_grad_(True)
    params = [theta, d_beta, tau] if cfg.fit_shape else [theta, tau]
    chunk = max(int(cfg.chunk), 3) if cfg.chunk else max(N, 1)
    spans = [(lo, min(lo + chunk, N)) for lo in range(0, N, chunk)]
    wts = {"2d": cfg.w_2d, "hidden": cfg.w_hidden, "hidden_rot": cfg.w_hidden_rot, "depth": cfg.w_depth,
           "accel": cfg.w_accel, "foot": cfg.w_foot, "root_depth": cfg.w_root_depth, "shape": cfg.w_shape,
           "prior": cfg.w_prior}
    closed = cfg.closed_form_grad and not cfg.fit_shape

    def frame_rest(lo: int, hi: int) -> torch.Tensor:
        """(hi-lo, 24, 3) the fixed rest joints of frames [lo, hi) (their tracks')."""
        return rest_by_track[seg[lo:hi]]

    def frame_offsets(lo: int, hi: int) -> torch.Tensor:
        """(hi-lo, 17, 3) the keypoint offsets of frames [lo, hi)."""
        return offsets_by_track[seg[lo:hi]]

    def frame_j0(lo: int, hi: int) -> torch.Tensor:
        """(hi-lo, 24, 3) the incoming joints of frames [lo, hi), root-relative."""
        return J0c[lo:hi] - J0c[lo:hi, :1]

    with torch_threads(max(1, cfg.threads)):
        def forward(lo: int = 0, hi: int | None = None):
            """Rotations, joints and keypoints of frames [lo, hi) (all frames by default)."""
            hi = N if hi is None else hi
            if closed:   # the same values up to rounding, a closed-form backward (unveil.fit.pose_points)
                R, pos, kp = pose_points(theta[lo:hi], frame_rest(lo, hi), frame_offsets(lo, hi))
                return R, pos, kp + tau[lo:hi, None]
            R = roma.rotvec_to_rotmat(theta[lo:hi])
            if cfg.fit_shape:
                rest = model.rest_joints((beta0 + d_beta).to(model.dtype)).float()
                rest = (rest - rest[:, :1])[seg[lo:hi]]
            else:
                rest = frame_rest(lo, hi)
            glob, pos = forward_kinematics(R, rest)
            kp3 = body_keypoints(glob, pos, frame_offsets(lo, hi)) + tau[lo:hi, None]
            return R, pos, kp3

        def energy(lo: int = 0, hi: int | None = None) -> dict:
            """The terms of frames [lo, hi): the per-frame terms of those frames, the temporal terms of the
            pairs / triples that start there (the body of frames hi, hi+1 is computed for them too) and
            the shape term with the first span. Summed over spans that cover all frames once: the energy."""
            hi = N if hi is None else hi
            e = min(hi + 2, N)
            R, pos, kp3 = forward(lo, e)
            m = hi - lo
            th = theta[lo:hi]
            o_, inv = o[lo:hi], inv_T[lo:hi]
            k3 = kp3[:m]
            proj = k3[..., :2] / k3[..., 2:3].clamp_min(0.05) * K + c
            r2 = ((proj - xy[lo:hi]) ** 2).sum(-1) / scale[lo:hi] ** 2
            if cfg.dead_zone > 0:   # residuals within the detector's noise are not fitted
                r2 = torch.relu(torch.sqrt(r2 + 1e-12) - cfg.dead_zone) ** 2
            terms = {"2d": (w[lo:hi] * _gm(r2, cfg.gm_sigma) / w_sum[lo:hi, None]).sum()}
            d = pos[:m] - frame_j0(lo, hi)
            terms["hidden"] = ((1 - o_) * (d ** 2).sum(-1) * inv[:, None]).sum() / 24 / cfg.sigma_hidden ** 2
            if cfg.w_hidden_rot > 0:   # a hidden bone keeps the prior's local rotation (it follows its parent)
                dth = ((th.index_select(1, _PARENT_IDX) - theta0[lo:hi].index_select(1, _PARENT_IDX)) ** 2).sum(-1)
                terms["hidden_rot"] = ((1 - o_[:, 1:]) * dth * inv[:, None]).sum() / 23 / cfg.sigma_hidden_rot ** 2
            zr = k3[..., 2] - 0.5 * (k3[..., 11, 2] + k3[..., 12, 2])[:, None]
            terms["depth"] = (wz[lo:hi] * (zr - z_target[lo:hi]) ** 2 * inv[:, None]).sum() / 17 / cfg.sigma_depth ** 2
            Jc = pos + tau[lo:e, None]
            nt = min(hi, N - 2) - lo          # triples (t, t+1, t+2) starting in [lo, hi)
            if nt > 0:
                acc = ((Jc[2:2 + nt] - 2 * Jc[1:1 + nt] + Jc[:nt]) ** 2).sum(-1).mean(-1)
                terms["accel"] = (acc * inv_trip[lo:lo + nt]).sum() / cfg.sigma_accel ** 2
            npair = min(hi, N - 1) - lo       # pairs (t, t+1) starting in [lo, hi)
            if npair > 0:
                feet = Jc.index_select(1, _FEET_IDX)
                step = ((feet[1:1 + npair] - feet[:npair]) ** 2).sum(-1)
                terms["foot"] = (((cpair[lo:lo + npair] * step).sum(-1) * inv_cp[lo:lo + npair]).sum()
                                 / cfg.sigma_foot ** 2)
            terms["root_depth"] = ((((tau[lo:hi, 2] - tau0[lo:hi, 2]) / (cfg.sigma_root_depth * z0[lo:hi])) ** 2)
                                   * inv).sum()
            if cfg.fit_shape and lo == 0:
                terms["shape"] = (d_beta ** 2).sum()
            if prior is not None:
                terms["prior"] = (prior.nll(pose_features(th[:, 1:])) * inv).sum() / prior.dim
            return terms

        def loss_of(terms: dict) -> torch.Tensor:
            return sum(wts[k] * v for k, v in terms.items())

        # constants of the closed-form gradient (grad_of): per joint q, Σ (1 − o_j) over the bones j it orients
        hid_rot_c = (1 - o[:, 1:]) @ torch.nn.functional.one_hot(_PARENT_IDX, 24).to(f32)          # (N,24)

        def grad_of(lo: int, hi: int, g_theta: torch.Tensor, g_tau: torch.Tensor) -> None:
            """Add the gradient of ``loss_of(energy(lo, hi))`` with respect to θ and τ to ``g_theta``
            (N,24,3) and ``g_tau`` (N,3), in closed form: the same derivatives autograd takes, term by
            term, in a few whole-tensor operations (docs/fit/evidence.md "Speed"); the shape stays fixed."""
            e = min(hi + 2, N)
            m = hi - lo
            th = theta.detach()[lo:e]
            ta = tau.detach()[lo:e]
            _, glob, pos, kp = pose_forward(th, frame_rest(lo, e), frame_offsets(lo, e))
            k3 = kp[:m] + ta[:m, None]
            inv = inv_T[lo:hi]
            # 2D: Σ w ρ(r2) / Σw, r2 the dead-zoned squared residual in units of the height
            z = k3[..., 2]
            zc = z.clamp_min(0.05)
            rel = k3[..., :2] / zc[..., None] * K                          # proj - c
            diff = rel + c - xy[lo:hi]
            sc2 = scale[lo:hi] ** 2
            r2 = (diff * diff).sum(-1) / sc2
            if cfg.dead_zone > 0:
                r = torch.sqrt(r2 + 1e-12)
                u = torch.relu(r - cfg.dead_zone)
                q, dq = u * u, u / r
            else:
                q, dq = r2, 1.0
            s2 = cfg.gm_sigma ** 2
            wq = (cfg.w_2d * 2) * w[lo:hi] / w_sum[lo:hi, None] * s2 / (q + s2) ** 2 * dq / sc2       # (m,17)
            g_rel = wq[..., None] * diff                                   # d/d proj
            gk = torch.empty_like(k3)
            gk[..., :2] = g_rel * K / zc[..., None]
            gz = -(g_rel * rel).sum(-1) / zc * (z >= 0.05)
            # relative depth of the keypoints (to the hip centre)
            zr = z - 0.5 * (z[:, 11] + z[:, 12])[:, None]
            gd = (cfg.w_depth * 2 / 17 / cfg.sigma_depth ** 2) * wz[lo:hi] * (zr - z_target[lo:hi]) * inv[:, None]
            gz = gz + gd
            gz[:, 11:13] -= 0.5 * gd.sum(-1, keepdim=True)
            gk[..., 2] = gz
            g_tau[lo:hi] += gk.sum(1)
            gkp = torch.zeros_like(kp)
            gkp[:m] = gk
            # joints: hidden positions, acceleration, foot steps (Jc = joints + τ)
            Jc = pos + ta[:, None]
            gJ = torch.zeros_like(pos)
            if cfg.w_hidden != 0:
                gJ[:m] += ((cfg.w_hidden * 2 / 24 / cfg.sigma_hidden ** 2) * (1 - o[lo:hi]) * inv[:, None])[..., None] \
                    * (pos[:m] - frame_j0(lo, hi))
            g_pos_only = gJ     # the hidden term acts on the root-relative joints, not on τ
            gJc = torch.zeros_like(pos)
            nt = min(hi, N - 2) - lo
            if nt > 0 and cfg.w_accel != 0:
                d2 = Jc[2:2 + nt] - 2 * Jc[1:1 + nt] + Jc[:nt]
                ga = (cfg.w_accel * 2 / 24 / cfg.sigma_accel ** 2) * inv_trip[lo:lo + nt, None, None] * d2
                gJc[:nt] += ga
                gJc[1:1 + nt] -= 2 * ga
                gJc[2:2 + nt] += ga
            npair = min(hi, N - 1) - lo
            if npair > 0 and cfg.w_foot != 0:
                feet = Jc.index_select(1, _FEET_IDX)
                gs = ((cfg.w_foot * 2 / cfg.sigma_foot ** 2) * cpair[lo:lo + npair] * inv_cp[lo:lo + npair, None])[..., None] \
                    * (feet[1:1 + npair] - feet[:npair])
                gf = torch.zeros_like(feet)
                gf[1:1 + npair] += gs
                gf[:npair] -= gs
                gJc.index_add_(1, _FEET_IDX, gf)
            g_tau[lo:e] += gJc.sum(1)
            g_th = pose_backward(th, glob, pos, kp, g_pos_only + gJc, gkp)
            g_th[:m] += ((cfg.w_hidden_rot * 2 / 23 / cfg.sigma_hidden_rot ** 2) * hid_rot_c[lo:hi] * inv[:, None])[..., None] \
                * (th[:m] - theta0[lo:hi])
            if prior is not None and cfg.w_prior != 0:
                g_th[:m, 1:1 + len(PRIOR_JOINTS)] += (prior.nll_grad(pose_features(th[:m, 1:]))
                                                      * (cfg.w_prior / prior.dim * inv[:, None])).reshape(m, -1, 3)
            g_theta[lo:e] += g_th
            g_tau[lo:hi, 2] += (cfg.w_root_depth * 2) * (ta[:m, 2] - tau0[lo:hi, 2]) / (cfg.sigma_root_depth * z0[lo:hi]) ** 2 * inv

        def energy_report() -> dict:
            """The terms summed over all frames (no gradient), as the mean over tracks."""
            tot: dict = {}
            for lo, hi in spans:
                for k, v in energy(lo, hi).items():
                    tot[k] = tot.get(k, 0.0) + float(v)
            return {k: round(v / n, 4) for k, v in tot.items()}

        with torch.no_grad():   # the keypoints of every frame, span by span
            kp3_init_t = torch.cat([forward(lo, hi)[2] for lo, hi in spans])
        kp3_init = kp3_init_t.numpy()
        # the diagnostics of the incoming keypoints now, so that they are not held through the fit
        reproj_before = [reprojection_pct(kp3_init[sl], xy_np[sl], w_np[sl], camera, p["height"], cfg.min_weight)
                         for p, sl in zip(P, track_slices)]
        del kp3_init
        # relative depth targets of the keypoints: the lifter's (through the incoming fit), blended with
        # BlazePose's own world landmarks where they exist (shared/design/real-video-findings.md)
        lift_rel = kp3_init_t[..., 2] - 0.5 * (kp3_init_t[..., 11, 2] + kp3_init_t[..., 12, 2])[:, None]
        a = cfg.depth_blazepose * bp_ok[:, None]
        z_target = (1 - a) * lift_rel + a * bp_rel
        del lift_rel, a, bp_ok, bp_rel   # per-frame inputs used only for z_target
        with torch.no_grad():
            start = energy_report()
            if cfg.root_solve:
                # the root alone first, in closed form, so that a misplaced root is not compensated
                # by bending limbs
                kp_rel = (kp3_init_t - tau0[:, None]).numpy()
                if cfg.root_solver == "smooth":
                    parts = []
                    for p, sl in zip(P, track_slices):
                        parts.append(solve_root_smooth(kp_rel[sl], xy_np[sl], w_root[sl], camera, p["height"]))
                    tau.copy_(torch.as_tensor(np.concatenate(parts), dtype=f32))
                else:
                    tau.copy_(torch.as_tensor(solve_root(kp_rel, xy_np, w_root, camera, tau0.numpy(),
                                                         cfg.root_depth_weight), dtype=f32))
                del kp_rel
        del kp3_init_t   # (N,17,3): not needed during the optimisation
        trim_heap()      # the preparation's freed temporaries go back before the optimisation's (docs/batch.md)
        opt = torch.optim.Adam(params, lr=cfg.lr)
        for _ in range(cfg.iters):
            opt.zero_grad(set_to_none=True)
            # the gradient of the whole energy, accumulated span by span: the autograd graph holds one
            # span's frames at a time (memory bounded by cfg.chunk, not by the video's length)
            if closed:
                theta.grad, tau.grad = torch.zeros_like(theta), torch.zeros_like(tau)
                for lo, hi in spans:
                    grad_of(lo, hi, theta.grad, tau.grad)
            else:
                for lo, hi in spans:
                    loss_of(energy(lo, hi)).backward()
            opt.step()
        # the optimiser's moments and the gradient (N,24,3) each are not needed for the outputs
        del opt
        theta.grad = tau.grad = d_beta.grad = None
        with torch.no_grad():
            end = energy_report()
            # per-frame inputs of the energy only (the outputs need θ, τ, the rest joints and offsets): freed
            # with the optimiser's state before the outputs are allocated (~0.8 KB per frame)
            del conf, o, wz, z_target, theta0, hid_rot_c, cpair, contact
            trim_heap()
            # the outputs of every frame, span by span, into their arrays (no (N, 24, 3, 3) rotations)
            go, bp = np.empty((N, 3), np.float32), np.empty((N, 23, 3), np.float32)
            jc, kp3 = np.empty((N, 24, 3), np.float32), np.empty((N, 17, 3), np.float32)
            for lo, hi in spans:
                R, pos, k3 = forward(lo, hi)
                go[lo:hi], bp[lo:hi] = rotmats_to_axis_angle(R)
                jc[lo:hi] = (pos + tau[lo:hi, None]).numpy()
                kp3[lo:hi] = k3.numpy()
                del R, pos, k3

    tau_f = tau.detach().numpy().astype(np.float32)
    beta = (beta0 + d_beta).detach().numpy().astype(np.float32)
    secs, cpu = time.perf_counter() - t_start, time.process_time() - c_start
    outs, diags = [], []
    for i, ((body, _, _), p, sl) in enumerate(zip(items, P, track_slices)):
        nb = replace(body, global_orient=go[sl], body_pose=bp[sl], transl=tau_f[sl], shape=beta[i],
                     joints_cam=jc[sl], joints_world=None, keypoints3d_body=kp3[sl], observed=p["obs"],
                     observed_weight=p["obs_conf"].astype(np.float32))
        nb.notes = list(getattr(body, "notes", [])) + ["evidence fit"]  # type: ignore[attr-defined]
        outs.append(nb)
        diags.append({"id": int(body.id), "frames": p["T"],
                      "self_occluded_pct": round(100.0 * float(p["self_occ"].mean()), 2) if p["T"] else 0.0,
                      "covered_pct": round(100.0 * float(p["covered"].mean()), 2) if p["T"] else 0.0,
                      "out_of_frame_pct": round(100.0 * float(p["cut"].mean()), 2) if p["T"] else 0.0,
                      "reproj_before_pct": reproj_before[i],
                      "reproj_after_pct": reprojection_pct(kp3[sl], xy_np[sl], w_np[sl], camera, p["height"],
                                                           cfg.min_weight)})
    batch = {"tracks": n, "frames": N, "seconds": round(secs, 3), "cpu_seconds": round(cpu, 3),
             "fps_cpu": round(N / max(cpu, 1e-9), 1), "start": start, "end": end}
    for d in diags:
        d["batch"] = batch
    return outs, diags


REPROJ_CHUNK = 1024  # frames per step of reprojection_pct


def reprojection_pct(kp3: np.ndarray, xy: np.ndarray, w: np.ndarray, camera: Camera, height: float,
                     min_weight: float = 0.2) -> float:
    """Median distance (% of the person's projected height) between the projected (T,17,3)
    camera-frame keypoints and the (T,17,2) detections whose weight reaches ``min_weight``
    (the distances computed :data:`REPROJ_CHUNK` frames at a time: their float64 temporaries stay
    bounded on a long video; each frame's are the same)."""
    T = len(kp3)
    e = np.empty((T, 17), np.float64)
    for a in range(0, T, REPROJ_CHUNK):
        k = np.asarray(kp3[a:a + REPROJ_CHUNK], np.float64)
        z = np.maximum(k[..., 2], 0.05)
        proj = k[..., :2] / z[..., None] * camera.focal + np.array([camera.cx, camera.cy])
        s = camera.focal * height / np.maximum(np.median(z, axis=-1), 0.3)
        e[a:a + REPROJ_CHUNK] = np.linalg.norm(proj - xy[a:a + REPROJ_CHUNK], axis=-1) / s[:, None] * 100
    m = np.asarray(w) >= min_weight
    return float(np.median(e[m])) if m.any() else float("nan")


def evidence_tracks(bodies: list[BodyTrack], tracks2d: list[Track2D], tracks3d: list[Track3D] | None,
                    camera: Camera, model, cfg: EvidenceConfig = EvidenceConfig()) -> tuple[list[BodyTrack], list[dict]]:
    """:func:`fit_tracks` over every body with a 2D track, all in one optimisation (the others pass
    through, unobserved); returns the bodies in their order and one diagnostics dict per fitted track."""
    by2 = {t.id: t for t in tracks2d or []}
    by3 = {t.id: t for t in tracks3d or []}
    todo = [i for i, b in enumerate(bodies) if b.id in by2 and len(b.frames) > 0]
    if not todo:
        return list(bodies), []
    fitted, diags = fit_tracks([(bodies[i], by2[bodies[i].id], by3.get(bodies[i].id)) for i in todo], camera,
                               model, cfg)
    out = list(bodies)
    for i, nb in zip(todo, fitted):
        out[i] = nb
    return out, diags


__all__ = ["EvidenceConfig", "fit_track", "fit_tracks", "evidence_tracks", "body_keypoints", "observed_joints",
           "keypoint_weights", "reprojection_pct", "solve_root", "default_offsets", "load_offsets",
           "KEYPOINT_ANCHOR", "KEYPOINT_FRAME", "OFFSETS_FILE", "FACE_REST_OFFSETS", "OBSERVED_BY"]
