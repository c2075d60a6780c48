"""``unveil live SOURCE``: the online, causal mode -- one JSON line per frame, with a fixed delay.

SOURCE: a camera index (``0`` -> ``/dev/video0`` through PyAV's v4l2 / avfoundation input), a video
file (played at its own frame rate: frames the estimator has not taken when the next one is due are
dropped, as with a camera), or an RTSP/HTTP(S) URL that PyAV opens.

Per frame (everything uses the current and past frames only; the pose of frame ``t`` is emitted
when frame ``t + delay`` has been processed, ``delay`` = ``--delay`` frames, default
:data:`DELAY`):

1. people + 2D keypoints: the offline front end's :class:`unveil.detect.people.PeopleTracker`
   stepped frame by frame (BlazePose landmark tracking, detector every ``--redetect`` frames).
2. occlusion: MoPO's causal occlusion detector (:meth:`unveil.motion.occlusion.OcclusionDetector.step`,
   Eq. 1-2: smoothed confidence + GRU offset from the past).
3. lift: the temporal lifter of ``unveil run`` (:func:`unveil.motion.tcn.lift`) on the trailing
   window of the last :data:`WINDOW` frames; the pose is read ``delay`` frames before the window's
   end (so it sees ``delay`` frames of future instead of the offline 40).
4. completion: MoPO's motion predictor (:class:`unveil.motion.predict.NumpyPredictor`, 16 past
   output frames -> next) fills the joints the detector calls hidden, blended with the lifter's
   own estimate by ``exp(-frames since seen / 30)`` (as the offline ``mopo-bidir-blend`` row, forward only).
5. body: shape from the bone lengths seen so far (refitted at 1, 8, 30, 90 frames, then fixed),
   swing-twist IK (FIK, :func:`unveil.fit.ik.joints_to_rotations`) per frame, and the root by
   reprojection (:func:`unveil.trajectory.camera.root_translation`) over the last 30 emitted frames.

Each line: ``{"source_frame" (the newest frame), "time" (its video time, s), "latency_ms" (capture
of the newest frame -> this line), "delay_frames", "people": [{"id", "frame" (the frame this pose
is for: ``delay`` processed frames before the newest), "keypoints2d" (17,3)
COCO-17 px + score, "occluded" (17) bool, "occluded24" (24) bool (the SMPL-24 joints hidden, i.e.
inferred), "joints_cam" (24,3) m, "global_orient" (3),
"body_pose" (23,3) axis-angle, "transl" (3) m, "shape" (S)}]}``. Offline ``unveil run`` stays the
accurate mode: ``unveil bench live`` measures what this one gives up (docs/live.md).

``--ws [PORT]`` also serves every line on ``ws://127.0.0.1:PORT`` (:mod:`unveil.live_ws`; the
optional extra ``unveil[live]``; slow clients drop frames, the pipeline never waits for them) and
writes the live view ``live.html`` (:mod:`unveil.live_page`) that draws them.
"""

from __future__ import annotations

import argparse
import json
import math
import queue
import sys
import threading
import time
from collections import deque
from pathlib import Path

import numpy as np

from .errors import UnveilError
from .live_ws import DEFAULT_PORT as DEFAULT_WS_PORT
from .live_ws import WsBroadcaster
from .runtime import pin_torch_threads
from .types import Camera
from .paths import cache_dir

WINDOW = 81            # trailing frames the lifter sees (its receptive field)
DELAY = 2              # default fixed latency in frames (future frames the lifter may see)
ROOT_WINDOW = 30       # emitted frames the reprojection root is solved over
SHAPE_AT = (1, 8, 30, 90)  # refit the body shape after this many frames of a person, then keep it
BLEND_TAU = 30.0       # frames: predictor weight exp(-d / tau) at d frames after a joint was last seen


