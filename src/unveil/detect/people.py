"""Find and follow people through a video: BlazePose detector (whole frame + tiles) + landmark tracking.

Per frame:

1. **Follow** every live track with the landmark model on the ROI its helper points placed on the
   previous frame (MediaPipe's own tracking: no detector needed while the person is held). A pose
   score below ``min_pose_score`` marks the person lost for that frame, unless a second try on the
   crop that found them last time (moved on at their velocity; not when their box touches another
   held person's) scores better. Tracks lost in the last ``coast`` (2) frames are followed on their
   moved crop too, and taken back when it finds them. Other held people in a track's crop are
   painted grey first (their segmentation masks from their last landmark call, moved on at their
   velocity, minus the track's own mask; ``hide_others``): with two people in the crop the model
   may return the other one's pose with full confidence (docs/frontend.md "Third pass").
2. **Re-detect** every ``redetect_every`` frames of 30 fps video (``search_scale``; backing off while
   nothing new is found; every frame while nobody is held): the BlazePose
   detector on the whole (letterboxed) frame for near people, plus on overlapping square tiles for
   small/distant ones (the detector alone misses people under ~1/4 of the frame height; OpenCV 5's
   headless wheel has no HOG, and tiled BlazePose found more people on vtest.avi at lower cost).
   Detections whose hip centre lies inside a held person's box are skipped; each new one is checked
   by the landmark model (pose score) before it becomes a track; a check that fails on the
   detector's coarse ROI gets a second look on its own helper points (``second_look``). People
   verified by a lost track's local search who are not that person are offered as new people
   (``keep_spare``).
3. **Identity**: a new person is first matched to a track lost less than ``max_gap`` frames ago
   (box IoU + keypoint similarity, OKS-like, against the lost track's last pose), else starts a new
   track. **Duplicates** (two held tracks with near-identical body keypoints, the face and hands left out)
   keep the one whose motion fits.
   Tracks lost for more than ``max_gap`` frames end; tracks shorter than ``min_len`` frames or
   with a mean visibility of the 17 COCO points under ``min_track_vis`` (objects that fooled the checks) are dropped.

Output: ``list[Track2D]`` with layout ``blazepose33`` (confidence = visibility), ``boxes`` (keypoint
box), ``world_landmarks`` and ``extras`` (``presence`` (T,33), ``pose_score`` (T,), ``held`` (T,));
with ``features=True`` also ``features`` (image tokens of the tapped landmark model, :mod:`.taps`).
A track covers every processed frame from its first to its last; frames inside a short occlusion
(not held) carry interpolated positions with confidence 0 and ``held`` False.

Speed and reproducibility (:class:`_Engine`): by default the model calls run one at a time, each
interpreter on all the threads (UNVEIL_THREADS / all cores), and with more than one thread frames are
decoded on a background thread; the tracks are then the same whatever the thread count. ``workers >= 2``
(opt-in) runs the calls of a frame that do not depend on each other — the crops of all held people,
the detector passes of a re-detection, the local searches, the checks of new candidates — on worker
threads with 1-thread interpreters. That is not reproducible: with ai-edge-litert 2.3.0 two
interpreters invoked at once occasionally return landmarks that differ in the fourth decimal of a
pixel from the same call made alone, and the tracker's thresholds amplify such differences (pose2sim
``Demo_MultiPerson`` cam03: the man's track kept 100, 88 and 87 frames in three runs of the same
command; the serial runs always 100). It was also not faster on 2 cores (docs/frontend.md,
"Sixth pass").
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..runtime import threads as _threads

from ..types import Track2D
from .blazepose import LandmarkModel, Landmarks, PoseDetector, Roi, box_iou, covered_by_others, hide_mask
from .chirality import relabel_left_right
from .stitch import BODY_POINTS, colour_descriptor, stitch_tracks
from ..io.video import iter_frames, probe

MIN_TRACK_LEN = 5  # frames: shorter tracks are dropped as detector noise (PeopleTracker min_len)

HISTORY_BLOCK = 1024  # frames per block of a track's history arrays (_History)
RECENT = 16  # Landmarks objects a track keeps (velocity / motion_error / a merge's pop read the last 7)


class _History:
    """A track's per-frame arrays, appended one frame at a time into blocks of ``HISTORY_BLOCK``
    frames (no copy when it grows; a block is one allocation instead of one small object per field
    and frame). ``fields``: ``{name: (row shape, dtype)}``."""

    def __init__(self, fields: dict):
        self.fields = fields
        self.blocks: list[dict] = []
        self.n = 0

    def append(self, **row) -> None:
        b, k = divmod(self.n, HISTORY_BLOCK)
        if b == len(self.blocks):
            self.blocks.append({name: np.empty((HISTORY_BLOCK,) + shape, dtype)
                                for name, (shape, dtype) in self.fields.items()})
        for name, v in row.items():
            self.blocks[b][name][k] = v
        self.n += 1

    def truncate(self, n: int) -> None:
        """Keep the first ``n`` rows."""
        self.n = min(self.n, max(0, int(n)))
        del self.blocks[-(-self.n // HISTORY_BLOCK):]  # the blocks that hold rows 0..n-1 stay

    def get(self, name: str) -> np.ndarray:
        """(n, *shape) copy of one field."""
        if not self.blocks:
            shape, dtype = self.fields[name]
            return np.empty((0,) + shape, dtype)
        return np.concatenate([blk[name] for blk in self.blocks])[: self.n]


@dataclass
class _Track:
    """One person's track while the video is read: every held frame's keypoints, box, world
    landmarks, presence, pose score and colour in :class:`_History` arrays (about 1 KB per frame),
    and only the last ``RECENT`` :class:`Landmarks` objects (what following, velocity and the
    duplicate merge read)."""

    id: int
    frames: list = field(default_factory=list)
    lms: list = field(default_factory=list)   # the Landmarks of frames[-len(lms):]
    last: Landmarks | None = None
    last_frame: int = -1
    roi: Roi | None = None
    hist: _History = field(default_factory=lambda: _History({
        "keypoints": ((33, 3), np.float32), "box": ((4,), np.float32), "world": ((33, 3), np.float32),
        "presence": ((33,), np.float32), "score": ((), np.float32)}))
    colours: _History = field(default_factory=lambda: _History({"colour": ((6,), np.float32)}))  # per held frame: stitch.colour_descriptor
    cover: _History = field(default_factory=lambda: _History({"covered": ((33,), bool)}))  # per held frame: blazepose.covered_by_others
    tokens: list = field(default_factory=list)  # Landmarks.tokens per held frame (tapped model only)

    def add(self, i: int, lm: Landmarks):
        self.frames.append(i)
        self.lms.append(lm)
        if len(self.lms) > 2 * RECENT:
            del self.lms[:-RECENT]
        if len(self.lms) >= 3:  # segmentation masks (64 KB each) are read only on the last pose (or
            self.lms[-3].mask = None  # the one before, after a merge's pop): memory stays flat
        self.hist.append(keypoints=lm.keypoints, box=lm.box(), world=lm.world, presence=lm.presence, score=lm.score)
        if lm.tokens is not None:
            self.tokens.append(lm.tokens)
        self.last, self.last_frame, self.roi = lm, i, lm.next_roi()

    def pop(self) -> None:
        """Forget the newest frame (the duplicate merge gave it to another track)."""
        self.frames.pop()
        self.lms.pop()
        self.hist.truncate(len(self.frames))
        del self.tokens[len(self.frames):]
        if self.frames:
            self.last, self.last_frame = self.lms[-1], self.frames[-1]

    def trim(self, keep: int) -> None:
        """Keep only the last ``keep`` frames (live mode: :class:`unveil.live.LiveEstimator` never
        asks for the whole track)."""
        if len(self.frames) <= keep:
            return
        n = len(self.frames)
        kp, box, world, pres, score = (self.hist.get(k)[n - keep:] for k in
                                       ("keypoints", "box", "world", "presence", "score"))
        col = self.colours.get("colour")[max(0, self.colours.n - keep):]
        cov = self.cover.get("covered")[max(0, self.cover.n - keep):]
        del self.frames[:-keep], self.lms[:-keep], self.tokens[:-keep]
        self.hist.truncate(0)
        self.colours.truncate(0)
        self.cover.truncate(0)
        for r in range(keep):
            self.hist.append(keypoints=kp[r], box=box[r], world=world[r], presence=pres[r], score=score[r])
        for c in col:
            self.colours.append(colour=c)
        for c in cov:
            self.cover.append(covered=c)

    def _lm(self, j: int) -> Landmarks:
        """The Landmarks of held frame ``j`` (one of the last ``RECENT``)."""
        k = j - (len(self.frames) - len(self.lms))
        if not 0 <= k < len(self.lms):
            raise IndexError(f"held frame {j} is not among the last {len(self.lms)} kept")
        return self.lms[k]

    def velocity(self, k: int = 5) -> np.ndarray:
        """Box-centre velocity (pixels/frame) over the last ``k`` held frames."""
        if len(self.frames) < 2:
            return np.zeros(2, np.float32)
        j = max(0, len(self.frames) - k)
        c = lambda b: (b[:2] + b[2:]) / 2
        return (c(self.lms[-1].box()) - c(self._lm(j).box())) / max(self.frames[-1] - self.frames[j], 1)

    def motion_error(self) -> float:
        """Distance of the newest box centre from where the track's earlier motion put it,
        in box heights (0.5 when the track is too young to say)."""
        if len(self.frames) < 3:
            return 0.5
        c = lambda b: (b[:2] + b[2:]) / 2
        prev = self.lms[-2].box()
        j = max(0, len(self.frames) - 6)
        v = (c(prev) - c(self._lm(j).box())) / max(self.frames[-2] - self.frames[j], 1)
        pred = c(prev) + v * (self.frames[-1] - self.frames[-2])
        return float(np.linalg.norm(c(self.lms[-1].box()) - pred) / max(prev[3] - prev[1], 1.0))

    def body_visibility(self) -> float:
        """Mean over held frames of the mean visibility of the 17 COCO points."""
        kp = self.hist.get("keypoints")
        return float(np.mean([row[_BODY17, 2].mean() for row in kp]))

    def to_track2d(self, processed: np.ndarray | None = None) -> Track2D:
        """The track over every processed frame from its first to its last: frames where the person
        was not held (short occlusions) get linearly interpolated positions with confidence 0,
        presence 0 and ``extras["held"] = False``, so the motion stage sees them as occluded."""
        f = np.asarray(self.frames, np.int64)
        kp = self.hist.get("keypoints")
        boxes = self.hist.get("box")
        world = self.hist.get("world")
        pres = self.hist.get("presence")
        score = self.hist.get("score")
        full = f if processed is None else processed[(processed >= f[0]) & (processed <= f[-1])]
        held = np.isin(full, f)
        if not held.all():
            def interp(a):
                flat = a.reshape(len(f), -1)
                out = np.stack([np.interp(full, f, flat[:, j]) for j in range(flat.shape[1])], 1)
                return out.reshape((len(full),) + a.shape[1:]).astype(np.float32)
            kp, boxes, world = interp(kp), interp(boxes), interp(world)
            kp[~held, :, 2] = 0.0
            pres = np.where(held[:, None], interp(pres), 0.0).astype(np.float32)
            score = np.where(held, interp(score), 0.0).astype(np.float32)
        col = np.full((len(full), 6), np.nan, np.float32)
        if self.colours.n == len(f):
            col[np.searchsorted(full, f)] = self.colours.get("colour")
        cov = np.zeros((len(full), 33), bool)
        if self.cover.n == len(f):
            cov[np.searchsorted(full, f)] = self.cover.get("covered")
        feats = None
        if self.frames and len(self.tokens) == len(self.frames):  # zero on frames not held
            pos = np.searchsorted(full, f)
            feats = {}
            for key in self.tokens[0]:
                v = np.stack([t[key] for t in self.tokens])
                feats[key] = np.zeros((len(full),) + v.shape[1:], v.dtype)
                feats[key][pos] = v
        return Track2D(id=self.id, frames=full, keypoints=kp, layout="blazepose33", boxes=boxes,
                       world_landmarks=world, extras={"presence": pres, "pose_score": score, "held": held,
                                                      "colour": col, "covered": cov}, features=feats)


def keypoint_similarity(a: Landmarks, b: Landmarks, min_vis: float = 0.3, points=None) -> float:
    """OKS-like similarity in [0, 1] of two 33-keypoint poses (scale = the larger box diagonal).

    ``points``: indices of the keypoints compared (default all 33; ``stitch.BODY_POINTS`` leaves out
    the face and hands, whose 17 points otherwise dominate: see :meth:`PeopleTracker._merge_duplicates`)."""
    ba, bb = a.box(), b.box()
    s = max(np.hypot(*(ba[2:] - ba[:2])), np.hypot(*(bb[2:] - bb[:2])), 1.0)
    ka, kb = (a.keypoints, b.keypoints) if points is None else (a.keypoints[points], b.keypoints[points])
    sel = (ka[:, 2] >= min_vis) & (kb[:, 2] >= min_vis)
    if sel.sum() < 4:
        sel[:] = True
    d = np.linalg.norm(ka[sel, :2] - kb[sel, :2], axis=1) / s
    return float(np.exp(-(d ** 2) / (2 * 0.1 ** 2)).mean())


def tiles_for(width: int, height: int, tile: int | None = None, overlap: float = 0.25,
              max_tiles: int = 20) -> list[tuple[int, int, int, int]]:
    """Overlapping square tiles covering the frame.

    Default side: the detector's own input size (224 px, no down-scaling: measured best on
    vtest.avi, see docs/frontend.md), grown by 10% steps until at most ``max_tiles`` tiles cover
    the frame. No tiles when the frame is small enough for the whole-frame pass.
    """
    def grid(t):
        step = max(1, int(t * (1 - overlap)))
        xs = list(range(0, max(width - t, 0) + 1, step))
        ys = list(range(0, max(height - t, 0) + 1, step))
        if xs[-1] + t < width:
            xs.append(width - t)
        if ys[-1] + t < height:
            ys.append(height - t)
        return [(x, y, x + t, y + t) for y in ys for x in xs]

    if tile is None:
        tile = 224
        while len(grid(min(tile, width, height))) > max_tiles and tile < min(width, height):
            tile = int(tile * 1.1)
    tile = min(tile, width, height)
    if tile * 1.5 > max(width, height):  # the whole-frame pass already sees this frame at tile scale
        return []
    return grid(tile)


class _Lazy:
    """A future computed on first ``result()`` (serial mode: speculative jobs that are never
    needed cost nothing)."""

    def __init__(self, fn, *args):
        self.fn, self.args, self.done, self.value = fn, args, False, None

    def result(self):
        if not self.done:
            self.value, self.done = self.fn(*self.args), True
        return self.value


class _Engine:
    """Runs the two models for the tracker, serially or on ``workers`` threads.

    With ``workers >= 2`` each worker thread owns a 1-thread detector and a 1-thread landmark
    interpreter (ai-edge-litert releases the GIL in ``invoke``), so the per-person crops of a frame,
    the detector tiles and the detector pass of a re-detection frame run concurrently. Not
    reproducible (module docstring): concurrent interpreters occasionally differ from a call made
    alone in the fourth decimal of a pixel; the default is ``workers=1``.
    Per-call wall seconds and CPU seconds (``time.thread_time`` of the thread that ran it: the
    interpreter runs on its caller's thread when it has 1 thread) are summed per stage.
    """

    def __init__(self, workers: int, min_det_score: float, num_threads: int | None, taps: bool = False):
        self.workers = max(1, int(workers))
        self.taps = bool(taps)  # landmark model with feature taps (unveil.detect.taps)
        self.min_det_score = min_det_score
        self.num_threads = 1 if self.workers > 1 else num_threads
        self._local = threading.local()
        self._lock = threading.Lock()
        self.wall = {"detect": 0.0, "landmarks": 0.0}
        self.cpu = {"detect": 0.0, "landmarks": 0.0}
        self._solo = None
        self.solo_threads = num_threads or _threads()
        # thread_time sees the interpreter's work only when it runs on the calling thread alone
        self.cpu_exact = self.num_threads == 1 or (self.num_threads is None and _threads() == 1)
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="unveil-model") if self.workers > 1 else None
        if self.pool is None:
            self._models()  # load now (errors surface at construction, as before)
        else:  # one set of interpreters per worker, loaded up front
            list(self.pool.map(lambda _: self._models(), range(self.workers)))

    def _models(self):
        m = getattr(self._local, "models", None)
        if m is None:
            m = self._local.models = (PoseDetector(min_score=self.min_det_score, num_threads=self.num_threads),
                                      LandmarkModel(num_threads=self.num_threads, taps=self.taps))
        return m

    def _timed(self, stage: str, fn, *args):
        t, c = time.perf_counter(), time.thread_time()
        out = fn(*args)
        dt, dc = time.perf_counter() - t, time.thread_time() - c
        with self._lock:
            self.wall[stage] += dt
            self.cpu[stage] += dc
        return out

    def _det(self, img, region):
        return self._timed("detect", self._models()[0], img, region)

    def _lmk(self, img, roi, hide=None):
        if hide is None:  # (the tests' stand-in models take no ``hide``)
            return self._timed("landmarks", self._models()[1], img, roi)
        return self._timed("landmarks", self._models()[1], img, roi, hide)

    def _verify(self, img, roi, min_score, second_look: bool = False):
        """Landmarks on a detector ROI and, if it is a person (or always, with ``second_look``),
        once more on its own helper points."""
        lm = self._lmk(img, roi)
        if lm.score < min_score and not second_look:
            return lm, None
        return lm, self._lmk(img, lm.next_roi())

    def submit(self, fn, *args):
        return _Lazy(fn, *args) if self.pool is None else self.pool.submit(fn, *args)

    def detect(self, img, region=None):
        return self.submit(self._det, img, region)

    def landmarks(self, img, roi, solo: bool = False, hide=None):
        """``solo``: the only model call in flight (one held person, no detector pass): run it
        here on an interpreter with all the threads (measured faster than one 1-thread worker for a
        single person; same outputs). ``hide``: crop pixels painted grey first (other people,
        :func:`.blazepose.hide_mask`)."""
        if hide is not None:
            return self.submit(self._lmk, img, roi, hide)
        if solo and self.pool is not None:
            if self._solo is None:
                self._solo = LandmarkModel(num_threads=self.solo_threads, taps=self.taps)
            t, c = time.perf_counter(), time.process_time()  # process time: the interpreter's threads
            out = self._solo(img, roi)
            with self._lock:
                self.wall["landmarks"] += time.perf_counter() - t
                self.cpu["landmarks"] += time.process_time() - c
            return _Lazy(lambda: out)
        return self.submit(self._lmk, img, roi)

    def verify(self, img, roi, min_score, second_look: bool = False):
        return self.submit(self._verify, img, roi, min_score, second_look)

    def close(self):
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None


class PeopleTracker:
    """Stateful multi-person tracker; feed frames in order with :meth:`step`."""

    def __init__(self, redetect_every: int = 5, tiles: bool | int = True, tile_every: int = 4,
                 min_pose_score: float = 0.5, min_new_score: float = 0.8, min_new_vis: float = 0.6,
                 min_new_aspect: float = 0.6, min_det_score: float = 0.3, max_gap: int = 15, min_len: int = MIN_TRACK_LEN, max_people: int = 20, min_track_vis: float = 0.5,
                 num_threads: int | None = None, workers: int | None = None, max_backoff: int = 3,
                 coast: int = 2, retry: bool = True, features: bool = False, fps: float | None = None,
                 hide_others: bool = True, second_look: bool = True, keep_spare: bool = True,
                 smooth_retry: float = 0.0, held_pad: float = 0.05):
        # workers: model calls in flight (default 1: serial, with num_threads interpreter threads per
        # call, all cores when None; >= 2: worker threads with 1-thread interpreters, not reproducible,
        # see the module docstring); features: tapped landmark model, tokens per
        # person and frame in Track2D.features (unveil.detect.taps); fps: the rate of the frames fed
        # to step() (None: unknown), see search_scale
        self.eng = _Engine(1 if workers is None else workers, min_det_score, num_threads, taps=features)
        # held_pad: a detector candidate whose hip lies in a held person's box padded by this fraction
        # of its size is taken to be that person (not checked); 0.15 before, which skipped a second
        # person beside the box edge (docs/frontend.md "Seventh pass")
        self.held_pad = float(held_pad)
        # the search schedule is in frames of 30 fps video: people do not enter faster at a higher
        # frame rate, so at 60 fps the scheduled searches (and their back-off) are twice as many
        # frames apart (search_scale 2); at <= 44 fps (vtest's 10, the demo's 30) nothing changes
        self.search_scale = max(1, int(round(float(fps) / 30.0))) if fps else 1
        self.redetect_every = max(1, redetect_every) * self.search_scale
        self.tiles, self.tile_every = tiles, max(1, tile_every)
        self.min_new_score, self.min_new_vis, self.min_new_aspect = min_new_score, min_new_vis, min_new_aspect
        self.n_detects = 0
        # search schedule (MediaPipe's tracking mode, generalised to many people): a held person
        # costs one landmark call per frame; the detector searches for new people every
        # redetect_every * 2**backoff frames (tiles every tile_every times that); backoff grows by
        # one after a search that found nobody new (up to max_backoff) and drops to 0 when a search
        # finds someone or a track is lost; with nobody held the detector runs every frame.
        self.max_backoff = max(0, int(max_backoff))
        self.backoff = 0
        self._next_search = 0   # step index of the next scheduled whole-frame search
        self._next_tiles = 0    # step index from which the next search also runs the tiles
        self._n_lost = 0        # held tracks lost so far (a loss resets the schedule)
        self._tiled = False     # this step's search ran the tiles
        self.search_gaps = {1, 2, 4, 7, 11}
        self.coast = max(0, int(coast))  # frames a lost track is still followed on its moved crop
        self.retry = bool(retry)  # a failed helper-point crop is tried once more on the last good crop
        self.hide_others = bool(hide_others)  # other held people painted out of a track's crop (_hide)
        # px: a failed crop is also tried on the frame smoothed by this Gaussian sigma (0: off, the
        # default: on pose2sim Demo_MultiPerson cam03 sigma 1 ended the man's track at frame 87
        # instead of 99, docs/frontend.md "Fourth pass")
        self.smooth_retry = float(smooth_retry)
        self.keep_spare = bool(keep_spare)  # people found by a lost track's local search that are not it
        self.second_look = bool(second_look)  # a candidate failing on the detector's ROI: once more on its helper points
        self.min_track_vis = min_track_vis
        self.min_pose_score, self.max_gap, self.min_len, self.max_people = min_pose_score, max_gap, min_len, max_people
        self.live: list[_Track] = []
        self.lost: list[_Track] = []
        self.done: list[_Track] = []
        self.next_id = 0
        self.n_steps = 0
        # landmark_calls = follow_calls (one per held person per frame) + checks of detector candidates
        self.counts = {"detect_calls": 0, "landmark_calls": 0, "follow_calls": 0, "search_detect_calls": 0,
                       "frame_detect_calls": 0, "tile_detect_calls": 0, "retry_calls": 0,
                       "coast_calls": 0, "coast_found": 0, "hidden_calls": 0,
                       "second_looks": 0, "second_look_found": 0, "spare_found": 0, "smooth_calls": 0}
        self._tracking = 0.0
        self.people_per_frame: list[int] = []
        self.processed: list[int] = []

    @property
    def seconds(self) -> dict:
        """Per-call wall seconds summed per stage (with worker threads the sum can exceed the
        elapsed time) and CPU seconds (``*_cpu``, only when every interpreter has 1 thread)."""
        e = self.eng
        out = {"detect": e.wall["detect"], "landmarks": e.wall["landmarks"], "tracking": self._tracking}
        if e.cpu_exact:  # else the interpreters' own threads are not counted: left out
            out.update(detect_cpu=e.cpu["detect"], landmarks_cpu=e.cpu["landmarks"])
        return out

    def _landmarks(self, img, roi) -> Landmarks:
        self.counts["landmark_calls"] += 1
        return self.eng.landmarks(img, roi).result()

    def _verify(self, img, roi):
        """Future of (landmarks on a detector ROI, landmarks on its own helper points or None)."""
        return self.eng.verify(img, roi, self.min_pose_score, self.second_look)

    def _verified(self, job):
        lm, lm2 = job.result()
        self.counts["landmark_calls"] += 1 if lm2 is None else 2
        if lm2 is not None and lm.score < self.min_pose_score:  # second_look
            self.counts["second_looks"] += 1
            if lm2.score < self.min_pose_score:
                return None
            self.counts["second_look_found"] += 1
            return lm2
        if lm.score < self.min_pose_score:
            return None
        # refine once on its own helper points (the detector ROI is coarse for small people)
        return lm2 if lm2.score >= lm.score else lm

    def _start_detect(self, img) -> list:
        """Futures of the detector passes of a re-detection: whole frame (+ tiles every
        ``tile_every``-th re-detection)."""
        h, w = img.shape[:2]
        jobs = [self.eng.detect(img)]
        self.counts["frame_detect_calls"] += 1
        if self.tiles and self.n_steps >= self._next_tiles:
            tiles = [self.eng.detect(img, region)
                     for region in tiles_for(w, h, None if self.tiles is True else int(self.tiles))]
            jobs += tiles
            self.counts["tile_detect_calls"] += len(tiles)
            self._tiled = True  # the next tile pass is scheduled in _reschedule
        self.counts["detect_calls"] += len(jobs)
        self.n_detects += 1
        return jobs

    def _reschedule(self, searched: bool, found: bool, lost: bool) -> None:
        """Next search after this step: back to the base rate when someone was found or lost or
        nobody is held, else (after a search that found nobody new) twice as far apart, up to
        ``max_backoff``."""
        if found or lost or not self.live:
            # nobody held: the whole-frame detector runs every frame anyway, and the tiles (the only
            # way to find small people) keep their base rate instead of backing off: measured on a
            # re-encoded vtest.avi, backing off here left the tiles 160 frames apart and the scene
            # empty for 35 frames (docs/frontend.md)
            self.backoff = 0
            self._next_tiles = min(self._next_tiles, self.n_steps + self.redetect_every * self.tile_every)
        elif searched:
            self.backoff = min(self.backoff + 1, self.max_backoff)
        if searched or found or lost:
            self._next_search = self.n_steps + self.redetect_every * 2 ** self.backoff
        if self._tiled:
            self._next_tiles = self.n_steps + self.redetect_every * self.tile_every * 2 ** self.backoff
            self._tiled = False

    def _detect(self, img):
        return self._collect(self._start_detect(img))

    @staticmethod
    def _collect(jobs) -> list:
        dets = []
        for j in jobs:
            dets += list(j.result())
        return sorted(dets, key=lambda d: -d.score)

    def _hide(self, i: int, roi: Roi, tr: _Track, held: list) -> np.ndarray | None:
        """Crop pixels of the other held people to paint grey before ``tr``'s landmark call (None:
        nothing to hide, or ``hide_others`` off). Their segmentation masks from their last held
        frame moved on at their velocity to frame ``i``, minus ``tr``'s own (a person in front keeps
        their pixels). Why: with a second person in the
        crop the landmark model may return *that* person's pose with full confidence (pose2sim
        Demo_MultiPerson cam03, frames 80-99: the man's crops returned the woman's pose,
        docs/frontend.md "Third pass")."""
        if not self.hide_others:
            return None
        hide = hide_mask(roi, [_moved(o, i) for o in held if o is not tr], _moved(tr, i))
        if hide is not None:
            self.counts["hidden_calls"] += 1
        return hide

    def _search_region(self, i: int, tr: _Track):
        gap = i - tr.last_frame
        b = tr.last.box()
        pred = (b[:2] + b[2:]) / 2 + tr.velocity() * gap
        half = max(112.0, 1.5 * tr.roi.size)
        return pred, (pred[0] - half, pred[1] - half, pred[0] + half, pred[1] + half)

    def step(self, i: int, img: np.ndarray) -> None:
        # the detector pass of a scheduled re-detection starts now, alongside the landmark crops
        det_jobs = self._start_detect(img) if self.n_steps >= self._next_search else None
        n_lost0, found = self._n_lost, False
        # 1. follow held people (ROI from the helper points, moved on at the track's velocity)
        jobs = []
        # tracks lost in the last ``coast`` frames are followed too (their crop moved on at their
        # velocity): a pose score that dips under the threshold for a frame or two (compressed
        # video, a brief partial occlusion) does not wait for a detector search to be picked up
        coasting = [tr for tr in self.lost if i - tr.last_frame <= self.coast]
        solo = len(self.live) == 1 and not coasting and det_jobs is None
        held = list(self.live)
        rois = []
        for tr in self.live + coasting:
            v = tr.velocity() * (i - tr.last_frame)
            roi = Roi(tr.roi.cx + float(v[0]), tr.roi.cy + float(v[1]), tr.roi.size, tr.roi.rotation)
            rois.append(roi)
            jobs.append((tr, self.eng.landmarks(img, roi, solo=solo, hide=self._hide(i, roi, tr, held))))
            self.counts["landmark_calls"] += 1
            self.counts["follow_calls" if len(jobs) <= len(self.live) else "coast_calls"] += 1
        lms = [job.result() for _, job in jobs]
        # 1a. a crop from the helper points that lost the person is tried once more where the last
        #     good pose came from (the previous landmark call's own ROI moved on at the track's
        #     velocity): on compressed video the helper points of small people are often off while
        #     the person is still plainly there (re-encoded vtest.avi: the helper-point crop scored
        #     0.08 where the detector's crop of the same person scored 1.0)
        n_live = len(self.live)
        #     Not at a crossing (the last box touches another held person's): there the crop is
        #     failing because the person is being hidden, and keeping the track alive lets it
        #     drift onto the person in front (measured on `unveil bench tracking`'s 3-person scene)
        retry = [(k, tr) for k, (tr, _) in enumerate(jobs[:n_live])
                 if self.retry and lms[k].score < self.min_pose_score
                 and not any(box_iou(tr.last.box(), o.last.box()[None])[0] > 0 for o in self.live if o is not tr)]
        rjobs, soft = [], None
        for k, tr in retry:
            v = tr.velocity() * (i - tr.last_frame)
            r0 = tr.last.roi
            roi = Roi(r0.cx + float(v[0]), r0.cy + float(v[1]), r0.size, r0.rotation)
            rjobs.append((k, self.eng.landmarks(img, roi, hide=self._hide(i, roi, tr, held))))
            self.counts["landmark_calls"] += 1
            self.counts["retry_calls"] += 1
            if self.smooth_retry > 0:
                # and the failed crop itself on the frame smoothed (Gaussian, smooth_retry px):
                # compression blocks (8x8 px, magnified ~2x in a small person's crop) made the model
                # score 0 on crops plainly holding a person; measured on the re-encoded vtest.avi's
                # 15 lost-track crops: >= 0.5 in 4 as is, 10 smoothed with sigma 1 px (the original
                # clip's same crops: 14 -> 15), docs/frontend.md "Fourth pass"
                if soft is None:
                    soft = cv2.GaussianBlur(img, (0, 0), self.smooth_retry)
                rjobs.append((k, self.eng.landmarks(soft, rois[k], hide=self._hide(i, rois[k], tr, held))))
                self.counts["landmark_calls"] += 1
                self.counts["smooth_calls"] += 1
        for k, job in rjobs:
            lm = job.result()
            if lm.score > lms[k].score:
                lms[k] = lm
        still = []
        for k, ((tr, _), lm) in enumerate(zip(jobs, lms)):
            if lm.score >= self.min_pose_score:
                if k >= n_live:
                    self.lost.remove(tr)
                    self.counts["coast_found"] += 1
                tr.add(i, lm)
                still.append(tr)
            elif k < n_live:
                self.lost.append(tr)
                self._n_lost += 1
        self.live = still
        # 1b. look for recently lost people where they should be (detector on a local window;
        #     the windows' detector passes run together, the matching stays in order)
        searching = [tr for tr in self.lost if i - tr.last_frame in self.search_gaps]
        spare: list = []
        if searching:
            regions = [self._search_region(i, tr) for tr in searching]
            sjobs = [self.eng.detect(img, reg) for _, reg in regions]
            self.counts["detect_calls"] += len(sjobs)
            self.counts["search_detect_calls"] += len(sjobs)
            for tr, (pred, _), job in zip(searching, regions, sjobs):
                self._search_lost(i, img, tr, pred, job.result(), spare if self.keep_spare else None)
        t = time.perf_counter()
        self._merge_duplicates()
        self._tracking += time.perf_counter() - t
        # 2. re-detect
        searched = det_jobs is not None or not self.live
        if searched:
            dets = self._collect(det_jobs if det_jobs is not None else self._start_detect(img))
            # landmark checks of the candidates start together: those whose hip is outside every
            # held box, one per cluster of overlapping detections (the rest, if still needed
            # after the earlier ones became tracks, run when reached)
            pre: dict[int, object] = {}
            taken: list = []  # (hip, ROI side) of the candidates already started
            for k, d in enumerate(dets):
                if len(pre) >= self.max_people - len(self.live):
                    break
                hip, roi = d.keypoints[0], d.roi()
                if self._held_here(hip):
                    continue
                if any(np.hypot(*(hip - h)) < 0.4 * max(sz, roi.size) for h, sz in taken):
                    continue  # probably the same person as an earlier candidate
                taken.append((hip, roi.size))
                pre[k] = self._verify(img, roi)
            for k, d in enumerate(dets):
                if len(self.live) >= self.max_people:
                    break
                hip = d.keypoints[0]
                if self._held_here(hip):
                    continue
                lm = self._verified(pre.pop(k) if k in pre else self._verify(img, d.roi()))
                if lm is not None and self._add_new(i, lm):
                    found = True
            for job in pre.values():  # speculative checks not needed after all
                self._verified(job)
        # 2a. people verified by a local search (1b) who are not the lost person searched for:
        #     the same rules as any detector candidate (a pose found and scored is not thrown away)
        for lm in spare:
            if len(self.live) < self.max_people and self._add_new(i, lm):
                found = True
                self.counts["spare_found"] += 1
        # 3. end tracks lost for too long
        t = time.perf_counter()
        keep = []
        for tr in self.lost:
            (keep if i - tr.last_frame <= self.max_gap else self.done).append(tr)
        self.lost = keep
        self._tracking += time.perf_counter() - t
        self._reschedule(searched, found, self._n_lost > n_lost0)
        held_now = [tr.lms[-1] for tr in self.live if tr.last_frame == i]
        for tr in self.live:  # appearance for the offline stitching (a few dozen pixel reads)
            n = len(tr.frames)
            tr.colours.truncate(n)
            while tr.colours.n < n:
                tr.colours.append(colour=colour_descriptor(img, tr.lms[-1].keypoints)
                                  if tr.colours.n == n - 1 else np.full(6, np.nan, np.float32))
            tr.cover.truncate(n)   # keypoints on another person's pixels (they are in front there)
            while tr.cover.n < n:
                cov = None
                if tr.cover.n == n - 1 and tr.last_frame == i:
                    cov = covered_by_others(tr.lms[-1], [lm for lm in held_now if lm is not tr.lms[-1]])
                tr.cover.append(covered=np.zeros(33, bool) if cov is None else cov)
        self.people_per_frame.append(len(self.live))
        self.processed.append(i)
        self.n_steps += 1

    def _held_here(self, hip) -> bool:
        """Whether a detector candidate's hip centre lies in a held person's box (padded by
        ``held_pad`` of its size): such a candidate is taken to be that person and not checked."""
        return any(_inside(hip, tr.last.box(), pad=self.held_pad) for tr in self.live)

    def _add_new(self, i: int, lm: Landmarks) -> bool:
        """Make a verified candidate a track (a lost one re-identified, else a new one) if it is
        clearly a person (pose score >= ``min_new_score``, torso visibility >= ``min_new_vis``,
        box height >= ``min_new_aspect`` x width) and not a held person's duplicate."""
        b = lm.box()
        if (lm.score < self.min_new_score or lm.keypoints[_TORSO, 2].mean() < self.min_new_vis
                or (b[3] - b[1]) < self.min_new_aspect * (b[2] - b[0])):
            return False
        t = time.perf_counter()
        try:
            if any(keypoint_similarity(lm, tr.last) > 0.5 or box_iou(lm.box(), tr.last.box()[None])[0] > 0.6
                   for tr in self.live):
                return False
            tr = self._reidentify(i, lm)
            if tr is None:
                tr = _Track(self.next_id)
                self.next_id += 1
            tr.add(i, lm)
            self.live.append(tr)
            return True
        finally:
            self._tracking += time.perf_counter() - t

    def _search_lost(self, i: int, img: np.ndarray, tr: _Track, pred: np.ndarray, dets: list,
                     spare: list | None = None) -> bool:
        """Take a lost track back from the detections of its local search window; verified people
        that are not it go to ``spare`` (offered as new people after the search)."""
        gap = i - tr.last_frame
        b = tr.last.box()
        hgt = max(b[3] - b[1], 1.0)
        for d in dets:
            if self._held_here(d.keypoints[0]):
                continue
            lm = self._verified(self._verify(img, d.roi()))
            if lm is None:
                continue
            nb = lm.box()
            if np.linalg.norm((nb[:2] + nb[2:]) / 2 - pred) / hgt < 0.5 + 0.03 * gap and \
                    lm.keypoints[_TORSO, 2].mean() >= self.min_new_vis:
                tr.add(i, lm)
                self.lost.remove(tr)
                self.live.append(tr)
                return True
            if spare is not None:
                spare.append(lm)
        return False

    def _reidentify(self, i: int, lm: Landmarks) -> _Track | None:
        """Match a new person to a recently lost track: its last box and pose moved on at the
        track's last velocity (constant-velocity prediction), scored by IoU + keypoint similarity."""
        best, best_s = None, 0.0
        b0 = lm.box()
        for tr in self.lost:
            gap = i - tr.last_frame
            if gap > self.max_gap:
                continue
            shift = tr.velocity() * gap
            b1 = tr.last.box() + np.tile(shift, 2)
            hgt = max(b1[3] - b1[1], 1.0)
            d = np.linalg.norm((b0[:2] + b0[2:]) / 2 - (b1[:2] + b1[2:]) / 2) / hgt
            moved = Landmarks(tr.last.score, tr.last.keypoints + np.array([*shift, 0.0], np.float32),
                              tr.last.presence, tr.last.z, tr.last.world, tr.last.aux, tr.last.roi)
            s = 0.5 * float(box_iou(b0, b1[None])[0]) + 0.5 * keypoint_similarity(lm, moved)
            if d < 0.5 + 0.03 * gap and s > 0.2 and s > best_s:
                best, best_s = tr, s
        if best is not None:
            self.lost.remove(best)
        return best

    def _merge_duplicates(self) -> None:
        """Two held tracks on one person (crossing people: the crop of the one behind slides onto
        the one in front). The track whose new pose fits its own motion best keeps the person; the
        other loses this frame and goes to ``lost``, so the local search can pick it up again,
        same id, when the people separate."""
        self.live.sort(key=lambda t: t.id)
        keep: list[_Track] = []
        for tr in self.live:
            k = next((k for k in keep if keypoint_similarity(tr.last, k.last, points=BODY_POINTS) > 0.6), None)
            if k is None:
                keep.append(tr)
                continue
            if tr.motion_error() < k.motion_error():
                keep[keep.index(k)] = tr
                tr = k
            tr.pop()
            if tr.frames:
                self.lost.append(tr)
                self._n_lost += 1
        self.live = keep

    def finish(self) -> list[Track2D]:
        self.eng.close()
        allt = self.done + self.lost + self.live
        self.done, self.lost, self.live = [], [], []
        processed = np.asarray(self.processed, np.int64)
        out = [t.to_track2d(processed) for t in sorted(allt, key=lambda t: t.id)
               if len(t.frames) >= self.min_len
               and t.body_visibility() >= self.min_track_vis]
        for new_id, tr in enumerate(out):  # ids 0..n-1 in order of first appearance
            tr.id = new_id
        return out


