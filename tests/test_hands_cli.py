"""`smhr hands show`: the contact sheet of prior samples, for the bundled hand and for MANO."""

import cv2
import numpy as np
from typer.testing import CliRunner

from smhr.cli import app

runner = CliRunner()


def test_show_writes_a_sheet_of_rendered_hands(tmp_path):
    out = tmp_path / "sheet.png"
    args = ["hands", "show", "--n", "6", "--tile", "48", "--seed", "3"]
    res = runner.invoke(app, [*args, "--out", str(out)])
    assert res.exit_code == 0, res.output
    img = cv2.imread(str(out))
    cols = 8
    assert img.shape == (28 + 48, 2 * cols * 48 + 8, 3)  # one row of 6 tiles per side, two sides
    tiles = img[28:, : 6 * 48].reshape(48, 6, 48, 3).transpose(1, 0, 2, 3)
    background = np.array([0.19, 0.17, 0.16]) * 255  # BGR
    skin = (np.abs(tiles.astype(float) - background).sum(-1) > 30).mean((1, 2))
    assert (skin > 0.03).all() and (skin < 0.6).all()  # each tile shows one hand, not empty, not full
    again = tmp_path / "again.png"
    runner.invoke(app, [*args, "--out", str(again)])
    assert np.array_equal(cv2.imread(str(again)), img)  # same seed, same sheet


def test_show_mano_and_errors(tmp_path, mano_dir):
    out = tmp_path / "mano.png"
    mano = ["hands", "show", "--hand", "mano", "--mano-dir"]
    res = runner.invoke(app, [*mano, str(mano_dir), "--out", str(out), "--n", "2", "--tile", "32"])
    assert res.exit_code == 0, res.output
    assert out.is_file() and "2 mano samples per side" in res.output
    res = runner.invoke(app, ["hands", "show", "--hand", "mano", "--mano-dir", str(tmp_path / "none"),
                              "--out", str(out)])  # fmt: skip
    assert res.exit_code == 2 and "MANO" in res.output and len(res.output.strip().splitlines()) == 1
    res = runner.invoke(app, ["hands", "show", "--out", str(tmp_path / "sheet.jpg")])
    assert res.exit_code == 2 and "must end in .png" in res.output


def test_show_takes_the_official_mano_files_and_the_old_option_name(tmp_path):
    from smhr.hands.testing_official import write_official_structure_mano_pickle

    for side in ("left", "right"):
        write_official_structure_mano_pickle(tmp_path / "mano" / f"MANO_{side.upper()}.pkl", side)
    out = tmp_path / "official.png"
    res = runner.invoke(app, ["hands", "show", "--kind", "mano", "--mano-dir", str(tmp_path / "mano"),
                              "--out", str(out), "--n", "1", "--tile", "32"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "--kind is deprecated, use --hand" in res.output and "1 mano samples per side" in res.output
    assert cv2.imread(str(out)).shape == (28 + 32, 2 * 8 * 32 + 8, 3)
    res = runner.invoke(app, ["hands", "show", "--hand", "smpl", "--out", str(out)])
    assert res.exit_code == 2 and res.output.strip() == "error: --hand must be one of anny, mano, got 'smpl'"
