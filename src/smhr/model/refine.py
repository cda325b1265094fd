"""Keypoint-aligned refinement: features read at a hand's own 21 joints -> a residual on its parameters
and a handedness correction (`SMHRConfig.refine`; docs/network.md "Keypoint-aligned refinement").

Why: every gathered head reads one 3x3 neighbourhood of the stride-4 map at the hand's centre cell.
That cell sees the palm, not the fingertips, and on a close-up it sees a few square centimetres of
skin from which the side (left / right) is guesswork. WiLoR's refinement reads the features where
the first estimate puts the joints; here the first estimate is the local keypoint branch
(`kp_offsets`, already computed at every peak), so nothing new has to run before the sampling (the
first parameters' 3D joints would need the hand model inside the graph). The 21 sampled vectors,
the first parameters and the normalised 2D joint layout (its chirality says which side the thumb
is on) go through a small MLP whose output is a residual on both sides' 122 parameters (pose,
shape, translation) and on the centre cell's two handedness logits.

The last layer starts at zero, so a net with an untrained refiner answers exactly what it answered
without one (fine-tuning starts from the shipped weights' behaviour). The sampling positions are
detached: the keypoint branch is trained by its own losses, not moved to where the refiner would
like to look. Bilinear sampling is `grid_sample` (one ONNX GridSample node; border padding, pixel
centres at (cell + 0.5) * stride as in the targets' convention).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from smhr.hands.keypoints import NUM_KEYPOINTS
from smhr.hands.params import NUM_PARAMS

__all__ = ["KeypointRefiner", "sample_at_keypoints"]

NUM_SIDES = 2
JOINT_CHANNELS = 32  # per-joint width after the shared projection of the sampled features


def sample_at_keypoints(features: torch.Tensor, cells: torch.Tensor,
                        kp_offsets: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of `features` [B,C,H,W] at the keypoints of cells [B,K] + kp_offsets
    [B,K,21,2] (in cells, relative to the cell's integer (x, y), as the local keypoint head) ->
    [B,K,21,C]. A keypoint at cell coordinate u lies at pixel u * stride, i.e. at feature index
    u - 0.5 (cell i's feature is its centre); outside the map the border value is read."""
    H, W = features.shape[-2:]  # traced, not constants: a band input of any height / width
    y = torch.div(cells, W, rounding_mode="trunc")  # cells >= 0: floor in one ONNX node
    x = cells - y * W
    # align_corners=False: -1 is the left edge of cell 0, +1 the right edge of the last cell
    gx = (x[..., None].to(kp_offsets.dtype) + kp_offsets[..., 0]) * 2 / W - 1  # [B,K,21]
    gy = (y[..., None].to(kp_offsets.dtype) + kp_offsets[..., 1]) * 2 / H - 1
    grid = torch.stack([gx, gy], -1)
    # in float32 (the map is cast, not the positions: bf16 would move them by ~0.1 cell)
    sampled = F.grid_sample(_as(features, grid.dtype), grid, mode="bilinear", padding_mode="border",
                            align_corners=False)  # [B,C,K,21]
    return sampled.permute(0, 2, 3, 1)


class KeypointRefiner(nn.Module):
    """forward(features [B,C,H,W], cells [B,K], kp_offsets [B,K,21,2], params [B,K,122], handedness
    [B,K,2]) -> (params + residual, handedness + correction), the same shapes.

    Each joint's C sampled channels are first projected to `JOINT_CHANNELS` by one shared linear map
    (a low-rank first layer: 3-4x fewer weights and multiply-adds than 21 x C inputs at C = 64).
    MLP: [21 x 32 projected features, 122 first parameters, 42 joint coordinates centred and
    divided by their RMS spread, log of the mean square spread] -> hidden -> hidden -> 124, the last
    layer zero-initialised."""

    def __init__(self, channels: int, hidden: int = 256) -> None:
        super().__init__()
        self.joint = nn.Linear(channels, JOINT_CHANNELS)
        inputs = NUM_KEYPOINTS * JOINT_CHANNELS + NUM_PARAMS + 2 * NUM_KEYPOINTS + 1
        self.mlp = nn.Sequential(
            nn.Linear(inputs, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, NUM_PARAMS + NUM_SIDES),
        )
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, features: torch.Tensor, cells: torch.Tensor, kp_offsets: torch.Tensor,
                params: torch.Tensor, handedness: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # sizes as (B, -1, n), never K: an ONNX Reshape cannot infer -1 beside a size 0 (no slot
        # reaches the threshold), and reads a literal 0 as "keep this dimension"
        B = features.shape[0]
        kp = _as(kp_offsets.detach(), torch.float32).reshape(B, -1, NUM_KEYPOINTS, 2)
        sampled = self.joint(sample_at_keypoints(features, cells, kp))  # [B,K,21,32]
        sampled = sampled.reshape(B, -1, NUM_KEYPOINTS * JOINT_CHANNELS)
        rel = kp - kp.mean(2, keepdim=True)
        spread = rel.square().mean((2, 3)).unsqueeze(-1) + 1e-4  # [B,K,1] mean square, cells^2
        layout = (rel / spread.sqrt().unsqueeze(-1)).reshape(B, -1, 2 * NUM_KEYPOINTS)
        dtype = params.dtype
        x = torch.cat([_as(sampled, dtype), params.detach(), _as(layout, dtype), _as(spread.log(), dtype)],
                      -1)
        d_params, d_side = self.mlp(x).split((NUM_PARAMS, NUM_SIDES), -1)
        return params + d_params, handedness + d_side


def _as(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """`t.to(dtype)` only when it differs (no Cast node in the exported graph otherwise)."""
    return t if t.dtype == dtype else t.to(dtype)
