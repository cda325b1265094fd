"""One sample schema shared by every dataset, the augmentation and the target builder.

Why one schema: the official code let every loader invent its own keys and the losses read keys no
loader wrote. Here every loader returns a `Sample`; everything downstream reads only these fields.

Conventions (docs/datasets.md): metres in 3D (OpenCV camera frame: x right, y down, z forward),
pixels in 2D, 21 keypoints in FreiHAND order, side 0 = left / 1 = right.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from smhr.hands.keypoints import LEFT, NUM_KEYPOINTS, RIGHT

MASK_UNLABELLED = 255  # instance-mask value for hand pixels that have no `HandLabel` in the sample

# Parameter-space tags for `HandParams.pose_space`:
POSE_FLAT = "flat"  # articulation axis-angles are absolute (MANO flat_hand_mean=True)
POSE_MANO_MEAN = "mano_mean"  # articulation is relative to MANO's hands_mean (add it to get absolute)


class DatasetLayoutError(FileNotFoundError):
    """A dataset root is missing a file or folder; the message names it and the expected layout."""


@dataclass
class HandParams:
    """Hand-model parameters of one hand, in the OpenCV camera frame of its sample.

    global_orient [3] axis-angle; pose [45] axis-angles of the 15 finger joints; betas [10];
    transl [3] metres or None when the dataset's translation cannot be expressed in the camera
    frame without the hand model itself (FreiHAND gives a root keypoint, HO3D / InterHand give a
    translation in another frame). `model` names the model the numbers are for ("mano"); left
    hands are for the left model. `pose_space` is POSE_FLAT or POSE_MANO_MEAN.
    """

    global_orient: np.ndarray
    pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray | None = None
    model: str = "mano"
    pose_space: str = POSE_FLAT

    def flat(self) -> np.ndarray:
        """[61] = orient 3, pose 45, betas 10, transl 3 (zeros when transl is unknown)."""
        from smhr.hands.params import join_params

        transl = np.zeros(3, np.float32) if self.transl is None else self.transl
        return join_params(self.global_orient, self.pose, self.betas, transl).astype(np.float32)


@dataclass
class HandLabel:
    """Annotation of one hand.

    keypoints2d [21,2] float32 px; visibility [21] bool = "this 2D keypoint may be supervised"
    (each loader documents what it means for its dataset); joints3d [21,3] float32 m or None;
    vertices [V,3] float32 m or None; bbox [4] x1,y1,x2,y2 px or None (only where a dataset gives
    a box but no keypoints, e.g. HO3D evaluation). K [3,3] float32: the camera this hand's 3D
    labels (joints3d, vertices, params) live in, so project(joints3d, K) == keypoints2d, when it
    is not the sample's: the hands of a multi-hand composite were each moved by their own paste,
    so each has its own camera; None = the sample's K (`Sample.camera_of`).
    """

    side: int
    keypoints2d: np.ndarray
    visibility: np.ndarray
    joints3d: np.ndarray | None = None
    vertices: np.ndarray | None = None
    params: HandParams | None = None
    bbox: np.ndarray | None = None
    K: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.side not in (LEFT, RIGHT):
            raise ValueError(f"HandLabel.side must be 0 (left) or 1 (right), got {self.side!r}")
        self.keypoints2d = np.asarray(self.keypoints2d, np.float32).reshape(NUM_KEYPOINTS, 2)
        self.visibility = np.asarray(self.visibility, bool).reshape(NUM_KEYPOINTS)
        if self.joints3d is not None:
            self.joints3d = np.asarray(self.joints3d, np.float32).reshape(NUM_KEYPOINTS, 3)
        if self.vertices is not None:
            self.vertices = np.asarray(self.vertices, np.float32).reshape(-1, 3)
        if self.bbox is not None:
            self.bbox = np.asarray(self.bbox, np.float32).reshape(4)
        if self.K is not None:
            self.K = np.asarray(self.K, np.float32).reshape(3, 3)


@dataclass
class Sample:
    """One image and all its hands.

    image: HxWx3 uint8 RGB, or None until `load_image` reads `image_path` (lazy samples).
    K: [3,3] float32 intrinsics, or None where unknown (plain image folders, composites whose
    hands carry their own `HandLabel.K`).
    hands: any number of `HandLabel`, including none (a hand-less image is a valid sample).
    mask: HxW uint8 instance mask or None: 0 background, i+1 = pixels of hands[i],
    MASK_UNLABELLED = hand pixels with no label (e.g. an RHD hand below the presence rule).
    ignore: [N,4] float32 x1,y1,x2,y2 px regions that may hold an unlabelled hand (a source's box
    the 2D teacher missed): the detector is neither rewarded nor punished there.
    meta: source dataset name, id and any dataset-specific extras (never read by the losses).
    """

    image: np.ndarray | None
    K: np.ndarray | None
    hands: list[HandLabel] = field(default_factory=list)
    mask: np.ndarray | None = None
    ignore: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))
    image_path: str | None = None
    source: str = ""
    id: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.K is not None:
            self.K = np.asarray(self.K, np.float32).reshape(3, 3)
        self.ignore = np.asarray(self.ignore, np.float32).reshape(-1, 4)

    @property
    def hw(self) -> tuple[int, int]:
        """(height, width) of the image in pixels (loads nothing; requires the image)."""
        if self.image is None:
            raise ValueError(f"sample {self.source}:{self.id} has no image loaded; call load_image first")
        return int(self.image.shape[0]), int(self.image.shape[1])

    def copy(self) -> Sample:
        """Deep-enough copy: new arrays for everything augmentation modifies."""
        hands = [
            replace(
                h,
                keypoints2d=h.keypoints2d.copy(),
                visibility=h.visibility.copy(),
                joints3d=None if h.joints3d is None else h.joints3d.copy(),
                vertices=None if h.vertices is None else h.vertices.copy(),
                params=None if h.params is None else replace(h.params),
                bbox=None if h.bbox is None else h.bbox.copy(),
                K=None if h.K is None else h.K.copy(),
            )
            for h in self.hands
        ]
        return replace(
            self,
            image=None if self.image is None else self.image.copy(),
            K=None if self.K is None else self.K.copy(),
            hands=hands,
            mask=None if self.mask is None else self.mask.copy(),
            ignore=self.ignore.copy(),
            meta=dict(self.meta),
        )


    def camera_of(self, hand: HandLabel) -> np.ndarray | None:
        """[3,3] camera of `hand`'s 3D labels: its own K, else the sample's; None when unknown."""
        return hand.K if hand.K is not None else self.K


def load_image(sample: Sample) -> Sample:
    """Read `sample.image_path` into `sample.image` if it is not loaded yet (in place, returned)."""
    if sample.image is None:
        if sample.image_path is None:
            raise ValueError(f"sample {sample.source}:{sample.id} has neither image nor image_path")
        from smhr.io.images import read_rgb

        sample.image = read_rgb(sample.image_path)
    return sample


class SampleDataset(torch.utils.data.Dataset):
    """Base of every loader: `load(i) -> Sample`, then the optional `transform(sample)`.

    Subclasses set `self.transform` (None returns the Sample itself) and implement `load` and
    `__len__`.
    """

    transform: Callable[[Sample], Any] | None = None

    def load(self, index: int) -> Sample:  # pragma: no cover - abstract
        raise NotImplementedError

    def __len__(self) -> int:  # pragma: no cover - abstract
        raise NotImplementedError

    def image_path(self, index: int) -> Path:
        """The image file of item `index`, without reading it: `smhr label --dataset` walks a
        registered dataset through this (several items may share one file)."""
        raise NotImplementedError(f"{type(self).__name__} does not name its image files")

    def __getitem__(self, index: int) -> Any:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"{type(self).__name__} index {index} out of range [0, {len(self)})")
        sample = self.load(index)
        return sample if self.transform is None else self.transform(sample)


def require(path: Path, dataset: str, layout: str) -> Path:
    """Return `path` if it exists, else raise a one-line DatasetLayoutError naming it and the layout."""
    if not path.exists():
        raise DatasetLayoutError(f"{dataset}: missing {path} (expected layout: {layout})")
    return path


def project_np(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """[N,3] camera-frame metres -> [N,2] float32 px through `smhr.geometry.cameras.project`."""
    from smhr.geometry.cameras import project

    pts = torch.from_numpy(np.asarray(points, np.float64))
    uv = project(pts, torch.from_numpy(np.asarray(K, np.float64)))
    return uv.numpy().astype(np.float32)


def collate_samples(samples: Sequence[Sample], max_hands: int | None = None) -> dict[str, Any]:
    """Batch samples with different numbers of hands, padding to M = max_hands (default: the most
    hands in the batch; extra hands beyond max_hands are dropped in order).

    Returns tensors: valid [B,M] bool, side [B,M] long, keypoints2d [B,M,21,2], visibility
    [B,M,21] bool, joints3d [B,M,21,3] + has_joints3d [B,M], params [B,M,61] + has_params [B,M] +
    has_transl [B,M], K [B,3,3] + has_K [B], K_hand [B,M,3,3] + has_K_hand [B,M] (each hand's
    camera, `Sample.camera_of`); images [B,H,W,3] uint8 and masks [B,H,W] uint8 when all
    images (masks) share one size, else lists; vertices [B,M,V,3] + has_vertices when every
    vertex-carrying hand has the same V; meta: list of dicts (source, id, meta). Padded slots are 0.
    """
    B = len(samples)
    M = max((len(s.hands) for s in samples), default=0) if max_hands is None else max_hands
    out: dict[str, Any] = {
        "valid": torch.zeros(B, M, dtype=torch.bool),
        "side": torch.zeros(B, M, dtype=torch.long),
        "keypoints2d": torch.zeros(B, M, NUM_KEYPOINTS, 2),
        "visibility": torch.zeros(B, M, NUM_KEYPOINTS, dtype=torch.bool),
        "joints3d": torch.zeros(B, M, NUM_KEYPOINTS, 3),
        "has_joints3d": torch.zeros(B, M, dtype=torch.bool),
        "params": torch.zeros(B, M, 61),
        "has_params": torch.zeros(B, M, dtype=torch.bool),
        "has_transl": torch.zeros(B, M, dtype=torch.bool),
        "K": torch.zeros(B, 3, 3),
        "has_K": torch.zeros(B, dtype=torch.bool),
        "K_hand": torch.zeros(B, M, 3, 3),
        "has_K_hand": torch.zeros(B, M, dtype=torch.bool),
    }
    vert_counts = {h.vertices.shape[0] for s in samples for h in s.hands[:M] if h.vertices is not None}
    if len(vert_counts) == 1:
        V = vert_counts.pop()
        out["vertices"] = torch.zeros(B, M, V, 3)
        out["has_vertices"] = torch.zeros(B, M, dtype=torch.bool)
    for b, s in enumerate(samples):
        if s.K is not None:
            out["K"][b] = torch.from_numpy(s.K)
            out["has_K"][b] = True
        for k, h in enumerate(s.hands[:M]):
            out["valid"][b, k] = True
            out["side"][b, k] = h.side
            out["keypoints2d"][b, k] = torch.from_numpy(h.keypoints2d)
            out["visibility"][b, k] = torch.from_numpy(h.visibility)
            K_hand = s.camera_of(h)
            if K_hand is not None:
                out["K_hand"][b, k] = torch.from_numpy(K_hand)
                out["has_K_hand"][b, k] = True
            if h.joints3d is not None:
                out["joints3d"][b, k] = torch.from_numpy(h.joints3d)
                out["has_joints3d"][b, k] = True
            if h.params is not None:
                out["params"][b, k] = torch.from_numpy(h.params.flat())
                out["has_params"][b, k] = True
                out["has_transl"][b, k] = h.params.transl is not None
            if h.vertices is not None and "vertices" in out:
                out["vertices"][b, k] = torch.from_numpy(h.vertices)
                out["has_vertices"][b, k] = True
    images = [s.image for s in samples]
    if images and all(im is not None for im in images) and len({im.shape for im in images}) == 1:
        out["images"] = torch.from_numpy(np.stack(images))
    else:
        out["images"] = images
    masks = [s.mask for s in samples]
    if masks and all(m is not None for m in masks) and len({m.shape for m in masks}) == 1:
        out["masks"] = torch.from_numpy(np.stack(masks))
    else:
        out["masks"] = masks
    out["meta"] = [{"source": s.source, "id": s.id, **s.meta} for s in samples]
    return out
