"""The MoPO motion de-occlusion stage (MoPO §3.2): detect occluded keypoints (Eq. 1-2), lift 2D to
root-relative 3D (Eq. 3), complete the occluded joints with the motion predictor (Eq. 4-5).

- :class:`MoPO` runs one sequence; constructor switches give the MoPO Tab. 5 ablations.
- :func:`lift_tracks` is the pipeline's entry point (agreed interface).
- the benchmark rows (``mopo-*``) and the validation table live in :mod:`unveil.bench.mopo_rows`.
- :func:`speed_report` gives frames/s of detector + lifter + predictor for one track
  (``unveil bench speed`` calls it).
"""

from __future__ import annotations

import functools
import time

import numpy as np
import torch

from ..geometry import savgol_joints
from ..paths import WEIGHTS_DIR
from ..skeleton import to_coco17
from ..types import Camera, Track2D, Track3D
from . import lift as _lift
from . import lifters
from . import occlusion as _occ
from . import predict as _pred
from . import tcn
from .predict import SMPL24_FROM_COCO17, occluded_smpl24
from . import fusion
from . import image_depth
from . import image_fusion as _imf
from .fusion import keypoint_evidence
from .landmark_blend import landmark_blend
from ..skeleton import BLAZEPOSE33_TO_COCO17, COCO17_FLIP, SMPL24_FLIP


@functools.lru_cache(maxsize=None)
def _detector(mode):
    return _occ.load(mode)


@functools.lru_cache(maxsize=None)
def _predictor(n_in, n_out):
    return _pred.load(n_in, n_out)


@functools.lru_cache(maxsize=None)
def _fusion():
    return fusion.load()


