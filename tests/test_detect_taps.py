"""Feature taps (unveil.detect.taps): the derived landmark model is a byte patch of the pinned
original, its original outputs are bit-identical to the original model's on real crops, tokens have
their documented shapes, and a missing derived model is a clear error that `unveil models fetch`
fixes without a download."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest

from unveil.detect import assets, taps
from unveil.detect import blazepose as bp
from unveil.errors import MissingAssetError
from unveil.types import Track2D

from assets import need_detector


def _original() -> bytes:
    need_detector()
    return assets.model_path("pose_landmark_full.tflite").read_bytes()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A models folder holding the two fetched originals and the tapped model derived from them
    (derived here, so the test does not depend on the user's cache having run the new fetch)."""
    need_detector()
    d = tmp_path_factory.mktemp("models")
    for n in assets.MODELS:
        shutil.copyfile(assets.model_path(n), d / n)
    mp = pytest.MonkeyPatch()
    mp.setenv("UNVEIL_MODELS", str(d))
    assets.derive()
    yield d
    mp.undo()


def test_derived_model_is_a_byte_patch_with_the_pinned_hash():
    src = _original()
    out = taps.derive_tapped(src)
    size, sha = assets.DERIVED["pose_landmark_full_taps.tflite"][1:]
    assert len(out) == size and hashlib.sha256(out).hexdigest() == sha
    assert taps.model_outputs(out) == list(taps.ORIGINAL_OUTPUTS) + [t.index for t in taps.TAPS]
    diff = [i for i in range(len(src)) if src[i] != out[i]]  # only the 4-byte outputs offset changed
    assert len(diff) <= 4 and diff[-1] - diff[0] < 4
    with pytest.raises(ValueError, match="unexpected landmark model outputs"):
        taps.derive_tapped(out)  # an already tapped model is not the pinned original
    with pytest.raises(ValueError, match="not a TFLite flatbuffer"):
        taps.derive_tapped(b"\0" * 64)


def test_tapped_outputs_are_bit_identical_on_real_crops(models, walker_video):
    from unveil.io.video import iter_frames

    det = bp.PoseDetector(num_threads=1)
    plain, tapped = bp.LandmarkModel(num_threads=1), bp.LandmarkModel(num_threads=1, taps=True)
    n = 0
    for _, img in iter_frames(walker_video, stride=6):
        for d in det(img):
            roi = d.roi()
            a, b = plain(img, roi), tapped(img, roi)
            for name, idx in plain.out.items():  # all five original outputs, bit for bit
                assert np.array_equal(plain.it.get_tensor(idx), tapped.it.get_tensor(tapped.out[name])), name
            assert a.tokens is None and np.array_equal(a.keypoints, b.keypoints) and a.score == b.score
            assert b.score > 0.5  # a real person crop, not an empty one
            assert {k: v.shape for k, v in b.tokens.items()} == taps.TOKEN_SHAPES
            assert all(v.dtype == np.float16 and np.isfinite(v).all() for v in b.tokens.values())
            assert float(np.abs(b.tokens["kp"]).max()) > 0  # the maps are not all zero
            n += 1
    assert n >= 3, f"only {n} detections on the walker video"


def test_tokens_pool_the_map_under_each_heatmap():
    rng = np.random.default_rng(0)
    maps = {t.token: rng.random(t.shape[1:]).astype(np.float32) for t in taps.TAPS}
    heat = np.full((64, 64, 39), -30.0, np.float32)
    heat[40:48, 16:24, 5] = 10.0  # keypoint 5's heatmap on one 8x8 cell: (row 5, col 2) of the 8x8 grid
    tok = taps.pool_tokens(heat, maps)
    assert {k: v.shape for k, v in tok.items()} == taps.TOKEN_SHAPES
    np.testing.assert_allclose(tok["kp"][5], maps["kp"][5, 2], rtol=2e-3, atol=1e-3)  # float16
    np.testing.assert_allclose(tok["mid"][5], maps["mid"][20:24, 8:12].mean((0, 1)), rtol=2e-3, atol=1e-3)
    np.testing.assert_allclose(tok["body"], maps["body"].reshape(-1), rtol=1e-3)
    w = taps.heatmap_weights(np.full((64, 64, 39), -1e4, np.float32))[8]  # no heatmap: uniform
    np.testing.assert_allclose(w, 1 / 64)
    with pytest.raises(ValueError, match="heatmaps must be"):
        taps.pool_tokens(heat[:32], maps)
    with pytest.raises(ValueError, match="tap kp must be"):
        taps.pool_tokens(heat, {**maps, "kp": maps["kp"][:4]})


