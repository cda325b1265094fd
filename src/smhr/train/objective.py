"""One training step's objective: network outputs at the ground-truth centres -> weighted losses.

The network is evaluated densely for the centre and handedness maps, and its parameter / keypoint
/ appearance heads only at the GT centre cells (`net.gather`), exactly where inference gathers
them. The GT side picks the parameter set and the hand model (the paper's losses; the official
multi-hand trainer did the same); a hand whose side is unknown takes the network's own detached
guess. Terms whose weight is zero are still computed for logging but add nothing; photometric /
silhouette terms need the renderer and are computed only when weighted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from smhr.hands.keypoints import ROOT_INDEX
from smhr.losses import (
    bone_direction_loss,
    focal_loss,
    hand_prior_loss,
    hand_size_px,
    joints3d_loss,
    keypoint_consistency_loss,
    keypoint_offset_loss,
    palm_distill_loss,
    reprojection_loss,
    root_depth_loss,
    side_cross_entropy,
)
from smhr.losses.keypoints import REPROJECTION_UNITS
from smhr.losses.photometric import albedo_from_texture, photometric_loss, sh_from_light, silhouette_loss
from smhr.losses.supervised3d import JOINTS3D_FRAMES, rotate_to_virtual_ray
from smhr.model.camera import VIRTUAL_FOCAL
from smhr.model.decode import hands_from_params, local_keypoints
from smhr.model.normalize import normalize_images

__all__ = ["Objective", "geometry_sides", "keypoint_error_px"]


@torch.no_grad()
def geometry_sides(batch: Mapping[str, torch.Tensor], g: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """[B,M] the side whose parameter set and hand model each hand's geometry terms use: the label's
    where it is known, else the network's own guess at the hand's cell (the refined side logits when
    there are some, else the handedness map), detached. Why: a hand of unknown side fitted as a right
    hand teaches the right-hand parameters a mirrored hand whenever it is a left one."""
    side = batch["side"]
    if "side_known" not in batch:
        return side
    keep = batch["side_known"] | ~batch["valid"]  # known sides, and the empty slots
    if bool(keep.all()):
        return side  # every labelled hand's side is known: the labels, exactly
    if "side_logits" in g:
        logits = g["side_logits"]
    else:
        maps = g["handedness"].flatten(2)  # [B,2,S]
        logits = maps.gather(2, batch["ind"][:, None].expand(-1, maps.shape[1], -1)).transpose(1, 2)
    return torch.where(keep, side, logits.argmax(-1))


@torch.no_grad()
def keypoint_error_px(keypoints2d: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Mean 2D distance (input px) of predicted keypoints [B,K,21,2] to the labelled ones, over the
    visible keypoints of valid hands: the training log's kp2d_px (a readable number beside the loss)."""
    err = (keypoints2d - batch["keypoints2d"]).norm(dim=-1)
    m = batch["valid"][..., None] & batch["visibility"]
    return (err * m).sum() / m.sum().clamp(min=1)


