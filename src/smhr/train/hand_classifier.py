"""Training data and training of the hand check's classifier (`smhr.runtime.hand_check`): the
detector's own candidates, cropped where it placed them and labelled by the teacher's hands.

Why the detector's candidates and not the labels' hands: at run time the classifier judges what the
detector proposes (faces, arms, fabric, hands found at a low score), cropped at the keypoint head's
points; the crops it learns from are those same proposals. `collect_candidates` runs a Reconstructor
(no hand check; the low decode threshold the check works from) over a labelled split and matches its
hands to the labels one to one (`smhr.eval.real.RealScores`): a matched hand is a positive, a false
positive that touches no labelled hand (< TOUCH of its keypoint box on each label's box) a
negative; the rest is left out: a duplicate (a second copy of a labelled hand), a hand inside an
ignore region (a hand the teacher missed), and a false positive over a labelled hand (a second peak
on a close-up, or a real hand placed too small: the first try, which took those as negatives,
learned that close-ups are no hands and lost 0.16 of the frame-filling recall). Pieces of hands
therefore read as hands to it: `smhr.runtime.hand_check.lifted_alone` keeps them from becoming
hands. `piece` > 0 (not the bundled classifier's training) makes such a false positive a negative
when its keypoint box's area is under `piece` x the labelled hand's box's: a piece of the hand.
`split_samples(views=)` gives frame-filling views or upright close-ups without the arm of the
split's single-hand photos (`smhr.data.stress`), where the detector's low-scored close-ups are real
hands; `synth_samples` adds `smhr synth` renders (the detector trains on them too, and the bundled
sample images are such renders). Test-only sets are refused for training (`require_trainable`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from smhr.data.labelled import LabelledSet, read_meta
from smhr.data.sample import Sample
from smhr.data.targets import hand_side_known
from smhr.eval.matching import inside_any, keypoint_box, label_box
from smhr.eval.real import Detection, RealScores
from smhr.geometry.hand_crop import CROP_SIZE, crop_hands
from smhr.runtime.hand_check import revised_scores

__all__ = ["TOUCH", "VIEWS", "HandCrops", "auc", "candidate_detector", "collect_candidates",
           "collect_split_candidates", "join_crops", "kept_counts", "split_samples", "synth_samples"]

TOUCH = 0.25  # a false positive with this share of its keypoint box on a hand's box is left out
VIEWS = ("frame_filling", "closeup_no_arm")


@dataclass
class HandCrops:
    """Canonical crops of the detector's candidates: images uint8 [N,S,S,3], is_hand [N] (0 / 1),
    score [N] (the detector's), source [N] (index into `names`), side [N] (the matched label's side,
    0 left / 1 right; -1 for a candidate that is no hand or a hand whose side the set does not know:
    the side classifier's crops where the detector puts the hand, `smhr.train.side_classifier`)."""

    images: np.ndarray
    is_hand: np.ndarray
    score: np.ndarray
    source: np.ndarray
    names: list[str]
    side: np.ndarray

    @staticmethod
    def join(parts: Sequence[HandCrops]) -> HandCrops:
        """One HandCrops of several (`join_crops`)."""
        return join_crops(parts)


def join_crops(parts: Sequence[Any]) -> Any:
    """One set of crops of several of one dataclass (HandCrops here, `smhr.train.side_classifier.
    SideCrops`): its array fields concatenated, `names` joined and `source` renumbered to match."""
    import dataclasses

    offsets = np.cumsum([0] + [len(p.names) for p in parts[:-1]])
    fields = {}
    for f in dataclasses.fields(parts[0]):
        if f.name == "names":
            fields["names"] = [n for p in parts for n in p.names]
        elif f.name == "source":
            fields["source"] = np.concatenate([p.source + o for p, o in zip(parts, offsets, strict=True)])
        else:
            fields[f.name] = np.concatenate([getattr(p, f.name) for p in parts])
    return type(parts[0])(**fields)


def split_samples(root: str | Path, split: str, image_base: str | Path | None = None,
                  views: str | None = None, count: int = 0,
                  seed: int = 11) -> tuple[str, Iterable[Sample]]:  # fmt: skip
    """(set name, its samples): the split's photos (one per group of augmented copies outside the
    train split, as the benchmarks score them), or with views (one of VIEWS) such views of `count`
    of its single-hand photos instead."""
    meta = read_meta(root)
    name = meta["source"]["name"]
    groups = meta["split"]
    one = bool(groups.get("group_regex")) and not groups.get("group_frames") and split != "train"
    image_root = Path(image_base) / name if image_base else None
    ds = LabelledSet(root, split, image_root=image_root, one_per_group=one)
    if views is None:
        return name, (ds[i] for i in range(len(ds)))
    from smhr.data import stress

    if views not in VIEWS:
        raise ValueError(f"views must be one of {', '.join(VIEWS)}, got {views!r}")
    single = [i for i in range(len(ds)) if len(ds.records[i]["hands"]) == 1]
    rng = np.random.default_rng(seed)
    chosen = [ds[single[i]] for i in sorted(rng.permutation(len(single))[:count])]
    made = stress.frame_filling(chosen, seed=3) if views == "frame_filling" else stress.closeup_no_arm(chosen)
    return f"{name} ({views.replace('_', ' ')})", made


def synth_samples(root: str | Path, split: str = "train") -> tuple[str, Iterable[Sample]]:
    """(folder name, its samples) of an `smhr synth` folder (FreiHAND layout): rendered hands, so that
    the check does not take the renders the detector was also trained on (and the bundled sample
    images) for something else."""
    from smhr.data.freihand import FreiHAND

    ds = FreiHAND(root, split, load_masks=False)
    return f"{Path(root).name} (synthetic)", (ds[i] for i in range(len(ds)))


def candidate_detector(weights: str | Path | None = None) -> tuple[Any, float]:
    """(a Reconstructor of `weights` that keeps every candidate from the decode threshold the crop
    checks work from, without the hand check or the large-hand rule; the weights' own threshold)."""
    from smhr.runtime.large_hands import decode_threshold
    from smhr.runtime.reconstructor import Reconstructor

    rec = Reconstructor.from_pretrained(weights, device="cpu", hand_check=False)
    threshold = rec.threshold
    rec.threshold = decode_threshold(rec.threshold, rec.large_hand_threshold)
    rec.large_hand_threshold = None
    return rec, threshold


def collect_split_candidates(rec: Any, roots: Sequence[str | Path], split: str, views: int,
                             image_base: str | Path | None = None, size: int = CROP_SIZE,
                             piece: float = 0.0) -> HandCrops:  # fmt: skip
    """`collect_candidates` over `split` of each labelled set and, if `views` > 0, that many views of
    each kind in VIEWS of its single-hand photos."""
    named = [split_samples(r, split, image_base) for r in roots]
    if views:
        named += [split_samples(r, split, image_base, kind, views) for kind in VIEWS for r in roots]
    return collect_candidates(rec, named, size, piece=piece)


def collect_candidates(rec: Any, named_samples: Sequence[tuple[str, Iterable[Sample]]],
                       size: int = CROP_SIZE, iou: float = 0.5,
                       piece: float = 0.0) -> HandCrops:  # fmt: skip
    """Crops (at each hand's local keypoints) and labels of the hands `rec` (a Reconstructor whose
    threshold is the one the check works from, without the hand check) finds in each set's samples."""
    images, labels, scores, sources, sides, names = [], [], [], [], [], []
    for k, (name, samples) in enumerate(named_samples):
        names.append(name)
        for sample in samples:
            hands = rec.predict(sample.image, hand_check=False)
            if not hands:
                continue
            found = [Detection.from_hand(h) for h in hands]
            flag = sample.meta.get("side_known", True)
            known = [hand_side_known(flag, j) for j in range(len(sample.hands))]
            match = RealScores(iou_threshold=iou).add(sample, found, known)
            label, side = np.full(len(hands), -1), np.full(len(hands), -1)
            label[[i for i, _ in match.pairs]] = 1
            for i, j in match.pairs:
                side[i] = sample.hands[j].side if known[j] else -1
            labelled = np.array([label_box(h) for h in sample.hands]).reshape(-1, 4)
            for i in match.false_positives:
                box = keypoint_box(found[i].keypoints2d)
                touched = labelled[_touching(box, labelled)]
                if not len(touched) or (_area(box) < piece * _area(touched)).all():
                    label[i] = 0
            use = np.flatnonzero(label >= 0)
            if not len(use):
                continue
            kps = np.stack([hands[i].local_keypoints2d for i in use])
            images.append(crop_hands(sample.image, kps, size))
            labels.append(label[use])
            scores.append([hands[i].score for i in use])
            sources.append(np.full(len(use), k))
            sides.append(side[use])
    if not images:
        empty = np.zeros(0, np.int64)
        return HandCrops(np.zeros((0, size, size, 3), np.uint8), empty, np.zeros(0, np.float32), empty, names,
                         empty)
    return HandCrops(np.concatenate(images), np.concatenate(labels).astype(np.int64),
                     np.concatenate(scores).astype(np.float32), np.concatenate(sources), names,
                     np.concatenate(sides).astype(np.int64))


def _area(box: np.ndarray) -> np.ndarray:
    return np.clip(box[..., 2] - box[..., 0], 0, None) * np.clip(box[..., 3] - box[..., 1], 0, None)


def _touching(box: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """[L] bool: the labelled boxes that hold >= TOUCH of the box's own area."""
    return np.array([inside_any(box[None], h[None], TOUCH)[0] for h in labelled], bool).reshape(-1)


def auc(logits: np.ndarray, is_hand: np.ndarray) -> float:
    """Area under the ROC curve of logits ranking hands above the rest (ties by order; NaN without
    both kinds)."""
    pos = np.asarray(is_hand) == 1
    if pos.all() or not pos.any():
        return float("nan")
    rank = np.empty(len(logits))
    rank[np.argsort(logits, kind="stable")] = np.arange(len(logits))
    return float((rank[pos].sum() - pos.sum() * (pos.sum() - 1) / 2) / (pos.sum() * (~pos).sum()))


def kept_counts(crops: HandCrops, logits: np.ndarray, weight: float,
                threshold: float) -> dict[str, list[int]]:  # fmt: skip
    """{source: [hands kept, false hands kept]} at `threshold` when each candidate's score's log-odds
    gain weight x its logit (`smhr.runtime.hand_check.revised_scores` at that weight)."""
    keep = revised_scores(crops.score, logits, weight) >= threshold
    return {name: [int((keep & (crops.is_hand == 1) & (crops.source == k)).sum()),
                   int((keep & (crops.is_hand == 0) & (crops.source == k)).sum())]
            for k, name in enumerate(crops.names)}
