"""Where the error of a `unveil bench multiview` tag comes from (docs/bench/multiview.md "Seventh session").

    PYTHONPATH=src .venv/bin/python scripts/diag_multiview.py OUT TAG [--raw | --ray | --kp] [--save F.npz]

Re-uses the bench's matching and triangulation on ``OUT/TAG/camXX`` (the outputs of `unveil bench
multiview -o OUT --tag TAG`, media in media/pose2sim_multi) and prints: per-joint PA error, depth vs
in-plane error after Procrustes (camera axes), oracles (true hip-relative depth / true x-y), bone
lengths against the triangulation, PA on the distal joints, errors by keypoint confidence, per view
and person, percentiles, the mean with BlazePose, and each view's hip depth. Probes: ``--raw`` scores
the lifter's own ``joints_rel`` (at the fitted pelvis), ``--ray`` moves seen limb joints onto their 2D
rays at their depth, ``--kp`` moves shoulders / hips to BlazePose's placement. ``--save`` keeps every
scored sample (npz). Never run it on Demo_SinglePerson.
"""
import sys, json
from pathlib import Path
import numpy as np
from unveil.bench import multiview as mv
from unveil.metrics import similarity_align

out, tag = Path(sys.argv[1]), sys.argv[2]
media = Path("media/pose2sim_multi")
cams = mv.load_qca(media / "Calib.qca.txt")
dirs = [out / tag / c.name for c in cams]
views = [mv.load_view(d, c) for d, c in zip(dirs, cams)]
if "--ray" in sys.argv:   # probe: visible limb joints moved onto their own 2D rays (pipeline camera), depth kept
    for vw in views:
        for t in vw.values():
            X = t["out3d"].copy(); kp = t["kp"][:, list(mv.LIMB_COCO)]
            z_ = X[..., 2]
            ray = np.stack([(kp[..., 0] - t["pp"][0]) / t["focal"] * z_, (kp[..., 1] - t["pp"][1]) / t["focal"] * z_], -1)
            vis = (kp[..., 2] >= 0.5)[..., None]
            X[..., :2] = np.where(vis, ray, X[..., :2])
            t["out3d"] = X
if "--kp" in sys.argv:   # probe: the output's shoulders / hips moved to where BlazePose puts them (landmark_blend.TORSO_OFFSETS)
    for vw in views:
        for t in vw.values():
            X = t["out3d"].copy()   # LIMB order: 0/1 shoulders, 6/7 hips
            un = lambda v: v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)
            left = un(X[:, 6] - X[:, 7] + X[:, 0] - X[:, 1])
            up = 0.5 * (X[:, 0] + X[:, 1] - X[:, 6] - X[:, 7]); up = un(up - (up * left).sum(-1, keepdims=True) * left)
            R = np.stack([left, up, np.cross(left, up)], -1)
            for j, o in ((0, (0, .047, .032)), (1, (0, .047, .032)), (6, (0, -.002, .041)), (7, (0, -.002, .041))):
                X[:, j] += R @ np.array(o)
            t["out3d"] = X
if "--raw" in sys.argv:   # score the lifter's own joints_rel (placed at the fitted pelvis) instead of the fitted body
    for d, vw in zip(dirs, views):
        for tid, t in vw.items():
            z = np.load(d / "tracks" / f"{tid}.npz")
            if "joints_rel" in z:
                t["out3d"] = (z["joints_rel"] + z["joints_cam"][:, :1])[:, list(mv.LIMB_SMPL)].astype(np.float64)
