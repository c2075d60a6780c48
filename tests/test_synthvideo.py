"""Synthetic video: occlusion labels from the depth buffer, recipes, a tiny render round trip.

Uses a small stand-in body (tubes along the SMPL-24 bones, rigidly skinned) so it runs without
the body-model caches; the detector round trip skips when the detector models are not fetched.
"""

import numpy as np
import pytest
import torch

from unveil.data import synthvideo as sv
from unveil.fit.ik import rest_skeleton_tpose
from unveil.io.raster import cylinder_mesh
from unveil.render.scene import Occluder, Scene, look_at
from unveil.skeleton import SMPL24_PARENTS, forward_kinematics
from unveil.types import Camera


class TubeBody(torch.nn.Module):
    """Stand-in BodyModel: an 8-sided tube around every bone, a ball-ish head, rigid skinning."""

    name = "tubes"
    num_shape = 1

    def __init__(self):
        super().__init__()
        self.dtype = torch.float32
        rest = rest_skeleton_tpose(1.7, dtype=torch.float64).numpy()
        rest = rest - rest[0]
        verts, faces, owner = [], [], []
        for c, p in enumerate(SMPL24_PARENTS):
            if p < 0:
                continue
            a, b = rest[p], rest[c]
            L = np.linalg.norm(b - a)
            if L < 1e-3:
                continue
            r = 0.06 if c in (1, 2, 3, 6, 9) else (0.09 if c == 15 else 0.045)
            v, f = cylinder_mesh((0, 0, 0), L if c != 15 else 0.22, r, segments=10)
            # rotate +Y onto the bone direction
            d = (b - a) / L if c != 15 else np.array([0, 1.0, 0])
            y = np.array([0, 1.0, 0])
            ax = np.cross(y, d)
            s, co = np.linalg.norm(ax), float(y @ d)
            if s < 1e-8:
                Rm = np.eye(3) if co > 0 else np.diag([1.0, -1.0, -1.0])
            else:
                k = ax / s
                K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
                Rm = np.eye(3) + s * K + (1 - co) * K @ K
            start = a if c != 15 else b - np.array([0, 0.05, 0])
            faces.append(f + sum(len(x) for x in verts))
            verts.append(v @ Rm.T + start)
            owner.append(np.full(len(v), p if c != 15 else 15))
        self.rest = torch.tensor(rest, dtype=torch.float32)
        self.verts = torch.tensor(np.concatenate(verts), dtype=torch.float32)
        self.owner = torch.tensor(np.concatenate(owner))
        self.faces = torch.tensor(np.concatenate(faces))

    def default_shape(self):
        return torch.zeros(1)

    def rest_joints(self, shape=None):
        return self.rest.clone()

    def rest_vertices(self, shape=None):
        return self.verts.clone()

    def forward(self, rotmats, shape=None, transl=None):
        rot = torch.as_tensor(rotmats, dtype=torch.float32)
        G, J = forward_kinematics(rot, self.rest.expand(rot.shape[0], 24, 3))
        local = self.verts - self.rest[self.owner]
        v = (G[:, self.owner] @ local[..., None])[..., 0] + J[:, self.owner]
        if transl is not None:
            v = v + transl[:, None]
            J = J + transl[:, None]
        return {"vertices": v, "joints": J}


@pytest.fixture(scope="module")
def rig():
    return sv.BodyRig(TubeBody(), rng=np.random.default_rng(0))


def _standing(rig, T=2):
    j = rig.rest_joints[None].repeat(T, 0).copy()
    j[..., 1] += 1.0
    # arms down a little so the pose is not exactly the rest pose
    return j.astype(np.float32)


def test_retarget_feet_on_floor_and_regressor(rig):
    posed = rig.retarget(_standing(rig))
    assert abs(posed["vertices"][..., 1].min()) < 1e-3             # lowest vertex on the floor
    assert np.allclose(posed["joints"][0, 0, [0, 2]], 0, atol=1e-4)
    c = posed["coco17"][0]
    assert c.shape == (17, 3)
    assert c[0, 1] > c[5, 1] > c[11, 1] > c[13, 1] > c[15, 1]         # nose > shoulder > hip > knee > ankle
    assert c[11, 0] > c[12, 0]                                       # left hip on +X (body's left)


