"""The ARTS stage (unveil.fit.stage.fit_tracks) on a stand-in body model and a synthetic track."""

import numpy as np
import roma
import torch

from test_fit_shape import StandIn
from unveil.fit.ik import rotations_to_joints
from unveil.fit.stage import fit_joints, fit_tracks
from unveil.skeleton import COCO17_TO_SMPL24, project
from unveil.types import BodyTrack, Camera, Track2D, Track3D


class StandInBody(StandIn):
    dtype = torch.float32


def _sequence(T=20, seed=0):
    model = StandInBody()
    g = torch.Generator().manual_seed(seed)
    shape = torch.tensor([0.3, 0.7, 0.4, 0.6])
    rest = model.rest_joints(shape[None])[0].double()
    base = torch.randn(24, 3, generator=g, dtype=torch.float64) * 0.3
    t = torch.linspace(0, 1, T, dtype=torch.float64)[:, None, None]
    R = roma.rotvec_to_rotmat(base * (0.5 + t))
    R[:, 0] = roma.rotvec_to_rotmat(torch.tensor([np.pi, 0.0, 0.0], dtype=torch.float64))  # Y-up -> camera y-down
    J = rotations_to_joints(R, rest).float().numpy()
    return model, shape, J - J[:, :1]


def test_fit_joints_recovers_a_model_posed_sequence():
    model, shape, J = _sequence()
    res = fit_joints(J, model, use_tik=False, refine_iters=20)
    assert res["rotmats"].shape == (20, 24, 3, 3)
    assert np.linalg.norm(res["joints"] - J, axis=-1).mean() < 0.005
    assert (res["shape"] - shape).abs().max() < 0.1


def test_fit_tracks_contract_and_translation():
    model, _, J = _sequence()
    cam = Camera(focal=1000.0, cx=640.0, cy=360.0, width=1280, height=720)
    root = np.array([0.2, 0.1, 4.0], np.float32)
    Jc = J + root
    kp = np.zeros((20, 17, 3), np.float32)
    for k, j in enumerate(COCO17_TO_SMPL24):
        if j >= 0:
            kp[:, k, :2] = project(Jc[:, j], cam.focal, cam.principal_point)
            kp[:, k, 2] = 1.0
    frames = np.arange(20)
    t3 = Track3D(id=7, frames=frames, joints=J, occluded=np.zeros((20, 17), bool))
    t2 = Track2D(id=7, frames=frames, keypoints=kp, layout="coco17")
    out = fit_tracks([t3], [t2], cam, model, use_tik=False, refine_iters=10)
    assert len(out) == 1 and isinstance(out[0], BodyTrack)
    bt = out[0]
    assert bt.global_orient.shape == (20, 3) and bt.body_pose.shape == (20, 23, 3)
    assert bt.shape.shape == (4,) and bt.joints_cam.shape == (20, 24, 3)
    assert np.abs(bt.transl - root).max() < 0.15
    assert np.linalg.norm(bt.joints_cam - Jc, axis=-1).mean() < 0.15
    # no 2D track: zero translation and a note
    bt2 = fit_tracks([t3], [], cam, model, use_tik=False, refine_iters=0)[0]
    assert np.all(bt2.transl == 0) and any("transl = 0" in n for n in bt2.notes)
