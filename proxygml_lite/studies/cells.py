"""Study cells: what a cell is, what makes two cells the same, and running one cell in its own folder.

A cell is one training run of a study: an ablation row, an ``(N, r)`` grid
point or a probe (:data:`PROBES`), at one seed. Its identity is its full
training configuration (:func:`cell_identity`, epochs included); only the
settings that say where and how results are written, not what is computed,
are left out (:data:`RUN_ONLY`), and so are settings added later while
they are off (:data:`OMITTED_WHILE_OFF`). The cell's folder name ends in a hash of that
identity (:func:`cell_id`), so a changed configuration can never find, reuse
or overwrite another configuration's run. One process at a time trains a
cell: training holds the run folder's lock
(:func:`proxygml_lite.fileio.exclusive_lock`), so a second process on the
same cell stops with an error naming the holder.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..steps import subgraph_size
from ..training.config import TrainConfig
from ..training.config_io import config_with_defaults
from ..training.run_folder import RESUMABLE_CHANGES, read_results_file
from ..training.trainer import train

__all__ = [
    "ABLATION_ROWS",
    "GRID_N",
    "GRID_R",
    "SEEDS",
    "SNAPSHOT_SEEDS",
    "RUN_ONLY",
    "OMITTED_WHILE_OFF",
    "CELL_FIELDS",
    "Probe",
    "PROBES",
    "Cell",
    "ablation_config",
    "probe_configs",
    "cell_identity",
    "cell_id",
    "recorded_config",
    "study_settings",
    "study_lambda",
    "row_problem",
    "INTEGER_KEYS",
    "whole_number",
    "whole_numbers",
    "grid_k_problem",
    "study_cells",
    "run_cell",
    "read_results",
]

#: The paper's ablation table, rows 1-8: (row, S^pos, M, L^p).
ABLATION_ROWS: tuple[tuple[int, bool, bool, bool], ...] = (
    (1, False, False, False),
    (2, True, False, False),
    (3, False, True, False),
    (4, False, False, True),
    (5, False, True, True),
    (6, True, False, True),
    (7, True, True, False),
    (8, True, True, True),
)
#: Seeds of every study cell (five, so that differences can be tested; issue 19).
SEEDS = (0, 1, 2, 3, 4)
#: The N x r grid: N in GRID_N (proxies per class) x r in GRID_R (subgraph scale, k = ceil(r C N)).
GRID_N = (1, 2, 4, 8, 12)
GRID_R = (0.05, 0.15, 0.6)
#: Seeds of the grid cells r = GRID_R[0] that keep proxy and embedding snapshots (notebook 9's UMAP).
SNAPSHOT_SEEDS = (0, 1, 2)
#: Settings that say where and how a run reports, not what it computes: not part of a cell's identity, and the
#: only settings that may differ between the rows of one study table, on the write side (:func:`study_settings`)
#: and on the read side (:func:`proxygml_lite.lab.study_tables.check_seed_table`). Everything else (``device``,
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
#: changes one of its study's fields (:data:`PROBES`).
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
    :func:`study_lambda` reads.
    """
    identity = json.loads(cell_identity(config))
    return {k: v for k, v in identity.items() if k not in CELL_FIELDS[study]}


def study_lambda(configs: Iterable[TrainConfig | dict]) -> set:
    """The λ values of the ablation rows with L^p among ``configs`` (one value in a consistent table)."""
    values = (c.to_dict() if isinstance(c, TrainConfig) else c for c in configs)
    return {c.get("weight_lambda") for c in values if _setting_number(c.get("weight_lambda")) not in (None, 0.0)}


