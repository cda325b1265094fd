"""Tiny FreiHAND-layout sets drawn without a renderer, for tests and smoke runs.

Each image shows one hand as its projected skeleton (thick per-finger coloured bones on a dark
textured background) and its mask as the dilated skeleton; the labels are exactly FreiHAND's files
(training_K / _xyz / _verts / _mano / _scale.json, training/rgb, training/mask, evaluation/...).
Why: a network can learn these images in a few hundred CPU steps, so the training loop, resume and
evaluation can be tested end to end in seconds, with labels that a real hand model produced.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch

from smhr.hands.keypoints import BONES
from smhr.hands.model import HandModel

__all__ = ["write_skeleton_freihand"]

FINGER_BGR = [(80, 80, 255), (0, 200, 255), (80, 220, 80), (255, 200, 0), (255, 80, 180)]


def _draw(kp: np.ndarray, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    noise = rng.integers(0, 40, (size // 4 + 1, size // 4 + 1, 3)).astype(np.uint8)
    image = cv2.resize(noise, (size, size), interpolation=cv2.INTER_LINEAR)
    mask = np.zeros((size, size), np.uint8)
    width = max(2, size // 40)
    for n, (a, b) in enumerate(BONES):
        pa, pb = tuple(round(v) for v in kp[a]), tuple(round(v) for v in kp[b])
        cv2.line(image, pa, pb, FINGER_BGR[n // 4], width, cv2.LINE_AA)
        cv2.line(mask, pa, pb, 255, width + 2)
    cv2.circle(image, tuple(round(v) for v in kp[0]), width + 1, (255, 255, 255), -1)
    return image, mask


def write_skeleton_freihand(
    root: str | Path, hand_model: HandModel, n_train: int = 16, n_eval: int = 4, size: int = 64,
    seed: int = 0, pose_scale: float = 0.3,
) -> Path:
    """Write a FreiHAND-layout set of `n_train` + `n_eval` right hands posed by `hand_model`
    (random articulation ~ N(0, pose_scale), orientation within ~30 degrees of the rest, hand
    0.45-0.6 m from a camera whose focal makes it fill ~half the image). Returns `root`."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, n in (("training", n_train), ("evaluation", n_eval)):
        (root / split / "rgb").mkdir(parents=True, exist_ok=True)
        if split == "training":
            (root / split / "mask").mkdir(parents=True, exist_ok=True)
        orient = torch.from_numpy(rng.normal(0, 0.3, (n, 3)).astype(np.float32))
        pose = torch.from_numpy(rng.normal(0, pose_scale, (n, 45)).astype(np.float32))
        betas = torch.from_numpy(rng.normal(0, 0.5, (n, 10)).astype(np.float32))
        with torch.no_grad():
            rest = hand_model(orient, pose, betas, torch.zeros(n, 3))
        centre = rest.joints.mean(1)
        depth = rng.uniform(0.45, 0.6, n)
        offset = np.stack([rng.uniform(-0.02, 0.02, n), rng.uniform(-0.02, 0.02, n), depth], 1)
        transl = -centre + torch.from_numpy(offset.astype(np.float32))
        with torch.no_grad():
            out = hand_model(orient, pose, betas, transl)
        xyz, verts = out.joints.numpy(), out.vertices.numpy()
        extent = float(np.ptp(rest.joints.numpy()[..., :2], axis=1).max(1).mean())
        f = 0.5 * size * float(depth.mean()) / max(extent, 1e-3)
        K = np.array([[f, 0, size / 2 - 0.5], [0, f, size / 2 - 0.5], [0, 0, 1]], np.float64)
        for i in range(n):
            uvw = xyz[i] @ K.T
            image, mask = _draw(uvw[:, :2] / uvw[:, 2:], size, rng)
            cv2.imwrite(str(root / split / "rgb" / f"{i:08d}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
            if split == "training":
                cv2.imwrite(str(root / split / "mask" / f"{i:08d}.jpg"), mask)
        mano = [[[*orient[i].tolist(), *pose[i].tolist(), *betas[i].tolist(), 0.0, 0.0, 1.0]]
                for i in range(n)]
        files = {
            "K": [K.tolist()] * n,
            "xyz": xyz.tolist(),
            "verts": verts.tolist(),
            "mano": mano,
            "scale": np.linalg.norm(xyz[:, 10] - xyz[:, 9], axis=1).tolist(),
        }
        for name, data in files.items():
            (root / f"{split}_{name}.json").write_text(json.dumps(data))
    return root
