"""``OUT/viewer.html``: one self-contained page that plays every track in one 3D world.

Two variants, both single files that open offline from disk (no CDN, no network, data inlined as
JSON at millimetre precision):

- **3D** (default when the asset is present): three.js r170 (``build/three.module.min.js`` from the
  npm package, fetched once by ``scripts/fetch_viewer_assets.sh`` into ``$UNVEIL_CACHE/viewer``;
  MIT, its licence header kept) is inlined as a classic script. The page draws every person's
  skeleton as bone cylinders with joint spheres (observed joints solid, inferred joints as white
  wireframe spheres), a ground plane at y = 0, the video camera's frustum (a nominal 60 degree
  horizontal field of view and 16:9 unless given; the exporter has no focal length), a person list
  with show/hide toggles, play/pause and a frame slider; ``viewer.html#frame=N`` opens paused at
  frame N. Drag orbits, wheel zooms. No skinned meshes: those are in the ``<id>.glb`` files, which
  the page links to.
- **2D fallback** (three.js not in the cache, or it could not be inlined): the earlier
  ~100-line canvas-2D stick-figure player (dots: observed joints, rings: inferred), with a note
  saying how to get the 3D one.

Runtime errors in either page are appended to ``<pre id="errors">``; the 3D page sets
``<body data-rendered="N">`` after its N-th rendered frame (the browser test reads both).
"""

from __future__ import annotations

import html
import json
import re

import numpy as np

from ..atomic import write_text
from ..paths import cache_dir
from ..skeleton import SMPL24_PARENTS
from .exporter import ExportContext
from .world_motion import camera_to_world, world_motion

THREE_VERSION = "0.170.0"
FALLBACK_NOTE = "3D viewer unavailable (three.js not in the cache: run scripts/fetch_viewer_assets.sh)"

ERROR_HOOK = """<pre id="errors" style="position:fixed;top:40px;left:10px;color:#f66;margin:0"></pre>
<script>
addEventListener("error", e => { document.getElementById("errors").textContent +=
  "Uncaught " + (e.error && e.error.stack || e.message) + "\\n"; });
</script>"""

# orbit / zoom / scrub / play-pause handlers shared by both pages (need cv, draw, resize, tick,
# slider, btn and ORBIT, the sign of yaw per pixel dragged)
CONTROLS_JS = """let drag = null;
cv.onmousedown = e => drag = [e.clientX, e.clientY];
onmouseup = () => drag = null;
onmousemove = e => { if (!drag) return; yaw += ORBIT * (e.clientX - drag[0]) * 0.01;
  pitch = Math.max(-1.5, Math.min(1.5, pitch + (e.clientY - drag[1]) * 0.01)); drag = [e.clientX, e.clientY]; draw(); };
cv.onwheel = e => { e.preventDefault(); dist = Math.max(0.5, dist * Math.exp(e.deltaY * 0.001)); draw(); };
slider.oninput = () => { frame = f0 + (+slider.value); draw(); };
const toggle = () => { playing = !playing; btn.textContent = playing ? "pause" : "play"; };
btn.onclick = toggle; onkeydown = e => { if (e.code === "Space") { e.preventDefault(); toggle(); } };
onresize = resize; resize(); requestAnimationFrame(tick);
"""

