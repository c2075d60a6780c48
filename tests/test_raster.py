"""Renderer: silhouette, depth order and visibility of simple meshes."""

import numpy as np

from unveil.io.raster import Framebuffer, box_mesh, cylinder_mesh, render
from unveil.types import Camera


def _cam(n=100, f=100.0):
    return Camera(focal=f, cx=n / 2, cy=n / 2, width=n, height=n)


def test_cube_silhouette_and_depth():
    v, f = box_mesh((0, 0, 5), (1, 1, 1))
    r = render(v, f, _cam(), colors=(1, 0, 0), with_tri_id=True)
    mask = np.isfinite(r.depth)
    ys, xs = np.nonzero(mask)
    # front face at z = 4.5 spans 50 +- 100 * 0.5 / 4.5 = 50 +- 11.1 px -> pixels 39..61
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (39, 61, 39, 61)
    assert mask.sum() == 23 * 23
    assert abs(r.depth[50, 50] - 4.5) < 1e-4
    assert r.image[50, 50, 0] > 100 and r.image[50, 50, 1] < 30       # red, lit
    assert tuple(r.image[0, 0]) == (204, 204, 204)                      # background
    assert (r.tri_id[mask] >= 0).all() and (r.tri_id[~mask] == -1).all()


def test_near_box_occludes_far_box_regardless_of_draw_order():
    near_v, near_f = box_mesh((0, 0, 4), (0.6, 0.6, 0.6))
    far_v, far_f = box_mesh((0.2, 0, 8), (2, 2, 2))
    for order in ((0, 1), (1, 0)):
        fb = Framebuffer(_cam())
        meshes = [(near_v, near_f, (1, 0, 0), 1), (far_v, far_f, (0, 0, 1), 2)]
        for i in order:
            v, f, c, oid = meshes[i]
            fb.draw(v, f, c, object_id=oid, flat=True)
        r = fb.resolve()
        assert r.object_id[50, 50] == 1 and abs(r.depth[50, 50] - 3.7) < 1e-3
        assert r.object_id[50, 64] == 2          # far box visible beside the near one
        assert r.image[50, 50, 0] > r.image[50, 50, 2] and r.image[50, 64, 2] > r.image[50, 64, 0]
        # visibility: a point on the far box behind the near one is hidden, beside it visible
        vis = fb.visible(np.array([[0.0, 0.0, 7.0], [1.0, 0.0, 7.0]]))
        assert vis.tolist() == [False, True]
        # excluding self-occlusion: the far box's own surface does not hide a point inside it
        vis = fb.visible(np.array([[1.0, 0.0, 7.5]]), object_id=2)
        assert vis.tolist() == [True]


def test_cylinder_and_supersampling_antialias():
    v, f = cylinder_mesh((0, -1, 5), 2.0, 0.3)
    r1 = render(v, f, _cam(), supersample=1, colors=(0, 0, 0), background=(1, 1, 1))
    r2 = render(v, f, _cam(), supersample=3, colors=(0, 0, 0), background=(1, 1, 1))
    g1, g2 = r1.image[..., 0], r2.image[..., 0]
    assert ((g1 > 20) & (g1 < 235)).sum() == 0         # 1x: hard edges
    # supersampled edges have intermediate grey values; the silhouette area agrees
    assert ((g2 > 20) & (g2 < 235)).sum() > 10
    assert abs((g1 < 128).sum() - (g2 < 128).sum()) < 0.05 * (g1 < 128).sum()
