"""The hand check (`smhr.runtime.hand_check`): the classifier's mirror symmetry, its ONNX export,
how it moves decoded hands' scores, its training data and tool, and the bundled classifier on the
bundled real photos."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from smhr.geometry.hand_crop import crop_hands
from smhr.model.side_net import HandClassifier
from smhr.onnx_export import export_hand_classifier
from smhr.records import Hand
from smhr.runtime.hand_check import (
    HAND_WEIGHT,
    HandChecker,
    bundled_hand_classifier,
    check_hands,
    lifted_alone,
    revised_scores,
)
from smhr.runtime.side_check import SideChecker, bundled_side_classifier


def _tiny_classifier(seed: int = 0) -> HandClassifier:
    """test_side_check's tiny net, exported the hand check's way."""
    from test_side_check import _tiny_classifier as tiny_side

    return HandClassifier(tiny_side(seed).net).eval()


def test_mirrored_crop_gets_the_same_logit_exactly():
    clf = _tiny_classifier()
    x = torch.randint(0, 256, (3, 32, 32, 3)).float()
    with torch.no_grad():
        a, b = clf(x), clf(x.flip(2))  # [N,S,S,3]: dim 2 is the width
    assert (a - a.mean()).abs().max() > 1e-5  # crops get different answers
    torch.testing.assert_close(a, b)


def test_export_runs_in_onnxruntime_as_in_torch_and_kinds_are_not_mixed(tmp_path):
    clf = _tiny_classifier()
    path = export_hand_classifier(clf, tmp_path / "hand.onnx")
    checker = HandChecker(path, threads=1)
    assert (checker.size, checker.margin) == (32, 1.25)
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    kps = rng.uniform(10, 80, (2, 21, 2))
    with torch.no_grad():
        want = clf(torch.from_numpy(crop_hands(image, kps, 32)).float()).numpy()
    np.testing.assert_allclose(checker.logits(image, kps), want, atol=1e-4)
    with pytest.raises(ValueError, match=r"hand\.onnx is not an smhr side classifier"):
        SideChecker(path)
    with pytest.raises(ValueError, match=r"smhr_side\.onnx is not an smhr hand classifier"):
        HandChecker(bundled_side_classifier())
    with pytest.raises(FileNotFoundError, match=r"hand classifier .*missing\.onnx not found.*hand_check=Fa"):
        HandChecker(tmp_path / "missing.onnx")


def test_revised_score_adds_the_weighted_logit_to_the_log_odds():
    got = revised_scores(np.array([0.2, 0.5, 0.9]), np.array([2.0, -4.0, 0.0]))
    p, logit = np.array([0.2, 0.5, 0.9]), np.array([2.0, -4.0, 0.0])
    z = np.log(p / (1 - p)) + HAND_WEIGHT * logit
    np.testing.assert_allclose(got, 1 / (1 + np.exp(-z)), rtol=1e-6)
    assert got[0] > 0.2 and got[1] < 0.5 and got[2] == pytest.approx(0.9)
    assert np.isfinite(revised_scores(np.array([0.0, 1.0]), np.array([0.0, 0.0]))).all()


def test_a_lifted_candidate_over_a_kept_hand_gets_the_networks_score_back():
    """Lifted from under the threshold: kept alone, not over a better kept hand; a hand kept by the
    network's own score stays, whatever it overlaps."""
    boxes = np.array([[0, 0, 100, 100], [10, 10, 40, 40], [200, 0, 260, 60], [20, 20, 90, 90]], float)
    network = np.array([0.9, 0.2, 0.2, 0.5])
    revised = np.array([0.95, 0.8, 0.7, 0.6])
    out = lifted_alone(network, revised, boxes, 0.3)
    np.testing.assert_allclose(out, [0.95, 0.2, 0.7, 0.6])  # the piece inside the first hand drops back
    first = lifted_alone(network, np.array([0.95, 0.99, 0.7, 0.6]), boxes, 0.3)
    assert first[1] == pytest.approx(0.2)  # lifted above the hand it lies in: still a piece of it
    apart = boxes.copy()
    apart[1] = [300, 300, 340, 340]
    np.testing.assert_allclose(lifted_alone(network, revised, apart, 0.3), revised)
    assert lifted_alone(network[:0], revised[:0], boxes[:0], 0.3).shape == (0,)


