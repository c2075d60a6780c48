"""``OUT/viewer.html``: one self-contained page that plays every track in one 3D world.

Two variants, both single files that open offline from disk (no CDN, no network, data inlined as
JSON at millimetre precision):

- **3D** (default when the asset is present): three.js r170 (``build/three.module.min.js`` from the
  npm package, fetched once by ``scripts/fetch_viewer_assets.sh`` into ``$UNVEIL_CACHE/viewer``;
  MIT, its licence header kept) is inlined as a classic script. The page draws every person's
  **skinned body mesh**: the people of ``scene.glb`` (same rest mesh, skin, animation and timeline;
  4 skin influences per vertex, which is what three.js reads) embedded as base64 and loaded with
  three.js's ``GLTFLoader`` (``examples/jsm``, inlined as a classic script by
  :func:`module_classic_script`), posed at ``frame / frame_rate`` seconds (rounded to float32, as the keys are) and tinted in the
  person's colour. Over it, each skeleton as bone cylinders with joint spheres (observed joints
  solid, inferred joints as white wireframe spheres; drawn through the mesh while the mesh is
  shown), a ground plane at y = 0, the video camera's frustum (the run's field of view and aspect;
  a nominal 60 degrees and 16:9 when not given) with the video frame nearest the current one on its
  image plane (downscaled JPEG stills, :func:`video_stills`, at most :data:`MAX_STILLS`), a person
  list with show/hide toggles, "body mesh" / "skeleton" / "video" toggles, play/pause and a frame
  slider; ``viewer.html#frame=N`` opens paused at frame N, ``&mesh=0`` / ``&skeleton=0`` /
  ``&video=0`` hide those. Drag orbits, wheel zooms. Without the cached loader, or with a scene GLB
  over :data:`MAX_MESH_BYTES`, the page has skeletons only and says why. Size (``unveil demo``: one person,
  150 frames, 640x480): 3.10 MB = three.js 0.69 + GLTFLoader 0.14 + the base64 GLB (mesh, skin,
  animation) 1.19 + 150 stills 0.98 + joint data 0.08.
- **2D fallback** (three.js not in the cache, or it could not be inlined): the earlier
  ~100-line canvas-2D stick-figure player (dots: observed joints, rings: inferred), with a note
  saying how to get the 3D one.

Runtime errors in either page are appended to ``<pre id="errors">``; the 3D page sets
``<body data-rendered="N">`` after its N-th rendered frame and ``data-meshes="M"`` once M body
meshes are loaded (the browser test reads all three).
"""

from __future__ import annotations

import base64
import functools
import html
import json
import os
import re
import tempfile
from pathlib import Path

import cv2
import numpy as np

from ..atomic import write_parts
from ..paths import cache_dir
from ..runtime import trim_heap
from ..skeleton import SMPL24_PARENTS
from .exporter import ExportContext
from .gltf import write_scene_glb_to
from .video import iter_frames
from .world_motion import camera_to_world, world_motion

THREE_VERSION = "0.170.0"
FALLBACK_NOTE = "3D viewer unavailable (three.js not in the cache: run scripts/fetch_viewer_assets.sh)"
LOADER_NOTE = "three.js's GLTFLoader not in the cache (run scripts/fetch_viewer_assets.sh)"
# above this the page leaves the meshes out (the browser decodes the base64 into memory at once); a 150-frame
# person is about 1 MB of GLB
MAX_MESH_BYTES = 64_000_000
# video stills in the page: at most this many (evenly spaced over the people's frames), this wide (px)
MAX_STILLS, STILL_WIDTH = 150, 192

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
<div id="info">unveil — __TITLE__ · drag: orbit · wheel: zoom · space: play/pause · #frame=N: open at frame N
(&amp;mesh=0, &amp;skeleton=0, &amp;video=0: hide them) · solid sphere: joint seen in the video, white wireframe sphere: inferred ·
yellow: the video camera__MESHNOTE__<br>__LINKS__</div>
<div id="people"><label id="mesh-row"><input type="checkbox" id="show-mesh" checked>body mesh</label>
<label><input type="checkbox" id="show-skeleton" checked>skeleton</label>
<label id="video-row"><input type="checkbox" id="show-video" checked>video</label><br></div>
<div id="bar"><button id="play">pause</button><input id="t" type="range" min="0" value="0"><span id="lbl"></span></div>
<script id="data" type="application/json">__DATA__</script>
__STILLS____GLB__<script>
__THREE__
</script>
__LOADER__<script>
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

