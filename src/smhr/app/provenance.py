"""What produced an output file, and the camera its 3D numbers live in: written into every JSON record
(schema 2) so a file read months later says which weights, settings and camera made it.

Why a checksum and not only a name: weights are retrained and repackaged under the same file name;
the sha256 tells two results apart, or proves they came from one file.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from smhr.app.outputs import shown_path
from smhr.geometry.letterbox import virtual_camera
from smhr.hands.keypoints import FREIHAND_NAMES, MANO_JOINT_NAMES
from smhr.io.exports import camera_record
from smhr.runtime.large_hands import LARGE_SIDE, acting_threshold

__all__ = ["NAMES", "POSE_JOINTS", "camera_for", "provenance", "weights_file"]

POSE_JOINTS = MANO_JOINT_NAMES[1:]
"""The 15 joints whose axis-angle rotations `pose` holds, in order (3 numbers each). Every hand model
(MANO, and Anny whose bones are folded onto the same 16-joint tree) uses this order; the root
joint's rotation is `global_orient`."""
NAMES = {"keypoint_names": FREIHAND_NAMES, "pose_joints": POSE_JOINTS}
"""The name lists every record carries (`image_record(..., **NAMES)`)."""


@lru_cache(maxsize=8)
def _sha256(path: str, size: int, mtime: float) -> str:
    del size, mtime  # cache keys: a replaced file is hashed again
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def weights_file(rec: Any, weights: str | Path | None) -> Path:
    """The file `rec` was loaded from: `weights`, else the bundled file of its backend."""
    from smhr.app.api import bundled_weights

    if weights is not None:
        return Path(weights)
    return bundled_weights(onnx=getattr(rec, "backend", "torch") == "onnxruntime")


def provenance(rec: Any, weights: str | Path | None, focal: float | None = None) -> dict[str, Any]:
    """The `provenance` block: smhr version, weights file (as given, or `bundled:NAME`) and its
    sha256, backend, detection threshold, maximum hands, network input size, focal, photo mode's
    extra views (`Reconstructor.zoom_out` / `mirror`), the large-hand threshold and span (null: off),
    the smallest hand kept (null: no limit), and whether a side classifier checks each hand's side."""
    from smhr import __version__

    path = weights_file(rec, weights)
    st = path.stat()
    large = acting_threshold(float(rec.threshold), getattr(rec, "large_hand_threshold", None))
    return {
        "smhr_version": __version__,
        "weights": {
            "file": shown_path(weights) if weights is not None else f"bundled:{path.name}",
            "sha256": _sha256(str(path), st.st_size, st.st_mtime),
        },
        "backend": str(getattr(rec, "backend", "torch")),
        "threshold": float(rec.threshold),
        "large_hand_threshold": None if large is None else float(large),
        "large_side": None if large is None else float(getattr(rec, "large_side", LARGE_SIDE)),
        "min_hand_side": None if getattr(rec, "min_hand_side", None) is None else float(rec.min_hand_side),
        "max_hands": int(rec.max_hands),
        "input_size": int(rec.input_size),
        "focal_px": None if focal is None else float(focal),
        "photo_views": {"zoom_out": float(getattr(rec, "zoom_out", 0.0)),
                        "mirror": bool(getattr(rec, "mirror", False))},  # (photo mode's extra views)
        "side_check": getattr(rec, "side_checker", None) is not None,
        "hand_check": getattr(rec, "hand_checker", None) is not None,
    }


def with_mode(prov: dict[str, Any], mode: str, tiles: list[list[Any]],
              side_check: bool | None = None, hand_check: bool | None = None) -> dict[str, Any]:  # fmt: skip
    """`prov` for one input run in `mode` (photo | fast): the mode, its tiles, and the extra views
    only where they ran. Fast mode runs none, so its record says 0 / false whatever the reconstructor
    was built with (a video under `--mode auto` next to photos with `--zoom-out`). side_check: the
    call's own choice (False: skipped, as for a video under `--side-check auto`; None: the record's);
    hand_check: the same for the hand check."""
    views = prov["photo_views"] if mode == "photo" else {"zoom_out": 0.0, "mirror": False}
    checks = {"side_check": prov.get("side_check", False) and side_check is not False,
              "hand_check": prov.get("hand_check", False) and hand_check is not False}
    return {**prov, "mode": mode, "tiles": tiles, "photo_views": views, **checks}


def camera_for(image_hw: tuple[int, int], input_size: int, focal: float | None) -> dict[str, Any]:
    """The `camera` block of an image, with or without hands: the camera `Hand.K` is in (the user's
    focal with the principal point at the centre, else the network's virtual camera)."""
    H, W = image_hw
    if focal is not None:
        K = np.array([[focal, 0.0, (W - 1) / 2], [0.0, focal, (H - 1) / 2], [0.0, 0.0, 1.0]])
        return camera_record(K, "focal")
    return camera_record(virtual_camera(image_hw, input_size), "virtual")
