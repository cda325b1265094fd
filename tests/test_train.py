"""Training: config resolution, strict initialisation, atomic checkpoints, exact resume, and a tiny
network that learns (2D keypoint error at least halves) on a skeleton-drawn FreiHAND-layout set."""

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from smhr.cli import app
from smhr.data.augment import AugmentConfig
from smhr.data.testing import write_skeleton_freihand
from smhr.data.training import TrainingSet
from smhr.hands.model import HandModel
from smhr.hands.testing import write_synthetic_mano_pickle
from smhr.io.torchfiles import NotATorchFileError
from smhr.model.net import SMHRNet
from smhr.train.checkpoint import (
    CheckpointMismatchError,
    load_checkpoint,
    load_init_weights,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from smhr.train.config import config_differences, load_config, parse_overrides
from smhr.train.data import collate_targets
from smhr.train.loop import Trainer


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    for side in ("left", "right"):
        write_synthetic_mano_pickle(root / "mano" / f"MANO_{side.upper()}.pkl", side, 0, num_vertices=778)
    hand = HandModel.load("mano", "right", path=root / "mano")
    write_skeleton_freihand(root / "fh", hand, n_train=16, n_eval=4, size=64, seed=0)
    return root


def _cfg(root, out, **over):
    base = {
        "stage": "1", "hand": "mano", "mano_dir": str(root / "mano"), "out_dir": str(out),
        "model": {"input_size": 64, "head_hidden": 32, "neck_channels": 32}, "backbone_weights": None,
        "data": {"root": str(root / "fh"), "num_workers": 0,
                 "augment": {"rotation_deg": 0.0, "hand_fraction": [0.5, 0.6], "color_prob": 0.0}},
        "optim": {"batch_size": 4, "steps": 6, "lr": 1e-3}, "progress": False, "log_every": 1,
        "image_every": 0, "eval_every": 0, "ckpt_every": 0,
    }
    for k, v in over.items():
        base[k] = {**base.get(k, {}), **v} if isinstance(v, dict) else v
    if base["data"].get("kind") == "mixture":  # a mixture has no root of its own; its parts do
        del base["data"]["root"]
    return load_config(None, base)


def test_config_presets_merge_and_reject_unknown_keys(tmp_path):
    cfg = load_config(None, parse_overrides(["stage=3", "optim.lr=3e-4", "data.root=/x"]))
    assert cfg.stage == "3" and cfg.model["input_size"] == 384 and cfg.data.kind == "composed"
    assert cfg.optim.lr == 3e-4 and cfg.optim.batch_size == 32 and cfg.data.root == "/x"
    assert cfg.loss_weights["photometric"] == 100.0 and cfg.loss_weights["handedness"] == 100.0
    assert load_config(None, {"stage": "1"}).loss_weights["photometric"] == 0.0
    p = tmp_path / "c.yaml"
    p.write_text("stage: 2\noptim:\n  lrr: 1\n")
    with pytest.raises(ValueError, match=r"optim\.lrr"):
        load_config(p)
    with pytest.raises(ValueError, match="loss_weights"):
        load_config(None, {"loss_weights": {"photometrik": 1.0}})
    p.write_text("stage: 1\nloss_weights:\n  vertices3d: 0\n")  # a removed term (no GT vertices in targets)
    with pytest.raises(ValueError, match=r"unknown loss_weights \['vertices3d'\]"):
        load_config(p)
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_overrides(["optim.lr"])
    assert load_config(None, {"reprojection_units": "hand_size"}).reprojection_units == "hand_size"
    with pytest.raises(ValueError, match="reprojection_units must be one of"):
        load_config(None, {"reprojection_units": "px"})
    # checkpoints written before the key existed trained in pixels: resuming them is no config change
    old = load_config(None, {"stage": "3"}).to_dict()
    del old["reprojection_units"]
    assert config_differences(old, load_config(None, {"stage": "3"}).to_dict()) == []
    assert config_differences(old, load_config(None, {"stage": "3", "reprojection_units": "hand_size"})
                              .to_dict()) == ["reprojection_units: 'pixels' -> 'hand_size'"]


def test_training_set_passes_the_epoch_to_its_composer():
    from smhr.data.compose import ComposeConfig, ComposedHands
    from smhr.data.sample import HandLabel, Sample

    rng = np.random.default_rng(0)
    kp = rng.uniform(8, 40, (21, 2))
    mask = np.zeros((48, 48), np.uint8)
    mask[8:40, 8:40] = 1
    src = [Sample(image=rng.integers(0, 255, (48, 48, 3), dtype=np.uint8), K=None, mask=mask,
                  hands=[HandLabel(side=1, keypoints2d=kp, visibility=np.ones(21, bool))])]
    cfg = ComposeConfig(out_size=64, max_hands=2)
    comp = ComposedHands(src, 4, cfg, seed=11)
    ts = TrainingSet(comp, 64, AugmentConfig(), max_hands=2, seed=11, geometric=False)
    before = comp[0].image
    ts.set_epoch(3)
    after = ComposedHands(src, 4, cfg, seed=11)
    after.set_epoch(3)
    assert np.array_equal(comp[0].image, after[0].image) and not np.array_equal(comp[0].image, before)


def test_init_weights_are_strict_and_list_every_mismatch(tmp_path):
    kw = {"backbone": "mobilenet_v2", "num_vertices": 20, "input_size": 64}
    small = SMHRNet(**kw, head_hidden=16, appearance=False)
    with_app = SMHRNet(**kw, head_hidden=16, appearance=True)
    fresh = load_init_weights(with_app, small.checkpoint(), new_heads=("texture.", "light."))
    assert fresh and all(k.startswith(("texture.", "light.")) for k in fresh)
    torch.testing.assert_close(with_app.params.state_dict(), small.params.state_dict())
    with pytest.raises(CheckpointMismatchError, match=r"missing \['texture"):
        load_init_weights(with_app, small.checkpoint())  # appearance heads not declared new
    wider = SMHRNet(**kw, head_hidden=32, appearance=False)
    with pytest.raises(CheckpointMismatchError, match=r"center\.\S+ \(16, .*vs model \(32"):
        load_init_weights(wider, small.checkpoint())
    path = save_checkpoint(tmp_path / "a" / "x.pt", {"model": small.state_dict()})
    assert path.exists() and not (tmp_path / "a" / "x.pt.tmp").exists()


def test_resume_reproduces_the_next_losses_exactly(tiny_set, tmp_path):
    straight = Trainer(_cfg(tiny_set, tmp_path / "a"), resume=False).fit()
    first = Trainer(_cfg(tiny_set, tmp_path / "b"), resume=False)
    first.fit(3)
    assert (tmp_path / "b" / "last.pt").exists() and (tmp_path / "b" / "model.pt").exists()
    resumed = Trainer(_cfg(tiny_set, tmp_path / "b"), resume=True)
    assert resumed.step == 3
    rest = resumed.fit()
    assert [h["total"] for h in rest] == [h["total"] for h in straight[3:]]
    with pytest.raises(FileExistsError, match=r"last\.pt exists"):
        Trainer(_cfg(tiny_set, tmp_path / "b"), resume=False)
    # model.pt is a plain network checkpoint with a metadata block
    net = SMHRNet.from_checkpoint(tmp_path / "b" / "model.pt")
    meta = torch.load(tmp_path / "b" / "model.pt", weights_only=True)["meta"]
    assert net.config.input_size == 64 and meta["step"] == 6 and meta["stage"] == "1"
    rows = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r["split"] == "train"] == [1, 2, 3, 4, 5, 6]


