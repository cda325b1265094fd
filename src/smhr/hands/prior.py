"""Pose prior: anatomical joint limits and a sampler of plausible hand poses, for any hand model.

Why anatomical frames: pose vectors are axis-angle in the model frame at rest (MANO's convention),
so "flexion" is a different axis for every finger joint and differs between models. Each finger
joint gets a frame from the model's own rest skeleton: flexion (positive curls the finger towards
the palm), abduction (positive moves it towards the thumb side) and twist (about the bone). Limits
are boxes in these coordinates, so the same numbers serve MANO and the Anny hand, left and right:
the left frames are built so that mirrored poses (axis-angle (x, -y, -z)) have equal coordinates.

The sampler draws articulations from a few latent variables, as real hands move: an overall curl
shared by the fingers (open, relaxed, fist, or gestures with fingers curled independently), the
PIP/DIP coupling, spread that shrinks as fingers curl, thumb opposition, small noise, and
occasional extremes anywhere inside the limits. Everything is clipped to the limits.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from smhr.hands.model import HandModel

# MANO-native joint order 1..15: index, middle, little, ring (MCP, PIP, DIP each), thumb (CMC, MCP, IP).
# finger of each joint: 0 thumb, 1 index, 2 middle, 3 ring, 4 little
FINGER_OF_JOINT = (1, 1, 1, 2, 2, 2, 4, 4, 4, 3, 3, 3, 0, 0, 0)
LEVEL_OF_JOINT = (0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2)  # 0 MCP/CMC, 1 PIP/MCP, 2 DIP/IP
TIP_OF_FINGER = (0, 1, 2, 3, 4)  # index into tip_vertex_ids (thumb, index, middle, ring, little)

# (flexion, abduction, twist) limits in radians, [low, high], per level; fingers and thumb apart.
FINGER_LIMITS = (
    ((-0.5, 1.65), (-0.4, 0.4), (-0.2, 0.2)),  # MCP
    ((-0.1, 1.9), (-0.08, 0.08), (-0.15, 0.15)),  # PIP
    ((-0.25, 1.45), (-0.08, 0.08), (-0.15, 0.15)),  # DIP
)
THUMB_LIMITS = (
    ((-0.6, 1.1), (-0.6, 0.9), (-0.6, 0.6)),  # CMC (saddle joint: wide)
    ((-0.35, 1.0), (-0.2, 0.2), (-0.3, 0.3)),  # MCP
    ((-0.35, 1.45), (-0.08, 0.08), (-0.15, 0.15)),  # IP
)


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-9)


def joint_frames(model: HandModel) -> torch.Tensor:
    """[15,3,3] per articulated joint: orthonormal rows, the flexion, abduction and twist axes
    (model frame), from the rest skeleton of `model` at zero shape."""
    with torch.no_grad():
        out = model(torch.zeros(1, 3), torch.zeros(1, model.pose_dim) if model.pca_components is None
                    else torch.zeros(1, model.pca_components))  # fmt: skip
        j = out.joints16[0].double().cpu()
        tips = out.vertices[0, model.tip_vertex_ids].double().cpu()
    forward = _unit(j[4] - j[0])  # wrist -> middle MCP
    radial = j[1] - j[7]  # little MCP -> index MCP: towards the thumb side
    radial = _unit(radial - (radial @ forward) * forward)
    sign = 1.0 if model.side == "right" else -1.0
    palm = -sign * _unit(torch.linalg.cross(forward, radial))  # out of the palm
    parents = model.parents_tuple
    children = {p: c for c, p in reversed(list(enumerate(parents))) if p > 0}
    frames = torch.zeros(15, 3, 3, dtype=torch.float64)
    for k in range(15):
        joint = k + 1
        end = j[children[joint]] if joint in children else tips[TIP_OF_FINGER[FINGER_OF_JOINT[k]]]
        bone = _unit(end - j[joint])
        n = _unit(palm - (palm @ bone) * bone)
        flex = torch.linalg.cross(bone, n)  # rotating about it moves the bone towards the palm
        abd = n if torch.linalg.cross(n, bone) @ radial > 0 else -n  # ... towards the thumb side
        frames[k] = torch.stack([flex, abd, sign * bone])  # orthonormal
    return frames.float()


def _limit_table() -> torch.Tensor:
    rows = []
    for k in range(15):
        table = THUMB_LIMITS if FINGER_OF_JOINT[k] == 0 else FINGER_LIMITS
        rows.append(table[LEVEL_OF_JOINT[k]])
    return torch.tensor(rows, dtype=torch.float32)  # [15,3,2]


@dataclass
class PosePrior:
    """Joint frames and limits of one hand model (see the module docstring)."""

    frames: torch.Tensor  # [15,3,3] rows flexion / abduction / twist axes
    limits: torch.Tensor  # [15,3,2] low / high, radians
    side: str

    @classmethod
    def from_model(cls, model: HandModel) -> PosePrior:
        return cls(joint_frames(model), _limit_table(), model.side)

    def to_local(self, pose: torch.Tensor) -> torch.Tensor:
        """Axis-angle articulation [N,45] -> anatomical coordinates [N,15,3] (flex, abd, twist)."""
        return torch.einsum("jab,njb->nja", self.frames.to(pose), pose.reshape(-1, 15, 3))

    def from_local(self, local: torch.Tensor) -> torch.Tensor:
        """Anatomical coordinates [N,15,3] -> axis-angle articulation [N,45]."""
        return torch.einsum("jab,nja->njb", self.frames.to(local), local).reshape(-1, 45)

    def violation(self, pose: torch.Tensor) -> torch.Tensor:
        """[N,45] >= 0: radians by which each anatomical coordinate lies outside its range
        (0 inside); differentiable."""
        local = self.to_local(pose)
        lim = self.limits.to(local)
        return (torch.relu(lim[..., 0] - local) + torch.relu(local - lim[..., 1])).reshape(-1, 45)

    def clip(self, pose: torch.Tensor) -> torch.Tensor:
        """The pose with every anatomical coordinate clamped into its range."""
        local = self.to_local(pose)
        lim = self.limits.to(local)
        return self.from_local(torch.maximum(torch.minimum(local, lim[..., 1]), lim[..., 0]))

    def sample(
        self, n: int, generator: torch.Generator | None = None, extreme_prob: float = 0.1
    ) -> torch.Tensor:
        """n plausible articulations [n,45] (float32, CPU)."""
        return self.from_local(sample_local_poses(n, self.limits, generator, extreme_prob))


def _u(n: int, lo: float, hi: float, g: torch.Generator | None, *shape: int) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, *shape, generator=g)


def sample_local_poses(
    n: int, limits: torch.Tensor, generator: torch.Generator | None = None, extreme_prob: float = 0.1,
) -> torch.Tensor:
    """[n,15,3] anatomical coordinates from the latent-variable model of the module docstring."""
    g = generator
    lo, hi = limits[..., 0], limits[..., 1]
    mode = torch.randint(0, 4, (n,), generator=g)  # 0 open, 1 relaxed, 2 fist, 3 gesture
    base = torch.where(mode == 0, _u(n, 0.0, 0.2, g), torch.where(mode == 1, _u(n, 0.15, 0.55, g),
                                                                 _u(n, 0.6, 1.0, g)))  # fmt: skip
    curl = (base[:, None] + 0.1 * torch.randn(n, 5, generator=g)).clamp(0, 1)  # per finger (thumb first)
    gesture = torch.rand(n, 5, generator=g) < 0.5
    curl = torch.where((mode == 3)[:, None] & gesture, _u(n, 0.0, 1.0, g, 5), curl)
    local = torch.zeros(n, 15, 3)
    # joint index of (finger, level) in native order
    index = {(FINGER_OF_JOINT[k], LEVEL_OF_JOINT[k]): k for k in range(15)}
    spread = _u(n, -0.3, 1.0, g)
    spread_dir = {1: 0.5, 2: 0.05, 3: -0.4, 4: -0.9}  # index spreads towards the thumb, little away
    level_share = (0.85, 1.0, 0.7)  # MCP, PIP, DIP (DIP follows PIP: about 2/3)
    for finger in (1, 2, 3, 4):
        c = curl[:, finger]
        for level in range(3):
            k = index[(finger, level)]
            local[:, k, 0] = c * level_share[level] * hi[k, 0] + 0.06 * torch.randn(n, generator=g)
        k = index[(finger, 0)]
        local[:, k, 1] = spread * spread_dir[finger] * hi[k, 1] * (1 - 0.8 * curl[:, finger])
    # thumb: opposition (CMC flexion + abduction) correlates with the fingers' curl
    opposition = (0.6 * curl[:, 1:].mean(1) + 0.4 * torch.rand(n, generator=g)).clamp(0, 1)
    t_cmc, t_mcp, t_ip = index[(0, 0)], index[(0, 1)], index[(0, 2)]
    local[:, t_cmc, 0] = opposition * hi[t_cmc, 0] + 0.1 * torch.randn(n, generator=g)
    local[:, t_cmc, 1] = _u(n, -0.3, 0.8, g) * hi[t_cmc, 1]
    local[:, t_cmc, 2] = opposition * 0.5 * hi[t_cmc, 2] + 0.1 * torch.randn(n, generator=g)
    local[:, t_mcp, 0] = curl[:, 0] * 0.8 * hi[t_mcp, 0] + 0.06 * torch.randn(n, generator=g)
    local[:, t_ip, 0] = curl[:, 0] * 0.9 * hi[t_ip, 0] + 0.06 * torch.randn(n, generator=g)
    local[..., 2] += 0.04 * torch.randn(n, 15, generator=g)
    # occasional extremes: a few joints anywhere inside their box
    extreme = (torch.rand(n, 1, 1, generator=g) < extreme_prob) & (torch.rand(n, 15, 1, generator=g) < 0.3)
    local = torch.where(extreme, lo + (hi - lo) * torch.rand(n, 15, 3, generator=g), local)
    return torch.maximum(torch.minimum(local, hi), lo)


def sample_shapes(n: int, generator: torch.Generator | None = None, scale: float = 1.0,
                  num_betas: int = 10) -> torch.Tensor:  # fmt: skip
    """[n,num_betas] shape coefficients ~ N(0, scale^2), clipped to +-2.5 (betas are unit-variance
    for both hand models, so this is the population the model was built from)."""
    return (scale * torch.randn(n, num_betas, generator=generator)).clamp(-2.5, 2.5)


def sample_global_orient(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """[n,3] axis-angle orientations uniform over all rotations (normalised Gaussian quaternions)."""
    q = torch.randn(n, 4, generator=generator, dtype=torch.float64)
    q = q / q.norm(dim=1, keepdim=True)
    q = torch.where(q[:, :1] < 0, -q, q)  # w >= 0: angle in [0, pi]
    angle = 2 * torch.atan2(q[:, 1:].norm(dim=1), q[:, 0])
    axis = q[:, 1:] / q[:, 1:].norm(dim=1, keepdim=True).clamp_min(1e-12)
    return (axis * angle[:, None]).float()


@functools.lru_cache(maxsize=8)
def _bundled_prior(kind: str, side: str) -> PosePrior:
    if kind != "anny":
        raise ValueError(
            f"no bundled {kind!r} hand to derive joint frames from: use PosePrior.from_model(model)"
        )
    return PosePrior.from_model(HandModel.load("anny", side))


def prior_for(kind: str, side: str, model: HandModel | None = None) -> PosePrior:
    """The PosePrior of `model` if given, else of the bundled hand of that kind (Anny only)."""
    return PosePrior.from_model(model) if model is not None else _bundled_prior(kind, side)


def joint_limit_violation(pose: torch.Tensor, kind: str, side: str) -> torch.Tensor:
    """[N,45] >= 0 joint-limit violation of articulations [N,45] for the bundled hand of `kind`."""
    return _bundled_prior(kind, side).violation(pose)


def sample_poses(n: int, side: str, kind: str = "anny", generator: torch.Generator | None = None,
                 model: HandModel | None = None) -> torch.Tensor:  # fmt: skip
    """n plausible articulations [n,45] for the hand `model` (or the bundled hand of `kind`)."""
    return prior_for(kind, side, model).sample(n, generator)


def limit_violation_for(models: Sequence[HandModel]) -> Callable[[torch.Tensor, int], torch.Tensor]:
    """Callable (pose [N,45], side index 0 left | 1 right) -> violation [N,45] for the loaded hand
    models [left, right] (what the training prior uses; works for MANO as well as Anny)."""
    priors = {("left", "right").index(m.side): PosePrior.from_model(m) for m in models}

    def violation(pose: torch.Tensor, side: int) -> torch.Tensor:
        return priors[side].violation(pose)

    return violation