# ------------------------------------------------------------------------------------ sources
class FrameSource:
    """Frames from a camera, file or stream, newest first: a reader thread decodes and keeps only
    the latest frame; :meth:`get` returns it (blocking) with its index and capture time.

    A file is played at its own frame rate (``realtime``; ``realtime=False``: every frame, as fast
    as the consumer takes them, nothing dropped). ``dropped`` counts frames replaced before they
    were taken.
    """

    def __init__(self, source: str, realtime: bool | None = None, max_frames: int | None = None):
        import av

        self.source = str(source)
        is_cam = self.source.isdigit()
        is_url = "://" in self.source
        try:
            if is_cam:
                fmt = "avfoundation" if sys.platform == "darwin" else "v4l2"
                dev = self.source if sys.platform == "darwin" else f"/dev/video{self.source}"
                self.container = av.open(dev, format=fmt)
            elif is_url:
                opts = {"rtsp_transport": "tcp"} if self.source.startswith("rtsp") else {}
                self.container = av.open(self.source, options=opts, timeout=10)
            else:
                if not Path(self.source).is_file():
                    raise UnveilError(f"video not found: {self.source}")
                self.container = av.open(self.source)
        except UnveilError:
            raise
        except Exception as e:
            raise UnveilError(f"cannot open live source {self.source} ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''})") from None
        if not self.container.streams.video:
            raise UnveilError(f"no video stream in {self.source}")
        st = self.container.streams.video[0]
        st.thread_type = "AUTO"
        self.fps = float(st.average_rate or st.guessed_rate or 30.0)
        if not 0 < self.fps <= 1000:
            self.fps = 30.0
        self.width, self.height = int(st.codec_context.width), int(st.codec_context.height)
        self.realtime = (not is_cam and not is_url) if realtime is None else realtime
        self.max_frames = max_frames
        self.dropped = 0
        self.read = 0
        self._cv = threading.Condition()
        self._slot = None
        self._done = False
        self._error: str | None = None
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        """Start reading (a file's clock starts now)."""
        self._thread.start()

    def _run(self):
        t0 = None
        try:
            for i, frame in enumerate(self.container.decode(video=0)):
                if self._stop or (self.max_frames and i >= self.max_frames):
                    break
                img = frame.to_ndarray(format="rgb24")
                if self.realtime:  # release frame i at its own time
                    if t0 is None:
                        t0 = time.perf_counter()
                    wait = t0 + i / self.fps - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                with self._cv:
                    if not self.realtime:
                        while self._slot is not None and not self._stop:
                            self._cv.wait(0.1)
                    if self._slot is not None:
                        self.dropped += 1
                    self._slot = (i, img, time.perf_counter())
                    self.read += 1
                    self._cv.notify_all()
        except Exception as e:
            self._error = f"{type(e).__name__}: {e}"
        finally:
            with self._cv:
                self._done = True
                self._cv.notify_all()

    def get(self):
        """The newest frame ``(index, rgb (H, W, 3) uint8, capture time)`` or None at the end."""
        with self._cv:
            while self._slot is None and not self._done:
                self._cv.wait(0.5)
            item, self._slot = self._slot, None
            self._cv.notify_all()
            return item

    def close(self):
        self._stop = True
        with self._cv:
            self._cv.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self.container.close()


# ---------------------------------------------------------------------------------- estimator
class _Person:
    """Per-person causal state (bounded: a few windows of frames)."""

    def __init__(self, pid: int, det):
        self.id = pid
        self.frames: deque = deque(maxlen=WINDOW)     # frame indices of the observations
        self.kp: deque = deque(maxlen=WINDOW)         # (17, 3) COCO-17 px + score
        self.occ: deque = deque(maxlen=WINDOW)        # (17,) causal detector: hidden
        self.det_state = det.init_state()
        self.out: deque = deque(maxlen=16)            # emitted root-relative joints (predictor input)
        self.since_seen = np.zeros(24)                # frames since each SMPL-24 joint was visible
        self.root_j: deque = deque(maxlen=ROOT_WINDOW)  # emitted body joints (root-relative)
        self.root_kp: deque = deque(maxlen=ROOT_WINDOW)
        self.shape_j: list = []                        # joints for the shape fit (first SHAPE_AT[-1])
        self.shape = None
        self.rest = None
        self.n = 0


