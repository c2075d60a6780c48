"""`unveil bench multiview` building blocks on synthetic multi-view data with known 3D.

No media and no ../shared needed: cameras, people and their 2D keypoints are made here; the
distorted projections come from OpenCV's ``cv2.projectPoints`` (independent of the module's own
``project``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from unveil.bench import multiview as mv
from unveil.errors import UnveilError

W, H = 1088, 1920

# cam01 of pose2sim's Demo_MultiPerson Calib.qca.txt (v0.10.49), fov markers left out
QCA_CAM01 = """<?xml version='1.0' encoding='ASCII'?>
<calibration type="regular"><cameras>
<camera active="1" avg-residual="0.402000" model="none" serial="cam01" viewrotation="0">
<fov_video bottom="1919" left="0" right="1087" top="0"/>
<transform r11="0.5536380477336265" r12="0.8046719867383512" r13="0.2144479094331626" r21="-0.4345300743838753"
 r22="0.05946489349975602" r23="0.8986921279821063" r31="0.7104002579937896" r32="-0.5907342212870501"
 r33="0.3825762057979294" x="1460.2323709212087" y="-1909.1590482454608" z="1896.5058524092062"/>
<intrinsic centerPointU="34110.316406" centerPointV="60680.792969" focalLengthU="107599.671875"
 focalLengthV="107588.828125" radialDistortion1="-0.046183" radialDistortion2="0.139983" radialDistortion3="0.000000"
 skew="0.000000" tangentalDistortion1="0.000608" tangentalDistortion2="0.00069"/>
