"""Stage presets are data (one YAML file per stage, shipped in the package) and resolve to exactly the
configs the former Python presets (`smhr.train.config.STAGES` dicts) gave."""

import dataclasses
from pathlib import Path

import pytest
import yaml

import smhr.train.config as config_module
from smhr.data.augment import AugmentConfig
from smhr.data.registry import data_config_class
from smhr.train.config import LOSS_TERMS, STAGES, TrainConfig, load_config, read_config_file, stage_preset

# The weight table every former preset started from (`_weights()`: DEFAULT_WEIGHTS, all other terms 0).
BASE = {"center": 100.0, "handedness": 100.0, "reprojection": 0.1, "bone_direction": 100.0, "prior": 1000.0,
        "keypoint_offsets": 1.0, "consistency": 1.0, "joints3d": 0.0, "root_depth": 0.0, "photometric": 0.0,
        "silhouette": 0.0,
        "side_ce": 0.0, "first_estimate": 0.0,  # the refinement's terms, added later at 0
        "palm_distill": 0.0}  # fmt: skip  (palm distillation, added later at 0)
# The former Python presets, value for value (captured before they became YAML files).
FORMER = {
    "1": {
        "out_dir": "runs/stage1",
        "model": {"backbone": "mobilenet_v2", "input_size": 224, "appearance": False},
        "data": {"kind": "freihand", "max_hands": 1},
        "optim": {},
        "loss_weights": {**BASE, "handedness": 20.0},
    },
    "2": {
        "out_dir": "runs/stage2",
        "model": {"backbone": "mobilenet_v2", "input_size": 224, "appearance": True},
        "data": {"kind": "freihand", "max_hands": 1},
        "optim": {"lr": 5e-5},
        "loss_weights": {**BASE, "handedness": 20.0, "photometric": 100.0, "silhouette": 20.0},
    },
    "3": {
        "out_dir": "runs/stage3",
        "model": {"backbone": "mobilenet_v2", "input_size": 384, "appearance": True},
        "data": {"kind": "composed", "max_hands": 6,
                 "augment": AugmentConfig(hand_fraction=(0.5, 1.0), rotation_deg=12.0)},
        "optim": {"lr": 5e-5},
        "loss_weights": {**BASE, "photometric": 100.0, "silhouette": 20.0},
    },
    "full": {
        "out_dir": "runs/full",
        "model": {"backbone": "mobilenet_v2", "input_size": 224, "appearance": False},
        "data": {"kind": "freihand", "max_hands": 1},
        "optim": {},
        "loss_weights": {**BASE, "handedness": 20.0, "joints3d": 1e4, "root_depth": 100.0},
    },
}


@pytest.mark.parametrize("stage", sorted(FORMER))
def test_each_stage_file_resolves_to_the_former_preset(stage):
    cfg = load_config(stage=stage)
    default = TrainConfig()
    want = FORMER[stage]
    assert cfg.stage == stage and cfg.out_dir == want["out_dir"] and cfg.model == want["model"]
    assert cfg.data == data_config_class(want["data"]["kind"])(**want["data"])
    assert cfg.optim == dataclasses.replace(default.optim, **want["optim"])
    assert cfg.loss_weights == want["loss_weights"] and list(cfg.loss_weights) == list(LOSS_TERMS)
    assert all(isinstance(w, float) for w in cfg.loss_weights.values())
    # everything no preset sets stays at the TrainConfig defaults
    rest = {f.name for f in dataclasses.fields(TrainConfig)} - {"stage", "out_dir", "model", "data", "optim",
                                                                "loss_weights"}  # fmt: skip
    assert {k: getattr(cfg, k) for k in rest} == {k: getattr(default, k) for k in rest}


