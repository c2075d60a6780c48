"""GLB export: structure checks and a re-skinning round trip against the body model's forward."""

from __future__ import annotations

import json
import struct

import numpy as np
import pygltflib as gl
import pytest
import roma
import torch

from unveil.body.smpl import SMPLBody
from unveil.io.gltf import build_glb, top_weights, write_glb
from unveil.skeleton import SMPL24_NAMES, SMPL24_PARENTS
from unveil.types import BodyTrack

from assets import need_anny_file

torch.set_num_threads(1)

_REST = np.array([  # a rough SMPL T-pose, metres, pelvis at 0
    [0, 0, 0], [.07, -.09, 0], [-.07, -.09, 0], [0, .11, -.02], [.1, -.47, 0], [-.1, -.47, 0],
    [0, .25, 0], [.09, -.87, -.04], [-.09, -.87, -.04], [0, .30, .02], [.11, -.93, .1], [-.11, -.93, .1],
    [0, .51, -.02], [.08, .41, -.01], [-.08, .41, -.01], [0, .6, .03], [.18, .43, -.02], [-.18, .43, -.02],
    [.44, .41, -.04], [-.44, .41, -.04], [.7, .42, -.04], [-.7, .42, -.04], [.79, .41, -.05], [-.79, .41, -.05],
], dtype=np.float64)


def standin_model(seed: int = 0) -> SMPLBody:
    """A tiny SMPL-format model: 8 vertices per joint, up to 6 skin weights per vertex."""
    rng = np.random.default_rng(seed)
    V = 24 * 8
    owner = np.repeat(np.arange(24), 8)
    v = _REST[owner] + rng.normal(0, 0.03, (V, 3))
    Jr = np.zeros((24, V))
    Jr[owner, np.arange(V)] = 1 / 8
    v += (_REST - Jr @ v)[owner]  # joints regress exactly to _REST
    W = np.zeros((V, 24))
    W[np.arange(V), owner] = 1.0
    for i in range(V):
        others = rng.choice(24, 5, replace=False)
        W[i, others] += rng.uniform(0.02, 0.3, 5)
    W /= W.sum(1, keepdims=True)
    faces = np.stack([np.arange(V - 2), np.arange(1, V - 1), np.arange(2, V)], 1)
    data = dict(v_template=v, shapedirs=rng.normal(0, 0.01, (V, 3, 10)), J_regressor=Jr, weights=W,
                kintree_table=np.stack([np.array([4294967295] + list(SMPL24_PARENTS[1:])), np.arange(24)]),
                f=faces, posedirs=np.zeros((V, 3, 207)))
    return SMPLBody(data, name="standin")


def random_rotation(rng) -> np.ndarray:
    q = rng.normal(size=4)
    return roma.unitquat_to_rotmat(torch.from_numpy(q / np.linalg.norm(q))).numpy()


def make_track(model, T: int = 6, seed: int = 0, world: bool = True, frames=None) -> tuple[BodyTrack, dict]:
    """A random body track in the camera frame; also returns the world-frame forward result."""
    rng = np.random.default_rng(seed)
    aa = rng.normal(0, 0.5, (T, 24, 3))
    aa[:, 0] = rng.normal(0, 1.0, (T, 3))
    shape = rng.normal(0, 1.0, model.num_shape).astype(np.float32)
    transl = (np.array([0.3, 0.2, 4.0]) + rng.normal(0, 0.3, (T, 3))).astype(np.float32)
    Rw, tw = random_rotation(rng), rng.normal(0, 1.0, 3)
    with torch.no_grad():
        out = model(torch.from_numpy(aa).float(), torch.from_numpy(shape), torch.from_numpy(transl))
    jc = out["joints"].double().numpy()
    vc = out["vertices"].double().numpy()
    jw = jc @ Rw.T + tw
    track = BodyTrack(id=3, frames=np.arange(T) if frames is None else np.asarray(frames),
                      global_orient=aa[:, 0].astype(np.float32), body_pose=aa[:, 1:].astype(np.float32),
                      transl=transl, shape=shape, joints_cam=jc.astype(np.float32),
                      joints_world=jw.astype(np.float32) if world else None)
    return track, {"vertices": vc @ Rw.T + tw, "joints": jw, "R": Rw, "t": tw}


# ------------------------------------------------------------------------------ GLB reading
def accessor(g: gl.GLTF2, blob: bytes, i: int) -> np.ndarray:
    a = g.accessors[i]
    bv = g.bufferViews[a.bufferView]
    dt = {gl.FLOAT: np.float32, gl.UNSIGNED_BYTE: np.uint8, gl.UNSIGNED_SHORT: np.uint16,
          gl.UNSIGNED_INT: np.uint32}[a.componentType]
    n = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}[a.type]
    assert bv.byteStride is None
    arr = np.frombuffer(blob, dt, count=a.count * n, offset=bv.byteOffset + (a.byteOffset or 0))
    return arr.reshape(a.count, n)


