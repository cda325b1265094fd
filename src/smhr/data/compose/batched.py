"""The batched execution (torch): B composites at once with grid_sample, on the sources' device.

For on-the-fly training on the GPU: one grid_sample per hand slot (M <= max_hands), vectorised
over the batch, no loop over images. It reads the same `Layout` and shared geometry as
`per_sample.compose_sample`, so both give the same labels (tested).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from smhr.data.backgrounds import procedural_backgrounds
from smhr.data.compose.geometry import apply_affine, keypoint_visibility, paste_affines, place_cameras
from smhr.data.compose.layout import Layout
from smhr.data.compose.per_sample import source_hand, source_intrinsics
from smhr.data.sample import Sample


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
    kp_new = apply_affine(A, kp)
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
    items = [source_hand(s, s.id or str(i)) for i, s in enumerate(samples)]
    sizes = {s.image.shape for s in samples}
    if len(sizes) != 1:
        raise ValueError(f"samples_to_sources: source images must share one size, got {sorted(sizes)}")
    out = {
        "images": torch.from_numpy(np.stack([s.image for s in samples])).permute(0, 3, 1, 2),
        "masks": torch.from_numpy(np.stack([m for _, m in items]).astype(np.uint8) * 255),
        "keypoints2d": torch.from_numpy(np.stack([h.keypoints2d for h, _ in items])),
        "visibility": torch.from_numpy(np.stack([h.visibility for h, _ in items])),
        "K": torch.from_numpy(np.stack([source_intrinsics(s) for s in samples])),
        "side": torch.tensor([h.side for h, _ in items]),
    }
    if all(h.joints3d is not None for h, _ in items):
        out["joints3d"] = torch.from_numpy(np.stack([h.joints3d for h, _ in items]))
    return {k: v.to(device) for k, v in out.items()}
