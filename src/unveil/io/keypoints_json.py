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

import array
import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import ijson
import numpy as np

from ..atomic import write_parts
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


# Sane ranges for the header fields (a wrong value fails here, before any heavy work).
MAX_IMAGE_SIDE = 16384          # pixels (16K video); larger sizes are typos (1e9 x 1e9 would be 3 EB)
MAX_FPS = 1000.0
MAX_FRAME = 2**31 - 1
MAX_TRACK_ID = 2**31 - 1
COORD_MARGIN = 10.0             # keypoints may lie outside the image, but within 10 image sizes


def _number(v) -> bool:
    return isinstance(v, (int, float, Decimal)) and not isinstance(v, bool)


def _header(p, d: dict) -> tuple[float, int, int, float | None, str]:
    """Check fps / width / height / focal / layout of a keypoints file -> (fps, w, h, focal, layout)."""
    layout = d.get("layout", "coco17")
    if layout not in LAYOUT_K:
        raise _bad(p, f"layout {layout!r} is not one of {', '.join(LAYOUT_K)}")
    size = []
    for key in ("width", "height"):
        v = d.get(key)
        if not _number(v) or not math.isfinite(v) or v <= 0:
            raise _bad(p, f"'{key}' (image size in pixels) is missing or not a positive number (got {v!r})")
        if v != int(v) or v > MAX_IMAGE_SIDE:
            raise _bad(p, f"'{key}' must be a whole number of pixels from 1 to {MAX_IMAGE_SIDE} (got {v!r})")
        size.append(int(v))
    fps = d.get("fps", 30.0)
    if not _number(fps) or not math.isfinite(fps) or not 0 < fps <= MAX_FPS:
        raise _bad(p, f"'fps' must be a number above 0 and at most {MAX_FPS:g} (got {fps!r})")
    focal = d.get("focal")
    if focal is not None and (not _number(focal) or not math.isfinite(focal) or focal <= 0):
        raise _bad(p, f"'focal' must be a positive number of pixels or absent (got {focal!r})")
    return float(fps), size[0], size[1], None if focal is None else float(focal), layout


def _value(ev: str, val):
    """A scalar parser event's value; a list or object as a short description (never valid)."""
    if ev in ("number", "string", "boolean", "null"):
        return val
    return "<a list>" if ev.endswith("array") else "<an object>"


class _TrackBuilder:
    """One track's fields collected from parser events (numbers go to compact arrays)."""

    def __init__(self, n: int):
        self.n = n
        self.keys: set[str] = set()
        self.id = None
        self.frames = array.array("q")
        self.kp = array.array("f")
        self.rows = 0          # keypoints rows (frames)
        self.points: list[int] = []  # points per row
        self.nums = 0          # numbers in the current point


