"""The training loop: :class:`Trainer` runs one :class:`~proxygml_lite.training.config.TrainConfig` to its end.

Read it top to bottom:

* ``Trainer.__init__`` builds everything a run needs, from the config alone:
  the data (:func:`~.setup.build_data`; the training order is a permutation
  seeded with ``seed + epoch``), the model and the registered loss in one
  :class:`~.step.Trainee` with Adam (:func:`~.setup.build_parts`), and the
  checkpoint to resume from;
* :meth:`Trainer.run` is the one wrapper around the epochs: it resumes (or
  evaluates the untrained model), runs the epochs, and on SIGINT (Ctrl-C) or
  SIGTERM saves where the run is and says how to resume
  (:meth:`~.run_record.RunRecord.save_stopped`);
* :meth:`Trainer._train_epoch` is one epoch, the happy path: after
  :meth:`Trainer._begin_epoch` (the lr decay of
  :class:`~.schedule.OfficialStepDecay`, the warm-up, the data order),
  :meth:`Trainer.step` (:func:`~.step.train_step`) for every batch, its losses
  read back every ``log_every`` steps (:meth:`Trainer.read_losses`);
* :meth:`Trainer._finish_epoch`: evaluation when scheduled, a row in
  ``metrics.csv`` and a checkpoint. The evaluation restores the RNG states it
  found (:func:`~.checkpoint.rng_kept`), so the evaluation schedule
  (``epoch_to_test``) never changes the training.

Every file the run writes goes through :class:`~.run_record.RunRecord`, the
trainer's one writer (into its :class:`~.run_folder.RunFolder`).

Precision: float32 like the official code (TF32 allowed on CUDA); ``amp``
bf16/fp16 autocast only when asked (the loss always runs in float32): an
explicit speed option that rounds the embeddings and changes which proxies
enter the top-k subgraphs (``benchmarks/bench_amp_subgraph.py``; the README
states the number). A signal
never stops a step half-way (:class:`~.schedule.StopSignals`): the step in
progress finishes, the run saves, and on the CPU with ``workers=0`` a resumed
run is bit-identical to an uninterrupted one (tested). The trainer never
changes the config it is given.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from .checkpoint import RunState, capture_rng_state, rng_kept
from .config import TrainConfig
from .device import allow_tf32, resolve_amp, resolve_device, seed_everything, to_device, torch_threads
from .distributed import (
    DistContext,
    all_gather_objects,
    cleanup_distributed,
    init_distributed,
    main_rank_lock,
    wrap_ddp,
)
from .evaluate import evaluate_model, final_metrics, format_metrics, should_evaluate
from .run_folder import RunFolder, default_run_dir
from .run_record import RunRecord
from .schedule import StopSignals, apply_warmup
from .setup import backbone_parameters, build_data, build_parts
from .step import (
    RUN_COLUMNS,
    TERM_COLUMNS,
    add_losses,
    check_finite,
    checked_term_names,
    epoch_row,
    epoch_sums,
    read_back,
    stack_loss_parts,
    train_step,
)

__all__ = ["Trainer", "Position", "train", "finished_metrics"]


@dataclass
class Position:
    """Where the run is: ``step`` batches of 0-based ``epoch`` done, that epoch's loss sums, its unread losses."""

    epoch: int = 0
    step: int = 0
    sums: dict = field(default_factory=dict)
    pending: list = field(default_factory=list)  # (step, [L, *terms]) still on the device
    rng_before_step: dict | None = None  # the RNG state before the step in progress; None between steps
    epoch_trained: bool = False  # every step of `epoch` done (its evaluation and checkpoint may be pending)


