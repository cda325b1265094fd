"""Mesh rendering: the pure-PyTorch differentiable renderer (rasterizer, SH shading, RGB / soft
silhouette / depth for many hands per image, a hard fast path; docs/rendering.md) and the
torch-free pictures (`smhr.render.painter`, `smhr.render.overlay`).

The PyTorch names below are loaded on first use, so `import smhr.render.overlay` (the demo's
pictures) does not import PyTorch.
"""

from __future__ import annotations

from smhr.lazy import lazy_attributes

_LAZY = {
    "Fragments": "smhr.render.rasterizer",
    "rasterize": "smhr.render.rasterizer",
    "RenderOutput": "smhr.render.renderer",
    "ambient_sh": "smhr.render.renderer",
    "render": "smhr.render.renderer",
    "render_hard": "smhr.render.renderer",
    "soft_silhouette": "smhr.render.renderer",
    "sh_irradiance": "smhr.render.shading",
    "vertex_normals": "smhr.render.shading",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_attributes("smhr.render", _LAZY)
