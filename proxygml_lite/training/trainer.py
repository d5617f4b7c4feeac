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

import contextlib
import dataclasses
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ..fileio import FolderLockedError, WriteError, exclusive_lock
from .checkpoint import RunState, checkpoint_state, restore_checkpoint, restore_rng_state
from .config import TrainConfig
from .device import allow_tf32, resolve_amp, resolve_device, seed_everything
from .distributed import DistContext, broadcast_object, cleanup_distributed, init_distributed
from .evaluate import evaluate_model, final_metrics, format_metrics, metric_columns
from .loop import EpochLoop
from .run_folder import RunFolder, default_run_dir, metrics_csv_columns, print_resume_hint, results_record
from .setup import backbone_parameters, build_data, build_parts
from .snapshots import EmbeddingSnapshots

__all__ = ["Trainer", "train"]


class Trainer(EpochLoop):
    """Runs one config from start (or its checkpoint) to the end; see :func:`train`.

    The life of a run is here (build, resume, evaluate the untrained model,
    the epochs, the results); what happens within an epoch is
    :class:`~proxygml_lite.training.loop.EpochLoop`.
    """

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
        """Snapshots after ``epoch`` finished epochs: proxies (``save_proxies``), embeddings (``save_embeddings``)."""
        if self.config.save_proxies:
            self.folder.save_proxies(epoch, self.config.loss, self.data.num_classes, self.loss_fn)
        if self.config.save_embeddings and self.ctx.is_main:
            self.snapshots.save(
                self.out, epoch, self.model, self.data.num_classes, self.device, self.amp_dtype, self.channels_last
            )

    # ------------------------------------------------------------------- run
    def run(self) -> dict[str, float]:
        """Train (or resume) to the end; with ``threads`` set, torch uses that many CPU threads meanwhile."""
        previous_threads = torch.get_num_threads()
        if self.config.threads is not None:
            torch.set_num_threads(self.config.threads)
        try:
            return self._run()
        finally:
            torch.set_num_threads(previous_threads)

    def _run(self) -> dict[str, float]:
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
        self.snapshots = EmbeddingSnapshots(cfg, self.data.test_set)
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
        FolderLockedError: another process is writing the same run folder.

    Under ``torchrun`` every process calls this; all of them return the metrics,
    only rank 0 writes files, holding the run folder's lock
    (:func:`~proxygml_lite.fileio.exclusive_lock`) for the whole run.
    """
    config.validate()
    device = resolve_device(config) if config.device != "auto" or config.gpu else None
    ctx = init_distributed(device.type == "cuda" if device is not None else torch.cuda.is_available())
    try:
        trainer = Trainer(config, ctx=ctx, callback=callback)
        with contextlib.ExitStack() as stack:
            refusal = None
            if ctx.is_main:
                try:
                    held = stack.enter_context(exclusive_lock(trainer.out, "training"))
                except (FolderLockedError, WriteError) as exc:
                    if not ctx.distributed:
                        raise
                    refusal = exc
                else:
                    if held.taken_over:
                        trainer.log(
                            f"{trainer.out}: took over the lock of {held.taken_over}, which is no longer running"
                        )
            if ctx.distributed:  # every rank stops when rank 0 cannot hold the folder (else they would wait for it)
                message = broadcast_object(str(refusal) if refusal is not None else None, ctx)
                if refusal is not None:
                    raise refusal
                if message is not None:
                    raise FolderLockedError(message)
            return trainer.run()
    finally:
        cleanup_distributed(ctx)
