"""Video I/O: a synthetic video made here decodes with the right count/size/range; bad inputs give a
one-line error and a non-zero exit through the CLI."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from unveil.errors import UnveilError
from unveil.io.video import VideoWriter, iter_frames, probe, write_video


def _figure(i: int, w: int = 160, h: int = 120) -> np.ndarray:
    """A drawn stick figure walking right; frame index encoded in the background level."""
    img = np.full((h, w, 3), 20 + 8 * i, np.uint8)
    x = 30 + 4 * i
    cv2.circle(img, (x, 30), 8, (255, 200, 150), -1)
    cv2.line(img, (x, 38), (x, 75), (255, 255, 255), 3)
    cv2.line(img, (x, 75), (x - 10, 105), (255, 255, 255), 3)
    cv2.line(img, (x, 75), (x + 10, 105), (255, 255, 255), 3)
    return img


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    p = tmp_path_factory.mktemp("vid") / "walk.mp4"
    write_video(p, (_figure(i) for i in range(20)), fps=25)
    return p


def test_synthetic_video_decodes(video):
    info = probe(video)
    assert (info.width, info.height) == (160, 120)
    assert info.fps == pytest.approx(25.0)
    frames = list(iter_frames(video))
    assert [i for i, _ in frames] == list(range(20))
    assert all(f.shape == (120, 160, 3) and f.dtype == np.uint8 for _, f in frames)
    # the content survives encoding: background level rises with the frame index
    levels = [float(np.median(f)) for _, f in frames]
    assert np.all(np.diff(levels) > 0)
    assert abs(levels[5] - (20 + 8 * 5)) < 6


def test_range_stride_and_seek(video):
    got = [i for i, _ in iter_frames(video, start=7, end=16, stride=3)]
    assert got == [7, 10, 13]
    assert [i for i, _ in iter_frames(video, max_frames=4)] == [0, 1, 2, 3]
    # a seek lands on the right frame's content
    (i, f), = list(iter_frames(video, start=12, max_frames=1))
    assert i == 12 and abs(float(np.median(f)) - (20 + 8 * 12)) < 6


def test_writer_is_atomic(tmp_path):
    out = tmp_path / "x.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(out, 10) as w:
            w.write(_figure(0))
            raise RuntimeError("boom")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_bad_inputs_raise_one_line(tmp_path):
    txt = tmp_path / "notes.mp4"
    txt.write_text("this is not a video\n" * 20)
    for p in (tmp_path / "missing.mp4", txt, tmp_path):
        with pytest.raises(UnveilError) as e:
            list(iter_frames(p))
        assert "\n" not in str(e.value)
    with pytest.raises(UnveilError, match="no frames"):
        list(iter_frames(_empty_video(tmp_path)))


def _empty_video(tmp_path):
    import av

    p = tmp_path / "empty.avi"  # a valid AVI with a video stream and zero frames
    c = av.open(str(p), mode="w")
    s = c.add_stream("mjpeg", rate=25)
    s.width, s.height, s.pix_fmt = 64, 48, "yuvj420p"
    c.start_encoding()
    for pkt in s.encode():
        c.mux(pkt)
    c.close()
    assert p.stat().st_size > 0
    return p


@pytest.mark.parametrize("kind", ["missing", "text", "empty"])
def test_cli_bad_input_exit_code(tmp_path, capsys, kind):
    from unveil.cli import main

    if kind == "missing":
        p = tmp_path / "nope.avi"
    elif kind == "text":
        p = tmp_path / "t.avi"
        p.write_text("hello\n")
    else:
        p = _empty_video(tmp_path)
    rc = main(["run", str(p), "-o", str(tmp_path / "out"), "--no-render"])
    err = capsys.readouterr().err.strip()
    assert rc != 0
    assert err.startswith("unveil: error:") and len(err.splitlines()) == 1, err
