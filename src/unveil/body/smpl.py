"""The project's own SMPL / SMPL-H / SMPL-X loader and linear blend skinning (no ``smplx`` package).

Model (Loper et al., "SMPL: A Skinned Multi-Person Linear Model", SIGGRAPH Asia 2015, Eq. 1-10):

    T(beta, theta) = T_bar + B_S(beta) + B_P(theta)       B_S = S beta,  B_P = P vec(R_k(theta) - I), k >= 1
    J(beta)        = J_reg (T_bar + B_S(beta))             (joints regressed from the shaped rest mesh)
    G_k            = prod over the chain of [R_j | J_j - J_parent(j)]      (forward kinematics)
    v_i            = sum_k w_ik G_k [I | -J_k] T_i         (linear blend skinning)

Files: ``.npz`` (``v_template, shapedirs, posedirs, J_regressor, weights, kintree_table, f``) or
the original chumpy-era ``.pkl`` (Python 2 pickle, latin1): chumpy does not import on Python 3.11
/ numpy 2, so :class:`_ModelUnpickler` maps every ``chumpy.*`` class to a stub that keeps the
object's state, and the stubs are turned back into arrays (a chumpy ``Ch`` keeps its value in
``x``); old ``scipy.sparse.csc``-module regressors are rebuilt as ``scipy.sparse.csc_matrix``.

Joint sets, driven by SMPL-24 local rotations and returning SMPL-24 joints:

- SMPL (24 joints): one to one.
- SMPL-H (52) and SMPL-X (55): the first 22 body joints take SMPL-24 joints 0-21 one to one; each
  hand's 15 finger joints (index, middle, pinky, ring, thumb; 3 each) stay at identity except the
  five first knuckles, which all take the SMPL-24 ``L_hand``/``R_hand`` rotation (SMPL's hand joint
  bends the whole hand at the knuckles); SMPL-X jaw and eyes stay at identity. The SMPL-24 output
  ``L_hand``/``R_hand`` joints are the middle-finger first knuckles (``left_middle1`` /
  ``right_middle1``), like Anny's ``finger3-1``.

As everywhere in unveil the rest pelvis is moved to the origin, so ``transl`` is the pelvis
position; ``rest_pelvis_offset(shape)`` gives the file's own pelvis (SMPL transl = ours - that).
Pose correctives are applied when the file has non-zero ``posedirs``.
"""

from __future__ import annotations

import _compat_pickle
import pickle
from pathlib import Path

import numpy as np
import torch

from ..errors import UnveilError
from .base import NUM_JOINTS, BodyModel

_HAND_FIRST_KNUCKLES = (0, 3, 6, 9, 12)  # index1, middle1, pinky1, ring1, thumb1 within a hand's 15
_MIDDLE1 = 3


# ------------------------------------------------------------------------------- chumpy unpickling
class _Stub:
    """Stands in for a chumpy / old scipy.sparse object: keeps its class name and state."""

    _cls_module = ""
    _cls_name = ""

    def __init__(self, *args, **kwargs):
        self._args = args

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
            state = {**(state[0] or {}), **state[1]}
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_state"] = state


# The only globals a body-model pickle may name (everything else is refused: a pickle that names
# ``os.system`` or ``builtins.eval`` would run code). numpy's array/scalar/dtype rebuilders, the
# ``bytes`` encoder of protocol-2 pickles, ``copyreg._reconstructor`` (Python 2 objects; it only
# calls ``base.__new__`` on classes that themselves passed this check) and a few plain builtins.
# ``chumpy.*`` and ``scipy.sparse.*`` never import: they become :class:`_Stub` subclasses.
SAFE_PICKLE_GLOBALS = frozenset({
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"), ("copyreg", "_reconstructor"),
    ("builtins", "object"), ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "complex"),
    ("builtins", "bytearray"),
})
_STUB_MODULES = ("chumpy", "scipy.sparse")


