"""Making the committed study tables of notebooks 8-11 (``results/<preset>/``); reading them: :mod:`.study_tables`.

``make studies`` (:func:`make_studies`) trains every cell of two studies on the
``glyphs_hard`` preset, each with the seeds :data:`SEEDS`, and measures the
loss layers' cost:

* ``ablation.csv``: the paper's ablation, rows 1-8 (``S^pos``, ``M``, ``L^p``
  on/off; :data:`proxygml_lite.studies.ABLATION_ROWS`);
* ``grid.csv``: ``N`` x ``r`` (:data:`GRID_N` x :data:`GRID_R`). With
  ``C = 100``, ``k = ceil(r C N)`` is 60 for ``(N, r) = (1, 0.6), (4, 0.15),
  (12, 0.05)``: ``N`` compared at the same number of kept proxies ``k``;
* ``efficiency.csv``: forward + backward time and memory of the loss layer
  alone per iteration against ``C`` (:data:`EFFICIENCY_SERIES`,
  :data:`EFFICIENCY_CLASSES`), measured on this machine;
* ``snapshots/N<N>_r0.05_s0.npz``: proxies and sample embeddings of the grid
  cells ``r = 0.05``, seed 0, at :data:`SNAPSHOT_EPOCHS` (notebook 9's UMAP).

Every study row holds the cell's identifiers (``row`` or ``N``/``r``/``k``),
``seed``, the final metrics (``R@1``, ``NMI``, ... as fractions), the untrained
model's ``R@1``/``NMI`` and the cell's full training configuration as JSON in
``config``: ``python -m proxygml_lite.train --config FILE`` re-runs it (``FILE``
holding that JSON). Work resumes cell by cell: a cell whose configuration is
already in the table is read back; a cell with a finished run folder is read
from it; an interrupted run resumes from its checkpoint. Cells train in
``workers`` processes at once, each on one torch thread (the preset's
``threads = 1``), so a cell's numbers do not depend on how many ran beside it.

From the command line::

    python -m proxygml_lite.study_runs                      # everything (make studies)
    python -m proxygml_lite.study_runs --studies grid --workers 1
"""

from __future__ import annotations

import json
import math
import multiprocessing
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..fileio import atomic_write_csv, read_csv
from ..lab.study_tables import results_dir
from ..training.config import TrainConfig
from ..training.presets import config_from_preset
from .efficiency import (
    EFFICIENCY_CLASSES,
    EFFICIENCY_COLUMNS,
    EFFICIENCY_MEMORY_LIMIT,
    EFFICIENCY_SERIES,
    measure_efficiency,
)
from .snapshots import SNAPSHOT_EPOCHS, export_snapshots, read_snapshot_npz

__all__ = [
    "EFFICIENCY_CLASSES",
    "EFFICIENCY_COLUMNS",
    "EFFICIENCY_MEMORY_LIMIT",
    "EFFICIENCY_SERIES",
    "GRID_N",
    "GRID_R",
    "SEEDS",
    "SNAPSHOT_EPOCHS",
    "STUDY_COLUMNS",
    "identity",
    "load_table",
    "export_snapshots",
    "main",
    "make_studies",
    "measure_efficiency",
    "read_snapshot_npz",
    "study_cells",
]

SEEDS = (0, 1, 2)
GRID_N = (1, 4, 12)
GRID_R = (0.05, 0.15, 0.6)
_METRICS = [
    "R@1",
    "R@2",
    "R@4",
    "R@8",
    "NMI",
    "untrained R@1",
    "untrained NMI",
    "elapsed_s",
    "config",
]
STUDY_COLUMNS = {
    "ablation": ["row", "S^pos", "M", "L^p", "seed", *_METRICS],
    "grid": ["N", "r", "k", "seed", *_METRICS],
}


def load_table(study: str, preset: str = "glyphs_hard", folder: str | Path | None = None) -> pd.DataFrame:
    """The committed table ``results/<preset>/<study>.csv`` (``study``: ablation, grid or efficiency)."""
    if study not in ("ablation", "grid", "efficiency"):
        raise ValueError(f"study must be 'ablation', 'grid' or 'efficiency'; got {study!r}")
    path = Path(folder) / f"{study}.csv" if folder is not None else results_dir(preset) / f"{study}.csv"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist; make it with `make studies` (python -m proxygml_lite.study_runs)"
        )
    return read_csv(path)


