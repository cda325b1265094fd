"""Vertex normals and SH-9 irradiance: the official SMHR lighting model.

    colour(v) = albedo(v) * L(n_v),   L_c(n) = sum_k Y_k(n) * gamma[c, k]   (c = R, G, B; k < 9)

with the Deep3DFaceRecon real SH basis and constants the official code uses (a_k * c_k folded in).
Normals are in OUR camera frame (OpenCV axes), so a surface facing the camera has n_z < 0; the
lighting head learns its coefficients in this frame (the official code used PyTorch3D's axes, so
its gamma values are not interchangeable with ours, only the functional form is).
"""

from __future__ import annotations

import torch

from smhr.render.sh import SH_CONSTANTS, sh_basis_terms

__all__ = ["SH_CONSTANTS", "directional_sh", "face_normals", "sh_basis", "sh_irradiance", "vertex_normals"]



def face_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Unnormalised face normals (v1 - v0) x (v2 - v0) [..., F, 3] (length = twice the area):
    vertices [..., V, 3], faces [..., F, 3] (same leading dims, or [F, 3] shared). Counter-clockwise
    faces seen from outside give outward normals."""
    if faces.ndim == 2:
        faces = faces.expand(*vertices.shape[:-2], *faces.shape)
    lead = vertices.shape[:-2]
    idx = faces.reshape(*lead, -1, 1).expand(*lead, faces.shape[-2] * 3, 3)
    tri = vertices.gather(-2, idx).reshape(*lead, faces.shape[-2], 3, 3)
    return torch.linalg.cross(tri[..., 1, :] - tri[..., 0, :], tri[..., 2, :] - tri[..., 0, :])


def vertex_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Unit vertex normals [..., V, 3]: the area-weighted sum of the adjacent faces' normals
    (the official code summed unit face normals over a cyclically padded adjacency list, which
    double-counts some faces; area weighting is the standard, unbiased choice)."""
    fn = face_normals(vertices, faces)  # [..., F, 3]
    if faces.ndim == 2:
        faces = faces.expand(*vertices.shape[:-2], *faces.shape)
    lead = vertices.shape[:-2]
    V = vertices.shape[-2]
    n = int(torch.tensor(lead).prod()) if lead else 1
    fn = fn.reshape(n, -1, 3)
    f = faces.reshape(n, -1, 3)
    base = (torch.arange(n, device=vertices.device) * V)[:, None, None]
    idx = (f + base).reshape(-1)
    acc = torch.zeros(n * V, 3, dtype=vertices.dtype, device=vertices.device)
    acc = acc.index_add(0, idx, fn[:, :, None, :].expand(n, f.shape[1], 3, 3).reshape(-1, 3))
    acc = acc.reshape(*lead, V, 3)
    return acc / acc.norm(dim=-1, keepdim=True).clamp(min=1e-12)


def sh_basis(normals: torch.Tensor) -> torch.Tensor:
    """The 9 SH basis values [..., 9] of unit normals [..., 3] (the official code's ordering and signs)."""
    return torch.stack(sh_basis_terms(*normals.unbind(-1), torch.full_like), -1)


def sh_irradiance(normals: torch.Tensor, sh: torch.Tensor) -> torch.Tensor:
    """Irradiance [..., N, 3] of normals [..., N, 3] under SH coefficients sh [..., 27] (colour-major:
    R's 9, then G's, then B's; leading dims of sh broadcast against normals' leading dims)."""
    gamma = sh.reshape(*sh.shape[:-1], 3, 9).to(normals.dtype)
    return torch.einsum("...nk,...ck->...nc", sh_basis(normals), gamma)


def directional_sh(
    direction: torch.Tensor, ambient: torch.Tensor | float = 0.5, strength: torch.Tensor | float = 0.5,
    colour: torch.Tensor | None = None,
) -> torch.Tensor:
    """SH-9 coefficients [..., 27] (colour-major) of the irradiance
    colour * (ambient + strength * (n . d)), d = unit `direction` [..., 3] pointing from the surface
    towards the light (camera frame); ambient / strength broadcast over the leading dims, colour
    [..., 3] (default white). A simple, exactly representable light for pictures and synthesis."""
    d = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    lead = d.shape[:-1]
    amb = torch.as_tensor(ambient, dtype=d.dtype, device=d.device).expand(lead)
    s = torch.as_tensor(strength, dtype=d.dtype, device=d.device).expand(lead)
    k = SH_CONSTANTS
    c = torch.zeros(*lead, 9, dtype=d.dtype, device=d.device)
    c[..., 0] = amb / k["a0c0"]
    c[..., 1] = -s * d[..., 1] / k["a1c1"]
    c[..., 2] = s * d[..., 2] / k["a1c1"]
    c[..., 3] = -s * d[..., 0] / k["a1c1"]
    rgb = torch.ones(*lead, 3, dtype=d.dtype, device=d.device) if colour is None else colour.to(d)
    return (rgb[..., :, None] * c[..., None, :]).reshape(*lead, 27)
