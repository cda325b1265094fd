"""The distributed training path runs: `torchrun --nproc-per-node 2` (gloo, CPU) trains a tiny
BatchNorm-free network through `Trainer` with batch 2 per rank; both ranks end with identical
weights, and they match one process trained with the same global batch (4)."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from smhr.data.testing import write_skeleton_freihand
from smhr.hands.model import HandModel

WORKER = Path(__file__).with_name("ddp_worker.py")
TORCHRUN = Path(sys.executable).with_name("torchrun")


def _settings(root: Path, out: Path, batch: int) -> dict:
    return {
        "stage": "1", "hand": "anny", "out_dir": str(out), "backbone_weights": None,
        "channels_last": False, "seed": 5, "device": "cpu",
        "model": {"backbone": "plain_test", "neck": "plain_test", "input_size": 64, "neck_channels": 8,
                  "head_hidden": 8, "appearance": False},
        "data": {"root": str(root), "num_workers": 0,
                 "augment": {"rotation_deg": 0.0, "translate": 0.0, "hand_fraction": [0.55, 0.55],
                             "color_prob": 0.0}},
        "optim": {"batch_size": batch, "steps": 3, "lr": 1e-3, "grad_clip": None},
        "progress": False, "log_every": 1, "image_every": 0, "eval_every": 0, "ckpt_every": 0,
    }  # fmt: skip


@pytest.mark.skipif(not torch.distributed.is_available() or shutil.which(str(TORCHRUN)) is None,
                    reason="needs torch.distributed and torchrun")
def test_two_ranks_stay_identical_and_match_one_process_with_the_same_global_batch(tmp_path):
    root = write_skeleton_freihand(tmp_path / "fh", HandModel.load("anny", "right"), n_train=12, n_eval=1,
                                   size=64, seed=3)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    runs = {}
    for name, batch, launcher in (
        ("ddp", 2, [str(TORCHRUN), "--standalone", "--nproc-per-node", "2"]),
        ("one", 4, [sys.executable]),
    ):
        cfg = tmp_path / f"{name}.json"
        cfg.write_text(json.dumps(_settings(root, tmp_path / f"run_{name}", batch)))
        runs[name] = subprocess.Popen([*launcher, str(WORKER), str(cfg), str(tmp_path / f"{name}_rank")],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                      start_new_session=True)  # its own group: a hang is killed whole
    try:
        for name, proc in runs.items():
            out, _ = proc.communicate(timeout=180)
            assert proc.returncode == 0, f"{name} run failed:\n{out[-3000:]}"
    finally:
        for proc in runs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    rank0, rank1 = (torch.load(tmp_path / f"ddp_rank{r}.pt", weights_only=True) for r in (0, 1))
    one = torch.load(tmp_path / "one_rank0.pt", weights_only=True)
    assert rank0["world"] == rank1["world"] == 2 and one["world"] == 1
    assert len(rank0["history"]) == len(one["history"]) == 3
    # each rank trained on its own half of every global batch ...
    assert rank0["history"][0]["total"] != rank1["history"][0]["total"]
    # ... whose losses average to the one-process loss of the whole batch (same weights at step 1)
    for key in ("center", "reprojection"):
        mean = (rank0["history"][0][key] + rank1["history"][0][key]) / 2
        assert mean == pytest.approx(one["history"][0][key], rel=1e-5)
    # DDP keeps the ranks bit-identical, and equal to the one process up to float summation order
    for k, v in rank0["state"].items():
        assert torch.equal(v, rank1["state"][k]), k
        assert torch.allclose(v, one["state"][k], rtol=1e-4, atol=1e-6), k
    assert rank0["history"][2]["total"] != rank0["history"][0]["total"]  # the steps did update the weights
