"""Offline identity stitching: join the track fragments of one person across gaps and crossings.

The online tracker (:mod:`unveil.detect.people`) ends a track when the person is lost for more than
``max_gap`` frames and starts a new one when they come back; at a crossing the person behind often
loses their track and comes back under a new id. After the whole video is tracked, this module
links fragments (one track's end to another's start) by a global min-cost assignment (Hungarian,
``scipy.optimize.linear_sum_assignment``, with a "no link" option per end and per start: the
classical tracklet-association step, e.g. Huang, Wu & Nevatia, ECCV 2008). Cost of linking fragment
a's end to fragment b's start, each term gated:

- **motion**: a's box centre extrapolated at constant velocity (least-squares line over its last
  ``k`` held frames) to b's first frame, and b's extrapolated back to a's last frame; the mean
  distance, in box heights (or the plain distance a-end to b-start, if smaller: someone who
  stopped behind an occluder), against a gate that grows with the gap (``0.6 + 0.6 * gap_seconds``);
- **scale**: ``|log(height_b / height_a)|`` (gate ``0.5``);
- **bone-length ratios**: thigh, shin, upper arm and forearm over the torso side length (medians
  over held frames; 2D, so only a weak cue: small weight, no gate);
- **colour**: median RGB of torso and of legs (``extras["colour"]`` per frame, sampled by the tracker
  on the keypoints; see :func:`colour_descriptor`) near the end of a and the start of b (gate 0.3 on
  [0, 1] RGB, Euclidean over the 6 numbers).

Before linking, **gap splits**: a track is cut where it was not held for 3 or more of its frames
(:func:`split_at_gaps`: the tracker's local search may have re-acquired someone else there); the
parts are linked again like any fragments. Then **appearance splits**: a track whose torso colour changes for good (mean over 8 held
frames before vs after differs by > 0.3) is cut there (:func:`split_on_appearance`: the crop slid
onto another person at a crossing; the parts are then linked like any fragments). Then
**duplicates**: two tracks held in the same frames whose body keypoints (the 12 points shoulders to
wrists and hips to ankles; not the face, which a mixed crop can take from another person) coincide (median
distance under 0.2 box heights in >= 60 % of the shared frames (measured: 0.69 for a partial-pose duplicate on Demo_MultiPerson cam01, <= 0.44 for different people there): the tracker's own duplicate check
missed a partial pose) are one person: the later one is dropped if it ends inside the other, else
the person is handed over (the earlier track cut where the later starts, and joined).

After linking, **ghosts**: a track with fewer held frames than the drop rule's length whose box
overlaps (IoU >= 0.3) a longer track's box in at least 80 % of its held frames is dropped (a second,
partial or mixed pose on someone already tracked: Demo_MultiPerson cam03, 14 frames on the man).

A linked pair becomes one track: the gap frames get linearly interpolated positions with confidence
0 and ``held`` False (as the tracker's own short gaps). Then the **drop rules**: a track with fewer
than ``min_held_s`` seconds of held frames (at least ``min_held`` frames) *and* a mean COCO-17
keypoint visibility under ``min_vis`` (0.8) is dropped (short, low-confidence fragments: a person
glimpsed for a moment is kept only when clearly seen; objects that fooled the detector for a few
frames go); so is a track whose median box height is under ``min_height_frac`` (5 %) of the frame
height (small things the landmark model took for a person: seen on Demo_MultiPerson, a loudspeaker
and an object on the floor; the smallest person tracked in vtest.avi is ~8 % of its height).
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import linear_sum_assignment

from ..types import Track2D

BODY17 = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]  # the COCO-17 BlazePose points
# bones (BlazePose-33 indices) whose length over the torso side gives a body-proportion cue
_BONES = [((23, 25), (24, 26)), ((25, 27), (26, 28)), ((11, 13), (12, 14)), ((13, 15), (14, 16))]
_TORSO_SIDES = ((11, 23), (12, 24))
BODY_POINTS = [11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]  # shoulders..wrists, hips..ankles


def colour_descriptor(img: np.ndarray, keypoints: np.ndarray, min_vis: float = 0.5) -> np.ndarray:
    """Cheap appearance of one person in one frame: median RGB of the torso and of the legs.

    Args:
        img: (H, W, 3) uint8 RGB frame.
        keypoints: (33, 3) BlazePose-33 pixels + visibility.
        min_vis: keypoints below this visibility are not sampled.
    Returns:
        (6,) float32 in [0, 1]: torso RGB, legs RGB (NaN for a region with no visible keypoints).
    """
    h, w = img.shape[:2]
    k = keypoints
    out = np.full(6, np.nan, np.float32)
    torso = [11, 12, 23, 24]
    if (k[torso, 2] >= min_vis).all():
        ls, rs, lh, rh = (k[j, :2] for j in torso)
        g = np.linspace(0.2, 0.8, 4)
        u, v = np.meshgrid(g, g)
        u, v = u.ravel()[:, None], v.ravel()[:, None]
        top, bot = ls + (rs - ls) * u, lh + (rh - lh) * u
        out[:3] = _median_rgb(img, top + (bot - top) * v, w, h)
    pts = []
    for a, b in ((23, 25), (24, 26), (25, 27), (26, 28)):
        if k[a, 2] >= min_vis and k[b, 2] >= min_vis:
            t = np.linspace(0.2, 0.8, 4)[:, None]
            pts.append(k[a, :2] + (k[b, :2] - k[a, :2]) * t)
    if pts:
        out[3:] = _median_rgb(img, np.concatenate(pts), w, h)
    return out


def _median_rgb(img, xy, w, h):
    x = np.clip(np.round(xy[:, 0]).astype(int), 0, w - 1)
    y = np.clip(np.round(xy[:, 1]).astype(int), 0, h - 1)
    return np.median(img[y, x].astype(np.float32), 0) / 255.0


def _held(t: Track2D) -> np.ndarray:
    held = t.extras.get("held")
    return np.ones(len(t.frames), bool) if held is None else np.asarray(held, bool)


def _centres_heights(t: Track2D) -> tuple[np.ndarray, np.ndarray]:
    b = np.asarray(t.boxes, np.float64) if t.boxes is not None else _kp_boxes(t.keypoints)
    return (b[:, :2] + b[:, 2:]) / 2, np.maximum(b[:, 3] - b[:, 1], 1.0)


def _kp_boxes(kp):
    return np.concatenate([kp[..., :2].min(1), kp[..., :2].max(1)], 1).astype(np.float64)


def _line_at(f: np.ndarray, c: np.ndarray, at: float) -> np.ndarray:
    """Least-squares constant-velocity line through (f, c) evaluated at frame ``at``."""
    if len(f) < 2 or np.ptp(f) == 0:
        return c.mean(0)
    A = np.stack([f - f.mean(), np.ones_like(f, np.float64)], 1)
    coef, *_ = np.linalg.lstsq(A, c, rcond=None)
    return coef[1] + coef[0] * (at - f.mean())


def _bone_ratios(t: Track2D) -> np.ndarray:
    kp = t.keypoints[_held(t)]
    if kp.shape[1] < 33 or len(kp) == 0:
        return np.full(len(_BONES), np.nan)
    L = lambda a, b: np.linalg.norm(kp[:, a, :2] - kp[:, b, :2], axis=-1)
    torso = np.mean([L(a, b) for a, b in _TORSO_SIDES], 0)
    ok = torso > 1.0
    if not ok.any():
        return np.full(len(_BONES), np.nan)
    return np.array([np.median(np.mean([L(a, b) for a, b in pair], 0)[ok] / torso[ok]) for pair in _BONES])


class _Ends:
    """What the cost needs of one fragment's start and end (its first / last ``k`` held frames)."""

    def __init__(self, t: Track2D, k: int):
        held = _held(t)
        f = np.asarray(t.frames, np.float64)[held]
        c, hgt = _centres_heights(t)
        c, hgt = c[held], hgt[held]
        self.f0, self.f1 = float(f[0]), float(f[-1])
        self.head = (f[:k], c[:k], float(np.median(hgt[:k])))
        self.tail = (f[-k:], c[-k:], float(np.median(hgt[-k:])))
        col = t.extras.get("colour")
        if col is not None:
            col = np.asarray(col, np.float64)[held]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                self.col_head, self.col_tail = np.nanmedian(col[:k], 0), np.nanmedian(col[-k:], 0)
        else:
            self.col_head = self.col_tail = np.full(6, np.nan)
        self.bones = _bone_ratios(t)


