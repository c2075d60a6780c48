"""`unveil run`'s overlay: the mesh drawn through the run's camera, occluded joints as red rings, ids,
the three --overlay modes (stand-in body model: no build needed)."""

from __future__ import annotations

import numpy as np
import pytest
from test_gltf import standin_model

from unveil.io.overlay import draw_frame, occluded24, project_points, write_run_overlay
from unveil.io.video import iter_frames
from unveil.types import BodyTrack, Camera, Track2D, Track3D

CAM = Camera(focal=300.0, cx=160.0, cy=120.0, width=320, height=240)


def _body(model, frames=(1, 2)):
    T = len(frames)
    go = np.tile([np.pi, 0.0, 0.0], (T, 1)).astype(np.float32)  # Y-up body -> y-down camera
    transl = np.tile([0.0, 0.0, 4.0], (T, 1)).astype(np.float32)
    from unveil.io.body_arrays import pose_body

    bp = np.zeros((T, 23, 3), np.float32)
    shape = np.zeros(model.num_shape, np.float32)
    jc = pose_body(model, go, bp, shape, transl, vertices=False)["joints"]
    return BodyTrack(id=2, frames=np.asarray(frames), global_orient=go, body_pose=bp, transl=transl, shape=shape,
                     joints_cam=jc)


def test_draw_frame_mesh_rings_and_label():
    model = standin_model()
    b = _body(model)
    from unveil.io.body_arrays import pose_body

    v = pose_body(model, b.global_orient, b.body_pose, b.shape, b.transl)["vertices"][0]
    occ = np.zeros(24, bool)
    occ[20] = True  # L_wrist
    bg = np.full((240, 320, 3), 40, np.uint8)
    img = draw_frame(bg, CAM, [{"id": 2, "joints_cam": b.joints_cam[0], "vertices_cam": v, "faces": model.faces.numpy(),
                                "occluded24": occ, "color": (0.0, 1.0, 0.0), "label": "2"}])
    uv = project_points(b.joints_cam[0], CAM)
    changed = (img != 40).any(-1)
    assert changed.mean() > 0.01 and not changed[:5].any()  # the body, nothing at the top edge
    x, y = np.round(uv[20]).astype(int)
    ring = img[y - 6:y + 7, x - 6:x + 7].reshape(-1, 3)
    assert ((ring[:, 0] > 200) & (ring[:, 1] < 80)).any()  # a red ring at the occluded wrist
    x, y = np.round(uv[21]).astype(int)
    spot = img[y - 4:y + 5, x - 4:x + 5].reshape(-1, 3)
    assert not ((spot[:, 0] > 200) & (spot[:, 1] < 80)).any()  # the visible wrist: no red
    hx, hy = np.round(uv[15]).astype(int)
    assert (img[hy - 30:hy - 8, hx - 10:hx + 20] != bg[0, 0]).any()  # the id above the head


@pytest.mark.parametrize("mode", ["mesh", "2d", "both"])
def test_write_run_overlay_modes(tmp_path, mode):
    model = standin_model()
    b = _body(model)
    kp = np.zeros((2, 17, 3), np.float32)
    kp[..., :2] = 30.0
    kp[..., 2] = 0.9
    t2 = Track2D(id=2, frames=np.array([1, 2]), keypoints=kp, layout="coco17")
    t3 = Track3D(id=2, frames=np.array([1, 2]), joints=np.zeros((2, 24, 3)), occluded=np.zeros((2, 17), bool))
    frames = ((i, np.full((240, 320, 3), 40, np.uint8)) for i in range(3))
    res = write_run_overlay(tmp_path / "o.mp4", frames, [t2], CAM, 30.0, mode=mode, bodies=[b], tracks3d=[t3],
                            body_model=model)
    assert res["mesh"] == (mode != "2d") and res["notes"] == []
    got = dict(iter_frames(tmp_path / "o.mp4"))
    assert sorted(got) == [0, 1, 2]
    cx, cy = np.round(project_points(b.joints_cam[0, 0], CAM)).astype(int)  # the pelvis
    body_px = np.abs(got[1][cy - 3:cy + 4, cx - 3:cx + 4].astype(int) - 40).max()
    kp_px = np.abs(got[1][27:34, 27:34].astype(int) - 40).max()
    assert (body_px > 30) == (mode != "2d") and (kp_px > 30) == (mode != "mesh")
    assert np.abs(got[0].astype(int) - 40).max() < 12  # frame 0: nobody (codec noise only)


def test_occluded24_and_bad_mode(tmp_path):
    occ = np.zeros((1, 17), bool)
    occ[0, 9] = True  # COCO l_wrist
    o = occluded24(occ, "coco17")
    assert o.shape == (1, 24) and o[0, [20, 22]].all() and o.sum() == 2  # L_wrist, L_hand
    with pytest.raises(ValueError, match="overlay mode"):
        write_run_overlay(tmp_path / "x.mp4", iter([]), [], CAM, 30.0, mode="3d")