class Trainer:
    """Runs one config from its start (or its checkpoint) to the end; see :func:`train`."""

    def __init__(
        self, config: TrainConfig, ctx: DistContext | None = None, callback: Callable[[str, dict], None] | None = None
    ) -> None:
        self.ctx = ctx or DistContext()
        self.out = default_run_dir(config)
        # a copy when the folder is named here: the caller's config stays as it is
        self.config = config if config.out else dataclasses.replace(config, out=str(self.out))
        cfg = self.config
        self.callback = callback
        self.device = resolve_device(cfg, self.ctx)
        self.amp_dtype = resolve_amp(cfg.amp, self.device)
        self.channels_last = cfg.channels_last if cfg.channels_last is not None else self.device.type == "cuda"
        self.progress = not cfg.quiet and self.ctx.is_main
        self.state = RunState()
        self.position = Position(epoch=cfg.start_epoch)
        seed_everything(cfg.seed)  # model initialisation and augmentations
        allow_tf32(self.device)
        # a used folder without --resume, or a resume with other settings, is refused before the data is read
        folder = RunFolder(self.out, writer=self.ctx.is_main)
        self.checkpoint = folder.existing_checkpoint(cfg.resume)
        if self.checkpoint is not None:
            folder.check_resume_config(self.checkpoint["config"], cfg)
        self.data = build_data(cfg, self.ctx, self.device, self.progress)
        self.parts = build_parts(cfg, self.data, self.device, self.amp_dtype, self.channels_last)  # same on all ranks
        self.record = RunRecord(
            folder, cfg, self.ctx, self.data, self.parts, self.state, self.device, self.amp_dtype, self.channels_last
        )
        self.wrapped: nn.Module = self.parts.trainee  # or DDP around it (see _begin_epoch)
        self._ddp_trainable: tuple | None = None
        self._in_place_zero_grad: list | None = None  # see train_step
        self.step_bar: tqdm | None = None  # the bar of an epoch's steps, made by run()
        if self.ctx.distributed:  # but each rank its own stream of random augmentations
            seed_everything(cfg.seed + 7919 * (self.ctx.rank + 1))

    # the parts, by the names callbacks use (trainer.model, trainer.loss_fn, trainer.optimizer, ...)
    model = property(lambda self: self.parts.model)
    loss_fn = property(lambda self: self.parts.loss_fn)
    optimizer = property(lambda self: self.parts.optimizer)
    steps_per_epoch = property(lambda self: self.data.steps_per_epoch)

    # ------------------------------------------------------------------- the run
    def run(self) -> dict[str, float]:
        """Train (or resume) to the end; returns the final metrics.

        On SIGINT or SIGTERM the step in progress finishes; then the run saves
        where it is, prints how to resume and raises :class:`~.schedule.StopRequested`
        (a ``KeyboardInterrupt``). A ``KeyboardInterrupt`` raised by code
        (a callback, a loss) saves the same way.
        """
        # one bar of steps for the whole run, reset each epoch: in a notebook that is one widget, not one per epoch
        self.step_bar = tqdm(desc="steps", disable=not self.progress, leave=False, dynamic_ncols=True)
        with StopSignals(self._signalled) as stop, self.step_bar:
            try:
                self._begin()
                for epoch in tqdm(
                    range(self.position.epoch, self.config.epochs),
                    desc="epochs",
                    disable=not self.progress,
                    dynamic_ncols=True,
                    initial=self.position.epoch,
                    total=self.config.epochs,
                ):
                    self._train_epoch(epoch, stop)
                    self._finish_epoch(epoch)
                    stop.raise_if_requested()
            except KeyboardInterrupt:  # a stop: save where the run is (never a half-done step), say how to resume
                self.read_losses(reduce=False)  # this process's own (no collective: the others may be elsewhere)
                self.record.save_stopped(self.position, resumed=self.checkpoint is not None)
                raise
        metrics = final_metrics(self.state.history, self.record.columns())
        self.record.write_results(metrics)
        return metrics

    def _begin(self) -> None:
        """Continue from the checkpoint, or start: snapshots and the untrained model's row (epoch 0)."""
        cfg, position = self.config, self.position
        self.record.write_config()
        # the official --start-epoch: the schedule begins there, decays of skipped epochs are not applied
        self.parts.schedule.last_epoch = cfg.start_epoch - 1
        if self.checkpoint is not None:
            position.epoch, position.step, position.sums = self.record.resume(self.checkpoint)
            self.log(f"resuming {self.out} in epoch {position.epoch + 1}/{cfg.epochs} at step {position.step}")
            return
        self.record.save_snapshots(cfg.start_epoch)
        if cfg.eval_untrained:
            begin = time.perf_counter()
            metrics = self.evaluate("evaluating untrained model")
            self.state.history.append({"epoch": 0, "eval_time_s": round(time.perf_counter() - begin, 3), **metrics})
            self.record.write_metrics()
            self.log(f"epoch 0 (untrained): {format_metrics(metrics)}")

    def _begin_epoch(self, epoch: int) -> dict[str, Any]:
        """Set up 0-based ``epoch`` from ``self.position``: lrs, warm-up, the data order; returns its running sums."""
        cfg, data, position = self.config, self.data, self.position
        # the official schedule: lrs x rate at the start of the listed epochs
        if self.parts.schedule.begin_epoch(epoch):
            lrs = [g["lr"] for g in self.optimizer.param_groups]
            self.log(f"epoch {epoch + 1}/{cfg.epochs}: lrs x{cfg.rate} -> {lrs}")
        frozen, self._in_place_zero_grad = apply_warmup(backbone_parameters(self.model), epoch, cfg)
        if self.ctx.distributed:  # DDP syncs the parameters that required grad when it was built
            self.wrapped, self._ddp_trainable = wrap_ddp(
                self.parts.trainee, self.device, self._ddp_trainable, self.wrapped
            )
        self.parts.trainee.train()  # the model's own train() keeps BatchNorm frozen under --freeze_BN
        # the data order of this epoch depends on (seed, epoch) alone, so a resumed epoch skips the batches done
        data.sampler.set_epoch(epoch)
        data.sampler.set_start(position.step * data.local_batch)
        data.loader_generator.manual_seed(cfg.seed * 100_003 + epoch)
        position.sums = epoch_sums(frozen, [g["lr"] for g in self.optimizer.param_groups], position.sums)
        return position.sums

    def _train_epoch(self, epoch: int, stop: StopSignals) -> None:
        """One epoch of steps from ``self.position`` (a resumed run starts mid-epoch); stops between steps if asked."""
        sums, position, steps = self._begin_epoch(epoch), self.position, self.data.steps_per_epoch
        # reading a loss back waits for the device: every log_every steps, or every step for a callback (it gets a number)
        sync_every = 1 if self.callback is not None else self.config.log_every
        bar = self.step_bar
        bar.reset(total=steps)
        bar.update(position.step)  # a resumed epoch starts mid-way
        bar.set_description(f"epoch {epoch + 1}")
        tick = time.perf_counter()
        batches = iter(self.data.train_loader)
        try:
            while position.step < steps:
                # the RNG state before the batch is drawn: a KeyboardInterrupt raised by code inside the step
                # (not a signal: signals wait for the step to end) leaves the step undone, and resume redoes it
                position.rng_before_step = capture_rng_state()
                images, labels = next(batches)
                position.pending.append((position.step, self.step(images, labels)))
                position.step, position.rng_before_step = position.step + 1, None
                bar.update(1)
                if position.step % sync_every == 0:
                    self.read_losses()
                    bar.set_postfix(loss=f"{sums['loss'] / max(sums['count'], 1):.4f}")
                if self.callback is not None:
                    self._emit("step_end", epoch=epoch, step=position.step, steps=steps, loss=sums["last_loss"])
                stop.raise_if_requested()  # SIGINT / SIGTERM: here, between two steps
            self.read_losses()
            position.epoch_trained = True
        finally:
            sums["train_time_s"] += time.perf_counter() - tick
            self.state.elapsed_s += time.perf_counter() - tick

    def _finish_epoch(self, epoch: int) -> dict[str, Any]:
        """The epoch's row (evaluated when scheduled), its snapshots, the checkpoint and ``metrics.csv``."""
        cfg = self.config
        row = epoch_row(epoch, self.position.sums, self.optimizer.param_groups, self.state.term_names or TERM_COLUMNS)
        if should_evaluate(cfg, epoch):
            begin = time.perf_counter()
            row.update(self.evaluate(f"evaluating epoch {epoch + 1}"))
            row["eval_time_s"] = round(time.perf_counter() - begin, 3)
            self.state.elapsed_s += time.perf_counter() - begin
        self.state.history.append(row)
        self.record.save_snapshots(epoch + 1)
        rng = all_gather_objects(capture_rng_state(), self.ctx) if self.ctx.distributed else capture_rng_state()
        self.record.save_checkpoint(epoch + 1, 0, {}, rng)
        self.position = Position(epoch=epoch + 1)  # the next epoch starts here
        self.record.write_metrics()
        self._emit("epoch_end", epoch=epoch, row=row)
        metrics = format_metrics({k: v for k, v in row.items() if k in self.record.columns()})
        losses = f"loss {row['loss']:.4f} (L^s {row['loss_s']:.4f}, L^p {row['loss_p']:.4f})"
        self.log(f"epoch {epoch + 1}/{cfg.epochs}: {losses} {metrics}")
        return row

    # ------------------------------------------------------------------- a step
    # The two places the epoch touches the device, public so that they can be wrapped or overridden to observe
    # the run (tests/training/test_step_sync.py counts host reads inside steps; scripts/gpu_check.py runs each step
    # under CUDA's sync debug mode); a KeyboardInterrupt raised in `step` leaves that step undone.
    def step(self, images, labels) -> torch.Tensor:
        """One optimisation step on a batch; returns ``[L, *terms]`` detached, on the device (no synchronisation)."""
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
            loss_name=self.config.loss,
        )
        if self.state.term_names is None:
            reserved = RUN_COLUMNS + tuple(self.record.columns())
            self.state.term_names = checked_term_names(terms, self.config.loss, reserved)
        return stack_loss_parts(loss, terms, self.state.term_names)

    def read_losses(self, reduce: bool = True) -> None:
        """Read the losses of the steps not read yet back (one synchronisation) into the epoch's sums.

        A NaN/Inf loss stops the run. ``reduce``: averaged over the processes (all of them call it at the same step).
        """
        position = self.position
        for step, (value, *terms) in read_back(position.pending, self.ctx, reduce):
            check_finite(value, position.epoch, self.config.epochs, step, self.data.steps_per_epoch, self.out)
            add_losses(position.sums, value, terms, self.state.term_names)

    def evaluate(self, desc: str = "evaluating") -> dict[str, float]:
        """Recall@K / NMI (/ MAP@R, RP) of the current model on the test classes (all ranks get the dict)."""
        with rng_kept():  # the loaders and k-means draw random numbers: not from the training's stream
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

    # ------------------------------------------------------------------- messages
    def log(self, message: str) -> None:
        if self.ctx.is_main and not self.config.quiet:
            tqdm.write(message)

    def _signalled(self, message: str) -> None:
        """A stop signal arrived: said even with --quiet (the run is about to end)."""
        if self.ctx.is_main:
            tqdm.write(message, file=sys.stderr)

    def _emit(self, event: str, **info: Any) -> None:
        if self.callback is not None:
            self.callback(event, {**info, "trainer": self})


