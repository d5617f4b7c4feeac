"""Study cells: what a cell is, what makes two cells the same, and running one cell in its own folder.

A cell is one training run of a study: an ablation row or an ``(N, r)`` grid
point, at one seed. Its identity is its full training configuration
(:func:`cell_identity`, epochs included); only the settings that say where
and how results are written, not what is computed, are left out
(:data:`RUN_ONLY`). The cell's folder name ends in a hash of that
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
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..steps import subgraph_size
from ..training.config import TrainConfig
from ..training.run_folder import RESUMABLE_CHANGES
from ..training.trainer import train

__all__ = [
    "ABLATION_ROWS",
    "GRID_N",
    "GRID_R",
    "SEEDS",
    "SNAPSHOT_SEEDS",
    "RUN_ONLY",
    "CELL_FIELDS",
    "Cell",
    "ablation_config",
    "cell_identity",
    "cell_id",
    "study_settings",
    "study_lambda",
    "row_problem",
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
#: The settings each study varies between its cells; every other setting is the study's (:func:`study_settings`).
#: The ablation's ``weight_lambda`` is 0 in the rows without L^p and the study's λ in the others.
CELL_FIELDS = {
    "ablation": frozenset({"seed", "positive_mask", "mask_softmax", "weight_lambda"}),
    "grid": frozenset({"seed", "N", "r"}),
}


def _config_dict(config: TrainConfig | dict) -> dict:
    values = config.to_dict() if isinstance(config, TrainConfig) else dict(config)
    return TrainConfig.with_defaults(values)  # settings added since a row was written keep their defaults


def cell_identity(config: TrainConfig | dict) -> str:
    """A cell's identity: its full configuration (epochs included) as canonical JSON, without :data:`RUN_ONLY`."""
    values = _config_dict(config)
    return json.dumps({k: v for k, v in values.items() if k not in RUN_ONLY}, sort_keys=True)


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
        seed = _number(columns["seed"])
        if seed is None or seed != int(seed):
            return f"its seed {_shown(columns['seed'])} is not a whole number"
        if int(seed) != config.get("seed"):
            return f"its seed column says {int(seed)} but its config ran seed {config.get('seed')!r}"
    if "row" in columns:
        number = _number(columns["row"])
        switches = {row: (s_pos, mask, l_p) for row, s_pos, mask, l_p in ABLATION_ROWS}
        if number not in switches:
            return f"its row {_shown(columns['row'])} is not an ablation row (1-8)"
        number = int(number)
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
            if name == "N" and value is not None and value != int(value):  # 1.0000000001 would be a cell of its own
                return f"its N {_shown(columns[name])} is not a whole number"
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
    k = _number(value)
    if k is None or k != int(k) or k < 1:
        return f"its k {_shown(value)} is not a whole number >= 1"
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
                f"its k column says {int(_number(value))}, but the table's other rows fit C = "
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


@dataclass
class Cell:
    """One cell of a study: ``study`` (ablation/grid), its identifiers ``ids``, ``seed``, ``config`` and ``name``."""

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
    """Every training cell of ``studies`` on top of ``base``, grid first; the order of ``--list`` and ``--cell``.

    The grid's cells ``r = grid_r[0]`` at :data:`SNAPSHOT_SEEDS` keep proxy
    and embedding snapshots (so does any cell of the same identity).
    """
    if base.loss != "proxygml":
        raise ValueError(f"the studies are about ProxyGML; the configuration's loss is {base.loss!r}. Use proxygml")
    studies, seeds = list(studies), [int(s) for s in seeds]
    unknown = sorted(set(studies) - {"grid", "ablation"})
    if unknown:
        raise ValueError(f"unknown studies {unknown}; the training studies are grid and ablation")
    if not seeds:
        raise ValueError("give at least one seed, e.g. --seeds 0 1 2 3 4")
    grid_N = [int(n) for n in (GRID_N if grid_N is None else grid_N)]
    grid_r = [float(r) for r in (GRID_R if grid_r is None else grid_r)]
    rows = [int(r) for r in ([r[0] for r in ABLATION_ROWS] if rows is None else rows)]
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
    saving = {c.id for c in cells if c.config.save_embeddings}
    for cell in cells:
        if cell.id in saving and not cell.config.save_embeddings:
            cell.config = cell.config.replace(save_proxies=True, save_embeddings=True)
    return cells


def read_results(folder: str | Path) -> dict | None:
    """A finished run's ``results.json`` as a dict, or None when the run has not finished."""
    path = Path(folder) / "results.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(
            f"{path} is not a readable results file ({exc}); delete that cell folder to retrain it"
        ) from None


def _finished(cell_dir: Path, config: TrainConfig) -> dict | None:
    """The finished run in ``cell_dir``, None if unfinished; ValueError if it was run with other settings."""
    results = read_results(cell_dir)
    if results is None:
        return None
    saved, wanted = TrainConfig.with_defaults(results.get("config", {})), config.to_dict()
    differing = sorted(
        k for k in set(saved) | set(wanted) if k not in RESUMABLE_CHANGES and saved.get(k) != wanted.get(k)
    )
    if differing:
        raise ValueError(
            f"study cell {cell_dir} was run with other settings ({', '.join(differing)} differ); "
            "use a new out_dir for a study with different settings, or delete that cell's folder"
        )
    if results.get("epochs") != config.epochs:
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