class MoPO:
    """Motion de-occlusion of one person's COCO-17 keypoints.

    detector: "spatial" | "temporal" | "spatiotemporal";  lifter: a name of
    :data:`unveil.motion.lifters.LIFTERS` ("tcn": the temporal-context lifter of
    :mod:`unveil.motion.tcn`, which reads the spatio-temporal detector's output itself; "lstm";
    "dual"; ...);
    use_conf: the lifter sees the detector confidences (else all 1: "estimated poses");
    complete: run the motion predictor on occluded joints; lengths: (N, L) of the predictor;
    bidirectional: fill gaps from both ends (offline extension, see predict.complete);
    smooth: Savitzky-Golay window (frames, order 2) applied to the output, None = off;
    fusion: refine with the cross-attention fusion over the detector evidence;
    weights: the TCN lifter's weight file (name in ``unveil/weights`` or a path; None = the shipped
    :data:`unveil.motion.tcn.WEIGHTS`);
    hidden_weights: a second TCN weight file for the *hidden* joints (see :func:`gated_blend`);
    None = one lifter for all joints;
    gate_frames: width (frames) of the box filter that softens the occlusion gate;
    landmarks: BlazePose's share in the seen limb joints (:mod:`unveil.motion.landmark_blend`; used
    when the track has world landmarks, 0 = the lifter alone);
    landmarks_whole: the blend fades out below this fraction of seen limb joints in a frame;
    image_depth: the image-evidence network's share in the seen limb joints' depth relative to the
    hips (:mod:`unveil.motion.image_depth`; used when the call gets ``image_evidence``, 0 = off);
    image_depth_weights: its weight file (name in ``unveil/weights`` or a path; None = the shipped
    ``image_depth.pt``);
    image_fusion: MoPO's fusion (Eq. 6-9) over the image tokens (:mod:`unveil.motion.image_fusion`):
    its weight file (name in ``unveil/weights`` or a path), applied before the smoothing when the call
    gets ``image_evidence`` with tokens; None = off;
    mirror: test-time mirror averaging of every lifter call (:func:`mirror_average`);
    train_fps: the lifters' training frame rate; a track whose ``fps`` (call argument) is a multiple
    of it is lifted one phase at a time (:func:`phase_lift`; None = off);
    views: test-time virtual-camera averaging, (axis, degrees) pairs (:func:`view_average`; () = off).
    """

    def __init__(self, detector: str = "spatiotemporal", lifter: str = "lstm", use_conf: bool = True,
                 complete: bool = True, lengths: tuple[int, int] = (16, 8), fusion: bool = False,
                 bidirectional: bool = False, blend_tau: float | None = None, smooth: int | None = None,
                 weights: str | None = None, hidden_weights: str | None = None, gate_frames: int = 9,
                 landmarks: float = 0.0, landmarks_whole: float = 0.95, image_depth: float = 0.0,
                 image_depth_weights: str | None = None, mirror: bool = False, train_fps: float | None = None,
                 views: tuple = (), image_fusion: str | None = None):
        self.train_fps = train_fps
        self.views = tuple(tuple(v) for v in views)
        self.detector_mode, self.lifter_kind, self.use_conf = detector, lifter, use_conf
        self.weights, self.hidden_weights, self.gate_frames = weights, hidden_weights, gate_frames
        self.landmarks, self.landmarks_whole = landmarks, landmarks_whole
        self.image_depth, self.image_depth_weights = image_depth, image_depth_weights
        self.do_complete, self.lengths, self.fusion = complete, tuple(lengths), fusion
        self.bidirectional, self.blend_tau, self.smooth = bidirectional, blend_tau, smooth
        self.mirror = bool(mirror)
        self.image_fusion = image_fusion

    @torch.inference_mode()
    def __call__(self, keypoints2d: np.ndarray, camera: Camera, world_landmarks=None, image_evidence=None,
                 fps: float | None = None) -> dict:
        """``fps``: the track's frame rate (None: taken to be the training rate);
        ``image_evidence``: {"kp33": (T,33,3) BlazePose keypoints, "features": token name -> (T, ...)
        or None} for the image-depth blend and the image fusion (only read when ``image_depth`` > 0 or
        ``image_fusion`` is set)."""
        kp = np.asarray(keypoints2d, np.float32)
        T = kp.shape[0]
        if T == 0:
            return {"joints": np.zeros((0, 24, 3), np.float32), "occluded": np.zeros((0, 17), bool),
                    "occluded24": np.zeros((0, 24), bool), "confidence": np.zeros((0, 17), np.float32)}
        det = _detector(self.detector_mode)
        S2 = det(torch.from_numpy(np.ascontiguousarray(kp[..., 2]))[None])[0].numpy()
        occ17 = ~(S2 > det.threshold)
        step = frame_step(fps, self.train_fps)
        joints = self._lift(kp, camera, self.weights, step)
        if self.hidden_weights:
            hidden = self._lift(kp, camera, self.hidden_weights, step)
            joints = gated_blend(joints, hidden, occluded_smpl24(occ17), self.gate_frames)
        occ24 = occluded_smpl24(occ17)
        if self.landmarks > 0 and world_landmarks is not None and np.shape(world_landmarks) == (T, 33, 3):
            joints = landmark_blend(joints, world_landmarks, 1.0 - soft_gate(occ24, self.gate_frames), self.landmarks,
                                    self.landmarks_whole)
        if self.image_depth > 0 and image_evidence is not None:
            joints = _image_depth(joints, image_evidence, camera, 1.0 - soft_gate(occ24, self.gate_frames),
                                  self.image_depth, self.image_depth_weights)
        if self.do_complete:
            joints = _pred.complete(joints, occ24, _predictor(*self.lengths), bidirectional=self.bidirectional,
                                   blend_tau=self.blend_tau)
        if self.fusion:
            feats = _lift.features(kp, camera, use_conf=self.use_conf)[None]
            ev = keypoint_evidence(feats, torch.from_numpy(~occ17)[None], world_landmarks)
            joints = _fusion()(torch.from_numpy(joints)[None], ev)[0].numpy()
        if self.image_fusion and image_evidence is not None and image_evidence.get("features") is not None:
            feats = image_evidence["features"]
            if all(k in feats for k in ("kp", "mid")):
                joints = _imf.refine(_image_fusion_net(_weights_path(self.image_fusion)), joints,
                                     image_evidence["kp33"], camera.focal, (camera.cx, camera.cy), feats)
        if self.smooth:
            joints = savgol_joints(joints, int(self.smooth))
        return {"joints": joints.astype(np.float32), "occluded": occ17, "occluded24": occ24, "confidence": S2}

    def _lift(self, kp: np.ndarray, camera: Camera, weights: str | None, step: int = 1) -> np.ndarray:
        """The registry's lifter ``self.lifter_kind``, or the TCN with another weight file (mirror
        averaged when ``self.mirror``); ``step`` > 1: lifted at the training frame rate
        (:func:`phase_lift`)."""
        if weights is None:
            def fn(k):
                return lifters.get(self.lifter_kind, self.use_conf).lift(k, camera)
        elif self.lifter_kind != "tcn":
            raise ValueError(f"weights= picks a TCN weight file; lifter {self.lifter_kind!r} has none")
        else:
            net = tcn.load(_weights_path(weights))

            def fn(k):
                return tcn.lift(k, camera, net)
        if self.mirror:
            fn0 = fn

            def fn(k):
                return mirror_average(fn0, k, camera.cx)
        if self.views:
            fn1 = fn

            def fn(k):
                return view_average(fn1, k, camera, self.views)
        return phase_lift(fn, kp, step)


