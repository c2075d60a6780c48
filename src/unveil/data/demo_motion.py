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

    from .corpus import process_bvh

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
