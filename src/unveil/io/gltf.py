"""Animated, skinned glTF 2.0 binary (``OUT/<id>.glb``) of one body track, written with pygltflib.

Contents (glTF 2.0 spec, "Skins" and "Animations"):

- one mesh: the body model's rest mesh (SMPL T-pose, Y up, metres, pelvis at the origin) at the
  track's shape, with ``NORMAL``, ``COLOR_0`` (the body model's part colours) and the skinning
  attributes ``JOINTS_n`` / ``WEIGHTS_n``: each vertex keeps its ``max_influences`` largest
  weights over the 24 SMPL joints, renormalised to sum 1. The default 8 (two sets, ``_0`` and
  ``_1``) is exact for the Anny-derived model (at most 6 non-zero weights per vertex); 4 gives the
  single set every viewer reads, at a few mm of error where more than 4 joints blend.
- a 24-joint skin, hierarchy = SMPL-24 parents, joint node ``j`` translated by
  ``rest_j - rest_parent(j)``; the inverse bind matrices are ``translate(-rest_j)`` (the rest pose
  has identity rotations), stored column-major.
- one animation: a rotation (unit quaternion, XYZW, sign-continuous) channel per joint and a
  translation channel on the pelvis, keyed at ``frame_times(frames, fps)``.

``scene.glb`` (:func:`build_scene_glb`) holds every person of a run in one scene and one animation:
each person's keys are shifted to ``first_frame / frame_rate`` seconds (the video's clock), and a
STEP ``scale`` channel on the person's armature root hides them (scale 0) outside their frames.
Joint node names: SMPL's (default), Mixamo's or VRM's (:mod:`unveil.io.rig_names`).

Linear blend skinning with these transforms reproduces the body model's ``forward`` (SMPL Eq. 4:
``v' = sum_k w_k G_k(theta) G_k(0)^-1 v``) exactly when the model has no pose correctives; the
motion is in the Y-up world frame of ``joints_world`` (see :mod:`unveil.io.world_motion`).
"""

from __future__ import annotations

import shutil
import struct
import tempfile
from pathlib import Path

import numpy as np
import pygltflib as gl
import roma
import torch

from ..atomic import atomic_path
from ..geometry import vertex_normals
from ..skeleton import SMPL24_PARENTS
from ..types import BodyTrack
from .exporter import ExportContext
from .rig_names import joint_names
from .world_motion import world_motion

ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
FLOAT, UBYTE, USHORT, UINT = 5126, 5121, 5123, 5125


