"""2D keypoint losses: re-projection, bone direction, local offsets and local/global consistency.

Shapes: keypoints [B,K,21,2] pixels (network input pixels), FreiHAND order; visibility [B,K,21]
bool ("may be supervised"); valid [B,K] bool (the slot holds a hand). Every loss averages over the
supervised entries of the whole batch with the count clamped to >= 1, so empty slots contribute
nothing (the official multi-hand code trained them towards a flat hand at pixel (0, 0))
and a batch without any hand gives exactly 0. Masked entries are removed with `where`, so even NaN
targets in empty slots cannot leak into the loss or its gradient.
"""

from __future__ import annotations

import torch

from smhr.hands.keypoints import BONES

__all__ = [
    "FREIHAND_BONES",
    "REPROJECTION_UNITS",
    "bone_direction_loss",
    "hand_size_px",
    "keypoint_consistency_loss",
    "keypoint_offset_loss",
    "reprojection_loss",
]

# (parent, child) of the 20 bones of the FreiHAND keypoint tree (wrist -> each finger's 4 joints)
FREIHAND_BONES: tuple[tuple[int, int], ...] = BONES
BONE_EPS = 1e-4  # px^2, as the official bone loss: d = v / sqrt(|v|^2 + eps)
SIZE_REFERENCE_PX = 96.0  # a hand this long keeps its px^2 loss under `hand_size` units
MIN_SIZE_PX = 24.0  # shorter label boxes (tiny or mostly hidden hands) count as this long
REPROJECTION_UNITS = ("pixels", "hand_size")  # reprojection_loss without / with hand_size


def _mask(valid: torch.Tensor, visibility: torch.Tensor | None, shape: tuple[int, ...]) -> torch.Tensor:
    """Boolean [B,K,21] supervision mask from valid [B,K] and optional visibility [B,K,21]."""
    m = valid.bool()[..., None].expand(shape)
    return m if visibility is None else m & visibility.bool()


def _clean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """x [..., D] as float32 with unsupervised entries (mask [...] false) set to 0 BEFORE any
    arithmetic: masking only the result would still back-propagate NaN from garbage entries."""
    return torch.where(mask[..., None], x.float(), torch.zeros((), device=x.device))


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of values [..., D] over the entries where mask [...] is true (each counts D times)."""
    values = torch.where(mask[..., None], values, torch.zeros((), dtype=values.dtype, device=values.device))
    count = mask.sum().clamp(min=1) * values.shape[-1]
    return values.sum() / count


def hand_size_px(target: torch.Tensor, valid: torch.Tensor,
                 visibility: torch.Tensor | None = None) -> torch.Tensor:
    """Each hand's length [B,K] in pixels: the longer side of the box of its supervised keypoints
    (target [B,K,21,2]), at least MIN_SIZE_PX (so a hand with one visible keypoint, or none, or an
    empty slot, never divides by ~0)."""
    mask = _mask(valid, visibility, target.shape[:-1])[..., None]
    big = torch.finfo(torch.float32).max
    t = target.float()
    lo = torch.where(mask, t, torch.full((), big, device=t.device)).amin(-2)
    hi = torch.where(mask, t, torch.full((), -big, device=t.device)).amax(-2)
    side = torch.where(mask.any(-2), hi - lo, torch.zeros((), device=t.device)).amax(-1)
    return side.clamp(min=MIN_SIZE_PX)


def reprojection_loss(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, visibility: torch.Tensor | None = None,
    hand_size: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean squared pixel error per supervised coordinate (px^2), as the official per-coordinate MSE.

    The official code multiplies this by 0.01 and then by reproj_weight 10; we keep the loss in
    plain px^2 and put the product (0.1) in the weight table (`smhr.losses.DEFAULT_WEIGHTS`).

    hand_size [B,K] (px, e.g. `hand_size_px`): measure each hand's error in units of its own length
    instead, scaled to a SIZE_REFERENCE_PX hand (which keeps its px^2). Why: in plain px^2 a 220-px
    hand 5 % off costs as much as a 24-px hand 45 % off, so training settles for small hands drawn
    too large and large ones too small (docs/evaluation.md "Photo mode", the size ratio); in units
    of the hand every size is held to the same relative error.
    """
    mask = _mask(valid, visibility, pred.shape[:-1])
    diff = _clean(pred, mask) - _clean(target, mask)
    if hand_size is not None:
        diff = diff * (SIZE_REFERENCE_PX / hand_size.float().clamp(min=MIN_SIZE_PX))[..., None, None]
    return _masked_mean(diff.pow(2), mask)


