"""Synthetic occlusions: per-joint ground-truth masks and what a 2D detector outputs behind them.

Seed: MoPO §4.1 trains and evaluates under synthetic occlusion of mocap seen by virtual cameras
(as WHAM does); the kinds and the detector behaviour follow the issue and the measurements in
shared/design/synthetic-video.md (a real BlazePose run on renders):

- ``object``: an image-space box sweeps horizontally across the person for 1–3 s, always in front.
  Hidden joints: detector confidence low; half of the hidden runs are placed on the nearest box edge
  (BlazePose put hidden ankles "on the box top"), the others drift.
- ``truncation``: the camera is re-aimed (pitch or yaw, see :func:`truncation_rotation`) so that the
  frame edge cuts the legs or one side; hidden = outside the image (a 2% margin).
- ``person``: a second mocap subject walks across between the camera and the subject
  (:func:`place_occluder`); its body is a set of capsules around its projected bones (radii in metres
  below, projected with f/z); a subject keypoint is hidden when inside a capsule and behind the
  occluder. Confusable keypoints: in 35% of the hidden runs the detector snaps to the occluder's
  same keypoint with confidence 0.3–0.7 (some of these pass a 0.6 visibility threshold — on purpose).
- ``lower``: a low wall in front of the legs for >= 3 s (the whole window when shorter): the top
  edge sits between knee and hip height (image space, following the person); ankles are reported
  on the wall's top edge (x: a 1 s moving average of the true x plus a constant offset up to 20% of
  the leg length: the detector follows the body, not the step), knees drift.
- ``mixed``: object + person, plus lower with probability 0.5.
Every kind also hides keypoints that fall outside the image.

Masks come from image-space geometry of the keypoint *centre* (the joint pixel), not from a
visible-vertex fraction: partial occlusion of a limb around a visible joint centre is not labelled.

Every generator takes a :class:`Scene` and a numpy ``Generator`` and returns an :class:`Occlusion`;
positions / confidences left NaN get the generic behaviour of :mod:`unveil.data.synth2d`
(drifting position, confidence in [0, 0.5]).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..motion.occlusion import EDGE_MARGIN  # fraction of the image size beyond which a keypoint counts as cut off

KINDS: tuple[str, ...] = ("none", "object", "truncation", "person", "lower", "mixed")

# capsule radius (metres) of each SMPL-24 bone (child index) of an occluding person
_BONE_RADIUS = {1: 0.10, 2: 0.10, 3: 0.14, 4: 0.08, 5: 0.08, 6: 0.15, 7: 0.055, 8: 0.055, 9: 0.15,
                10: 0.05, 11: 0.05, 12: 0.07, 13: 0.07, 14: 0.07, 15: 0.10, 16: 0.06, 17: 0.06,
                18: 0.05, 19: 0.05, 20: 0.045, 21: 0.045, 22: 0.045, 23: 0.045}
_SMPL_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)


@dataclass
class Scene:
    """What a generator sees: true projected keypoints of the subject and the camera."""

    uv: np.ndarray          # (T, 17, 2) true pixel positions (COCO-17)
    depth: np.ndarray       # (T, 17) camera-frame z (metres)
    width: int
    height: int
    focal: float
    fps: float
    occluder: dict | None = None  # person kind: {"uv": (T,24,2), "depth": (T,24), "coco_uv": (T,17,2)}

    @property
    def T(self) -> int:
        return self.uv.shape[0]

    def box(self) -> np.ndarray:
        """(T, 4) x0, y0, x1, y1 of the true keypoints."""
        return np.concatenate([self.uv.min(1), self.uv.max(1)], axis=-1)


@dataclass
class Occlusion:
    mask: np.ndarray                 # (T, 17) bool, True = hidden
    pos: np.ndarray                  # (T, 17, 2) detector position where hidden (NaN: generic drift)
    conf: np.ndarray                 # (T, 17) detector confidence where hidden (NaN: generic [0, 0.5])
    info: dict = field(default_factory=dict)  # what was placed (for plots / debugging)

    @classmethod
    def empty(cls, T: int, K: int = 17) -> "Occlusion":
        return cls(np.zeros((T, K), bool), np.full((T, K, 2), np.nan), np.full((T, K), np.nan))

    def merge(self, other: "Occlusion") -> "Occlusion":
        """Union of masks; ``other``'s detector outputs win where both set them."""
        pos = np.where(np.isnan(other.pos), self.pos, other.pos)
        conf = np.where(np.isnan(other.conf), self.conf, other.conf)
        info = dict(self.info)
        for k, v in other.info.items():
            info[k if k not in info else f"{k}_2"] = v
        return Occlusion(self.mask | other.mask, pos, conf, info)


