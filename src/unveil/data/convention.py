"""Where the body model's SMPL-24 joints sit on a mocap skeleton (a learned, MoSh-style convention).

A mocap skeleton names its joints after the same body parts as SMPL-24 but puts them elsewhere:
Bandai's ``Hand_L`` is the wrist (its end site has length 0) where the body model's ``L_hand`` is
~10 cm further on; Bandai's ``Shoulder_L`` sits 5 cm from ``UpperArm_L`` where the body model's
collar is ~16 cm from its shoulder; ``Hips -> Spine`` is 15.7 cm against the body model's 9.4 cm;
``Head`` is the skull base, the body model's head joint is higher. A mesh cannot match those joints
(the round trip mocap -> IK -> body model -> joints was 44 mm), and every network trained on them
learns a skeleton the mesh cannot take.

So, as MoSh places virtual markers, each SMPL-24 joint is a point fixed on one mocap bone::

    smpl_j(t) = p[anchor_j](t) + s * G[frame_j](t) @ o_j

``anchor_j`` is the source joint of the plain mapping (``bvh.SMPL24_FROM``), ``frame_j`` the source
joint whose rotation carries the offset (the anchor's parent for a joint centre, the anchor itself
for a point beyond it: pelvis, hand, head, spine3), ``s`` the actor's size relative to the
reference (sum of six leg and spine bone lengths of the file) and ``o_j`` (24 x 3, metres, one
table per skeleton kind) fitted once on the **training split** only: offsets, one shape per clip
and a pose per frame minimise the distance of the body model's joints to the virtual points, with
a small penalty pulling the offsets towards the plain mapping's (so an offset only moves where the
body model needs it). The table ships as ``convention_<kind>.json`` with the command that made it
(``unveil data convention --fit``); without a table a kind keeps the plain mapping (the CMU clip:
one clip, no training split of its own).
"""

from __future__ import annotations

import argparse
import json
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..skeleton import SMPL24_NAMES, SMPL24_PARENTS
from . import bvh as bvhmod
from ..fit.shape import clamp_shape
from ..skeleton import forward_kinematics
from .. import atomic

HERE = Path(__file__).parent

# the source joint whose rotation carries each SMPL-24 joint's offset (None: the anchor's parent)
OWN_FRAME = {"pelvis", "L_hand", "R_hand", "head", "spine3"}
# joints on the body's midline: their offsets may not leave the sagittal plane (without this the
# fit is free to slide the head joint sideways: the body model's neck meets it by bending)
MIDLINE = ("pelvis", "spine1", "spine2", "spine3", "neck", "head")
# a weak prior on the body's own spine / neck / head bends (local rotations, rad^2) resolves the
# remaining freedom along that chain (a head point too far forward met by a pitched neck): among
# equally good fits, the one with the body holding its head as the mocap actor does
SPINE_CHAIN = [3, 6, 9, 12, 15]
# bones of the size measure (child joints; each with its parent): legs and spine
SIZE_JOINTS = {"bandai": ["LowerLeg_L", "Foot_L", "Spine", "Chest", "Neck", "Head"],
               "cmu": ["LeftLeg", "LeftFoot", "Spine", "Spine1", "Neck1", "Head"],
               "cc": ["CC_Base_L_Calf", "CC_Base_L_Foot", "CC_Base_Waist", "CC_Base_Spine01",
                      "CC_Base_Spine02", "CC_Base_NeckTwist01", "CC_Base_NeckTwist02", "CC_Base_Head"]}


def table_path(kind: str) -> Path:
    return HERE / f"convention_{kind}.json"


@lru_cache(maxsize=4)
def load_table(kind: str) -> dict | None:
    p = table_path(kind)
    if not p.is_file():
        return None
    d = json.loads(p.read_text())
    d["offsets"] = np.asarray(d["offsets"], dtype=np.float64)
    return d


