"""``unveil body show``: pose the body model from one mocap frame and write a shaded PNG.

Mocap joints (``--bvh FILE`` through :func:`unveil.data.bvh.bvh_to_smpl24`, or ``--clip NAME`` from
the mocap corpus) -> local rotations by swing IK against the body's own T-pose joints
(:func:`unveil.fit.ik.joints_to_rotations`, ``aim="direction"``: the
mocap skeleton's proportions differ from the body's, so bone directions are transferred) -> the body model (pelvis placed on the mocap pelvis)
-> :func:`unveil.io.raster.render` (numpy z-buffer, part colours from
:attr:`BodyModel.vertex_parts`) seen from a three-quarter front view, with the mocap joints drawn
as red dots on top (they should sit inside the mesh at the body's joints).
"""

from __future__ import annotations

import argparse

import numpy as np

from ..errors import UnveilError
from ..types import Camera
from .. import atomic


def mocap_joints(bvh: str | None, clip: str | None) -> tuple[np.ndarray, str]:
    """(T, 24, 3) SMPL-24 world joints (metres, Y up) and a label."""
    if bvh:
        from ..data.bvh import bvh_to_smpl24  # deferred: loads torch

        joints, _, _, kind = bvh_to_smpl24(bvh)
        return np.asarray(joints, dtype=np.float64), f"{bvh} ({kind})"
    from ..data import corpus  # deferred: loads torch

    for split in corpus.SPLITS:
        for c in corpus.load_split(split):
            if c.name == clip:
                return np.asarray(c.joints, dtype=np.float64), f"{clip} ({split})"
    raise UnveilError(f"no mocap clip named {clip!r} in the corpus")


def pose_from_joints(body, joints: np.ndarray):
    """(24, 3) world joints -> (vertices (V,3), posed joints (24,3)) numpy, via swing IK."""
    import torch

    from ..fit.ik import joints_to_rotations  # deferred: loads roma, torch

    rest = body.rest_joints().detach().double()
    j = torch.as_tensor(joints, dtype=torch.float64)
    try:  # mocap and body proportions differ: retarget bone *directions* (HybrIK-style)
        rot = joints_to_rotations(j, rest, aim="direction")
    except TypeError:  # an IK without the option: it is direction-based
        rot = joints_to_rotations(j, rest)
    with torch.no_grad():
        out = body(rot.float()[None], transl=torch.as_tensor(joints[0], dtype=torch.float32)[None])
    return out["vertices"][0].numpy(), out["joints"][0].numpy()


def view_camera(joints: np.ndarray, vertices: np.ndarray, width: int, height: int, azimuth_deg: float):
    """A camera 3.5 m from the pelvis, ``azimuth_deg`` around the body's facing direction, framing
    the mesh. Returns (Camera, R, t)."""
    from ..render.scene import look_at  # deferred: loads scipy, torch

    left = joints[1] - joints[2]
    left[1] = 0.0
    left /= max(np.linalg.norm(left), 1e-9)
    fwd = np.cross(left, [0.0, 1.0, 0.0])                          # +X left, Y up -> facing = left x up
    a = np.deg2rad(azimuth_deg)
    d = np.cos(a) * fwd + np.sin(a) * left
    centre = (vertices.min(0) + vertices.max(0)) / 2
    eye = centre + 3.5 * d + np.array([0.0, 0.3, 0.0])
    R, t = look_at(eye, centre)
    cam_pts = vertices @ R.T + t
    uv = cam_pts[:, :2] / cam_pts[:, 2:3]
    half = np.abs(uv).max(0)                                       # normalised half extents
    focal = 0.85 * min(width / 2 / half[0], height / 2 / half[1])
    return Camera(focal=float(focal), cx=width / 2, cy=height / 2, width=width, height=height), R, t


def render_png(body, vertices, joints_mocap, path, width=640, height=800, azimuth=30.0, dots=True):
    from PIL import Image, ImageDraw

    cam, R, t = view_camera(joints_mocap, vertices, width, height, azimuth)
    vc = vertices @ R.T + t
    colors = body.vertex_colors().astype(np.float32) / 255.0
    faces = body.faces.cpu().numpy()
    try:
        from ..io.raster import render  # deferred: loads scipy

        img = render(vc, faces, cam, colors=colors, background=(0.93, 0.93, 0.9)).image
    except ImportError:  # RENDER's rasteriser missing: a painter's-algorithm fallback
        img = _painter(vc, faces, colors, cam)
    im = Image.fromarray(img)
    if dots:
        draw = ImageDraw.Draw(im)
        jc = joints_mocap @ R.T + t
        uv = jc[:, :2] / jc[:, 2:3] * cam.focal + [cam.cx, cam.cy]
        for u, v in uv:
            draw.ellipse([u - 3, v - 3, u + 3, v + 3], fill=(220, 30, 30))
    with atomic.atomic_path(path) as tmp:
        im.save(tmp, format="PNG")


def _painter(vc, faces, colors, cam) -> np.ndarray:
    from PIL import Image, ImageDraw

    im = Image.new("RGB", (cam.width, cam.height), (237, 237, 230))
    draw = ImageDraw.Draw(im)
    tri = vc[faces]
    n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
    shade = 0.35 + 0.65 * np.clip(-n[:, 2], 0, 1)
    uv = tri[..., :2] / tri[..., 2:3] * cam.focal + [cam.cx, cam.cy]
    col = colors[faces].mean(1) * shade[:, None]
    for i in np.argsort(-tri[..., 2].mean(1)):
        draw.polygon([tuple(p) for p in uv[i]], fill=tuple(int(c * 255) for c in col[i]))
    return np.asarray(im)


def main(argv: list[str], prog: str = "unveil body show") -> int:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--bvh", help="a BVH file (Bandai or CMU)")
    src.add_argument("--clip", help="a mocap corpus clip name, e.g. dataset-1_walk_normal_001")
    ap.add_argument("--frame", type=int, default=0, help="frame index (default 0)")
    ap.add_argument("-o", "--output", required=True, help="output PNG")
    ap.add_argument("--body-model", default="anny", help="anny | anny-native | PATH to an SMPL/SMPL-X file")
    ap.add_argument("--azimuth", type=float, default=30.0, help="view angle from the front, degrees (+ = body's left)")
    ap.add_argument("--size", default="640x800", help="WxH pixels")
    ap.add_argument("--no-dots", action="store_true", help="do not draw the mocap joints")
    args = ap.parse_args(argv)

    from ..body.base import load_body_model  # deferred: loads roma, torch

    try:
        width, height = (int(x) for x in args.size.lower().split("x"))
    except ValueError:
        raise UnveilError(f"--size must look like 640x800, got {args.size!r}") from None
    joints, label = mocap_joints(args.bvh, args.clip)
    if not -len(joints) <= args.frame < len(joints):
        raise UnveilError(f"--frame {args.frame} is outside the clip ({len(joints)} frames)")
    body = load_body_model(args.body_model)
    j = joints[args.frame]
    verts, posed = pose_from_joints(body, j)
    render_png(body, verts, j, args.output, width, height, args.azimuth, dots=not args.no_dots)
    # how well the mesh's joints follow the mocap joints (bone lengths differ: not zero)
    err = np.linalg.norm(posed - j, axis=1)
    print(f"{args.output}: {body.name} posed from {label} frame {args.frame}; "
          f"body-vs-mocap joint distance mean {err.mean() * 100:.1f} cm (bone lengths differ)")
    return 0
