"""Training survives faults: kill -9 during a checkpoint write, a corrupt last.pt, non-finite losses,
a full disk while saving, a resume whose config changed, an interrupt -- each with a clear message
and the previous checkpoint intact."""

import errno
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

import smhr
from smhr.cli import app
from smhr.data.testing import write_skeleton_freihand
from smhr.hands.model import HandModel
from smhr.hands.testing import write_synthetic_mano_pickle
from smhr.io.torchfiles import NotATorchFileError
from smhr.train.checkpoint import CheckpointWriteError, load_checkpoint
from smhr.train.config import config_differences, load_config
from smhr.train.loop import ConfigChangedError, NonFiniteLossError, Trainer

runner = CliRunner()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    for side in ("left", "right"):
        write_synthetic_mano_pickle(root / "mano" / f"MANO_{side.upper()}.pkl", side, 0)
    hand = HandModel.load("mano", "right", path=root / "mano")
    write_skeleton_freihand(root / "fh", hand, n_train=8, n_eval=2, size=64, seed=1)
    return root


def _settings(root, out, **over):
    base = {
        "stage": "1", "hand": "mano", "mano_dir": str(root / "mano"), "out_dir": str(out),
        "model": {"input_size": 64, "head_hidden": 16, "neck_channels": 16}, "backbone_weights": None,
        "data": {"root": str(root / "fh"), "num_workers": 0,
                 "augment": {"rotation_deg": 0.0, "color_prob": 0.0}},
        "optim": {"batch_size": 4, "steps": 4, "lr": 1e-3}, "progress": False, "log_every": 1,
        "image_every": 0, "eval_every": 0, "ckpt_every": 0,
    }  # fmt: skip
    for k, v in over.items():
        base[k] = {**base.get(k, {}), **v} if isinstance(v, dict) else v
    return base


def _cfg(root, out, **over):
    return load_config(None, _settings(root, out, **over))


def _state(trainer):
    return {k: v.clone() for k, v in trainer.net.state_dict().items()}


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a) and a.keys() == b.keys()


KILLED_WRITER = """
import io, sys, time
import torch
from smhr.train.checkpoint import load_checkpoint, save_checkpoint

real_save = torch.save

def half_then_hang(obj, f, *args, **kwargs):  # the disk write of torch.save, stopped half way
    buf = io.BytesIO()
    real_save(obj, buf, *args, **kwargs)
    data = buf.getvalue()
    f.write(data[: len(data) // 2])
    f.flush()
    print("half written", flush=True)
    time.sleep(120)

state = load_checkpoint(sys.argv[1])
state["step"] = 99
torch.save = half_then_hang
save_checkpoint(sys.argv[1], state)
"""


def test_kill_9_in_the_middle_of_a_checkpoint_write_leaves_the_previous_one(tiny, tmp_path):
    Trainer(_cfg(tiny, tmp_path / "run"), resume=False).fit(2)
    last = tmp_path / "run" / "last.pt"
    before = last.read_bytes()
    env = {**os.environ, "PYTHONPATH": str(Path(smhr.__file__).parents[1]), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(last)], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout.readline().strip() == b"half written"
        partial = last.with_name("last.pt.tmp")
        assert partial.stat().st_size > 0  # the write really was under way
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        proc.kill()
    assert last.read_bytes() == before and load_checkpoint(last)["step"] == 2
    resumed = Trainer(_cfg(tiny, tmp_path / "run"), resume=True)
    assert resumed.resumed_from == last and resumed.step == 2
    resumed.fit(3)  # the next save goes over the leftover temporary file
    assert load_checkpoint(last)["step"] == 3 and not last.with_name("last.pt.tmp").exists()


