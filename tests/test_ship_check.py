"""tools/ship_check.py: candidate vs shipped weights on every never-trained-on number, and refusals."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import pytest
import ship_check

NAN = float("nan")


def _set(recall, precision=0.9, pck=0.6, side=0.8, hands=200, images=300, **extra):
    return {"recall": recall, "precision": precision, "pck0.2_all": pck, "handedness_acc": side,
            "correct_side_recall": recall * side, "ap": 0.7, "hands": hands, "images": images, **extra}


def _scores(gloves_recall=0.70, pa=25.0, synth=16.0, panoptic_side=NAN):
    return {
        "weights": "w.pt", "mode": "fast", "zoom_out": None, "mirror": None, "iou": 0.3,
        "smhr": {
            "sources": {"hina-gloves": _set(gloves_recall) | {"status": "never trained on"},
                        "subhih-hands": _set(0.9) | {"status": "trained on"}},
            "stress": {"frame_filling": {"never trained on": _set(0.40), "trained on": _set(0.9)}},
            "gt_fixtures": {"panoptic": _set(0.0, precision=NAN, pck=0.0, side=panoptic_side, hands=4,
                                             images=2)},
            "fixtures_3d": {"interhand2.6m": {"pa_mpjpe_mm": pa, "root_depth_error_mm": 80.0}},
            "synthetic_freihand": {"pa_mpjpe_mm": synth},
        },
    }  # fmt: skip


def _verdicts(base, cand, tolerance=0.0, hands=0):
    return {n.name: n.verdict(tolerance, hands) for n in ship_check.numbers(base, cand)}


def test_only_never_trained_on_numbers_are_compared_with_the_right_direction():
    base, cand = _scores(), _scores(gloves_recall=0.75, pa=24.0, synth=17.0)
    v = _verdicts(base, cand)
    assert not any("subhih" in k for k in v)  # trained on: not a ship criterion
    assert "stress frame_filling: recall" in v
    assert v["set hina-gloves: recall"] == "better"
    assert v["3d interhand2.6m: pa_mpjpe_mm"] == "better"  # fewer millimetres
    assert v["synthetic: pa_mpjpe_mm"] == "worse"
    assert v["set hina-gloves: precision"] == "equal"
    assert "gt panoptic: precision" not in v  # fixtures: recall, PCK, side only
    assert "gt panoptic: handedness_acc" not in v  # NaN in both: nothing to compare
    lines, ships = ship_check.report(base, cand, 0.0)
    assert not ships and lines[-1].endswith("DOES NOT SHIP: worse on synthetic: pa_mpjpe_mm")


def test_a_candidate_better_or_equal_everywhere_ships():
    lines, ships = ship_check.report(_scores(), _scores(gloves_recall=0.72, pa=24.0, synth=15.0), 0.0)
    assert ships
    assert lines[-1].startswith("4 better, 13 equal, 0 worse")  # recall, right-side recall, mm x2
    assert "SHIPS: no never-trained-on number is worse" in lines[-1]


def test_tolerance_applies_to_rates_not_to_millimetres():
    base, cand = _scores(), _scores(gloves_recall=0.695, synth=16.001)
    assert _verdicts(base, cand, 0.0)["set hina-gloves: recall"] == "worse"
    v = _verdicts(base, cand, 0.01)
    assert v["set hina-gloves: recall"] == "equal"
    assert v["synthetic: pa_mpjpe_mm"] == "worse"


def test_the_hands_tolerance_is_one_hand_of_each_sets_own_size():
    base, cand = _scores(), _scores()
    cand["smhr"]["gt_fixtures"]["panoptic"]["pck0.2_all"] = -0.2  # 4 hands: -0.2 is under one hand
    cand["smhr"]["sources"]["hina-gloves"]["recall"] = 0.69  # 200 hands: -0.01 is two hands
    assert _verdicts(base, cand, 0.0, 1)["gt panoptic: pck0.2_all"] == "equal"
    assert _verdicts(base, cand, 0.0, 1)["set hina-gloves: recall"] == "worse"
    assert _verdicts(base, cand, 0.0, 2)["set hina-gloves: recall"] == "equal"
    assert _verdicts(base, cand, 0.0, 0)["gt panoptic: pck0.2_all"] == "worse"
    lines, _ = ship_check.report(base, cand, 0.0, 1)
    assert "(tolerance 0 on rates, 1 hand(s))" in lines[-1]


def test_a_number_missing_on_one_side_blocks_shipping():
    _, ships = ship_check.report(_scores(panoptic_side=1.0), _scores(panoptic_side=NAN), 0.0)
    assert not ships
    assert _verdicts(_scores(panoptic_side=1.0), _scores())["gt panoptic: handedness_acc"] == "incomparable"


def test_3d_millimetres_are_compared_on_the_hands_both_weights_matched():
    base, cand = _scores(), _scores()
    base["smhr"]["fixtures_3d"]["interhand2.6m"]["per_hand"] = {
        "0/0": {"pa_mpjpe_mm": 20.0, "root_depth_error_mm": 50.0},
        "1/0": {"pa_mpjpe_mm": 30.0, "root_depth_error_mm": 110.0}}
    cand["smhr"]["fixtures_3d"]["interhand2.6m"]["per_hand"] = {
        "0/0": {"pa_mpjpe_mm": 19.0, "root_depth_error_mm": 60.0},
        "2/1": {"pa_mpjpe_mm": 90.0, "root_depth_error_mm": 900.0}}  # a hand only the candidate finds
    rows = {n.name: n for n in ship_check.numbers(base, cand)}
    pa, depth = rows["3d interhand2.6m: pa_mpjpe_mm"], rows["3d interhand2.6m: root_depth_error_mm"]
    assert (pa.baseline, pa.candidate, pa.matched) == (20.0, 19.0, 1)
    assert (depth.baseline, depth.candidate) == (50.0, 60.0)
    assert pa.verdict(0.0) == "better" and depth.verdict(0.0) == "worse"
    lines, _ = ship_check.report(base, cand, 0.0)
    assert any("root_depth_error_mm" in line and "(the 1 hands both matched)" in line for line in lines)
    # without per-hand lists on both sides: each result's own mean, as before
    del cand["smhr"]["fixtures_3d"]["interhand2.6m"]["per_hand"]
    assert next(n for n in ship_check.numbers(base, cand) if "pa_mpjpe" in n.name).matched is None
    # the synthetic vertices are compared too, when scored
    base["smhr"]["synthetic_freihand"]["pa_mpvpe_mm"] = 14.3
    cand["smhr"]["synthetic_freihand"]["pa_mpvpe_mm"] = 13.2
    assert _verdicts(base, cand)["synthetic: pa_mpvpe_mm"] == "better"


def test_the_synthetic_turn_and_depth_count_and_an_older_baseline_without_them_does_not_ship():
    base, cand = _scores(), _scores(synth=15.0)
    cand["smhr"]["synthetic_freihand"] |= {"root_relative_mpjpe_mm": 45.0, "rotation_error_deg": 29.5,
                                           "root_depth_error_mm": 147.0, "depth_ratio": 1.18}
    v = _verdicts(base, cand)
    assert v["synthetic: pa_mpjpe_mm"] == "better" and v["synthetic: rotation_error_deg"] == "incomparable"
    assert not ship_check.report(base, cand, 0.0)[1]  # score the baseline again with today's bench_real
    base["smhr"]["synthetic_freihand"] |= {"root_relative_mpjpe_mm": 57.6, "rotation_error_deg": 28.0,
                                           "root_depth_error_mm": 155.5, "depth_ratio": 1.23}
    v = _verdicts(base, cand)
    assert v["synthetic: root_relative_mpjpe_mm"] == v["synthetic: root_depth_error_mm"] == "better"
    assert v["synthetic: rotation_error_deg"] == "worse"  # more degrees
    assert "synthetic: depth_ratio" not in v  # its better side is 1, not a direction


def test_the_3d_fixtures_hands_lost_block_shipping_not_only_its_millimetres():
    base, cand = _scores(), _scores(pa=20.0)
    base["smhr"]["fixtures_3d"]["interhand2.6m"] |= _set(1.0, pck=0.8, side=1.0, hands=6, images=4)
    cand["smhr"]["fixtures_3d"]["interhand2.6m"] |= _set(1 / 6, pck=0.1, side=0.0, hands=6, images=4)
    v = _verdicts(base, cand)
    assert v["3d interhand2.6m: pa_mpjpe_mm"] == "better"  # the one hand it still finds
    assert v["3d interhand2.6m: recall"] == v["3d interhand2.6m: pck0.2_all"] == "worse"
    assert "3d interhand2.6m: precision" not in v  # fixtures: recall, PCK, side
    assert not ship_check.report(base, cand, 0.0)[1]


def test_results_scored_differently_or_on_other_data_are_refused():
    base = _scores()
    photo = copy.deepcopy(base) | {"mode": "photo"}
    with pytest.raises(ValueError, match="different mode"):
        list(ship_check.numbers(base, photo))
    with pytest.raises(ValueError, match="different fit_translation \\(False vs True\\)"):
        list(ship_check.numbers(base, copy.deepcopy(base) | {"fit_translation": True}))  # base: before it
    fewer = copy.deepcopy(base)
    fewer["smhr"]["sources"]["hina-gloves"]["images"] = 299
    with pytest.raises(ValueError, match="images 300 vs 299: not the same data"):
        list(ship_check.numbers(base, fewer))
    cut = copy.deepcopy(base)
    cut["smhr"]["sources"]["hina-gloves"]["ap_threshold"] = 0.3
    with pytest.raises(ValueError, match=r"ap_threshold None vs 0\.3: rerun both with the same --ap"):
        list(ship_check.numbers(base, cut))
    missing = copy.deepcopy(base)
    del missing["smhr"]["stress"]
    with pytest.raises(ValueError, match="only in the baseline \\['stress frame_filling'\\]"):
        list(ship_check.numbers(base, missing))


def test_the_command_line_exit_status_json_and_one_line_errors(tmp_path):
    base, good, bad = tmp_path / "v2.json", tmp_path / "good.json", tmp_path / "bad.json"
    base.write_text(json.dumps(_scores()))
    good.write_text(json.dumps(_scores(gloves_recall=0.8)))
    bad.write_text(json.dumps(_scores(gloves_recall=0.6)))
    tool = [sys.executable, ship_check.__file__]
    ok = subprocess.run([*tool, str(base), str(good), "--json"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    out = json.loads(ok.stdout)  # strict JSON: NaN written as null
    assert out["ships"] is True
    assert {"name": "set hina-gloves: recall", "verdict": "better"}.items() <= out["numbers"][0].items()
    no = subprocess.run([*tool, str(base), str(bad)], capture_output=True, text=True)
    assert no.returncode == 1 and "DOES NOT SHIP: worse on set hina-gloves: recall" in no.stdout
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    err = subprocess.run([*tool, str(base), str(broken)], capture_output=True, text=True)
    assert err.returncode == 1 and err.stderr.count("\n") == 1
    assert err.stderr.startswith(f"error: {broken}: not a bench_real.py result")
