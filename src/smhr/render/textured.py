"""Hands rendered with their predicted appearance (per-vertex albedo x SH-9 irradiance) in NumPy,
and the textured overlay: the photo beside the same photo with every hand textured and lit on it.

The shading is the training renderer's (`smhr.render.renderer.render`, `smhr.render.shading`),
re-written in NumPy so the inference install (no PyTorch) can draw it:

    colour(v) = albedo(v) * E(n_v),   E_c(n) = sum_k Y_k(n) * sh[c*9 + k]   (c = R, G, B; k < 9)

n_v the area-weighted unit vertex normal in the OpenCV camera frame, Y_k the 9 real SH basis
functions with the clamped-cosine constants folded in (`smhr.render.sh`, shared with
the PyTorch `smhr.render.shading.sh_basis`), colours computed per vertex and interpolated
with perspective-correct barycentrics (Gouraud), nothing clipped until the final 8-bit picture.
Colour space: the photos the heads were trained against were plain 8-bit RGB / 255 (sRGB-encoded,
no linearisation), so the rendered values are directly comparable with photo pixels / 255.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from smhr.records import ALBEDO_MEAN, Hand
from smhr.render.raster_numpy import rasterize_numpy
from smhr.render.sh import SH_CONSTANTS, sh_basis_terms

__all__ = ["SH_CONSTANTS", "overlay_textured_hands", "render_textured", "sh_basis", "sh_irradiance",
           "textured_overlay", "vertex_colours", "vertex_normals"]  # fmt: skip

PANEL_GAP = 8  # px of dark grey between the photo and the rendering


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Unit vertex normals [V,3]: area-weighted sums of the adjacent face normals (as training)."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    acc = np.zeros_like(v)
    for k in range(3):
        np.add.at(acc, f[:, k], fn)
    return acc / np.maximum(np.linalg.norm(acc, axis=1, keepdims=True), 1e-12)


def sh_basis(normals: np.ndarray) -> np.ndarray:
    """The 9 SH basis values [..., 9] of unit normals [..., 3]."""
    return np.stack(sh_basis_terms(*np.moveaxis(np.asarray(normals, np.float64), -1, 0), np.full_like), -1)


def sh_irradiance(normals: np.ndarray, sh: np.ndarray) -> np.ndarray:
    """Irradiance [..., 3] of unit normals [..., 3] under SH coefficients sh [27] (colour-major)."""
    return sh_basis(normals) @ np.asarray(sh, np.float64).reshape(3, 9).T


def vertex_colours(vertices: np.ndarray, faces: np.ndarray, albedo: np.ndarray | Sequence[float],
                   sh: np.ndarray | None) -> np.ndarray:
    """Shaded per-vertex colours [V,3] (0-1, unclipped): albedo ([V,3] or one RGB) x irradiance;
    sh None = no lighting (the albedo itself)."""
    a = np.broadcast_to(np.asarray(albedo, np.float64), (len(vertices), 3))
    if sh is None:
        return a.copy()
    return a * sh_irradiance(vertex_normals(vertices, faces), sh)


def render_textured(
    vertices: Sequence[np.ndarray], faces: Sequence[np.ndarray], K: np.ndarray, size: tuple[int, int],
    colours: Sequence[np.ndarray],
) -> tuple[np.ndarray, np.ndarray]:
    """(rgb [H,W,3] float64 0-1 unclipped, 0 on background; coverage [H,W] bool) of meshes (camera
    metres, [V,3] each, with faces [F,3]) whose per-vertex colours [V,3] are interpolated."""
    H, W = size
    frags = rasterize_numpy(vertices, faces, K, (H, W))
    rgb = np.zeros((H, W, 3))
    for m, (f, c) in enumerate(zip(faces, colours, strict=True)):
        sel = frags.mesh == m
        if sel.any():
            corners = np.asarray(c, np.float64)[np.asarray(f)[frags.face[sel]]]  # [P,3,3]
            rgb[sel] = (frags.bary[sel][:, :, None] * corners).sum(1)
    return rgb, frags.mask


def textured_overlay(
    image: np.ndarray, vertices: Sequence[np.ndarray], faces: Sequence[np.ndarray], K: np.ndarray,
    albedo: Sequence[np.ndarray], sh: Sequence[np.ndarray | None],
) -> np.ndarray:
    """The photo (HxWx3 uint8 RGB) beside a copy with every hand drawn opaque with its albedo
    [V,3] and SH lighting [27] (the paper's appearance figures). Returns [H, 2W + gap, 3] uint8."""
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"textured_overlay: image must be HxWx3 uint8 RGB, got {img.shape} {img.dtype}")
    H, W = img.shape[:2]
    cols = [vertex_colours(v, f, a, s) for v, f, a, s in zip(vertices, faces, albedo, sh, strict=True)]
    rgb, cover = render_textured(vertices, faces, K, (H, W), cols)
    out = img.copy()
    out[cover] = np.clip(rgb[cover] * 255.0 + 0.5, 0, 255).astype(np.uint8)
    gap = np.full((H, PANEL_GAP, 3), 40, np.uint8)
    return np.concatenate([img, gap, out], axis=1)


def overlay_textured_hands(image: np.ndarray, hands: Sequence[Hand], faces: dict[int, np.ndarray],
                           A: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """`textured_overlay` of `Hand` records on `image`, whose pixels are A [3,3] @ the hands'
    original pixels (a resized picture; default identity). A hand without appearance outputs is
    drawn with the mean skin albedo, unlit."""
    A = np.eye(3) if A is None else np.asarray(A, np.float64)
    K = A @ hands[0].K if hands else np.eye(3)
    albedo = [h.albedo if h.albedo is not None else np.asarray(ALBEDO_MEAN) for h in hands]
    return textured_overlay(image, [h.vertices for h in hands], [faces[h.side] for h in hands], K, albedo,
                            [h.sh for h in hands])