def load(path) -> KeypointsFile:
    """Read the contract JSON (or an OpenPose folder) -> KeypointsFile.

    The file is parsed as a stream (``ijson``): keypoint numbers go straight into float32 arrays,
    so memory stays near the size of the arrays (not ~12x the file as with ``json.load``), and
    Ctrl-C is honoured while a large file is read. Every field is checked (types, ranges, shapes,
    unique integer track ids); any problem is a one-line :class:`UnveilError`.
    """
    p = Path(path)
    if not p.exists():
        raise UnveilError(f"keypoints file not found: {p}")
    if p.is_dir():
        return load_openpose_dir(p)
    head: dict = {}
    tracks: list[_TrackBuilder] = []
    has_tracks = False
    tb: _TrackBuilder | None = None
    try:
        with open(p, "rb") as f:
            events = ijson.parse(f, use_float=True)
            first = next(events, None)
            if first is None:
                raise _bad(p, "not JSON (empty file)")
            if first[1] != "start_map":
                raise _bad(p, "expected a JSON object with 'tracks'")
            for prefix, ev, val in events:
                if prefix.startswith("tracks.item"):
                    if prefix == "tracks.item":
                        if ev == "start_map":
                            tb = _TrackBuilder(len(tracks))
                        elif ev == "end_map":
                            tracks.append(tb)
                            tb = None
                        elif ev == "map_key":
                            if val in tb.keys:
                                raise _bad(p, f"track {tb.n}: key {val!r} given twice")
                            tb.keys.add(val)
                        else:
                            raise _bad(p, f"track {len(tracks)} is not an object")
                    elif prefix == "tracks.item.keypoints.item.item.item":
                        if ev != "number":
                            raise _bad(p, f"track {tb.n}: keypoints must be numbers (found {ev})")
                        tb.kp.append(val)
                        tb.nums += 1
                    elif prefix == "tracks.item.keypoints.item.item":
                        if ev == "start_array":
                            tb.nums = 0
                        elif ev == "end_array":
                            if tb.nums != 3:
                                raise _bad(p, f"track {tb.n}: a keypoint has {tb.nums} numbers, expected [x, y, score]")
                            tb.points[-1] += 1
                        else:
                            raise _bad(p, f"track {tb.n}: a keypoint must be a list [x, y, score]")
                    elif prefix == "tracks.item.keypoints.item":
                        if ev == "start_array":
                            tb.rows += 1
                            tb.points.append(0)
                        elif ev != "end_array":
                            raise _bad(p, f"track {tb.n}: keypoints must be a list of (K, 3) lists per frame")
                    elif prefix == "tracks.item.keypoints":
                        if ev not in ("start_array", "end_array"):
                            raise _bad(p, f"track {tb.n}: 'keypoints' must be a list")
                    elif prefix == "tracks.item.frames.item":
                        if ev != "number" or val != int(val):
                            raise _bad(p, f"track {tb.n}: frames must be whole numbers (got {val!r})")
                        if not 0 <= val <= MAX_FRAME:
                            raise _bad(p, f"track {tb.n}: frame {val!r} out of range 0..{MAX_FRAME}")
                        tb.frames.append(int(val))
                    elif prefix == "tracks.item.frames":
                        if ev not in ("start_array", "end_array"):
                            raise _bad(p, f"track {tb.n}: 'frames' must be a list of frame numbers")
                    elif prefix == "tracks.item.id":
                        tb.id = _value(ev, val)
                    continue
                if prefix == "tracks":
                    if ev == "start_array":
                        has_tracks = True
                    elif ev not in ("end_array",):
                        raise _bad(p, "'tracks' must be a list of track objects")
                elif prefix in ("fps", "width", "height", "focal", "layout", "people") and ev != "map_key":
                    head[prefix] = _value(ev, val)
    except UnveilError:
        raise
    except (ijson.JSONError, UnicodeDecodeError, ValueError) as e:
        raise _bad(p, f"not JSON ({str(e).splitlines()[0][:80] if str(e) else type(e).__name__})") from None
    except OSError as e:
        raise UnveilError(f"cannot read keypoints file {p} ({e.strerror or type(e).__name__})") from None
    if not has_tracks:
        if "people" in head:
            raise _bad(p, "this is one OpenPose frame; pass the folder of *_keypoints.json files")
        raise _bad(p, "no 'tracks' list")
    fps, width, height, focal, layout = _header(p, head)
    K = LAYOUT_K[layout]
    out, seen = [], {}
    for tb in tracks:
        n = tb.n
        if "keypoints" not in tb.keys:
            raise _bad(p, f"track {n}: no 'keypoints'")
        if any(k != K for k in tb.points):
            raise _bad(p, f"track {n}: keypoints shape (T, {max(tb.points, key=lambda k: k != K)}, 3), expected "
                          f"(T, {K}, 3) for {layout}")
        kp = np.frombuffer(tb.kp, np.float32).reshape(tb.rows, K, 3).copy()
        frames = np.frombuffer(tb.frames, np.int64).copy() if "frames" in tb.keys else np.arange(tb.rows, dtype=np.int64)
        tid = tb.id if "id" in tb.keys else n
        if not _number(tid) or tid != int(tid) or not 0 <= tid <= MAX_TRACK_ID:
            raise _bad(p, f"track {n}: 'id' must be a whole number from 0 to {MAX_TRACK_ID} (got {tid!r})")
        tid = int(tid)
        if tid in seen:
            raise _bad(p, f"track id {tid} is used by tracks {seen[tid]} and {n} (ids must be unique)")
        seen[tid] = n
        if len(frames) != len(kp):
            raise _bad(p, f"track {n}: {len(frames)} frames but {len(kp)} keypoint rows")
        if len(frames) == 0:
            raise _bad(p, f"track {n}: no frames")
        if len(frames) > 1 and np.any(np.diff(frames) <= 0):
            raise _bad(p, f"track {n}: frames must be strictly increasing")
        if not np.isfinite(kp).all():
            raise _bad(p, f"track {n}: keypoints contain NaN/inf (or numbers too large for float32)")
        xy = kp[..., :2]
        lim = COORD_MARGIN * np.array([width, height], np.float32)
        if np.any(xy < -lim) or np.any(xy > lim + np.array([width, height], np.float32)):
            raise _bad(p, f"track {n}: keypoint coordinates up to {float(np.abs(xy).max()):.3g} px lie more than "
                          f"{COORD_MARGIN:g} image sizes outside the {width}x{height} image")
        sc = kp[..., 2]
        if np.any(sc < 0) or np.any(sc > 1):
            raise _bad(p, f"track {n}: scores must lie in [0, 1] (found {float(sc.min()):.3g}..{float(sc.max()):.3g})")
        out.append(Track2D(id=tid, frames=frames, keypoints=kp, layout=layout))
    if not out:
        raise _bad(p, "no tracks")
    return KeypointsFile(out, fps, width, height, focal, layout)


