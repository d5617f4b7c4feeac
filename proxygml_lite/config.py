"""Kept for older imports: the config, presets and command line live in :mod:`proxygml_lite.training`."""

from .training.cli import build_parser, parse_args
from .training.config import (
    AMP_MODES,
    BACKBONES,
    CHECK_IMAGES_CHOICES,
    DATASETS,
    LOSSES,
    NMI_PROTOCOL_CHOICES,
    WARMUP_MODES,
    TrainConfig,
    canonical_dataset,
    load_config,
)
from .training.presets import OFFICIAL_EPOCH_TO_TEST, PRESETS, config_from_preset, preset

__all__ = [
    "DATASETS",
    "BACKBONES",
    "LOSSES",
    "AMP_MODES",
    "WARMUP_MODES",
    "NMI_PROTOCOL_CHOICES",
    "CHECK_IMAGES_CHOICES",
    "OFFICIAL_EPOCH_TO_TEST",
    "PRESETS",
    "TrainConfig",
    "canonical_dataset",
    "preset",
    "config_from_preset",
    "build_parser",
    "parse_args",
    "load_config",
]
