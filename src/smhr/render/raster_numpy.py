"""A NumPy triangle rasterizer with a z-buffer and perspective-correct barycentrics (no PyTorch).

Why: the textured overlay and the appearance benchmark must run in the inference install, which
has no PyTorch, and must interpolate per-vertex colours (the flat-shaded `painter` cannot). It
follows `smhr.render.rasterizer`'s conventions exactly (tested equal on small cases): pixel (row
i, column j) has its centre at (x, y) = (j, i); a pixel is covered when its centre is inside the
triangle (edges included); the nearest camera depth wins; points closer than NEAR are not drawn.

Algorithm: each face's pixel box is expanded into (pixel, face) candidate pairs with `np.repeat`,
pairs outside the triangle are dropped, and the z-buffer is one `np.lexsort` by (pixel, depth),
keeping the first pair of every pixel. ~10-20 ms for a hand covering 200x200 px.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["NEAR", "NumpyFragments", "rasterize_numpy"]

NEAR = 1e-4  # metres, as smhr.render.rasterizer


@dataclass
class NumpyFragments:
    """Front-most surface per pixel: mesh [H,W] int (index of the mesh, -1 background), face [H,W]
    int (face of that mesh, -1 background), bary [H,W,3] float64 perspective-correct barycentrics
    (0 on background), depth [H,W] metres (0 on background), mask [H,W] bool."""

    mesh: np.ndarray
    face: np.ndarray
    bary: np.ndarray
    depth: np.ndarray
    mask: np.ndarray


def _edge(a: np.ndarray, b: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Twice the signed area of (a, b, p); a, b [P,2]."""
    return (b[:, 0] - a[:, 0]) * (py - a[:, 1]) - (b[:, 1] - a[:, 1]) * (px - a[:, 0])


def rasterize_numpy(
    vertices: Sequence[np.ndarray], faces: Sequence[np.ndarray], K: np.ndarray, size: tuple[int, int]
) -> NumpyFragments:
    """Rasterize meshes (one [V,3] camera-frame array in metres and its faces [F,3] per mesh) seen
    through intrinsics K [3,3] into an image of size (H, W)."""
    H, W = int(size[0]), int(size[1])
    empty = NumpyFragments(np.full((H, W), -1), np.full((H, W), -1), np.zeros((H, W, 3)), np.zeros((H, W)),
                           np.zeros((H, W), bool))  # fmt: skip
    if not len(vertices):
        return empty
    counts = [len(f) for f in faces]
    offsets = np.cumsum([0] + [len(v) for v in vertices])
    verts = np.concatenate([np.asarray(v, np.float64) for v in vertices])
    tris = np.concatenate([np.asarray(f, np.int64) + o for f, o in zip(faces, offsets[:-1], strict=True)])
    mesh_of = np.repeat(np.arange(len(faces)), counts)
    face_of = np.concatenate([np.arange(c) for c in counts])
    Kd = np.asarray(K, np.float64)
    z = verts[:, 2]
    zs = np.where(np.abs(z) > NEAR, z, NEAR)
    x, y = verts[:, 0] / zs, verts[:, 1] / zs
    uv = np.stack([Kd[0, 0] * x + Kd[0, 1] * y + Kd[0, 2], Kd[1, 1] * y + Kd[1, 2]], -1)
    tri_uv, tri_z = uv[tris], z[tris]  # [N,3,2], [N,3]
    ok = (tri_z > NEAR).all(1) & np.isfinite(tri_uv).all((1, 2))
    lo, hi = tri_uv.min(1), tri_uv.max(1)
    x0 = np.clip(np.ceil(lo[:, 0]), 0, W).astype(np.int64)
    x1 = np.clip(np.floor(hi[:, 0]), -1, W - 1).astype(np.int64)
    y0 = np.clip(np.ceil(lo[:, 1]), 0, H).astype(np.int64)
    y1 = np.clip(np.floor(hi[:, 1]), -1, H - 1).astype(np.int64)
    w = np.maximum(x1 - x0 + 1, 0)
    n = np.where(ok, w * np.maximum(y1 - y0 + 1, 0), 0)
    if not n.sum():
        return empty
    face = np.repeat(np.arange(len(n)), n)
    off = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    px = (x0[face] + off % w[face]).astype(np.float64)
    py = (y0[face] + off // w[face]).astype(np.float64)
    t = tri_uv[face]
    a, b, c = t[:, 0], t[:, 1], t[:, 2]
    area = _edge(a, b, c[:, 0], c[:, 1])
    safe = np.where(np.abs(area) > 1e-12, area, 1.0)
    w0, w1 = _edge(b, c, px, py) / safe, _edge(c, a, px, py) / safe
    bary = np.stack([w0, w1, 1.0 - w0 - w1], -1)
    inside = (bary >= 0).all(1) & (np.abs(area) > 1e-12)
    face, px, py, bary = face[inside], px[inside].astype(np.int64), py[inside].astype(np.int64), bary[inside]
    wz = bary / tri_z[face]
    inv = wz.sum(1)
    depth = 1.0 / inv
    pix = py * W + px
    order = np.lexsort((face, depth, pix))  # by pixel, then nearest first (ties: lower face index)
    first = order[np.r_[True, pix[order][1:] != pix[order][:-1]]]
    out = NumpyFragments(np.full(H * W, -1), np.full(H * W, -1), np.zeros((H * W, 3)), np.zeros(H * W),
                         np.zeros(H * W, bool))  # fmt: skip
    p = pix[first]
    out.mesh[p], out.face[p] = mesh_of[face[first]], face_of[face[first]]
    out.bary[p], out.depth[p], out.mask[p] = wz[first] / inv[first, None], depth[first], True
    return NumpyFragments(out.mesh.reshape(H, W), out.face.reshape(H, W), out.bary.reshape(H, W, 3),
                          out.depth.reshape(H, W), out.mask.reshape(H, W))  # fmt: skip
