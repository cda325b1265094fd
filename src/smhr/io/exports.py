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
from pathlib import Path
from typing import Any

import numpy as np

from smhr.io.atomic import atomic_write
from smhr.records import Hand

SIDE_NAMES = ("left", "right")
SIDE_RGBA = {0: (66, 135, 245, 255), 1: (245, 130, 48, 255)}  # left blue, right orange
JSON_SCHEMA_VERSION = 1
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
    return rec


def image_record(source: str, image_hw: tuple[int, int], hands: Sequence[Hand], hand_model: str,
                 with_vertices: bool = False) -> dict[str, Any]:  # fmt: skip
    """The per-image JSON document: source, size, camera K (original pixels), hands."""
    K = hands[0].K if hands else None
    return {
        "schema": JSON_SCHEMA_VERSION,
        "source": source,
        "image_size": {"height": int(image_hw[0]), "width": int(image_hw[1])},
        "hand_model": hand_model,
        "keypoint_order": "freihand",
        "camera_K": _list(K, 4) if K is not None else None,
        "hands": [hand_record(h, i, with_vertices) for i, h in enumerate(hands)],
    }


def json_text(record: dict[str, Any]) -> str:
    """The JSON file content of a record (indented, newline-terminated)."""
    return json.dumps(record, indent=1) + "\n"


def write_json(path: str | Path, record: dict[str, Any]) -> Path:
    """Write a record as JSON, atomically (a reader never sees half a file)."""
    return atomic_write(path, json_text(record))


def _trimesh(vertices: np.ndarray, faces: np.ndarray, side: int):
    import trimesh

    mesh = trimesh.Trimesh(np.asarray(vertices, np.float64), np.asarray(faces, np.int64), process=False)
    mesh.visual.vertex_colors = np.tile(np.array(SIDE_RGBA[int(side)], np.uint8), (len(vertices), 1))
    return mesh


def hand_mesh_files(
    stem: str, hands: Sequence[Hand], faces: dict[int, np.ndarray],
    formats: Sequence[str] = ("obj", "ply", "glb"),
) -> dict[str, bytes]:
    """File name -> content: `{stem}_hand{k}_{side}.obj/.ply` per hand and `{stem}.glb` with all
    hands (none for an image without hands); faces per side (0 left, 1 right)."""
    import trimesh

    files: dict[str, bytes] = {}
    scene = trimesh.Scene()
    for k, h in enumerate(hands):
        mesh = _trimesh(h.vertices, faces[h.side], h.side)
        for ext in ("obj", "ply"):
            if ext in formats:
                data = mesh.export(file_type=ext)  # OBJ comes back as text, PLY as bytes
                name = f"{stem}_hand{k}_{SIDE_NAMES[h.side]}.{ext}"
                files[name] = data.encode() if isinstance(data, str) else data
        gltf = mesh.copy()
        gltf.vertices = np.asarray(h.vertices, np.float64) @ OPENCV_TO_GLTF.T
        scene.add_geometry(gltf, node_name=f"hand{k}_{SIDE_NAMES[h.side]}")
    if "glb" in formats and hands:
        files[f"{stem}.glb"] = scene.export(file_type="glb")
    return files


def write_hand_meshes(
    out_dir: str | Path, stem: str, hands: Sequence[Hand], faces: dict[int, np.ndarray],
    formats: Sequence[str] = ("obj", "ply", "glb"),
) -> list[Path]:
    """Write `hand_mesh_files` into out_dir, each file atomically; returns the written paths."""
    files = hand_mesh_files(stem, hands, faces, formats)
    return [atomic_write(Path(out_dir) / name, data) for name, data in files.items()]