class LiveEstimator:
    """Causal pose estimation from frames given one at a time.

    Args:
        camera: :class:`unveil.types.Camera` of the source.
        body_model: ``anny`` or a path (see ``unveil run --body-model``).
        delay: fixed latency in frames (0 = the newest frame's pose).
        redetect_every, tiles: the people tracker's settings (tiles off: near people only, faster).
        fill: fill hidden joints with the motion predictor.
    """

    def __init__(self, camera, body_model: str = "anny", delay: int = DELAY, redetect_every: int = 5,
                 tiles: bool = False, fill: bool = True, workers: int | None = None, mirror: bool = False):
        import torch

        from .body import load_body_model  # deferred: looked up at call time (tests substitute unveil.body.load_body_model)
        from .detect.people import PeopleTracker  # deferred: loads cv2, scipy
        from .motion import occlusion, predict, tcn  # deferred: loads torch

        if delay < 0 or delay >= WINDOW // 2:
            raise UnveilError(f"--delay must be in 0..{WINDOW // 2 - 1} frames")
        self.camera, self.delay, self.fill, self.mirror = camera, int(delay), fill, bool(mirror)
        self.tracker = PeopleTracker(redetect_every=redetect_every, tiles=tiles, workers=workers, min_len=1)
        self.det = occlusion.load("spatiotemporal")
        self.lifter = tcn.load()
        self.predictor = predict.NumpyPredictor(predict.load(16, 8))
        self.model = load_body_model(body_model)
        pin_torch_threads(1)  # small tensors: one thread (runtime.TORCH_THREADS)
        self.people: dict[int, _Person] = {}

    def step(self, i: int, img: np.ndarray) -> list[dict]:
        """Process frame ``i``; returns the people whose pose for frame ``i - delay`` is now known."""
        return self.advance(i, *self.observe(i, img))

    def observe(self, i: int, img: np.ndarray) -> tuple[list, set]:
        """The 2D half of :meth:`step`: people + keypoints on frame ``i``.

        Returns:
            ``[(id, (17, 3) COCO-17 px + score)]`` of the people seen on this frame, and the ids of
            every track still alive (held or briefly lost).
        """
        from .skeleton import to_coco17  # deferred: loads torch

        self.tracker.step(i, img)
        obs = [(tr.id, to_coco17(np.asarray(tr.last.keypoints, np.float32)[None], "blazepose33")[0])
               for tr in self.tracker.live if tr.last_frame == i and tr.last is not None]
        alive = {t.id for t in self.tracker.live + self.tracker.lost}
        self._bound_tracker()
        return obs, alive

    def advance(self, i: int, obs: list, alive: set) -> list[dict]:
        """The 3D half of :meth:`step` (occlusion, lift, fill, IK, root) on :meth:`observe`'s output."""
        import torch

        out = []
        for pid, kp17 in obs:
            p = self.people.get(pid)
            if p is None:
                p = self.people[pid] = _Person(pid, self.det)
            with torch.inference_mode():
                _, vis, p.det_state = self.det.step(torch.from_numpy(np.ascontiguousarray(kp17[None, :, 2])),
                                                    p.det_state)
            p.frames.append(i)
            p.kp.append(kp17)
            p.occ.append(~vis[0].numpy())
            r = self._emit(p)
            if r is not None:
                out.append(r)
        for pid in [k for k in self.people if k not in alive]:
            del self.people[pid]  # the track ended: its state goes
        return out

    def _bound_tracker(self, keep: int = 32) -> None:
        """Keep the tracker's per-track history bounded (it stores every frame for the offline run;
        following and re-identification read only the last few)."""
        t = self.tracker
        for tr in t.live + t.lost:
            if len(tr.frames) > 2 * keep:
                tr.trim(keep)
        t.done.clear()
        for lst in (t.processed, t.people_per_frame):
            if len(lst) > 2 * keep:
                del lst[:-keep]

    def _emit(self, p: _Person) -> dict | None:
        import torch

        from .fit.disentangle import bone_lengths  # deferred: loads torch
        from .fit.ik import joints_to_rotations, rotmats_to_axis_angle  # deferred: loads roma, torch
        from .fit.shape import fit_shape  # deferred: loads torch
        from .motion import tcn  # deferred: loads torch
        from .motion.predict import occluded_smpl24  # deferred: loads torch
        from .motion.stage import mirror_average  # deferred: loads torch
        from .skeleton import forward_kinematics  # deferred: loads torch
        from .trajectory.camera import root_translation  # deferred: loads scipy, torch

        n = len(p.kp)
        k = n - 1 - self.delay  # the emitted frame's place in the window
        if k < 0:
            return None
        def lift(kp):
            return tcn.lift(kp, self.camera, self.lifter)

        kp = np.stack(p.kp)
        # optional test-time mirror averaging as offline (motion.stage.mirror_average): two lifter
        # calls per frame; bench live: MPJPE 56.0 -> 52.4 mm but hidden joints 104.9 -> 110.2 and
        # +7 CPU-ms/frame (docs/live.md), so off by default here
        J = mirror_average(lift, kp, self.camera.cx) if self.mirror else lift(kp)
        J = J[k].astype(np.float64)  # (24, 3) root-relative
        occ17 = p.occ[k]
        occ24 = occluded_smpl24(occ17[None])[0]
        p.since_seen = np.where(occ24, p.since_seen + 1, 0.0)
        if self.fill and occ24.any() and p.out:
            hist = np.stack(p.out)
            hist = np.concatenate([np.repeat(hist[:1], 16 - len(hist), 0), hist]) if len(hist) < 16 else hist
            pred = self.predictor(hist.astype(np.float32))[0]
            w = np.exp(-p.since_seen / BLEND_TAU)[:, None]
            J = np.where(occ24[:, None], w * pred + (1 - w) * J, J)
        J = J - J[:1]
        p.out.append(J.astype(np.float32))
        p.n += 1
        if len(p.shape_j) < SHAPE_AT[-1]:
            p.shape_j.append(J)
        if p.n in SHAPE_AT or p.shape is None:
            shape = fit_shape(self.model, bone_lengths(np.stack(p.shape_j), None, robust=True))
            with torch.no_grad():
                rest = self.model.rest_joints(shape[None].to(self.model.dtype))[0].double()
            p.shape, p.rest = shape.float(), rest - rest[:1]
        with torch.no_grad():
            R = joints_to_rotations(torch.as_tensor(J[None]), p.rest)  # (1, 24, 3, 3) local
            _, pos = forward_kinematics(R.double(), p.rest[None])
            go, bp = rotmats_to_axis_angle(R)
        jb = pos[0].numpy()
        p.root_j.append(jb)
        p.root_kp.append(p.kp[k])
        root = root_translation(np.stack(p.root_j), np.stack(p.root_kp), self.camera)[-1]
        return {"id": int(p.id), "frame": int(p.frames[k]), "keypoints2d": p.kp[k], "occluded": occ17,
                "occluded24": occ24,
                "joints_cam": (jb + root).astype(np.float32), "global_orient": go[0],
                "body_pose": bp[0], "transl": root.astype(np.float32),
                "shape": p.shape.numpy()}

    def warmup(self, height: int, width: int) -> None:
        """Run every model once (a blank frame, a made-up person) so the first real frame does not
        pay for lazy loading; the state is reset after."""
        self.tracker.step(-1, np.zeros((height, width, 3), np.uint8))
        self.tracker.n_steps = 0  # the first real frame runs the person detector
        self.tracker.processed.clear()
        self.tracker.people_per_frame.clear()
        p = _Person(-1, self.det)
        rng = np.random.default_rng(0)
        kp = np.concatenate([rng.uniform(0.3, 0.7, (17, 2)) * [width, height], np.ones((17, 1))], 1)
        for i in range(self.delay + 2):
            p.frames.append(i)
            p.kp.append(kp.astype(np.float32))
            p.occ.append(np.arange(17) % 2 == 0)
            self._emit(p)

    def close(self):
        self.tracker.eng.close()


