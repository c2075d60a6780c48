"""BlazePose front end: crop geometry round-trips (no models needed); the models, when fetched, give
sane outputs (skipped cleanly when `unveil models fetch` has not been run)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unveil.detect import blazepose as bp
from unveil.detect.assets import model_status


def test_roi_from_points_upright_and_leaning():
    r = bp.roi_from_points((100, 200), (100, 100))  # scale point straight above the hips
    assert r.rotation == pytest.approx(0.0)
    assert r.size == pytest.approx(2 * 100 * bp.ROI_SCALE)
    r = bp.roi_from_points((100, 200), (200, 200))  # body pointing right: crop up = image right
    assert r.rotation == pytest.approx(math.pi / 2)
    # the crop's top-centre lies along centre -> scale point
    top = bp.crop_to_image(np.array([[128.0, 0.0]]), r, 256)[0]
    assert top[0] > r.cx and top[1] == pytest.approx(r.cy, abs=1e-6)


@pytest.mark.parametrize("rot", [0.0, 0.4, -1.2, 2.9])
def test_crop_geometry_round_trips(rot):
    roi = bp.Roi(cx=150.3, cy=90.7, size=123.0, rotation=rot)
    uv = np.random.default_rng(0).uniform(0, 256, size=(50, 2))
    xy = bp.crop_to_image(uv, roi, 256)
    np.testing.assert_allclose(bp.image_to_crop(xy, roi, 256), uv, atol=1e-9)
    # the crop's pixel at uv really samples the image at crop_to_image(uv): a bright dot moves with it
    img = np.zeros((200, 300, 3), np.uint8)
    p = np.array([170.0, 70.0])
    img[int(p[1]) - 1:int(p[1]) + 2, int(p[0]) - 1:int(p[0]) + 2] = 255
    patch = bp.crop(img, roi, 256).astype(float).sum(-1)
    ys, xs = np.nonzero(patch > 0.5 * patch.max())
    found = np.array([(xs * patch[ys, xs]).sum(), (ys * patch[ys, xs]).sum()]) / patch[ys, xs].sum()
    expected = bp.image_to_crop((p + 0.0)[None], roi, 256)[0]
    assert np.linalg.norm(found - expected) < 2.5


def test_landmark_decoding_projects_to_frame():
    """Model output in crop pixels -> frame pixels via the ROI, world landmarks rotated with it."""
    roi = bp.Roi(400.0, 300.0, 256.0, math.pi / 2)
    raw = np.zeros((39, 5), np.float32)
    raw[:, :2] = [128.0, 0.0]           # top centre of the crop
    raw[:, 3] = 10.0                    # visibility logit
    world = np.zeros((39, 3), np.float32)
    world[:, 1] = -1.0                  # 1 m "up" in the crop frame
    lm = bp.decode_landmarks(raw, 0.9, world, roi)
    np.testing.assert_allclose(lm.keypoints[0, :2], [528.0, 300.0], atol=1e-4)  # rotated 90 deg: to the right
    assert lm.keypoints[0, 2] > 0.99
    np.testing.assert_allclose(lm.world[0], [1.0, 0.0, 0.0], atol=1e-6)


def test_anchors_and_letterbox():
    a = bp.ssd_anchors()
    assert a.shape == (2254, 2) and a.min() > 0 and a.max() < 1
    img = np.full((100, 300, 3), 255, np.uint8)
    sq, scale, px, py = bp.letterbox(img, 224)
    assert sq.shape == (224, 224, 3) and px == 0 and py > 0
    # a frame point maps into the square at p * scale + pad
    assert sq[int(py + 50 * scale), int(150 * scale)].min() == 255 and sq[0, 0].max() == 0


def test_weighted_nms_merges_overlaps():
    boxes = np.array([[0, 0, 10, 10], [1, 0, 11, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.9, 0.6, 0.8], np.float32)
    kps = np.zeros((3, 4, 2), np.float32)
    out = bp.weighted_nms(boxes, scores, kps)
    assert len(out) == 2 and out[0][0] == pytest.approx(0.9)
    assert 0 < out[0][1][0] < 1  # score-weighted average of the first two boxes


models = pytest.mark.skipif(
    any(model_status(n) != "ok" for n in ("pose_detection.tflite", "pose_landmark_full.tflite")),
    reason="detector models absent: run `unveil models fetch`")


@models
def test_models_on_a_blank_frame():
    det = bp.PoseDetector(num_threads=1)
    lmk = bp.LandmarkModel(num_threads=1)
    img = np.full((240, 320, 3), 127, np.uint8)
    assert det(img) == []
    lm = lmk(img, bp.Roi(160, 120, 200, 0.0))
    assert lm.keypoints.shape == (33, 3) and lm.world.shape == (33, 3) and lm.aux.shape == (6, 2)
    assert 0 <= lm.score < 0.5  # no person here
    assert np.all((lm.keypoints[:, 2] >= 0) & (lm.keypoints[:, 2] <= 1))
