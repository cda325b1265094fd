"""Write reconstructed hands to files people open elsewhere: OBJ / PLY per hand, one GLB per image
(every hand in one scene), and a JSON record per image.

Why these: OBJ and PLY open in every mesh tool (Blender, MeshLab, Open3D); GLB is what web viewers
and game engines take and holds all hands of an image with their colours; JSON carries everything
numeric (side, score, keypoints, parameters, camera) for downstream code. Meshes are in the camera
frame, metres, OpenCV axes (x right, y down, z forward), exactly as `Hand` holds them; viewers that
expect y up show them upside down, which is why the GLB (a viewer format) is turned into glTF's
y-up, z-backward axes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from smhr.io.appearance import appearance_record, base_color_factor, linear_from_srgb, vertex_rgba
from smhr.records import SIDE_NAMES, Hand

SIDE_RGBA = {0: (66, 135, 245, 255), 1: (245, 130, 48, 255)}  # left blue, right orange
JSON_SCHEMA_VERSION = 2
CAMERA_NOTES = {
    "virtual": "the network's virtual camera (focal 512 px at the network input, principal point at "
    "the input's centre) mapped back through the letterbox: the principal point is near, not exactly "
    "at, the image centre; shape and pose are right, absolute distance is not",
    "focal": "focal length given by the user (--focal), principal point at the image centre (W-1)/2, "
    "(H-1)/2; hands are placed metrically",
    "given": "intrinsics given by the user (K); hands are placed metrically",
}
"""What `camera.kind` means, written beside K in every record (why the principal point is where it is)."""
OPENCV_TO_GLTF = np.diag([1.0, -1.0, -1.0])


def _list(a: np.ndarray, decimals: int = 6) -> list:
    return np.round(np.asarray(a, np.float64), decimals).tolist()


def hand_record(hand: Hand, index: int, with_vertices: bool = False) -> dict[str, Any]:
    """JSON-ready dict of one hand (metres / pixels / radians, see docs/outputs.md)."""
    rec: dict[str, Any] = {
        "index": index,
        "side": SIDE_NAMES[hand.side],
        "score": round(float(hand.score), 5),
        "center_px": _list(hand.center, 2),
        "keypoints2d_px": _list(hand.keypoints2d, 2),
        "keypoints3d_m": _list(hand.joints3d),
        "global_orient": _list(hand.global_orient),
        "pose": _list(hand.pose),
        "betas": _list(hand.betas),
        "transl_m": _list(hand.transl),
    }
    if with_vertices:
        rec["vertices_m"] = _list(hand.vertices)
    appearance = appearance_record(hand, with_vertices)
    if appearance is not None:
        rec["appearance"] = appearance
    return rec


def camera_record(K: np.ndarray, kind: str) -> dict[str, Any]:
    """The `camera` block: K [3,3] in original pixels, how it was obtained, and its principal point."""
    K = np.asarray(K, np.float64)
    return {"K": _list(K, 4), "kind": kind, "focal_px": _list([K[0, 0], K[1, 1]], 4),
            "principal_point_px": _list(K[:2, 2], 4), "note": CAMERA_NOTES[kind]}  # fmt: skip


def image_record(source: str, image_hw: tuple[int, int], hands: Sequence[Hand], hand_model: str,
                 with_vertices: bool = False, *, camera: dict[str, Any] | None = None,
                 provenance: dict[str, Any] | None = None, keypoint_names: Sequence[str] = (),
                 pose_joints: Sequence[str] = ()) -> dict[str, Any]:  # fmt: skip
    """The per-image JSON document (schema 2, docs/usage.md and smhr/assets/schemas): source as the
    user gave it, size, provenance (which weights / settings made it), hand model and the joint order
    of its pose (`keypoint_names` / `pose_joints`: `smhr.app.provenance.NAMES`), the camera (always,
    with or without hands), the hands."""
    if camera is None:  # callers without the image's camera: the hands carry it
        camera = camera_record(hands[0].K, "virtual") if hands else None
    return {
        "schema": JSON_SCHEMA_VERSION,
        "source": source,
        "image_size": {"height": int(image_hw[0]), "width": int(image_hw[1])},
        "provenance": provenance,
        "hand_model": hand_model,
        "keypoint_order": "freihand",
        "keypoint_names": list(keypoint_names),
        "pose_joints": list(pose_joints),
        "camera": camera,
        "hands": [hand_record(h, i, with_vertices) for i, h in enumerate(hands)],
    }


def json_text(record: dict[str, Any]) -> str:
    """The JSON file content of a record (indented, newline-terminated)."""
    return json.dumps(record, indent=1) + "\n"


def _per_vertex(rgba: Sequence[int] | np.ndarray, n: int) -> np.ndarray:
    """One colour [3|4] or one per vertex [V,3|4] (0-255) -> uint8 RGBA [V,4]."""
    c = np.asarray(rgba, np.float64)
    if c.shape[-1] == 3:
        c = np.concatenate([c, np.full((*c.shape[:-1], 1), 255.0)], -1)
    return np.broadcast_to(c, (n, 4)).astype(np.uint8)


def obj_bytes(vertices: np.ndarray, faces: np.ndarray, rgb: Sequence[int] | np.ndarray) -> bytes:
    """Wavefront OBJ text: `v x y z r g b` lines (colours in [0, 1], the common extension that
    MeshLab, Blender and Open3D read) and 1-based triangles; rgb one colour or one per vertex."""
    col = _per_vertex(rgb, len(vertices))[:, :3] / 255.0
    v = np.concatenate([np.asarray(vertices, np.float64), col], 1)
    lines = ["v " + " ".join(f"{x:.6f}" for x in row) for row in v]
    lines += ["f " + " ".join(str(int(i) + 1) for i in tri) for tri in np.asarray(faces)]
    return ("\n".join(lines) + "\n").encode()


def ply_bytes(vertices: np.ndarray, faces: np.ndarray, rgba: Sequence[int] | np.ndarray) -> bytes:
    """Binary little-endian PLY with float vertices, uchar RGBA vertex colours (one colour or one per
    vertex) and int triangles."""
    V, F = len(vertices), len(faces)
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"element vertex {V}\nproperty float x\nproperty float y\nproperty float z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\nproperty uchar alpha\n"
              f"element face {F}\nproperty list uchar int vertex_indices\nend_header\n")
    vt = np.zeros(V, [("p", "<f4", 3), ("c", "u1", 4)])
    vt["p"], vt["c"] = np.asarray(vertices, np.float32), _per_vertex(rgba, V)
    ft = np.zeros(F, [("n", "u1"), ("i", "<i4", 3)])
    ft["n"], ft["i"] = 3, np.asarray(faces, np.int32)
    return header.encode() + vt.tobytes() + ft.tobytes()


def glb_bytes(meshes: Sequence[tuple[str, np.ndarray, np.ndarray, Sequence[int] | np.ndarray]]) -> bytes:
    """A binary glTF 2.0 scene with one node per mesh (name, vertices [V,3], faces [F,3], RGBA):
    float positions (with their bounds, which glTF requires), uint32 indices and one coloured
    material per mesh; an RGBA per vertex [V,4] (sRGB 0-255) becomes a linear COLOR_0 attribute
    under a white material."""
    buf, views, accessors, gmeshes, nodes, materials = bytearray(), [], [], [], [], []

    def add(data: bytes, target: int) -> int:
        while len(buf) % 4:
            buf.append(0)
        views.append({"buffer": 0, "byteOffset": len(buf), "byteLength": len(data), "target": target})
        buf.extend(data)
        return len(views) - 1

    for k, (name, v, f, rgba) in enumerate(meshes):
        pos = np.ascontiguousarray(v, np.float32)
        idx = np.ascontiguousarray(f, np.uint32)
        accessors.append({"bufferView": add(pos.tobytes(), 34962), "componentType": 5126, "count": len(pos),
                          "type": "VEC3", "min": pos.min(0).tolist(), "max": pos.max(0).tolist()})
        accessors.append({"bufferView": add(idx.tobytes(), 34963), "componentType": 5125,
                          "count": int(idx.size), "type": "SCALAR"})
        attributes = {"POSITION": len(accessors) - 2}
        indices = len(accessors) - 1
        base = np.asarray(rgba, np.float64)
        if base.ndim == 2:  # per-vertex colours: glTF wants them linear
            col = linear_from_srgb(base[:, :3] / 255.0).astype(np.float32)
            accessors.append({"bufferView": add(np.ascontiguousarray(col).tobytes(), 34962),
                              "componentType": 5126, "count": len(col), "type": "VEC3"})
            attributes["COLOR_0"] = len(accessors) - 1
            base = np.full(4, 255.0)
        materials.append({"pbrMetallicRoughness": {"baseColorFactor": base_color_factor(base),
                                                   "metallicFactor": 0.0}, "doubleSided": True})
        gmeshes.append({"name": name, "primitives": [{"attributes": attributes, "indices": indices,
                                                      "material": k}]})
        nodes.append({"name": name, "mesh": k})
    while len(buf) % 4:
        buf.append(0)
    doc = {"asset": {"version": "2.0", "generator": "smhr"}, "scene": 0,
           "scenes": [{"nodes": list(range(len(nodes)))}], "nodes": nodes, "meshes": gmeshes,
           "materials": materials, "accessors": accessors, "bufferViews": views,
           "buffers": [{"byteLength": len(buf)}]}
    js = json.dumps(doc, separators=(",", ":")).encode()
    js += b" " * (-len(js) % 4)
    body = (len(js).to_bytes(4, "little") + b"JSON" + js + len(buf).to_bytes(4, "little") + b"BIN\x00"
            + bytes(buf))
    return b"glTF" + (2).to_bytes(4, "little") + (12 + len(body)).to_bytes(4, "little") + body


def hand_mesh_files(
    stem: str, hands: Sequence[Hand], faces: dict[int, np.ndarray],
    formats: Sequence[str] = ("obj", "ply", "glb"),
) -> dict[str, bytes]:
    """File name -> content: `{stem}_hand{k}_{side}.obj/.ply` per hand and `{stem}.glb` with all
    hands (none for an image without hands); faces per side (0 left, 1 right).

    Written by the small NumPy writers above rather than a mesh library: importing trimesh alone
    took ~0.4 s, a third of a 12-megapixel photo's whole demo budget (docs/network.md)."""
    files: dict[str, bytes] = {}
    scene = []
    for k, h in enumerate(hands):
        name, f = f"hand{k}_{SIDE_NAMES[h.side]}", faces[h.side]
        albedo = vertex_rgba(h)  # the predicted per-vertex albedo, else the side's colour
        rgba = albedo if albedo is not None else SIDE_RGBA[int(h.side)]
        if "obj" in formats:
            files[f"{stem}_{name}.obj"] = obj_bytes(h.vertices, f, rgba)
        if "ply" in formats:
            files[f"{stem}_{name}.ply"] = ply_bytes(h.vertices, f, rgba)
        scene.append((name, np.asarray(h.vertices, np.float64) @ OPENCV_TO_GLTF.T, f, rgba))
    if "glb" in formats and hands:
        files[f"{stem}.glb"] = glb_bytes(scene)
    return files