def test_corrupt_last_pt_names_the_file_and_the_snapshot_to_fall_back_to(tiny, tmp_path):
    out = tmp_path / "run"
    Trainer(_cfg(tiny, out, ckpt_every=2, keep_every=2), resume=False).fit(4)
    last = out / "last.pt"
    last.write_bytes(last.read_bytes()[:5000])  # truncated, e.g. a disk that filled up under another tool
    newest = out / "step_0000004.pt"
    newest.write_bytes(b"garbage")  # the newest snapshot is broken too: the hint skips it
    with pytest.raises(NotATorchFileError) as e:
        Trainer(_cfg(tiny, out), resume=True)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"{last} is not an smhr training checkpoint")
    assert f"--resume-from {out / 'step_0000002.pt'} (step 2" in msg and "--fresh" in msg
    snapshot = torch.load(out / "step_0000002.pt", weights_only=True)["model"]
    trainer = Trainer(_cfg(tiny, out), resume=out / "step_0000002.pt")  # the advised fallback works
    assert trainer.step == 2 and trainer.weights_only_resume and _same(_state(trainer), snapshot)
    assert trainer.scheduler.last_epoch == 2
    trainer.fit(3)
    assert load_checkpoint(last)["step"] == 3  # the corrupt last.pt is replaced by a good one
    for p in out.glob("step_*.pt"):
        p.unlink()
    last.write_bytes(b"")
    with pytest.raises(NotATorchFileError, match=r"no readable step_\*\.pt snapshot .*--fresh"):
        Trainer(_cfg(tiny, out), resume=True)


def test_non_finite_losses_are_skipped_counted_and_stop_the_run_after_patience(tiny, tmp_path):
    trainer = Trainer(_cfg(tiny, tmp_path / "run", optim={"steps": 9, "nonfinite_patience": 3}), resume=False)
    trainer.fit(1)
    batch = torch.utils.data.default_collate([trainer.train_set[i] for i in range(4)])
    batch["image"] = torch.full_like(batch["image"], float("nan"))  # NaN activations: BatchNorm stats too
    weights, adam = _state(trainer), trainer.optimizer.state_dict()
    values = trainer.train_step(batch)
    assert values["skipped"] == 1.0 and not np.isfinite(values["total"])
    assert _same(_state(trainer), weights)  # weights and BatchNorm running statistics untouched
    after = trainer.optimizer.state_dict()["state"]
    assert all(torch.equal(after[i]["step"], adam["state"][i]["step"]) for i in after)  # no Adam step
    assert trainer.step == 2 and trainer.skipped_nonfinite == 1 and trainer.nonfinite_streak == 1
    good = trainer.train_step(torch.utils.data.default_collate([trainer.train_set[i] for i in range(4)]))
    assert good["skipped"] == 0.0 and trainer.nonfinite_streak == 0 and not _same(_state(trainer), weights)

    real = trainer.objective
    bad_steps = {5, 6, 7, 8}

    def flaky(model, b):
        total, terms, extras = real(model, b)
        return (total * float("nan") if trainer.step + 1 in bad_steps else total), terms, extras

    trainer.objective = flaky
    with pytest.raises(NonFiniteLossError) as e:
        trainer.fit()
    msg = str(e.value)
    assert msg.startswith("steps 5-7: not finite 3 times in a row (total)") and "after step 4" in msg
    assert trainer.step == 7 and trainer.skipped_nonfinite == 4
    saved = load_checkpoint(tmp_path / "run" / "last.pt")  # saved when the run stopped
    assert saved["step"] == 7
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    skipped = {r["step"]: r["nonfinite_skipped"] for r in rows if r.get("skipped") == 1.0}
    assert skipped == {5: 2, 6: 3, 7: 4}  # every skipped step is in the metrics, with the running count