def _jsonable(rec: dict) -> dict:
    return {k: (np.round(v, 4).tolist() if isinstance(v, np.ndarray) and v.dtype.kind == "f"
                else v.tolist() if isinstance(v, np.ndarray) else v) for k, v in rec.items()}


def run_live(source: str, on_line=None, body_model: str = "anny", delay: int = DELAY, focal: float | None = None,
             realtime: bool | None = None, max_frames: int | None = None, redetect_every: int = 5,
             tiles: bool = False, fill: bool = True, workers: int | None = None, pipelined: bool = False,
             on_ready=None, mirror: bool = False) -> dict:
    """Run the live estimator on SOURCE; ``on_line(dict)`` receives every frame's record.

    ``pipelined``: the 2D front end and the 3D half run on two threads (frame t + 1's people while
    frame t's body), so the sustained rate is set by the slower half, but a frame waits in the
    hand-over for the 3D half (median latency ~2x, p95 165-275 ms on the shared 2-core box);
    False (the default): one thread, frame by frame (p95 85-143 ms there, a similar rate under
    load; docs/live.md has the repeated measurements).

    Returns stats: ``frames`` (processed), ``read``, ``dropped``, ``wall_s``, ``fps`` (processed frames
    per wall second), ``latency_ms`` (list: capture of each processed frame -> its line), ``delay_frames``,
    ``source_fps``, ``width``, ``height``, ``cpu_ms_per_frame`` (process CPU time, all threads, per
    processed frame: what a frame costs whatever else runs on the machine).

    ``on_ready(stats)``: called once the models are loaded, just before the source starts (a file's
    clock starts after it returns; ``unveil live --ws-wait`` waits there for a client); ``stats``
    has ``width``, ``height``, ``focal``, ``source_fps``.
    """
    from .skeleton import default_focal  # deferred: loads torch

    src = FrameSource(source, realtime=realtime, max_frames=max_frames)
    try:
        f = float(focal or default_focal(src.width, src.height))
        cam = Camera(focal=f, cx=src.width / 2.0, cy=src.height / 2.0, width=src.width, height=src.height)
        est = LiveEstimator(cam, body_model=body_model, delay=delay, redetect_every=redetect_every, tiles=tiles,
                            fill=fill, workers=workers, mirror=mirror)
        est.warmup(src.height, src.width)
        if on_ready is not None:
            on_ready({"width": src.width, "height": src.height, "focal": f, "source_fps": src.fps})
        src.start()
        c0 = time.process_time()
        lat, n, t0 = [], 0, None
        # two threads: the 2D front end (ai-edge-litert, outside the GIL) takes frame t + 1 while
        # the 3D half (torch / numpy) finishes frame t; a queue of one keeps them in step
        q: queue.Queue = queue.Queue(maxsize=1)

        def observed():
            """The next frame's ``(i, capture time, (observations, alive ids))``, None at the end."""
            item = src.get()
            if item is None:
                return None
            i, img, cap = item
            return i, cap, est.observe(i, img)

        def front():
            try:
                while True:
                    item = observed()
                    q.put(item)
                    if item is None:
                        return
            except BaseException as e:  # handed to the consumer
                q.put(e)

        th = threading.Thread(target=front, daemon=True)
        if pipelined:
            th.start()
        take = q.get if pipelined else observed
        while True:
            item = take()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            i, cap, (obs, alive) = item
            if t0 is None:
                t0 = cap
            people = est.advance(i, obs, alive)
            done = time.perf_counter()
            lat.append((done - cap) * 1000.0)
            n += 1
            if on_line is not None:
                on_line({"source_frame": i, "time": round(i / src.fps, 4),
                         "captured": cap, "emitted": done, "latency_ms": round(lat[-1], 2), "delay_frames": delay,
                         "people": [_jsonable(p) for p in people]})
        if pipelined:
            th.join()
        est.close()
        if src._error:
            raise UnveilError(f"live source failed: {src._error}")
        wall = (time.perf_counter() - t0) if t0 is not None else 0.0
        cpu = time.process_time() - c0  # all threads of this process (decoding included)
        return {"frames": n, "cpu_ms_per_frame": cpu / n * 1000 if n else None, "read": src.read, "dropped": src.dropped, "wall_s": wall,
                "fps": n / wall if wall > 0 else None, "latency_ms": lat, "delay_frames": delay,
                "source_fps": src.fps, "width": src.width, "height": src.height, "focal": f}
    finally:
        src.close()


