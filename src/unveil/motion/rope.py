"""RopeNet: RopeTP's Rope part hierarchy (§3.2) on the landmark model's image tokens (issue 18).

The same task as :class:`unveil.motion.image_depth.ImageDepthNet` (per frame, the 12 limb joints'
3D relative to the hip centre, camera axes, metres; it plugs into the same lift-stage blend,
:func:`unveil.motion.image_depth.depth_blend`), with Rope's four body hierarchy levels instead of one:

- **Indep** -- the 33 BlazePose keypoints as part tokens (not the paper's 24 SMPL parts: the
  image features are pooled per BlazePose keypoint by the taps, :mod:`unveil.detect.taps`). Token
  ``i`` = its pooled features (``kp`` 288 + ``mid`` 48 channels) projected + its normalised 2D
  position and visibility (MLP) + a learned part embedding: exactly ImageDepthNet's tokens.
- **Inter** -- 11 segments (:data:`INTER`: head, shoulder girdle, pelvis, 2 upper arms, 2 forearms
  with the hand points, 2 thighs, 2 shins with the foot points; the paper's count of 11).
- **FulCo** -- 6 parts (:data:`FULCO`: head, torso, 2 arms, 2 legs).
- **WhoBo** -- the whole body: the landmark model's ``body`` token (1152 channels, pooled from its
  whole-body map) projected; the reference token. Without image tokens (``use_tokens=False``) it
  is instead a part-attention pool over all 33 Indep tokens.

**HAGT** (Eq. 1, :math:`T_x = \\sigma(Att_x)^T \\odot V_x`) is approximated: the paper predicts
per-part attention maps over the backbone's pixels (supervised by rendered part masks for the
first epochs); here the pixels are already pooled per keypoint by the taps, so an upper-level token
is a *membership-masked learned attention* over its member Indep tokens,
:math:`T_{x,p} = \\sum_{i \\in p} \\mathrm{softmax}_{i \\in p}(q_{x,p} \\cdot W^K_x h_i / \\sqrt{d})\\, W^V_x h_i
+ e_{x,p}` (a learned query per part, keys and values from the Indep tokens :math:`h_i`, the
softmax only over the part's members, a learned part embedding :math:`e_{x,p}`); no mask supervision.

**ACPR**: WhoBo is "expanded and connected to the part feature channels at each level": each
level's tokens become ``Linear([T_x, WhoBo])`` (concatenation then projection back to ``dim``).
**ISL**: two self-attention layers (pre-norm transformer encoder layers, separate weights per
level) inside each level. **ICL** (Eq. 2): the Inter and FulCo tokens are expanded to the Indep
resolution (each keypoint takes the token of its segment / part, :data:`INTER_OF` / :data:`FULCO_OF`;
e.g. shoulder, elbow, wrist -> the FulCo arm token), then cyclic cross-level attention, each level
querying with the previous level in the cycle and keying with the next one:

.. math::
    Att_{Indep} = \\mathrm{softmax}(Q_{FulCo} K_{Inter}^T / \\sqrt{d_k}) V_{Indep},\\;
    Att_{Inter} = \\mathrm{softmax}(Q_{Indep} K_{FulCo}^T / \\sqrt{d_k}) V_{Inter},\\;
    Att_{FulCo} = \\mathrm{softmax}(Q_{Inter} K_{Indep}^T / \\sqrt{d_k}) V_{FulCo}

(multi-head; with two levels A, B: :math:`Att_A = \\mathrm{softmax}(Q_B K_B^T) V_A`,
:math:`Att_B = \\mathrm{softmax}(Q_A K_A^T) V_B`). Deviation: a residual is added
(:math:`E_x + Att_x`), because after the expansion all members of one part share their query
and would otherwise get identical rows.

**Output** -- Eq. 3 reads :math:`Mix = \\mathrm{Concat}(Att_{Indep}, Att_{Inter}, Att_{FulCo})`,
:math:`\\theta = MLP(LN(Mix))` with θ the 24 SMPL rotations in rot6d plus shape and camera from the
levels' features. **Deviation**: here ``MLP(LN(Mix))`` is read at the 12 limb keypoints' tokens and
gives each limb joint's 3D relative to the hip centre (ImageDepthNet's output), not rot6d + shape:
the rest of the pipeline (lifter, IK, evidence fit) makes the rotations and shape, and this
network only feeds the relative-depth blend. No camera either (the blend scale-aligns per frame).

Ablation flags (RopeTP Table 4): ``inter`` / ``fulco`` (levels on/off), ``whobo`` (the reference
on/off), ``icl`` (off: ``Mix`` concatenates the expanded level tokens after ISL without
cross-level attention, the paper's "HAGT + MLP" simple fusion), ``use_tokens`` (off: the
keypoints-only twin, MoPO's "fusion off"). With only Indep, the network is ImageDepthNet's
structure (tokens -> ISL -> head; ``icl`` has nothing to attend to).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .landmark_blend import LIMB_BLAZEPOSE

ARCH = "rope_depth"
WEIGHTS_NAME = "image_depth_rope.pt"
N_KP = 33
FEAT_DIM = 288 + 48
BODY_DIM = 1152
_HEAD = tuple(range(11))
_LHAND, _RHAND = (15, 17, 19, 21), (16, 18, 20, 22)
_LFOOT, _RFOOT = (27, 29, 31), (28, 30, 32)
# Inter: 11 segments (name, member keypoints, keypoints that take this segment's token in ICL)
INTER = (
    ("head", _HEAD, _HEAD),
    ("shoulders", (11, 12), (11, 12)),
    ("pelvis", (23, 24), (23, 24)),
    ("l_upper_arm", (11, 13), (13,)),
    ("r_upper_arm", (12, 14), (14,)),
    ("l_forearm", (13,) + _LHAND, _LHAND),
    ("r_forearm", (14,) + _RHAND, _RHAND),
    ("l_thigh", (23, 25), (25,)),
    ("r_thigh", (24, 26), (26,)),
    ("l_shin", (25,) + _LFOOT, _LFOOT),
    ("r_shin", (26,) + _RFOOT, _RFOOT),
)
# FulCo: 6 parts
FULCO = (
    ("head", _HEAD, _HEAD),
    ("torso", (11, 12, 23, 24), (23, 24)),
    ("l_arm", (11, 13) + _LHAND, (11, 13) + _LHAND),
    ("r_arm", (12, 14) + _RHAND, (12, 14) + _RHAND),
    ("l_leg", (23, 25) + _LFOOT, (25,) + _LFOOT),
    ("r_leg", (24, 26) + _RFOOT, (26,) + _RFOOT),
)


def _tables(parts) -> tuple[torch.Tensor, torch.Tensor]:
    """(P,33) bool membership and (33,) long expansion index (keypoint -> its part) of a level."""
    member = torch.zeros(len(parts), N_KP, dtype=torch.bool)
    of = torch.full((N_KP,), -1, dtype=torch.long)
    for p, (_, members, owns) in enumerate(parts):
        member[p, list(members)] = True
        of[list(owns)] = p
    if (of < 0).any():
        raise AssertionError("every keypoint must belong to one part of each level")
    return member, of


INTER_MEMBERS, INTER_OF = _tables(INTER)
FULCO_MEMBERS, FULCO_OF = _tables(FULCO)


class PartPool(nn.Module):
    """Membership-masked learned attention pooling (the HAGT approximation, module docstring).

    Args:
        member: (P,33) bool, which Indep tokens belong to each part.
        dim: token width.
    Forward: ``h`` (N,33,dim) Indep tokens -> (N,P,dim) part tokens.
    """

    def __init__(self, member: torch.Tensor, dim: int):
        super().__init__()
        self.register_buffer("member", member.clone(), persistent=False)
        P = member.shape[0]
        self.query = nn.Parameter(torch.randn(P, dim) * 0.02)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.embed = nn.Parameter(torch.randn(1, P, dim) * 0.02)
        self.scale = dim ** -0.5

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if h.ndim != 3 or h.shape[1] != self.member.shape[1]:
            raise ValueError(f"h must be (N,{self.member.shape[1]},D), got {tuple(h.shape)}")
        s = torch.einsum("pd,nkd->npk", self.query, self.key(h)) * self.scale
        s = s.masked_fill(~self.member, float("-inf"))
        return torch.einsum("npk,nkd->npd", s.softmax(-1), self.value(h)) + self.embed


class CrossLevel(nn.Module):
    """One ICL attention (Eq. 2): queries from one level, keys from another, values from a third
    (all expanded to the 33 keypoints), multi-head, + a residual on the value level.

    Forward: ``q_src``, ``k_src``, ``v_src`` (N,33,dim) -> (N,33,dim).
    """

    def __init__(self, dim: int, heads: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be a multiple of heads {heads}")
        self.heads = heads
        self.norm_q, self.norm_k, self.norm_v = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, q_src: torch.Tensor, k_src: torch.Tensor, v_src: torch.Tensor) -> torch.Tensor:
        n, t, d = v_src.shape
        h = self.heads

        def split(x):
            return x.reshape(n, t, h, d // h).transpose(1, 2)

        a = F.scaled_dot_product_attention(split(self.q(self.norm_q(q_src))), split(self.k(self.norm_k(k_src))),
                                           split(self.v(self.norm_v(v_src))))
        return v_src + self.out(a.transpose(1, 2).reshape(n, t, d))


class RopeNet(nn.Module):
    """Rope's part hierarchy -> the 12 limb joints' 3D relative to the hip centre.

    Args:
        use_tokens: read the image tokens (``kp``/``mid`` per keypoint and, with ``whobo``, the
            ``body`` token); False: the keypoints-only twin.
        inter: the Inter level (11 segments) on/off.
        fulco: the FulCo level (6 parts) on/off.
        whobo: the WhoBo reference token concatenated to every level's tokens on/off.
        icl: the cyclic cross-level attention (Eq. 2) on/off (needs two levels or more to act).
        dim, heads, layers: token width, attention heads, ISL depth (2 in the paper).

    Forward:
        pts: (N,33,3) 2D relative to the hip centre / torso size + visibility
            (:func:`unveil.motion.image_depth.prepare`).
        feats: (N,33,336) per-keypoint image tokens (only with ``use_tokens``).
        body: (N,1152) whole-body token (only with ``use_tokens`` and ``whobo``).

    Returns:
        (N,12,3) metres, camera axes, order :data:`unveil.motion.landmark_blend.LIMB_SMPL`,
        relative to the hip centre (entries 6 and 7 are the hips).

    Raises:
        ValueError: inputs of the wrong shape or missing; ``dim`` not a multiple of ``heads``.
    """

    def __init__(self, use_tokens: bool = True, inter: bool = True, fulco: bool = True, whobo: bool = True,
                 icl: bool = True, dim: int = 64, heads: int = 4, layers: int = 2):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} must be a multiple of heads {heads}")
        self.use_tokens, self.inter, self.fulco = bool(use_tokens), bool(inter), bool(fulco)
        self.whobo, self.icl = bool(whobo), bool(icl)
        self.reads_body = self.use_tokens and self.whobo
        # Indep tokens (ImageDepthNet's)
        self.pts = nn.Sequential(nn.Linear(3, dim), nn.GELU(), nn.Linear(dim, dim))
        self.part = nn.Parameter(torch.zeros(1, N_KP, dim))
        nn.init.normal_(self.part, std=0.02)
        if self.use_tokens:
            self.feat = nn.Sequential(nn.LayerNorm(FEAT_DIM), nn.Linear(FEAT_DIM, dim))
        self.levels = ["indep"] + (["inter"] if self.inter else []) + (["fulco"] if self.fulco else [])
        self.pool = nn.ModuleDict()
        if self.inter:
            self.pool["inter"] = PartPool(INTER_MEMBERS, dim)
        if self.fulco:
            self.pool["fulco"] = PartPool(FULCO_MEMBERS, dim)
        self.register_buffer("inter_of", INTER_OF.clone(), persistent=False)
        self.register_buffer("fulco_of", FULCO_OF.clone(), persistent=False)
        if self.whobo:
            if self.use_tokens:
                self.body = nn.Sequential(nn.LayerNorm(BODY_DIM), nn.Linear(BODY_DIM, dim))
            else:
                self.body_pool = PartPool(torch.ones(1, N_KP, dtype=torch.bool), dim)
            self.fuse = nn.ModuleDict({x: nn.Linear(2 * dim, dim) for x in self.levels})

        def isl():
            layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True, norm_first=True)
            return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

        self.isl = nn.ModuleDict({x: isl() for x in self.levels})
        if self.icl and len(self.levels) > 1:
            self.cross = nn.ModuleDict({x: CrossLevel(dim, heads) for x in self.levels})
        n = len(self.levels)
        self.head = nn.Sequential(nn.LayerNorm(n * dim), nn.Linear(n * dim, dim), nn.GELU(), nn.Linear(dim, 3))

    def forward(self, pts: torch.Tensor, feats: torch.Tensor | None = None,
                body: torch.Tensor | None = None) -> torch.Tensor:
        if pts.ndim != 3 or pts.shape[1:] != (N_KP, 3):
            raise ValueError(f"pts must be (N,33,3), got {tuple(pts.shape)}")
        n = pts.shape[0]
        h = self.pts(pts) + self.part
        if self.use_tokens:
            if feats is None or feats.shape != (n, N_KP, FEAT_DIM):
                raise ValueError(f"feats must be (N,33,{FEAT_DIM}), got {None if feats is None else tuple(feats.shape)}")
            h = h + self.feat(feats)
        tok = {"indep": h}
        for x in self.levels[1:]:
            tok[x] = self.pool[x](h)                                  # HAGT (approximated)
        if self.whobo:
            if self.use_tokens:
                if body is None or body.shape != (n, BODY_DIM):
                    raise ValueError(f"body must be (N,{BODY_DIM}), got {None if body is None else tuple(body.shape)}")
                ref = self.body(body)[:, None]
            else:
                ref = self.body_pool(h)
            tok = {x: self.fuse[x](torch.cat([t, ref.expand(-1, t.shape[1], -1)], -1)) for x, t in tok.items()}
        tok = {x: self.isl[x](t) for x, t in tok.items()}             # ISL
        of = {"indep": None, "inter": self.inter_of, "fulco": self.fulco_of}
        exp = [tok[x] if of[x] is None else tok[x][:, of[x]] for x in self.levels]   # (N,33,dim) each
        if self.icl and len(exp) > 1:                                  # ICL, Eq. 2 (cyclic)
            m = len(exp)
            exp = [self.cross[x](exp[(i - 1) % m], exp[(i + 1) % m], exp[i]) for i, x in enumerate(self.levels)]
        mix = torch.cat(exp, -1)[:, list(LIMB_BLAZEPOSE)]
        out = self.head(mix)
        return out - 0.5 * (out[:, 6:7] + out[:, 7:8])


# the ablations of RopeTP Table 4 (training/image_depth.py trains each with the same recipe)
VARIANTS = {
    "full": {"inter": True, "fulco": True, "whobo": True, "icl": True},
    "fulco": {"inter": False, "fulco": True, "whobo": False, "icl": True},
    "inter": {"inter": True, "fulco": False, "whobo": False, "icl": True},
    "nowhobo": {"inter": True, "fulco": True, "whobo": False, "icl": True},
    "noicl": {"inter": True, "fulco": True, "whobo": True, "icl": False},
}

__all__ = ["RopeNet", "PartPool", "CrossLevel", "ARCH", "WEIGHTS_NAME", "INTER", "FULCO", "INTER_MEMBERS",
           "INTER_OF", "FULCO_MEMBERS", "FULCO_OF", "VARIANTS"]