def runs(mask_1d: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of the True runs of a 1-D bool array."""
    m = np.concatenate([[False], np.asarray(mask_1d, bool), [False]])
    d = np.diff(m.astype(np.int8))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def _window(T: int, fps: float, rng, lo_s: float, hi_s: float) -> tuple[int, int]:
    """A random [start, end) span of lo_s..hi_s seconds (the whole sequence if it is shorter)."""
    n = int(round(rng.uniform(lo_s, hi_s) * fps))
    if n >= T:
        return 0, T
    s = int(rng.integers(0, T - n + 1))
    return s, s + n


# ------------------------------------------------------------------------------------------- frame
def out_of_frame(scene: Scene) -> np.ndarray:
    mx, my = EDGE_MARGIN * scene.width, EDGE_MARGIN * scene.height
    u, v = scene.uv[..., 0], scene.uv[..., 1]
    return (u < -mx) | (u > scene.width + mx) | (v < -my) | (v > scene.height + my) | (scene.depth <= 0.05)


def frame_edge(scene: Scene, rng=None) -> Occlusion:
    occ = Occlusion.empty(scene.T)
    occ.mask = out_of_frame(scene)
    return occ


# ------------------------------------------------------------------------------------------ object
def object_box(scene: Scene, rng) -> Occlusion:
    """A box sweeping horizontally across the person for 1–3 s (always in front)."""
    T = scene.T
    occ = Occlusion.empty(T)
    box = scene.box()
    s, e = _window(T, scene.fps, rng, 1.0, 3.0)
    bh = np.median(box[s:e, 3] - box[s:e, 1])
    bw = np.median(box[s:e, 2] - box[s:e, 0])
    cx = 0.5 * (box[s:e, 0] + box[s:e, 2])                      # person centre during the sweep
    w = rng.uniform(0.4, 0.9) * max(bw, 0.3 * bh)               # box width
    frac_top = rng.uniform(0.0, 0.6)                            # box covers from this body fraction down
    frac_bot = rng.uniform(max(frac_top + 0.35, 0.7), 1.15)
    y0 = np.median(box[s:e, 1]) + frac_top * bh
    y1 = np.median(box[s:e, 1]) + frac_bot * bh
    direction = rng.choice([-1.0, 1.0])
    span = 0.5 * max(bw, 0.3 * bh) + w                          # from fully left to fully right
    prog = np.linspace(-1.0, 1.0, e - s)
    x_c = cx + direction * prog * span                          # box centre per frame
    x0, x1 = x_c - 0.5 * w, x_c + 0.5 * w
    u, v = scene.uv[s:e, :, 0], scene.uv[s:e, :, 1]
    inside = (u >= x0[:, None]) & (u <= x1[:, None]) & (v >= y0) & (v <= y1)
    occ.mask[s:e] = inside
    # half the hidden runs: the detector puts the joint on the nearest box edge
    for k in range(17):
        for a, b in runs(inside[:, k]):
            if rng.random() < 0.5:
                for t in range(a, b):
                    d = np.array([u[t, k] - x0[t], x1[t] - u[t, k], v[t, k] - y0, y1 - v[t, k]])
                    side = int(np.argmin(d))
                    p = [u[t, k], v[t, k]]
                    p = ([x0[t], p[1]], [x1[t], p[1]], [p[0], y0], [p[0], y1])[side]
                    occ.pos[s + t, k] = p
    occ.info["object"] = {"start": s, "end": e, "x0": x0, "x1": x1, "y0": float(y0), "y1": float(y1)}
    return occ


# ----------------------------------------------------------------------------------------- truncation
def truncation_rotation(uv_fn, R: np.ndarray, fov_v: float, rng) -> tuple[np.ndarray, str]:
    """Re-aim the camera so that the frame edge cuts the legs or one side.

    ``uv_fn(R) -> (uv (T,17,2), depth (T,17), width, height)`` projects the subject with a candidate
    rotation. Searches pitch (legs) or yaw (side) offsets on a grid and keeps the one whose cut best
    matches the target: legs: ankles cut, shoulders inside; side: 3–9 keypoints cut.
    Returns the new world->camera rotation and the mode.
    """
    mode = "legs" if rng.random() < 0.5 else "side"
    best, best_score = R, -1.0
    target = rng.uniform(0.6, 0.95)  # fraction of frames that should show the cut
    # a fine grid (~0.2-0.4 deg: a distant person is only a few degrees wide) over +-1.3 half-FoV of
    # the direction that is cut (horizontal FoV for a side cut: 16:9 frames are wider than tall)
    uv0, _, W, H = uv_fn(R)
    half = fov_v / 2 if mode == "legs" else np.arctan(np.tan(fov_v / 2) * W / H)
    for a in np.linspace(-1.3, 1.3, 321) * half:
        c, s_ = np.cos(a), np.sin(a)
        if mode == "legs":
            Ra = np.array([[1, 0, 0], [0, c, -s_], [0, s_, c]])
        else:
            Ra = np.array([[c, 0, s_], [0, 1, 0], [-s_, 0, c]])
        Rn = Ra @ R
        uv, depth, W, H = uv_fn(Rn)
        out = out_of_frame(Scene(uv, depth, W, H, 1.0, 30.0))
        if mode == "legs":
            ok = out[:, [15, 16]].all(1) & ~out[:, [5, 6, 11, 12]].any(1)
        else:
            n = out.sum(1)
            ok = (n >= 3) & (n <= 9)
        score = 1.0 - abs(ok.mean() - target)
        if ok.mean() > 0 and score > best_score:
            best, best_score = Rn, score
    return best, mode


# -------------------------------------------------------------------------------------------- person
def place_occluder(subject_world: np.ndarray, occluder_world: np.ndarray, cam_center: np.ndarray,
                   fps: float, rng, extra: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
    """Make a second subject walk across between the camera and the subject.

    subject_world (T,24,3), occluder_world (T2,24,3) SMPL-24 world joints (Y up). The occluder's own
    motion (root-relative, looped, random start and yaw) is carried along a straight horizontal line
    perpendicular to the camera->subject ray, at 40–75% of the subject's distance, at 0.9–1.6 m/s,
    crossing the subject's ray at a random time. Returns its (T,24,3) world joints and the placement
    (``extra`` (T2,P,3) points of the occluder, e.g. its face, moved the same way: ``info["extra"]``).
    """
    T = subject_world.shape[0]
    T2 = occluder_world.shape[0]
    off = int(rng.integers(0, T2))
    idx = (off + np.arange(T)) % T2
    body = occluder_world[idx].copy()
    root_xz = body[:, :1, [0, 2]].copy()
    body[..., [0, 2]] -= root_xz                                # root-relative in the ground plane
    yaw = rng.uniform(0, 2 * np.pi)
    c, s = np.cos(yaw), np.sin(yaw)
    Ry = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    body = body @ Ry.T
    t0 = int(rng.integers(0, T))
    p_sub = subject_world[t0, 0]
    ray = p_sub - cam_center
    ray[1] = 0.0
    dist = np.linalg.norm(ray) + 1e-9
    ray /= dist
    lam = rng.uniform(0.4, 0.75)
    q = cam_center + lam * dist * ray
    side = np.array([-ray[2], 0.0, ray[0]]) * rng.choice([-1.0, 1.0])
    speed = rng.uniform(0.9, 1.6)
    path = q[None] + side[None] * speed * ((np.arange(T) - t0) / fps)[:, None]
    path[:, 1] = 0.0
    world = body + path[:, None, :]
    info = {"t0": t0, "speed": float(speed), "depth_fraction": float(lam)}
    if extra is not None:
        ex = np.asarray(extra, np.float64)[idx].copy()
        ex[..., [0, 2]] -= root_xz
        info["extra"] = ex @ Ry.T + path[:, None, :]
    return world, info


def _point_segment_dist(p, a, b):
    """p (T,K,2), a/b (T,B,2) -> (T,K,B) distances from points to segments."""
    ab = b - a
    ap = p[:, :, None, :] - a[:, None, :, :]
    denom = np.maximum((ab ** 2).sum(-1), 1e-9)[:, None, :]
    tt = np.clip((ap * ab[:, None]).sum(-1) / denom, 0, 1)
    closest = a[:, None] + tt[..., None] * ab[:, None]
    return np.linalg.norm(p[:, :, None, :] - closest, axis=-1)


def person_pass(scene: Scene, rng) -> Occlusion:
    """A second mocap subject in front; ``scene.occluder`` holds its projection (see synth2d)."""
    T = scene.T
    occ = Occlusion.empty(T)
    o = scene.occluder
    if o is None:
        return occ
    children = [c for c in range(24) if _SMPL_PARENTS[c] >= 0]
    par = [_SMPL_PARENTS[c] for c in children]
    a, b = o["uv"][:, par], o["uv"][:, children]                      # (T,B,2)
    zc = 0.5 * (o["depth"][:, par] + o["depth"][:, children])          # (T,B)
    r_px = np.array([_BONE_RADIUS[c] for c in children])[None] * scene.focal / np.maximum(zc, 0.1)
    d = _point_segment_dist(scene.uv, a, b)                            # (T,17,B)
    front = (zc[:, None, :] + 0.05) < scene.depth[:, :, None]
    visible_occ = (o["depth"] > 0.1).all(1)[:, None, None]
    hit = ((d <= r_px[:, None, :]) & front & visible_occ).any(-1)
    occ.mask = hit
    for k in range(17):
        for s, e in runs(hit[:, k]):
            if rng.random() < 0.35:                                   # confusable: snap to the occluder
                occ.pos[s:e, k] = o["coco_uv"][s:e, k]
                occ.conf[s:e, k] = rng.uniform(0.3, 0.7)
    occ.info["person"] = {"n_hidden": int(hit.sum())}
    return occ


# --------------------------------------------------------------------------------------------- lower
def lower_wall(scene: Scene, rng) -> Occlusion:
    """Legs hidden for >= 3 s behind a low wall whose top is between knee and hip height."""
    T = scene.T
    occ = Occlusion.empty(T)
    s, e = _window(T, scene.fps, rng, 3.0, 6.0)
    frac = rng.uniform(0.1, 0.7)                                       # 0 = knee line, 1 = hip line
    knee_v = scene.uv[s:e, [13, 14], 1].min(1)
    hip_v = scene.uv[s:e, [11, 12], 1].max(1)
    top = knee_v + frac * (hip_v - knee_v)
    # smooth the top edge over time (a wall does not jitter): moving average over 0.5 s
    k = max(1, int(scene.fps * 0.5)) | 1
    pad = np.pad(top, (k // 2, k // 2), mode="edge")
    top = np.convolve(pad, np.ones(k) / k, mode="valid")
    top = np.minimum(top, knee_v - 2.0)                                # the knees are always behind it
    hidden = scene.uv[s:e, :, 1] >= top[:, None]
    hidden[:, [13, 14, 15, 16]] = True
    occ.mask[s:e] = hidden
    # ankles reported on the wall top; horizontally the detector cannot see the foot: a 1 s moving
    # average of the true x (it follows the body, not the step) plus a constant offset
    k1 = max(1, int(scene.fps)) | 1
    leg = np.maximum(np.median(hip_v - knee_v), 1.0) * 2.0             # ~ leg length in pixels
    for kk in (15, 16):
        xs = np.pad(scene.uv[s:e, kk, 0], (k1 // 2, k1 // 2), mode="edge")
        occ.pos[s:e, kk, 0] = np.convolve(xs, np.ones(k1) / k1, mode="valid") + rng.uniform(-0.2, 0.2) * leg
        occ.pos[s:e, kk, 1] = top
        occ.conf[s:e, kk] = rng.uniform(0.0, 0.1, e - s)
    occ.info["lower"] = {"start": s, "end": e, "top": top}
    return occ


# --------------------------------------------------------------------------------------------- kinds
def generate(kind: str, scene: Scene, rng) -> Occlusion:
    """The occlusion of ``kind`` for ``scene`` (always including keypoints outside the image)."""
    if kind not in KINDS:
        raise ValueError(f"unknown occlusion kind {kind!r} (expected one of {', '.join(KINDS)})")
    occ = frame_edge(scene)
    if kind == "object":
        occ = occ.merge(object_box(scene, rng))
    elif kind == "person":
        occ = occ.merge(person_pass(scene, rng))
    elif kind == "lower":
        occ = occ.merge(lower_wall(scene, rng))
    elif kind == "mixed":
        occ = occ.merge(object_box(scene, rng)).merge(person_pass(scene, rng))
        if rng.random() < 0.5:
            occ = occ.merge(lower_wall(scene, rng))
    # "truncation" is made by re-aiming the camera (synth2d); its mask is the frame edge
    return occ
