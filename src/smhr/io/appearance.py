"""A hand's predicted appearance in files: per-vertex albedo as 8-bit colours, and the JSON block
with the SH lighting and its convention (docs/rendering.md, "Appearance").

Why a module of its own: the mesh and JSON writers only ask "what colour is each vertex" and
"what goes under 'appearance'"; the conventions (sRGB encoding, SH order, the constants the heads'
raw outputs are offset by) are written down once, here and in `smhr.records.Hand.albedo` / `.sh`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from smhr.records import Hand

__all__ = ["SH_CONVENTION", "appearance_record", "base_color_factor", "linear_from_srgb", "vertex_rgba"]

SH_CONVENTION = (
    "colour(v) = albedo(v) * E(n_v); E_c(n) = sum_k sh[c][k] * Y_k(n), c in (R, G, B), k < 9; "
    "Y = (a0c0, -a1c1 ny, a1c1 nz, -a1c1 nx, a2c2 nx ny, -a2c2 ny nz, a2c2 d0 (3 nz^2 - 1), -a2c2 nx nz, "
    "a2c2 (nx^2 - ny^2) / 2) with a0c0 = pi / sqrt(4 pi), a1c1 = 2 pi / sqrt(3) * sqrt(3 / (4 pi)), "
    "a2c2 = 2 pi / sqrt(8) * 3 sqrt(5) / sqrt(12 pi), d0 = 1 / (2 sqrt(3)); n = unit area-weighted vertex "
    "normal in the OpenCV camera frame (x right, y down, z forward; camera-facing surfaces have nz < 0); "
    "albedo and colour are sRGB-encoded values in 0-1 (photo pixels / 255), colours interpolated per pixel"
)


def _rounded(a: np.ndarray, decimals: int) -> list:
    return np.round(np.asarray(a, np.float64), decimals).tolist()


def linear_from_srgb(c: np.ndarray) -> np.ndarray:
    """sRGB-encoded values (0-1) -> linear light (0-1), the IEC 61966-2-1 curve (glTF's COLOR_0 is
    linear, while our albedo is sRGB-encoded like the photos it was fitted to)."""
    c = np.clip(np.asarray(c, np.float64), 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def base_color_factor(rgba: Sequence[float]) -> list[float]:
    """glTF `baseColorFactor` (linear RGB, alpha as is) of an 8-bit sRGB colour such as `SIDE_RGBA`:
    the factor is read as linear light, so the raw /255 values would show washed out (the overlay's
    orange 245, 130, 48 as ~250, 189, 121)."""
    c = np.asarray(rgba, np.float64) / 255.0
    return [*linear_from_srgb(c[:3]).tolist(), float(c[3])]


def vertex_rgba(hand: Hand) -> np.ndarray | None:
    """Per-vertex albedo as uint8 RGBA [V,4] (sRGB, clipped to 0-255), or None without appearance."""
    albedo = hand.albedo
    if albedo is None:
        return None
    rgb = np.clip(np.asarray(albedo, np.float64) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.concatenate([rgb, np.full((len(rgb), 1), 255, np.uint8)], 1)


def appearance_record(hand: Hand, with_albedo: bool = False) -> dict[str, Any] | None:
    """The JSON "appearance" block of one hand, or None when the hand has no appearance: sh [3][9]
    (R, G, B rows; `SH_CONVENTION`), the mean albedo, and the per-vertex albedo [V][3] with_albedo
    (else a pointer to the meshes' vertex colours, which carry it as 8-bit sRGB)."""
    if hand.sh is None or hand.albedo is None:
        return None
    rec: dict[str, Any] = {
        "sh": _rounded(hand.sh.reshape(3, 9), 6),
        "albedo_mean_rgb": _rounded(hand.albedo.mean(0), 4),
        "albedo_space": "sRGB-encoded 0-1",
    }
    if with_albedo:
        rec["albedo_rgb"] = _rounded(hand.albedo, 4)
    else:
        rec["albedo_rgb"] = ("per-vertex colours of the hand's OBJ / PLY / GLB (8-bit sRGB); "
                             "--vertices puts them here")
    return rec
