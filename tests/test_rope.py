"""RopeNet: RopeTP's Rope part hierarchy on the landmark model's image tokens (unveil.motion.rope, issue 18)."""
import numpy as np
import pytest
import torch

from unveil.checkpoint import load_pretrained_model
from unveil.detect.taps import TOKEN_SHAPES
from unveil.motion import image_depth as idm
from unveil.motion import rope
from unveil.paths import WEIGHTS_DIR
from unveil.pipeline import image_depth_reads_tokens
from unveil.types import Camera

CAM = Camera(focal=1200.0, cx=960.0, cy=540.0, width=1920, height=1080)


def _x(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 33, 3, generator=g), torch.randn(n, 33, 336, generator=g),
            torch.randn(n, 1152, generator=g))


def _modules(net):
    return {name.split(".")[0] + ("." + name.split(".")[1] if name.split(".")[0] in ("pool", "isl", "cross", "fuse")
                                  else "") for name, _ in net.named_parameters()}


def test_hierarchy_tables_cover_every_keypoint_once():
    assert len(rope.INTER) == 11 and len(rope.FULCO) == 6        # the paper's counts
    for member, of in ((rope.INTER_MEMBERS, rope.INTER_OF), (rope.FULCO_MEMBERS, rope.FULCO_OF)):
        assert (of >= 0).all() and member.any(1).all()
        # a keypoint expands to a part it belongs to
        assert member[of, torch.arange(33)].all()
    # shoulder, elbow and wrist take the FulCo arm token (the paper's example)
    arm = [p for p, (name, _, _) in enumerate(rope.FULCO) if name == "l_arm"][0]
    assert (rope.FULCO_OF[[11, 13, 15]] == arm).all()


@pytest.mark.parametrize("variant", list(rope.VARIANTS) + ["kponly"])
def test_shapes_and_hip_centred_output(variant):
    cfg = dict(rope.VARIANTS["full"], use_tokens=False) if variant == "kponly" else rope.VARIANTS[variant]
    net = rope.RopeNet(**cfg)
    pts, feats, body = _x()
    out = net(pts, feats if net.use_tokens else None, body if net.reads_body else None)
    assert out.shape == (6, 12, 3)
    np.testing.assert_allclose((out[:, 6] + out[:, 7]).detach().numpy(), 0.0, atol=1e-6)


def test_bad_shapes_raise_valueerror():
    net = rope.RopeNet()
    pts, feats, body = _x()
    with pytest.raises(ValueError):
        net(pts[:, :17], feats, body)
    with pytest.raises(ValueError):
        net(pts, None, body)                    # image tokens missing
    with pytest.raises(ValueError):
        net(pts, feats[..., :288], body)
    with pytest.raises(ValueError):
        net(pts, feats, None)                   # WhoBo reads the body token
    with pytest.raises(ValueError):
        net(pts, feats, body[:, :64])
    with pytest.raises(ValueError):
        rope.RopeNet(dim=30, heads=4)           # heads must divide the width (ICL)
    with pytest.raises(ValueError):
        idm.prepare(np.zeros((4, 33, 3)), CAM.focal, (CAM.cx, CAM.cy), np.zeros((4, 33, 288)),
                    np.zeros((4, 33, 48)), np.zeros((4, 1000)))


def test_ablation_flags_change_the_parameter_set_as_stated():
    full = _modules(rope.RopeNet(**rope.VARIANTS["full"]))
    assert {"pool.inter", "pool.fulco", "isl.indep", "isl.inter", "isl.fulco", "body", "fuse.indep", "fuse.inter", "fuse.fulco",
            "cross.indep", "cross.inter", "cross.fulco", "feat", "pts", "part", "head"} == full
    assert _modules(rope.RopeNet(**rope.VARIANTS["nowhobo"])) == full - {"body", "fuse.indep", "fuse.inter",
                                                                          "fuse.fulco"}
    assert _modules(rope.RopeNet(**rope.VARIANTS["noicl"])) == full - {"cross.indep", "cross.inter", "cross.fulco"}
    fulco = _modules(rope.RopeNet(**rope.VARIANTS["fulco"]))
    assert fulco == {"pts", "part", "feat", "pool.fulco", "isl.indep", "isl.fulco", "cross.indep", "cross.fulco",
                     "head"}
    inter = _modules(rope.RopeNet(**rope.VARIANTS["inter"]))
    assert inter == (fulco - {"pool.fulco", "isl.fulco", "cross.fulco"}) | {"pool.inter", "isl.inter", "cross.inter"}
    kp = rope.RopeNet(**dict(rope.VARIANTS["full"], use_tokens=False))
    assert _modules(kp) == (full - {"feat", "body"}) | {"body_pool"} and not kp.reads_body
    # Mix = the concatenation of the levels: the head's input width grows with the levels
    assert rope.RopeNet(**rope.VARIANTS["full"]).head[1].in_features == 3 * 64
    assert rope.RopeNet(**rope.VARIANTS["fulco"]).head[1].in_features == 2 * 64
    # with Indep alone the structure is ImageDepthNet's (tokens -> ISL -> head)
    one = rope.RopeNet(inter=False, fulco=False, whobo=False, icl=True)
    assert sum(p.numel() for p in one.parameters()) == sum(p.numel() for p in idm.ImageDepthNet().parameters())


def test_part_pooling_reads_only_the_members():
    torch.manual_seed(0)
    pool = rope.PartPool(rope.FULCO_MEMBERS, 64)
    h = torch.randn(2, 33, 64)
    h2 = h.clone()
    h2[:, 27] += 5.0                             # the left ankle: a member of the left leg only
    a, b = pool(h), pool(h2)
    leg = [p for p, (name, _, _) in enumerate(rope.FULCO) if name == "l_leg"][0]
    changed = (a - b).abs().amax((0, 2)) > 1e-6
    assert changed.tolist() == [p == leg for p in range(6)]
    with pytest.raises(ValueError):
        pool(h[:, :20])


