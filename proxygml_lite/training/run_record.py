"""What a run leaves behind while it runs: :class:`RunRecord`, the trainer's one writer.

The trainer keeps the loop; everything it writes goes through here: the
settings (``config.json``), a row of ``metrics.csv`` per epoch, the proxy and
embedding snapshots, the checkpoint, ``results.json`` at the end, and after a
stop the line that says how to resume. The files themselves are
:class:`~.run_folder.RunFolder`'s (atomic, rank 0 only); this module decides
what goes into them from the run's state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from .checkpoint import RunState, capture_rng_state, checkpoint_state, restore_checkpoint, restore_rank_rng, rng_kept
from .config import TrainConfig
from .distributed import DistContext
from .evaluate import metric_columns
from .run_folder import RunFolder, metrics_csv_columns, print_resume_hint, results_record
from .setup import TrainingData, TrainingParts
from .snapshots import EmbeddingSnapshots

if TYPE_CHECKING:
    from .trainer import Position

__all__ = ["RunRecord"]


@dataclass
class RunRecord:
    """The files of one run, written from its parts and :class:`~.checkpoint.RunState` (only rank 0 writes)."""

    folder: RunFolder
    config: TrainConfig
    ctx: DistContext
    data: TrainingData
    parts: TrainingParts
    state: RunState
    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool
    snapshots: EmbeddingSnapshots = field(init=False)

    def __post_init__(self) -> None:
        self.snapshots = EmbeddingSnapshots(self.config, self.data.test_set)

    def columns(self) -> list[str]:
        """The evaluation's columns of this run: Recall@K for its cut-offs, NMI, MAP@R and RP when asked."""
        return metric_columns(self.data.recall_ks, self.config.compute_nmi, self.config.compute_map)

    def write_config(self) -> None:
        self.folder.write_config(self.config)

    def write_metrics(self) -> None:
        """``metrics.csv``: every row so far (the untrained model's, then one per epoch)."""
        self.folder.write_metrics(self.state.history, metrics_csv_columns(self.state.term_names, self.columns()))

    def write_results(self, metrics: dict[str, float]) -> None:
        """``results.json``: the final metrics and the run's facts (:func:`~.run_folder.results_record`)."""
        cfg, state, data = self.config, self.state, self.data
        record = results_record(
            cfg, metrics, state.history, self.columns(), data, state.elapsed_s, self.device, self.ctx.world_size
        )
        self.folder.write_results(record)

    def save_snapshots(self, epoch: int) -> None:
        """Snapshots after ``epoch`` finished epochs: proxies (``save_proxies``), embeddings (``save_embeddings``)."""
        cfg, data = self.config, self.data
        if cfg.save_proxies:
            self.folder.save_proxies(epoch, cfg.loss, data.num_classes, self.parts.loss_fn)
        if cfg.save_embeddings and self.ctx.is_main:
            with rng_kept():  # its loader draws a seed: the training's random numbers stay as they are
                self.snapshots.save(
                    self.folder.path,
                    epoch,
                    self.parts.model,
                    data.num_classes,
                    self.device,
                    self.amp_dtype,
                    self.channels_last,
                )

    def save_checkpoint(self, epoch: int, step: int, sums: dict[str, Any], rng) -> None:
        """The checkpoint of the run ``step`` batches into 0-based ``epoch``, with RNG state ``rng`` (rank 0 writes)."""
        if self.ctx.is_main:
            state = checkpoint_state(
                self.config, epoch, step, sums, rng, self.data, self.parts, self.state, self.ctx.world_size
            )
            self.folder.save_checkpoint(state)

    def resume(self, ckpt: dict[str, Any]) -> tuple[int, int, dict[str, Any]]:
        """Load the checkpoint ``ckpt`` into the parts and the state, and this process's RNG state from it.

        Returns ``(epoch, step, sums)``: the run continues ``step`` batches into 0-based ``epoch``.
        """
        epoch, step, sums, rng = restore_checkpoint(
            ckpt, self.data, self.parts, self.state, self.ctx.world_size, self.folder.path
        )
        restore_rank_rng(rng, self.ctx.rank, self.config.seed, epoch)
        return epoch, step, sums

    def save_stopped(self, position: Position, resumed: bool) -> None:
        """After a stop at ``position`` (its losses read): save it, never a half-done step, and print how to resume.

        ``resumed``: the run started from a checkpoint.
        """
        if position.rng_before_step is None and position.step == 0 and not position.epoch_trained:
            # stopped at an epoch boundary: the checkpoint of the last epoch is where the run is (if any)
            if resumed or position.epoch > self.config.start_epoch:
                self.print_resume_hint(position.epoch, 0)
            return
        # a KeyboardInterrupt raised by code inside a step (not a signal: signals wait for the step to end)
        # leaves that step undone; resume redoes it from the RNG state before its batch was drawn
        rng = position.rng_before_step or capture_rng_state()
        self.save_checkpoint(position.epoch, position.step, position.sums, rng)
        self.print_resume_hint(position.epoch, position.step)

    def print_resume_hint(self, epoch: int, step: int) -> None:
        """After a stop: where the run is and the command that resumes it (rank 0 says it)."""
        if self.ctx.is_main:
            print_resume_hint(self.folder.path, epoch, self.config.epochs, step, self.data.steps_per_epoch)
