"""Synthetic ground-truth video: the body model performing mocap in simple scenes with occluders,
seen by known cameras; the real 2D detector then runs on the frames.

Seed: issue 7, ``shared/design/synthetic-video.md`` (the BEDLAM idea that MoRo §5 fine-tunes on:
render a parametric body performing mocap, keep the exact truth).

Pipeline per (clip, kind, seed):

1. **Retarget** (:class:`BodyRig`): SMPL-24 local rotations from the clip's joints by swing IK
   (:func:`unveil.fit.ik.joints_to_rotations`) on the *body model's* rest joints; the root
   translation is the clip's pelvis scaled by the leg-length ratio (model / clip), so strides fit
   the model's legs; then the whole clip is lifted so that the 10th percentile over frames of the
   lowest vertex is at ``y = 0`` (feet on the floor). The truth is the posed body model itself.
2. **COCO-17 vertex regressor** (documented, :meth:`BodyRig.coco17`): body keypoints are SMPL-24
   joints (shoulders, elbows, wrists, knees, ankles); the hips are BlazePose-like, 0.9 × the hip
   half-width from the pelvis centre and 1% of body height lower along the pelvis's down axis
   (shared/design: BlazePose hips sit ~1% of height lower and 0.87–0.92 as wide); face keypoints
   are the mean of the 6 rest-pose vertices nearest to geometric targets: nose = the most forward
   vertex of the head midline, eyes = the most forward vertex 3.2 cm either side of the midline and
   3.5 cm above the nose tip, ears = the most lateral head vertices 1 cm above the nose tip.
3. **Occlusion labels** from the depth buffer: each keypoint owns a region of rest-pose vertices
   (within 4 cm of its nearest vertex; 2.5 cm for face points); per frame, among the region's
   vertices that face the camera, ``visible_frac`` = the fraction not hidden by *other* objects
   (occluders, another person) and inside the frame; ``visible_frac_any`` also counts
   self-occlusion. ``occluded = visible_frac < 0.5`` (scene occlusion + truncation, the benchmark's
   kinds); ``occluded_any`` likewise from ``visible_frac_any``.
4. **Scene recipes** (:func:`make_recipe`), seeded per kind: ``none``, ``object`` (box or table on
   the camera–subject line), ``pole``, ``truncation`` (close camera aimed at the upper body: the
   frame edge cuts the legs), ``person`` (a second rendered person crossing in front), ``lower``
   (a wide, hip-high counter in front of the subject for the whole clip), ``mixed`` (a box and a
   pole at two points of the path); the camera's azimuth
   (±70° around the subject's facing), height (0.7–1.8 m), vertical FoV (45–65°) vary, and the
   distance is the smallest that keeps the subject in frame (the truncation kind excepted).
5. **Render** frames in worker processes (:mod:`multiprocessing`, 2 by default), write an H.264
   mp4 and a ground-truth npz into the cache (``$UNVEIL_CACHE/synthvideo``); rerendering is
   skipped when both files exist.

:func:`load_render_sequences` renders (cached), runs the real detector
(:func:`unveil.detect.people.track_video`) on each video and returns sequences with the fields of
:class:`unveil.data.synth2d.SynthSequence` (``keypoints2d`` from the detector, COCO-17) for
``unveil bench accuracy --source render``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import atomic, paths
from ..errors import UnveilError
from ..skeleton import SMPL24_INDEX as JI
from ..types import Camera
from ..fit.disentangle import bone_lengths
from ..fit.shape import fit_shape
from .corpus import corpus_id, load_split
from ..io.video import VideoWriter, iter_frames
from ..detect.assets import detector_sha256
from ..stages import source_hash
from ..skeleton import COCO17_EDGES, to_coco17
from .demo_motion import load_motion

KINDS = ("none", "object", "pole", "truncation", "person", "lower", "mixed")
COCO_FROM_JOINT = {5: 16, 6: 17, 7: 18, 8: 19, 9: 20, 10: 21, 13: 4, 14: 5, 15: 7, 16: 8}
OCC_THRESHOLD = 0.5
VIEWS = ("front", "back")   # make_recipe's camera side ("back": azimuth + 180 degrees, training renders)
RENDER_VERSION = 4      # bump when recipes/rendering change: cached renders are keyed by it (4: corpus v3 joints)


def cache_root() -> Path:
    return paths.cache_dir() / "synthvideo"


# ------------------------------------------------------------------------------------ body rig
def _clip_shape(body_model, joints_world):
    """Body shape whose bone lengths match the mocap actor's (ARTS bone-guided fit), so the
    rendered person has the proportions and size of the performer: without it the default body is
    ~20% larger than the Bandai actors and every monocular method's depth is off by that much."""
    import torch

    from ..body import load_body_model  # deferred: looked up at call time (tests substitute unveil.body.load_body_model)

    body = load_body_model(body_model) if isinstance(body_model, str) else body_model
    if getattr(body, "num_shape", 0) < 2:  # no shape space to fit (e.g. a test stand-in body)
        return None
    with torch.no_grad():
        return fit_shape(body, bone_lengths(np.asarray(joints_world, np.float64))).detach()


