"""`Trainer`: the stage-wise training loop (single process, or DDP through `torchrun`).

One optimisation step = one batch from the resumable sampler -> `Objective` under autocast ->
backward -> global-norm clipping -> Adam -> step-decay schedule. Every `ckpt_every` steps the full
state (weights, optimizer, schedule, AMP scaler, step, RNG) goes atomically to `last.pt`, and the
weights alone (`SMHRNet.from_checkpoint` format plus a metadata block) to `model.pt`, which is what
`smhr eval` / `smhr demo` load. Because the data order and each sample's augmentation are functions
of (seed, epoch, index), a resumed run continues with exactly the batches the stopped run would
have seen, and on the same device reproduces its losses exactly.
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from smhr.io.atomic import atomic_write
from smhr.io.torchfiles import NotATorchFileError, reason
from smhr.model.net import SMHRConfig, SMHRNet
from smhr.train.checkpoint import (
    fallback_hint,
    load_checkpoint,
    load_init_weights,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from smhr.train.config import TrainConfig, config_differences
from smhr.train.data import ResumableSampler, build_training_set, build_validation_set, collate_targets
from smhr.train.ema import WeightEMA, snapshot_average
from smhr.train.logs import RunLog, keypoint_grid
from smhr.train.nonfinite import NonFiniteLossError, nonfinite_error
from smhr.train.objective import Objective
from smhr.train.setup import (
    GatheringModel,
    amp_dtype,
    backbone_weights,
    distributed,
    fresh_head_prefixes,
    frozen_modules,
    load_hand_models,
    load_palm_head,
    palm_distillation,
    select_device,
)
from smhr.train.validate import trained_sources, validate

__all__ = ["ConfigChangedError", "GatheringModel", "NonFiniteLossError", "Trainer"]

class ConfigChangedError(ValueError):
    """Resuming a checkpoint with a config that trains differently; the message lists the keys."""


class Trainer:
    """Builds everything a `TrainConfig` names and runs it: `Trainer(cfg).fit()`.

    resume: True = continue from out_dir/last.pt when it exists; a path = from that file (a full
    `last.pt`, or a weights-only `step_*.pt` / `model.pt`: weights and step, the optimizer restarts);
    with `optim.ema_decay` the weights' moving average (`smhr.train.ema`) continues from last.pt's
    or from the average a weights-only snapshot holds (`snapshot_average`), else starts from the
    resumed weights;
    False = start fresh (an existing last.pt is then an error, so a run is never silently
    overwritten). A checkpoint trained with a different config (`config_differences`) is refused
    with the list of differences unless `allow_config_change`. After construction, `resumed_from`
    / `step` say where the run continues; `saved_step` says what the last save holds.
    """

    def __init__(self, cfg: TrainConfig, resume: bool | str | Path = True,
                 render_fn: Callable | None = None, allow_config_change: bool = False) -> None:
        self.cfg = cfg
        self.allow_config_change = allow_config_change
        self.resumed_from: Path | None = None
        self.weights_only_resume = False
        self.config_changes: list[str] = []
        self.saved_step: int | None = None
        self.skipped_nonfinite = 0
        self.nonfinite_streak = 0
        self.out_of_time = False  # fit() stopped at optim.max_minutes
        # the latest step's (batch, objective extras), drawn every `image_every` steps
        self._last: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None
        self.rank, self.world, local = distributed()
        if self.world > 1 and not torch.distributed.is_initialized():
            backend = "nccl" if cfg.device != "cpu" and torch.cuda.is_available() else "gloo"
            torch.distributed.init_process_group(backend)
        self.device = select_device(cfg.device, local)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        torch.manual_seed(cfg.seed + self.rank)
        self.out_dir = Path(cfg.out_dir)
        keypoints = cfg.model.get("keypoints", "joints")  # checked with the config (SMHRConfig)
        self.hand_models = load_hand_models(cfg.hand, cfg.mano_dir, self.device, keypoints=keypoints)
        model_cfg = SMHRConfig.from_dict({
            **cfg.model, "num_vertices": self.hand_models[0].num_vertices, "hand_model": cfg.hand,
        })
        self.net = SMHRNet(model_cfg, backbone_weights=backbone_weights(cfg, model_cfg)).to(self.device)
        if cfg.channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        self.fresh_heads: list[str] = []
        if cfg.init:
            self.fresh_heads = load_init_weights(self.net, cfg.init, new_heads=fresh_head_prefixes(model_cfg))
        self.palm_head, palm_teacher = palm_distillation(cfg, self.net, self.device)  # (None, None): off
        self.model: nn.Module = GatheringModel(self.net, self.palm_head)
        self.frozen = frozen_modules(self.net, cfg.optim.freeze)
        self.trained = [p for p in self.model.parameters() if p.requires_grad]  # the net's, palm head's
        if self.world > 1:
            self.model = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=True,
            )
        self.optimizer = torch.optim.Adam(self.trained, lr=cfg.optim.lr,
                                          weight_decay=cfg.optim.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, cfg.optim.lr_steps,
                                                              cfg.optim.lr_gamma)
        self.amp_dtype = amp_dtype(cfg.amp, self.device)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        weights = cfg.loss_weights
        needs_render = weights.get("photometric", 0) > 0 or weights.get("silhouette", 0) > 0
        if needs_render and render_fn is None:
            from smhr.render import render as render_fn
        from smhr.losses.priors import default_limit_violation

        self.objective = Objective(self.hand_models, weights, default_limit_violation(self.hand_models),
                                   cfg.consistency_detach, render_fn, cfg.silhouette_sigma, cfg.render_size,
                                   palm_teacher, cfg.reprojection_units, cfg.joints3d_frame)
        self.train_set = build_training_set(cfg.data, model_cfg.input_size, cfg.seed, model_cfg.keypoints)
        self.val_set = build_validation_set(cfg.data, model_cfg.input_size, model_cfg.keypoints)
        self.step = 0
        saved_ema = self._resume(resume)
        self.ema = WeightEMA(self.net, cfg.optim.ema_decay) if cfg.optim.ema_decay > 0 else None
        if self.ema is not None and saved_ema is not None:
            self.ema.load_state_dict(saved_ema)

    # ------------------------------------------------------------------ set-up helpers
    def _resume(self, resume: bool | str | Path) -> dict[str, Any] | None:
        """Load the checkpoint `resume` names (class docstring); returns its weight average's state
        (None: it has none), which `__init__` hands to the average once the network is loaded."""
        last = self.out_dir / "last.pt"
        if resume is False:
            if last.exists():
                raise FileExistsError(f"{last} exists: resume it (--resume) or choose another out_dir")
            return None
        path = Path(resume) if not isinstance(resume, bool) else last
        if not path.exists():
            if not isinstance(resume, bool):
                raise FileNotFoundError(f"--resume-from {path}: no such checkpoint")
            return None
        try:
            state = load_checkpoint(path)
        except NotATorchFileError:
            if path != last:
                raise
            state = load_checkpoint(path, fallback_hint(self.out_dir, path))  # raises again, with the way out
        self._check_config(state, path)
        try:
            self.net.load_state_dict(state["model"])
        except RuntimeError as exc:
            raise ValueError(f"{path} does not fit the configured network ({reason(exc)}); resume it with "
                             "the config it was trained with") from exc
        if load_palm_head(self.palm_head, state, path) == "fresh":
            self.fresh_heads.append("palm_head")
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scaler.load_state_dict(state["scaler"])
            self.step = int(state["step"])
            set_rng_state(state["rng"])
        else:  # a weights-only snapshot: the data order still follows the step; Adam starts afresh
            self.step = int(state.get("meta", {}).get("step", 0))
            self.weights_only_resume = True
        self._replay_schedule()
        self.resumed_from = path
        return state.get("ema") or snapshot_average(state)

    def _replay_schedule(self) -> None:
        """The learning rate is a function of the configured schedule and the step, not state to
        restore: start the configured schedule again and step it to self.step. This computes the
        same chained products as an uninterrupted run (bit-identical rates), and a resume with a
        changed schedule (--allow-config-change) follows the config. The saved scheduler state
        (kept in last.pt) is not read."""
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] = self.cfg.optim.lr
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()"
            for _ in range(self.step):
                self.scheduler.step()

    def _check_config(self, state: dict[str, Any], path: Path) -> None:
        stored = state.get("meta", {}).get("train_config")
        if not isinstance(stored, dict):
            return
        changes = config_differences(stored, self.cfg.to_dict())
        if changes and not self.allow_config_change:
            raise ConfigChangedError(
                f"{path} was trained with a different config: {'; '.join(changes)}; resume with the original "
                "settings, start a new out_dir with --fresh, or pass --allow-config-change to go on anyway"
            )
        self.config_changes = changes

    # ------------------------------------------------------------------ checkpoints
    def metadata(self) -> dict[str, Any]:
        import smhr

        return {
            "smhr_version": getattr(smhr, "__version__", "unknown"),
            "stage": self.cfg.stage,
            "step": self.step,
            "hand_model": self.cfg.hand,
            "input_size": self.net.config.input_size,
            "train_config": self.cfg.to_dict(),
            **({"ema": {"decay": self.ema.decay, "updates": self.ema.updates}} if self.ema else {}),
        }

    @property
    def published_net(self) -> SMHRNet:
        """The network model.pt, the snapshots and validation hold: the weights' moving average
        when `optim.ema_decay` is on, else the trained weights themselves."""
        return self.ema.model if self.ema is not None else self.net

    def save(self) -> None:
        if self.rank != 0:
            return
        meta = self.metadata()
        save_checkpoint(self.out_dir / "last.pt", {
            "config": self.net.config.to_dict(), "model": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(), "step": self.step, "rng": rng_state(), "meta": meta,
            **({"palm_head": self.palm_head.state_dict()} if self.palm_head is not None else {}),
            **({"ema": self.ema.state_dict()} if self.ema is not None else {}),
        })  # model.pt below: the network alone (a palm head is training-only, smhr.model.palm_distill)
        published = {**self.published_net.checkpoint(), "meta": meta}
        save_checkpoint(self.out_dir / "model.pt", published)
        if self.cfg.keep_every and self.step % self.cfg.keep_every == 0:
            save_checkpoint(self.out_dir / f"step_{self.step:07d}.pt", published)
        self.saved_step = self.step

    def _write_config(self) -> None:
        """config.yaml = the config this run trains with; after an allowed change the previous one
        is kept as config.before_step_XXXXXXX.yaml, so the run's history stays readable."""
        path = self.out_dir / "config.yaml"
        text = yaml.safe_dump(self.cfg.to_dict(), sort_keys=False)
        if self.config_changes and path.exists() and path.read_text() != text:
            path.replace(self.out_dir / f"config.before_step_{self.step:07d}.yaml")
        atomic_write(path, text)

    # ------------------------------------------------------------------ training
    def _loader(self, epoch: int, start_batch: int) -> torch.utils.data.DataLoader:
        self.train_set.set_epoch(epoch)
        sampler = ResumableSampler(len(self.train_set), self.cfg.optim.batch_size, self.cfg.seed, epoch,
                                   start_batch, self.rank, self.world)
        workers = self.cfg.data.num_workers
        return torch.utils.data.DataLoader(
            self.train_set, batch_size=self.cfg.optim.batch_size, sampler=sampler, num_workers=workers,
            collate_fn=collate_targets, pin_memory=self.device.type == "cuda", drop_last=True,
            persistent_workers=False,
        )

    def batches_per_epoch(self) -> int:
        n = ResumableSampler(len(self.train_set), self.cfg.optim.batch_size, 0, world=self.world)
        per = n.batches_per_epoch()
        if per < 1:
            raise ValueError(
                f"training set has {len(self.train_set)} samples, fewer than one batch of "
                f"{self.cfg.optim.batch_size} per process; lower optim.batch_size"
            )
        return per

    def train_step(self, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        """One optimisation step; returns the loss terms as floats (host sync, once per step).

        A step whose loss (or, without AMP loss scaling, clipped gradient norm) is not finite is
        skipped: weights, optimizer state and BatchNorm statistics stay as they were, the step
        still counts (the data order and schedule follow the step), `values["skipped"]` is 1.
        `optim.nonfinite_patience` skipped steps in a row raise NonFiniteLossError."""
        batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        if self.cfg.channels_last:
            batch["image"] = batch["image"].contiguous(memory_format=torch.channels_last)
        autocast = (torch.autocast(self.device.type, dtype=self.amp_dtype) if self.amp_dtype is not None
                    else nullcontext())
        self.net.train()
        for module in self.frozen:  # their BatchNorm statistics stay the ones they started with
            module.eval()
        statistics = [b.detach().clone() for b in self.net.buffers()]  # restored if the step is skipped
        with autocast:
            total, terms, extras = self.objective(self.model, batch)
        finite = self._all_ranks(bool(torch.isfinite(total.detach())))
        self.optimizer.zero_grad(set_to_none=True)
        if finite or self.world > 1:  # under DDP every rank must run backward, even to throw it away
            self.scaler.scale(total if finite else total * 0).backward()
        if finite and self.cfg.optim.grad_clip:
            self.scaler.unscale_(self.optimizer)
            norm = torch.nn.utils.clip_grad_norm_(self.trained, self.cfg.optim.grad_clip)
            if not self.scaler.is_enabled():  # with fp16 loss scaling, inf gradients are the scaler's job
                finite = self._all_ranks(bool(torch.isfinite(norm)))
        if finite:
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if self.ema is not None:
                self.ema.update(self.net)
            self.nonfinite_streak = 0
        else:
            self.optimizer.zero_grad(set_to_none=True)
            with torch.no_grad():
                for b, saved in zip(self.net.buffers(), statistics, strict=True):
                    b.copy_(saved)
            self.skipped_nonfinite += 1
            self.nonfinite_streak += 1
        self.scheduler.step()
        self.step += 1
        self._last = (batch, extras)
        values = {k: float(v.detach()) for k, v in terms.items()}
        values["total"] = float(total.detach())
        values["skipped"] = 0.0 if finite else 1.0
        if self.nonfinite_streak >= self.cfg.optim.nonfinite_patience:
            raise nonfinite_error(values, self.step, self.nonfinite_streak)
        return values

    def _all_ranks(self, ok: bool) -> bool:
        """`ok` on every process (one all-reduce under DDP): all ranks must skip a step together."""
        if self.world == 1:
            return ok
        flag = torch.tensor([1.0 if ok else 0.0], device=self.device)
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
        return bool(flag.item() > 0)

    def fit(self, steps: int | None = None) -> list[dict[str, float]]:
        """Train until `steps` (default cfg.optim.steps) total steps, or until `optim.max_minutes`
        of wall clock have passed (then `out_of_time` is True; last.pt holds the step it stopped
        at); returns the per-step terms of the steps run by this call."""
        target = self.cfg.optim.steps if steps is None else int(steps)
        per_epoch = self.batches_per_epoch()
        log = RunLog(self.out_dir, enabled=self.rank == 0)
        if self.rank == 0:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self._write_config()
            if self.fresh_heads:
                log.scalars(self.step, {"fresh_heads": len(self.fresh_heads)}, prefix="init")
        history: list[dict[str, float]] = []
        bar = None
        if self.cfg.progress and self.rank == 0:
            from tqdm import tqdm

            bar = tqdm(total=target, initial=self.step, desc=f"stage {self.cfg.stage}", unit="step")
        t0, imgs = time.perf_counter(), 0
        budget, self.out_of_time = self.cfg.optim.max_minutes, False
        try:
            while self.step < target and not self.out_of_time:
                epoch, start = divmod(self.step, per_epoch)
                for batch in self._loader(epoch, start):
                    try:
                        values = self.train_step(batch)
                    except NonFiniteLossError as exc:  # the last skipped step belongs in the metrics too
                        log.scalars(self.step, {**exc.values, "nonfinite_skipped": self.skipped_nonfinite})
                        history.append(exc.values)
                        raise
                    history.append(values)
                    imgs += batch["image"].shape[0] * self.world
                    self._after_step(values, log, bar, imgs / max(time.perf_counter() - t0, 1e-9))
                    # the wall-clock budget ends the run between steps, so the save below is whole
                    # (decided together under DDP: a rank that left alone would hang the others' sync)
                    over = budget is not None and time.perf_counter() - t0 >= 60 * budget
                    self.out_of_time = not self._all_ranks(not over)
                    if self.step >= target or self.out_of_time:
                        break
        finally:
            if bar is not None:
                bar.close()
            if history and self.saved_step != self.step:  # a checkpoint step already saved itself
                self.save()
            log.close()
        return history

    def _after_step(self, values: dict[str, float], log: RunLog, bar: Any, images_per_s: float) -> None:
        cfg, step = self.cfg, self.step
        if bar is not None:
            bar.update(1)
            extra = {"skipped": self.skipped_nonfinite} if self.skipped_nonfinite else {}
            bar.set_postfix(loss=f"{values['total']:.3g}", kp_px=f"{values['kp2d_px']:.1f}", **extra)
        if step % cfg.log_every == 0 or step == 1 or values["skipped"]:  # a skipped step is always logged
            log.scalars(step, {**values, "nonfinite_skipped": self.skipped_nonfinite,
                               "lr": self.scheduler.get_last_lr()[0], "images_per_s": images_per_s})
        if cfg.image_every and step % cfg.image_every == 0 and self.rank == 0 and self._last is not None:
            batch, extras = self._last
            grid = keypoint_grid(batch["image"], batch["keypoints2d"], extras["hands"]["keypoints2d"],
                                 batch["valid"])
            log.image(step, "train_keypoints", grid)
        if cfg.eval_every and step % cfg.eval_every == 0 and self.val_set is not None and self.rank == 0:
            scores = validate(self.published_net, self.val_set, hand=cfg.hand, mano_dir=cfg.mano_dir,
                              max_hands=max(cfg.data.max_hands, 1), limit=cfg.data.val_limit,
                              trained=trained_sources(dataclasses.asdict(cfg.data)))
            log.scalars(step, scores, prefix="val")
        if cfg.ckpt_every and step % cfg.ckpt_every == 0:
            self.save()
