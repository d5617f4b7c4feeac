"""A study cell's identity: its full training configuration, what is left out of it, and the hash in its folder name.

A cell's identity is its full training configuration (:func:`cell_identity`,
epochs included); only the settings that say where and how results are
written, not what is computed, are left out (:data:`RUN_ONLY`), and so are
settings added later while they are off (:data:`OMITTED_WHILE_OFF`). The
cell's folder name ends in a hash of that identity (:func:`cell_id`), so a
changed configuration can never find, reuse or overwrite another
configuration's run.
"""

from __future__ import annotations

import hashlib
import json

from ..training.config import TrainConfig
from ..training.config_io import config_with_defaults

__all__ = [
    "RUN_ONLY",
    "OMITTED_WHILE_OFF",
    "CELL_FIELDS",
    "cell_identity",
    "cell_id",
    "recorded_config",
    "study_settings",
]

#: Settings that say where and how a run reports, not what it computes: not part of a cell's identity, and the
#: only settings that may differ between the rows of one study table, on the write side (:func:`study_settings`)
#: and on the read side (:func:`proxygml_lite.lab.seed_table_checks.check_seed_table`). Everything else (``device``,
#: ``workers``, ``threads``, ...) can change the numbers, so it is a setting.
RUN_ONLY = frozenset(
    {
        "out",  # the cell's folder itself
        "resume",  # how the cell is started, not what it computes
        "data",  # where the data lives on this machine (the dataset is named by `dataset`)
        "quiet",
        "log_every",
        "save_proxies",  # snapshots are outputs; the grid's snapshot cells equal ablation row 8 otherwise
        "save_embeddings",
        "embedding_samples",
    }
)
#: Settings added after the study tables were made, with their off value. While off, a setting is left out of
#: a cell's identity, so adding it renames no existing cell (a cell's folder name ends in its identity's hash).
OMITTED_WHILE_OFF = {"proxy_optimizer": "adam"}
#: The settings each study varies between its cells; every other setting is the study's (:func:`study_settings`).
#: The ablation's ``weight_lambda`` is 0 in the rows without L^p and the study's λ in the others; each probe
#: changes one of its study's fields (:data:`.design.PROBES`).
CELL_FIELDS = {
    "ablation": frozenset({"seed", "positive_mask", "mask_softmax", "weight_lambda"}),
    "grid": frozenset({"seed", "N", "r"}),
    "probes": frozenset(
        {"seed", "positive_mask", "mask_softmax", "weight_lambda", "N", "centerlr", "proxy_optimizer", "loss_kwargs"}
    ),
}


def _config_dict(config: TrainConfig | dict) -> dict:
    values = config.to_dict() if isinstance(config, TrainConfig) else dict(config)
    # a row written before a setting existed ran with that setting off: fill it with its off value, not with
    # today's default, so that a later change of the default cannot give an old row a new cell's identity
    values = {**{k: v for k, v in OMITTED_WHILE_OFF.items() if k not in values}, **values}
    return config_with_defaults(values)  # other settings added since a row was written keep their defaults


def cell_identity(config: TrainConfig | dict) -> str:
    """A cell's identity: its full configuration (epochs included) as canonical JSON, without :data:`RUN_ONLY`.

    A setting of :data:`OMITTED_WHILE_OFF` at its off value is left out too: the cells made before it existed
    keep their identity (and their folders and table rows).
    """
    values = _config_dict(config)
    kept = {
        k: v
        for k, v in values.items()
        if k not in RUN_ONLY and not (k in OMITTED_WHILE_OFF and v == OMITTED_WHILE_OFF[k])
    }
    return json.dumps(kept, sort_keys=True)


def recorded_config(config: TrainConfig | dict) -> dict:
    """A configuration as the study tables record it (their ``config`` column): every setting, except those of
    :data:`OMITTED_WHILE_OFF` at their off value, so that rows gathered now read like the rows made before those
    settings existed (``train --config`` fills them with their defaults)."""
    values = config.to_dict() if isinstance(config, TrainConfig) else dict(config)
    return {k: v for k, v in values.items() if not (k in OMITTED_WHILE_OFF and v == OMITTED_WHILE_OFF[k])}


def cell_id(config: TrainConfig | dict) -> str:
    """12 hex digits of the SHA-256 of :func:`cell_identity`: the suffix of the cell's folder name."""
    return hashlib.sha256(cell_identity(config).encode("utf-8")).hexdigest()[:12]


def study_settings(config: TrainConfig | dict, study: str) -> dict:
    """The settings shared by every cell of ``study``'s table: the identity without ``CELL_FIELDS[study]``.

    The ablation's λ (``weight_lambda`` of its rows with L^p) is one more shared setting, which
    :func:`.row_checks.study_lambda` reads.
    """
    identity = json.loads(cell_identity(config))
    return {k: v for k, v in identity.items() if k not in CELL_FIELDS[study]}