@pytest.mark.slow
def test_tiny_network_halves_its_2d_keypoint_error(tiny_set, tmp_path):
    cfg = _cfg(tiny_set, tmp_path / "c", optim={"steps": 60, "batch_size": 4}, image_every=60, eval_every=60,
               ckpt_every=60, data={"val_root": str(tiny_set / "fh"), "val_split": "train"})
    history = Trainer(cfg, resume=False).fit()
    before = np.mean([h["kp2d_px"] for h in history[:3]])
    after = np.mean([h["kp2d_px"] for h in history[-5:]])
    assert all(np.isfinite(h["total"]) for h in history)
    assert after < 0.5 * before, (before, after)
    rows = [json.loads(line) for line in (tmp_path / "c" / "metrics.jsonl").read_text().splitlines()]
    val = [r for r in rows if r["split"] == "val"]
    assert len(val) == 1 and val[0]["images"] == 16 and val[0]["hands"] == 16
    assert (tmp_path / "c" / "images" / "train_keypoints_0000060.png").exists()
    assert list((tmp_path / "c" / "tb").iterdir())  # TensorBoard event file


def test_handless_images_train_without_nan(tiny_set, tmp_path):
    trainer = Trainer(_cfg(tiny_set, tmp_path / "d"), resume=False)
    batch = torch.utils.data.default_collate([trainer.train_set[i] for i in range(4)])
    for k in ("valid", "hm", "handmap"):
        batch[k] = torch.zeros_like(batch[k])
    values = trainer.train_step(batch)
    assert all(np.isfinite(v) for v in values.values())
    assert values["reprojection"] == 0.0 and values["kp2d_px"] == 0.0


