"""Training recipes of the ARTS models (``unveil train tik`` / ``unveil train shape``).

Both are deterministic for a seed and write small weight files under ``unveil/weights`` (with a
``.md`` beside them: command, seed, time). Data: the mocap corpus train split (TIK; validation
on the val split) and shapes sampled from the body model's own shape space (shape MLP: the corpus
has no shape truth). Weights trained on Bandai data inherit its CC BY-NC 4.0 licence.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from .. import atomic
from ..checkpoint import save_checkpoint
from ..paths import WEIGHTS_DIR
from ..fit.motion_refine import ARCH as REFINE_ARCH
from ..fit.shape import ARCH as SHAPE_ARCH, clip_rest
from ..skeleton import bone_lengths, forward_kinematics
from ..fit.ik import joints_to_rotations, rest_skeleton_tpose, rotmats_to_axis_angle
from ..fit.disentangle import bone_lengths as robust_bones
from ..fit.shape import bone_length_error, fit_shape, fit_shape_analytic, linearise, make_shape_dataset, train_shape_mlp
from ..fit.tik import add_noise, refine_rotations
from ..data.corpus import load_split, mirror_clip, parse_mix, training_clips
from ..fit import tik
from ..fit.pose_prior import PRIOR_FILE, PosePrior, fit_gmm, pose_features
from ..fit.evidence import OFFSETS_FILE, body_keypoints, default_offsets
from ..skeleton import COCO17_FLIP
from ..data import synthvideo as sv
from ..fit.motion_refine import evaluate, train_net


def rest_template(body_model: str = "anny") -> torch.Tensor:
    """The body model's default rest joints (pelvis at 0), or the hand-made T-pose without one."""
    try:
        from ..body import load_body_model  # deferred: looked up at call time (tests substitute unveil.body.load_body_model)

        m = load_body_model(body_model)
        with torch.no_grad():
            r = m.rest_joints().double()
        return r - r[:1]
    except Exception:  # no body model cache: the stand-in skeleton

        return rest_skeleton_tpose()


def model_rest_fn(body_model: str = "anny"):
    """joints (T,24,3) -> the rest joints (24,3) of the body-model shape fitted to the clip's bone
    lengths (what :func:`unveil.fit.stage.fit_joints` feeds the IK); the hand-made skeleton aligned
    to the clip's bones when no body model is available."""
    try:
        from ..body import load_body_model  # deferred: looked up at call time (tests substitute unveil.body.load_body_model)

        model = load_body_model(body_model)
    except Exception:
        t = rest_skeleton_tpose()
        return lambda j: clip_rest(t, j)

    def fn(joints):
        s = fit_shape(model, robust_bones(np.asarray(joints), robust=True))
        with torch.no_grad():
            r = model.rest_joints(s[None])[0].double()
        return r - r[:1]

    return fn


def _save(net: torch.nn.Module, path: Path, arch: str, config: dict, meta: dict) -> None:
    save_checkpoint(path, arch, config, net.state_dict(), meta)


@torch.no_grad()
def evaluate_ik(clips: list[np.ndarray], rest_fn, net=None, noise: float = 0.0, seed: int = 0):
    """Mean per-clip MPJPE / Accel (mm) of FK(IK(noisy joints)) against the clean joints, with the
    rest skeleton ``rest_fn(clean joints)`` of each clip."""
    g = torch.Generator().manual_seed(seed)
    mp, ac = [], []
    for j in clips:
        J = torch.as_tensor(np.asarray(j), dtype=torch.float64)
        J = J - J[:, :1]
        rest = rest_fn(j).double()
        Jn = add_noise(J[None].float(), noise, generator=g)[0].double()
        R = joints_to_rotations(Jn, rest)
        if net is not None:
            R = refine_rotations(net, Jn, rest, fik=R)
        _, P = forward_kinematics(R.double(), rest.expand(len(J), 24, 3))
        mp.append(float((P - J).norm(dim=-1).mean()) * 1000)
        acc = (P[2:] - 2 * P[1:-1] + P[:-2]) - (J[2:] - 2 * J[1:-1] + J[:-2])
        ac.append(float(acc.norm(dim=-1).mean()) * 1000)
    return float(np.mean(mp)), float(np.mean(ac))