class _ModelUnpickler(pickle.Unpickler):
    """Unpickler for SMPL-family ``.pkl`` files that refuses every global outside
    :data:`SAFE_PICKLE_GLOBALS` (raises :class:`UnveilError`)."""

    def find_class(self, module, name):
        # Python 2 names (``copy_reg``, ``__builtin__``) as the base class would map them
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if any(module == m or module.startswith(m + ".") for m in _STUB_MODULES):
            return type(str(name), (_Stub,), {"_cls_module": module, "_cls_name": str(name)})
        if (module, name) in SAFE_PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise UnveilError(f"refusing to load {module}.{name} from the pickle (only numpy arrays, scipy sparse "
                          "matrices and chumpy values are allowed; a body-model file never needs it)")


def _to_array(obj):
    """Turn unpickled stubs (chumpy Ch, sparse matrices) into numpy / scipy objects."""
    if isinstance(obj, _Stub):
        d = obj.__dict__
        if obj._cls_module.startswith("scipy.sparse"):
            import scipy.sparse as sp

            shape = d.get("_shape", d.get("shape"))
            fmt = obj._cls_name.split("_")[0]
            if fmt in ("csc", "csr") and "indptr" in d:
                cls = sp.csc_matrix if fmt == "csc" else sp.csr_matrix
                return cls((np.asarray(d["data"]), np.asarray(d["indices"]), np.asarray(d["indptr"])), shape=shape)
            if fmt == "coo" and "row" in d:
                return sp.coo_matrix((np.asarray(d["data"]), (np.asarray(d["row"]), np.asarray(d["col"]))), shape=shape)
            raise UnveilError(f"cannot read a pickled scipy.sparse {obj._cls_name} from the body-model file")
        for key in ("x", "r", "_state"):
            if key in d:
                return _to_array(d[key])
        raise UnveilError(f"cannot read a pickled {obj._cls_module}.{obj._cls_name} object (no array value)")
    return obj


def read_model_file(path) -> dict:
    """Raw arrays of an SMPL-family ``.npz`` / ``.pkl`` file (dense numpy, sparse regressor densified)."""
    path = Path(path)
    if not path.exists():
        raise UnveilError(f"body model file {path} not found")
    try:
        if path.suffix == ".npz":
            raw = {}
            with np.load(path, allow_pickle=False) as z:
                for k in z.files:
                    try:
                        raw[k] = z[k]
                    except ValueError:  # object arrays (e.g. SMPL-X's joint2num dict): not needed
                        pass
        elif path.suffix == ".pkl":
            with open(path, "rb") as f:
                try:
                    raw = _ModelUnpickler(f, encoding="latin1").load()
                except UnveilError as e:
                    raise UnveilError(f"{path}: {e}") from None
            if not isinstance(raw, dict):
                raise UnveilError(f"{path}: not an SMPL-family pickle (top level is {type(raw).__name__})")
        else:
            raise UnveilError(f"{path}: expected an SMPL/SMPL-X .npz or .pkl file")
    except UnveilError:
        raise
    except Exception as e:  # corrupt / unrelated file
        raise UnveilError(f"{path}: cannot read body model ({type(e).__name__}: {e})") from e
    out = {}
    for k, v in raw.items():
        v = _to_array(v)
        if hasattr(v, "toarray"):
            v = v.toarray()
        out[k] = v
    missing = [k for k in ("v_template", "shapedirs", "J_regressor", "weights", "kintree_table", "f") if k not in out]
    if missing:
        raise UnveilError(f"{path}: not an SMPL-family model (missing {', '.join(missing)})")
    return out


def joint_maps(num_joints: int) -> tuple[list[int], list[int], str]:
    """(SMPL-24 rotation index for each model joint or -1, model joint for each SMPL-24 joint, kind)."""
    if num_joints == 24:
        return list(range(24)), list(range(24)), "smpl"
    if num_joints in (52, 55):
        kind = "smplh" if num_joints == 52 else "smplx"
        left = 22 if num_joints == 52 else 25
        right = left + 15
        src = list(range(22)) + [-1] * (num_joints - 22)
        for k in _HAND_FIRST_KNUCKLES:
            src[left + k] = 22
            src[right + k] = 23
        out = list(range(22)) + [left + _MIDDLE1, right + _MIDDLE1]
        return src, out, kind
    raise UnveilError(f"unsupported body model with {num_joints} joints (expected SMPL 24, SMPL-H 52, SMPL-X 55)")