def reskin(g: gl.GLTF2, blob: bytes, k: int) -> tuple[np.ndarray, np.ndarray]:
    """LBS of the GLB's rest mesh at key k: (vertices (V,3), joint positions (24,3))."""
    skin = g.skins[0]
    anim = g.animations[0]
    local_t = {n: np.array(g.nodes[n].translation or [0, 0, 0], np.float64) for n in skin.joints}
    local_r = {n: np.eye(3) for n in skin.joints}
    for ch in anim.channels:
        s = anim.samplers[ch.sampler]
        val = accessor(g, blob, s.output)[k].astype(np.float64)
        if ch.target.path == "rotation":
            local_r[ch.target.node] = roma.unitquat_to_rotmat(torch.from_numpy(val / np.linalg.norm(val))).numpy()
        else:
            local_t[ch.target.node] = val
    parent = {c: i for i, n in enumerate(g.nodes) for c in (n.children or [])}
    glob = {}

    def G(n):
        if n not in glob:
            M = np.eye(4)
            M[:3, :3], M[:3, 3] = local_r.get(n, np.eye(3)), local_t.get(n, np.zeros(3))
            p = parent.get(n)
            glob[n] = (G(p) if p is not None else np.eye(4)) @ M
        return glob[n]

    ibm = accessor(g, blob, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1).astype(np.float64)
    A = np.stack([G(n) @ ibm[j] for j, n in enumerate(skin.joints)])  # (24, 4, 4)
    prim = g.meshes[0].primitives[0]
    pos = accessor(g, blob, prim.attributes.POSITION).astype(np.float64)
    vh = np.concatenate([pos, np.ones((len(pos), 1))], 1)
    out = np.zeros_like(pos)
    s = 0
    while getattr(prim.attributes, f"JOINTS_{s}", None) is not None:
        jj = accessor(g, blob, getattr(prim.attributes, f"JOINTS_{s}")).astype(np.int64)
        ww = accessor(g, blob, getattr(prim.attributes, f"WEIGHTS_{s}")).astype(np.float64)
        for c in range(4):
            out += ww[:, c:c + 1] * np.einsum("vij,vj->vi", A[jj[:, c]], vh)[:, :3]
        s += 1
    joints = np.stack([G(n)[:3, 3] for n in skin.joints])
    return out, joints


def load(data: bytes) -> tuple[gl.GLTF2, bytes]:
    g = gl.GLTF2.load_from_bytes(data)
    return g, g.binary_blob()


# ------------------------------------------------------------------------------ tests
def test_top_weights_renormalised():
    w = np.array([[0.5, 0.2, 0.1, 0.1, 0.05, 0.05], [0, 0, 0, 0, 0, 0.0], [0, 1.0, 0, 0, 0, 0]])
    idx, top = top_weights(w, 4)
    assert idx.shape == (3, 4)
    np.testing.assert_allclose(top.sum(1), 1.0)
    np.testing.assert_array_equal(idx[0], [0, 1, 2, 3])
    np.testing.assert_allclose(top[0], np.array([0.5, 0.2, 0.1, 0.1]) / 0.9)
    assert idx[2, 0] == 1 and top[2, 0] == 1.0 and (top[2, 1:] == 0).all()


@pytest.mark.parametrize("world", [True, False])
def test_glb_reskin_matches_forward(world):
    model = standin_model()
    track, ref = make_track(model, T=5, seed=1, world=world)
    g, blob = load(build_glb(track, model, fps=30.0))
    for k in (0, 2, 4):
        verts, joints = reskin(g, blob, k)
        if world:  # the export lands exactly on the track's joints_world
            np.testing.assert_allclose(joints, track.joints_world[k], atol=1e-4)
            assert np.abs(verts - ref["vertices"][k]).max() < 1e-3
        else:  # joints_world unknown: a rigid camera->world map of the same motion
            vc = np.concatenate([ref["vertices"][k] - ref["t"]], 0) @ ref["R"]  # camera-frame vertices
            d_v = np.linalg.norm(verts - verts.mean(0), axis=1)
            d_c = np.linalg.norm(vc - vc.mean(0), axis=1)
            assert np.abs(d_v - d_c).max() < 1e-3