def link_cost(a: _Ends, b: _Ends, fps: float, weights=(1.0, 1.0, 0.5, 1.0)) -> float:
    """Cost of "b continues a" (a ends before b starts), ``inf`` when a gate fails (module docstring)."""
    gap = b.f0 - a.f1
    if gap <= 0:
        return np.inf
    fa, ca, ha = a.tail
    fb, cb, hb = b.head
    h = 0.5 * (ha + hb)
    pa, pb = _line_at(fa, ca, b.f0), _line_at(fb, cb, a.f1)
    motion = 0.5 * (np.linalg.norm(pa - cb[0]) + np.linalg.norm(pb - ca[-1])) / h
    # a person who stopped behind an occluder: also accept "stayed put"
    motion = min(motion, float(np.linalg.norm(cb[0] - ca[-1])) / h)
    gate_m = 0.6 + 0.6 * gap / max(fps, 1e-6)
    if motion > gate_m:
        return np.inf
    scale = abs(np.log(hb / ha))
    if scale > 0.5:
        return np.inf
    colour = 0.0
    d = a.col_tail - b.col_head
    ok = ~np.isnan(d)
    if ok.sum() >= 3:
        colour = float(np.linalg.norm(d[ok]) * np.sqrt(6 / ok.sum()))
        if colour > 0.3:
            return np.inf
    bones = 0.0
    r = np.log(np.maximum(a.bones, 1e-3)) - np.log(np.maximum(b.bones, 1e-3))
    if np.isfinite(r).any():
        bones = float(np.nanmean(np.abs(r)))
    w = weights
    return w[0] * motion / gate_m + w[1] * scale / 0.5 + w[2] * bones + w[3] * colour / 0.3


