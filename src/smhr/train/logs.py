"""Training logs: TensorBoard scalars and image grids, plus a plain `metrics.jsonl` that needs no
TensorBoard to read (scripts, tests and the closing notes parse it).

Image grids show, per training image, the ground-truth keypoints (white) and the hand model's
re-projected keypoints (per-finger colours); with the renderer available they also show the
predicted meshes shaded over the photo.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from smhr.hands.keypoints import BONES

__all__ = ["RunLog", "keypoint_grid"]

FINGER_COLOURS = [(255, 80, 80), (255, 200, 0), (80, 220, 80), (0, 200, 255), (180, 80, 255)]


def _draw(image: np.ndarray, kp: np.ndarray, colour: tuple[int, int, int] | None) -> None:
    for n, (a, b) in enumerate(BONES):
        c = colour or FINGER_COLOURS[min(n // 4, 4)]
        pa, pb = tuple(round(v) for v in kp[a]), tuple(round(v) for v in kp[b])
        cv2.line(image, pa, pb, c, 1, cv2.LINE_AA)


def keypoint_grid(images: torch.Tensor, gt: torch.Tensor, pred: torch.Tensor, valid: torch.Tensor,
                  max_images: int = 8) -> np.ndarray:
    """An HxWx3 uint8 grid of up to `max_images` images [B,3,R,R] in [0,1] with GT [B,K,21,2]
    (white) and predicted (coloured) keypoints of valid [B,K] slots."""
    n = min(max_images, images.shape[0])
    tiles = []
    for b in range(n):
        rgb = images[b].detach().float().clamp(0, 1).permute(1, 2, 0).cpu().numpy()
        img = np.ascontiguousarray((rgb * 255).astype(np.uint8))
        for k in torch.nonzero(valid[b]).flatten().tolist():
            _draw(img, gt[b, k].detach().cpu().numpy(), (255, 255, 255))
            _draw(img, pred[b, k].detach().float().cpu().numpy(), None)
        tiles.append(img)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    H, W = tiles[0].shape[:2]
    grid = np.zeros((rows * H, cols * W, 3), np.uint8)
    for i, t in enumerate(tiles):
        grid[(i // cols) * H : (i // cols + 1) * H, (i % cols) * W : (i % cols + 1) * W] = t
    return grid


class RunLog:
    """Writes scalars to `out_dir/metrics.jsonl` and TensorBoard (`out_dir/tb`), images to
    TensorBoard and `out_dir/images/`. Only rank 0 should hold one (others pass enabled=False)."""

    def __init__(self, out_dir: str | Path, enabled: bool = True, tensorboard: bool = True) -> None:
        self.out_dir = Path(out_dir)
        self.enabled = enabled
        self.writer = None
        if not enabled:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.jsonl = open(self.out_dir / "metrics.jsonl", "a")  # noqa: SIM115 - closed in close()
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is a dependency, but a broken install must not stop training
                SummaryWriter = None
            if SummaryWriter is not None:
                self.writer = SummaryWriter(str(self.out_dir / "tb"))

    def scalars(self, step: int, values: dict[str, float], prefix: str = "train") -> None:
        if not self.enabled:
            return
        self.jsonl.write(json.dumps({"step": step, "split": prefix, **values}) + "\n")
        self.jsonl.flush()
        if self.writer is not None:
            for k, v in values.items():
                if isinstance(v, (int, float)) and math.isfinite(v):
                    self.writer.add_scalar(f"{prefix}/{k}", v, step)

    def image(self, step: int, name: str, image: np.ndarray) -> None:
        if not self.enabled:
            return
        folder = self.out_dir / "images"
        folder.mkdir(exist_ok=True)
        cv2.imwrite(str(folder / f"{name}_{step:07d}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        if self.writer is not None:
            self.writer.add_image(name, image, step, dataformats="HWC")

    def close(self) -> None:
        if self.enabled:
            self.jsonl.close()
            if self.writer is not None:
                self.writer.close()

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
