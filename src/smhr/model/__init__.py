"""SMHR network (backbone, neck, heads), its peaks module for inference (`peaks`) and the training-side
translation and peak decoding."""

from smhr.hands.params import split_params
from smhr.model.backbones import BACKBONES, Backbone, BackboneWeightsError, build_backbone
from smhr.model.camera import decode_translation, virtual_intrinsics
from smhr.model.net import SMHRConfig, SMHRNet
from smhr.model.weights import find_imagenet_weights, find_mobilenet_v2_imagenet, resolve_backbone_weights

__all__ = [
    "BACKBONES",
    "Backbone",
    "BackboneWeightsError",
    "SMHRConfig",
    "SMHRNet",
    "build_backbone",
    "decode_translation",
    "find_imagenet_weights",
    "find_mobilenet_v2_imagenet",
    "resolve_backbone_weights",
    "split_params",
    "virtual_intrinsics",
]
