"""Feature taps: inner tensors of the BlazePose landmark model as extra outputs, pooled into tokens.

The landmark model (``pose_landmark_full.tflite``) is a backbone trained on real images; its inner
maps can feed image-evidence models (issue 18). Preserving all tensors in the interpreter costs
~2.7x per call, so instead :func:`derive_tapped` writes a variant whose subgraph ``outputs`` list
also names the tapped tensors (:data:`TAPS`). The edit is a byte patch of the flatbuffer: a new
int32 vector (the five original outputs, then the taps) is appended at the end of the file and the
subgraph's ``outputs`` offset is pointed at it; every other byte (operators, weights, tensors) is
the original's, so the derived file depends only on the pinned original (its SHA-256 is pinned in
:mod:`unveil.detect.assets`) and not on a flatbuffer library version.

Tapped tensors (indices into the pinned model's tensor table; names/shapes checked on load):

- ``kp`` source, **8x8x288** ``re_lu_41`` (index 300): the first map of the regression branch, the
  branch that regresses the 39 landmarks *and* the metric world landmarks (so it encodes depth/3D
  pose, the error this project still has on real video). 288 channels rather than the 8x8x864
  expansion before it (3x smaller, the projected bottleneck).
- ``mid`` source, **32x32x48** ``add_10`` (index 277): the heatmap decoder at 1/8 resolution, the
  8x8 bottleneck upsampled and fused with the 32x32 encoder skip: local part appearance with
  context, finer than the bottleneck.
- ``body`` source, **2x2x288** ``re_lu_63/add_22`` (index 335): the last map of the regression
  branch, which the 2x2 convolutions ``convld_3d`` / ``convworld_3d`` / ``conv_poseflag`` read:
  a whole-body summary.

Tokens (:func:`pool_tokens`), per person crop: each of the 33 keypoint heatmaps (``Identity_3``,
64x64x39 logits, already an output) is turned into weights (sigmoid, block-averaged to the map's
grid, normalised to sum 1) and the map is averaged under them:

- ``kp``   (33, 288): the 8x8x288 map pooled under each keypoint's heatmap,
- ``mid``  (33, 48):  the 32x32x48 map pooled under each keypoint's heatmap,
- ``body`` (1152,):   the 2x2x288 map, flattened (row-major y, x, channel).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

N_KP = 33
HEATMAP_SIZE = 64


@dataclass(frozen=True)
class Tap:
    """One tapped tensor: token name, tensor index in the pinned model, expected shape, name prefix."""

    token: str
    index: int
    shape: tuple[int, ...]
    name_prefix: str


TAPS: tuple[Tap, ...] = (
    Tap("kp", 300, (1, 8, 8, 288), "model_1/model/re_lu_41/Relu6"),
    Tap("mid", 277, (1, 32, 32, 48), "model_1/model/add_10/add"),
    Tap("body", 335, (1, 2, 2, 288), "model_1/model/re_lu_63/Relu6;model_1/model/add_22/add"),
)

# token name -> shape per person and frame
TOKEN_SHAPES: dict[str, tuple[int, ...]] = {"kp": (N_KP, 288), "mid": (N_KP, 48), "body": (2 * 2 * 288,)}

# the original model's outputs, in order (tensor indices of the pinned file)
ORIGINAL_OUTPUTS = (337, 342, 297, 298, 339)


# --------------------------------------------------------------------------- flatbuffer patch
def _u32(b, p: int) -> int:
    return struct.unpack_from("<I", b, p)[0]


def _field(b, table: int, i: int) -> int | None:
    """Position of field ``i`` of the flatbuffer table at ``table`` (None when absent)."""
    vt = table - struct.unpack_from("<i", b, table)[0]
    n = (struct.unpack_from("<H", b, vt)[0] - 4) // 2
    if i >= n:
        return None
    off = struct.unpack_from("<H", b, vt + 4 + 2 * i)[0]
    return None if off == 0 else table + off


def _outputs_field(b) -> int:
    """Position of subgraph 0's ``outputs`` uoffset (schema: Model.subgraphs = field 2,
    SubGraph.outputs = field 2)."""
    if len(b) < 8 or bytes(b[4:8]) != b"TFL3":
        raise ValueError("not a TFLite flatbuffer (file identifier TFL3 missing)")
    model = _u32(b, 0)
    f = _field(b, model, 2)
    if f is None:
        raise ValueError("TFLite model has no subgraphs")
    subgraphs = f + _u32(b, f)
    if _u32(b, subgraphs) < 1:
        raise ValueError("TFLite model has no subgraphs")
    sg = subgraphs + 4 + _u32(b, subgraphs + 4)
    fo = _field(b, sg, 2)
    if fo is None:
        raise ValueError("TFLite subgraph 0 has no outputs")
    return fo


def model_outputs(data: bytes) -> list[int]:
    """Tensor indices of subgraph 0's outputs in a TFLite flatbuffer."""
    fo = _outputs_field(data)
    v = fo + _u32(data, fo)
    n = _u32(data, v)
    return list(struct.unpack_from(f"<{n}i", data, v + 4))


