"""Sample the detector-true 2D noise model (issue 12): BlazePose's measured errors, not a hand-set
Gaussian.

The model (``unveil/weights/blazepose_noise.npz``) is fitted by :mod:`unveil.training.noise_model`
on rendered training-split video (its module docstring defines every array). :func:`sample` turns
a noiseless projection into detector-like keypoints:

1. per frame: body orientation (front / side / back, :func:`orientation_bin`), size bin (box height
   / image height, :func:`size_bin`), the body-aligned 2D frame (:func:`body_frame`);
2. per joint and frame: the residual = ``bias[k, vis, orient]`` + a radius drawn from the measured
   quantiles ``radius_q[vis]`` x ``sigma[k, vis, orient]`` x ``size_mult[size]`` in a random
   direction; the direction and the radius's rank come from a 2D AR(1) Gaussian with the measured
   lag-1 correlation ``rho[vis]`` (so errors are smooth in time, as a tracker's are);
3. confidences from the measured quantiles ``conf_q[k, vis]`` with an AR(1) copula (``conf_rho``);
4. left/right label swaps of the arm group and the leg group, and front/back flips (all pairs at
   once), as two-state Markov chains with the measured per-orientation frequencies and mean run
   lengths (positions only: the confidences stay, a confident error).

``vis`` is the caller's hidden mask (True = hidden): hidden joints get the hidden-class statistics.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from ..errors import UnveilError
from ..paths import WEIGHTS_DIR

MODEL_PATH = WEIGHTS_DIR / "blazepose_noise.npz"
RADIUS_LEVELS = tuple(np.round(np.linspace(0.0, 1.0, 101), 4).tolist())
CONF_LEVELS = tuple(np.round(np.linspace(0.0, 1.0, 21), 4).tolist())
ORIENT_COS = 0.5                 # front: cos > 0.5, back: cos < -0.5, side: between
SIZE_EDGES = (0.3, 0.6)          # box height / image height bins
ARM_PAIRS = ((5, 6), (7, 8), (9, 10))
LEG_PAIRS = ((11, 12), (13, 14), (15, 16))
FACE_PAIRS = ((1, 2), (3, 4))
KEYS = ("bias", "sigma", "size_mult", "radius_levels", "radius_q", "rho", "conf_levels", "conf_q", "conf_rho",
        "swap_p", "flip_p", "swap_len", "flip_len")


@functools.lru_cache(maxsize=4)
def load(path: str | None = None) -> dict:
    """The fitted model's arrays (plain npz, no pickle).

    Args:
        path: npz file (default :data:`MODEL_PATH`).
    Returns:
        dict of numpy arrays (:data:`KEYS`).
    """
    p = Path(path) if path else MODEL_PATH
    if not p.is_file():
        raise UnveilError(f"detector noise model not found: {p} (fit it with `unveil train blazepose-noise`)")
    with np.load(p, allow_pickle=False) as z:
        missing = [k for k in KEYS if k not in z.files]
        if missing:
            raise UnveilError(f"{p} is not a detector noise model (missing {', '.join(missing)})")
        return {k: np.asarray(z[k]) for k in KEYS}


def body_frame(uv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Body-aligned 2D axes of COCO-17 image points.

    Args:
        uv: (T, 17, 2) pixels.
    Returns:
        up (T, 1, 2): unit mid-hip -> mid-shoulder direction (image up where degenerate);
        right (T, 1, 2): ``up`` turned by +90 degrees.
    """
    uv = np.asarray(uv, np.float64)
    if uv.ndim != 3 or uv.shape[1:] != (17, 2):
        raise ValueError(f"body_frame expects (T, 17, 2) points, got {uv.shape}")
    v = uv[:, 5:7].mean(1) - uv[:, 11:13].mean(1)
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    up = np.where(n > 1e-6, v / np.maximum(n, 1e-9), np.array([0.0, -1.0]))
    right = np.stack([-up[:, 1], up[:, 0]], -1)
    return up[:, None], right[:, None]


def orientation_bin(joints_cam: np.ndarray) -> np.ndarray:
    """Front (0) / side (1) / back (2) per frame from camera-frame SMPL-24 joints.

    Args:
        joints_cam: (T, 24, 3) metres, OpenCV camera frame (camera at the origin).
    Returns:
        (T,) int: 0 when the body's forward direction points at the camera (cos > 0.5), 2 when it
        points away (cos < -0.5), else 1.
    """
    j = np.asarray(joints_cam, np.float64)
    if j.ndim != 3 or j.shape[1:] != (24, 3):
        raise ValueError(f"orientation_bin expects (T, 24, 3) joints, got {j.shape}")
    left = (j[:, 1] - j[:, 2]) + (j[:, 16] - j[:, 17])
    up = j[:, 12] - j[:, 0]
    fwd = np.cross(left, up)
    to_cam = -j[:, 0]
    c = (fwd * to_cam).sum(-1) / np.maximum(np.linalg.norm(fwd, axis=-1) * np.linalg.norm(to_cam, axis=-1), 1e-9)
    return np.where(c > ORIENT_COS, 0, np.where(c < -ORIENT_COS, 2, 1)).astype(np.int64)


def size_bin(frac: np.ndarray) -> np.ndarray:
    """(T,) box height / image height -> (T,) bin 0 (< 0.3), 1 (0.3-0.6), 2 (>= 0.6)."""
    return np.digitize(np.asarray(frac, np.float64), SIZE_EDGES).astype(np.int64)


