"""Rigged GLB: read back with a glTF library (pygltflib), re-skinned by the glTF rules written here
independently of the writer, equals the hand model's own vertices; Blender imports it."""

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pygltflib
import pytest

from smhr.app.rig import rigged_hand_glb
from smhr.hands.numpy_model import NumpyHandModel
from smhr.hands.params import join_params

C = np.diag([1.0, -1.0, -1.0])
_TYPES = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}
_DTYPES = {5126: np.float32, 5125: np.uint32, 5123: np.uint16, 5121: np.uint8}


def _read(gl: pygltflib.GLTF2, index: int) -> np.ndarray:
    acc = gl.accessors[index]
    view = gl.bufferViews[acc.bufferView]
    blob = gl.binary_blob()
    n = _TYPES[acc.type]
    dt = np.dtype(_DTYPES[acc.componentType])
    start = view.byteOffset + (acc.byteOffset or 0)
    a = np.frombuffer(blob, dt, acc.count * n, start)
    return a.reshape(acc.count, n) if n > 1 else a


def _quat_to_matrix(q):
    x, y, z, w = q
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])  # fmt: skip


def _sample(gl, node_index, path, t):
    """An animated value of a node at time t (LINEAR; quaternions normalised lerp is exact at keys)."""
    for anim in gl.animations:
        for ch in anim.channels:
            if ch.target.node == node_index and ch.target.path == path:
                s = anim.samplers[ch.sampler]
                times, vals = _read(gl, s.input), _read(gl, s.output).astype(np.float64)
                if path == "weights":
                    vals = vals.reshape(len(times), -1)
                k = int(np.argmin(np.abs(times - t)))
                assert abs(times[k] - t) < 1e-6, "sample only at keyframes"
                return vals[k]
    return None


def reskin(data: bytes, t: float | None = None) -> tuple[np.ndarray, pygltflib.GLTF2]:
    """World-space vertices [V,3] (glTF axes) of the skinned mesh, at keyframe time t."""
    gl = pygltflib.GLTF2.load_from_bytes(data)
    mesh_node = next(i for i, n in enumerate(gl.nodes) if n.skin is not None)
    node, skin = gl.nodes[mesh_node], gl.skins[gl.nodes[mesh_node].skin]
    prim = gl.meshes[node.mesh].primitives[0]
    pos = _read(gl, prim.attributes.POSITION).astype(np.float64)
    weights = list(gl.meshes[node.mesh].weights or [])
    if t is not None and _sample(gl, mesh_node, "weights", t) is not None:
        weights = _sample(gl, mesh_node, "weights", t)
    for w, target in zip(weights, prim.targets or [], strict=True):
        pos = pos + w * _read(gl, target["POSITION"])
    parent = {c: i for i, n in enumerate(gl.nodes) for c in (n.children or [])}

    def world(i):
        n = gl.nodes[i]
        q = (_sample(gl, i, "rotation", t) if t is not None else None)
        q = n.rotation if q is None else q
        tr = (_sample(gl, i, "translation", t) if t is not None else None)
        tr = n.translation if tr is None else tr
        M = np.eye(4)
        M[:3, :3] = _quat_to_matrix(np.asarray([0, 0, 0, 1] if q is None else q, np.float64))
        M[:3, 3] = [0, 0, 0] if tr is None else tr
        return world(parent[i]) @ M if i in parent else M

    ibm = _read(gl, skin.inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)
    mats = np.stack([world(j) @ ibm[k] for k, j in enumerate(skin.joints)])
    out = np.zeros_like(pos)
    k = 0
    while getattr(prim.attributes, f"JOINTS_{k}", None) is not None:
        js = _read(gl, getattr(prim.attributes, f"JOINTS_{k}")).astype(int)
        ws = _read(gl, getattr(prim.attributes, f"WEIGHTS_{k}")).astype(np.float64)
        for c in range(4):
            M = mats[js[:, c]]
            out += ws[:, c, None] * (np.einsum("vab,vb->va", M[:, :3, :3], pos) + M[:, :3, 3])
        k += 1
    return out, gl


def _theta(rng, scale=0.4):
    return join_params(rng.normal(0, 1.0, 3), rng.normal(0, scale, 45), rng.normal(0, 1.0, 10),
                       np.array([0.05, -0.02, 0.6]))  # fmt: skip


