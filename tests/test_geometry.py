"""The shared maths of :mod:`unveil.geometry` (Kabsch fit, vertex normals, Savitzky-Golay)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import roma
import torch

from unveil.geometry import rigid_fit, savgol_joints, savgol_time, savgol_window, vertex_normals

SRC = Path(__file__).resolve().parents[1] / "src" / "unveil"


def test_rigid_fit_recovers_a_rigid_map_and_skips_nan_rows():
    rng = np.random.default_rng(0)
    R = roma.rotvec_to_rotmat(torch.tensor([0.3, -1.1, 2.0], dtype=torch.float64)).numpy()
    t = np.array([0.3, -1.2, 4.0])
    x = rng.normal(size=(50, 24, 3))
    y = x @ R.T + t
    x[3, 5] = np.nan  # a missing joint must not spoil the fit
    R2, t2 = rigid_fit(x, y)
    assert np.abs(R2 - R).max() < 1e-12 and np.abs(t2 - t).max() < 1e-12
    assert np.isclose(np.linalg.det(R2), 1.0)
    # a reflection in the data still gives a proper rotation
    Rr, _ = rigid_fit(x[:10, :4], x[:10, :4] * np.array([1.0, 1.0, -1.0]))
    assert np.isclose(np.linalg.det(Rr), 1.0)
    with pytest.raises(ValueError):
        rigid_fit(np.zeros((4, 3)), np.zeros((5, 3)))


def test_rigid_fit_agrees_with_roma():
    """roma.rigid_points_registration solves the same problem (not used: not bit-identical)."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(30, 3)), rng.normal(size=(30, 3))
    R, t = rigid_fit(x, y)
    Rr, tr = roma.rigid_points_registration(torch.from_numpy(x), torch.from_numpy(y))
    assert np.abs(R - Rr.numpy()).max() < 1e-10 and np.abs(t - tr.numpy()).max() < 1e-10


def test_vertex_normals_of_a_tetrahedron_and_fallback():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float64)
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    n = vertex_normals(v, f)
    assert n.dtype == np.float32 and np.allclose(np.linalg.norm(n, axis=1), 1, atol=1e-6)
    assert np.allclose(n[0], -np.ones(3) / np.sqrt(3), atol=1e-6)  # outward at the corner at the origin
    v5 = np.concatenate([v, [[5, 5, 5]]])  # an unused vertex: 0, or the fallback
    assert np.all(vertex_normals(v5, f)[4] == 0)
    assert np.all(vertex_normals(v5, f, fallback=(0, 1, 0), dtype=np.float32)[4] == [0, 1, 0])


def test_savgol_keeps_polynomials_and_shortens_the_window():
    line = (np.linspace(0, 1, 7)[:, None, None] * np.ones((1, 24, 3))).astype(np.float32)
    assert savgol_window(7, 9) == 7 and savgol_window(6, 9) == 5 and savgol_window(2, 9) == 0
    assert np.allclose(savgol_time(line, 9), line, atol=1e-6) and savgol_time(line, 9).dtype == np.float32
    short = line[:2]
    assert savgol_joints(short, 9) is short and np.array_equal(savgol_time(short, 9), short)
    sj = savgol_joints(line + 1.0, 9)
    assert np.all(sj[:, 0] == 0) and sj.dtype == np.float32
    assert np.array_equal(savgol_time(np.stack([line, line]), 9, axis=1)[1], savgol_time(line, 9))


def test_one_copy_of_the_shared_maths():
    """No second Kabsch / vertex-normal / Savitzky-Golay routine or torch thread setter in the package."""
    found = []
    for p in SRC.rglob("*.py"):
        text = p.read_text()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef) and node.name in ("kabsch", "rigid_fit", "vertex_normals", "_savgol"):
                found.append(f"{p.relative_to(SRC)}:{node.name}")
        if "savgol_filter" in text and p.name != "geometry.py":
            found.append(f"{p.relative_to(SRC)}:savgol_filter")
        if "set_num_threads(" in text and p.name != "runtime.py":
            found.append(f"{p.relative_to(SRC)}:set_num_threads")
    assert sorted(found) == ["geometry.py:rigid_fit", "geometry.py:vertex_normals"], found


def test_rigid_fit_centres_in_place_with_the_same_numbers():
    """rigid_fit copies each set once and centres it in place (memory on a long track): the same R, t
    bit for bit as centring into new arrays, and the caller's arrays are left as they were."""
    def reference(src, dst):
        src = np.asarray(src, np.float64).reshape(-1, 3)
        dst = np.asarray(dst, np.float64).reshape(-1, 3)
        ok = np.isfinite(src).all(1) & np.isfinite(dst).all(1)
        src, dst = src[ok], dst[ok]
        ms, md = src.mean(0), dst.mean(0)
        U, _, Vt = np.linalg.svd((src - ms).T @ (dst - md))
        d = np.sign(np.linalg.det(Vt.T @ U.T)) or 1.0
        R = Vt.T @ np.diag([1.0, 1.0, d]) @ U.T
        return R, md - R @ ms

    rng = np.random.default_rng(4)
    x = rng.normal(0, 1, (300, 24, 3))
    y = x @ np.linalg.qr(rng.normal(size=(3, 3)))[0].T + rng.normal(0, 0.01, x.shape) + 2.0
    for a, b in ((x, y), (x.astype(np.float32), y.astype(np.float32))):
        a0, b0 = a.copy(), b.copy()
        for got, want in zip(rigid_fit(a, b), reference(a, b)):
            assert np.array_equal(got, want)
        assert np.array_equal(a, a0) and np.array_equal(b, b0)
    y[5, 3, 1] = np.nan
    for got, want in zip(rigid_fit(x, y), reference(x, y)):
        assert np.array_equal(got, want)


def test_rotmats_to_axis_angle_in_chunks_equals_one_pass():
    import roma
    import torch

    from unveil.fit.ik import rotmats_to_axis_angle

    R = roma.random_rotmat(50 * 24, generator=torch.Generator().manual_seed(0)).reshape(50, 24, 3, 3)
    one = rotmats_to_axis_angle(R, chunk=0)
    for got, want in zip(rotmats_to_axis_angle(R, chunk=7), one):
        assert got.dtype == np.float32 and np.array_equal(got, want)
    assert one[0].shape == (50, 3) and one[1].shape == (50, 23, 3)