class _Fixed:
    """A checker stub answering fixed logits, recording the images and keypoints it was asked about."""

    def __init__(self, logits):
        self.answers, self.asked = list(logits), []

    def logits(self, image, keypoints):
        self.asked.append((image, np.asarray(keypoints)))
        return np.array([self.answers.pop(0) for _ in range(len(keypoints))], np.float32)


def _hand(score: float, box: tuple, local_shrink: float = 1.0) -> SimpleNamespace:
    """A decoded-hand stand-in: keypoints spread over `box`, local keypoints shrunk towards its centre."""
    x0, y0, x1, y1 = box
    kp = np.stack([np.linspace(x0, x1, 21), np.linspace(y0, y1, 21)], -1)
    centre = kp.mean(0)
    return Hand(side=1, score=score, center=centre, global_orient=np.zeros(3), pose=np.zeros(45),
                betas=np.zeros(10), transl=np.zeros(3), vertices=np.zeros((1, 3)), joints3d=np.zeros((21, 3)),
                keypoints2d=kp, local_keypoints2d=(kp - centre) * local_shrink + centre, K=np.eye(3))


def test_check_hands_revises_scores_from_the_local_keypoints_crops():
    """Each hand's crop is cut at its local keypoints; a low one is lifted, a false one dropped, a
    lifted piece over a kept hand gets its score back, and a large hand is never lowered."""
    image = np.zeros((200, 300, 3), np.uint8)
    hands = [_hand(0.6, (10, 10, 60, 60)), _hand(0.2, (100, 10, 150, 60)), _hand(0.5, (200, 10, 250, 60)),
             _hand(0.15, (20, 20, 40, 40)), _hand(0.2, (0, 80, 190, 199), local_shrink=0.5)]
    checker = _Fixed([1.0, 4.0, -6.0, 8.0, -8.0])
    out = check_hands(hands, image, checker, threshold=0.3, large_px=180.0)
    assert checker.asked[0][0] is image
    np.testing.assert_allclose(checker.asked[0][1][4], hands[4].local_keypoints2d)
    by_box = {tuple(h.keypoints2d[0]): h.score for h in out}
    want = revised_scores(np.array([0.6, 0.2, 0.5]), np.array([1.0, 4.0, -6.0]))
    assert by_box[(10.0, 10.0)] == pytest.approx(want[0]) and by_box[(100.0, 10.0)] == pytest.approx(want[1])
    assert by_box[(200.0, 10.0)] == pytest.approx(want[2]) and want[2] < 0.3  # a false hand dropped
    assert by_box[(20.0, 20.0)] == pytest.approx(0.15)  # lifted inside the first hand: a piece of it
    assert by_box[(0.0, 80.0)] == pytest.approx(0.2)  # large (190 px): not lowered
    assert [h.score for h in out] == sorted((h.score for h in out), reverse=True)
    assert check_hands([], image, checker, 0.3) == []


def test_reconstructor_keeps_or_drops_what_the_hand_check_says():
    """A checker answering +-20 for every candidate: all candidates kept from the decode threshold,
    or none; hand_check=False per call is the unchecked reconstructor."""
    from smhr.runtime.reconstructor import Reconstructor

    rec = Reconstructor.from_pretrained(side_check=False, hand_check=False)
    image = _sample("real_2.jpg")
    plain = rec.predict(image)
    assert plain
    rec.hand_checker = SimpleNamespace(logits=lambda image, kps: np.full(len(kps), 20.0, np.float32))
    assert len(rec.predict(image)) >= len(plain)
    assert all(h.score > 0.99 for h in rec.predict(image))
    rec.hand_checker.logits = lambda image, kps: np.full(len(kps), -20.0, np.float32)
    assert rec.predict(image) == [] and rec.predict(image, mode="photo") == []
    assert [h.score for h in rec.predict(image, hand_check=False)] == [h.score for h in plain]
    bare = Reconstructor.from_pretrained(side_check=False, hand_check=False)
    with pytest.raises(ValueError, match="hand_check=True: this Reconstructor has no hand classifier"):
        bare.predict(image, hand_check=True)


