"""Whole-pipeline rows for ``unveil bench accuracy``: the default lift, the ARTS body fit and the
evidence fit (:mod:`unveil.fit.evidence`), scored on the fitted body's joints.

- ``pipeline-fit``: default MoPO lift (:data:`unveil.motion.stage.DEFAULT`) → ARTS fit
  (:func:`unveil.fit.stage.fit_tracks`, root by reprojection) — the pipeline with
  ``--no-evidence-fit``, without the trajectory prior;
- ``pipeline-evidence``: the same + the evidence fit (the default pipeline, without the trajectory
  prior, which changes the root only).
"""

from __future__ import annotations

import functools

import numpy as np

from ..body import load_body_model
from ..fit.evidence import evidence_tracks
from ..fit.stage import fit_tracks
from ..motion.stage import lift_tracks
from ..types import Track2D
from .registry import register


@functools.lru_cache(maxsize=1)
def _model():
    return load_body_model("anny")


def _row(evidence: bool):
    def fn(inputs) -> dict:
        kp = np.asarray(inputs.keypoints2d, np.float32)
        t2 = Track2D(id=0, frames=np.arange(len(kp)), keypoints=kp, layout="coco17",
                     world_landmarks=inputs.world_landmarks)
        t3 = lift_tracks([t2], inputs.camera)
        bodies = fit_tracks(t3, [t2], inputs.camera, _model())
        if evidence:
            bodies, _ = evidence_tracks(bodies, [t2], t3, inputs.camera, _model())
        jc = np.asarray(bodies[0].joints_cam, np.float32)
        return {"joints": jc - jc[:, :1], "joints_cam": jc}

    return fn


register("pipeline-fit", _row(False), group="pipeline", note="default lift + ARTS fit (--no-evidence-fit)")
register("pipeline-evidence", _row(True), group="pipeline", note="default lift + ARTS fit + evidence fit")
