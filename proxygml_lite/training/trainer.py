"""The epoch loop: :class:`Trainer` runs one :class:`~proxygml_lite.training.config.TrainConfig` to its end.

It puts together the parts of :mod:`proxygml_lite.training`:

* :func:`~.setup.build_data` and :func:`~.setup.build_parts`: the data (the
  order of the training data is a permutation seeded with ``seed + epoch``),
  the model and the registered loss in one :class:`~.step.Trainee` (what DDP
  wraps under torchrun), Adam with the groups ``model`` (``modellr``) and
  ``proxies`` (every loss parameter, ``centerlr``);
* :class:`~.schedule.OfficialStepDecay` (lrs x ``rate`` at the start of
  0-based epoch ``e`` when ``e + 1`` is in ``new_epoch_to_decay``) and the
  warm-up (:func:`~.schedule.backbone_frozen`; ``warmup_mode="official"``
  also zeroes the gradients in place like the official PyTorch 1.2 code);
* :func:`~.step.train_step` for every batch, its losses read back every
  ``log_every`` steps (:func:`~.step.read_back`);
* after every epoch: evaluation when scheduled (:func:`~.evaluate.evaluate_model`),
  a row in ``metrics.csv`` and a checkpoint (:class:`~.run_folder.RunFolder`).

Precision: float32 like the official code (TF32 allowed on CUDA); ``amp``
bf16/fp16 autocast only when asked (the loss always runs in float32).
Ctrl-C lets the current step finish (:class:`~.schedule.DeferredInterrupt`;
twice stops at once), saves a mid-epoch checkpoint and raises
``KeyboardInterrupt``; on the CPU with ``workers=0`` and a fixed seed a
resumed run is bit-identical to an uninterrupted one (tested). The trainer
never changes the config it is given.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from .checkpoint import RunState, capture_rng_state, checkpoint_state, restore_checkpoint, restore_rng_state
from .config import TrainConfig
from .device import allow_tf32, resolve_amp, resolve_device, seed_everything, to_device
from .distributed import DistContext, all_gather_objects, cleanup_distributed, init_distributed, wrap_ddp
from .evaluate import evaluate_model, final_metrics, format_metrics, metric_columns, should_evaluate
from .run_folder import RunFolder, default_run_dir, metrics_csv_columns, print_resume_hint, results_record
from .schedule import DeferredInterrupt, apply_warmup
from .setup import backbone_parameters, build_data, build_parts
from .step import TERM_COLUMNS, check_finite, epoch_row, read_back, stack_loss_parts, train_step

__all__ = ["Trainer", "train"]


class Trainer:
    """Runs one config from start (or its checkpoint) to the end; see :func:`train`."""

    def __init__(
        self, config: TrainConfig, ctx: DistContext | None = None, callback: Callable[[str, dict], None] | None = None
    ) -> None:
        self.ctx = ctx or DistContext()
        self.out = default_run_dir(config)
        self.config = dataclasses.replace(config, out=str(self.out))  # a copy: the caller's config stays as it is
        self.callback = callback
        self.device = resolve_device(self.config, self.ctx)
        self.amp_dtype = resolve_amp(self.config.amp, self.device)
        self.channels_last = config.channels_last if config.channels_last is not None else self.device.type == "cuda"
        self.progress = not config.quiet and self.ctx.is_main
        self.folder = RunFolder(self.out, writer=self.ctx.is_main)
        self.state = RunState()
        self.wrapped: nn.Module | None = None  # the trainee, or DDP around it
        self._ddp_trainable: tuple | None = None
        self._in_place_zero_grad: list | None = None  # see train_step

    # the parts, by the names callbacks use (trainer.model, trainer.loss_fn, trainer.optimizer, ...)
    model = property(lambda self: self.parts.model)
    loss_fn = property(lambda self: self.parts.loss_fn)
    optimizer = property(lambda self: self.parts.optimizer)
    steps_per_epoch = property(lambda self: self.data.steps_per_epoch)

    def log(self, message: str) -> None:
        if self.ctx.is_main and not self.config.quiet:
            tqdm.write(message)

    def _emit(self, event: str, **info: Any) -> None:
        if self.callback is not None:
            self.callback(event, {**info, "trainer": self})

    def _backbone_params(self) -> list[nn.Parameter]:
        return backbone_parameters(self.model)

    def evaluate(self, desc: str = "evaluating") -> dict[str, float]:
        """Recall@K / NMI (/ MAP@R, RP) of the current model on the test classes (all ranks get the dict)."""
        return evaluate_model(
            self.model,
            self.data,
            self.config,
            self.device,
            self.ctx,
            self.amp_dtype,
            self.channels_last,
            self.progress,
            desc,
        )

    def _columns(self) -> list[str]:
        cfg = self.config
        return metric_columns(self.data.recall_ks, cfg.compute_nmi, cfg.compute_map)

    def _write_metrics(self) -> None:
        self.folder.write_metrics(self.state.history, metrics_csv_columns(self.state.term_names, self._columns()))

    def _save(self, epoch: int, step: int, sums: dict, rng) -> None:
        if self.ctx.is_main:
            self.folder.save_checkpoint(
                checkpoint_state(
                    self.config, epoch, step, sums, rng, self.data, self.parts, self.state, self.ctx.world_size
                )
            )

    def _save_proxies(self, epoch: int) -> None:
        if self.config.save_proxies:
            self.folder.save_proxies(epoch, self.config.loss, self.data.num_classes, self.loss_fn)

    # ------------------------------------------------------------------- run
    def run(self) -> dict[str, float]:
        cfg = self.config
        seed_everything(cfg.seed)
        allow_tf32(self.device)
        ckpt = self.folder.existing_checkpoint(cfg.resume)
        if ckpt is not None:
            self.folder.check_resume_config(ckpt["config"], cfg)
            if (finished := self.folder.finished_metrics(ckpt, cfg.epochs)) is not None:
                self.log(f"{self.out}: finished run found, nothing to do")
                return finished
        self.data = build_data(cfg, self.ctx, self.device, self.progress)
        self.parts = build_parts(cfg, self.data, self.device, self.amp_dtype, self.channels_last)  # same on all ranks
        self.wrapped = self.parts.trainee
        if self.ctx.distributed:  # but each rank its own stream of random augmentations
            seed_everything(cfg.seed + 7919 * (self.ctx.rank + 1))
        self.folder.write_config(cfg)

        start_epoch, start_step, sums, rng = cfg.start_epoch, 0, {}, None
        # the official --start-epoch: the schedule begins there, decays of skipped epochs are not applied
        self.parts.schedule.last_epoch = cfg.start_epoch - 1
        if ckpt is not None:
            start_epoch, start_step, sums, rng = restore_checkpoint(
                ckpt, self.data, self.parts, self.state, self.ctx.world_size, self.out
            )
            self.log(f"resuming {self.out} in epoch {start_epoch + 1}/{cfg.epochs} at step {start_step}")
            if isinstance(rng, list):  # one state per rank (saved at the end of an epoch)
                rng = rng[self.ctx.rank] if self.ctx.rank < len(rng) else None
        else:
            self._save_proxies(cfg.start_epoch)
            if cfg.eval_untrained:
                begin = time.perf_counter()
                metrics = self.evaluate("evaluating untrained model")
                self.state.history.append({"epoch": 0, "eval_time_s": round(time.perf_counter() - begin, 3), **metrics})
                self._write_metrics()
                self.log(f"epoch 0 (untrained): {format_metrics(metrics)}")
        if rng is not None:
            restore_rng_state(rng)
        elif ckpt is not None:
            torch.manual_seed(cfg.seed + 1000 * self.ctx.rank + start_epoch)

        for epoch in tqdm(
            range(start_epoch, cfg.epochs),
            desc="epochs",
            disable=not self.progress,
            dynamic_ncols=True,
            initial=start_epoch,
            total=cfg.epochs,
        ):
            first = epoch == start_epoch
            self._finish_epoch(epoch, self._train_epoch(epoch, start_step if first else 0, sums if first else {}))
        metrics = final_metrics(self.state.history, self._columns())
        self._write_results(metrics)
        return metrics

    def _set_warmup(self, epoch: int) -> bool:
        frozen, self._in_place_zero_grad = apply_warmup(self._backbone_params(), epoch, self.config)
        if self.ctx.distributed:  # DDP syncs the parameters that required grad when it was built
            self.wrapped, self._ddp_trainable = wrap_ddp(
                self.parts.trainee, self.device, self._ddp_trainable, self.wrapped
            )
        return frozen

    def _train_epoch(self, epoch: int, start_step: int, sums: dict) -> dict:
        cfg, data = self.config, self.data
        if self.parts.schedule.begin_epoch(epoch):
            self.log(
                f"epoch {epoch + 1}/{cfg.epochs}: lrs x{cfg.rate} -> {[g['lr'] for g in self.optimizer.param_groups]}"
            )
        frozen = self._set_warmup(epoch)
        self.parts.trainee.train()  # the model's own train() keeps BatchNorm frozen under --freeze_BN
        data.sampler.set_epoch(epoch)
        data.sampler.set_start(start_step * data.local_batch)
        data.loader_generator.manual_seed(cfg.seed * 100_003 + epoch)
        sums = {
            "loss": 0.0,
            "count": 0,
            "train_time_s": 0.0,
            "frozen": frozen,
            "lrs": [g["lr"] for g in self.optimizer.param_groups],
            **sums,
        }
        bar = tqdm(
            total=data.steps_per_epoch,
            initial=start_step,
            desc=f"epoch {epoch}",
            disable=not self.progress,
            leave=False,
            dynamic_ncols=True,
        )
        step, in_step, rng_before = start_step, False, None
        pending: list[tuple[int, torch.Tensor]] = []  # (step, loss parts) still on the device
        # a callback receives each step's loss as a number: with one, every step waits for the device
        sync_every = 1 if self.callback is not None else cfg.log_every
        tick = time.perf_counter()
        iterator = iter(data.train_loader)
        deferred = DeferredInterrupt(
            lambda: self.log("\nCtrl-C: finishing this step, then saving a checkpoint (Ctrl-C again stops at once)")
        )
        try:
            with deferred:
                while step < data.steps_per_epoch:
                    rng_before, in_step = capture_rng_state(), True
                    try:
                        images, labels = next(iterator)
                    except StopIteration:
                        break
                    pending.append((step, self._step(images, labels)))
                    step, in_step = step + 1, False
                    bar.update(1)
                    if step % sync_every == 0:
                        self._add_to_sums(pending, epoch, sums)
                        if self.progress:
                            bar.set_postfix(loss=f"{sums['loss'] / max(sums['count'], 1):.4f}")
                    if self.callback is not None:
                        self._emit(
                            "step_end", epoch=epoch, step=step, steps=data.steps_per_epoch, loss=sums["last_loss"]
                        )
                    if deferred.requested:
                        raise KeyboardInterrupt
            self._add_to_sums(pending, epoch, sums)
        except KeyboardInterrupt:
            sums["train_time_s"] += time.perf_counter() - tick
            self.state.elapsed_s += time.perf_counter() - tick
            # this process's own values (no collective: the other processes may be elsewhere)
            self._add_to_sums(pending, epoch, sums, reduce=False)
            # a KeyboardInterrupt raised inside a step (not through SIGINT) leaves that step undone:
            # resume redoes it from the RNG state before its batch was drawn
            self._save(epoch, step, sums, rng_before if in_step and rng_before is not None else capture_rng_state())
            self._interrupted(epoch, step)
            raise
        finally:
            bar.close()
        sums["train_time_s"] += time.perf_counter() - tick
        self.state.elapsed_s += time.perf_counter() - tick
        return sums

    def _step(self, images, labels) -> torch.Tensor:
        """One optimisation step; returns ``[L, *terms]`` detached, on the device (no synchronisation)."""
        images = to_device(images, self.device, self.channels_last)
        labels = torch.as_tensor(labels).to(self.device, non_blocking=True)
        loss, terms = train_step(
            self.wrapped,
            self.loss_fn,
            self.optimizer,
            self.parts.scaler,
            images,
            labels,
            self.amp_dtype,
            in_place_zero_grad=self._in_place_zero_grad,
        )
        if self.state.term_names is None:
            self.state.term_names = TERM_COLUMNS + tuple(name for name in terms if name not in TERM_COLUMNS)
        return stack_loss_parts(loss, terms, self.state.term_names)

    def _add_to_sums(self, pending: list, epoch: int, sums: dict, reduce: bool = True) -> None:
        """Read the pending steps' losses back (one synchronisation) into ``sums``; NaN/Inf stops the run."""
        for step, (value, *terms) in read_back(pending, self.ctx, reduce):
            check_finite(value, epoch, self.config.epochs, step, self.data.steps_per_epoch, self.out)
            sums["loss"] += value
            for name, term in zip(self.state.term_names, terms):
                sums[name] = sums.get(name, 0.0) + term
            sums["count"] += 1
            sums["last_loss"] = value

    def _finish_epoch(self, epoch: int, sums: dict) -> dict[str, Any]:
        cfg = self.config
        row = epoch_row(epoch, sums, self.optimizer.param_groups, self.state.term_names or TERM_COLUMNS)
        if should_evaluate(cfg, epoch):
            begin = time.perf_counter()
            try:
                row.update(self.evaluate(f"evaluating epoch {epoch + 1}"))
            except KeyboardInterrupt:
                self._save(epoch, self.steps_per_epoch, sums, capture_rng_state())
                self._interrupted(epoch, self.steps_per_epoch)
                raise
            row["eval_time_s"] = round(time.perf_counter() - begin, 3)
            self.state.elapsed_s += time.perf_counter() - begin
        self.state.history.append(row)
        self._save_proxies(epoch + 1)
        rng = all_gather_objects(capture_rng_state(), self.ctx) if self.ctx.distributed else capture_rng_state()
        self._save(epoch + 1, 0, {}, rng)
        self._write_metrics()
        self._emit("epoch_end", epoch=epoch, row=row)
        self.log(
            f"epoch {epoch + 1}/{cfg.epochs}: loss {row['loss']:.4f} (L^s {row['loss_s']:.4f}, "
            f"L^p {row['loss_p']:.4f}) {format_metrics({k: v for k, v in row.items() if k in self._columns()})}"
        )
        return row

    def _interrupted(self, epoch: int, step: int) -> None:
        if self.ctx.is_main:
            print_resume_hint(self.out, epoch, self.config.epochs, step, self.steps_per_epoch)

    def _write_results(self, metrics: dict[str, float]) -> None:
        self.folder.write_results(
            results_record(
                self.config,
                metrics,
                self.state.history,
                self._columns(),
                self.data,
                self.state.elapsed_s,
                self.device,
                self.ctx.world_size,
            )
        )


