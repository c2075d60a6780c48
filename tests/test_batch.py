"""`unveil batch` (issue 17): inputs, the Ray backend on short rendered videos (one corrupt), resume,
failures listed, and the one-line error without Ray."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys

import pytest

from unveil import batch, cli
from unveil.errors import UnveilError


def test_collect_inputs_folder_glob_list_and_names(tmp_path):
    d = tmp_path / "clips"
    (d / "sub").mkdir(parents=True)
    for n in ("a.mp4", "b.avi", "notes.md", "kp.json", "sub/a.mp4"):
        (d / n).write_bytes(b"x")
    lst = tmp_path / "list.txt"
    lst.write_text("# a comment\nclips/sub/a.mp4\n\nclips/a.mp4\nmissing.mp4\n")
    got = batch.collect_inputs([str(d), str(tmp_path / "clips" / "*" / "*.mp4"), str(lst)])
    assert [p.name for p in got] == ["a.mp4", "b.avi", "kp.json", "a.mp4", "missing.mp4"]  # de-duplicated
    assert batch.job_names(got) == ["a", "b", "kp", "a_2", "missing"]
    with pytest.raises(UnveilError, match="no such input"):
        batch.collect_inputs([str(tmp_path / "nope")])
    with pytest.raises(UnveilError, match="no videos"):
        batch.collect_inputs([str(d / "*.mkv")])


def test_batch_without_ray_is_one_line_naming_the_extra(tmp_path, monkeypatch, capsys):
    (tmp_path / "a.mp4").write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError, as when not installed
    rc = cli.main(["batch", str(tmp_path / "a.mp4"), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc != 0 and err.count("\n") == 1, err
    assert "pip install 'unveil[ray]'" in err and "--backend local" in err
    assert not (tmp_path / "out").exists()  # checked before any work


def test_local_backend_lists_failures_and_keeps_going(tmp_path, capsys):
    """The process-pool fallback (no Ray): a corrupt video and a listed path that does not exist both
    fail with their one-line errors; the batch finishes and exits 1."""
    (tmp_path / "bad.mp4").write_bytes(b"not a video" * 50)
    lst = tmp_path / "list.txt"
    lst.write_text("bad.mp4\ngone.mp4\n")
    out = tmp_path / "out"
    rc = cli.main(["batch", str(lst), "-o", str(out), "--backend", "local", "--no-render"])
    assert rc == 1
    res = json.loads((out / "batch.json").read_text())
    recs = {r["name"]: r for r in res["videos"]}
    assert recs["bad"]["status"] == "failed" and "not a readable video" in recs["bad"]["error"]
    assert recs["gone"]["status"] == "failed" and "not found" in recs["gone"]["error"]
    assert all("\n" not in r["error"] for r in recs.values())
    assert res["counts"]["failed"] == 2 and "0 done" in capsys.readouterr().out


@pytest.fixture()
def three_videos(walker_video, tmp_path):
    d = tmp_path / "videos"
    d.mkdir()
    shutil.copy(walker_video, d / "walk_a.mp4")
    shutil.copy(walker_video, d / "walk_b.mp4")
    (d / "corrupt.mp4").write_bytes(open(walker_video, "rb").read()[:400])  # a truncated mp4
    return d


def test_batch_on_local_ray_two_results_one_failure_and_resume(three_videos, tmp_path):
    ray = pytest.importorskip("ray", reason="Ray not installed: pip install 'unveil[ray]'")
    out = tmp_path / "out"
    opts = dict(render=False, export=False, evidence_fit=False, traj_prior=False)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        res = batch.run_batch([str(three_videos)], out, backend="ray", progress=False, **opts)
        recs = {r["name"]: r for r in res["videos"]}
        assert res["counts"] == {"ok": 2, "degraded": 0, "failed": 1, "skipped": 0}
        for n in ("walk_a", "walk_b"):
            r = recs[n]
            assert r["status"] == "ok" and r["frames"] == 24 and r["tracks"] == 1 and r["fps"] == 30.0
            assert (out / n / "tracks" / "0.npz").is_file() and {"keypoints", "lift", "fit"} <= set(r["seconds"])
            assert r["peak_rss_mb"] > 100  # a fresh worker with torch loaded: hundreds of MB
        assert recs["corrupt"]["status"] == "failed" and "\n" not in recs["corrupt"]["error"]
        assert len({recs[n]["pid"] for n in ("walk_a", "walk_b")}) == 2  # one fresh worker per task
        rows = list(csv.DictReader(open(out / "batch.csv")))
        assert [r["name"] for r in rows] == ["corrupt", "walk_a", "walk_b"] and rows[0]["error"]
        # rerun: the finished videos are skipped, the failed one is tried again
        res2 = batch.run_batch([str(three_videos)], out, backend="ray", progress=False, **opts)
        recs2 = {r["name"]: r for r in res2["videos"]}
        assert recs2["walk_a"]["skipped"] and recs2["walk_b"]["skipped"] and not recs2["corrupt"]["skipped"]
        assert recs2["walk_a"]["frames"] == 24 and recs2["corrupt"]["status"] == "failed"
        assert res2["counts"]["skipped"] == 2
        # a changed option is a different job: it runs again (and resumes from the stage cache)
        res3 = batch.run_batch([str(three_videos / "walk_a.mp4")], out, backend="ray", progress=False,
                               **{**opts, "export": True})
        assert not res3["videos"][0]["skipped"] and res3["videos"][0]["status"] == "ok"
        assert "lift" in json.loads((out / "walk_a" / "summary.json").read_text())["stages_cached"]
    finally:
        ray.shutdown()


def test_local_ray_instance_runs_tasks_at_normal_priority(three_videos, tmp_path):
    """A local Ray instance started by `unveil batch` runs its tasks at niceness 0 (Ray's default for
    workers is 15, which starved the tasks on a busy machine)."""
    ray = pytest.importorskip("ray", reason="Ray not installed: pip install 'unveil[ray]'")
    if ray.is_initialized():
        ray.shutdown()
    opts = dict(render=False, export=False, evidence_fit=False, traj_prior=False)
    try:
        res = batch.run_batch([str(three_videos / "walk_a.mp4")], tmp_path / "out", backend="ray", progress=False,
                              **opts)
        rec = res["videos"][0]
        assert rec["status"] == "ok" and rec["pid"] != os.getpid()
        assert rec["nice"] == os.nice(0)   # as this process (0 here), not Ray's 15
    finally:
        ray.shutdown()
