"""Held objects drawn over a pasted hand: cylinders (bottles, handles), boxes, phones, cups.

Why: hands in real photos hold things (the never-trained-on `hina-gloves` photos of hands holding
tools are found at 0.70), while a composite's hands were always whole. An object is drawn right
after its hand is pasted (so later hands still go on top of it), lying across the palm as a held
object does: its long axis roughly perpendicular to the wrist -> middle-finger direction, its
centre between the palm centre and the finger roots, so it sits between the thumb and the fingers.
Its thickness is searched (bisection) so it covers `cover` (15-45 %) of the hand's visible mask;
an object that cannot reach that range is not drawn, so it never covers the whole hand.

Appearance: a flat colour, stripes, smooth noise, or a patch of the composite's background (a
real photo when the backgrounds are real), times a shading that fits the shape (a cylinder's
cosine profile with a highlight, a box's two lit faces, a phone's dark body around a lit screen,
a cup's body and rim with a ring handle). Masks are hard (the labels' pixels are exact).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KINDS = ("cylinder", "box", "phone", "cup")
PALM = (0, 5, 9, 13, 17)  # wrist and the finger roots (FreiHAND order)
WRIST, MIDDLE_MCP = 0, 9


@dataclass
class Placement:
    """An object's frame on the canvas: centre (x, y) px, axis = unit vector of its length,
    length px, kind, and the palm length px that sets its scale."""

    centre: np.ndarray
    axis: np.ndarray
    length: float
    kind: str
    palm: float


def place(keypoints2d: np.ndarray, rng: np.random.Generator) -> Placement:
    """Where a held object of a random kind goes on a hand with canvas keypoints [21,2]."""
    kp = np.asarray(keypoints2d, np.float64)
    up = kp[MIDDLE_MCP] - kp[WRIST]
    palm = float(np.linalg.norm(up))
    box = float((kp.max(0) - kp.min(0)).max())
    if palm < 0.15 * box:  # degenerate labels: fall back to the box
        up, palm = np.array([0.0, -1.0]) * box / 2, box / 2
    u = up / max(float(np.linalg.norm(up)), 1e-6)
    across = np.array([-u[1], u[0]])
    tilt = rng.uniform(-0.45, 0.45)  # up to ~25 deg off perpendicular
    axis = math.cos(tilt) * across + math.sin(tilt) * u
    shift = u * rng.uniform(0.0, 0.5) + across * rng.uniform(-0.2, 0.2)
    centre = kp[list(PALM)].mean(0) + shift * palm
    kind = KINDS[int(rng.integers(len(KINDS)))]
    length = palm * (rng.uniform(1.8, 3.2) if kind in ("cylinder", "box") else rng.uniform(1.1, 1.6))
    return Placement(centre, axis, length, kind, palm)


def shape_mask(p: Placement, width: float, lx: np.ndarray, ly: np.ndarray) -> np.ndarray:
    """The object's pixels (bool, local coordinates lx, ly) at thickness `width` px."""
    half_l, half_w = p.length / 2, width / 2
    if p.kind == "cylinder":
        return (np.abs(lx) <= half_l) & (np.abs(ly) <= half_w)
    if p.kind == "box":
        return (np.abs(lx) <= half_l) & (np.abs(ly) <= half_w)
    if p.kind == "phone":  # rounded rectangle, its long side across the palm
        half_l = max(half_l, 1.6 * half_w)
        r = 0.3 * half_w
        qx, qy = np.maximum(np.abs(lx) - (half_l - r), 0), np.maximum(np.abs(ly) - (half_w - r), 0)
        return (np.abs(lx) <= half_l) & (np.abs(ly) <= half_w) & (qx**2 + qy**2 <= r**2)
    # cup: slightly tapered body along the axis plus a ring handle on one side
    half_l = max(half_l, 0.8 * half_w)
    taper = half_w * (1.0 - 0.15 * (lx / half_l + 1) / 2)
    body = (np.abs(lx) <= half_l) & (np.abs(ly) <= taper)
    hx, hy = lx, ly - half_w * 1.05
    ring = (hx / (0.45 * half_l)) ** 2 + (hy / (0.45 * half_w)) ** 2
    return body | ((ring <= 1.0) & (ring >= 0.4) & (hy > -0.2 * half_w))


def _to_local(p: Placement, xx: np.ndarray, yy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Local coordinates of canvas pixels (x along the axis, y across it, px from the centre)."""
    dx, dy = xx.astype(np.float32) - np.float32(p.centre[0]), yy.astype(np.float32) - np.float32(p.centre[1])
    a0, a1 = np.float32(p.axis[0]), np.float32(p.axis[1])
    return dx * a0 + dy * a1, -dx * a1 + dy * a0


Window = tuple[slice, slice]


def fit_width(
    p: Placement, hand: tuple[np.ndarray, np.ndarray], shape: tuple[int, int], target: float,
    cover: tuple[float, float], iters: int = 9,
) -> tuple[float, Window, np.ndarray] | None:  # fmt: skip
    """Thickness (px) whose object covers `target` of the hand's visible pixels (`hand` = their
    (rows, cols)) by bisection, and the object's mask on a window of the canvas (HxW `shape`):
    (width, window, bool mask of the window). None when no thickness lands inside `cover` (object
    off the hand). The search tests the hand's pixels only; the object is rasterised once."""
    ys, xs = hand
    if len(ys) == 0:
        return None
    hx, hy = _to_local(p, xs, ys)
    lo, hi = 0.0, 3.0 * p.palm
    best: tuple[float, float] | None = None
    for _ in range(iters):
        w = (lo + hi) / 2
        frac = float(shape_mask(p, w, hx, hy).mean())
        if cover[0] <= frac <= cover[1] and (best is None or abs(frac - target) < abs(best[1] - target)):
            best = (w, frac)
        if frac < target:
            lo = w
        else:
            hi = w
    if best is None:
        return None
    H, W = shape
    reach = math.hypot(max(p.length / 2, 2.5 * best[0]), 2.0 * best[0]) + 2  # beyond every shape's extent
    x0, x1 = max(int(p.centre[0] - reach), 0), min(int(p.centre[0] + reach) + 2, W)
    y0, y1 = max(int(p.centre[1] - reach), 0), min(int(p.centre[1] + reach) + 2, H)
    yy, xx = np.mgrid[y0:y1, x0:x1]  # non-empty: it holds the covered hand pixels
    import cv2

    mask = shape_mask(p, best[0], *_to_local(p, xx, yy))
    bx, by, bw, bh = cv2.boundingRect(mask.view(np.uint8))  # trimmed to the object
    window = (slice(y0 + by, y0 + by + bh), slice(x0 + bx, x0 + bx + bw))
    return best[0], window, mask[by : by + bh, bx : bx + bw]


