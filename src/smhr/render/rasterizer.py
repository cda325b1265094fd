"""Pure-PyTorch triangle rasterizer for batches of images, each with several meshes (hands).

Why written here: pytorch3d has no Linux wheel and nvdiffrast is CUDA-only and non-commercial, and
the renderer sits inside every photometric training step and every synthetic image, so it must run
on CPU and CUDA from plain tensor ops.

Conventions: camera-frame vertices in metres (OpenCV: x right, y down, z forward), intrinsics K,
pixel (row i, column j) has its CENTRE at image coordinates (x, y) = (j, i) -- the same convention
as `smhr.geometry.cameras.project` and the crop / letterbox code, so a projected keypoint lands on
the pixel it names. A pixel is covered by a triangle when its centre is inside it (edges included).

Algorithm (no per-image or per-mesh Python loop):
1. project all vertices; each face gets the integer pixel box of its projection (+ a margin for
   the soft silhouette);
2. enumerate (pixel, face) candidate pairs from the boxes with `repeat_interleave` (no grad);
3. keep pairs whose pixel centre is inside the face, compute their perspective-correct depth and
   z-buffer them with ONE `scatter_reduce(amin)` over int64 keys (depth bits << 21 | face), which
   is exact and order-independent (no sort);
4. only for the winning pixels, recompute barycentrics and depth WITH autograd from the face's
   vertices, so gradients reach the vertices without storing anything for the losing pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Fragments", "candidate_pairs", "pack_faces", "project_vertices", "rasterize"]

FACE_BITS = 21  # faces per image (all meshes) must stay below 2**21
NEAR = 1e-4  # metres: points closer than this to the camera plane are not drawn
_INT64_MAX = torch.iinfo(torch.int64).max


@dataclass
class Fragments:
    """Front-most surface per pixel.

    face_id [B,H,W] int64: m * F + f (slot m, face f of that slot's face list), -1 on background;
    mesh_id [B,H,W] int64: slot m, -1 on background; bary [B,H,W,3] perspective-correct barycentrics
    (0 on background; differentiable w.r.t. the vertices when rasterized with grad); depth [B,H,W]
    camera z in metres, 0 on background; mask [B,H,W] bool.
    """

    face_id: torch.Tensor
    mesh_id: torch.Tensor
    bary: torch.Tensor
    depth: torch.Tensor
    mask: torch.Tensor


def project_vertices(vertices: torch.Tensor, K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """vertices [B,M,V,3], K [B,3,3] or [B,M,3,3] -> (uv [B,M,V,2] px, z [B,M,V])."""
    if K.ndim == 3:
        K = K[:, None]
    K = K.to(vertices.dtype)
    z = vertices[..., 2]
    zs = torch.where(z.abs() > NEAR, z, torch.full_like(z, NEAR))
    x, y = vertices[..., 0] / zs, vertices[..., 1] / zs
    u = K[..., 0, 0, None] * x + K[..., 0, 1, None] * y + K[..., 0, 2, None]
    v = K[..., 1, 1, None] * y + K[..., 1, 2, None]
    return torch.stack([u, v], -1), z


def pack_faces(faces: torch.Tensor, B: int, M: int) -> torch.Tensor:
    """faces [F,3] (shared), [M,F,3] (per slot) or [B,M,F,3] -> [B,M,F,3] int64 (a view)."""
    faces = faces.long()
    if faces.ndim == 2:
        return faces.expand(B, M, *faces.shape)
    if faces.ndim == 3:
        return faces.expand(B, *faces.shape)
    if faces.ndim == 4:
        return faces.expand(B, M, *faces.shape[2:])
    raise ValueError(f"faces must be [F,3], [M,F,3] or [B,M,F,3], got {tuple(faces.shape)}")


def gather_triangles(values: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Per-vertex values [B,M,V,C] at the corners of faces [B,M,F,3] -> [B,M,F,3,C]."""
    B, M, F, _ = faces.shape
    C = values.shape[-1]
    idx = faces.reshape(B, M, F * 3, 1).expand(B, M, F * 3, C)
    return values.gather(2, idx).reshape(B, M, F, 3, C)


def candidate_pairs(
    tri_uv: torch.Tensor, ok: torch.Tensor, H: int, W: int, margin: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(pixel, face) pairs whose pixel centre lies in the face's box grown by `margin` px.

    tri_uv [N,3,2] (N faces of all images, flattened), ok [N] bool. Returns (face [P] index into N,
    x [P], y [P]) int64. One host sync (the number of pairs)."""
    with torch.no_grad():
        lo = tri_uv.amin(1) - margin
        hi = tri_uv.amax(1) + margin
        x0 = lo[:, 0].ceil().clamp(0, W).long()
        x1 = hi[:, 0].floor().clamp(-1, W - 1).long()
        y0 = lo[:, 1].ceil().clamp(0, H).long()
        y1 = hi[:, 1].floor().clamp(-1, H - 1).long()
        w = (x1 - x0 + 1).clamp(min=0)
        h = (y1 - y0 + 1).clamp(min=0)
        finite = torch.isfinite(tri_uv).all(-1).all(-1)
        counts = torch.where(ok & finite, w * h, torch.zeros_like(w))
        total = int(counts.sum())
        face = torch.repeat_interleave(torch.arange(counts.numel(), device=counts.device), counts,
                                       output_size=total)
        start = torch.cumsum(counts, 0) - counts
        off = torch.arange(total, device=counts.device) - start[face]
        wf = w[face]
        return face, x0[face] + off % wf, y0[face] + torch.div(off, wf, rounding_mode="floor")


def _edge(ax: torch.Tensor, ay: torch.Tensor, bx: torch.Tensor, by: torch.Tensor,
          px: torch.Tensor, py: torch.Tensor) -> torch.Tensor:
    """Twice the signed area of (a, b, p)."""
    return (bx - ax) * (py - ay) - (by - ay) * (px - ax)


def screen_barycentrics(
    tri: torch.Tensor, px: torch.Tensor, py: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Screen-space barycentrics [P,3] of points (px, py) in triangles tri [P,3,2] and twice the
    signed triangle areas [P] (zero-area triangles get barycentrics of 0 area -> inf/nan; callers
    mask them)."""
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    area = _edge(a[:, 0], a[:, 1], b[:, 0], b[:, 1], c[:, 0], c[:, 1])
    safe = torch.where(area.abs() > 1e-12, area, torch.ones_like(area))
    w0 = _edge(b[:, 0], b[:, 1], c[:, 0], c[:, 1], px, py) / safe
    w1 = _edge(c[:, 0], c[:, 1], a[:, 0], a[:, 1], px, py) / safe
    return torch.stack([w0, w1, 1.0 - w0 - w1], -1), area


def perspective_correct(bary: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Screen barycentrics [P,3] and corner depths [P,3] -> (3D barycentrics [P,3], depth [P])."""
    wz = bary / z
    inv = wz.sum(-1)
    return wz / inv[:, None], 1.0 / inv


def rasterize(
    vertices: torch.Tensor, faces: torch.Tensor, K: torch.Tensor, image_size: tuple[int, int],
    valid: torch.Tensor | None = None, *, with_grad: bool = False,
) -> Fragments:
    """Rasterize M mesh slots per image.

    vertices [B,M,V,3] camera-frame metres; faces [F,3] shared, [M,F,3] or [B,M,F,3] per slot
    (e.g. left and right hands have different faces); K [B,3,3] (or [B,M,3,3]); image_size (H, W);
    valid [B,M] bool (slots to draw; default all). with_grad: barycentrics and depth carry autograd
    back to `vertices` (the face choice itself is piecewise constant).
    """
    if vertices.ndim != 4 or vertices.shape[-1] != 3:
        raise ValueError(f"rasterize: vertices must be [B,M,V,3], got {tuple(vertices.shape)}")
    B, M = vertices.shape[:2]
    H, W = int(image_size[0]), int(image_size[1])
    faces = pack_faces(faces.to(vertices.device), B, M)
    F = faces.shape[2]
    if M * F >= 2**FACE_BITS:
        raise ValueError(f"rasterize: {M}x{F} faces per image exceed {2**FACE_BITS}")
    if valid is None:
        valid = torch.ones(B, M, dtype=torch.bool, device=vertices.device)
    with torch.no_grad():
        uv, z = project_vertices(vertices.detach(), K)
        tri = gather_triangles(torch.cat([uv, z[..., None]], -1), faces).reshape(B * M * F, 3, 3)
        ok = (valid[:, :, None].expand(B, M, F).reshape(-1) & (tri[:, :, 2] > NEAR).all(-1))
        face, px, py = candidate_pairs(tri[:, :, :2], ok, H, W)
        t = tri[face]
        bary, area = screen_barycentrics(t[:, :, :2].double(), px.double(), py.double())
        inside = (bary >= 0).all(-1) & (area.abs() > 1e-12)
        face, px, py, bary, t = face[inside], px[inside], py[inside], bary[inside].to(t.dtype), t[inside]
        depth = 1.0 / (bary / t[:, :, 2]).sum(-1)
        img = torch.div(face, M * F, rounding_mode="floor")
        local = face - img * (M * F)
        key = (depth.float().view(torch.int32).long() << FACE_BITS) | local
        pix = img * (H * W) + py * W + px
        zbuf = torch.full((B * H * W,), _INT64_MAX, dtype=torch.int64, device=vertices.device)
        zbuf.scatter_reduce_(0, pix, key, reduce="amin", include_self=True)
        mask = zbuf != _INT64_MAX
        face_id = torch.where(mask, zbuf & (2**FACE_BITS - 1), torch.full_like(zbuf, -1))
        fg = torch.nonzero(mask).squeeze(1)
    dtype = vertices.dtype
    bary_out = torch.zeros(B * H * W, 3, dtype=dtype, device=vertices.device)
    depth_out = torch.zeros(B * H * W, dtype=dtype, device=vertices.device)
    if fg.numel():
        b = torch.div(fg, H * W, rounding_mode="floor")
        rest = fg - b * (H * W)
        fy = torch.div(rest, W, rounding_mode="floor").to(dtype)
        fx = (rest % W).to(dtype)
        fid = face_id[fg]
        m, f = torch.div(fid, F, rounding_mode="floor"), fid % F
        corners = faces[b, m, f]  # [P,3]
        ctx = torch.enable_grad() if with_grad else torch.no_grad()
        with ctx:
            v = vertices[b[:, None], m[:, None], corners]  # [P,3,3]
            kb = K[b] if K.ndim == 3 else K[b, m]
            puv, pz = project_vertices(v[:, None], kb)
            sb, _ = screen_barycentrics(puv[:, 0], fx, fy)
            pb, pd = perspective_correct(sb, pz[:, 0])
            bary_out = bary_out.index_put((fg,), pb)
            depth_out = depth_out.index_put((fg,), pd)
    mesh_id = torch.where(mask, torch.div(face_id, F, rounding_mode="floor"), face_id)
    return Fragments(
        face_id=face_id.view(B, H, W), mesh_id=mesh_id.view(B, H, W), bary=bary_out.view(B, H, W, 3),
        depth=depth_out.view(B, H, W), mask=mask.view(B, H, W),
    )
