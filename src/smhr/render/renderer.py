"""Differentiable RGB / soft silhouette / depth of many hands per image (`render`) and the hard,
no-grad fast path (`render_hard`) for synthetic data and pictures.

RGB = per-vertex albedo x SH-9 irradiance of the vertex normals (the official code), interpolated with the
rasterizer's perspective-correct barycentrics, over a background colour or image. Gradients reach
vertices (through barycentrics, depth and normals), albedo and lighting.

Soft silhouette (SoftRas-style, Liu et al. 2019, combined with DIB-R's rule, written anew): a
covered pixel is 1; an uncovered pixel near the outline is the probabilistic union
S = 1 - prod_j (1 - sigmoid(s_j / sigma)) over the faces j within SOFT_REACH * sigma px, s_j < 0 its
distance (px) to face j. sigma is in pixels; the union is a scatter-add of log(1 - D), and only
faces near the outline are evaluated (see `soft_silhouette`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from smhr.render.rasterizer import (
    NEAR,
    Fragments,
    candidate_pairs,
    gather_triangles,
    pack_faces,
    project_vertices,
    rasterize,
)
from smhr.render.shading import SH_CONSTANTS, sh_irradiance, vertex_normals

__all__ = ["DEFAULT_ALBEDO", "RenderOutput", "ambient_sh", "render", "render_hard", "soft_silhouette"]

DEFAULT_ALBEDO = (0.45, 0.35, 0.30)  # the official mean skin albedo
SOFT_REACH = 4.0  # faces within SOFT_REACH * sigma px of a pixel contribute (beyond: D < 2 %)
_D_MAX = 1.0 - 1e-6


@dataclass
class RenderOutput:
    """rgb [B,3,H,W]; silhouette [B,1,H,W] soft in [0,1] (the hard mask when soft=False); mask
    [B,1,H,W] hard coverage (float 0/1); depth [B,1,H,W] metres (0 on background); mesh_id [B,H,W]
    slot drawn at each pixel (-1 background); fragments: the rasterizer output."""

    rgb: torch.Tensor
    silhouette: torch.Tensor
    mask: torch.Tensor
    depth: torch.Tensor
    mesh_id: torch.Tensor
    fragments: Fragments


def ambient_sh(batch_shape: tuple[int, ...], device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """SH coefficients [*batch_shape, 27] of a uniform white light of irradiance 1."""
    sh = torch.zeros(*batch_shape, 3, 9, device=device, dtype=dtype)
    sh[..., 0] = 1.0 / SH_CONSTANTS["a0c0"]
    return sh.reshape(*batch_shape, 27)


def _segment_distance(p: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    ab = b - a
    t = (((p - a) * ab).sum(-1) / (ab * ab).sum(-1).clamp(min=1e-12)).clamp(0.0, 1.0)
    d = p - (a + t[..., None] * ab)
    return torch.sqrt((d * d).sum(-1) + 1e-12)


def _signed_distance(tri: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Signed distance [P] (px, + inside) from points p [P,2] to triangles tri [P,3,2]."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    d = torch.minimum(torch.minimum(_segment_distance(p, a, b), _segment_distance(p, b, c)),
                      _segment_distance(p, c, a))

    def cross(u: torch.Tensor, v: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        return (v[:, 0] - u[:, 0]) * (q[:, 1] - u[:, 1]) - (v[:, 1] - u[:, 1]) * (q[:, 0] - u[:, 0])

    e0, e1, e2 = cross(a, b, p), cross(b, c, p), cross(c, a, p)
    inside = ((e0 >= 0) & (e1 >= 0) & (e2 >= 0)) | ((e0 <= 0) & (e1 <= 0) & (e2 <= 0))
    return torch.where(inside, d, -d)


def _near_band(hard: torch.Tensor, reach: int) -> torch.Tensor:
    """Uncovered pixels within `reach` px (Chebyshev) of a covered one: [B,H,W] bool."""
    grown = torch.nn.functional.max_pool2d(hard[:, None].float(), 2 * reach + 1, stride=1, padding=reach)
    return (grown[:, 0] > 0) & ~hard


def _faces_touching(band: torch.Tensor, tri: torch.Tensor, img: torch.Tensor, reach: int) -> torch.Tensor:
    """[N] bool: does face n's box grown by `reach` contain a band pixel of its image `img[n]`?
    (summed-area table lookups, four per face)."""
    B, H, W = band.shape
    sat = torch.zeros(B, H + 1, W + 1, dtype=torch.int32, device=band.device)
    sat[:, 1:, 1:] = band.int().cumsum(1).cumsum(2)
    lo = tri.amin(1) - reach
    hi = tri.amax(1) + reach
    x0 = lo[:, 0].ceil().clamp(0, W).long()
    x1 = (hi[:, 0].floor() + 1).clamp(0, W).long()
    y0 = lo[:, 1].ceil().clamp(0, H).long()
    y1 = (hi[:, 1].floor() + 1).clamp(0, H).long()
    x1, y1 = torch.maximum(x1, x0), torch.maximum(y1, y0)
    total = sat[img, y1, x1] - sat[img, y0, x1] - sat[img, y1, x0] + sat[img, y0, x0]
    return total > 0


def soft_silhouette(
    vertices: torch.Tensor, faces: torch.Tensor, K: torch.Tensor, image_size: tuple[int, int],
    valid: torch.Tensor | None = None, sigma: float = 1.0, hard: torch.Tensor | None = None,
) -> torch.Tensor:
    """Soft silhouette [B,1,H,W] of all valid slots; differentiable w.r.t. vertices.

    Covered pixels are 1 (`hard` [B,H,W] bool coverage, rasterized here when not given); an
    uncovered pixel is the SoftRas union 1 - prod_j (1 - sigmoid(s_j / sigma)) over the faces j
    within SOFT_REACH * sigma px (s_j < 0: minus its distance to face j). Why covered pixels are
    exactly 1 (as in DIB-R): with sigma in pixels, an interior pixel of a finely tessellated mesh
    is never far from some triangle edge, so a pure SoftRas union stays visibly below 1 inside;
    the gradient lives in the uncovered band around the outline, and it pulls the outline both
    ways (band pixels the mask calls hand pull it out, band pixels it calls background pull it in).
    Only faces near that band are evaluated, so the cost scales with the outline, not the area.
    """
    B, M, _, _ = vertices.shape
    H, W = int(image_size[0]), int(image_size[1])
    faces = pack_faces(faces.to(vertices.device), B, M)
    F = faces.shape[2]
    if valid is None:
        valid = torch.ones(B, M, dtype=torch.bool, device=vertices.device)
    if hard is None:
        hard = rasterize(vertices.detach(), faces, K, (H, W), valid).mask
    reach = math.ceil(SOFT_REACH * sigma)
    uv, z = project_vertices(vertices, K)
    tri = gather_triangles(uv, faces).reshape(B * M * F, 3, 2)
    with torch.no_grad():
        zt = gather_triangles(z[..., None], faces).reshape(B * M * F, 3)
        ok = valid[:, :, None].expand(B, M, F).reshape(-1) & (zt > NEAR).all(-1)
        img_of_face = torch.div(torch.arange(B * M * F, device=vertices.device), M * F, rounding_mode="floor")
        band = _near_band(hard, reach)
        ok = ok & _faces_touching(band, tri.detach(), img_of_face, reach)
        face, px, py = candidate_pairs(tri.detach(), ok, H, W, margin=reach)
        img = img_of_face[face]
        keep = band[img, py, px]
        face, px, py, img = face[keep], px[keep], py[keep], img[keep]
    p = torch.stack([px, py], -1).to(vertices.dtype)
    d = torch.sigmoid(_signed_distance(tri[face], p) / sigma).clamp(max=_D_MAX)
    pix = img * (H * W) + py * W + px
    log_empty = torch.zeros(B * H * W, dtype=vertices.dtype, device=vertices.device).index_add(
        0, pix, torch.log1p(-d))
    soft = 1.0 - torch.exp(log_empty).view(B, 1, H, W)
    return torch.where(hard[:, None], torch.ones_like(soft), soft)


def _background(background: torch.Tensor | tuple | None, B: int, H: int, W: int,
                like: torch.Tensor) -> torch.Tensor:
    if background is None:
        return torch.zeros(B, 3, H, W, dtype=like.dtype, device=like.device)
    bg = torch.as_tensor(background, dtype=like.dtype, device=like.device)
    if bg.ndim == 1:
        return bg.view(1, 3, 1, 1).expand(B, 3, H, W)
    if bg.shape != (B, 3, H, W):
        raise ValueError(f"render: background must be a colour [3] or images [B,3,H,W], "
                         f"got {tuple(bg.shape)}")
    return bg


def render(
    vertices: torch.Tensor, faces: torch.Tensor, K: torch.Tensor, image_size: tuple[int, int], *,
    albedo: torch.Tensor | None = None, sh: torch.Tensor | None = None, valid: torch.Tensor | None = None,
    background: torch.Tensor | tuple | None = None, sigma: float = 1.0, soft: bool = True,
) -> RenderOutput:
    """Render M mesh slots per image.

    vertices [B,M,V,3] camera metres; faces [F,3] | [M,F,3] | [B,M,F,3]; K [B,3,3]; image_size
    (H, W); albedo [B,M,V,3] | [V,3] | None (official mean skin); sh [B,M,27] | [27] | None (white
    ambient light of irradiance 1); valid [B,M]; background colour [3] or images [B,3,H,W] (default
    black); sigma: soft-silhouette sharpness in px; soft=False skips the soft silhouette (the
    returned silhouette is then the hard mask).
    """
    B, M, V, _ = vertices.shape
    H, W = int(image_size[0]), int(image_size[1])
    faces_p = pack_faces(faces.to(vertices.device), B, M)
    frags = rasterize(vertices, faces_p, K, (H, W), valid, with_grad=torch.is_grad_enabled())
    if albedo is None:
        albedo = torch.tensor(DEFAULT_ALBEDO, dtype=vertices.dtype, device=vertices.device)
    albedo = albedo.to(vertices.dtype).expand(B, M, V, 3)
    if sh is None:
        sh = ambient_sh((), vertices.device, vertices.dtype)
    sh = sh.to(vertices.dtype).expand(B, M, 27)
    normals = vertex_normals(vertices, faces_p)
    colours = albedo * sh_irradiance(normals, sh)
    mask = frags.mask.reshape(-1)
    fg = torch.nonzero(mask).squeeze(1)
    rgb = torch.zeros(B * H * W, 3, dtype=vertices.dtype, device=vertices.device)
    if fg.numel():
        F = faces_p.shape[2]
        b = torch.div(fg, H * W, rounding_mode="floor")
        fid = frags.face_id.reshape(-1)[fg]
        m, f = torch.div(fid, F, rounding_mode="floor"), fid % F
        corner_colours = colours[b[:, None], m[:, None], faces_p[b, m, f]]  # [P,3,3]
        bary = frags.bary.reshape(-1, 3)[fg]
        rgb = rgb.index_put((fg,), (bary[:, :, None] * corner_colours).sum(1))
    rgb = rgb.view(B, H, W, 3).permute(0, 3, 1, 2)
    hard = frags.mask[:, None].to(vertices.dtype)
    rgb = torch.where(hard.bool(), rgb, _background(background, B, H, W, rgb))
    silhouette = soft_silhouette(vertices, faces_p, K, (H, W), valid, sigma, frags.mask) if soft else hard
    return RenderOutput(rgb=rgb, silhouette=silhouette, mask=hard, depth=frags.depth[:, None],
                        mesh_id=frags.mesh_id, fragments=frags)


@torch.no_grad()
def render_hard(
    vertices: torch.Tensor, faces: torch.Tensor, K: torch.Tensor, image_size: tuple[int, int], *,
    albedo: torch.Tensor | None = None, sh: torch.Tensor | None = None, valid: torch.Tensor | None = None,
    background: torch.Tensor | tuple | None = None,
) -> RenderOutput:
    """`render` without autograd and without the soft silhouette: data synthesis and pictures."""
    return render(vertices, faces, K, image_size, albedo=albedo, sh=sh, valid=valid, background=background,
                  soft=False)