def test_cli_print_config_and_one_line_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(app, ["train", "--stage", "2", "--set", "optim.lr=2e-5", "--print-config"])
    assert res.exit_code == 0 and "lr: 2.0e-05" in res.output and "appearance: true" in res.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("stage: 1\nmodel:\n  backbone: resnet51\n")
    res = runner.invoke(app, ["train", str(bad)])
    assert res.exit_code == 2 and "resnet51" in res.output
    res = runner.invoke(app, ["train", "--stage", "1", "--set", f"out_dir={tmp_path / 'x'}"])
    assert res.exit_code == 2 and "data.root is required" in res.output


def test_stage2_photometric_and_silhouette_terms_train_the_appearance_heads(tiny_set, tmp_path):
    s1 = Trainer(_cfg(tiny_set, tmp_path / "s1", optim={"steps": 2}), resume=False)
    s1.fit()
    cfg = _cfg(tiny_set, tmp_path / "s2", stage="2", init=str(tmp_path / "s1" / "model.pt"),
               optim={"steps": 2}, model={"appearance": True})
    assert cfg.loss_weights["photometric"] == 100.0 and cfg.loss_weights["silhouette"] == 20.0
    s2 = Trainer(cfg, resume=False)
    assert s2.fresh_heads and all(k.startswith(("texture.", "light.")) for k in s2.fresh_heads)
    before = s2.net.light.state_dict()
    before = {k: v.clone() for k, v in before.items()}
    history = s2.fit()
    assert all(np.isfinite(h["photometric"]) and h["photometric"] > 0 for h in history)
    assert all(0 < h["silhouette"] < 1 for h in history)
    after = s2.net.light.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_stage3_trains_on_multi_hand_composites(tiny_set, tmp_path):
    cfg = _cfg(tiny_set, tmp_path / "s3", stage="3", model={"input_size": 96, "appearance": False},
               optim={"steps": 2}, data={"kind": "composed", "max_hands": 3,
                                          "compose": {"max_hands": 3, "min_hands": 2, "length": 8}},
               loss_weights={"photometric": 0.0, "silhouette": 0.0})
    trainer = Trainer(cfg, resume=False)
    batch = torch.utils.data.default_collate([trainer.train_set[i] for i in range(4)])
    assert batch["image"].shape[-1] == 96 and (batch["valid"].sum(1) >= 1).all()
    assert batch["valid"].sum() >= 6 and set(batch["side"][batch["valid"]].tolist()) <= {0, 1}
    history = trainer.fit()
    assert len(history) == 2 and all(np.isfinite(h["handedness"]) and h["handedness"] > 0 for h in history)