def _number(value) -> float | None:
    """A table cell ``value`` as a finite float (not a bool; numeric text too, as a CSV column may hold it), else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


#: The identifier columns of the study tables that hold whole numbers (a cell's ``seed``, ablation ``row``, ``N``, ``k``).
INTEGER_KEYS = ("seed", "row", "N", "k")
_DECIMAL = re.compile(r"-?[0-9]+")  # ASCII digits only: Python's int() also takes '٠', '０', ' 1', '+1', '0_0'


def whole_number(value) -> int | None:
    """An integer key (a table's ``seed``/``row``/``N``/``k``, a command line's seed or index) as an int, else None.

    Taken: an integer (not a bool), a float that is whole (a column pandas made float), or text of ASCII decimal
    digits with an optional leading ``-``. Refused, although ``int()`` takes them: ``"0_0"``, ``"+1"``, ``" 1"``,
    ``"1 "``, the Arabic-Indic ``"٠"`` and the full-width ``"０"``, so that one number has one spelling in a table
    (``"00"`` is ``0``: the duplicate checks compare the parsed values).
    """
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return int(value) if math.isfinite(value) and value == int(value) else None
    if isinstance(value, str) and _DECIMAL.fullmatch(value):
        return int(value)
    return None


def whole_numbers(values: Iterable, what: str) -> list[int]:
    """``values`` as ints (:func:`whole_number`); one ValueError naming ``what`` and the first value refused."""
    parsed = []
    for value in values:
        number = whole_number(value)
        if number is None:
            raise ValueError(f"{what} must be whole numbers written in the digits 0-9; got {value!r}")
        parsed.append(number)
    return parsed


def _setting_number(value) -> float | None:
    """A config setting ``value`` as a float when it is a finite JSON number (not a bool, null, text, NaN or inf)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value) if math.isfinite(value) else None


def _shown(value) -> str:
    """A table cell as a message shows it: ``1.5``, ``'abc'``, ``None`` (NumPy's scalars as the Python values they hold)."""
    return repr(value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value)


def _switch(value) -> bool | None:
    """A table's S^pos/M/L^p cell as a bool (True/False, or their text), else None."""
    if isinstance(value, numbers.Integral) and value in (0, 1):  # bool, int, and NumPy's ints (a 1/0 column)
        return bool(value)
    return {"true": True, "false": False}.get(str(value).strip().lower())


def row_problem(columns: dict, config: dict) -> str | None:
    """Why a study table row's identifier columns disagree with its own ``config``; None when they agree.

    ``columns``: the row's ``seed`` and ``row`` (with ``S^pos``, ``M``,
    ``L^p``) or ``N`` and ``r`` values, as read from the file. A row whose
    columns name another cell than its configuration ran would be averaged
    into the wrong cell, or, on the write side, never found again (the cell
    would retrain forever).
    """
    if "seed" in columns:
        seed = whole_number(columns["seed"])
        if seed is None:
            return f"its seed {_shown(columns['seed'])} is not a whole number written in the digits 0-9"
        if seed != config.get("seed"):
            return f"its seed column says {seed} but its config ran seed {config.get('seed')!r}"
    if "row" in columns:
        number = whole_number(columns["row"])
        switches = {row: (s_pos, mask, l_p) for row, s_pos, mask, l_p in ABLATION_ROWS}
        if number not in switches:
            return f"its row {_shown(columns['row'])} is not an ablation row (1-8)"
        lam = _setting_number(config.get("weight_lambda"))
        if lam is None or lam < 0:  # inf, NaN, text or null must not pass as "L^p off"
            return f"its config's weight_lambda {config.get('weight_lambda')!r} is not a number λ >= 0 (0: L^p off)"
        ran = {"S^pos": config.get("positive_mask"), "M": config.get("mask_softmax"), "L^p": lam > 0}
        for name, want in zip(("S^pos", "M", "L^p"), switches[number]):
            if ran[name] is not want:
                return f"row {number} has {name} {'on' if want else 'off'}, but its config ran {name} {ran[name]!r}"
            if name in columns and _switch(columns[name]) is not want:
                return f"its {name} column says {_shown(columns[name])}, but row {number} has {name} {want}"
    for name in ("N", "r"):
        if name in columns:
            value, ran = _number(columns[name]), _setting_number(config.get(name))
            if name == "N" and whole_number(columns[name]) is None:  # 1.0000000001 would be a cell of its own
                return f"its N {_shown(columns[name])} is not a whole number written in the digits 0-9"
            # r: a CSV parser may miss the last bit of a decimal; 1e-12 still keeps apart any two r worth comparing
            if value is None or ran is None or not math.isclose(value, ran, rel_tol=1e-12, abs_tol=0.0):
                return f"its {name} column says {_shown(columns[name])} but its config ran {name} {config.get(name)!r}"
    return None


