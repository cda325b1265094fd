"""Appearance outputs: the NumPy textured renderer equals the training renderer, the record's albedo /
SH follow the training conventions, and the mesh / JSON writers carry them."""

import io
import json

import numpy as np
import torch

from smhr.io.appearance import linear_from_srgb, vertex_rgba
from smhr.io.exports import glb_bytes, hand_mesh_files, image_record, ply_bytes
from smhr.losses.photometric import albedo_from_texture, sh_from_light
from smhr.records import Hand
from smhr.render.renderer import ambient_sh, render_hard
from smhr.render.shading import directional_sh
from smhr.render.shading import sh_basis as torch_sh_basis
from smhr.render.textured import overlay_textured_hands, render_textured, sh_basis, vertex_colours


def _blob(centre, radius, n=6):
    """A closed, outward-wound UV sphere [V,3], [F,3] (small: 2 + n*(n-1) vertices)."""
    verts = [[0, 0, -1.0]]
    for i in range(1, n):
        t = np.pi * i / n
        for j in range(n):
            p = 2 * np.pi * j / n
            verts.append([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), -np.cos(t)])
    verts.append([0, 0, 1.0])
    faces = []
    for j in range(n):
        faces.append([0, 1 + (j + 1) % n, 1 + j])
    for i in range(n - 2):
        for j in range(n):
            a, b = 1 + i * n + j, 1 + i * n + (j + 1) % n
            faces += [[a, b, b + n], [a, b + n, a + n]]
    last = len(verts) - 1
    for j in range(n):
        a, b = 1 + (n - 2) * n + j, 1 + (n - 2) * n + (j + 1) % n
        faces.append([a, b, last])
    return np.asarray(verts) * radius + np.asarray(centre), np.asarray(faces)


def test_numpy_textured_render_equals_the_training_renderer():
    rng = np.random.default_rng(0)
    (v0, f), (v1, _) = _blob([0.01, 0.0, 0.5], 0.05), _blob([-0.03, 0.01, 0.45], 0.04)  # overlapping
    K = np.array([[120.0, 0, 31.5], [0, 120.0, 23.5], [0, 0, 1]])
    albedo = rng.uniform(0.2, 0.8, (2, len(v0), 3))
    sh = directional_sh(torch.tensor([[0.3, -0.5, -1.0], [-0.2, 0.4, -1.0]]), 0.4, 0.6,
                        torch.tensor([[1.0, 0.9, 0.8], [0.7, 0.8, 1.0]])).numpy()
    cols = [vertex_colours(v, f, a, s) for v, a, s in zip((v0, v1), albedo, sh, strict=True)]
    rgb, cover = render_textured([v0, v1], [f, f], K, (48, 64), cols)
    ref = render_hard(torch.tensor(np.stack([v0, v1]))[None], torch.tensor(f), torch.tensor(K)[None],
                      (48, 64), albedo=torch.tensor(albedo)[None], sh=torch.tensor(sh)[None])  # fmt: skip
    ref_cover = ref.mask[0, 0].numpy() > 0
    assert 300 < cover.sum() < 48 * 64 and (cover == ref_cover).all()
    np.testing.assert_allclose(rgb[cover], ref.rgb[0].permute(1, 2, 0).numpy()[cover], atol=1e-6)
    assert rgb[cover].std() > 0.05  # the light and albedo really vary over the picture


def test_sh_basis_and_record_conversions_follow_training():
    n = np.random.default_rng(1).normal(size=(50, 3))
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    np.testing.assert_allclose(sh_basis(n), torch_sh_basis(torch.tensor(n)).numpy(), atol=1e-12)
    texture = np.random.default_rng(2).normal(0, 0.1, (1609, 3))
    light = np.random.default_rng(3).normal(0, 0.1, 27)
    h = _hand(texture, light)
    np.testing.assert_allclose(h.albedo, albedo_from_texture(torch.tensor(texture)).numpy(), atol=1e-6)
    np.testing.assert_allclose(h.sh, sh_from_light(torch.tensor(light)).numpy(), atol=1e-6)
    assert _hand(None, None).albedo is None and _hand(None, None).sh is None


def _hand(texture, light, vertices=None):
    z = np.zeros
    return Hand(side=1, score=0.9, center=z(2), global_orient=z(3), pose=z(45), betas=z(10), transl=z(3),
                vertices=z((1609, 3)) if vertices is None else vertices, joints3d=z((21, 3)),
                keypoints2d=z((21, 2)), local_keypoints2d=z((21, 2)), K=np.eye(3),
                texture=None if texture is None else np.asarray(texture, np.float32),
                light=None if light is None else np.asarray(light, np.float32))  # fmt: skip


