"""What happens within one epoch: the warm-up, the steps, reading their losses back, the epoch's row.

:class:`EpochLoop` holds the epoch-level methods of
:class:`~proxygml_lite.training.trainer.Trainer` (which inherits them), so
each of the two stays short. It uses the trainer's ``config``, ``ctx``,
``device``, ``data``, ``parts``, ``state``, ``folder`` and ``callback``.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from tqdm.auto import tqdm

from .checkpoint import capture_rng_state
from .device import to_device
from .distributed import all_gather_objects, wrap_ddp
from .evaluate import format_metrics, should_evaluate
from .schedule import DeferredInterrupt, apply_warmup
from .step import (
    RUN_COLUMNS,
    TERM_COLUMNS,
    check_finite,
    checked_term_names,
    epoch_row,
    read_back,
    stack_loss_parts,
    train_step,
)

__all__ = ["EpochLoop"]


class EpochLoop:
    """The epoch of a :class:`~proxygml_lite.training.trainer.Trainer`: ``_train_epoch`` then ``_finish_epoch``."""

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
            loss_name=self.config.loss,
        )
        if self.state.term_names is None:
            self.state.term_names = checked_term_names(terms, self.config.loss, RUN_COLUMNS + tuple(self._columns()))
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