_TORSO = [11, 12, 23, 24]
_BODY17 = [0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28]  # the COCO-17 points


def _moved(tr: _Track, i: int) -> Landmarks:
    """``tr``'s last :class:`Landmarks` with its crop (and so its ``mask``) moved on at the track's
    velocity to frame ``i`` (only ``roi`` and ``mask`` are meant to be read)."""
    v = tr.velocity() * (i - tr.last_frame)
    r = tr.last.roi
    return dataclasses.replace(tr.last, roi=Roi(r.cx + float(v[0]), r.cy + float(v[1]), r.size, r.rotation))


def _inside(p, box, pad: float = 0.0) -> bool:
    w, h = box[2] - box[0], box[3] - box[1]
    return (box[0] - pad * w <= p[0] <= box[2] + pad * w) and (box[1] - pad * h <= p[1] <= box[3] + pad * h)


def _prefetch(it, depth: int = 4, stats: dict | None = None):
    """Iterate ``it`` on a background thread (video decoding overlaps the models), ``depth`` items
    ahead; exceptions are re-raised in the caller. ``stats["decode_cpu"]``: CPU seconds of that thread."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def work():
        c = time.thread_time()
        try:
            for item in it:
                while not stop.is_set():
                    try:
                        q.put((None, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
            q.put((end, None))
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            q.put((end, e))
        finally:
            if stats is not None:
                stats["decode_cpu"] = time.thread_time() - c

    th = threading.Thread(target=work, name="unveil-decode", daemon=True)
    th.start()
    try:
        while True:
            tag, item = q.get()
            if tag is end:
                if item is not None:
                    raise item
                break
            yield item
    finally:
        stop.set()
        while th.is_alive():  # unblock a worker waiting on a full queue
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass


def track_video(path, start: int = 0, end: int | None = None, stride: int = 1, max_frames: int | None = None,
                redetect_every: int = 5, tiles: bool | int = True, num_threads: int | None = None,
                stats: dict | None = None, progress=None, on_frame=None, workers: int | None = None,
                stitch: bool = True, left_right: bool = True, hide_covered: bool = False, **kw) -> list[Track2D]:
    """Track every person in a video -> ``list[Track2D]`` (layout blazepose33).

    ``stats`` (a dict) receives seconds per stage (decode, detect, landmarks, tracking: wall
    seconds summed per call; ``*_cpu``: CPU seconds), frame count and people per frame;
    ``progress(i)`` is called per frame; ``on_frame(i, rgb, tracker)`` lets a caller draw while
    streaming. ``workers``: model calls in flight (default 1; see the module docstring: 2 or more is
    not reproducible); with more than one thread frames are decoded on a background thread.
    ``stitch``: join the fragments of one person offline afterwards
    (:func:`unveil.detect.stitch.stitch_tracks`; ``stats["stitch"]`` lists the links and dropped tracks). ``left_right``: undo the landmark model's left/right name swaps
    (:func:`unveil.detect.chirality.relabel_left_right`; ``stats["left_right"]`` counts the renamed
    frames per track). ``hide_covered``: keypoints that lie on another person's segmentation and
    not on their own (``extras["covered"]``, :func:`.blazepose.covered_by_others`) get visibility 0
    (off: it made ``Demo_MultiPerson`` worse, docs/frontend.md "Fifth pass"; the flags are reported
    as inferred joints by the evidence fit instead).
    """
    info = probe(path)
    kw.setdefault("fps", (info.fps or 30.0) / max(1, stride))  # the search schedule is per 30 fps frame
    tracker = PeopleTracker(redetect_every=redetect_every, tiles=tiles, num_threads=num_threads,
                            workers=workers, **kw)
    t_dec = 0.0
    n = 0
    frames_seen = []
    dec_stats: dict = {}
    it = iter_frames(path, start=start, end=end, stride=stride, max_frames=max_frames)
    prefetch = tracker.eng.workers > 1 or (num_threads or _threads()) > 1   # decoding overlaps the model calls
    if prefetch:
        it = _prefetch(it, stats=dec_stats)
    try:
        while True:
            t = time.perf_counter()
            c = time.thread_time()
            try:
                i, img = next(it)
            except StopIteration:
                break
            t_dec += time.perf_counter() - t
            dec_stats.setdefault("main_cpu", 0.0)
            dec_stats["main_cpu"] += time.thread_time() - c
            tracker.step(i, img)
            frames_seen.append(i)
            n += 1
            if on_frame is not None:
                on_frame(i, img, tracker)
            if progress is not None:
                progress(i)
    finally:
        if hasattr(it, "close"):
            it.close()
    tracks = tracker.finish()
    st_info: dict = {}
    if stitch:
        t = time.perf_counter()
        tracks = stitch_tracks(tracks, fps=info.fps or 30.0, processed=np.asarray(frames_seen, np.int64),
                               frame_height=info.height, info=st_info)  # probe: upright size
        tracker._tracking += time.perf_counter() - t
    if hide_covered:   # keypoints on another person's pixels (not their own): not visible
        for tr in tracks:
            cov = np.asarray(tr.extras.get("covered", np.zeros(tr.keypoints.shape[:2])), np.float64) > 0.5
            if cov.any():
                tr.keypoints = tr.keypoints.copy()
                tr.keypoints[..., 2] = np.where(cov, 0.0, tr.keypoints[..., 2])
    lr_info: dict = {}
    if left_right:
        t = time.perf_counter()
        fps = (info.fps or 30.0) / max(1, stride)
        renamed = [relabel_left_right(tr, fps) for tr in tracks]
        tracks = [tr for tr, _ in renamed]
        lr_info = {tr.id: n for tr, n in renamed if any(n.values())}
        tracker._tracking += time.perf_counter() - t
    if stats is not None:
        decode_cpu = dec_stats.get("decode_cpu", dec_stats.get("main_cpu", 0.0))
        stats.update({"frames": n, "decode": t_dec, "decode_cpu": decode_cpu, **tracker.seconds,
                      **tracker.counts, "workers": tracker.eng.workers, "prefetch": prefetch, "stitch": st_info,
                      "left_right": lr_info,
                      "people_per_frame": tracker.people_per_frame, "frame_indices": frames_seen})
    return tracks
