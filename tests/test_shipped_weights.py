"""The weights that ship inside the package: small, fp16 with metadata, and they find the hands of a
bundled sample (a regression check on the shipped model, not a unit test of the code)."""

import functools
import json

import numpy as np
import torch

from smhr.app.api import Reconstructor, bundled_weights
from smhr.app.demo import bundled_samples
from smhr.hands.keypoints import SIDE_NAMES


def _predict_sample(name: str) -> tuple[list, list[dict]]:
    """The shipped model's hands on a bundled sample, and the sample's labels (labels.json)."""
    sample = next(p for p in bundled_samples() if p.name == name)
    labels = json.loads((sample.parent / "labels.json").read_text())["images"][sample.name]
    return Reconstructor.from_pretrained(device="cpu").predict(sample), labels


def test_bundled_weights_are_small_fp16_with_metadata():
    path = bundled_weights()
    assert path.is_file() and path.stat().st_size <= 16 * 2**20
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert ckpt["meta"]["stored_dtype"] == "float16"
    assert 0.0 < ckpt["meta"]["score_threshold"] < 1.0  # calibrated on held-out data when packaged
    assert ckpt["config"]["backbone"] == "mobilenet_v2" and ckpt["config"]["hand_model"] == "anny"
    assert {t.dtype for t in ckpt["model"].values() if t.is_floating_point()} == {torch.float16}


def test_bundled_weights_find_every_hand_of_a_multi_hand_sample_at_its_size():
    hands, labels = _predict_sample("multi_1.jpg")
    taken = set()
    for h in sorted(hands, key=lambda h: -h.score):
        d = [np.linalg.norm(h.keypoints2d - np.asarray(g["keypoints2d_px"]), axis=1).mean() for g in labels]
        j = int(np.argmin(d))
        gt = np.asarray(labels[j]["keypoints2d_px"])
        diag = np.linalg.norm(np.ptp(gt, axis=0))
        assert d[j] < 0.5 * diag and j not in taken  # near a labelled hand, no duplicate
        taken.add(j)
        # a hand of realistic image size (the preview's phase 1 collapsed hands to ~15 px dots)
        assert 0.4 < np.linalg.norm(np.ptp(h.keypoints2d, axis=0)) / diag < 2.5
        assert 0.2 < h.transl[2] < 3.0  # metres, virtual camera
    assert len(taken) >= len(labels) - 1


def _match_real_sample(name: str) -> list[tuple[str, str, float, float]]:
    """(labelled side, predicted side, PCK@0.2 of the hand's size, mean error / size) per labelled hand
    of a bundled real photo, each matched to its nearest detection; the detections must be one per hand."""
    hands, labels = _predict_sample(name)
    assert len(hands) == len(labels)
    out, taken = [], set()
    for gt in labels:
        kp = np.asarray(gt["keypoints2d_px"])
        size = np.ptp(kp, axis=0).max()
        err = [np.linalg.norm(h.keypoints2d - kp, axis=1) for h in hands]
        best = int(np.argmin([e.mean() for e in err]))
        assert best not in taken
        taken.add(best)
        out.append((gt["side"], SIDE_NAMES[hands[best].side], float((err[best] < 0.2 * size).mean()),
                    float(err[best].mean() / size)))
    return out


def test_bundled_weights_find_both_hands_of_real_photos_with_their_sides():
    """Held-out webcam photos (never trained on), the teacher's labels as reference (the
    synthetic-only preview matched 1 of the 6 hands of the four real samples). real_2: both sides
    right and >= 80 % of the keypoints within 0.2 of the hand's size. real_1: both hands found where
    they are, but the open right palm is taken for the back of a left hand (the mirror ambiguity
    docs/training.md names); its side is not asserted."""
    for labelled, predicted, pck, rel_err in _match_real_sample("real_2.jpg"):
        assert predicted == labelled and pck >= 0.8 and rel_err < 0.12
    matches = _match_real_sample("real_1.jpg")
    assert all(rel_err < 0.35 for *_, rel_err in matches)
    assert max(pck for _, _, pck, _ in matches) >= 0.9


def test_fitting_the_translation_to_the_local_keypoints_brings_the_hands_closer_to_the_labels(monkeypatch):
    """The default decode moves each hand to where its local keypoint head sees it
    (`smhr.runtime.translation_fit`): on the four hands of the two real samples the mean keypoint
    error falls from 0.092 to 0.079 of the hand's size (2026-12-05)."""
    def mean_error() -> float:
        names = ("real_1.jpg", "real_2.jpg")
        return float(np.mean([e for name in names for *_, e in _match_real_sample(name)]))

    fitted = mean_error()
    monkeypatch.setattr(Reconstructor, "from_pretrained",
                        functools.partial(Reconstructor.from_pretrained.__func__, Reconstructor,
                                          fit_translation=False))  # fmt: skip
    assert fitted < 0.085 < mean_error()
