"""The Python API: `smhr.Reconstructor` (image(s) in, `Hand` records out) and what goes with it.

    from smhr import Reconstructor
    rec = Reconstructor.from_pretrained()          # bundled weights; onnxruntime on the CPU
    hands = rec.predict("photo.jpg")

The predictor itself is `smhr.runtime.reconstructor.Reconstructor`, the one inference path that
training validation and evaluation use too; this module is the product's name for it.
"""

from __future__ import annotations

from smhr.errors import BadInput
from smhr.io.images import to_rgb_uint8
from smhr.records import DEFAULT_THRESHOLD, Hand
from smhr.runtime.loading import BACKENDS, bundled_weights
from smhr.runtime.reconstructor import Reconstructor

__all__ = ["BACKENDS", "DEFAULT_THRESHOLD", "BadInput", "Hand", "Reconstructor", "bundled_weights",
           "to_rgb_uint8"]