def anchors(bvh: bvhmod.Bvh, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(24,) anchor and (24,) frame joint indices into the BVH's joints."""
    table = bvhmod.SMPL24_FROM[kind]
    anc, frm = [], []
    for name in SMPL24_NAMES:
        src = table[name]
        a = bvh.index(src[1] if isinstance(src, tuple) else src)
        anc.append(a)
        if name in OWN_FRAME or isinstance(src, tuple):
            frm.append(a)
        else:
            p = int(bvh.parents[a])
            frm.append(p if p >= 0 else a)
    return np.asarray(anc), np.asarray(frm)


def actor_size(bvh: bvhmod.Bvh, kind: str) -> float:
    """Sum of six leg and spine bone lengths from the file's offsets, metres."""
    scale = bvhmod.UNIT_SCALE[kind]
    return float(sum(np.linalg.norm(bvh.offsets[bvh.index(n)]) for n in SIZE_JOINTS[kind]) * scale)


def plain_offsets(bvh, gpos, grot, kind, ref_size: float) -> np.ndarray:
    """(24, 3) offsets (reference size) that reproduce the plain mapping, averaged over frames
    (a lerp between a joint and its child is constant in the joint's frame)."""
    anc, frm = anchors(bvh, kind)
    plain = bvhmod.to_smpl24(bvh, gpos, kind, convention="plain")
    scale = bvhmod.UNIT_SCALE[kind]
    d = plain - gpos[:, anc] * scale
    local = np.einsum("tjik,tji->tjk", grot[:, frm], d)  # G^T d
    return local.mean(0) / (actor_size(bvh, kind) / ref_size)


def apply(bvh, gpos, grot, kind: str, offsets: np.ndarray, ref_size: float) -> np.ndarray:
    """(T, J, 3) file-unit positions + (T, J, 3, 3) global rotations -> (T, 24, 3) metres."""
    anc, frm = anchors(bvh, kind)
    s = actor_size(bvh, kind) / ref_size
    scale = bvhmod.UNIT_SCALE[kind]
    return gpos[:, anc] * scale + s * np.einsum("tjik,jk->tji", grot[:, frm], offsets)


def to_smpl24(bvh, gpos, grot, kind: str) -> np.ndarray | None:
    """The learned convention for this kind, or None when no table ships for it."""
    t = load_table(kind)
    if t is None:
        return None
    return apply(bvh, gpos, grot, kind, t["offsets"], t["ref_size"])


# --------------------------------------------------------------------------------------- fit
def _clip_arrays(path, kind_expected="bandai", stride: int = 4, max_frames: int = 40, rng=None):
    b = bvhmod.read_bvh(path)
    kind = bvhmod.skeleton_kind(b)
    if kind != kind_expected:
        return None
    grot, gpos = bvhmod.forward_kinematics(b)
    if kind == "cc":  # the CMU subset: some clips start with an added T-pose frame
        from .cmu_subset import first_motion_frame  # deferred: import cycle (unveil.data.cmu_subset imports unveil.data.convention at module level)

        s0 = first_motion_frame(gpos, bvhmod.UNIT_SCALE[kind])
        grot, gpos = grot[s0:], gpos[s0:]
    T = len(gpos)
    idx = np.arange(0, T, stride)
    if len(idx) > max_frames:
        idx = np.sort(rng.choice(idx, max_frames, replace=False)) if rng is not None else idx[:max_frames]
    anc, frm = anchors(b, kind)
    scale = bvhmod.UNIT_SCALE[kind]
    # the body's left (hips + shoulders, horizontal) in each frame joint's local axes, clip mean
    plain_all = bvhmod.to_smpl24(b, gpos, kind, convention="plain")
    left = plain_all[:, 1] - plain_all[:, 2] + plain_all[:, 16] - plain_all[:, 17]
    left[:, 1] = 0.0
    left /= np.maximum(np.linalg.norm(left, axis=-1, keepdims=True), 1e-9)
    lat = np.einsum("tjik,ti->jk", grot[:, frm], left) / len(left)
    return {"name": Path(path).stem, "pa": gpos[idx][:, anc] * scale, "G": grot[idx][:, frm],
            "lat": lat,
            "size": actor_size(b, kind), "plain": bvhmod.to_smpl24(b, gpos[idx], kind, convention="plain")}


def _targets(torch, clips, offs, ref_size):
    out = []
    for c in clips:
        s = c["size"] / ref_size
        t = c["pa_t"] + s * torch.einsum("tjik,jk->tji", c["G_t"], offs)
        out.append(t - t[:, :1])
    return torch.cat(out)


def fit_convention(files: list, model, kind: str = "bandai", iters: int = 600, w_offset: float = 0.02,
                   w_shape: float = 1e-4, w_pose: float = 1e-3, seed: int = 0, stride: int = 4, max_frames: int = 40,
                   offsets: np.ndarray | None = None, log=print) -> dict:
    """Fit the offsets (or, with ``offsets`` given, only shapes + poses: the held-out check).
    Returns {"offsets", "ref_size", "mpjpe_mm" (root-relative, after the fit), "plain_mpjpe_mm"
    (the same fit on the plain mapping's joints), ...}."""
    import roma
    import torch

    from ..fit.ik import joints_to_rotations  # deferred: loads roma

    rng = np.random.default_rng(seed)
    clips = [c for c in (_clip_arrays(f, kind, stride, max_frames, rng) for f in files) if c is not None]
    ref_size = float(np.mean([c["size"] for c in clips])) if offsets is None else None
    log(f"convention fit: {len(clips)} clips, {sum(len(c['pa']) for c in clips)} frames")

    def run(fixed_offs, learn: bool, plain: bool):
        for c in clips:
            c["pa_t"] = torch.as_tensor(c["pa"], dtype=torch.float32)
            c["G_t"] = torch.as_tensor(c["G"], dtype=torch.float32)
        o0 = torch.as_tensor(fixed_offs, dtype=torch.float32)
        offs = o0.clone().requires_grad_(learn)
        with torch.no_grad():
            if plain:
                tgt0 = torch.cat([torch.as_tensor(c["plain"] - c["plain"][:, :1], dtype=torch.float32) for c in clips])
            else:
                tgt0 = _targets(torch, clips, offs, rs)
        C = len(clips)
        lens = [len(c["pa"]) for c in clips]
        cid = torch.repeat_interleave(torch.arange(C), torch.as_tensor(lens))
        shape = torch.zeros(C, model.num_shape, requires_grad=True)
        with torch.no_grad():
            rest0 = model.rest_joints(model.default_shape()[None].float())[0].double()
        R0 = joints_to_rotations(tgt0.double(), rest0 - rest0[:1]).float()
        rv = roma.rotmat_to_rotvec(R0).clone().requires_grad_(True)
        groups = [{"params": [rv], "lr": 0.02}, {"params": [shape], "lr": 0.05}]
        lat = np.mean([c["lat"] for c in clips], 0)
        lat /= np.maximum(np.linalg.norm(lat, axis=-1, keepdims=True), 1e-9)
        mid = [SMPL24_NAMES.index(n) for n in MIDLINE]
        lat_t = torch.as_tensor(lat[mid], dtype=torch.float32)
        if learn:
            with torch.no_grad():
                offs[mid] -= (offs[mid] * lat_t).sum(-1, keepdim=True) * lat_t
            groups.append({"params": [offs], "lr": 0.002})
        opt = torch.optim.Adam(groups)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iters)
        for it in range(iters + 1):
            tgt = tgt0 if (plain or not learn) else _targets(torch, clips, offs, rs)
            rest = model.rest_joints(shape).float()
            rest = rest - rest[:, :1]
            _, pos = forward_kinematics(roma.rotvec_to_rotmat(rv), rest[cid])
            err = ((pos - tgt) ** 2).sum(-1)
            loss = err.mean() + w_shape * (shape ** 2).sum(-1).mean()
            loss = loss + w_pose * (rv[:, SPINE_CHAIN] ** 2).sum(-1).mean()
            if learn:
                loss = loss + w_offset * ((offs - o0) ** 2).sum(-1).mean()
            if it % 100 == 0 or it == iters:
                log(f"  it {it:4d}: joint error {err.sqrt().mean().item() * 1000:.1f} mm"
                    + (f", offset change {(offs - o0).norm(dim=-1).mean().item() * 1000:.1f} mm" if learn else ""))
            if it == iters:
                break
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                shape.copy_(clamp_shape(model, shape))
                if learn:
                    offs[mid] -= (offs[mid] * lat_t).sum(-1, keepdim=True) * lat_t
        per_joint = err.detach().sqrt().mean(0).numpy() * 1000
        return offs.detach().double().numpy(), float(err.detach().sqrt().mean()) * 1000, per_joint

    if offsets is None:
        # the plain mapping's offsets, averaged over the clips
        init = []
        for f in files[: min(len(files), 20)]:
            b = bvhmod.read_bvh(f)
            if bvhmod.skeleton_kind(b) != kind:
                continue
            grot, gpos = bvhmod.forward_kinematics(b)
            init.append(plain_offsets(b, gpos[::10], grot[::10], kind, ref_size))
        offsets = np.mean(init, 0)
        # the wrist and the hand share one source joint (Bandai): start the hand 8 cm along the
        # forearm's line (a bone of length 0 has no direction for the IK)
        b = bvhmod.read_bvh(files[0])
        anc, _ = anchors(b, kind)
        for j, p in enumerate(SMPL24_PARENTS):
            if p >= 0 and np.linalg.norm(offsets[j]) < 1e-3 and anc[j] == anc[p]:
                d = b.offsets[anc[j]]
                offsets[j] = 0.08 * d / max(np.linalg.norm(d), 1e-9)
        rs = ref_size
        t0 = time.time()
        log("fit on the plain mapping (reference):")
        _, plain_err, plain_pj = run(offsets, learn=False, plain=True)
        log("fit of the offsets:")
        offs, err, pj = run(offsets, learn=True, plain=False)
        return {"offsets": offs, "ref_size": ref_size, "mpjpe_mm": err, "plain_mpjpe_mm": plain_err,
                "per_joint_mm": pj, "plain_per_joint_mm": plain_pj, "clips": len(clips),
                "frames": int(sum(len(c["pa"]) for c in clips)), "seconds": time.time() - t0}
    rs = load_table(kind)["ref_size"] if ref_size is None else ref_size
    _, plain_err, plain_pj = run(offsets, learn=False, plain=True)
    _, err, pj = run(offsets, learn=False, plain=False)
    return {"mpjpe_mm": err, "plain_mpjpe_mm": plain_err, "per_joint_mm": pj, "plain_per_joint_mm": plain_pj,
            "clips": len(clips)}


