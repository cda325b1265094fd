"""Where the hands of a composite go: random settings (`ComposeConfig`) -> a `Layout` of B canvases.

The canvas of hand count n is cut into g x g cells, g = ceil(sqrt(n)); the n hands take distinct
random cells, their centres jitter by +-`jitter` of a cell (so neighbours may overlap and border
hands may be cut), their keypoint-box side is `size_range` x cell side, their rotation is uniform
in +-rotation_deg and each is mirrored into a left hand with probability `left_prob`. A layout is
drawn once, in torch, and the per-sample execution (`per_sample`) reads it.

Context switches of the layout (each off by default; a switch at 0 draws nothing, so today's
composites stay byte-identical for the same seed):
- `frame_fill_prob`: the canvas holds ONE hand whose keypoint box (after its rotation) is
  `frame_fill_range` x the canvas side, its centre up to `frame_fill_offset` x the side
  off-centre, so the large ones are cut by the border (real photos have hands that fill the
  frame; the grid layout never made them);
- `border_cut_prob`: per hand of the other canvases, its centre moves onto a random canvas edge,
  between 10 % of its size outside and 30 % inside, so 20-60 % of its box is cut off.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

PROBS = ("frame_fill_prob", "border_cut_prob", "occluder_prob", "low_light_prob", "motion_blur_prob")


@dataclass
class ComposeConfig:
    """Random layout settings (see the module docstring).

    out_size: canvas side px. min_hands / max_hands: hand count, uniform. size_range: hand
    keypoint-box side as a fraction of its layout cell. jitter: centre jitter as a fraction of the
    cell. rotation_deg: max |in-plane rotation|. left_prob: probability to mirror a source hand
    into a left hand. gain_range: per-hand brightness gain (so pasted hands do not all share the
    source's exposure); (1, 1) disables it. The context switches (all 0 = off): frame_fill_prob /
    frame_fill_range / frame_fill_offset, border_cut_prob (the module docstring); occluder_prob
    (per hand) / occluder_cover (fraction of its mask), low_light_prob / low_light_range (gain),
    motion_blur_prob / motion_blur_max (px) (`per_sample`, `occluders`, `effects`).
    """

    out_size: int = 384
    min_hands: int = 1
    max_hands: int = 6
    size_range: tuple[float, float] = (0.4, 0.8)
    jitter: float = 0.25
    rotation_deg: float = 45.0
    left_prob: float = 0.5
    gain_range: tuple[float, float] = (0.75, 1.25)
    frame_fill_prob: float = 0.0
    frame_fill_range: tuple[float, float] = (0.6, 1.3)
    frame_fill_offset: float = 0.2
    border_cut_prob: float = 0.0
    occluder_prob: float = 0.0
    occluder_cover: tuple[float, float] = (0.15, 0.45)
    low_light_prob: float = 0.0
    low_light_range: tuple[float, float] = (0.15, 0.5)
    motion_blur_prob: float = 0.0
    motion_blur_max: int = 9

    def __post_init__(self) -> None:
        if not 1 <= self.min_hands <= self.max_hands:
            raise ValueError(f"need 1 <= min_hands <= max_hands, got {self.min_hands}, {self.max_hands}")
        if self.out_size < 16:
            raise ValueError(f"out_size must be >= 16 px, got {self.out_size}")
        for name in PROBS:
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"compose: {name} must be in [0, 1], got {getattr(self, name)}")
        for name, top in (("frame_fill_range", 10.0), ("occluder_cover", 0.9), ("low_light_range", 1.0)):
            lo, hi = (float(v) for v in getattr(self, name))
            if not 0.0 < lo <= hi <= top:
                raise ValueError(f"compose: {name} must be [lo, hi], 0 < lo <= hi <= {top}; got {[lo, hi]}")
        if self.motion_blur_max < 3:
            raise ValueError(f"compose: motion_blur_max must be >= 3 px, got {self.motion_blur_max}")

    @property
    def pixel_effects(self) -> bool:
        """Whether a switch that draws after the paste (occluders, low light, blur) is on."""
        return self.occluder_prob > 0 or self.low_light_prob > 0 or self.motion_blur_prob > 0


@dataclass
class Layout:
    """Random placement of up to M hands on B canvases (all tensors on one device).

    valid [B,M] bool (slot used; slots k < count are used), src [B,M] long (source index),
    mirror [B,M] bool (becomes a left hand), size [B,M] px (keypoint-box side on the canvas),
    angle [B,M] rad (in-plane rotation, + = clockwise on screen), center [B,M,2] px, gain [B,M].
    fill [B,M] bool or None: size is the side of the ROTATED keypoint box (frame-filling hands,
    whose on-screen size is what matters); otherwise of the box before rotation.
    """

    valid: torch.Tensor
    src: torch.Tensor
    mirror: torch.Tensor
    size: torch.Tensor
    angle: torch.Tensor
    center: torch.Tensor
    gain: torch.Tensor
    fill: torch.Tensor | None = None

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Layout:
        """This layout with `fn` applied to every tensor."""
        return Layout(**{k: None if v is None else fn(v) for k, v in asdict(self).items()})

    def select(self, b: int) -> Layout:
        """The layout of canvas b alone (batch size 1)."""
        return self.map(lambda v: v[b : b + 1])

    def to(self, device: torch.device | str) -> Layout:
        return self.map(lambda v: v.to(device))


def sample_layout(
    batch: int,
    num_sources: int,
    cfg: ComposeConfig,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Layout:
    """Draw B random layouts of up to cfg.max_hands hands from `num_sources` source hands."""
    if num_sources < 1:
        raise ValueError("compose: the source has no samples; point it at a dataset with masked hands")
    dev = (
        torch.device(device)
        if device is not None
        else (generator.device if generator is not None else torch.device("cpu"))
    )
    B, M, R = batch, cfg.max_hands, float(cfg.out_size)

    def rand(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device=dev)

    count = torch.randint(cfg.min_hands, cfg.max_hands + 1, (B,), generator=generator, device=dev)
    g = torch.ceil(torch.sqrt(count.float())).long()  # grid side per canvas
    G = math.ceil(math.sqrt(cfg.max_hands))
    # random distinct cells of each canvas' g x g grid: sort random keys, unusable cells last
    cell_ids = torch.arange(G * G, device=dev).expand(B, -1)
    keys = rand(B, G * G) + (cell_ids >= (g * g)[:, None]).float() * 2.0
    cells = torch.argsort(keys, dim=1)[:, :M]
    gf = g[:, None].float()
    cell = R / gf  # [B,1] cell side px
    col, row = (cells % g[:, None]).float(), torch.div(cells, g[:, None], rounding_mode="floor").float()
    jit = (rand(B, M, 2) * 2 - 1) * cfg.jitter
    center = torch.stack([(col + 0.5 + jit[..., 0]) * cell, (row + 0.5 + jit[..., 1]) * cell], dim=-1)
    lo, hi = cfg.size_range
    size = (lo + (hi - lo) * rand(B, M)) * cell
    angle = (rand(B, M) * 2 - 1) * math.radians(cfg.rotation_deg)
    glo, ghi = cfg.gain_range
    lay = Layout(
        valid=torch.arange(M, device=dev)[None, :] < count[:, None],
        src=torch.randint(num_sources, (B, M), generator=generator, device=dev),
        mirror=rand(B, M) < cfg.left_prob,
        size=size,
        angle=angle,
        center=center,
        gain=glo + (ghi - glo) * rand(B, M),
    )
    # the switches draw after everything above, and only when on: off, the draws are today's
    if cfg.frame_fill_prob > 0:
        _frame_fill(lay, cfg, rand)
    if cfg.border_cut_prob > 0:
        _border_cut(lay, cfg, rand, generator)
    return lay


def _frame_fill(lay: Layout, cfg: ComposeConfig, rand: Callable[..., torch.Tensor]) -> None:
    """Turn canvases (probability frame_fill_prob) into one frame-filling hand in slot 0."""
    B, M = lay.valid.shape
    R = float(cfg.out_size)
    on = rand(B) < cfg.frame_fill_prob
    lo, hi = (float(v) for v in cfg.frame_fill_range)
    side = (lo + (hi - lo) * rand(B)) * R
    centre = R / 2 + (rand(B, 2) * 2 - 1) * cfg.frame_fill_offset * R
    first = torch.arange(M, device=on.device)[None, :] == 0
    lay.valid = torch.where(on[:, None], first, lay.valid)
    lay.size[:, 0] = torch.where(on, side, lay.size[:, 0])
    lay.center[:, 0] = torch.where(on[:, None], centre, lay.center[:, 0])
    lay.fill = on[:, None] & first


def _border_cut(
    lay: Layout, cfg: ComposeConfig, rand: Callable[..., torch.Tensor], generator: torch.Generator | None
) -> None:
    """Move hands (probability border_cut_prob each; not frame-filling ones) onto a canvas edge."""
    B, M = lay.valid.shape
    R = float(cfg.out_size)
    cut = rand(B, M) < cfg.border_cut_prob
    if lay.fill is not None:
        cut &= ~lay.fill
    edge = torch.randint(4, (B, M), generator=generator, device=cut.device)
    inside = (-0.1 + 0.4 * rand(B, M)) * lay.size  # centre's distance inside the edge
    pos = torch.where(edge % 2 == 0, inside, R - inside)  # edges 0, 1: x = 0, R; 2, 3: y = 0, R
    axis = (edge >= 2).long()
    for d in (0, 1):
        lay.center[..., d] = torch.where(cut & (axis == d), pos, lay.center[..., d])
