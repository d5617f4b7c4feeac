"""The training wing: a config becomes data, parts, an epoch loop and a run folder.

Read it in this order, each module small and testable alone:

* :mod:`.config` -- :class:`TrainConfig`, one frozen dataclass: every setting
  with its flag and check, checked once when made; :mod:`.presets` -- the
  paper's presets; the command line is :mod:`proxygml_lite.train` (``python -m
  proxygml_lite.train``), generated from the config's fields;
* :mod:`.setup` -- :func:`build_data` and :func:`build_parts` (model, the
  registered loss with :func:`~.setup.loss_arguments`, Adam with the
  ``model`` and ``proxies`` groups);
* :mod:`.step` -- :func:`train_step`, the step as a function, and reading its
  losses back at intervals; :mod:`.schedule` -- the official lr decay, the
  warm-up rule, stop signals (SIGINT, SIGTERM) between steps; :mod:`.device` -- device, autocast, seeds;
* :mod:`.evaluate` -- embeddings of the test split and Recall@K / NMI;
* :mod:`.run_folder` -- the files of a run; :mod:`.checkpoint` -- what a
  resumed run needs; :mod:`.distributed` -- torchrun / DDP;
* :mod:`.trainer` -- :class:`Trainer`, the epoch loop that puts them together
  (one class; stopping, saving and resume in one wrapper), and :func:`train`.
"""

from .config import TrainConfig
from .presets import PRESETS, config_from_preset, preset
from .setup import TrainingData, TrainingParts, build_data, build_parts
from .step import NonFiniteLossError, Trainee, build_optimizer, train_step
from .trainer import Trainer, train

__all__ = [
    "TrainConfig",
    "PRESETS",
    "preset",
    "config_from_preset",
    "TrainingData",
    "TrainingParts",
    "build_data",
    "build_parts",
    "NonFiniteLossError",
    "Trainee",
    "build_optimizer",
    "train_step",
    "Trainer",
    "train",
]
