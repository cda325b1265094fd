"""Teacher-labelled real photos: the on-disk format written by `smhr label`, and its dataset.

Why a format of our own: the photos come from public repositories under their own licences and
stay out of this repository; what we keep (and commit) is labels plus provenance. A labelled set
is a folder:

    DIR/meta.json         {"format": "smhr-labels", "version", "source": {name, repo, commit,
                           licence, url}, "role", "image_root", "teacher", "split", "counts"}
    DIR/labels.jsonl.gz   one JSON record per image (below), gzip-compressed

role: "train" (the default when absent) or "test": a test-only source, reserved to measure transfer
to photos never trained on; `require_trainable` (called by every training mixture) refuses it.

Record: path (relative to the image root = the source repository's root), sha256, width, height,
split ("train" | "test", fixed per group by seed), group (near-duplicates share one: frames of one
video, augmented copies of one photo), hands (list: side 0/1, right_prob, presence, palm_score,
box [x1,y1,x2,y2] px around the keypoints, palm_box, keypoints2d [21][2] px in FreiHAND order,
depth [21] relative px, world [21][3] m hand-centred and image-aligned, origin; a *box-level*
hand, `level: "box"` (teacher v2, origin "pose-box": a hand too small for the landmark model,
placed by the body's hand points), has side, box and a template `keypoints2d` but no depth or
world), ignore ([N][4] px: boxed hands the teacher missed; the detector must not learn them as
background), source_boxes ([N][4] px or null: the source's own boxes).

`LabelledSet(DIR, split, image_root=None)` reads it as `Sample`s: 2D-only hands (keypoints inside
the image are visible; a box-level hand has no visible keypoint and its `bbox`, so it gives a
centre and a side target but no keypoint, 3D or mask target), `Sample.ignore` from the record, K
unknown, and an instance mask drawn from the keypoints of keypoint-level hands
(`real_crops.hand_silhouette`; meta["mask_approx"] True: good enough to select the pixels the
photometric loss compares, not to fit outlines to).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from smhr.data.sample import DatasetLayoutError, HandLabel, Sample, SampleDataset, require

__all__ = [
    "FORMAT",
    "LABELS_FILE",
    "META_FILE",
    "ROLES",
    "LabelledSet",
    "ReservedSourceError",
    "is_box_level",
    "previous_role",
    "previous_source_name",
    "read_meta",
    "read_records",
    "require_trainable",
    "role_of",
    "write_labelled_set",
]

FORMAT = "smhr-labels"
VERSION = 1
META_FILE = "meta.json"
LABELS_FILE = "labels.jsonl.gz"
SPLITS = ("train", "test", "all")
LAYOUT = f"<dir>/{META_FILE} and <dir>/{LABELS_FILE}, written by `smhr label`"
ROLES = ("train", "test")


class ReservedSourceError(ValueError):
    """A test-only labelled set was put into a training mixture."""


def role_of(meta: dict[str, Any]) -> str:
    """"train" or "test" (test only) from a labelled set's meta.json."""
    return str(meta.get("role") or "train")


def previous_role(root: str | Path) -> str:
    """The role recorded in `root`/meta.json, "train" when there is none (relabelling keeps it)."""
    path = Path(root) / META_FILE
    try:
        return role_of(json.loads(path.read_text()))
    except (OSError, ValueError):
        return "train"