TEMPLATE_2D = """<!doctype html>
<html><head><meta charset="utf-8"><title>unveil viewer — __TITLE__</title>
<style>
body{margin:0;background:#1d1f24;color:#ddd;font:13px system-ui,sans-serif;overflow:hidden}
#bar{position:fixed;left:0;right:0;bottom:0;padding:8px;background:#0008;display:flex;gap:10px;align-items:center}
#bar input[type=range]{flex:1} a{color:#8cf} #info{position:fixed;top:8px;left:10px}
</style></head><body>
<canvas id="c"></canvas>
__ERRORS__
<div id="info">unveil — __TITLE__ · drag: orbit · wheel: zoom · space: play/pause · dot: joint seen in the video, ring: inferred<br>__NOTE____LINKS__</div>
<div id="bar"><button id="play">pause</button><input id="t" type="range" min="0" value="0"><span id="lbl"></span></div>
<script id="data" type="application/json">__DATA__</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const cv = document.getElementById("c"), ctx = cv.getContext("2d");
const slider = document.getElementById("t"), lbl = document.getElementById("lbl"), btn = document.getElementById("play");
const COLORS = ["#e6194b","#3cb44b","#4363d8","#f58231","#911eb4","#42d4f4","#f032e6","#bfef45"];
let f0 = Infinity, f1 = -Infinity, c = [0,0,0], n = 0;
for (const t of D.tracks) {
  t.index = new Map(t.frames.map((f, i) => [f, i]));
  f0 = Math.min(f0, t.frames[0]); f1 = Math.max(f1, t.frames[t.frames.length - 1]);
  for (let i = 0; i < t.joints.length; i += 3) { c[0] += t.joints[i]; c[1] += t.joints[i+1]; c[2] += t.joints[i+2]; n++; }
}
if (n) c = c.map(v => v / n); else { f0 = 0; f1 = 0; }
slider.max = f1 - f0;
let yaw = 0.6, pitch = 0.35, dist = 6, frame = f0, playing = true, last = performance.now(), acc = 0;
function resize() { cv.width = innerWidth; cv.height = innerHeight; draw(); }
function project(p) {
  const x = p[0] - c[0], y = p[1] - c[1], z = p[2] - c[2];
  const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
  const x1 = cy * x - sy * z, z1 = sy * x + cy * z;          // yaw about Y
  const y2 = cp * y + sp * z1, z2 = cp * z1 - sp * y + dist;  // pitch about X (looking down), then back off
  if (z2 < 0.05) return null;
  const f = 0.9 * cv.height;
  return [cv.width / 2 + f * x1 / z2, cv.height / 2 - f * y2 / z2];
}
function line(a, b) { const p = project(a), q = project(b); if (!p || !q) return;
  ctx.beginPath(); ctx.moveTo(p[0], p[1]); ctx.lineTo(q[0], q[1]); ctx.stroke(); }
function draw() {
  ctx.fillStyle = "#1d1f24"; ctx.fillRect(0, 0, cv.width, cv.height);
  ctx.strokeStyle = "#3a3d45"; ctx.lineWidth = 1;
  const g = 5, cx = Math.round(c[0]), cz = Math.round(c[2]);
  for (let k = -g; k <= g; k++) {
    line([cx + k, 0, cz - g], [cx + k, 0, cz + g]); line([cx - g, 0, cz + k], [cx + g, 0, cz + k]);
  }
  D.tracks.forEach((t, ti) => {
    const i = t.index.get(frame); if (i === undefined) return;
    const J = k => [t.joints[72*i + 3*k], t.joints[72*i + 3*k + 1], t.joints[72*i + 3*k + 2]];
    ctx.strokeStyle = COLORS[ti % COLORS.length]; ctx.lineWidth = 3;
    D.parents.forEach((p, k) => { if (p >= 0) line(J(p), J(k)); });
    ctx.fillStyle = ctx.strokeStyle;
    if (t.observed) for (let k = 0; k < 24; k++) {   // observed joints: dots; inferred: rings
      const q = project(J(k)); if (!q) continue;
      ctx.beginPath(); ctx.arc(q[0], q[1], 4, 0, 2 * Math.PI);
      if (t.observed[24*i + k]) ctx.fill(); else { ctx.lineWidth = 1.5; ctx.stroke(); ctx.lineWidth = 3; }
    }
    const h = project(J(15));
    if (h) ctx.fillText("#" + t.id, h[0] + 6, h[1] - 6);
  });
  slider.value = frame - f0; lbl.textContent = "frame " + frame + " / " + f1;
}
function tick(now) {
  if (playing) { acc += (now - last) / 1000 * D.fps; while (acc >= 1) { acc -= 1; frame = frame >= f1 ? f0 : frame + 1; } draw(); }
  last = now; requestAnimationFrame(tick);
}
const ORBIT = __ORBIT__;
__CONTROLS__
</script></body></html>
"""

