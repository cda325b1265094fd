"""Multi-hand composites: masked single hands pasted onto backgrounds (the paper's synthesis, §8.6).

Improvements over the official `ArtificialDataset`: 1..max_hands hands per image (not <= 4 in two
rows), random scale and in-plane rotation, partial overlaps allowed with per-keypoint visibility
recomputed from the masks, truncation at the border labelled, 3D labels kept exact.

Geometry. Every hand k of a composite is one source hand (image, mask, keypoints, K, 3D) moved by
a 2D map A_k = A_sim ∘ F: F is the optional mirror x' = W_src - 1 - x (a mirrored right hand IS a
left hand: side 0, 3D x negated, K flipped, as `augment.flip_horizontal`), and A_sim =
[s R(theta) | t] a similarity that takes the hand's keypoint-box centre to its layout centre and
its box side to its layout size. As in `augment.warp`, the new camera of hand k is K_k = [[U,
M c + t], [0, 0, 1]] with M K[:2,:2] = U Rz(phi), and its 3D points are rotated by Rz(phi) about
the optical axis, so `project(joints3d_k, K_k) == keypoints2d_k` holds exactly. Hands in one
composite have different cameras, so the per-hand K is stored with the hand (Sample.meta
["K_hands"] [M,3,3] until the schema has a per-hand K field); `Sample.K` is None.

Order and visibility. Hands are pasted in slot order (hard alpha: warped mask >= 0.5); the instance
mask holds k+1 where hand k is on top. Keypoint j of hand k is visible iff it was visible in the
source, lies inside the canvas, and the instance mask at its (rounded) pixel is not a LATER hand.
A hand is `truncated` when a labelled keypoint falls outside the canvas or its mask touches the
canvas border (Sample.meta["truncated"] [M] bool).

Layout. The canvas of hand count n is cut into g x g cells, g = ceil(sqrt(n)); the n hands take
distinct random cells, their centres jitter by +-`jitter` of a cell (so neighbours may overlap and
border hands may be cut), their keypoint-box side is `size_range` x cell side, their rotation is
uniform in +-rotation_deg and each is mirrored into a left hand with probability `left_prob`.

Two executions of the same layout:
- `compose_sample` (numpy/OpenCV, one composite; the torch `ComposedHands` dataset uses it with a
  deterministic per-index seed, so it works inside a DataLoader),
- `compose_batch` (torch, B composites at once with grid_sample; on the GPU for on-the-fly
  training: one grid_sample per hand slot, no loop over images).
Both share `sample_layout`, `paste_affines` and `place_cameras`, so they give the same labels.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from smhr.data.backgrounds import BackgroundFolder, background_uint8, procedural_backgrounds
from smhr.data.sample import (
    NUM_KEYPOINTS,
    HandLabel,
    HandParams,
    Sample,
    SampleDataset,
    require,
)

# OpenCV is imported inside the numpy paths only: the batched torch path (GPU training) needs only torch.
MULTI_JSON = "training_multi.json"
FORMAT_VERSION = 1


# ----------------------------------------------------------------------------- configuration
@dataclass
class ComposeConfig:
    """Random layout settings (see module docstring).

    out_size: canvas side px. min_hands / max_hands: hand count, uniform. size_range: hand
    keypoint-box side as a fraction of its layout cell. jitter: centre jitter as a fraction of the
    cell. rotation_deg: max |in-plane rotation|. left_prob: probability to mirror a source hand
    into a left hand. gain_range: per-hand brightness gain (so pasted hands do not all share the
    source's exposure); (1, 1) disables it.
    """

    out_size: int = 384
    min_hands: int = 1
    max_hands: int = 6
    size_range: tuple[float, float] = (0.4, 0.8)
    jitter: float = 0.25
    rotation_deg: float = 45.0
    left_prob: float = 0.5
    gain_range: tuple[float, float] = (0.75, 1.25)

    def __post_init__(self) -> None:
        if not 1 <= self.min_hands <= self.max_hands:
            raise ValueError(f"need 1 <= min_hands <= max_hands, got {self.min_hands}, {self.max_hands}")
        if self.out_size < 16:
            raise ValueError(f"out_size must be >= 16 px, got {self.out_size}")


@dataclass
class Layout:
    """Random placement of up to M hands on B canvases (all tensors on one device).

    valid [B,M] bool (slot used; slots k < count are used), src [B,M] long (source index),
    mirror [B,M] bool (becomes a left hand), size [B,M] px (keypoint-box side on the canvas),
    angle [B,M] rad (in-plane rotation, + = clockwise on screen), center [B,M,2] px, gain [B,M].
    """

    valid: torch.Tensor
    src: torch.Tensor
    mirror: torch.Tensor
    size: torch.Tensor
    angle: torch.Tensor
    center: torch.Tensor
    gain: torch.Tensor

    def select(self, b: int) -> Layout:
        """The layout of canvas b alone (batch size 1)."""
        return Layout(**{k: v[b : b + 1] for k, v in asdict(self).items()})

    def to(self, device: torch.device | str) -> Layout:
        return Layout(**{k: v.to(device) for k, v in asdict(self).items()})


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
    return Layout(
        valid=torch.arange(M, device=dev)[None, :] < count[:, None],
        src=torch.randint(num_sources, (B, M), generator=generator, device=dev),
        mirror=rand(B, M) < cfg.left_prob,
        size=size,
        angle=angle,
        center=center,
        gain=glo + (ghi - glo) * rand(B, M),
    )


# ----------------------------------------------------------------------------- shared geometry
def paste_affines(
    layout: Layout, keypoints2d: torch.Tensor, visibility: torch.Tensor, src_width: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Source -> canvas maps of every slot.

    keypoints2d [B,M,21,2] px and visibility [B,M,21] of each slot's source hand (unmirrored),
    src_width [B,M] source image widths px. Returns (A [B,M,2,3], A_sim [B,M,2,3]): A maps source
    pixels to the canvas (mirror included, det < 0 when mirrored), A_sim is its similarity part
    (applied after the mirror). The keypoint box uses the visible keypoints (all when none is).
    """
    dt = keypoints2d.dtype
    W = src_width.to(dt)
    sign = torch.where(layout.mirror, -1.0, 1.0).to(dt)
    kp = keypoints2d.clone()
    kp[..., 0] = torch.where(layout.mirror[..., None], W[..., None] - 1 - kp[..., 0], kp[..., 0])
    vis = visibility & visibility.any(-1, keepdim=True) | ~visibility.any(-1, keepdim=True)
    big = torch.finfo(dt).max
    lo = torch.where(vis[..., None], kp, torch.full_like(kp, big)).amin(-2)
    hi = torch.where(vis[..., None], kp, torch.full_like(kp, -big)).amax(-2)
    c = (lo + hi) / 2
    side = (hi - lo).amax(-1).clamp(min=1.0)
    s = layout.size.to(dt) / side
    cos, sin = torch.cos(layout.angle.to(dt)), torch.sin(layout.angle.to(dt))
    Ms = torch.stack([torch.stack([s * cos, -s * sin], -1), torch.stack([s * sin, s * cos], -1)], -2)
    ts = layout.center.to(dt) - (Ms @ c[..., None])[..., 0]
    A_sim = torch.cat([Ms, ts[..., None]], -1)
    # A = A_sim o F, F(x, y) = (sign x + (1 - sign)/2 (W - 1), y)
    Mf = Ms.clone()
    Mf[..., :, 0] = Ms[..., :, 0] * sign[..., None]
    tf = ts + Ms[..., :, 0] * ((1 - sign) / 2 * (W - 1))[..., None]
    return torch.cat([Mf, tf[..., None]], -1), A_sim


def place_cameras(
    A_sim: torch.Tensor, mirror: torch.Tensor, K: torch.Tensor, src_width: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """New per-hand intrinsics and the 3D rotation of each pasted hand.

    A_sim [...,2,3], mirror [...] bool, K [...,3,3] source intrinsics, src_width [...] px.
    Returns (K_new [...,3,3], R3 [...,3,3]) such that the hand's camera-frame points X become
    X' = R3 @ diag(-1 if mirror else 1, 1, 1) @ X and project(X', K_new) == A(project(X, K)).
    Same RQ factorisation as `augment.rq_2x2` (M K = U Rz(phi)), batched.
    """
    dt = A_sim.dtype
    K = K.to(dt)
    Kf = K.clone()
    W = src_width.to(dt)
    Kf[..., 0, 2] = torch.where(mirror, W - 1 - K[..., 0, 2], K[..., 0, 2])
    Kf[..., 0, 1] = torch.where(mirror, -K[..., 0, 1], K[..., 0, 1])
    M, t = A_sim[..., :2], A_sim[..., 2]
    N = M @ Kf[..., :2, :2]
    a, b, c, d = N[..., 0, 0], N[..., 0, 1], N[..., 1, 0], N[..., 1, 1]
    r = torch.sqrt(c * c + d * d)
    det = a * d - b * c
    K_new = torch.zeros_like(K)
    K_new[..., 0, 0] = det / r
    K_new[..., 0, 1] = (a * c + b * d) / r
    K_new[..., 1, 1] = r
    K_new[..., :2, 2] = (M @ Kf[..., :2, 2:3])[..., 0] + t
    K_new[..., 2, 2] = 1
    phi = torch.atan2(c, d)
    R3 = torch.zeros_like(K)
    R3[..., 0, 0], R3[..., 0, 1] = torch.cos(phi), -torch.sin(phi)
    R3[..., 1, 0], R3[..., 1, 1] = torch.sin(phi), torch.cos(phi)
    R3[..., 2, 2] = 1
    return K_new, R3


def _apply_affine(A: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """A [...,2,3], points [...,N,2] -> [...,N,2]."""
    return points @ A[..., :2].transpose(-1, -2) + A[..., None, :, 2]


def keypoint_visibility(
    keypoints2d: torch.Tensor, src_visibility: torch.Tensor, valid: torch.Tensor, instance: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Visibility [B,M,21] and 'outside' [B,M,21] of canvas keypoints [B,M,21,2].

    instance [B,H,W] long: 0 background, k+1 = slot k on top. A keypoint is visible when it was
    visible in the source, lies inside the canvas and no LATER slot covers its (rounded) pixel.
    """
    B, M = valid.shape
    H, W = instance.shape[-2:]
    x, y = keypoints2d[..., 0], keypoints2d[..., 1]
    outside = (x < -0.5) | (x >= W - 0.5) | (y < -0.5) | (y >= H - 0.5)
    xi = torch.round(x).long().clamp(0, W - 1)
    yi = torch.round(y).long().clamp(0, H - 1)
    owner = torch.gather(instance.reshape(B, 1, H * W).expand(B, M, H * W), 2, yi * W + xi)
    slot = torch.arange(1, M + 1, device=instance.device).view(1, M, 1)
    covered = owner > slot
    vis = src_visibility & ~outside & ~covered & valid[..., None]
    return vis, outside & src_visibility & valid[..., None]


# ----------------------------------------------------------------------------- per-sample path
def _source_hand(sample: Sample, where: str) -> tuple[HandLabel, np.ndarray]:
    """The labelled hand of a source sample and its binary mask (HxW bool)."""
    if sample.mask is None or not sample.hands:
        raise ValueError(
            f"compose: source sample {where} has no mask or no hand; use a FreiHAND-layout source with "
            "training/mask (e.g. one written by `smhr synth`)"
        )
    return sample.hands[0], sample.mask == 1


def _intrinsics(sample: Sample) -> np.ndarray:
    """The source's K, or for a 2D-only source (K None, no 3D labels) a stand-in camera of focal =
    image width at the image centre: only 2D labels are composed then, which need no camera."""
    if sample.K is not None:
        return sample.K
    if any(h.joints3d is not None for h in sample.hands):
        raise ValueError(f"compose: source sample {sample.id} has 3D labels but no intrinsics K")
    H, W = sample.image.shape[:2]
    return np.array([[W, 0.0, (W - 1) / 2], [0.0, W, (H - 1) / 2], [0.0, 0.0, 1.0]], np.float32)


def compose_sample(
    sources: Sequence[Sample], layout: Layout, background: np.ndarray, index_ids: Sequence[str] = ()
) -> Sample:
    """Compose one canvas (layout of batch size 1) from `sources` (one Sample per used slot, in slot
    order; each with image, mask (1 = hands[0]), K and hands[0]) on `background` (RxRx3 uint8).

    Returns a Sample: image RxRx3 uint8, mask RxR uint8 instance ids, K None, hands in slot order,
    meta K_hands [n,3,3] float32, truncated [n] bools, mirrored [n] bools, source ids.
    """
    n = int(layout.valid[0].sum())
    if len(sources) != n:
        raise ValueError(f"compose_sample: layout uses {n} slots but {len(sources)} sources were given")
    import cv2

    R = background.shape[0]
    lay = Layout(**{k: v[:, :n].cpu() for k, v in asdict(layout).items()})
    hands, masks = (
        zip(*[_source_hand(s, s.id or str(i)) for i, s in enumerate(sources)], strict=True) if n else ((), ())
    )
    kp = (
        torch.from_numpy(np.stack([h.keypoints2d for h in hands]).astype(np.float64))[None]
        if n
        else torch.zeros(1, 0, NUM_KEYPOINTS, 2, dtype=torch.float64)
    )
    vis = (
        torch.from_numpy(np.stack([h.visibility for h in hands]))[None]
        if n
        else torch.zeros(1, 0, NUM_KEYPOINTS, dtype=torch.bool)
    )
    width = torch.tensor([[s.image.shape[1] for s in sources]], dtype=torch.float64)
    Ksrc = (
        torch.from_numpy(np.stack([_intrinsics(s) for s in sources]).astype(np.float64))[None]
        if n
        else torch.zeros(1, 0, 3, 3, dtype=torch.float64)
    )
    A, A_sim = paste_affines(lay, kp, vis, width)
    K_new, R3 = place_cameras(A_sim, lay.mirror, Ksrc, width)

    canvas = background.copy()
    instance = np.zeros((R, R), np.uint8)
    touches = []
    for k in range(n):
        Ak = A[0, k].numpy()
        img = cv2.warpAffine(sources[k].image, Ak, (R, R), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0))
        alpha = cv2.warpAffine(masks[k].astype(np.float32), Ak, (R, R), flags=cv2.INTER_LINEAR) >= 0.5
        gain = float(lay.gain[0, k])
        if gain != 1.0:
            img = np.clip(img.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        canvas[alpha] = img[alpha]
        instance[alpha] = k + 1
        touches.append(bool(alpha[0].any() or alpha[-1].any() or alpha[:, 0].any() or alpha[:, -1].any()))
    kp_new = _apply_affine(A, kp)
    new_vis, outside = keypoint_visibility(kp_new, vis, lay.valid, torch.from_numpy(instance).long()[None])

    out_hands = []
    neg = np.array([-1.0, 1.0, 1.0])
    for k in range(n):
        h = hands[k]
        mirror = bool(lay.mirror[0, k])
        R3k = R3[0, k].numpy()
        flip = neg if mirror else np.ones(3)
        params = h.params
        if params is not None:
            params = _moved_params(params, mirror, R3k)
        out_hands.append(
            HandLabel(
                side=1 - h.side if mirror else h.side,
                keypoints2d=kp_new[0, k].numpy(),
                visibility=new_vis[0, k].numpy(),
                joints3d=None if h.joints3d is None else (h.joints3d * flip) @ R3k.T,
                vertices=None if h.vertices is None else (h.vertices * flip) @ R3k.T,
                params=params,
            )
        )
    truncated = [bool(outside[0, k].any()) or touches[k] for k in range(n)]
    return Sample(
        image=canvas,
        K=None,
        hands=out_hands,
        mask=instance,
        source="composed",
        meta={
            # NaN for hands whose source had no camera (2D-only labels, `_intrinsics`)
            "K_hands": np.where(np.array([s.K is None for s in sources]).reshape(n, 1, 1), np.nan,
                                K_new[0].numpy()).astype(np.float32).reshape(n, 3, 3),
            "truncated": truncated,
            "mirrored": [bool(m) for m in lay.mirror[0]],
            "source_ids": list(index_ids) or [s.id for s in sources],
            "mask_approx": any(s.meta.get("mask_approx", False) for s in sources),
        },
    )


def _moved_params(params: HandParams, mirror: bool, R3: np.ndarray) -> HandParams:
    """Model parameters after the mirror (other side's model) and the rotation about the optical
    axis (global orientation R' = R3 R; translation unknown after a rotation, as in augment.warp)."""
    from scipy.spatial.transform import Rotation

    from smhr.data.augment import mirror_params

    p = mirror_params(params) if mirror else HandParams(**asdict(params))
    if not np.allclose(R3, np.eye(3)):
        R = R3 @ Rotation.from_rotvec(p.global_orient.astype(np.float64)).as_matrix()
        p.global_orient = Rotation.from_matrix(R).as_rotvec().astype(np.float32)
        p.transl = None
    return p


def _seed(seed: int, index: int) -> int:
    return int(np.random.SeedSequence([seed, index]).generate_state(1, np.uint64)[0] >> 1)


class ComposedHands(SampleDataset):
    """Endless-style dataset of multi-hand composites drawn on the fly from a single-hand source.

    source: any SampleDataset (or sequence of Samples) whose samples carry image, mask (1 = the
    hand), K and hands[0] - e.g. `FreiHAND(root)` of real or `smhr synth` data. length: number of
    composites. Item i is a pure function of (seed, i): the same index always gives the same
    composite, in any worker. backgrounds: an image folder, any object with `.sample(rng, size)`
    (e.g. `MixedBackgrounds`), or None (procedural).
    """

    def __init__(
        self,
        source: SampleDataset | Sequence[Sample],
        length: int,
        cfg: ComposeConfig | None = None,
        seed: int = 0,
        backgrounds: str | Path | Any | None = None,
        transform: Any = None,
    ) -> None:
        self.source = source
        self.length = int(length)
        self.cfg = cfg or ComposeConfig()
        self.seed = int(seed)
        if isinstance(backgrounds, (str, Path)):
            backgrounds = BackgroundFolder(backgrounds)
        self.backgrounds = backgrounds  # a folder, a `MixedBackgrounds`, or None (procedural)
        self.transform = transform
        if len(source) == 0:
            raise ValueError("ComposedHands: the source dataset is empty; pass masked single-hand data")

    def __len__(self) -> int:
        return self.length

    def _source(self, j: int) -> Sample:
        if isinstance(self.source, SampleDataset):
            return self.source.load(j)
        return self.source[j]

    def layout(self, index: int) -> tuple[Layout, torch.Generator]:
        """The layout of composite `index` and the generator state that then draws its background."""
        g = torch.Generator().manual_seed(_seed(self.seed, index))
        return sample_layout(1, len(self.source), self.cfg, generator=g), g

    def load(self, index: int) -> Sample:
        lay, g = self.layout(index)
        bg = background_uint8(self.cfg.out_size, g, self.backgrounds)
        n = int(lay.valid[0].sum())
        srcs = [self._source(int(j)) for j in lay.src[0, :n]]
        out = compose_sample(srcs, lay, bg)
        out.id = f"composed/{index:08d}"
        out.meta["seed"] = self.seed
        return out


# ----------------------------------------------------------------------------- batched path
def _grid_theta(A: torch.Tensor, src_hw: tuple[int, int], out_size: int) -> torch.Tensor:
    """affine_grid theta [...,2,3]: canvas normalised coords -> source normalised coords.

    Pixel centre i of a side-S image sits at normalised (2 i + 1) / S - 1 (align_corners=False).
    """
    h, w = src_hw
    R = float(out_size)
    dt = A.dtype
    shape = A.shape[:-2]
    A3 = torch.cat([A, torch.tensor([0.0, 0.0, 1.0], dtype=dt, device=A.device).expand(*shape, 1, 3)], -2)
    Ainv = torch.linalg.inv(A3)
    # canvas norm -> canvas px: p = ((n + 1) R - 1) / 2
    N2P = torch.tensor(
        [[R / 2, 0, (R - 1) / 2], [0, R / 2, (R - 1) / 2], [0, 0, 1]], dtype=dt, device=A.device
    )
    # source px -> source norm: n = (2 p + 1) / S - 1
    P2N = torch.tensor([[2 / w, 0, 1 / w - 1], [0, 2 / h, 1 / h - 1], [0, 0, 1]], dtype=dt, device=A.device)
    return (P2N @ Ainv @ N2P)[..., :2, :]


def compose_batch(
    images: torch.Tensor,
    masks: torch.Tensor,
    keypoints2d: torch.Tensor,
    visibility: torch.Tensor,
    K: torch.Tensor,
    side: torch.Tensor,
    layout: Layout,
    out_size: int = 384,
    backgrounds: torch.Tensor | None = None,
    joints3d: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Compose B canvases from N source crops on the sources' device (GPU for training).

    images [N,3,h,w] uint8 or float in [0,1]; masks [N,h,w] (hand > 0.5 after /255 for uint8);
    keypoints2d [N,21,2] px; visibility [N,21] bool; K [N,3,3]; side [N] long; layout: B canvases
    x M slots whose `src` index these N sources; backgrounds [B,3,R,R] float in [0,1], or None for
    procedural ones of side R = out_size drawn on the device with `generator` (a generator on that
    device); joints3d [N,21,3] m or None.

    Returns images [B,3,R,R] float, instance [B,R,R] long (0 bg, k+1 slot k), valid [B,M],
    side [B,M] long, keypoints2d [B,M,21,2], visibility [B,M,21], truncated [B,M], K [B,M,3,3],
    R3 [B,M,3,3] and mirror [B,M] (3D of slot k: X' = R3 diag(+-1,1,1) X), joints3d [B,M,21,3]
    when given. One grid_sample per slot (M <= max_hands), vectorised over the batch.
    """
    dev = images.device
    layout = layout.to(dev)
    B, M = layout.valid.shape
    h, w = images.shape[-2:]
    if backgrounds is None:
        backgrounds = procedural_backgrounds(B, out_size, generator=generator, device=dev)
    R = int(backgrounds.shape[-1])
    img = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    msk = masks.float() / 255.0 if masks.dtype == torch.uint8 else masks.float()
    src = torch.cat([img, msk[:, None]], 1)  # [N,4,h,w]

    kp = keypoints2d.float()[layout.src]  # [B,M,21,2]
    vis_src = visibility.bool()[layout.src]
    width = torch.full((B, M), float(w), device=dev)
    A, A_sim = paste_affines(layout, kp, vis_src, width)
    K_new, R3 = place_cameras(A_sim, layout.mirror, K.float()[layout.src], width)
    theta = _grid_theta(A, (h, w), R)  # [B,M,2,3]

    canvas = backgrounds.to(dev).float().clone()
    instance = torch.zeros(B, R, R, dtype=torch.long, device=dev)
    touches = torch.zeros(B, M, dtype=torch.bool, device=dev)
    for k in range(M):
        grid = F.affine_grid(theta[:, k], [B, 4, R, R], align_corners=False)
        warped = F.grid_sample(
            src[layout.src[:, k]], grid, mode="bilinear", padding_mode="zeros", align_corners=False
        )
        alpha = (warped[:, 3] >= 0.5) & layout.valid[:, k, None, None]
        rgb = (warped[:, :3] * layout.gain[:, k, None, None, None]).clamp(0, 1)
        canvas = torch.where(alpha[:, None], rgb, canvas)
        instance = torch.where(alpha, torch.full_like(instance, k + 1), instance)
        edge = alpha[:, 0].any(-1) | alpha[:, -1].any(-1) | alpha[:, :, 0].any(-1) | alpha[:, :, -1].any(-1)
        touches[:, k] = edge
    kp_new = _apply_affine(A, kp)
    vis, outside = keypoint_visibility(kp_new, vis_src, layout.valid, instance)
    sides = side.long()[layout.src]
    out = {
        "images": canvas,
        "instance": instance,
        "valid": layout.valid,
        "side": torch.where(layout.mirror, 1 - sides, sides) * layout.valid,
        "keypoints2d": kp_new,
        "visibility": vis,
        "truncated": (outside.any(-1) | touches) & layout.valid,
        "K": K_new,
        "R3": R3,
        "mirror": layout.mirror,
    }
    if joints3d is not None:
        flip = torch.ones(B, M, 3, device=dev)
        flip[..., 0] = torch.where(layout.mirror, -1.0, 1.0)
        out["joints3d"] = (joints3d.float()[layout.src] * flip[:, :, None]) @ R3.transpose(-1, -2)
    return out


def samples_to_sources(
    samples: Sequence[Sample], device: torch.device | str = "cpu"
) -> dict[str, torch.Tensor]:
    """Stack same-size single-hand Samples into the tensors `compose_batch` takes (on `device`)."""
    items = [_source_hand(s, s.id or str(i)) for i, s in enumerate(samples)]
    sizes = {s.image.shape for s in samples}
    if len(sizes) != 1:
        raise ValueError(f"samples_to_sources: source images must share one size, got {sorted(sizes)}")
    out = {
        "images": torch.from_numpy(np.stack([s.image for s in samples])).permute(0, 3, 1, 2),
        "masks": torch.from_numpy(np.stack([m for _, m in items]).astype(np.uint8) * 255),
        "keypoints2d": torch.from_numpy(np.stack([h.keypoints2d for h, _ in items])),
        "visibility": torch.from_numpy(np.stack([h.visibility for h, _ in items])),
        "K": torch.from_numpy(np.stack([_intrinsics(s) for s in samples])),
        "side": torch.tensor([h.side for h, _ in items]),
    }
    if all(h.joints3d is not None for h, _ in items):
        out["joints3d"] = torch.from_numpy(np.stack([h.joints3d for h, _ in items]))
    return {k: v.to(device) for k, v in out.items()}


# ----------------------------------------------------------------------------- disk
def _jsonable(x: Any) -> Any:
    return np.asarray(x).tolist()


def write_composed(
    dataset: ComposedHands,
    out: str | Path,
    n: int | None = None,
    progress: bool = True,
    with_vertices: bool = False,
) -> Path:
    """Write n composites (default: the whole dataset) in a FreiHAND-like layout:

    OUT/training/rgb/%08d.jpg     composite images (JPEG quality 95, 4:4:4)
    OUT/training/mask/%08d.png    instance masks (PNG: 0 background, k+1 = hand k; JPEG would
                                  blend the ids)
    OUT/training_multi.json       one entry per image with its hand list (see docs)
    OUT/meta.json                 generator settings, seed, source
    """
    import cv2

    # quality 95 without chroma subsampling: saturated hand/background edges keep their colour
    jpeg = [
        cv2.IMWRITE_JPEG_QUALITY,
        95,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
    ]
    out = Path(out)
    (out / "training" / "rgb").mkdir(parents=True, exist_ok=True)
    (out / "training" / "mask").mkdir(parents=True, exist_ok=True)
    n = len(dataset) if n is None else int(n)
    records = []
    it: Any = range(n)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="compose", unit="img")
    for i in it:
        s = dataset.load(i)
        rgb, mask = f"training/rgb/{i:08d}.jpg", f"training/mask/{i:08d}.png"
        cv2.imwrite(str(out / rgb), cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR), jpeg)
        cv2.imwrite(str(out / mask), s.mask)
        hands = []
        for k, h in enumerate(s.hands):
            rec = {
                "side": int(h.side),
                "keypoints2d": _jsonable(h.keypoints2d),
                "visibility": [bool(v) for v in h.visibility],
                "truncated": bool(s.meta["truncated"][k]),
                "K": _jsonable(s.meta["K_hands"][k]),
                "xyz": None if h.joints3d is None else _jsonable(h.joints3d),
                "params": None
                if h.params is None
                else {
                    "theta": _jsonable(h.params.flat()),
                    "has_transl": h.params.transl is not None,
                    "model": h.params.model,
                    "pose_space": h.params.pose_space,
                },
                "source": s.meta["source_ids"][k],
            }
            if with_vertices and h.vertices is not None:
                rec["verts"] = _jsonable(h.vertices)
            hands.append(rec)
        records.append({"image": rgb, "mask": mask, "hands": hands})
    with open(out / MULTI_JSON, "w") as f:
        json.dump(records, f)
    cfg = asdict(dataset.cfg)
    meta = {
        "format": "smhr-composed",
        "version": FORMAT_VERSION,
        "count": n,
        "seed": dataset.seed,
        "config": cfg,
        "source": str(getattr(dataset.source, "root", type(dataset.source).__name__)),
        "backgrounds": None if dataset.backgrounds is None else str(getattr(dataset.backgrounds, "root",
                                                                                type(dataset.backgrounds).__name__)),
    }
    with open(out / "meta.json", "w") as f:
        json.dump(meta, f, indent=2)
    return out


class ComposedFolder(SampleDataset):
    """Read back a set written by `write_composed` / `smhr compose` (per-hand K in meta["K_hands"])."""

    LAYOUT = "<root>/training/rgb/%08d.jpg, <root>/training/mask/%08d.png, <root>/training_multi.json"

    def __init__(self, root: str | Path, transform: Any = None) -> None:
        self.root = Path(root)
        self.transform = transform
        with open(require(self.root / MULTI_JSON, "composed", self.LAYOUT)) as f:
            self.records = json.load(f)

    def __len__(self) -> int:
        return len(self.records)

    def load(self, index: int) -> Sample:
        from smhr.io.images import read_gray, read_rgb

        rec = self.records[index]
        hands, Ks, trunc = [], [], []
        for h in rec["hands"]:
            params = None
            if h.get("params"):
                th = np.asarray(h["params"]["theta"], np.float32)
                transl = th[58:61] if h["params"]["has_transl"] else None
                params = HandParams(
                    th[:3],
                    th[3:48],
                    th[48:58],
                    transl,
                    model=h["params"]["model"],
                    pose_space=h["params"]["pose_space"],
                )
            hands.append(
                HandLabel(
                    side=h["side"],
                    keypoints2d=h["keypoints2d"],
                    visibility=h["visibility"],
                    joints3d=h["xyz"],
                    vertices=h.get("verts"),
                    params=params,
                )
            )
            Ks.append(h["K"])
            trunc.append(bool(h["truncated"]))
        return Sample(
            image=read_rgb(self.root / rec["image"]),
            K=None,
            hands=hands,
            mask=read_gray(self.root / rec["mask"]),
            image_path=str(self.root / rec["image"]),
            source="composed",
            id=rec["image"],
            meta={"K_hands": np.asarray(Ks, np.float32).reshape(-1, 3, 3), "truncated": trunc},
        )


__all__ = [
    "ComposeConfig",
    "ComposedFolder",
    "ComposedHands",
    "Layout",
    "compose_batch",
    "compose_sample",
    "paste_affines",
    "place_cameras",
    "sample_layout",
    "samples_to_sources",
    "write_composed",
]