def test_glb_structure(tmp_path):
    model = standin_model()
    track, _ = make_track(model, T=4, seed=2, frames=[10, 12, 14, 18])
    p = tmp_path / "3.glb"
    write_glb(p, track, model, fps=15.0)
    data = p.read_bytes()
    magic, version, length = struct.unpack("<4sII", data[:12])
    assert magic == b"glTF" and version == 2 and length == len(data) and length % 4 == 0
    g, blob = load(data)
    for bv in g.bufferViews:
        assert bv.byteOffset % 4 == 0
    assert g.buffers[0].byteLength == len(blob)
    prim = g.meshes[0].primitives[0]
    pos = accessor(g, blob, prim.attributes.POSITION)
    acc = g.accessors[prim.attributes.POSITION]
    np.testing.assert_allclose(acc.min, pos.min(0), atol=1e-6)
    np.testing.assert_allclose(acc.max, pos.max(0), atol=1e-6)
    w = sum(accessor(g, blob, getattr(prim.attributes, f"WEIGHTS_{s}")).astype(np.float64).sum(1)
            for s in range(2) if getattr(prim.attributes, f"WEIGHTS_{s}", None) is not None)
    assert np.abs(w - 1).max() < 2e-6
    skin = g.skins[0]
    assert len(skin.joints) == 24
    names = [g.nodes[n].name for n in skin.joints]
    assert names == list(SMPL24_NAMES)
    for j, n in enumerate(skin.joints):  # hierarchy = SMPL-24 parents
        p_ = SMPL24_PARENTS[j]
        if p_ >= 0:
            assert n in g.nodes[skin.joints[p_]].children
    ibm = accessor(g, blob, skin.inverseBindMatrices).reshape(24, 4, 4)
    assert np.allclose(ibm[:, :3, 3], 0) and np.allclose(ibm[:, 3, 3], 1)  # column-major: translation last row
    rest = model.rest_joints(torch.from_numpy(track.shape)[None])[0].numpy()
    np.testing.assert_allclose(ibm[:, 3, :3], -rest, atol=1e-5)
    times = accessor(g, blob, g.animations[0].samplers[0].input)[:, 0]
    np.testing.assert_allclose(times, np.array([0, 2, 4, 8]) / 2 / 15.0, atol=1e-6)  # stride 2 at 15 fps
    assert len(g.animations[0].channels) == 25
    q = accessor(g, blob, g.animations[0].samplers[0].output)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    js = json.loads(data[20:20 + struct.unpack("<I", data[12:16])[0]])
    assert js["asset"]["version"] == "2.0"


def test_glb_four_influences_is_single_set():
    model = standin_model()
    track, ref = make_track(model, T=2, seed=3)
    g, blob = load(build_glb(track, model, fps=30.0, max_influences=4))
    prim = g.meshes[0].primitives[0]
    assert getattr(prim.attributes, "JOINTS_1", None) is None
    verts, _ = reskin(g, blob, 1)
    err = np.abs(verts - ref["vertices"][1]).max()
    assert 0 < err < 0.2  # truncation error exists with 6-weight vertices, but stays bounded


def test_glb_anny_reskin():
    from unveil.body import load_body_model
    need_anny_file()  # absent: skip (fail on CI); present but broken: the load below fails
    model = load_body_model("anny")
    track, ref = make_track(model, T=3, seed=4)
    g, blob = load(build_glb(track, model, fps=30.0))
    verts, _ = reskin(g, blob, 2)
    assert np.abs(verts - ref["vertices"][2]).max() < 1e-3


def test_glb_khronos_validator(tmp_path):
    """Runs the Khronos glTF-Validator when it is installed (``npm install gltf-validator`` in the
    folder named by UNVEIL_GLTF_VALIDATOR); skips otherwise."""
    import os
    import shutil
    import subprocess

    d = os.environ.get("UNVEIL_GLTF_VALIDATOR")
    if not d or shutil.which("node") is None or not os.path.isdir(os.path.join(d, "node_modules", "gltf-validator")):
        pytest.skip("set UNVEIL_GLTF_VALIDATOR to a folder with node_modules/gltf-validator")
    model = standin_model()
    track, _ = make_track(model, T=3, seed=5)
    p = tmp_path / "v.glb"
    write_glb(p, track, model, fps=30.0)
    js = ("const v=require('gltf-validator');const fs=require('fs');"
          "v.validateBytes(new Uint8Array(fs.readFileSync(process.argv[1]))).then(r=>"
          "console.log(JSON.stringify({e:r.issues.numErrors,w:r.issues.numWarnings,m:r.issues.messages})))")
    r = subprocess.run(["node", "-e", js, str(p)], cwd=d, capture_output=True, text=True, timeout=60)
    res = json.loads(r.stdout)
    assert res["e"] == 0 and res["w"] == 0, res["m"]