def _ar1(rng, shape, rho) -> np.ndarray:
    """Standard-normal AR(1) series along axis 0; ``rho`` broadcasts against shape[1:]."""
    z = rng.normal(size=shape)
    out = np.empty(shape)
    out[0] = z[0]
    rho = np.broadcast_to(np.asarray(rho, np.float64), shape[1:])
    c = np.sqrt(np.maximum(1 - rho ** 2, 0.0))
    for i in range(1, shape[0]):
        out[i] = rho * out[i - 1] + c * z[i]
    return out


def _markov(rng, p_stat: np.ndarray, mean_len: float) -> np.ndarray:
    """(T,) bool two-state chain with per-frame stationary probability ``p_stat`` (T,) and mean run
    length ``mean_len`` frames."""
    T = len(p_stat)
    p_off = 1.0 / max(float(mean_len), 1.0)
    p = np.clip(np.asarray(p_stat, np.float64), 0.0, 0.95)
    p_on = p * p_off / np.maximum(1.0 - p, 1e-6)
    u = rng.random(T)
    out = np.zeros(T, bool)
    state = u[0] < p[0]
    for t in range(T):
        if t:
            state = (u[t] >= p_off) if state else (u[t] < p_on[t])
        out[t] = state
    return out


def sample(uv: np.ndarray, joints_cam: np.ndarray, hidden: np.ndarray, image_height: float, rng,
           model: dict | None = None) -> tuple[np.ndarray, np.ndarray, dict]:
    """Detector-like keypoints from noiseless ones (see the module docstring).

    Args:
        uv: (T, 17, 2) true COCO-17 projections, pixels.
        joints_cam: (T, 24, 3) camera-frame SMPL-24 joints (orientation).
        hidden: (T, 17) bool, True = hidden joint.
        image_height: pixels (size bin).
        rng: numpy Generator.
        model: :func:`load`'s dict (default: the shipped file).
    Returns:
        positions (T, 17, 2) pixels, confidences (T, 17) in [0, 1], info dict (``swapped_frames``,
        ``flipped_frames``).
    """
    uv = np.asarray(uv, np.float64)
    hidden = np.asarray(hidden, bool)
    if uv.ndim != 3 or uv.shape[1:] != (17, 2):
        raise ValueError(f"sample expects (T, 17, 2) keypoints, got {uv.shape}")
    if hidden.shape != uv.shape[:2]:
        raise ValueError(f"hidden mask {hidden.shape} does not match keypoints {uv.shape[:2]}")
    if np.asarray(joints_cam).shape != (uv.shape[0], 24, 3):
        raise ValueError(f"joints_cam must be ({uv.shape[0]}, 24, 3), got {np.asarray(joints_cam).shape}")
    m = model if model is not None else load()
    T, K = hidden.shape
    vi = hidden.astype(np.int64)
    h = np.maximum(uv[..., 1].max(-1) - uv[..., 1].min(-1), 1.0)
    up, right = body_frame(uv)
    ori = orientation_bin(joints_cam)
    sz = size_bin(h / float(image_height))
    kk = np.arange(K)[None]
    bias = m["bias"][kk, vi, ori[:, None]]                                  # (T, K, 2)
    sig = m["sigma"][kk, vi, ori[:, None]] * m["size_mult"][sz][:, None]    # (T, K)
    z = np.where(hidden[..., None], _ar1(rng, (T, K, 2), m["rho"][1]), _ar1(rng, (T, K, 2), m["rho"][0]))
    rg = np.linalg.norm(z, axis=-1)
    u = 1.0 - np.exp(-0.5 * rg ** 2)                                        # Rayleigh CDF -> U(0, 1)
    lv = m["radius_levels"]
    rad = np.where(hidden, np.interp(u, lv, m["radius_q"][1]), np.interp(u, lv, m["radius_q"][0]))
    d = z / np.maximum(rg, 1e-9)[..., None]
    e = bias + d * (rad * sig)[..., None]                                   # body frame (right, up)
    pos = uv + (e[..., :1] * right + e[..., 1:] * up) * h[:, None, None]
    from scipy.special import ndtr  # scipy: offline synthesis only (synth2d imports it likewise)

    zc = np.where(hidden, _ar1(rng, (T, K), m["conf_rho"][1]), _ar1(rng, (T, K), m["conf_rho"][0]))
    uc = ndtr(zc)
    cl = m["conf_levels"]
    conf = np.empty((T, K))
    for k in range(K):
        conf[:, k] = np.where(hidden[:, k], np.interp(uc[:, k], cl, m["conf_q"][k, 1]),
                              np.interp(uc[:, k], cl, m["conf_q"][k, 0]))
    flip = _markov(rng, m["flip_p"][ori], float(m["flip_len"]))
    swaps = [_markov(rng, m["swap_p"][ori, g], float(m["swap_len"][g])) | flip for g in range(2)]
    for g, pairs in enumerate((ARM_PAIRS, LEG_PAIRS)):
        for a, b in pairs:
            s = swaps[g]
            pos[s, a], pos[s, b] = pos[s, b].copy(), pos[s, a].copy()
    for a, b in FACE_PAIRS:
        pos[flip, a], pos[flip, b] = pos[flip, b].copy(), pos[flip, a].copy()
    return pos, np.clip(conf, 0.0, 1.0), {"swapped_frames": int((swaps[0] | swaps[1]).sum()),
                                          "flipped_frames": int(flip.sum())}
