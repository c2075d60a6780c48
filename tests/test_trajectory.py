import numpy as np
import pytest
import roma
import torch

from unveil.skeleton import COCO17_TO_SMPL24, project
from unveil.trajectory.camera import root_normal_equations, root_translation, solve_root_banded
from unveil.trajectory.world import estimate_up, to_world, world_from_camera
from unveil.types import Camera

# a rough standing SMPL-24 skeleton, Y up, pelvis at 0.95 m
REST = np.array([
    [0, .95, 0], [.09, .88, 0], [-.09, .88, 0], [0, 1.05, 0], [.1, .5, 0], [-.1, .5, 0], [0, 1.18, 0],
    [.1, .08, 0], [-.1, .08, 0], [0, 1.25, 0], [.1, .02, .12], [-.1, .02, .12], [0, 1.45, 0],
    [.08, 1.38, 0], [-.08, 1.38, 0], [0, 1.6, 0], [.18, 1.4, 0], [-.18, 1.4, 0], [.45, 1.4, 0],
    [-.45, 1.4, 0], [.7, 1.4, 0], [-.7, 1.4, 0], [.78, 1.4, 0], [-.78, 1.4, 0]], dtype=np.float64)


def _walk(T=60):
    rng = np.random.default_rng(0)
    j = np.repeat(REST[None], T, 0)
    j[:, :, 0] += np.linspace(-1.5, 1.5, T)[:, None]         # walk sideways across the view
    j[:, :, 2] += np.linspace(0, 1.0, T)[:, None]
    j += rng.normal(0, 0.01, j.shape)
    return j


def _camera_view(joints_world, pitch_deg=15.0):
    # camera 4 m in front, 1.4 m high, pitched down; world Y up -> camera y down
    R_tilt = roma.rotvec_to_rotmat(torch.tensor([np.deg2rad(-pitch_deg), 0.0, 0.0], dtype=torch.float64)).numpy()
    flip = np.diag([1.0, -1.0, -1.0])  # world (y up, camera looking along -z) -> OpenCV
    R = R_tilt @ flip
    cam_pos = np.array([0.0, 1.4, 5.0])
    return (joints_world - cam_pos) @ R.T


def _keypoints(jc, cam):
    uv = project(jc, cam.focal, cam.principal_point)
    kp = np.zeros((jc.shape[0], 17, 3))
    for k, j in enumerate(COCO17_TO_SMPL24):
        if j >= 0:
            kp[:, k, :2] = uv[:, j]
            kp[:, k, 2] = 0.9
    return kp


def test_root_translation_recovers_camera_root():
    cam = Camera(focal=1000.0, cx=640, cy=360, width=1280, height=720)
    jc = _camera_view(_walk())
    kp = _keypoints(jc, cam)
    rel = jc - jc[:, :1]
    t = root_translation(rel, kp, cam)
    err = np.linalg.norm(t - jc[:, 0], axis=-1)
    assert err.max() < 0.05, err.max()


def test_root_translation_fills_unobserved_frames():
    cam = Camera(focal=1000.0, cx=640, cy=360, width=1280, height=720)
    jc = _camera_view(_walk())
    kp = _keypoints(jc, cam)
    kp[20:30, :, 2] = 0.0  # fully occluded stretch
    t = root_translation(jc - jc[:, :1], kp, cam)
    err = np.linalg.norm(t[20:30] - jc[20:30, 0], axis=-1)
    assert err.max() < 0.15, err.max()  # constant-velocity fill of a near-linear walk


def test_world_frame_recovers_up_and_floor():
    jw = _walk()
    jc = _camera_view(jw, pitch_deg=20.0)
    up = estimate_up(jc)
    true_up = _camera_view(np.array([[0, 1.0, 0]]), 20.0)[0] - _camera_view(np.array([[0, 0.0, 0]]), 20.0)[0]
    assert np.degrees(np.arccos(np.clip(up @ true_up, -1, 1))) < 3.0
    R, t = world_from_camera(jc)
    w = to_world(jc, R, t)
    assert abs(np.quantile(w[:, [7, 8, 10, 11], 1], 0.05)) < 0.02  # feet on y = 0
    assert (w[:, 15, 1] > 1.4).all()  # head up


_BODY = [k for k, j in enumerate(COCO17_TO_SMPL24) if j >= 0]     # the 12 body keypoints and their joints
_BODY_J = [COCO17_TO_SMPL24[k] for k in _BODY]


def _random_root_problem(T, rng, masked=()):
    """A random track: root-relative joints, noisy detections with random confidences, frames in
    ``masked`` without any confident keypoint."""
    cam = Camera(focal=1000.0, cx=640, cy=360, width=1280, height=720)
    root = np.stack([np.cumsum(rng.normal(0, 0.02, T)), 0.2 + np.cumsum(rng.normal(0, 0.02, T)),
                     4.0 + np.cumsum(rng.normal(0, 0.02, T))], -1)
    rel = rng.normal(0, 0.3, (T, 24, 3))
    rel[:, 0] = 0.0
    kp = _keypoints(rel + root[:, None], cam)
    kp[..., :2] += rng.normal(0, 4.0, kp[..., :2].shape)
    kp[..., 2] = rng.uniform(0.0, 1.0, kp.shape[:2])
    kp[list(masked), :, 2] = 0.0
    return rel, kp, cam


@pytest.mark.parametrize("T,masked", [(1, ()), (2, ()), (3, ()), (3, (1,)), (40, range(10, 25)),
                                      (40, (0, 1, 2, 39)), (2000, range(500, 900))])
