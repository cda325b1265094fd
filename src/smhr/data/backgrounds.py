"""Backgrounds for synthetic and composed images: procedural (pure torch) or a user image folder.

Why procedural: we cannot ship photo backgrounds with a clear licence, and a network trained on a
handful of fixed pictures (the official code uses 7 JPEGs) learns them. Random noise, gradients,
stripes, blobs and random-colour textures are free, endless, and cheap enough to draw on the GPU
inside a training step (one implementation serves the CPU per-sample path and the GPU batch path,
so both see the same distribution).

`procedural_backgrounds(n, size)` -> [n, 3, H, W] float in [0, 1]. `BackgroundFolder(dir)` draws
random square crops from the images of a folder (OpenCV is imported only there, so the procedural
path needs torch alone). `background_uint8` turns either into an HxWx3
uint8 RGB array for the numpy/OpenCV paths.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

KINDS = ("noise", "gradient", "stripes", "blobs", "texture")


def _rand(generator: torch.Generator | None, *shape: int, device: torch.device) -> torch.Tensor:
    return torch.rand(*shape, generator=generator, device=device)


def _value_noise(
    n: int,
    hw: tuple[int, int],
    cells: tuple[int, ...],
    channels: int,
    generator: torch.Generator | None,
    device: torch.device,
) -> torch.Tensor:
    """Multi-octave value noise [n, channels, H, W] with zero mean, roughly unit range.

    Each octave is a [cells x cells] grid of Gaussian values upsampled bicubically; octave o has
    weight 1/2^o so coarse structure dominates (like Perlin fBm, without the gradient lattice).
    """
    H, W = hw
    out = torch.zeros(n, channels, H, W, device=device)
    for o, c in enumerate(cells):
        grid = torch.randn(n, channels, c, c, generator=generator, device=device)
        out += F.interpolate(grid, size=(H, W), mode="bicubic", align_corners=False) / (2.0**o)
    return out / 2.0


def _coords(n: int, hw: tuple[int, int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised pixel-centre coordinates x, y in [0, 1), each [1, 1, H, W] (broadcast over n)."""
    H, W = hw
    y = (torch.arange(H, device=device, dtype=torch.float32) + 0.5) / H
    x = (torch.arange(W, device=device, dtype=torch.float32) + 0.5) / W
    return x.view(1, 1, 1, W), y.view(1, 1, H, 1)


def _mix(t: torch.Tensor, c0: torch.Tensor, c1: torch.Tensor) -> torch.Tensor:
    """Blend two colours [n,3] by a field t [n,1,H,W] in [0,1] -> [n,3,H,W]."""
    return c0[:, :, None, None] * (1 - t) + c1[:, :, None, None] * t


def _noise(n, hw, g, dev):
    t = torch.sigmoid(2.5 * _value_noise(n, hw, (3, 6, 12, 24), 1, g, dev))
    return _mix(t, _rand(g, n, 3, device=dev), _rand(g, n, 3, device=dev))


def _gradient(n, hw, g, dev):
    x, y = _coords(n, hw, dev)
    ang = _rand(g, n, 1, 1, 1, device=dev) * 2 * math.pi
    lin = (x - 0.5) * torch.cos(ang) + (y - 0.5) * torch.sin(ang) + 0.5
    cx, cy = _rand(g, n, 1, 1, 1, device=dev), _rand(g, n, 1, 1, 1, device=dev)
    rad = torch.sqrt((x - cx) ** 2 + (y - cy) ** 2) / 1.2
    radial = (_rand(g, n, 1, 1, 1, device=dev) < 0.5).float()
    t = (lin * (1 - radial) + rad * radial).clamp(0, 1)
    return _mix(t, _rand(g, n, 3, device=dev), _rand(g, n, 3, device=dev))