def dump(path, tracks: list[Track2D], fps: float, width: int, height: int, focal: float | None = None) -> None:
    """Write tracks as the contract JSON (all tracks must share one layout), a piece at a time
    (:func:`dump_parts`: a long video's text is never held whole)."""
    write_parts(path, dump_parts(tracks, fps, width, height, focal))


def dump_parts(tracks: list[Track2D], fps: float, width: int, height: int, focal: float | None = None):
    """The text of :func:`dump` in pieces: ``json.dumps(d | {"tracks": [...]}, separators=(",", ":"))``
    with each track's keypoints turned into Python lists ``DUMP_CHUNK`` frames per piece (a list per
    keypoint and frame costs ~150 bytes: hundreds of MB for a long video if built at once).

    Raises:
        UnveilError: the tracks have mixed layouts (before any piece is given out).
    """
    layouts = {t.layout for t in tracks}
    if len(layouts) > 1:
        raise UnveilError(f"tracks have mixed layouts {sorted(layouts)}")
    d = {"fps": float(fps), "width": int(width), "height": int(height)}
    if focal:
        d["focal"] = float(focal)
    d["layout"] = layouts.pop() if layouts else "coco17"
    sep = (",", ":")
    return _dump_pieces(json.dumps(d, separators=sep)[:-1] + ',"tracks":[', tracks)


def _dump_pieces(head: str, tracks: list[Track2D]):
    sep = (",", ":")
    yield head
    for k, t in enumerate(tracks):
        yield ("," if k else "") + '{"id":%d,"frames":%s,"keypoints":[' % (
            int(t.id), json.dumps([int(f) for f in t.frames], separators=sep))
        for i in range(0, len(t.keypoints), DUMP_CHUNK):
            yield ("," if i else "") + json.dumps(np.round(np.asarray(t.keypoints[i:i + DUMP_CHUNK], np.float64), 3)
                                                  .tolist(), separators=sep)[1:-1]
        yield "]}"
    yield "]}"


DUMP_CHUNK = 1024  # frames per json.dumps call in dump


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
        except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
            raise UnveilError(f"bad OpenPose file {f}: expected JSON with 'people'") from None
        if not isinstance(people, list) or not all(isinstance(q, dict) for q in people):
            raise UnveilError(f"bad OpenPose file {f}: 'people' must be a list of objects")
        dets = []
        for person in people:
            try:
                a = np.asarray(person.get("pose_keypoints_2d", []), np.float32)
            except (ValueError, TypeError):
                raise UnveilError(f"bad OpenPose file {f}: pose_keypoints_2d must be a flat list of numbers") from None
            if a.ndim != 1 or a.size % 3 or not np.isfinite(a).all():
                raise UnveilError(f"bad OpenPose file {f}: pose_keypoints_2d must be finite x, y, score triples "
                                  f"(got {a.size} numbers)")
            a = a.reshape(-1, 3)
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
    if max(maxx, maxy) > MAX_IMAGE_SIDE:
        raise UnveilError(f"bad OpenPose files in {folder}: keypoints reach x={maxx:.3g}, y={maxy:.3g} px "
                          f"(the image size is taken from them; at most {MAX_IMAGE_SIDE})")
    w = width or int(np.ceil(maxx))
    h = height or int(np.ceil(maxy))
    return KeypointsFile(tracks, fps, w, h, None, "coco17")
