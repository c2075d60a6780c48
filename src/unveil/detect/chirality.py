"""Left/right label consistency of a 2D track: undo the landmark model's left/right swaps.

A single-image landmark model decides left and right afresh in every frame. On a person whose
front and back look alike (bare torso, a leg raised across the body) BlazePose sometimes labels a
left/right pair the wrong way round for a run of frames -- the image positions are right, the
names are swapped -- and its world landmarks, from the same network, share the swap. Downstream
every stage trusts the names: the lifter turns the body round to fit them, the evidence fit
pulls the limbs across, and the temporal models smear the wrong frames into the right ones
around them. On pose2sim ``Demo_MultiPerson`` cam02 the man balancing on one leg has his
shoulders, arms and hips swapped in 21 of frames 41-64 (measured against the four-view
triangulation; docs/frontend.md "Fifth pass").

A real person cannot swap sides between two frames, but the names can: a swap shows as both
points of a pair landing on each other's previous place. For the whole body (the limb joints,
:data:`BODY`, decide; face, hands and feet are renamed with them) and each frame ``t`` we choose
``s_t in {0, 1}`` (1: the detector's names are swapped) minimising

    E(s) = sum_t lambda * s_t + sum_{t>=1} mean_p w_tp * min(|| P_{s_t} x_tp - P_{s_{t-1}} x_{t-1,p} || / h_t, c)

where ``x_t`` are the limb points in frame ``t``, ``P_s`` swaps the left and right names when
``s = 1``, ``h_t`` is the person's box height, ``w_tp`` the smaller detector confidence of the
pair over the two frames (a confidence-weighted mean; frames not held have confidence 0 and cost
nothing), ``c`` caps a single point's residual and ``lambda = swap_cost / fps`` is the price of
renaming one frame: the detector's names win unless renaming makes the motion smoother by more
than that. A Viterbi pass (Viterbi 1967) over the two states finds the minimum exactly. Where the
two sides cross (a walker's ankles seen side-on) both namings cost the same and the detector's
names stay. The decision is for the whole body: deciding each left/right pair alone, the close
pairs (hips, knees) kept the wrong names of a long swapped run on ``Demo_MultiPerson`` and renamed
the right frames inside it instead. A swapped run longer than about ``swap_cost`` seconds times
the size of the jumps at its ends (in person heights) stays as the detector named it: continuity
cannot tell which naming of a long run is the true one.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..types import Track2D

# BlazePose-33 left/right groups, renamed together: (left indices, right indices)
GROUPS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "face": ((1, 2, 3, 7, 9), (4, 5, 6, 8, 10)),
    "shoulders": ((11,), (12,)),
    "elbows": ((13,), (14,)),
    "hands": ((15, 17, 19, 21), (16, 18, 20, 22)),
    "hips": ((23,), (24,)),
    "knees": ((25,), (26,)),
    "feet": ((27, 29, 31), (28, 30, 32)),
}
# the points that decide a whole-body swap: the limb joints (well separated, reliably detected)
BODY = ((11, 13, 15, 23, 25, 27), (12, 14, 16, 24, 26, 28))
N_KP = 33


def swap_states(points: np.ndarray, conf: np.ndarray, height: np.ndarray, fps: float,
                swap_cost: float = 0.5, cap: float = 0.5) -> np.ndarray:
    """Decide per frame whether the detector's left/right names are swapped (module docstring).

    Args:
        points: (T, 2, n, 2) pixels, index 1 = (left, right), n points per side.
        conf: (T, 2, n) detector confidence in [0, 1] (0 = no evidence; NaN points count as 0).
        height: (T,) person height in pixels (> 0).
        fps: frames per second of the track (the frame cost is ``swap_cost / fps``).
        swap_cost: price of renaming one second of video, in person heights of mean motion.
        cap: largest residual one point can add per frame, in person heights.
    Returns:
        (T,) bool, True where the names are swapped.
    """
    points = np.asarray(points, np.float64)
    conf = np.asarray(conf, np.float64)
    height = np.asarray(height, np.float64)
    if points.ndim != 4 or points.shape[1] != 2 or points.shape[3] != 2:
        raise ValueError(f"points must be (T, 2, n, 2), got {points.shape}")
    T = len(points)
    if conf.shape != points.shape[:3] or height.shape != (T,):
        raise ValueError(f"conf must be {points.shape[:3]} and height ({T},), got {conf.shape} and {height.shape}")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if T < 2:
        return np.zeros(T, bool)
    lam = swap_cost / fps
    finite = np.isfinite(points).all(-1)
    conf = np.where(finite & np.isfinite(conf), conf, 0.0)   # a missing point is no evidence
    points = np.where(finite[..., None], points, 0.0)
    h = np.maximum(np.nan_to_num(height, nan=1.0), 1.0)
    both = np.stack([points, points[:, ::-1]], 1)           # (T, s, 2, n, 2): s = 0 as named, 1 swapped
    c = conf.min(1)                                          # (T, n): the pair's smaller confidence

    def mean_res(d, w):                                      # confidence-weighted mean over the points
        d = np.minimum(d, cap)
        den = w.sum(-1)
        return np.where(den > 0, (d * w).sum(-1) / np.maximum(den, 1e-9), 0.0)

    w1 = np.tile(np.minimum(c[1:], c[:-1]), (1, 2))           # (T-1, 2n): left points, then right
    unary = np.array([0.0, lam])
    # r[t, a, b] = mean_p |P_b x_t - P_a x_{t-1}| / h_t
    d = np.linalg.norm(both[1:][:, None] - both[:-1][:, :, None], axis=-1) / h[1:, None, None, None, None]
    r = mean_res(d.reshape(d.shape[:3] + (-1,)), w1[:, None, None])   # (T-1, a, b)
    D = unary.copy()
    back = np.zeros((T, 2), np.int8)
    for t in range(1, T):
        cand = D[:, None] + r[t - 1]                      # (a, b)
        back[t] = cand.argmin(0)
        D = cand.min(0) + unary
    s = np.zeros(T, np.int8)
    s[-1] = int(D.argmin())
    for t in range(T - 1, 0, -1):
        s[t - 1] = back[t, s[t]]
    return s.astype(bool)


def _group_arrays(kp: np.ndarray, left: tuple[int, ...], right: tuple[int, ...]):
    pts = np.stack([kp[:, list(left), :2], kp[:, list(right), :2]], 1)      # (T, 2, n, 2)
    conf = np.stack([kp[:, list(left), 2], kp[:, list(right), 2]], 1)      # (T, 2, n)
    return pts, conf


# output slot -> source index of a BlazePose-33 array whose left and right names are swapped
SWAP_PERM = np.arange(N_KP)
for _left, _right in GROUPS.values():
    SWAP_PERM[list(_left)], SWAP_PERM[list(_right)] = _right, _left


def swap_names(a: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Swap the left and right names of a per-keypoint array in the given frames.

    Args:
        a: (T, 33, ...) any per-keypoint array in the BlazePose-33 layout.
        frames: (T,) bool, the frames to rename.
    Returns:
        (T, 33, ...) a renamed copy (the same operation undoes itself).
    """
    a = np.asarray(a)
    frames = np.asarray(frames, bool)
    if a.ndim < 2 or a.shape[1] != N_KP or frames.shape != a.shape[:1]:
        raise ValueError(f"need a (T, 33, ...) array and (T,) frames, got {a.shape} and {frames.shape}")
    out = a.copy()
    out[frames] = a[frames][:, SWAP_PERM]
    return out