def _stripes(n, hw, g, dev):
    x, y = _coords(n, hw, dev)
    ang = _rand(g, n, 1, 1, 1, device=dev) * math.pi
    freq = 2 + 18 * _rand(g, n, 1, 1, 1, device=dev)  # stripes per image side
    phase = _rand(g, n, 1, 1, 1, device=dev) * 2 * math.pi
    warp = 0.15 * _value_noise(n, hw, (3, 6), 1, g, dev) * _rand(g, n, 1, 1, 1, device=dev)
    s = torch.sin(2 * math.pi * freq * ((x * torch.cos(ang) + y * torch.sin(ang)) + warp) + phase)
    hardness = 1 + 30 * _rand(g, n, 1, 1, 1, device=dev)  # soft sinusoid .. hard bars
    t = torch.sigmoid(hardness * s)
    return _mix(t, _rand(g, n, 3, device=dev), _rand(g, n, 3, device=dev))


def _blobs(n, hw, g, dev, count: int = 8):
    x, y = _coords(n, hw, dev)
    img = _rand(g, n, 3, device=dev)[:, :, None, None].expand(n, 3, *hw).clone()
    for _ in range(count):
        cx, cy = _rand(g, n, 1, 1, 1, device=dev), _rand(g, n, 1, 1, 1, device=dev)
        sx = 0.03 + 0.2 * _rand(g, n, 1, 1, 1, device=dev)
        sy = sx * (0.4 + 1.2 * _rand(g, n, 1, 1, 1, device=dev))
        d2 = ((x - cx) / sx) ** 2 + ((y - cy) / sy) ** 2
        edge = 1 + 10 * _rand(g, n, 1, 1, 1, device=dev)
        a = torch.sigmoid(edge * (1 - d2))  # ellipse, soft to hard edge
        img = img * (1 - a) + _rand(g, n, 3, device=dev)[:, :, None, None] * a
    return img


def _texture(n, hw, g, dev):
    fine = _value_noise(n, hw, (16, 32, 64), 3, g, dev)
    base = _rand(g, n, 3, device=dev)[:, :, None, None]
    amount = 0.2 + 0.5 * _rand(g, n, 1, 1, 1, device=dev)
    return base + amount * fine


_MAKERS = {"noise": _noise, "gradient": _gradient, "stripes": _stripes, "blobs": _blobs, "texture": _texture}


