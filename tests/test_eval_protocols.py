"""Dataset protocols: matching, AP / recall / duplicates / handedness, RHD PCK, InterHand MRRPE."""

from types import SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from smhr.cli import app
from smhr.data.sample import HandLabel, Sample
from smhr.eval.protocols import Tally, score_image, summarise

rng = np.random.default_rng(0)


def _label(side, centre, z=0.5):
    kp = centre + rng.normal(size=(21, 2)) * 20
    joints = np.c_[(kp - 100) / 500 * z, np.full(21, z)] + rng.normal(size=(21, 3)) * [0, 0, 0.01]
    return HandLabel(side=side, keypoints2d=kp, visibility=np.ones(21, bool), joints3d=joints)


def _pred(label, score, dxy=(0.0, 0.0), side=None, dz=0.0, scale=1.0):
    j = label.joints3d.astype(np.float64)
    j = (j - j[0]) * scale + j[0] + [0, 0, dz]
    return SimpleNamespace(
        side=label.side if side is None else side,
        score=score,
        keypoints2d=label.keypoints2d + np.asarray(dxy),
        joints3d=j,
    )


def _sample(hands):
    return Sample(image=np.zeros((200, 200, 3), np.uint8), K=np.eye(3), hands=hands)


def test_perfect_predictions_score_perfectly():
    t = Tally()
    for _ in range(3):
        labels = [_label(0, np.array([50.0, 60])), _label(1, np.array([150.0, 140]))]
        score_image(t, [_pred(g, 0.9) for g in labels], _sample(labels))
    r = summarise(t, "interhand")
    assert r["ap50"] == pytest.approx(1.0) and r["recall"] == 1.0 and r["precision"] == 1.0
    assert r["duplicates"] == 0 and r["handedness_accuracy"] == 1.0
    assert r["kp2d_error_px"] == pytest.approx(0.0) and r["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-6)
    assert r["mpjpe_root_relative_mm"] == pytest.approx(0.0) and r["mrrpe_mm"] == pytest.approx(0.0)
    assert r["two_hand_images_scored"] == 3


def test_duplicates_misses_wrong_sides_and_known_errors():
    t = Tally()
    a, b = _label(0, np.array([50.0, 60])), _label(1, np.array([150.0, 140]))
    preds = [_pred(a, 0.9, dxy=(3.0, 4.0)), _pred(a, 0.8), _pred(b, 0.7, side=0, dz=0.02)]
    score_image(t, preds, _sample([a, b]))
    score_image(t, [], _sample([_label(1, np.array([100.0, 100]))]))  # a missed hand
    score_image(t, [_pred(a, 0.95)], _sample([]))  # a hand-less image with a false detection
    r = summarise(t, "interhand")
    assert (r["labelled_hands"], r["predicted_hands"], r["matched_hands"]) == (3, 4, 2)
    assert r["duplicates"] == 1 and r["recall"] == pytest.approx(2 / 3) and r["precision"] == 0.5
    assert r["handedness_accuracy"] == 0.5  # the second matched hand was called left
    assert r["kp2d_error_px"] == pytest.approx(2.5)  # (5 px + 0 px) / 2
    # the right hand moved 2 cm in depth: root-relative and PA errors stay 0, MRRPE sees 20 mm
    assert r["mpjpe_root_relative_mm"] == pytest.approx(0.0, abs=1e-6) and r["mrrpe_mm"] == pytest.approx(
        20.0
    )
    # AP: detections by score 0.95 FP, 0.9 TP, 0.8 FP (duplicate), 0.7 TP over 3 hands
    assert 0.3 < r["ap50"] < 0.67


def test_a_label_nothing_can_match_is_no_hand_and_mrrpe_needs_one_hand_a_side():
    t = Tally()
    a, b = _label(0, np.array([50.0, 60])), _label(1, np.array([150.0, 140]))
    unseen = HandLabel(side=1, keypoints2d=np.zeros((21, 2)), visibility=np.zeros(21, bool))
    score_image(t, [_pred(a, 0.9), _pred(b, 0.8)], _sample([a, unseen, b]))
    c = _label(1, np.array([60.0, 150]))  # a second right hand: which right hand pairs with the left?
    score_image(t, [_pred(a, 0.9), _pred(b, 0.8, dz=0.05), _pred(c, 0.7)], _sample([a, b, c]))
    r = summarise(t, "interhand")
    assert r["labelled_hands"] == 5 and r["recall"] == 1.0
    assert r["two_hand_images_scored"] == 1 and r["mrrpe_mm"] == pytest.approx(0.0, abs=1e-6)


def test_rhd_protocol_uses_labelled_root_and_scale():
    t = Tally()
    g = _label(1, np.array([100.0, 100]))
    score_image(t, [_pred(g, 0.9, dz=0.3, scale=1.7)], _sample([g]))  # wrong depth and size only
    r = summarise(t, "rhd")
    assert r["epe3d_mm"] == pytest.approx(0.0, abs=1e-6) and r["pck3d_auc_20_50mm"] == pytest.approx(1.0)


def test_eval_dataset_command_on_a_freihand_layout_set(tiny_weights, tmp_path):
    from smhr.data.testing import write_skeleton_freihand
    from smhr.hands.model import HandModel

    root = write_skeleton_freihand(tmp_path / "fh", HandModel.load("anny", "right"), 2, 3, 64, 0)
    res = CliRunner().invoke(
        app,
        [
            "eval",
            "dataset",
            "--kind",
            "freihand",
            "--root",
            str(root),
            "--checkpoint",
            str(tiny_weights),
            "--threshold",
            "0",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "r.json"),
        ],
    )
    assert res.exit_code == 0, res.output
    import json

    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["num_images"] == 3 and rep["labelled_hands"] == 3 and rep["predicted_hands"] >= 3
    assert 0.0 <= rep["ap50"] <= 1.0 and "auc_pa_0_50mm" in rep  # None unless a hand was matched
    assert (rep["auc_pa_0_50mm"] is None) == (rep["matched_hands"] == 0)
    res = CliRunner().invoke(app, ["eval", "dataset", "--kind", "rhd", "--root", str(tmp_path / "none")])
    assert res.exit_code == 2 and "none" in res.output


def test_camera_frame_mpjpe_and_wrist_depth_error_are_reported_in_mm():
    t = Tally()
    a = _label(1, np.array([100.0, 100]))
    score_image(t, [_pred(a, 0.9, dz=0.012)], _sample([a]))  # the whole hand 12 mm too far
    r = summarise(t, "multihand")
    assert r["mpjpe_mm"] == pytest.approx(12.0) and r["root_depth_error_mm"] == pytest.approx(12.0)
    assert r["pa_mpjpe_mm"] == pytest.approx(0.0, abs=1e-6)
    assert summarise(Tally(), "multihand")["root_depth_error_mm"] is None
