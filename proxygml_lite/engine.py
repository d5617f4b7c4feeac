"""Kept for older imports: the training engine lives in :mod:`proxygml_lite.training`, in parts."""

from .training.checkpoint import CHECKPOINT_FORMAT
from .training.device import resolve_amp, resolve_device
from .training.evaluate import extract_embeddings
from .training.run_folder import CHECKPOINT, PROXY_DIR, RESUMABLE_CHANGES
from .training.schedule import OfficialStepDecay, StopSignals, backbone_frozen
from .training.snapshots import EMBEDDING_DIR
from .training.step import (
    TERM_COLUMNS,
    NonFiniteLossError,
    Trainee,
    build_optimizer,
    loss_terms,
    stack_loss_parts,
    train_step,
)
from .training.trainer import Trainer

__all__ = [
    "NonFiniteLossError",
    "Trainee",
    "OfficialStepDecay",
    "StopSignals",
    "backbone_frozen",
    "resolve_device",
    "resolve_amp",
    "build_optimizer",
    "extract_embeddings",
    "train_step",
    "loss_terms",
    "stack_loss_parts",
    "Trainer",
    "RESUMABLE_CHANGES",
    "TERM_COLUMNS",
    "CHECKPOINT",
    "PROXY_DIR",
    "EMBEDDING_DIR",
    "CHECKPOINT_FORMAT",
]
