"""What a synthetic hand image shows besides the pose (`smhr synth`, `smhr.data.synth`): skin
albedo and SH lighting, drawn from a torch generator (so a chunk of images is reproducible from
its seed), and the camera that frames the hand.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from smhr.hands.keypoints import NAIL_PART

# Monk Skin Tone scale (Google, CC-BY 4.0), sRGB, lightest to darkest: the ramp we interpolate.
SKIN_TONES = (
    np.array(
        [
            [246, 237, 228],
            [243, 231, 219],
            [247, 234, 208],
            [234, 218, 186],
            [215, 189, 150],
            [160, 126, 86],
            [130, 92, 67],
            [96, 65, 52],
            [58, 49, 42],
            [41, 36, 32],
        ],
        np.float32,
    )
    / 255.0
)
# Swatch colours are how skin looks in a well-exposed photo; as albedo under our lights (irradiance
# up to about 1.4) they would saturate, so they are scaled down.
ALBEDO_SCALE = 0.75
NAIL_TINT = (0.95, 0.78, 0.78)  # nails: skin blended toward a light pink
SLEEVE_PROB = 0.3  # arms (`smhr synth --arm-prob`) in a sleeve from 4-16 cm above the wrist on


# ----------------------------------------------------------------------------- random appearance
def plane_waves(points: torch.Tensor, n: int, k: int, wavelengths: tuple[float, float],
                generator: torch.Generator) -> torch.Tensor:
    """[n,V] mean of k random plane waves over `points` [V,3] (m), wavelengths uniform in the range:
    the low-frequency skin variation and the glove's textile weave are the same pattern at two
    scales. Draws directions, then wavelengths, then phases (the order seeded outputs rely on)."""
    dirs = F.normalize(torch.randn(n, k, 3, generator=generator), dim=-1)
    lo, hi = wavelengths
    wavelength = lo + (hi - lo) * torch.rand(n, k, 1, generator=generator)
    phase = torch.rand(n, k, 1, generator=generator) * 2 * math.pi
    return torch.sin(2 * math.pi * (dirs @ points.T) / wavelength + phase).mean(1)


def skin_albedo(
    part_labels: torch.Tensor, rest_vertices: torch.Tensor, n: int, generator: torch.Generator
) -> torch.Tensor:
    """Per-vertex albedo [n, V, 3] in [0, 1] (sRGB-like), drawn on the generator's device (CPU).

    A tone interpolated along SKIN_TONES (light to dark, uniform), a small per-hand colour cast,
    low-frequency variation (4 random plane waves over the rest mesh, wavelengths 2-8 cm, +-6 %),
    2 % per-vertex noise, and nails (part NAIL_PART) blended 45 % toward NAIL_TINT.
    """
    tones = torch.from_numpy(SKIN_TONES)
    t = torch.rand(n, generator=generator) * (len(tones) - 1)
    i0 = t.floor().long().clamp(max=len(tones) - 2)
    frac = (t - i0.float())[:, None]
    tone = ALBEDO_SCALE * (tones[i0] * (1 - frac) + tones[i0 + 1] * frac)  # [n,3]
    tone = tone * (1 + 0.04 * torch.randn(n, 3, generator=generator))
    rest = rest_vertices.float().cpu()
    waves = plane_waves(rest, n, 4, (0.02, 0.08), generator)  # [n,V]
    shade = 1 + 0.12 * waves[..., None] + 0.02 * torch.randn(n, rest.shape[0], 1, generator=generator)
    albedo = tone[:, None, :] * shade
    nails = (part_labels.cpu() == NAIL_PART)[None, :, None]
    albedo = torch.where(nails, 0.55 * albedo + 0.45 * torch.tensor(NAIL_TINT), albedo)
    return albedo.clamp(0, 1)


def random_sh(n: int, generator: torch.Generator) -> torch.Tensor:
    """SH-9 lighting [n, 27] (colour-major, as `smhr.render` takes it): irradiance
    cast * (ambient + strength * (n . d)) plus a small random second band. Ambient 0.45-0.85, a
    +-8 % colour cast, strength 0.15-0.55 from a random direction on the camera's side."""
    from smhr.render.shading import SH_CONSTANTS, directional_sh

    amb = 0.45 + 0.4 * torch.rand(n, generator=generator)
    cast = 1 + 0.08 * (torch.rand(n, 3, generator=generator) * 2 - 1)
    d = F.normalize(torch.randn(n, 3, generator=generator), dim=-1)
    d[:, 2] = -d[:, 2].abs() - 0.2  # towards the camera (OpenCV z forward): lit from the front-ish
    strength = 0.15 + 0.4 * torch.rand(n, generator=generator)
    sh = directional_sh(d, amb, strength, cast).reshape(n, 3, 9)
    band2 = 0.06 * torch.randn(n, 1, 5, generator=generator) / SH_CONSTANTS["a2c2"]
    sh[:, :, 4:] = band2 * cast[:, :, None]
    return sh.reshape(n, 27)


