"""Pure-PyTorch mesh rendering: rasterizer, SH shading, differentiable RGB / soft silhouette /
depth for many hands per image, a hard fast path, and overlays (see docs/rendering.md)."""

from smhr.render.rasterizer import Fragments, rasterize
from smhr.render.renderer import RenderOutput, ambient_sh, render, render_hard, soft_silhouette
from smhr.render.shading import sh_irradiance, vertex_normals

__all__ = [
    "Fragments",
    "RenderOutput",
    "ambient_sh",
    "rasterize",
    "render",
    "render_hard",
    "sh_irradiance",
    "soft_silhouette",
    "vertex_normals",
]
