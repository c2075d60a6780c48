"""``unveil demo -o OUT``: render a short clip with known truth, run the full pipeline on the video
file, and score the result against the truth.

Seed: issue 7 (the README's main command). The motion is a ~5 s walk of one *evaluation-split*
clip of the Bandai Namco Research Motion Dataset 1 (``dataset-1_walk_old_001``, CC BY-NC 4.0,
Bandai Namco Research Inc.), stored as SMPL-24 joints in ``unveil/data/demo_motion.npz`` so the
demo runs on a fresh machine without the developers' shared data; ``unveil demo --build-motion``
rebuilds that file from ``$UNVEIL_SHARED`` (see ``unveil/data/demo_motion.md``).

Steps: render (:func:`unveil.data.synthvideo.render_sequence`: the body model walking behind an
occluder, 640×480, truth npz with per-keypoint occlusion labels from the depth buffer) ->
:func:`unveil.pipeline.run` on the mp4 with the known focal length -> pick the output track that
matches the subject -> print MPJPE, MPJPE-vis/-occ, PA-MPJPE (mm, :func:`unveil.metrics.evaluate`)
and the detector's own 2D error -> ``OUT/demo_overlay.mp4`` (recovered mesh + skeleton, occluded
joints as red rings, truth skeleton in thin white) and ``OUT/demo.json``. Stages the pipeline
does not have yet are reported as missing, and whatever exists is scored.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from . import atomic
from .data.demo_motion import MOTION_CLIP, MOTION_FILE, MOTION_RANGE, build_motion, load_motion  # noqa: F401 (re-exported)
from .errors import UnveilError
from .io.video import VideoWriter, iter_frames
from .types import Camera

# ------------------------------------------------------------------------------------ scoring
def _track_arrays(out: Path) -> list[dict]:
    tracks = []
    for p in sorted((out / "tracks").glob("*.npz")):
        with np.load(p, allow_pickle=False) as z:
            d = {k: z[k] for k in z.files}
        d["path"] = str(p)
        d["id"] = int(p.stem) if p.stem.isdigit() else p.stem
        tracks.append(d)
    return tracks


def pick_track(tracks: list[dict], truth2d: np.ndarray) -> dict | None:
    """The track whose COCO-17 keypoints are closest to the subject's true projection, weighted by
    how many frames it covers."""
    from .skeleton import to_coco17  # deferred: loads torch

    best, best_score = None, -np.inf
    T = len(truth2d)
    for t in tracks:
        fr = np.asarray(t["frames"])
        ok = (fr >= 0) & (fr < T)
        if not ok.any():
            continue
        kp = to_coco17(t["keypoints2d"], str(t.get("layout", "blazepose33")))[ok]
        err = np.nanmedian(np.linalg.norm(kp[:, 5:, :2] - truth2d[fr[ok], 5:], axis=-1))
        h = np.ptp(truth2d[..., 1], axis=1).mean()
        score = ok.sum() / T - err / max(h, 1.0)
        if score > best_score:
            best, best_score = t, score
    return best


def score(track: dict | None, truth: dict) -> dict:
    """Accuracy of one output track against the rendered truth (mm), on the frames it covers."""
    from . import metrics  # deferred: loads scipy, torch
    from .skeleton import to_coco17  # deferred: loads torch

    T = len(truth["joints_cam"])
    res: dict = {"frames_total": T}
    if track is None:
        res["note"] = "no output track matched the subject"
        return res
    fr = np.asarray(track["frames"])
    ok = (fr >= 0) & (fr < T)
    fr_ok = fr[ok]
    res["frames_scored"] = int(ok.sum())
    occ = truth["occluded"][fr_ok]
    res["occluded_keypoint_frac"] = float(occ.mean())
    # 2D: the detector's keypoints vs the true projection, % of the subject's 2D height
    kp = to_coco17(track["keypoints2d"], str(track.get("layout", "blazepose33")))[ok]
    h = np.ptp(truth["keypoints2d_true"][fr_ok, :, 1], axis=1)[:, None]
    e2 = np.linalg.norm(kp[..., :2] - truth["keypoints2d_true"][fr_ok], axis=-1) / h * 100
    res["detector_2d_err_pct_vis"] = float(e2[~occ].mean()) if (~occ).any() else float("nan")
    res["detector_2d_err_pct_occ"] = float(e2[occ].mean()) if occ.any() else float("nan")
    if "world_landmarks" in track:
        # the CPU alternative: BlazePose's own 3D world landmarks, limb joints only
        from .data.synthvideo import LIMB_JOINTS, blazepose_world_to_smpl24  # deferred: loads torch

        wl = blazepose_world_to_smpl24(track["world_landmarks"][ok])[:, list(LIMB_JOINTS)]
        g = (truth["joints_cam"][fr_ok] - truth["joints_cam"][fr_ok][:, :1])[:, list(LIMB_JOINTS)]
        fin = np.isfinite(wl).all((1, 2))
        if fin.any():
            res["blazepose_world_limb_mpjpe"] = float(np.linalg.norm(wl[fin] - g[fin], axis=-1).mean() * 1000)
            res["blazepose_world_limb_pa_mpjpe"] = float(metrics.pa_mpjpe(wl[fin], g[fin]))
    if "joints_cam" in track:
        pred, stage = track["joints_cam"][ok], "joints_cam"
    elif "joints_rel" in track:
        pred, stage = track["joints_rel"][ok], "joints_rel"
    else:
        res["note"] = "the pipeline wrote no 3D joints (lift/fit stages missing)"
        return res
    res["scored"] = stage
    gt = truth["joints_cam"][fr_ok]
    m = metrics.evaluate(pred, gt, occluded=occ, fps=float(truth["fps"]),
                         pred_global=track["joints_world"][ok] if "joints_world" in track else None,
                         gt_world=truth["joints_world"][fr_ok])
    res.update({k: float(v) for k, v in m.items()})
    if "joints_cam" in track:
        res["root_err_mm"] = float(np.linalg.norm(pred[:, 0] - gt[:, 0], axis=-1).mean() * 1000)
    return res


# ------------------------------------------------------------------------------------ overlay
def write_overlay(path: Path, video: Path, truth: dict, track: dict | None, body_model: str, camera,
                  fps: float, text: str = "") -> Path:
    from .metrics import coco17_to_smpl24_mask  # deferred: loads scipy, torch
    from .io.overlay import draw_frame, put_text  # deferred: loads cv2, torch
    from .skeleton import to_coco17  # deferred: loads torch

    rows = {}
    verts = faces = None
    if track is not None and "joints_cam" in track:
        fr = np.asarray(track["frames"])
        rows = {int(f): i for i, f in enumerate(fr)}
        if "global_orient" in track and "body_pose" in track:
            try:
                import roma
                import torch

                from .body import load_body_model  # deferred: looked up at call time (tests substitute unveil.body.load_body_model)

                body = load_body_model(str(track.get("body_model", body_model)) if "body_model" in track
                                       else body_model)
                aa = np.concatenate([track["global_orient"][:, None], track["body_pose"]], 1)
                with torch.no_grad():
                    rot = roma.rotvec_to_rotmat(torch.as_tensor(aa, dtype=torch.float32))
                    vs = []
                    for a in range(0, len(rot), 32):
                        o = body(rot[a:a + 32], torch.as_tensor(track["shape"], dtype=torch.float32),
                                 torch.as_tensor(track["transl"][a:a + 32], dtype=torch.float32))
                        vs.append(o["vertices"].numpy())
                verts = np.concatenate(vs)
                faces = body.faces.cpu().numpy()
            except Exception as e:  # the skeleton still gets drawn
                print(f"  overlay: no mesh ({type(e).__name__}: {e})")
        occ24 = None
        if "occluded" in track:
            occ = np.asarray(track["occluded"], bool)
            if occ.shape[-1] != 24:
                occ = coco17_to_smpl24_mask(to_coco17(occ[..., None], str(track.get("layout", "blazepose33")))[..., 0])
            occ24 = occ
    with VideoWriter(path, fps) as w:
        for i, frame in iter_frames(video):
            people = []
            if i in rows:
                r = rows[i]
                people.append({"id": 0, "joints_cam": track["joints_cam"][r],
                               "vertices_cam": None if verts is None else verts[r], "faces": faces,
                               "occluded24": None if occ24 is None else occ24[r],
                               "truth_joints_cam": truth["joints_cam"][i] if i < len(truth["joints_cam"]) else None})
            img = draw_frame(frame, camera, people)
            if text:
                put_text(img, text)
            put_text(img, f"frame {i}  white: truth  red rings: occluded joints", camera.height - 10)
            w.write(img)
    return path


# ------------------------------------------------------------------------------------ command
def main(argv: list[str], prog: str = "unveil demo") -> int:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--out", default="demo_out", help="output folder (default: demo_out)")
    ap.add_argument("--frames", type=int, default=150, help="frames to render at 30 fps (default 150 = 5 s)")
    ap.add_argument("--kind", default="object", help="scene kind: none, object, pole, truncation, person, lower")
    ap.add_argument("--seed", type=int, default=3, help="scene seed (default 3: a box the walk passes behind)")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--body-model", default="anny")
    ap.add_argument("--workers", type=int, default=2, help="render processes (default 2)")
    ap.add_argument("--supersample", type=int, default=2, choices=(1, 2, 3, 4),
                    help="render anti-aliasing factor (default 2; 1 renders ~4x faster)")
    ap.add_argument("--no-overlay", action="store_true")
    ap.add_argument("--build-motion", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.build_motion:
        print(f"wrote {build_motion()}")
        return 0
    from .data import synthvideo as sv  # deferred: loads torch

    if a.kind not in sv.KINDS:
        raise UnveilError(f"--kind must be one of {', '.join(sv.KINDS)}")
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.time()
    motion = load_motion()
    joints = motion["joints"][: max(2, a.frames)]
    name = f"demo_{str(motion['clip'])}"
    print(f"[1/3] rendering {len(joints)} frames of {motion['clip']} (evaluation split, CC BY-NC 4.0 "
          f"Bandai Namco Research) in a '{a.kind}' scene, {a.width}x{a.height} ...")
    r = sv.render_sequence(joints, name, a.kind, a.seed, out / "render", a.width, a.height, 30.0,
                           a.body_model, a.workers, supersample=a.supersample)
    truth = sv.load_truth(r["truth"])
    cam = Camera(float(truth["focal"]), float(truth["principal_point"][0]), float(truth["principal_point"][1]),
                 int(truth["width"]), int(truth["height"]))
    t_render = r["seconds"]
    if r["cached"]:
        print(f"      reused {r['video']}")
    else:
        print(f"      {r['video']} in {t_render:.1f} s ({r['fps_render']:.2f} frames/s)")
    print(f"      truth: {truth['occluded'].mean() * 100:.0f}% of keypoint-frames occluded by the scene")
    print("[2/3] running the pipeline (unveil run) on the video ...")
    t0 = time.time()
    summary, missing = {}, []
    try:
        from .pipeline import run as run_pipeline  # deferred: loads ijson, scipy, torch

        summary = run_pipeline(video=str(r["video"]), out_dir=str(out), body_model=a.body_model,
                               focal=float(truth["focal"]), render=False)
    except ImportError as e:
        missing.append(f"pipeline ({e})")
    t_pipe = time.time() - t0
    for n in summary.get("notes", []) or []:
        missing.append(str(n))
    tracks = _track_arrays(out)
    track = pick_track(tracks, truth["keypoints2d_true"])
    res = score(track, truth)
    print(f"[3/3] accuracy against the known truth ({res.get('frames_scored', 0)}/{res['frames_total']} frames, "
          f"track {track['id'] if track else '-'}):")
    if "detector_2d_err_pct_vis" in res:
        print(f"      2D detector error: {res['detector_2d_err_pct_vis']:.1f}% of height (visible), "
              f"{res['detector_2d_err_pct_occ']:.1f}% (occluded keypoints)")
    if "blazepose_world_limb_pa_mpjpe" in res:
        print(f"      BlazePose world landmarks (12 limb joints, the CPU alternative): MPJPE "
              f"{res['blazepose_world_limb_mpjpe']:.1f} mm, PA-MPJPE {res['blazepose_world_limb_pa_mpjpe']:.1f} mm")
    if "mpjpe" in res:
        print(f"      MPJPE {res['mpjpe']:.1f} mm | MPJPE-vis {res.get('mpjpe_vis', float('nan')):.1f} | "
              f"MPJPE-occ {res.get('mpjpe_occ', float('nan')):.1f} | PA-MPJPE {res['pa_mpjpe']:.1f} mm"
              f"  ({res['scored']})")
        if "root_err_mm" in res:
            print(f"      root position error {res['root_err_mm']:.0f} mm; accel {res.get('accel', float('nan')):.1f}")
    else:
        print(f"      no 3D score: {res.get('note', '')}")
    for m in missing:
        print(f"      note: {m}")
    files = {"video": str(r["video"]), "truth": str(r["truth"]), "tracks": [t["path"] for t in tracks]}
    if not a.no_overlay:
        ov = out / "demo_overlay.mp4"
        txt = f"MPJPE {res['mpjpe']:.0f} mm  PA {res['pa_mpjpe']:.0f} mm" if "mpjpe" in res else "no 3D output"
        write_overlay(ov, Path(r["video"]), truth, track, a.body_model, cam, 30.0, txt)
        files["overlay"] = str(ov)
    total = time.time() - t_all
    report = {"accuracy_mm": res, "kind": a.kind, "seed": a.seed, "frames": int(len(joints)),
              "seconds": {"render": t_render, "pipeline": t_pipe, "total": total}, "files": files,
              "missing": missing, "motion": {"clip": str(motion["clip"]), "licence": str(motion["licence"])}}
    atomic.write_text(out / "demo.json", json.dumps(report, indent=2, default=float))
    sp = out / "summary.json"
    if sp.exists():
        try:
            s = json.loads(sp.read_text())
            s["demo"] = report
            atomic.write_text(sp, json.dumps(s, indent=2, default=float))
        except (OSError, ValueError):
            pass
    print(f"wrote {out}/demo.json" + (f", {files['overlay']}" if "overlay" in files else "")
          + f", {len(tracks)} track file(s); {total:.0f} s in all")
    return 0
