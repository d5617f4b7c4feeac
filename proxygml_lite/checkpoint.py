"""Checkpoints (model, proxies, optimiser, schedule, RNG states) and the atomic writes they use.

The atomic writes live in :mod:`proxygml_lite.fileio` (temporary file in the
same folder, ``os.replace``, modes from the umask); they are re-exported here
for the callers that import them from this module.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .fileio import atomic_torch_save, atomic_write_bytes, atomic_write_csv, atomic_write_json, atomic_write_text

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_write_csv",
    "atomic_torch_save",
    "capture_rng_state",
    "restore_rng_state",
    "load_checkpoint",
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


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by the trainer; a clear error if it is missing or unreadable."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}; start a new run (drop --resume) or point --out at the run folder")
    try:
        return torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # pragma: no cover - corrupted file
        raise ValueError(f"checkpoint {path} cannot be read ({exc}); delete it to restart the run from scratch") from exc