def _axis_rotation(axis: str, deg: float) -> np.ndarray:
    a = np.deg2rad(float(deg))
    c, s_ = np.cos(a), np.sin(a)
    if axis == "x":
        return np.array([[1, 0, 0], [0, c, -s_], [0, s_, c]])
    if axis == "y":
        return np.array([[c, 0, s_], [0, 1, 0], [-s_, 0, c]])
    if axis == "z":
        return np.array([[c, -s_, 0], [s_, c, 0], [0, 0, 1]])
    raise ValueError(f"view axis must be 'x', 'y' or 'z', got {axis!r}")


def view_average(lift, keypoints2d: np.ndarray, camera: Camera, views) -> np.ndarray:
    """Test-time virtual-camera averaging: the keypoints as a camera turned about its own centre by
    each rotation R of ``views`` would see them (the homography ``K R K⁻¹``), lifted, turned back
    (``Rᵀ``) and averaged with the plain lift: ``J = (L(k) + Σ_R Rᵀ L(K R K⁻¹ k)) / (1 + |views|)``.

    Args:
        lift: (T, 17, 3) pixels + confidence -> (T, 24, 3) root-relative camera-frame joints.
        keypoints2d: (T, 17, 3).
        camera: the pipeline's camera (focal, principal point).
        views: (axis, degrees) pairs; axis "x" = pitch, "y" = pan, "z" = roll.
    Returns:
        (T, 24, 3) float32.
    """
    kp = np.asarray(keypoints2d, np.float32)
    if kp.ndim != 3 or kp.shape[1:] != (17, 3):
        raise ValueError(f"view_average: keypoints2d must be (T, 17, 3), got {kp.shape}")
    K = np.asarray(camera.K, np.float64)
    Kinv = np.linalg.inv(K)
    acc = np.asarray(lift(kp), np.float64)
    for axis, deg in views:
        R = _axis_rotation(axis, deg)
        H = K @ R @ Kinv
        xh = np.concatenate([kp[..., :2].astype(np.float64), np.ones(kp.shape[:2] + (1,))], -1) @ H.T
        k2 = kp.copy()
        k2[..., :2] = (xh[..., :2] / xh[..., 2:3]).astype(np.float32)
        acc += np.asarray(lift(k2), np.float64) @ R          # row vectors: (R^T x)^T = x^T R
    return (acc / (1 + len(views))).astype(np.float32)


def frame_step(fps: float | None, train_fps: float | None) -> int:
    """How many video frames make one frame of the lifters' training rate: ``round(fps / train_fps)``
    (at least 1; 1 when either rate is unknown)."""
    if not fps or not train_fps or fps <= 0 or train_fps <= 0:
        return 1
    return max(1, int(round(float(fps) / float(train_fps))))