n_frames = 1 + max(int(t["frames"].max()) for vw in views for t in vw.values())
found = mv.match_tracks(cams, views, n_frames)
people = [p for p in found if len({v for v, _ in p}) >= 3]
tri = mv.triangulate_people(cams, views, people, n_frames)
L = list(mv.LIMB_COCO)
S = {k: [] for k in ("pw", "gw", "pc", "gc", "conf", "view", "person", "frame", "bw", "bc")}
for p, members in enumerate(people):
    gt_all = tri["X"][p][:, L]
    fin = np.isfinite(gt_all).all(-1)
    good = fin[:, list(mv.HIPS_IN_LIMB)].all(1) & (fin.sum(1) >= mv.MIN_LIMB)
    for v, tid in members:
        cam, tr = cams[v], views[v][tid]
        fr = tr["frames"]
        agree = np.nan_to_num(mv.frame_agreement(cam, tri["X"][p], tr, tri["offsets"][v]), nan=np.inf) < 0.15
        sel = good[fr] & agree & np.isfinite(tr["out3d"]).all((1, 2)) & np.isfinite(tr["blaze3d"]).all((1, 2))
        gt = gt_all[fr[sel]]
        w = mv.pipeline_to_world(cam, tr["out3d"][sel], tr["focal"], tr["pp"], tri["offsets"][v])
        S["pw"].append(w); S["gw"].append(gt)
        S["pc"].append(w @ cam.R.T + cam.t); S["gc"].append(gt @ cam.R.T + cam.t)
        S["bw"].append(tr["blaze3d"][sel] @ cam.R); S["bc"].append(tr["blaze3d"][sel])
        S["conf"].append(tr["conf"][sel][:, L]); n = int(sel.sum())
        S["view"].append(np.full(n, v)); S["person"].append(np.full(n, p)); S["frame"].append(fr[sel])
S = {k: np.concatenate(v) for k, v in S.items()}
N = len(S["pw"])
names = mv.LIMB_NAMES
def pa_joint(P, G):
    """per-frame, per-joint error after similarity PA on valid joints (NaN gt)"""
    E = np.full(P.shape[:2], np.nan)
    for f in range(len(P)):
        m = np.isfinite(G[f]).all(-1)
        E[f, m] = np.linalg.norm(similarity_align(P[f, m], G[f, m]) - G[f, m], axis=-1) * 1000
    return E
def frame_pa(P, G):
    return np.nanmean(pa_joint(P, G), 1)
E = pa_joint(S["pw"], S["gw"])
fpa = np.nanmean(E, 1)
print(f"samples {N}; PA-MPJPE {fpa.mean():.1f} (blaze {frame_pa(S['bw'], S['gw']).mean():.1f})")
print("per joint PA err:", " ".join(f"{n}={np.nanmean(E[:, j]):.0f}" for j, n in enumerate(names)))
# depth vs in-plane after PA, in camera axes
def decomp(Pc, Gc):
    dz, dxy = [], []
    for f in range(len(Pc)):
        m = np.isfinite(Gc[f]).all(-1)
        A = similarity_align(Pc[f, m], Gc[f, m]) - Gc[f, m]
        dz.append(np.abs(A[:, 2]).mean()); dxy.append(np.linalg.norm(A[:, :2], axis=-1).mean())
    return np.array(dz) * 1000, np.array(dxy) * 1000
dz, dxy = decomp(S["pc"], S["gc"])
print(f"after PA (camera axes): |dz| mean {dz.mean():.1f} mm, |dxy| mean {dxy.mean():.1f} mm")
# oracle: replace the prediction's hip-relative depth by the truth's (after scale), or its x/y
def rel(X): return X - X[:, [6, 7]].mean(1, keepdims=True)
pr, gr = rel(S["pc"]), rel(S["gc"])
s = np.nansum(pr * gr, (1, 2)) / np.nansum(np.where(np.isfinite(gr), pr * pr, 0), (1, 2))
ps = pr * s[:, None, None]
o_depth = ps.copy(); o_depth[..., 2] = np.where(np.isfinite(gr[..., 2]), gr[..., 2], ps[..., 2])
o_xy = ps.copy(); o_xy[..., :2] = np.where(np.isfinite(gr[..., :2]), gr[..., :2], ps[..., :2])
print(f"oracle true hip-relative depth: PA {frame_pa(o_depth, gr).mean():.1f}; oracle true x/y: PA {frame_pa(o_xy, gr).mean():.1f}")
# per-frame depth flips: blaze and unveil
# bone lengths
bones = {"sh_width": (0, 1), "hip_width": (6, 7), "l_uarm": (0, 2), "r_uarm": (1, 3), "l_farm": (2, 4), "r_farm": (3, 5),
         "l_thigh": (6, 8), "r_thigh": (7, 9), "l_shin": (8, 10), "r_shin": (9, 11), "l_torso": (0, 6), "r_torso": (1, 7)}