def test_meshes_and_json_carry_the_albedo_and_lighting():
    import trimesh

    v, f = _blob([0, 0, 0.5], 0.05)
    texture = np.random.default_rng(4).uniform(-0.3, 0.5, (len(v), 3))
    light = np.random.default_rng(5).normal(0, 0.1, 27)
    h = _hand(texture, light, v.astype(np.float32))
    rgba = vertex_rgba(h)
    expected = np.clip(np.floor(h.albedo.astype(np.float64) * 255 + 0.5), 0, 255)
    np.testing.assert_array_equal(rgba[:, :3], expected)
    files = hand_mesh_files("img", [h], {1: f})
    ply = trimesh.load(io.BytesIO(files["img_hand0_right.ply"]), file_type="ply", process=False)
    np.testing.assert_array_equal(ply.visual.vertex_colors, rgba)
    obj = files["img_hand0_right.obj"].decode().splitlines()
    np.testing.assert_allclose([float(x) for x in obj[0].split()[4:]], rgba[0, :3] / 255, atol=1e-6)
    data = files["img.glb"]
    n_json = int.from_bytes(data[12:16], "little")
    glb, binary = json.loads(data[20:20 + n_json]), data[28 + n_json:]
    acc = glb["accessors"][glb["meshes"][0]["primitives"][0]["attributes"]["COLOR_0"]]
    view = glb["bufferViews"][acc["bufferView"]]
    colours = np.frombuffer(binary[view["byteOffset"]:view["byteOffset"] + view["byteLength"]], np.float32)
    assert acc["count"] == len(v) and acc["type"] == "VEC3"
    np.testing.assert_allclose(colours.reshape(-1, 3), linear_from_srgb(rgba[:, :3] / 255.0), atol=1e-6)
    scene = trimesh.load(io.BytesIO(data), file_type="glb", process=False)  # a valid file for a reader
    mesh = next(iter(scene.geometry.values()))
    np.testing.assert_allclose(mesh.vertices, v @ np.diag([1, -1, -1]), atol=1e-6)
    # single colours still work (hands without appearance)
    assert len(ply_bytes(v, f, (1, 2, 3, 255))) == len(files["img_hand0_right.ply"])
    assert len(glb_bytes([("a", v, f, (1, 2, 3, 255))])) > 0
    rec = image_record("x.jpg", (10, 10), [h, _hand(None, None)], "anny")
    app = rec["hands"][0]["appearance"]
    np.testing.assert_allclose(app["sh"], h.sh.reshape(3, 9), atol=1e-6)
    assert "appearance" not in rec["hands"][1]
    full = image_record("x.jpg", (10, 10), [h], "anny", with_vertices=True)["hands"][0]["appearance"]
    np.testing.assert_allclose(full["albedo_rgb"], h.albedo, atol=1e-4)


def test_textured_overlay_puts_the_lit_albedo_beside_the_photo():
    # a camera-facing square under white ambient light of irradiance 1: every covered pixel is the albedo
    v = np.array([[-0.05, -0.05, 0.5], [0.05, -0.05, 0.5], [0.05, 0.05, 0.5], [-0.05, 0.05, 0.5]])
    f = np.array([[0, 2, 1], [0, 3, 2]])
    h = _hand(np.full((4, 3), 0.0), np.zeros(27), v)
    h.light = (ambient_sh(()).numpy() - np.r_[0.8, [0] * 8, 0.8, [0] * 8, 0.8, [0] * 8]).astype(np.float32)
    h.K = np.array([[100.0, 0, 19.5], [0, 100.0, 19.5], [0, 0, 1]])
    photo = np.random.default_rng(6).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    out = overlay_textured_hands(photo, [h], {1: f})
    assert out.shape == (40, 88, 3)
    np.testing.assert_array_equal(out[:, :40], photo)
    right = out[:, 48:]
    inside = np.zeros((40, 40), bool)
    inside[10:30, 10:30] = True  # pixel centres 10..29 lie within the square's projection 9.5..29.5
    skin = np.floor(np.array([0.45, 0.35, 0.30]) * 255 + 0.5)
    np.testing.assert_array_equal(right[inside], np.tile(skin, (400, 1)))
    np.testing.assert_array_equal(right[~inside], photo[~inside])