def test_write_exports_files_and_failures(tmp_path):
    from unveil.io.exports import write_exports

    model = standin_model()
    t1, _ = make_track(model, T=4, seed=6)
    t2, _ = make_track(model, T=4, seed=7, world=False)
    t2.id = 5
    res = write_exports(tmp_path, [t1, t2], model, fps=30.0)
    assert sorted(res["files"]) == ["3.bvh", "3.glb", "3.trc", "5.bvh", "5.glb", "5.trc", "scene.glb",
                                    "viewer.html"] and res["notes"] == []
    for f in res["files"]:
        assert (tmp_path / f).stat().st_size > 0
    bad = BodyTrack(id=9, frames=np.arange(2), global_orient=np.zeros((2, 3)), body_pose=np.zeros((2, 5, 3)),
                    transl=np.zeros((2, 3)), shape=np.zeros(10), joints_cam=np.zeros((2, 24, 3)))
    res = write_exports(tmp_path / "b", [bad], model, fps=30.0, viewer=False, trc=False)
    assert res["files"] == [] and len(res["notes"]) == 3 and "9.glb not written" in res["notes"][0]
    assert "scene.glb not written" in res["notes"][2]
    assert not list((tmp_path / "b").glob(".*"))  # no temporary files left behind


_BLENDER_SCRIPT = """
import bpy, sys, numpy as np
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.context.scene.render.fps = 30
bpy.ops.import_scene.gltf(filepath=sys.argv[-2])
m = [o for o in bpy.data.objects if o.type == "MESH" and o.find_armature() is not None][0]
out = {}
for k in (0, 2):
    bpy.context.scene.frame_set(k)
    dg = bpy.context.evaluated_depsgraph_get()
    me = m.evaluated_get(dg).to_mesh()
    out[f"v{k}"] = np.array([tuple(m.matrix_world @ v.co) for v in me.vertices])
    m.evaluated_get(dg).to_mesh_clear()
np.savez(sys.argv[-1], **out)
"""


def test_glb_in_blender(tmp_path):
    """Imports the GLB with Blender's own glTF importer (``pip install bpy`` into a Python whose
    interpreter UNVEIL_BPY_PYTHON names) and compares its evaluated skinned mesh with the body model."""
    import os
    import subprocess

    py = os.environ.get("UNVEIL_BPY_PYTHON")
    if not py or not os.path.exists(py):
        pytest.skip("set UNVEIL_BPY_PYTHON to a python with the bpy package")
    model = standin_model()
    track, ref = make_track(model, T=3, seed=8)
    write_glb(tmp_path / "b.glb", track, model, fps=30.0)
    (tmp_path / "s.py").write_text(_BLENDER_SCRIPT)
    r = subprocess.run([py, str(tmp_path / "s.py"), str(tmp_path / "b.glb"), str(tmp_path / "v.npz")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    got = np.load(tmp_path / "v.npz")
    for k in (0, 2):
        v = ref["vertices"][k]
        want = np.stack([v[:, 0], -v[:, 2], v[:, 1]], 1)  # glTF Y up -> Blender Z up
        assert np.abs(got[f"v{k}"] - want).max() < 1e-3


def test_streamed_glb_and_chunked_keys_equal_one_pass(tmp_path, monkeypatch):
    """The GLB writers stream the binary chunk through a temporary file and make the rotation keys
    FRAME_CHUNK frames at a time (sign continuity carried over the chunk seams): the files are the
    bytes of the one-pass, in-memory build."""
    from unveil.io import gltf, world_motion as wm
    from unveil.io.gltf import build_scene_glb, write_scene_glb

    model = standin_model()
    t1, _ = make_track(model, T=40, seed=4)
    t2, _ = make_track(model, T=23, seed=5, frames=np.arange(7, 30))
    t2.id = 4
    monkeypatch.setattr(wm, "FRAME_CHUNK", 10 ** 6)   # one pass
    m = wm.world_motion(t1, model, 30.0)
    q = roma.rotmat_to_unitquat(torch.from_numpy(m.rotmats)).numpy()
    q_one = gltf.continuous_quats(q / np.linalg.norm(q, axis=-1, keepdims=True)).astype(np.float32)
    one = build_glb(t1, model, fps=30.0), build_scene_glb([t1, t2], model, fps=30.0, frame_rate=30.0)
    monkeypatch.setattr(wm, "FRAME_CHUNK", 7)         # 6 chunks, the last one short
    assert len(list(m.rotmats_chunks())) == 6
    q_chunked = gltf.world_quats(m)
    assert np.array_equal(q_chunked, q_one)
    assert (q_one[1:] * q_one[:-1]).sum(-1).min() >= 0 and (q[1:] * q[:-1]).sum(-1).min() < 0  # flips were needed
    write_glb(tmp_path / "a.glb", t1, model, fps=30.0)
    write_scene_glb(tmp_path / "s.glb", [t1, t2], model, fps=30.0, frame_rate=30.0)
    assert (tmp_path / "a.glb").read_bytes() == one[0] == build_glb(t1, model, fps=30.0)
    assert (tmp_path / "s.glb").read_bytes() == one[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.glb", "s.glb"]  # no temporary left