def test_occlusion_labels_for_a_joint_behind_a_box(rig):
    posed = rig.retarget(_standing(rig, 1))
    R, t = look_at((0.0, 1.0, 4.0), (0.0, 0.9, 0.0))
    cam = Camera(focal=300.0, cx=120, cy=160, width=240, height=320)
    sc = Scene(cam, R, t, wall_point=(0, 0, -2), wall_normal=(0, 0, 1))
    sc.occluders.append(Occluder("box", (0.0, 1.0), (1.2, 0.65, 0.3)))   # hides knees and ankles
    recipe = sv.Recipe("lower", 0, sc)
    (i, img, vis, vis_any), = list(sv.render_frames(recipe, [rig], [posed["vertices"]], workers=1))
    assert img.shape == (320, 240, 3)
    res, fb = __import__("unveil.render.scene", fromlist=["x"]).render_frame(
        sc, [(posed["vertices"][0], rig.faces, rig.colors)], keep_buffer=True)
    assert (res.object_id == 0).sum() > 1000 and (res.object_id == 100).sum() > 1000   # body and box drawn
    occluded = vis < sv.OCC_THRESHOLD
    assert occluded[[13, 14, 15, 16]].all()                         # knees + ankles behind the box
    assert not occluded[[0, 5, 6, 7, 8, 9, 10]].any()                # head and arms in view
    # the box is an *other* object: the labels that also count self-occlusion agree on the legs
    assert (vis_any[[13, 14, 15, 16]] < 0.5).all()
    # without the box nothing is occluded
    sc2 = Scene(cam, R, t, wall_point=(0, 0, -2), wall_normal=(0, 0, 1))
    (_, _, vis2, _), = list(sv.render_frames(sv.Recipe("none", 0, sc2), [rig], [posed["vertices"]], workers=1))
    assert (vis2 >= 0.5).all()


def test_recipes_are_seeded_and_keep_the_subject_in_frame(rig):
    T = 10
    j = _standing(rig, T)
    j[:, :, 0] += np.linspace(0, 1.0, T)[:, None]                    # slide sideways
    posed = rig.retarget(j)
    for kind in sv.KINDS:
        a = sv.make_recipe(kind, 3, posed["vertices"], posed["joints"], 320, 240, "x")
        b = sv.make_recipe(kind, 3, posed["vertices"], posed["joints"], 320, 240, "x")
        assert np.allclose(a.scene.R, b.scene.R) and a.info == b.info
        if kind in ("object", "pole", "lower"):
            assert len(a.scene.occluders) == 1
        if kind == "person":
            assert a.second is not None and a.second["joints"].shape == (T, 24, 3)
        if kind != "truncation":
            pc = posed["joints"].reshape(-1, 3) @ a.scene.R.T + a.scene.t
            u = a.scene.camera.focal * pc[:, 0] / pc[:, 2] + a.scene.camera.cx
            assert (u > 0).all() and (u < 320).all()


def test_render_sequence_writes_video_and_truth(rig, tmp_path):
    j = _standing(rig, 3)
    r = sv.render_sequence(j, "tiny", "object", 0, tmp_path, 160, 120, body_model=rig.body, workers=1)
    assert r["video"].exists() and r["truth"].exists() and not r["cached"]
    tr = sv.load_truth(r["truth"])
    assert tr["joints_cam"].shape == (3, 24, 3) and tr["keypoints2d_true"].shape == (3, 17, 2)
    assert tr["occluded"].shape == (3, 17) and tr["visible_frac"].max() <= 1.0
    assert sv.render_sequence(j, "tiny", "object", 0, tmp_path, 160, 120, body_model=rig.body)["cached"]
