"""CenterNet-style training targets: centre heatmap, handedness map, gather indices, offsets.

Small named functions (after xingyizhou/CenterNet utils/image.py, written anew):
`gaussian_radius` -> `draw_gaussian` -> `hand_centers` -> `build_targets`.

Centre rule (ours, = the official `--avg_center` used by all its scripts): the mean of a hand's
visible keypoints that lie inside the image; a hand with no visible keypoint but a box uses the box
centre; a hand with neither has no centre and gets no slot. Radius: CenterNet's rule on the box of
those keypoints (or the given box) measured in output cells, floored, at least 0. At most max_hands
slots, in sample order.

Why "inside the image": a crop that cuts a hand at the border keeps the labels of its fingers beyond
the frame (they still supervise the reprojection), but its centre must be where the composites and
the evaluation's border-cut views put it, the mean of what is in the picture; otherwise one mixture
teaches two centres for the same cut hand. A labelled hand that gets no slot (all its visible
keypoints outside the image, or more hands than slots) becomes an ignore region, so its visible
fingers are not trained as background.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from smhr.data.sample import NUM_KEYPOINTS, Sample


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """CenterNet's radius for a box of height x width (any unit, returned in the same unit).

    The smallest of three radii, one per way a corner-shifted box can still reach IoU
    `min_overlap` with the true box (both corners inside, both outside, one of each), exactly as
    CenterNet computes them (including its quadratic-formula conventions, so the numbers match
    the official SMHR targets).
    """
    h, w = float(height), float(width)
    b1 = h + w
    c1 = w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 - math.sqrt(b1**2 - 4 * c1)) / 2
    b2 = 2 * (h + w)
    c2 = (1 - min_overlap) * w * h
    r2 = (b2 - math.sqrt(b2**2 - 16 * c2)) / 8
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (h + w)
    c3 = (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3**2 - 4 * a3 * c3)) / (2 * a3)
    return min(r1, r2, r3)


def gaussian_2d(radius: int) -> np.ndarray:
    """[2r+1, 2r+1] Gaussian with peak 1 and sigma = (2r+1)/6 (CenterNet's 'umich' kernel)."""
    d = 2 * radius + 1
    sigma = d / 6.0
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    g = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    g[g < np.finfo(g.dtype).eps * g.max()] = 0
    return g.astype(np.float32)


def draw_gaussian(heatmap: np.ndarray, center: tuple[int, int], radius: int) -> np.ndarray:
    """Element-wise max of `heatmap` [H,W] with a Gaussian of `radius` at integer cell (x, y),
    clipped at the borders; modifies and returns `heatmap`."""
    radius = max(0, int(radius))
    g = gaussian_2d(radius)
    x, y = int(center[0]), int(center[1])
    H, W = heatmap.shape
    left, right = min(x, radius), min(W - x, radius + 1)
    top, bottom = min(y, radius), min(H - y, radius + 1)
    if left + right <= 0 or top + bottom <= 0:
        return heatmap
    region = heatmap[y - top : y + bottom, x - left : x + right]
    patch = g[radius - top : radius + bottom, radius - left : radius + right]
    np.maximum(region, patch, out=region)
    return heatmap


def hand_centers(
    keypoints2d: np.ndarray, visibility: np.ndarray, bbox: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Centres of N hands: keypoints2d [N,21,2] px, visibility [N,21] bool, optional bbox [N,4]
    (NaN rows = none). Returns (centres [N,2] px, ok [N] bool): mean of visible keypoints, else
    the box centre, else not ok."""
    kp = np.asarray(keypoints2d, np.float64).reshape(-1, NUM_KEYPOINTS, 2)
    vis = np.asarray(visibility, bool).reshape(-1, NUM_KEYPOINTS)
    n = vis.sum(1)
    centres = (kp * vis[..., None]).sum(1) / np.maximum(n, 1)[:, None]
    ok = n > 0
    if bbox is not None:
        bb = np.asarray(bbox, np.float64).reshape(-1, 4)
        use = ~ok & np.isfinite(bb).all(1)
        centres[use] = (bb[use, :2] + bb[use, 2:]) / 2
        ok = ok | use
    return centres.astype(np.float32), ok


def hand_side_known(flag: Any, hand_index: int) -> bool:
    """meta["side_known"] is one flag for the sample or, as `CocoHands` writes it, one per hand;
    reading a per-hand list as one truth value would train every unknown hand as a right hand."""
    if isinstance(flag, (list, tuple, np.ndarray)):
        return bool(flag[hand_index])
    return bool(flag)


def _inside_image(keypoints2d: np.ndarray, width: int, height: int) -> np.ndarray:
    """[21] bool: the keypoint lies on the image (pixel-centre convention: -0.5 .. size - 0.5)."""
    x, y = keypoints2d[:, 0], keypoints2d[:, 1]
    return (x >= -0.5) & (x < width - 0.5) & (y >= -0.5) & (y < height - 0.5)


def _hand_box(kp: np.ndarray, vis: np.ndarray, bbox: np.ndarray | None) -> np.ndarray | None:
    if vis.any():
        p = kp[vis]
        return np.concatenate([p.min(0), p.max(0)])
    return bbox


def ignore_weight(boxes: np.ndarray, heat: np.ndarray, output_stride: int) -> np.ndarray:
    """[S_h,S_w] float32 weights: 0 on output cells that overlap an ignore box [N,4] (x1,y1,x2,y2
    input px) and carry no labelled hand's Gaussian (heat > 0), else 1."""
    w = np.ones_like(heat, dtype=np.float32)
    Sh, Sw = heat.shape
    for x1, y1, x2, y2 in np.asarray(boxes, np.float32).reshape(-1, 4):
        c0, r0 = max(0, math.floor(x1 / output_stride)), max(0, math.floor(y1 / output_stride))
        c1, r1 = min(Sw, math.ceil(x2 / output_stride)), min(Sh, math.ceil(y2 / output_stride))
        if c1 > c0 and r1 > r0:
            w[r0:r1, c0:c1] = 0.0
    w[heat > 0] = 1.0
    return w


def build_targets(
    sample: Sample,
    input_size: int | tuple[int, int] | None = None,
    output_stride: int = 4,
    max_hands: int = 4,
    min_overlap: float = 0.7,
    side_taught: bool = True,
) -> dict[str, Any]:
    """Targets for one (already augmented) sample whose image is the network input.

    input_size: int or (H, W) the image must have (checked; None = take the image's size).
    Output map S_h x S_w = H // stride x W // stride. Returns tensors:
      image [3,H,W] float in [0,1] (RGB, not normalised), hm [1,S_h,S_w], handmap [2,S_h,S_w]
      (each hand's Gaussian in channel `side`; none for a hand of unknown or untaught side), ind [M] long
      (y*S_w + x), valid [M] bool, side [M],
      side_known [M] (False for hands whose meta["side_known"], one flag or one per hand, is False: no
      side loss, and their geometry is decoded with the network's own side),
      side_taught [M] (side_known, and all False when side_taught is False: the label's side still
      decodes the hand's geometry, but neither the handedness map nor the side logits learn it; for
      sources whose pixels do not show the side, `DataConfig.side_taught`),
      center [M,2] px, center_offset [M,2] (sub-cell, in cells), radius [M], keypoints2d [M,21,2] px,
      visibility [M,21], local_keypoints [M,21,2] (keypoints/stride - centre cell, in cells),
      joints3d [M,21,3] + has_joints3d [M], params [M,61] + has_params [M] + has_transl [M],
      focal [M] px (mean of fx, fy of the camera the hand's joints3d live in, `Sample.camera_of`:
      its own `HandLabel.K`, else the sample's K) + has_focal [M] (False: no camera), K [3,3] + has_K,
      mask [H,W] float
      (any hand pixel) + instance_mask [H,W] long (slot+1 of kept hands, 0 elsewhere) + has_mask (an
      exact mask; False for meta["mask_approx"] masks drawn from keypoints),
      hm_weight [1,S_h,S_w] (0 on the cells of `sample.ignore` boxes and of labelled hands that got no
      slot, except where a labelled hand's Gaussian is, 1 elsewhere), handmap_weight [1,S_h,S_w]
      (hm_weight, also 0 on the cells of hands of unknown or untaught side except under a known hand's handmap
      Gaussian: a map trained there would learn "right" for every unknown hand). A hand-less image gives zero
      maps and valid all False.
    """
    if sample.image is None:
        raise ValueError(f"build_targets: sample {sample.source}:{sample.id} has no image loaded")
    H, W = sample.hw
    if input_size is not None:
        want = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
        if want != (H, W):
            raise ValueError(
                f"build_targets: image of {sample.source}:{sample.id} is {H}x{W}, expected "
                f"{want[0]}x{want[1]}; crop/letterbox it first (smhr.data.augment)"
            )
    Sh, Sw = H // output_stride, W // output_stride
    M = max_hands
    hm = np.zeros((1, Sh, Sw), np.float32)
    handmap = np.zeros((2, Sh, Sw), np.float32)
    t: dict[str, Any] = {
        "ind": torch.zeros(M, dtype=torch.long),
        "valid": torch.zeros(M, dtype=torch.bool),
        "side": torch.zeros(M, dtype=torch.long),
        "side_known": torch.zeros(M, dtype=torch.bool),
        "side_taught": torch.zeros(M, dtype=torch.bool),
        "center": torch.zeros(M, 2),
        "center_offset": torch.zeros(M, 2),
        "radius": torch.zeros(M, dtype=torch.long),
        "keypoints2d": torch.zeros(M, NUM_KEYPOINTS, 2),
        "visibility": torch.zeros(M, NUM_KEYPOINTS, dtype=torch.bool),
        "local_keypoints": torch.zeros(M, NUM_KEYPOINTS, 2),
        "joints3d": torch.zeros(M, NUM_KEYPOINTS, 3),
        "has_joints3d": torch.zeros(M, dtype=torch.bool),
        "params": torch.zeros(M, 61),
        "has_params": torch.zeros(M, dtype=torch.bool),
        "has_transl": torch.zeros(M, dtype=torch.bool),
        "focal": torch.zeros(M),
        "has_focal": torch.zeros(M, dtype=torch.bool),
    }
    instance = np.zeros((H, W), np.int64)
    unslotted: list[np.ndarray] = []  # boxes of labelled hands that get no slot -> ignore regions
    side_unknown: list[np.ndarray] = []  # boxes of slotted hands of unknown / untaught side -> handmap ignore
    slot = 0
    for i, h in enumerate(sample.hands):
        in_frame = h.visibility & _inside_image(h.keypoints2d, W, H)
        bbox = None if h.bbox is None or h.visibility.any() else h.bbox[None]  # box: no keypoint at all
        centres, ok = hand_centers(h.keypoints2d[None], in_frame[None], bbox)
        ct = centres[0] / output_stride
        cx, cy = math.floor(ct[0]), math.floor(ct[1])
        if slot >= M or not ok[0] or not (0 <= cx < Sw and 0 <= cy < Sh):
            box = _hand_box(h.keypoints2d, h.visibility, h.bbox)
            if box is not None:
                unslotted.append(np.asarray(box, np.float32).reshape(4))
            continue
        box = _hand_box(h.keypoints2d, in_frame, h.bbox)
        bw = (box[2] - box[0]) / output_stride
        bh = (box[3] - box[1]) / output_stride
        radius = max(0, int(gaussian_radius(bh, bw, min_overlap)))
        draw_gaussian(hm[0], (cx, cy), radius)
        side_known = hand_side_known(sample.meta.get("side_known", True), i)
        taught = side_known and side_taught
        if taught:
            draw_gaussian(handmap[h.side], (cx, cy), radius)
        else:  # neither channel's map may learn from it: its side's cells are ignored
            side_unknown.append(np.asarray(box, np.float32).reshape(4))
        t["ind"][slot] = cy * Sw + cx
        t["valid"][slot] = True
        t["side"][slot] = h.side
        t["side_known"][slot] = side_known
        t["side_taught"][slot] = taught
        t["center"][slot] = torch.from_numpy(centres[0])
        t["center_offset"][slot] = torch.tensor([ct[0] - cx, ct[1] - cy])
        t["radius"][slot] = radius
        t["keypoints2d"][slot] = torch.from_numpy(h.keypoints2d)
        t["visibility"][slot] = torch.from_numpy(h.visibility)
        local = h.keypoints2d / output_stride - np.array([cx, cy], np.float32)
        t["local_keypoints"][slot] = torch.from_numpy(local.astype(np.float32))
        if h.joints3d is not None:
            t["joints3d"][slot] = torch.from_numpy(h.joints3d)
            t["has_joints3d"][slot] = True
        K_h = sample.camera_of(h)
        if K_h is not None:
            t["focal"][slot] = 0.5 * (float(K_h[0][0]) + float(K_h[1][1]))
            t["has_focal"][slot] = True
        if h.params is not None:
            t["params"][slot] = torch.from_numpy(h.params.flat())
            t["has_params"][slot] = True
            t["has_transl"][slot] = h.params.transl is not None
        if sample.mask is not None:
            instance[sample.mask == i + 1] = slot + 1
        slot += 1
    ignore = np.concatenate([np.asarray(sample.ignore, np.float32).reshape(-1, 4),
                             *(b[None] for b in unslotted)])
    hm_weight = ignore_weight(ignore, hm[0], output_stride)
    t["hm_weight"] = torch.from_numpy(hm_weight[None])
    side_ignore = np.asarray(side_unknown, np.float32).reshape(-1, 4)
    handmap_weight = hm_weight * ignore_weight(side_ignore, handmap.max(axis=0), output_stride)
    t["handmap_weight"] = torch.from_numpy(handmap_weight[None])
    t["hm"] = torch.from_numpy(hm)
    t["handmap"] = torch.from_numpy(handmap)
    t["image"] = torch.from_numpy(sample.image).permute(2, 0, 1).float() / 255.0
    has_K = sample.K is not None
    t["K"] = torch.from_numpy(sample.K) if has_K else torch.zeros(3, 3)
    t["has_K"] = torch.tensor(has_K)
    # an approximate mask (drawn from keypoints) selects photometric pixels but is no silhouette target
    has_mask = sample.mask is not None and not sample.meta.get("mask_approx", False)
    t["mask"] = (torch.from_numpy((sample.mask > 0).astype(np.float32)) if sample.mask is not None
                 else torch.zeros(H, W))
    t["instance_mask"] = torch.from_numpy(instance)
    t["has_mask"] = torch.tensor(has_mask)
    return t
