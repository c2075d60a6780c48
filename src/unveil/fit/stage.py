"""Pipeline stage: completed 3D joints -> body-model parameters per track (ARTS §3.3).

    J (Track3D) --disentangle (Eq. 2-3)--> B --shape (Eq. 6-9)--> β (one per track)
    J + rest_joints(β) --FIK (swing-twist) [--TIK (Eq. 4-5) if weights/tik.pt exists]--> θ
    θ, β --final fit (one shared shape, MoRo supp. B)--> θ', β'
    θ', β' + 2D keypoints + camera --unveil.trajectory.camera.root_translation--> transl
    -> BodyTrack (global_orient, body_pose axis-angle; joints_cam = the body model's joints)

``joints_cam`` are the SMPL-24 joints of the fitted body (forward kinematics of its rest joints,
which is what ``BodyModel.forward`` returns), so mesh and joints agree. They differ from the input
3D joints where the input skeleton has proportions the body model cannot take (see the note in
``unveil bench ik``); ``joints_source="input"`` returns the input joints + transl instead.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from ..runtime import torch_threads
from ..skeleton import COCO17_TO_SMPL24, forward_kinematics, to_coco17
from ..types import BodyTrack, Camera, Track2D, Track3D
from .disentangle import bone_lengths
from .ik import joints_to_rotations, rotmats_to_axis_angle
from .refine import fit_to_joints, fit_to_joints_many
from .shape import fit_shape
from .tik import load_tik, refine_rotations

log = logging.getLogger(__name__)


def _body(body_model):
    if isinstance(body_model, (str, bytes)) or body_model is None:
        from ..body import load_body_model  # deferred: looked up at call time (tests substitute unveil.body.load_body_model)

        return load_body_model(body_model or "anny")
    return body_model


def fit_joints(joints: np.ndarray, body_model, confidence: np.ndarray | None = None, use_tik: bool | None = None,
               refine_iters: int = 40) -> dict:
    """Root-relative (T, 24, 3) joints -> {"rotmats" (T,24,3,3), "shape" (S,), "joints" (T,24,3)
    root-relative body-model joints, "method": str}. ``use_tik``: None = when weights exist."""
    model = _body(body_model)
    st = _initial_fit(joints, model, confidence, use_tik)
    if refine_iters > 0:
        st["R"], st["shape"] = fit_to_joints(model, st["J"], st["R"], st["shape"], iters=refine_iters,
                                             weights=st["w"])
    return _final_joints(model, st, refine_iters > 0)


def _initial_fit(joints, model, confidence, use_tik) -> dict:
    """Bone-guided shape + FIK (+ TIK): everything before the final fit."""
    J = np.asarray(joints, dtype=np.float64)
    J = J - J[:, :1]
    B = bone_lengths(J, confidence, robust=True)
    shape = fit_shape(model, B)
    with torch.no_grad():
        rest = model.rest_joints(shape[None].to(model.dtype))[0].double()
    rest = rest - rest[:1]
    net = load_tik() if use_tik is not False else None
    if use_tik and net is None:
        raise FileNotFoundError("TIK weights (unveil/weights/tik.pt) missing: run `unveil train tik`")
    # TIK reads the FIK rotations as float32 and gives float32 values: with it both are kept as float32
    # (the same numbers as float64 ones converted later, half the memory on a long video)
    dtype = torch.float32 if net is not None else torch.float64
    R = by_frames(lambda j: joints_to_rotations(j, rest).to(dtype), torch.as_tensor(J))
    method = "FIK"
    if net is not None:
        R = refine_rotations(net, J, rest, fik=R, dtype=torch.float32)
        method = "TIK"
    w = None if confidence is None else np.clip(np.asarray(confidence, dtype=np.float32), 0.05, 1.0)
    return {"J": J, "R": R, "shape": shape, "rest": rest, "method": method, "w": w}


def _final_joints(model, st: dict, refined: bool) -> dict:
    R, shape, rest, method = st["R"], st["shape"], st["rest"], st["method"]
    if refined:
        method += "+fit"
        with torch.no_grad():
            rest = model.rest_joints(shape[None].to(model.dtype))[0].double()
        rest = rest - rest[:1]
    with torch.no_grad():
        pos = by_frames(lambda r: forward_kinematics(r.double(), rest.expand(r.shape[0], 24, 3))[1].float(), R)
    return {"rotmats": R.float(), "shape": shape.float(), "joints": pos.numpy(), "method": method}


FRAME_CHUNK = 1024  # frames per call of the frame-wise FIK and forward kinematics (by_frames)


def by_frames(fn, x: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """``fn(x)`` for a frame-wise function, computed ``chunk`` frames at a time: its temporaries
    (FIK's per-joint rotations, ~6 KB per frame) stay bounded on a long video; every frame's result
    is computed by the same operations, so it is the same.

    Args:
        fn: maps (n, ...) -> (n, ...) frame by frame (torch in, torch out).
        x: (T, ...) tensor.
        chunk: frames per call (default :data:`FRAME_CHUNK`; 0 or less: one call).
    Returns:
        (T, ...) the concatenated results.
    """
    chunk = FRAME_CHUNK if chunk is None else int(chunk)
    if chunk <= 0 or x.shape[0] <= chunk:
        return fn(x)
    return torch.cat([fn(x[i:i + chunk]) for i in range(0, x.shape[0], chunk)])


def fit_tracks(tracks3d: list[Track3D], tracks2d: list[Track2D], camera: Camera, body_model="anny",
               use_tik: bool | None = None, refine_iters: int = 40, joints_source: str = "model") -> list[BodyTrack]:
    """The agreed ARTS stage interface: one :class:`BodyTrack` per :class:`Track3D`.

    ``tracks2d`` (matched by ``id``) give the 2D evidence for the root translation; a track without
    one (or without the trajectory module) gets ``transl`` = 0 and a note in ``track.notes``.
    """
    model = _body(body_model)
    by_id = {t.id: t for t in tracks2d or []}
    out = []
    # 1 torch thread: small tensors; 2 threads on a shared 2-core box cost ~10x the CPU (same
    # results; measured in docs/frontend.md)
    with torch_threads(1):
        # shape + IK per track, then the final fit of all tracks together (one forward kinematics
        # over every frame per iteration; each track keeps its own parameters: same result)
        states = [_initial_fit(tr.joints, model, tr.confidence, use_tik) for tr in tracks3d]
        if refine_iters > 0:
            # the targets as float32 (what the fit converts them to); the float64 copy is not needed after
            fitted = fit_to_joints_many(model, [(torch.as_tensor(st.pop("J")).float(), st["R"], st["shape"], st["w"])
                                                for st in states], iters=refine_iters)
            for st, (R, shape) in zip(states, fitted):
                st["R"], st["shape"] = R, shape
        for tr, st in zip(tracks3d, states):
            res = _final_joints(model, st, refine_iters > 0)
            out.append(_fit_track(tr, res, by_id, camera, model, body_model, joints_source))
    return out


def _fit_track(tr: Track3D, res: dict, by_id: dict, camera: Camera, model, body_model,
               joints_source: str) -> BodyTrack:
    notes: list[str] = []
    inp = np.asarray(tr.joints, dtype=np.float32) - np.asarray(tr.joints, dtype=np.float32)[:, :1]
    rel = res["joints"] if joints_source == "model" else inp
    T = rel.shape[0]
    transl = np.zeros((T, 3), np.float32)
    t2 = by_id.get(tr.id)
    if t2 is None:
        notes.append("no 2D track: transl = 0")
    else:
        try:
            from ..trajectory.camera import root_translation  # deferred: loads scipy

            kp = to_coco17(np.asarray(t2.keypoints), t2.layout)
            sel = np.searchsorted(np.asarray(t2.frames), np.asarray(tr.frames))
            sel = np.clip(sel, 0, len(t2.frames) - 1)
            # from the input joints: they share the 2D keypoints' skeleton convention (the
            # mesh's joints do not, and gave 3-4x larger root errors on synthetic val clips)
            transl = np.asarray(root_translation(inp, kp[sel], camera), dtype=np.float32)
        except ImportError as e:  # pragma: no cover - the trajectory module is in the repo
            notes.append(f"trajectory unavailable ({e}): transl = 0")
    go, bp = rotmats_to_axis_angle(res["rotmats"])
    joints_cam = (rel + transl[:, None]).astype(np.float32)
    joints_world = None  # the pipeline puts every track in one shared world frame
    bt = BodyTrack(id=tr.id, frames=np.asarray(tr.frames), global_orient=go, body_pose=bp, transl=transl,
                   shape=res["shape"].numpy(), joints_cam=joints_cam, joints_world=joints_world,
                   body_model=str(getattr(model, "name", body_model)))
    bt.notes = notes + [f"pose: {res['method']}"]  # type: ignore[attr-defined]
    return bt


__all__ = ["fit_tracks", "fit_joints", "COCO17_TO_SMPL24"]
