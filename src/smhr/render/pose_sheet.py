"""Contact sheets of sampled hand poses: a person judges the pose prior and the hand asset by eye.

Every tile shows one sample from `smhr.hands.prior` (articulation and shape) in the same view
(palm towards the camera, fingers up, turned 25 degrees to show the thumb), lit by one
directional light so the finger curl reads in depth. Right hands fill the left half of the
sheet, left hands the right half.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from smhr.hands.model import HandModel
from smhr.hands.prior import PosePrior, sample_shapes
from smhr.render.renderer import render_hard
from smhr.render.shading import directional_sh

SKIN = (0.86, 0.66, 0.53)
# Rotations taking each canonical hand (right: fingers -x, palm -y; left: fingers +x, palm -y) to
# "palm towards the camera, fingers up" in the camera frame.
FACING_CAMERA = {
    "right": np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
    "left": np.array([[0.0, 0.0, -1.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
}


def _turn(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])


def render_tiles(
    model: HandModel, pose: torch.Tensor, betas: torch.Tensor, tile: int = 128, turn_deg: float = 25.0,
) -> np.ndarray:
    """[N,tile,tile,3] uint8 renders of the hands (zero global orientation) in the sheet's view."""
    with torch.no_grad():
        out = model(torch.zeros(len(pose), 3), pose, betas)
    turn = turn_deg if model.side == "left" else -turn_deg  # both sides turn their thumb into view
    R = torch.as_tensor(_turn(turn) @ FACING_CAMERA[model.side], dtype=torch.float32)
    v = out.vertices @ R.T
    centre = (v.amax(1) + v.amin(1)) / 2
    depth = 0.6
    v = v - centre[:, None] + torch.tensor([0.0, 0.0, depth])
    f = tile * 0.85 * depth / 0.24  # a 24 cm extent fills 85 % of the tile
    K = torch.tensor([[f, 0.0, (tile - 1) / 2], [0.0, f, (tile - 1) / 2], [0.0, 0.0, 1.0]])
    albedo = torch.tensor(SKIN).expand(len(pose), 1, model.num_vertices, 3)
    sh = directional_sh(torch.tensor([-0.4, -0.6, -1.0]))
    rendered = render_hard(v[:, None], model.faces, K.expand(len(pose), 3, 3), (tile, tile),
                           albedo=albedo, sh=sh, background=(0.16, 0.17, 0.19))  # fmt: skip
    return (rendered.rgb.permute(0, 2, 3, 1).clamp(0, 1) * 255).round().byte().numpy()


def contact_sheet(
    models: Sequence[HandModel], n: int = 32, seed: int = 0, tile: int = 128, cols: int = 8,
) -> np.ndarray:
    """HxWx3 uint8 RGB sheet: for each model (e.g. right and left), n prior samples in a block of
    `cols` columns, blocks side by side, each titled with the model's kind and side."""
    import cv2

    blocks = []
    for i, model in enumerate(models):
        g = torch.Generator().manual_seed(seed * 1009 + i)
        pose = PosePrior.from_model(model).sample(n, g)
        betas = sample_shapes(n, g, num_betas=model.num_betas)
        tiles = render_tiles(model, pose, betas, tile)
        rows = -(-n // cols)
        grid = np.full((rows * tile, cols * tile, 3), 40, np.uint8)
        for k, t in enumerate(tiles):
            r, c = divmod(k, cols)
            grid[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = t
        title = np.full((28, grid.shape[1], 3), 255, np.uint8)
        cv2.putText(title, f"{model.kind} {model.side}: {n} prior samples (seed {seed})", (6, 20),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.55, (20, 20, 20), 1, cv2.LINE_AA)  # fmt: skip
        blocks.append(np.concatenate([title, grid], 0))
    gap = np.full((blocks[0].shape[0], 8, 3), 255, np.uint8)
    out = blocks[0]
    for b in blocks[1:]:
        out = np.concatenate([out, gap, b], 1)
    return out