_BONE_INDEX: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}


def _bone_index(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(parents [20], children [20]) long tensors on `device`, made once per device: indexing with
    a Python list would copy it host->device (and synchronise the stream) at every call."""
    if device not in _BONE_INDEX:
        idx = torch.tensor(FREIHAND_BONES, dtype=torch.long).T
        _BONE_INDEX[device] = (idx[0].to(device), idx[1].to(device))
    return _BONE_INDEX[device]


def _directions(kp: torch.Tensor) -> torch.Tensor:
    parents, children = _bone_index(kp.device)
    v = kp.index_select(-2, children) - kp.index_select(-2, parents)
    return v / torch.sqrt(v.pow(2).sum(-1, keepdim=True) + BONE_EPS)


def bone_direction_loss(
    pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, visibility: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean over supervised bones of ||d_pred - d_gt||^2 with d = bone / sqrt(|bone|^2 + 1e-4)
    (unit 2D bone directions of the 20 FreiHAND bones). A bone is supervised when its slot is valid
    and both its keypoints are visible. Scale-free: in [0, 4] per bone."""
    kp_mask = _mask(valid, visibility, pred.shape[:-1])
    pred, target = _clean(pred, kp_mask), _clean(target, kp_mask)
    d = (_directions(pred) - _directions(target)).pow(2).sum(-1, keepdim=True)
    parents, children = _bone_index(pred.device)
    return _masked_mean(d, kp_mask.index_select(-1, parents) & kp_mask.index_select(-1, children))


def keypoint_offset_loss(
    pred_offsets: torch.Tensor, target_offsets: torch.Tensor, valid: torch.Tensor,
    visibility: torch.Tensor | None = None,
) -> torch.Tensor:
    """L1 (mean per supervised coordinate, in output cells) between the local head's keypoint
    offsets [B,K,21,2] and the targets' `local_keypoints` (keypoints / stride - centre cell), as the
    official `--off` branch intended (RegWeightedL1Loss, weight 1)."""
    mask = _mask(valid, visibility, pred_offsets.shape[:-1])
    return _masked_mean((_clean(pred_offsets, mask) - _clean(target_offsets, mask)).abs(), mask)


def keypoint_consistency_loss(
    local: torch.Tensor, global_: torch.Tensor, valid: torch.Tensor, visibility: torch.Tensor | None = None,
    detach: str = "local",
) -> torch.Tensor:
    """The paper's local-vs-global consistency, L1 per coordinate in pixels.

    local [B,K,21,2]: keypoints from the local head, (centre cell + offsets) * stride
    (`smhr.model.decode.local_keypoints`); global_ [B,K,21,2]: the hand model's joints re-projected.
    Works for one or many hands per image (K slots, `valid` masks empty ones). visibility is
    optional: by default every keypoint of a valid hand is compared, because the term is most useful
    exactly where no 2D label exists (occluded / unlabelled joints).

    detach: which side is the teacher ("local" = default, "global", or "none"). Why local is
    detached: the paper's premise is that keypoints from LOCAL features are the more reliable 2D
    evidence (a direct image-to-keypoint regression near the hand) and that the re-projection of the
    GLOBAL model-based prediction "should be consistent" with them; the mesh branch only gets
    weak 2D supervision, so the local estimate constrains it (pose, scale, translation). Letting the
    gradient also flow into the local head would let the mesh -- usually the worse 2D estimate --
    drag the local keypoints towards its own errors.
    """
    if detach == "local":
        local = local.detach()
    elif detach == "global":
        global_ = global_.detach()
    elif detach != "none":
        raise ValueError(f"keypoint_consistency_loss: detach must be local, global or none, got {detach!r}")
    mask = _mask(valid, visibility, local.shape[:-1])
    return _masked_mean((_clean(local, mask) - _clean(global_, mask)).abs(), mask)