def phase_lift(lift, keypoints2d: np.ndarray, step: int) -> np.ndarray:
    """Lift a sequence recorded ``step`` times faster than the lifter's training rate: frames
    ``i, i + step, i + 2 step, ...`` form one sequence at the training rate for every phase
    ``i < step``; each is lifted alone and the results are put back in frame order. No frame is
    dropped or interpolated; a temporal model then sees motion at the speed (and its receptive
    field spans the time) it was trained on.

    Args:
        lift: (T, 17, 3) COCO-17 pixels + confidence -> (T, 24, 3).
        keypoints2d: (T, 17, 3).
        step: frames per training-rate frame (1: one call on the whole sequence).
    Returns:
        (T, 24, 3) float32.
    """
    kp = np.asarray(keypoints2d, np.float32)
    if kp.ndim != 3 or kp.shape[1:] != (17, 3):
        raise ValueError(f"phase_lift: keypoints2d must be (T, 17, 3), got {kp.shape}")
    step = int(step)
    if step < 1:
        raise ValueError(f"phase_lift: step must be >= 1, got {step}")
    if step == 1 or len(kp) < 2 * step:
        return np.asarray(lift(kp), np.float32)
    out = np.zeros((len(kp), 24, 3), np.float32)
    for i in range(step):
        out[i::step] = np.asarray(lift(kp[i::step]), np.float32)
    return out


def mirror_average(lift, keypoints2d: np.ndarray, cx: float) -> np.ndarray:
    """Test-time mirror averaging of a 2D -> 3D lifter (the horizontal-flip augmentation at test
    time of VideoPose3D, Pavllo et al., CVPR 2019): lift the keypoints and their mirror image about
    the principal point's vertical line (``u' = 2 c_x - u``, left and right keypoints swapped),
    mirror the second result back in the camera frame (``X' = -X``, left and right joints swapped)
    and average the two:

    ``J = ½ [ L(k) + M L(M k) ]``.

    Mirroring about ``c_x`` in the image is exactly mirroring the camera frame's X axis, so a lifter
    trained with mirrored clips sees an equally likely input; the two estimates err partly
    independently (left/right asymmetries of the network and of its training data).

    Args:
        lift: (T, 17, 3) COCO-17 pixels + confidence -> (T, 24, 3) root-relative camera-frame joints.
        keypoints2d: (T, 17, 3).
        cx: the principal point's x (pixels).
    Returns:
        (T, 24, 3) float32.
    """
    kp = np.asarray(keypoints2d, np.float32)
    if kp.ndim != 3 or kp.shape[1:] != (17, 3):
        raise ValueError(f"mirror_average: keypoints2d must be (T, 17, 3), got {kp.shape}")
    km = kp[:, list(COCO17_FLIP)].copy()
    km[..., 0] = 2.0 * float(cx) - km[..., 0]
    a = np.asarray(lift(kp), np.float32)
    b = np.asarray(lift(km), np.float32)[:, list(SMPL24_FLIP)].copy()
    b[..., 0] *= -1.0
    return (0.5 * (a + b)).astype(np.float32)


def _image_depth(joints: np.ndarray, evidence: dict, camera: Camera, visible: np.ndarray, share: float,
                 weights: str | None) -> np.ndarray:
    """Blend the limb joints' hip-relative depth towards the image-depth network's
    (:func:`unveil.motion.image_depth.depth_blend`); frames without a detection (zero tokens, or
    all-zero keypoint confidence) are left alone, and so is a track without image tokens when the
    network reads them."""
    net = _image_depth_net(_weights_path(weights))
    kp33 = np.asarray(evidence["kp33"], np.float32)
    feats = evidence.get("features")
    if net.use_tokens and (feats is None or any(k not in feats for k in image_depth.needs(net))):
        return joints
    pred = image_depth.predict(net, kp33, camera.focal, (camera.cx, camera.cy), feats)
    held = kp33[..., 2].max(-1) > 0
    if net.use_tokens:
        held &= np.abs(np.asarray(feats["kp"], np.float32)).sum((1, 2)) > 0
    return image_depth.depth_blend(joints, pred, visible, share, held)