TEMPLATE_3D = """<!doctype html>
<html><head><meta charset="utf-8"><title>unveil viewer — __TITLE__</title>
<style>
body{margin:0;background:#1d1f24;color:#ddd;font:13px system-ui,sans-serif;overflow:hidden}
canvas{display:block}
#bar{position:fixed;left:0;right:0;bottom:0;padding:8px;background:#0008;display:flex;gap:10px;align-items:center}
#bar input[type=range]{flex:1} a{color:#8cf} #info{position:fixed;top:8px;left:10px;max-width:60%}
#people{position:fixed;top:8px;right:10px;background:#0008;padding:6px 10px;line-height:1.7}
#people span{display:inline-block;width:10px;height:10px;margin:0 5px 0 3px;border-radius:2px}
</style></head><body>
__ERRORS__
<div id="info">unveil — __TITLE__ · drag: orbit · wheel: zoom · space: play/pause · #frame=N: open at frame N · solid sphere: joint seen in
the video, white wireframe sphere: inferred · yellow: the video camera<br>__LINKS__</div>
<div id="people"></div>
<div id="bar"><button id="play">pause</button><input id="t" type="range" min="0" value="0"><span id="lbl"></span></div>
<script id="data" type="application/json">__DATA__</script>
<script>
__THREE__
</script>
<script>
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const slider = document.getElementById("t"), lbl = document.getElementById("lbl"), btn = document.getElementById("play");
const COLORS = ["#e6194b","#3cb44b","#4363d8","#f58231","#911eb4","#42d4f4","#f032e6","#bfef45"];
const NJ = D.parents.length;
let f0 = Infinity, f1 = -Infinity, n = 0;
const c = new THREE.Vector3(), p = new THREE.Vector3(), q = new THREE.Vector3(), d = new THREE.Vector3();
for (const t of D.tracks) {
  t.index = new Map(t.frames.map((f, i) => [f, i]));
  f0 = Math.min(f0, t.frames[0]); f1 = Math.max(f1, t.frames[t.frames.length - 1]);
  for (let i = 0; i < t.joints.length; i += 3) { c.x += t.joints[i]; c.y += t.joints[i+1]; c.z += t.joints[i+2]; n++; }
}
if (n) c.divideScalar(n); else { f0 = 0; f1 = 0; }
let radius = 1;
for (const t of D.tracks) for (let i = 0; i < t.joints.length; i += 3)
  radius = Math.max(radius, p.set(t.joints[i], t.joints[i+1], t.joints[i+2]).distanceTo(c));
slider.max = f1 - f0;

const renderer = new THREE.WebGLRenderer({antialias: true, preserveDrawingBuffer: true});
renderer.setPixelRatio(devicePixelRatio);
document.body.prepend(renderer.domElement);
const scene = new THREE.Scene();
scene.background = new THREE.Color(0x1d1f24);
scene.add(new THREE.HemisphereLight(0xffffff, 0x445066, 2.2));
const sun = new THREE.DirectionalLight(0xffffff, 1.6); sun.position.set(3, 8, 5); scene.add(sun);
const size = 2 * Math.ceil(radius + 4);
const ground = new THREE.Mesh(new THREE.PlaneGeometry(size, size),
  new THREE.MeshStandardMaterial({color: 0x2b2e35, roughness: 1}));
ground.rotation.x = -Math.PI / 2; ground.position.set(Math.round(c.x), 0, Math.round(c.z)); scene.add(ground);
const grid = new THREE.GridHelper(size, size, 0x60656f, 0x40444c);
grid.position.set(Math.round(c.x), 0.002, Math.round(c.z)); scene.add(grid);

let VIEW = null;
if (D.camera) {   // x_world = R x_cam + t, camera looking along +z with y down (OpenCV)
  const R = D.camera.R, t = D.camera.t;
  const W = (x, y, z) => new THREE.Vector3(R[0]*x + R[1]*y + R[2]*z + t[0], R[3]*x + R[4]*y + R[5]*z + t[1],
                                           R[6]*x + R[7]*y + R[8]*z + t[2]);
  const o = W(0, 0, 0), dep = Math.max(0.3, 0.2 * o.distanceTo(c));
  const w = Math.tan(D.camera.fov_deg * Math.PI / 360) * dep, h = w / D.camera.aspect;
  const k = [[-1, -1], [1, -1], [1, 1], [-1, 1]].map(([sx, sy]) => W(sx * w, sy * h, dep));
  const up = W(0, -1.6 * h, dep);   // a tick above the top edge marks the image's up
  const pts = [o, k[0], o, k[1], o, k[2], o, k[3], k[0], k[1], k[1], k[2], k[2], k[3], k[3], k[0], k[0], up, up, k[1]];
  scene.add(new THREE.LineSegments(new THREE.BufferGeometry().setFromPoints(pts),
                                   new THREE.LineBasicMaterial({color: 0xffd54f})));
  VIEW = {yaw: Math.atan2(o.x - c.x, o.z - c.z) + 0.45, dist: 1.25 * Math.hypot(o.x - c.x, o.z - c.z) + radius};
}

const UP = new THREE.Vector3(0, 1, 0);
const boneGeo = new THREE.CylinderGeometry(1, 1, 1, 12), jointGeo = new THREE.SphereGeometry(1, 16, 12);
const R_BONE = 0.022, R_SEEN = 0.035, R_INFERRED = 0.055;
const list = document.getElementById("people");
const people = D.tracks.map((t, ti) => {
  const col = COLORS[ti % COLORS.length], g = new THREE.Group();
  const seen = new THREE.MeshStandardMaterial({color: col, roughness: 0.55});
  const inferred = new THREE.MeshBasicMaterial({color: 0xffffff, wireframe: true});
  const bones = D.parents.map(pk => { if (pk < 0) return null; const m = new THREE.Mesh(boneGeo, seen); g.add(m); return m; });
  const joints = D.parents.map(() => { const m = new THREE.Mesh(jointGeo, seen); g.add(m); return m; });
  scene.add(g);
  const P = {t, g, seen, inferred, bones, joints, shown: true};
  const row = document.createElement("label"), box = document.createElement("input"), sw = document.createElement("span");
  box.type = "checkbox"; box.checked = true; sw.style.background = col;
  box.onchange = () => { P.shown = box.checked; draw(); };
  row.append(box, sw, "person #" + t.id + " (" + t.frames.length + " frames)"); list.append(row, document.createElement("br"));
  return P;
});
function pose(P, frame) {
  const i = P.t.index.get(frame);
  P.g.visible = P.shown && i !== undefined;
  if (!P.g.visible) return;
  const J = P.t.joints, o = 3 * NJ * i, pos = k => [J[o + 3*k], J[o + 3*k + 1], J[o + 3*k + 2]];
  for (let k = 0; k < NJ; k++) {
    const m = P.joints[k], s = !P.t.observed || P.t.observed[NJ * i + k];
    m.position.set(...pos(k)); m.material = s ? P.seen : P.inferred; m.scale.setScalar(s ? R_SEEN : R_INFERRED);
  }
  D.parents.forEach((pk, k) => {
    if (pk < 0) return;
    const m = P.bones[k];
    p.set(...pos(pk)); q.set(...pos(k)); d.subVectors(q, p);
    const len = d.length();
    m.position.addVectors(p, q).multiplyScalar(0.5);
    m.quaternion.setFromUnitVectors(UP, len > 1e-9 ? d.divideScalar(len) : UP);
    m.scale.set(R_BONE, Math.max(len, 1e-6), R_BONE);
  });
}

const cam = new THREE.PerspectiveCamera(45, 1, 0.01, 1000);
let yaw = VIEW ? VIEW.yaw : 0.6, pitch = 0.3, dist = Math.max(3, 2.6 * radius, VIEW ? VIEW.dist : 0), frame = f0, playing = true, last = performance.now(), acc = 0, drawn = 0;
const H = new URLSearchParams(location.hash.slice(1));   // viewer.html#frame=N opens paused at frame N
if (H.has("frame") && isFinite(+H.get("frame"))) {
  frame = Math.max(f0, Math.min(f1, Math.round(+H.get("frame")))); playing = false;
  btn.textContent = "play";
}
function draw() {
  cam.position.set(c.x + dist * Math.sin(yaw) * Math.cos(pitch), c.y + dist * Math.sin(pitch),
                   c.z + dist * Math.cos(yaw) * Math.cos(pitch));
  cam.lookAt(c);
  for (const P of people) pose(P, frame);
  renderer.render(scene, cam);
  slider.value = frame - f0; lbl.textContent = "frame " + frame + " / " + f1;
  document.body.dataset.rendered = ++drawn;
}
function resize() {
  renderer.setSize(innerWidth, innerHeight); cam.aspect = innerWidth / Math.max(1, innerHeight);
  cam.updateProjectionMatrix(); draw();
}
function tick(now) {
  if (playing) { acc += (now - last) / 1000 * D.fps; while (acc >= 1) { acc -= 1; frame = frame >= f1 ? f0 : frame + 1; } draw(); }
  last = now; requestAnimationFrame(tick);
}
const cv = renderer.domElement;
const ORBIT = __ORBIT__;
__CONTROLS__
</script></body></html>
"""