def previous_source_name(root: str | Path) -> str | None:
    """The source name in `root`/meta.json, or None where there is none to read."""
    try:
        return str(json.loads((Path(root) / META_FILE).read_text())["source"]["name"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def require_trainable(root: str | Path) -> None:
    """Raise ReservedSourceError (one line naming the set and the fix) for a test-only set."""
    meta = read_meta(root)
    if role_of(meta) == "test":
        raise ReservedSourceError(
            f"{root}: labelled set {meta['source']['name']!r} is test only (meta.json role 'test'); "
            "remove it from the training data (it is reserved to measure transfer)"
        )


def write_labelled_set(out: str | Path, meta: dict[str, Any], records: list[dict[str, Any]]) -> Path:
    """Write meta.json + labels.jsonl.gz into `out` (temporary files renamed into place)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (LABELS_FILE + ".tmp")
    with gzip.open(tmp, "wt", compresslevel=9) as f:
        for r in records:
            f.write(json.dumps(r, separators=(",", ":")) + "\n")
    tmp.replace(out / LABELS_FILE)
    tmp_meta = out / (META_FILE + ".tmp")
    tmp_meta.write_text(json.dumps({"format": FORMAT, "version": VERSION, **meta}, indent=2) + "\n")
    tmp_meta.replace(out / META_FILE)
    return out


def read_meta(root: str | Path) -> dict[str, Any]:
    """The meta.json of a labelled set (checked to be one)."""
    path = require(Path(root) / META_FILE, "labelled set", LAYOUT)
    meta = json.loads(path.read_text())
    if meta.get("format") != FORMAT:
        raise DatasetLayoutError(f"{path}: not an smhr labelled set (format {meta.get('format')!r})")
    return meta


def read_records(root: str | Path) -> Iterator[dict[str, Any]]:
    """The image records of a labelled set, in file order."""
    path = require(Path(root) / LABELS_FILE, "labelled set", LAYOUT)
    with gzip.open(path, "rt") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def is_box_level(h: dict[str, Any]) -> bool:
    """A record hand with a box and side but no measured keypoints (`level: "box"`)."""
    return h.get("level") == "box"


def hand_from_record(h: dict[str, Any], wh: tuple[int, int]) -> HandLabel:
    """A 2D-only `HandLabel` from a record hand: keypoints inside the image are visible, none of a
    box-level hand's (its template keypoints are no label; its box is)."""
    kp = np.asarray(h["keypoints2d"], np.float32).reshape(21, 2)
    W, H = wh
    vis = (kp[:, 0] >= 0) & (kp[:, 0] <= W - 1) & (kp[:, 1] >= 0) & (kp[:, 1] <= H - 1)
    if is_box_level(h):
        vis = np.zeros(21, bool)
    return HandLabel(
        side=int(h["side"]), keypoints2d=kp, visibility=vis, bbox=np.asarray(h["box"], np.float32)
    )


def silhouettes(hands: list[HandLabel], hw: tuple[int, int]) -> np.ndarray:
    """HxW uint8 instance mask (k+1 = hands[k], later hands on top) of keypoint silhouettes; a
    hand without visible keypoints (box-level) draws none."""
    from smhr.data.real_crops import hand_silhouette

    mask = np.zeros(hw, np.uint8)
    for k, h in enumerate(hands):
        if not h.visibility.any():
            continue
        mask[hand_silhouette(h.keypoints2d, hw) > 0] = k + 1
    return mask


class LabelledSet(SampleDataset):
    """Samples of a labelled set's `split` ("train", "test" or "all").

    image_root: where the source's files are (default: meta["image_root"], the folder they were
    labelled from). max_side: shrink images whose longer side exceeds it (labels scaled along),
    so training reads small arrays. preload: read every image once at construction and keep it
    in memory (DataLoader workers share it by fork). one_per_group: keep one record per
    near-duplicate group (the one with the fewest ignore regions, then the most hands, then the
    first path), e.g. one of a photo's augmented copies for evaluation.
    """

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        image_root: str | Path | None = None,
        max_side: int | None = None,
        preload: bool = False,
        one_per_group: bool = False,
    ) -> None:
        if split not in SPLITS:
            raise ValueError(f"LabelledSet split must be one of {SPLITS}, got {split!r}")
        self.root = Path(root)
        self.meta = read_meta(self.root)
        self.image_root = Path(image_root if image_root is not None else self.meta["image_root"])
        self.records = [r for r in read_records(self.root) if split == "all" or r["split"] == split]
        if one_per_group:
            best: dict[str, dict[str, Any]] = {}
            for r in self.records:
                key = (len(r["ignore"]), -len(r["hands"]), r["path"])
                if r["group"] not in best or key < best[r["group"]]["_key"]:
                    best[r["group"]] = {**r, "_key": key}
            self.records = sorted(best.values(), key=lambda r: r["path"])
        self.split = split
        self.max_side = max_side
        self.name = self.meta["source"]["name"]
        self._cache: list[np.ndarray] | None = None
        if preload:
            self._cache = [self._read(i)[0] for i in range(len(self.records))]

    def __len__(self) -> int:
        return len(self.records)

    def image_path(self, index: int) -> Path:
        return self.image_root / self.records[index]["path"]

    def _read(self, index: int) -> tuple[np.ndarray, float]:
        """(image, scale applied) of record `index`."""
        import cv2

        from smhr.io.images import read_rgb

        rec = self.records[index]
        image = read_rgb(self.image_path(index))
        if image.shape[1] != rec["width"] or image.shape[0] != rec["height"]:
            raise DatasetLayoutError(
                f"{self.image_root / rec['path']}: {image.shape[1]}x{image.shape[0]} px but the labels "
                f"say {rec['width']}x{rec['height']}; is --image-root the labelled source's checkout?"
            )
        scale = 1.0
        if self.max_side is not None and max(image.shape[:2]) > self.max_side:
            scale = self.max_side / max(image.shape[:2])
            size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        return image, scale

    def load(self, index: int) -> Sample:
        rec = self.records[index]
        if self._cache is not None:
            image = self._cache[index]
            scale = image.shape[1] / rec["width"]
        else:
            image, scale = self._read(index)
        hands = []
        for h in rec["hands"]:
            hand = hand_from_record(h, (rec["width"], rec["height"]))
            if scale != 1.0:  # pixel-centre convention of the resize: u' = (u + 0.5) s - 0.5
                hand.keypoints2d = (hand.keypoints2d + 0.5) * scale - 0.5
                hand.bbox = hand.bbox * scale
            hands.append(hand)
        ignore = np.asarray(rec.get("ignore") or [], np.float32).reshape(-1, 4) * scale
        return Sample(
            image=image,
            K=None,
            hands=hands,
            ignore=ignore,
            mask=silhouettes(hands, image.shape[:2]),
            image_path=str(self.image_path(index)),
            source=self.name,
            id=rec["path"],
            meta={"group": rec["group"], "scale": scale, "mask_approx": True},
        )
