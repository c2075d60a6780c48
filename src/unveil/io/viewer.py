"""``OUT/viewer.html``: one self-contained page that plays every track's ``joints_world`` skeleton.

No CDN, no three.js, no network: a ~100-line hand-written canvas-2D renderer (perspective
projection, drag to orbit, wheel to zoom, space to play/pause, a frame slider) with the data inlined
as JSON (millimetre precision). The skinned meshes are in the ``<id>.glb`` files next to it, which
the page links to (open them in Blender or any glTF viewer); it does not draw meshes itself.
"""

from __future__ import annotations

import html
import json

import numpy as np

from ..atomic import write_text
from ..skeleton import SMPL24_PARENTS

TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"><title>unveil viewer — __TITLE__</title>
<style>
body{margin:0;background:#1d1f24;color:#ddd;font:13px system-ui,sans-serif;overflow:hidden}
#bar{position:fixed;left:0;right:0;bottom:0;padding:8px;background:#0008;display:flex;gap:10px;align-items:center}
#bar input[type=range]{flex:1} a{color:#8cf} #info{position:fixed;top:8px;left:10px}
</style></head><body>
<canvas id="c"></canvas>
<div id="info">unveil — __TITLE__ · drag: orbit · wheel: zoom · space: play/pause · dot: joint seen in the video, ring: inferred<br>__LINKS__</div>
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
  const y2 = cp * y - sp * z1, z2 = sp * y + cp * z1 + dist;  // pitch about X, then back off
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
    if (t.observed) for (let k = 0; k < 24; k++) {   // observed joints: dots; inferred: rings
      const q = project(J(k)); if (!q) continue;
      ctx.beginPath(); ctx.arc(q[0], q[1], 4, 0, 2 * Math.PI);
      if (t.observed[24*i + k]) ctx.fill(); else { ctx.lineWidth = 1.5; ctx.stroke(); ctx.lineWidth = 3; }
    }
    ctx.fillStyle = ctx.strokeStyle; const h = project(J(15));
    if (h) ctx.fillText("#" + t.id, h[0] + 6, h[1] - 6);
  });
  slider.value = frame - f0; lbl.textContent = "frame " + frame + " / " + f1;
}
function tick(now) {
  if (playing) { acc += (now - last) / 1000 * D.fps; while (acc >= 1) { acc -= 1; frame = frame >= f1 ? f0 : frame + 1; } draw(); }
  last = now; requestAnimationFrame(tick);
}
let drag = null;
cv.onmousedown = e => drag = [e.clientX, e.clientY];
onmouseup = () => drag = null;
onmousemove = e => { if (!drag) return; yaw += (e.clientX - drag[0]) * 0.01;
  pitch = Math.max(-1.5, Math.min(1.5, pitch + (e.clientY - drag[1]) * 0.01)); drag = [e.clientX, e.clientY]; draw(); };
cv.onwheel = e => { e.preventDefault(); dist = Math.max(1, dist * Math.exp(e.deltaY * 0.001)); draw(); };
slider.oninput = () => { frame = f0 + (+slider.value); draw(); };
const toggle = () => { playing = !playing; btn.textContent = playing ? "pause" : "play"; };
btn.onclick = toggle; onkeydown = e => { if (e.code === "Space") { e.preventDefault(); toggle(); } };
onresize = resize; resize(); requestAnimationFrame(tick);
</script></body></html>
"""


def viewer_html(tracks: dict, fps: float = 30.0, title: str = "tracks", links=()) -> str:
    """``tracks``: ``{id: (frames (T,), joints_world (T, 24, 3)[, observed (T, 24) bool])}`` -> the
    page's text (observed joints are drawn as dots, inferred ones as rings)."""
    data = {"fps": float(fps) if fps and fps > 0 else 30.0, "parents": list(SMPL24_PARENTS), "tracks": []}
    for tid, (frames, joints, *rest) in sorted(tracks.items(), key=lambda kv: int(kv[0])):
        j = np.asarray(joints, np.float64).reshape(len(frames), 24, 3)
        j = np.where(np.isfinite(j), j, 0.0)
        t = {"id": int(tid), "frames": [int(f) for f in np.asarray(frames)],
             "joints": np.round(j, 3).reshape(-1).tolist()}
        if rest and rest[0] is not None:
            t["observed"] = np.asarray(rest[0], bool).reshape(len(frames) * 24).astype(int).tolist()
        data["tracks"].append(t)
    js = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    link_html = " · ".join(f'<a href="{html.escape(str(p))}">{html.escape(str(p))}</a>' for p in links)
    return (TEMPLATE.replace("__TITLE__", html.escape(str(title))).replace("__LINKS__", link_html)
            .replace("__DATA__", js))


def write_viewer(path, tracks: dict, fps: float = 30.0, title: str | None = None, links=()) -> None:
    """Write the self-contained viewer page (atomically). See :func:`viewer_html`."""
    write_text(path, viewer_html(tracks, fps=fps, title=title or f"{len(tracks)} track(s)", links=links))


__all__ = ["write_viewer", "viewer_html"]
