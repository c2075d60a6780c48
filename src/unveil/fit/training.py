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
from ..paths import WEIGHTS_DIR
from ..skeleton import bone_lengths, forward_kinematics


def rest_template(body_model: str = "anny") -> torch.Tensor:
    """The body model's default rest joints (pelvis at 0), or the hand-made T-pose without one."""
    try:
        from ..body import load_body_model

        m = load_body_model(body_model)
        with torch.no_grad():
            r = m.rest_joints().double()
        return r - r[:1]
    except Exception:  # no body model cache: the stand-in skeleton
        from .ik import rest_skeleton_tpose

        return rest_skeleton_tpose()


def model_rest_fn(body_model: str = "anny"):
    """joints (T,24,3) -> the rest joints (24,3) of the body-model shape fitted to the clip's bone
    lengths (what :func:`unveil.fit.stage.fit_joints` feeds the IK); the hand-made skeleton aligned
    to the clip's bones when no body model is available."""
    try:
        from ..body import load_body_model

        model = load_body_model(body_model)
    except Exception:
        from .ik import rest_skeleton_tpose

        t = rest_skeleton_tpose()
        return lambda j: clip_rest(t, j)
    from .disentangle import bone_lengths as robust_bones
    from .shape import fit_shape

    def fn(joints):
        s = fit_shape(model, robust_bones(np.asarray(joints), robust=True))
        with torch.no_grad():
            r = model.rest_joints(s[None])[0].double()
        return r - r[:1]

    return fn


def clip_rest(template: torch.Tensor, joints: np.ndarray) -> torch.Tensor:
    """The template's bone directions with the clip's mean bone lengths (ARTS Eq. 7)."""
    from .shape import align_to_bones

    return align_to_bones(template, torch.as_tensor(bone_lengths(joints).mean(0), dtype=torch.float64))


def _save(net: torch.nn.Module, path: Path) -> None:
    with atomic.atomic_path(path) as tmp:
        torch.save({k: v.detach().clone() for k, v in net.state_dict().items()}, tmp)


@torch.no_grad()
def evaluate_ik(clips: list[np.ndarray], rest_fn, net=None, noise: float = 0.0, seed: int = 0):
    """Mean per-clip MPJPE / Accel (mm) of FK(IK(noisy joints)) against the clean joints, with the
    rest skeleton ``rest_fn(clean joints)`` of each clip."""
    from .ik import joints_to_rotations
    from .tik import add_noise, refine_rotations

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
              n_windows: int = 8192, time_limit: float | None = None) -> dict:
    from ..data.corpus import load_split
    from . import tik

    torch.manual_seed(seed)
    rest_fn = model_rest_fn()
    clips = [c.joints for c in load_split("train", max_clips=max_clips, seed=seed)]
    J, rest = tik.build_training_windows(clips, lambda j: rest_fn(j).float(), n=n_windows, seed=seed)
    t0 = time.time()
    net = tik.train_tik(J, rest, steps=steps, seed=seed, time_limit=time_limit)
    train_s = time.time() - t0
    path = Path(out) if out else WEIGHTS_DIR / "tik.pt"
    _save(net, path)
    val = [c.joints for c in load_split("val", max_clips=20, seed=seed)]
    res = {"weights": str(path), "train_seconds": round(train_s, 1), "train_clips": len(clips)}
    for p in (0.0, 0.02, 0.10):
        f = evaluate_ik(val, rest_fn, None, p, seed)
        t = evaluate_ik(val, rest_fn, net, p, seed)
        res[f"val_noise{int(p * 100)}%"] = {"FIK_mpjpe": round(f[0], 1), "TIK_mpjpe": round(t[0], 1),
                                            "FIK_accel": round(f[1], 1), "TIK_accel": round(t[1], 1)}
    return res


def train_shape(seed: int = 0, out: str | None = None, steps: int = 1500, body_model: str = "anny",
                init: str = "analytic") -> dict:
    from ..body import load_body_model
    from .shape import bone_length_error, fit_shape_analytic, linearise, make_shape_dataset, train_shape_mlp

    model = load_body_model(body_model)
    t0 = time.time()
    net = train_shape_mlp(model, init=init, steps=steps, seed=seed)
    train_s = time.time() - t0
    name = str(model.name).split("/")[-1].split(".")[0]
    path = Path(out) if out else WEIGHTS_DIR / f"shape_mlp_{name}.pt"
    _save(net, path)
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
        from ..data.corpus import load_split

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