def _classes_giving(k: int, r: float, n: int) -> tuple[int, int] | None:
    """The class counts ``C`` with ``subgraph_size(r, C, n) == k``, as ``(lowest, highest)``; None when there are none.

    ``k = ceil(r C N)`` never falls as ``C`` grows, so they are one interval, found by bisection.
    """

    def first(target: int) -> int:  # the smallest C >= 1 with subgraph_size(r, C, n) >= target
        low, high = 1, max(2, math.ceil(target / (r * n)) + 2)
        while subgraph_size(r, high, n) < target:
            high *= 2
        while low < high:
            middle = (low + high) // 2
            low, high = (middle + 1, high) if subgraph_size(r, middle, n) < target else (low, middle)
        return low

    lowest = first(k)
    if subgraph_size(r, lowest, n) != k:
        return None
    return lowest, first(k + 1) - 1


def _row_classes(value, config: dict) -> tuple[int, int] | str:
    """The class counts ``C`` (lowest, highest) for which a grid row's ``k`` column ``value`` fits its config; else why not."""
    k = whole_number(value)
    if k is None or k < 1:
        return f"its k {_shown(value)} is not a whole number >= 1 written in the digits 0-9"
    n, r = _setting_number(config.get("N")), _setting_number(config.get("r"))
    if n is None or n != int(n) or n < 1 or r is None or not 0 < r <= 1:
        return f"its config's N {config.get('N')!r} and r {config.get('r')!r} give no k = ceil(r C N)"
    k, n = int(k), int(n)
    if config.get("C") is None:
        classes = _classes_giving(k, r, n)
        return classes or f"its k column says {k}, but no class count C gives k = ceil(r C N) = {k} at N {n}, r {r}"
    c = _setting_number(config["C"])  # a config that names C (-C) fixes it
    if c is None or c != int(c) or c < 1:
        return f"its config's C {config['C']!r} is not a whole number >= 1"
    given = subgraph_size(r, int(c), n)
    return (int(c), int(c)) if given == k else f"its k column says {k} but its config's C {int(c)} gives k = {given}"


def grid_k_problem(rows: Iterable[tuple[object, dict]]) -> tuple[int, str] | None:
    """The first grid row whose ``k`` column disagrees with its config, as ``(position, why)``; None when all agree.

    ``rows``: each row's ``k`` value (as read from the file) and its config.
    ``k = ceil(r C N)`` (:func:`proxygml_lite.steps.subgraph_size`) with the
    config's ``r`` and ``N`` and the class count ``C``: the config's own when
    it records one, else the one ``C`` of the table (its rows share their
    data set), found from the rows' ``k``: the odd row out is the one named.
    """
    rows = list(rows)
    fitting: list[tuple[int, int]] = []
    for position, (value, config) in enumerate(rows):
        classes = _row_classes(value, config)
        if isinstance(classes, str):
            return position, classes
        fitting.append(classes)
    if not fitting:
        return None

    def support(c: int) -> tuple[int, int]:  # rows that fit C = c; on a tie, the C that the first rows fit
        fits = [low <= c <= high for low, high in fitting]
        return sum(fits), fits.index(False) if False in fits else len(fits)

    # the table's C: the one that most rows' k fit (the most-covered point of intervals is one of their lower ends)
    table_c = max(sorted({low for low, _ in fitting}), key=support)
    agreeing = [(low, high) for low, high in fitting if low <= table_c <= high]
    lowest, highest = max(low for low, _ in agreeing), min(high for _, high in agreeing)  # all the C they allow
    for position, ((value, config), (low, high)) in enumerate(zip(rows, fitting)):
        if not low <= table_c <= high:
            n, r = int(config["N"]), config["r"]
            ks = sorted({subgraph_size(r, lowest, n), subgraph_size(r, highest, n)})
            return position, (
                f"its k column says {whole_number(value)}, but the table's other rows fit C = "
                f"{'-'.join(map(str, sorted({lowest, highest})))} classes, for which k = ceil(r C N) = "
                f"{'-'.join(map(str, ks))} at N {n}, r {r}"
            )
    return None


