"""Checkpoints (model, proxies, optimiser, schedule, RNG states, data position).

They are written with the atomic writers of :mod:`proxygml_lite.fileio`
(temporary file in the same folder, ``os.replace``, modes from the umask).
"""

from __future__ import annotations

import os
import random
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "capture_rng_state",
    "restore_rng_state",
    "rng_kept",
    "load_checkpoint",
    "CHECKPOINT_FORMAT",
    "RunState",
    "checkpoint_state",
    "restore_checkpoint",
]


def capture_rng_state() -> dict[str, Any]:
    """States of Python's ``random``, NumPy's global RNG, torch (CPU) and every CUDA device."""
    state = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state` (CUDA states only if CUDA is in use here)."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"].cpu() if isinstance(state["torch"], torch.Tensor) else state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states])


@contextmanager
def rng_kept():
    """Within ``with``: anything may draw random numbers; the RNG states of :func:`capture_rng_state` are restored.

    The trainer evaluates inside it, so the training draws the same random
    numbers (augmentations, data order) whatever the evaluation schedule
    (``epoch_to_test``), and saving embedding snapshots changes nothing either.
    """
    state = capture_rng_state()
    try:
        yield
    finally:
        restore_rng_state(state)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by the trainer; a clear error if it is missing or unreadable."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"no checkpoint at {path}; start a new run (drop --resume) or point --out at the run folder"
        )
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # pragma: no cover - corrupted file
        raise ValueError(
            f"checkpoint {path} cannot be read ({exc}); delete it to restart the run from scratch"
        ) from exc


# ------------------------------------------------------------ a run's checkpoint
#: Version of the checkpoint layout below (a checkpoint of another version is not resumed).
CHECKPOINT_FORMAT = 1


@dataclass
class RunState:
    """What a run accumulates besides its parts: ``metrics.csv``'s rows, the time spent, the loss's term names."""

    history: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float = 0.0
    term_names: tuple[str, ...] | None = None  # from loss_fn.terms() at the first step


def checkpoint_state(
    config, epoch: int, step: int, sums: dict, rng, data, parts, state: RunState, world_size: int
) -> dict[str, Any]:
    """Everything a resumed run needs: model, loss (proxies), optimiser, schedule, scaler, RNG and data position.

    ``epoch`` / ``step``: where the run continues (``step`` batches of
    ``epoch`` done); ``sums``: that epoch's running loss sums.
    """
    return {
        "format": CHECKPOINT_FORMAT,
        "config": config.to_dict(),
        "epoch": epoch,
        "step": step,
        "num_classes": data.num_classes,
        "model": parts.model.state_dict(),
        "loss": parts.loss_fn.state_dict(),
        "optimizer": parts.optimizer.state_dict(),
        "scheduler": parts.schedule.state_dict(),
        "scaler": parts.scaler.state_dict(),
        "rng": rng,
        "sampler": {"seed": config.seed, "epoch": epoch, "start": step * data.local_batch},
        "loader_generator": data.loader_generator.get_state(),
        "history": state.history,
        "term_names": state.term_names,
        "epoch_sums": dict(sums),
        "elapsed_s": state.elapsed_s,
        "world_size": world_size,
    }


def restore_checkpoint(ckpt: dict[str, Any], data, parts, state: RunState, world_size: int, where) -> tuple:
    """Load ``ckpt`` into the parts and ``state``; returns ``(epoch, step, epoch_sums, rng)`` to continue from."""
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint in {where} has an unknown format; start a new run in another --out")
    if ckpt.get("world_size", 1) != world_size and ckpt.get("step", 0):
        warnings.warn(
            "resuming a mid-epoch checkpoint with a different number of processes: the rest of that "
            "epoch's data order differs from the original run",
            RuntimeWarning,
            stacklevel=3,
        )
    parts.model.load_state_dict(ckpt["model"])
    parts.loss_fn.load_state_dict(ckpt["loss"])
    parts.optimizer.load_state_dict(ckpt["optimizer"])
    parts.schedule.load_state_dict(ckpt["scheduler"])
    parts.scaler.load_state_dict(ckpt["scaler"])
    data.loader_generator.set_state(ckpt["loader_generator"])
    state.history = list(ckpt["history"])
    if ckpt.get("term_names"):
        state.term_names = tuple(ckpt["term_names"])
    state.elapsed_s = float(ckpt["elapsed_s"])
    return int(ckpt["epoch"]), int(ckpt["step"]), dict(ckpt["epoch_sums"]), ckpt["rng"]
