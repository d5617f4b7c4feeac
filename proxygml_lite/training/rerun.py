"""Re-running a saved configuration: ``--config PATH`` and :func:`load_config`.

A configuration comes back from a run folder (its ``config.json``), a
``config.json``, a ``results.json`` (its ``"config"``) or a study row's
``config`` column, as plain values (:func:`read_config_values`: read as JSON,
nothing imported or built). A partial one takes the fields it lacks from its
dataset's preset (:func:`preset_filled`), and :func:`load_config` makes the
:class:`~.config.TrainConfig` that re-runs it exactly. ``out`` and ``resume``
are cleared: the re-run goes where the caller says.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .config import TrainConfig, canonical_dataset
from .config_io import REPLACED_BUILTINS, config_from_dict
from .presets import preset

__all__ = ["read_config_values", "preset_filled", "load_config"]


def read_config_values(path: str | os.PathLike) -> dict[str, Any]:
    """The configuration saved at ``path`` as a plain dict (read as JSON: nothing is imported or built).

    ``path`` is a run folder (its ``config.json``), a ``config.json``, a
    ``results.json`` (its ``"config"``), or a JSON file holding one study
    row's ``config`` column (the configuration object itself, or
    ``{"config": {...}}``). ``out`` and ``resume`` are cleared: the re-run
    goes where the caller says; :func:`preset_filled` completes a partial one.
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
    values = {k: v for k, v in values.items() if k != REPLACED_BUILTINS}  # a record, not a setting
    return {**values, "out": None, "resume": False}


def preset_filled(values: dict[str, Any]) -> dict[str, Any]:
    """A saved (maybe partial) configuration with the fields it lacks from its dataset's preset, names resolved.

    ``{"dataset": "glyphs", "epochs": 1}`` becomes the glyphs preset with one
    epoch, not the general defaults (BN-Inception, d = 512).
    """
    dataset = canonical_dataset(values["dataset"])
    return {**preset(dataset), **values, "dataset": dataset}


def load_config(path: str | os.PathLike) -> TrainConfig:
    """The :class:`TrainConfig` saved at ``path`` (:func:`read_config_values`), to re-run it exactly.

    Its ``imports`` are not imported (reading never runs code): a name they
    register must be registered already. Missing fields come from the preset.
    """
    return config_from_dict(preset_filled(read_config_values(path)))