def blen(X, a, b): return np.linalg.norm(X[:, a] - X[:, b], axis=-1)
# scale of pred per frame by the leg+arm sum ratio -> relative lengths
print("bone lengths (median m) pred / truth / blaze; pred normalised to truth's total:")
tot = lambda X: sum(np.nan_to_num(blen(X, a, b)) for a, b in bones.values())
sc = tot(S["gw"]) / tot(S["pw"])
for k, (a, b) in bones.items():
    g = blen(S["gw"], a, b)
    print(f"  {k:9s} {np.nanmedian(blen(S['pw'], a, b)):.3f} / {np.nanmedian(g):.3f} / {np.nanmedian(blen(S['bw'], a, b)):.3f}"
          f"  ratio(norm) {np.nanmedian(blen(S['pw'], a, b) * sc / g):.2f}")
# distal joints only
D = [2, 3, 4, 5, 8, 9, 10, 11]
print(f"PA on the 8 distal joints only (own alignment): {frame_pa(S['pw'][:, D], S['gw'][:, D]).mean():.1f}; blaze {frame_pa(S['bw'][:, D], S['gw'][:, D]).mean():.1f}")
# oracle convention: per-person constant offset in body frame for shoulders/hips? -> simpler: per-joint mean residual after PA, per person
# confidence
mc = S["conf"].min(1)
for lo, hi in ((0, .5), (.5, .8), (.8, .95), (.95, 1.01)):
    m = (mc >= lo) & (mc < hi)
    if m.any(): print(f"  min limb conf [{lo},{hi}): {m.sum()} frames, PA {fpa[m].mean():.1f}")
cj = S["conf"]
for lo, hi in ((0, .5), (.5, .9), (.9, 1.01)):
    m = (cj >= lo) & (cj < hi)
    print(f"  joints with conf [{lo},{hi}): {m.sum()}, PA err {np.nanmean(E[m]):.1f}")
for v in range(4):
    for p in range(len(people)):
        m = (S["view"] == v) & (S["person"] == p)
        if m.any(): print(f"  view {cams[v].name} person {p}: {m.sum()} fr PA {fpa[m].mean():.1f} blaze {frame_pa(S['bw'][m], S['gw'][m]).mean():.1f}  depth|dz| {dz[m].mean():.0f} dxy {dxy[m].mean():.0f}")
# distribution
q = np.percentile(fpa, [10, 50, 90, 99])
print("frame PA percentiles 10/50/90/99:", np.round(q, 1), " share of total from worst 10%:", round(np.sort(fpa)[-N // 10:].sum() / fpa.sum(), 2))
# average of unveil and blaze (in world, after aligning blaze to unveil's scale)?
ba = np.stack([similarity_align(S["bw"][f], S["pw"][f]) for f in range(N)])
print(f"mean(unveil, blaze aligned) PA {frame_pa(0.5 * (ba + S['pw']), S['gw']).mean():.1f}")
# camera geometry: distance, elevation
for v, c in enumerate(cams):
    m = S["view"] == v
    hip = S["gc"][m][:, [6, 7]].mean(1)
    up = -(c.R @ np.array([0, 0, 1.0]))  # world z up? print
    print(f"  {c.name}: hip depth median {np.median(hip[:, 2]):.2f} m, hip y {np.median(hip[:, 1]):.2f}, world z axis in cam {np.round(c.R[:, 2], 2)}, f {c.K[0,0]:.0f} size {c.size}")
if "--save" in sys.argv:
    np.savez(sys.argv[sys.argv.index("--save") + 1], E=E, fpa=fpa, **S)
