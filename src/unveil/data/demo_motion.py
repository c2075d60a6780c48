"""The packaged demo motion (``demo_motion.npz``): 6 s of steady walking from one Bandai clip.

Used by ``unveil demo``, the synthetic-video renders and the benchmarks; it lives in ``unveil.data``
so that the data-synthesis code does not import the demo command (which imports the pipeline).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import atomic, paths
from ..errors import UnveilError

MOTION_FILE = Path(__file__).resolve().parent / "demo_motion.npz"
MOTION_CLIP = "dataset-1_walk_old_001"
MOTION_RANGE = (45, 225)        # frames at 30 fps: 6 s of steady walking


# ------------------------------------------------------------------------------------ motion
def build_motion(out: Path = MOTION_FILE, clip: str = MOTION_CLIP, frames=MOTION_RANGE) -> Path:
    """Rebuild the packaged demo motion from the shared Bandai data (developers only)."""
    import tarfile
    import tempfile

    from .corpus import process_bvh  # deferred: loads torch

    mocap = paths.mocap_dir()
    if mocap is None:
        raise UnveilError("--build-motion needs the developers' shared data: set UNVEIL_SHARED")
    evals = (mocap / "bandai-eval-split.txt").read_text().split()
    if f"{clip}.bvh" not in evals and clip not in evals:
        raise UnveilError(f"{clip} is not in the evaluation split")
    with tarfile.open(mocap / "bandai-motiondataset.tar.xz") as tf, tempfile.TemporaryDirectory() as tmp:
        member = next(m for m in tf.getmembers() if m.name.endswith(f"/{clip}.bvh"))
        tf.extract(member, tmp, filter="data")
        d = process_bvh(Path(tmp) / member.name)
    j = d["joints"][frames[0]:frames[1]]
    atomic.save_npz(out, joints=j.astype(np.float32), face=d["face"][frames[0]:frames[1]].astype(np.float32),
                    fps=np.float32(30.0), clip=np.array(clip), frames=np.array(frames),
                    licence=np.array("CC BY-NC 4.0, Bandai Namco Research Inc. (Bandai Namco Research "
                                     "Motion Dataset 1); evaluation split"))
    return out


def load_motion() -> dict:
    """The packaged demo motion.

    Returns:
        The arrays of ``demo_motion.npz``: ``joints`` (T, 24, 3) SMPL-24 joints in metres, ``face``,
        ``fps``, ``clip``, ``frames`` (the clip's frame range) and ``licence``.
    """
    if not MOTION_FILE.exists():
        raise UnveilError(f"demo motion file {MOTION_FILE} is missing (reinstall unveil, or "
                          "`unveil demo --build-motion` with UNVEIL_SHARED set)")
    with np.load(MOTION_FILE, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


# SMPL-24 joints of COCO-17 keypoints 5..16 (shoulders .. ankles); 0..4 are the face points
COCO_BODY_JOINTS = (16, 17, 18, 19, 20, 21, 1, 2, 4, 5, 7, 8)


def demo_coco17_camera(joints: np.ndarray, face: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The demo motion's COCO-17 points and the static camera the synthetic keypoint fixtures use.

    Args:
        joints: (T, 24, 3) world joints (Y up); face: (T, 5, 3) face points.
    Returns:
        (coco (T, 17, 3) world points, R (3, 3) world -> OpenCV camera rotation, c (3,) camera
        centre: 7 m in front of the motion's mean root, 0.5 m to the side, 0.3 m up, looking at it).
    """
    j = np.asarray(joints, np.float64)
    coco = np.concatenate([np.asarray(face, np.float64), j[:, list(COCO_BODY_JOINTS)]], 1)
    centre = j[:, 0].mean(0)
    cam_c = centre + np.array([0.5, 0.3, 7.0])
    f = centre - cam_c
    f /= np.linalg.norm(f)
    r = np.cross(f, [0.0, 1.0, 0.0])
    r /= np.linalg.norm(r)
    return coco, np.stack([r, np.cross(f, r), f]), cam_c
