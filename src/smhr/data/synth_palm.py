"""The palm side's own look in synthetic renders (`smhr synth --palm-cue-prob`): paler, pinker
skin and darker flexion creases on the palmar side of the palm, fingers and thumb.

Why: the renders' skin is one colour all round, so a right hand's palm and a left hand's back
(its mirror image) look the same, and a network taught the side from them can only learn it from
the pose (docs/evaluation.md "Synthetic hands' side untaught"). Real palms differ from backs:
less melanin (much paler in dark skin, pinker in light skin) and creases at the finger joints and
across the palm. This module makes that cue per vertex, as the renderer colours vertices.

Geometry comes from the model's rest hand (zero pose, `HandModel` FreiHAND joint order): the back
of each finger is the mean normal of its nail vertices (part `NAIL_PART`), taken square to the
finger's axis; the back of the palm is the four fingers' mean. A model without nail labels (MANO)
takes the model frame's +y (hand-models.md: palm towards -y) for every part. Palm creases are
polylines in a palm frame (x: wrist -> middle MCP in units of that length; y: across, from the
little towards the index side in units of the little -> index MCP span), drawn as soft bands
(`CREASE_SIGMA_M`): at ~7 mm between palm vertices, a crease is a band, not a line.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from smhr.hands.keypoints import NAIL_PART
from smhr.render.shading import vertex_normals

PALM_TINT = (0.78, 0.60, 0.55)  # albedo the palmar skin moves towards: a light pink palm
CREASE_SIGMA_M = 0.0035  # crease band half-width (Gaussian sigma), metres
# (segment start in the chain MCP, PIP, DIP, tip; fraction along it): PIP, DIP, the finger's base
FINGER_CREASES = ((0, 1.0), (1, 1.0), (0, 0.35))
THUMB_CREASES = ((1, 0.0), (2, 0.0))  # chain CMC, MCP, IP, tip: the MCP and IP creases
PALM_CREASES = (  # (x, y) palm-frame points: distal transverse, proximal transverse, thenar
    ((0.80, -0.75), (0.78, -0.35), (0.84, 0.0), (0.96, 0.22)),
    ((0.74, 0.62), (0.66, 0.25), (0.60, -0.20), (0.56, -0.50)),
    ((0.74, 0.60), (0.52, 0.46), (0.30, 0.36), (0.08, 0.20)),
)


@dataclass
class PalmGeometry:
    """Per-vertex facts of one hand model's rest mesh: palmar [V] (0 back .. 1 palm side),
    finger_crease_m [V] (distance along its finger's axis to the nearest finger crease, inf off
    the fingers), palm_xy_m [V,2] (position in the palm frame, metres), palm_polylines_m [C,P,2]
    (the palm creases in the same frame), on_palm [V] (palm part vertices)."""

    palmar: torch.Tensor
    finger_crease_m: torch.Tensor
    palm_xy_m: torch.Tensor
    palm_polylines_m: torch.Tensor
    on_palm: torch.Tensor


def _square_to(d: torch.Tensor, axis: torch.Tensor) -> torch.Tensor:
    """Unit vector of d with its component along the unit `axis` removed."""
    return F.normalize(d - (d @ axis) * axis, dim=-1)


def back_directions(vertices: torch.Tensor, normals: torch.Tensor, joints: torch.Tensor,
                    part_labels: torch.Tensor, tip_ids: torch.Tensor) -> torch.Tensor:
    """[6,3] unit direction of the back of the hand for each part code 0 palm, 1 thumb .. 5 little."""
    nails = part_labels == NAIL_PART
    backs = torch.zeros(6, 3)
    up = torch.tensor([0.0, 1.0, 0.0])
    owner = torch.cdist(vertices[nails], vertices[tip_ids]).argmin(1) if nails.any() else None
    for finger in range(5):
        base, tip = joints[1 + 4 * finger], joints[4 + 4 * finger]
        axis = F.normalize(tip - base, dim=-1)
        mine = normals[nails][owner == finger] if owner is not None else normals[:0]
        d = mine.mean(0) if len(mine) else up
        backs[1 + finger] = _square_to(d, axis)
    backs[0] = F.normalize(backs[2:].mean(0), dim=-1) if nails.any() else up
    return backs


def palm_frame(joints: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float, float]:
    """Origin (wrist), unit x (towards the middle MCP), unit y (across, towards the index side),
    and the metres per unit along x and y (PALM_CREASES' units)."""
    wrist, index, middle, little = joints[0], joints[5], joints[9], joints[17]
    x = F.normalize(middle - wrist, dim=-1)
    y = _square_to(index - little, x)
    return wrist, x, y, float((middle - wrist).norm()), float(((index - little) @ y).abs())


def palm_geometry(vertices: torch.Tensor, faces: torch.Tensor, joints: torch.Tensor,
                  part_labels: torch.Tensor, tip_ids: torch.Tensor) -> PalmGeometry:
    """The `PalmGeometry` of a rest hand: vertices [V,3] and joints [21,3] (FreiHAND order) of the
    zero pose, metres."""
    vertices, joints = vertices.float().cpu(), joints.float().cpu()
    part_labels, tip_ids = part_labels.cpu(), tip_ids.cpu()
    normals = vertex_normals(vertices.double(), faces.cpu().long()).float()
    backs = back_directions(vertices, normals, joints, part_labels, tip_ids)
    part = part_labels.clamp(max=5)  # a nail takes some finger's back: its weight is set to 0 below
    facing = -(normals * backs[part]).sum(-1)  # cosine with the palmar direction
    ramp = (facing / 0.5).clamp(0, 1)
    palmar = ramp * ramp * (3 - 2 * ramp)  # smoothstep: 0 at a right angle, 1 from cos 0.5 on
    palmar = torch.where(part_labels == NAIL_PART, torch.zeros_like(palmar), palmar)
    finger_crease = torch.full((len(vertices),), float("inf"))
    for finger in range(5):
        chain = joints[1 + 4 * finger: 5 + 4 * finger]
        mine = part_labels == 1 + finger
        for start, frac in THUMB_CREASES if finger == 0 else FINGER_CREASES:
            axis = F.normalize(chain[start + 1] - chain[start], dim=-1)
            at = chain[start] + frac * (chain[start + 1] - chain[start])
            d = ((vertices[mine] - at) @ axis).abs()
            finger_crease[mine] = torch.minimum(finger_crease[mine], d)
    origin, x, y, sx, sy = palm_frame(joints)
    rel = vertices - origin
    palm_xy = torch.stack([rel @ x, rel @ y], -1)
    lines = torch.tensor(PALM_CREASES) * torch.tensor([sx, sy])
    return PalmGeometry(palmar.float(), finger_crease, palm_xy, lines.float(), part_labels == 0)


def polyline_distance(points: torch.Tensor, lines: torch.Tensor) -> torch.Tensor:
    """[..., C, V] distance of points [..., V, 2] to each polyline of lines [..., C, P, 2]."""
    a, b = lines[..., :-1, :], lines[..., 1:, :]  # [..., C, S, 2] segments
    ab = b - a
    p = points[..., None, :, None, :]  # [..., 1, V, 1, 2]
    t = (((p - a[..., :, None, :, :]) * ab[..., :, None, :, :]).sum(-1)
         / (ab * ab).sum(-1).clamp(min=1e-12)[..., :, None, :]).clamp(0, 1)  # fmt: skip
    nearest = a[..., :, None, :, :] + t[..., None] * ab[..., :, None, :, :]
    return (p - nearest).norm(dim=-1).amin(-1)


@dataclass
class PalmDraws:
    """Per-image numbers of the cue, drawn for a whole chunk: on [n] bool, paler [n] (share of the
    way to PALM_TINT), finger_depth [n] and palm_depth [n,3] (crease darkening), jitter_m [n,3,2]
    (each palm crease moved in the palm frame)."""

    on: torch.Tensor
    paler: torch.Tensor
    finger_depth: torch.Tensor
    palm_depth: torch.Tensor
    jitter_m: torch.Tensor

    @classmethod
    def draw(cls, n: int, prob: float, generator: torch.Generator) -> PalmDraws:
        """Shares: paler 0.25-0.6, creases 10-30 % darker, palm creases moved up to 5 mm."""
        g = generator
        return cls(
            on=torch.rand(n, generator=g) < prob,
            paler=0.25 + 0.35 * torch.rand(n, generator=g),
            finger_depth=0.10 + 0.20 * torch.rand(n, generator=g),
            palm_depth=0.10 + 0.20 * torch.rand(n, 3, generator=g),
            jitter_m=0.005 * (2 * torch.rand(n, 3, 2, generator=g) - 1),
        )


def apply_palm_cue(albedo: torch.Tensor, geometry: PalmGeometry, draws: PalmDraws,
                   idx: torch.Tensor) -> torch.Tensor:
    """albedo [k,V,3] of the images idx with the cue where draws.on (others returned as they are)."""
    on = draws.on[idx]
    if not on.any():
        return albedo
    g = geometry
    palmar = g.palmar[None, :, None]
    tint = torch.tensor(PALM_TINT, dtype=albedo.dtype)
    paler = albedo + draws.paler[idx, None, None] * palmar * (tint - albedo)
    finger = torch.exp(-0.5 * (g.finger_crease_m / CREASE_SIGMA_M) ** 2)  # [V]
    dist = polyline_distance(g.palm_xy_m, g.palm_polylines_m[None] + draws.jitter_m[idx, :, None, :])
    palm = torch.exp(-0.5 * (dist / CREASE_SIGMA_M) ** 2) * draws.palm_depth[idx, :, None]  # [k,3,V]
    palm = palm.amax(1) * g.on_palm  # [k,V]
    dark = torch.maximum(draws.finger_depth[idx, None] * finger, palm) * g.palmar
    cued = (paler * (1 - dark[..., None])).clamp(0, 1)
    return torch.where(on[:, None, None], cued, albedo)
