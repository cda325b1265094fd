"""Synthetic single-hand data written in FreiHAND's exact on-disk layout (`smhr synth`).

Why FreiHAND's layout: one loader (`smhr.data.freihand.FreiHAND`) then serves real and synthetic
data, and the multi-hand composer (`smhr compose`) takes either as its source.

Per image: a hand-model pose from the pose prior (articulation, shape, global orientation), a
pinhole camera (focal 1.8-2.8 x the image side, principal point at the image centre) placed so the
hand's projected box fills 40-80 % of the image side around the centre (like FreiHAND's crops),
skin albedo (a tone between light and dark, low-frequency per-vertex variation, lighter nails via
the model's part labels), random SH-9 lighting, a procedural background, then motion blur, sensor
noise and a random JPEG quality. Rendering is batched on the GPU when there is one (the image is
supersampled 2x for anti-aliased edges; the mask is the mesh's coverage of the pixel centres).

Files (N training, M evaluation records):
    training/rgb/%08d.jpg, training/mask/%08d.jpg (0/255 JPEG, like FreiHAND), training_K.json,
    training_xyz.json, training_verts.json, training_mano.json, training_scale.json,
    evaluation/rgb/%08d.jpg and evaluation_{K,xyz,verts,mano,scale}.json, meta.json.
`*_mano.json` holds [[61]] per record in OUR layout (FreiHAND's is 48 pose + 10 shape + uv_root 2 +
scale 1): 0:3 global orientation (axis-angle, camera frame), 3:48 articulation (15 joints x
axis-angle, flat mean, the model's native joint order), 48:58 betas, 58:61 translation (metres)
such that `HandModel.forward(orient, pose, betas, transl)` reproduces `*_xyz` and `*_verts`.
`*_scale.json` is FreiHAND's reference-bone length: |xyz[10] - xyz[9]| (middle MCP -> PIP), m.
meta.json states the hand model, side(s), seed, package version and this layout.
Same seed (and device kind) -> byte-identical files: every chunk of CHUNK images draws its numbers
from its own generator seeded by (seed, split, chunk).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from smhr.data.backgrounds import procedural_backgrounds
from smhr.data.synth_scene import place_in_view, random_sh, skin_albedo
from smhr.hands.keypoints import RIGHT, SIDE_NAMES

CHUNK = 32  # images per random-number stream (fixed, so files do not depend on the batch size)
SPLIT_IDS = {"training": 0, "evaluation": 1}

@dataclass
class SynthConfig:
    """What `smhr synth` varies, and how much.

    res: image side px. hand: "anny" | "mano". side: "right" | "left" | "both" (per image).
    fill_range: projected hand box side / image side. focal_range: focal length / image side.
    center_jitter: hand box centre offset, fraction of the image side. mano_dir: folder of
    MANO_{RIGHT,LEFT}.pkl when hand="mano" (default $SMHR_MANO_DIR). Poses come from the model's
    `smhr.hands.prior.PosePrior`. blur_prob / blur_max_px: linear motion blur. noise_max:
    max Gaussian noise sigma (0-255 scale). jpeg_range: JPEG quality of the RGB files.
    supersample: render at this factor for anti-aliased edges. device: "auto" | "cpu" | "cuda".
    """

    res: int = 224
    hand: str = "anny"
    side: str = "right"
    fill_range: tuple[float, float] = (0.4, 0.8)
    focal_range: tuple[float, float] = (1.8, 2.8)
    center_jitter: float = 0.08
    mano_dir: str | None = None
    blur_prob: float = 0.3
    blur_max_px: float = 6.0
    noise_max: float = 6.0
    jpeg_range: tuple[int, int] = (75, 98)
    supersample: int = 2
    device: str = "auto"
    kinds: tuple[str, ...] = field(default=("noise", "gradient", "stripes", "blobs", "texture"))

    def __post_init__(self) -> None:
        if self.side not in ("left", "right", "both"):
            raise ValueError(f"--side must be left, right or both, got {self.side!r}")
        if self.res < 16:
            raise ValueError(f"--res must be >= 16 px, got {self.res}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"--device must be auto, cpu or cuda, got {self.device!r}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError("--device cuda: no CUDA device visible; use --device cpu or auto")

    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


# ----------------------------------------------------------------------------- rendering
def _subsample_intrinsics(K: torch.Tensor, s: int) -> torch.Tensor:
    """K of the same camera on an s-times finer pixel grid (pixel-centre convention:
    u_s = s (u + 0.5) - 0.5)."""
    Ks = K.clone()
    Ks[:, :2, :2] *= s
    Ks[:, :2, 2] = s * (K[:, :2, 2] + 0.5) - 0.5
    return Ks


def _render_hands(
    verts: torch.Tensor,
    faces: torch.Tensor,
    albedo: torch.Tensor,
    sh: torch.Tensor,
    K: torch.Tensor,
    size: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One hand per image: rgb [k,3,S,S] and coverage [k,S,S] (float 0/1) of the hard renderer."""
    from smhr.render.renderer import render_hard

    out = render_hard(verts[:, None], faces, K, (size, size), albedo=albedo[:, None], sh=sh[:, None])
    return out.rgb, out.mask[:, 0]