def test_one_file_per_stage_shipped_as_package_data():
    folder = Path(config_module.__file__).parent / "stages"
    assert STAGES == ("1", "2", "3", "full") == tuple(sorted(p.stem for p in folder.glob("*.yaml")))
    for stage in STAGES:  # a preset file holds plain data a reader can check against the table above
        data = yaml.safe_load((folder / f"{stage}.yaml").read_text())
        assert set(data) <= {"out_dir", "model", "data", "optim", "loss_weights"}
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert '"train/stages/*.yaml"' in pyproject
    with pytest.raises(ValueError, match=r"stage must be one of \['1', '2', '3', 'full'\], got '4'"):
        stage_preset("4")


def test_a_file_overrides_its_stage_preset_and_nothing_else(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("stage: full\nloss_weights: {root_depth: 50}\ndata: {max_hands: 2}\n")
    cfg = load_config(p)
    assert cfg.loss_weights == {**FORMER["full"]["loss_weights"], "root_depth": 50.0}
    assert cfg.data.max_hands == 2 and cfg.data.kind == "freihand" and cfg.model["input_size"] == 224


def test_a_file_changes_the_values_of_its_base_file(tmp_path):
    """`base:` (relative to the file) resolves recursively: mappings merge key by key, lists are
    replaced whole, the file's own values win; a missing base or a loop is a one-line error."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text("stage: '3'\nseed: 5\ndata: {max_hands: 3}\n"
                                     "optim: {lr: 1.0e-3, steps: 100, lr_steps: [50, 80]}\n")
    (tmp_path / "sub" / "b.yaml").write_text("base: ../a.yaml\noptim: {steps: 10, lr_steps: [8]}\n")
    (tmp_path / "c.yaml").write_text("base: sub/b.yaml\nseed: 7\n")
    cfg = load_config(tmp_path / "c.yaml", overrides={"optim": {"lr": 2e-3}})
    assert cfg.stage == "3" and cfg.seed == 7 and cfg.data.max_hands == 3
    assert (cfg.optim.lr, cfg.optim.steps, list(cfg.optim.lr_steps)) == (2e-3, 10, [8])
    assert "base" not in read_config_file(tmp_path / "c.yaml")  # never a key of the resolved config
    (tmp_path / "d.yaml").write_text("base: gone.yaml\n")
    with pytest.raises(FileNotFoundError, match=r"gone\.yaml not found \(the base of .*d\.yaml\)"):
        load_config(tmp_path / "d.yaml")
    (tmp_path / "e.yaml").write_text("base: f.yaml\n")
    (tmp_path / "f.yaml").write_text("base: e.yaml\n")
    with pytest.raises(ValueError, match="its bases name it again"):
        load_config(tmp_path / "e.yaml")
    (tmp_path / "g.yaml").write_text("base: [a.yaml]\n")
    with pytest.raises(ValueError, match="base must be a config file's path"):
        load_config(tmp_path / "g.yaml")


def test_a_config_written_as_changes_to_another_is_that_other_with_the_changes():
    """configs/v4s-cpu-appearance-heads.yaml is v4-cpu-appearance.yaml via the frozen variant: the same
    run in every value but where it writes and which modules it freezes."""
    root = Path(__file__).parents[1] / "configs"
    heads = load_config(root / "v4s-cpu-appearance-heads.yaml").to_dict()
    parent = load_config(root / "v4-cpu-appearance.yaml").to_dict()
    changed = {k for k in set(heads) | set(parent) if heads.get(k) != parent.get(k)}
    assert changed == {"out_dir", "init", "optim"}
    assert {k for k in heads["optim"] if heads["optim"][k] != parent["optim"].get(k)} == {"freeze"}
    assert "texture" not in heads["optim"]["freeze"] and "backbone" in heads["optim"]["freeze"]


CONFIGS = sorted((Path(__file__).parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_resolves(path):
    cfg = load_config(path)
    assert cfg.stage in STAGES
    if path.name.startswith("preview-cpu"):  # no machine paths; validation off is 0, not a huge period
        assert not Path(cfg.data.root).is_absolute() and cfg.eval_every == 0
