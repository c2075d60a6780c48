"""Scenes for the synthetic-video engine: a planked floor with soft shadows, a textured wall,
occluders (box/table, pole) and clothed-looking people, all in one depth buffer.

Seed: issue 7 and ``shared/design/synthetic-video.md`` (BEDLAM-style synthetic ground truth as in
MoRo §5; the detector needs clothing-like colours: a plain grey body made BlazePose weak in
profile). Everything is procedural (no downloaded textures).

Geometry: world frame Y up, floor ``y = 0``; the camera looks at a target with
:func:`look_at`, giving ``x_cam = R x_world + t`` in OpenCV axes. Background pixels are ray-cast:
a pixel ray ``d = R^T K^-1 [u, v, 1]`` from the camera centre ``C = -R^T t`` meets the floor at
``s = -C_y / d_y`` and the wall plane ``n.(x - p0) = 0`` at ``s = n.(p0 - C) / n.d``; because the
camera-frame ray has ``z = 1`` the hit's depth is ``s`` itself, so the background enters the
z-buffer exactly and people's feet are clipped by the floor where they touch it.

Body colours come from a part segmentation by the nearest SMPL-24 bone segment of the rest
(T-)pose vertices (:func:`body_part_labels`), works for any body model with SMPL-24 joints.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..skeleton import SMPL24_INDEX as J
from ..io.raster import Framebuffer, Light, box_mesh, cylinder_mesh

# part labels
SKIN, SHIRT, TROUSERS, SHOES, HAIR, EYES, LIPS = range(7)
PART_NAMES = ("skin", "shirt", "trousers", "shoes", "hair", "eyes", "lips")

SKIN_TONES = [(0.96, 0.80, 0.69), (0.87, 0.67, 0.52), (0.71, 0.50, 0.36), (0.48, 0.32, 0.22),
              (0.93, 0.74, 0.60), (0.60, 0.42, 0.30)]
SHIRTS = [(0.80, 0.15, 0.15), (0.15, 0.35, 0.75), (0.20, 0.55, 0.25), (0.90, 0.75, 0.20),
          (0.95, 0.95, 0.93), (0.45, 0.20, 0.55), (0.95, 0.50, 0.15), (0.25, 0.65, 0.70)]
TROUSERS_C = [(0.15, 0.20, 0.35), (0.10, 0.10, 0.12), (0.45, 0.38, 0.28), (0.30, 0.32, 0.35),
              (0.22, 0.30, 0.55)]
SHOES_C = [(0.08, 0.08, 0.08), (0.90, 0.90, 0.90), (0.35, 0.20, 0.10), (0.55, 0.10, 0.10)]
HAIR_C = [(0.08, 0.06, 0.05), (0.30, 0.18, 0.08), (0.60, 0.45, 0.22), (0.45, 0.45, 0.45)]


# ------------------------------------------------------------------------------------- camera
def look_at(eye, target, up=(0.0, 1.0, 0.0)) -> tuple[np.ndarray, np.ndarray]:
    """World->camera (R, t) for a camera at ``eye`` looking at ``target`` (OpenCV axes: x right,
    y down, z forward), world Y up."""
    eye = np.asarray(eye, dtype=np.float64)
    z = np.asarray(target, dtype=np.float64) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, np.asarray(up, dtype=np.float64))   # right = forward x up (y down frame)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])                              # rows: camera axes in world
    t = -R @ eye
    return R.astype(np.float32), t.astype(np.float32)


# ------------------------------------------------------------------------------------- bodies
def _point_segment_dist(p, a, b):
    ab = b - a
    tt = np.clip(((p - a) @ ab) / max(float(ab @ ab), 1e-12), 0.0, 1.0)
    return np.linalg.norm(p - (a + tt[:, None] * ab), axis=-1), tt


def body_part_labels(rest_vertices: np.ndarray, rest_joints: np.ndarray) -> np.ndarray:
    """(V,) part label per vertex of a rest (T-)pose body (Y up, facing +Z, SMPL-24 joints).

    Each vertex takes the part of its nearest bone segment: legs -> trousers, feet and the lowest
    4 cm of the shins -> shoes, torso and upper arms -> shirt, forearms/hands/neck/face -> skin;
    on the head, vertices above the forehead or behind the ears -> hair, and small patches at eye
    and mouth height on the front of the face -> eyes / lips.
    """
    v = np.asarray(rest_vertices, dtype=np.float64)
    j = np.asarray(rest_joints, dtype=np.float64)
    head_top = j[J["head"]] + np.array([0.0, 0.18, 0.0])
    segs = [  # (a, b, part)
        (j[J["pelvis"]], j[J["spine1"]], SHIRT), (j[J["spine1"]], j[J["spine2"]], SHIRT),
        (j[J["spine2"]], j[J["spine3"]], SHIRT), (j[J["spine3"]], j[J["neck"]], SHIRT),
        (j[J["neck"]], j[J["head"]], SKIN), (j[J["head"]], head_top, SKIN),
    ]
    for s in ("L", "R"):
        segs += [
            (j[J["pelvis"]], j[J[f"{s}_hip"]], TROUSERS), (j[J[f"{s}_hip"]], j[J[f"{s}_knee"]], TROUSERS),
            (j[J[f"{s}_knee"]], j[J[f"{s}_ankle"]], TROUSERS), (j[J[f"{s}_ankle"]], j[J[f"{s}_foot"]], SHOES),
            (j[J["spine3"]], j[J[f"{s}_collar"]], SHIRT), (j[J[f"{s}_collar"]], j[J[f"{s}_shoulder"]], SHIRT),
            (j[J[f"{s}_shoulder"]], j[J[f"{s}_elbow"]], SHIRT), (j[J[f"{s}_elbow"]], j[J[f"{s}_wrist"]], SKIN),
            (j[J[f"{s}_wrist"]], j[J[f"{s}_hand"]], SKIN),
            (j[J[f"{s}_hand"]], j[J[f"{s}_hand"]] + 1.6 * (j[J[f"{s}_hand"]] - j[J[f"{s}_wrist"]]), SKIN),
        ]
    d = np.stack([_point_segment_dist(v, a, b)[0] for a, b, _ in segs], -1)
    lab = np.array([p for _, _, p in segs])[d.argmin(-1)]
    # waistband: torso below the pelvis + 4 cm belongs to the trousers
    pel_y = j[J["pelvis"], 1]
    lab[(lab == SHIRT) & (v[:, 1] < pel_y + 0.04) & (np.abs(v[:, 0] - j[J["pelvis"], 0]) < 0.25)] = TROUSERS
    ank_y = min(j[J["L_ankle"], 1], j[J["R_ankle"], 1])
    lab[(lab == TROUSERS) & (v[:, 1] < ank_y + 0.04)] = SHOES
    # head details
    head = j[J["head"]]
    on_head = (v[:, 1] > j[J["neck"], 1] + 0.03) & (np.abs(v[:, 0] - head[0]) < 0.13) & (lab == SKIN)
    front_z = v[on_head, 2].max() if on_head.any() else head[2] + 0.1
    rel = v - head
    lab[on_head & ((rel[:, 1] > 0.085) | ((rel[:, 1] > -0.02) & (rel[:, 2] < -0.035)))] = HAIR
    # eyes: front surface, ~3.2 cm either side of the midline, a little above the head joint
    face = on_head & (v[:, 2] > front_z - 0.045)
    eye_y = head[1] + 0.045
    lab[face & (np.abs(np.abs(rel[:, 0]) - 0.032) < 0.012) & (np.abs(v[:, 1] - eye_y) < 0.008)] = EYES
    mouth_y = head[1] - 0.03
    lab[face & (np.abs(rel[:, 0]) < 0.022) & (np.abs(v[:, 1] - mouth_y) < 0.006)] = LIPS
    return lab.astype(np.int8)


@dataclass
class Outfit:
    skin: tuple
    shirt: tuple
    trousers: tuple
    shoes: tuple
    hair: tuple
    long_sleeves: bool = False

    @staticmethod
    def random(rng: np.random.Generator) -> "Outfit":
        pick = lambda xs: tuple(xs[int(rng.integers(len(xs)))])  # noqa: E731
        return Outfit(pick(SKIN_TONES), pick(SHIRTS), pick(TROUSERS_C), pick(SHOES_C), pick(HAIR_C),
                      bool(rng.random() < 0.4))


def body_colors(labels: np.ndarray, outfit: Outfit, rest_vertices=None, rest_joints=None) -> np.ndarray:
    """(V,3) per-vertex colours from part labels and an outfit."""
    table = np.array([outfit.skin, outfit.shirt, outfit.trousers, outfit.shoes, outfit.hair,
                      (0.10, 0.07, 0.06), (0.70, 0.35, 0.35)], dtype=np.float32)
    col = table[labels.astype(np.int64)]
    if outfit.long_sleeves and rest_vertices is not None and rest_joints is not None:
        v, j = np.asarray(rest_vertices), np.asarray(rest_joints)
        for s in ("L", "R"):
            a, b = j[J[f"{s}_elbow"]], j[J[f"{s}_wrist"]]
            d, tt = _point_segment_dist(v, a, b)
            m = (labels == SKIN) & (d < 0.09) & (tt < 0.85)
            col[m] = outfit.shirt
    return col


# ------------------------------------------------------------------------------------- scene
@dataclass
class Occluder:
    kind: str                   # "box" | "table" | "pole"
    center: tuple               # world x, z of the footprint centre
    size: tuple                 # box: (sx, sy, sz); pole: (radius, height)
    color: tuple = (0.55, 0.40, 0.25)
    yaw: float = 0.0

    def meshes(self) -> list[tuple[np.ndarray, np.ndarray, bool]]:
        """[(vertices world, faces, flat)]"""
        x, z = self.center
        if self.kind == "box":
            sx, sy, sz = self.size
            v, f = box_mesh((x, sy / 2, z), (sx, sy, sz), self.yaw)
            return [(v, f, True)]
        if self.kind == "table":
            sx, sy, sz = self.size
            out = [box_mesh((x, sy - 0.02, z), (sx, 0.04, sz), self.yaw) + (True,)]
            c, s = np.cos(self.yaw), np.sin(self.yaw)
            for dx in (-1, 1):
                for dz in (-1, 1):
                    lx, lz = dx * (sx / 2 - 0.05), dz * (sz / 2 - 0.05)
                    px, pz = x + c * lx + s * lz, z - s * lx + c * lz
                    out.append(box_mesh((px, (sy - 0.04) / 2, pz), (0.05, sy - 0.04, 0.05)) + (True,))
            return out
        if self.kind == "pole":
            r, h = self.size
            v, f = cylinder_mesh((x, 0.0, z), h, r, segments=20)
            return [(v, f, False)]
        raise ValueError(f"unknown occluder kind {self.kind!r}")


@dataclass
class Scene:
    camera: object              # unveil.types.Camera
    R: np.ndarray               # (3,3) world -> camera
    t: np.ndarray               # (3,)
    wall_point: tuple = (0.0, 0.0, -3.0)
    wall_normal: tuple = (0.0, 0.0, 1.0)
    floor_color: tuple = (0.62, 0.45, 0.30)
    wall_color: tuple = (0.75, 0.72, 0.66)
    wall_style: str = "bricks"  # "bricks" | "stripes" | "plaster"
    plank_width: float = 0.16
    occluders: list = field(default_factory=list)
    seed: int = 0
    light: Light = field(default_factory=Light)

    def camera_light(self) -> Light:
        """The scene light with ``up`` expressed in camera axes."""
        up = self.R @ np.array([0.0, 1.0, 0.0])
        sun = self.R @ np.array([0.35, 0.9, 0.45])
        return Light(direction=tuple(sun), up=tuple(up), ambient=self.light.ambient,
                     diffuse=self.light.diffuse, specular=self.light.specular,
                     shininess=self.light.shininess)


def _hash01(a, b, seed):
    """Deterministic per-cell pseudo-random numbers in [0, 1) for integer arrays a, b."""
    h = (a.astype(np.int64) * 73856093) ^ (b.astype(np.int64) * 19349663) ^ (int(seed) * 83492791)
    h = (h ^ (h >> 13)) * 1274126177
    return ((h ^ (h >> 16)) & 0xFFFF).astype(np.float32) / 65536.0


def _floor_texture(x, z, sc: Scene):
    w = sc.plank_width
    row = np.floor(z / w)
    off = _hash01(row, row * 0 + 7, sc.seed) * 1.3
    col = np.floor((x + off) / 1.3)
    tone = 0.82 + 0.3 * _hash01(row, col, sc.seed)
    grain = 0.06 * np.sin(x * 23.0 + 4.0 * np.sin(z * 9.0 + row)) + 0.03 * np.sin(x * 71.0 + row * 3.1)
    fz = z / w - row
    fx = (x + off) / 1.3 - col
    seam = (fz < 0.04) | (fx < 0.008)
    shade = (tone + grain) * np.where(seam, 0.55, 1.0)
    return np.asarray(sc.floor_color, np.float32)[None] * shade[:, None]


def _wall_texture(u, y, sc: Scene):
    base = np.asarray(sc.wall_color, np.float32)[None]
    if sc.wall_style == "bricks":
        bh, bw = 0.075, 0.24
        r = np.floor(y / bh)
        uu = u + 0.5 * bw * (r % 2)
        c = np.floor(uu / bw)
        tone = 0.85 + 0.25 * _hash01(r, c, sc.seed + 1)
        mortar = ((y / bh - r) < 0.12) | ((uu / bw - c) < 0.05)
        col = np.where(mortar[:, None], np.array([[0.82, 0.80, 0.76]]), base * tone[:, None])
        return col.astype(np.float32)
    if sc.wall_style == "stripes":
        s = (np.floor(u / 0.15) % 2).astype(np.float32)
        return (base * (0.85 + 0.2 * s)[:, None]).astype(np.float32)
    n = 0.04 * np.sin(u * 13.0 + 3 * np.sin(y * 7.0)) + 0.03 * np.sin(y * 31.0 + u * 5.0)
    return (base * (1.0 + n)[:, None]).astype(np.float32)


def background_layers(sc: Scene, fb: Framebuffer) -> dict:
    """Ray-cast floor and wall once per scene and resolution (cached on the scene): colour,
    depth, and the floor pixels' world x, z (for per-frame shadows)."""
    key = (fb.W, fb.H, fb.ss)
    cache = sc.__dict__.setdefault("_bg_cache", {})
    if key in cache:
        return cache[key]
    d_cam = fb.pixel_rays().reshape(-1, 3)
    R = np.asarray(sc.R, np.float64)
    t = np.asarray(sc.t, np.float64)
    C = -R.T @ t
    d = (d_cam.astype(np.float64) @ R)                     # world directions (rows R^T d)
    n_px = len(d)
    rgb = np.empty((n_px, 3), np.float32)
    depth = np.full(n_px, np.inf, np.float32)
    up_amt = np.clip(d[:, 1] / np.linalg.norm(d, axis=1), -1, 1)
    rgb[:] = (np.array([0.78, 0.84, 0.90])[None] + 0.15 * up_amt[:, None]).clip(0, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        s_floor = np.where(d[:, 1] < -1e-9, -C[1] / d[:, 1], np.inf)
        nw = np.asarray(sc.wall_normal, np.float64)
        nw = nw / np.linalg.norm(nw)
        den = d @ nw
        s_wall = np.where(den < -1e-9, (np.asarray(sc.wall_point) - C) @ nw / den, np.inf)
    s_wall = np.where(s_wall > 0, s_wall, np.inf)
    s_floor = np.where(s_floor > 0, s_floor, np.inf)
    floor = s_floor < s_wall
    wall = ~floor & np.isfinite(s_wall)
    floor_idx = np.nonzero(floor)[0]
    floor_xz = np.zeros((0, 2), np.float32)
    if len(floor_idx):
        p = C[None] + s_floor[floor_idx, None] * d[floor_idx]
        rgb[floor_idx] = _floor_texture(p[:, 0], p[:, 2], sc) * 0.95
        depth[floor_idx] = s_floor[floor_idx]
        floor_xz = p[:, [0, 2]].astype(np.float32)
    if wall.any():
        p = C[None] + s_wall[wall, None] * d[wall]
        tang = np.cross(np.array([0.0, 1.0, 0.0]), nw)
        col = _wall_texture(p @ tang, p[:, 1], sc)
        col *= (0.8 + 0.2 * np.clip(p[:, 1] / 0.4, 0, 1))[:, None]   # contact shadow at the floor
        rgb[wall] = col
        depth[wall] = s_wall[wall]
    cache[key] = {"rgb": rgb, "depth": depth, "floor_idx": floor_idx, "floor_xz": floor_xz}
    return cache[key]


def draw_background(fb: Framebuffer, sc: Scene, shadows: list[tuple[float, float, float]] = ()) -> None:
    """Floor and wall into ``fb`` (colour and depth) with soft shadow blobs ``shadows``:
    (x, z, radius) on the floor, darkening by ``1 - 0.55 exp(-1.5 r^2 / radius^2)``."""
    bg = background_layers(sc, fb)
    rgb = bg["rgb"].copy()
    xz, idx = bg["floor_xz"], bg["floor_idx"]
    for sx, sz, rad in shadows:
        near = (np.abs(xz[:, 0] - sx) < 2.5 * rad) & (np.abs(xz[:, 1] - sz) < 2.5 * rad)
        if not near.any():
            continue
        q = xz[near]
        r2 = ((q[:, 0] - sx) ** 2 + (q[:, 1] - sz) ** 2) / (rad * rad)
        rgb[idx[near]] *= (1.0 - 0.55 * np.exp(-1.5 * r2))[:, None]
    fb.set_background(rgb, bg["depth"])


def to_camera(points_world, sc: Scene) -> np.ndarray:
    return np.asarray(points_world, np.float32) @ np.asarray(sc.R, np.float32).T + np.asarray(sc.t, np.float32)


def draw_occluders(fb: Framebuffer, sc: Scene, first_id: int = 100) -> None:
    for k, occ in enumerate(sc.occluders):
        for v, f, flat in occ.meshes():
            fb.draw(to_camera(v, sc), f, occ.color, object_id=first_id + k, flat=flat)


def render_frame(sc: Scene, people: list[tuple[np.ndarray, np.ndarray, np.ndarray]], supersample: int = 2,
                 keep_buffer: bool = False, cull_people: bool = True, image_only: bool = False):
    """Render one frame.

    ``people``: [(vertices_world (V,3), faces (F,3), colours (V,3))]; person k gets object id k.
    ``cull_people``: drop back faces of the (closed, outward-wound) body meshes — same image, ~2x
    fewer fragments.
    Returns the :class:`~unveil.io.raster.RenderResult` (and the framebuffer when
    ``keep_buffer``, for visibility queries).
    """
    fb = Framebuffer(sc.camera, supersample=supersample, light=sc.camera_light())
    shadows = []
    for v, _, _ in people:
        v = np.asarray(v)
        lo = v[:, 1] < v[:, 1].min() + 0.25
        if lo.any():
            c = v[lo].mean(0)
            ext = np.ptp(v[lo][:, [0, 2]], axis=0).max() if lo.sum() > 1 else 0.3
            shadows.append((float(c[0]), float(c[2]), float(max(0.28, 0.6 * ext))))
    draw_background(fb, sc, shadows)
    for k, (v, f, col) in enumerate(people):
        fb.draw(to_camera(v, sc), f, col, object_id=k, cull_back=cull_people)
    draw_occluders(fb, sc)
    res = fb.resolve(image_only=image_only)
    return (res, fb) if keep_buffer else res