class Objective:
    """Computes (total, terms, extras) for a batch of `build_targets` dicts.

    hand_models: (left, right) `HandModel`s on the training device. weights: loss name -> weight
    (`smhr.train.config.LOSS_TERMS`). limit_violation: joint-limit callable for the prior (None:
    L2 fallback). render_fn: `smhr.render.render` (needed only when photometric / silhouette are
    weighted). sigma: soft-silhouette sharpness passed to the renderer. render_size: render the
    appearance terms at this side (px) instead of the input size, against the area-downsampled
    photo and masks (the renderer's cost grows with the pixel count; on the CPU a half-size render
    makes the photometric stage ~3x cheaper). palm_teacher: images [B,3,R,R] in [0, 1] -> the palm
    detector's score maps (`smhr.model.palm_distill.PalmTeacher`); with it the model must return
    "palm_logits" and the "palm_distill" term is computed on every image, labelled or not.
    reprojection_units: "pixels" (plain px^2) or "hand_size" (each hand's error in units of its
    labelled length, `smhr.losses.keypoints.reprojection_loss`); both estimates of the refinement alike.
    joints3d_frame: "label" (the 3D joint targets as labelled, every run before 2026-12-06) or
    "virtual_ray" (turned onto the virtual camera's ray through the root's 2D label, so the 3D and
    2D terms ask for one orientation: `smhr.losses.supervised3d.rotate_to_virtual_ray`).
    """

    def __init__(
        self, hand_models: Sequence[nn.Module], weights: Mapping[str, float],
        limit_violation: Callable | None = None, consistency_detach: str = "local",
        render_fn: Callable | None = None, sigma: float = 1.0, render_size: int | None = None,
        palm_teacher: Callable | None = None, reprojection_units: str = "pixels",
        joints3d_frame: str = "label",
    ) -> None:
        if joints3d_frame not in JOINTS3D_FRAMES:
            raise ValueError(f"joints3d_frame must be one of {JOINTS3D_FRAMES}, got {joints3d_frame!r}")
        self.joints3d_frame = joints3d_frame
        if reprojection_units not in REPROJECTION_UNITS:
            raise ValueError(f"reprojection_units must be one of {REPROJECTION_UNITS}, "
                             f"got {reprojection_units!r}")
        self.reprojection_units = reprojection_units
        self.hand_models = list(hand_models)
        self.weights = dict(weights)
        self.limit_violation = limit_violation
        self.consistency_detach = consistency_detach
        self.render_fn = render_fn
        self.sigma = sigma
        self.render_size = render_size
        self.needs_render = self.weights.get("photometric", 0) > 0 or self.weights.get("silhouette", 0) > 0
        if self.needs_render and render_fn is None:
            raise ValueError("photometric/silhouette losses are weighted but no renderer was given")
        self.palm_teacher = palm_teacher
        if self.weights.get("palm_distill", 0) > 0 and palm_teacher is None:
            raise ValueError("loss_weights.palm_distill is weighted but no palm teacher was given")

    def __call__(self, model: Callable, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, dict, dict]:
        """model(images, ind) -> dense maps and heads gathered at ind (`smhr.train.setup.GatheringModel`,
        possibly DDP-wrapped); batch: collated `build_targets` dicts on the model's device."""
        images = batch["image"]
        R = images.shape[-1]
        ind, valid, side = batch["ind"], batch["valid"], batch["side"]
        g = out = model(normalize_images(images), ind)
        W = out["center"].shape[-1]
        stride = R // W
        side = geometry_sides(batch, g)
        hands = hands_from_params(g["params"], ind, side, self.hand_models, R, W, stride)
        vis = batch["visibility"]
        local = local_keypoints(ind, g["kp_offsets"], W, stride)
        geometry = self._geometry(hands, g["params"], batch)
        terms: dict[str, torch.Tensor] = {  # (the order of the sum in `total`, kept as it was)
            "center": focal_loss(out["center"], batch["hm"], weight=batch.get("hm_weight")),
            "handedness": focal_loss(out["handedness"], batch["handmap"],
                                     weight=batch.get("handmap_weight", batch.get("hm_weight"))),
            **{k: geometry[k] for k in ("reprojection", "bone_direction", "prior")},
            "keypoint_offsets": keypoint_offset_loss(g["kp_offsets"], batch["local_keypoints"], valid, vis),
            "consistency": keypoint_consistency_loss(local, hands["keypoints2d"], valid,
                                                     detach=self.consistency_detach),
            **{k: geometry[k] for k in ("joints3d", "root_depth")},
        }
        if self.palm_teacher is not None:
            if "palm_logits" not in out:
                raise ValueError("palm distillation needs the model's palm head (GatheringModel palm_head)")
            terms["palm_distill"] = palm_distill_loss(out["palm_logits"], self.palm_teacher(images))
        extras: dict[str, Any] = {"hands": hands, "local_keypoints2d": local}
        if "params_first" in g:  # the keypoint-aligned refinement (`smhr.model.refine`)
            self._refinement(batch, g, side, terms, extras, R, W, stride)
        if self.needs_render:
            self._appearance(batch, g, hands, terms, extras, R)
        total = sum(self.weights.get(k, 0.0) * v for k, v in terms.items() if self.weights.get(k, 0.0))
        if not torch.is_tensor(total):
            total = out["center"].sum() * 0.0
        terms["kp2d_px"] = keypoint_error_px(hands["keypoints2d"], batch)
        return total, terms, extras

    def _geometry(self, hands: Mapping[str, torch.Tensor], params: torch.Tensor,
                  batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The parameter-driven geometric terms of one set of hands (the final estimate's, and with
        the refinement the first estimate's too): 2D reprojection and bone directions against the
        labelled keypoints, the pose / shape prior, and where 3D labels exist the 3D joints and the
        root depth."""
        valid, vis, kp = batch["valid"], batch["visibility"], batch["keypoints2d"]
        has3d = valid & batch["has_joints3d"]
        size = hand_size_px(kp, valid, vis) if self.reprojection_units == "hand_size" else None
        target3d = batch["joints3d"]
        if self.joints3d_frame == "virtual_ray":
            R = batch["image"].shape[-1]
            target3d = rotate_to_virtual_ray(target3d, kp[..., ROOT_INDEX, :], R, VIRTUAL_FOCAL)
        return {
            "reprojection": reprojection_loss(hands["keypoints2d"], kp, valid, vis, size),
            "bone_direction": bone_direction_loss(hands["keypoints2d"], kp, valid, vis),
            "prior": hand_prior_loss(params, valid, self.limit_violation),
            "joints3d": joints3d_loss(hands["joints3d"], target3d, has3d),
            "root_depth": root_depth_loss(hands["joints3d"], batch["joints3d"], batch["focal"],
                                          has3d & batch["has_focal"], VIRTUAL_FOCAL),
        }

    def _refinement(self, batch: Mapping[str, torch.Tensor], g: Mapping[str, torch.Tensor],
                    geometry_side: torch.Tensor, terms: dict, extras: dict, R: int, W: int,
                    stride: int) -> None:
        """side_ce on the refined side logits at the hands whose side is taught (known, and not from
        a part with side_taught off), and the first estimate's geometric terms (deep supervision),
        each at its own weight, summed as "first_estimate"."""
        ind, valid, side = batch["ind"], batch["valid"], batch["side"]
        taught = batch.get("side_taught", batch.get("side_known"))
        known = valid & taught if taught is not None else valid
        terms["side_ce"] = side_cross_entropy(g["side_logits"], side, known)
        first = hands_from_params(g["params_first"], ind, geometry_side, self.hand_models, R, W, stride)
        parts = self._geometry(first, g["params_first"], batch)
        terms["first_estimate"] = sum((self.weights.get(k, 0.0) * v for k, v in parts.items()),
                                      g["params_first"].sum() * 0.0)
        terms["kp2d_px_first"] = keypoint_error_px(first["keypoints2d"], batch)
        with torch.no_grad():
            right = g["side_logits"].argmax(-1) == side
            terms["side_acc"] = (right & known).sum() / known.sum().clamp(min=1)
        extras["hands_first"] = first

    def _appearance(self, batch: Mapping[str, torch.Tensor], g: Mapping[str, torch.Tensor],
                    hands: Mapping[str, torch.Tensor], terms: dict, extras: dict, R: int) -> None:
        if "texture" not in g:
            raise ValueError("photometric/silhouette losses need a network with appearance heads "
                             "(model.appearance: true)")
        left, right = self.hand_models
        is_left = (hands["side"] == 0)[..., None, None]
        faces = torch.where(is_left, left.faces[None, None], right.faces[None, None])
        image, skin, K, size = batch["image"].float(), batch["mask"][:, None].float(), hands["K"], R
        if self.render_size is not None and self.render_size < R:
            size, s = self.render_size, self.render_size / R
            image = torch.nn.functional.interpolate(image, size=(size, size), mode="area")
            skin = torch.nn.functional.interpolate(skin, size=(size, size), mode="area")
            K = K.clone()
            K[..., :2, :2] = K[..., :2, :2] * s
            K[..., :2, 2] = (K[..., :2, 2] + 0.5) * s - 0.5  # pixel centres of an area resize
        with torch.autocast(batch["image"].device.type, enabled=False):
            out = self.render_fn(
                hands["vertices"], faces, K, (size, size), albedo=albedo_from_texture(g["texture"]),
                sh=sh_from_light(g["light"]), valid=batch["valid"], sigma=self.sigma,
            )
        terms["photometric"] = photometric_loss(out.rgb, image, out.mask, skin)
        terms["silhouette"] = silhouette_loss(out.silhouette, skin, batch["has_mask"])
        extras["render"] = out
