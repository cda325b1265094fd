"""A small binary-glTF (GLB 2.0) builder: buffers, accessors, nodes, meshes, skins, animations.

Why our own: the format is a JSON document plus one binary buffer, and what we write (meshes,
skeletons, keyframes) needs a dozen lines of bookkeeping; a glTF library would add a dependency to
every install for that. Readers (Blender, three.js, pygltflib, trimesh) are tested against it.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

__all__ = ["ARRAY_BUFFER", "ELEMENT_ARRAY_BUFFER", "GltfBuilder"]

ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
_COMPONENT = {np.dtype(np.float32): 5126, np.dtype(np.uint32): 5125, np.dtype(np.uint16): 5123,
              np.dtype(np.uint8): 5121}
_TYPE = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4", 16: "MAT4"}


class GltfBuilder:
    """Collects a glTF document and its binary buffer; `glb()` returns the file's bytes."""

    def __init__(self, generator: str = "smhr") -> None:
        self.buf = bytearray()
        self.doc: dict[str, Any] = {"asset": {"version": "2.0", "generator": generator}, "scene": 0,
                                    "scenes": [{"nodes": []}]}
        for key in ("nodes", "meshes", "materials", "accessors", "bufferViews", "skins", "animations"):
            self.doc[key] = []

    def _add(self, key: str, item: dict[str, Any]) -> int:
        self.doc[key].append(item)
        return len(self.doc[key]) - 1

    def accessor(self, array: np.ndarray, target: int | None = None, bounds: bool = False) -> int:
        """Index of a new accessor over `array` ([N] scalars or [N, C] vectors; [N, 4, 4] matrices are
        stored column-major as glTF wants). bounds: write min / max (required for POSITION and
        animation inputs)."""
        a = np.asarray(array)
        if a.ndim == 3:  # matrices, column-major
            a = np.ascontiguousarray(a.transpose(0, 2, 1)).reshape(len(a), 16)
        a = np.ascontiguousarray(a)
        while len(self.buf) % 4:
            self.buf.append(0)
        view: dict[str, Any] = {"buffer": 0, "byteOffset": len(self.buf), "byteLength": a.nbytes}
        if target is not None:
            view["target"] = target
        self.buf.extend(a.tobytes())
        width = 1 if a.ndim == 1 else a.shape[1]
        acc: dict[str, Any] = {"bufferView": self._add("bufferViews", view),
                               "componentType": _COMPONENT[a.dtype], "count": len(a), "type": _TYPE[width]}
        if bounds:
            flat = a.reshape(len(a), -1)
            acc["min"], acc["max"] = flat.min(0).tolist(), flat.max(0).tolist()
        return self._add("accessors", acc)

    def material(self, rgba: tuple[float, float, float, float]) -> int:
        """A matte, double-sided material of colour `rgba` (0-1); glTF multiplies a primitive's
        COLOR_0 (vertex colours) into it."""
        pbr = {"baseColorFactor": list(rgba), "metallicFactor": 0.0, "roughnessFactor": 0.8}
        return self._add("materials", {"pbrMetallicRoughness": pbr, "doubleSided": True})

    def mesh(self, name: str, primitive: dict[str, Any], target_names: list[str] | None = None,
             weights: list[float] | None = None) -> int:  # fmt: skip
        m: dict[str, Any] = {"name": name, "primitives": [primitive]}
        if weights is not None:
            m["weights"] = weights
        if target_names:
            m["extras"] = {"targetNames": target_names}  # Blender and three.js name shape keys by it
        return self._add("meshes", m)

    def node(self, node: dict[str, Any], root: bool = False) -> int:
        i = self._add("nodes", node)
        if root:
            self.doc["scenes"][0]["nodes"].append(i)
        return i

    def skin(self, joints: list[int], inverse_bind: np.ndarray, skeleton: int) -> int:
        ibm = self.accessor(np.asarray(inverse_bind, np.float32))
        return self._add("skins", {"joints": joints, "inverseBindMatrices": ibm, "skeleton": skeleton})

    def animation(self, name: str, channels: list[tuple[int, str, int, int]]) -> int:
        """channels: (node, path, input accessor, output accessor) with LINEAR interpolation."""
        samplers, chans = [], []
        for node, path, inp, out in channels:
            samplers.append({"input": inp, "output": out, "interpolation": "LINEAR"})
            chans.append({"sampler": len(samplers) - 1, "target": {"node": node, "path": path}})
        return self._add("animations", {"name": name, "samplers": samplers, "channels": chans})

    def glb(self) -> bytes:
        while len(self.buf) % 4:
            self.buf.append(0)
        doc = {k: v for k, v in self.doc.items() if v != []}
        doc["buffers"] = [{"byteLength": len(self.buf)}]
        js = json.dumps(doc, separators=(",", ":")).encode()
        js += b" " * (-len(js) % 4)
        body = (len(js).to_bytes(4, "little") + b"JSON" + js
                + len(self.buf).to_bytes(4, "little") + b"BIN\x00" + bytes(self.buf))
        return b"glTF" + (2).to_bytes(4, "little") + (12 + len(body)).to_bytes(4, "little") + body
