"""The shipped MoPO weights: pipeline interface, benchmark rows, speed report, and a validation clip."""
import numpy as np
import pytest
import torch

from unveil.paths import WEIGHTS_DIR
from unveil.types import Camera, Track2D

SHIPPED = all((WEIGHTS_DIR / n).is_file() for n in ("mopo_occlusion.pt", "mopo_lift_lstm.pt", "mopo_predict_16_8.pt"))
needs_weights = pytest.mark.skipif(not SHIPPED, reason="MoPO weights not shipped yet (unveil train mopo-*)")
CAM = Camera(focal=1200.0, cx=960.0, cy=540.0, width=1920, height=1080)


def _standin_kp(T=40, seed=0):
    rng = np.random.default_rng(seed)
    kp = np.zeros((T, 33, 3), np.float32)
    kp[..., :2] = np.array([960, 540]) + rng.normal(0, 120, size=(1, 33, 2))
    kp[..., 2] = 0.9
    kp[10:25, 25:29, 2] = 0.1  # knees/ankles hidden for a while
    return kp


@needs_weights
def test_lift_tracks_blazepose_layout():
    from unveil.motion.stage import lift_tracks

    tr = Track2D(id=3, frames=np.arange(40) + 5, keypoints=_standin_kp(), layout="blazepose33")
    (out,) = lift_tracks([tr], CAM)
    assert out.id == 3 and np.array_equal(out.frames, tr.frames)
    assert out.joints.shape == (40, 24, 3) and np.isfinite(out.joints).all()
    assert np.all(out.joints[:, 0] == 0)
    assert out.occluded.shape == (40, 33) and out.occluded[15, 25] and not out.occluded[0, 25]
    assert out.confidence.shape == (40, 24)
    assert lift_tracks([], CAM) == []


@needs_weights
def test_speed_report_keys():
    from unveil.motion.stage import speed_report

    r = speed_report(frames=200)
    assert r["frames"] == 200 and r["frames_per_s"] > 0 and r["occluded_frames"] > 0


@needs_weights
def test_bench_rows_registered():
    from unveil.bench import registry
    import unveil.motion.stage as st

    names = st.register_bench(registry)
    assert "mopo" in names and "mopo-det-spatial" in names and "mopo-estimated-conf" in names


@needs_weights
def test_shipped_weights_reconstruct_validation_clip(mocap_dir):
    """A validation-split clip (never the evaluation split), seen by a synthetic camera with an
    occluding object, reconstructs under a loose bound; completion must not make it worse."""
    from unveil.data import corpus, synth2d
    from unveil.motion.stage import MoPO

    torch.set_num_threads(1)
    clip = corpus.load_split("val", max_clips=1, seed=3)[0]
    T = min(len(clip.joints), 240)
    clip = synth2d._slice_clip(clip, 0, T)
    errs = {}
    for kind in ("none", "object"):
        seq = synth2d.make_sequence(clip, kind, seed=1)
        gt = seq.joints_cam - seq.joints_cam[:, :1]
        for complete in (False, True):
            pred = MoPO(complete=complete)(seq.keypoints2d, seq.camera)["joints"]
            assert pred.shape == gt.shape
            errs[kind, complete] = float(np.linalg.norm(pred - gt, axis=-1).mean()) * 1000
    assert errs["none", True] < 80.0, errs
    assert errs["object", True] < 90.0, errs
    assert errs["object", True] <= errs["object", False] * 1.1, errs