def _albedo(rng: np.random.Generator, shape: tuple[int, int], lx: np.ndarray, ly: np.ndarray,
            background: np.ndarray | None) -> np.ndarray:  # fmt: skip
    """HxWx3 float colours in [0, 1]: flat, stripes, smooth noise, or a background patch."""
    import cv2

    colour = rng.uniform(0.1, 0.95, 3)
    pick = int(rng.integers(4 if background is not None else 3))
    h, w = shape
    if pick == 0 or h == 0 or w == 0:
        return np.broadcast_to(colour, (h, w, 3)).astype(np.float32)
    if pick == 1:
        other = rng.uniform(0.1, 0.95, 3)
        period = rng.uniform(4.0, 16.0)
        t = (np.sin((lx if rng.random() < 0.5 else ly) * 2 * np.pi / period) > 0)[..., None]
        return np.where(t, colour, other).astype(np.float32)
    if pick == 2:
        grid = (int(rng.integers(2, 7)), int(rng.integers(2, 7)), 3)
        cells = rng.uniform(0.0, 1.0, grid).astype(np.float32)
        noise = cv2.resize(cells, (w, h), interpolation=cv2.INTER_CUBIC)
        return np.clip(colour * 0.5 + noise * 0.5, 0, 1).astype(np.float32)
    R = background.shape[0]
    side = int(rng.integers(max(R // 4, 2), R + 1))
    y0, x0 = (int(rng.integers(0, R - side + 1)) for _ in range(2))
    patch = cv2.resize(background[y0 : y0 + side, x0 : x0 + side], (w, h), interpolation=cv2.INTER_AREA)
    return patch.astype(np.float32) / 255.0


def _shading(p: Placement, width: float, lx: np.ndarray, ly: np.ndarray, rng: np.random.Generator
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:  # fmt: skip
    """(multiplier HxW, additive highlight HxW, phone-body mask or None) for the object's kind."""
    t = np.clip(ly / max(width / 2, 1e-3), -1, 1)
    light = rng.uniform(-0.6, 0.6)  # where across the object the light comes from
    if p.kind in ("cylinder", "cup"):
        mult = 0.3 + 0.7 * np.sqrt(1 - t**2) * (1 + 0.3 * light * t)
        spec = 0.5 * np.exp(-(((t - light) / 0.12) ** 2))
        if p.kind == "cup":  # a lighter rim at the open end
            half_l = max(p.length / 2, 0.4 * width)
            spec = spec + 0.35 * (lx > half_l - 0.12 * width)
        return mult, spec, None
    if p.kind == "box":
        split = rng.uniform(-0.3, 0.3)
        mult = np.where(t < split, 1.0, rng.uniform(0.45, 0.75)) * (1 - 0.15 * np.abs(lx) / max(p.length, 1))
        return mult, 0.25 * (np.abs(t - split) < 0.05), None
    # phone: dark body, lit screen inset
    half_l = max(p.length / 2, 0.8 * width)
    screen = (np.abs(lx) < half_l - 0.1 * width) & (np.abs(t) < 0.8)
    mult = np.where(screen, 0.6 + 0.4 * (1 + light * t) / 2, 1.0)
    return mult, 0.15 * np.exp(-(((t + lx / max(half_l, 1) - light) / 0.3) ** 2)), ~screen


def draw(
    canvas: np.ndarray, hand: tuple[np.ndarray, np.ndarray], keypoints2d: np.ndarray,
    rng: np.random.Generator, cover: tuple[float, float], background: np.ndarray | None = None,
) -> tuple[Window, np.ndarray, str] | None:  # fmt: skip
    """Draw one held object over the hand whose visible pixels are `hand` ((rows, cols) arrays)
    into `canvas` (HxWx3 uint8, in place). Returns (window, the object's bool mask on that window
    of the canvas, kind), or None when not drawn."""
    p = place(keypoints2d, rng)
    fit = fit_width(p, hand, canvas.shape[:2], rng.uniform(*cover), cover)
    if fit is None:
        return None
    width, win, mask = fit
    yy, xx = np.mgrid[win]
    lx, ly = _to_local(p, xx, yy)
    colour = _albedo(rng, mask.shape, lx, ly, background)
    mult, spec, body = _shading(p, width, lx, ly, rng)
    if body is not None:  # phone: near-black body; its screen shows content or is off (dark glass)
        screen = rng.uniform(0.02, 0.12) if rng.random() < 0.5 else colour
        colour = np.where(body[..., None], rng.uniform(0.03, 0.2), screen)
    rgb = np.clip(colour * mult[..., None] + spec[..., None], 0, 1) * 255
    canvas[win][mask] = rgb[mask].astype(np.uint8)
    return win, mask, p.kind
