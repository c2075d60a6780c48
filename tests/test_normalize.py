"""normalize: camera-normalised, hip-centred, scaled; invariant to image size and batchable."""

import numpy as np
import torch

from unveil.motion.normalize import normalize_keypoints
from unveil.types import Camera


def _kp(T=4, seed=0):
    rng = np.random.default_rng(seed)
    kp = np.zeros((T, 17, 3), np.float32)
    kp[..., :2] = rng.uniform(400, 700, (T, 17, 2))
    kp[..., 2] = rng.uniform(0.6, 1.0, (T, 17))
    return kp


def test_centre_scale_and_features():
    kp = _kp()
    cam = Camera(focal=1000.0, cx=960.0, cy=540.0, width=1920, height=1080)
    n = normalize_keypoints(kp, cam)
    hips = n.keypoints[..., [11, 12], :2].mean(-2)
    assert torch.allclose(hips, torch.zeros_like(hips), atol=1e-5)
    c = ((kp[:, 11, :2] + kp[:, 12, :2]) / 2 - [960, 540]) / 1000
    assert np.allclose(n.center.numpy(), c, atol=1e-6)
    xy = (kp[..., :2] - [960, 540]) / 1000
    box = np.ptp(xy, axis=1).max(-1)
    torso = np.linalg.norm((xy[:, 5] + xy[:, 6]) / 2 - c, axis=-1)
    assert np.allclose(n.scale[..., 0].numpy(), np.maximum(torso, box / 2), atol=1e-6)
    assert torch.allclose(n.keypoints[..., 2], torch.as_tensor(kp[..., 2]))
    f = n.features()
    assert f.shape == (4, 17 * 3 + 3) and n.num_features == 54


def test_invariance_to_zoom_and_batch():
    kp = _kp()
    cam = Camera(focal=1000.0, cx=960.0, cy=540.0, width=1920, height=1080)
    zoom = kp.copy()
    zoom[..., :2] = (kp[..., :2] - [960, 540]) * 2 + [960, 540]
    a = normalize_keypoints(kp, cam)
    b = normalize_keypoints(zoom, focal=2000.0, principal_point=(960.0, 540.0))
    assert torch.allclose(a.features(), b.features(), atol=1e-5)
    batch = np.stack([kp, zoom])
    c = normalize_keypoints(batch, focal=torch.tensor([1000.0, 2000.0]),
                            principal_point=torch.tensor([[960.0, 540.0], [960.0, 540.0]]))
    assert torch.allclose(c.features()[0], a.features(), atol=1e-5)
    assert torch.allclose(c.features()[1], a.features(), atol=1e-5)
