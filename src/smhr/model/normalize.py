"""Input normalisation the network expects: RGB in [0, 1] minus ImageNet mean, over ImageNet std.

One definition, used by training, the API, the demo and ONNX export, because the official code fed
BGR images normalised with RGB statistics (a defect of the official code) and that kind of mismatch is silent.
"""

from __future__ import annotations

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "normalize_images"]


def normalize_images(images: torch.Tensor) -> torch.Tensor:
    """images [B,3,H,W] RGB, float in [0, 1] or uint8 in [0, 255] -> float32 ImageNet-normalised."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"normalize_images expects [B,3,H,W] RGB, got {tuple(images.shape)}")
    x = images.float()
    if images.dtype == torch.uint8:
        x = x / 255.0
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std
