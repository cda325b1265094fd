"""tools/choose_blend.py: the mixes it scores, how it scores them, and which it chooses."""

from __future__ import annotations

import choose_blend
import pytest


def test_the_mix_with_most_numbers_better_less_worse_is_chosen_the_smaller_on_a_tie():
    def row(better: int, worse: int) -> dict[str, int]:
        return {"better": better, "equal": 20 - better - worse, "worse": worse, "incomparable": 0}

    assert choose_blend.choose({0.25: row(17, 3), 0.5: row(19, 1), 0.75: row(17, 3), 1.0: row(18, 2)}) == 0.5
    assert choose_blend.choose({1.0: row(18, 0), 0.5: row(18, 0), 0.75: row(10, 0)}) == 0.5
    with pytest.raises(ValueError, match="no mix was scored"):
        choose_blend.choose({})


def test_a_dry_run_scores_the_start_and_each_mix_on_the_decision_sets_only(tmp_path, capsys):
    args = ["s.pt", "t.pt", "--out", str(tmp_path), "--alphas", "0.5", "1", "--dry-run"]
    assert choose_blend.main(args) == 0
    err = capsys.readouterr().err
    steps = [line.split("]")[0][1:] for line in err.splitlines() if line.startswith("[")]
    assert steps == ["score start", "blend 0.5", "score 0.5", "blend 1", "score 1"]
    score = next(line for line in err.splitlines() if line.startswith("[score 0.5]"))
    assert f"--weights {tmp_path / 'a0.5.pt'}" in score and "labels/asl-letters" in score
    assert "hina-gloves" not in err and "capston2" not in err  # the judged sets never decide
    assert "--trained-on subhih-hands ragadag-hands dwivedi-gestures hardhat-people ardamavi-digits" in score
    assert "--threshold 0.3 --large-hand-threshold 0.1 --large-side 0.6 --min-hand-side 0" in score
    with pytest.raises(SystemExit, match=r"--alphas \[0\.0\]: give mixes in \(0, 1\]"):
        choose_blend.main(["s.pt", "t.pt", "--out", str(tmp_path), "--alphas", "0", "--dry-run"])
    with pytest.raises(SystemExit, match=r"error: s\.pt: no such file"):
        choose_blend.main(["s.pt", "t.pt", "--out", str(tmp_path)])
