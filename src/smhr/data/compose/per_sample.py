"""The per-sample execution (numpy / OpenCV): one composite at a time, and the `ComposedHands`
dataset that draws composite i from a deterministic per-index seed (so it works in any
DataLoader worker and the same index always gives the same image).

Hands are pasted in slot order (hard alpha: warped mask >= 0.5); the instance mask holds k+1 where
hand k is on top. A source with an arm (`Sample.meta["arm_mask"]`, `smhr synth --arm-prob`) is
pasted with it: the arm's pixels are no hand's in the instance mask but hide earlier hands. A hand
is `truncated` when a labelled keypoint falls outside the canvas or its mask touches the canvas
border (Sample.meta["truncated"] [M] bool). OpenCV is imported inside the functions: the batched
torch path needs only torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smhr.data.backgrounds import BackgroundFolder, background_uint8
from smhr.data.compose.effects import low_light, motion_blur
from smhr.data.compose.geometry import apply_affine, keypoint_visibility, paste_affines, place_cameras
from smhr.data.compose.layout import ComposeConfig, Layout, sample_layout
from smhr.data.compose.occluders import draw as draw_occluder
from smhr.data.sample import NUM_KEYPOINTS, HandLabel, HandParams, Sample, SampleDataset


def source_hand(sample: Sample, where: str) -> tuple[HandLabel, np.ndarray]:
    """The labelled hand of a source sample and its binary mask (HxW bool)."""
    if sample.mask is None or not sample.hands:
        raise ValueError(
            f"compose: source sample {where} has no mask or no hand; use a FreiHAND-layout source with "
            "training/mask (e.g. one written by `smhr synth`)"
        )
    return sample.hands[0], sample.mask == 1


def source_intrinsics(sample: Sample) -> np.ndarray:
    """The camera of the source's hand (`Sample.camera_of`), or for a 2D-only source (no camera, no
    3D labels) a stand-in camera of focal = image width at the image centre: only 2D labels are
    composed then, which need no camera (the composite's hand gets K None)."""
    K = sample.camera_of(sample.hands[0])
    if K is not None:
        return K
    if any(h.joints3d is not None for h in sample.hands):
        raise ValueError(f"compose: source sample {sample.id} has 3D labels but no intrinsics K")
    H, W = sample.image.shape[:2]
    return np.array([[W, 0.0, (W - 1) / 2], [0.0, W, (H - 1) / 2], [0.0, 0.0, 1.0]], np.float32)


def compose_sample(
    sources: Sequence[Sample],
    layout: Layout,
    background: np.ndarray,
    index_ids: Sequence[str] = (),
    cfg: ComposeConfig | None = None,
    rng: np.random.Generator | None = None,
) -> Sample:
    """Compose one canvas (layout of batch size 1) from `sources` (one Sample per used slot, in slot
    order; each with image, mask (1 = hands[0]), K and hands[0]) on `background` (RxRx3 uint8).
    cfg's pixel switches (occluders, motion blur, low light) draw from `rng` (default seed 0).

    Returns a Sample: image RxRx3 uint8, mask RxR uint8 instance ids, K None, hands in slot order
    each with its own camera `HandLabel.K` (None where the source had none: 2D-only labels), meta
    truncated [n] bools, mirrored [n] bools, source ids; with the switches on also occluders [n]
    (the held object's kind or None), motion_blur (px, 0 = none), low_light (gain, 0 = none).
    """
    n = int(layout.valid[0].sum())
    if len(sources) != n:
        raise ValueError(f"compose_sample: layout uses {n} slots but {len(sources)} sources were given")
    import cv2

    R = background.shape[0]
    lay = layout.map(lambda v: v[:, :n].cpu())
    hands, masks = (
        zip(*[source_hand(s, s.id or str(i)) for i, s in enumerate(sources)], strict=True) if n else ((), ())
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
        torch.from_numpy(np.stack([source_intrinsics(s) for s in sources]).astype(np.float64))[None]
        if n
        else torch.zeros(1, 0, 3, 3, dtype=torch.float64)
    )
    A, A_sim = paste_affines(lay, kp, vis, width)
    K_new, R3 = place_cameras(A_sim, lay.mirror, Ksrc, width)

    canvas = background.copy()
    instance = np.zeros((R, R), np.uint8)
    cover = np.zeros((R, R), np.uint8)  # instance plus each hand's arm (what hides earlier hands)
    kp_new = apply_affine(A, kp)
    holding = cfg is not None and cfg.occluder_prob > 0
    if cfg is not None and cfg.pixel_effects and rng is None:
        rng = np.random.default_rng(0)
    held = np.zeros((R, R), np.uint8) if holding else None
    kinds: list[str | None] = [None] * n
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
        cover[alpha] = k + 1
        arm = sources[k].meta.get("arm_mask")  # the hand's own arm (`smhr synth --arm-prob`)
        if arm is not None:
            arm = (cv2.warpAffine(arm.astype(np.float32), Ak, (R, R), flags=cv2.INTER_LINEAR) >= 0.5) & ~alpha
            canvas[arm] = img[arm]
            instance[arm] = 0
            cover[arm] = k + 1
        touches.append(bool(alpha[0].any() or alpha[-1].any() or alpha[:, 0].any() or alpha[:, -1].any()))
        if held is not None and rng is not None and cfg is not None:  # a held object over hand k
            x, y, w, h = cv2.boundingRect(alpha.view(np.uint8))
            box = (slice(y, y + h), slice(x, x + w))
            held[box][alpha[box]] = 0  # (an earlier hand's object under hand k hides nothing of it)
            drawn = None
            if rng.random() < cfg.occluder_prob:
                ys, xs = np.nonzero(alpha[box])  # hand k's pixels: it was pasted last
                drawn = draw_occluder(canvas, (ys + y, xs + x), kp_new[0, k].numpy(), rng,
                                      cfg.occluder_cover, background)  # fmt: skip
            if drawn is not None:
                win, obj, kinds[k] = drawn
                instance[win][obj] = 0
                cover[win][obj] = 0
                held[win][obj] = k + 1
    extra: dict[str, Any] = {} if lay.fill is None else {"frame_fill": bool(lay.fill[0].any())}
    if cfg is not None and rng is not None:
        extra.update(_camera_effects(canvas, cfg, rng))
        canvas = extra.pop("image")
        if holding:
            extra["occluders"] = kinds
    new_vis, outside = keypoint_visibility(
        kp_new, vis, lay.valid, torch.from_numpy(cover).long()[None],
        None if held is None else torch.from_numpy(held).long()[None],
    )  # fmt: skip

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
                K=None if sources[k].camera_of(h) is None else K_new[0, k].numpy(),
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
            "truncated": truncated,
            "mirrored": [bool(m) for m in lay.mirror[0]],
            "source_ids": list(index_ids) or [s.id for s in sources],
            "mask_approx": any(s.meta.get("mask_approx", False) for s in sources),
            **extra,
        },
    )


