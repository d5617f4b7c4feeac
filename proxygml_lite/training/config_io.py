"""A :class:`~.config.TrainConfig` as plain values and as a file: dicts, ``config.json``, old runs' settings.

:meth:`TrainConfig.to_dict` gives the JSON-ready values; :func:`config_from_dict`
makes a config of them again (checked, as every config is). A run's
``config.json`` is written by :func:`config_to_json` (or the run folder) and
read back by :func:`config_from_json`, or as plain values by
:func:`read_config_json`; a damaged or foreign file is a one-line
``ValueError`` naming it. :func:`config_with_defaults` completes the settings
of a run saved by an older version, for comparing them with a new config.
Reading never imports anything (torch included).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any

from .config import TrainConfig

__all__ = [
    "REPLACED_BUILTINS",
    "config_from_dict",
    "config_with_defaults",
    "config_to_json",
    "config_from_json",
    "read_config_json",
]

#: Key of a run's ``config.json`` that records the package's names redefined for the run
#: (``{"dataset": ["glyphs"]}``, see :func:`proxygml_lite.registry.replaced_builtins`); not a setting.
REPLACED_BUILTINS = "replaced_builtins"

_SAVED_CONFIG_FIX = (
    "restore it from a backup, or start a new run in another --out (the checkpoint of this run "
    "cannot be resumed without its configuration)"
)


def config_from_dict(values: dict[str, Any]) -> TrainConfig:
    """Inverse of :meth:`TrainConfig.to_dict`; unknown keys are an error (the record :data:`REPLACED_BUILTINS` is
    skipped)."""
    values = {k: v for k, v in values.items() if k != REPLACED_BUILTINS}
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ValueError(f"unknown TrainConfig field(s) {unknown}; valid fields: {sorted(names)}")
    return TrainConfig(**values)


def config_with_defaults(saved: dict[str, Any]) -> dict[str, Any]:
    """``saved`` (a config dict written by this or an older version) with every field it lacks set to that
    field's default, in :meth:`TrainConfig.to_dict` form, so that comparing an old run's settings with a new
    configuration does not flag settings that were added since (and keep their defaults)."""
    filled = dict(saved)
    for f in dataclasses.fields(TrainConfig):
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


def config_to_json(config: TrainConfig, path: str | os.PathLike) -> None:
    """Write ``config`` to ``path`` (a ``config.json``) atomically."""
    from ..atomic_writers import atomic_write_text

    atomic_write_text(path, json.dumps(config.to_dict(), indent=2, sort_keys=True) + "\n")


def config_from_json(path: str | os.PathLike) -> TrainConfig:
    """Read a ``config.json``; a damaged or foreign file gives a ``ValueError`` naming it."""
    try:
        return config_from_dict(read_config_json(path))
    except (TypeError, ValueError) as exc:
        if str(path) in str(exc):
            raise
        raise ValueError(f"{path} is not a valid configuration ({exc}); {_SAVED_CONFIG_FIX}") from None


def read_config_json(path: str | os.PathLike) -> dict[str, Any]:
    """The settings saved in a run's ``config.json``, as a dict (not yet a config); ``ValueError`` naming a bad file."""
    try:
        with open(path, encoding="utf-8") as fh:
            values = json.load(fh)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON ({exc}); {_SAVED_CONFIG_FIX}") from None
    if not isinstance(values, dict):
        raise ValueError(
            f"{path} holds a JSON {type(values).__name__}, not a configuration object; {_SAVED_CONFIG_FIX}"
        )
    values = {k: v for k, v in values.items() if k != REPLACED_BUILTINS}  # a record, not a setting
    unknown = sorted(set(values) - {f.name for f in dataclasses.fields(TrainConfig)})
    if unknown or "dataset" not in values:
        problem = f"unknown TrainConfig field(s) {unknown}" if unknown else "no 'dataset'"
        raise ValueError(f"{path} is not a valid configuration ({problem}); {_SAVED_CONFIG_FIX}")
    return values