class SynthRenderer:
    """Draws and renders chunks of synthetic hands on one device (models loaded once).

    `render(n, seed)` -> dict of numpy arrays: image [n,H,W,3] uint8 (hand over background, before
    blur/noise/JPEG), mask [n,H,W] bool, K [n,3,3], xyz [n,21,3], verts [n,V,3], theta [n,61],
    side [n] (0/1), post_seed [n]. All random numbers come from one CPU generator seeded with
    `seed` (so CPU and GPU runs draw the same hands); procedural backgrounds use a generator on
    the render device seeded from it.
    """

    def __init__(self, cfg: SynthConfig) -> None:
        from smhr.hands.model import HandModel

        self.cfg = cfg
        self.device = cfg.torch_device()
        from smhr.hands.prior import PosePrior

        sides = list(SIDE_NAMES) if cfg.side == "both" else [cfg.side]
        from smhr.hands.assets import user_files

        path = user_files(cfg.hand, cfg.mano_dir)
        self.models = {s: HandModel.load(cfg.hand, s, path).to(self.device).eval() for s in sides}
        self.priors = {s: PosePrior.from_model(m.cpu()) for s, m in self.models.items()}
        for m in self.models.values():
            m.to(self.device)

    @torch.no_grad()
    def render(self, n: int, seed: int) -> dict[str, np.ndarray]:
        from smhr.hands import prior

        cfg, dev = self.cfg, self.device
        g = torch.Generator().manual_seed(seed)
        if cfg.side == "both":
            is_right = torch.rand(n, generator=g) < 0.5
        else:
            is_right = torch.full((n,), cfg.side == "right")
        res, ss = cfg.res, max(1, int(cfg.supersample))
        out_img = torch.zeros(n, 3, res, res, device=dev)
        out_mask = torch.zeros(n, res, res, dtype=torch.bool, device=dev)
        xyz = torch.zeros(n, 21, 3)
        theta = torch.zeros(n, 61)
        K_all = torch.zeros(n, 3, 3)
        verts_all: list[torch.Tensor | None] = [None] * n
        focal = res * (
            cfg.focal_range[0] + (cfg.focal_range[1] - cfg.focal_range[0]) * torch.rand(n, generator=g)
        )
        fill = cfg.fill_range[0] + (cfg.fill_range[1] - cfg.fill_range[0]) * torch.rand(n, generator=g)
        shift = (torch.rand(n, 2, generator=g) * 2 - 1) * cfg.center_jitter
        sh = random_sh(n, g)
        post_seed = torch.randint(2**62, (n,), generator=g)
        g_dev = torch.Generator(device=dev).manual_seed(int(torch.randint(2**62, (1,), generator=g)))
        bgs = procedural_backgrounds(n, res, generator=g_dev, device=dev, kinds=cfg.kinds)
        for side, side_name in enumerate(SIDE_NAMES):
            idx = torch.nonzero(is_right == (side == RIGHT)).flatten()
            if len(idx) == 0:
                continue
            m = self.models[side_name]
            k = len(idx)
            pose = self.priors[side_name].sample(k, g)
            betas = prior.sample_shapes(k, generator=g, num_betas=m.num_betas)
            orient = prior.sample_global_orient(k, generator=g)
            albedo = skin_albedo(m.part_labels, m.v_template, k, g)
            zero = torch.zeros(k, 3)
            posed = m(orient.to(dev), pose.to(dev), betas.to(dev), zero.to(dev))
            transl, K = place_in_view(
                posed.vertices, focal[idx].to(dev), fill[idx].to(dev), shift[idx].to(dev), res
            )
            verts = posed.vertices + transl[:, None]
            joints = posed.joints + transl[:, None]
            faces = m.faces.to(dev)
            light, colours = sh[idx].to(dev), albedo.to(dev)
            rgb, cover = _render_hands(verts, faces, colours, light, _subsample_intrinsics(K, ss), res * ss)
            rgb = F.avg_pool2d(rgb, ss)  # anti-aliased edges
            cover = F.avg_pool2d(cover[:, None], ss)
            out_img[idx.to(dev)] = rgb * cover + bgs[idx.to(dev)] * (1 - cover)
            # label mask: the mesh's coverage at the pixel centres (a plain 1x hard raster)
            out_mask[idx.to(dev)] = _render_hands(verts, faces, colours, light, K, res)[1] > 0.5
            xyz[idx] = joints.float().cpu()
            K_all[idx] = K.float().cpu()
            theta[idx] = torch.cat([orient, pose, betas, transl.float().cpu()], -1)
            for j, i in enumerate(idx.tolist()):
                verts_all[i] = verts[j].float().cpu()
        image = (out_img.clamp(0, 1) * 255 + 0.5).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        return {
            "image": image,
            "mask": out_mask.cpu().numpy(),
            "K": K_all.numpy(),
            "xyz": xyz.numpy(),
            "verts": np.stack([v.numpy() for v in verts_all]),
            "theta": theta.numpy(),
            "side": is_right.long().numpy(),
            "post_seed": post_seed.numpy(),
        }