def _sample(name: str) -> np.ndarray:
    import importlib.resources

    from smhr.io.images import read_rgb

    return read_rgb(str(importlib.resources.files("smhr") / "assets" / "samples" / name))


def test_bundled_classifier_calls_the_bundled_real_hands_hands_and_their_surroundings_not():
    """The four real sample photos' teacher-labelled hands, cropped at their keypoints, are hands;
    the same keypoint layout moved onto a hand-free corner of each photo is not."""
    import importlib.resources

    samples = importlib.resources.files("smhr") / "assets" / "samples"
    labels = json.loads((samples / "labels.json").read_text())["images"]
    checker = HandChecker(bundled_hand_classifier(), threads=1)
    hands, others = [], []
    for name in ("real_1.jpg", "real_2.jpg", "real_3.jpg", "real_4.jpg"):
        image = _sample(name)
        for hand in labels[name]:
            kp = np.array(hand["keypoints2d_px"])
            hands.append(checker.logits(image, kp[None])[0])
            boxes = [np.array(h["keypoints2d_px"]) for h in labels[name]]
            far = _free_corner(image.shape[:2], boxes, np.ptp(kp, 0))
            if far is not None:
                others.append(checker.logits(image, (kp - kp.min(0) + far)[None])[0])
    assert len(hands) >= 4 and min(hands) > 0
    assert len(others) >= 2 and max(others) < min(hands)


def _free_corner(hw, hands, extent):
    """The top-left of an image corner where a box of `extent` overlaps none of the hands' boxes."""
    H, W = hw
    right, bottom = W - extent[0] - 1, H - extent[1] - 1
    for x, y in ((0, 0), (right, 0), (0, bottom), (right, bottom)):
        if x < 0 or y < 0:
            continue
        lo, hi = np.array([x, y]), np.array([x, y]) + extent
        if all((hi < h.min(0)).any() or (lo > h.max(0)).any() for h in hands):
            return lo
    return None


def _labelled_set(tmp_path, name: str, role: str, n: int = 3) -> str:
    import cv2

    from smhr.data.labelled import write_labelled_set

    rng = np.random.default_rng(0)
    records = []
    for i in range(n):
        cv2.imwrite(str(tmp_path / f"{name}{i}.png"), rng.integers(0, 255, (80, 100, 3), dtype=np.uint8))
        kp = rng.uniform([30, 5], [95, 75], (21, 2))
        kp[1], kp[2] = (28, 8), (96, 74)  # 68 px long: the stress views take it
        records.append({"path": f"{name}{i}.png", "sha256": "0" * 64, "width": 100, "height": 80,
                        "split": "test" if i == n - 1 else "train", "group": str(i),
                        "hands": [{"side": 1, "right_prob": 1.0, "keypoints2d": kp.tolist(),
                                   "box": [*kp.min(0).tolist(), *kp.max(0).tolist()]}],
                        "ignore": [[80, 60, 100, 80]], "source_boxes": None})  # fmt: skip
    meta = {"source": {"name": name, "repo": "", "commit": "", "licence": "", "url": ""}, "role": role,
            "image_root": str(tmp_path), "teacher": {}, "split": {}, "counts": {}}  # fmt: skip
    return str(write_labelled_set(tmp_path / name, meta, records))


