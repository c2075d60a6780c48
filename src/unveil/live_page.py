"""``live.html``: the live view of ``unveil live --ws`` -- one self-contained page (no library, no
CDN: a canvas-2D drawing, opens from disk) that connects to the live WebSocket and draws each
frame's skeletons as they arrive.

Each person's ``joints_cam`` (24 SMPL joints, camera frame, m) is drawn as a stick figure seen
from the video camera at first (drag orbits about the people, wheel zooms), in the person's colour,
with the same marks as the offline viewer's 2D page: a dot for a joint seen in the video, a ring
for an inferred one (``occluded24`` of the line: hidden, filled by the lifter / motion predictor).
A bar says the connection state, the source frame, frames received, frames missed (gaps in
``source_frame``: dropped by the player or by the server for this client), the server-side
latency and the fixed delay. The page reconnects every second while the server is not there, so
it can be opened before ``unveil live`` starts. ``live.html#ws=ws://127.0.0.1:PORT`` overrides the
address written into the page.

For tests, ``<body>`` carries ``data-frames`` (lines received), ``data-drawn`` (frames drawn with
at least one person), ``data-state`` and ``data-closes`` (the close codes of the connections that
were open: 1000 when the run ended normally); runtime errors go to ``<pre id="errors">``.
"""

from __future__ import annotations

import json

from .atomic import write_text
from .skeleton import SMPL24_PARENTS

TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"><title>unveil live</title>
<style>
body{margin:0;background:#1d1f24;color:#ddd;font:13px system-ui,sans-serif;overflow:hidden}
canvas{display:block} #info{position:fixed;top:8px;left:10px;max-width:70%}
#bar{position:fixed;left:0;right:0;bottom:0;padding:8px;background:#0008}
</style></head><body data-frames="0" data-drawn="0" data-state="connecting">
<canvas id="c"></canvas>
<pre id="errors" style="position:fixed;top:40px;left:10px;color:#f66;margin:0"></pre>
<script>
addEventListener("error", e => { document.getElementById("errors").textContent +=
  "Uncaught " + (e.error && e.error.stack || e.message) + "\\n"; });
</script>
<div id="info">unveil live · drag: orbit · wheel: zoom · double-click: back to the camera's view ·
dot: joint seen in the video, ring: inferred</div>
<div id="bar"><span id="status"></span></div>
<script id="config" type="application/json">__CONFIG__</script>
<script>
"use strict";
const CFG = JSON.parse(document.getElementById("config").textContent);
const H = new URLSearchParams(location.hash.slice(1));
const URL_WS = H.get("ws") || CFG.url;
const PARENTS = CFG.parents;
const COLORS = ["#e6194b","#3cb44b","#4363d8","#f58231","#911eb4","#42d4f4","#f032e6","#bfef45"];
const cv = document.getElementById("c"), ctx = cv.getContext("2d"), status = document.getElementById("status");
let last = null, received = 0, drawn = 0, missed = 0, prevFrame = null, state = "connecting", dirty = true;
let yaw = 0, pitch = 0, zoom = 1, center = null;
const colorOf = new Map();
function setState(s) { state = s; document.body.dataset.state = s; dirty = true; }
function connect() {
  let ws;
  try { ws = new WebSocket(URL_WS); } catch (e) { setState("bad address"); return; }
  ws.onopen = () => { ws.opened = true; setState("connected"); };
  ws.onmessage = ev => {
    const rec = JSON.parse(ev.data);
    if (prevFrame !== null && rec.source_frame > prevFrame + 1) missed += rec.source_frame - prevFrame - 1;
    prevFrame = rec.source_frame; last = rec; received++;
    document.body.dataset.frames = received; dirty = true;
  };
  ws.onclose = ev => {
    if (ws.opened) document.body.dataset.closes = (document.body.dataset.closes || "") + ev.code + " ";
    if (!ws.opened && state.startsWith("ended")) { setTimeout(connect, 1000); return; }   // keep saying how it ended
    setState(ev.code === 1000 ? "ended (" + (ev.reason || "closed") + "), waiting for a new run" : "waiting for " + URL_WS);
    setTimeout(connect, 1000);
  };
}
function resize() { cv.width = innerWidth; cv.height = innerHeight; dirty = true; }
function project(p) {   // camera frame (x right, y down, z forward) -> screen, orbiting about `center`
  const x = p[0] - center[0], y = p[1] - center[1], z = p[2] - center[2];
  const cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
  const x1 = cy * x - sy * z, z1 = sy * x + cy * z;
  const y2 = cp * y - sp * z1, z2 = cp * z1 + sp * y;
  const depth = z2 + center[2];
  if (depth < 0.05) return null;
  const f = 0.9 * CFG.focal * Math.min(cv.width / CFG.width, cv.height / CFG.height) * zoom;   // the video's framing, fitted
  return [cv.width / 2 + f * x1 / depth, cv.height / 2 + f * y2 / depth];
}
function line(a, b) { const p = project(a), q = project(b); if (!p || !q) return;
  ctx.beginPath(); ctx.moveTo(p[0], p[1]); ctx.lineTo(q[0], q[1]); ctx.stroke(); }
function draw() {
  ctx.fillStyle = "#1d1f24"; ctx.fillRect(0, 0, cv.width, cv.height);
  const people = last ? last.people : [];
  if (people.length) {   // orbit centre: the people's mean, followed smoothly
    const m = [0, 0, 0]; let n = 0;
    for (const P of people) for (const j of P.joints_cam) { m[0] += j[0]; m[1] += j[1]; m[2] += j[2]; n++; }
    const c = m.map(v => v / n);
    let low = -Infinity;   // the lowest joint (y down): the floor is drawn there
    for (const P of people) for (const j of P.joints_cam) low = Math.max(low, j[1]);
    c.push(low);
    center = center ? center.map((v, k) => v + 0.2 * (c[k] - v)) : c;
    if (center[2] < 0.5) center[2] = 0.5;
  }
  if (center) {
    ctx.strokeStyle = "#3a3d45"; ctx.lineWidth = 1;   // a floor grid at the lowest joint, 1 m squares
    const g = 4, y0 = center[3], cx = Math.round(center[0]), cz = Math.round(center[2]);
    const zn = Math.max(cz - g, 0.5);   // not behind the camera (the first view is from it)
    for (let k = -g; k <= g; k++) { line([cx + k, y0, zn], [cx + k, y0, cz + g]); if (cz + k >= zn) line([cx - g, y0, cz + k], [cx + g, y0, cz + k]); }
  }
  for (const P of people) {
    if (!colorOf.has(P.id)) colorOf.set(P.id, COLORS[colorOf.size % COLORS.length]);
    const J = P.joints_cam, hid = P.occluded24 || [];
    ctx.strokeStyle = colorOf.get(P.id); ctx.fillStyle = ctx.strokeStyle; ctx.lineWidth = 3;
    PARENTS.forEach((p, k) => { if (p >= 0) line(J[p], J[k]); });
    for (let k = 0; k < J.length; k++) {   // observed joints: dots; inferred: rings
      const q = project(J[k]); if (!q) continue;
      ctx.beginPath(); ctx.arc(q[0], q[1], 4.5, 0, 2 * Math.PI);
      if (hid[k]) { ctx.lineWidth = 1.5; ctx.stroke(); ctx.lineWidth = 3; } else ctx.fill();
    }
    const h = project(J[15]); if (h) ctx.fillText("#" + P.id, h[0] + 8, h[1] - 8);
  }
  if (people.length) { drawn++; document.body.dataset.drawn = drawn; }
  status.textContent = state + " · " + URL_WS + (last ? " · source frame " + last.source_frame +
    " (t " + last.time.toFixed(2) + " s) · " + people.length + " people · received " + received + ", missed " + missed +
    " · server latency " + Math.round(last.latency_ms) + " ms + " + last.delay_frames + " frames delay" : "");
}
function tick() { if (dirty) { dirty = false; draw(); } requestAnimationFrame(tick); }
let drag = null;
cv.onmousedown = e => drag = [e.clientX, e.clientY];
onmouseup = () => drag = null;
onmousemove = e => { if (!drag) return; yaw += (e.clientX - drag[0]) * 0.01;
  pitch = Math.max(-1.5, Math.min(1.5, pitch + (e.clientY - drag[1]) * 0.01)); drag = [e.clientX, e.clientY]; dirty = true; };
cv.ondblclick = () => { yaw = 0; pitch = 0; zoom = 1; dirty = true; };
cv.onwheel = e => { e.preventDefault(); zoom = Math.max(0.2, Math.min(10, zoom * Math.exp(-e.deltaY * 0.001))); dirty = true; };
onresize = resize; resize(); setState("connecting"); connect(); requestAnimationFrame(tick);
</script></body></html>
"""


def live_page_html(url: str, focal: float = 1000.0, size: tuple[int, int] = (1280, 720)) -> str:
    """The page's text.

    Args:
        url: the WebSocket address the page connects to (``ws://127.0.0.1:PORT``).
        focal, size: the source's focal length (px) and ``(width, height)``: the first view frames
            the people as the video does, the video's frame fitted into the window.
    Returns:
        The HTML (one file, no external resource).
    Raises:
        ValueError: not a ws:// address, or a focal / size that is not positive.
    """
    if not isinstance(url, str) or not url.startswith(("ws://", "wss://")):
        raise ValueError(f"url must be a ws:// address, got {url!r}")
    if not (focal > 0 and len(size) == 2 and min(size) > 0):
        raise ValueError(f"focal and size must be positive, got {focal}, {size}")
    cfg = {"url": url, "parents": list(SMPL24_PARENTS), "focal": float(focal),
           "width": int(size[0]), "height": int(size[1])}
    return TEMPLATE.replace("__CONFIG__", json.dumps(cfg).replace("</", "<\\/"))


def write_live_page(path, url: str, focal: float = 1000.0, size: tuple[int, int] = (1280, 720)) -> None:
    """Write :func:`live_page_html` to ``path`` (atomically)."""
    write_text(path, live_page_html(url, focal, size))


__all__ = ["live_page_html", "write_live_page"]