# ----------------------------------------------------------------------------- image degradations
def degrade(image: np.ndarray, rng: np.random.Generator, cfg: SynthConfig) -> tuple[np.ndarray, int]:
    """Motion blur (probability cfg.blur_prob, linear kernel up to cfg.blur_max_px long at a random
    angle), Gaussian noise (sigma uniform in [0, cfg.noise_max]) on an HxWx3 uint8 image; returns it
    and the JPEG quality to save it with."""
    import cv2

    img = image.astype(np.float32)
    if rng.random() < cfg.blur_prob:
        length = rng.uniform(1.5, max(cfg.blur_max_px, 1.5))
        k = math.ceil(length) | 1
        kernel = np.zeros((k, k), np.float32)
        ang = rng.uniform(0, math.pi)
        dx, dy = math.cos(ang) * (length - 1) / 2, math.sin(ang) * (length - 1) / 2
        c = (k - 1) / 2
        cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1, cv2.LINE_AA)
        img = cv2.filter2D(img, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT)
    sigma = rng.uniform(0, cfg.noise_max)
    if sigma > 0:
        img = img + rng.normal(0, sigma, img.shape).astype(np.float32)
    quality = int(rng.integers(cfg.jpeg_range[0], cfg.jpeg_range[1] + 1))
    return np.clip(img + 0.5, 0, 255).astype(np.uint8), quality


# ----------------------------------------------------------------------------- writing
class _JsonArray:
    """Stream a JSON array record by record (verts of 10^5 hands do not fit in Python lists)."""

    def __init__(self, path: Path) -> None:
        self.f = open(path, "w")  # noqa: SIM115 - closed in close()
        self.f.write("[")
        self.first = True

    def append(self, value: Any) -> None:
        self.f.write(("" if self.first else ", ") + json.dumps(value))
        self.first = False

    def close(self) -> None:
        self.f.write("]")
        self.f.close()