def same_person_frac(a: Track2D, b: Track2D, min_vis: float = 0.5, tol: float = 0.2) -> tuple[float, int]:
    """Fraction of the frames where both ``a`` and ``b`` are held in which their keypoints coincide
    (median distance of the keypoints visible in both < ``tol`` x the larger box height), and the
    number of such shared frames. With 33 BlazePose points only the 12 body points (shoulders to
    wrists, hips to ankles) are compared: the face's 11 points would otherwise carry a mixed pose
    (another person's face on this body, Demo_MultiPerson cam03) into "the same person"."""
    ha, hb = _held(a), _held(b)
    fa, fb = np.asarray(a.frames)[ha], np.asarray(b.frames)[hb]
    common, ia, ib = np.intersect1d(fa, fb, return_indices=True)
    if len(common) == 0:
        return 0.0, 0
    ka, kb = a.keypoints[ha][ia], b.keypoints[hb][ib]
    if ka.shape[1] == 33:
        ka, kb = ka[:, BODY_POINTS], kb[:, BODY_POINTS]
    _, h1 = _centres_heights(Track2D(0, common, ka, boxes=None if a.boxes is None else a.boxes[ha][ia]))
    _, h2 = _centres_heights(Track2D(0, common, kb, boxes=None if b.boxes is None else b.boxes[hb][ib]))
    same = 0
    for j in range(len(common)):
        sel = (ka[j, :, 2] >= min_vis) & (kb[j, :, 2] >= min_vis)
        if sel.sum() < 4:
            continue
        d = np.median(np.linalg.norm(ka[j, sel, :2] - kb[j, sel, :2], axis=1))
        same += d < tol * max(h1[j], h2[j])
    return same / len(common), len(common)


def split_on_appearance(t: Track2D, gate: float = 0.3, k: int = 8) -> list[Track2D]:
    """Cut a track where its appearance changes for good (the tracker's crop slid from one person
    onto another at a crossing): at held frame j, the mean torso colour (:func:`colour_descriptor`;
    not the legs, which a low occluder recolours: seen on ``unveil demo``'s box scene) of
    the ``k`` held frames before and of the ``k`` from j on differ by more than ``gate`` (same
    distance as the linking cost); the cut is at the largest such difference, and each part is
    split again. Returns the parts (``[t]`` when there is no such change)."""
    col = t.extras.get("colour")
    held = _held(t)
    if col is None or held.sum() < 2 * k:
        return [t]
    hi = np.nonzero(held)[0]
    c = np.asarray(col, np.float64)[hi][:, :3]  # torso only: legs change colour behind a box or table
    best, best_d = None, gate
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for j in range(k, len(hi) - k + 1):
            d = np.nanmean(c[j - k:j], 0) - np.nanmean(c[j:j + k], 0)  # means: one clear maximum
            if np.isnan(d).any():
                continue
            dist = float(np.linalg.norm(d) * np.sqrt(2))  # the linking cost's scale (6 numbers)
            if dist > best_d:
                best, best_d = j, dist
    if best is None:
        return [t]
    cut = hi[best]
    idx = np.arange(len(t.frames))
    first, second = _slice(t, idx < cut), _slice(t, idx >= cut)
    return split_on_appearance(first, gate, k) + split_on_appearance(second, gate, k)


