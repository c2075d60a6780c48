"""``unveil bench live``: the live mode (:mod:`unveil.live`) on the demo clip -- latency, sustained
frames/s, dropped frames -- and its accuracy beside the offline pipeline's, same clip, same metrics.

The clip is the demo's (:mod:`unveil.demo`: the packaged evaluation-split walk behind a box,
640x480, 30 fps, 150 frames, known 3D truth), rendered into ``OUT/render`` (cached). Rows:

* ``offline``: ``unveil run`` on the video (:func:`unveil.pipeline.run`, the demo's focal; no
  overlay/exports), scored as ``unveil demo`` scores it (:func:`unveil.demo.score`).
* ``live`` (timed; ``live, two threads``: ``--two-threads``): ``unveil live`` with the file played
  at its own frame rate (a frame the estimator has not taken when the next is due is dropped, as
  with a camera). Latency = capture of
  a frame (its release by the player) -> its JSON line out; the pose on that line is
  ``delay`` frames older (stated beside it). Accuracy on the frames it processed.
* ``live all frames`` (+ ``delay 0``, ``no fill``, ``mirror``): every frame, no pacing -- accuracy
  only, to separate what dropping frames costs from what causality costs (``mirror``: each lifter
  call averaged with its mirror image, ``unveil live --mirror``).

Writes ``OUT/bench_live.json``; prints a table. Numbers depend on the machine's load (printed).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import numpy as np

from ..atomic import write_text
from ..data.demo_motion import load_motion
from ..demo import pick_track, score
from ..live_ws import WsBroadcaster
from .. import live
from ..api import load


def _render(out: Path, frames: int = 150) -> tuple[Path, dict]:
    from ..data import synthvideo as sv  # deferred: loads torch

    m = load_motion()
    r = sv.render_sequence(m["joints"][:frames], f"demo_{str(m['clip'])}", "object", 3, out / "render", 640, 480,
                           30.0, "anny", workers=1)
    return Path(r["video"]), sv.load_truth(r["truth"])


def timing_row(s: dict, delay: int) -> dict:
    """The timing fields of a bench row from a ``live.run_live`` summary ``s`` (fps, CPU per frame,
    frames read / dropped, latency median and p95 in ms)."""
    lat = np.asarray(s["latency_ms"])
    return {"delay_frames": delay, "fps": round(s["fps"], 2), "cpu_ms_per_frame": round(s["cpu_ms_per_frame"], 1),
            "frames": s["frames"], "read": s["read"], "dropped": s["dropped"],
            "latency_ms_median": round(float(np.median(lat)), 1),
            "latency_ms_p95": round(float(np.percentile(lat, 95)), 1)}


def _live_tracks(records: list[dict]) -> list[dict]:
    """Per-person arrays (frames, keypoints2d COCO-17, occluded, joints_cam) from live JSON records."""
    by: dict[int, dict] = {}
    for rec in records:
        for p in rec["people"]:
            d = by.setdefault(p["id"], {"frames": [], "keypoints2d": [], "occluded": [], "joints_cam": []})
            for k in d:
                d[k].append(p["frame"] if k == "frames" else p[k])
    out = []
    for pid, d in by.items():
        t = {k: np.asarray(v) for k, v in d.items()}
        t.update(id=pid, layout="coco17")
        out.append(t)
    return out


def _score(tracks: list[dict], truth: dict) -> dict:
    res = score(pick_track(tracks, truth["keypoints2d_true"]), truth)
    keep = ("frames_scored", "frames_total", "mpjpe", "mpjpe_vis", "mpjpe_occ", "pa_mpjpe", "root_err_mm", "accel")
    return {k: res[k] for k in keep if k in res}


# a WebSocket client in its own process (as a browser tab would be): counts the lines, prints the count
CLIENT = """import sys, time
from websockets.sync.client import connect
for _ in range(200):
    try:
        c = connect(sys.argv[1]); break
    except OSError:
        time.sleep(0.05)
n = 0
with c:
    for m in c:
        n += 1