def top_weights(weights: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(V, J) skin weights -> (V, k) joint indices and (V, k) weights (largest k, sum 1)."""
    w = np.clip(np.asarray(weights, np.float64), 0.0, None)
    k = min(k, w.shape[1])
    idx = np.argsort(-w, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(w, idx, 1)
    s = top.sum(1, keepdims=True)
    bad = s[:, 0] <= 0
    top = np.where(s > 0, top / np.where(s > 0, s, 1.0), 0.0)
    top[bad, 0] = 1.0  # an unweighted vertex follows the pelvis (index of argsort col 0)
    idx[top == 0] = 0  # unused slots: joint 0 with weight 0 (conventional)
    return idx, top


def continuous_quats(q: np.ndarray, prev: np.ndarray | None = None) -> np.ndarray:
    """(T, J, 4) quaternions with signs flipped so consecutive keys are in the same hemisphere.
    ``prev``: (J, 4) the key before ``q[0]`` (already made continuous), when ``q`` continues a sequence."""
    q = q.copy()
    if prev is not None and len(q):
        flip = (q[0] * prev).sum(-1) < 0
        q[0, flip] *= -1
    for i in range(1, q.shape[0]):
        flip = (q[i] * q[i - 1]).sum(-1) < 0
        q[i, flip] *= -1
    return q


def world_quats(m) -> np.ndarray:
    """The animation's rotation keys: (T, 24, 4) float32 unit quaternions (XYZW), sign-continuous,
    of a :class:`unveil.io.world_motion.WorldMotion`, made ``FRAME_CHUNK`` frames at a time (the
    float64 matrices and quaternions of every frame are never held at once)."""
    out = np.empty((len(m), 24, 4), np.float32)
    prev = None
    for lo, hi, rot in m.rotmats_chunks():
        q = roma.rotmat_to_unitquat(torch.from_numpy(rot)).numpy()
        q = continuous_quats(q / np.linalg.norm(q, axis=-1, keepdims=True), prev)
        out[lo:hi] = q
        prev = q[-1]
    return out


class _Builder:
    """Accumulates the binary chunk: every bufferView starts on a 4-byte boundary. ``sink``: a binary
    file that receives the chunk as it grows (:func:`write_glb`: a long track's animation is never held
    in memory twice); None keeps it in ``blob``."""

    def __init__(self, g: gl.GLTF2, sink=None):
        self.g = g
        self.blob = bytearray()
        self.sink = sink
        self.size = 0

    def _put(self, data: bytes) -> None:
        if self.sink is None:
            self.blob += data
        else:
            self.sink.write(data)
        self.size += len(data)

    def add(self, arr: np.ndarray, ctype: int, atype: str, target: int | None = None,
            minmax: bool = False, normalized: bool = False) -> int:
        arr = np.ascontiguousarray(arr)
        self._put(b"\0" * ((-self.size) % 4))
        bv = gl.BufferView(buffer=0, byteOffset=self.size, byteLength=arr.nbytes, target=target)
        self._put(memoryview(arr).cast("B"))
        self.g.bufferViews.append(bv)
        ncomp = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}[atype]
        acc = gl.Accessor(bufferView=len(self.g.bufferViews) - 1, byteOffset=0, componentType=ctype,
                          count=int(arr.shape[0]), type=atype, normalized=True if normalized else None)
        if minmax:
            flat = arr.reshape(arr.shape[0], ncomp)
            if ctype == FLOAT:
                acc.min, acc.max = flat.min(0).astype(float).tolist(), flat.max(0).astype(float).tolist()
            else:
                acc.min, acc.max = flat.min(0).astype(int).tolist(), flat.max(0).astype(int).tolist()
        self.g.accessors.append(acc)
        return len(self.g.accessors) - 1


def _add_person(g: gl.GLTF2, b: _Builder, body_track: BodyTrack, body_model, fps: float, max_influences: int,
                names: tuple[str, ...], time_offset: float = 0.0, scene_end: float | None = None
                ) -> tuple[list[int], list, list]:
    """Append one person (mesh, 24 joint nodes, skin, animation samplers/channels) to ``g``.

    Returns the person's scene root nodes and its animation samplers and channels (sampler indices
    local to the list: the caller offsets them). ``time_offset`` (s) is added to every key time.
    ``scene_end`` (s, scene files only): also key the armature root's scale (STEP): 0 before the
    first frame and after the last, 1 while the person is tracked.
    """
    m = world_motion(body_track, body_model, fps)
    T = len(m)
    if T == 0:
        raise ValueError("empty track")
    with torch.no_grad():
        verts = body_model.rest_vertices(torch.from_numpy(m.shape).to(body_model.dtype)).double().cpu().numpy()
        faces = body_model.faces.cpu().numpy().astype(np.int64)
        weights = body_model.skin_weights.detach().double().cpu().numpy()
    colors = None
    try:
        colors = np.asarray(body_model.vertex_colors(), np.uint8)
    except Exception:  # colours are optional (a model without part labels)
        pass
    V = verts.shape[0]
    rest = m.rest_joints
    pos = verts.astype(np.float32)
    tid = body_track.id

    attrs = gl.Attributes(POSITION=b.add(pos, FLOAT, "VEC3", ARRAY_BUFFER, minmax=True),
                          NORMAL=b.add(vertex_normals(pos, faces, fallback=(0.0, 1.0, 0.0), dtype=np.float32), FLOAT, "VEC3", ARRAY_BUFFER))
    if colors is not None and colors.shape == (V, 3):
        rgba = np.concatenate([colors, np.full((V, 1), 255, np.uint8)], 1)
        attrs.COLOR_0 = b.add(rgba, UBYTE, "VEC4", ARRAY_BUFFER, normalized=True)
    idx, w = top_weights(weights, max(1, int(max_influences)))
    nsets = (idx.shape[1] + 3) // 4
    idx = np.pad(idx, ((0, 0), (0, nsets * 4 - idx.shape[1])))
    w = np.pad(w, ((0, 0), (0, nsets * 4 - w.shape[1])))
    if nsets > 1 and not (w[:, 4:] > 0).any():  # the extra set carries nothing: drop it
        nsets, idx, w = 1, idx[:, :4], w[:, :4]
    w32 = w.astype(np.float32)
    w32[:, 0] += 1.0 - w32.sum(1)  # float32 sums exactly ~1 (validator tolerance)
    for s in range(nsets):
        setattr(attrs, f"JOINTS_{s}", b.add(idx[:, 4 * s:4 * s + 4].astype(np.uint8), UBYTE, "VEC4", ARRAY_BUFFER))
        setattr(attrs, f"WEIGHTS_{s}", b.add(w32[:, 4 * s:4 * s + 4], FLOAT, "VEC4", ARRAY_BUFFER))
    ind = faces.reshape(-1)
    ind_acc = b.add(ind.astype(np.uint16) if V < 65535 else ind.astype(np.uint32),
                    USHORT if V < 65535 else UINT, "SCALAR", ELEMENT_ARRAY_BUFFER, minmax=True)
    if not g.materials:
        g.materials.append(gl.Material(name="body", doubleSided=False, pbrMetallicRoughness=gl.PbrMetallicRoughness(
            baseColorFactor=[1.0, 1.0, 1.0, 1.0], metallicFactor=0.0, roughnessFactor=0.8)))
    g.meshes.append(gl.Mesh(name=f"body_{tid}", primitives=[gl.Primitive(attributes=attrs, indices=ind_acc,
                                                                         material=0, mode=4)]))

    # nodes: armature root, 24 joints, skinned mesh (armature root and mesh are scene roots)
    J = len(SMPL24_PARENTS)
    base = len(g.nodes)
    jn = [base + 1 + j for j in range(J)]
    g.nodes.append(gl.Node(name=f"unveil_{tid}", children=[jn[0]]))
    for j in range(J):
        p = SMPL24_PARENTS[j]
        off = rest[j] - (rest[p] if p >= 0 else 0.0)
        g.nodes.append(gl.Node(name=names[j], translation=[float(x) for x in off],
                               children=[jn[c] for c in range(J) if SMPL24_PARENTS[c] == j] or None))
    g.nodes.append(gl.Node(name=f"body_{tid}", mesh=len(g.meshes) - 1, skin=len(g.skins)))
    ibm = np.tile(np.eye(4, dtype=np.float32), (J, 1, 1))
    ibm[:, :3, 3] = -rest
    ibm_acc = b.add(np.ascontiguousarray(ibm.transpose(0, 2, 1)).reshape(J, 16), FLOAT, "MAT4")  # column-major
    g.skins.append(gl.Skin(name=f"smpl24_{tid}", inverseBindMatrices=ibm_acc, skeleton=jn[0], joints=jn))

    # animation
    times = np.asarray(m.times, np.float64)
    if T == 1:
        times = np.zeros(1)
    t_acc = b.add((times + time_offset).astype(np.float32), FLOAT, "SCALAR", minmax=True)
    q = world_quats(m)
    samplers, channels = [], []
    for j in range(J):
        samplers.append(gl.AnimationSampler(input=t_acc, output=b.add(q[:, j], FLOAT, "VEC4"), interpolation="LINEAR"))
        channels.append(gl.AnimationChannel(sampler=j, target=gl.AnimationChannelTarget(node=jn[j], path="rotation")))
    samplers.append(gl.AnimationSampler(input=t_acc, output=b.add(m.transl.astype(np.float32), FLOAT, "VEC3"),
                                        interpolation="LINEAR"))
    channels.append(gl.AnimationChannel(sampler=J, target=gl.AnimationChannelTarget(node=jn[0], path="translation")))
    if scene_end is not None:
        t0, t1 = float(times[0] + time_offset), float(times[-1] + time_offset + 1.0 / fps)
        keys, vals = [t0], [1.0]
        if t0 > 0:  # hidden before the first frame
            keys, vals = [0.0, *keys], [0.0, *vals]
        if t1 < scene_end - 0.5 / fps:  # hidden after the last frame (until the scene ends)
            keys, vals = [*keys, t1], [*vals, 0.0]
        samplers.append(gl.AnimationSampler(input=b.add(np.asarray(keys, np.float32), FLOAT, "SCALAR", minmax=True),
                                            output=b.add(np.repeat(np.asarray(vals, np.float32)[:, None], 3, 1),
                                                         FLOAT, "VEC3"), interpolation="STEP"))
        channels.append(gl.AnimationChannel(sampler=J + 1, target=gl.AnimationChannelTarget(node=base, path="scale")))
    return [base, base + 1 + J], samplers, channels


def _finish(g: gl.GLTF2, b: _Builder) -> bytes:
    b._put(b"\0" * ((-b.size) % 4))
    g.buffers.append(gl.Buffer(byteLength=b.size))
    g.set_binary_blob(bytes(b.blob))
    return b"".join(g.save_to_bytes())


def _finish_to(f, g: gl.GLTF2, b: _Builder) -> None:
    """Write the GLB of ``g`` whose binary chunk went to ``b.sink`` into the binary file ``f``: the
    same bytes as :func:`_finish` (pygltflib's ``save_to_bytes``: header, JSON chunk padded with
    spaces to 4 bytes, BIN chunk), the BIN chunk copied from the sink a block at a time."""
    b._put(b"\0" * ((-b.size) % 4))
    g.buffers.append(gl.Buffer(byteLength=b.size))
    js = g.gltf_to_json(separators=(",", ":"), indent=None).encode("utf-8")
    js += b" " * (-(12 + len(js)) % g.required_alignment())
    f.write(gl.MAGIC + struct.pack("<I", gl.GLTF_VERSION) + struct.pack("<I", 12 + 16 + len(js) + b.size))
    f.write(struct.pack("<I", len(js)) + gl.JSON.encode("utf-8") + js)
    f.write(struct.pack("<I", b.size) + gl.BIN.encode("utf-8"))
    b.sink.flush()
    b.sink.seek(0)
    shutil.copyfileobj(b.sink, f, COPY_BLOCK)


COPY_BLOCK = 1 << 20  # bytes per read when a GLB's binary chunk is copied into the file


def _person_glb(g: gl.GLTF2, b: _Builder, body_track: BodyTrack, body_model, fps: float, max_influences: int,
                rig: str) -> None:
    roots, samplers, channels = _add_person(g, b, body_track, body_model, fps, max_influences, joint_names(rig))
    g.scenes.append(gl.Scene(name="unveil", nodes=roots))
    g.scene = 0
    g.animations.append(gl.Animation(name=f"track_{body_track.id}", samplers=samplers, channels=channels))


def build_glb(body_track: BodyTrack, body_model, fps: float, max_influences: int = 8, rig: str = "smpl") -> bytes:
    """The GLB file's bytes of one person, keys from time 0 (see the module docstring).

    ``rig``: joint names, ``smpl`` | ``mixamo`` | ``vrm`` (:mod:`unveil.io.rig_names`)."""
    g = gl.GLTF2(asset=gl.Asset(version="2.0", generator="unveil"))
    b = _Builder(g)
    _person_glb(g, b, body_track, body_model, fps, max_influences, rig)
    return _finish(g, b)


def build_scene_glb(bodies: list[BodyTrack], body_model, fps: float, frame_rate: float | None = None,
                    max_influences: int = 8, rig: str = "smpl") -> bytes:
    """One GLB with every person on one timeline (``OUT/scene.glb``).

    Args:
        bodies: the people (world frame shared, see :mod:`unveil.io.world_motion`).
        fps: frame rate of the tracks (the video's divided by ``--stride``).
        frame_rate: rate of the frame *indices* (the video's own; default ``fps``): person ``i``'s
            keys start at ``frames[0] / frame_rate`` seconds.
        max_influences, rig: as :func:`build_glb`.

    Returns:
        The file's bytes: one scene, one animation ``scene`` holding every person's channels; each
        person's armature root is scaled to 0 (STEP keys) before their first and after their last
        frame, so people appear when the video shows them.
    """
    g = gl.GLTF2(asset=gl.Asset(version="2.0", generator="unveil"))
    b = _Builder(g)
    _scene_glb(g, b, bodies, body_model, fps, frame_rate, max_influences, rig)
    return _finish(g, b)


def _scene_glb(g: gl.GLTF2, b: _Builder, bodies: list[BodyTrack], body_model, fps: float, frame_rate: float | None,
               max_influences: int, rig: str) -> None:
    rate = float(frame_rate or fps)
    names = joint_names(rig)
    bodies = [t for t in bodies if len(t.frames)]
    if not bodies:
        raise ValueError("no people to write")
    end = max(float(np.asarray(t.frames)[-1]) / rate + 1.0 / fps for t in bodies)
    roots, samplers, channels = [], [], []
    for t in bodies:
        r, s, c = _add_person(g, b, t, body_model, fps, max_influences, names,
                              time_offset=float(np.asarray(t.frames)[0]) / rate, scene_end=end)
        for ch in c:
            ch.sampler += len(samplers)
        roots += r
        samplers += s
        channels += c
    g.scenes.append(gl.Scene(name="unveil", nodes=roots))
    g.scene = 0
    g.animations.append(gl.Animation(name="scene", samplers=samplers, channels=channels))


def _stream_to(f, build, tmp_dir=None) -> None:
    """Write a GLB into the binary file ``f``, its binary chunk going through an unnamed temporary
    file (in ``tmp_dir``) while ``build(g, b)`` fills the glTF and the builder: the same bytes as
    building it in memory."""
    g = gl.GLTF2(asset=gl.Asset(version="2.0", generator="unveil"))
    with tempfile.TemporaryFile(dir=tmp_dir) as sink:
        b = _Builder(g, sink)
        build(g, b)
        _finish_to(f, g, b)


def _write_streamed(path, build) -> None:
    """Write a GLB atomically (:func:`_stream_to`, the temporary file next to ``path``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        _stream_to(f, build, path.parent)


def write_glb(path, body_track: BodyTrack, body_model, fps: float, max_influences: int = 8, rig: str = "smpl") -> None:
    """Write ``path`` (atomically, the binary chunk streamed: :func:`_write_streamed`): the bytes of
    :func:`build_glb`."""
    _write_streamed(path, lambda g, b: _person_glb(g, b, body_track, body_model, fps, max_influences, rig))


def write_scene_glb(path, bodies: list[BodyTrack], body_model, fps: float, frame_rate: float | None = None,
                    max_influences: int = 8, rig: str = "smpl") -> None:
    """Write ``path`` (atomically, streamed like :func:`write_glb`): the bytes of :func:`build_scene_glb`."""
    _write_streamed(path, lambda g, b: _scene_glb(g, b, bodies, body_model, fps, frame_rate, max_influences, rig))


def write_scene_glb_to(f, bodies: list[BodyTrack], body_model, fps: float, frame_rate: float | None = None,
                       max_influences: int = 8, rig: str = "smpl", tmp_dir=None) -> None:
    """Write the bytes of :func:`build_scene_glb` into the open binary file ``f`` (streamed: the
    viewer embeds it from there, a block at a time). Its binary chunk goes through an unnamed
    temporary file in ``tmp_dir`` (default: the system's)."""
    _stream_to(f, lambda g, b: _scene_glb(g, b, bodies, body_model, fps, frame_rate, max_influences, rig), tmp_dir)


class GlbExporter:
    """``OUT/<id>.glb``: one skinned, animated body per person (:func:`write_glb`)."""

    name, suffix, scope, requires = "glb", ".glb", "track", ()

    def write(self, path, tracks, ctx: ExportContext) -> None:
        write_glb(path, tracks[0], ctx.body_model, ctx.fps, rig=ctx.rig)


class SceneGlbExporter:
    """``OUT/scene.glb``: every person on the video's timeline (:func:`write_scene_glb`)."""

    name, suffix, scope, requires = "scene", ".glb", "run", ("glb",)

    def write(self, path, tracks, ctx: ExportContext) -> None:
        write_scene_glb(path, tracks, ctx.body_model, ctx.fps, ctx.frame_rate, rig=ctx.rig)


__all__ = ["write_glb", "build_glb", "write_scene_glb", "write_scene_glb_to", "build_scene_glb", "top_weights", "world_quats",
           "continuous_quats", "GlbExporter", "SceneGlbExporter"]
