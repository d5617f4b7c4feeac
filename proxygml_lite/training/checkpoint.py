"""Checkpoints (model, proxies, optimiser, schedule, RNG states, data position).

A checkpoint holds only what ``torch.load(weights_only=True)`` accepts:
tensors, numbers, strings, ``None`` and lists, tuples and dicts of them (the
RNG states too: NumPy's key as a tensor). :func:`load_checkpoint` reads it with
that safe loader only, so a ``checkpoint.pt`` from elsewhere (notebook 7's
"run trained elsewhere", ``--resume``) can never run code; a file holding any
other Python object is refused in one line naming it.

They are written with the atomic writers of :mod:`proxygml_lite.atomic_writers`
(temporary file in the same folder, ``os.replace``, modes from the umask).
"""

from __future__ import annotations

import os
import pickle
import random
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..fileio import unsafe_pickle_refusal

__all__ = [
    "capture_rng_state",
    "restore_rng_state",
    "rng_kept",
    "load_checkpoint",
    "safe_types",
    "CHECKPOINT_FORMAT",
    "RunState",
    "checkpoint_state",
    "restore_checkpoint",
    "restore_rank_rng",
]


def capture_rng_state() -> dict[str, Any]:
    """States of Python's ``random``, NumPy's global RNG, torch (CPU) and every CUDA device.

    In types the safe loader reads back (NumPy's MT19937 key as an int64 tensor).
    """
    name, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    state = {
        "python": random.getstate(),  # (version, tuple of ints, None or float)
        "numpy": {
            "bit_generator": str(name),
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state` (CUDA states only if CUDA is in use here)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["bit_generator"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
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


def safe_types(obj: Any) -> Any:
    """``obj`` with NumPy scalars as Python numbers and NumPy arrays as tensors: what the safe loader reads."""
    if isinstance(obj, dict):
        return type(obj)((key, safe_types(value)) for key, value in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(safe_types(value) for value in obj)
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by the trainer with the safe loader (``weights_only=True``): nothing in it runs.

    A missing file is a ``FileNotFoundError``; a file holding any Python object
    beyond tensors, numbers, strings, lists and dicts (a planted payload, or a
    checkpoint of an older version of this package), or a damaged file, is a
    one-line ``ValueError`` naming it.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"no checkpoint at {path}; start a new run (drop --resume) or point --out at the run folder"
        )
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:  # a planted file, or a checkpoint of an older proxygml_lite
        fix = "regenerate it with this package: train the run again (an older proxygml_lite's checkpoint is refused "
        fix += "too), or start again in a new --out"
        raise unsafe_pickle_refusal(path, exc, fix) from None
    except Exception as exc:  # a damaged or truncated file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"checkpoint {path} cannot be read ({reason}); delete it to restart the run from scratch"
        ) from None
    if not isinstance(checkpoint, dict):
        raise ValueError(
            f"{path} holds a {type(checkpoint).__name__}, not a checkpoint of this package; retrain, or start "
            "again in a new --out"
        )
    return checkpoint


# ------------------------------------------------------------ a run's checkpoint
#: Version of the checkpoint layout below (a checkpoint of another version is not resumed).
#: 2: only types the safe loader reads (format 1 pickled NumPy's RNG state and cannot be loaded safely).
CHECKPOINT_FORMAT = 2


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
    return safe_types(
        {
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
    )


def restore_checkpoint(ckpt: dict[str, Any], data, parts, state: RunState, world_size: int, where) -> tuple:
    """Load ``ckpt`` into the parts and ``state``; returns ``(epoch, step, epoch_sums, rng)`` to continue from."""
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(
            f"the checkpoint in {where} has format {ckpt.get('format')!r}, this version reads format "
            f"{CHECKPOINT_FORMAT}; start a new run in another --out"
        )
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


def restore_rank_rng(rng, rank: int, seed: int, epoch: int) -> None:
    """Restore this process's RNG state from a checkpoint's ``rng``: one state, or one per rank (saved at the end
    of an epoch); a rank without one (more processes than saved) seeds torch from ``(seed, rank, epoch)``."""
    if isinstance(rng, list):
        rng = rng[rank] if rank < len(rng) else None
    if rng is not None:
        restore_rng_state(rng)
    else:
        torch.manual_seed(seed + 1000 * rank + epoch)