print(n)
"""


def _ws_row(live, video, recs: list, delay: int, focal: float):
    """``run_live`` with every line serialised and published on a local WebSocket (as ``unveil
    live --ws`` does) to one client process connected before the clip starts. Returns (stats,
    {ws_sent, ws_dropped, client_received})."""
    import subprocess
    import sys

    ws = WsBroadcaster(0)
    ws.start()
    cl = subprocess.Popen([sys.executable, "-c", CLIENT, ws.url], stdout=subprocess.PIPE, text=True)
    try:
        if not ws.wait_client(60):
            raise RuntimeError("the WebSocket client did not connect")

        def on_line(rec):
            recs.append(rec)
            ws.publish(json.dumps({k: v for k, v in rec.items() if k not in ("captured", "emitted")},
                                  separators=(",", ":")))

        s = live.run_live(str(video), on_line, delay=delay, focal=focal, realtime=True)
    finally:
        w = ws.close()
        got = cl.communicate(timeout=30)[0].strip()
    return s, {"ws_sent": w["sent"], "ws_dropped": w["dropped"], "client_received": int(got or 0)}


SUMMARY_KEYS = ("fps", "latency_ms_median", "latency_ms_p95", "dropped", "cpu_ms_per_frame", "mpjpe", "mpjpe_occ",
                "load_before")


def summary(rows: list[dict]) -> dict:
    """Mean, min and max of each of :data:`SUMMARY_KEYS` over repeated timed rows.

    Args:
        rows: timed rows of one configuration (dicts as in ``bench_live.json``'s ``rows``).

    Returns:
        ``{key: {"mean", "min", "max"}}`` for the keys present in every row, plus ``runs``.
    """
    if not rows:
        raise ValueError("summary needs at least one row")
    out: dict = {"runs": len(rows)}
    for key in SUMMARY_KEYS:
        if all(r.get(key) is not None for r in rows):
            v = np.asarray([r[key] for r in rows], float)
            out[key] = {"mean": round(float(v.mean()), 1), "min": round(float(v.min()), 1),
                        "max": round(float(v.max()), 1)}
    return out


def run_bench(out: Path, delay: int | None = None, extra: bool = True, log=print, ws_pairs: int = 0,
              repeat: int = 1) -> dict:
    """Render (cached), run offline and live, score; returns the result dict (also OUT/bench_live.json).

    ``repeat``: run the two timed rows (one thread: the default; two threads) this many times, in
    turn (rows ``live #k``, ``live, two threads #k``; their mean / min / max in ``repeated``).
    ``ws_pairs``: also run the timed row this many times without, then with, the WebSocket and one
    client process connected (``live (again)`` / ``live + WebSocket client`` rows)."""
    from ..pipeline import run  # deferred: loads ijson, scipy, torch

    delay = live.DELAY if delay is None else delay
    out.mkdir(parents=True, exist_ok=True)
    video, truth = _render(out)
    focal = float(truth["focal"])
    res: dict = {"video": str(video), "frames": int(len(truth["joints_cam"])), "width": 640, "height": 480,
                 "cpu_count": os.cpu_count(), "load_before": list(os.getloadavg()), "rows": {}}
    for k in range(repeat):  # the two timed configurations in turn, so both see the same load
        for name, pipelined in (("live", False), ("live, two threads", True)):
            name += f" #{k + 1}" if repeat > 1 else ""
            log(f"{name} (played at the clip's 30 fps, delay {delay} frames) ...")
            recs: list[dict] = []
            load1 = os.getloadavg()[0]  # 1-minute load average before the row
            s = live.run_live(str(video), recs.append, delay=delay, focal=focal, realtime=True, pipelined=pipelined)
            res["rows"][name] = {**timing_row(s, delay), "delay_ms": round(delay / s["source_fps"] * 1000, 1),
                                 "load_before": round(load1, 2), **_score(_live_tracks(recs), truth)}
    if repeat > 1:
        res["repeated"] = {name: summary([r for k, r in res["rows"].items() if k.rsplit(" #", 1)[0] == name])
                           for name in ("live", "live, two threads")}
    res["load_after_live"] = list(os.getloadavg())
    for k in range(ws_pairs):  # the WebSocket's cost: plain and served rows in turn, same clip, same run
        for name, served in (("live (again)", False), ("live + WebSocket client", True)):
            name += f" #{k + 1}" if ws_pairs > 1 else ""
            log(f"{name} ...")
            recs = []
            row = _ws_row(live, video, recs, delay, focal) if served else None
            if row is None:
                s = live.run_live(str(video), recs.append, delay=delay, focal=focal, realtime=True)
            else:
                s, extra_row = row
            res["rows"][name] = {**timing_row(s, delay), **(extra_row if served else {}),
                                 **_score(_live_tracks(recs), truth)}
    if extra:
        for name, kw in (("live all frames", {}), ("live all frames, delay 0", {"delay": 0}),
                         ("live all frames, no fill", {"fill": False}),
                         ("live all frames, mirror", {"mirror": True})):
            log(f"{name} ...")
            recs = []
            s = live.run_live(str(video), recs.append, focal=focal, realtime=False, **{"delay": delay, **kw})
            res["rows"][name] = {"delay_frames": kw.get("delay", delay), "frames": s["frames"],
                                 "fps_unpaced": round(s["fps"], 2),
                                 "cpu_ms_per_frame": round(s["cpu_ms_per_frame"], 1), **_score(_live_tracks(recs), truth)}
    log("offline (unveil run) ...")
    od = out / "offline"
    shutil.rmtree(od, ignore_errors=True)  # a fresh run: its frames/s and CPU are measured, not cached
    summ = run(video=video, out_dir=od, focal=focal, render=False, export=False, progress=False)
    r = load(od)
    tracks = [{**p.arrays, "id": p.id} for p in r.people]
    cpu = sum(v for k, v in summ["cpu_seconds"].items() if "." not in k)
    res["rows"]["offline"] = {"fps": summ.get("fps_end_to_end"), "frames": summ["frames"],
                              "cpu_ms_per_frame": round(cpu / max(summ["frames"], 1) * 1000, 1),
                              "stages_cached": summ["stages_cached"], **_score(tracks, truth)}
    write_text(out / "bench_live.json", json.dumps(res, indent=1, default=float))
    return res


def table(res: dict) -> str:
    """Markdown table of :func:`run_bench`'s rows."""
    cols = ("row", "delay (frames)", "frames/s", "CPU ms/frame", "dropped", "latency median / p95 ms", "frames scored", "MPJPE",
            "MPJPE-vis", "MPJPE-occ", "PA-MPJPE", "root err")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]

    def f(v, fmt="{:.1f}"):
        return "" if v is None else fmt.format(v)

    for name, r in res["rows"].items():
        fps = r.get("fps", r.get("fps_unpaced"))
        lat = (f"{r['latency_ms_median']:.0f} / {r['latency_ms_p95']:.0f}" if "latency_ms_median" in r else "")
        lines.append("| " + " | ".join([
            name, f(r.get("delay_frames"), "{}"), f(fps) + ("" if "fps" in r or fps is None else " (unpaced)"),
            f(r.get("cpu_ms_per_frame")),
            f(r.get("dropped"), "{}") + (f" of {r['read']}" if "read" in r else ""), lat,
            f"{r.get('frames_scored', 0)}/{r.get('frames_total', '')}", f(r.get("mpjpe")), f(r.get("mpjpe_vis")),
            f(r.get("mpjpe_occ")), f(r.get("pa_mpjpe")), f(r.get("root_err_mm"), "{:.0f}")]) + " |")
    return "\n".join(lines)


def main(argv: list[str], prog: str = "unveil bench live") -> int:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", default="bench_live_out", help="output folder (render cache, offline run, json)")
    ap.add_argument("--delay", type=int, default=None, help="live delay in frames (default: unveil live's)")
    ap.add_argument("--no-extra", dest="extra", action="store_false", default=True,
                    help="only the timed live row and offline (skip the all-frames accuracy rows)")
    ap.add_argument("--ws", type=int, default=0, metavar="N",
                    help="the WebSocket's cost: N pairs of timed rows without / with `--ws` and one client "
                         "process connected (needs pip install 'unveil[live]')")
    ap.add_argument("--repeat", type=int, default=1, metavar="N",
                    help="run the timed rows (one thread, two threads) N times in turn and print their mean / min / max")
    a = ap.parse_args(argv)
    if a.ws < 0:
        raise SystemExit("--ws must be >= 0")
    if a.repeat < 1:
        raise SystemExit("--repeat must be >= 1")
    res = run_bench(Path(a.out), a.delay, a.extra, ws_pairs=a.ws, repeat=a.repeat)
    print(table(res))
    for name, sm in res.get("repeated", {}).items():
        print(f"{name}, {sm['runs']} runs (mean [min-max]): " + ", ".join(
            f"{k} {v['mean']:.1f} [{v['min']:.1f}-{v['max']:.1f}]" for k, v in sm.items() if k != "runs"))
    plain = [r for k, r in res["rows"].items() if k.startswith("live (again)")]
    served = [r for k, r in res["rows"].items() if k.startswith("live + WebSocket client")]
    for k, r in res["rows"].items():
        if "ws_sent" in r:
            print(f"{k}: {r['ws_sent']} lines sent, {r['ws_dropped']} dropped for the client, "
                  f"{r['client_received']} received")
    if plain and served:
        def mean(rows, key):
            return float(np.mean([r[key] for r in rows]))
        print("WebSocket + 1 client vs without, mean of {} pair(s): frames/s {:.1f} vs {:.1f} (x{:.2f}), latency "
              "median {:.0f} vs {:.0f} ms (x{:.2f}), p95 {:.0f} vs {:.0f} ms (x{:.2f}), CPU ms/frame {:.1f} vs {:.1f}"
              .format(len(served), mean(served, "fps"), mean(plain, "fps"), mean(served, "fps") / mean(plain, "fps"),
                      mean(served, "latency_ms_median"), mean(plain, "latency_ms_median"),
                      mean(served, "latency_ms_median") / mean(plain, "latency_ms_median"),
                      mean(served, "latency_ms_p95"), mean(plain, "latency_ms_p95"),
                      mean(served, "latency_ms_p95") / mean(plain, "latency_ms_p95"),
                      mean(served, "cpu_ms_per_frame"), mean(plain, "cpu_ms_per_frame")))
    print(f"load average before: {res['load_before'][0]:.2f}; after the timed run: {res['load_after_live'][0]:.2f} "
          f"({res['cpu_count']} cores); mm; latency = capture -> JSON line, the pose being `delay` frames older")
    return 0
