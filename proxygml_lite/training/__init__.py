"""The training wing: a config becomes data, parts, an epoch loop and a run folder.

Read it in this order, each module small and testable alone:

* :mod:`.config` -- :class:`TrainConfig`, one frozen dataclass: every setting
  with its flag and check, checked once when made; :mod:`.presets` -- the
  paper's presets; :mod:`.config_io` -- a config as a dict and as
  ``config.json``; the command line is :mod:`proxygml_lite.train` (``python -m
  proxygml_lite.train``), generated from the config's fields; :mod:`.rerun` --
  a saved configuration read back to re-run it (``--config PATH``);
* :mod:`.setup` -- :func:`build_data` and :func:`build_parts` (model, the
  registered loss with :func:`~.setup.loss_arguments`, Adam with the
  ``model`` and ``proxies`` groups);
* :mod:`.step` -- :func:`train_step`, the step as a function, and reading its
  losses back at intervals; :mod:`.schedule` -- the official lr decay, the
  warm-up rule, stop signals (SIGINT, SIGTERM) between steps; :mod:`.device` -- device, autocast, seeds;
* :mod:`.evaluate` -- embeddings of the test split and Recall@K / NMI;
* :mod:`.run_folder` -- the files of a run; :mod:`.run_record` -- what the
  trainer writes into them as it goes; :mod:`.checkpoint` -- what a resumed
  run needs; :mod:`.distributed` -- torchrun / DDP;
* :mod:`.trainer` -- :class:`Trainer`, the epoch loop that puts them together
  (one class; stopping, saving and resume in one wrapper), and :func:`train`.
"""

import importlib

#: Each public name -> the submodule defining it; loaded on first use, so that the command line
#: (``--help``, built from :mod:`.config` alone) starts without importing torch.
_MODULES = {
    "TrainConfig": "config",
    "PRESETS": "presets",
    "preset": "presets",
    "config_from_preset": "presets",
    "TrainingData": "setup",
    "TrainingParts": "setup",
    "build_data": "setup",
    "build_parts": "setup",
    "NonFiniteLossError": "step",
    "Trainee": "step",
    "SplitOptimizer": "step",
    "build_optimizer": "step",
    "train_step": "step",
    "Trainer": "trainer",
    "train": "trainer",
}

__all__ = list(_MODULES)


def __getattr__(name: str):
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