def test_banded_root_solve_equals_the_sparse_solve(T, masked):
    """The banded Cholesky of the normal equations gives the sparse (SuperLU) solve's root: the same
    least squares, only the rounding differs (measured 2026-12-07: 0 in float32 on these but 2.4e-7 m on
    2,000 frames, one float32 step at 4 m; 1.5e-8 m in float64 on 10,000 random frames; bound 1e-6 m)."""
    rng = np.random.default_rng(T + len(masked))
    rel, kp, cam = _random_root_problem(T, rng, masked)
    sparse = root_translation(rel, kp, cam, solver="sparse")
    assert np.isfinite(sparse).all()
    banded = solve_root_banded(rel[:, _BODY_J], (kp[:, _BODY, 0] - cam.cx) / cam.focal,
                               (kp[:, _BODY, 1] - cam.cy) / cam.focal,
                               np.where(kp[:, _BODY, 2] >= 0.3, kp[:, _BODY, 2], 0.0))
    assert banded is not None     # the banded path itself, not its fallback
    np.testing.assert_allclose(banded, sparse, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(root_translation(rel, kp, cam), banded)


def test_banded_root_normal_matrix_is_the_sparse_one():
    """root_normal_equations writes AᵀA and Aᵀb of the sparse least squares (rebuilt here densely)."""
    rng = np.random.default_rng(3)
    T, B = 5, 12
    X, xn, yn = rng.normal(0, 0.3, (T, B, 3)), rng.normal(0, 0.2, (T, B)), rng.normal(0, 0.2, (T, B))
    w = rng.uniform(0, 1, (T, B)) * (rng.uniform(0, 1, (T, B)) > 0.3)
    rows, rhs = [], []
    for t in range(T):
        for k in range(B):
            for axis, c in ((0, xn[t, k]), (1, yn[t, k])):
                r = np.zeros(3 * T)
                r[3 * t + axis], r[3 * t + 2] = w[t, k], -c * w[t, k]
                rows.append(r)
                rhs.append((c * X[t, k, 2] - X[t, k, axis]) * w[t, k])
    for d in range(3):
        for i in range(1, T - 1):
            r = np.zeros(3 * T)
            r[[3 * (i - 1) + d, 3 * i + d, 3 * (i + 1) + d]] = 0.7, -1.4, 0.7
            rows.append(r)
            rhs.append(0.0)
    for t in range(T):
        r = np.zeros(3 * T)
        r[3 * t + 2] = 1e-3
        rows.append(r)
        rhs.append(1e-3 * 4.0)
    A, b = np.array(rows), np.array(rhs)
    ab, atb = root_normal_equations(X, xn, yn, w, smooth=0.7)
    N = np.zeros((3 * T, 3 * T))
    for k in range(ab.shape[0]):
        for j in range(3 * T - k):
            N[j + k, j] = N[j, j + k] = ab[k, j]
    np.testing.assert_allclose(N, A.T @ A, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(atb, A.T @ b, rtol=1e-12, atol=1e-14)


def test_undetermined_root_falls_back_to_the_sparse_solver():
    """A frame without keypoints and no smoothness prior to bridge it (T < 3): the banded matrix is
    singular, root_translation gives the sparse solver's result (NaN, as before the banded solve)."""
    rng = np.random.default_rng(5)
    rel, kp, cam = _random_root_problem(2, rng, masked=(1,))
    X = rel[:, _BODY_J]
    w = np.where(kp[:, _BODY, 2] >= 0.3, kp[:, _BODY, 2], 0.0)
    xn, yn = (kp[:, _BODY, 0] - cam.cx) / cam.focal, (kp[:, _BODY, 1] - cam.cy) / cam.focal
    assert solve_root_banded(X, xn, yn, w) is None
    with pytest.warns(Warning):
        sparse = root_translation(rel, kp, cam, solver="sparse")
    with pytest.warns(Warning):
        got = root_translation(rel, kp, cam)
    np.testing.assert_array_equal(got, sparse)


def test_root_translation_rejects_an_unknown_solver():
    rel, kp, cam = _random_root_problem(3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="solver"):
        root_translation(rel, kp, cam, solver="dense")


def test_normal_equations_in_chunks_are_the_same_numbers():
    """The rows' sums made a few frames at a time equal the sums over all frames at once, bit for bit."""
    rng = np.random.default_rng(7)
    T, B = 50, 12
    X, xn, yn = rng.normal(0, 0.3, (T, B, 3)), rng.normal(0, 0.2, (T, B)), rng.normal(0, 0.2, (T, B))
    w = rng.uniform(0, 1, (T, B)) * (rng.uniform(0, 1, (T, B)) > 0.3)
    ab, rhs = root_normal_equations(X, xn, yn, w, chunk=0)
    for chunk in (1, 7, 49):
        ab_c, rhs_c = root_normal_equations(X.astype(np.float32), xn, yn, w, chunk=chunk)
        ab_f, _ = root_normal_equations(X.astype(np.float32), xn, yn, w, chunk=0)
        np.testing.assert_array_equal(ab_c, ab_f)
        np.testing.assert_array_equal(ab_c, ab)          # X enters as float64 either way
        np.testing.assert_array_equal(rhs_c, root_normal_equations(X.astype(np.float32), xn, yn, w, chunk=0)[1])
    with pytest.raises(ValueError, match="xn"):
        root_normal_equations(X, xn[:, :5], yn, w)
