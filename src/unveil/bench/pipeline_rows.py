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
from ..demo import load_motion
from ..fit.ik import rotmats_to_axis_angle
from ..fit.stage import fit_joints
from ..skeleton import forward_kinematics
from ..types import BodyTrack, Camera, Track3D


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


def evidence_speed(frames: int = 300, seed: int = 0, people: int = 1, closed_form_grad: bool = True) -> dict:
    """Frames per CPU-second of the evidence fit for one person (one torch thread, as the pipeline
    runs it) on the packaged demo walk: the body fitted to the walk, 4 m in front of a 1280x720
    camera, its keypoints projected with 1 % (of the height) pixel noise, the prior's pose bent by
    0.3 rad on the limbs; ``people`` copies of it fitted together (one optimisation, as the pipeline
    fits all tracks of a video); ``closed_form_grad``: :class:`EvidenceConfig`'s (False: autograd, the
    code before the closed-form gradient). Returns {"frames", "people", "cpu_s", "fps_cpu" (person-frames
    per CPU-second), "reproj_before_pct", "reproj_after_pct"}."""
    from dataclasses import replace

    import time

    import roma
    import torch

    from ..fit.evidence import EvidenceConfig, body_keypoints, default_offsets, fit_tracks  # deferred: name fit_tracks clashes with a module-level name

    model = _model()
    cam = Camera(1000.0, 640.0, 360.0, 1280, 720)
    J = np.asarray(load_motion()["joints"], np.float64)
    J = np.concatenate([J, J[::-1]] * (frames // (2 * len(J)) + 1))[:frames]
    res = fit_joints(J - J[:, :1], model, use_tik=False, refine_iters=0)
    R = res["rotmats"].double().clone()
    R[:, 0] = roma.rotvec_to_rotmat(torch.tensor([np.pi, 0.0, 0.0], dtype=torch.float64)) @ R[:, 0]
    shape = res["shape"].float()
    with torch.no_grad():
        rest = model.rest_joints(shape).double()
        height = float(np.ptp(model.rest_vertices(shape)[:, 1].numpy()))
    glob, pos = forward_kinematics(R, (rest - rest[:1]).expand(frames, 24, 3))
    transl = torch.tensor([0.2, 0.1, 4.0], dtype=torch.float64)
    kp3 = body_keypoints(glob, pos + transl, default_offsets((rest - rest[:1]).numpy(), height)).numpy()
    rng = np.random.default_rng(seed)
    uv = kp3[..., :2] / kp3[..., 2:3] * cam.focal + [cam.cx, cam.cy]
    uv += rng.normal(0, 0.01 * cam.focal * height / 4.0, uv.shape)
    t2 = Track2D(0, np.arange(frames), np.concatenate([uv, np.full(uv.shape[:2] + (1,), 0.9)], -1).astype(np.float32),
                 "coco17")
    g = torch.Generator().manual_seed(seed)
    err = torch.zeros(frames, 24, 3, dtype=torch.float64)
    err[:, [1, 2, 4, 5, 16, 17, 18, 19]] = torch.randn(8, 3, generator=g, dtype=torch.float64) * 0.3 / np.sqrt(3)
    Rp = R @ roma.rotvec_to_rotmat(err)
    _, pp = forward_kinematics(Rp, (rest - rest[:1]).expand(frames, 24, 3))
    go, bp = rotmats_to_axis_angle(Rp.float())
    body = BodyTrack(0, np.arange(frames), go, bp, np.tile(transl.numpy(), (frames, 1)).astype(np.float32),
                     shape.numpy(), (pp + transl).float().numpy())
    t3 = Track3D(0, np.arange(frames), body.joints_cam, np.zeros((frames, 17), bool))
    items = [(replace(body, id=i), replace(t2, id=i), replace(t3, id=i)) for i in range(people)]
    c0 = time.process_time()
    _, diags = fit_tracks(items, cam, model, EvidenceConfig(calibrated_offsets=False, closed_form_grad=closed_form_grad))
    cpu = time.process_time() - c0
    diag = diags[0]
    return {"frames": frames, "people": people, "cpu_s": round(cpu, 3),
            "fps_cpu": round(people * frames / max(cpu, 1e-9), 1),
            "reproj_before_pct": round(diag["reproj_before_pct"], 2), "reproj_after_pct": round(diag["reproj_after_pct"], 2)}