def test_eval_freihand_scores_a_checkpoint_directly(tiny_set, tmp_path):
    trainer = Trainer(_cfg(tiny_set, tmp_path / "e", optim={"steps": 2}, model={"keypoints": "labels"}),
                      resume=False)
    assert [m.keypoints for m in trainer.hand_models] == ["labels", "labels"]
    trainer.fit()
    # the keypoint definition travels with the weights to whatever runs them
    assert load_checkpoint(tmp_path / "e" / "model.pt")["config"]["keypoints"] == "labels"
    from smhr.runtime.reconstructor import Reconstructor

    rec = Reconstructor.from_pretrained(tmp_path / "e" / "model.pt", "cpu", mano_dir=tiny_set / "mano")
    assert [m.keypoints for m in rec.hand_models] == ["labels", "labels"]
    report = tmp_path / "report.json"
    res = CliRunner().invoke(app, ["eval", "freihand", "--root", str(tiny_set / "fh"), "--checkpoint",
                                   str(tmp_path / "e" / "model.pt"), "--mano-dir", str(tiny_set / "mano"),
                                   "--out", str(report)])
    assert res.exit_code == 0, res.output
    pred = json.loads((tmp_path / "pred.json").read_text())
    assert np.asarray(pred[0]).shape == (4, 21, 3) and len(pred[1][0]) == 778
    summary = json.loads(report.read_text())["summary"]
    assert 0 < summary["pa_mpjpe_mm"] < 100 and 0 <= summary["f@15mm"] <= 1
    res = CliRunner().invoke(app, ["eval", "freihand", "--root", str(tiny_set / "fh")])
    assert res.exit_code == 2 and "exactly one of --pred" in res.output


def _labelled_from_freihand(root, out):
    """A labelled set (the `smhr label` format) whose 'photos' are the skeleton images, with their
    2D keypoints as teacher labels and one ignore box per image."""
    from smhr.data.freihand import FreiHAND
    from smhr.data.labelled import write_labelled_set

    fh = FreiHAND(root, "train", load_masks=False)
    records = []
    for i in range(len(fh)):
        s = fh[i]
        kp = s.hands[0].keypoints2d
        records.append({
            "path": f"training/rgb/{i:08d}.jpg", "sha256": "0" * 64, "width": 64, "height": 64,
            "split": "test" if i % 4 == 0 else "train", "group": str(i),
            "hands": [{"side": i % 2, "right_prob": float(i % 2), "presence": 1.0, "palm_score": 1.0,
                       "box": [*kp.min(0).tolist(), *kp.max(0).tolist()], "palm_box": [0, 0, 1, 1],
                       "keypoints2d": kp.tolist(), "depth": [0.0] * 21, "world": [[0.0] * 3] * 21}],
            "ignore": [[0.0, 0.0, 8.0, 8.0]], "source_boxes": None})
    meta = {"source": {"name": "skeleton", "repo": "", "commit": "", "licence": "", "url": ""},
            "image_root": str(root), "teacher": {}, "split": {}, "counts": {}}
    return write_labelled_set(out, meta, records)