let VIEW = null, FRUSTUM = null;
if (D.camera) {   // x_world = R x_cam + t, camera looking along +z with y down (OpenCV)
  const R = D.camera.R, t = D.camera.t;
  const W = (x, y, z) => new THREE.Vector3(R[0]*x + R[1]*y + R[2]*z + t[0], R[3]*x + R[4]*y + R[5]*z + t[1],
                                           R[6]*x + R[7]*y + R[8]*z + t[2]);
  const o = W(0, 0, 0), dep = Math.max(0.3, 0.2 * o.distanceTo(c));
  const w = Math.tan(D.camera.fov_deg * Math.PI / 360) * dep, h = w / D.camera.aspect;
  const k = [[-1, -1], [1, -1], [1, 1], [-1, 1]].map(([sx, sy]) => W(sx * w, sy * h, dep));
  FRUSTUM = k;   // the image plane's corners: top-left, top-right, bottom-right, bottom-left
  const up = W(0, -1.6 * h, dep);   // a tick above the top edge marks the image's up
  const pts = [o, k[0], o, k[1], o, k[2], o, k[3], k[0], k[1], k[1], k[2], k[2], k[3], k[3], k[0], k[0], up, up, k[1]];
  scene.add(new THREE.LineSegments(new THREE.BufferGeometry().setFromPoints(pts),
                                   new THREE.LineBasicMaterial({color: 0xffd54f})));
  VIEW = {yaw: Math.atan2(o.x - c.x, o.z - c.z) + 0.45, dist: 1.25 * Math.hypot(o.x - c.x, o.z - c.z) + radius};
}

function report(msg) { document.getElementById("errors").textContent += msg + "\\n"; console.error(msg); }
const UP = new THREE.Vector3(0, 1, 0);
const boneGeo = new THREE.CylinderGeometry(1, 1, 1, 12), jointGeo = new THREE.SphereGeometry(1, 16, 12);
const R_BONE = 0.022, R_SEEN = 0.035, R_INFERRED = 0.055;
const H = new URLSearchParams(location.hash.slice(1));   // viewer.html#frame=N opens paused at frame N
const SHOW = {mesh: H.get("mesh") !== "0", skeleton: H.get("skeleton") !== "0", video: H.get("video") !== "0"};
const list = document.getElementById("people");
const people = D.tracks.map((t, ti) => {
  const col = COLORS[ti % COLORS.length], g = new THREE.Group();
  const seen = new THREE.MeshStandardMaterial({color: col, roughness: 0.55});
  const inferred = new THREE.MeshBasicMaterial({color: 0xffffff, wireframe: true});
  const bones = D.parents.map(pk => { if (pk < 0) return null; const m = new THREE.Mesh(boneGeo, seen); g.add(m); return m; });
  const joints = D.parents.map(() => { const m = new THREE.Mesh(jointGeo, seen); g.add(m); return m; });
  scene.add(g);
  const P = {t, g, col, seen, inferred, bones, joints, shown: true, mesh: null};
  const row = document.createElement("label"), box = document.createElement("input"), sw = document.createElement("span");
  box.type = "checkbox"; box.checked = true; sw.style.background = col;
  box.onchange = () => { P.shown = box.checked; draw(); };
  row.append(box, sw, "person #" + t.id + " (" + t.frames.length + " frames)"); list.append(row, document.createElement("br"));
  return P;
});
for (const k of ["mesh", "skeleton", "video"]) {
  const box = document.getElementById("show-" + k);
  box.checked = SHOW[k]; box.onchange = () => { SHOW[k] = box.checked; draw(); };
}
function xray(P, on) {   // skeleton drawn over the body mesh (else the mesh hides it)
  for (const m of [P.seen, P.inferred]) if (m.depthTest === on) { m.depthTest = !on; m.transparent = on; m.needsUpdate = true; }
  for (const m of P.g.children) m.renderOrder = on ? 2 : 0;
}
function pose(P, frame) {
  const i = P.t.index.get(frame);
  if (P.mesh) P.mesh.visible = SHOW.mesh && P.shown && i !== undefined;
  P.g.visible = SHOW.skeleton && P.shown && i !== undefined;
  if (!P.g.visible) return;
  const xr = !!(P.mesh && P.mesh.visible), th = xr ? 0.55 : 1;   // over the mesh: drawn through it, thinner
  xray(P, xr);
  const J = P.t.joints, o = 3 * NJ * i, pos = k => [J[o + 3*k], J[o + 3*k + 1], J[o + 3*k + 2]];
  for (let k = 0; k < NJ; k++) {
    const m = P.joints[k], s = !P.t.observed || P.t.observed[NJ * i + k];
    m.position.set(...pos(k)); m.material = s ? P.seen : P.inferred; m.scale.setScalar(th * (s ? R_SEEN : R_INFERRED));
  }
  D.parents.forEach((pk, k) => {
    if (pk < 0) return;
    const m = P.bones[k];
    p.set(...pos(pk)); q.set(...pos(k)); d.subVectors(q, p);
    const len = d.length();
    m.position.addVectors(p, q).multiplyScalar(0.5);
    m.quaternion.setFromUnitVectors(UP, len > 1e-9 ? d.divideScalar(len) : UP);
    m.scale.set(th * R_BONE, Math.max(len, 1e-6), th * R_BONE);
  });
}