def test_icl_mixes_levels_and_no_icl_does_not():
    torch.manual_seed(0)
    pts, feats, body = _x(4)
    for icl in (True, False):
        net = rope.RopeNet(icl=icl)
        tok = {}
        net.isl["fulco"].register_forward_hook(lambda m, i, o: tok.setdefault("fulco", o))
        out = net(pts, feats, body)
        # the left wrist's output: through ICL it depends on every FulCo token (Eq. 2's keys come
        # from all parts), without ICL only on its own part's (l_arm) and, through the hip
        # centring of the output, the hips' (torso)
        g = torch.autograd.grad(out[:, 4].sum(), tok["fulco"])[0].abs().sum((0, 2))
        names = [name for name, _, _ in rope.FULCO]
        own = [names.index("l_arm"), names.index("torso")]
        others = [p for p in range(6) if p not in own]
        assert (g[own] > 0).all()
        assert (g[others] > 0).all() if icl else (g[others] == 0).all()


def test_tiny_forward_backward_learns():
    torch.manual_seed(0)
    net = rope.RopeNet()
    pts, feats, body = _x(16, seed=1)
    y = torch.randn(16, 12, 3) * 0.2
    y = y - 0.5 * (y[:, 6:7] + y[:, 7:8])
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = (net(pts, feats, body) - y).abs().mean()
        opt.zero_grad()
        loss.backward()
        if not losses:
            # every parameter gets a finite gradient
            assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_shipped_rope_weights_load_and_run():
    path = WEIGHTS_DIR / rope.WEIGHTS_NAME
    assert path.is_file() and path.with_suffix(".md").is_file()
    net, ck = load_pretrained_model(path, rope.ARCH, lambda c: rope.RopeNet(**c))
    assert isinstance(net, rope.RopeNet) and not net.training
    assert ck["config"] == {"use_tokens": True, **rope.VARIANTS["full"]}
    # the lift stage's loader dispatches on the arch
    net2 = idm.load(path)
    assert isinstance(net2, rope.RopeNet) and idm.needs(net2) == ("kp", "mid", "body")
    assert image_depth_reads_tokens(rope.WEIGHTS_NAME)
    rng = np.random.default_rng(0)
    kp = np.zeros((7, 33, 3), np.float32)
    kp[..., :2] = np.array([960, 540]) + rng.normal(0, 120, size=(7, 33, 2))
    kp[..., 2] = rng.uniform(0.3, 1.0, (7, 33))
    feats = {k: rng.uniform(0, 6, (7,) + s).astype(np.float16) for k, s in TOKEN_SHAPES.items()}
    pred = idm.predict(net2, kp, CAM.focal, (CAM.cx, CAM.cy), feats)
    assert pred.shape == (7, 12, 3) and np.isfinite(pred).all() and np.abs(pred).max() < 1.5
    with pytest.raises(ValueError):
        idm.predict(net2, kp, CAM.focal, (CAM.cx, CAM.cy), {k: feats[k] for k in ("kp", "mid")})


def test_lift_stage_runs_the_rope_weights_and_refuses_what_it_cannot_use(tmp_path):
    """The lift stage with ``image_depth_weights=image_depth_rope.pt``: tokens with the body token
    change the lift; tokens without it (nothing for WhoBo) leave it as with the option off; `unveil run`
    refuses the file without video + --image-features, and a missing file, before OUT is created."""
    from unveil import pipeline
    from unveil.errors import UnveilError
    from unveil.io.keypoints_json import dump
    from unveil.motion.stage import DEFAULT, MoPO, lift_tracks
    from unveil.types import Track2D

    T = 30
    rng = np.random.default_rng(1)
    kp = np.zeros((T, 33, 3), np.float32)
    kp[..., :2] = np.array([960, 540]) + rng.normal(0, 120, size=(T, 33, 2))
    kp[..., 2] = 0.95
    feats = {k: rng.uniform(0, 6, (T,) + s).astype(np.float16) for k, s in TOKEN_SHAPES.items()}
    wl = rng.normal(0, 0.3, (T, 33, 3)).astype(np.float32)

    def track(f):
        return Track2D(id=0, frames=np.arange(T), keypoints=kp, layout="blazepose33", world_landmarks=wl, features=f)

    off = lift_tracks([track(feats)], CAM)[0].joints
    model = MoPO(**DEFAULT, image_depth=0.5, image_depth_weights=rope.WEIGHTS_NAME)
    on = lift_tracks([track(feats)], CAM, model)[0].joints
    assert np.abs(on - off).max() > 1e-3
    no_body = lift_tracks([track({k: feats[k] for k in ("kp", "mid")})], CAM, model)[0].joints
    np.testing.assert_array_equal(no_body, off)

    path = tmp_path / "kp.json"
    dump(path, [Track2D(id=0, frames=np.arange(12), keypoints=kp[:12, :17], layout="coco17")],
         fps=30, width=1920, height=1080)
    for i, (w, msg) in enumerate(((rope.WEIGHTS_NAME, "needs a video"), ("nope.pt", "no such file"))):
        out = tmp_path / f"out{i}"
        with pytest.raises(UnveilError, match=msg):
            pipeline.run(keypoints_json=path, out_dir=out, render=False, progress=False, image_depth=0.5,
                         image_depth_weights=w)
        assert not out.exists()