class BodyRig:
    """A body model with a fixed shape, its colours, COCO-17 regressor and visibility regions."""

    def __init__(self, body_model="anny", shape=None, outfit=None, rng=None):
        import torch

        from ..body import load_body_model  # deferred: looked up at call time (tests substitute unveil.body.load_body_model)
        from ..render import scene  # deferred: loads scipy

        self.body = load_body_model(body_model) if isinstance(body_model, str) else body_model
        with torch.no_grad():
            self.shape = self.body.default_shape() if shape is None else torch.as_tensor(
                shape, dtype=self.body.dtype)
            self.rest_joints = self.body.rest_joints(self.shape).cpu().numpy().astype(np.float64)
            self.rest_vertices = self.body.rest_vertices(self.shape).cpu().numpy().astype(np.float64)
        self.faces = self.body.faces.cpu().numpy().astype(np.int64)
        v, j = self.rest_vertices, self.rest_joints
        self.height = float(v[:, 1].max() - v[:, 1].min())
        self._face_targets()
        labels = scene.body_part_labels(v, j)
        labels[(labels == scene.EYES) | (labels == scene.LIPS)] = scene.SKIN
        for k in (1, 2):
            labels[(np.linalg.norm(v - self.face_targets[k], axis=1) < 0.011) & (labels == scene.SKIN)] = scene.EYES
        mouth = self.face_targets[0] + np.array([0.0, -0.035, -0.012])
        d = np.abs(v - mouth)
        labels[(d[:, 0] < 0.02) & (d[:, 1] < 0.006) & (d[:, 2] < 0.02) & (labels == scene.SKIN)] = scene.LIPS
        self.labels = labels
        rng = rng or np.random.default_rng(0)
        self.outfit = outfit or scene.Outfit.random(rng)
        self.colors = scene.body_colors(labels, self.outfit, v, j)
        self._regions()

    # ---------------------------------------------------------------- regressor + regions
    def _face_targets(self):
        v, j = self.rest_vertices, self.rest_joints
        head, neck = j[JI["head"]], j[JI["neck"]]
        on_head = (v[:, 1] > neck[1] + 0.04) & (np.abs(v[:, 0] - head[0]) < 0.12) & \
                  (np.abs(v[:, 2] - head[2]) < 0.16)
        hv = np.nonzero(on_head)[0]
        mid = hv[np.abs(v[hv, 0] - head[0]) < 0.012]
        nose = v[mid[np.argmax(v[mid, 2])]] if len(mid) else head + np.array([0.0, 0.0, 0.1])
        targets = [nose]
        for side in (1.0, -1.0):                       # l_eye (+X, the body's left), r_eye
            col = hv[(np.abs(v[hv, 0] - (head[0] + side * 0.032)) < 0.007) &
                     (np.abs(v[hv, 1] - (nose[1] + 0.035)) < 0.007)]
            targets.append(v[col[np.argmax(v[col, 2])]] if len(col) else nose + [side * 0.032, 0.035, -0.02])
        for side in (1.0, -1.0):                       # l_ear, r_ear
            band = hv[(np.abs(v[hv, 1] - (nose[1] + 0.01)) < 0.015) & (v[hv, 2] < nose[2] - 0.05)]
            k = band[np.argmax(side * v[band, 0])] if len(band) else None
            targets.append(v[k] if k is not None else head + [side * 0.075, 0.02, 0.0])
        self.face_targets = np.stack(targets)                       # (5,3) rest pose
        d = np.linalg.norm(v[None] - self.face_targets[:, None], axis=-1)
        self.face_idx = np.argsort(d, axis=1)[:, :6]                # (5,6)

    def coco17_rest(self) -> np.ndarray:
        return self._coco17_from(self.rest_vertices[None], self.rest_joints[None], np.eye(3)[None])[0]

    def _coco17_from(self, verts, joints, root_rot):
        T = verts.shape[0]
        out = np.empty((T, 17, 3), dtype=np.float64)
        out[:, :5] = verts[:, self.face_idx].mean(2)
        for k, jj in COCO_FROM_JOINT.items():
            out[:, k] = joints[:, jj]
        pel = joints[:, JI["pelvis"]]
        down = -root_rot[:, :, 1]                                   # pelvis's local -Y in world
        for k, jj in ((11, JI["L_hip"]), (12, JI["R_hip"])):
            mid = 0.5 * (joints[:, JI["L_hip"]] + joints[:, JI["R_hip"]])
            out[:, k] = mid + 0.9 * (joints[:, jj] - mid) + 0.01 * self.height * down
        del pel
        return out

    def _regions(self):
        v = self.rest_vertices
        pts = self.coco17_rest()
        regions = []
        for k in range(17):
            d = np.linalg.norm(v - pts[k], axis=1)
            r = 0.025 if k < 5 else d.min() + 0.04
            regions.append(np.nonzero(d < max(r, d.min() + 1e-6))[0])
        self.regions = regions

    # ---------------------------------------------------------------- posing
    def retarget(self, joints_world: np.ndarray) -> dict:
        """Clip joints (T,24,3) world Y-up -> rotmats (T,24,3,3), transl (T,3), vertices, joints,
        coco17 (all world, feet on the floor)."""
        import torch

        from ..fit.ik import joints_to_rotations  # deferred: loads roma

        jw = np.asarray(joints_world, dtype=np.float64)
        rest = self.rest_joints
        leg = lambda J: (np.linalg.norm(J[..., JI["L_hip"], :] - J[..., JI["L_knee"], :], axis=-1)  # noqa: E731
                         + np.linalg.norm(J[..., JI["L_knee"], :] - J[..., JI["L_ankle"], :], axis=-1))
        ratio = float(leg(rest) / max(np.median(leg(jw)), 1e-6))
        rot = joints_to_rotations(jw, rest)                               # (T,24,3,3) numpy
        transl = jw[:, 0] * ratio
        verts, joints = self.pose(rot, transl)
        floor = np.percentile(verts[..., 1].min(1), 10)
        transl[:, 1] -= floor
        verts[..., 1] -= floor
        joints[..., 1] -= floor
        return {"rotmats": rot.astype(np.float32), "transl": transl.astype(np.float32),
                "vertices": verts, "joints": joints, "leg_ratio": ratio,
                "coco17": self._coco17_from(verts, joints, rot[:, 0]).astype(np.float32)}

    def pose(self, rotmats, transl, batch: int = 32):
        import torch

        vs, js = [], []
        with torch.no_grad():
            for a in range(0, len(rotmats), batch):
                out = self.body(torch.as_tensor(np.asarray(rotmats[a:a + batch]), dtype=self.body.dtype),
                                self.shape, torch.as_tensor(np.asarray(transl[a:a + batch]), dtype=self.body.dtype))
                vs.append(out["vertices"].cpu().numpy().astype(np.float32))
                js.append(out["joints"].cpu().numpy().astype(np.float32))
        return np.concatenate(vs), np.concatenate(js)