def procedural_backgrounds(
    n: int,
    size: int | tuple[int, int],
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    kinds: tuple[str, ...] = KINDS,
) -> torch.Tensor:
    """n random backgrounds [n, 3, H, W] float32 in [0, 1] (size = S or (H, W)).

    Each image picks one of `kinds` uniformly, then gets a random global contrast/brightness and
    a little pixel grain. Deterministic for a given generator state (and device). The loop runs
    over kinds, never over images, so a GPU batch costs a handful of kernel launches.
    """
    hw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    dev = (
        torch.device(device)
        if device is not None
        else (generator.device if generator is not None else torch.device("cpu"))
    )
    unknown = [k for k in kinds if k not in _MAKERS]
    if unknown or not kinds:
        raise ValueError(f"background kinds must be a non-empty subset of {KINDS}, got {kinds}")
    choice = torch.randint(len(kinds), (n,), generator=generator, device=dev)
    out = torch.empty(n, 3, *hw, device=dev)
    for i, kind in enumerate(kinds):
        sel = torch.nonzero(choice == i).flatten()  # one device sync per kind, none per image
        if len(sel):
            out[sel] = _MAKERS[kind](len(sel), hw, generator, dev)
    contrast = 0.6 + 0.6 * _rand(generator, n, 1, 1, 1, device=dev)
    bright = 0.8 + 0.4 * _rand(generator, n, 1, 1, 1, device=dev)
    grain = (
        0.03
        * _rand(generator, n, 1, 1, 1, device=dev)
        * torch.randn(n, 1, *hw, generator=generator, device=dev)
    )
    out = ((out - 0.5) * contrast + 0.5) * bright + grain
    return out.clamp_(0, 1)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[n,3,H,W] float in [0,1] -> [n,H,W,3] uint8 RGB numpy."""
    return (images.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


class BackgroundFolder:
    """Random square crops of the images in a folder (recursive), resized to the requested size.

    Crop side is 50-100 % of the image's shorter side, at a random place, randomly mirrored.
    """

    def __init__(self, root: str | Path) -> None:
        from smhr.io.images import IMAGE_EXTENSIONS

        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"--backgrounds {self.root}: not a folder; pass a folder of images")
        self.files = sorted(p for p in self.root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not self.files:
            raise FileNotFoundError(
                f"--backgrounds {self.root}: no images ({', '.join(IMAGE_EXTENSIONS)}) found; add some or "
                "leave the option out for procedural backgrounds"
            )

    def __len__(self) -> int:
        return len(self.files)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """One size x size x 3 uint8 RGB crop."""
        import cv2

        from smhr.io.images import read_rgb

        img = read_rgb(self.files[int(rng.integers(len(self.files)))])
        H, W = img.shape[:2]
        side = max(1, int(min(H, W) * rng.uniform(0.5, 1.0)))
        y0 = int(rng.integers(0, H - side + 1))
        x0 = int(rng.integers(0, W - side + 1))
        crop = img[y0 : y0 + side, x0 : x0 + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        return cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=interp)


class ProceduralBank:
    """A fixed bank of `n` procedural backgrounds of side `size`, drawn once, then served as random
    square crops (50-100 % of the side), flips, quarter turns and channel orders.

    Why: drawing one procedural background costs ~0.1-0.3 s on one CPU core, more than composing
    the whole sample; a bank of a few hundred re-cut this way is as varied to the network and costs
    a resize."""

    def __init__(self, n: int = 256, size: int = 320, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        batches = [to_uint8(procedural_backgrounds(16, size, generator=g)) for _ in range(max(1, n // 16))]
        self.images = [im for batch in batches for im in batch]

    def __len__(self) -> int:
        return len(self.images)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        import cv2

        img = self.images[int(rng.integers(len(self.images)))]
        side = max(8, int(img.shape[0] * rng.uniform(0.5, 1.0)))
        y0, x0 = (int(rng.integers(0, img.shape[0] - side + 1)) for _ in range(2))
        crop = np.rot90(img[y0 : y0 + side, x0 : x0 + side], int(rng.integers(4)))
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crop = crop[..., rng.permutation(3)]
        return cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=cv2.INTER_LINEAR)


class MixedBackgrounds:
    """Draws from several background sources with fixed probabilities; a source of None stands
    for procedural backgrounds. `.sample(rng, size)` like `BackgroundFolder`."""

    def __init__(self, sources: list[tuple[object | None, float]]) -> None:
        total = sum(p for _, p in sources)
        if not sources or total <= 0:
            raise ValueError("MixedBackgrounds needs at least one source with a positive probability")
        self.sources = [s for s, _ in sources]
        self.probs = np.array([p / total for _, p in sources])

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        src = self.sources[int(rng.choice(len(self.sources), p=self.probs))]
        if src is None:
            g = torch.Generator().manual_seed(int(rng.integers(2**62)))
            return to_uint8(procedural_backgrounds(1, size, generator=g))[0]
        return src.sample(rng, size)  # type: ignore[attr-defined]


def background_uint8(
    size: int, generator: torch.Generator, folder: BackgroundFolder | MixedBackgrounds | None = None
) -> np.ndarray:
    """One size x size x 3 uint8 RGB background: from `folder` if given, else procedural.

    The folder crop is drawn with a numpy generator seeded from `generator`, so both kinds are
    deterministic for a seeded torch generator.
    """
    if folder is not None:
        seed = int(torch.randint(2**62, (1,), generator=generator).item())
        return folder.sample(np.random.default_rng(seed), size)
    return to_uint8(procedural_backgrounds(1, size, generator=generator))[0]