def train_tik(seed: int = 0, out: str | None = None, steps: int = 2000, max_clips: int = 300,
              n_windows: int = 8192, time_limit: float | None = None, mix: str = "bandai") -> dict:
    """ARTS temporal IK (:mod:`unveil.fit.tik`) on ``max_clips`` Bandai training clips plus the other
    sources of ``mix`` (:func:`prior_clips`; ``"bandai"`` = the original recipe's clips). Validation:
    FIK vs TIK MPJPE / acceleration on 20 Bandai val clips (and the CMU subset's val clips when
    present) at three noise levels."""
    torch.manual_seed(seed)
    rest_fn = model_rest_fn()
    clips = [c.joints for c in prior_clips("train", max_clips, mix, seed)]
    J, rest = tik.build_training_windows(clips, lambda j: rest_fn(j).float(), n=n_windows, seed=seed)
    t0 = time.time()
    net = tik.train_tik(J, rest, steps=steps, seed=seed, time_limit=time_limit)
    train_s = time.time() - t0
    path = Path(out) if out else WEIGHTS_DIR / "tik.pt"
    _save(net, path, tik.ARCH, {"window": net.window, "dim": int(net.pos.shape[1])},
          {"recipe": "unveil train tik", "seed": seed, "steps": steps})
    val_sets = {"val": [c.joints for c in load_split("val", max_clips=20, seed=seed)]}
    try:
        val_sets["val_cmu"] = [c.joints for c in training_clips("val", "cmuscaled")]
    except Exception:  # the CMU subset is not unpacked (user machine)
        pass
    res = {"weights": str(path), "train_seconds": round(train_s, 1), "train_clips": len(clips), "mix": mix}
    for name, val in val_sets.items():
        for p in (0.0, 0.02, 0.10):
            f = evaluate_ik(val, rest_fn, None, p, seed)
            t = evaluate_ik(val, rest_fn, net, p, seed)
            res[f"{name}_noise{int(p * 100)}%"] = {"FIK_mpjpe": round(f[0], 1), "TIK_mpjpe": round(t[0], 1),
                                                   "FIK_accel": round(f[1], 1), "TIK_accel": round(t[1], 1)}
    return res


def train_tik_broad(seed: int = 0, out: str | None = None, steps: int = 6000, **kw) -> dict:
    """TIK on the lifters' sources: 300 Bandai clips + the CMU subset (scaled) + the DeepMimic training
    clips, each with its left <-> right mirror (:data:`TIK_BROAD_MIX`); 6,000 steps like the shipped file."""
    return train_tik(seed=seed, out=out, steps=steps, mix=TIK_BROAD_MIX, **kw)


def train_shape(seed: int = 0, out: str | None = None, steps: int = 1500, body_model: str = "anny",
                init: str = "analytic") -> dict:
    from ..body import load_body_model  # deferred: looked up at call time (tests substitute unveil.body.load_body_model)

    model = load_body_model(body_model)
    t0 = time.time()
    net = train_shape_mlp(model, init=init, steps=steps, seed=seed)
    train_s = time.time() - t0
    name = str(model.name).split("/")[-1].split(".")[0]
    path = Path(out) if out else WEIGHTS_DIR / f"shape_mlp_{name}.pt"
    _save(net, path, SHAPE_ARCH, {"num_shape": net.fc.out_features, "hidden": net.mlp[0].out_features},
          {"recipe": "unveil train shape", "seed": seed, "steps": steps, "init": init})
    B, S = make_shape_dataset(model, 256, seed=seed + 1000, noise=0.01)
    with torch.no_grad():
        s_mlp = net(B)
    s_an = fit_shape_analytic(model, B, lin=linearise(model))
    Bc, _ = make_shape_dataset(model, 256, seed=seed + 1000, noise=0.0)
    res = {"weights": str(path), "train_seconds": round(train_s, 1),
           "heldout_bone_err_mm_vs_clean (1 cm noise in)": {
               "analytic": round(float(bone_length_error(model, s_an, Bc).mean()) * 1000, 2),
               "mlp": round(float(bone_length_error(model, s_mlp, Bc).mean()) * 1000, 2)}}
    try:  # the val-split mocap skeletons (off the body model's manifold)
        from ..data.corpus import load_split  # deferred: guarded by try

        Bv = torch.as_tensor(np.stack([bone_lengths(c.joints).mean(0) for c in load_split("val", max_clips=30, seed=seed)]))
        with torch.no_grad():
            sv_mlp = net(Bv.float())
        sv_an = fit_shape_analytic(model, Bv, lin=linearise(model))
        res["val_mocap_bone_err_mm"] = {
            "analytic": round(float(bone_length_error(model, sv_an, Bv).mean()) * 1000, 2),
            "mlp": round(float(bone_length_error(model, sv_mlp, Bv).mean()) * 1000, 2)}
    except Exception as e:  # no mocap data (user machine)
        res["val_mocap_bone_err_mm"] = f"skipped: {e}"
    return res


