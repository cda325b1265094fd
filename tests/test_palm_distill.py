"""Dense distillation of the palm detector (`smhr.model.palm_distill`, `loss_weights.palm_distill`):
the targets are the detector's anchor scores in cell layout, the KL is zero at the teacher, weight 0
changes no gradient, a weight trains the head and reaches the backbone, and the head stays out of
model.pt / the network / the export while last.pt keeps it for an exact resume."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from smhr.data.sample import LEFT, RIGHT, HandLabel, Sample
from smhr.data.targets import build_targets
from smhr.data.testing import write_skeleton_freihand
from smhr.hands.model import HandModel
from smhr.hands.testing import write_synthetic_mano_pickle
from smhr.losses import binary_kl_with_logits, palm_distill_loss
from smhr.model import palm_distill
from smhr.model.net import SMHRConfig, SMHRNet
from smhr.model.palm_distill import PalmScoreHead, PalmTeacher, palm_grids
from smhr.model.palm_net import PalmDetector
from smhr.model.peaks import PeakNet
from smhr.train.config import config_differences, load_config
from smhr.train.data import collate_targets
from smhr.train.loop import Trainer
from smhr.train.objective import Objective
from smhr.train.setup import GatheringModel

TINY = dict(backbone="mobilenet_v2", num_vertices=778, hand_model="mano", input_size=64, neck_channels=16,
            head_hidden=16, appearance=False)  # fmt: skip


def _teacher(size: int = 64, seed: int = 0) -> PalmTeacher:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return PalmTeacher(PalmDetector(), size)


def test_teacher_maps_are_the_detectors_anchor_scores_in_cell_layout():
    teacher = _teacher()
    images = torch.rand(2, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    p8, p16 = teacher.train()(images)  # train() leaves it in eval mode
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    assert p8.shape == (2, 2, 8, 8) and p16.shape == (2, 6, 4, 4)
    small = F.interpolate(images, size=(64, 64), mode="bilinear", align_corners=False, antialias=True)
    with torch.no_grad():
        _, cls = teacher.detector(small)  # [B, 8*8*2 + 4*4*6, 1], cell-major, anchor-minor
    want8 = torch.sigmoid(cls[:, :128, 0]).view(2, 8, 8, 2).permute(0, 3, 1, 2)
    want16 = torch.sigmoid(cls[:, 128:, 0]).view(2, 4, 4, 6).permute(0, 3, 1, 2)
    torch.testing.assert_close(p8, want8)
    torch.testing.assert_close(p16, want16)
    assert float((p8 - want8.transpose(-1, -2)).abs().max()) > 1e-3  # the layout is what the test checks
    assert palm_grids(192) == ((24, 24), (12, 12))
    with pytest.raises(ValueError, match="multiple of 32"):
        PalmScoreHead(16, 100)


def test_binary_kl_is_zero_at_the_teacher_and_its_gradient_is_sigmoid_minus_target():
    p = torch.tensor([0.02, 0.3, 0.9, 0.5])
    exact = torch.logit(p).requires_grad_()
    assert float(binary_kl_with_logits(exact, p).detach().abs().max()) < 1e-6
    z = torch.tensor([0.0, -2.0, 1.0, 3.0], requires_grad=True)
    kl = binary_kl_with_logits(z, p)
    assert (kl > 0).all()
    kl.sum().backward()
    torch.testing.assert_close(z.grad, torch.sigmoid(z.detach()) - p)
    s = [torch.zeros(2, 2, 4, 4), torch.zeros(2, 6, 2, 2)]
    t = [torch.full((2, 2, 4, 4), 0.5), torch.full((2, 6, 2, 2), 0.5)]
    assert float(palm_distill_loss(s, t)) == pytest.approx(0.0, abs=1e-6)  # sigmoid(0) = 0.5
    t[0] = torch.zeros(2, 2, 4, 4)  # 32 anchors per image at KL log 2 each, mean over the batch
    assert float(palm_distill_loss(s, t)) == pytest.approx(32 * np.log(2), rel=1e-5)
    with pytest.raises(ValueError, match=r"student map \(2, 2, 4, 4\) vs teacher \(2, 2, 3, 3\)"):
        palm_distill_loss(s[:1], [torch.zeros(2, 2, 3, 3)])


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(3)
    hands = [HandLabel(RIGHT, rng.uniform(14, 30, (21, 2)).astype(np.float32), np.ones(21, bool)),
             HandLabel(LEFT, rng.uniform(34, 50, (21, 2)).astype(np.float32), np.ones(21, bool))]
    samples = [Sample(image=rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), K=np.eye(3), hands=h)
               for h in (hands, [])]  # a hand-free image gets the term too
    return collate_targets([build_targets(s, max_hands=3) for s in samples])


def test_weight_zero_changes_no_gradient_and_a_weight_trains_the_head(mano_pair, batch):
    weights = {"center": 1.0, "handedness": 1.0, "reprojection": 0.1, "keypoint_offsets": 1.0}
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = SMHRNet(SMHRConfig(**TINY)).train()
    head, teacher = PalmScoreHead(16, 64), _teacher()

    def grads(w: float | None) -> tuple[float, dict, torch.Tensor]:
        net.zero_grad(set_to_none=True)
        head.zero_grad(set_to_none=True)
        if w is None:  # no distillation at all
            total, terms, _ = Objective(mano_pair, weights)(GatheringModel(net), batch)
        else:
            objective = Objective(mano_pair, {**weights, "palm_distill": w}, palm_teacher=teacher)
            total, terms, _ = objective(GatheringModel(net, head), batch)
        total.backward()
        return float(total.detach()), terms, net.backbone.stages[0][0][0].weight.grad.clone()

    total0, _, g0 = grads(None)
    total_off, terms_off, g_off = grads(0.0)
    assert total_off == total0 and torch.equal(g_off, g0)  # weight 0: the same step exactly
    assert float(terms_off["palm_distill"]) > 0 and head.conv8.weight.grad is None  # logged, not trained
    _, terms_on, g_on = grads(1.0)
    assert head.conv8.weight.grad.abs().sum() > 0 and head.conv16.bias.grad.abs().sum() > 0
    assert not torch.allclose(g_on, g0)  # the term reaches the backbone through the neck features
    with torch.no_grad():
        for p in head.parameters():
            p -= 1e-3 * p.grad / p.grad.norm()  # a small step down the gradient
    _, terms_after, _ = grads(1.0)
    assert float(terms_after["palm_distill"]) < float(terms_on["palm_distill"])
    with pytest.raises(ValueError, match="palm_distill is weighted but no palm teacher"):
        Objective(mano_pair, {"palm_distill": 1.0})


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("distill")
    for side in ("left", "right"):
        write_synthetic_mano_pickle(root / "mano" / f"MANO_{side.upper()}.pkl", side, 0, num_vertices=778)
    write_skeleton_freihand(root / "fh", HandModel.load("mano", "right", path=root / "mano"), n_train=8,
                            n_eval=2, size=64, seed=0)
    return root


def _cfg(root, out, weight=1.0):
    return load_config(None, {
        "stage": "1", "hand": "mano", "mano_dir": str(root / "mano"), "out_dir": str(out),
        "model": {"input_size": 64, "head_hidden": 16, "neck_channels": 16}, "backbone_weights": None,
        "data": {"root": str(root / "fh"), "num_workers": 0,
                 "augment": {"rotation_deg": 0.0, "hand_fraction": [0.5, 0.6], "color_prob": 0.0}},
        "optim": {"batch_size": 2, "steps": 2, "lr": 1e-3}, "progress": False, "log_every": 1,
        "image_every": 0, "eval_every": 0, "ckpt_every": 0, "palm_distill_size": 64,
        "loss_weights": {"palm_distill": weight},
    })


def test_palm_head_lives_in_last_pt_only_loads_for_inference_and_resumes_exactly(tiny_root, tmp_path,
                                                                                   monkeypatch):
    teacher = _teacher()
    monkeypatch.setattr(palm_distill.PalmTeacher, "bundled", classmethod(lambda cls, size=192: teacher))
    straight = Trainer(_cfg(tiny_root, tmp_path / "a"), resume=False).fit()
    first = Trainer(_cfg(tiny_root, tmp_path / "b"), resume=False)
    first.fit(1)
    resumed = Trainer(_cfg(tiny_root, tmp_path / "b"))
    assert resumed.step == 1 and resumed.palm_head is not None and not resumed.fresh_heads
    rest = resumed.fit()
    assert [h["total"] for h in rest] == [h["total"] for h in straight[1:]]
    assert all(h["palm_distill"] > 0 for h in straight)
    last = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    model = torch.load(tmp_path / "b" / "model.pt", weights_only=True)
    assert sorted(last["palm_head"]) == ["conv16.bias", "conv16.weight", "conv8.bias", "conv8.weight"]
    assert "palm_head" not in model and not any("palm" in k for k in model["model"])
    net = SMHRNet.from_checkpoint(last)  # the training checkpoint loads for inference: palm_head unread
    assert net.state_dict().keys() == model["model"].keys()
    assert all(torch.equal(v, model["model"][k]) for k, v in net.state_dict().items())
    assert not any("palm" in name for name, _ in PeakNet(net, 4).named_modules())  # nothing to export
    extra = {f"palm_head.{k}": v for k, v in last["palm_head"].items()}
    smuggled = {**model, "model": {**model["model"], **extra}}
    with pytest.raises(ValueError, match=r"unexpected \['palm_head\.conv8"):
        SMHRNet.from_checkpoint(smuggled)  # never a silent partial load
    with pytest.raises(ValueError, match="palm_head"):  # its optimizer holds the head's state
        Trainer(_cfg(tiny_root, tmp_path / "b", weight=0.0), allow_config_change=True)
    plain = Trainer(_cfg(tiny_root, tmp_path / "c", weight=0.0), resume=False)
    plain.fit(1)
    with pytest.raises(ValueError, match=r"last\.pt was trained without loss_weights\.palm_distill"):
        Trainer(_cfg(tiny_root, tmp_path / "c"), allow_config_change=True)  # its optimizer lacks the head


def test_off_by_default_and_older_runs_resume_without_a_change():
    cfg = load_config(None, {"stage": "3"})
    assert cfg.loss_weights["palm_distill"] == 0.0 and cfg.palm_distill_size == 192
    older = cfg.to_dict()
    older.pop("palm_distill_size")
    older["loss_weights"] = {k: v for k, v in older["loss_weights"].items() if k != "palm_distill"}
    assert config_differences(older, cfg.to_dict()) == []
    with pytest.raises(ValueError, match="palm_distill_size must be a positive multiple of 32"):
        load_config(None, {"stage": "3", "palm_distill_size": 100})