def ablation_config(base_config: TrainConfig, row: int, weight_lambda: float | None = None) -> TrainConfig:
    """The configuration of ablation row ``row`` (1-8): ``S^pos``, ``M`` and ``L^p`` switched as in the paper.

    ``weight_lambda`` is the ``lambda`` of rows with ``L^p`` on (default:
    ``base_config.weight_lambda``, or the paper's 0.3 if that is 0).
    """
    switches = {number: (s_pos, mask, l_p) for number, s_pos, mask, l_p in ABLATION_ROWS}
    if row not in switches:
        raise ValueError(f"ablation rows are numbered 1-8 as in the paper; got {row!r}")
    lam = weight_lambda if weight_lambda is not None else (base_config.weight_lambda or 0.3)
    s_pos, mask, l_p = switches[row]
    return base_config.replace(positive_mask=s_pos, mask_softmax=mask, weight_lambda=lam if l_p else 0.0)


# ------------------------------------------------------------------ the probes
# Each change takes the configuration of its base probe and the study's λ; the first line of its docstring is
# the table's ``change`` column, the rest says what the probe tests.
def _full_proxygml(config: TrainConfig, lam: float) -> TrainConfig:
    """full ProxyGML (ablation row 8 = grid N = 12, r = 0.05)

    The base of the merging probes (notebook 9: a class's N proxies merge by epoch 2-5). Its cells are the
    ablation's row 8 and the grid's N = 12, r = 0.05 cells: one run serves the three studies.
    """
    return ablation_config(config, 8, lam)


def _unit_init(config: TrainConfig, lam: float) -> TrainConfig:
    """unit-norm proxy initialisation (loss_kwargs proxy_init = unit)

    The official draw gives each proxy a norm of about 0.13 (d = 64, C N = 1200), and one Adam epoch at
    centerlr 0.03 takes it to about 0.67: the first steps dwarf the initial proxies. The same draw at norm 1 keeps
    every direction (S and L^p use normalised proxies, so the first step's loss is unchanged) and makes those
    steps small relative to the proxies. If the merging comes from those first steps, the proxies stay apart here.
    """
    return config.replace(loss_kwargs={**config.loss_kwargs, "proxy_init": "unit"})


def _proxy_lr_div10(config: TrainConfig, lam: float) -> TrainConfig:
    """proxy lr / 10 (centerlr)

    Ten times smaller steps for the proxies only; the model's learning rate is unchanged (notebook 10's probe
    lowered both at once). Tests whether the proxies' step size, not the model's, drives the change.
    """
    return config.replace(centerlr=config.centerlr / 10)


def _proxy_sgd(config: TrainConfig, lam: float) -> TrainConfig:
    """SGD for the proxies (momentum 0.9, same lr and weight decay; the model keeps Adam)

    Adam (ε = 0.01) steps each coordinate by lr m / (sqrt(v) + ε): about lr when its gradient g exceeds ε, about
    lr g / ε when g is much smaller. SGD with momentum 0.9 (Adam's β1,
    :data:`proxygml_lite.training.step.PROXY_SGD_MOMENTUM`) steps about 10 lr g once its momentum is built up:
    the step follows the gradient, without Adam's per-coordinate normalisation. At the same lr it is also the
    smaller step wherever |g| < 0.1 (the probe proxy lr / 10 tests the step size alone). Tests whether Adam's
    normalised steps drive the merging.
    """
    return config.replace(proxy_optimizer="sgd")