class _Proposer:
    """A Reconstructor stub proposing, on every photo, the labelled hand (a hit), a second copy of it
    (a duplicate), a hand elsewhere (a false one), one inside the ignore region, a small one over the
    labelled hand (a piece of it) and a larger one over it (a hand placed too small): both over a
    labelled hand, left out."""

    def __init__(self, labels):
        self.labels = labels

    def predict(self, image, hand_check=None):
        assert hand_check is False
        kp = self.labels.pop(0)
        small = kp - kp.min(0)
        piece = (kp - kp.mean(0)) * 0.4 + kp.mean(0)
        smaller = (kp - kp.mean(0)) * 0.7 + kp.mean(0) + [15, 10]
        found = [kp, kp + 1.0, small * 0.2 + 2.0, small * 0.15 + [84, 64], piece, smaller]
        return [SimpleNamespace(keypoints2d=k, local_keypoints2d=k, side=1, score=s)
                for k, s in zip(found, (0.9, 0.5, 0.4, 0.3, 0.35, 0.32), strict=True)]  # fmt: skip


def test_candidates_are_labelled_by_the_teachers_hands(tmp_path):
    from smhr.train.hand_classifier import collect_candidates, split_samples

    root = _labelled_set(tmp_path, "seen", "train")
    name, samples = split_samples(root, "train")
    samples = list(samples)
    crops = collect_candidates(_Proposer([s.hands[0].keypoints2d.copy() for s in samples]), [(name, samples)],
                               size=32)  # fmt: skip
    assert crops.names == ["seen"] and crops.images.shape == (4, 32, 32, 3)
    assert crops.is_hand.tolist() == [1, 0] * 2  # per photo: the hit and the far false hand
    assert crops.side.tolist() == [1, -1] * 2  # the hit gets its label's side, the false hand none
    np.testing.assert_allclose(crops.score, [0.9, 0.4] * 2)
    samples = list(split_samples(root, "train")[1])
    labels = [s.hands[0].keypoints2d.copy() for s in samples]
    pieces = collect_candidates(_Proposer(labels), [(name, samples)], size=32, piece=0.25)
    assert pieces.is_hand.tolist() == [1, 0, 0] * 2  # the piece (0.16 of the hand's box) now a negative
    for views in ("frame_filling", "closeup_no_arm"):
        named, made = split_samples(root, "train", views=views, count=5)
        assert named == f"seen ({views.replace('_', ' ')})"
        assert len(list(made)) == 2  # one view of each of the split's single-hand photos


def test_train_hand_check_tool_trains_scores_and_exports_a_checker_file(tmp_path, monkeypatch):
    """`tools/train_hand_check.py` end to end on candidates of a stub proposer (no ImageNet file):
    hand.pt, scores.json (AUCs, hands kept per weight) and a hand.onnx that `HandChecker` loads."""
    import train_hand_check

    import smhr.model.weights as weights
    import smhr.train.hand_classifier as hand_classifier
    from smhr.data.labelled import ReservedSourceError

    monkeypatch.setattr(weights, "find_mobilenet_v2_imagenet", lambda: None)
    real = hand_classifier.collect_candidates

    def proposed(rec, named, size, piece):
        named = [(name, list(samples)) for name, samples in named]
        labels = [s.hands[0].keypoints2d.copy() for _, ss in named for s in ss]
        return real(_Proposer(labels), named, size, piece=piece)

    monkeypatch.setattr(hand_classifier, "collect_candidates", proposed)
    seen, unseen = _labelled_set(tmp_path, "seen", "train"), _labelled_set(tmp_path, "unseen", "test")
    out = tmp_path / "hand"
    args = ["--train", seen, "--eval", unseen, "--out", str(out), "--epochs", "1", "--size", "32",
            "--stress", "0"]
    assert train_hand_check.main(args) == 0
    scores = json.loads((out / "scores.json").read_text())
    assert set(scores["held_out"]["sets"]) == {"seen"}
    assert set(scores["never_trained_on"]["sets"]) == {"unseen"}
    assert scores["never_trained_on"]["sets"]["unseen"]["auc_score"] == 1.0  # hits scored 0.9, false 0.4
    assert scores["held_out"]["kept_at_threshold"]["0.0"]["seen"] == [1, 1]  # at 0.3: the hit, the false
    assert HandChecker(out / "hand.onnx").size == 32
    with pytest.raises(ReservedSourceError, match="test only"):
        train_hand_check.main(["--train", unseen, "--out", str(tmp_path / "no")])
