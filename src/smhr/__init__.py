"""smhr: single-stage multiple 3D hand mesh reconstruction from one RGB image, in pure PyTorch.

Conventions (see docs and DESIGN): metres in 3D, pixels in 2D, OpenCV camera (x right, y down,
z forward), 21 keypoints in FreiHAND order, handedness 0 = left / 1 = right.
"""

__version__ = "0.1.0.dev0"


def __getattr__(name: str):  # lazy: `import smhr` imports nothing heavy
    if name in ("Reconstructor", "Hand"):
        from smhr.app import api

        return getattr(api, name)
    raise AttributeError(f"module 'smhr' has no attribute {name!r}")