def derive_tapped(data: bytes, taps: tuple[Tap, ...] = TAPS) -> bytes:
    """The landmark model with the ``taps`` tensors appended to subgraph 0's outputs.

    Args:
        data: the original ``pose_landmark_full.tflite`` bytes.
        taps: the tensors to expose (default :data:`TAPS`).

    Returns:
        The derived flatbuffer: ``data`` padded to a multiple of 16 bytes, then a new int32 vector
        (original outputs + taps); only the 4-byte ``outputs`` offset of the original is changed.
    """
    outs = model_outputs(data)
    if tuple(outs) != ORIGINAL_OUTPUTS:
        raise ValueError(f"unexpected landmark model outputs {outs} (expected {list(ORIGINAL_OUTPUTS)})")
    fo = _outputs_field(data)
    b = bytearray(data)
    b.extend(b"\0" * (-len(b) % 16))
    new = outs + [t.index for t in taps]
    pos = len(b)
    b += struct.pack(f"<I{len(new)}i", len(new), *new)
    struct.pack_into("<I", b, fo, pos - fo)  # uoffsets point forward: pos > fo
    return bytes(b)


def check_tap_details(details: list[dict]) -> None:
    """Raise ValueError unless the interpreter's output details list the original outputs then
    :data:`TAPS` with the expected names and shapes (``Interpreter.get_output_details()``)."""
    idx = [int(d["index"]) for d in details]
    want = list(ORIGINAL_OUTPUTS) + [t.index for t in TAPS]
    if idx != want:
        raise ValueError(f"tapped landmark model outputs {idx}, expected {want}")
    for d, t in zip(details[len(ORIGINAL_OUTPUTS):], TAPS):
        if not str(d["name"]).startswith(t.name_prefix) or tuple(int(s) for s in d["shape"]) != t.shape:
            raise ValueError(f"tap {t.token}: tensor {d['name']!r} {tuple(d['shape'])}, expected "
                             f"{t.name_prefix!r} {t.shape}")


# ------------------------------------------------------------------------------------ tokens
def heatmap_weights(heatmaps: np.ndarray, grids: tuple[int, ...] = (8, 32)) -> dict[int, np.ndarray]:
    """Per-keypoint pooling weights on ``grid`` x ``grid`` maps.

    Args:
        heatmaps: (64, 64, >=33) heatmap logits of the landmark model (``Identity_3[0]``).
        grids: sides of the target maps (divisors of 64).

    Returns:
        grid -> (33, grid * grid) float32 weights: the sigmoid of each heatmap summed over the
        cells of the grid, each row normalised to sum 1 (uniform where a heatmap is ~0).
    """
    h = np.asarray(heatmaps)
    if h.ndim != 3 or h.shape[0] != HEATMAP_SIZE or h.shape[1] != HEATMAP_SIZE or h.shape[2] < N_KP:
        raise ValueError(f"heatmaps must be (64, 64, >=33), got {h.shape}")
    for g in grids:
        if g <= 0 or HEATMAP_SIZE % g:
            raise ValueError(f"grid must divide 64, got {g}")
    p = np.exp(-np.clip(h[..., :N_KP], -30.0, 30.0).astype(np.float32))
    p = 1.0 / (1.0 + p)
    out = {}
    for g in sorted(grids, reverse=True):  # each coarser grid from the finer one already summed
        if g & (g - 1):
            raise ValueError(f"grid must be a power of 2, got {g}")
        while p.shape[0] > g:  # 2x2 sums by strided adds (3x faster than reshape + sum here)
            p = p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2]
        q = p.reshape(g * g, N_KP).T
        s = q.sum(1, keepdims=True)
        out[g] = np.where(s > 1e-6, q / np.maximum(s, 1e-12), 1.0 / (g * g)).astype(np.float32)
    return out


def _matmul_1thread(w: np.ndarray, m: np.ndarray, chunk: int = 256) -> np.ndarray:
    """``w @ m`` as a sum of products over ``chunk``-row slices: each stays under OpenBLAS's
    threading threshold. Measured: (33, 1024) @ (1024, 48) took 12 ms as one product on the loaded
    2-core machine (OpenBLAS spinning up threads), 0.1-0.2 ms in slices of 256."""
    out = np.zeros((w.shape[0], m.shape[1]), np.float32)
    for i in range(0, w.shape[1], chunk):
        out += w[:, i:i + chunk] @ m[i:i + chunk]
    return out


def pool_tokens(heatmaps: np.ndarray, maps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Tokens of one person crop from the heatmaps and the tapped maps.

    Args:
        heatmaps: (64, 64, 39) heatmap logits.
        maps: token name -> tapped map without the batch axis: ``kp`` (8, 8, 288), ``mid``
            (32, 32, 48), ``body`` (2, 2, 288).

    Returns:
        token name -> float16 array of :data:`TOKEN_SHAPES`.
    """
    out = {}
    weights = heatmap_weights(heatmaps, tuple(t.shape[1] for t in TAPS if t.token != "body"))
    for t in TAPS:
        m = np.asarray(maps[t.token], np.float32)
        if m.shape != t.shape[1:]:
            raise ValueError(f"tap {t.token} must be {t.shape[1:]}, got {m.shape}")
        if t.token == "body":
            out[t.token] = m.reshape(-1).astype(np.float16)
        else:
            w = weights[m.shape[0]]
            out[t.token] = _matmul_1thread(w, m.reshape(-1, m.shape[2])).astype(np.float16)
    return out