def three_js_path():
    """Where ``scripts/fetch_viewer_assets.sh`` puts three.js: ``$UNVEIL_CACHE/viewer/three-<v>.module.min.js``."""
    return cache_dir() / "viewer" / f"three-{THREE_VERSION}.module.min.js"


def three_classic_script(module_text: str) -> str:
    """Turn three.js's ES-module build into a classic script defining ``var THREE`` (so the page
    needs no module loader, blob URL or import map). The ``@license`` header stays on top.

    Args:
        module_text: ``build/three.module.min.js`` (one file, no imports; r170 and older).
    Returns:
        ``/** @license ... */ var THREE = (function () { ...; return {Name: local, ...}; })();``.
    Raises:
        ValueError: no trailing ``export{...}``, an ``import``, or text that would end the
        ``<script>`` element early.
    """
    m = re.search(r"export\s*\{([^}]*)\}\s*;?\s*$", module_text)
    if m is None or re.search(r"(^|[;\n])\s*import[\s{*]", module_text):
        raise ValueError("not a single-file ES module with one trailing export{...}")
    low = module_text.lower()
    if "</script" in low or "<!--" in low:
        raise ValueError("the library text would end the <script> element")
    names = []
    for item in m.group(1).split(","):
        parts = item.split()
        if len(parts) == 3 and parts[1] == "as":
            names.append(f"{parts[2]}:{parts[0]}")
        elif len(parts) == 1:
            names.append(f"{parts[0]}:{parts[0]}")
        else:
            raise ValueError(f"unexpected export item {item!r}")
    body = module_text[:m.start()]
    header = ""
    h = re.match(r"\s*/\*\*?.*?\*/", body, re.S)
    if h is not None and "@license" in h.group(0):
        header, body = h.group(0).strip() + "\n", body[h.end():]
    return header + "var THREE = (function () {\n" + body + "\nreturn {" + ",".join(names) + "};\n})();"