def _lambda_0(config: TrainConfig, lam: float) -> TrainConfig:
    """λ = 0, L^p off (ablation row 7)

    L^p is the one term on the proxies alone: it classifies each proxy by the summed proxies of each class, which
    rewards a class's proxies for pointing the same way and other classes' for pointing elsewhere. Do the
    proxies merge without it? Row 7 is also the base of notebook 10's collapse probes.
    """
    return config.replace(weight_lambda=0.0)


def _mask_off(config: TrainConfig, lam: float) -> TrainConfig:
    """M off, a plain softmax over all classes (ablation row 2)

    Row 2, the other row with S^pos and without L^p (notebook 10's collapse), probed too: it is row 7 without
    the mask M, and its probes mirror row 7's.
    """
    return config.replace(mask_softmax=False)


def _one_proxy(config: TrainConfig, lam: float) -> TrainConfig:
    """N = 1 (r unchanged, so k = ceil(r C N) follows N: 60 -> 5 at C = 100, r = 0.05)

    With S^pos all N own-class proxies are in every subgraph, so the own-class vote Z_{i,y_i} can reach N while
    each other proxy adds at most 1: L^s can become small without the classes coming apart (notebook 10's
    hypothesis). With N = 1 the own vote is at most 1. Notebook 10's probe also raised r to 0.6 (to keep
    k = 60); here only N is set, and k is what r and N give.
    """
    return config.replace(N=1)


def _lp_on(config: TrainConfig, lam: float) -> TrainConfig:
    """L^p on at the study's λ (ablation row 6)

    Row 2's missing component: does L^p keep the proxies of different classes apart (the between-class proxy
    cosine) and row 2 off its plateau?
    """
    return config.replace(weight_lambda=lam)


@dataclass(frozen=True)
class Probe:
    """One probe: ``name``, the probe whose configuration it changes (``base``; None for the root) and ``change``.

    ``change(base_config, λ)`` returns the probe's configuration; it changes one setting of ``base``.
    """

    name: str
    base: str | None
    change: Callable[[TrainConfig, float], TrainConfig]

    @property
    def description(self) -> str:
        """What the probe changes, in words: the first line of its change's docstring (the ``change`` column)."""
        return (self.change.__doc__ or "").strip().splitlines()[0]


#: The study ``probes``: one setting changed at a time against a named base, 5 seeds each (issue 17, item 4).
#: Why do a class's proxies merge? Against full ProxyGML (row 8): unit-norm initialisation, proxy lr / 10, SGD for
#: the proxies, λ = 0 (= row 7). Why do rows 7 and 2 collapse (notebook 10's probes, one change each)? Row 7 with
#: proxy lr / 10 and with N = 1; row 2 (row 7 without M), with N = 1 and with L^p (= row 6). The rows 8, 7, 2 and 6
#: are ablation cells (run once for both studies); every probe keeps its proxies after each epoch (``save_proxies``).
PROBES: tuple[Probe, ...] = (
    Probe("row8", None, _full_proxygml),
    Probe("row8_unit_init", "row8", _unit_init),
    Probe("row8_proxy_lr_div10", "row8", _proxy_lr_div10),
    Probe("row8_proxy_sgd", "row8", _proxy_sgd),
    Probe("row7", "row8", _lambda_0),
    Probe("row7_proxy_lr_div10", "row7", _proxy_lr_div10),
    Probe("row7_N1", "row7", _one_proxy),
    Probe("row2", "row7", _mask_off),
    Probe("row2_N1", "row2", _one_proxy),
    Probe("row6", "row2", _lp_on),
)


