"""Scene: camera convention, ray-cast floor depth, occluder meshes, body part labels."""

import numpy as np

from unveil.fit.ik import rest_skeleton_tpose
from unveil.io.raster import Framebuffer
from unveil.render.scene import (HAIR, SHIRT, SHOES, SKIN, TROUSERS, Occluder, Scene, body_part_labels,
                                 draw_background, look_at, render_frame)
from unveil.types import Camera


def test_look_at_is_opencv():
    R, t = look_at((0.0, 1.0, 5.0), (0.0, 1.0, 0.0))
    assert np.allclose(R @ R.T, np.eye(3), atol=1e-6) and np.linalg.det(R) > 0
    p = R @ np.array([0.0, 1.0, 0.0]) + t                 # the target: straight ahead
    assert np.allclose(p, [0, 0, 5], atol=1e-5)
    up = R @ np.array([0.0, 2.0, 0.0]) + t                # above the target: y < 0 (image up)
    right = R @ np.array([1.0, 1.0, 0.0]) + t             # camera at +z looking to -z: world +x is right
    assert up[1] < 0 and right[0] > 0


def test_floor_depth_is_exact_and_wall_behind():
    cam = Camera(focal=100.0, cx=50, cy=50, width=100, height=100)
    R, t = look_at((0.0, 1.0, 4.0), (0.0, 0.0, 0.0))
    sc = Scene(cam, R, t, wall_point=(0, 0, -3), wall_normal=(0, 0, 1))
    fb = Framebuffer(cam, supersample=1)
    draw_background(fb, sc, shadows=[(0.0, 0.0, 0.4)])
    z = fb.zbuf.reshape(100, 100)
    # the centre pixel looks at the world origin on the floor: depth = |eye - target|
    assert abs(z[50, 50] - np.sqrt(17.0)) < 0.05
    # the top rows see the wall (further away than the floor below it), the bottom the floor
    assert np.isfinite(z[0]).all() and z[0].mean() > z[99].mean()
    img = fb.bg.reshape(100, 100, 3)
    assert img[50, 50].sum() < img[50, 95].sum() + 0.5    # the shadow darkens the floor under the subject


def test_occluders_and_people_share_the_depth_buffer():
    cam = Camera(focal=120.0, cx=60, cy=60, width=120, height=120)
    R, t = look_at((0.0, 0.8, 4.0), (0.0, 0.8, 0.0))
    sc = Scene(cam, R, t, occluders=[Occluder("pole", (0.0, 2.0), (0.1, 3.0)),
                                     Occluder("table", (1.0, 0.0), (1.0, 0.75, 0.6))])
    from unveil.io.raster import box_mesh

    v, f = box_mesh((0.0, 0.9, 0.0), (0.5, 1.8, 0.3))    # a "person" behind the pole
    res = render_frame(sc, [(v, f, np.full((8, 3), 0.5, np.float32))])
    assert res.object_id[60, 60] == 100                   # the pole in front of the person
    assert (res.object_id == 0).sum() > 200 and (res.object_id == 101).sum() > 50


def test_body_part_labels_on_a_tpose():
    j = rest_skeleton_tpose(1.7, dtype=__import__("torch").float64).numpy()
    rng = np.random.default_rng(0)
    # points scattered around every bone + around the head
    pts = [j[c] + (j[p] - j[c]) * rng.uniform(0, 1, (30, 1)) + rng.normal(0, 0.02, (30, 3))
           for c, p in enumerate((-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21))
           if p >= 0]
    v = np.concatenate(pts)
    lab = body_part_labels(v, j)
    near = lambda k: np.linalg.norm(v - j[k], axis=1).argmin()  # noqa: E731
    assert lab[near(4)] == TROUSERS and lab[near(10)] == SHOES
    assert lab[near(6)] == SHIRT and lab[near(21)] == SKIN
    top = j[15] + [0, 0.12, 0]
    lab2 = body_part_labels(np.concatenate([v, top[None]]), j)
    assert lab2[-1] == HAIR
