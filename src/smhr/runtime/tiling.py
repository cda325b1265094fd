"""Photo mode: a still photo seen whole AND in overlapping tiles, so small hands are found too.

Why: the network finds a hand best when it is about 96-128 px long at its 256-px input and almost
never below 32 px (benchmarks/bench_hand_size.py, docs/evaluation.md). Letterboxed whole, a
whole-body photo's hands (~1/10 of its side) come out ~25 px long and are missed. Photo mode keeps
the whole view (it finds the large hands, and the hands a tile border cuts) and adds a grid of
square tiles sized from the image so a hand `HAND_FRAC` of its long side reaches about
`TARGET_PX` network px, never upscaling a tile by more than `MAX_UPSCALE` (small images get few or
no tiles). Every view runs in one batched network call; each view's hands are decoded in the
photo's ONE camera (the caller's K / focal, else the whole view's virtual camera), so a hand from a
tile has the same 3D frame and `K` as one from the whole view (`smhr.runtime.decode` re-places it
along its pixel ray, depth scaled by that view's zoom). Duplicates of one hand across views are
merged (keypoint-box IoU or containment, the better-ranked one kept), a hand touching a tile's
inner border ranking below the same hand seen whole, and a hand outside the sizes the network reads
best in its view (`FIT`) below a copy inside them; hands one view reports as two stay two.
Optionally (`zoom_out`) the whole view once more, shrunk to that share of the canvas around its
centre: a hand that fills or overflows the photo is ~2x too large for the network and cut by the
frame, and shrunk inside a black border it is found (bench_real.py's frame_filling vs
frame_filling_bordered rows); its hands merge like a tile's. Optionally (`mirror`) the whole view
mirrored left-right, whose hands only vote on the side of the hands found (`smhr.runtime.mirror`).
Video keeps the fast mode (one view per frame).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np

from smhr.geometry.letterbox import letterbox_image
from smhr.records import Hand

__all__ = ["HAND_FRAC", "MODES", "TARGET_PX", "View", "axis_starts", "box_overlap", "flip_affine",
           "keypoint_boxes", "merge_views", "photo_views", "same_place", "tile_boxes", "zoom_affine"]

MODES = ("fast", "photo")
TARGET_PX = 96.0  # hand length (network px) the shipped weights find best: bench_hand_size.py
HAND_FRAC = 0.125  # hand length / long side of the photo that tiles bring to TARGET_PX
MIN_OVERLAP = 0.3  # tiles overlap by at least this share of their side: a hand that long fits whole in one
MAX_UPSCALE = 1.5  # a tile is never enlarged more than this (blur finds nothing)
MAX_TILES_PER_SIDE = 4
MIN_GAIN = 1.65  # tiles only when they zoom at least this much more than the whole view
CUT_MARGIN = 0.02  # a hand within this share of a tile side of an inner tile border counts as cut
CUT_PENALTY = 0.5  # a cut hand's score is multiplied by this when ranking duplicates
FIT = (0.25, 0.625)  # keypoint-box sides / input side found best (64-160 px of 256: recall >= 0.76 in
# bench_hand_size.py); outside, a hand's rank is x side / 0.25 or x 0.625 / side: the copy the network saw
# at a size it reads wins
DUPLICATE_IOU = 0.3  # keypoint boxes of two views' hands overlapping this much are one hand ...
DUPLICATE_CONTAINED = 0.6  # ... or the smaller box lying this much inside the larger


@dataclass(frozen=True)
class View:
    """One network input of a photo: its box (x0, y0, x1, y1) in photo pixels, `whole` for the
    letterboxed full photo; `zoom` < 1 for the whole view shrunk to that share of the canvas,
    `mirrored` for the whole view mirrored left-right (its affine maps the MIRRORED photo's pixels)."""

    box: tuple[int, int, int, int]
    whole: bool = False
    zoom: float = 1.0
    mirrored: bool = False
    scale: float | None = None  # input sides per photo px (`photo_views` sets it; None: not ranked by size)


def axis_starts(extent: int, side: int, min_overlap: float = MIN_OVERLAP) -> list[int]:
    """Start offsets of tiles `side` long covering [0, extent), evenly spread, neighbours
    overlapping by at least min_overlap x side; one tile (at 0) when side >= extent."""
    if side >= extent:
        return [0]
    n = math.ceil((extent - side) / (side * (1.0 - min_overlap))) + 1
    return [round(i * (extent - side) / (n - 1)) for i in range(n)]


def tile_boxes(hw: tuple[int, int], input_size: int, hand_frac: float = HAND_FRAC,
               target_px: float = TARGET_PX) -> list[tuple[int, int, int, int]]:  # fmt: skip
    """The square tiles (x0, y0, x1, y1) photo mode adds for an image of hw = (H, W): side chosen
    so a hand hand_frac x the long side becomes target_px at the network input, but no smaller
    than input_size / MAX_UPSCALE px and no more than MAX_TILES_PER_SIDE along the long side.
    Empty when a tile would zoom less than MIN_GAIN x beyond the whole view (photos under ~290 px):
    the whole view already sees what it would."""
    H, W = hw
    L = max(H, W)
    side = hand_frac * L * input_size / target_px
    fewest = L / (MAX_TILES_PER_SIDE - (MAX_TILES_PER_SIDE - 1) * MIN_OVERLAP)
    side = round(max(side, input_size / MAX_UPSCALE, fewest))
    if side > L / MIN_GAIN:
        return []
    return [(x, y, min(x + side, W), min(y + side, H))
            for y in axis_starts(H, side) for x in axis_starts(W, side)]  # fmt: skip


def zoom_affine(size: int, zoom: float) -> tuple[np.ndarray, int, int]:
    """(3x3 canvas->zoomed canvas affine, shrunk side r, offset) of a size x size canvas resized to
    r = round(zoom x size) and pasted at (offset, offset), centred (OpenCV's pixel centres)."""
    r = max(1, round(zoom * size))
    off = (size - r) // 2
    s = r / size
    return np.array([[s, 0.0, 0.5 * s - 0.5 + off], [0.0, s, 0.5 * s - 0.5 + off], [0.0, 0.0, 1.0]]), r, off


def flip_affine(width: int) -> np.ndarray:
    """3x3 left-right mirror of pixels 0..width-1: u -> width - 1 - u (its own inverse)."""
    return np.array([[-1.0, 0.0, width - 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def photo_views(image: np.ndarray, input_size: int, zoom_out: float | None = None, mirror: bool = False,
                **plan: float) -> tuple[list[View], np.ndarray, np.ndarray]:  # fmt: skip
    """(views, network inputs [N,R,R,3] uint8, original->network affines [N,3,3]) of one RGB photo:
    the letterboxed whole photo first, then each tile of `tile_boxes` letterboxed on its own, then
    (zoom_out in (0, 1)) the whole canvas shrunk to zoom_out of its side, centred on black, then
    (mirror) the whole canvas mirrored left-right, whose affine maps the mirrored photo's pixels
    (u' = W - 1 - u): its hands are decoded as hands of the mirrored photo.

    With tiles k >= 2 times the input side, the photo is first shrunk by the integer factor k (area
    averaging of k x k blocks: OpenCV's fast path, ~3x cheaper on a 12-MP photo than one fractional
    shrink; the last < k rows / columns are dropped) and every view is cut from that; each affine
    composes the shrink, the cut and its letterbox exactly."""
    H, W = image.shape[:2]
    boxes = tile_boxes((H, W), input_size, **plan)
    views = [View((0, 0, W, H), whole=True)] + [View(b) for b in boxes]
    k = max(1, min(max(x1 - x0, y1 - y0) for x0, y0, x1, y1 in boxes) // input_size) if boxes else 1
    k = min(k, H, W)  # a strip thinner than k px would shrink to nothing
    src = image
    S = np.eye(3)
    if k > 1:  # pixel centres: u' = (u + 0.5) / k - 0.5
        src = cv2.resize(image[: H // k * k, : W // k * k], (W // k, H // k), interpolation=cv2.INTER_AREA)
        S = np.array([[1 / k, 0.0, 0.5 / k - 0.5], [0.0, 1 / k, 0.5 / k - 0.5], [0.0, 0.0, 1.0]])
    h, w = src.shape[:2]
    inputs, affines = [], []
    for v in views:
        x0, y0, x1, y1 = v.box
        x0, y0, x1, y1 = x0 // k, y0 // k, min(-(-x1 // k), w), min(-(-y1 // k), h)
        boxed, A = letterbox_image(src[y0:y1, x0:x1], input_size)
        shift = np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0], [0.0, 0.0, 1.0]])
        inputs.append(boxed)
        affines.append(A @ shift @ S)
    if zoom_out is not None:
        if not 0.0 < zoom_out < 1.0:
            raise ValueError(f"zoom_out must be in (0, 1) (the shown share of the canvas), got {zoom_out}")
        Z, r, off = zoom_affine(input_size, zoom_out)
        shrunk = np.zeros_like(inputs[0])
        shrunk[off : off + r, off : off + r] = cv2.resize(inputs[0], (r, r), interpolation=cv2.INTER_AREA)
        views.append(View((0, 0, W, H), zoom=r / input_size))
        inputs.append(shrunk)
        affines.append(Z @ affines[0])
    if mirror:  # mirrored canvas = flip_R(canvas); from mirrored-photo pixels: flip_R @ A_whole @ flip_W
        views.append(View((0, 0, W, H), mirrored=True))
        inputs.append(np.ascontiguousarray(inputs[0][:, ::-1]))
        affines.append(flip_affine(input_size) @ affines[0] @ flip_affine(W))
    views = [replace(v, scale=float(A[0, 0]) / input_size) for v, A in zip(views, affines, strict=True)]
    return views, np.stack(inputs), np.stack(affines)


def keypoint_boxes(hands: Sequence[Hand]) -> np.ndarray:
    """[N,4] (x0, y0, x1, y1) of each hand's 2D keypoints: what views' copies of a hand are compared by."""
    kp = np.stack([np.asarray(h.keypoints2d, np.float64) for h in hands])
    return np.concatenate([kp.min(1), kp.max(1)], -1)


def box_overlap(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(IoU, intersection / the smaller area) of two keypoint boxes, each side counted as at least
    1 px (a hand seen edge-on has a flat box, which must still overlap)."""
    inter = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0) * max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    area_a = max(a[2] - a[0], 1.0) * max(a[3] - a[1], 1.0)
    area_b = max(b[2] - b[0], 1.0) * max(b[3] - b[1], 1.0)
    return inter / (area_a + area_b - inter), inter / min(area_a, area_b)


def same_place(a: np.ndarray, b: np.ndarray, iou: float, contained: float) -> bool:
    """Whether two keypoint boxes mark one place: IoU >= iou, or the smaller box >= contained inside
    the other (`box_overlap`). The one test behind merging views' copies, the large-hand rule's
    second peaks and `smhr.runtime.second_peaks`, each with its own limits."""
    o_iou, o_in = box_overlap(a, b)
    return o_iou >= iou or o_in >= contained


def _cut(box: np.ndarray, view: View, hw: tuple[int, int]) -> bool:
    """Whether a hand's keypoint box reaches an inner border of its tile (a border that is not the
    photo's own edge): the tile saw only part of it."""
    if view.whole:
        return False
    x0, y0, x1, y1 = view.box
    m = CUT_MARGIN * max(x1 - x0, y1 - y0)
    H, W = hw
    return bool((x0 > 0 and box[0] <= x0 + m) or (y0 > 0 and box[1] <= y0 + m)
                or (x1 < W and box[2] >= x1 - 1 - m) or (y1 < H and box[3] >= y1 - 1 - m))  # fmt: skip


def _seen_cut_elsewhere(i: int, cands: Sequence[tuple[Hand, int]], boxes: np.ndarray, views: Sequence[View],
                        hw: tuple[int, int]) -> bool:  # fmt: skip
    """Whether another view's copy of hand i (same place: `same_place` at the duplicate limits)
    reaches an inner border of hand i's tile: then the tile held only part of that hand, though the
    network placed this copy's keypoints inside it (a hand larger than the tile, read as a smaller
    hand; measured on a 640-px photo whose 337-px hand two 213-px tiles reported as two 110-px hands
    that outranked it)."""
    k = cands[i][1]
    if views[k].whole:
        return False
    return any(cands[j][1] != k and _cut(boxes[j], views[k], hw)
               and same_place(boxes[i], boxes[j], DUPLICATE_IOU, DUPLICATE_CONTAINED)
               for j in range(len(cands)))  # fmt: skip


def merge_views(per_view: Sequence[Sequence[Hand]], views: Sequence[View], hw: tuple[int, int],
                max_hands: int, side_vote: bool = False) -> list[Hand]:  # fmt: skip
    """One list of hands (best score first, at most max_hands) from the hands of every view.

    Ranked by score, x CUT_PENALTY for a hand cut by an inner tile border (its own keypoints reach
    one, or another view's copy of it does: `_seen_cut_elsewhere`), x the size fit (`FIT`,
    views with a `scale`) of its keypoint box at its view's input; walking down the ranks,
    a hand is dropped when its keypoint box overlaps an already kept hand of ANOTHER view by
    keypoint-box IoU >= DUPLICATE_IOU or lies >= DUPLICATE_CONTAINED inside it (or it inside the
    hand): the same hand seen twice. A kept hand absorbs at most one whole hand of each other view,
    so two touching hands one view reports stay two (the network's own peak NMS decided those); a
    hand cut by a tile border that overlaps a kept hand is always a piece of it.

    `side_vote`: each kept hand's side is the rank-weighted mean of the (P(left), P(right)) of it
    and of the uncut copies of it that other views reported (`vote_copies`)."""
    cands = [(h, k) for k, hs in enumerate(per_view) for h in hs]
    if not cands:
        return []
    boxes = keypoint_boxes([h for h, _ in cands])
    cut = [_cut(b, views[k], hw) or _seen_cut_elsewhere(i, cands, boxes, views, hw)
           for i, ((_, k), b) in enumerate(zip(cands, boxes, strict=True))]
    rank = np.array([h.score * (CUT_PENALTY if c else 1.0) for (h, _), c in zip(cands, cut, strict=True)])
    side = np.max(boxes[:, 2:] - boxes[:, :2], axis=1) * [views[k].scale or np.nan for _, k in cands]
    fit = np.minimum(np.minimum(side / FIT[0], FIT[1] / np.maximum(side, 1e-6)), 1.0)
    rank = rank * np.where(np.isnan(fit), 1.0, fit)
    kept: list[int] = []
    absorbed: dict[int, set[int]] = {}  # kept hand -> the views whose copy of it was dropped
    copies: dict[int, list[int]] = {}  # kept hand -> its dropped uncut copies (the side voters)
    for i in np.argsort(-rank, kind="stable"):
        dup = False
        view = cands[i][1]
        for j in kept:
            if cands[j][1] == view or (view in absorbed[j] and not cut[i]):
                continue
            if same_place(boxes[i], boxes[j], DUPLICATE_IOU, DUPLICATE_CONTAINED):
                dup = True
                absorbed[j].add(view)
                if not cut[i]:
                    copies[j].append(int(i))
                break
        if not dup:
            kept.append(int(i))
            absorbed[int(i)] = set()
            copies[int(i)] = []
    if side_vote:
        hands = [vote_copies([cands[k][0] for k in (i, *copies[i])], rank[[i, *copies[i]]]) for i in kept]
    else:
        hands = [cands[i][0] for i in kept]
    hands.sort(key=lambda h: -h.score)
    return hands[:max_hands]


def vote_copies(copies: Sequence[Hand], weights: np.ndarray) -> Hand:
    """copies[0] (the kept copy of a hand) with the side of the weighted mean of every copy's
    (P(left), P(right)); when that side is not its own, the best-weighted copy of that side (decoded
    with that side's hand model) stands in, with copies[0]'s score.

    Why: each view reads the hand from other pixels (the whole photo, a tile, the zoomed-out photo;
    `smhr.runtime.mirror.vote_sides` calls this with the mirrored photo's copy, equal weights),
    and the side, read from the hand alone when no arm is seen, is where single views err most
    (bench_real.py's closeup_no_arm row); the copy kept for its size and score is not the surest
    about the side. Copies without handedness do not vote."""
    kept = copies[0]
    voters = [(h, w) for h, w in zip(copies, weights, strict=True) if h.handedness is not None]
    if kept.handedness is None or len(voters) < 2:
        return kept
    w = np.array([max(float(w), 1e-6) for _, w in voters])
    p = (np.stack([np.asarray(h.handedness, np.float64) for h, _ in voters]) * w[:, None]).sum(0) / w.sum()
    p = p.astype(np.float32)
    side = 1 - kept.side if p[1 - kept.side] > p[kept.side] else kept.side  # (a tie keeps the kept copy's)
    if side == kept.side:
        return replace(kept, handedness=p)
    same_side = [hw for hw in voters if hw[0].side == side]
    if not same_side:  # (only when sides are not the argmax of their handedness: nothing to stand in)
        return kept
    best = max(same_side, key=lambda hw: hw[1])[0]
    return replace(best, score=kept.score, handedness=p)
