"""The training losses. The photometric and silhouette terms (`smhr.losses.photometric`) compare
images the renderer made (`smhr.render`, called by `smhr.train.objective`) with the photo; they
import nothing from the renderer themselves, and are not re-exported here.

`DEFAULT_WEIGHTS` is the official weight table re-expressed for our loss scales:
reprojection is plain px^2 MSE here (official x0.01 x10 -> 0.1), 3D losses are in metres
(official x1000 x10 -> 1e4), keypoint offsets use the official `--off` weight 1 and the consistency
term (absent from the released code) starts at 1 (L1 px; tune it).
"""

from smhr.losses.distill import binary_kl_with_logits, palm_distill_loss
from smhr.losses.focal import focal_loss
from smhr.losses.keypoints import (
    FREIHAND_BONES,
    bone_direction_loss,
    hand_size_px,
    keypoint_consistency_loss,
    keypoint_offset_loss,
    reprojection_loss,
)
from smhr.losses.priors import default_limit_violation, hand_prior_loss, pose_prior, shape_prior
from smhr.losses.side import side_cross_entropy
from smhr.losses.supervised3d import align_to_root, joints3d_loss, root_depth_loss

DEFAULT_WEIGHTS: dict[str, float] = {
    "center": 100.0,
    "handedness": 100.0,  # multi-hand; the official single-hand branch used 20
    "reprojection": 0.1,
    "bone_direction": 100.0,
    "prior": 1000.0,
    "keypoint_offsets": 1.0,
    "consistency": 1.0,
    "joints3d": 0.0,  # 1e4 for fully supervised training (official multi-hand: 10 x 1000)
    "root_depth": 0.0,  # 100 where 3D joints and the camera are known (pins the depth; ours)
}

__all__ = [
    "DEFAULT_WEIGHTS",
    "DISTILL_TERMS",
    "FREIHAND_BONES",
    "REFINE_TERMS",
    "align_to_root",
    "binary_kl_with_logits",
    "bone_direction_loss",
    "default_limit_violation",
    "focal_loss",
    "hand_prior_loss",
    "hand_size_px",
    "joints3d_loss",
    "keypoint_consistency_loss",
    "keypoint_offset_loss",
    "palm_distill_loss",
    "pose_prior",
    "reprojection_loss",
    "root_depth_loss",
    "shape_prior",
    "side_cross_entropy",
]

REFINE_TERMS: tuple[str, ...] = ("side_ce", "first_estimate")
"""The keypoint-aligned refinement's terms (`SMHRConfig.refine`), 0 unless a config weights them:
side_ce = `side_cross_entropy` of the refined side logits; first_estimate = deep supervision of the
first (unrefined) parameters, the weighted sum of their reprojection, bone-direction, prior, 3D-joint
and root-depth terms (each at its own weight), times this weight."""

DISTILL_TERMS: tuple[str, ...] = ("palm_distill",)
"""Training-only distillation terms, 0 unless a config weights them: palm_distill = `palm_distill_loss`
of a `smhr.model.palm_distill.PalmScoreHead` on the neck features against the frozen palm detector's
scores on the same image (every image of the mixture; no labels read)."""