def _models(mano_dir):
    yield "anny", [NumpyHandModel.load("anny", s) for s in ("left", "right")]
    yield "mano", [NumpyHandModel.load("mano", s, mano_dir) for s in ("left", "right")]


def test_rigged_glb_re_skins_to_the_hand_models_vertices(mano_dir):
    rng = np.random.default_rng(0)
    for kind, models in _models(mano_dir):
        for side in (0, 1):
            theta = _theta(rng)
            verts, _ = models[side](*[x[None] for x in (theta[:3], theta[3:48], theta[48:58], theta[58:])])
            data = rigged_hand_glb(models[side], theta, side)
            got, gl = reskin(data)
            err = np.abs(got @ C - verts[0]).max()
            assert err < 1e-4, (kind, side, err)
            skin = gl.skins[0]
            assert len(skin.joints) == 16 and gl.nodes[skin.joints[0]].name.endswith("_wrist")
            has_targets = bool(gl.meshes[0].primitives[0].targets)
            assert has_targets == (kind == "mano")  # MANO's pose correctives as morph targets, Anny none


def test_animated_track_glb_has_keyframes_at_the_given_times_and_re_skins_each(mano_dir):
    rng = np.random.default_rng(1)
    times = [0.0, 0.1, 0.5, 0.533]  # a variable frame rate
    for _kind, models in _models(mano_dir):
        thetas = np.stack([_theta(rng, 0.3) for _ in times])
        data = rigged_hand_glb(models[1], thetas, 1, times=times)
        gl = pygltflib.GLTF2.load_from_bytes(data)
        keys = _read(gl, gl.animations[0].samplers[0].input)
        np.testing.assert_allclose(keys, times, atol=1e-6)
        for t, th in zip(times, thetas, strict=True):
            verts, _ = models[1](*[x[None] for x in (th[:3], th[3:48], th[48:58], th[58:])])
            got, _ = reskin(data, t)
            assert np.abs(got @ C - verts[0]).max() < 1e-4


BLENDER_CHECK = r"""
import bpy, json, sys
args = json.loads(sys.argv[sys.argv.index("--") + 1])
sys.path.append(args["numpy_home"])  # Blender's glTF importer needs NumPy; lend it the test's
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.import_scene.gltf(filepath=args["glb"])
arm = [o for o in bpy.data.objects if o.type == "ARMATURE"]
meshes = [o for o in bpy.data.objects if o.type == "MESH"]
dg = bpy.context.evaluated_depsgraph_get()
ev = meshes[0].evaluated_get(dg)
m = ev.to_mesh()
co = [list(ev.matrix_world @ v.co) for v in m.vertices]
json.dump({"armatures": len(arm), "bones": len(arm[0].data.bones), "vertices": co},
          open(args["out"], "w"))
"""


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("blender") is None, reason="Blender is not installed")
def test_blender_imports_the_rigged_hand_with_its_armature_and_pose(tmp_path, mano_dir):
    rng = np.random.default_rng(2)
    model = NumpyHandModel.load("mano", "right", mano_dir)
    theta = _theta(rng)
    verts, _ = model(*[x[None] for x in (theta[:3], theta[3:48], theta[48:58], theta[58:])])
    (tmp_path / "hand.glb").write_bytes(rigged_hand_glb(model, theta, 1))
    (tmp_path / "check.py").write_text(BLENDER_CHECK)
    args = json.dumps({"glb": str(tmp_path / "hand.glb"), "out": str(tmp_path / "res.json"),
                       "numpy_home": str(Path(np.__file__).parents[1])})
    proc = subprocess.run(["blender", "-b", "--factory-startup", "--python", str(tmp_path / "check.py"), "--",
                           args], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert (tmp_path / "res.json").is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    res = json.loads((tmp_path / "res.json").read_text())
    assert res["armatures"] == 1 and res["bones"] == 16
    # Blender is z up: glTF (x, y, z) -> Blender (x, -z, y); OpenCV -> glTF is C
    got = np.asarray(res["vertices"]) @ np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]]).T
    assert np.abs(got @ C - verts[0]).max() < 1e-4