def test_mixed_real_and_synthetic_training_runs_and_resumes_exactly(tiny_set, tmp_path):
    labels = _labelled_from_freihand(tiny_set / "fh", tmp_path / "labels")
    mixture = {
        "kind": "mixture", "length": 64, "max_hands": 3,
        "shared": {"roots": [str(labels)], "photos": {"preload": True}},
        "val_kind": "labelled", "val_limit": 4,
        "mixture": [
            {"kind": "labelled", "weight": 0.4, "augment": {"flip_prob": 0.5}},
            {"kind": "composed_labelled", "weight": 0.3, "compose": {"max_hands": 3, "length": 32}},
            {"kind": "composed", "weight": 0.3, "root": str(tiny_set / "fh"), "roots": [],
             "compose": {"max_hands": 2, "length": 32}},
            {"kind": "closeup_labelled", "weight": 0.2, "closeup": {"length": 32, "min_hand_px": 8}},
        ],
    }
    over = {"stage": "3", "data": mixture, "loss_weights": {"photometric": 0.0, "silhouette": 0.0,
                                                            "joints3d": 1e4, "root_depth": 100.0},
            "model": {"neck": "lite", "center_head": "separable", "param_hidden": 32, "appearance": False}}
    straight = Trainer(_cfg(tiny_set, tmp_path / "m1", **over), resume=False).fit()
    parts = Trainer(_cfg(tiny_set, tmp_path / "m1x", **over), resume=False).train_set
    parts.set_epoch(0)
    assert {parts.locate(i)[0] for i in range(64)} == {0, 1, 2, 3}  # every part is drawn
    first = Trainer(_cfg(tiny_set, tmp_path / "m2", **over), resume=False)
    first.fit(3)
    rest = Trainer(_cfg(tiny_set, tmp_path / "m2", **over), resume=True).fit()
    assert [h["total"] for h in rest] == [h["total"] for h in straight[3:]]
    assert all(np.isfinite(h["total"]) for h in straight)
    trainer = Trainer(_cfg(tiny_set, tmp_path / "m3", **over), resume=False)
    assert len(trainer.val_set) == 4  # the held-out split of the labelled set
    from smhr.train.validate import trained_sources, validate

    trained = trained_sources(vars(trainer.cfg.data))
    assert {"labels", "skeleton"} <= trained  # folder and source name of the labelled set
    rows = [validate(trainer.net, trainer.val_set, hand=trainer.cfg.hand, mano_dir=trainer.cfg.mano_dir,
                     trained=t)["sources"]["skeleton"] for t in (trained, set())]
    assert [r["status"] for r in rows] == ["trained on", "never trained on"] and rows[0]["images"] == 4
    assert rows[0]["hands"] == 4 and 0.0 <= rows[0]["recall"] <= 1.0


def test_half_size_render_gives_about_the_full_size_photometric_term(tiny_set, tmp_path):
    cfg = _cfg(tiny_set, tmp_path / "h", stage="2", model={"appearance": True})
    full = Trainer(cfg, resume=False)
    half = Trainer(_cfg(tiny_set, tmp_path / "h2", stage="2", model={"appearance": True}, render_size=32),
                   resume=False)
    half.net.load_state_dict(full.net.state_dict())
    batch = collate_targets([full.train_set[i] for i in range(4)])
    with torch.no_grad():
        a = full.objective(full.model, batch)[1]
        b = half.objective(half.model, batch)[1]
    assert a["photometric"] > 0 and b["photometric"] > 0
    assert abs(float(b["photometric"]) - float(a["photometric"])) < 0.15 * float(a["photometric"])
    assert abs(float(b["silhouette"]) - float(a["silhouette"])) < 0.25 * float(a["silhouette"]) + 0.01


def test_keypoint_drawn_masks_select_pixels_but_are_no_silhouette_target(tiny_set, tmp_path):
    from smhr.data.labelled import LabelledSet
    from smhr.data.targets import build_targets

    labels = _labelled_from_freihand(tiny_set / "fh", tmp_path / "labels")
    s = LabelledSet(labels, "all")[0]
    assert s.meta["mask_approx"] and s.mask.max() == 1
    kp = np.round(s.hands[0].keypoints2d[s.hands[0].visibility]).astype(int)
    assert s.mask[kp[:, 1], kp[:, 0]].all()
    t = build_targets(s, 64, max_hands=1)
    assert t["mask"].sum() > 0 and not t["has_mask"]


class _RunsCode:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.mkdir, (self.marker,))