def finished_metrics(config: TrainConfig) -> dict[str, float] | None:
    """The final metrics of a finished run in ``config.out`` resumed with the same ``epochs``, else ``None``."""
    if not (config.resume and config.out):
        return None
    folder = RunFolder(config.out)
    ckpt = folder.existing_checkpoint(True)
    if ckpt is None:
        return None
    folder.check_resume_config(ckpt["config"], config)
    return folder.finished_metrics(ckpt, config.epochs)


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
        KeyboardInterrupt: after saving a checkpoint (resume with ``resume=True``);
            :class:`~.schedule.StopRequested` after SIGINT or SIGTERM.
        NonFiniteLossError: the loss became NaN/Inf.
        ValueError / FileNotFoundError: bad settings or data.
        FolderLockedError: another process is writing the same run folder.

    Under ``torchrun`` every process calls this; all of them return the metrics,
    only rank 0 writes files, holding the run folder's lock
    (:func:`~proxygml_lite.fileio.exclusive_lock`) for the whole run.
    """
    if not config.out:  # the folder is named once, here: the lock and the trainer use the same one
        config = dataclasses.replace(config, out=str(default_run_dir(config)))
    finished = finished_metrics(config)
    if finished is not None:  # nothing to build
        if not config.quiet:
            tqdm.write(f"{config.out}: finished run found, nothing to do")
        return finished
    device = resolve_device(config) if config.device != "auto" or config.gpu else None
    ctx = init_distributed(device.type == "cuda" if device is not None else torch.cuda.is_available())
    try:
        # rank 0 holds the run folder's lock for the whole run: from reading its checkpoint to the results;
        # the threads are set for the model's initialisation too
        with torch_threads(config.threads), main_rank_lock(config.out, "training", ctx) as held:
            trainer = Trainer(config, ctx=ctx, callback=callback)
            if held is not None and held.taken_over:
                trainer.log(f"{trainer.out}: took over the lock of {held.taken_over}, which is no longer running")
            return trainer.run()
    finally:
        cleanup_distributed(ctx)