@functools.lru_cache(maxsize=4)
def _image_depth_net(path: str | None):
    return image_depth.load(path)


@functools.lru_cache(maxsize=4)
def _image_fusion_net(path: str | None):
    return _imf.load(path)


def _weights_path(name: str | None) -> str | None:
    """A weight file name in ``unveil/weights`` (or a path) -> path string; None stays None."""
    if name is None:
        return None
    return str(WEIGHTS_DIR / name) if "/" not in str(name) else str(name)


def gated_blend(visible: np.ndarray, hidden: np.ndarray, occluded24: np.ndarray, frames: int = 9) -> np.ndarray:
    """Per joint and frame, take ``hidden``'s estimate where the joint is hidden and ``visible``'s
    where it is seen, through a soft gate (the occlusion mask box-filtered over ``frames`` frames, so
    that the switch does not jump).

    ``J = g ⊙ J_hidden + (1 − g) ⊙ J_visible``, ``g_tj = mean_{|s−t| ≤ frames/2} occluded_sj``.

    Args:
        visible: (T, 24, 3) root-relative joints of the lifter used for seen joints.
        hidden: (T, 24, 3) root-relative joints of the lifter used for hidden joints.
        occluded24: (T, 24) bool, the occlusion detector's decision per SMPL-24 joint.
        frames: box-filter width (>= 1; 1 = a hard switch).
    Returns:
        (T, 24, 3) float32.
    """
    visible, hidden = np.asarray(visible, np.float32), np.asarray(hidden, np.float32)
    occ = np.asarray(occluded24, np.float32)
    if visible.shape != hidden.shape or visible.shape[:2] != occ.shape or visible.shape[-1] != 3:
        raise ValueError(f"gated_blend: shapes {visible.shape}, {hidden.shape}, {occ.shape} do not match (T,24,3)/(T,24)")
    g = soft_gate(occ, frames)[..., None]
    return (g * hidden + (1 - g) * visible).astype(np.float32)


