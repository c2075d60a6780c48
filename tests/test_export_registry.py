"""The exporter registry (:mod:`unveil.io.export_registry`): a new format is one class + one line."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from test_gltf import make_track, standin_model

from unveil.atomic import write_text
from unveil.io import export_registry
from unveil.io.exporter import Exporter
from unveil.io.exports import write_exports

IO = Path(__file__).resolve().parents[1] / "src" / "unveil" / "io"


class CsvExporter:
    name, suffix, scope, requires = "csv", ".csv", "track", ()

    def write(self, path, tracks, ctx):
        write_text(path, f"{tracks[0].id},{len(tracks[0].frames)},{ctx.fps}\n")


class CountExporter:
    name, suffix, scope, requires = "count", ".txt", "run", ("csv",)

    def write(self, path, tracks, ctx):
        write_text(path, " ".join(ctx.files) + "\n")


def test_builtin_exporters_follow_the_protocol():
    names = [e.name for e in export_registry.EXPORTERS]
    assert names == ["glb", "bvh", "trc", "scene", "viewer"]
    assert all(isinstance(e, Exporter) for e in export_registry.EXPORTERS)


def test_a_registered_exporter_is_written_and_can_be_switched_off(tmp_path, monkeypatch):
    monkeypatch.setattr(export_registry, "EXPORTERS", list(export_registry.EXPORTERS))
    export_registry.register(CsvExporter(), before="scene")
    export_registry.register(CountExporter())
    with pytest.raises(ValueError):
        export_registry.register(CsvExporter())
    with pytest.raises(ValueError):
        export_registry.register(object())
    model = standin_model()
    t, _ = make_track(model, T=4, seed=6)
    res = write_exports(tmp_path, [t], model, fps=30.0)
    assert res["notes"] == []
    assert res["files"] == ["3.glb", "3.bvh", "3.trc", "3.csv", "scene.glb", "viewer.html", "count.txt"]
    assert (tmp_path / "3.csv").read_text() == "3,4,30.0\n"
    assert (tmp_path / "count.txt").read_text().split() == res["files"][:-1]
    res = write_exports(tmp_path / "b", [t], model, fps=30.0, csv=False, glb=False)
    assert res["files"] == ["3.bvh", "3.trc", "viewer.html"]  # count needs csv, scene needs glb
    with pytest.raises(ValueError):
        write_exports(tmp_path / "c", [t], model, fps=30.0, nope=False)


def test_writers_do_not_import_back_from_exports():
    for name in ("gltf.py", "bvh_export.py", "trc.py", "viewer.py", "world_motion.py", "exporter.py"):
        tree = ast.parse((IO / name).read_text())
        mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not mods & {"exports", "unveil.io.exports"}, name


def test_heap_trimmed_after_every_file(tmp_path, monkeypatch):
    """Issue 17: the C heap is trimmed after each file (written or failed), so the writers' freed
    temporaries do not pile up over the files of a long video; the files are the same bytes."""
    import unveil.io.exports as ex

    model = standin_model()
    t, _ = make_track(model, T=6, seed=6)
    monkeypatch.setattr(ex, "trim_heap", lambda: False)
    ref = write_exports(tmp_path / "a", [t], model, fps=30.0)
    calls = []
    monkeypatch.setattr(ex, "trim_heap", lambda: calls.append(1) or True)
    monkeypatch.setattr(export_registry, "EXPORTERS", list(export_registry.EXPORTERS))
    export_registry.register(CsvExporter(), before="scene")
    monkeypatch.setattr(CsvExporter, "write", lambda self, path, tracks, ctx: 1 / 0)
    res = write_exports(tmp_path / "b", [t], model, fps=30.0)
    assert res["files"] == ref["files"] and len(res["notes"]) == 1 and "3.csv" in res["notes"][0]
    assert len(calls) == len(ref["files"]) + 1
    for f in ref["files"]:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_camera_to_world_computed_once_per_track(tmp_path, monkeypatch):
    """Issue 17: inside ``write_exports`` each track's camera -> world map (two float64 copies of its joints)
    is computed once for all the files, not once per writer; the files are the same bytes as with every
    writer computing its own."""
    import contextlib

    import unveil.io.exports as ex
    import unveil.io.world_motion as wm

    model = standin_model()
    tracks = [make_track(model, T=6, seed=6)[0], make_track(model, T=5, seed=7)[0]]
    tracks[1].id = 4
    calls = []
    real = wm._camera_to_world
    monkeypatch.setattr(wm, "_camera_to_world", lambda t: calls.append(t.id) or real(t))
    monkeypatch.setattr(ex, "shared_transforms", contextlib.nullcontext)
    ref = write_exports(tmp_path / "a", tracks, model, fps=30.0)
    n_each = len(calls)
    monkeypatch.undo()
    monkeypatch.setattr(wm, "_camera_to_world", lambda t: calls.append(t.id) or real(t))
    calls.clear()
    res = write_exports(tmp_path / "b", tracks, model, fps=30.0)
    assert n_each > 4 and sorted(calls) == [3, 4] and wm._SHARED is None
    assert res["files"] == ref["files"] and res["notes"] == ref["notes"] == []
    for f in ref["files"]:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
