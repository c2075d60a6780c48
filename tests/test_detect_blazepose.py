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


def _lm_with_mask(roi, mask):
    z = np.zeros((33, 3), np.float32)
    return bp.Landmarks(1.0, z, np.zeros(33, np.float32), np.zeros(33, np.float32), z, np.zeros((6, 2), np.float32),
                        roi, mask=mask)


def _frame_mask(roi, x0, y0, x1, y1, shape=(300, 400)):
    """A frame-pixel rectangle as a mask in the crop of ``roi`` (drawn in the frame, then cropped)."""
    img = np.zeros(shape + (3,), np.uint8)
    img[y0:y1, x0:x1] = 255
    return bp.crop(img, roi, bp.LMK_SIZE)[:, :, 0] > 127


def test_mask_in_crop_moves_a_mask_between_crops():
    a = bp.Roi(150, 150, 200, 0.3)
    b = bp.Roi(230, 140, 160, -0.2)
    ma, mb = _frame_mask(a, 180, 100, 240, 200), _frame_mask(b, 180, 100, 240, 200)
    assert bp.mask_in_crop(ma, a, a).tolist() == ma.tolist()  # same crop: unchanged
    moved = bp.mask_in_crop(ma, a, b)
    # the same frame rectangle, cropped directly: equal up to the rectangle's resampled border
    assert (moved != mb).sum() < 0.05 * mb.sum() and mb.sum() > 2000
    far = bp.Roi(600, 600, 100, 0.0)  # outside a's crop: nothing
    assert not bp.mask_in_crop(ma, a, far).any()
    with pytest.raises(ValueError):
        bp.mask_in_crop(np.zeros((4, 5), bool), a, b)


def test_hide_mask_others_minus_own():
    roi = bp.Roi(150, 150, 200, 0.0)
    other = _lm_with_mask(bp.Roi(230, 150, 200, 0.0), _frame_mask(bp.Roi(230, 150, 200, 0.0), 180, 60, 280, 240))
    own = _lm_with_mask(roi, _frame_mask(roi, 100, 60, 200, 240))  # overlaps the other's x 180-200
    hide = bp.hide_mask(roi, [other], own)
    want = _frame_mask(roi, 200, 60, 280, 240)  # the other's pixels not claimed by the own mask
    assert hide is not None and (hide != want).sum() < 0.05 * want.sum()
    assert bp.hide_mask(roi, [other], None).sum() > hide.sum()
    # nothing to hide: no other people, others without a mask, a crop far away, or all claimed by own
    assert bp.hide_mask(roi, [], own) is None
    assert bp.hide_mask(roi, [_lm_with_mask(other.roi, None)], own) is None
    assert bp.hide_mask(bp.Roi(900, 900, 100, 0.0), [other], None) is None
    assert bp.hide_mask(roi, [other], _lm_with_mask(other.roi, other.mask)) is None


@models
def test_landmarks_segmentation_and_hide():
    """The model's segmentation is read (``mask``, crop pixels); ``hide`` paints the crop grey before
    the call (all hidden = the blank grey frame's output) and hidden pixels never count as the mask."""
    lmk = bp.LandmarkModel(num_threads=1)
    g = np.random.default_rng(0)
    img = g.integers(0, 255, (240, 320, 3)).astype(np.uint8)
    roi = bp.Roi(160, 120, 200, 0.0)
    lm = lmk(img, roi)
    assert lm.mask.shape == (bp.LMK_SIZE, bp.LMK_SIZE) and lm.mask.dtype == bool
    full = np.ones((bp.LMK_SIZE, bp.LMK_SIZE), bool)
    hidden = lmk(img, roi, hide=full)
    grey = lmk(np.full_like(img, bp.HIDE_FILL), roi)
    np.testing.assert_allclose(hidden.keypoints, grey.keypoints, atol=1e-4)
    assert not hidden.mask.any()
    assert not np.allclose(hidden.keypoints, lm.keypoints)
    with pytest.raises(ValueError):
        lmk(img, roi, hide=np.ones((10, 10), bool))


def test_hide_mask_leaves_a_duplicate_of_the_same_person_visible():
    """A second track on the same person (masks sharing > max_shared of the smaller one) is not
    hidden: the duplicate merge has to see it; below the bound it is."""
    roi = bp.Roi(150, 150, 200, 0.0)
    own = _lm_with_mask(roi, _frame_mask(roi, 100, 60, 200, 240))
    dup = _lm_with_mask(roi, _frame_mask(roi, 110, 60, 200, 160))  # upper body of the same person
    assert bp.hide_mask(roi, [dup], own) is None
    near = _lm_with_mask(roi, _frame_mask(roi, 160, 60, 260, 240))  # 40 of its 100 px columns shared
    assert bp.hide_mask(roi, [near], own, max_shared=0.5) is not None
    assert bp.hide_mask(roi, [near], own, max_shared=0.3) is None


def test_sample_mask_reads_frame_pixels_through_a_rotated_crop():
    roi = bp.Roi(150, 150, 200, 0.4)
    m = _frame_mask(roi, 120, 100, 180, 200)
    got = bp.sample_mask(m, roi, np.array([[150, 150], [130, 190], [100, 150], [150, 90], [900, 900]]))
    assert got.tolist() == [True, True, False, False, False]      # inside, inside, left, above, off-crop
    with pytest.raises(ValueError):
        bp.sample_mask(np.zeros((4, 5), bool), roi, np.zeros((1, 2)))


def test_covered_by_others_flags_keypoints_on_someone_else_only():
    """Own body x 100-200, the other person's x 180-280 (overlap 180-200): a keypoint at x 240 lies on
    the other person only (covered), at 190 on both (the limb may be in front: not covered), at 150
    on the own body only, at 330 on nobody (not covered: no one is in front there)."""
    roi, oroi = bp.Roi(150, 150, 200, 0.0), bp.Roi(230, 150, 200, 0.0)
    own = _lm_with_mask(roi, _frame_mask(roi, 100, 60, 200, 240))
    own.keypoints[:4, :2] = [[240, 150], [190, 150], [150, 150], [330, 150]]
    other = _lm_with_mask(oroi, _frame_mask(oroi, 180, 60, 280, 240))
    cov = bp.covered_by_others(own, [other])
    assert cov.shape == (33,) and cov[:4].tolist() == [True, False, False, False]
    assert not cov[4:].any()                                        # the rest sit at (0, 0): off every crop
    assert bp.covered_by_others(own, []).sum() == 0
    assert bp.covered_by_others(_lm_with_mask(roi, None), [other]) is None
    assert not bp.covered_by_others(own, [_lm_with_mask(oroi, None)]).any()
    # the same person held twice (masks shared > max_shared): not someone else
    dup = _lm_with_mask(roi, _frame_mask(roi, 105, 60, 250, 240))
    dup_kp = own.keypoints.copy()
    assert not bp.covered_by_others(own, [dup]).any()
    assert bp.covered_by_others(own, [dup], max_shared=1.0)[0]
    assert np.array_equal(own.keypoints, dup_kp)
