import torch

from unveil.motion.fusion import EVIDENCE_DIM, CrossAttentionFusion, keypoint_evidence
from unveil.motion.lift import FEAT_DIM


def test_evidence_tokens_with_and_without_world_landmarks():
    feats = torch.randn(2, 6, FEAT_DIM)
    vis = torch.rand(2, 6, 17) > 0.5
    ev = keypoint_evidence(feats, vis)
    assert ev.shape == (2, 6, 17, EVIDENCE_DIM)
    assert torch.equal(ev[..., 3], vis.float())
    ev2 = keypoint_evidence(feats, vis, torch.randn(2, 6, 33, 3).numpy())
    assert ev2.shape == (2, 6, 50, EVIDENCE_DIM) and torch.all(ev2[..., 17:, 7] == 1)


def test_untrained_fusion_is_identity_and_trainable():
    torch.manual_seed(0)
    m = CrossAttentionFusion()
    j = torch.randn(2, 6, 24, 3)
    ev = keypoint_evidence(torch.randn(2, 6, FEAT_DIM), torch.ones(2, 6, 17, dtype=torch.bool))
    assert torch.allclose(m(j, ev), j)
    loss = m(j, ev).square().mean()
    loss.backward()
    assert m.out[-1].weight.grad is not None and m.out[-1].weight.grad.abs().sum() > 0
