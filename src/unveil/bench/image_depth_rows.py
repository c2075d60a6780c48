"""Render-benchmark rows with the image-depth blend in the lift stage (issue 18, :mod:`unveil.motion.image_depth`).

``pipeline-evidence`` (:mod:`unveil.bench.pipeline_rows`) with the lifted limb joints' depth relative
to the hips blended towards the image-evidence network's (share :data:`SHARE`):

- ``pipeline-evidence-imgdepth``: the network that reads the landmark model's image tokens;
- ``pipeline-evidence-imgdepth-kp``: its keypoints-only twin (the ablation);
- ``pipeline-evidence-imgdepth-rope``: the Rope part hierarchy (:class:`unveil.motion.rope.RopeNet`,
  ``weights/image_depth_rope.pt``: Indep + Inter + FulCo + WhoBo with ICL);
- ``pipeline-evidence-imgdepth-rope-varied``: the same Rope trained with more, varied renders
  (``weights/image_depth_rope_varied.pt``);
- ``pipeline-evidence-imgfusion``: no depth blend; MoPO's fusion over the image tokens
  (:mod:`unveil.motion.image_fusion`, ``weights/image_fusion.pt``) refines the lifted joints.

The rows need the rendered video (``--source render``): the tapped landmark model runs on it once
(cached next to the video as ``<stem>.evtok.npz``) and, per frame, the detected person nearest the
benchmark's own COCO-17 keypoints gives the BlazePose-33 keypoints and tokens. The lift, fit and
evidence fit are otherwise those of ``pipeline-evidence`` (same keypoints, same world landmarks).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from .. import atomic
from ..body import load_body_model
from ..errors import UnveilError
from ..fit.evidence import evidence_tracks
from ..fit.stage import fit_tracks
from ..motion.stage import DEFAULT, MoPO, confidence24
from ..training.image_depth import match_tracks
from ..types import Track2D, Track3D
from .registry import register

SHARE = 0.5


def tapped_detection(video: str, keypoints2d: np.ndarray) -> dict:
    """The tapped landmark model's keypoints and tokens per frame of ``video``, matched to the
    benchmark's (T,17,3) COCO-17 ``keypoints2d`` (cached as ``<stem>.evtok.npz``)."""
    path = Path(str(video)).with_suffix(".evtok.npz")
    kp = np.asarray(keypoints2d, np.float32)
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        if len(d["kp33"]) == len(kp):
            return d
    from ..detect.people import track_video  # deferred: loads cv2, scipy

    tracks = track_video(str(video), max_frames=len(kp), features=True, workers=1, num_threads=1)
    d = match_tracks(tracks, kp[..., :2])
    atomic.save_npz(path, **d)
    return d


@functools.lru_cache(maxsize=1)
def _body_model():
    return load_body_model("anny")


@functools.lru_cache(maxsize=4)
def _mopo(weights: str | None, fusion: str | None = None) -> MoPO:
    if weights is None:
        return MoPO(**DEFAULT, image_fusion=fusion)
    return MoPO(**DEFAULT, image_depth=SHARE, image_depth_weights=weights, image_fusion=fusion)


def _row(weights: str | None, fusion: str | None = None):
    def fn(inputs) -> dict:
        if inputs.video is None:
            raise UnveilError("the image-depth rows need rendered video (--source render)")
        kp = np.asarray(inputs.keypoints2d, np.float32)
        det = tapped_detection(inputs.video, kp)
        ev = {"kp33": det["kp33"], "features": {k: det[f"tok_{k}"] for k in ("kp", "mid", "body")}}
        model = _mopo(weights, fusion)
        res = model(kp, inputs.camera, world_landmarks=inputs.world_landmarks, image_evidence=ev)
        t2 = Track2D(id=0, frames=np.arange(len(kp)), keypoints=kp, layout="coco17",
                     world_landmarks=inputs.world_landmarks)
        t3 = Track3D(id=0, frames=np.arange(len(kp)), joints=res["joints"], occluded=res["occluded"],
                     confidence=confidence24(res["confidence"]))
        bodies = fit_tracks([t3], [t2], inputs.camera, _body_model())
        bodies, _ = evidence_tracks(bodies, [t2], [t3], inputs.camera, _body_model())
        jc = np.asarray(bodies[0].joints_cam, np.float32)
        return {"joints": jc - jc[:, :1], "joints_cam": jc}

    return fn


register("pipeline-evidence-imgdepth", _row("image_depth.pt"), group="pipeline",
         note=f"pipeline-evidence + limb depth blended ({SHARE}) towards the image-token network")
register("pipeline-evidence-imgdepth-kp", _row("image_depth_kponly.pt"), group="pipeline",
         note=f"pipeline-evidence + limb depth blended ({SHARE}) towards the keypoints-only twin")
register("pipeline-evidence-imgdepth-rope", _row("image_depth_rope.pt"), group="pipeline",
         note=f"pipeline-evidence + limb depth blended ({SHARE}) towards the Rope part hierarchy (RopeNet)")
register("pipeline-evidence-imgdepth-rope-varied", _row("image_depth_rope_varied.pt"), group="pipeline",
         note=f"pipeline-evidence + limb depth blended ({SHARE}) towards the Rope trained with session 7's varied renders")
register("pipeline-evidence-imgfusion", _row(None, "image_fusion.pt"), group="pipeline",
         note="pipeline-evidence + MoPO's cross-attention fusion over the image tokens (image_fusion.pt)")