def probe_configs(base_config: TrainConfig, weight_lambda: float | None = None) -> dict[str, TrainConfig]:
    """``{probe name: configuration}`` of :data:`PROBES` on top of ``base_config`` (seed and save flags as given).

    ``weight_lambda``: the λ of the configurations with L^p (default: ``base_config.weight_lambda``, or the
    paper's 0.3 if that is 0), as in :func:`ablation_config`.
    """
    lam = weight_lambda if weight_lambda is not None else (base_config.weight_lambda or 0.3)
    configs: dict[str, TrainConfig] = {}
    for probe in PROBES:
        configs[probe.name] = probe.change(base_config if probe.base is None else configs[probe.base], lam)
    return configs


@dataclass
class Cell:
    """One cell of a study: ``study`` (ablation/grid/probes), its identifiers ``ids``, ``seed``, ``config``, ``name``."""

    study: str
    ids: dict
    seed: int
    config: TrainConfig
    name: str

    @property
    def label(self) -> str:
        """``<study>/<name>``, e.g. ``ablation/row8_s0``: what ``--cell`` takes."""
        return f"{self.study}/{self.name}"

    @property
    def id(self) -> str:
        return cell_id(self.config)

    def folder(self, runs: str | Path) -> Path:
        """The cell's run folder in ``runs``: an existing folder of the same identity, else ``<name>-<id>``.

        A cell shared by two studies (grid ``N = 12, r = 0.05`` is ablation
        row 8) has one folder, whichever study named it first.
        """
        runs = Path(runs)
        found = sorted(runs.glob(f"*-{self.id}")) if runs.is_dir() else []
        return found[0] if found else runs / f"{self.name}-{self.id}"


