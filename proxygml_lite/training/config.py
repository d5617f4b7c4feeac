"""`TrainConfig`: every setting of a training run, written once, with its flag and its check.

Each field is a :func:`~proxygml_lite.options.setting`: its default (the
paper's recipe, see :mod:`~proxygml_lite.training.presets`), its command-line
flags (the official repository's names where it has them) and its check.
:meth:`TrainConfig.validate` runs the checks; the command line
(:mod:`proxygml_lite.train`) is generated from the fields.

Warm-up (``--warm``, ``--warmup-mode``). ``head-first`` (default) trains only
the embedding head and the proxies during the first ``warm`` epochs
(0-based epochs ``0 .. warm-1``), the usual meaning of warm-up. The official
script instead trains everything in epoch 0, sets ``requires_grad=False`` on
the backbone *after* epoch 0 and back to ``True`` after epoch ``warm``, so its
backbone is frozen during epochs ``1 .. warm`` (with ``warm = 1``: the SECOND
epoch); ``--warmup-mode official`` reproduces that, including a side effect
of the official ``optimizer.zero_grad()`` (PyTorch 1.2 zeroes the gradients
in place instead of dropping them): Adam still steps the "frozen" backbone
with zero gradients, so its momentum and weight decay keep moving it. The
default mode freezes it truly (``zero_grad(set_to_none=True)``).

``--start-epoch E`` has the official meaning: the epoch counter starts at the
0-based epoch ``E`` of a fresh run (no weights are loaded; use ``--resume``
to continue a run), so ``epochs - E`` epochs are trained, the lr decays
``new_epoch_to_decay`` are applied only when their epoch is reached (the
official ``adjust_learning_rate`` is called per epoch, never for the skipped
ones), and the official warm-up, which freezes the backbone after epoch 0,
never happens when ``E > 0``.

Precision. The official code trains in float32; so do all presets here
(``amp="none"``; on CUDA TF32 matmuls and convolutions are allowed). ``--amp
bf16`` (or ``fp16``, ``auto``) is an explicit speed option: the loss still
runs in float32, but the backbone's embeddings are rounded to bf16, which
changes which proxies enter the top-k subgraphs (measured on the CPU by
``benchmarks/bench_amp_subgraph.py``; the README states the number).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from ..checks import check_in_range
from ..options import check_fields
from ..registry import BACKBONES, DATASETS, LOSSES
from .settings import (
    AMP_MODES,
    CHECK_IMAGES_CHOICES,
    NMI_PROTOCOL_CHOICES,
    WARMUP_MODES,
    DataSettings,
    EvaluationSettings,
    MachineSettings,
    ModelSettings,
    OptimisationSettings,
)

__all__ = [
    "DATASETS",
    "BACKBONES",
    "LOSSES",
    "AMP_MODES",
    "WARMUP_MODES",
    "NMI_PROTOCOL_CHOICES",
    "CHECK_IMAGES_CHOICES",
    "TrainConfig",
    "REPLACED_BUILTINS",
    "canonical_dataset",
    "load_config",
    "read_config_values",
    "unimported_hint",
]

#: Key of a run's ``config.json`` that records the package's names redefined for the run
#: (``{"dataset": ["glyphs"]}``, see :func:`proxygml_lite.registry.replaced_builtins`); not a setting.
REPLACED_BUILTINS = "replaced_builtins"


def unimported_hint(imports) -> str:
    """The end of an error about an unknown name when ``imports`` lists modules not imported yet ('' otherwise)."""
    missing = [module for module in imports or () if module not in sys.modules]
    if not missing:
        return ""
    flags = " ".join(f"--import {module}" for module in missing)
    return (
        f" (the configuration records imports {missing}, which reading it never imports: if you trust them, "
        f"pass {flags}, or import them in Python first)"
    )


def canonical_dataset(name: str) -> str:
    """The registered name of a dataset (``"sop"`` -> ``"online_products"``); ValueError for unknown names."""
    return DATASETS.canonical(name)


@dataclass
class TrainConfig(MachineSettings, EvaluationSettings, ModelSettings, OptimisationSettings, DataSettings):
    """All settings of one training run (field names follow the official flags).

    Paper symbols: ``dim`` = ``d``; ``C`` = number of training classes; ``N`` =
    proxies per class; ``r`` = subgraph scale (``k = ceil(r C N)``);
    ``weight_lambda`` = ``lambda`` (weight of ``L^p``; 0 switches ``L^p`` off);
    ``positive_mask`` = use ``S^pos``; ``mask_softmax`` = use the mask ``M``.

    Use :func:`config_from_preset` to start from a dataset's preset. Values
    that depend on the data or the machine are ``None``/``"auto"`` here and
    resolved by the trainer: ``C`` (number of training classes), ``device``,
    ``amp``, ``channels_last``, ``recall_ks``, ``pretrained`` (``None``: the
    ImageNet weights for bninception/resnet50, random initialisation for
    smallcnn).

    The fields are declared by topic in :mod:`~proxygml_lite.training.settings`
    (data, optimisation, model and loss, evaluation, machine and run), each
    with its default, flags and check.
    """

    def __post_init__(self) -> None:
        if isinstance(self.imports, str):
            self.imports = (self.imports,)
        for name in ("new_epoch_to_decay", "epoch_to_test", "recall_ks", "gpu", "imports"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                if isinstance(value, int):
                    value = (value,)
                setattr(self, name, tuple(value))
        self.loss_kwargs = dict(self.loss_kwargs or {})
        self.dataset_options = dict(self.dataset_options or {})
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> TrainConfig:
        """Raise ``ValueError`` naming the bad setting and the fix; return self.

        The modules of ``imports`` are NOT imported here: reading a
        configuration never runs code. A name they register is known only once
        they are imported (``--import``, or the command line's announced import
        of a recorded module); until then the error names them.
        """
        try:
            self.dataset = canonical_dataset(self.dataset)
            check_fields(self)  # the minimum / choices declared with each field
        except ValueError as exc:
            raise ValueError(f"{exc}{unimported_hint(self.imports)}") from None
        if self.start_epoch >= self.epochs:
            raise ValueError(
                f"start_epoch {self.start_epoch} leaves no epoch to train (epochs {self.epochs}); --start-epoch is "
                "the 0-based epoch a fresh run starts at: pass a value < --epochs"
            )
        check_in_range("r", self.r, 0, 1, "--r; the paper uses 0.05", noun=None)
        check_in_range("rate", self.rate, 0, 1, "--rate, the lr multiplier at each decay epoch, e.g. 0.1", noun=None)
        if self.pretrained is not None and not isinstance(self.pretrained, (bool, str)):
            raise ValueError(
                f"pretrained must be True, False, None (auto) or a path to weights; got {self.pretrained!r}"
            )
        if self.dataset_options and not DATASETS.get(self.dataset).options.get("takes_options"):
            from ..data import generated_datasets

            raise ValueError(
                f"dataset_options {self.dataset_options} only apply to --dataset {' / '.join(generated_datasets())} "
                f"(generation parameters such as images_per_face); {self.dataset!r} is read from disk as it is: "
                "drop --dataset-options"
            )
        if not isinstance(self.loss_kwargs, dict):
            raise ValueError(
                "loss_kwargs must be a dict of keyword arguments for the loss (--loss-kwargs '{\"margin\": 0.1}')"
            )
        return self

    # -------------------------------------------------------------- conversion
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def with_defaults(cls, saved: dict[str, Any]) -> dict[str, Any]:
        """``saved`` (a config dict written by this or an older version) with every field it lacks set to that
        field's default, in :meth:`to_dict` form, so that comparing an old run's settings with a new
        configuration does not flag settings that were added since (and keep their defaults)."""
        filled = dict(saved)
        for f in dataclasses.fields(cls):
            if f.name in filled:
                continue
            if f.default is not dataclasses.MISSING:
                value = f.default
            elif f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
            else:
                continue
            filled[f.name] = list(value) if isinstance(value, tuple) else value
        return filled

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error (the record :data:`REPLACED_BUILTINS` is skipped)."""
        values = {k: v for k, v in values.items() if k != REPLACED_BUILTINS}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {unknown}; valid fields: {sorted(names)}")
        return cls(**values)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)

    def to_json(self, path: str | os.PathLike) -> None:
        """Write ``config.json`` atomically."""
        from ..fileio import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> TrainConfig:
        """Read a ``config.json``; a damaged or foreign file gives a ``ValueError`` naming it."""
        fix = (
            "restore it from a backup, or start a new run in another --out (the checkpoint of this run "
            "cannot be resumed without its configuration)"
        )
        try:
            with open(path, encoding="utf-8") as fh:
                values = json.load(fh)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path} is not valid JSON ({exc}); {fix}") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path} holds a JSON {type(values).__name__}, not a configuration object; {fix}")
        try:
            return cls.from_dict(values)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path} is not a valid configuration ({exc}); {fix}") from None