// the video's frames (downscaled JPEGs, base64 in the "stills" element) on the frustum's image plane:
// the still nearest the frame shown
let STILL = null;
if (D.stills && FRUSTUM) {
  const k = FRUSTUM, geo = new THREE.BufferGeometry().setFromPoints(k);
  geo.setIndex([0, 2, 1, 0, 3, 2]);
  geo.setAttribute("uv", new THREE.Float32BufferAttribute([0, 1, 1, 1, 1, 0, 0, 0], 2));   // top row: v = 1
  const mat = new THREE.MeshBasicMaterial({side: THREE.DoubleSide, transparent: true, opacity: 0.92, depthWrite: false});
  const plane = new THREE.Mesh(geo, mat); plane.visible = false; scene.add(plane);
  STILL = {plane, mat, frames: D.stills.frames, jpeg: JSON.parse(document.getElementById("stills").textContent),
           tex: new Map(), shown: -1};
} else document.getElementById("video-row").style.display = "none";
function still(frame) {
  if (!STILL) return;
  const F = STILL.frames; let lo = 0, hi = F.length - 1;
  while (lo < hi) { const m = (lo + hi + 1) >> 1; if (F[m] <= frame) lo = m; else hi = m - 1; }
  if (lo + 1 < F.length && F[lo + 1] - frame < frame - F[lo]) lo++;
  let t = STILL.tex.get(lo);
  if (!t) {
    const img = new Image(); t = new THREE.Texture(img); t.colorSpace = THREE.SRGBColorSpace;
    img.onload = () => { t.needsUpdate = true; t.userData.ready = true; draw(); };
    img.onerror = () => report("video frame " + F[lo] + " could not be decoded");
    img.src = "data:image/jpeg;base64," + STILL.jpeg[lo]; STILL.tex.set(lo, t);
  }
  if (t.userData.ready && STILL.shown !== lo) { STILL.mat.map = t; STILL.mat.needsUpdate = true; STILL.shown = lo; }
  STILL.plane.visible = SHOW.video && STILL.shown >= 0;
}

// the skinned meshes: scene.glb's people (same rest mesh, skin and animation), base64 in the "glb" element,
// posed by the glTF animation at time frame / frame_rate (the scene file's clock)
let MIX = null;
if (!D.mesh) document.getElementById("mesh-row").style.display = "none";
function reportMesh(e) { report("mesh: " + (e && e.message || e)); }
if (D.mesh && typeof UNVEIL_GLTF !== "undefined") {
  const b64 = document.getElementById("glb").textContent.trim(), bin = atob(b64), buf = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) buf[i] = bin.charCodeAt(i);
  new UNVEIL_GLTF.GLTFLoader().parse(buf.buffer, "", gltf => {
    try {
      let found = 0;
      for (const P of people) {
        gltf.scene.traverse(o => {
          if (!o.isSkinnedMesh || (o.userData.name || o.name) !== "body_" + P.t.id) return;
          const tint = new THREE.Color(P.col).lerp(new THREE.Color(0xffffff), 0.25);
          o.material = new THREE.MeshStandardMaterial({color: tint, roughness: 0.65, metalness: 0});
          o.frustumCulled = false;   // the bounds are the rest pose's; the animation moves the body far from it
          P.mesh = o; found++;
        });
      }
      const clip = gltf.animations[0], mixer = new THREE.AnimationMixer(gltf.scene);
      const action = mixer.clipAction(clip); action.play();
      MIX = {mixer, action, end: clip.duration};
      scene.add(gltf.scene);
      document.body.dataset.meshes = found;
      draw();
    } catch (e) { reportMesh(e); }
  }, reportMesh);
}
function animate(frame) {
  if (!MIX) return;
  // rounded to float32 as the GLB's key times are: else a person's first key (f0 / rate rounded up to
  // float32) can fall just after the double f0 / rate, where the STEP scale key still hides them
  MIX.action.time = Math.fround(Math.max(0, Math.min(MIX.end, frame / D.frame_rate)));
  MIX.mixer.update(0);   // applies action.time as it is (no advance, no wrap)
}