def main(argv: list[str], prog: str = "unveil live") -> int:
    ap = argparse.ArgumentParser(prog=prog, description="online causal mode: one JSON line per frame on stdout "
                                 "(and on a local WebSocket with --ws)")
    ap.add_argument("source", help="camera index (0), video file (played at its frame rate), or rtsp:// / http:// URL")
    ap.add_argument("--delay", type=int, default=DELAY,
                    help=f"fixed latency in frames: the lifter sees this many future frames (default {DELAY})")
    ap.add_argument("--focal", type=float, default=None, help="focal length in pixels (default: 55 deg FoV guess)")
    ap.add_argument("--body-model", default="anny")
    ap.add_argument("--max-frames", type=int, default=None)
    ap.add_argument("--redetect", type=int, default=5, help="person detector every N frames (default 5)")
    ap.add_argument("--tiles", action="store_true", help="also detect on tiles (small people; slower)")
    ap.add_argument("--no-fill", dest="fill", action="store_false", default=True,
                    help="do not fill hidden joints with the motion predictor")
    ap.add_argument("--mirror", action="store_true", default=False,
                    help="average each lifter call with its mirror image, as `unveil run` does (seen joints "
                         "more accurate, hidden joints less, ~20 %% more CPU; docs/live.md)")
    ap.add_argument("--two-threads", dest="pipelined", action="store_true", default=False,
                    help="people and body on two threads (a higher frame rate on an idle machine, about "
                         "twice the latency); default: one thread")
    ap.add_argument("--one-thread", dest="pipelined", action="store_false",
                    help="people and body on one thread (the default; kept for scripts)")
    ap.add_argument("--as-fast-as-possible", dest="realtime", action="store_false", default=None,
                    help="a file: every frame, no pacing, none dropped")
    ap.add_argument("--ws", nargs="?", type=int, const=DEFAULT_WS_PORT, default=None, metavar="PORT",
                    help=f"also serve each line on ws://127.0.0.1:PORT (default {DEFAULT_WS_PORT}; 0: a free port) "
                         "and write the live view page (needs pip install 'unveil[live]')")
    ap.add_argument("--ws-wait", action="store_true",
                    help="with --ws: start the source only once a first client has connected")
    ap.add_argument("--ws-page", default=None, metavar="HTML",
                    help="with --ws: where to write the live view (default $UNVEIL_CACHE/live/live.html)")
    ap.add_argument("--no-stdout", dest="stdout", action="store_false", default=True,
                    help="with --ws: the lines go to the WebSocket only (not to stdout)")
    a = ap.parse_args(argv)
    if a.focal is not None and not (math.isfinite(a.focal) and a.focal > 0):
        raise UnveilError("--focal must be a finite number > 0")
    if a.max_frames is not None and a.max_frames < 1:
        raise UnveilError("--max-frames must be >= 1")
    if a.redetect < 1:
        raise UnveilError("--redetect must be >= 1")
    if a.ws is None and (a.ws_wait or a.ws_page or not a.stdout):
        raise UnveilError("--ws-wait, --ws-page and --no-stdout need --ws")
    ws = None
    if a.ws is not None:
        ws = WsBroadcaster(a.ws)  # the websockets extra is checked here, before any model loads
        ws.start()

    def emit(rec):
        rec = {k: v for k, v in rec.items() if k not in ("captured", "emitted")}
        line = json.dumps(rec, separators=(",", ":"))
        if ws is not None:
            ws.publish(line)
        if stdout_ok[0]:
            try:
                sys.stdout.write(line + "\n")
                sys.stdout.flush()
            except BrokenPipeError:
                if ws is None:
                    raise
                stdout_ok[0] = False  # stdout's reader went away: the WebSocket goes on

    stdout_ok = [a.stdout]

    def ready(info):
        if ws is None:
            return
        from .live_page import write_live_page  # deferred: loads torch

        page = Path(a.ws_page) if a.ws_page else cache_dir() / "live" / "live.html"
        try:
            page.parent.mkdir(parents=True, exist_ok=True)
            write_live_page(page, ws.url, focal=info["focal"], size=(info["width"], info["height"]))
        except OSError as e:
            raise UnveilError(f"cannot write the live page {page} ({e.strerror or e})") from None
        print(f"unveil live: serving {ws.url} (127.0.0.1 only); live view: {page.resolve().as_uri()}",
              file=sys.stderr, flush=True)
        if a.ws_wait:
            print("unveil live: waiting for a first WebSocket client ...", file=sys.stderr, flush=True)
            ws.wait_client()

    try:
        s = run_live(a.source, emit, body_model=a.body_model, delay=a.delay, focal=a.focal, realtime=a.realtime,
                     max_frames=a.max_frames, redetect_every=a.redetect, tiles=a.tiles, fill=a.fill, mirror=a.mirror,
                     pipelined=a.pipelined, on_ready=ready)
    except BrokenPipeError:
        return 0
    finally:
        wss = ws.close() if ws is not None else None
    lat = np.asarray(s["latency_ms"]) if s["latency_ms"] else np.zeros(1)
    print(f"unveil live: {s['frames']} frames in {s['wall_s']:.1f} s ({s['fps'] or 0:.1f} frames/s), "
          f"{s['dropped']} dropped; latency median {np.median(lat):.0f} ms, p95 {np.percentile(lat, 95):.0f} ms "
          f"+ {s['delay_frames']} frames delay", file=sys.stderr)
    if wss is not None:
        print(f"unveil live: WebSocket {wss['url']}: {wss['clients']} client(s); {wss['sent']} lines sent, "
              f"{wss['dropped']} dropped for slow clients", file=sys.stderr)
    return 0