# ------------------------------------------------------------------------------------ recipes
def _seed(*parts) -> int:
    return zlib.crc32("|".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


def facing_direction(joints: np.ndarray) -> np.ndarray:
    """(2,) mean horizontal facing (x, z) of SMPL-24 joints: left-hip->right-hip rotated."""
    left = joints[:, JI["L_hip"]] - joints[:, JI["R_hip"]]
    f = np.stack([-left[:, 2], left[:, 0]], -1).mean(0)   # forward = left x up -> (-lz, lx)
    n = np.linalg.norm(f)
    return f / n if n > 1e-6 else np.array([0.0, 1.0])


@dataclass
class Recipe:
    kind: str
    seed: int
    scene: object                       # unveil.render.scene.Scene
    info: dict = field(default_factory=dict)
    second: dict | None = None          # {"joints": (T,24,3) world, "outfit_seed": int}


def _fit_distance(points, eye_dir, height, target, focal, W, H, margin=0.06):
    from ..render.scene import look_at  # deferred: loads scipy

    for dist in np.arange(1.5, 20.0, 0.1):
        eye = np.array([target[0] + eye_dir[0] * dist, height, target[2] + eye_dir[1] * dist])
        R, t = look_at(eye, target)
        pc = points @ R.T + t
        if (pc[:, 2] < 0.5).any():
            continue
        u = focal * pc[:, 0] / pc[:, 2] + W / 2
        v = focal * pc[:, 1] / pc[:, 2] + H / 2
        if (u > margin * W).all() and (u < (1 - margin) * W).all() and (v > margin * H).all() and \
                (v < (1 - margin) * H).all():
            return float(dist), eye, R, t
    return float(dist), eye, R, t


def make_recipe(kind: str, seed: int, vertices_world: np.ndarray, joints_world: np.ndarray,
                width: int = 960, height: int = 540, name: str = "", view: str = "front") -> Recipe:
    """A seeded scene for one occlusion ``kind`` around a posed clip (see the module docstring).
    ``view="back"`` turns the camera's azimuth by 180 degrees (the subject seen from behind; training
    renders of the detector noise model, issue 12)."""
    if view not in VIEWS:
        raise UnveilError(f"unknown render view {view!r} (expected one of {', '.join(VIEWS)})")
    from ..render.scene import Occluder, Scene, look_at  # deferred: loads scipy

    if kind not in KINDS:
        raise UnveilError(f"unknown scene kind {kind!r} (expected one of {', '.join(KINDS)})")
    rng = np.random.default_rng(_seed("recipe", name, kind, seed))
    T = len(joints_world)
    pel = joints_world[:, 0]
    centre = pel.mean(0)
    face = facing_direction(joints_world)
    travel = pel[-1, [0, 2]] - pel[0, [0, 2]] if T else np.zeros(2)
    if np.linalg.norm(travel) > 1.0:
        # a walk: look at it from 40-80 degrees off the travel direction, on the side it faces,
        # so that it crosses the frame (and passes behind the occluders placed below)
        base = np.arctan2(travel[0], travel[1])
        az = base + rng.choice([-1.0, 1.0]) * rng.uniform(40, 80) * np.pi / 180
    else:
        az = np.arctan2(face[0], face[1]) + rng.uniform(-70, 70) * np.pi / 180
    if view == "back":
        az = az + np.pi
    eye_dir = np.array([np.sin(az), np.cos(az)])
    cam_h = rng.uniform(0.7, 1.8)
    fov = np.deg2rad(rng.uniform(45, 65))
    focal = height / 2 / np.tan(fov / 2)
    target = np.array([centre[0], 0.9, centre[2]])
    step = max(1, T // 12)
    sub = np.concatenate([vertices_world[::step, ::9].reshape(-1, 3), joints_world[::step].reshape(-1, 3)])
    dist, eye, R, t = _fit_distance(sub, eye_dir, cam_h, target, focal, width, height)
    info = {"fov_deg": float(np.rad2deg(fov)), "cam_height": float(cam_h), "distance": dist,
            "azimuth_deg": float(np.rad2deg(az))}
    if kind == "truncation":
        # closer and aimed at the upper body: the bottom edge cuts the legs (or a side edge a limb)
        target = np.array([centre[0], rng.uniform(1.0, 1.3), centre[2]])
        dist = dist * rng.uniform(0.55, 0.7)
        eye = np.array([target[0] + eye_dir[0] * dist, cam_h, target[2] + eye_dir[1] * dist])
        R, t = look_at(eye, target)
        info["distance"] = float(dist)
    cam = Camera(focal=float(focal), cx=width / 2, cy=height / 2, width=width, height=height)
    # wall behind the subject, facing the camera
    n = np.array([eye_dir[0], 0.0, eye_dir[1]])
    extent = float(np.max((pel[:, [0, 2]] - centre[[0, 2]]) @ -eye_dir)) if T else 0.0
    wall_p = centre - n * (max(extent, 0.0) + rng.uniform(1.5, 3.5))
    wall_p[1] = 0.0
    styles = ("bricks", "stripes", "plaster")
    sc = Scene(camera=cam, R=R, t=t, wall_point=tuple(wall_p), wall_normal=tuple(n),
               wall_style=styles[int(rng.integers(3))], seed=int(rng.integers(1 << 16)),
               wall_color=tuple(rng.uniform(0.55, 0.85, 3)),
               floor_color=tuple(np.array([0.62, 0.45, 0.30]) * rng.uniform(0.8, 1.15)))
    occ_col = tuple(rng.uniform(0.25, 0.75, 3))
    yaw = float(np.arctan2(eye_dir[0], eye_dir[1]))
    # a point on the camera -> subject line, fraction f of the way from the subject
    def between(frac, at=None, clearance=0.0):
        """A point fraction ``frac`` of the way from the subject towards the camera, moved further
        towards the camera until it is ``clearance`` metres from every pelvis position."""
        p = pel[T // 2] if at is None else at
        c = np.array([eye[0], eye[2]])
        q = np.array([p[0], p[2]])
        for f in np.arange(frac, 0.9, 0.02):
            x = q + f * (c - q)
            if clearance <= 0 or np.linalg.norm(pel[:, [0, 2]] - x, axis=1).min() >= clearance:
                break
        return tuple(x)
    second = None
    if kind == "object":
        frac = rng.uniform(0.2, 0.4)
        if rng.random() < 0.5:
            size = (rng.uniform(0.5, 0.9), rng.uniform(0.5, 0.9), rng.uniform(0.4, 0.7))
            sc.occluders.append(Occluder("box", between(frac, clearance=0.3 + 0.5 * max(size)), size, occ_col, yaw))
        else:
            size = (rng.uniform(0.9, 1.3), rng.uniform(0.72, 0.8), rng.uniform(0.6, 0.8))
            sc.occluders.append(Occluder("table", between(frac, clearance=0.3 + 0.5 * max(size)), size, occ_col,
                                         yaw))
    elif kind == "mixed":
        # a low box and a pole at different points of the path
        size = (rng.uniform(0.5, 0.9), rng.uniform(0.5, 0.8), rng.uniform(0.4, 0.6))
        a = pel[T // 4] if T else centre
        b = pel[(3 * T) // 4] if T else centre
        sc.occluders.append(Occluder("box", between(rng.uniform(0.2, 0.4), at=a, clearance=0.3 + 0.5 * max(size)),
                                     size, occ_col, yaw))
        sc.occluders.append(Occluder("pole", between(rng.uniform(0.15, 0.4), at=b, clearance=0.4),
                                     (rng.uniform(0.06, 0.12), 3.0), tuple(rng.uniform(0.25, 0.75, 3))))
    elif kind == "pole":
        sc.occluders.append(Occluder("pole", between(rng.uniform(0.15, 0.4), clearance=0.4), (rng.uniform(0.06, 0.12), 3.0),
                                     occ_col))
    elif kind == "lower":
        # a wide counter between camera and the whole path: legs hidden throughout
        span = float(np.ptp((pel[:, [0, 2]]) @ np.array([eye_dir[1], -eye_dir[0]]))) if T else 0.0
        sc.occluders.append(Occluder("box", between(rng.uniform(0.2, 0.3), at=centre, clearance=0.55),
                                     (span + rng.uniform(1.2, 2.0), rng.uniform(0.55, 0.75), 0.5), occ_col, yaw))
    elif kind == "person":
        # the same motion turned 180 degrees about Y, half a clip later, crossing between camera and subject
        c2 = np.array(between(rng.uniform(0.2, 0.35), at=centre))
        side = np.array([eye_dir[1], -eye_dir[0]]) * rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.6)
        c2 = c2 + side
        ang = np.pi + rng.uniform(-0.4, 0.4)
        Ry = np.array([[np.cos(ang), 0, np.sin(ang)], [0, 1, 0], [-np.sin(ang), 0, np.cos(ang)]])
        j2 = np.roll(joints_world, T // 2, axis=0) - np.array([centre[0], 0, centre[2]])
        j2 = j2 @ Ry.T + np.array([c2[0], 0, c2[1]])
        second = {"joints": j2.astype(np.float32), "outfit_seed": int(rng.integers(1 << 30))}
    return Recipe(kind, seed, sc, info, second)


# ------------------------------------------------------------------------------------ rendering
_W: dict = {}


def _worker_init(state):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    _W.clear()
    _W.update(state)


def _render_one(args):
    """Render frame i; returns (i, image, visible_frac (17,), visible_frac_any (17,))."""
    from ..geometry import vertex_normals  # deferred: loads scipy
    from ..render.scene import render_frame, to_camera  # deferred: loads scipy

    i, people_verts = args
    sc = _W["scene"]
    people = [(v, _W["faces"], c) for v, c in zip(people_verts, _W["colors"])]
    res, fb = render_frame(sc, people, supersample=_W["supersample"], keep_buffer=True, image_only=True)
    v0 = people_verts[0]
    vc = to_camera(v0, sc)
    nrm = vertex_normals(vc, _W["faces"])
    front = (nrm * -vc).sum(-1) > 0
    vis_ext = fb.visible(vc, tol=0.03, object_id=0)
    vis_any = fb.visible(vc, tol=0.03)
    fe, fa = np.zeros(17, np.float32), np.zeros(17, np.float32)
    for k, reg in enumerate(_W["regions"]):
        r = reg[front[reg]]
        if len(r) == 0:
            r = reg
        fe[k] = vis_ext[r].mean()
        fa[k] = vis_any[r].mean()
    return i, res.image, fe, fa


def render_frames(recipe: Recipe, rigs: list[BodyRig], people_verts: list[np.ndarray], supersample: int = 2,
                  workers: int = 2):
    """Yield (i, image, visible_frac, visible_frac_any) for each frame, in order."""
    state = {"scene": recipe.scene, "faces": rigs[0].faces, "colors": [r.colors for r in rigs],
             "regions": rigs[0].regions, "supersample": supersample}
    T = len(people_verts[0])
    tasks = ((i, [pv[i] for pv in people_verts]) for i in range(T))
    if workers <= 1:
        _worker_init(state)
        for a in tasks:
            yield _render_one(a)
        return
    ctx = mp.get_context("fork") if hasattr(os, "fork") else mp.get_context()
    with ctx.Pool(workers, initializer=_worker_init, initargs=(state,)) as pool:
        yield from pool.imap(_render_one, tasks, chunksize=2)


def sequence_stem(name: str, kind: str, seed: int, width: int, height: int, frames: int | None = None,
                  supersample: int = 2, view: str = "front") -> str:
    return (f"{name}__{kind}__s{seed}__{width}x{height}" + (f"__{frames}f" if frames else "")
            + ("" if supersample == 2 else f"__ss{supersample}") + ("" if view == "front" else f"__{view}")
            + f"__r{RENDER_VERSION}-{_corpus_id()}")


def _corpus_id() -> str:
    return corpus_id()


def render_sequence(joints_world: np.ndarray, name: str, kind: str = "none", seed: int = 0,
                    out_dir: str | os.PathLike | None = None, width: int = 960, height: int = 540,
                    fps: float = 30.0, body_model="anny", workers: int = 2, supersample: int = 2,
                    force: bool = False, log=None, view: str = "front") -> dict:
    """Render one clip in one scene kind; write ``<stem>.mp4`` and ``<stem>.npz`` (ground truth).

    Returns {"video": path, "truth": path, "seconds": s, "fps_render": frames/s, "cached": bool}.
    """
    out_dir = Path(out_dir) if out_dir is not None else cache_root()
    stem = sequence_stem(name, kind, seed, width, height, len(joints_world), supersample, view)
    video, truth = out_dir / f"{stem}.mp4", out_dir / f"{stem}.npz"
    if video.exists() and truth.exists() and not force:
        return {"video": video, "truth": truth, "seconds": 0.0, "fps_render": None, "cached": True}
    t0 = time.time()
    rng = np.random.default_rng(_seed("body", name, kind, seed))
    rig = BodyRig(body_model, shape=_clip_shape(body_model, joints_world), rng=rng)
    posed = rig.retarget(joints_world)
    recipe = make_recipe(kind, seed, posed["vertices"], posed["joints"], width, height, name, view)
    rigs, verts = [rig], [posed["vertices"]]
    if recipe.second is not None:
        rig2 = BodyRig(rig.body, rng=np.random.default_rng(recipe.second["outfit_seed"]))
        verts.append(rig2.retarget(recipe.second["joints"])["vertices"])
        rigs.append(rig2)
    T = len(joints_world)
    vis = np.zeros((T, 17), np.float32)
    vis_any = np.zeros((T, 17), np.float32)
    t1 = time.time()
    with VideoWriter(video, fps, crf=18) as w:
        for i, img, fe, fa in render_frames(recipe, rigs, verts, supersample, workers):
            w.write(img)
            vis[i], vis_any[i] = fe, fa
            if log and (i + 1) % 30 == 0:
                log(f"  {stem}: frame {i + 1}/{T}")
    t_render = time.time() - t1
    sc = recipe.scene
    R, t = np.asarray(sc.R, np.float32), np.asarray(sc.t, np.float32)
    jc = posed["joints"] @ R.T + t
    kc = posed["coco17"] @ R.T + t
    cam = sc.camera
    kp2d = np.stack([cam.focal * kc[..., 0] / kc[..., 2] + cam.cx, cam.focal * kc[..., 1] / kc[..., 2] + cam.cy], -1)
    import roma
    import torch

    aa = roma.rotmat_to_rotvec(torch.as_tensor(posed["rotmats"])).numpy()
    atomic.save_npz(
        truth, name=np.array(name), kind=np.array(kind), seed=np.array(seed), fps=np.array(fps, np.float32),
        joints_world=posed["joints"].astype(np.float32), joints_cam=jc.astype(np.float32),
        coco17_world=posed["coco17"], coco17_cam=kc.astype(np.float32), keypoints2d_true=kp2d.astype(np.float32),
        visible_frac=vis, visible_frac_any=vis_any, occluded=vis < OCC_THRESHOLD,
        occluded_any=vis_any < OCC_THRESHOLD, focal=np.array(cam.focal, np.float32),
        principal_point=np.array([cam.cx, cam.cy], np.float32), width=np.array(cam.width),
        height=np.array(cam.height), R=R, t=t, global_orient=aa[:, 0], body_pose=aa[:, 1:],
        transl=posed["transl"], shape=rig.shape.cpu().numpy(), body_model=np.array(rig.body.name),
        recipe=np.array(json.dumps({"kind": kind, "seed": seed, **recipe.info})))
    total = time.time() - t0
    return {"video": video, "truth": truth, "seconds": total, "render_seconds": t_render,
            "fps_render": T / max(t_render, 1e-9), "cached": False}


# ------------------------------------------------------------------------------------ detector
@dataclass
class RenderSequence:
    """The fields of :class:`unveil.data.synth2d.SynthSequence`, keypoints from the real detector."""

    name: str
    kind: str
    keypoints2d: np.ndarray   # (T, 17, 3) detector output, COCO-17, pixels + confidence (0 where missed)
    occluded: np.ndarray      # (T, 17) bool truth from the depth buffer
    camera: Camera
    R: np.ndarray
    t: np.ndarray
    joints_cam: np.ndarray
    joints_world: np.ndarray
    fps: float
    keypoints2d_true: np.ndarray | None = None
    info: dict = field(default_factory=dict)
    world_landmarks: np.ndarray | None = None   # (T, 33, 3) the detector's BlazePose world landmarks (NaN: missed)

    @property
    def joints_rel(self) -> np.ndarray:
        return self.joints_cam - self.joints_cam[:, :1]


def load_truth(path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def detect_to_coco17(tracks, truth2d: np.ndarray) -> tuple[np.ndarray, dict]:
    """Pick, per frame, the detected person closest to the truth (mean 2D distance of the body
    keypoints) and return its COCO-17 keypoints (T,17,3); frames without a detection get zeros
    (confidence 0) at the truth-free position of the last detection."""
    T = len(truth2d)
    out = np.zeros((T, 17, 3), np.float32)
    best = np.full(T, np.inf)
    wl = np.full((T, 33, 3), np.nan, np.float32)
    for tr in tracks:
        kp = to_coco17(np.asarray(tr.keypoints, np.float32), tr.layout)
        for row, f in enumerate(np.asarray(tr.frames)):
            if not (0 <= f < T):
                continue
            d = np.nanmean(np.linalg.norm(kp[row, 5:, :2] - truth2d[f, 5:], axis=-1))
            if d < best[f]:
                best[f] = d
                out[f] = kp[row]
                if tr.world_landmarks is not None:
                    wl[f] = tr.world_landmarks[row]
    found = np.isfinite(best)
    last = None
    for f in range(T):
        if found[f]:
            last = out[f, :, :2].copy()
        elif last is not None:
            out[f, :, :2] = last
    return out, {"detected_frames": int(found.sum()), "frames": T, "world_landmarks": wl}


def frontend_key() -> str:
    """What the cached detections depend on: the front end's code (``detect/``, ``io/video.py``) and
    the detector models' bytes."""
    return source_hash("detect/*.py", "io/video.py") + "-" + detector_sha256()[:12]


def run_detector(video: Path, truth: dict, cache: Path | None = None, force: bool = False) -> tuple[np.ndarray, dict]:
    """Run FRONTEND's detector + tracker on ``video`` (cached next to it as ``.det.npz``, recomputed when
    :func:`frontend_key` changed: a changed tracker must not be scored on the old one's detections)."""
    cache = cache or video.with_suffix(".det.npz")
    key = frontend_key()
    if cache.exists() and not force:
        d = load_truth(cache)
        if str(d.get("frontend", "")) == key:
            return d["keypoints2d"], {"detected_frames": int(d["detected_frames"]), "frames": int(d["frames"]),
                                      "world_landmarks": d["world_landmarks"], "seconds": float(d["seconds"])}
    from ..detect.people import track_video  # deferred: loads cv2, scipy

    t0 = time.time()
    tracks = track_video(str(video))
    kp, info = detect_to_coco17(tracks, truth["keypoints2d_true"])
    info["seconds"] = time.time() - t0
    atomic.save_npz(cache, keypoints2d=kp, detected_frames=np.array(info["detected_frames"]),
                    frames=np.array(info["frames"]), world_landmarks=info["world_landmarks"],
                    seconds=np.array(info["seconds"]), frontend=np.array(key))
    return kp, info


def load_render_sequences(kinds=("none", "object"), clips=None, seed: int = 0, max_clips: int | None = 4,
                          max_frames: int | None = 60, width: int = 960, height: int = 540,
                          body_model: str = "anny", workers: int = 2, detector: bool = True,
                          out_dir=None, log=print, supersample: int = 2, truth: str = "body",
                          view: str = "front") -> list[RenderSequence]:
    """Render (cached) evaluation clips in each scene kind, run the detector, return sequences.

    ``clips``: MocapClip-like objects (``name``, ``joints``, ``fps``) or None for the evaluation
    split (``unveil.data.corpus.load_split("eval", max_clips, seed)``). ``max_frames`` crops each
    clip (from its start) to keep rendering affordable. Without ``detector`` the keypoints are the
    true projections with confidence = visible fraction (a check of the plumbing, not a benchmark).

    ``truth``: which SMPL-24 skeleton the sequences' 3D truth (``joints_cam``/``joints_world``) is:
    ``"body"`` = the rendered body model's own joints (what the pixels show); ``"mocap"`` = the
    clip's mocap joints (the convention every other benchmark and training set here uses), scaled by
    the leg-length ratio and placed on the rendered body's pelvis (:func:`mocap_truth`). The two
    differ by ~45 mm per joint root-relative (spine/neck/head/hands/collars: 75-150 mm).
    """
    if truth not in ("body", "mocap"):
        raise UnveilError(f"unknown render truth {truth!r} (expected body or mocap)")
    if clips is None:
        clips = load_split("eval", max_clips=max_clips, seed=seed)
    out = []
    for clip in clips:
        jw = np.asarray(clip.joints, np.float32)[:max_frames]
        for kind in kinds:
            r = render_sequence(jw, clip.name, kind, seed, out_dir, width, height, float(clip.fps),
                                body_model, workers, supersample, view=view)
            if log and not r["cached"]:
                log(f"rendered {clip.name} [{kind}] {len(jw)} frames in {r['seconds']:.1f} s "
                    f"({r['fps_render']:.2f} frames/s)")
            tr = load_truth(r["truth"])
            cam = Camera(float(tr["focal"]), float(tr["principal_point"][0]), float(tr["principal_point"][1]),
                         int(tr["width"]), int(tr["height"]))
            info = {"video": str(r["video"]), "truth": str(r["truth"]), "source": "render",
                    "visible_frac": tr["visible_frac"], "occluded_any": tr["occluded_any"]}
            if truth == "mocap":
                tr = dict(tr)
                tr["joints_world"], tr["joints_cam"] = mocap_truth(jw, tr["joints_world"], tr["R"], tr["t"])
            wl = None
            if detector:
                kp, dinfo = run_detector(Path(r["video"]), tr)
                wl = np.asarray(dinfo.pop("world_landmarks"), np.float32)
                info.update(dinfo)
            else:
                kp = np.concatenate([tr["keypoints2d_true"], tr["visible_frac"][..., None]], -1)
            out.append(RenderSequence(str(clip.name), kind, kp.astype(np.float32), tr["occluded"].astype(bool), cam,
                                      tr["R"], tr["t"], tr["joints_cam"], tr["joints_world"], float(tr["fps"]),
                                      tr["keypoints2d_true"], info, wl))
    return out


def mocap_truth(clip_joints, body_joints_world, R, t):
    """Mocap-convention truth for a render: the clip's joints (T,24,3) scaled by the median
    leg-length ratio (rendered body / clip) and translated onto the rendered body's pelvis; returns
    (joints_world, joints_cam) float32."""
    cj, bj = np.asarray(clip_joints, np.float64), np.asarray(body_joints_world, np.float64)
    leg = lambda J: (np.linalg.norm(J[:, JI["L_hip"]] - J[:, JI["L_knee"]], axis=-1)  # noqa: E731
                     + np.linalg.norm(J[:, JI["L_knee"]] - J[:, JI["L_ankle"]], axis=-1))
    ratio = float(np.median(leg(bj)) / max(np.median(leg(cj)), 1e-6))
    jw = (cj - cj[:, :1]) * ratio + bj[:, :1]
    jc = jw @ np.asarray(R, np.float64).T + np.asarray(t, np.float64)
    return jw.astype(np.float32), jc.astype(np.float32)


# ------------------------------------------------------------------------------------ contact sheet
def contact_sheet(seqs: list[RenderSequence], path, per_row: int = 4, thumb_h: int = 240) -> Path:
    """One row per sequence: ``per_row`` evenly spaced frames with the detector's COCO-17
    keypoints (green: confidence >= 0.5, orange: below) and the truth's occluded keypoints
    (red rings)."""
    import cv2

    rows = []
    for s in seqs:
        T = len(s.keypoints2d)
        want = set(np.linspace(0, T - 1, per_row).round().astype(int).tolist())
        tiles = []
        for i, fr in iter_frames(s.info["video"]):
            if i not in want:
                continue
            img = fr.copy()
            kp = s.keypoints2d[i]
            for a, b in COCO17_EDGES:
                if kp[a, 2] > 0.05 and kp[b, 2] > 0.05:
                    cv2.line(img, tuple(np.round(kp[a, :2]).astype(int)), tuple(np.round(kp[b, :2]).astype(int)),
                             (0, 200, 0), 2, cv2.LINE_AA)
            for k in range(17):
                c = tuple(np.round(kp[k, :2]).astype(int))
                cv2.circle(img, c, 4, (0, 230, 0) if kp[k, 2] >= 0.5 else (255, 150, 0), -1, cv2.LINE_AA)
                if s.occluded[i, k]:
                    t2 = tuple(np.round(s.keypoints2d_true[i, k]).astype(int))
                    cv2.circle(img, t2, 7, (255, 0, 0), 2, cv2.LINE_AA)
            label = f"{s.kind} {s.name[:28]} f{i}"
            from ..io.overlay import put_text  # deferred: loads cv2

            put_text(img, label)
            scale = thumb_h / img.shape[0]
            tiles.append(cv2.resize(img, (int(img.shape[1] * scale), thumb_h), interpolation=cv2.INTER_AREA))
        if tiles:
            rows.append(np.concatenate(tiles, 1))
    if not rows:
        raise UnveilError("nothing to put on the contact sheet")
    w = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, w - r.shape[1]), (0, 0))) for r in rows]
    sheet = np.concatenate(rows, 0)
    from PIL import Image

    path = Path(path)
    with atomic.atomic_path(path) as tmp:
        Image.fromarray(sheet).save(tmp)
    return path


def detector_stats(s: RenderSequence) -> dict:
    """2D error of the detector (% of the subject's 2D height) and confidences, visible vs occluded."""
    h = np.ptp(s.keypoints2d_true[..., 1], axis=1)[:, None]
    err = np.linalg.norm(s.keypoints2d[..., :2] - s.keypoints2d_true, axis=-1) / np.maximum(h, 1) * 100
    det = s.keypoints2d[..., 2].max(-1) > 0
    occ = s.occluded & det[:, None]
    vis = ~s.occluded & det[:, None]
    f = lambda x, m: float(x[m].mean()) if m.any() else float("nan")  # noqa: E731
    return {"detected": float(det.mean()), "occluded": float(s.occluded.mean()),
            "err_vis": f(err, vis), "err_occ": f(err, occ),
            "conf_vis": f(s.keypoints2d[..., 2], vis), "conf_occ": f(s.keypoints2d[..., 2], occ)}


def main(argv: list[str], prog: str = "unveil data render") -> int:
    """Render evaluation clips per scene kind (cached), run the detector, print frames/s and the
    detector's 2D error, and write a contact sheet."""
    import argparse

    ap = argparse.ArgumentParser(prog=prog, description=main.__doc__)
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated scene kinds")
    ap.add_argument("--clips", type=int, default=1, help="evaluation clips (random, seeded); 0 = the demo motion")
    ap.add_argument("--frames", type=int, default=90, help="frames per clip (from the start)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--width", type=int, default=960)
    ap.add_argument("--height", type=int, default=540)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--body-model", default="anny")
    ap.add_argument("--sheet", default=None, help="contact sheet PNG path")
    ap.add_argument("--no-detect", action="store_true")
    ap.add_argument("--out", default=None, help=f"render cache folder (default {cache_root()})")
    a = ap.parse_args(argv)
    kinds = [k for k in a.kinds.split(",") if k]
    for k in kinds:
        if k not in KINDS:
            raise UnveilError(f"unknown scene kind {k!r} (expected {', '.join(KINDS)})")
    if a.clips == 0:
        from types import SimpleNamespace

        m = load_motion()
        clips = [SimpleNamespace(name=f"demo_{m['clip']}", joints=m["joints"], fps=30.0)]
    else:
        clips = load_split("eval", max_clips=a.clips, seed=a.seed)
    t0 = time.time()
    seqs = load_render_sequences(kinds, clips, a.seed, None, a.frames, a.width, a.height, a.body_model,
                                 a.workers, not a.no_detect, a.out)
    print(f"{'sequence':<44} {'kind':<11} {'frames':>6} {'det%':>5} {'occ%':>5} {'err_vis%':>8} "
          f"{'err_occ%':>8} {'conf_vis':>8} {'conf_occ':>8}")
    for s in seqs:
        st = detector_stats(s)
        print(f"{s.name[:44]:<44} {s.kind:<11} {len(s.keypoints2d):>6} {st['detected'] * 100:>5.0f} "
              f"{st['occluded'] * 100:>5.0f} {st['err_vis']:>8.1f} {st['err_occ']:>8.1f} {st['conf_vis']:>8.2f} "
              f"{st['conf_occ']:>8.2f}")
    print(f"{len(seqs)} sequences in {time.time() - t0:.0f} s (rendering is cached; render frames/s is "
          "printed when a sequence is rendered)")
    if a.sheet:
        print(f"wrote {contact_sheet(seqs, a.sheet)}")
    return 0


# ------------------------------------------------------------------------------------ CPU baseline
LIMB_JOINTS = (1, 2, 4, 5, 7, 8, 16, 17, 18, 19, 20, 21)   # hips, knees, ankles, shoulders, elbows, wrists


def blazepose_world_to_smpl24(world: np.ndarray) -> np.ndarray:
    """BlazePose's own 33 world landmarks (T,33,3; hip-centred metres, x right, y down, z away
    from the camera) -> (T,24,3) SMPL-24 joints, pelvis at 0 — "what a CPU user would pick
    instead" (issue 7). Limb joints map directly (hips 23/24, knees 25/26, ankles 27/28,
    shoulders 11/12, elbows 13/14, wrists 15/16, feet = foot index 31/32, hands = mean of index
    and pinky); the rest is interpolated (neck = shoulder centre, head = ear centre, spine1/2/3 =
    pelvis->neck at 1/4, 1/2, 3/4, collars = neck->shoulder at 1/2). Only the 12 limb joints
    (:data:`LIMB_JOINTS`) are meaningful for scoring. NaN frames stay NaN."""
    w = np.asarray(world, np.float64)
    out = np.empty(w.shape[:-2] + (24, 3))
    pel = 0.5 * (w[..., 23, :] + w[..., 24, :])
    neck = 0.5 * (w[..., 11, :] + w[..., 12, :])
    m = {1: 23, 2: 24, 4: 25, 5: 26, 7: 27, 8: 28, 10: 31, 11: 32, 16: 11, 17: 12, 18: 13, 19: 14, 20: 15, 21: 16}
    for j, b in m.items():
        out[..., j, :] = w[..., b, :]
    out[..., 0, :] = pel
    out[..., 3, :] = pel + 0.25 * (neck - pel)
    out[..., 6, :] = pel + 0.5 * (neck - pel)
    out[..., 9, :] = pel + 0.75 * (neck - pel)
    out[..., 12, :] = neck
    out[..., 13, :] = neck + 0.5 * (w[..., 11, :] - neck)
    out[..., 14, :] = neck + 0.5 * (w[..., 12, :] - neck)
    out[..., 15, :] = 0.5 * (w[..., 7, :] + w[..., 8, :])
    out[..., 22, :] = 0.5 * (w[..., 19, :] + w[..., 17, :])
    out[..., 23, :] = 0.5 * (w[..., 20, :] + w[..., 18, :])
    return (out - out[..., :1, :]).astype(np.float32)


def _fill_missing(x: np.ndarray) -> np.ndarray:
    """(T, ...) with NaN frames -> each NaN frame takes the nearest earlier valid frame (the first
    valid frame before it); all-NaN stays zeros."""
    x = np.array(x, np.float32, copy=True)
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(-1)
    if bad.all():
        return np.zeros_like(x)
    good = np.nonzero(~bad)[0]
    src = np.maximum.accumulate(np.where(bad, -1, np.arange(len(x))))
    src[src < 0] = good[0]
    return x[src]


def blazepose_world_row(inputs) -> dict:
    """Bench row ``blazepose-world``: BlazePose's own world landmarks (``inputs.world_landmarks``,
    the real detector's output; render source only) -> SMPL-24 via
    :func:`blazepose_world_to_smpl24`; frames the detector missed repeat the last detection. Only
    the 12 :data:`LIMB_JOINTS` are scored (``score_joints``), the joints BlazePose actually has."""
    wl = getattr(inputs, "world_landmarks", None)
    if wl is None:
        raise UnveilError("blazepose-world needs the detector's world landmarks (--source render only)")
    return {"joints": blazepose_world_to_smpl24(_fill_missing(wl)), "score_joints": LIMB_JOINTS}