def track_height(track: Track2D) -> np.ndarray:
    """(T,) person height in pixels: the box height, else the keypoints' vertical extent."""
    if track.boxes is not None:
        return np.maximum(np.asarray(track.boxes, np.float64)[:, 3] - np.asarray(track.boxes, np.float64)[:, 1], 1.0)
    return np.maximum(np.ptp(np.asarray(track.keypoints, np.float64)[..., 1], axis=1), 1.0)


def relabel_left_right(track: Track2D, fps: float, swap_cost: float = 0.5, cap: float = 0.5
                       ) -> tuple[Track2D, dict[str, int]]:
    """Undo the detector's left/right swaps in a BlazePose-33 track (module docstring).

    Every per-keypoint array is renamed together: ``keypoints``, ``world_landmarks``, the
    per-keypoint ``extras`` (``presence``, ``covered``) and feature tokens; ``extras["lr_swapped"]`` (T,)
    bool records the renamed frames.

    Args:
        track: a ``blazepose33`` track (other layouts are returned unchanged).
        fps: the track's frame rate.
        swap_cost, cap: see :func:`swap_states`.
    Returns:
        (the track, renamed where needed -- a new object, the input is not changed;
        ``{"frames": number of renamed frames}``).
    """
    if track.layout != "blazepose33":
        return track, {}
    kp = np.asarray(track.keypoints)
    if kp.ndim != 3 or kp.shape[1:] != (N_KP, 3):
        raise ValueError(f"a blazepose33 track needs keypoints (T, 33, 3), got {kp.shape}")
    h = track_height(track)
    s = swap_states(*_group_arrays(kp, *BODY), h, fps, swap_cost, cap)
    extras = dict(track.extras)
    extras["lr_swapped"] = s
    if not s.any():
        return dataclasses.replace(track, extras=extras), {"frames": 0}

    def rename(a):
        if a is None:
            return None
        a = np.asarray(a)
        if a.ndim < 2 or a.shape[:2] != (len(kp), N_KP):
            return a
        return swap_names(a, s)

    for k in list(extras):
        if k != "lr_swapped":
            extras[k] = rename(extras[k])
    feats = None if track.features is None else {k: rename(v) for k, v in track.features.items()}
    return dataclasses.replace(track, keypoints=rename(kp), world_landmarks=rename(track.world_landmarks),
                               extras=extras, features=feats), {"frames": int(s.sum())}