def identity(config: TrainConfig | dict) -> str:
    """What makes two runs the same run: every setting except those a resumed run may change."""
    from ..training.run_folder import RESUMABLE_CHANGES

    values = config.to_dict() if isinstance(config, TrainConfig) else dict(config)
    values = TrainConfig.from_dict(values).to_dict()  # fills fields added since the config was saved
    return json.dumps({k: v for k, v in values.items() if k not in RESUMABLE_CHANGES}, sort_keys=True)


@dataclass
class Cell:
    study: str
    ids: dict
    seed: int
    config: TrainConfig
    name: str


def study_cells(
    preset: str = "glyphs_hard",
    studies: Iterable[str] = ("ablation", "grid"),
    seeds: Iterable[int] = SEEDS,
    **overrides,
) -> list[Cell]:
    """Every training cell of the studies, grid first (its ``r = 0.05``, seed-0 cells keep snapshots)."""
    from ..studies import ABLATION_ROWS, ablation_config

    values = dict(overrides)
    dataset = values.pop("dataset", None)  # a preset's recipe on other data (tests: a tiny folder)
    base = config_from_preset(preset, quiet=True, **values)
    if dataset is not None:
        base = base.replace(dataset=dataset)
    seeds = [int(s) for s in seeds]
    cells: list[Cell] = []
    if "grid" in studies:
        for n in GRID_N:
            for r in GRID_R:
                for seed in seeds:
                    snap = r == GRID_R[0] and seed == seeds[0]
                    config = base.replace(N=n, r=r, seed=seed, save_proxies=snap, save_embeddings=snap)
                    k = math.ceil(r * 100 * n)  # C = 100 training classes in the glyph presets
                    cells.append(
                        Cell(
                            "grid",
                            {"N": n, "r": r, "k": k},
                            seed,
                            config,
                            f"N{n}_r{r:g}_s{seed}",
                        )
                    )
    if "ablation" in studies:
        for number, s_pos, mask, l_p in ABLATION_ROWS:
            for seed in seeds:
                config = ablation_config(base, number).replace(seed=seed)
                cells.append(
                    Cell(
                        "ablation",
                        {"row": number, "S^pos": s_pos, "M": mask, "L^p": l_p},
                        seed,
                        config,
                        f"row{number}_s{seed}",
                    )
                )
    return cells


def _priority(cell: Cell) -> int:
    """Training order: the grid's first ``r`` (ablation row 8, the snapshots), the ablation, the grid, its last r."""
    if cell.study == "grid":
        if cell.ids["r"] == GRID_R[0]:
            return 0
        return 2 if cell.ids["r"] != GRID_R[-1] or cell.ids["N"] == GRID_N[0] else 3
    return 1


def _train_cell(config: dict, run_dir: str) -> dict:
    """Worker: train (or read back / resume) one cell; returns its results.json dict."""
    from ..studies import run_cell

    results, _ = run_cell(TrainConfig.from_dict(config), run_dir)
    return results


def _row(cell: Cell, results: dict) -> dict:
    untrained = results.get("untrained_metrics") or {}
    config = {**cell.config.to_dict(), "out": None, "resume": False}
    if results.get("num_classes") and "k" in cell.ids:
        cell.ids["k"] = math.ceil(cell.ids["r"] * results["num_classes"] * cell.ids["N"])
    return {
        **cell.ids,
        "seed": cell.seed,
        **results["metrics"],
        "untrained R@1": untrained.get("R@1"),
        "untrained NMI": untrained.get("NMI"),
        "elapsed_s": results.get("elapsed_s"),
        "config": json.dumps(config, sort_keys=True),
    }


def _read_back(path: Path) -> dict[str, dict]:
    """Rows of an existing table, by the identity of their config."""
    if not path.exists():
        return {}
    table = read_csv(path)
    if "config" not in table.columns:
        return {}
    rows = {}
    for index, row in table.iterrows():
        try:
            config = json.loads(row["config"])
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"the config of line {index + 2} of {path} is not JSON ({type(exc).__name__}: {exc}); restore the "
                "table (e.g. `git checkout -- FILE`) or delete that row to rerun its cell"
            ) from None
        rows[identity(config)] = row.to_dict()
    return rows


def _write_table(path: Path, study: str, rows: list[dict]) -> None:
    atomic_write_csv(path, rows, STUDY_COLUMNS[study])