const cam = new THREE.PerspectiveCamera(45, 1, 0.01, 1000);
let yaw = VIEW ? VIEW.yaw : 0.6, pitch = 0.3, dist = Math.max(3, 2.6 * radius, VIEW ? VIEW.dist : 0), frame = f0, playing = true, last = performance.now(), acc = 0, drawn = 0;
if (H.has("frame") && isFinite(+H.get("frame"))) {
  frame = Math.max(f0, Math.min(f1, Math.round(+H.get("frame")))); playing = false;
  btn.textContent = "play";
}
function draw() {
  cam.position.set(c.x + dist * Math.sin(yaw) * Math.cos(pitch), c.y + dist * Math.sin(pitch),
                   c.z + dist * Math.cos(yaw) * Math.cos(pitch));
  cam.lookAt(c);
  for (const P of people) pose(P, frame);
  animate(frame);
  still(frame);
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


def gltf_loader_paths():
    """Where ``scripts/fetch_viewer_assets.sh`` puts three.js's GLTFLoader and the one module it
    imports: ``($UNVEIL_CACHE/viewer/three-<v>.GLTFLoader.js, .../three-<v>.BufferGeometryUtils.js)``."""
    d = cache_dir() / "viewer"
    return d / f"three-{THREE_VERSION}.GLTFLoader.js", d / f"three-{THREE_VERSION}.BufferGeometryUtils.js"


def _names(items: str, sep: str) -> list[tuple[str, str]]:
    """``"A, B as C"`` -> ``[("A", "A"), ("B", "C")]`` (import/export list items: name, alias)."""
    out = []
    for item in items.split(","):
        parts = item.split()
        if len(parts) == 3 and parts[1] == "as":
            out.append((parts[0], parts[2]))
        elif len(parts) == 1:
            out.append((parts[0], parts[0]))
        elif parts:
            raise ValueError(f"unexpected {sep} item {item!r}")
    return out


def module_classic_script(module_text: str, name: str, imports: dict[str, str]) -> str:
    """Turn one of three.js's ``examples/jsm`` ES modules into a classic script defining ``var name``.

    ``import {A, B as C} from 'spec';`` becomes ``const {A, B: C} = GLOBAL;`` with
    ``GLOBAL = imports[spec]`` (e.g. ``{"three": "THREE"}``); ``export function f`` becomes
    ``function f``; ``export {f, g as h};`` becomes the returned ``{f, h: g}``. The body runs in a
    strict-mode function, as a module would.

    Args:
        module_text: the module's source.
        name: the global the script defines.
        imports: module specifier -> the global that already holds its exports.
    Returns:
        ``var name = (function () { "use strict"; ...; return {...}; })();``.
    Raises:
        ValueError: an import of an unlisted module, another form of import/export (default,
        namespace, re-export, ``export const``), or text that would end the ``<script>`` early.
    """
    low = module_text.lower()
    if "</script" in low or "<!--" in low:
        raise ValueError("the library text would end the <script> element")

    def imp(m):
        spec = m.group(2)
        if spec not in imports:
            raise ValueError(f"import from an unlisted module {spec!r}")
        return "const {" + ", ".join(a if a == b else f"{a}: {b}" for a, b in _names(m.group(1), "import")) + \
            "} = " + imports[spec] + ";"

    body = re.sub(r"^import\s*\{([^}]*)\}\s*from\s*'([^']+)'\s*;", imp, module_text, flags=re.M)
    exported: list[tuple[str, str]] = []

    def exp(m):
        exported.extend((a, b) for a, b in _names(m.group(1), "export"))
        return ""

    body = re.sub(r"^export\s*\{([^}]*)\}\s*;", exp, body, flags=re.M)
    for m in re.finditer(r"^export\s+function\s+([A-Za-z_$][\w$]*)", body, flags=re.M):
        exported.append((m.group(1), m.group(1)))
    body = re.sub(r"^export\s+function\s", "function ", body, flags=re.M)
    if re.search(r"^\s*(import|export)\b", body, flags=re.M) or not exported:
        raise ValueError("a module form this converter does not handle (or nothing exported)")
    ret = ", ".join(f"{b}: {a}" for a, b in exported)
    return f"var {name} = (function () {{\n\"use strict\";\n{body}\nreturn {{{ret}}};\n}})();"


def load_gltf_loader() -> str | None:
    """The cached GLTFLoader (and BufferGeometryUtils) as classic scripts defining
    ``UNVEIL_GLTF.GLTFLoader`` (needs ``THREE``), with a licence line; None if missing or not
    convertible (the page then has no meshes)."""
    gltf, bgu = gltf_loader_paths()
    try:
        return (f"/* three.js r{THREE_VERSION.split('.')[1]} examples/jsm/utils/BufferGeometryUtils.js and "
                "examples/jsm/loaders/GLTFLoader.js (npm 'three', MIT licence, Copyright 2010-2024 Three.js "
                "Authors) */\n"
                + module_classic_script(bgu.read_text(encoding="utf-8"), "UNVEIL_BGU", {"three": "THREE"}) + "\n"
                + module_classic_script(gltf.read_text(encoding="utf-8"), "UNVEIL_GLTF",
                                        {"three": "THREE", "../utils/BufferGeometryUtils.js": "UNVEIL_BGU"}))
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def load_three_js() -> str | None:
    """The cached three.js as a classic script (:func:`three_classic_script`), or None if it is
    missing or cannot be inlined."""
    path = three_js_path()
    try:
        return three_classic_script(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def viewer_html(tracks: dict, fps: float = 30.0, title: str = "tracks", links=(), camera=None,
                three_js: str | None = "auto", glb=None, frame_rate: float | None = None,
                gltf_loader: str | None = "auto", max_mesh_bytes: int = MAX_MESH_BYTES,
                stills: dict | None = None) -> str:
    """The page's text: :func:`viewer_parts` joined (its arguments)."""
    return "".join(viewer_parts(tracks, fps=fps, title=title, links=links, camera=camera, three_js=three_js, glb=glb,
                                frame_rate=frame_rate, gltf_loader=gltf_loader, max_mesh_bytes=max_mesh_bytes,
                                stills=stills))


def _glb_size(glb) -> int:
    """Bytes of a GLB given as bytes or as a binary file object (read from its start)."""
    if isinstance(glb, (bytes, bytearray, memoryview)):
        return len(glb)
    return os.fstat(glb.fileno()).st_size


def _b64_pieces(glb):
    """The base64 text of ``glb`` (bytes or a binary file object, read from its start) in pieces of
    4/3 × ``B64_BLOCK`` characters: ``"".join`` of them is ``base64.b64encode(all bytes)`` (a block is
    a multiple of 3 bytes, so only the last piece is padded)."""
    if isinstance(glb, (bytes, bytearray, memoryview)):
        mv = memoryview(glb)
        for i in range(0, len(mv), B64_BLOCK):
            yield base64.b64encode(mv[i:i + B64_BLOCK]).decode("ascii")
        return
    glb.seek(0)
    while True:
        block = glb.read(B64_BLOCK)
        if not block:
            return
        yield base64.b64encode(block).decode("ascii")


B64_BLOCK = 3 << 18  # bytes per base64 piece of the embedded GLB (a multiple of 3)


def _joints_pieces(frames, joints):
    """The JSON text of one track's rounded joints (a flat list, 3 decimals), JSON_CHUNK frames per
    piece (a Python float per coordinate costs ~32 bytes: tens of MB on a long video if built at once)."""
    T = len(frames)
    j = np.asarray(joints).reshape(T, 24, 3)
    yield "["
    for i in range(0, T, JSON_CHUNK):
        c = np.asarray(j[i:i + JSON_CHUNK], np.float64)
        c = np.where(np.isfinite(c), c, 0.0)
        yield ("," if i else "") + json.dumps(np.round(c, 3).reshape(-1).tolist(), separators=(",", ":"))[1:-1]
    yield "]"


def _ints_pieces(values: np.ndarray, per_frame: int):
    """The JSON text of a flat list of integers (``[int(v) for v in values]``: frame indices, 0/1
    flags), ``JSON_CHUNK`` frames of ``per_frame`` values per piece (not a Python int per value at once)."""
    step = JSON_CHUNK * per_frame
    yield "["
    for i in range(0, len(values), step):
        yield ("," if i else "") + json.dumps([int(v) for v in values[i:i + step]], separators=(",", ":"))[1:-1]
    yield "]"


def viewer_parts(tracks: dict, fps: float = 30.0, title: str = "tracks", links=(), camera=None,
                 three_js: str | None = "auto", glb=None, frame_rate: float | None = None,
                 gltf_loader: str | None = "auto", max_mesh_bytes: int = MAX_MESH_BYTES,
                 stills: dict | None = None):
    """The page's text in pieces (a generator): the big parts -- each track's joints, the embedded
    GLB's base64 -- come a block at a time, so :func:`write_viewer` never holds the whole page.

    Args:
        tracks: ``{id: (frames (T,), joints_world (T, 24, 3)[, observed (T, 24) bool])}``; observed
            joints are drawn solid (3D) / as dots (2D), inferred ones as wireframe spheres / rings.
        camera: optional ``(R (3, 3), t (3,)[, fov_deg, aspect])`` with ``x_world = R @ x_cam + t``
            (OpenCV camera axes), the horizontal field of view and width / height (default 60
            degrees, 16:9): drawn as a frustum in the 3D page.
        three_js: the classic-script three.js (:func:`three_classic_script`); ``"auto"`` loads the
            cached one (:func:`load_three_js`); None, or nothing cached, gives the 2D page.
        glb: a scene GLB (:func:`unveil.io.gltf.build_scene_glb`'s bytes, or a binary file holding
            one: :func:`unveil.io.gltf.write_scene_glb_to`) whose skinned mesh
            node ``body_<id>`` is person ``id``; the 3D page embeds it (base64) and plays it with
            three.js's GLTFLoader. None, a file over ``max_mesh_bytes``, or no loader: no meshes
            (the page says why).
        frame_rate: the rate of the frame indices, i.e. the GLB's clock (frame f is at
            ``f / frame_rate`` s); default ``fps``.
        gltf_loader: :func:`load_gltf_loader`'s script; ``"auto"`` loads the cached one.
        stills: ``{frame index: JPEG bytes}`` (:func:`video_stills`): the 3D page shows the one
            nearest the current frame on the camera frustum's image plane (needs ``camera``).
    Yields:
        The HTML text's pieces (one file, no external resources).
    """
    if three_js == "auto":
        three_js = load_three_js()
    fps = float(fps) if fps and fps > 0 else 30.0
    data = {"fps": fps, "frame_rate": float(frame_rate) if frame_rate and frame_rate > 0 else fps,
            "parents": list(SMPL24_PARENTS), "tracks": []}
    # each track's per-frame lists (frames, joints, observed flags) as JSON text in pieces, put in when the
    # page is given out (below): a marker per list, in the order the data's JSON holds them
    joints_text = {}
    for k, (tid, (frames, joints, *rest)) in enumerate(sorted(tracks.items(), key=lambda kv: int(kv[0]))):
        np.asarray(joints).reshape(len(frames), 24, 3)  # the shape is checked here, not halfway through the page
        joints_text[f'"__FRAMES_{k}__"'] = functools.partial(_ints_pieces, np.asarray(frames), 1)
        joints_text[f'"__JOINTS_{k}__"'] = functools.partial(_joints_pieces, frames, joints)
        t = {"id": int(tid), "frames": f"__FRAMES_{k}__", "joints": f"__JOINTS_{k}__"}
        if rest and rest[0] is not None:
            observed = np.asarray(rest[0], bool).reshape(len(frames) * 24)
            joints_text[f'"__OBSERVED_{k}__"'] = functools.partial(_ints_pieces, observed, 24)
            t["observed"] = f"__OBSERVED_{k}__"
        data["tracks"].append(t)
    if camera is not None:
        R, tc = (np.asarray(a, np.float64) for a in camera[:2])
        fov, aspect = (float(v) for v in (tuple(camera[2:4]) + (60.0, 16 / 9))[:2])
        if (R.shape == (3, 3) and tc.shape == (3,) and np.isfinite(R).all() and np.isfinite(tc).all()
                and 0 < fov < 180 and aspect > 0):
            data["camera"] = {"R": np.round(R, 6).reshape(-1).tolist(), "t": np.round(tc, 4).tolist(),
                              "fov_deg": fov, "aspect": aspect}
    glb_html, loader_html, mesh_note = "", "", ""
    if three_js and glb is not None:
        if gltf_loader == "auto":
            gltf_loader = load_gltf_loader()
        size = _glb_size(glb)
        if size > max_mesh_bytes:
            mesh_note = f" · no body meshes: scene.glb is {size / 1e6:.0f} MB (over {max_mesh_bytes / 1e6:.0f} MB)"
        elif not gltf_loader:
            mesh_note = " · no body meshes: " + LOADER_NOTE
        else:
            data["mesh"] = True
            glb_html = True  # '<script id="glb" ...>' + the base64 + '</script>', given out in pieces below
            loader_html = "<script>\n" + gltf_loader + "\n</script>\n"
    stills_html = ""
    if three_js and stills and "camera" in data:
        order = sorted(int(f) for f in stills)
        data["stills"] = {"frames": order}
        stills_html = ('<script id="stills" type="application/json">'
                       + json.dumps([base64.b64encode(bytes(stills[f])).decode("ascii") for f in order])
                       + "</script>\n")
    # the joints' markers stay in the text until the page is given out (data holds no text of the
    # user's and the title and links are escaped: each marker is found once, in order)
    js = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    link_html = " · ".join(f'<a href="{html.escape(str(p))}">{html.escape(str(p))}</a>' for p in links)
    page = (TEMPLATE_3D if three_js else TEMPLATE_2D).replace("__TITLE__", html.escape(str(title)))
    page = page.replace("__LINKS__", link_html).replace("__NOTE__", "" if three_js else FALLBACK_NOTE + "<br>")
    page = page.replace("__MESHNOTE__", html.escape(mesh_note))
    page = page.replace("__ERRORS__", ERROR_HOOK).replace("__CONTROLS__", CONTROLS_JS).replace("__DATA__", js)
    page = page.replace("__ORBIT__", "-1" if three_js else "1")
    markers = list(joints_text)

    def with_joints(text):
        """``text`` with the joints' markers it holds replaced by their JSON (in pieces)."""
        while markers and markers[0] in text:
            before, _, text = text.partition(markers[0])
            yield before
            yield from joints_text[markers.pop(0)]()
        yield text

    if not three_js:
        yield from with_joints(page.replace("__STILLS____GLB__", ""))
        return
    # the big texts last, each put in once, so that no placeholder is searched for inside them
    # (the title, links and data come before __GLB__: rpartition finds the template's own marker)
    head, _, rest = page.rpartition("__STILLS____GLB__")
    mid, _, rest = rest.partition("__THREE__")
    mid2, _, tail = rest.partition("__LOADER__")
    yield from with_joints(head)
    yield stills_html
    if glb_html:
        yield '<script id="glb" type="application/octet-stream">'
        yield from _b64_pieces(glb)
        yield "</script>\n"
    yield from with_joints(mid)
    yield three_js
    yield from with_joints(mid2)
    yield loader_html
    yield from with_joints(tail)
    if markers:
        raise RuntimeError(f"viewer page: {markers[0]} not placed")  # pragma: no cover - the template has __DATA__


JSON_CHUNK = 1024  # frames per json.dumps call for the joints in viewer_html


def video_stills(video, frames, start: int = 0, end: int | None = None, stride: int = 1,
                 max_frames: int | None = None, max_images: int = MAX_STILLS, width: int = STILL_WIDTH,
                 quality: int = 70) -> dict[int, bytes]:
    """Downscaled JPEG frames of the video for the viewer (one decoding pass, stops after the last).

    Args:
        video: the video file; ``start``/``end``/``stride``/``max_frames``: the run's frame range.
        frames: the frame indices the viewer shows (the people's); at most ``max_images`` of them,
            evenly spaced, get a still.
        width: pixels (the height keeps the aspect ratio); ``quality``: JPEG quality.
    Returns:
        ``{frame index: JPEG bytes}`` (empty when no frame is wanted or decoded).
    """
    fr = np.unique(np.asarray(frames, np.int64))
    if fr.size == 0 or max_images < 1:
        return {}
    want = set(fr[np.unique(np.round(np.linspace(0, fr.size - 1, min(fr.size, int(max_images)))).astype(int))].tolist())
    last = max(want)
    out: dict[int, bytes] = {}
    for f, rgb in iter_frames(video, start=start, end=end, stride=stride, max_frames=max_frames):
        if f in want:
            h, w = rgb.shape[:2]
            small = cv2.resize(rgb, (int(width), max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
            if ok:
                out[int(f)] = buf.tobytes()
        if f >= last:
            break
    return out


def write_viewer(path, tracks: dict, fps: float = 30.0, title: str | None = None, links=(), camera=None,
                 three_js: str | None = "auto", glb: bytes | None = None, frame_rate: float | None = None,
                 gltf_loader: str | None = "auto", stills: dict | None = None) -> bool:
    """Write the self-contained viewer page (atomically). See :func:`viewer_html`.

    Returns:
        True for the 3D page, False for the 2D fallback.
    """
    if three_js == "auto":
        three_js = load_three_js()
    write_parts(path, viewer_parts(tracks, fps=fps, title=title or f"{len(tracks)} track(s)", links=links,
                                   camera=camera, three_js=three_js, glb=glb, frame_rate=frame_rate,
                                   gltf_loader=gltf_loader, stills=stills))
    return bool(three_js)


class ViewerExporter:
    """``OUT/viewer.html``: every person's joints in the world frame and skinned mesh (the content
    of ``scene.glb``), the camera frustum with the video's stills, linking the GLB/BVH files written
    before it (:func:`write_viewer`). Meshes or stills that cannot be made are a note, the page is
    still written."""

    name, suffix, scope, requires = "viewer", ".html", "run", ()

    def write(self, path, tracks, ctx: ExportContext) -> None:
        data = {}
        for b in tracks:
            jw = b.joints_world
            if jw is None:
                m = world_motion(b, ctx.body_model, ctx.fps)
                jw = np.asarray(b.joints_cam, np.float64) @ m.R.T + m.t
            data[b.id] = (np.asarray(b.frames), np.asarray(jw), getattr(b, "observed", None))
        with tempfile.TemporaryFile(dir=Path(path).parent) as glb_file:  # unnamed: gone when closed
            mesh = None
            if ctx.body_model is not None:
                try:
                    # scene.glb's content with 4 skin influences per vertex: three.js reads one
                    # JOINTS/WEIGHTS set (and renormalises it), so a second set would only add bytes
                    write_scene_glb_to(glb_file, list(tracks), ctx.body_model, ctx.fps, ctx.frame_rate,
                                       max_influences=4, rig="smpl", tmp_dir=Path(path).parent)
                    mesh = glb_file
                except Exception as e:
                    ctx.notes.append(f"viewer.html without body meshes ({type(e).__name__}: {e})")
                trim_heap()  # the GLB writer's freed temporaries go back before the page's (docs/batch.md)
            self._write(path, tracks, ctx, data, mesh)

    @staticmethod
    def _write(path, tracks, ctx: ExportContext, data: dict, mesh) -> None:
        cam = camera_to_world(tracks[0])
        if ctx.image is not None:
            w, h, f = (float(v) for v in ctx.image)
            if w > 0 and h > 0 and f > 0:
                cam = (*cam, float(np.degrees(2 * np.arctan(w / (2 * f)))), w / h)
        stills = None
        if ctx.video is not None:
            try:
                v = ctx.video
                stills = video_stills(v["path"], np.concatenate([np.asarray(b.frames) for b in tracks]),
                                      **{k: v[k] for k in ("start", "end", "stride", "max_frames") if k in v})
            except Exception as e:
                ctx.notes.append(f"viewer.html without video stills ({type(e).__name__}: {e})")
            trim_heap()  # the decoder's freed frames go back before the page is written
        # the 3D page when three.js is cached, else the 2D page, which says so itself
        write_viewer(path, data, fps=ctx.fps, camera=cam, stills=stills, glb=mesh, frame_rate=ctx.frame_rate,
                     links=[f for f in ctx.files if f.endswith((".glb", ".bvh"))])


__all__ = ["write_viewer", "viewer_html", "viewer_parts", "load_three_js", "three_classic_script", "three_js_path",
           "load_gltf_loader", "module_classic_script", "gltf_loader_paths", "THREE_VERSION", "FALLBACK_NOTE",
           "LOADER_NOTE", "MAX_MESH_BYTES", "video_stills", "MAX_STILLS", "STILL_WIDTH", "ViewerExporter"]
