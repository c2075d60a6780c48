"""Mocap seen by virtual cameras: detector-like COCO-17 2D keypoints with ground truth.

Seed: MoPO §4.1 (and WHAM) train lifters on mocap projected by random virtual cameras with
synthetic 2D noise and occlusions; the benchmark protocol in shared/design/pipeline.md fixes the
numbers used here:

- Camera: static, 1920×1080, vertical FoV U(40°, 70°) -> f = (H/2)/tan(FoV/2), principal point at
  the image centre; position at azimuth U(0, 2π) around the subject's mean ground position, height
  U(0.5, 2) m, horizontal distance U(3, 8) m *plus* the subject's largest horizontal excursion from
  its mean position (so a walking subject never passes behind the camera); looking at the mean
  pelvis position. ``truncation`` re-aims it (occlusions.truncation_rotation).
- Camera profile ``"real"`` (training only, issue 12; the benchmark keeps the profile above): what
  phones, webcams and CCTV show — portrait 1080×1920 (35 %), landscape 1920×1080 (50 %) or 4:3
  640×480 (15 %); vertical FoV U(35°, 90°); horizontal distance log-uniform in [1.5, 10] m plus the
  excursion (near cameras cut the body: the frame edge hides those keypoints); elevation of the
  camera seen from the pelvis U(−20°, 60°) (height clamped to [0.2, 15] m); the subject off-centre
  (aim offset up to ±35 % of the half field of view each way); roll U(−15°, 15°). Static cameras
  (no pans or shake yet). ``"mixed"`` draws either profile with probability ½.
- 3D keypoints: ``unveil.data.corpus.coco17_3d`` (face points from the head geometry, body points =
  SMPL-24 joints via skeleton.COCO17_TO_SMPL24); a clip without corpus support falls back to the
  same mapping from ``clip.face`` and ``clip.joints``.
- Detector model: Gaussian noise σ = 1.5% of the (true) box height per coordinate, i.i.d. per
  frame; 1% outliers (a keypoint thrown N(0, 15% box height) away, confidence unchanged: the
  detector does not know); 0.5% left/right swaps per frame and limb group (arms, legs; positions only, the
  confidences stay: a confident error);
  confidences temporally smooth (AR(1) ρ=0.8 noise through the normal CDF): visible in [0.6, 1],
  hidden in [0, 0.5] unless an occlusion generator says otherwise; hidden positions drift away from
  the truth (a smooth offset growing over ~0.5 s to 5–30% of the box height, like a detector
  falling back on its pose prior) unless the generator places them (box edge, occluder's joint).

- Detector model ``noise="blazepose"`` (issue 12): instead of the hand-set model above, BlazePose's
  errors measured on rendered training-split video (:mod:`unveil.data.detector_noise`: per joint,
  visibility, body orientation and size; tails, temporal correlation, confidences, left/right
  swaps and front/back flips). Occlusion generators that place a hidden keypoint (box edge,
  occluder's joint) or set its confidence still do, with the sampled error added to the placement.
- ``proportions`` (training windows, issue 12): with this probability a window's skeleton is
  re-posed with the bone-length ratios of a random Anny phenotype (:func:`vary_proportions`).
- ``poses`` (training windows, issue 12, seventh session): with this probability a window's joint
  angles at the upper body, hips and shoulders are turned by random, slowly changing rotations
  (:func:`vary_pose`, PoseAug-like): poses the recorded clips do not hold (a leg lifted sideways).

Everything is seeded: ``make_sequence(clip, kind, seed)`` is a pure function of its arguments.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np

from ..errors import UnveilError
from ..skeleton import COCO17_TO_SMPL24, SMPL24_PARENTS, project
from ..types import Camera
from . import detector_noise
from . import occlusions as occl
from .corpus import eval_clip_names, is_eval_clip, training_clips
from ..paths import WEIGHTS_DIR, mocap_dir

KINDS = occl.KINDS
WIDTH, HEIGHT = 1920, 1080
NOISE_FRAC = 0.015
OUTLIER_P = 0.01
SWAP_P = 0.005
VIS_CONF = (0.6, 1.0)
OCC_CONF = (0.0, 0.5)
NOISE_MODELS = ("hand", "blazepose")
BONE_RATIOS = WEIGHTS_DIR / "anny_bone_ratios.npz"
_ARMS = ((5, 6), (7, 8), (9, 10))
_LEGS = ((11, 12), (13, 14), (15, 16))


@dataclass
class SynthSequence:
    name: str
    kind: str
    keypoints2d: np.ndarray   # (T, 17, 3) pixels + confidence (COCO-17), what the methods see
    occluded: np.ndarray      # (T, 17) bool ground truth
    camera: Camera
    R: np.ndarray             # (3, 3) world -> camera
    t: np.ndarray             # (3,)
    joints_cam: np.ndarray    # (T, 24, 3) metres, OpenCV camera frame
    joints_world: np.ndarray  # (T, 24, 3) metres, Y up
    fps: float
    keypoints2d_true: np.ndarray | None = None  # (T, 17, 2) noiseless projection
    info: dict = field(default_factory=dict)

    @property
    def joints_rel(self) -> np.ndarray:
        """(T, 24, 3) camera-frame joints with the pelvis at 0 (what root-relative methods predict)."""
        return self.joints_cam - self.joints_cam[:, :1]


@dataclass
class SeqInputs:
    """The only things a benchmarked method gets: no ground truth."""

    keypoints2d: np.ndarray
    camera: Camera
    fps: float
    # (T, 33, 3) the detector's own BlazePose world landmarks (NaN where missed); only sequences
    # from the real detector (``--source render``) have them, synthetic 2D has None
    world_landmarks: np.ndarray | None = None
    # the rendered video the keypoints came from (``--source render``; rows that read the image
    # itself, e.g. the image-depth rows of unveil.bench.image_depth_rows), else None
    video: str | None = None


def inputs_of(seq) -> SeqInputs:
    wl = getattr(seq, "world_landmarks", None)
    video = (getattr(seq, "info", None) or {}).get("video")
    return SeqInputs(np.array(seq.keypoints2d, dtype=np.float32, copy=True), seq.camera, float(seq.fps),
                     None if wl is None else np.array(wl, dtype=np.float32, copy=True),
                     None if video is None else str(video))


# ----------------------------------------------------------------------------------- helpers
def _rng(seed: int, name: str, kind: str) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode()), KINDS.index(kind)])


def coco17_3d(clip) -> np.ndarray:
    """(T, 17, 3) world COCO-17 positions of a clip (corpus's definition when available)."""
    try:
        from .corpus import coco17_3d as _c  # MOCAP's definition  # deferred: guarded by try

        return np.asarray(_c(clip), dtype=np.float64)
    except (ImportError, AttributeError):  # no corpus, or a stand-in clip object: same mapping
        pass
    body = np.asarray(clip.joints)[:, [j for j in COCO17_TO_SMPL24 if j >= 0]]
    return np.concatenate([np.asarray(clip.face), body], axis=1).astype(np.float64)


def look_at(cam_center: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World->camera (R, t) of an OpenCV camera at ``cam_center`` looking at ``target`` (Y up)."""
    f = target - cam_center
    f = f / np.linalg.norm(f)
    r = np.cross(f, [0.0, 1.0, 0.0])
    r = r / max(np.linalg.norm(r), 1e-9)
    d = np.cross(f, r)
    R = np.stack([r, d, f])
    return R, -R @ cam_center


CAMERA_PROFILES = ("standard", "real", "mixed")
REAL_FORMATS = ((1080, 1920, 0.35), (1920, 1080, 0.50), (640, 480, 0.15))   # width, height, probability


def sample_camera(joints_world: np.ndarray, rng, profile: str = "standard") -> tuple[Camera, np.ndarray, np.ndarray, dict]:
    """Random static camera looking at the subject (see the module docstring for the profiles).

    Args:
        joints_world: (T, 24, 3) the subject's joints (metres, Y up).
        rng: numpy Generator.
        profile: "standard" (the benchmark protocol), "real" or "mixed" (training).
    Returns:
        camera, world->camera rotation R (3, 3), translation t (3,), info dict (``center``: camera
        centre, ``fov_deg``: vertical FoV, ...).
    """
    if profile not in CAMERA_PROFILES:
        raise UnveilError(f"unknown camera profile {profile!r} (expected one of {', '.join(CAMERA_PROFILES)})")
    if profile == "real" or (profile == "mixed" and rng.random() < 0.5):
        return sample_camera_real(joints_world, rng)
    fov = np.deg2rad(rng.uniform(40.0, 70.0))
    focal = HEIGHT / 2.0 / np.tan(fov / 2.0)
    pelvis = joints_world[:, 0]
    centre = pelvis.mean(0)
    excursion = np.linalg.norm((pelvis - centre)[:, [0, 2]], axis=-1).max()
    dist = rng.uniform(3.0, 8.0) + excursion
    az = rng.uniform(0, 2 * np.pi)
    height = rng.uniform(0.5, 2.0)
    cam_c = np.array([centre[0] + dist * np.sin(az), height, centre[2] + dist * np.cos(az)])
    R, t = look_at(cam_c, centre)
    cam = Camera(focal=float(focal), cx=WIDTH / 2.0, cy=HEIGHT / 2.0, width=WIDTH, height=HEIGHT)
    return cam, R, t, {"fov_deg": float(np.rad2deg(fov)), "distance": float(dist), "height": float(height),
                       "azimuth": float(az), "center": cam_c}


def _rot(axis: int, a: float) -> np.ndarray:
    c, s_ = np.cos(a), np.sin(a)
    i, j = [(1, 2), (0, 2), (0, 1)][axis]
    m = np.eye(3)
    m[i, i], m[i, j], m[j, i], m[j, j] = c, -s_, s_, c
    return m


def sample_camera_real(joints_world: np.ndarray, rng) -> tuple[Camera, np.ndarray, np.ndarray, dict]:
    """The ``"real"`` camera profile (module docstring): phone/webcam/CCTV formats, FoV, distance,
    elevation, off-centre aim and roll. Same returns as :func:`sample_camera`."""
    fmt = REAL_FORMATS[int(rng.choice(len(REAL_FORMATS), p=[f[2] for f in REAL_FORMATS]))]
    width, height_px = fmt[0], fmt[1]
    fov = np.deg2rad(rng.uniform(35.0, 90.0))
    focal = height_px / 2.0 / np.tan(fov / 2.0)
    pelvis = joints_world[:, 0]
    centre = pelvis.mean(0)
    excursion = np.linalg.norm((pelvis - centre)[:, [0, 2]], axis=-1).max()
    dist = float(np.exp(rng.uniform(np.log(1.5), np.log(10.0)))) + excursion
    az = rng.uniform(0, 2 * np.pi)
    elev = np.deg2rad(rng.uniform(-20.0, 60.0))
    cam_h = float(np.clip(centre[1] + dist * np.tan(elev), 0.2, 15.0))
    cam_c = np.array([centre[0] + dist * np.sin(az), cam_h, centre[2] + dist * np.cos(az)])
    R, _ = look_at(cam_c, centre)
    fov_h = 2 * np.arctan(np.tan(fov / 2) * width / height_px)
    aim_yaw = rng.uniform(-0.35, 0.35) * fov_h / 2
    aim_pitch = rng.uniform(-0.35, 0.35) * fov / 2
    roll = np.deg2rad(rng.uniform(-15.0, 15.0))
    # camera-frame rotations (applied after the look-at): pitch about x, yaw about y, roll about z
    R = _rot(2, roll) @ _rot(0, aim_pitch) @ _rot(1, aim_yaw) @ R
    t = -R @ cam_c
    cam = Camera(focal=float(focal), cx=width / 2.0, cy=height_px / 2.0, width=width, height=height_px)
    return cam, R, t, {"fov_deg": float(np.rad2deg(fov)), "distance": float(dist), "height": cam_h,
                       "azimuth": float(az), "center": cam_c, "profile": "real",
                       "elevation_deg": float(np.rad2deg(elev)), "roll_deg": float(np.rad2deg(roll)),
                       "image": [width, height_px]}


def _smooth_uniform(rng, shape, rho=0.8) -> np.ndarray:
    """Temporally correlated U(0,1) noise along axis 0 (AR(1) Gaussian through the normal CDF)."""
    from scipy.special import ndtr

    z = rng.normal(size=shape)
    out = np.empty(shape)
    out[0] = z[0]
    c = np.sqrt(1 - rho ** 2)
    for i in range(1, shape[0]):
        out[i] = rho * out[i - 1] + c * z[i]
    return ndtr(out)


def _drift(mask: np.ndarray, box_h: np.ndarray, rng) -> np.ndarray:
    """(T,17,2) smooth offsets that grow inside each hidden run (zero elsewhere)."""
    T, K = mask.shape
    off = np.zeros((T, K, 2))
    for k in range(K):
        for s, e in occl.runs(mask[:, k]):
            n = e - s
            mag = rng.uniform(0.05, 0.3)
            ang = rng.uniform(0, 2 * np.pi)
            direction = np.array([np.cos(ang), np.sin(ang)])
            ramp = np.minimum(1.0, (np.arange(n) + 1) / 15.0)[:, None]
            wander = np.cumsum(rng.normal(0, 0.005, (n, 2)), axis=0)
            off[s:e, k] = (ramp * direction * mag + wander) * box_h[s:e, None]
    return off


# ------------------------------------------------------------------------------------ public
def make_sequence(clip, kind: str = "none", seed: int = 0, occluder=None, cameras: str = "standard",
                  noise: str = "hand") -> SynthSequence:
    """Detector-like 2D of ``clip`` (a corpus ``MocapClip``) seen by a random camera, with
    occlusion ``kind``. ``occluder``: the clip that walks in front for ``person``/``mixed``
    (default: this clip's own motion, time-shifted); ``cameras``: the camera profile
    (:data:`CAMERA_PROFILES`); ``noise``: the detector model (:data:`NOISE_MODELS`: "hand", the
    hand-set default, or "blazepose", the measured one). Deterministic in (clip.name, kind, seed,
    cameras, noise)."""
    if kind not in KINDS:
        raise UnveilError(f"unknown occlusion kind {kind!r} (expected one of {', '.join(KINDS)})")
    if noise not in NOISE_MODELS:
        raise UnveilError(f"unknown detector noise model {noise!r} (expected one of {', '.join(NOISE_MODELS)})")
    rng = _rng(seed, clip.name, kind)
    jw = np.asarray(clip.joints, dtype=np.float64)
    kw = coco17_3d(clip)
    if getattr(clip, "blazepose_placement", False):   # training windows: BlazePose's shoulder / hip placement
        kw = blazepose_placement(kw, jw)
    T = jw.shape[0]
    fps = float(getattr(clip, "fps", 30.0))
    cam, R, t, cam_info = sample_camera(jw, rng, cameras)
    W, H = int(cam.width), int(cam.height)

    def proj(Rm, tv, pts):
        pc = pts @ Rm.T + tv
        return project(pc, cam.focal, cam.principal_point.astype(np.float64)), pc[..., 2]

    if kind == "truncation":
        def uv_fn(Rm):
            uv, z = proj(Rm, -Rm @ cam_info["center"], kw)
            return uv, z, W, H
        R, mode = occl.truncation_rotation(uv_fn, R, np.deg2rad(cam_info["fov_deg"]), rng)
        t = -R @ cam_info["center"]
        cam_info["truncation"] = mode
    uv, depth = proj(R, t, kw)
    scene = occl.Scene(uv=uv, depth=depth, width=W, height=H, focal=cam.focal, fps=fps)
    if kind in ("person", "mixed"):
        oc = occluder if occluder is not None else SimpleNamespace(
            joints=np.roll(jw, T // 2, axis=0), face=np.roll(np.asarray(clip.face), T // 2, axis=0), name=clip.name)
        ow, pinfo = occl.place_occluder(jw, np.asarray(oc.joints, np.float64), cam_info["center"], fps, rng,
                                        extra=np.asarray(oc.face, np.float64))
        ouv, odepth = proj(R, t, ow)
        # the occluder's COCO-17: same mapping, its face points moved with its body
        ococo_w = coco17_3d(SimpleNamespace(joints=ow, face=pinfo.pop("extra"), name=getattr(oc, "name", "")))
        ocuv, _ = proj(R, t, ococo_w)
        scene.occluder = {"uv": ouv, "depth": odepth, "coco_uv": ocuv}
        cam_info["occluder"] = dict(pinfo, name=getattr(oc, "name", ""))
    occ = occl.generate(kind, scene, rng)

    # ------------------------------------------------------------------ detector model
    box = scene.box()
    box_h = np.maximum(box[:, 3] - box[:, 1], 1.0)
    mask = occ.mask
    jc = (jw @ R.T + t).astype(np.float32)
    if noise == "blazepose":
        return _blazepose_sequence(clip, kind, uv, jc, jw, occ, cam, R, t, fps, cam_info, rng)
    pos = uv + rng.normal(0, 1, uv.shape) * (NOISE_FRAC * box_h)[:, None, None]
    drift = _drift(mask, box_h, rng)
    placed = ~np.isnan(occ.pos[..., 0])
    hidden_pos = np.where(placed[..., None], np.nan_to_num(occ.pos) + rng.normal(0, 1, uv.shape)
                          * (NOISE_FRAC * box_h)[:, None, None], pos + drift)
    pos = np.where(mask[..., None], hidden_pos, pos)
    u01 = _smooth_uniform(rng, mask.shape)
    conf = np.where(mask, OCC_CONF[0] + (OCC_CONF[1] - OCC_CONF[0]) * u01,
                    VIS_CONF[0] + (VIS_CONF[1] - VIS_CONF[0]) * u01)
    conf = np.where(mask & ~np.isnan(occ.conf), np.nan_to_num(occ.conf), conf)
    outl = (rng.random(mask.shape) < OUTLIER_P) & ~mask
    pos = np.where(outl[..., None], pos + rng.normal(0, 0.15, uv.shape) * box_h[:, None, None], pos)
    for group in (_ARMS, _LEGS):
        sw = np.flatnonzero(rng.random(T) < SWAP_P)
        for a, b in group:
            pos[sw, a], pos[sw, b] = pos[sw, b].copy(), pos[sw, a].copy()  # confidences stay: a confident error
    kp = np.concatenate([pos, conf[..., None]], axis=-1).astype(np.float32)
    info = {"camera": {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in cam_info.items()},
            "occlusion": occ.info, "outliers": int(outl.sum())}
    return SynthSequence(name=clip.name, kind=kind, keypoints2d=kp, occluded=mask.copy(), camera=cam,
                         R=R.astype(np.float32), t=t.astype(np.float32), joints_cam=jc,
                         joints_world=jw.astype(np.float32), fps=fps,
                         keypoints2d_true=uv.astype(np.float32), info=info)


def _blazepose_sequence(clip, kind, uv, jc, jw, occ, cam, R, t, fps, cam_info, rng) -> SynthSequence:
    """make_sequence's tail with the measured detector model (:mod:`unveil.data.detector_noise`)."""
    mask = occ.mask
    pos, conf, ninfo = detector_noise.sample(uv, jc, mask, float(cam.height), rng)
    placed = ~np.isnan(occ.pos[..., 0])
    pos = np.where((mask & placed)[..., None], np.nan_to_num(occ.pos) + (pos - uv), pos)
    conf = np.where(mask & ~np.isnan(occ.conf), np.nan_to_num(occ.conf), conf)
    kp = np.concatenate([pos, conf[..., None]], axis=-1).astype(np.float32)
    info = {"camera": {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in cam_info.items()},
            "occlusion": occ.info, "noise": "blazepose", **ninfo}
    return SynthSequence(name=clip.name, kind=kind, keypoints2d=kp, occluded=mask.copy(), camera=cam,
                         R=R.astype(np.float32), t=t.astype(np.float32), joints_cam=jc,
                         joints_world=jw.astype(np.float32), fps=fps,
                         keypoints2d_true=uv.astype(np.float32), info=info)


# ------------------------------------------------------------------------------- proportions
_RATIOS: dict = {}


def bone_ratios(path=None) -> np.ndarray:
    """(N, 24) bone-length ratio table (``unveil/weights/anny_bone_ratios.npz``; see
    :mod:`unveil.training.proportions`)."""
    p = str(path or BONE_RATIOS)
    if p not in _RATIOS:
        try:
            with np.load(p, allow_pickle=False) as z:
                r = np.asarray(z["ratios"], np.float64)
        except (OSError, KeyError) as e:
            raise UnveilError(f"cannot read the bone-ratio table {p}: {e}") from e
        if r.ndim != 2 or r.shape[1] != 24:
            raise UnveilError(f"{p}: ratios must be (N, 24), got {r.shape}")
        _RATIOS[p] = r
    return _RATIOS[p]


def _check_joints_face(j: np.ndarray, f: np.ndarray, who: str) -> None:
    """ValueError unless ``j`` is (T, 24, 3) joints and ``f`` (T, 5, 3) face points."""
    if j.ndim != 3 or j.shape[1:] != (24, 3):
        raise ValueError(f"{who} expects (T, 24, 3) joints, got {j.shape}")
    if f.shape != (j.shape[0], 5, 3):
        raise ValueError(f"face must be ({j.shape[0]}, 5, 3), got {f.shape}")


def vary_proportions(joints: np.ndarray, face: np.ndarray, ratios: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-pose a skeleton with other bone lengths by forward kinematics.

    Every bone keeps its direction in every frame (so all joint angles are unchanged) and gets its
    length times ``ratios[j]`` (the bone ending at joint j); the pelvis stays where it was, then the
    whole clip is shifted vertically so its lowest ankle height is unchanged (feet stay on the floor).
    The face points move with the head joint.

    Args:
        joints: (T, 24, 3) SMPL-24 joints, metres, Y up.
        face: (T, 5, 3) face points (nose, eyes, ears).
        ratios: (24,) length factors (ratios[0], the root, is ignored).
    Returns:
        joints (T, 24, 3), face (T, 5, 3), float64.
    """
    j = np.asarray(joints, np.float64)
    f = np.asarray(face, np.float64)
    r = np.asarray(ratios, np.float64)
    _check_joints_face(j, f, "vary_proportions")
    if r.shape != (24,) or not np.all(np.isfinite(r)) or np.any(r[1:] <= 0):
        raise ValueError(f"ratios must be 24 positive numbers, got shape {r.shape}")
    out = np.empty_like(j)
    out[:, 0] = j[:, 0]
    for k in range(1, 24):
        p = SMPL24_PARENTS[k]
        out[:, k] = out[:, p] + r[k] * (j[:, k] - j[:, p])
    dy = j[:, [7, 8], 1].min() - out[:, [7, 8], 1].min()
    out[..., 1] += dy
    face_new = f - j[:, 15:16] + out[:, 15:16]
    return out, face_new


# Pose augmentation (issue 12, seventh session; after PoseAug, Gong et al., CVPR 2021, without its
# learned discriminator): limb subtrees turned about their root joint. Each entry: the root joint,
# the joints that turn with it, the largest angle (degrees) at the window's start; the angle then
# moves linearly by up to half that again over the window, about a fixed random axis.
POSE_GROUPS: tuple[tuple[int, tuple[int, ...], float], ...] = (
    (3, (6, 9, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23), 20.0),   # upper body about the lower spine
    (1, (4, 7, 10), 40.0), (2, (5, 8, 11), 40.0),                        # legs about the hips
    (16, (18, 20, 22), 45.0), (17, (19, 21, 23), 45.0),                  # arms about the shoulders
)
POSE_GROUP_P = 0.5   # each group of a varied window turns with this probability


def _rodrigues(axis: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """(3,) unit axis, (T,) angles (radians) -> (T, 3, 3) rotation matrices."""
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    a = np.asarray(angles, np.float64)[:, None, None]
    return np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * (k @ k)


def vary_pose(joints: np.ndarray, face: np.ndarray, rng: np.random.Generator,
              groups=POSE_GROUPS, p_group: float = POSE_GROUP_P) -> tuple[np.ndarray, np.ndarray]:
    """Pose augmentation: new joint angles at the upper body, the hips and the shoulders.

    Each group of ``groups`` turns with probability ``p_group``: its joints rotate rigidly about the
    root joint (bone lengths are kept) by an angle that goes linearly from ``a0`` ~ U(-m, m) at the
    first frame to ``a0 + U(-m/2, m/2)`` at the last (m: the group's largest angle), about one random
    axis (uniform on the sphere). Groups are applied in order (the upper body first, so the arms turn
    about the shoulders' new places); the face points move with the upper body. The whole window is
    then shifted vertically so that its lowest ankle keeps its height.

    Args:
        joints: (T, 24, 3) SMPL-24 joints, metres, Y up.
        face: (T, 5, 3) face points.
        rng: numpy Generator (the only randomness).
        groups: (root, moving joints, max degrees) triples.
        p_group: probability that a group turns.
    Returns:
        joints (T, 24, 3), face (T, 5, 3), float64.
    """
    j = np.array(joints, np.float64)
    f = np.array(face, np.float64)
    _check_joints_face(j, f, "vary_pose")
    T = j.shape[0]
    low = j[:, [7, 8], 1].min()
    for root, moving, deg in groups:
        if rng.random() >= p_group:
            continue
        axis = rng.normal(size=3)
        axis /= max(np.linalg.norm(axis), 1e-9)
        m = np.deg2rad(deg)
        a0 = rng.uniform(-m, m)
        a1 = a0 + rng.uniform(-m / 2, m / 2)
        Rt = _rodrigues(axis, np.linspace(a0, a1, T))                    # (T, 3, 3)
        c = j[:, root:root + 1]                                          # (T, 1, 3)
        idx = list(moving)
        j[:, idx] = np.einsum("tij,tkj->tki", Rt, j[:, idx] - c) + c
        if 15 in moving:
            f = np.einsum("tij,tkj->tki", Rt, f - c) + c
    dy = low - j[:, [7, 8], 1].min()
    j[..., 1] += dy
    f[..., 1] += dy
    return j, f


# Where BlazePose puts the shoulder and hip keypoints relative to the body's joints, in the torso frame
# (x = the body's left, y up, z forward; metres): the vertical and forward parts of the offsets
# calibrated on rendered video (weights/keypoint_offsets_blazepose.md), as motion.landmark_blend uses them.
PLACEMENT_OFFSETS = {5: (0.0, 0.047, 0.032), 6: (0.0, 0.047, 0.032), 11: (0.0, -0.002, 0.041), 12: (0.0, -0.002, 0.041)}


def blazepose_placement(kp3d: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """COCO-17 3D keypoints with the shoulders and hips moved to where BlazePose places them
    (:data:`PLACEMENT_OFFSETS`, rotated by each frame's torso frame built from the SMPL-24 joints:
    left = hips' + shoulders' left-right vectors, up = shoulder centre - hip centre made orthogonal,
    forward = left x up).

    Args:
        kp3d: (T, 17, 3) world COCO-17 keypoints (metres, Y up).
        joints: (T, 24, 3) the SMPL-24 joints of the same frames.
    Returns:
        (T, 17, 3) float64, a copy.
    """
    k = np.array(kp3d, np.float64)
    j = np.asarray(joints, np.float64)
    if k.ndim != 3 or k.shape[1:] != (17, 3) or j.shape != (k.shape[0], 24, 3):
        raise ValueError(f"blazepose_placement: kp3d (T,17,3) and joints (T,24,3) expected, got {k.shape}, {j.shape}")

    def unit(v):
        return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)

    left = unit(j[:, 1] - j[:, 2] + j[:, 16] - j[:, 17])
    up = 0.5 * (j[:, 16] + j[:, 17] - j[:, 1] - j[:, 2])
    up = unit(up - (up * left).sum(-1, keepdims=True) * left)
    R = np.stack([left, up, np.cross(left, up)], -1)                    # (T, 3, 3), columns: left, up, forward
    for i, o in PLACEMENT_OFFSETS.items():
        k[:, i] += R @ np.asarray(o, np.float64)
    return k


# ------------------------------------------------------------------------------- training sampler
_SPLIT_CACHE: dict = {}


def _load_split(split: str, mix: str = "bandai"):
    if split not in ("train", "val"):
        raise UnveilError(f"training windows come only from 'train' or 'val', not {split!r}")
    key = (split, mix)
    if key not in _SPLIT_CACHE:
        ev = eval_names()
        _SPLIT_CACHE[key] = [c for c in training_clips(split, mix) if not _is_eval(c, ev)]
    return _SPLIT_CACHE[key]


def eval_names() -> set[str]:
    """Names of every evaluation clip: the Bandai evaluation split and the CMU subset's subject 2
    (empty without the shared data)."""
    if mocap_dir() is None:
        return set()

    return eval_clip_names()


def _is_eval(clip, ev: set[str] | None = None) -> bool:
    """An evaluation clip or one derived from it (``ev``: :func:`eval_names`, computed if None)."""
    return is_eval_clip(clip.name, eval_names() if ev is None else ev)


def slice_clip(clip, s: int, e: int):
    """Frames [s, e) of a clip as a light clip object (name ``NAME@s``, joints, face, fps)."""
    return _slice_clip(clip, s, e)


def _slice_clip(clip, s: int, e: int):
    return SimpleNamespace(name=f"{clip.name}@{s}", source=getattr(clip, "source", ""), fps=clip.fps,
                           joints=np.asarray(clip.joints)[s:e], face=np.asarray(clip.face)[s:e],
                           n_frames=e - s)


def training_windows(split: str = "train", window: int = 64, n: int = 32, seed: int = 0,
                     kinds=KINDS, clips=None, mix: str = "bandai", cameras: str = "standard",
                     noise: str = "hand", proportions: float = 0.0, poses: float = 0.0,
                     placement: float = 0.0) -> dict:
    """``n`` random windows of ``window`` frames, each seen by a random camera with a random
    occlusion kind from ``kinds``; only ever from the "train" / "val" splits (``clips`` overrides
    the corpus, for tests; ``mix`` picks the sources, :func:`unveil.data.corpus.training_clips`:
    "bandai" (default), "bandai+cmu", "bandai+cmu+mirror", ...; ``cameras``: the camera profile,
    :data:`CAMERA_PROFILES`; ``noise``: the detector model, :data:`NOISE_MODELS`; ``proportions``:
    probability that a window's skeleton gets a random row of :func:`bone_ratios`,
    :func:`vary_proportions`; ``poses``: probability that a window's joint angles are varied,
    :func:`vary_pose`, after the proportions; ``placement``: probability that a window's shoulder and hip
    keypoints sit where BlazePose puts them, :func:`blazepose_placement`). Returns a dict of stacked numpy arrays:

    keypoints2d (n,W,17,3) · occluded (n,W,17) bool · joints_cam (n,W,24,3) · joints_rel (n,W,24,3)
    (pelvis at 0) · joints_world (n,W,24,3) · focal (n,) · principal_point (n,2) · image_size (n,2)
    and lists kind, name. Deterministic in (split, window, n, seed, kinds, mix, cameras, noise,
    proportions, poses, placement); ``poses`` = ``placement`` = 0 draw exactly the windows of a call
    without them.
    """
    if noise not in NOISE_MODELS:
        raise UnveilError(f"unknown detector noise model {noise!r} (expected one of {', '.join(NOISE_MODELS)})")
    if not 0.0 <= float(proportions) <= 1.0:
        raise UnveilError(f"proportions must be a probability in [0, 1], got {proportions}")
    if not 0.0 <= float(poses) <= 1.0:
        raise UnveilError(f"poses must be a probability in [0, 1], got {poses}")
    if not 0.0 <= float(placement) <= 1.0:
        raise UnveilError(f"placement must be a probability in [0, 1], got {placement}")
    # the augmentations' own generators, so that poses = placement = 0 leave the main stream (and old caches) as they were
    prng = np.random.default_rng([int(seed) & 0xFFFFFFFF, window, n, 11]) if poses > 0 else None
    krng = np.random.default_rng([int(seed) & 0xFFFFFFFF, window, n, 13]) if placement > 0 else None
    ratios = bone_ratios() if proportions > 0 else None
    if split not in ("train", "val"):
        raise UnveilError(f"training windows come only from 'train' or 'val', not {split!r}")
    if cameras not in CAMERA_PROFILES:
        raise UnveilError(f"unknown camera profile {cameras!r} (expected one of {', '.join(CAMERA_PROFILES)})")
    pool = list(clips) if clips is not None else _load_split(split, mix)
    ev = eval_names()
    pool = [c for c in pool if not _is_eval(c, ev)]
    pool = [c for c in pool if np.asarray(c.joints).shape[0] >= window]
    if not pool:
        raise UnveilError(f"no {split} clip has {window} frames")
    lens = np.array([np.asarray(c.joints).shape[0] - window + 1 for c in pool], dtype=np.float64)
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, window, n, 7])
    kinds = tuple(kinds)
    out: dict[str, list] = {k: [] for k in ("keypoints2d", "occluded", "joints_cam", "joints_rel",
                                            "joints_world", "focal", "principal_point", "image_size",
                                            "kind", "name")}
    for _ in range(n):
        c = pool[int(rng.choice(len(pool), p=lens / lens.sum()))]
        s = int(rng.integers(0, np.asarray(c.joints).shape[0] - window + 1))
        sub = _slice_clip(c, s, s + window)
        if ratios is not None and rng.random() < proportions:
            sub.joints, sub.face = vary_proportions(sub.joints, sub.face, ratios[int(rng.integers(len(ratios)))])
        if prng is not None and prng.random() < poses:
            sub.joints, sub.face = vary_pose(sub.joints, sub.face, prng)
        if krng is not None and krng.random() < placement:
            sub.blazepose_placement = True
        kind = kinds[int(rng.integers(len(kinds)))]
        occ = None
        if kind in ("person", "mixed"):
            o = pool[int(rng.integers(len(pool)))]
            os_ = int(rng.integers(0, np.asarray(o.joints).shape[0] - window + 1))
            occ = _slice_clip(o, os_, os_ + window)
        seq = make_sequence(sub, kind, int(rng.integers(2 ** 31)), occluder=occ, cameras=cameras, noise=noise)
        out["keypoints2d"].append(seq.keypoints2d)
        out["occluded"].append(seq.occluded)
        out["joints_cam"].append(seq.joints_cam)
        out["joints_rel"].append(seq.joints_rel)
        out["joints_world"].append(seq.joints_world)
        out["focal"].append(seq.camera.focal)
        out["principal_point"].append(seq.camera.principal_point)
        out["image_size"].append((seq.camera.width, seq.camera.height))
        out["kind"].append(kind)
        out["name"].append(sub.name)
    res = {k: (v if k in ("kind", "name") else np.stack([np.asarray(x) for x in v])) for k, v in out.items()}
    res["focal"] = res["focal"].astype(np.float32)
    return res


# ------------------------------------------------------------------------------------ stand-in
def standin_clip(T: int = 120, seed: int = 0, name: str = "standin_walk", fps: float = 30.0):
    """A procedural walking SMPL-24 skeleton (metres, Y up, faces +Z, walks along +Z) with face
    points: a stand-in clip for tests that must run without the mocap corpus."""
    rng = np.random.default_rng(seed)
    rest = np.array([
        [0, .93, 0], [.07, .84, 0], [-.07, .84, 0], [0, 1.04, -.01], [.09, .47, 0], [-.09, .47, 0],
        [0, 1.17, 0], [.09, .07, -.03], [-.09, .07, -.03], [0, 1.22, .01], [.11, .02, .10],
        [-.11, .02, .10], [0, 1.44, -.01], [.07, 1.36, 0], [-.07, 1.36, 0], [0, 1.58, .03],
        [.17, 1.40, -.01], [-.17, 1.40, -.01], [.19, 1.13, -.02], [-.19, 1.13, -.02], [.20, .88, 0],
        [-.20, .88, 0], [.20, .80, .01], [-.20, .80, .01]], dtype=np.float64)
    face_rel = np.array([[0, .0, .10], [.03, .03, .08], [-.03, .03, .08], [.07, 0, 0], [-.07, 0, 0]])
    tt = np.arange(T) / fps
    w = 2 * np.pi * rng.uniform(0.8, 1.0)
    amp = rng.uniform(0.35, 0.5)
    joints = np.repeat(rest[None], T, axis=0)

    def rot_x(points, pivot, ang):
        c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
        p = points - pivot[:, None]
        y = c * p[..., 1] - s * p[..., 2]
        z = s * p[..., 1] + c * p[..., 2]
        return np.stack([p[..., 0], y, z], -1) + pivot[:, None]

    for side, (hip, knee, ank, foot), (sho, elb, wri, hand) in (
            (1, (1, 4, 7, 10), (16, 18, 20, 22)), (-1, (2, 5, 8, 11), (17, 19, 21, 23))):
        phase = 0 if side == 1 else np.pi
        leg = [knee, ank, foot]
        joints[:, leg] = rot_x(joints[:, leg], joints[:, hip], -amp * np.sin(w * tt + phase))
        bend = 0.6 * np.clip(np.sin(w * tt + phase + 1.2), 0, None)
        joints[:, [ank, foot]] = rot_x(joints[:, [ank, foot]], joints[:, knee], bend)
        arm = [elb, wri, hand]
        joints[:, arm] = rot_x(joints[:, arm], joints[:, sho], 0.6 * amp * np.sin(w * tt + phase))
    speed = rng.uniform(1.0, 1.4)
    joints[..., 2] += speed * tt[:, None]
    joints[..., 1] += 0.02 * np.cos(2 * w * tt)[:, None]
    face = joints[:, 15:16] + face_rel[None]
    return SimpleNamespace(name=name, source="standin", fps=fps, joints=joints.astype(np.float32),
                           face=face.astype(np.float32))
