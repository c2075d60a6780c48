"""MoRo-style masked generative motion prior for occluded frames (MoRo §4; small CPU version).

Three parts, after MoRo §4:

1. **Pose tokenizer** (MoRo §4.1, a VQ-VAE): per-frame root-relative camera-frame SMPL-24 pose
   p_t (69 numbers, pelvis fixed at 0) -> z_t = E(p_t) in R^64 -> nearest code
   k_t = argmin_k ||z_t - c_k||, codebook C = 256 x 64 -> p^_t = D(c_{k_t}). Loss
   ||p - p^||_1-ish (MPJPE) + ||sg[z] - c||^2 + beta ||z - sg[c]||^2 (beta = 0.25), straight-through
   gradient; dead codes are re-seeded from encoder outputs.
2. **Masked transformer over time** (MoRo §4.2): a window of W = 64 frames; frame t's input is the
   embedding of its token k_t if trusted, else a learned [MASK] embedding, plus a projection of the
   condition (the default lifter's per-frame estimate, ``stage.DEFAULT`` = TCN + Savitzky-Golay, and
   the MoPO detector's per-joint confidence S''), plus a learned position embedding; 3 pre-norm
   encoder layers (width 128, 4 heads) -> logits over the 256 codes for every frame. Training
   masks every low-confidence frame and a random share gamma(u) = cos(pi u / 2), u ~ U(0,1) of the
   others (half of the time as contiguous spans, like occlusions); cross-entropy on masked frames.
3. **Confidence-guided iterative decoding** (MoRo §4.3, after MaskGIT): start with all
   low-confidence frames masked (M of them); at step s = 1..T predict all masked frames, keep the
   most confident predictions and re-mask the n_s = floor(M cos(pi/2 * s/T)) least confident ones
   (n_T = 0). Frames whose 2D confidence is high are never masked: their tokens are the tokenizer's
   code of the lifter estimate. Decoded tokens -> poses D(c_k) (rotated back with the lifter's body
   frame, smoothed by a 9-frame Savitzky-Golay since tokens are quantised); these are blended into
   the lifter output only on occluded joints of occluded frames (weight ``BLEND`` = 0.5, chosen on
   the validation split, see ``weights/moro.md``).

Training: ``unveil train moro --seed 0`` (weights ``weights/moro.pt``, float16, see ``moro.md``).
Bench rows: ``moro`` (T=5) and the MoRo Tab. 3 step ablation ``moro-T1``, ``moro-T10``, ``moro-T20``.
This is NOT the pipeline default.
"""

from __future__ import annotations

import math
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..geometry import savgol_joints, savgol_time
from ..checkpoint import load_pretrained_model, save_checkpoint
from ..paths import WEIGHTS_DIR

WEIGHTS = WEIGHTS_DIR / "moro.pt"
ARCH = "moro"  # the checkpoint's "arch" (unveil.checkpoint); config: {}
WINDOW = 64
N_CODES = 256
CODE_DIM = 64
WIDTH = 128
LAYERS = 3
N_COND = 69 + 24
# blend 0.5: on the validation split (train() output, weights/moro.md) blend 1 hurt the occluded
# joints (70.8 vs lifter 63.9 mm), 0.5 / 0.25 helped (61.7 / 61.4 mm).
BLEND = 0.5


# ------------------------------------------------------------------------------------ tokenizer
def body_frame(joints: torch.Tensor) -> torch.Tensor:
    """(..., 24, 3) -> (..., 3, 3) rotation whose columns are the body axes: x = left hip - right hip,
    y = pelvis -> neck (orthogonalised), z = x cross y. Canonical pose = joints @ R."""
    x = joints[..., 1, :] - joints[..., 2, :]
    up = joints[..., 12, :] - joints[..., 0, :]
    x = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    y = up - (up * x).sum(-1, keepdim=True) * x
    y = y / y.norm(dim=-1, keepdim=True).clamp_min(1e-6)
    return torch.stack([x, y, torch.linalg.cross(x, y)], dim=-1)