def make_studies(
    preset: str = "glyphs_hard",
    studies: Iterable[str] = ("ablation", "grid", "efficiency"),
    seeds: Iterable[int] = SEEDS,
    workers: int = 2,
    results: str | Path | None = None,
    runs: str | Path | None = None,
    progress: bool = True,
    **overrides,
) -> dict[str, pd.DataFrame]:
    """Make (or complete) the study tables; returns ``{study: DataFrame}``.

    Args:
        preset: the training preset of every cell (``glyphs_hard``).
        studies: any of ``"ablation"``, ``"grid"``, ``"efficiency"``.
        seeds: seeds of every training cell (at least 3 for the committed tables).
        workers: cells trained at the same time (separate processes).
        results: folder of the tables (default ``results/<preset>``).
        runs: folder of the run folders (default ``runs/studies/<preset>``).
        progress: a progress bar over the cells.
        **overrides: TrainConfig settings on top of the preset (e.g. ``epochs=2`` for a quick check).
    """
    from tqdm.auto import tqdm

    studies = tuple(studies)
    unknown = sorted(set(studies) - {"ablation", "grid", "efficiency"})
    if unknown:
        raise ValueError(f"unknown studies {unknown}; choose from ablation, grid, efficiency")
    out = Path(results) if results is not None else results_dir(preset)
    runs = Path(runs) if runs is not None else Path("runs") / "studies" / preset
    out.mkdir(parents=True, exist_ok=True)
    tables: dict[str, pd.DataFrame] = {}
    cells = study_cells(preset, [s for s in studies if s != "efficiency"], seeds, **overrides)
    done: dict[str, dict] = {}  # identity -> results (or a table row read back)
    known = {study: _read_back(out / f"{study}.csv") for study in STUDY_COLUMNS if study in studies}
    rows: dict[int, dict] = {}
    todo: dict[str, tuple[dict, str]] = {}  # identity -> (config dict, run dir); first cell wins
    for i, cell in sorted(enumerate(cells), key=lambda item: _priority(item[1])):
        key = identity(cell.config)
        for table_rows in known.values():
            if key in table_rows:
                rows[i] = {**table_rows[key], **cell.ids, "seed": cell.seed}
                break
        else:
            todo.setdefault(key, (cell.config.to_dict(), str(runs / cell.name)))

    def flush() -> None:
        for study in STUDY_COLUMNS:
            if study in studies:
                _write_table(
                    out / f"{study}.csv",
                    study,
                    [rows[i] for i in sorted(rows) if cells[i].study == study],
                )

    def finish(key: str, results_json: dict) -> None:
        done[key] = results_json
        for i, cell in enumerate(cells):
            if i not in rows and identity(cell.config) == key:
                rows[i] = _row(cell, results_json)
        flush()

    bar = tqdm(
        total=len(cells),
        initial=len(rows),
        desc="study cells",
        disable=not progress,
        dynamic_ncols=True,
    )
    started = time.perf_counter()
    if workers <= 1:
        for key, (config, run_dir) in todo.items():
            before = len(rows)
            finish(key, _train_cell(config, run_dir))
            bar.update(len(rows) - before)
    elif todo:
        context = multiprocessing.get_context("spawn")  # no fork after torch started its thread pools
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            pending = {pool.submit(_train_cell, config, run_dir): key for key, (config, run_dir) in todo.items()}
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    key = pending.pop(future)
                    before = len(rows)
                    finish(key, future.result())
                    bar.update(len(rows) - before)
    bar.close()
    flush()
    if todo and progress:
        print(f"trained {len(todo)} cells in {time.perf_counter() - started:.0f} s with {workers} worker(s)")
    if "grid" in studies:
        export_snapshots(
            [c for c in cells if c.study == "grid" and c.config.save_embeddings],
            runs,
            out,
        )
    for study in STUDY_COLUMNS:
        if study in studies:
            tables[study] = load_table(study, folder=out)
    if "efficiency" in studies:
        tables["efficiency"] = measure_efficiency(out / "efficiency.csv", progress=progress)
    return tables


def main(argv: list[str] | None = None) -> int:
    """``python -m proxygml_lite.study_runs`` (see :mod:`proxygml_lite.study_runs.__main__`)."""
    from .__main__ import main as cli

    return cli(argv)
