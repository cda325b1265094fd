"""smhr.train.blend / tools/blend_weights.py: the straight line between a run's start and its end."""

from __future__ import annotations

import blend_weights
import pytest
import torch

from smhr.model.net import SMHRConfig, SMHRNet
from smhr.train.blend import blend_checkpoints, blend_states

TINY = dict(backbone="mobilenet_v2", num_vertices=778, hand_model="mano", input_size=64, neck_channels=16,
            head_hidden=16, appearance=False, refine_hidden=32)  # fmt: skip


def _pair(tmp_path):
    """start.pt (no refinement) and tuned.pt: the start with every float tensor moved and a trained
    (non-zero) refinement added, as a run continued from shipped weights with `refine: true` is."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        start = SMHRNet(SMHRConfig(**TINY)).eval()
        tuned = SMHRNet(SMHRConfig(**TINY, refine=True)).eval()
        tuned.load_state_dict(start.state_dict(), strict=False)
        with torch.no_grad():
            for p in tuned.parameters():
                p.add_(0.05 * torch.randn_like(p))
    torch.save(start.checkpoint(), tmp_path / "start.pt")
    torch.save({**tuned.checkpoint(), "meta": {"step": 7, "score_threshold": 0.4}}, tmp_path / "tuned.pt")
    return start, tuned


def _answers(net: SMHRNet, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        feats = net(x)["features"]
        g = net.gather(feats, torch.tensor([[5, 40]]))
    return torch.cat([g["params"].flatten(), g["kp_offsets"].flatten()])


def test_the_ends_answer_as_the_start_and_the_tuned_network(tmp_path):
    start, tuned = _pair(tmp_path)
    x = torch.randn(1, 3, 64, 64)
    ends = (tmp_path / "start.pt", tmp_path / "tuned.pt")
    at = {a: SMHRNet.from_checkpoint(blend_checkpoints(*ends, a)).eval() for a in (0.0, 0.5, 1.0)}
    torch.testing.assert_close(_answers(at[0.0], x), _answers(start, x))  # the refiner's output scaled to 0
    torch.testing.assert_close(_answers(at[1.0], x), _answers(tuned, x))
    mid = _answers(at[0.5], x)
    assert not torch.allclose(mid, _answers(start, x)) and not torch.allclose(mid, _answers(tuned, x))
    last = at[0.5].refine.mlp[-1].weight
    torch.testing.assert_close(last, 0.5 * tuned.refine.mlp[-1].weight)  # blended from zero
    torch.testing.assert_close(at[0.5].refine.mlp[0].weight, tuned.refine.mlp[0].weight)  # taken as tuned
    w = "params.out.weight"
    torch.testing.assert_close(at[0.5].state_dict()[w], 0.5 * (start.state_dict()[w] + tuned.state_dict()[w]))


def test_the_blend_keeps_the_tuned_config_and_drops_packaged_values(tmp_path):
    _pair(tmp_path)
    ckpt = blend_checkpoints(tmp_path / "start.pt", tmp_path / "tuned.pt", 0.3)
    assert ckpt["config"]["refine"] is True
    assert ckpt["meta"]["step"] == 7 and "score_threshold" not in ckpt["meta"]
    assert ckpt["meta"]["blend"]["alpha"] == 0.3


def test_what_cannot_be_blended_is_refused():
    a = {"w": torch.ones(2), "old": torch.ones(1)}
    with pytest.raises(ValueError, match="lacks"):
        blend_states(a, {"w": torch.zeros(2)}, 0.5)
    with pytest.raises(ValueError, match=r"tensor w: shape \(2,\)"):
        blend_states({"w": torch.ones(2)}, {"w": torch.zeros(3)}, 0.5)
    with pytest.raises(ValueError, match="alpha must be in"):
        blend_states({"w": torch.ones(2)}, {"w": torch.zeros(2)}, 1.5)
    steps = blend_states({"n": torch.tensor(3)}, {"n": torch.tensor(9)}, 0.5)["n"]
    assert steps.dtype == torch.int64 and int(steps) == 9  # counts are the tuned network's


def test_the_command_writes_a_loadable_checkpoint_and_names_a_bad_file(tmp_path, capsys):
    _pair(tmp_path)
    out = tmp_path / "blend.pt"
    assert blend_weights.main([str(tmp_path / "start.pt"), str(tmp_path / "tuned.pt"), "--alpha", "0.5",
                               "--out", str(out)]) == 0
    assert SMHRNet.from_checkpoint(out).config.refine
    (tmp_path / "junk.pt").write_text("not a checkpoint")
    with pytest.raises(SystemExit, match=r"error: .*junk\.pt"):
        blend_weights.main([str(tmp_path / "junk.pt"), str(tmp_path / "tuned.pt"), "--alpha", "0.5",
                            "--out", str(tmp_path / "x.pt")])
    with pytest.raises(SystemExit, match=r"tuned\.pt: the start has tensors the tuned network lacks"):
        blend_weights.main([str(tmp_path / "tuned.pt"), str(tmp_path / "start.pt"), "--alpha", "0.5",
                            "--out", str(tmp_path / "y.pt")])
