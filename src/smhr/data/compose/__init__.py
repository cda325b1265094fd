"""Multi-hand composites: masked single hands pasted onto backgrounds (the paper's synthesis, §8.6).

Improvements over the official `ArtificialDataset`: 1..max_hands hands per image (not <= 4 in two
rows), random scale and in-plane rotation, partial overlaps allowed with per-keypoint visibility
recomputed from the masks, truncation at the border labelled, 3D labels kept exact.

One idea per module (this package re-exports their public names, so `from smhr.data.compose
import ...` is the way in):
- `layout`: the random settings (`ComposeConfig`, with the context switches) and where each
  hand goes (`Layout`, `sample_layout`: frame-filling and border-cut hands too);
- `geometry`: source -> canvas maps, the pasted hands' cameras and keypoint visibility, shared by
  both executions (`paste_affines`, `place_cameras`, `keypoint_visibility`);
- `per_sample`: numpy / OpenCV, one composite at a time (`compose_sample`), and the `ComposedHands`
  dataset that draws composite i from a deterministic per-index seed (works in a DataLoader);
- `occluders`: held objects drawn over a pasted hand (`occluder_prob`);
- `effects`: whole-composite motion blur and low light;
- `folder`: disk I/O (`write_composed`, `ComposedFolder`).

Hands in one composite have different cameras (each paste moves its hand's camera), so each hand
carries its own, `HandLabel.K`, and `Sample.K` is None.
"""

from smhr.data.compose.folder import FORMAT_VERSION, MULTI_JSON, ComposedFolder, write_composed
from smhr.data.compose.geometry import keypoint_visibility, paste_affines, place_cameras
from smhr.data.compose.layout import ComposeConfig, Layout, sample_layout
from smhr.data.compose.per_sample import ComposedHands, compose_sample

__all__ = [
    "FORMAT_VERSION",
    "MULTI_JSON",
    "ComposeConfig",
    "ComposedFolder",
    "ComposedHands",
    "Layout",
    "compose_sample",
    "keypoint_visibility",
    "paste_affines",
    "place_cameras",
    "sample_layout",
    "write_composed",
]