def _kind_files(kind: str) -> tuple[dict, dict]:
    """(name -> BVH path, {"train", "val", "eval"} names) of the source of a skeleton kind."""
    from . import cmu_subset, corpus  # deferred: import cycle (unveil.data.cmu_subset imports unveil.data.convention at module level)

    if kind == "cc":
        files = cmu_subset.unpack()
        by_name = {cmu_subset.clip_name(f): f for f in files}
        return by_name, cmu_subset.splits(list(by_name))
    mocap = corpus._require_mocap()
    files = corpus.unpack(mocap)
    by_name = {corpus._clip_name(f): f for f in files}
    return by_name, corpus.assign_splits(list(by_name), corpus.read_eval_names(mocap), corpus.read_val_names())


def main(argv: list[str], prog: str = "unveil data convention") -> int:
    ap = argparse.ArgumentParser(prog=prog, description="Fit (or check) the learned mocap -> body-model "
                                 "joint convention (unveil/data/convention_<kind>.json).")
    ap.add_argument("--fit", action="store_true", help="fit the offsets on the training split and write the table")
    ap.add_argument("--kind", choices=("bandai", "cc"), default="bandai",
                    help="skeleton kind: bandai (the Bandai corpus) or cc (the CMU subset on the Character "
                    "Creator rig: fitted on its 51 train+val clips, checked on subject 2)")
    ap.add_argument("--clips", type=int, default=120, help="training clips used by the fit (seeded subset)")
    ap.add_argument("--check-clips", type=int, default=42, help="held-out clips of the check (eval split)")
    ap.add_argument("--iters", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--body-model", default="anny")
    a = ap.parse_args(argv)
    from ..body import load_body_model  # deferred: looked up at call time (tests substitute unveil.body.load_body_model)

    kind = a.kind
    by_name, splits = _kind_files(kind)
    # Bandai: the training split only (validation clips stay untouched); the CMU subset is small:
    # its training and validation clips (never subject 2)
    pool = splits["train"] if kind == "bandai" else sorted(splits["train"] + splits["val"])
    rng = np.random.default_rng(a.seed)
    model = load_body_model(a.body_model)
    if a.fit:
        names = sorted(rng.choice(pool, min(a.clips, len(pool)), replace=False))
        res = fit_convention([by_name[n] for n in names], model, kind=kind, iters=a.iters, seed=a.seed)
        table = {"kind": kind, "body_model": a.body_model, "names": list(SMPL24_NAMES),
                 "offsets": np.round(res["offsets"], 5).tolist(), "ref_size": round(res["ref_size"], 5),
                 "fit": {"clips": res["clips"], "frames": res["frames"],
                         "split": "train" if kind == "bandai" else "train+val",
                         "mpjpe_mm": round(res["mpjpe_mm"], 2), "plain_mpjpe_mm": round(res["plain_mpjpe_mm"], 2),
                         "seconds": round(res["seconds"], 1)},
                 "command": f"unveil data convention --fit{'' if kind == 'bandai' else ' --kind ' + kind} "
                            f"--clips {a.clips} --iters {a.iters} --seed {a.seed}"}
        atomic.write_text(table_path(kind), json.dumps(table, indent=1) + "\n")
        load_table.cache_clear()
        print(f"wrote {table_path(kind)}: {table['fit']['split']} fit {res['plain_mpjpe_mm']:.1f} mm (plain mapping) -> "
              f"{res['mpjpe_mm']:.1f} mm (learned offsets)")
    t = load_table(kind)
    if t is None:
        print("no convention table: run with --fit")
        return 1
    names = splits["eval"][: a.check_clips]
    res = fit_convention([by_name[n] for n in names], model, kind=kind, iters=a.iters, seed=a.seed,
                         offsets=t["offsets"])
    print(f"held-out check (eval split, {res['clips']} clips, shapes + poses fitted, offsets fixed): "
          f"{res['plain_mpjpe_mm']:.1f} mm (plain mapping) -> {res['mpjpe_mm']:.1f} mm (learned offsets)")
    print("per joint (mm), plain -> learned:")
    for n, p0, p1 in zip(SMPL24_NAMES, res["plain_per_joint_mm"], res["per_joint_mm"]):
        print(f"  {n:11s} {p0:6.1f} -> {p1:6.1f}")
    return 0