def split_at_gaps(t: Track2D, min_gap: int = 3) -> list[Track2D]:
    """Cut a track where it was not held for ``min_gap`` or more consecutive frames of its own.

    The tracker's local search re-acquires a lost person near where their motion put them; at a
    crossing that can be the other person (seen on Demo_MultiPerson cam03: a track lost on a
    mixed pose came back on the man 6 frames later while his own track was still held), so what
    comes after a gap is only a candidate continuation: the parts are re-linked by the global
    assignment like any other fragments (a true continuation costs little: same place, size
    and colour). Leading / trailing unheld frames are removed.

    Args:
        t: a track with ``extras["held"]`` (T,) bool (without it the track is returned as is).
        min_gap: shortest run of unheld frames that cuts.
    Returns:
        The parts, in time order (``[t]`` when there is no such gap).
    """
    if "held" not in t.extras:
        return [t]
    held = _held(t)
    hi = np.nonzero(held)[0]
    if len(hi) == 0:
        return [t]
    cuts = [j for j in range(1, len(hi)) if hi[j] - hi[j - 1] - 1 >= min_gap]
    if not cuts:
        return [t]
    bounds = [hi[0]] + [hi[c] for c in cuts] + [None]
    ends = [hi[c - 1] + 1 for c in cuts] + [hi[-1] + 1]
    idx = np.arange(len(t.frames))
    return [_slice(t, (idx >= a) & (idx < b)) for a, b in zip(bounds[:-1], ends)]


def _ghosts(tracks: list[Track2D], min_len: int, min_frac: float = 0.8, min_iou: float = 0.3) -> list[int]:
    """Indices of short tracks (< ``min_len`` held frames) whose box overlaps (IoU >= ``min_iou``)
    the box of a longer track held in the same frame in at least ``min_frac`` of their held frames:
    a second, partial or mixed pose on someone already tracked (the landmark model on a crop that
    holds two people at a crossing)."""
    out = []
    held = [_held(t) for t in tracks]
    boxes = [_kp_boxes(t.keypoints) if t.boxes is None else np.asarray(t.boxes, np.float64) for t in tracks]
    for i, t in enumerate(tracks):
        n = int(held[i].sum())
        if n >= min_len or n == 0:
            continue
        fi = np.asarray(t.frames)[held[i]]
        bi = boxes[i][held[i]]
        over = np.zeros(n, bool)
        for j, u in enumerate(tracks):
            if j == i or held[j].sum() <= n:
                continue
            fu = np.asarray(u.frames)[held[j]]
            common, ia, ib = np.intersect1d(fi, fu, return_indices=True)
            if len(common) == 0:
                continue
            over[ia] |= _box_iou(bi[ia], boxes[j][held[j]][ib]) >= min_iou
        if over.mean() >= min_frac:
            out.append(i)
    return out