class PoseTokenizer(nn.Module):
    """VQ-VAE over single-frame root-relative SMPL-24 poses (..., 24, 3) <-> token ids (...).
    Poses are tokenized in the body frame (:func:`body_frame`: the view direction is not part of
    the token); :meth:`decode` rotates back with a given frame R (the lifter's, at inference)."""

    def __init__(self, n_codes: int = N_CODES, dim: int = CODE_DIM, hidden: int = 256):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(69, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, dim))
        self.dec = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, 69))
        self.codebook = nn.Parameter(torch.randn(n_codes, dim) * 0.1)

    def encode(self, joints: torch.Tensor) -> torch.Tensor:
        rel = joints[..., 1:, :] - joints[..., :1, :]
        return self.enc((rel @ body_frame(joints)).flatten(-2))

    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        d = (z.unsqueeze(-2) - self.codebook).pow(2).sum(-1)
        return d.argmin(-1)

    def tokenize(self, joints: torch.Tensor) -> torch.Tensor:
        return self.quantize(self.encode(joints))

    def decode_latent(self, z: torch.Tensor) -> torch.Tensor:
        d = self.dec(z).unflatten(-1, (23, 3))
        return torch.cat([torch.zeros_like(d[..., :1, :]), d], dim=-2)

    def decode(self, tokens: torch.Tensor, frame: torch.Tensor | None = None) -> torch.Tensor:
        """tokens (...) -> body-frame poses, or camera-frame ones when ``frame`` (..., 3, 3) is given."""
        p = self.decode_latent(self.codebook[tokens])
        return p if frame is None else p @ frame.transpose(-1, -2)

    def forward(self, joints: torch.Tensor, beta: float = 0.25):
        """-> (reconstruction (..., 24, 3), vq loss, tokens) with the straight-through estimator."""
        z = self.encode(joints)
        k = self.quantize(z)
        c = self.codebook[k]
        vq = (z.detach() - c).pow(2).mean() + beta * (z - c.detach()).pow(2).mean()
        zq = z + (c - z).detach()
        return self.decode_latent(zq) @ body_frame(joints).transpose(-1, -2), vq, k