def _chunk_seed(seed: int, split: str, chunk: int) -> int:
    return int(np.random.SeedSequence([seed, SPLIT_IDS[split], chunk]).generate_state(1, np.uint64)[0] >> 1)


def _r(a: np.ndarray, decimals: int = 7) -> list:
    return np.round(np.asarray(a, np.float64), decimals).tolist()


def write_split(
    renderer: SynthRenderer, out: Path, split: str, n: int, seed: int, progress: bool = True
) -> list[int]:
    """Write one FreiHAND split (training: rgb + mask; evaluation: rgb) of n records; returns the
    per-record sides (0 left, 1 right)."""
    import cv2

    if n <= 0:
        return []
    (out / split / "rgb").mkdir(parents=True, exist_ok=True)
    if split == "training":
        (out / split / "mask").mkdir(parents=True, exist_ok=True)
    files = {k: _JsonArray(out / f"{split}_{k}.json") for k in ("K", "xyz", "verts", "mano", "scale")}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, desc=f"synth {split}", unit="img")
    sides: list[int] = []
    try:
        for chunk in range((n + CHUNK - 1) // CHUNK):
            count = min(CHUNK, n - chunk * CHUNK)
            batch = renderer.render(count, _chunk_seed(seed, split, chunk))
            for i in range(count):
                idx = chunk * CHUNK + i
                rng = np.random.default_rng(int(batch["post_seed"][i]))
                img, quality = degrade(batch["image"][i], rng, renderer.cfg)
                bgr = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
                cv2.imwrite(
                    str(out / split / "rgb" / f"{idx:08d}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, quality]
                )
                if split == "training":
                    mask = batch["mask"][i].astype(np.uint8) * 255
                    cv2.imwrite(
                        str(out / split / "mask" / f"{idx:08d}.jpg"), mask, [cv2.IMWRITE_JPEG_QUALITY, 100]
                    )
                xyz = batch["xyz"][i]
                files["K"].append(_r(batch["K"][i], 9))
                files["xyz"].append(_r(xyz))
                files["verts"].append(_r(batch["verts"][i]))
                files["mano"].append([_r(batch["theta"][i])])
                files["scale"].append(float(np.round(np.linalg.norm(xyz[10] - xyz[9]), 7)))
                sides.append(int(batch["side"][i]))
            if bar is not None:
                bar.update(count)
    finally:
        for f in files.values():
            f.close()
        if bar is not None:
            bar.close()
    return sides


def write_synth(
    out: str | Path,
    n: int,
    n_eval: int | None = None,
    cfg: SynthConfig | None = None,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Render n training and n_eval (default n // 10) evaluation records into `out` (see module
    docstring for the files)."""
    import smhr

    cfg = cfg or SynthConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n_eval = n // 10 if n_eval is None else n_eval
    renderer = SynthRenderer(cfg)
    sides = {
        "training": write_split(renderer, out, "training", n, seed, progress),
        "evaluation": write_split(renderer, out, "evaluation", n_eval, seed, progress),
    }
    meta = {
        "format": "freihand",
        "generator": "smhr synth",
        "smhr_version": smhr.__version__,
        "hand_model": cfg.hand,
        "side": cfg.side,
        "seed": seed,
        "res": cfg.res,
        "count": {"training": n, "evaluation": n_eval},
        "mano_layout": {
            "0:3": "global_orient, axis-angle, camera frame",
            "3:48": "pose: 15 joints x axis-angle, flat mean (zero = rest pose), model native joint order",
            "48:58": "betas",
            "58:61": "transl, metres: HandModel.forward(orient, pose, betas, transl) gives *_xyz / *_verts",
        },
        "pose_space": "flat",
        "scale": "|xyz[10] - xyz[9]| (middle MCP -> PIP), metres",
        "mask": "training/mask/%08d.jpg: 255 hand, 0 background (threshold at 128)",
        "config": asdict(cfg),
    }
    if cfg.side == "both":
        meta["sides"] = sides  # 0 left, 1 right per record (FreiHAND's layout has no side field)
    with open(out / "meta.json", "w") as f:
        json.dump(meta, f, indent=2)
    return out
