"""The keypoint-aligned refinement (`SMHRConfig.refine`): off changes nothing, an untrained refiner
answers like no refiner, it trains, it exports, it loads from weights trained without it."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from smhr.data.augment import AugmentConfig, augment
from smhr.data.sample import LEFT, RIGHT, HandLabel, Sample
from smhr.data.targets import build_targets
from smhr.losses.keypoints import hand_size_px, reprojection_loss
from smhr.model.net import SMHRConfig, SMHRNet
from smhr.model.peaks import PeakNet
from smhr.model.refine import sample_at_keypoints
from smhr.train.checkpoint import CheckpointMismatchError, load_init_weights
from smhr.train.config import config_differences, load_config
from smhr.train.data import collate_targets
from smhr.train.objective import Objective, geometry_sides
from smhr.train.setup import GatheringModel, fresh_head_prefixes

TINY = dict(backbone="mobilenet_v2", num_vertices=778, hand_model="mano", input_size=64, neck_channels=16,
            head_hidden=16, appearance=False, refine_hidden=32)  # fmt: skip


def _net(refine: bool, seed: int = 0) -> SMHRNet:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return SMHRNet(SMHRConfig(**TINY, refine=refine)).eval()


def _images(batch: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (batch, 64, 64, 3), generator=g, dtype=torch.uint8)


def _randomise_last_layer(net: SMHRNet, seed: int = 1) -> None:
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        torch.nn.init.normal_(net.refine.mlp[-1].weight, std=0.05)
        torch.nn.init.normal_(net.refine.mlp[-1].bias, std=0.05)


def test_refine_off_leaves_config_and_weights_as_before():
    d = SMHRConfig(**TINY).to_dict()
    assert "refine" not in d and "refine_hidden" not in d  # checkpoints / ONNX metadata unchanged
    assert SMHRConfig.from_dict(d).refine is False
    assert SMHRConfig(**TINY, refine=True).to_dict()["refine"] is True
    assert not any(k.startswith("refine.") for k in _net(False).state_dict())
    gathered = _net(False).gather(torch.zeros(1, 16, 16, 16), torch.zeros(1, 2, dtype=torch.long))
    assert "params_first" not in gathered and "side_logits" not in gathered


def test_sampling_reads_the_feature_at_each_joint():
    H = W = 8
    ramp = torch.stack(torch.meshgrid(torch.arange(float(H)), torch.arange(float(W)), indexing="ij"))
    features = ramp.flip(0)[None]  # channel 0 = x index, channel 1 = y index
    cells = torch.tensor([[5 * W + 3]])  # cell (x 3, y 5)
    offsets = torch.tensor([[[[0.5, 0.5], [1.25, -2.0], [40.0, 0.5]]]])  # centre, inside, far right
    got = sample_at_keypoints(features, cells, offsets)[0, 0]
    # cell coordinate u lies at feature index u - 0.5; outside, the border
    np.testing.assert_allclose(got.numpy(), [[3.0, 5.0], [3.75, 2.5], [W - 1, 5.0]], atol=1e-6)


def test_untrained_refiner_answers_exactly_like_no_refiner():
    off, on = _net(False), _net(True)
    result = on.load_state_dict(off.state_dict(), strict=False)
    assert result.missing_keys and all(k.startswith("refine.") for k in result.missing_keys)
    x = _images()
    with torch.no_grad():
        a, b = PeakNet(off, 5)(x), PeakNet(on, 5)(x)
        assert a.keys() == b.keys()
        for name in a:
            assert torch.equal(a[name], b[name]), name
        f = off(x.permute(0, 3, 1, 2).float() / 255)["features"]
        ind = torch.tensor([[3, 100], [17, 200]])
        ga, gb = off.gather(f, ind), on.gather(f, ind)
    assert torch.equal(ga["params"], gb["params"]) and torch.equal(gb["params_first"], ga["params"])
    assert torch.equal(gb["side_logits"], off.handedness.gather(f, ind))
    _randomise_last_layer(on)  # a trained refiner does change them, and only through its residual
    with torch.no_grad():
        c = PeakNet(on, 5)(x)
    assert not torch.equal(c["params"], a["params"]) and not torch.equal(c["handedness"], a["handedness"])
    for name in ("scores", "cells", "kp_offsets"):
        assert torch.equal(c[name], a[name])


def test_gradients_reach_the_refiner_and_not_the_keypoints_it_samples_at():
    net = _net(True).train()
    f = torch.randn(2, 16, 16, 16, requires_grad=True)  # the neck's map
    ind = torch.tensor([[3, 100], [17, 200]])

    def backward():
        net.zero_grad()
        f.grad = None
        g = net.gather(f, ind)
        (F.cross_entropy(g["side_logits"].flatten(0, 1), torch.tensor([0, 1, 1, 0]))
         + (g["params"] - g["params_first"]).square().sum()).backward()

    backward()  # zero-initialised output: only the last layer gets a gradient at first
    assert net.refine.mlp[-1].weight.grad.abs().sum() > 0 and net.refine.mlp[0].weight.grad.abs().sum() == 0
    _randomise_last_layer(net)
    backward()
    for name, p in net.refine.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert f.grad.abs().sum() > 0  # through the sampled features, into the neck
    kp_grad = net.kp_offsets.out.weight.grad
    assert kp_grad is None or kp_grad.abs().sum() == 0  # sampling positions are detached


def test_refined_net_exports_to_onnx_with_the_same_numbers(tmp_path):
    pytest.importorskip("onnxruntime")
    from smhr.onnx_export import compare_with_torch, export_onnx
    from smhr.runtime.network import OnnxPeaks

    net = _net(True)
    _randomise_last_layer(net)
    path = export_onnx(net, tmp_path / "refine.onnx", max_hands=6)
    for hw in (None, (32, 64), (64, 32)):  # the square and bands of the canvas (dynamic H, W)
        diffs = compare_with_torch(net, path, batch=2, hw=hw)
        assert diffs["untied_cells"] == 0
        for name in ("scores", "params", "kp_offsets", "handedness"):
            assert diffs[name] < 1e-4, (hw, name, diffs)
    ort = OnnxPeaks(path, threads=1)
    assert ort.config["refine"] is True
    x = _images(2, seed=3).numpy()
    full = ort.run(x)
    ranked = np.sort(full["scores"].ravel())
    thr = float(ranked[-3] + ranked[-4]) / 2  # between two scores: no float ties between backends
    n = int((full["scores"] >= thr).any(0).sum())
    got = ort.run(x, thr)
    with torch.no_grad():
        ref = PeakNet(net, 6)(torch.from_numpy(x), thr)
    assert 1 <= n < 6 and got["params"].shape == tuple(ref["params"].shape) == (2, n, 122)
    np.testing.assert_allclose(got["params"], ref["params"].numpy(), atol=1e-4)
    np.testing.assert_allclose(got["handedness"], ref["handedness"].numpy(), atol=1e-4)
    for batch in (x, x[:1]):  # no slot reaches the threshold: empty, not an error
        assert ort.run(batch, 2.0)["params"].shape == (len(batch), 0, 122)


def test_checkpoint_roundtrip_and_init_from_weights_without_refiner():
    on = _net(True)
    _randomise_last_layer(on)
    back = SMHRNet.from_checkpoint(on.checkpoint())
    state = back.state_dict()
    assert back.config.refine and all(torch.equal(v, state[k]) for k, v in on.state_dict().items())
    old = _net(False, seed=5).checkpoint()  # e.g. the shipped weights
    fresh_net = _net(True)
    prefixes = fresh_head_prefixes(fresh_net.config)
    assert "refine." in prefixes and "refine." not in fresh_head_prefixes(SMHRConfig(**TINY))
    fresh = load_init_weights(fresh_net, old, new_heads=prefixes)
    assert sorted(fresh) == sorted(k for k in fresh_net.state_dict() if k.startswith("refine."))
    assert torch.equal(fresh_net.params.out.weight, old["model"]["params.out.weight"])
    with pytest.raises(CheckpointMismatchError, match="refine"):  # not allowed unless named
        load_init_weights(_net(True), old, new_heads=())
    broken = {**old["model"]}
    broken.pop("params.out.bias")
    with pytest.raises(CheckpointMismatchError, match=r"params\.out\.bias"):  # anything else: an error
        load_init_weights(_net(True), {"model": broken}, new_heads=prefixes)
    # a run saved before the refinement terms existed resumes: a term it lacked weighed 0
    cfg = load_config(overrides={"stage": "3"}).to_dict()
    older = {**cfg, "loss_weights": {k: v for k, v in cfg["loss_weights"].items()
                                     if k not in ("side_ce", "first_estimate")}}
    assert config_differences(older, cfg) == []


def _hand(side, centre, rng):
    kp = rng.uniform(-10, 10, (21, 2)).astype(np.float32)
    return HandLabel(side, kp - kp.mean(0) + np.asarray(centre, np.float32), np.ones(21, bool))


def test_flip_swaps_the_side_of_every_target():
    rng = np.random.default_rng(0)
    s = Sample(image=rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), K=np.eye(3),
               hands=[_hand(RIGHT, (20, 30), rng), _hand(LEFT, (45, 30), rng)])
    keep = AugmentConfig(out_size=64, hand_fraction=(0.5, 0.5), rotation_deg=0.0, translate=0.0,
                         color_prob=0.0)
    flip = AugmentConfig(**{**keep.__dict__, "flip_prob": 1.0})
    a = build_targets(augment(s, np.random.default_rng(1), keep), max_hands=3)
    b = build_targets(augment(s, np.random.default_rng(1), flip), max_hands=3)
    assert a["side"][:2].tolist() == [RIGHT, LEFT] and b["side"][:2].tolist() == [LEFT, RIGHT]
    assert b["side_known"][:2].all() and not b["side_known"][2]
    for t in (a, b):  # each hand's handedness Gaussian is in its (new) side's channel
        for slot in range(2):
            cell = int(t["ind"][slot])
            assert t["handmap"][int(t["side"][slot])].flatten()[cell] == 1.0
    s.meta["side_known"] = False
    assert not build_targets(s, max_hands=3)["side_known"].any()


def test_objective_measures_reprojection_in_hand_size_units(mano_pair):
    rng = np.random.default_rng(3)
    samples = [Sample(image=rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), K=np.eye(3),
                      hands=[_hand(RIGHT, (20, 30), rng), _hand(LEFT, (45, 40), rng)]) for _ in range(2)]
    batch = collate_targets([build_targets(s, max_hands=3) for s in samples])
    net = _net(True).train()
    weights = {"reprojection": 0.1, "first_estimate": 0.5}
    with torch.no_grad():
        _, px, _ = Objective(mano_pair, weights)(GatheringModel(net), batch)
        in_sizes = Objective(mano_pair, weights, reprojection_units="hand_size")
        _, rel, extras = in_sizes(GatheringModel(net), batch)
    size = hand_size_px(batch["keypoints2d"], batch["valid"], batch["visibility"])
    want = reprojection_loss(extras["hands"]["keypoints2d"], batch["keypoints2d"], batch["valid"],
                             batch["visibility"], size)
    assert float(rel["reprojection"]) == pytest.approx(float(want), rel=1e-5)
    assert float(rel["reprojection"]) != pytest.approx(float(px["reprojection"]), rel=1e-2)
    # the first estimate is held to the same units (untrained refiner: the same hands)
    assert float(rel["first_estimate"]) == pytest.approx(0.1 * float(rel["reprojection"]), rel=1e-5)
    with pytest.raises(ValueError, match="reprojection_units must be one of"):
        Objective(mano_pair, weights, reprojection_units="percent")


def test_objective_compares_3d_joints_on_the_virtual_ray_when_asked(mano_pair):
    from smhr.losses.supervised3d import joints3d_loss, rotate_to_virtual_ray
    from smhr.model.camera import VIRTUAL_FOCAL

    rng = np.random.default_rng(4)
    hands = [_hand(RIGHT, (12, 14), rng), _hand(LEFT, (50, 44), rng)]  # off the centre: the rays differ
    for h in hands:
        h.joints3d = (rng.normal(0, 0.03, (21, 3)) + np.array([0.1, -0.05, 0.5])).astype(np.float32)
    s = Sample(image=rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), K=np.eye(3), hands=hands)
    batch = collate_targets([build_targets(s, max_hands=3)])
    net = _net(True).train()
    weights = {"joints3d": 1.0}
    with torch.no_grad():
        _, plain, extras = Objective(mano_pair, weights)(GatheringModel(net), batch)
        _, turned, _ = Objective(mano_pair, weights, joints3d_frame="virtual_ray")(GatheringModel(net), batch)
    has3d = batch["valid"] & batch["has_joints3d"]
    target = rotate_to_virtual_ray(batch["joints3d"], batch["keypoints2d"][..., 9, :], 64, VIRTUAL_FOCAL)
    want = joints3d_loss(extras["hands"]["joints3d"], target, has3d)
    assert float(turned["joints3d"]) == pytest.approx(float(want), rel=1e-5)
    assert float(turned["joints3d"]) != pytest.approx(float(plain["joints3d"]), rel=1e-3)


def test_an_untaught_side_keeps_the_label_for_geometry_and_out_of_side_ce(mano_pair):
    rng = np.random.default_rng(3)
    samples = [Sample(image=rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), K=np.eye(3),
                      hands=[_hand(RIGHT, (20, 30), rng), _hand(LEFT, (45, 40), rng)]) for _ in range(2)]
    batch = collate_targets([build_targets(samples[0], max_hands=3),
                             build_targets(samples[1], max_hands=3, side_taught=False)])
    net = _net(True).train()
    seen = {}

    def model(images, ind):
        seen.update(GatheringModel(net)(images, ind))
        return seen

    with torch.no_grad():
        _, terms, _ = Objective(mano_pair, {"reprojection": 0.1, "side_ce": 10.0})(model, batch)
    want = float(F.cross_entropy(seen["side_logits"][0, :2], batch["side"][0, :2]))  # the first image only
    assert float(terms["side_ce"]) == pytest.approx(want, rel=1e-5)
    logits, sides = seen["side_logits"][:, :2].flatten(0, 1), batch["side"][:, :2].flatten()
    everything = float(F.cross_entropy(logits, sides))
    assert abs(want - everything) > 1e-4
    assert geometry_sides(batch, seen) is batch["side"]  # both images' geometry: the labelled sides


def test_objective_supervises_refined_side_and_first_estimate(mano_pair):
    rng = np.random.default_rng(2)
    samples = [Sample(image=rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), K=np.eye(3),
                      hands=[_hand(RIGHT, (20, 30), rng), _hand(LEFT, (45, 40), rng)]) for _ in range(2)]
    samples[1].meta["side_known"] = False
    batch = collate_targets([build_targets(s, max_hands=3) for s in samples])
    net = _net(True).train()
    weights = {"reprojection": 0.1, "bone_direction": 100.0, "prior": 1000.0, "keypoint_offsets": 1.0,
               "center": 1.0, "side_ce": 10.0, "first_estimate": 0.5}
    seen = {}

    def model(images, ind):  # the objective's own network call, its outputs kept
        seen.update(GatheringModel(net)(images, ind))
        return seen

    with torch.no_grad():
        total, terms, _ = Objective(mano_pair, weights)(model, batch)
    # an untrained refiner: the first estimate is the refined one, so its terms are the same numbers
    expected = sum(weights[k] * terms[k] for k in ("reprojection", "bone_direction", "prior"))
    assert float(terms["first_estimate"]) == pytest.approx(float(expected), rel=1e-5) and expected > 0
    assert float(terms["kp2d_px_first"]) == pytest.approx(float(terms["kp2d_px"]), rel=1e-6)
    assert torch.equal(seen["side_logits"], net.handedness.gather(seen["features"], batch["ind"]))
    # side_ce: the hands of the first image only (the second's sides are unknown)
    want = float(F.cross_entropy(seen["side_logits"][0, :2], batch["side"][0, :2]))
    assert float(terms["side_ce"]) == pytest.approx(want, rel=1e-5)
    logits, sides = seen["side_logits"][:, :2].flatten(0, 1), batch["side"][:, :2].flatten()
    everything = float(F.cross_entropy(logits, sides))
    assert abs(want - everything) > 1e-4  # (so the mask is what made the difference)
    # the handedness map: the second image's cells of unknown-side hands teach neither channel
    from smhr.losses.focal import focal_loss

    ignored = focal_loss(seen["handedness"], batch["handmap"], weight=batch["handmap_weight"])
    assert float(terms["handedness"]) == pytest.approx(float(ignored), rel=1e-5)
    assert not torch.equal(batch["handmap_weight"][1], batch["hm_weight"][1])
    assert torch.equal(batch["handmap_weight"][0], batch["hm_weight"][0])
    # the geometry of the hands of unknown side: the network's own (refined) side, the labels elsewhere
    guess = seen["side_logits"].argmax(-1)
    unknown = batch["valid"] & ~batch["side_known"]
    assert torch.equal(geometry_sides(batch, seen), torch.where(unknown, guess, batch["side"]))
    assert torch.equal(geometry_sides(batch, seen)[0], batch["side"][0])
    without_refiner = {"handedness": seen["handedness"]}  # then its handedness map at the hand's cell
    cells = seen["handedness"].flatten(2)[1, :, batch["ind"][1, :2]].argmax(0)
    assert torch.equal(geometry_sides(batch, without_refiner)[1, :2], cells)
    every_side_known = dict(batch, side_known=batch["valid"].clone())
    assert geometry_sides(every_side_known, seen) is batch["side"]  # the labels, untouched
    assert torch.isfinite(total) and float(terms["side_acc"]) in (0.0, 0.5, 1.0)
