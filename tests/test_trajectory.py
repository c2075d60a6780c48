import numpy as np
import roma
import torch

from unveil.skeleton import COCO17_TO_SMPL24, project
from unveil.trajectory.camera import root_translation
from unveil.trajectory.world import estimate_up, to_world, world_from_camera
from unveil.types import Camera

# a rough standing SMPL-24 skeleton, Y up, pelvis at 0.95 m
REST = np.array([
    [0, .95, 0], [.09, .88, 0], [-.09, .88, 0], [0, 1.05, 0], [.1, .5, 0], [-.1, .5, 0], [0, 1.18, 0],
    [.1, .08, 0], [-.1, .08, 0], [0, 1.25, 0], [.1, .02, .12], [-.1, .02, .12], [0, 1.45, 0],
    [.08, 1.38, 0], [-.08, 1.38, 0], [0, 1.6, 0], [.18, 1.4, 0], [-.18, 1.4, 0], [.45, 1.4, 0],
    [-.45, 1.4, 0], [.7, 1.4, 0], [-.7, 1.4, 0], [.78, 1.4, 0], [-.78, 1.4, 0]], dtype=np.float64)


def _walk(T=60):
    rng = np.random.default_rng(0)
    j = np.repeat(REST[None], T, 0)
    j[:, :, 0] += np.linspace(-1.5, 1.5, T)[:, None]         # walk sideways across the view
    j[:, :, 2] += np.linspace(0, 1.0, T)[:, None]
    j += rng.normal(0, 0.01, j.shape)
    return j


def _camera_view(joints_world, pitch_deg=15.0):
    # camera 4 m in front, 1.4 m high, pitched down; world Y up -> camera y down
    R_tilt = roma.rotvec_to_rotmat(torch.tensor([np.deg2rad(-pitch_deg), 0.0, 0.0], dtype=torch.float64)).numpy()
    flip = np.diag([1.0, -1.0, -1.0])  # world (y up, camera looking along -z) -> OpenCV
    R = R_tilt @ flip
    cam_pos = np.array([0.0, 1.4, 5.0])
    return (joints_world - cam_pos) @ R.T


def _keypoints(jc, cam):
    uv = project(jc, cam.focal, cam.principal_point)
    kp = np.zeros((jc.shape[0], 17, 3))
    for k, j in enumerate(COCO17_TO_SMPL24):
        if j >= 0:
            kp[:, k, :2] = uv[:, j]
            kp[:, k, 2] = 0.9
    return kp


def test_root_translation_recovers_camera_root():
    cam = Camera(focal=1000.0, cx=640, cy=360, width=1280, height=720)
    jc = _camera_view(_walk())
    kp = _keypoints(jc, cam)
    rel = jc - jc[:, :1]
    t = root_translation(rel, kp, cam)
    err = np.linalg.norm(t - jc[:, 0], axis=-1)
    assert err.max() < 0.05, err.max()


def test_root_translation_fills_unobserved_frames():
    cam = Camera(focal=1000.0, cx=640, cy=360, width=1280, height=720)
    jc = _camera_view(_walk())
    kp = _keypoints(jc, cam)
    kp[20:30, :, 2] = 0.0  # fully occluded stretch
    t = root_translation(jc - jc[:, :1], kp, cam)
    err = np.linalg.norm(t[20:30] - jc[20:30, 0], axis=-1)
    assert err.max() < 0.15, err.max()  # constant-velocity fill of a near-linear walk


def test_world_frame_recovers_up_and_floor():
    jw = _walk()
    jc = _camera_view(jw, pitch_deg=20.0)
    up = estimate_up(jc)
    true_up = _camera_view(np.array([[0, 1.0, 0]]), 20.0)[0] - _camera_view(np.array([[0, 0.0, 0]]), 20.0)[0]
    assert np.degrees(np.arccos(np.clip(up @ true_up, -1, 1))) < 3.0
    R, t = world_from_camera(jc)
    w = to_world(jc, R, t)
    assert abs(np.quantile(w[:, [7, 8, 10, 11], 1], 0.05)) < 0.02  # feet on y = 0
    assert (w[:, 15, 1] > 1.4).all()  # head up