# ----------------------------------------------------------------------------- camera
def place_in_view(
    vertices: torch.Tensor,
    focal: torch.Tensor,
    fill: torch.Tensor,
    shift: torch.Tensor,
    res: int,
    iters: int = 8,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Translation [n,3] and intrinsics [n,3,3] that frame each hand.

    vertices [n,V,3] posed at zero translation (metres); focal [n] px; fill [n] wanted side of
    the projected vertex box / res; shift [n,2] wanted box-centre offset / res. The box centre
    (3D) is put at depth d on the ray of normalised image offset (a, b); each of `iters` iterations rescales d
    by (box side / wanted side) and moves (a, b) by the remaining centre error / focal. Eight
    iterations reach ~0.1 % of the side and ~0.1 px. Principal point: the image centre
    ((res - 1) / 2 in pixel-centre coordinates).
    """
    n = vertices.shape[0]
    dev, dt = vertices.device, vertices.dtype
    f = focal.to(dev, dt)
    c = (res - 1) / 2.0
    K = torch.zeros(n, 3, 3, device=dev, dtype=dt)
    K[:, 0, 0] = K[:, 1, 1] = f
    K[:, 0, 2] = K[:, 1, 2] = c
    K[:, 2, 2] = 1
    local = vertices - (vertices.amin(1, keepdim=True) + vertices.amax(1, keepdim=True)) / 2
    target = c + shift.to(dev, dt) * res
    ab = (target - c) / f[:, None]
    d = torch.full((n,), 0.5, device=dev, dtype=dt)
    for _ in range(iters):
        t = torch.cat([ab * d[:, None], d[:, None]], -1)
        p = local + t[:, None]
        uv = p[..., :2] / p[..., 2:3].clamp(min=1e-3) * f[:, None, None] + c
        lo, hi = uv.amin(1), uv.amax(1)
        d = d * (hi - lo).amax(-1) / (fill.to(dev, dt) * res)
        ab = ab + (target - (lo + hi) / 2) / f[:, None]
    t = torch.cat([ab * d[:, None], d[:, None]], -1)
    centre3 = (vertices.amin(1) + vertices.amax(1)) / 2
    return t - centre3, K


# ----------------------------------------------------------------------------- gloves, sleeves, arm skin
def cloth_colours(n: int, generator: torch.Generator) -> torch.Tensor:
    """Fabric / latex / work-glove colours [n,3] in [0,1]: 35 % neutral (white to black, saturation
    <= 0.06), the rest any hue with saturation 0.35-0.9 and value 0.2-0.85 (blue nitrile, yellow
    and orange work gloves, green, red, ...)."""
    neutral = torch.rand(n, generator=generator) < 0.35
    hue = torch.rand(n, generator=generator) * 6
    r = torch.rand(n, 4, generator=generator)
    sat = torch.where(neutral, 0.06 * r[:, 0], 0.35 + 0.55 * r[:, 1])
    val = torch.where(neutral, 0.05 + 0.8 * r[:, 2], 0.2 + 0.65 * r[:, 3])
    chans = []
    for offset in (5.0, 3.0, 1.0):  # HSV -> RGB, one channel at a time
        k = (offset + hue) % 6
        chans.append(val - val * sat * torch.minimum(k, 4 - k).clamp(0, 1))
    return torch.stack(chans, -1)


def glove_albedo(
    rest_vertices: torch.Tensor, n: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-vertex glove albedo [n,V,3] and its base colour [n,3]: one `cloth_colours` colour over
    the whole hand (no nails), a fine textile texture (3 plane waves of 3-8 mm, +-5 %) and 5 %
    per-vertex noise."""
    base = cloth_colours(n, generator)
    rest = rest_vertices.float().cpu()
    weave = plane_waves(rest, n, 3, (0.003, 0.008), generator)  # [n,V]
    shade = 1 + 0.05 * weave[..., None] + 0.05 * torch.randn(n, rest.shape[0], 1, generator=generator)
    return (base[:, None, :] * shade).clamp(0, 1), base


def arm_albedo(
    s: torch.Tensor, skin: torch.Tensor, glove: torch.Tensor | None, generator: torch.Generator
) -> torch.Tensor:
    """Albedo [k,Va,3] of the arm vertices at arc lengths s [k,Va] (m from the wrist): the hand's
    mean skin colour skin [k,3] with a slow +-5 % variation along the arm and 2 % noise; where the
    hand wears a glove (glove [k,3] base colour, NaN rows = bare hand) its cuff covers the first
    2-7 cm; a sleeve (SLEEVE_PROB, any `cloth_colours` colour) covers the arm from 4-16 cm on."""
    k, Va = s.shape
    s = s.cpu()
    wave = torch.sin(2 * math.pi * s / (0.08 + 0.1 * torch.rand(k, 1, generator=generator))
                     + 2 * math.pi * torch.rand(k, 1, generator=generator))  # fmt: skip
    noise = torch.randn(k, Va, 1, generator=generator)
    colour = skin[:, None, :] * (1 + 0.05 * wave[..., None] + 0.02 * noise)
    sleeve = torch.rand(k, generator=generator) < SLEEVE_PROB
    sleeve_from = 0.04 + 0.12 * torch.rand(k, generator=generator)
    cloth = cloth_colours(k, generator)
    on = (sleeve[:, None] & (s > sleeve_from[:, None]))[..., None]
    colour = torch.where(on, cloth[:, None, :] * (1 + 0.04 * noise), colour)
    cuff = 0.02 + 0.05 * torch.rand(k, generator=generator)
    if glove is not None:
        gloved = torch.isfinite(glove).all(-1)
        on = (gloved[:, None] & (s < cuff[:, None]))[..., None]
        colour = torch.where(on, glove.nan_to_num(0)[:, None, :] * (1 + 0.05 * noise), colour)
    return colour.clamp(0, 1)


# ----------------------------------------------------------------------------- rendering
def subsample_intrinsics(K: torch.Tensor, s: int) -> torch.Tensor:
    """K of the same camera on an s-times finer pixel grid (pixel-centre convention:
    u_s = s (u + 0.5) - 0.5)."""
    Ks = K.clone()
    Ks[:, :2, :2] *= s
    Ks[:, :2, 2] = s * (K[:, :2, 2] + 0.5) - 0.5
    return Ks


def render_hands(
    verts: torch.Tensor,
    faces: torch.Tensor,
    albedo: torch.Tensor,
    sh: torch.Tensor,
    K: torch.Tensor,
    size: int,
    hand_faces: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One hand (and its arm, faces from hand_faces on) per image: rgb [k,3,S,S], coverage of
    anything [k,S,S], of the hand where it is the front-most surface [k,S,S] (float 0/1), and the
    front-most depth [k,S,S] (m, 0 on background)."""
    from smhr.render.renderer import render_hard

    out = render_hard(verts[:, None], faces, K, (size, size), albedo=albedo[:, None], sh=sh[:, None])
    face = out.fragments.face_id
    hand = ((face >= 0) & (face < hand_faces)).to(out.rgb.dtype)
    return out.rgb, out.mask[:, 0], hand, out.depth[:, 0]