def test_checkpoints_load_weights_only_and_old_rng_layouts_still_resume(tmp_path):
    import random

    random.seed(3)
    np.random.seed(4)
    torch.manual_seed(5)
    state = rng_state()
    old = {**state, "numpy": np.random.get_state()}  # the layout before RNG states became plain values
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    net = torch.nn.Linear(2, 2)
    optim = torch.optim.Adam(net.parameters())
    sched = torch.optim.lr_scheduler.MultiStepLR(optim, [5, 9])  # its state holds a Counter
    for name, rng in (("new.pt", state), ("old.pt", old)):
        save_checkpoint(tmp_path / name, {"model": net.state_dict(), "optimizer": optim.state_dict(),
                                          "scheduler": sched.state_dict(), "rng": rng})  # fmt: skip
        loaded = load_checkpoint(tmp_path / name)
        set_rng_state(loaded["rng"])
        assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected, name
        assert loaded["scheduler"]["milestones"] == sched.state_dict()["milestones"]
    torch.save({"model": {}, "rng": _RunsCode(tmp_path / "ran")}, tmp_path / "evil.pt")
    for load in (load_checkpoint, lambda p: load_init_weights(net, p)):
        with pytest.raises(NotATorchFileError, match=r"evil\.pt is not an smhr training checkpoint .*code"):
            load(tmp_path / "evil.pt")
    assert not (tmp_path / "ran").exists()


def test_weight_ema_ramps_its_decay_averages_float_tensors_and_copies_counters():
    from smhr.train.ema import WeightEMA

    net = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.BatchNorm1d(1))
    w0 = {k: v.clone() for k, v in net.state_dict().items()}
    ema = WeightEMA(net, 0.9)
    assert ema.current_decay() == pytest.approx(2 / 11)  # ramp: min(0.9, (1 + n) / (10 + n)), n = 1
    with torch.no_grad():
        net[0].weight.add_(1.0)
        net[1].running_mean.fill_(2.0)
        net[1].num_batches_tracked.fill_(7)
    ema.update(net)
    avg = ema.model.state_dict()
    d = 2 / 11
    assert torch.allclose(avg["0.weight"], d * w0["0.weight"] + (1 - d) * (w0["0.weight"] + 1))
    assert torch.allclose(avg["1.running_mean"], torch.tensor([(1 - d) * 2.0]))
    assert int(avg["1.num_batches_tracked"]) == 7 and ema.updates == 1
    assert not any(p.requires_grad for p in ema.model.parameters()) and not ema.model.training
    for _ in range(2, 200):
        ema.update(net)
    assert ema.current_decay() == 0.9  # the ramp has reached the configured decay
    assert torch.allclose(ema.model.state_dict()["0.weight"], net[0].weight, atol=1e-5)
    with pytest.raises(ValueError, match="ema_decay must be in"):
        WeightEMA(net, 1.0)