def load_three_js() -> str | None:
    """The cached three.js as a classic script (:func:`three_classic_script`), or None if it is
    missing or cannot be inlined."""
    path = three_js_path()
    try:
        return three_classic_script(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def viewer_html(tracks: dict, fps: float = 30.0, title: str = "tracks", links=(), camera=None,
                three_js: str | None = "auto") -> str:
    """The page's text.

    Args:
        tracks: ``{id: (frames (T,), joints_world (T, 24, 3)[, observed (T, 24) bool])}``; observed
            joints are drawn solid (3D) / as dots (2D), inferred ones as wireframe spheres / rings.
        camera: optional ``(R (3, 3), t (3,)[, fov_deg, aspect])`` with ``x_world = R @ x_cam + t``
            (OpenCV camera axes), the horizontal field of view and width / height (default 60
            degrees, 16:9): drawn as a frustum in the 3D page.
        three_js: the classic-script three.js (:func:`three_classic_script`); ``"auto"`` loads the
            cached one (:func:`load_three_js`); None, or nothing cached, gives the 2D page.
    Returns:
        The HTML text (one file, no external resources).
    """
    if three_js == "auto":
        three_js = load_three_js()
    data = {"fps": float(fps) if fps and fps > 0 else 30.0, "parents": list(SMPL24_PARENTS), "tracks": []}
    for tid, (frames, joints, *rest) in sorted(tracks.items(), key=lambda kv: int(kv[0])):
        j = np.asarray(joints, np.float64).reshape(len(frames), 24, 3)
        j = np.where(np.isfinite(j), j, 0.0)
        t = {"id": int(tid), "frames": [int(f) for f in np.asarray(frames)],
             "joints": np.round(j, 3).reshape(-1).tolist()}
        if rest and rest[0] is not None:
            t["observed"] = np.asarray(rest[0], bool).reshape(len(frames) * 24).astype(int).tolist()
        data["tracks"].append(t)
    if camera is not None:
        R, tc = (np.asarray(a, np.float64) for a in camera[:2])
        fov, aspect = (float(v) for v in (tuple(camera[2:4]) + (60.0, 16 / 9))[:2])
        if (R.shape == (3, 3) and tc.shape == (3,) and np.isfinite(R).all() and np.isfinite(tc).all()
                and 0 < fov < 180 and aspect > 0):
            data["camera"] = {"R": np.round(R, 6).reshape(-1).tolist(), "t": np.round(tc, 4).tolist(),
                              "fov_deg": fov, "aspect": aspect}
    js = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    link_html = " · ".join(f'<a href="{html.escape(str(p))}">{html.escape(str(p))}</a>' for p in links)
    page = (TEMPLATE_3D if three_js else TEMPLATE_2D).replace("__TITLE__", html.escape(str(title)))
    page = page.replace("__LINKS__", link_html).replace("__NOTE__", "" if three_js else FALLBACK_NOTE + "<br>")
    page = page.replace("__ERRORS__", ERROR_HOOK).replace("__CONTROLS__", CONTROLS_JS).replace("__DATA__", js)
    page = page.replace("__ORBIT__", "-1" if three_js else "1")
    return page.replace("__THREE__", three_js) if three_js else page


def write_viewer(path, tracks: dict, fps: float = 30.0, title: str | None = None, links=(), camera=None,
                 three_js: str | None = "auto") -> bool:
    """Write the self-contained viewer page (atomically). See :func:`viewer_html`.

    Returns:
        True for the 3D page, False for the 2D fallback.
    """
    if three_js == "auto":
        three_js = load_three_js()
    write_text(path, viewer_html(tracks, fps=fps, title=title or f"{len(tracks)} track(s)", links=links,
                                 camera=camera, three_js=three_js))
    return bool(three_js)


class ViewerExporter:
    """``OUT/viewer.html``: every person's joints in the world frame, linking the GLB/BVH files
    written before it (:func:`write_viewer`)."""

    name, suffix, scope, requires = "viewer", ".html", "run", ()

    def write(self, path, tracks, ctx: ExportContext) -> None:
        data = {}
        for b in tracks:
            jw = b.joints_world
            if jw is None:
                m = world_motion(b, ctx.body_model, ctx.fps)
                jw = np.asarray(b.joints_cam, np.float64) @ m.R.T + m.t
            data[b.id] = (np.asarray(b.frames), np.asarray(jw), getattr(b, "observed", None))
        # the 3D page when three.js is cached, else the 2D page, which says so itself
        write_viewer(path, data, fps=ctx.fps, camera=camera_to_world(tracks[0]),
                     links=[f for f in ctx.files if f.endswith((".glb", ".bvh"))])


__all__ = ["write_viewer", "viewer_html", "load_three_js", "three_classic_script", "three_js_path",
           "THREE_VERSION", "FALLBACK_NOTE", "ViewerExporter"]