def test_a_full_disk_while_saving_is_a_clear_error_and_keeps_the_previous_one(tiny, tmp_path, monkeypatch):
    trainer = Trainer(_cfg(tiny, tmp_path / "run"), resume=False)
    trainer.fit(1)
    last = tmp_path / "run" / "last.pt"
    before = last.read_bytes()
    trainer.train_step(torch.utils.data.default_collate([trainer.train_set[i] for i in range(4)]))  # unsaved
    if sys.platform.startswith("linux"):  # a real short write: files may not grow past half a checkpoint
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (len(before) // 2, hard))
        try:
            with pytest.raises(CheckpointWriteError) as e:
                trainer.save()
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
            signal.signal(signal.SIGXFSZ, old_handler)
        msg = str(e.value)
        assert f"could not write {last} (OSError: [Errno {errno.EFBIG}] File too large" in msg
        assert "the previous last.pt is intact" in msg and "free disk space" in msg
        assert last.read_bytes() == before and not last.with_name("last.pt.tmp").exists()
    import smhr.train.checkpoint as checkpoint  # the same through a disk that reports ENOSPC

    def no_space(self, data):
        self.error = OSError(errno.ENOSPC, "No space left on device")
        raise self.error

    monkeypatch.setattr(checkpoint._WriteRecorder, "write", no_space)
    with pytest.raises(CheckpointWriteError, match=r"No space left on device\); the previous last\.pt is"):
        trainer.save()
    monkeypatch.undo()
    assert last.read_bytes() == before and load_checkpoint(last)["step"] == 1
    trainer.save()
    assert load_checkpoint(last)["step"] == 2


def test_resume_refuses_a_changed_config_and_says_where_it_continues(tiny, tmp_path, monkeypatch):
    out = tmp_path / "run"
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(_settings(tiny, out)))
    res = runner.invoke(app, ["train", str(path), "--steps", "1"])
    assert res.exit_code == 0, res.output
    assert "resuming" not in res.output
    config_yaml = (out / "config.yaml").read_text()
    res = runner.invoke(app, ["train", str(path), "--set", "optim.batch_size=2", "--set", "optim.lr=0.01",
                              "--steps", "2"])  # fmt: skip
    assert res.exit_code == 2
    line = res.output.strip()
    assert "\n" not in line and line.startswith(f"error: {out / 'last.pt'} was trained with a different")
    assert "optim.batch_size: 4 -> 2; optim.lr: 0.001 -> 0.01" in line and "--allow-config-change" in line
    assert (out / "config.yaml").read_text() == config_yaml and load_checkpoint(out / "last.pt")["step"] == 1
    # keys that do not change what is trained (length, logging, workers) resume without a word
    res = runner.invoke(app, ["train", str(path), "--set", "optim.steps=50", "--set", "log_every=7",
                              "--steps", "2"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert f"resuming {out / 'last.pt'} at step 1 of 2\n" in res.output and "note:" not in res.output
    res = runner.invoke(app, ["train", str(path), "--set", "optim.batch_size=2", "--allow-config-change",
                              "--steps", "3"])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "at step 2 of 3" in res.output and "note: config changed since that checkpoint" in res.output
    assert yaml.safe_load((out / "config.yaml").read_text())["optim"]["batch_size"] == 2
    assert yaml.safe_load((out / "config.before_step_0000002.yaml").read_text())["optim"]["batch_size"] == 4
    with pytest.raises(ConfigChangedError, match=r"model\.neck_channels: 16 -> 32"):
        Trainer(_cfg(tiny, out, model={"neck_channels": 32}), resume=True)
    # Ctrl-C: the run saves what it has and says so
    real_step = Trainer.train_step

    def interrupted(self, batch):
        if self.step == 4:
            raise KeyboardInterrupt
        return real_step(self, batch)

    monkeypatch.setattr(Trainer, "train_step", interrupted)
    res = runner.invoke(app, ["train", str(path), "--set", "optim.batch_size=2", "--steps", "9"])
    assert res.exit_code == 130
    assert f"interrupted at step 4: saved {out / 'last.pt'} (step 4); run the same command" in res.output
    assert load_checkpoint(out / "last.pt")["step"] == 4


def test_config_differences_count_new_keys_at_their_default():
    old = load_config(None, {"stage": "1"}).to_dict()
    del old["optim"]["nonfinite_patience"]  # a checkpoint written before the key existed
    assert config_differences(old, load_config(None, {"stage": "1"}).to_dict()) == []
    new = load_config(None, {"stage": "1", "optim": {"nonfinite_patience": 2}, "data": {"num_workers": 7}})
    assert config_differences(old, new.to_dict()) == ["optim.nonfinite_patience: 5 -> 2"]
    assert config_differences(old, load_config(None, {"stage": "2"}).to_dict())[0].startswith("loss_weights.")



def test_resume_with_a_changed_schedule_follows_the_new_one(tiny, tmp_path):
    """The saved scheduler state carries its own milestones and lr; after --allow-config-change the
    configured schedule must hold from the resumed step on (decay earlier, or a new base lr)."""
    out = tmp_path / "run"
    first = Trainer(_cfg(tiny, out, optim={"steps": 2, "lr_steps": [100]}))
    first.fit()
    assert first.optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
    changed = _cfg(tiny, out, optim={"steps": 4, "lr": 2e-3, "lr_steps": [1, 3]})
    resumed = Trainer(changed, resume=True, allow_config_change=True)
    assert resumed.step == 2
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(2e-4)  # one milestone passed
    resumed.fit()
    assert resumed.step == 4 and resumed.optimizer.param_groups[0]["lr"] == pytest.approx(2e-5)


def test_a_time_budget_stops_between_steps_saves_and_the_same_command_continues(tiny, tmp_path):
    """optim.max_minutes (a lent GPU's slot): the run stops after the step that used up the budget,
    last.pt holds exactly that step with its optimizer, and a resume (budget changed freely) goes on."""
    out = tmp_path / "run"
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(_settings(tiny, out)))
    res = runner.invoke(app, ["train", str(path), "--max-minutes", "1e-6"])
    assert res.exit_code == 0, res.output
    assert f"time budget of 1e-06 min reached at step 1: saved {out / 'last.pt'} (step 1)" in res.output
    state = load_checkpoint(out / "last.pt")
    assert state["step"] == 1 and state["optimizer"]["state"] and state["meta"]["step"] == 1
    res = runner.invoke(app, ["train", str(path), "--max-minutes", "60"])
    assert res.exit_code == 0, res.output
    assert f"resuming {out / 'last.pt'} at step 1 of 4\n" in res.output and "time budget" not in res.output
    assert load_checkpoint(out / "last.pt")["step"] == 4
    with pytest.raises(ValueError, match=r"optim\.max_minutes must be > 0"):
        _cfg(tiny, out, optim={"max_minutes": 0})


def test_a_run_moves_to_a_new_machine_through_its_packaged_weights(tiny, tmp_path):
    """A machine that is not kept loses out_dir; the packaged (float16) model.pt is small enough to
    carry (docs/training.md "Carrying a run to another machine") and continues the run at its step,
    with its average, on a machine that has nothing else."""
    from smhr.train.checkpoint import package_weights

    old = tmp_path / "old"
    Trainer(_cfg(tiny, old, ckpt_every=2, optim={"ema_decay": 0.9}), resume=False).fit(4)
    carried = package_weights(old / "model.pt", tmp_path / "carried.pt")
    assert carried.stat().st_size < 0.6 * (old / "model.pt").stat().st_size  # float16: about half
    shipped = torch.load(carried, weights_only=True)
    assert shipped["meta"]["step"] == 4 and shipped["meta"]["stored_dtype"] == "float16"

    new = tmp_path / "new"  # another machine: a new out_dir, no last.pt
    trainer = Trainer(_cfg(tiny, new, ckpt_every=2, optim={"ema_decay": 0.9}), resume=carried)
    assert trainer.step == 4 and trainer.weights_only_resume and trainer.resumed_from == carried
    assert trainer.scheduler.last_epoch == 4 and trainer.ema is not None
    assert trainer.ema.updates == shipped["meta"]["ema"]["updates"] == 4  # the average keeps its window
    state = _state(trainer)
    for k, v in shipped["model"].items():  # the float16 values, back in the network's float32
        assert state[k].dtype == (torch.float32 if v.is_floating_point() else v.dtype)
        assert torch.equal(state[k], v.to(state[k].dtype)), k
    trainer.fit(6)
    assert load_checkpoint(new / "last.pt")["step"] == 6
    assert torch.load(new / "model.pt", weights_only=True)["meta"]["step"] == 6

    with pytest.raises(ConfigChangedError, match=r"optim\.lr"):  # the carried file keeps the run's config
        Trainer(_cfg(tiny, tmp_path / "other", optim={"ema_decay": 0.9, "lr": 5e-4}), resume=carried)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_an_ignored_sigint_stop_training_with_a_save(tiny, tmp_path, monkeypatch, signum):
    """`kill PID` (SIGTERM), and `kill -INT` on a run started with `nohup ... &` (which inherits
    SIGINT ignored), stop like Ctrl-C: a save at the current step and the way to continue."""
    out = tmp_path / "run"
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(_settings(tiny, out)))
    real_step = Trainer.train_step

    def signalled(self, batch):
        if self.step == 3:
            os.kill(os.getpid(), signum)
        return real_step(self, batch)

    monkeypatch.setattr(Trainer, "train_step", signalled)
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a background job of a non-interactive shell gets
    try:
        res = runner.invoke(app, ["train", str(path), "--steps", "9"])
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # the caller's handlers come back
        assert signal.getsignal(signal.SIGTERM) == before[signal.SIGTERM]
    finally:
        for s, h in before.items():
            signal.signal(s, h)
    assert res.exit_code == 130, res.output
    assert f"interrupted at step 3: saved {out / 'last.pt'} (step 3); run the same command" in res.output
    assert load_checkpoint(out / "last.pt")["step"] == 3