def test_missing_derived_model_is_a_clear_error_and_fetch_derives_it(tmp_path, monkeypatch):
    need_detector()
    for n in assets.MODELS:
        shutil.copyfile(assets.model_path(n), tmp_path / n)
    monkeypatch.setenv("UNVEIL_MODELS", str(tmp_path))
    assert assets.model_status("pose_landmark_full_taps.tflite") == "missing"
    with pytest.raises(MissingAssetError, match="unveil models fetch"):
        bp.LandmarkModel(num_threads=1, taps=True)

    def no_download(*a, **k):
        raise AssertionError("fetch must not download when the originals are present")

    monkeypatch.setattr(assets.subprocess, "run", no_download)
    paths = assets.fetch(quiet=True)
    assert tmp_path / "pose_landmark_full_taps.tflite" in paths
    assert assets.model_status("pose_landmark_full_taps.tflite", verify=True) == "ok"
    bp.LandmarkModel(num_threads=1, taps=True)
    (tmp_path / "pose_landmark_full_taps.tflite").write_bytes(b"x" * 6_440_548)  # right size, wrong bytes
    assert assets.model_status("pose_landmark_full_taps.tflite", verify=True) == "bad hash"


def test_track_video_features_leave_the_keypoints_unchanged(models, walker_video):
    from unveil.detect.people import track_video

    plain = track_video(walker_video, workers=1, num_threads=1)
    feat = track_video(walker_video, workers=1, num_threads=1, features=True)
    assert len(plain) == len(feat) >= 1
    for a, b in zip(plain, feat):
        assert a.features is None
        assert np.array_equal(a.frames, b.frames) and np.array_equal(a.keypoints, b.keypoints)
        T = len(b.frames)
        assert {k: v.shape for k, v in b.features.items()} == {k: (T,) + s for k, s in taps.TOKEN_SHAPES.items()}
        held = np.asarray(b.extras["held"], bool)
        assert np.all(np.abs(b.features["kp"][held].astype(np.float32)).sum((1, 2)) > 0)
        assert not b.features["kp"][~held].any()


def test_stitch_join_and_slice_carry_features():
    from unveil.detect import stitch

    def part(f0, n, val):
        kp = np.ones((n, 33, 3), np.float32)
        return Track2D(0, np.arange(f0, f0 + n), kp, layout="blazepose33",
                       extras={"held": np.ones(n, bool)},
                       features={"kp": np.full((n, 33, 288), val, np.float16)})

    j = stitch.join([part(0, 3, 1), part(5, 2, 2)])
    assert j.features["kp"].shape == (7, 33, 288)
    assert j.features["kp"][:3].min() == 1 and j.features["kp"][5:].min() == 2
    assert not j.features["kp"][3:5].any()  # the gap: not held, zero tokens
    assert stitch.join([part(0, 3, 1), Track2D(0, np.arange(5, 7), np.ones((2, 33, 3), np.float32),
                                               extras={"held": np.ones(2, bool)})]).features is None


def test_run_image_features_in_the_keypoint_cache_only(models, walker_video, tmp_path, capsys):
    from unveil.cli import main as cli_main

    out = tmp_path / "out"
    rc = cli_main(["--threads", "1", "run", str(walker_video), "-o", str(out), "--no-lift", "--no-render",
                   "--image-features"])
    assert rc == 0, capsys.readouterr().err
    z = np.load(out / "cache" / "keypoints.npz")
    tid = int(z["ids"][0])
    T = len(z[f"t{tid}_frames"])
    assert z[f"t{tid}_f_kp"].shape == (T, 33, 288) and z[f"t{tid}_f_body"].shape == (T, 1152)
    assert not any("_f_" in k for k in np.load(out / "tracks" / f"{tid}.npz").files)


def test_run_image_features_without_the_derived_model_fails_before_out(tmp_path, walker_video, monkeypatch, capsys):
    from unveil.cli import main as cli_main

    need_detector()
    d = tmp_path / "models"
    d.mkdir()
    for n in assets.MODELS:
        shutil.copyfile(assets.model_path(n), d / n)
    monkeypatch.setenv("UNVEIL_MODELS", str(d))
    out = tmp_path / "out"
    capsys.readouterr()
    rc = cli_main(["--threads", "1", "run", str(walker_video), "-o", str(out), "--no-lift", "--image-features"])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and "pose_landmark_full_taps.tflite" in err and "unveil models fetch" in err, err
    assert len(err.splitlines()) == 1 and not out.exists()


def test_check_tap_details_rejects_a_wrong_model():
    good = ([{"index": i, "name": f"Identity_{i}", "shape": (1, 1)} for i in taps.ORIGINAL_OUTPUTS]
            + [{"index": t.index, "name": t.name_prefix + ";x", "shape": t.shape} for t in taps.TAPS])
    taps.check_tap_details(good)
    with pytest.raises(ValueError, match="expected"):
        taps.check_tap_details(good[:5])  # the original model: no taps
    bad = [dict(d) for d in good]
    bad[5]["shape"] = (1, 8, 8, 864)  # the 864-channel expansion instead of the 288 map
    with pytest.raises(ValueError, match="tap kp"):
        taps.check_tap_details(bad)