def read_config_values(path: str | os.PathLike) -> dict[str, Any]:
    """The configuration saved at ``path`` as a plain dict (read as JSON: nothing is imported or built).

    ``path`` is a run folder (its ``config.json``), a ``config.json``, a
    ``results.json`` (its ``"config"``), or a JSON file holding one study
    row's ``config`` column (the configuration object itself, or
    ``{"config": {...}}``). ``out`` and ``resume`` are cleared: the re-run
    goes where the caller says.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "config.json")):
            raise ValueError(
                f"--config {path} is a folder without config.json; pass a run folder (the --out of a training), "
                "its config.json, a results.json, or a JSON file holding a study row's config"
            )
        path = os.path.join(path, "config.json")
    if not os.path.isfile(path):
        raise ValueError(
            f"--config {path}: no such file; pass a run folder, its config.json, or a JSON file holding a row's config"
        )
    try:
        with open(path, encoding="utf-8") as fh:
            values = json.load(fh)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"--config {path} is not valid JSON ({exc})") from None
    if isinstance(values, dict) and isinstance(values.get("config"), str):
        try:
            values = json.loads(values["config"])
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"--config {path}: its 'config' is not valid JSON ({exc}); copy the config column of a study row "
                "unchanged, or pass a run folder"
            ) from None
    elif isinstance(values, dict) and isinstance(values.get("config"), dict):
        values = values["config"]
    if not isinstance(values, dict) or "dataset" not in values:
        raise ValueError(
            f"--config {path} does not hold a training configuration (a JSON object with 'dataset', 'epochs', ...); "
            "pass a run folder's config.json or a study row's config"
        )
    return {**values, "out": None, "resume": False}


def load_config(path: str | os.PathLike) -> TrainConfig:
    """The :class:`TrainConfig` saved at ``path`` (:func:`read_config_values`), to re-run it exactly.

    Its ``imports`` are not imported (reading never runs code): a name they
    register must be registered already.
    """
    return TrainConfig.from_dict(read_config_values(path))
