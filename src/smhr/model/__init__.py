"""SMHR network (backbone, CSP neck, heads), translation decoding and peak decoding to hands."""

from smhr.hands.params import split_params
from smhr.model.backbones import BACKBONES, Backbone, BackboneWeightsError, build_backbone
from smhr.model.camera import decode_translation, to_real_camera, virtual_intrinsics
from smhr.model.decode import Hand, decode, decode_tensors
from smhr.model.net import SMHRConfig, SMHRNet
from smhr.model.weights import find_mobilenet_v2_imagenet, resolve_backbone_weights

__all__ = [
    "BACKBONES",
    "Backbone",
    "BackboneWeightsError",
    "Hand",
    "SMHRConfig",
    "SMHRNet",
    "build_backbone",
    "decode",
    "decode_tensors",
    "decode_translation",
    "find_mobilenet_v2_imagenet",
    "resolve_backbone_weights",
    "split_params",
    "to_real_camera",
    "virtual_intrinsics",
]