</camera></cameras></calibration>"""


def look_at(centre, target, f=1500.0, pp=(551.0, 952.0), dist=(-0.08, 0.05, 0.001, -0.0015), name="c"):
    """OpenCV camera at ``centre`` looking at ``target`` in a Z-up world."""
    z = np.asarray(target, float) - centre
    z /= np.linalg.norm(z)
    x = np.cross(z, [0, 0, 1.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    R = np.stack([x, y, z])
    K = np.array([[f, 0, pp[0]], [0, f * 1.001, pp[1]], [0, 0, 1]])
    return mv.CalibCamera(name, K, np.asarray(dist, float), R, -R @ centre, (W, H))


def rig(n=4):
    return [look_at(np.array([4.0 * np.cos(a), 4.0 * np.sin(a), 1.8]), [0, 0, 1.0], name=f"cam0{i + 1}")
            for i, a in enumerate(np.linspace(0.3, 0.3 + 2 * np.pi, n, endpoint=False))]


def cv_project(cam, X):
    """Distorted pixels by OpenCV (reference implementation)."""
    uv, _ = cv2.projectPoints(np.asarray(X, np.float64).reshape(-1, 1, 3), cv2.Rodrigues(cam.R)[0], cam.t, cam.K, cam.dist)
    return uv.reshape(np.shape(X)[:-1] + (2,))


def qca_xml(cams) -> str:
    """Inverse of parse_qca: write cameras in the Qualisys layout (1/64 px units, mm, y-up camera)."""
    out = ["<calibration><cameras>"]
    for c in cams:
        M = np.diag([1.0, -1.0, -1.0]) @ c.R
        pos = c.center * 1000
        r = " ".join(f'r{i + 1}{j + 1}="{M[i, j]:.17g}"' for i in range(3) for j in range(3))
        out.append(
            f'<camera serial="{c.name}" model="none"><fov_video left="0" top="0" right="{c.size[0] - 1}" '
            f'bottom="{c.size[1] - 1}"/><transform {r} x="{pos[0]:.17g}" y="{pos[1]:.17g}" z="{pos[2]:.17g}"/>'
            f'<intrinsic focalLengthU="{c.K[0, 0] * 64:.17g}" focalLengthV="{c.K[1, 1] * 64:.17g}" '
            f'centerPointU="{c.K[0, 2] * 64:.17g}" centerPointV="{c.K[1, 2] * 64:.17g}" '
            f'radialDistortion1="{c.dist[0] * 64:.17g}" radialDistortion2="{c.dist[1] * 64:.17g}" '
            f'tangentalDistortion1="{c.dist[2] * 64:.17g}" tangentalDistortion2="{c.dist[3] * 64:.17g}"/></camera>')
    out.append("</cameras></calibration>")
    return "".join(out)


def test_parse_real_qca_fixture():
    (c,) = mv.parse_qca(QCA_CAM01)
    assert c.name == "cam01" and c.size == (1088, 1920)
    np.testing.assert_allclose(c.K[0, 0], 107599.671875 / 64)
    np.testing.assert_allclose(c.K[:2, 2], [34110.316406 / 64, 60680.792969 / 64])
    np.testing.assert_allclose(c.dist, np.array([-0.046183, 0.139983, 0.000608, 0.00069]) / 64)
    np.testing.assert_allclose(c.R @ c.R.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(c.R) == pytest.approx(1.0)
    np.testing.assert_allclose(c.center, [1.4602323709, -1.9091590482, 1.8965058524])
    # the calibration volume (the treadmill around the world origin) is in front of the camera and
    # the camera's image "down" points down in the Z-up world
    assert (c.R @ np.zeros(3) + c.t)[2] > 2.0
    assert c.R[1, 2] < -0.5


def test_parse_round_trip_and_bad_input():
    cams = rig()
    back = mv.parse_qca(qca_xml(cams))
    for a, b in zip(cams, back):
        assert a.name == b.name and a.size == b.size
        np.testing.assert_allclose(b.K, a.K, atol=1e-9)
        np.testing.assert_allclose(b.R, a.R, atol=1e-9)
        np.testing.assert_allclose(b.t, a.t, atol=1e-9)
        np.testing.assert_allclose(b.dist, a.dist, atol=1e-12)
    with pytest.raises(UnveilError):
        mv.parse_qca("<calibration><cameras></cameras></calibration>")
    with pytest.raises(UnveilError):
        mv.parse_qca("not xml")


def test_project_matches_opencv_and_undistort_inverts():
    cams = rig()
    rng = np.random.default_rng(0)
    X = rng.uniform([-0.8, -0.8, 0.0], [0.8, 0.8, 1.8], (200, 3))
    for c in cams:
        uv = cv_project(c, X)
        np.testing.assert_allclose(mv.project(c, X), uv, atol=1e-6)
        und = mv.undistort(c, uv)
        # cv2.undistortPoints inverts the distortion iteratively: measured max 7e-9 px; bound 1e-3 px
        assert np.abs(und - mv.project(c, X, distort=False)).max() < 1e-3


def noisy_views(cams, X, sigma, rng):
    """(N, V, 2) undistorted pixels of X seen by every camera with Gaussian pixel noise."""
    uv = np.stack([cv_project(c, X) + rng.normal(0, sigma, (len(X), 2)) for c in cams], 1)
    return np.stack([mv.undistort(c, uv[:, v]) for v, c in enumerate(cams)], 1)


def test_triangulation_recovers_known_3d_and_rejects_an_outlier_view():
    cams = rig()
    rng = np.random.default_rng(1)
    X = rng.uniform([-0.8, -0.8, 0.0], [0.8, 0.8, 1.8], (300, 3))
    uv = noisy_views(cams, X, 0.5, rng)
    conf = rng.uniform(0.6, 1.0, (len(X), len(cams)))
    Xh, used, resid = mv.triangulate_robust(cams, uv, conf)
    err = np.linalg.norm(Xh - X, axis=-1) * 1000
    # 0.5 px noise, 4 views at 4 m, f 1500: measured mean 1.4 mm, max 3.4 mm; bounds ~x1.8
    assert err.mean() < 2.5 and err.max() < 6.0
    assert used.all()
    # one view 80 px off on every third point: dropped there, the point stays within bounds
    bad = np.arange(0, len(X), 3)
    uv2 = uv.copy()
    uv2[bad, 2] += [80.0, -30.0]
    Xh2, used2, resid2 = mv.triangulate_robust(cams, uv2, conf)
    assert not used2[bad, 2].any() and used2[bad][:, [0, 1, 3]].all()
    assert resid2[bad, 2].min() > 50            # the outlier keeps its large residual (reported)
    err2 = np.linalg.norm(Xh2 - X, axis=-1) * 1000
    assert err2.max() < 7.0                      # 3 views left: measured max 4.0 mm
    # without rejection (plain weighted DLT) the same outliers pull the points by centimetres
    plain = mv.triangulate_dlt(cams, uv2, conf)
    assert np.linalg.norm(plain[bad] - X[bad], axis=-1).mean() * 1000 > 20   # measured 108 mm
    # fewer than two confident views: not triangulated
    conf3 = conf.copy()
    conf3[:5, 1:] = 0.1
    X3, used3, _ = mv.triangulate_robust(cams, uv, conf3)
    assert np.isnan(X3[:5]).all() and not used3[:5].any()


def test_fit_offsets_recovers_a_camera_shift_up_to_the_scene_translation_gauge():
    cams = rig()
    rng = np.random.default_rng(2)
    X = rng.uniform([-0.6, -0.6, 0.0], [0.6, 0.6, 1.8], (400, 3))
    true = np.zeros((4, 2))
    true[1] = [9.0, -6.0]
    uv = noisy_views(cams, X, 0.3, rng) + true[None]
    off, Xh, used, resid = mv.fit_offsets(cams, uv, np.ones((len(X), 4)))
    G = mv.translation_modes(cams, np.median(X, 0))
    expect = true.reshape(-1) - G @ np.linalg.lstsq(G, true.reshape(-1), rcond=None)[0]
    # measured: 0.05 px from the gauge-free part of the true shift; bound 0.5 px
    assert np.abs(off.reshape(-1) - expect).max() < 0.5
    assert np.median(resid[used]) < 0.8           # back to the noise level: measured 0.54 px (0.3 px sigma)
    _, used0, resid0 = mv.triangulate_robust(cams, uv, np.ones((len(X), 4)))
    assert np.median(resid0[used0]) > 2.0         # the shift is visible without the offsets: measured 3.4 px


def similarity_tangent_free(x, rng):
    """A random displacement of the points x (J, 3) orthogonal to every infinitesimal similarity
    (translation, rotation, scale), so Procrustes cannot reduce it (to first order)."""
    c = x - x.mean(0)
    basis = [np.tile(e, (len(x), 1)) for e in np.eye(3)]
    basis += [np.cross(e, c) for e in np.eye(3)] + [c]
    B = np.stack([b.reshape(-1) for b in basis], 1)
    d = rng.normal(size=x.size)
    d -= B @ np.linalg.lstsq(B, d, rcond=None)[0]
    return d.reshape(x.shape)


def test_limb_errors_known_perturbation():
    rng = np.random.default_rng(3)
    gt = rng.uniform(-0.5, 0.5, (6, 12, 3)) + [0, 0, 1.0]
    d = np.stack([similarity_tangent_free(g, rng) for g in gt])
    d *= 0.002 / np.linalg.norm(d, axis=-1).mean(-1)[:, None, None]   # mean 2 mm per joint and frame
    ang = 0.7
    Rz = np.array([[np.cos(ang), -np.sin(ang), 0], [np.sin(ang), np.cos(ang), 0], [0, 0, 1]])
    pred = 1.3 * (gt + d) @ Rz.T + [2.0, -1.0, 0.5]
    e = mv.limb_errors(pred, gt)
    # Procrustes maps pred back onto gt: it undoes the similarity, not the tangent-free displacement,
    # so PA-MPJPE is its 2 mm (exact to first order; second-order terms are ~1e-3 of it)
    np.testing.assert_allclose(e["pa_mpjpe"], 2.0, rtol=0.01)
    # mid-hip-aligned MPJPE sees the rotation and the scale: far above 2 mm
    assert (e["mpjpe"] > 100).all()
    # pure translation: zero mid-hip MPJPE; one joint 301 mm off = a flip frame
    e2 = mv.limb_errors(gt + [0.3, 0.1, -0.2], gt)
    np.testing.assert_allclose(e2["mpjpe"], 0.0, atol=1e-9)
    p3 = gt.copy()
    p3[0, 4] += [0.301, 0, 0]
    e3 = mv.limb_errors(p3, gt)
    assert e3["max_err"][0] == pytest.approx(301.0) and (e3["max_err"][1:] < 1e-6).all()
    assert e3["mpjpe"][0] == pytest.approx(301.0 / 12)
    # cross-view PA of two similar copies is 0; of a perturbed copy ~ the perturbation
    np.testing.assert_allclose(mv.cross_view_pa(gt, 1.3 * gt @ Rz.T + [2.0, -1.0, 0.5]), 0.0, atol=1e-9)
    assert mv.cross_view_pa(gt, gt + d)[0] == pytest.approx(2.0, rel=0.03)


def test_pipeline_to_world_keeps_pixels_and_depth():
    cam = rig()[0]
    rng = np.random.default_rng(4)
    X = rng.uniform([-0.5, -0.5, 0.0], [0.5, 0.5, 1.8], (50, 3))
    off = np.array([4.0, -3.0])
    uv = mv.project(cam, X, off, distort=False)
    z = (X @ cam.R.T + cam.t)[:, 2:]
    f_pipe, pp_pipe = cam.K[0, 0], np.array([W / 2, H / 2])     # the pipeline: image centre
    Xp = np.concatenate([(uv - pp_pipe) / f_pipe * z, z], 1)    # what a perfect monocular run writes
    np.testing.assert_allclose(mv.pipeline_to_world(cam, Xp, f_pipe, pp_pipe, off), X, atol=1e-9)


def test_reprojection_pct():
    f, pp = 1000.0, np.array([500.0, 500.0])
    X = np.array([[[0.0, 0.0, 2.0], [0.1, 0.2, 2.0]]])
    kp = np.array([[[500.0, 500.0, 0.9], [550.0 + 10.0, 600.0, 0.9]]])
    e = mv.reprojection_pct(X, kp, f, pp, np.array([200.0]))
    np.testing.assert_allclose(e, [0.0, 5.0])
    kp[0, 1, 2] = 0.2                                            # not visible: not scored
    assert mv.reprojection_pct(X, kp, f, pp, np.array([200.0])).size == 1


def stick_person(centre, T, rng, scale=1.0):
    """(T, 17, 3) a crude COCO-17 person standing at ``centre`` (Z up) swaying a little."""
    base = np.array([[0, 0, 1.6], [0.03, 0.03, 1.65], [-0.03, 0.03, 1.65], [0.08, 0, 1.62], [-0.08, 0, 1.62],
                     [0.2, 0, 1.4], [-0.2, 0, 1.4], [0.25, 0.05, 1.1], [-0.25, 0.05, 1.1], [0.28, 0.1, 0.85],
                     [-0.28, 0.1, 0.85], [0.1, 0, 0.9], [-0.1, 0, 0.9], [0.1, 0.05, 0.5], [-0.1, 0.05, 0.5],
                     [0.1, 0, 0.08], [-0.1, 0, 0.08]]) * scale
    t = np.arange(T)[:, None, None]
    sway = 0.1 * np.sin(t / 7.0 + rng.uniform(0, 6)) * np.array([1.0, 0.5, 0])
    return base[None] + np.asarray(centre) + sway


def two_people(T, rng):
    """Two stick people side by side (the second smaller), (T, 17, 3) each."""
    return stick_person([-0.5, 0.2, 0], T, rng), stick_person([0.5, -0.2, 0], T, rng, scale=0.9)


def make_track(cam, X, frames, rng, sigma=1.0):
    uv = cv_project(cam, X[frames]) + rng.normal(0, sigma, (len(frames), 17, 2))
    return {"frames": np.asarray(frames), "uv": mv.undistort(cam, uv), "conf": np.full((len(frames), 17), 0.9),
            "height": np.ptp(uv[..., 1], axis=1)}


def test_match_tracks_groups_people_and_ignores_a_single_view_bystander():
    cams = rig()
    rng = np.random.default_rng(5)
    T = 30
    A, B = two_people(T, rng)
    C = stick_person([0.0, 2.6, 0], T, rng)                 # bystander
    views = []
    for v, c in enumerate(cams):
        tr = {10 + v: make_track(c, A, np.arange(T), rng), 20 + v: make_track(c, B, np.arange(T), rng)}
        views.append(tr)
    # view 2: A's track is fragmented into two ids; view 0 sees the bystander
    views[2] = {7: make_track(cams[2], A, np.arange(0, 14), rng), 8: make_track(cams[2], A, np.arange(14, T), rng),
                22: views[2][22]}
    views[0][99] = make_track(cams[0], C, np.arange(T), rng)
    people = mv.match_tracks(cams, views, T)
    got = sorted(sorted(p) for p in people)
    assert got == [[(0, 10), (1, 11), (2, 7), (2, 8), (3, 13)], [(0, 20), (1, 21), (2, 22), (3, 23)]]
    # the same people with noisier keypoints are triangulated within a few cm
    tri = mv.triangulate_people(cams, views, [sorted(p) for p in got], T)
    err = np.linalg.norm(tri["X"][0] - A, axis=-1) * 1000
    assert np.nanmean(err) < 5.0                              # 1 px noise: measured 2.7 mm
    assert np.isfinite(tri["X"]).all()
    # the bootstrap floor estimates the ground truth's own PA error (known here)
    true_pa = np.mean([mv.limb_errors(tri["X"][i][:, 5:17], P[:, 5:17])["pa_mpjpe"] for i, P in enumerate((A, B))])
    floor = mv.floor_pa(cams, tri)
    assert 0.5 * true_pa < floor < 2.0 * true_pa                # measured: true 2.4 mm, floor 1.9 mm


def test_cli_bad_input_is_one_clear_error(tmp_path):
    out = str(tmp_path / "o")
    # `--run-args "--no-x"` must reach the pipeline, not be taken as a bench option by argparse
    with pytest.raises(UnveilError, match="calibration file not found"):
        mv.main(["--media", str(tmp_path), "-o", out, "--run-args", "--no-evidence-fit"])
    (tmp_path / "Calib.qca.txt").write_text(qca_xml(rig()))
    with pytest.raises(UnveilError, match="missing video"):
        mv.main(["--media", str(tmp_path), "-o", out])
    with pytest.raises(UnveilError, match="--tag"):
        mv.main(["--media", str(tmp_path), "-o", out, "--tag", "a/b"])
    assert not (tmp_path / "o").exists()


def with_outputs(cam, X, track):
    """Add what load_view reads from a track npz: a perfect monocular output in the pipeline's
    camera (principal point at the image centre), BlazePose-like hip-centred camera-axis landmarks
    and the detected keypoints."""
    fr = track["frames"]
    xc = X[fr] @ cam.R.T + cam.t
    pp = np.array([W / 2, H / 2])
    uv = xc[..., :2] / xc[..., 2:] * np.diag(cam.K)[:2] + cam.K[:2, 2]
    out = np.concatenate([(uv - pp) / cam.K[0, 0] * xc[..., 2:], xc[..., 2:]], -1)
    limb = list(mv.LIMB_COCO)
    track.update(focal=float(cam.K[0, 0]), pp=pp, out3d=out[:, limb], out3d_source="joints_cam",
                 kp=np.concatenate([mv.project(cam, X[fr]), track["conf"][..., None]], -1),
                 blaze3d=(xc - xc[:, 11:13].mean(1, keepdims=True))[:, limb])
    return track


def scored_scene(T=20):
    """Two people seen by the four-camera rig with perfect outputs (:func:`with_outputs`), triangulated."""
    cams = rig()
    rng = np.random.default_rng(6)
    A, B = two_people(T, rng)
    views = [{1: with_outputs(c, A, make_track(c, A, np.arange(T), rng, 0.5)),
              2: with_outputs(c, B, make_track(c, B, np.arange(T), rng, 0.5))} for c in cams]
    people = [[(v, 1) for v in range(4)], [(v, 2) for v in range(4)]]
    return cams, views, people, mv.triangulate_people(cams, views, people, T), T


def test_score_end_to_end_on_perfect_outputs_and_a_whole_body_flip():
    cams, views, people, tri, T = scored_scene()
    s = mv.score(cams, views, people, tri)
    u, b = s["unveil"], s["blazepose"]
    assert u["frames_scored"] == b["frames_scored"] == 2 * 4 * T
    # perfect outputs: what is left is the ground truth's own error (0.5 px noise): measured
    # PA 1.26 / MPJPE 1.68 mm for both rows, cross-view PA 0.0006 mm, reprojection median 0.04 %
    for row in (u, b):
        assert row["pa_mpjpe"] < 3.0 and row["mpjpe"] < 3.0 and row["frames_over_300mm"] == 0
        assert row["cross_view_pa"] < 0.1
    assert u["reproj_median_pct"] < 0.5
    for row in (u, b):   # the limb joints' depth relative to the mid-hip (camera frame): no error, no flip
        assert row["depth_rel_mm"] < 3.0 and row["depth_flips"] == 0 and row["depth_flip_joints_scored"] > 0
    # view 0's output of person A turned 180 degrees about the vertical through its mid-hip, in the
    # calibrated camera frame: PA undoes a rotation, MPJPE (mid-hip aligned) and the flip count see it
    tr = views[0][1]
    w = mv.pipeline_to_world(cams[0], tr["out3d"], tr["focal"], tr["pp"], tri["offsets"][0])
    hip = w[:, 6:8].mean(1, keepdims=True)
    w = (w - hip) * [-1, -1, 1] + hip
    xc = w @ cams[0].R.T + cams[0].t                    # back to the pipeline's camera frame
    uvp = xc[..., :2] / xc[..., 2:] * tr["focal"] + cams[0].K[:2, 2] + tri["offsets"][0]
    tr["out3d"] = np.concatenate([(uvp - tr["pp"]) / tr["focal"] * xc[..., 2:], xc[..., 2:]], -1)
    s2 = mv.score(cams, views, people, tri)["unveil"]
    assert s2["frames_over_300mm"] == T and s2["per_view"]["cam01"]["frames_over_300mm"] == T
    assert abs(s2["pa_mpjpe"] - u["pa_mpjpe"]) < 0.05      # measured 0.002 mm apart
    # one of person 0's four views is off by ~2 x the limb joints' distance from the vertical axis
    assert s2["per_person"][0]["mpjpe"] > 50 and s2["per_person"][1]["mpjpe"] < 3.0
    assert s2["per_view"]["cam01"]["mpjpe"] > 100          # measured 178 mm (half its samples flipped)
    assert s2["cross_view_pa"] < 0.1                       # PA between views is blind to a whole-body turn
    assert s2["depth_flips"] > 0 and s2["depth_rel_mm"] > u["depth_rel_mm"] + 5   # the turn puts front behind


def test_depth_errors_known_offsets_and_flips():
    rng = np.random.default_rng(0)
    g = rng.normal(0, 0.3, (4, 12, 3))
    g[:, 6], g[:, 7] = (0.1, 0.0, 5.0), (-0.1, 0.0, 5.0)     # hips at depth 5 m, mid-hip z = 5
    g[:, 2, 2] = 5.3                                          # left elbow 30 cm behind the mid-hip
    p = 1.5 * (g - g[:, 6:8].mean(1, keepdims=True)) + (0.0, 0.0, 3.0)   # another scale and origin
    e = mv.depth_errors(p, g)
    np.testing.assert_allclose(np.nan_to_num(e["depth"]), 0.0, atol=1e-6)
    assert not e["flip"].any() and not e["flip_scored"][:, [6, 7]].any()
    q = p.copy()
    q[:, 2, 2] = 3.0 - 1.5 * 0.3                              # the elbow in front instead: a flip, 600 mm off
    e2 = mv.depth_errors(q, g)
    assert e2["flip"][:, 2].all() and e2["flip"].sum() == 4
    assert e2["depth"][:, 2] == pytest.approx(np.full(4, 600.0), abs=60)   # scale refit moves it a little
    g2 = g.copy()
    g2[1, 3] = np.nan                                         # a missing joint is not scored
    assert np.isnan(mv.depth_errors(p, g2)["depth"][1, 3])
    with pytest.raises(ValueError):
        mv.depth_errors(p[:, :6], g[:, :6])


def test_blazepose_rows_as_it_comes_and_renamed():
    """Without a renamed copy the two BlazePose rows are the same; where unveil renamed a view's
    left/right (``blaze3d_renamed``, what ``load_view`` keeps of the npz before undoing
    ``lr_swapped``), only the renamed row changes."""
    cams, views, people, tri, T = scored_scene()
    s = mv.score(cams, views, people, tri)
    assert s["blazepose_renamed"] == s["blazepose"]
    tr = views[0][1]
    swapped = tr["blaze3d"][:, [1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10]]   # LIMB_COCO order: (left, right) pairs
    tr["blaze3d_renamed"], tr["blaze3d"] = tr["blaze3d"], swapped          # BlazePose swapped; unveil renamed it back
    s2 = mv.score(cams, views, people, tri)
    assert s2["blazepose_renamed"]["pa_mpjpe"] == pytest.approx(s["blazepose"]["pa_mpjpe"])
    assert s2["blazepose"]["pa_mpjpe"] > s["blazepose"]["pa_mpjpe"] + 5
    assert s2["unveil"] == s["unveil"]
