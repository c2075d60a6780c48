import numpy as np
import torch

from unveil.motion.occlusion import ALPHA, OcclusionDetector, ema_confidence


def test_ema_math():
    S = np.array([[0.9], [0.1], [0.5]], np.float32)
    out = ema_confidence(S)
    assert np.allclose(out[:, 0], [0.9, ALPHA * 0.1 + (1 - ALPHA) * 0.9, ALPHA * 0.5 + (1 - ALPHA) * 0.1])
    t = ema_confidence(torch.as_tensor(S))
    assert np.allclose(t.numpy(), out)


def test_untrained_detector_is_eq1_and_shapes():
    torch.manual_seed(0)
    det = OcclusionDetector(mode="spatiotemporal").eval()
    S = torch.rand(3, 20, 17)
    with torch.no_grad():
        out = det(S)
    assert out.shape == (3, 20, 17)
    # the offset head starts at zero: S'' = S' (Eq. 1) exactly
    assert torch.allclose(out, ema_confidence(S))
    vis = det.visible(S.numpy())
    assert vis.shape == (3, 20, 17) and vis.dtype == bool
    assert np.array_equal(vis, (ema_confidence(S) > 0.6).numpy())


def test_modes_and_online_matches_offline():
    torch.manual_seed(1)
    S = torch.rand(2, 15, 17)
    for mode in ("spatial", "temporal", "spatiotemporal"):
        det = OcclusionDetector(mode=mode).eval()
        for p in det.parameters():
            torch.nn.init.normal_(p, std=0.2)
        with torch.no_grad():
            full = det(S)
        state = det.init_state()
        steps = []
        for t in range(S.shape[1]):
            o, v, state = det.step(S[:, t], state)
            steps.append(o)
        assert torch.allclose(torch.stack(steps, 1), full, atol=1e-5), mode
    assert torch.equal(OcclusionDetector(mode="spatial")(S), S)
