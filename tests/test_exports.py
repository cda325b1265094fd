"""Mesh writers (OBJ, binary PLY, GLB): what a mesh tool reads back is what we wrote."""

import io

import numpy as np
import trimesh

from smhr.io.exports import OPENCV_TO_GLTF, glb_bytes, obj_bytes, ply_bytes


def _mesh(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    v = rng.normal(0, 0.05, (30, 3)) + np.array([0.0, 0.0, 0.5])
    f = rng.integers(0, 30, (40, 3))
    return v, f


def test_obj_and_ply_round_trip_vertices_faces_and_colours():
    v, f = _mesh()
    m = trimesh.load(io.BytesIO(obj_bytes(v, f, (245, 130, 48, 255))), file_type="obj", process=False)
    np.testing.assert_allclose(m.vertices, v, atol=1e-6)
    np.testing.assert_array_equal(m.faces, f)
    p = trimesh.load(io.BytesIO(ply_bytes(v, f, (66, 135, 245, 255))), file_type="ply", process=False)
    np.testing.assert_allclose(p.vertices, v, atol=1e-6)
    np.testing.assert_array_equal(p.faces, f)
    np.testing.assert_array_equal(p.visual.vertex_colors, np.tile([66, 135, 245, 255], (30, 1)))


def test_glb_holds_every_hand_in_gltf_axes():
    meshes = [(f"hand{k}", _mesh(k)[0] @ OPENCV_TO_GLTF.T, _mesh(k)[1], (10 * k, 20, 30, 255))
              for k in range(3)]
    data = glb_bytes(meshes)
    assert data[:4] == b"glTF" and int.from_bytes(data[8:12], "little") == len(data)
    scene = trimesh.load(io.BytesIO(data), file_type="glb")
    assert len(scene.geometry) == 3
    by_vertices = sorted(scene.geometry.values(), key=lambda g: g.vertices[0, 0])
    expected = sorted(meshes, key=lambda m: m[1][0, 0])
    for g, (_, v, f, _) in zip(by_vertices, expected, strict=True):
        np.testing.assert_allclose(g.vertices, v, atol=1e-6)
        np.testing.assert_array_equal(g.faces, f)


def test_glb_materials_carry_the_sides_colour_as_linear_light():
    """glTF reads baseColorFactor as linear: the overlay's sRGB orange (245, 130, 48) is stored as
    ~(0.913, 0.223, 0.030), which a viewer shows as that orange again, not a washed-out (250, 189, 121)."""
    import json

    v, f = _mesh()
    data = glb_bytes([("hand0", v, f, (245, 130, 48, 255))])
    size = int.from_bytes(data[12:16], "little")
    doc = json.loads(data[20 : 20 + size])
    factor = doc["materials"][0]["pbrMetallicRoughness"]["baseColorFactor"]
    np.testing.assert_allclose(factor, [0.9131, 0.2232, 0.0296, 1.0], atol=1e-3)