class SMPLBody(BodyModel):
    """SMPL-family linear blend skinning model (also runs the Anny-derived SMPL-format file)."""

    def __init__(self, data: dict, name: str = "smpl", num_shape: int = 10):
        super().__init__()
        v_template = np.asarray(data["v_template"], dtype=np.float32)
        V = v_template.shape[0]
        shapedirs = np.asarray(data["shapedirs"], dtype=np.float32).reshape(V, 3, -1)
        kind_shape = int(np.asarray(data.get("num_betas", shapedirs.shape[-1])))
        num_shape = min(num_shape, shapedirs.shape[-1], kind_shape) if num_shape else shapedirs.shape[-1]
        shapedirs = shapedirs[..., :num_shape]
        J_reg = np.asarray(data["J_regressor"], dtype=np.float32)
        weights = np.asarray(data["weights"], dtype=np.float32)
        kin = np.asarray(data["kintree_table"]).astype(np.int64)
        J = J_reg.shape[0]
        parents = kin[0].copy()
        parents[0] = -1
        parents = [int(p) for p in parents]
        if any(p >= c for c, p in enumerate(parents) if c > 0):
            raise UnveilError(f"{name}: kinematic tree is not in topological order")
        self.parents = parents
        self.src_rot, self.out_joints, self.kind = joint_maps(J)
        self.name = name
        self.num_shape = num_shape
        self.register_buffer("v_template", torch.from_numpy(v_template), persistent=False)
        self.register_buffer("shapedirs", torch.from_numpy(np.ascontiguousarray(shapedirs.reshape(V * 3, -1))), persistent=False)
        self.register_buffer("J_regressor", torch.from_numpy(J_reg), persistent=False)
        self.register_buffer("weights", torch.from_numpy(weights), persistent=False)
        self.register_buffer("faces", torch.from_numpy(np.asarray(data["f"]).astype(np.int64)), persistent=False)
        posedirs = data.get("posedirs")
        self.has_correctives = posedirs is not None and bool(np.any(posedirs))
        if self.has_correctives:
            P = np.asarray(posedirs, dtype=np.float32).reshape(V * 3, -1)
            if P.shape[1] != (J - 1) * 9:
                raise UnveilError(f"{name}: posedirs has {P.shape[1]} columns, expected {(J - 1) * 9}")
            self.register_buffer("posedirs", torch.from_numpy(np.ascontiguousarray(P.T)), persistent=False)  # (P, V*3)
        # joints are linear in the shape: J(beta) = J_reg T_bar + (J_reg S) beta, precomputed
        jt = J_reg.astype(np.float64) @ v_template
        jd = np.einsum("jv,vcs->jcs", J_reg.astype(np.float64), shapedirs.astype(np.float64))
        self.register_buffer("J_template", torch.from_numpy(jt.astype(np.float32)), persistent=False)
        self.register_buffer("J_shapedirs", torch.from_numpy(jd.reshape(J * 3, -1).astype(np.float32)), persistent=False)
        default = data.get("default_shape")
        d = np.zeros(num_shape, np.float32) if default is None else np.asarray(default, np.float32)[:num_shape]
        self.register_buffer("_default", torch.from_numpy(d), persistent=False)
        # gather index: model joint k takes input rotation src[k]; index 24 = identity
        self.register_buffer("_src", torch.tensor([s if s >= 0 else NUM_JOINTS for s in self.src_rot]), persistent=False)
        self.meta = {k: data[k] for k in data if k.startswith("meta_")}

    @classmethod
    def from_file(cls, path, name: str | None = None, num_shape: int = 10) -> "SMPLBody":
        data = read_model_file(path)
        return cls(data, name=name or Path(path).stem, num_shape=num_shape)

    def default_shape(self) -> torch.Tensor:
        return self._default.clone()

    @property
    def skin_weights(self) -> torch.Tensor:
        """(V, 24): the model's weights summed onto the SMPL-24 joints (hands -> L_hand / R_hand)."""
        W = self.weights
        if self.kind == "smpl":
            return W
        owner = []
        for k in range(W.shape[1]):
            j = k
            while self.src_rot[j] < 0:  # fingers -> their knuckle -> L/R_hand; jaw, eyes -> head
                j = self.parents[j]
            owner.append(self.src_rot[j])
        out = torch.zeros(W.shape[0], NUM_JOINTS, dtype=W.dtype, device=W.device)
        out.index_add_(1, torch.tensor(owner, device=W.device), W)
        return out

    # ---------------------------------------------------------------- core
    def _shaped(self, shape: torch.Tensor):
        """(N,S) -> shaped rest vertices (N,V,3) and joints (N,J,3), uncentred."""
        V = self.v_template.shape[0]
        v = self.v_template[None] + (shape @ self.shapedirs.T).reshape(-1, V, 3)
        j = self.J_template[None] + (shape @ self.J_shapedirs.T).reshape(shape.shape[0], -1, 3)
        return v, j

    def rest_pelvis_offset(self, shape=None) -> torch.Tensor:
        s = self._shape(shape, (1,))
        return self._shaped(s)[1][0, 0]

    def _rest_joints(self, shape):
        j = self.J_template[None] + (shape @ self.J_shapedirs.T).reshape(shape.shape[0], -1, 3)
        j = j - j[:, :1]
        return j[:, self.out_joints]

    def _rest(self, shape):
        """Pelvis-centred shaped rest mesh and joints; the last shared shape is memoised."""
        cacheable = shape.shape[0] == 1 and not shape.requires_grad
        key = (shape.detach().cpu().numpy().tobytes(), shape.dtype, shape.device) if cacheable else None
        if key is not None and getattr(self, "_rest_key", None) == key:
            return self._rest_val
        v, J = self._shaped(shape)
        root = J[:, :1]
        v, J = v - root, J - root
        Wvh = None
        if shape.shape[0] == 1:  # skinning operand of the shared-mesh path (see _forward)
            vh = torch.cat([v[0], torch.ones_like(v[0, :, :1])], dim=-1)              # (V, 4)
            Wvh = (self.weights[:, :, None] * vh[:, None, :]).reshape(vh.shape[0], -1)
        val = (v, J, Wvh)
        if key is not None and not any(t.requires_grad for t in val):
            self._rest_key, self._rest_val = key, val
        return val

    def _forward(self, rotmats, shape):
        n = rotmats.shape[0]
        v, J, Wvh = self._rest(shape)
        eye = torch.eye(3, dtype=rotmats.dtype, device=rotmats.device)
        R = torch.cat([rotmats, eye.expand(n, 1, 3, 3)], dim=1)[:, self._src]       # (n, J, 3, 3)
        if self.has_correctives:
            feat = (R[:, 1:] - eye).reshape(n, -1)
            v = v + (feat @ self.posedirs).reshape(n, -1, 3)
            Wvh = None  # the mesh now differs per pose
        Jn = J.expand(n, -1, -1)
        G = [R[:, 0]]
        P = [Jn[:, 0]]
        for k in range(1, len(self.parents)):
            p = self.parents[k]
            G.append(G[p] @ R[:, k])
            P.append(P[p] + (G[p] @ (Jn[:, k] - Jn[:, p])[..., None])[..., 0])
        G = torch.stack(G, 1)                                                          # (n, J, 3, 3)
        P = torch.stack(P, 1)                                                          # (n, J, 3)
        t = P - (G @ Jn[..., None])[..., 0]
        A = torch.cat([G, t[..., None]], dim=-1)                                       # (n, J, 3, 4)
        nj = A.shape[1]
        if v.shape[0] == 1 and Wvh is not None:
            # one rest mesh for the whole batch (shared shape, no correctives): by linearity
            # v_i = sum_{j,c} (w_ij vh_ic) A_j[:, c] -- a single (V, 4J) x (4J, 3n) GEMM.
            A2 = A.permute(1, 3, 0, 2).reshape(nj * 4, n * 3)
            verts = (Wvh @ A2).reshape(-1, n, 3).transpose(0, 1)
            return verts, P[:, self.out_joints]
        T = (self.weights @ A.permute(1, 0, 2, 3).reshape(nj, n * 12)).reshape(-1, n, 3, 4)  # (V, n, 3, 4)
        vt = v.expand(n, -1, -1).transpose(0, 1)                                       # (V, n, 3)
        verts = (T[..., 3] + T[..., 0] * vt[..., 0:1] + T[..., 1] * vt[..., 1:2]
                 + T[..., 2] * vt[..., 2:3]).transpose(0, 1)
        return verts, P[:, self.out_joints]