def test_ema_training_publishes_the_average_and_resumes_it(tiny_set, tmp_path):
    """optim.ema_decay: model.pt and the snapshots hold the moving average of the weights after each
    step (ramped decay), last.pt both; a resume continues the average; switching it on mid-run is a
    config change that starts the average from the resumed weights."""
    out = tmp_path / "run"
    cfg = _cfg(tiny_set, out, optim={"steps": 3, "ema_decay": 0.9}, keep_every=3)
    trainer = Trainer(cfg, resume=False)
    expected = {k: v.clone().float() for k, v in trainer.net.state_dict().items() if v.is_floating_point()}
    for step in (1, 2, 3):
        trainer.fit(step)
        d = min(0.9, (1 + step) / (10 + step))
        for k, v in trainer.net.state_dict().items():
            if k in expected:
                expected[k] = d * expected[k] + (1 - d) * v.float()
    last, model = load_checkpoint(out / "last.pt"), load_checkpoint(out / "model.pt")
    snap = load_checkpoint(out / "step_0000003.pt")
    assert last["ema"]["updates"] == 3 and model["meta"]["ema"] == {"decay": 0.9, "updates": 3}
    for k, v in expected.items():
        assert torch.allclose(model["model"][k].float(), v, atol=1e-6), k
        assert torch.equal(model["model"][k], last["ema"]["model"][k])
        assert torch.equal(snap["model"][k], model["model"][k])
    moved = [k for k in expected if not torch.equal(last["model"][k], model["model"][k])]
    assert len(moved) > len(expected) // 2  # the trained weights themselves are not what is published
    SMHRNet.from_checkpoint(model)  # the average is a whole, loadable network

    resumed = Trainer(_cfg(tiny_set, out, optim={"steps": 4, "ema_decay": 0.9}, keep_every=3), resume=True)
    assert resumed.ema.updates == 3 and resumed.step == 3
    assert all(torch.equal(resumed.ema.model.state_dict()[k], v) for k, v in last["ema"]["model"].items())

    plain = tmp_path / "plain"
    Trainer(_cfg(tiny_set, plain, optim={"steps": 2}), resume=False).fit()
    assert "ema" not in load_checkpoint(plain / "last.pt")
    with pytest.raises(ValueError, match=r"optim\.ema_decay: 0\.0 -> 0\.99"):
        Trainer(_cfg(tiny_set, plain, optim={"steps": 3, "ema_decay": 0.99}), resume=True)
    switched = Trainer(_cfg(tiny_set, plain, optim={"steps": 3, "ema_decay": 0.99}), resume=True,
                       allow_config_change=True)
    assert switched.ema.updates == 0
    avg = switched.ema.model.state_dict()
    assert all(torch.equal(avg[k], v) for k, v in switched.net.state_dict().items())
    with pytest.raises(ValueError, match=r"optim\.ema_decay must be in \[0, 1\)"):
        _cfg(tiny_set, plain, optim={"ema_decay": 1.0})


def test_a_single_root_config_counts_as_trained_on():
    from smhr.train.validate import trained_sources

    single = {"kind": "freihand", "root": "data/synth-r224", "val_roots": ["x/held"]}
    assert trained_sources(single) == {"synth-r224"}
    mixture = {"mixture": [{"kind": "labelled", "roots": ["labels/a"]},
                           {"kind": "freihand", "root": "data/b"}]}
    assert trained_sources(mixture) == {"a", "b"}


def test_frozen_modules_keep_their_weights_and_statistics_while_the_rest_trains(tiny_set, tmp_path):
    """optim.freeze: the backbone and neck stay bit-identical (weights and BatchNorm statistics) over
    an appearance-phase fit, while the heads move; an unknown module name is a one-line error."""
    s1 = Trainer(_cfg(tiny_set, tmp_path / "f1", optim={"steps": 2}), resume=False)
    s1.fit()
    cfg = _cfg(tiny_set, tmp_path / "f2", stage="2", init=str(tmp_path / "f1" / "model.pt"),
               optim={"steps": 2, "freeze": ["backbone", "neck"]}, model={"appearance": True})
    trainer = Trainer(cfg, resume=False)
    state = trainer.net.state_dict()
    frozen = {k: v.clone() for k, v in state.items() if k.startswith(("backbone.", "neck."))}
    heads = {k: v.clone() for k, v in trainer.net.light.state_dict().items()}
    assert any("running_mean" in k for k in frozen)  # BatchNorm statistics are among what must stay
    assert len(trainer.trained) < len(list(trainer.net.parameters()))
    trainer.fit()
    after = trainer.net.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in frozen.items())
    assert any(not torch.equal(v, trainer.net.light.state_dict()[k]) for k, v in heads.items())
    with pytest.raises(ValueError, match=r"optim.freeze: 'bakbone' is not a module .*choose from .*backbone"):
        Trainer(_cfg(tiny_set, tmp_path / "f3", optim={"steps": 1, "freeze": ["bakbone"]}), resume=False)
