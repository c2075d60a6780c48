"""The stage loop (:mod:`unveil.stages`): one timing / error / caching policy for every stage, shown on
toy stages (no models), and the pipeline's stage table. The pipeline with stand-in stages:
tests/test_pipeline.py, tests/test_hostile_inputs.py; the real stages: tests/test_e2e.py."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from unveil import pipeline
from unveil.errors import UnveilError
from unveil.stages import RunContext, Stage, key_hash, run_stages, source_hash, stage_key, substitute

CALLS: list[str] = []


def _ctx(tmp_path, **opt) -> RunContext:
    return RunContext(out=tmp_path, opt=SimpleNamespace(**{"quiet": True, "scale": 2.0, "on": True, **opt}))


def _first(ctx):
    CALLS.append("first")
    ctx.stats = {"x": np.arange(4.0) * ctx.opt.scale}


def _second(ctx):
    CALLS.append("second")
    ctx.stats["y"] = ctx.stats["x"] + 1


def _toy_stages(second_run=_second) -> tuple[Stage, ...]:
    return (
        Stage("first", 1, _first, hashes=("stages.py",), key=lambda c: {"scale": c.opt.scale},
              save=lambda c: ({"x": c.stats["x"]}, {"note": "saved"}),
              load=lambda c, arr, info: setattr(c, "stats", {"x": arr["x"], "info": info["note"]})),
        Stage("second", 3, second_run, after="first", key=lambda c: {}, switch="on", off_note="second disabled",
              save=lambda c: ({"y": c.stats["y"]}, {}), load=lambda c, arr, info: c.stats.update(y=arr["y"]),
              soft=(Exception,), hard=(UnveilError,), failure="second failed ({kind}: {message})"),
    )


def test_cache_hit_rerun_and_invalidation_through_the_chain(tmp_path):
    CALLS.clear()
    ctx = run_stages(_toy_stages(), _ctx(tmp_path))
    assert CALLS == ["first", "second"] and ctx.completed == ["first", "second"] and ctx.cached == []
    np.testing.assert_array_equal(ctx.stats["y"], [1, 3, 5, 7])
    assert set(ctx.seconds) == set(ctx.cpu_seconds) == {"first", "second"}
    assert (tmp_path / "cache" / "first.npz").is_file() and (tmp_path / "cache" / "second.json").is_file()
    # same options: both from the cache, nothing computed
    ctx = run_stages(_toy_stages(), _ctx(tmp_path))
    assert CALLS == ["first", "second"] and ctx.cached == ["first", "second"] and ctx.stats["info"] == "saved"
    np.testing.assert_array_equal(ctx.stats["y"], [1, 3, 5, 7])
    # an option of the first stage: it re-runs, and so does the second (its "prev" changed)
    ctx = run_stages(_toy_stages(), _ctx(tmp_path, scale=3.0))
    assert CALLS[2:] == ["first", "second"] and ctx.cached == []
    np.testing.assert_array_equal(ctx.stats["y"], [1, 4, 7, 10])


def test_key_is_version_options_prev_and_declared_files(tmp_path):
    first, second = _toy_stages()
    ctx = _ctx(tmp_path)
    k1 = stage_key(first, ctx)
    assert k1 == {"v": 1, "scale": 2.0, "code": source_hash("stages.py")}
    ctx.keys["first"] = k1
    assert stage_key(second, ctx) == {"v": 3, "prev": key_hash(k1)}
    assert source_hash("stages.py") != source_hash("pipeline.py") and len(source_hash("stages.py")) == 12
    with pytest.raises(RuntimeError, match="chains onto 'first'"):
        stage_key(second, _ctx(tmp_path))  # the first stage's key is missing


def test_switch_off_is_a_note_and_the_stage_is_not_timed(tmp_path):
    CALLS.clear()
    ctx = run_stages(_toy_stages(), _ctx(tmp_path, on=False))
    assert CALLS == ["first"] and ctx.notes == ["second disabled"] and "second" not in ctx.seconds


def test_when_false_skips_silently(tmp_path):
    CALLS.clear()
    st = substitute(_toy_stages(), second=_second)
    st = (st[0], Stage("second", 1, _second, when=lambda c: False))
    ctx = run_stages(st, _ctx(tmp_path))
    assert CALLS == ["first"] and ctx.notes == [] and "second" not in ctx.seconds


def test_soft_failure_is_a_note_hard_failure_ends_the_run(tmp_path):
    def broken(ctx):
        raise ValueError("bad shape")

    ctx = run_stages(_toy_stages(broken), _ctx(tmp_path))
    assert ctx.notes == ["second failed (ValueError: bad shape)"] and ctx.completed == ["first"]
    assert "second" in ctx.seconds and not (tmp_path / "cache" / "second.npz").exists()

    def refused(ctx):
        raise UnveilError("refused")

    with pytest.raises(UnveilError, match="refused"):
        run_stages(_toy_stages(refused), _ctx(tmp_path))
    # a stage without `soft` (keypoints, write): any failure ends the run
    with pytest.raises(ValueError):
        run_stages((Stage("only", 1, broken),), _ctx(tmp_path))


def test_substitute_keeps_the_declaration_and_refuses_unknown_names():
    st = substitute(pipeline.STAGES, lift=_first)
    lift = next(s for s in st if s.name == "lift")
    real = next(s for s in pipeline.STAGES if s.name == "lift")
    assert lift.run is _first and (lift.hashes, lift.after, lift.key, lift.failure) == (
        real.hashes, real.after, real.key, real.failure)
    with pytest.raises(ValueError, match="no stage named lfit"):
        substitute(pipeline.STAGES, lfit=_first)


def test_pipeline_stage_table():
    """The order and chaining of the pipeline's stages, and every declared file pattern matching a file
    (a renamed module or weight file would otherwise silently drop out of the cache key)."""
    from unveil.stages import PACKAGE_DIR

    names = [s.name for s in pipeline.STAGES]
    assert names == ["keypoints", "keypoints", "lift", "fit", "trajectory", "evidence", "write", "export", "render"]
    assert {s.name: s.after for s in pipeline.STAGES if s.after} == {"lift": "keypoints", "fit": "lift",
                                                                     "evidence": "fit"}
    assert [s.name for s in pipeline.STAGES if s.cached] == ["keypoints", "lift", "fit", "evidence"]
    for s in pipeline.STAGES:
        for pattern in s.hashes:
            assert list(PACKAGE_DIR.glob(pattern)), (s.name, pattern)


def test_heap_is_trimmed_after_every_completed_stage(tmp_path, monkeypatch):
    """run_stages gives the C heap's free memory back after each stage (runtime.trim_heap), before
    the stage's status line, so no stage starts from the previous ones' high-water mark."""
    from unveil import stages

    seen = []
    monkeypatch.setattr(stages, "trim_heap", lambda: seen.append(list(CALLS)) or True)
    CALLS.clear()
    run_stages(_toy_stages(), _ctx(tmp_path))
    assert seen == [["first"], ["first", "second"]]