PRIOR_BROAD_MIX = "bandai+cmuscaled+mirror"
TIK_BROAD_MIX = "bandai+cmuscaled+deepmimic+mirror"


def prior_clips(split: str, n: int | None, mix: str = "bandai", seed: int = 0) -> list:
    """Clips of ``split`` for the pose prior: ``n`` Bandai clips (a seeded subset, exactly the
    original recipe's when ``mix == "bandai"``) plus every clip of the other sources of ``mix``
    (:func:`unveil.data.corpus.parse_mix`; the CMU subset's ``split`` clips), each followed by its
    left <-> right mirror with ``+mirror``. Evaluation clips are excluded by the loaders."""
    sources, mirror = parse_mix(mix)
    clips = list(load_split(split, max_clips=n, seed=seed)) if "bandai" in sources else []
    rest = "+".join(k if r == 1 else f"{k}*{r}" for k, r in sources.items() if k != "bandai")
    if rest:
        clips += training_clips(split, rest)
    if mirror:
        clips = [x for c in clips for x in (c, mirror_clip(c))]
    return clips


def train_pose_prior(seed: int = 0, out: str | None = None, k: int = 8, max_clips: int = 400,
                     frame_step: int = 4, iters: int = 100, mix: str = "bandai") -> dict:
    """Pose prior for the evidence fit (:mod:`unveil.fit.pose_prior`): FIK rotations of the training
    split's clips (:func:`prior_clips` of ``mix``) on the body-model shape fitted to each clip, every
    ``frame_step``-th frame, then a ``k``-component Gaussian mixture by EM. Held-out: mean
    log-likelihood on the val split of the same mix (20 Bandai clips + the other sources' val clips)."""
    rest_fn = model_rest_fn()

    def features(clips) -> np.ndarray:
        xs = []
        for c in clips:
            J = torch.as_tensor(np.array(c.joints[::frame_step]), dtype=torch.float64)
            J = J - J[:, :1]
            R = joints_to_rotations(J, rest_fn(c.joints).double())
            _, bp = rotmats_to_axis_angle(R.float())
            xs.append(pose_features(torch.as_tensor(np.asarray(bp))).numpy())
        return np.concatenate(xs)

    t0 = time.time()
    x = features(prior_clips("train", max_clips, mix, seed))
    gmm = fit_gmm(x, k=k, iters=iters, seed=seed)
    train_s = time.time() - t0
    path = Path(out) if out else WEIGHTS_DIR / PRIOR_FILE
    with atomic.atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, weights=gmm["weights"].astype(np.float32), means=gmm["means"].astype(np.float32),
                     covariances=gmm["covariances"].astype(np.float32))
    prior = PosePrior.from_arrays(gmm["weights"], gmm["means"], gmm["covariances"])
    res = {"weights": str(path), "train_seconds": round(train_s, 1), "train_frames": int(len(x)),
           "components": k, "mix": mix, "train_mean_loglik": round(gmm["log_likelihood"], 2)}
    # held out: the mix's val clips, and the same two sets whatever the mix (Bandai val, CMU-subset val)
    val_sets = {"val_mean_nll": prior_clips("val", 20, mix, seed),
                "val_bandai_nll": prior_clips("val", 20, "bandai", seed)}
    try:
        val_sets["val_cmu_nll"] = training_clips("val", "cmuscaled")
    except Exception as e:  # the CMU subset is not unpacked (user machine)
        res["val_cmu_nll"] = f"skipped: {e}"
    with torch.no_grad():
        for key, clips in val_sets.items():
            res[key] = round(float(prior.nll(torch.as_tensor(features(clips), dtype=torch.float32)).mean()), 2)
        res["rest_pose_nll"] = round(float(prior.nll(torch.zeros(1, prior.dim)).mean()), 2)
    return res


