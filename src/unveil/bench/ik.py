"""``unveil bench ik`` — the ARTS ablations on our evaluation split (ARTS Table 4 rows 1–9).

1. IK robustness (ARTS Table 4 rows 1–6): clean eval-split joints + i.i.d. Gaussian noise with a
   per-coordinate std of p × the clip's mean bone length (p = 0, 2, 10 %; mean bone length of these
   subjects ≈ 0.16 m, so 2 % ≈ 3 mm and 10 % ≈ 16 mm), then the whole ARTS path: bone lengths →
   shape → FIK or TIK → the body model's forward pass → its SMPL-24 joints, scored against the clean
   joints: MPJPE (root-aligned), PA-MPJPE, Accel error (mm/frame²). No final joint fit, so the rows
   compare the IK only.
2. Shape fitting (rows 7–9): analytic (Eq. 8, damped Gauss–Newton) vs MLP (random init) vs
   analytic-init MLP (Eq. 9): mean bone-length error of the fitted body (a) for bone lengths of
   held-out shapes sampled from the body model with 1 cm noise (truth reachable), (b) for the
   eval-split mocap skeletons (their proportions are not all reachable by the body model).
3. Round trip: clean mocap joints → shape + IK (+ the final shared-shape joint fit) → body model →
   joints, MPJPE, all joints and per body part; plus the IK floor (FK of a rest skeleton with the
   body model's bone directions and the clip's own bone lengths), and the same round trip on a
   skeleton the body model can take (the mocap motion put on the fitted body first), which shows
   how much of the error is the skeleton-convention gap rather than the IK.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from .. import metrics
from ..data.corpus import load_split
from ..fit.disentangle import bone_lengths
from ..fit.shape import bone_length_error, clip_rest, fit_shape, fit_shape_analytic, linearise, load_shape_mlp, make_shape_dataset, train_shape_mlp
from ..skeleton import SMPL24_BONES, forward_kinematics
from .. import atomic
from .body_show import view_camera
from ..io.raster import render

GROUPS = {"legs": [1, 2, 4, 5, 7, 8, 10, 11], "spine+head": [3, 6, 9, 12, 15],
          "collars+shoulders": [13, 14, 16, 17], "arms+hands": [18, 19, 20, 21, 22, 23]}


def _clips(n: int, seed: int):
    return load_split("eval", max_clips=n, seed=seed)


def _forward_joints(model, R, shape) -> np.ndarray:
    out = []
    with torch.no_grad():
        for i in range(0, R.shape[0], 128):
            out.append(model(R[i:i + 128].float(), shape.float())["joints"])
    j = torch.cat(out).double().numpy()
    return j - j[:, :1]


def ik_rows(model, clips, noises=(0.0, 0.02, 0.10), seed: int = 0, log=print) -> list[dict]:
    from ..fit.ik import joints_to_rotations  # deferred: loads roma
    from ..fit.tik import add_noise, load_tik, refine_rotations  # deferred: loads roma

    net = load_tik()
    methods = ["FIK"] + (["TIK"] if net is not None else [])
    if net is None:
        log("note: no TIK weights (unveil/weights/tik.pt): TIK rows skipped; run `unveil train tik`")
    from ..fit.motion_refine import load_motion_refine, refine_sequence  # deferred: loads roma

    mref = load_motion_refine()
    if mref is not None:
        methods.append("TIK+motion-refine" if net is not None else "FIK+motion-refine")
    else:
        log("note: no motion-refine weights (unveil/weights/arts_refine.pt): run `unveil train arts-refine`")
    rows = []
    for p in noises:
        acc = {m: {"mpjpe": [], "pa_mpjpe": [], "accel": []} for m in methods}
        g = torch.Generator().manual_seed(seed)
        for c in clips:
            J = torch.as_tensor(np.array(c.joints), dtype=torch.float64)
            J = J - J[:, :1]
            Jn = add_noise(J[None].float(), p, generator=g)[0].double()
            shape = fit_shape(model, bone_lengths(Jn.numpy(), robust=True))
            with torch.no_grad():
                rest = model.rest_joints(shape[None])[0].double()
            rest = rest - rest[:1]
            R_f = joints_to_rotations(Jn, rest)
            R_t = refine_rotations(net, Jn, rest, fik=R_f) if net is not None else R_f
            for m in methods:
                R = R_f if m == "FIK" else R_t if m == "TIK" else refine_sequence(mref, Jn, rest, fik=R_f, base=R_t)
                P = _forward_joints(model, R, shape)
                acc[m]["mpjpe"].append(metrics.mpjpe(P, J.numpy()))
                acc[m]["pa_mpjpe"].append(metrics.pa_mpjpe(P, J.numpy()))
                acc[m]["accel"].append(metrics.accel_error(P, J.numpy()))
        for m in methods:
            rows.append({"method": m, "noise": f"{int(round(p * 100))}%",
                         **{k: round(float(np.mean(v)), 1) for k, v in acc[m].items()}})
            log(f"  {m} noise {p:.0%}: " + ", ".join(f"{k} {rows[-1][k]}" for k in ("mpjpe", "pa_mpjpe", "accel")))
    return rows


def shape_rows(model, clips, seed: int = 0, steps: int = 1500, log=print) -> list[dict]:
    lin = linearise(model)
    B_noisy, _ = make_shape_dataset(model, 256, seed=seed + 1000, noise=0.01)
    B_clean, _ = make_shape_dataset(model, 256, seed=seed + 1000, noise=0.0)
    B_mocap = torch.as_tensor(np.stack([bone_lengths(c.joints) for c in clips]), dtype=torch.float32)
    t0 = time.time()
    mlp_rand = train_shape_mlp(model, init="random", steps=steps, seed=seed, log=None)
    log(f"  (MLP-only trained here: {steps} steps, seed {seed}, {time.time() - t0:.0f}s)")
    mlp_an = load_shape_mlp(model)
    if mlp_an is None:
        t0 = time.time()
        mlp_an = train_shape_mlp(model, init="analytic", steps=steps, seed=seed, log=None)
        log(f"  (no committed analytic-init MLP: trained here, {time.time() - t0:.0f}s)")
    fits = {
        "analytic": lambda B: fit_shape_analytic(model, B, lin=lin),
        "MLP": lambda B: mlp_rand(B.float()).detach(),
        "analytic-MLP": lambda B: mlp_an(B.float()).detach(),
    }
    rows = []
    for name, f in fits.items():
        with torch.no_grad():
            e_syn = bone_length_error(model, f(B_noisy), B_clean).mean() * 1000
            e_moc = bone_length_error(model, f(B_mocap), B_mocap).mean() * 1000
        rows.append({"method": name, "bone_err_mm_model_shapes_1cm_noise": round(float(e_syn), 2),
                     "bone_err_mm_eval_mocap": round(float(e_moc), 2)})
        log(f"  {name}: bone-length error {float(e_syn):.2f} mm (model shapes, 1 cm noise in), "
            f"{float(e_moc):.2f} mm (eval mocap skeletons)")
    return rows


def round_trip_rows(model, clips, log=print) -> list[dict]:
    from ..fit.ik import joints_to_rotations  # deferred: loads roma
    from ..fit.stage import fit_joints  # deferred: loads roma

    template = model.rest_joints(model.default_shape()[None])[0].detach().double()
    template = template - template[:1]
    rows = []
    for label, kw in (("IK floor (model bone directions, clip bone lengths)", None),
                      ("FIK + shape, no final fit", {"refine_iters": 0, "use_tik": False}),
                      ("FIK + shape + final shared-shape fit", {"refine_iters": 60, "use_tik": False}),
                      ("body-model skeleton (mocap motion on the fitted body) -> FIK + shape",
                       {"refine_iters": 0, "use_tik": False, "own": True})):
        errs = []
        t0 = time.time()
        for c in clips:
            J = np.array(c.joints, dtype=np.float64)
            J = J - J[:, :1]
            if kw is not None and kw.get("own"):
                kw = {k: v for k, v in kw.items() if k != "own"}
                kw["own"] = True
                res = fit_joints(J, model, refine_iters=0, use_tik=False)
                J = _forward_joints(model, res["rotmats"], res["shape"])  # a skeleton the body can take
            if kw is None:
                rest = clip_rest(template, J)
                R = joints_to_rotations(torch.as_tensor(J), rest)
                _, P = forward_kinematics(R, rest.expand(len(J), 24, 3))
                P = P.numpy()
            else:
                res = fit_joints(J, model, **{k: v for k, v in kw.items() if k != "own"})
                P = _forward_joints(model, res["rotmats"], res["shape"])
            errs.append(np.linalg.norm(P - J, axis=-1))
        e = np.concatenate(errs) * 1000
        row = {"path": label, "mpjpe": round(float(e.mean()), 1),
               **{g: round(float(e[:, idx].mean()), 1) for g, idx in GROUPS.items()}}
        rows.append(row)
        log(f"  {label}: MPJPE {row['mpjpe']} mm (" + ", ".join(f"{g} {row[g]}" for g in GROUPS)
            + f") [{time.time() - t0:.0f}s]")
    return rows


def render_sequence_png(model, clip, path, n_frames: int = 5, size=(360, 480)) -> dict:
    """Fit one clip (shape + FIK + final fit) and save a PNG: top row the body mesh at ``n_frames``
    frames with the mocap skeleton drawn over it (red), bottom row the mocap skeleton alone."""
    from PIL import Image, ImageDraw

    from ..fit.stage import fit_joints  # deferred: loads roma

    J = np.array(clip.joints, dtype=np.float64)
    res = fit_joints(J - J[:, :1], model, use_tik=False, refine_iters=60)
    idx = np.linspace(0, len(J) - 1, n_frames).round().astype(int)
    with torch.no_grad():
        out = model(res["rotmats"][idx].float(), res["shape"].float(), torch.as_tensor(J[idx, 0], dtype=torch.float32))
    verts, mj = out["vertices"].numpy(), out["joints"].numpy()
    W, H = size
    canvas = Image.new("RGB", (W * n_frames, 2 * H), (255, 255, 255))
    colors = model.vertex_colors().astype(np.float32) / 255.0
    faces = model.faces.cpu().numpy()
    for k, f in enumerate(idx):
        cam, R, t = view_camera(J[f], verts[k], W, H, 30.0)
        img = render(verts[k] @ R.T + t, faces, cam, colors=colors, background=(0.93, 0.93, 0.9)).image
        top = Image.fromarray(img)
        bottom = Image.new("RGB", (W, H), (250, 250, 250))
        jc = J[f] @ R.T + t
        uv = jc[:, :2] / jc[:, 2:3] * cam.focal + [cam.cx, cam.cy]
        for im, col in ((top, (220, 30, 30)), (bottom, (30, 30, 160))):
            d = ImageDraw.Draw(im)
            for p, c in SMPL24_BONES:
                d.line([tuple(uv[p]), tuple(uv[c])], fill=col, width=2)
            for u, v in uv:
                d.ellipse([u - 3, v - 3, u + 3, v + 3], fill=col)
            d.text((5, 5), f"frame {f}", fill=(0, 0, 0))
        canvas.paste(top, (k * W, 0))
        canvas.paste(bottom, (k * W, H))
    with atomic.atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")
    err = np.linalg.norm((mj - mj[:, :1]) - (J[idx] - J[idx, :1]), axis=-1).mean() * 1000
    return {"png": str(path), "clip": clip.name, "frames": idx.tolist(), "mpjpe_mm_shown_frames": round(float(err), 1)}


def _md(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str], prog: str = "unveil bench ik") -> int:
    ap = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    ap.add_argument("--clips", type=int, default=12, help="eval-split clips (a seeded subset, for speed)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--body-model", default="anny")
    ap.add_argument("--only", choices=["ik", "shape", "roundtrip", "none"], default=None,
                    help="run one table only (none: just --png)")
    ap.add_argument("--json", default=None, help="also write the tables as JSON here")
    ap.add_argument("--png", default=None, help="also render a mesh sequence of the first clip beside its mocap skeleton")
    a = ap.parse_args(argv)
    from ..body import load_body_model  # deferred: looked up at call time (tests substitute unveil.body.load_body_model)

    model = load_body_model(a.body_model)
    clips = _clips(a.clips, a.seed)
    n_frames = sum(len(c.joints) for c in clips)
    print(f"unveil bench ik: body model {model.name}, {len(clips)} eval-split clips ({n_frames} frames), seed {a.seed}")
    out = {}
    if a.only in (None, "ik"):
        print("\n## IK robustness (ARTS Table 4 rows 1-6); noise std = p x mean bone length; mm")
        out["ik"] = ik_rows(model, clips, seed=a.seed)
        print(_md(out["ik"]))
    if a.only in (None, "shape"):
        print("\n## Shape fitting (ARTS Table 4 rows 7-9): mean bone-length error of the fitted body, mm")
        out["shape"] = shape_rows(model, clips, seed=a.seed)
        print(_md(out["shape"]))
    if a.only in (None, "roundtrip"):
        print("\n## Round trip: mocap joints -> IK -> body model -> joints, MPJPE mm")
        out["roundtrip"] = round_trip_rows(model, clips)
        print(_md(out["roundtrip"]))
    if a.png:
        info = render_sequence_png(model, clips[0], a.png)
        print(f"\nwrote {info['png']}: {info['clip']} frames {info['frames']} "
              f"(mesh-joint MPJPE on those frames {info['mpjpe_mm_shown_frames']} mm)")
        out["png"] = info
    if a.json:
        atomic.write_text(a.json, json.dumps(out, indent=1))
    return 0
