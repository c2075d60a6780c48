"""Derived body arrays of the ``tracks/<id>.npz`` output (see ``docs/outputs.md``): the pose in the
world frame, the posed mesh, and re-posing from the saved fields.

Conventions (all metres, SMPL-24 joint order, axis-angle rotations):

- camera frame: OpenCV (x right, y down, z forward); world frame: Y up, floor at y = 0 (from
  :func:`unveil.trajectory.world.world_from_camera`).
- ``cam_to_world_R`` (3, 3), ``cam_to_world_t`` (3,): ``x_world = cam_to_world_R @ x_cam +
  cam_to_world_t`` (row vectors: ``X_world = X_cam @ R.T + t``).
- the body model's rest pelvis is at the origin, so ``transl`` is the pelvis position and the pose
  rotates about the pelvis: ``joints = FK(rotations, shape) + transl``. Hence the world pose is
  ``R_root_world = R @ R_root_cam`` and ``transl_world = R @ transl_cam + t``.
"""

from __future__ import annotations

import numpy as np
import roma
import torch


def _rotmats(global_orient: np.ndarray, body_pose: np.ndarray) -> torch.Tensor:
    """(T, 3) + (T, 23, 3) axis-angle -> (T, 24, 3, 3) float64 rotation matrices."""
    go = np.asarray(global_orient, np.float64).reshape(-1, 1, 3)
    bp = np.asarray(body_pose, np.float64).reshape(go.shape[0], 23, 3)
    return roma.rotvec_to_rotmat(torch.from_numpy(np.concatenate([go, bp], 1)))


def world_pose(global_orient: np.ndarray, transl: np.ndarray, R: np.ndarray, t: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Camera-frame root pose -> world-frame root pose.

    Args:
        global_orient: (T, 3) axis-angle root rotation in the camera frame.
        transl: (T, 3) pelvis position in the camera frame, metres.
        R: (3, 3) camera->world rotation; t: (3,) camera->world translation.

    Returns:
        ``global_orient_world`` (T, 3) float32 axis-angle and ``transl_world`` (T, 3) float32.
    """
    Rm = torch.from_numpy(np.asarray(R, np.float64))
    rc = roma.rotvec_to_rotmat(torch.from_numpy(np.asarray(global_orient, np.float64).reshape(-1, 3)))
    gw = roma.rotmat_to_rotvec(Rm @ rc).numpy().astype(np.float32)
    tw = (np.asarray(transl, np.float64).reshape(-1, 3) @ np.asarray(R, np.float64).T + np.asarray(t, np.float64))
    return gw, tw.astype(np.float32)


def pose_body(body_model, global_orient: np.ndarray, body_pose: np.ndarray, shape: np.ndarray,
              transl: np.ndarray, chunk: int = 64, vertices: bool = True) -> dict[str, np.ndarray]:
    """Run the body model over a track, in chunks of ``chunk`` frames.

    Args:
        body_model: a :class:`unveil.body.base.BodyModel`.
        global_orient: (T, 3), body_pose: (T, 23, 3) axis-angle; shape: (S,); transl: (T, 3) metres.
        vertices: also return the mesh (costs T x V x 3 floats).

    Returns:
        ``{"joints": (T, 24, 3) float32}`` plus ``"vertices"`` (T, V, 3) float32 and ``"faces"``
        (F, 3) int32 when ``vertices``; same frame as ``global_orient``/``transl``.
    """
    rot = _rotmats(global_orient, body_pose)
    tr = torch.from_numpy(np.asarray(transl, np.float64).reshape(-1, 3))
    sh = torch.as_tensor(np.asarray(shape, np.float32))
    js, vs = [], []
    with torch.no_grad():
        for a in range(0, rot.shape[0], chunk):
            o = body_model(rot[a:a + chunk].to(body_model.dtype), sh.to(body_model.dtype),
                           tr[a:a + chunk].to(body_model.dtype))
            js.append(o["joints"].float().cpu().numpy())
            if vertices:
                vs.append(o["vertices"].float().cpu().numpy())
    out = {"joints": np.concatenate(js) if js else np.zeros((0, 24, 3), np.float32)}
    if vertices:
        out["vertices"] = np.concatenate(vs) if vs else np.zeros((0, 0, 3), np.float32)
        out["faces"] = body_model.faces.cpu().numpy().astype(np.int32)
    return out


__all__ = ["world_pose", "pose_body"]
