"""`unveil models build` cache handling, `unveil bench body` and `unveil body show`."""

from __future__ import annotations

import numpy as np
import pytest
import roma
import torch

from unveil.body import setup as body_setup
from unveil.skeleton import SMPL24_INDEX

from assets import need_anny_file


def test_models_build_keeps_only_the_compact_file(tmp_path, monkeypatch, capsys):
    cache = tmp_path / "anny"
    (cache / "v14").mkdir(parents=True)
    compact = cache / "v14" / "build_compact_model_data_abc.safetensors"
    compact.write_bytes(b"x" * 10)
    big = cache / "v14" / "load_data_def.safetensors"
    big.write_bytes(b"y" * 1000)
    other = cache / "v14" / "build_model_data_123.safetensors"
    other.write_bytes(b"z" * 100)
    monkeypatch.setenv("ANNY_CACHE_DIR", str(cache))
    body_setup.ensure_anny_cache(log=print)        # compact file present: no Anny build
    assert compact.exists() and not big.exists() and not other.exists()
    assert "deleted" in capsys.readouterr().out
    body_setup.ensure_anny_cache(log=print)        # idempotent, silent
    assert capsys.readouterr().out == ""


def _anny_or_skip():
    from unveil.body.base import load_body_model

    need_anny_file()
    torch.set_num_threads(1)
    return load_body_model("anny")


def test_bench_body_prints_a_table(capsys):
    _anny_or_skip()
    from unveil.bench.body import main

    assert main(["--model", "anny", "--batch", "1", "4", "--repeats", "2", "--warmup", "1"]) == 0
    out = capsys.readouterr().out
    row = [line for line in out.splitlines() if line.startswith("| anny |")]
    assert row, out
    cells = [c.strip() for c in row[0].strip("|").split("|")]
    assert cells[1] == "13718" and cells[2] == "10"
    assert float(cells[3]) > 0 and float(cells[4]) > 0


def test_show_renders_the_posed_body(tmp_path):
    body = _anny_or_skip()
    from PIL import Image

    from unveil.bench.body_show import pose_from_joints, render_png

    # mocap-like joints: the body's own rest pose with the left arm down, moved somewhere
    rot = torch.eye(3).repeat(1, 24, 1, 1)
    rot[0, SMPL24_INDEX["L_shoulder"]] = roma.rotvec_to_rotmat(torch.tensor([0.0, 0.0, -1.2]))
    with torch.no_grad():
        target = body(rot, transl=torch.tensor([[0.5, 0.9, -2.0]]))["joints"][0].numpy().astype(np.float64)
    verts, posed = pose_from_joints(body, target)
    assert np.abs(posed - target).max() < 1e-3        # IK + body reproduce their own joints
    out = tmp_path / "body.png"
    render_png(body, verts, target, out, width=160, height=200)
    img = np.asarray(Image.open(out))
    assert img.shape == (200, 160, 3)
    background = np.all(np.abs(img.astype(int) - img[0, 0].astype(int)) < 3, axis=-1)
    assert 0.1 < 1 - background.mean() < 0.8          # a body fills part of the frame


def test_show_cli_from_cmu_bvh(tmp_path, mocap_dir, capsys):
    _anny_or_skip()
    from unveil.bench.body_show import main

    out = tmp_path / "cmu.png"
    assert main(["--bvh", str(mocap_dir / "cmu" / "01_01.bvh"), "--frame", "10", "-o", str(out),
                 "--size", "120x160"]) == 0
    assert out.exists() and "posed from" in capsys.readouterr().out
