"""Progress reporting (unveil.progress): one status line per stage without a terminal, bars with
one, nothing when disabled; end to end, `unveil run` on a video with stderr captured (a pipe, not a
TTY) prints exactly one status line per stage and no TFLite "INFO: Created ... XNNPACK" line."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from unveil.progress import Reporter, is_status_line

STATUS = re.compile(r"^unveil: \[(\w+)\] (done|cached|skipped|failed) in \d+\.\d s")
ROOT = Path(__file__).resolve().parents[1]


def test_one_line_per_stage_without_a_terminal():
    buf = io.StringIO()
    rep = Reporter(None, stream=buf, heartbeat_s=0)
    assert rep.enabled and not rep.bars  # StringIO is no terminal
    st = rep.start("keypoints")
    st.set_total(5)
    for i in range(5):
        st(i)
    st.end("done", "2 track(s)")
    rep.start("lift").end("cached")
    rep.start("trajectory").end("skipped", "traj_prior off")
    st = rep.start("fit")
    st.end("failed")
    st.end("done")        # idempotent: no second line
    rep.start("overlay", total=3)   # left open (an exception): close() ends it as failed
    rep.close()
    lines = buf.getvalue().splitlines()
    assert lines.pop(2) == "unveil: [trajectory] skipped; traj_prior off"
    assert [STATUS.match(ln).groups() for ln in lines] == [
        ("keypoints", "done"), ("lift", "cached"), ("fit", "failed"), ("overlay", "failed")], lines
    assert "(5 frames, " in lines[0] and lines[0].endswith("; 2 track(s)")
    assert all(is_status_line(ln) for ln in lines) and not is_status_line("unveil: error: x")
    with pytest.raises(ValueError):
        rep.start("x").end("ok")


def test_heartbeat_lines_and_disabled_reporter():
    buf = io.StringIO()
    rep = Reporter(True, stream=buf, heartbeat_s=1e-9)   # every frame is late enough
    st = rep.start("keypoints", total=3)
    for _ in range(3):
        time.sleep(0.001)
        st()
    st.end()
    lines = buf.getvalue().splitlines()
    assert lines[:3] == [ln for ln in lines[:3] if re.match(r"^unveil: \[keypoints\] \d/3 frames, \d+ s$", ln)]
    assert len(lines) == 4 and STATUS.match(lines[3])
    quiet = io.StringIO()
    rep = Reporter(False, stream=quiet, bars=True)
    st = rep.start("fit", total=2)
    st()
    st.end()
    rep.close()
    assert quiet.getvalue() == "" and not rep.bars


def test_bars_keep_the_status_lines():
    """With bars (a terminal), the status lines still come, outside the bars (tqdm.write)."""
    buf = io.StringIO()
    rep = Reporter(True, stream=buf, bars=True)
    st = rep.start("overlay", total=4)
    for _ in range(4):
        st()
    st.end()
    rep.start("fit").end()
    text = buf.getvalue()
    assert "\r" in text and "overlay" in text.split("unveil: [overlay]")[0]     # a bar was drawn first
    status = [ln for ln in re.split(r"[\r\n]", text) if STATUS.match(ln)]
    assert [STATUS.match(ln).group(1) for ln in status] == ["overlay", "fit"], text


def test_tflite_info_line_exists_unfiltered(require_detector):
    """Negative control for the end-to-end check below: the runtime does print the INFO line."""
    code = ("from ai_edge_litert.interpreter import Interpreter\nfrom unveil.detect.blazepose import model_path\n"
            "Interpreter(model_path=str(model_path('pose_detection.tflite')), num_threads=1).allocate_tensors()\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert r.returncode == 0, r.stderr
    assert "INFO: Created TensorFlow Lite XNNPACK delegate" in r.stderr


def test_run_prints_one_status_line_per_stage(walker_video, tmp_path):
    """`unveil run VIDEO` with stderr a pipe: one status line per stage, every stage, no TFLite INFO
    line, no bar (no carriage return); a rerun reports the cached stages; --no-progress: no lines."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    cmd = [sys.executable, "-m", "unveil", "run", str(walker_video), "-o", str(tmp_path / "out"), "--threads", "1"]

    def run(*extra):
        r = subprocess.run(cmd + list(extra), capture_output=True, text=True, timeout=600, env=env)
        assert r.returncode == 0, r.stderr[-3000:]
        return r.stderr

    err = run()
    assert "INFO:" not in err and "XNNPACK" not in err and "\r" not in err, err
    stages = [STATUS.match(ln).groups() for ln in err.splitlines() if STATUS.match(ln)]
    assert stages == [(s, "done") for s in ("keypoints", "lift", "fit", "trajectory", "evidence", "write",
                                            "export", "render")], err
    assert [ln for ln in err.splitlines() if not is_status_line(ln)] == [], err
    again = dict(STATUS.match(ln).groups() for ln in run().splitlines() if STATUS.match(ln))
    assert all(again[s] == "cached" for s in ("keypoints", "lift", "fit", "evidence")), again
    assert not [ln for ln in run("--no-progress").splitlines() if is_status_line(ln)]


def test_run_stages_reports_each_stage(tmp_path):
    """The stage loop (unveil.stages.run_stages) gives every stage its status line: done, a soft
    failure, switched off; none for a failure that ends the run; ctx.progress counts frames while a
    stage runs."""
    from types import SimpleNamespace

    from unveil.stages import RunContext, Stage, run_stages

    def frames(ctx):
        ctx.progress.set_total(3)
        for i in range(3):
            ctx.progress(i)

    def boom(ctx):
        raise RuntimeError("x")

    buf = io.StringIO()
    ctx = RunContext(out=tmp_path, opt=SimpleNamespace(quiet=True, off=False), reporter=Reporter(True, stream=buf))
    stages = [Stage("a", 1, frames), Stage("b", 1, boom, soft=(RuntimeError,)), Stage("c", 1, frames, switch="off"),
              Stage("d", 1, boom)]
    with pytest.raises(RuntimeError):
        run_stages(stages, ctx)
    lines = buf.getvalue().splitlines()
    # d ends the run: no status line (its error is the run's one error line)
    assert [ln.split(" in ")[0] for ln in lines] == ["unveil: [a] done", "unveil: [b] failed",
                                                     "unveil: [c] skipped; off off"], lines
    assert "(3 frames, " in lines[0] and lines[1].endswith("; RuntimeError") and ctx.progress is None
