"""Keypoints JSON import/export (`unveil run --keypoints KP.json`), contract in shared/design/pipeline.md.

```json
{"fps": 30, "width": 1920, "height": 1080, "focal": 1400.0, "layout": "coco17",
 "tracks": [{"id": 0, "frames": [0, 1, 2], "keypoints": [[[x, y, score], ...K...], ...T...]}]}
```
``layout`` is ``coco17`` (K=17) or ``blazepose33`` (K=33); ``focal`` is optional. Also reads an
**OpenPose** output folder (one ``*_keypoints.json`` per frame, BODY_25 or COCO-18 ``pose_keypoints_2d``),
converted to COCO-17; OpenPose has no identities, so people are linked frame to frame by nearest
keypoint-box centre (greedy, gated by box size). Errors are one-line :class:`UnveilError`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..atomic import write_text
from ..errors import UnveilError
from ..types import Track2D

LAYOUT_K = {"coco17": 17, "blazepose33": 33}
# OpenPose BODY_25 / COCO-18 -> COCO-17 index
OPENPOSE_BODY25_TO_COCO17 = (0, 16, 15, 18, 17, 5, 2, 6, 3, 7, 4, 12, 9, 13, 10, 14, 11)
OPENPOSE_COCO18_TO_COCO17 = (0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10)


@dataclass
class KeypointsFile:
    tracks: list[Track2D]
    fps: float
    width: int
    height: int
    focal: float | None = None
    layout: str = "coco17"


def _bad(path, msg) -> UnveilError:
    return UnveilError(f"bad keypoints file {path}: {msg}")


def load(path) -> KeypointsFile:
    """Read the contract JSON (or an OpenPose folder) -> KeypointsFile."""
    p = Path(path)
    if not p.exists():
        raise UnveilError(f"keypoints file not found: {p}")
    if p.is_dir():
        return load_openpose_dir(p)
    try:
        d = json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _bad(p, f"not JSON ({e.__class__.__name__})") from None
    if not isinstance(d, dict):
        raise _bad(p, "expected a JSON object with 'tracks'")
    if "tracks" not in d:
        if "people" in d:
            raise _bad(p, "this is one OpenPose frame; pass the folder of *_keypoints.json files")
        raise _bad(p, "no 'tracks' list")
    layout = d.get("layout", "coco17")
    if layout not in LAYOUT_K:
        raise _bad(p, f"layout {layout!r} is not one of {', '.join(LAYOUT_K)}")
    K = LAYOUT_K[layout]
    for key in ("width", "height"):
        if not isinstance(d.get(key), (int, float)) or d[key] <= 0:
            raise _bad(p, f"'{key}' (image size in pixels) is missing or not positive")
    tracks = []
    for n, t in enumerate(d["tracks"]):
        try:
            kp = np.asarray(t["keypoints"], np.float32)
            frames = np.asarray(t.get("frames", range(len(kp))), np.int64)
        except (KeyError, ValueError, TypeError) as e:
            raise _bad(p, f"track {n}: {e.__class__.__name__} reading keypoints/frames") from None
        if kp.ndim != 3 or kp.shape[1:] != (K, 3):
            raise _bad(p, f"track {n}: keypoints shape {tuple(kp.shape)}, expected (T, {K}, 3) for {layout}")
        if len(frames) != len(kp):
            raise _bad(p, f"track {n}: {len(frames)} frames but {len(kp)} keypoint rows")
        if len(frames) > 1 and np.any(np.diff(frames) <= 0):
            raise _bad(p, f"track {n}: frames must be strictly increasing")
        if not np.isfinite(kp).all():
            raise _bad(p, f"track {n}: keypoints contain NaN/inf")
        tracks.append(Track2D(id=int(t.get("id", n)), frames=frames, keypoints=kp, layout=layout))
    if not tracks:
        raise _bad(p, "no tracks")
    focal = d.get("focal")
    return KeypointsFile(tracks, float(d.get("fps", 30.0)), int(d["width"]), int(d["height"]),
                         float(focal) if focal else None, layout)


def dump(path, tracks: list[Track2D], fps: float, width: int, height: int, focal: float | None = None) -> None:
    """Write tracks as the contract JSON (all tracks must share one layout)."""
    layouts = {t.layout for t in tracks}
    if len(layouts) > 1:
        raise UnveilError(f"tracks have mixed layouts {sorted(layouts)}")
    d = {"fps": float(fps), "width": int(width), "height": int(height)}
    if focal:
        d["focal"] = float(focal)
    d["layout"] = layouts.pop() if layouts else "coco17"
    d["tracks"] = [{"id": int(t.id), "frames": [int(f) for f in t.frames],
                    "keypoints": np.round(np.asarray(t.keypoints, np.float64), 3).tolist()} for t in tracks]
    write_text(path, json.dumps(d, separators=(",", ":")))


# --------------------------------------------------------------------------------- OpenPose
def _frame_number(name: str, fallback: int) -> int:
    m = re.findall(r"(\d+)_keypoints\.json$", name)
    return int(m[-1]) if m else fallback


def load_openpose_dir(folder, fps: float = 30.0, width: int | None = None, height: int | None = None) -> KeypointsFile:
    """A folder of OpenPose per-frame JSON -> COCO-17 tracks (greedy nearest-box linking)."""
    folder = Path(folder)
    files = sorted(folder.glob("*_keypoints.json"))
    if not files:
        raise UnveilError(f"no OpenPose *_keypoints.json files in {folder}")
    live: list[dict] = []
    done: list[dict] = []
    maxx = maxy = 1.0
    for n, f in enumerate(files):
        i = _frame_number(f.name, n)
        try:
            people = json.loads(f.read_text())["people"]
        except (json.JSONDecodeError, KeyError, UnicodeDecodeError):
            raise UnveilError(f"bad OpenPose file {f}: expected JSON with 'people'") from None
        dets = []
        for person in people:
            a = np.asarray(person.get("pose_keypoints_2d", []), np.float32).reshape(-1, 3)
            if len(a) == 25:
                kp = a[list(OPENPOSE_BODY25_TO_COCO17)]
            elif len(a) == 18:
                kp = a[list(OPENPOSE_COCO18_TO_COCO17)]
            else:
                raise UnveilError(f"bad OpenPose file {f}: {len(a)} body keypoints (expected BODY_25 or COCO-18)")
            ok = kp[:, 2] > 0
            if ok.sum() < 3:
                continue
            maxx, maxy = max(maxx, kp[ok, 0].max()), max(maxy, kp[ok, 1].max())
            lo, hi = kp[ok, :2].min(0), kp[ok, :2].max(0)
            dets.append((kp, (lo + hi) / 2, max(hi[1] - lo[1], hi[0] - lo[0], 1.0)))
        used = set()
        for tr in sorted(live, key=lambda t: -len(t["frames"])):
            best, bd = None, 1e9
            for j, (kp, c, s) in enumerate(dets):
                d = np.linalg.norm(c - tr["c"]) / max(s, tr["s"])
                if j not in used and d < 0.5 and d < bd:
                    best, bd = j, d
            if best is not None:
                used.add(best)
                kp, c, s = dets[best]
                tr["frames"].append(i); tr["kp"].append(kp); tr["c"], tr["s"], tr["last"] = c, s, i
        for j, (kp, c, s) in enumerate(dets):
            if j not in used:
                live.append({"frames": [i], "kp": [kp], "c": c, "s": s, "last": i})
        keep = []
        for tr in live:
            (keep if i - tr["last"] <= 10 else done).append(tr)
        live = keep
    allt = sorted(done + live, key=lambda t: t["frames"][0])
    tracks = [Track2D(id=n, frames=np.asarray(t["frames"], np.int64), keypoints=np.stack(t["kp"]).astype(np.float32),
                      layout="coco17") for n, t in enumerate(allt)]
    if not tracks:
        raise UnveilError(f"no people in the OpenPose files in {folder}")
    w = width or int(np.ceil(maxx))
    h = height or int(np.ceil(maxy))
    return KeypointsFile(tracks, fps, w, h, None, "coco17")