def _box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) IoU of row-paired (N, 4) boxes."""
    w = np.clip(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0, None)
    h = np.clip(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0, None)
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    return w * h / np.maximum(area(a) + area(b) - w * h, 1e-9)


def _resolve_duplicates(tracks: list[Track2D], processed, min_frac: float, info: dict) -> list[Track2D]:
    """Two tracks on one person at once (the tracker's duplicate check missed a partial pose): the
    later-starting one is dropped when it ends inside the other, else the earlier one is cut where
    the later one starts and they are joined (the person handed over from one track to the other)."""
    tracks = sorted(tracks, key=lambda t: (int(t.frames[0]), -len(t.frames)))
    changed = True
    while changed:
        changed = False
        for i, a in enumerate(tracks):
            for j in range(i + 1, len(tracks)):
                b = tracks[j]
                if b.frames[0] > a.frames[-1]:
                    continue
                frac, n = same_person_frac(a, b)
                if n == 0 or frac < min_frac:
                    continue
                if b.frames[-1] <= a.frames[-1]:
                    info["duplicates"].append(int(b.id))
                    del tracks[j]
                else:
                    info["handovers"].append((int(a.id), int(b.id)))
                    cut = _slice(a, np.asarray(a.frames) < b.frames[0])
                    tracks[i] = join([cut, b], processed) if len(cut.frames) else b
                    del tracks[j]
                changed = True
                break
            if changed:
                break
    return tracks


def _slice(t: Track2D, sel: np.ndarray) -> Track2D:
    ex = {k: np.asarray(v)[sel] for k, v in t.extras.items()}
    feats = None if t.features is None else {k: np.asarray(v)[sel] for k, v in t.features.items()}
    return Track2D(id=t.id, frames=np.asarray(t.frames)[sel], keypoints=t.keypoints[sel], layout=t.layout,
                   boxes=None if t.boxes is None else t.boxes[sel],
                   world_landmarks=None if t.world_landmarks is None else t.world_landmarks[sel], extras=ex,
                   features=feats)


def stitch_tracks(tracks: list[Track2D], fps: float, processed: np.ndarray | None = None, max_gap_s: float = 3.0,
                  k: int = 10, no_link: float = 1.5, min_held: int = 10, min_held_s: float = 0.5,
                  min_vis: float = 0.8, frame_height: float | None = None, min_height_frac: float = 0.05,
                  dup_frac: float = 0.6, split_gap: int = 3, info: dict | None = None) -> list[Track2D]:
    """Join the fragments of one person (module docstring), then drop short low-confidence tracks.

    Args:
        tracks: the tracker's ``list[Track2D]`` (any layout; colour/bone cues need blazepose33 and
            ``extras["colour"]`` (T, 6)); ``extras["held"]`` (T,) bool marks real observations.
        fps: frames per second of the frame indices (video fps; with a stride, gaps are in video frames).
        processed: (N,) the processed frame indices (gap frames of a joined track are those); default:
            every frame index between.
        max_gap_s: longest gap bridged, seconds.
        k: held frames at each fragment end used for motion, size and colour.
        no_link: a link costs at most this (else the end / start stays unlinked).
        min_held, min_held_s, min_vis: the drop rule (module docstring).
        frame_height, min_height_frac: tracks whose median box height is under this fraction of the
            frame height are dropped (objects; no such rule when frame_height is None).
        dup_frac: two tracks held at once whose keypoints coincide in at least this fraction of the
            shared frames are one person (:func:`same_person_frac`, module docstring).
        split_gap: tracks are first cut at runs of this many unheld frames (:func:`split_at_gaps`;
            0: no such cut).
        info: filled with ``gap_splits`` (input ids cut by :func:`split_at_gaps`), ``ghosts``
            (ids dropped as second poses on a tracked person), ``splits`` (input ids cut by
            :func:`split_on_appearance` or :func:`split_at_gaps`; their later
            parts get ids after the largest input id), ``links`` (list of (id_a, id_b, cost)),
            ``duplicates`` and ``dropped`` (ids), ``handovers`` (pairs of ids joined where they
            overlapped).
    Returns:
        The joined tracks, ids renumbered 0..n-1 in order of first frame.
    """
    info = {} if info is None else info
    info.update(duplicates=[], handovers=[])
    tracks = [t for t in tracks if len(t.frames) and _held(t).any()]
    parts = []
    next_id = max((int(t.id) for t in tracks), default=-1) + 1
    info["splits"] = []
    info["gap_splits"] = []
    for t in tracks:
        p = []
        g = split_at_gaps(t, split_gap) if split_gap else [t]
        if len(g) > 1:
            info["gap_splits"].append(int(t.id))
        for q in g:
            p += split_on_appearance(q)
        if len(p) > 1:
            info["splits"].append(int(t.id))
            for q in p[1:]:  # the later parts get fresh ids (listed in info as such)
                q.id, next_id = next_id, next_id + 1
        parts += p
    tracks = _resolve_duplicates(parts, processed, dup_frac, info)
    ends = [_Ends(t, k) for t in tracks]
    n = len(tracks)
    max_gap = max_gap_s * fps
    C = np.full((n, n), np.inf)
    for i, a in enumerate(ends):
        for j, b in enumerate(ends):
            if i != j and 0 < b.f0 - a.f1 <= max_gap:
                C[i, j] = link_cost(a, b, fps)
    links = []
    if n and np.isfinite(C).any():
        big = 1e6
        M = np.full((2 * n, 2 * n), big)
        M[:n, :n] = np.where(np.isfinite(C) & (C <= no_link), C, big)
        M[:n, n:] = np.where(np.eye(n, dtype=bool), no_link, big)   # end i unlinked
        M[n:, :n] = np.where(np.eye(n, dtype=bool), no_link, big)   # start j unlinked
        M[n:, n:] = 0.0
        rows, cols = linear_sum_assignment(M)
        links = [(int(r), int(c)) for r, c in zip(rows, cols) if r < n and c < n and M[r, c] < big]
    nxt = dict(links)
    has_prev = {c for _, c in links}
    info["links"] = [(int(tracks[a].id), int(tracks[b].id), float(C[a, b])) for a, b in links]
    out = []
    for s in range(n):
        if s in has_prev:
            continue
        chain = [s]
        while chain[-1] in nxt:
            chain.append(nxt[chain[-1]])
        out.append(join([tracks[c] for c in chain], processed))
    info["dropped"] = []
    kept = []
    min_len = max(min_held, int(round(min_held_s * fps)))
    ghosts = set(_ghosts(out, min_len))
    info["ghosts"] = [int(out[g].id) for g in sorted(ghosts)]
    for g, t in enumerate(out):
        if g in ghosts:
            info["dropped"].append(int(t.id))
            continue
        held = _held(t)
        vis = float(t.keypoints[held][:, BODY17 if t.keypoints.shape[1] == 33 else slice(None), 2].mean())
        if held.sum() < min_len and vis < min_vis:
            info["dropped"].append(int(t.id))
            continue
        if frame_height is not None and np.median(_centres_heights(t)[1][held]) < min_height_frac * frame_height:
            info["dropped"].append(int(t.id))
            continue
        kept.append(t)
    kept.sort(key=lambda t: int(t.frames[0]))
    for new_id, t in enumerate(kept):
        t.id = new_id
    return kept


def join(parts: list[Track2D], processed: np.ndarray | None = None) -> Track2D:
    """Concatenate time-ordered fragments of one person into one track; frames between them (the
    ``processed`` indices, default every index) get interpolated positions, confidence 0 and
    ``held`` False; per-frame extras are interpolated the same way (0 where they are scores)."""
    if len(parts) == 1:
        return parts[0]
    frames = np.concatenate([p.frames for p in parts]).astype(np.int64)
    lo, hi = int(frames[0]), int(frames[-1])
    full = np.arange(lo, hi + 1) if processed is None else np.asarray(processed, np.int64)
    full = np.union1d(full[(full >= lo) & (full <= hi)], frames)
    have = np.isin(full, frames)
    pos = np.searchsorted(full, frames)

    def fill(arrs, zero_missing):
        a = np.concatenate([np.asarray(x) for x in arrs])
        flat = a.reshape(len(a), -1).astype(np.float64)
        out = np.empty((len(full), flat.shape[1]))
        for j in range(flat.shape[1]):
            col = flat[:, j]
            ok = np.isfinite(col)
            out[:, j] = np.interp(full, frames[ok], col[ok]) if ok.any() else np.nan
        out[pos] = flat
        if zero_missing:
            out[~have] = 0.0
        return out.reshape((len(full),) + a.shape[1:]).astype(a.dtype if a.dtype != bool else np.float64)

    kp = fill([p.keypoints for p in parts], False)
    kp[~have, :, 2] = 0.0
    boxes = fill([p.boxes for p in parts], False) if all(p.boxes is not None for p in parts) else None
    world = (fill([p.world_landmarks for p in parts], False)
             if all(p.world_landmarks is not None for p in parts) else None)
    extras = {}
    for key in parts[0].extras:
        if not all(key in p.extras for p in parts):
            continue
        if key == "held":
            h = np.zeros(len(full), bool)
            h[pos] = np.concatenate([np.asarray(p.extras["held"], bool) for p in parts])
            extras[key] = h
        elif key == "colour":
            c = np.full((len(full),) + np.asarray(parts[0].extras[key]).shape[1:], np.nan, np.float32)
            c[pos] = np.concatenate([p.extras[key] for p in parts])
            extras[key] = c
        else:
            extras[key] = fill([p.extras[key] for p in parts], True)
    feats = None
    if all(p.features is not None for p in parts):  # tokens: copied where held, zero in the gaps
        feats = {}
        for key in parts[0].features:
            v = [np.asarray(p.features[key]) for p in parts]
            f = np.zeros((len(full),) + v[0].shape[1:], v[0].dtype)
            f[pos] = np.concatenate(v)
            feats[key] = f
    return Track2D(id=int(parts[0].id), frames=full, keypoints=kp.astype(np.float32), layout=parts[0].layout,
                   boxes=None if boxes is None else boxes.astype(np.float32),
                   world_landmarks=None if world is None else world.astype(np.float32), extras=extras,
                   features=feats)