def train_pose_prior_broad(seed: int = 0, out: str | None = None, **kw) -> dict:
    """The pose prior on the lifters' training mix (:data:`unveil.motion.tcn.BROAD_MIX` without the
    CMU repeats: 400 Bandai clips + every CMU-subset training clip, scaled, + left <-> right mirrors)."""
    return train_pose_prior(seed=seed, out=out, mix=PRIOR_BROAD_MIX, **kw)


def keypoint_offset_data(seqs, model) -> list[dict]:
    """Per rendered sequence: camera-frame global rotations (T,24,3,3), joints (T,24,3), the
    detector's COCO-17 keypoints (T,17,3) and the camera, from the render's own body parameters."""
    import roma

    out = []
    for s in seqs:
        tr = np.load(s.info["truth"], allow_pickle=False)
        R = roma.rotvec_to_rotmat(torch.as_tensor(np.concatenate([tr["global_orient"][:, None], tr["body_pose"]], 1),
                                                  dtype=torch.float64))
        rest = model.rest_joints(torch.as_tensor(tr["shape"], dtype=model.dtype)).double()
        glob, pos = forward_kinematics(R, (rest - rest[:1]).expand(len(R), 24, 3))
        Rc = torch.as_tensor(tr["R"], dtype=torch.float64)
        jw = pos + torch.as_tensor(tr["transl"], dtype=torch.float64)[:, None]
        err = float((jw - torch.as_tensor(tr["joints_world"], dtype=torch.float64)).norm(dim=-1).max())
        if err > 0.01:
            raise RuntimeError(f"{s.name}: body parameters do not reproduce the render's joints ({err:.3f} m)")
        jc = jw @ Rc.T + torch.as_tensor(tr["t"], dtype=torch.float64)
        out.append({"name": s.name, "glob": Rc @ glob, "joints": jc, "kp": torch.as_tensor(s.keypoints2d, dtype=torch.float64),
                    "occluded": torch.as_tensor(np.asarray(s.occluded)), "camera": s.camera,
                    "height": float(np.ptp(tr["keypoints2d_true"][..., 1], axis=1).mean())})
    return out


def fit_keypoint_offsets(data: list[dict], init: np.ndarray, iters: int = 300, min_conf: float = 0.5,
                         sigma: float = 0.05) -> np.ndarray:
    """(17, 3) offsets minimising the robust (Geman-McClure, ``sigma`` × person height)
    reprojection error of :func:`unveil.fit.evidence.body_keypoints` onto the detections."""
    off = torch.as_tensor(init, dtype=torch.float64).clone().requires_grad_(True)
    opt = torch.optim.Adam([off], lr=0.002)
    for _ in range(iters):
        loss = reprojection_loss(data, off, min_conf, sigma, body_keypoints)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return off.detach().numpy().astype(np.float32)


def symmetrise_offsets(off: np.ndarray) -> np.ndarray:
    """(17, 3) offsets -> left/right symmetric (mean of each keypoint and its mirrored partner;
    mirror = x negated in the rest pose's axes, x being the body's left)."""
    m = np.asarray(off, np.float64)[list(COCO17_FLIP)] * np.array([-1.0, 1.0, 1.0])
    return (0.5 * (np.asarray(off, np.float64) + m)).astype(np.float32)


def reprojection_loss(data, off, min_conf, sigma, body_keypoints, median: bool = False):
    """Mean robust reprojection loss over the visible, confident detections (or, with ``median``,
    the median distance in % of the person's 2D height)."""
    tot, n, errs = 0.0, 0, []
    for d in data:
        cam = d["camera"]
        kp3 = body_keypoints(d["glob"], d["joints"], off)
        proj = kp3[..., :2] / kp3[..., 2:3] * cam.focal + torch.tensor([cam.cx, cam.cy], dtype=kp3.dtype)
        w = ((d["kp"][..., 2] >= min_conf) & ~d["occluded"]).to(kp3.dtype)
        r = (proj - d["kp"][..., :2]).norm(dim=-1) / d["height"]
        if median:
            errs.append(r[w > 0].detach().numpy() * 100)
            continue
        tot = tot + (w * (r ** 2 / (r ** 2 + sigma ** 2))).sum()
        n += int(w.sum())
    if median:
        return float(np.median(np.concatenate(errs)))
    return tot / max(n, 1)


