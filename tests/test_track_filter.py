"""--min-frames / --min-confidence: short or uncertain tracks are dropped after the 2D stage and listed
in summary.json; imported keypoints are kept unless the options are given."""

from __future__ import annotations

import numpy as np
import pytest

from unveil import pipeline
from unveil.cli import main
from unveil.errors import UnveilError
from unveil.io.keypoints_json import dump
from unveil.io.track_filter import MIN_CONFIDENCE, MIN_FRAMES, filter_tracks, seen_confidence
from unveil.types import Track2D


def _track(tid, n, conf, held=None):
    kp = np.full((n, 17, 3), conf, np.float32)
    kp[..., :2] = 100.0
    extras = {} if held is None else {"held": np.asarray(held, bool)}
    return Track2D(id=tid, frames=np.arange(n), keypoints=kp, extras=extras)


def test_rules_and_defaults():
    bridged = _track(3, 12, 0.8, held=[True] * 6 + [False] * 6)
    bridged.keypoints[6:, :, 2] = 0.0  # bridged frames carry confidence 0: not counted
    assert abs(seen_confidence(bridged) - 0.8) < 1e-6
    tracks = [_track(0, 30, 0.9), _track(1, MIN_FRAMES - 1, 0.9), _track(2, 30, MIN_CONFIDENCE - 0.1), bridged]
    kept, dropped = filter_tracks(tracks, None, None, detected=True)
    assert [t.id for t in kept] == [0, 3] and [d["id"] for d in dropped] == [1, 2]
    assert "--min-frames" in dropped[0]["reason"] and "--min-confidence" in dropped[1]["reason"]
    kept, dropped = filter_tracks(tracks, None, None, detected=False)  # imported: all kept
    assert len(kept) == 4 and dropped == []
    kept, _ = filter_tracks(tracks, 20, 0.0, detected=False)  # explicit options apply to imports too
    assert [t.id for t in kept] == [0, 2]


def test_pipeline_drops_and_reports(tmp_path):
    tr = [_track(0, 12, 0.9), _track(1, 6, 0.9)]
    dump(tmp_path / "kp.json", tr, fps=30, width=640, height=480)
    s = pipeline.run(keypoints_json=tmp_path / "kp.json", out_dir=tmp_path / "o", render=False, lift=False,
                     progress=False, min_frames=10)
    assert [t["id"] for t in s["tracks"]] == [0] and s["dropped_tracks"][0]["id"] == 1
    assert (tmp_path / "o" / "tracks" / "0.npz").is_file() and not (tmp_path / "o" / "tracks" / "1.npz").exists()
    s = pipeline.run(keypoints_json=tmp_path / "kp.json", out_dir=tmp_path / "o2", render=False, lift=False,
                     progress=False)
    assert len(s["tracks"]) == 2 and s["dropped_tracks"] == []


def test_bad_options_fail_before_any_work(tmp_path, capsys):
    tr = [_track(0, 12, 0.9)]
    dump(tmp_path / "kp.json", tr, fps=30, width=640, height=480)
    for kw in ({"overlay": "3d"}, {"rig_names": "ue5"}):
        with pytest.raises(UnveilError, match="unknown"):
            pipeline.run(keypoints_json=tmp_path / "kp.json", out_dir=tmp_path / "o", progress=False, **kw)
    assert not (tmp_path / "o").exists()
    for args in (["--min-frames", "0"], ["--min-confidence", "1.5"]):
        assert main(["run", "--keypoints", str(tmp_path / "kp.json"), "-o", str(tmp_path / "o2"), *args]) != 0
        err = capsys.readouterr().err.strip()
        assert err.startswith("unveil: error:") and len(err.splitlines()) == 1
