"""The side check (`smhr.runtime.side_check`): the canonical crop, the classifier's mirror
antisymmetry, its ONNX export, how it revises the network's handedness, its training, and the
bundled classifier on the bundled real photos."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from smhr.geometry.hand_crop import canonical_crop_affine, crop_hands
from smhr.model.side_net import SideClassifier, SideNet
from smhr.onnx_export import export_side_classifier
from smhr.runtime.decode import decode_peaks
from smhr.runtime.side_check import NET_WEIGHT, SideChecker, bundled_side_classifier, revise_handedness


def _hand(rng: np.random.Generator, angle: float) -> np.ndarray:
    """21 points: wrist at the origin, the middle knuckle 40 px along `angle`, the rest scattered."""
    kp = rng.uniform(-30, 30, (21, 2))
    kp[0] = 0
    kp[9] = 40 * np.array([np.cos(angle), np.sin(angle)])
    return kp + 200


@pytest.mark.parametrize("angle", [0.0, 1.0, 2.5, -2.0])
def test_canonical_crop_points_the_hand_up_and_holds_every_keypoint(angle):
    rng = np.random.default_rng(3)
    kp = _hand(rng, angle)
    A = canonical_crop_affine(kp, size=64, margin=1.25)
    out = kp @ A[:, :2].T + A[:, 2]
    up = out[9] - out[0]
    assert abs(up[0]) < 1e-9 and up[1] < 0  # wrist straight below the middle knuckle
    lo, hi = out.min(0), out.max(0)
    assert np.all(lo >= 0) and np.all(hi <= 64)
    assert np.isclose((hi - lo).max(), 64 / 1.25)  # the longer side spans size / margin
    np.testing.assert_allclose((lo + hi) / 2, [32, 32], atol=1e-9)  # centred
    same = np.full((21, 2), 7.0)  # degenerate: one point
    assert np.isfinite(canonical_crop_affine(same)).all()


def test_crop_hands_samples_the_image_where_the_affine_says():
    image = np.zeros((120, 160, 3), np.uint8)
    image[40:50, 100:110] = (255, 0, 0)  # a red square at (105, 45)
    kp = _hand(np.random.default_rng(0), 0.7) - 200 + np.array([100, 40])
    crops = crop_hands(image, kp[None], size=64)
    assert crops.shape == (1, 64, 64, 3) and crops.dtype == np.uint8
    A = canonical_crop_affine(kp, 64)
    u, v = A[:, :2] @ [104.5, 44.5] + A[:, 2]
    assert 0 <= u < 64 and 0 <= v < 64  # the square lies among the keypoints: inside the crop
    assert crops[0, int(v), int(u), 0] > 200
    assert crop_hands(image, np.zeros((0, 21, 2)), size=48).shape == (0, 48, 48, 3)


def _tiny_classifier(seed: int = 0) -> SideClassifier:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = SideNet(blocks=4, size=32, width=4)
        for p in net.fc.parameters():
            torch.nn.init.normal_(p, std=0.5)
    return SideClassifier(net.eval()).eval()


def test_mirrored_crop_gets_the_opposite_logit_exactly():
    clf = _tiny_classifier()
    x = torch.randint(0, 256, (3, 32, 32, 3)).float()
    with torch.no_grad():
        a, b = clf(x), clf(x.flip(2))  # [N,S,S,3]: dim 2 is the width
    assert a.abs().max() > 1e-4  # not trivially zero
    torch.testing.assert_close(a, -b)


def test_export_runs_in_onnxruntime_as_in_torch(tmp_path):
    clf = _tiny_classifier()
    path = export_side_classifier(clf, tmp_path / "side.onnx")
    checker = SideChecker(path, threads=1)
    assert (checker.size, checker.margin) == (32, 1.25)
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)
    kps = np.stack([_hand(rng, a) * 0.3 for a in (0.0, 2.0)])
    got = checker.logits(image, kps)
    with torch.no_grad():
        want = clf(torch.from_numpy(crop_hands(image, kps, 32)).float()).numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert checker.logits(image, np.zeros((0, 21, 2))).shape == (0,)


def test_averaged_classifiers_answer_the_mean_logit_in_one_file(tmp_path):
    """`smhr.onnx_average` (how the bundled side classifier is made): the merged graph's logit is the
    members' mean, mirrored crops still get exactly the opposite one, the file loads as a side
    checker, and classifiers of another kind or crop are refused in one line."""
    import average_classifiers

    from smhr.model.side_net import HandClassifier
    from smhr.onnx_average import average_crop_classifiers
    from smhr.onnx_export import export_hand_classifier

    members = [_tiny_classifier(k) for k in range(3)]
    paths = [export_side_classifier(m, tmp_path / f"m{k}.onnx") for k, m in enumerate(members)]
    mean = average_crop_classifiers(paths, tmp_path / "mean.onnx")
    checker = SideChecker(mean, threads=1)
    x = torch.randint(0, 256, (4, 32, 32, 3)).float()
    with torch.no_grad():
        want = torch.stack([m(x) for m in members]).mean(0).numpy()
    got = checker.session.run(None, {"crops": x.numpy()})[0]
    np.testing.assert_allclose(got, want, atol=1e-4)
    mirrored = checker.session.run(None, {"crops": x.flip(2).numpy()})[0]
    np.testing.assert_allclose(mirrored, -got, atol=1e-4)
    assert checker.session.get_modelmeta().custom_metadata_map["smhr_members"] == "m0.onnx, m1.onnx, m2.onnx"
    hand = export_hand_classifier(HandClassifier(members[0].net), tmp_path / "hand.onnx")
    with pytest.raises(ValueError, match=r"hand\.onnx: format or crop .* differs"):
        average_crop_classifiers([paths[0], hand], tmp_path / "no.onnx")
    with pytest.raises(ValueError, match="at least 2"):
        average_crop_classifiers(paths[:1], tmp_path / "no.onnx")
    with pytest.raises(SystemExit, match=r"error: .*hand\.onnx: format or crop"):
        average_classifiers.main([str(paths[0]), str(hand), "--out", str(tmp_path / "no.onnx")])
    assert average_classifiers.main([str(p) for p in paths[:2]] + ["--out", str(tmp_path / "two.onnx")]) == 0


def test_checker_refuses_a_file_that_is_no_side_classifier(tmp_path):
    from smhr.runtime.loading import bundled_weights

    with pytest.raises(ValueError, match=r"anny\.onnx is not an smhr side classifier"):
        SideChecker(bundled_weights(onnx=True))
    with pytest.raises(FileNotFoundError, match=r"missing\.onnx not found"):
        SideChecker(tmp_path / "missing.onnx")


class _Fixed:
    """A checker stub answering fixed logits, recording the (image, keypoints) it was asked about."""

    def __init__(self, logits):
        self.answers, self.asked = list(logits), []

    def logits(self, image, keypoints):
        self.asked.append((np.array(image), np.asarray(keypoints)))
        return np.array([self.answers.pop(0) for _ in range(len(keypoints))], np.float32)


def _spread(slots: int, cells: float) -> np.ndarray:
    """kp_offsets [1,slots,42]: the wrist at the cell, the other joints spread over `cells` cells."""
    offsets = np.zeros((1, slots, 21, 2), np.float32)
    offsets[..., 1:, 0] = np.linspace(0, cells, 20)
    return offsets.reshape(1, slots, 42)


def test_revision_sums_the_networks_log_odds_and_the_crops_at_candidate_slots_only():
    W = 8  # grid width
    offsets = _spread(4, 8.0)  # 8 cells = 32 network px = 64 photo px: checked
    offsets[0, 3] = _spread(1, 5.0)[0, 0]  # 40 photo px: under MIN_CHECKED_PX, the network's side
    outputs = {
        "scores": np.array([[0.9, 0.6, 0.1, 0.8]], np.float32),
        "cells": np.array([[9, 20, 3, 30]]),
        "kp_offsets": offsets,
        "handedness": np.array([[[0.0, 2.0], [1.0, 0.0], [0.0, 5.0], [0.0, 1.0]]], np.float32),
    }
    affine = np.diag([0.5, 0.5, 1.0])  # original px -> network px: the photo is twice the input
    checker = _Fixed([-5.0, 0.5])
    photo = np.zeros((64, 64, 3), np.uint8)
    out = revise_handedness(outputs, [photo], affine[None], 0.5, W, checker, stride=4)
    np.testing.assert_allclose(out["handedness"][0, 0], [0.0, NET_WEIGHT * 2.0 - 5.0])  # right -> left
    np.testing.assert_allclose(out["handedness"][0, 1], [0.0, NET_WEIGHT * -1.0 + 0.5])  # stays left
    np.testing.assert_allclose(out["handedness"][0, 2], [0.0, 5.0])  # under the threshold: untouched
    np.testing.assert_allclose(out["handedness"][0, 3], [0.0, 1.0])  # too small to check: untouched
    assert outputs["handedness"][0, 0, 1] == 2.0  # the input is not changed
    np.testing.assert_array_equal(out["scores"], outputs["scores"])  # no hand checker: scores kept
    # cell 9 of an 8-wide grid is (1, 1): its keypoints at pixel 4 x 1 in the network, 8 in the photo
    assert len(checker.asked) == 1 and checker.asked[0][1].shape == (2, 21, 2)  # the checked ones, once
    np.testing.assert_allclose(checker.asked[0][1][0, 0], [8.0, 8.0])


def test_revised_side_decodes_the_other_sides_parameters():
    from smhr.hands.numpy_model import NumpyHandModel

    models = [NumpyHandModel.load("anny", s) for s in ("left", "right")]
    params = np.zeros((1, 1, 122), np.float32)
    params[0, 0, 61 + 3] = 0.8  # the right set bends a finger; the left set is flat
    outputs = {"scores": np.array([[0.9]], np.float32), "cells": np.array([[10]]),
               "kp_offsets": _spread(1, 14.0), "params": params,
               "handedness": np.array([[[0.0, 3.0]]], np.float32)}  # fmt: skip
    A = np.eye(3)[None]
    right = decode_peaks(outputs, models, 64, 16, A, 0.5)[0][0]
    revised = revise_handedness(outputs, [np.zeros((64, 64, 3), np.uint8)], A, 0.5, 16, _Fixed([-8.0]))
    left = decode_peaks(revised, models, 64, 16, A, 0.5)[0][0]
    assert (right.side, left.side) == (1, 0)
    assert right.pose[0] == pytest.approx(0.8) and left.pose[0] == 0.0
    log_odds = NET_WEIGHT * 3.0 - 8.0  # right over left, after the revision
    assert left.side == int(log_odds > 0)
    assert left.handedness[0] == pytest.approx(1 / (1 + np.exp(log_odds)), rel=1e-5)


def test_side_classifier_training_learns_a_side_cue(tmp_path):
    """Crops whose bright blob sits left for right hands: learnable under the mirrored halves."""
    from smhr.train.side_classifier import SideCrops, SideTrainConfig, side_accuracy, train_side_net

    rng = np.random.default_rng(0)
    n = 192
    images = rng.integers(0, 60, (n, 32, 32, 3)).astype(np.uint8)
    side = rng.integers(0, 2, n)
    for i in range(n):
        x0 = 4 if side[i] else 20
        images[i, 10:22, x0:x0 + 8] = 230
    crops = SideCrops(images, side.astype(np.float32), side, np.zeros(n, np.int64), ["blobs"])
    config = SideTrainConfig(epochs=6, batch=32, lr=5e-3, blocks=4, size=32)
    net = train_side_net(crops, config, log=lambda s: None)
    assert side_accuracy(SideClassifier(net), crops)["blobs"] >= 0.9


def test_collect_crops_takes_keypoint_hands_of_the_split(tmp_path):
    import cv2

    from smhr.data.labelled import write_labelled_set
    from smhr.train.side_classifier import collect_crops

    rng = np.random.default_rng(0)
    cv2.imwrite(str(tmp_path / "a.png"), rng.integers(0, 255, (80, 100, 3), dtype=np.uint8))
    hand = {"side": 1, "right_prob": 0.8, "keypoints2d": (_hand(rng, 1.0) * 0.2).tolist()}
    box = {"side": 0, "level": "box", "box": [0, 0, 10, 10]}
    records = [{"path": "a.png", "sha256": "0" * 64, "width": 100, "height": 80, "split": split,
                "group": split, "hands": [hand, box], "ignore": [], "source_boxes": None}
               for split in ("train", "test")]  # fmt: skip
    meta = {"source": {"name": "tiny", "repo": "", "commit": "", "licence": "", "url": ""}, "role": "train",
            "image_root": str(tmp_path), "teacher": {}, "split": {}, "counts": {}}  # fmt: skip
    root = write_labelled_set(tmp_path / "tiny", meta, records)
    crops = collect_crops([root], "train", size=32)
    assert crops.images.shape == (1, 32, 32, 3) and crops.names == ["tiny"]
    assert crops.right_prob.tolist() == [pytest.approx(0.8)] and crops.side.tolist() == [1]


def test_detector_crops_keep_the_hands_of_known_side_and_join_after_the_teachers():
    from smhr.train.side_classifier import SideCrops

    candidates = SimpleNamespace(images=np.arange(4)[:, None, None, None] * np.ones((4, 8, 8, 3), np.uint8),
                                 is_hand=np.array([1, 0, 1, 1]), side=np.array([1, -1, 0, -1]),
                                 source=np.array([0, 0, 1, 1]), names=["a", "b"])  # fmt: skip
    found = SideCrops.from_candidates(candidates)
    assert found.images[:, 0, 0, 0].tolist() == [0, 2]  # no false hand, no hand of unknown side
    assert found.side.tolist() == [1, 0] and found.right_prob.tolist() == [1.0, 0.0]
    assert found.names == ["a (detector)", "b (detector)"] and found.source.tolist() == [0, 1]
    teacher = SideCrops(np.full((1, 8, 8, 3), 9, np.uint8), np.array([0.8], np.float32), np.array([1]),
                        np.array([0]), ["a"])  # fmt: skip
    both = SideCrops.join([teacher, found])
    assert both.images[:, 0, 0, 0].tolist() == [9, 0, 2] and both.source.tolist() == [0, 1, 2]
    assert both.names == ["a", "a (detector)", "b (detector)"]
    assert both.right_prob.tolist() == [pytest.approx(0.8), 1.0, 0.0]


def test_bundled_classifier_gets_the_bundled_real_hands_and_their_mirror_images():
    """The four real sample photos (held-out splits) with their teacher labels: the bundled
    classifier agrees with each hand's side, and calls the mirrored photo's hand the other side."""
    import importlib.resources

    from smhr.io.images import read_rgb

    samples = importlib.resources.files("smhr") / "assets" / "samples"
    labels = json.loads((samples / "labels.json").read_text())["images"]
    checker = SideChecker(bundled_side_classifier(), threads=1)
    seen = 0
    for name in ("real_1.jpg", "real_2.jpg", "real_3.jpg", "real_4.jpg"):
        image = read_rgb(str(samples / name))
        W = image.shape[1]
        for hand in labels[name]:
            kp = np.array(hand["keypoints2d_px"])
            right = hand["side"] == "right"
            assert (checker.logits(image, kp[None])[0] > 0) == right, name
            mirrored = kp * [-1, 1] + [W - 1, 0]
            flipped = np.ascontiguousarray(image[:, ::-1])
            assert (checker.logits(flipped, mirrored[None])[0] > 0) != right, name
            seen += 1
    assert seen >= 4


def test_side_check_choices_per_input_and_per_call(tmp_path):
    """`--side-check auto` checks images and leaves videos to the network; `predict(side_check=)`
    overrides per call, and asking a reconstructor without a classifier is one line."""
    from pathlib import Path

    from smhr.app.inputs import check_for
    from smhr.app.provenance import with_mode
    from smhr.runtime.reconstructor import Reconstructor

    assert check_for("auto", Path("a.jpg")) is None and check_for("auto", Path("a.MP4")) is False
    assert check_for("on", Path("a.mp4")) is None and check_for("off", Path("a.jpg")) is False
    prov = {"photo_views": {"zoom_out": 0.0, "mirror": False}, "side_check": True}
    assert with_mode(prov, "fast", [], False)["side_check"] is False
    assert with_mode(prov, "fast", [], None)["side_check"] is True
    plain = Reconstructor.from_pretrained(side_check=False)
    assert plain.side_checker is None
    image = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="side_check=True: this Reconstructor has no side classifier"):
        plain.predict(image, side_check=True)


def test_checked_sides_on_the_bundled_real_photos_match_or_beat_the_networks():
    """The bundled weights on the four real samples (fast and photo mode): with the check every
    labelled hand found keeps the teacher's side and one more gains it; `side_check=False` per call is exactly
    the unchecked reconstructor."""
    import importlib.resources

    from smhr.io.images import read_rgb
    from smhr.runtime.reconstructor import Reconstructor

    samples = importlib.resources.files("smhr") / "assets" / "samples"
    labels = json.loads((samples / "labels.json").read_text())["images"]
    checked = Reconstructor.from_pretrained(hand_check=False)
    plain = Reconstructor.from_pretrained(side_check=False, hand_check=False)
    right = {True: 0, False: 0}
    for name in ("real_1.jpg", "real_2.jpg", "real_3.jpg", "real_4.jpg"):
        image = read_rgb(str(samples / name))
        for mode in ("fast", "photo"):
            off = checked.predict(image, mode=mode, side_check=False)
            same = plain.predict(image, mode=mode)
            assert [h.side for h in off] == [h.side for h in same]
            np.testing.assert_allclose([h.score for h in off], [h.score for h in same])
            for check, hands in ((True, checked.predict(image, mode=mode)), (False, same)):
                for truth in labels[name]:
                    kp = np.array(truth["keypoints2d_px"])
                    err = [np.linalg.norm(h.keypoints2d - kp, axis=-1).mean() / np.ptp(kp, 0).max()
                           for h in hands]  # fmt: skip
                    if err and min(err) < 0.5:
                        right[check] += hands[int(np.argmin(err))].side == (truth["side"] == "right")
    assert right[True] >= 12 and right[True] > right[False]  # measured: 12 against 11


def test_photo_modes_mirrored_view_is_checked_on_the_mirrored_photo():
    """Each view's crops come from the pixels its affine maps from: the photo, or for the mirrored
    view the photo mirrored left-right."""
    from smhr.runtime.reconstructor import Reconstructor

    rec = Reconstructor.from_pretrained(side_check=False, hand_check=False, threshold=0.0, min_hand_side=None)
    rec.side_checker = _Fixed([0.0] * 1000)
    image = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    rec.predict(image, mode="photo", mirror=True)
    seen = [source for source, _ in rec.side_checker.asked]
    assert any(np.array_equal(s, image) for s in seen)
    assert any(np.array_equal(s, image[:, ::-1]) for s in seen)
    assert all(np.array_equal(s, image) or np.array_equal(s, image[:, ::-1]) for s in seen)


def test_train_side_tool_trains_scores_and_exports_a_checker_file(tmp_path, monkeypatch):
    """`tools/train_side.py` end to end on a tiny labelled set (no ImageNet file: a random start):
    side.pt, scores.json and a side.onnx that `SideChecker` loads; a test-only set is refused."""
    import cv2
    import train_side

    import smhr.model.weights as weights
    from smhr.data.labelled import ReservedSourceError, write_labelled_set

    monkeypatch.setattr(weights, "find_mobilenet_v2_imagenet", lambda: None)
    rng = np.random.default_rng(0)

    def labelled(name: str, role: str) -> str:
        records = []
        for i in range(4):
            cv2.imwrite(str(tmp_path / f"{name}{i}.png"), rng.integers(0, 255, (80, 100, 3), dtype=np.uint8))
            kp = _hand(rng, 1.0) * 0.2
            hand = {"side": i % 2, "right_prob": float(i % 2), "keypoints2d": kp.tolist(),
                    "box": [*kp.min(0).tolist(), *kp.max(0).tolist()]}
            records.append({"path": f"{name}{i}.png", "sha256": "0" * 64, "width": 100, "height": 80,
                            "split": "test" if i == 3 else "train", "group": str(i), "hands": [hand],
                            "ignore": [], "source_boxes": None})  # fmt: skip
        meta = {"source": {"name": name, "repo": "", "commit": "", "licence": "", "url": ""}, "role": role,
                "image_root": str(tmp_path), "teacher": {}, "split": {}, "counts": {}}  # fmt: skip
        return str(write_labelled_set(tmp_path / name, meta, records))

    seen, unseen = labelled("seen", "train"), labelled("unseen", "test")
    out = tmp_path / "side"
    args = ["--train", seen, "--eval", unseen, "--out", str(out), "--epochs", "1", "--size", "32"]
    assert train_side.main(args) == 0
    scores = json.loads((out / "scores.json").read_text())
    assert set(scores["held_out"]) == {"seen"} and set(scores["never_trained_on"]) == {"unseen"}
    assert SideChecker(out / "side.onnx").size == 32
    assert torch.load(out / "side.pt", weights_only=False)["train_sets"] == ["seen"]
    with pytest.raises(ReservedSourceError, match="test only"):
        train_side.main(["--train", unseen, "--out", str(tmp_path / "no")])

    # --detector-views: crops where a (stub) detector puts the labelled hand join the teacher's
    import smhr.train.hand_classifier as hand_classifier

    class Found:  # on each photo in turn: its labelled hand, 0.5 px off, and a false hand
        def __init__(self, labels):
            self.labels = labels

        def predict(self, image, hand_check=None):
            kp = self.labels.pop(0) + 0.5
            return [SimpleNamespace(keypoints2d=k, local_keypoints2d=k, side=1, score=s)
                    for k, s in ((kp, 0.9), (kp * 0.1, 0.4))]  # fmt: skip

    seen_sets = []
    real = hand_classifier.collect_candidates

    def proposed(rec, named, size, piece):
        named = [(name, list(samples)) for name, samples in named]
        seen_sets.append([name for name, _ in named])
        return real(Found([s.hands[0].keypoints2d.copy() for _, ss in named for s in ss]), named, size,
                    piece=piece)

    monkeypatch.setattr(hand_classifier, "candidate_detector", lambda weights: (None, 0.3))
    monkeypatch.setattr(hand_classifier, "collect_candidates", proposed)
    out = tmp_path / "side-detector"
    assert train_side.main([*args[:5], str(out), *args[6:], "--detector-views", "0"]) == 0
    assert seen_sets == [["seen"], ["seen"]]  # train split, then test split; no stress views at 0
    scores = json.loads((out / "scores.json").read_text())
    assert set(scores["held_out"]) == {"seen", "seen (detector)"}
    assert torch.load(out / "side.pt", weights_only=False)["train_sets"] == ["seen", "seen (detector)"]


def test_imagenet_start_loads_the_whole_file_strictly(tmp_path):
    """The first blocks hold exactly the file's weights and BatchNorm statistics (the shape probe
    moves none of them); a file of another network is refused in one line, not loaded in part."""
    import torchvision

    from smhr.model.backbones import BackboneWeightsError

    with torch.random.fork_rng():
        torch.manual_seed(0)
        source = torchvision.models.mobilenet_v2(weights=None)
        for m in source.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                torch.nn.init.uniform_(m.running_mean)
    torch.save(source.state_dict(), tmp_path / "mobilenet.pth")
    net = SideNet(blocks=4, size=32, imagenet=tmp_path / "mobilenet.pth")
    state = source.state_dict()
    assert all(torch.equal(v, state["features." + k]) for k, v in net.features.state_dict().items())
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "resnet.pth")
    with pytest.raises(BackboneWeightsError, match="not a mobilenet_v2 checkpoint"):
        SideNet(blocks=4, size=32, imagenet=tmp_path / "resnet.pth")