def train_keypoint_offsets(seed: int = 0, out: str | None = None, clips: int = 8, held_out: int = 2,
                           frames: int = 90, iters: int = 300) -> dict:
    """Detector-calibrated keypoint offsets for the evidence fit: render ``clips`` training-split
    clips (scene ``none``, cached), run the real detector, and fit where BlazePose puts each COCO-17
    keypoint relative to the rendered body's joints (:data:`unveil.fit.evidence.KEYPOINT_ANCHOR` /
    ``KEYPOINT_FRAME``). The last ``held_out`` clips are scored, not fitted."""
    from ..body import load_body_model  # deferred: looked up at call time (tests substitute unveil.body.load_body_model)

    model = load_body_model("anny")
    t0 = time.time()
    seqs = sv.load_render_sequences(kinds=("none",), clips=load_split("train", max_clips=clips, seed=seed),
                                    max_frames=frames, workers=1)
    data = keypoint_offset_data(seqs, model)
    fit_d, test_d = data[:-held_out] if held_out else data, data[-held_out:] if held_out else []
    with torch.no_grad():
        rest = model.rest_joints().double()
        verts = model.rest_vertices().double()
    init = default_offsets((rest - rest[:1]).numpy(), float(verts[:, 1].max() - verts[:, 1].min()))
    off = symmetrise_offsets(fit_keypoint_offsets(fit_d, init, iters=iters))
    path = Path(out) if out else WEIGHTS_DIR / OFFSETS_FILE
    with atomic.atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, offsets=off, init=init)
    res = {"weights": str(path), "seconds": round(time.time() - t0, 1), "fit_clips": [d["name"] for d in fit_d],
           "held_out_clips": [d["name"] for d in test_d], "frames_per_clip": frames}
    for name, dd in (("fit", fit_d), ("held_out", test_d)):
        if dd:
            with torch.no_grad():
                res[f"{name}_median_err_pct_height"] = {
                    "renderer_regressor": round(reprojection_loss(dd, torch.as_tensor(init, dtype=torch.float64), 0.5, 0.05, body_keypoints, median=True), 2),
                    "calibrated": round(reprojection_loss(dd, torch.as_tensor(off, dtype=torch.float64), 0.5, 0.05, body_keypoints, median=True), 2)}
    res["offset_change_mm"] = {i: round(float(np.linalg.norm(off[i] - init[i]) * 1000), 1) for i in range(17)}
    return res


def train_arts_refine(seed: int = 0, out: str | None = None, steps: int = 2000, max_clips: int = 150,
          n_windows: int = 4096, time_limit: float | None = 270.0) -> dict:
    """``unveil train arts-refine``: the recipe (TIK's data and noise), val-split numbers returned."""
    torch.manual_seed(seed)
    rest_fn = model_rest_fn()
    t_data = time.time()
    clips = [c.joints for c in load_split("train", max_clips=max_clips, seed=seed)]
    J, rest = tik.build_training_windows(clips, lambda j: rest_fn(j).float(), n=n_windows, seed=seed)
    print(f"arts-refine: {len(clips)} train clips, {len(J)} windows ({time.time() - t_data:.0f}s)")
    tik_net = tik.load_tik()
    t0 = time.time()
    net = train_net(J, rest, tik_net, steps=steps, seed=seed, time_limit=time_limit)
    train_s = time.time() - t0
    path = Path(out) if out else WEIGHTS_DIR / "arts_refine.pt"
    _save(net, path, REFINE_ARCH, {"window": net.window, "dim": int(net.pos.shape[1]), "layers": len(net.blocks)},
          {"recipe": "unveil train arts-refine", "seed": seed, "steps": steps})
    val = [c.joints for c in load_split("val", max_clips=20, seed=seed)]
    res = {"weights": str(path), "train_seconds": round(train_s, 1), "train_clips": len(clips),
           "theta_init": "TIK" if tik_net is not None else "FIK",
           "params": sum(p.numel() for p in net.parameters())}
    for p in (0.0, 0.02, 0.10):
        res[f"val_noise{int(p * 100)}%"] = evaluate(val, rest_fn, net, tik_net, p, seed)
    return res