# ------------------------------------------------------------------------------ transformer
class MaskedMotionTransformer(nn.Module):
    """Tokens (B, W) (id N_CODES = [MASK]) + condition (B, W, N_COND) -> logits (B, W, N_CODES)."""

    def __init__(self, n_codes: int = N_CODES, width: int = WIDTH, layers: int = LAYERS, window: int = WINDOW):
        super().__init__()
        self.tok = nn.Embedding(n_codes + 1, width)
        self.cond = nn.Sequential(nn.Linear(N_COND, width), nn.GELU(), nn.Linear(width, width))
        self.pos = nn.Parameter(torch.zeros(window, width))
        layer = nn.TransformerEncoderLayer(width, 4, 2 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, n_codes))
        self.mask_id = n_codes

    def forward(self, tokens: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        W = tokens.shape[-1]
        h = self.tok(tokens) + self.cond(cond) + self.pos[:W]
        return self.head(self.body(h))


def condition(lifted: torch.Tensor, conf24: torch.Tensor) -> torch.Tensor:
    """(..., W, 24, 3) lifter estimate + (..., W, 24) joint confidences -> (..., W, N_COND)."""
    rel = lifted[..., 1:, :] - lifted[..., :1, :]
    return torch.cat([(rel @ body_frame(lifted)).flatten(-2) * 2.0, conf24], dim=-1)


def cosine_schedule(r) -> np.ndarray:
    """MoRo / MaskGIT mask ratio gamma(r) = cos(pi r / 2), r in [0, 1] (1 -> 0)."""
    return np.cos(np.pi / 2 * np.asarray(r, np.float64))


def remask_counts(M: int, steps: int) -> list[int]:
    """How many of the M initially masked frames stay masked after each of ``steps`` steps."""
    return [int(math.floor(M * float(cosine_schedule((s + 1) / steps)))) for s in range(steps)]


@torch.no_grad()
def iterative_decode(model: MaskedMotionTransformer, tokens: torch.Tensor, masked: torch.Tensor,
                     cond: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """Confidence-guided iterative decoding of one window. tokens (W,) long (values at masked frames
    ignored), masked (W,) bool, cond (W, N_COND) -> tokens (W,); unmasked frames are never changed."""
    tok = tokens.clone()
    tok[masked] = model.mask_id
    todo = masked.clone()
    M = int(masked.sum())
    if M == 0:
        return tokens.clone()
    for keep_masked in remask_counts(M, steps):
        logits = model(tok[None], cond[None])[0]
        prob = logits.softmax(-1)
        conf, pred = prob.max(-1)
        idx = torch.nonzero(todo).flatten()
        cand = tok.clone()
        cand[idx] = pred[idx]
        # of the frames still masked, the least confident keep_masked are re-masked
        order = idx[torch.argsort(conf[idx], descending=True)]
        n_fix = max(len(order) - keep_masked, 0)
        fixed = order[:n_fix]
        tok[fixed] = cand[fixed]
        todo[fixed] = False
        if not todo.any():
            break
    tok[~masked] = tokens[~masked]
    return tok


class MoRo(nn.Module):
    def __init__(self):
        super().__init__()
        self.tokenizer = PoseTokenizer()
        self.transformer = MaskedMotionTransformer()


@lru_cache(maxsize=2)
def load(path: str | None = None) -> MoRo:
    from ..errors import MissingAssetError

    p = Path(path) if path else WEIGHTS
    if not p.is_file():
        raise MissingAssetError(f"MoRo weights missing: {p} (run `unveil train moro`)")
    m, _ = load_pretrained_model(p, ARCH, lambda c: MoRo())
    return m


def _conf24(S2: np.ndarray) -> np.ndarray:
    from .stage import _confidence24

    return _confidence24(S2)


@torch.inference_mode()
def refine(lifted: np.ndarray, occluded24: np.ndarray, conf24: np.ndarray, steps: int = 5,
           blend: float = 1.0, model: MoRo | None = None, smooth: int | None = 9) -> np.ndarray:
    """Fill occluded joints of occluded frames of ``lifted`` (T, 24, 3) with MoRo's decoded poses.
    Windows of 64 frames, hop 32; a frame takes its result from the window where it is most central."""
    model = model or load()
    lifted = np.asarray(lifted, np.float32)
    occ = np.asarray(occluded24, bool)
    T = len(lifted)
    bad = occ.any(-1)
    if T == 0 or not bad.any():
        return lifted.copy()
    J = torch.from_numpy(lifted)
    C = torch.from_numpy(np.asarray(conf24, np.float32))
    base_tok = model.tokenizer.tokenize(J)
    out_tok = base_tok.clone()
    W = min(WINDOW, T)
    starts = list(range(0, max(T - W, 0) + 1, W // 2))
    if starts[-1] != T - W:
        starts.append(T - W)
    best = np.full(T, -1.0)
    for s in starts:
        sl = slice(s, s + W)
        m = torch.from_numpy(bad[sl])
        if not m.any():
            continue
        dec = iterative_decode(model.transformer, base_tok[sl], m, condition(J[sl], C[sl]), steps=steps)
        centr = W / 2 - np.abs(np.arange(W) - (W - 1) / 2)
        upd = centr > best[sl]
        t_idx = np.arange(s, s + W)[upd]
        out_tok[t_idx] = dec[upd]
        best[t_idx] = centr[upd]
    poses = model.tokenizer.decode(out_tok, body_frame(J)).numpy()
    if smooth:  # tokens are quantised: smooth the decoded pose sequence (Savitzky-Golay, order 2)
        poses = savgol_joints(poses, int(smooth))
    w = (occ & bad[:, None]).astype(np.float32)[..., None] * float(blend)
    out = lifted * (1 - w) + poses * w
    return (out - out[:, :1]).astype(np.float32)


class MoRoMethod:
    """Default lifter (stage.DEFAULT) + MoRo refinement of occluded joints."""

    def __init__(self, steps: int = 5, blend: float = BLEND):
        self.steps, self.blend = steps, blend

    def __call__(self, keypoints2d, camera) -> np.ndarray:
        from . import stage

        res = stage.MoPO(**stage.DEFAULT)(keypoints2d, camera)
        return refine(res["joints"], res["occluded24"], _conf24(res["confidence"]), steps=self.steps,
                      blend=self.blend)


# --------------------------------------------------------------------------------------- training
def _training_data(split: str, n: int, seed: int, log=print) -> dict:
    """Windows of synthetic 2D (+ extra occlusion augmentation) -> gt joints_rel, default-lifter
    estimate (TCN + Savitzky-Golay 9), occluded24 and conf24 from the MoPO detector."""
    from ..data.synth2d import training_windows
    from . import tcn
    from .predict import occluded_smpl24

    rng = np.random.default_rng(seed + 99)
    parts = []
    for i in range(0, n, 200):
        d = training_windows(split, window=WINDOW, n=min(200, n - i), seed=seed * 1000 + i // 200)
        kp = tcn.augment_occlusions(d["keypoints2d"], rng, p=0.5)
        with torch.no_grad():
            x = tcn.inputs(kp, torch.as_tensor(d["focal"])[:, None], torch.as_tensor(d["principal_point"]))
            lifted = tcn.load()(x).numpy()
        S2 = x[..., tcn.N_FEAT:tcn.N_FEAT + tcn.N_KP].numpy()
        lifted = savgol_time(lifted, 9, 2, axis=1, dtype=np.float32)
        lifted = lifted - lifted[..., :1, :]
        occ24 = occluded_smpl24(~(S2 > tcn._detector().threshold))
        parts.append({"gt": d["joints_rel"].astype(np.float32), "lifted": lifted, "occ24": occ24,
                      "conf24": _conf24(S2)})
        log(f"  data {min(i + 200, n)}/{n}")
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _train_mask(bad: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """bad (B, W) bool -> mask: all bad frames + a cosine-scheduled random share of the rest."""
    B, W = bad.shape
    u = torch.rand(B, generator=gen)
    ratio = torch.cos(math.pi / 2 * u)
    rnd = torch.rand(B, W, generator=gen) < ratio[:, None]
    spans = torch.zeros(B, W, dtype=torch.bool)
    for b in range(B):
        if torch.rand(1, generator=gen).item() < 0.5:
            L = max(1, int(ratio[b] * W))
            s = int(torch.randint(0, W - L + 1, (1,), generator=gen))
            spans[b, s:s + L] = True
    use_span = torch.rand(B, 1, generator=gen) < 0.5
    m = torch.where(use_span, spans, rnd) | bad
    return m


def _mpjpe(a, b) -> float:
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b), axis=-1).mean() * 1000)


def train(seed: int = 0, out: str | None = None, steps: int = 1500, tok_steps: int = 2000, windows: int = 2400,
          batch: int = 32, log=print) -> dict:
    """Tokenizer then masked transformer; writes float16 weights; returns validation numbers."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.time()
    data = _training_data("train", windows, seed, log=log)
    val = _training_data("val", 200, seed + 500, log=log)
    log(f"data {time.time() - t0:.0f}s")
    model = MoRo()
    tokz = model.tokenizer
    gt = torch.from_numpy(data["gt"]).flatten(0, 1)
    # extra tokenizer data: the lifter's estimates too (the tokenizer encodes them at inference)
    poses = torch.cat([gt, torch.from_numpy(data["lifted"]).flatten(0, 1)])
    with torch.no_grad():
        tokz.codebook.data = tokz.encode(poses[torch.randperm(len(poses), generator=gen)[:N_CODES]]).clone()
    opt = torch.optim.Adam(tokz.parameters(), lr=5e-4)
    for it in range(tok_steps):
        idx = torch.randint(0, len(poses), (1024,), generator=gen)
        x = poses[idx]
        rec, vq, k = tokz(x)
        loss = torch.linalg.norm(rec - x, dim=-1).mean() + vq
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(tokz.parameters(), 1.0)
        opt.step()
        if it % 100 == 99:  # re-seed dead codes from encoder outputs
            with torch.no_grad():
                used = torch.bincount(k, minlength=N_CODES) > 0
                dead = torch.nonzero(~used).flatten()
                if len(dead):
                    z = tokz.encode(x)
                    tokz.codebook.data[dead] = z[torch.randint(0, len(z), (len(dead),), generator=gen)]
        if it % 300 == 299:
            log(f"  tok {it + 1}: loss {loss.item():.4f} codes used {int(used.sum())}")
    tokz.eval()
    with torch.no_grad():
        vgt = torch.from_numpy(val["gt"])
        tok_rec = _mpjpe(tokz.decode(tokz.tokenize(vgt), body_frame(vgt)).numpy(), val["gt"])
        tokens = tokz.tokenize(torch.from_numpy(data["gt"]))
        base_tok = tokz.tokenize(torch.from_numpy(data["lifted"]))
    log(f"tokenizer val reconstruction MPJPE {tok_rec:.1f} mm ({time.time() - t0:.0f}s)")
    for p in tokz.parameters():
        p.requires_grad_(False)
    tr = model.transformer
    cond = condition(torch.from_numpy(data["lifted"]), torch.from_numpy(data["conf24"]))
    bad = torch.from_numpy(data["occ24"].any(-1))
    opt = torch.optim.AdamW(tr.parameters(), lr=1e-3, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 1e-3, total_steps=steps, pct_start=0.1)
    tr.train()
    for it in range(steps):
        idx = torch.randint(0, len(tokens), (batch,), generator=gen)
        m = _train_mask(bad[idx], gen)
        inp = torch.where(m, tr.mask_id, base_tok[idx])
        logits = tr(inp, cond[idx])
        loss = nn.functional.cross_entropy(logits[m], tokens[idx][m])
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(tr.parameters(), 1.0)
        opt.step()
        sched.step()
        if it % 250 == 249:
            log(f"  transformer {it + 1}: ce {loss.item():.3f} ({time.time() - t0:.0f}s)")
    model.eval()
    res = {"tokenizer_val_mpjpe_mm": round(tok_rec, 1)}
    # validation: occluded joints of occluded frames, lifter vs MoRo(T=5) at blend 1 and 0.5
    sel = val["occ24"] & val["occ24"].any(-1, keepdims=True)
    outs = {}
    for b in (1.0, 0.5, 0.25):
        outs[b] = np.stack([refine(val["lifted"][i], val["occ24"][i], val["conf24"][i], steps=5, blend=b,
                                   model=model) for i in range(len(val["gt"]))])
    err = lambda y: float(np.linalg.norm(y - val["gt"], axis=-1)[sel].mean() * 1000)  # noqa: E731
    res.update({"val_occ_mpjpe_lifter_mm": round(err(val["lifted"]), 1),
                "val_occ_mpjpe_moro_mm": round(err(outs[1.0]), 1),
                "val_occ_mpjpe_moro_blend05_mm": round(err(outs[0.5]), 1),
                "val_occ_mpjpe_moro_blend025_mm": round(err(outs[0.25]), 1),
                "val_mpjpe_lifter_mm": round(_mpjpe(val["lifted"], val["gt"]), 1),
                "val_mpjpe_moro_mm": round(_mpjpe(outs[1.0], val["gt"]), 1),
                "train_seconds": round(time.time() - t0, 1)})
    p = Path(out) if out else WEIGHTS
    save_checkpoint(p, ARCH, {}, {k: v.half() for k, v in model.state_dict().items()},
                    {"recipe": "unveil train moro", "seed": seed, "steps": steps, "val": res})
    load.cache_clear()
    log(str(res))
    return res