def study_cells(
    base: TrainConfig,
    studies: Iterable[str] = ("grid", "ablation"),
    seeds: Iterable[int] = SEEDS,
    *,
    grid_N: Iterable[int] | None = None,
    grid_r: Iterable[float] | None = None,
    rows: Iterable[int] | None = None,
) -> list[Cell]:
    """Every training cell of ``studies`` on top of ``base``: grid, ablation, probes; the order of ``--list``.

    The grid's cells ``r = grid_r[0]`` at :data:`SNAPSHOT_SEEDS` keep proxy
    and embedding snapshots, every probe keeps proxy snapshots, and so does any
    cell of the same identity (one run, one folder, for all its studies).
    """
    if base.loss != "proxygml":
        raise ValueError(f"the studies are about ProxyGML; the configuration's loss is {base.loss!r}. Use proxygml")
    studies, seeds = list(studies), whole_numbers(seeds, "seeds")
    unknown = sorted(set(studies) - set(CELL_FIELDS))
    if unknown:
        raise ValueError(f"unknown studies {unknown}; the training studies are {', '.join(CELL_FIELDS)}")
    if not seeds:
        raise ValueError("give at least one seed, e.g. --seeds 0 1 2 3 4")
    grid_N = whole_numbers(GRID_N if grid_N is None else grid_N, "the grid's N values")
    grid_r = [float(r) for r in (GRID_R if grid_r is None else grid_r)]
    rows = whole_numbers([r[0] for r in ABLATION_ROWS] if rows is None else rows, "ablation rows")
    bad_rows = [r for r in rows if r not in range(1, 9)]
    if bad_rows:
        raise ValueError(f"ablation rows are numbered 1-8 as in the paper; got {bad_rows}")
    cells: list[Cell] = []
    if "grid" in studies:
        if not grid_N or not grid_r:
            raise ValueError("the grid needs at least one N and one r, e.g. --N-values 1 4 12 --r-values 0.05")
        for n in grid_N:
            for r in grid_r:
                for seed in seeds:
                    snap = r == grid_r[0] and seed in SNAPSHOT_SEEDS
                    config = base.replace(N=n, r=r, seed=seed, save_proxies=snap, save_embeddings=snap)
                    k = math.ceil(r * 100 * n)  # C = 100 training classes in the glyph presets; gather uses the run's C
                    cells.append(Cell("grid", {"N": n, "r": r, "k": k}, seed, config, f"N{n}_r{r:g}_s{seed}"))
    if "ablation" in studies:
        for number, s_pos, mask, l_p in ABLATION_ROWS:
            if number not in rows:
                continue
            for seed in seeds:
                config = ablation_config(base, number).replace(seed=seed)
                ids = {"row": number, "S^pos": s_pos, "M": mask, "L^p": l_p}
                cells.append(Cell("ablation", ids, seed, config, f"row{number}_s{seed}"))
    if "probes" in studies:
        configs = probe_configs(base)
        for probe in PROBES:
            for seed in seeds:
                config = configs[probe.name].replace(seed=seed, save_proxies=True)
                ids = {"probe": probe.name, "base": probe.base, "change": probe.description}
                cells.append(Cell("probes", ids, seed, config, f"{probe.name}_s{seed}"))
    # per identity: (proxies, embeddings) kept by any of its cells; a grid snapshot cell keeps both whichever
    # study trains it (the probes' and the ablation's row 8 is the grid's N = 12, r = 0.05)
    snapshot_seeds = [seed for seed in seeds if seed in SNAPSHOT_SEEDS]
    snapshots = (
        {cell_id(base.replace(N=n, r=grid_r[0], seed=s)) for n in grid_N for s in snapshot_seeds} if grid_r else set()
    )
    saving: dict[str, tuple[bool, bool]] = dict.fromkeys(snapshots, (True, True))
    for cell in cells:
        proxies, embeddings = saving.get(cell.id, (False, False))
        saving[cell.id] = (proxies or cell.config.save_proxies, embeddings or cell.config.save_embeddings)
    for cell in cells:
        if saving[cell.id] != (cell.config.save_proxies, cell.config.save_embeddings):
            cell.config = cell.config.replace(save_proxies=saving[cell.id][0], save_embeddings=saving[cell.id][1])
    return cells


def read_results(folder: str | Path) -> dict | None:
    """A finished run's ``results.json`` as a dict (:func:`~proxygml_lite.training.run_folder.read_results_file`:
    a damaged one is one ValueError naming it), or None when the run has not finished."""
    path = Path(folder) / "results.json"
    if not path.is_file():
        return None
    return read_results_file(path)


def _finished(cell_dir: Path, config: TrainConfig) -> dict | None:
    """The finished run in ``cell_dir``, None if unfinished; ValueError if it was run with other settings."""
    results = read_results(cell_dir)
    if results is None:
        return None
    saved, wanted = config_with_defaults(results["config"]), config.to_dict()
    differing = sorted(
        k for k in set(saved) | set(wanted) if k not in RESUMABLE_CHANGES and saved.get(k) != wanted.get(k)
    )
    if differing:
        raise ValueError(
            f"study cell {cell_dir} was run with other settings ({', '.join(differing)} differ); "
            "use a new out_dir for a study with different settings, or delete that cell's folder"
        )
    if results["epochs"] != config.epochs:
        return None  # a different number of epochs: resume / extend the run
    return results


def run_cell(config: TrainConfig, cell_dir: str | Path) -> tuple[dict, bool]:
    """Run (or read back, or resume) one cell in ``cell_dir``; returns ``(results.json dict, cached)``.

    Training locks the cell's folder: a second process on the same cell stops
    with :class:`~proxygml_lite.fileio.FolderLockedError` naming the holder.
    """
    cell_dir = Path(cell_dir)
    config = config.replace(out=str(cell_dir), resume=True)
    results = _finished(cell_dir, config)
    if results is not None:
        return results, True
    train(config)
    return read_results(cell_dir), False