def _camera_effects(canvas: np.ndarray, cfg: ComposeConfig, rng: np.random.Generator) -> dict[str, Any]:
    """Motion blur, then low light, each with its probability: {"image", and per switch that is on,
    "motion_blur": px or 0, "low_light": gain or 0}."""
    out: dict[str, Any] = {}
    if cfg.motion_blur_prob > 0:
        out["motion_blur"] = 0
        if rng.random() < cfg.motion_blur_prob:
            canvas, out["motion_blur"] = motion_blur(canvas, rng, cfg.motion_blur_max)
    if cfg.low_light_prob > 0:
        out["low_light"] = 0.0
        if rng.random() < cfg.low_light_prob:
            canvas, out["low_light"] = low_light(canvas, rng, tuple(cfg.low_light_range))
    out["image"] = canvas
    return out


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
    composite, in any worker; `set_epoch(e)` moves to epoch e's composites. backgrounds: an image
    folder, any object with `.sample(rng, size)` (e.g. `MixedBackgrounds`), or None (procedural).
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
        self.base_seed = self.seed
        if isinstance(backgrounds, (str, Path)):
            backgrounds = BackgroundFolder(backgrounds)
        self.backgrounds = backgrounds  # a folder, a `MixedBackgrounds`, or None (procedural)
        self.transform = transform
        if len(source) == 0:
            raise ValueError("ComposedHands: the source dataset is empty; pass masked single-hand data")

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """Draw epoch `epoch`'s composites: the seed becomes base_seed * 1_000_003 + epoch, so every
        epoch sees new layouts and backgrounds while staying a pure function of (seed, epoch, i)."""
        self.seed = self.base_seed * 1_000_003 + int(epoch)

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
        # the pixel switches draw from their own stream, so the layout and background stay those
        # of the same seed without them
        rng = np.random.default_rng([self.seed, index, 1]) if self.cfg.pixel_effects else None
        out = compose_sample(srcs, lay, bg, cfg=self.cfg, rng=rng)
        out.id = f"composed/{index:08d}"
        out.meta["seed"] = self.seed
        return out