def soft_gate(occluded: np.ndarray, frames: int = 9) -> np.ndarray:
    """(T, J) occlusion decisions -> (T, J) float32 gate in [0, 1]: the mask box-filtered over
    ``frames`` frames (edges repeated; 1 = a hard gate)."""
    occ = np.asarray(occluded, np.float32)
    k = max(1, int(frames))
    if k > 1 and len(occ) > 1:
        pad = np.pad(occ, ((k // 2, k - 1 - k // 2), (0, 0)), mode="edge")
        c = np.cumsum(np.concatenate([np.zeros((1, occ.shape[1]), np.float32), pad]), 0)
        occ = (c[k:] - c[:-k]) / k
    return occ.astype(np.float32)


def confidence24(S2: np.ndarray) -> np.ndarray:
    """(..., 17) detector output S'' -> (..., 24) per-joint confidence in [0, 1] (the mean of the
    COCO-17 points each SMPL-24 joint maps to; the hips for joints without one)."""
    out = np.ones(S2.shape[:-1] + (24,), np.float32)
    for j, src in enumerate(SMPL24_FROM_COCO17):
        out[..., j] = np.clip(S2[..., list(src or (11, 12))].mean(-1), 0, 1)
    return out


def lift_tracks(tracks: list[Track2D], camera: Camera, model: MoPO | None = None,
                fps: float | None = None) -> list[Track3D]:
    """Agreed interface: 2D tracks (coco17 or blazepose33) -> root-relative 3D tracks (SMPL-24).

    ``Track3D.occluded`` is per keypoint of the *track's own* layout: for COCO-17 (and the 17
    BlazePose points that map to it) it is the detector's decision; BlazePose's other 16 points
    use Eq. 1 alone (smoothed confidence > 0.6).
    """
    model = model or MoPO(**DEFAULT)
    out = []
    for tr in tracks:
        kp = np.asarray(tr.keypoints, np.float32)
        kp17 = to_coco17(kp, tr.layout)
        wl = tr.world_landmarks if (model.fusion or model.landmarks > 0) else None
        ev = None
        if (model.image_depth > 0 or model.image_fusion) and tr.layout == "blazepose33":
            ev = {"kp33": kp, "features": tr.features}
        res = model(kp17, camera, world_landmarks=wl, image_evidence=ev, fps=fps)
        if tr.layout == "coco17":
            occ = res["occluded"]
        else:
            occ = ~(_occ.ema_confidence(kp[..., 2]) > _occ.THRESHOLD) if len(kp) else np.zeros(kp.shape[:2], bool)

            occ[:, list(BLAZEPOSE33_TO_COCO17)] = res["occluded"]
        out.append(Track3D(id=tr.id, frames=np.asarray(tr.frames), joints=res["joints"], occluded=occ,
                           confidence=confidence24(res["confidence"])))
    return out


# What `unveil run` uses: the temporal-context TCN lifter (it reads the spatio-temporal detector's S''
# itself) + a light Savitzky-Golay (9 frames); the motion predictor's completion did not help it on
# validation (truncation worse, lower slightly better; weights/mopo_lift_tcn.md). Since issue 12 the
# lifter for the *seen* joints is the TCN retrained on Bandai + the CMU subset + mirrors
# (weights/mopo_lift_tcn_broad.md: real video PA-MPJPE 69.4 -> 62.6 mm with the evidence fit, unseen
# CMU actor and Bandai synthetic better on every kind), and the *hidden* joints keep the Bandai-only
# TCN through the occlusion gate (gated_blend): alone, the broad lifter's hidden joints were 7 mm
# worse on rendered video with the real detector (docs/bench/cmu.md). Earlier default: {"lifter":
# "tcn", "complete": False, "smooth": 9} (row mopo-tcn-smooth); before that {"bidirectional": True,
# "blend_tau": 30.0} (row mopo-bidir-blend). Since the third session of 2026-12-07 the seen limb joints
# are also blended with BlazePose's own world landmarks (share 0.3, ramping in from 95 % of the limb joints
# seen, i.e. only where all 12 are; unveil.motion.landmark_blend): on real video the two err largely
# independently (Demo_MultiPerson, lift stage + ARTS alone: PA-MPJPE 76.3 -> 71.2 mm); on rendered video
# BlazePose's 3D is poor (the demo clip: 132 mm MPJPE), which costs the demo 0.8 mm; a gate at 80 % cost
# hidden joints of truncated bodies 5 mm (docs/fit/evidence.md). The benchmark rows (``mopo-*`` variants
# of this switch set) are in :mod:`unveil.bench.mopo_rows`.
# Issue 12 (fourth session): the seen-joint TCN is the broad TCN fine-tuned with varied body proportions
# (mopo_lift_tcn_prop.pt, weights/mopo_lift_tcn_prop.md): 0-2.7 mm better on every Bandai and CMU kind,
# Demo_MultiPerson PA 58.7 -> 58.3 mm; worse: the rendered demo's hidden joints +1.0 mm and the render
# lifter row's object MPJPE-occ +0.3 (3 clips). The detector-true noise-model fine-tunes were worse
# everywhere and are not used.
# Fifth session: both lifters' calls are mirror averaged (mirror_average): Demo_MultiPerson PA 58.3 -> 55.9 mm,
# lift alone 71.0 -> 67.0 (docs/fit/evidence.md "fifth session").
# Sixth session: the seen-joint TCN is the same recipe with the DeepMimic clips in the mix
# (mopo_lift_tcn_prop_dm.pt, weights/mopo_lift_tcn_prop_dm.md): better on every synthetic set (DeepMimic,
# Bandai, CMU) and the render benchmark; Demo_MultiPerson (all 757 samples the new front end scores)
# PA 59.3 -> 59.3, MPJPE 101.2 -> 100.1, lift alone 72.8 -> 70.6; worse: limb depth 64.4 -> 65.1 mm, flips
# 6.4 -> 7.1 %, and the rendered demo's MPJPE (docs/fit/evidence.md "sixth session").
# Seventh session (not the default): the same file fine-tuned 600 more steps with a pose augmentation
# (mopo_lift_tcn_prop_dm_pose.pt, row mopo-tcn-prop-dm-pose-gated-mirror; its card says why not: real video
# only 0.1-0.6 mm PA better, a validation clip 7 mm and the demo's hidden joints 4.7 mm worse). The
# frame-rate phases (train_fps) and the virtual-camera views are options, off: on real video they moved the
# lift-alone PA by -0.6 / -0.5 mm but not the default pipeline (docs/bench/multiview.md "Seventh session").
DEFAULT = {"lifter": "tcn", "complete": False, "smooth": 9, "weights": "mopo_lift_tcn_prop_dm.pt",
           "hidden_weights": "mopo_lift_tcn.pt", "landmarks": 0.3, "landmarks_whole": 0.95, "mirror": True}


# ---------------------------------------------------------------------------------------- speed
def speed_report(frames: int = 3000, occluded_fraction: float = 0.25, seed: int = 0) -> dict:
    """Frames/s of detector + lifter + predictor for one track on this CPU (synthetic input:
    a walking-sized random pose sequence; a leg is hidden for 1 s at a time, ``occluded_fraction`` of the frames).
    Wall-clock ``frames_per_s`` and, since dev/CI machines are often shared, ``frames_per_cpu_s``."""
    rng = np.random.default_rng(seed)
    cam = Camera(focal=1200.0, cx=960.0, cy=540.0, width=1920, height=1080)
    base = rng.uniform(-150, 150, size=(1, 17, 2)) + np.array([960.0, 540.0])
    kp = np.zeros((frames, 17, 3), np.float32)
    kp[..., :2] = base + np.cumsum(rng.normal(0, 1.0, size=(frames, 17, 2)), axis=0) * 0.2
    kp[..., 2] = rng.uniform(0.7, 1.0, size=(frames, 17))
    period = int(round(30 / max(occluded_fraction, 1e-3)))
    hidden = (np.arange(frames) % period) < 30  # 1-s occlusions, occluded_fraction of the time
    kp[np.ix_(hidden, [13, 15], [2])] = 0.1
    model = MoPO(**DEFAULT)  # what `unveil run` does, stage by stage
    with torch.inference_mode():
        model(kp[:64], cam)  # warm-up / weight loading
        c0, t0 = time.process_time(), time.perf_counter()
        det = _detector("spatiotemporal")
        S2 = det(torch.from_numpy(np.ascontiguousarray(kp[..., 2]))[None])[0].numpy()
        t1 = time.perf_counter()
        # (the TCN runs the detector once more itself, counted as lifter time)
        j = lifters.get(model.lifter_kind, True).lift(kp, cam)
        t2 = time.perf_counter()
        occ24 = occluded_smpl24(~(S2 > det.threshold))
        if model.do_complete:
            j = _pred.complete(j, occ24, _predictor(*model.lengths), bidirectional=model.bidirectional,
                               blend_tau=model.blend_tau)
        if model.smooth:  # counted with the completion ("predictor_fps" = everything after the lifter)
            j = savgol_joints(j, int(model.smooth))
        t3, c3 = time.perf_counter(), time.process_time()
    total = t3 - t0
    return {"frames": frames, "occluded_frames": int(occ24.any(-1).sum()),
            "detector_fps": frames / max(t1 - t0, 1e-9), "lifter_fps": frames / max(t2 - t1, 1e-9),
            "predictor_fps": frames / max(t3 - t2, 1e-9), "frames_per_s": frames / max(total, 1e-9),
            # CPU time of this process: what the same work costs when the CPU is not shared
            "frames_per_cpu_s": frames / max(c3 - c0, 1e-9),
            "threads": torch.get_num_threads()}
