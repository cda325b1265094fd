"""Appearance losses that compare a rendering of the predicted hands with the photo (SMHR paper).

    photometric = sum_p ||I_r(p) - I(p)||_2 * M(p) / (sum_p M(p) + 1e-4),  M = hard_mask_r * skin_mask
    silhouette  = mean over images with a mask of mean_p |S_soft(p) - skin_mask(p)|

Differences from the official code, on purpose:
- the silhouette term has gradients (the official one compared a detached hard mask: monitor only);
  ours uses the renderer's soft silhouette, so it pulls the mesh outline onto the hand mask;
- images without a mask are left out of the silhouette mean instead of comparing with zeros, and a
  batch with some hand-less images still gets its photometric term from the others (the official
  code zeroed the whole batch).
The photometric mask uses the detached hard coverage like the official code: the colour term should
explain the pixels the mesh covers, not move the outline (that is the silhouette's job).
"""

from __future__ import annotations

import torch

from smhr.records import ALBEDO_MEAN, AMBIENT_DC

__all__ = ["ALBEDO_MEAN", "AMBIENT_DC", "albedo_from_texture", "photometric_loss", "sh_from_light",
           "silhouette_loss"]

PHOTO_EPS = 1e-4


def albedo_from_texture(texture: torch.Tensor) -> torch.Tensor:
    """Per-vertex albedo [..., V, 3] = texture-head residual + the official mean skin colour."""
    return texture.float() + torch.tensor(ALBEDO_MEAN, device=texture.device)


def sh_from_light(light: torch.Tensor) -> torch.Tensor:
    """SH-9 coefficients [..., 27] (3 colours x 9, colour-major) = lighting head + 0.8 on each
    colour's constant term, the official ambient prior."""
    sh = light.float().reshape(*light.shape[:-1], 3, 9)
    dc = torch.zeros(9, device=light.device)
    dc[0] = AMBIENT_DC
    return (sh + dc).reshape(*light.shape)


def photometric_loss(
    rendered: torch.Tensor, image: torch.Tensor, rendered_mask: torch.Tensor, skin_mask: torch.Tensor
) -> torch.Tensor:
    """Masked mean L2 colour distance: rendered / image [B,3,H,W] in [0,1]; rendered_mask (hard
    coverage, detached here) and skin_mask [B,1,H,W] in [0,1]. Zero when no pixel is selected."""
    m = rendered_mask.detach().float() * skin_mask.float()
    diff = (rendered.float() - image.float()).pow(2).sum(1, keepdim=True)
    dist = torch.sqrt(diff + 1e-12)  # finite gradient at zero distance
    return (dist * m).sum() / (m.sum() + PHOTO_EPS)


def silhouette_loss(
    silhouette: torch.Tensor, skin_mask: torch.Tensor, has_mask: torch.Tensor
) -> torch.Tensor:
    """Mean |soft silhouette - mask| [B,1,H,W] over the images whose has_mask [B] is true (0 if none)."""
    per = (silhouette.float() - skin_mask.float()).abs().flatten(1).mean(1)
    keep = has_mask.bool()
    per = torch.where(keep, per, torch.zeros((), device=per.device))
    return per.sum() / keep.sum().clamp(min=1)
