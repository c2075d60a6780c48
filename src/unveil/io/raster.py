"""A pip-only numpy z-buffer rasteriser (no OpenGL), used by the synthetic-video engine, the demo
and the overlay video.

Seed: issue 7 / ``shared/design/synthetic-video.md`` (BEDLAM-style rendered ground truth, as MoRo
fine-tunes on). Nothing here is from a paper; it is the textbook pipeline:

- perspective projection with OpenCV intrinsics, ``u = f x / z + cx`` (camera frame x right,
  y down, z forward); supersampling by ``s`` uses ``f' = s f`` and ``c' = s (c + 0.5) - 0.5`` so
  pixel centres stay pixel centres;
- rasterisation by screen-space barycentrics over each triangle's bounding box (vectorised over
  all fragments of a chunk of triangles), perspective-correct depth ``1/z = sum_i b_i / z_i``;
- z-buffer resolve per chunk by sorting fragments on (pixel, depth);
- smooth shading of the winning fragments only: perspective-correct interpolation of vertex
  normals and vertex colours, ``c = albedo (k_a sky(n) + k_d max(0, n.l)) + k_s max(0, n.h)^p``
  with a hemisphere sky term ``sky(n) = 0.5 + 0.5 n.up`` (Blinn-Phong);
- anti-aliasing by rendering at ``s`` x the resolution and box-filtering down.

Several meshes share one depth buffer through :class:`Framebuffer` (``draw`` as often as needed,
then ``resolve``); a per-pixel object id and triangle id are kept for visibility tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..geometry import vertex_normals

_CHUNK_FRAGMENTS = 1_500_000


@dataclass
class Light:
    """Lighting in camera coordinates (OpenCV axes)."""

    direction: tuple = (-0.4, -0.8, -0.45)   # towards the light (up-left, behind the camera)
    up: tuple = (0.0, -1.0, 0.0)             # world up seen in camera axes (for the sky term)
    ambient: float = 0.38
    diffuse: float = 0.72
    specular: float = 0.12
    shininess: float = 24.0


@dataclass
class RenderResult:
    image: np.ndarray        # (H, W, 3) uint8
    depth: np.ndarray        # (H, W) float32 metres along z, inf where nothing was drawn
    object_id: np.ndarray    # (H, W) int32, -1 background
    tri_id: np.ndarray | None = None  # (H, W) int32 triangle index (of the concatenated draws), -1 none


def _intrinsics(camera, ss: int):
    f = float(camera.focal) * ss
    cx = (float(camera.cx) + 0.5) * ss - 0.5
    cy = (float(camera.cy) + 0.5) * ss - 0.5
    return f, cx, cy, int(camera.width) * ss, int(camera.height) * ss


class Framebuffer:
    """A supersampled colour + depth + id buffer that several meshes are drawn into.

    ``camera`` is a :class:`unveil.types.Camera` (focal, cx, cy, width, height). Draw meshes given
    in camera coordinates; ``background`` (H*s, W*s, 3) float colours in [0, 1] and
    ``background_depth`` (H*s, W*s) can be set first (e.g. a ray-cast floor and wall) and take
    part in the depth test.
    """

    def __init__(self, camera, supersample: int = 2, light: Light | None = None,
                 background=(0.8, 0.8, 0.8)):
        self.camera = camera
        self.ss = int(supersample)
        self.f, self.cx, self.cy, self.W, self.H = _intrinsics(camera, self.ss)
        self.light = light or Light()
        n = self.W * self.H
        self.zbuf = np.full(n, np.inf, dtype=np.float32)
        self.tri = np.full(n, -1, dtype=np.int64)
        self._bg_color = np.asarray(background, dtype=np.float32)
        self.bg: np.ndarray | None = None   # (n, 3) per-pixel background, or None = plain colour
        # per-draw storage (concatenated lazily at resolve)
        self._tri_offset = 0
        self._draws: list[tuple] = []

    # ------------------------------------------------------------------ background
    def pixel_rays(self) -> np.ndarray:
        """(H*s, W*s, 3) camera-frame ray directions (z = 1) of the supersampled pixel centres."""
        u = (np.arange(self.W, dtype=np.float32) - self.cx) / self.f
        v = (np.arange(self.H, dtype=np.float32) - self.cy) / self.f
        d = np.empty((self.H, self.W, 3), dtype=np.float32)
        d[..., 0] = u[None, :]
        d[..., 1] = v[:, None]
        d[..., 2] = 1.0
        return d

    def set_background(self, rgb: np.ndarray, depth: np.ndarray | None = None) -> None:
        bg = np.asarray(rgb, dtype=np.float32).reshape(-1, 3)
        if bg.shape[0] != self.W * self.H:
            raise ValueError(f"background has {bg.shape[0]} pixels, expected {self.W * self.H}")
        self.bg = bg                     # owned by the framebuffer from here on (shaded in place)
        if depth is not None:
            self.zbuf[:] = np.asarray(depth, dtype=np.float32).reshape(-1)

    # ------------------------------------------------------------------ meshes
    def draw(self, vertices: np.ndarray, faces: np.ndarray, colors, object_id: int = 0,
             normals: np.ndarray | None = None, flat: bool = False, cull_back: bool = False) -> None:
        """Rasterise one mesh (vertices (V,3) in camera coordinates) into the buffer.

        ``colors``: (V,3) per-vertex or (3,) uniform, floats in [0, 1]. ``flat`` uses face normals
        (for boxes); otherwise smooth vertex normals. ``cull_back`` drops triangles facing away
        (only for closed, consistently wound meshes).
        """
        v = np.asarray(vertices, dtype=np.float32)
        f = np.asarray(faces, dtype=np.int64)
        col = np.asarray(colors, dtype=np.float32)
        if col.ndim == 1:
            col = np.broadcast_to(col, v.shape).copy()
        if flat:
            # unshare vertices so every face has its own normal
            v = v[f].reshape(-1, 3)
            col = col[f].reshape(-1, 3)
            f = np.arange(len(v), dtype=np.int64).reshape(-1, 3)
            fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
            fn /= np.maximum(np.linalg.norm(fn, axis=-1, keepdims=True), 1e-12)
            nrm = np.repeat(fn, 3, axis=0).astype(np.float32)
        else:
            nrm = vertex_normals(v, f) if normals is None else np.asarray(normals, dtype=np.float32)
        tri_base = self._tri_offset
        self._draws.append((tri_base, v, f, col, nrm, int(object_id)))
        self._tri_offset += len(f)
        self._raster(v, f, tri_base, cull_back)

    def _project(self, v):
        z = v[:, 2]
        zs = np.maximum(z, 1e-6)
        return np.stack([self.f * v[:, 0] / zs + self.cx, self.f * v[:, 1] / zs + self.cy], -1), z

    def _raster(self, v, f, tri_base, cull_back):
        p, z = self._project(v)
        near = 1e-3
        keep = (z[f] > near).all(1)
        a, b, c = p[f[:, 0]], p[f[:, 1]], p[f[:, 2]]
        area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
        keep &= np.abs(area) > 1e-12
        if cull_back:
            # camera frame with y down: a front face (CCW seen from outside) has area < 0 on screen
            keep &= area < 0
        pf = p[f]                                           # (F, 3, 2)
        x0 = np.ceil(pf[..., 0].min(1)).clip(0, self.W).astype(np.int64)
        x1 = np.floor(pf[..., 0].max(1)).clip(-1, self.W - 1).astype(np.int64)
        y0 = np.ceil(pf[..., 1].min(1)).clip(0, self.H).astype(np.int64)
        y1 = np.floor(pf[..., 1].max(1)).clip(-1, self.H - 1).astype(np.int64)
        w = x1 - x0 + 1
        h = y1 - y0 + 1
        keep &= (w > 0) & (h > 0)
        idx = np.nonzero(keep)[0]
        if len(idx) == 0:
            return
        n = (w[idx] * h[idx]).astype(np.int64)
        # chunk triangles so that a chunk has at most _CHUNK_FRAGMENTS candidate fragments
        csum = np.cumsum(n)
        start = 0
        while start < len(idx):
            base = csum[start - 1] if start > 0 else 0
            stop = int(np.searchsorted(csum, base + _CHUNK_FRAGMENTS, side="right"))
            stop = max(stop, start + 1)
            sel = idx[start:stop]
            self._raster_chunk(sel, n[start:stop], x0[sel], y0[sel], w[sel], pf[sel], z[f[sel]],
                               area[sel], tri_base)
            start = stop

    def _raster_chunk(self, sel, n, x0, y0, w, pf, zt, area, tri_base):
        total = int(n.sum())
        t = np.repeat(np.arange(len(sel)), n)
        offs = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(n) - n, n)
        wt = w[t]
        px = x0[t] + offs % wt
        py = y0[t] + offs // wt
        a, b, c = pf[:, 0], pf[:, 1], pf[:, 2]
        inv = 1.0 / area
        fx = px.astype(np.float32)
        fy = py.astype(np.float32)
        # barycentric weights from edge functions
        b0 = ((b[t, 0] - fx) * (c[t, 1] - fy) - (b[t, 1] - fy) * (c[t, 0] - fx)) * inv[t]
        b1 = ((c[t, 0] - fx) * (a[t, 1] - fy) - (c[t, 1] - fy) * (a[t, 0] - fx)) * inv[t]
        b2 = 1.0 - b0 - b1
        eps = -1e-7
        inside = (b0 >= eps) & (b1 >= eps) & (b2 >= eps)
        t, px, py, b0, b1, b2 = t[inside], px[inside], py[inside], b0[inside], b1[inside], b2[inside]
        if len(t) == 0:
            return
        zi = b0 / zt[t, 0] + b1 / zt[t, 1] + b2 / zt[t, 2]
        depth = (1.0 / zi).astype(np.float32)
        pix = py * self.W + px
        # one int64 key (pixel, depth quantised to 2^24 levels over the chunk's range) sorts faster
        # than a two-key lexsort; ties within a quantum are broken arbitrarily (< 1e-7 of the range)
        dmin, dmax = float(depth.min()), float(depth.max())
        q = ((depth - dmin) * ((2 ** 24 - 1) / max(dmax - dmin, 1e-12))).astype(np.int64)
        order = np.argsort((pix.astype(np.int64) << 24) | q)
        pix_s = pix[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = pix_s[1:] != pix_s[:-1]
        win = order[first]
        pw, dw = pix[win], depth[win]
        better = dw < self.zbuf[pw]
        pw = pw[better]
        self.zbuf[pw] = dw[better]
        self.tri[pw] = tri_base + sel[t[win[better]]]

    # ------------------------------------------------------------------ shading
    def resolve(self, with_tri_id: bool = False, supersampled: bool = False, image_only: bool = False) -> RenderResult:
        """Shade the visible fragments and box-filter down to the camera resolution.

        The background set by :meth:`set_background` is shaded in place (resolve once).
        ``image_only`` skips the downsampled depth / object-id buffers (returned as None).
        """
        if self.bg is None:
            rgb = np.empty((self.W * self.H, 3), dtype=np.float32)
            rgb[:] = self._bg_color
        else:
            rgb = self.bg
        obj = np.full(self.W * self.H, -1, dtype=np.int32)
        L = self.light
        ldir = np.asarray(L.direction, np.float32)
        ldir /= np.linalg.norm(ldir)
        up = np.asarray(L.up, np.float32)
        up /= np.linalg.norm(up)
        cov = np.nonzero(self.tri >= 0)[0]
        tcov = self.tri[cov]
        for tri_base, v, f, col, nrm, oid in self._draws:
            m = (tcov >= tri_base) & (tcov < tri_base + len(f))
            pix = cov[m]
            if len(pix) == 0:
                continue
            tl = tcov[m] - tri_base
            obj[pix] = oid
            px = (pix % self.W).astype(np.float32)
            py = (pix // self.W).astype(np.float32)
            p, z = self._project(v)
            ft = f[tl]
            a, b, c = p[ft[:, 0]], p[ft[:, 1]], p[ft[:, 2]]
            area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
            b0 = ((b[:, 0] - px) * (c[:, 1] - py) - (b[:, 1] - py) * (c[:, 0] - px)) / area
            b1 = ((c[:, 0] - px) * (a[:, 1] - py) - (c[:, 1] - py) * (a[:, 0] - px)) / area
            bw = np.stack([b0, b1, 1.0 - b0 - b1], -1).clip(0, 1)
            bw = bw / z[ft]                                       # perspective correction
            bw /= bw.sum(-1, keepdims=True)
            n = (bw[..., None] * nrm[ft]).sum(1)
            n /= np.sqrt(np.maximum(np.einsum("ij,ij->i", n, n), 1e-24))[:, None]
            pos = (bw[..., None] * v[ft]).sum(1)
            view = -pos / np.sqrt(np.maximum(np.einsum("ij,ij->i", pos, pos), 1e-24))[:, None]
            flip = (n * view).sum(-1) < 0                         # two-sided lighting
            n[flip] = -n[flip]
            albedo = (bw[..., None] * col[ft]).sum(1)
            ndl = np.maximum(n @ ldir, 0.0)
            sky = 0.5 + 0.5 * (n @ up)
            hv = ldir[None] + view
            hv /= np.sqrt(np.maximum(np.einsum("ij,ij->i", hv, hv), 1e-24))[:, None]
            spec = np.maximum((n * hv).sum(-1), 0.0) ** L.shininess
            shade = L.ambient * sky + L.diffuse * ndl
            rgb[pix] = albedo * shade[:, None] + L.specular * spec[:, None]
        s, H, W = self.ss, self.H // self.ss, self.W // self.ss
        img = rgb.reshape(self.H, self.W, 3)
        depth = self.zbuf.reshape(self.H, self.W)
        obj2 = obj.reshape(self.H, self.W)
        tri2 = self.tri.reshape(self.H, self.W).astype(np.int32)
        if supersampled or s == 1:
            out = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
            return RenderResult(out, depth.copy(), obj2.copy(), tri2.copy() if with_tri_id else None)
        # box filter as a sum of the s*s strided sub-images (much faster than a reshaped mean)
        acc = np.zeros((H, W, 3), np.float32)
        if image_only:
            for dy in range(s):
                for dx in range(s):
                    acc += img[dy::s, dx::s]
            out = np.clip(acc * (255.0 / (s * s)) + 0.5, 0, 255).astype(np.uint8)
            return RenderResult(out, None, None, None)
        depth1 = np.full((H, W), np.inf, np.float32)
        obj1 = np.full((H, W), -1, np.int32)
        tri1 = np.full((H, W), -1, np.int32) if with_tri_id else None
        for dy in range(s):
            for dx in range(s):
                acc += img[dy::s, dx::s]
                d = depth[dy::s, dx::s]
                closer = d < depth1
                depth1 = np.where(closer, d, depth1)
                obj1 = np.where(closer, obj2[dy::s, dx::s], obj1)
                if with_tri_id:
                    tri1 = np.where(closer, tri2[dy::s, dx::s], tri1)
        out = np.clip(acc * (255.0 / (s * s)) + 0.5, 0, 255).astype(np.uint8)
        return RenderResult(out, depth1, obj1, tri1)

    # ------------------------------------------------------------------ visibility
    def visible(self, points: np.ndarray, tol: float = 0.02, object_id: int | None = None) -> np.ndarray:
        """(N,) bool: is each camera-frame point in the image and not behind something drawn?

        A point counts as visible when its depth is within ``tol`` metres of the z-buffer at its
        (supersampled) pixel. With ``object_id`` given, only occlusion by *other* objects counts
        (self-occlusion is ignored).
        """
        pts = np.asarray(points, dtype=np.float32).reshape(-1, 3)
        p, z = self._project(pts)
        u = np.round(p[:, 0]).astype(np.int64)
        v = np.round(p[:, 1]).astype(np.int64)
        inside = (z > 1e-3) & (u >= 0) & (u < self.W) & (v >= 0) & (v < self.H)
        out = np.zeros(len(pts), dtype=bool)
        pix = v[inside] * self.W + u[inside]
        zb = self.zbuf[pix]
        ok = z[inside] <= zb + tol
        if object_id is not None:
            # hidden only counts when the occluder is another object
            tri = self.tri[pix]
            occ_obj = np.full(len(pix), -1, dtype=np.int64)
            for tri_base, _, f, _, _, oid in self._draws:
                m = (tri >= tri_base) & (tri < tri_base + len(f))
                occ_obj[m] = oid
            ok |= occ_obj == object_id
        out[inside] = ok
        return out


def render(vertices, faces, camera, colors=(0.7, 0.7, 0.7), supersample: int = 2,
           background=(0.8, 0.8, 0.8), light: Light | None = None, with_tri_id: bool = False,
           flat: bool = False) -> RenderResult:
    """Render one mesh (camera-frame vertices) with a plain background: image, depth, ids."""
    fb = Framebuffer(camera, supersample=supersample, light=light, background=background)
    fb.draw(vertices, faces, colors, object_id=0, flat=flat)
    return fb.resolve(with_tri_id=with_tri_id)


def box_mesh(center, size, rotation_y: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """An axis-aligned (then rotated about +Y) box: 8 vertices, 12 outward CCW triangles."""
    cx, cy, cz = center
    sx, sy, sz = np.asarray(size, dtype=np.float64) / 2.0
    corners = np.array([[x, y, z] for x in (-sx, sx) for y in (-sy, sy) for z in (-sz, sz)])
    c, s = np.cos(rotation_y), np.sin(rotation_y)
    R = np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    v = corners @ R.T + np.array([cx, cy, cz])
    # vertex index = 4*ix + 2*iy + iz
    faces = np.array([
        [0, 1, 3], [0, 3, 2],   # -x
        [4, 6, 7], [4, 7, 5],   # +x
        [0, 4, 5], [0, 5, 1],   # -y
        [2, 3, 7], [2, 7, 6],   # +y
        [0, 2, 6], [0, 6, 4],   # -z
        [1, 5, 7], [1, 7, 3],   # +z
    ], dtype=np.int64)
    return v.astype(np.float32), faces


def cylinder_mesh(base, height: float, radius: float, segments: int = 16):
    """A vertical (+Y) closed cylinder standing on ``base``."""
    ang = np.linspace(0, 2 * np.pi, segments, endpoint=False)
    ring = np.stack([np.cos(ang) * radius, np.zeros_like(ang), np.sin(ang) * radius], -1)
    base = np.asarray(base, dtype=np.float64)
    bottom = ring + base
    top = ring + base + [0, height, 0]
    v = np.concatenate([bottom, top, [base, base + [0, height, 0]]])
    nb, nt = 2 * segments, 2 * segments + 1
    faces = []
    for i in range(segments):
        j = (i + 1) % segments
        faces += [[i, segments + i, segments + j], [i, segments + j, j], [nb, i, j],
                  [nt, segments + j, segments + i]]
    return v.astype(np.float32), np.asarray(faces, dtype=np.int64)