def train(config: TrainConfig, callback: Callable[[str, dict], None] | None = None) -> dict[str, float]:
    """Train (or resume) one run; returns the final metrics, e.g. ``{"R@1": 0.61, ..., "NMI": 0.66}``.

    Args:
        config: the run's settings (:func:`~proxygml_lite.training.presets.config_from_preset`); not changed.
        callback: optional ``callback(event, info)`` called with ``"step_end"``
            (``epoch``, ``step``, ``steps``, ``loss``) and ``"epoch_end"``
            (``epoch``, ``row``), plus ``trainer`` (the :class:`Trainer`:
            ``trainer.model``, ``trainer.loss_fn``, ...); raising
            ``KeyboardInterrupt`` in it behaves like Ctrl-C. With a callback
            every step waits for the device (it receives the loss as a number).

    Raises:
        KeyboardInterrupt: after saving a checkpoint (resume with ``resume=True``).
        NonFiniteLossError: the loss became NaN/Inf.
        ValueError / FileNotFoundError: bad settings or data.

    Under ``torchrun`` every process calls this; all of them return the metrics,
    only rank 0 writes files.
    """
    config.validate()
    device = resolve_device(config) if config.device != "auto" or config.gpu else None
    ctx = init_distributed(device.type == "cuda" if device is not None else torch.cuda.is_available())
    try:
        return Trainer(config, ctx=ctx, callback=callback).run()
    finally:
        cleanup_distributed(ctx)
