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

import argparse
import json
import math
import multiprocessing
import resource
import sys
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .config import TrainConfig, config_from_preset
from .fileio import atomic_write, atomic_write_csv
from .study_tables import results_dir

__all__ = [
    "EFFICIENCY_CLASSES",
    "EFFICIENCY_SERIES",
    "GRID_N",
    "GRID_R",
    "SEEDS",
    "SNAPSHOT_EPOCHS",
    "STUDY_COLUMNS",
    "identity",
    "load_table",
    "main",
    "make_studies",
    "measure_efficiency",
    "read_snapshot_npz",
    "study_cells",
]

SEEDS = (0, 1, 2)
GRID_N = (1, 4, 12)
GRID_R = (0.05, 0.15, 0.6)
#: Numbers of classes of the efficiency table (11,318 = SOP's C).
EFFICIENCY_CLASSES = (100, 300, 1000, 3000, 11318)
#: series name -> (loss, keyword arguments). ProxyGML in the CUB/Cars setting and in the SOP setting.
EFFICIENCY_SERIES: dict[str, tuple[str, dict]] = {
    "ProxyGML N=12 λ=0.3": (
        "proxygml",
        {"proxies_per_class": 12, "r": 0.05, "weight_lambda": 0.3},
    ),
    "ProxyGML N=1 λ=0": (
        "proxygml",
        {"proxies_per_class": 1, "r": 0.05, "weight_lambda": 0.0},
    ),
    "SoftTriple": ("softtriple", {}),
    "ProxyNCA": ("proxynca", {}),
    "Proxy-Anchor": ("proxyanchor", {}),
}
#: Largest working memory (bytes) one efficiency measurement may need; larger ones are left out of the table.
EFFICIENCY_MEMORY_LIMIT = 4 * 2**30
#: Epochs kept in the committed snapshot files (all epochs stay in the run folders).
SNAPSHOT_EPOCHS = (0, 1, 2, 3, 5, 10, 20, 30, 40, 50)

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
EFFICIENCY_COLUMNS = [
    "series",
    "loss",
    "N",
    "weight_lambda",
    "num_classes",
    "batch_size",
    "dim",
    "loss_parameters",
    "time_ms",
    "time_ms_min",
    "saved_tensors_mb",
    "peak_rss_mb",
    "device",
    "threads",
]


def load_table(
    study: str, preset: str = "glyphs_hard", folder: str | Path | None = None
) -> pd.DataFrame:
    """The committed table ``results/<preset>/<study>.csv`` (``study``: ablation, grid or efficiency)."""
    if study not in ("ablation", "grid", "efficiency"):
        raise ValueError(
            f"study must be 'ablation', 'grid' or 'efficiency'; got {study!r}"
        )
    path = (
        Path(folder) / f"{study}.csv"
        if folder is not None
        else results_dir(preset) / f"{study}.csv"
    )
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist; make it with `make studies` (python -m proxygml_lite.study_runs)"
        )
    return pd.read_csv(path)


def identity(config: TrainConfig | dict) -> str:
    """What makes two runs the same run: every setting except those a resumed run may change."""
    from .engine import RESUMABLE_CHANGES

    values = config.to_dict() if isinstance(config, TrainConfig) else dict(config)
    values = TrainConfig.from_dict(
        values
    ).to_dict()  # fills fields added since the config was saved
    return json.dumps(
        {k: v for k, v in values.items() if k not in RESUMABLE_CHANGES}, sort_keys=True
    )


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
    from .studies import ABLATION_ROWS, ablation_config

    values = dict(overrides)
    dataset = values.pop(
        "dataset", None
    )  # a preset's recipe on other data (tests: a tiny folder)
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
                    config = base.replace(
                        N=n, r=r, seed=seed, save_proxies=snap, save_embeddings=snap
                    )
                    k = math.ceil(
                        r * 100 * n
                    )  # C = 100 training classes in the glyph presets
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
    from .studies import run_cell

    results, _ = run_cell(TrainConfig.from_dict(config), run_dir)
    return results


def _row(cell: Cell, results: dict) -> dict:
    untrained = results.get("untrained_metrics") or {}
    config = {**cell.config.to_dict(), "out": None, "resume": False}
    if results.get("num_classes") and "k" in cell.ids:
        cell.ids["k"] = math.ceil(
            cell.ids["r"] * results["num_classes"] * cell.ids["N"]
        )
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
    table = pd.read_csv(path)
    if "config" not in table.columns:
        return {}
    return {
        identity(json.loads(row["config"])): row.to_dict()
        for _, row in table.iterrows()
    }


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
        raise ValueError(
            f"unknown studies {unknown}; choose from ablation, grid, efficiency"
        )
    out = Path(results) if results is not None else results_dir(preset)
    runs = Path(runs) if runs is not None else Path("runs") / "studies" / preset
    out.mkdir(parents=True, exist_ok=True)
    tables: dict[str, pd.DataFrame] = {}
    cells = study_cells(
        preset, [s for s in studies if s != "efficiency"], seeds, **overrides
    )
    done: dict[str, dict] = {}  # identity -> results (or a table row read back)
    known = {
        study: _read_back(out / f"{study}.csv")
        for study in STUDY_COLUMNS
        if study in studies
    }
    rows: dict[int, dict] = {}
    todo: dict[
        str, tuple[dict, str]
    ] = {}  # identity -> (config dict, run dir); first cell wins
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
        context = multiprocessing.get_context(
            "spawn"
        )  # no fork after torch started its thread pools
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            pending = {
                pool.submit(_train_cell, config, run_dir): key
                for key, (config, run_dir) in todo.items()
            }
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
        print(
            f"trained {len(todo)} cells in {time.perf_counter() - started:.0f} s with {workers} worker(s)"
        )
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
        tables["efficiency"] = measure_efficiency(
            out / "efficiency.csv", progress=progress
        )
    return tables


# ----------------------------------------------------------------- snapshots
def export_snapshots(cells: list[Cell], runs: Path, out: Path) -> list[Path]:
    """``<out>/snapshots/<cell>.npz`` from the run folders of ``cells`` (proxies + embeddings at :data:`SNAPSHOT_EPOCHS`)."""
    from .study_plots import read_embedding_snapshots, read_proxy_snapshots

    written = []
    for cell in cells:
        run = runs / cell.name
        target = (
            out / "snapshots" / f"N{cell.config.N}_r{cell.config.r:g}_s{cell.seed}.npz"
        )
        if not (run / "embeddings").is_dir():
            continue  # read back from the table without its run folder: keep the committed file
        epochs, proxies = read_proxy_snapshots(run)
        e_train, train, train_labels, _ = read_embedding_snapshots(run, "train")
        e_test, test, test_labels, _ = read_embedding_snapshots(run, "test")
        keep = [i for i, e in enumerate(epochs) if e in SNAPSHOT_EPOCHS]
        if not (epochs == e_train == e_test):
            raise ValueError(
                f"{run}: proxy and embedding snapshots cover different epochs"
            )
        arrays = dict(
            epochs=np.asarray([epochs[i] for i in keep], dtype=np.int16),
            proxies=proxies[keep].numpy().astype(np.float16),
            train_embeddings=train[keep].numpy().astype(np.float16),
            train_labels=train_labels.numpy().astype(np.int16),
            test_embeddings=test[keep].numpy().astype(np.float16),
            test_labels=test_labels.numpy().astype(np.int16),
            N=np.int16(cell.config.N),
            r=np.float32(cell.config.r),
            num_classes=np.int16(proxies.shape[1] // cell.config.N),
            config=np.asarray(
                json.dumps({**cell.config.to_dict(), "out": None}, sort_keys=True)
            ),
        )

        def write(fh, arrays=arrays):
            np.savez_compressed(fh, **arrays)

        atomic_write(target, write)
        written.append(target)
    return written


def read_snapshot_npz(path: str | Path) -> dict:
    """A committed snapshot file as a dict of NumPy arrays (float32 for the float16 ones; ``config`` a dict)."""
    with np.load(path, allow_pickle=False) as data:
        out = {
            k: (data[k].astype(np.float32) if data[k].dtype == np.float16 else data[k])
            for k in data.files
        }
    out["config"] = json.loads(str(out["config"]))
    for name in ("N", "num_classes"):
        out[name] = int(out[name])
    out["r"] = round(float(out["r"]), 6)  # stored as float32
    return out


# ---------------------------------------------------------------- efficiency
def _working_bytes(
    loss: str, kwargs: dict, num_classes: int, batch_size: int, dim: int
) -> int:
    """A generous estimate of the memory one forward + backward of the loss needs."""
    n = kwargs.get("proxies_per_class", 1)
    proxies = num_classes * n * dim * 4 * 4  # parameters, normalised copy, gradients
    similarities = batch_size * num_classes * max(n, 10) * 4 * 6
    regulariser = (
        num_classes * n * num_classes * 4 * 4
        if loss == "proxygml" and kwargs.get("weight_lambda")
        else 0
    )
    return proxies + similarities + regulariser


def _measure_one(
    series: str,
    loss: str,
    kwargs: dict,
    num_classes: int,
    batch_size: int,
    dim: int,
    repeats: int,
    threads: int,
) -> dict:
    """Worker (a fresh process): peak RSS increase of one iteration, then the timing of measure_loss_cost."""
    import torch
    import torch.nn.functional as F

    from .baselines import build_loss
    from .efficiency import measure_loss_cost

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    loss_fn = build_loss(loss, num_classes, dim, **kwargs)
    embeddings = F.normalize(torch.randn(batch_size, dim), dim=1).requires_grad_(True)
    labels = torch.randint(0, num_classes, (batch_size,))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    loss_fn(embeddings, labels).backward()
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024.0
    del loss_fn, embeddings, labels
    timing = measure_loss_cost(
        {loss: kwargs},
        class_counts=[num_classes],
        batch_size=batch_size,
        dim=dim,
        repeats=repeats,
        warmup=1,
    ).iloc[0]
    return {
        "series": series,
        "loss": loss,
        "N": kwargs.get("proxies_per_class", ""),
        "weight_lambda": kwargs.get("weight_lambda", ""),
        "num_classes": num_classes,
        "batch_size": batch_size,
        "dim": dim,
        "loss_parameters": int(timing["loss_parameters"]),
        "time_ms": float(timing["time_ms"]),
        "time_ms_min": float(timing["time_ms_min"]),
        "saved_tensors_mb": float(timing["saved_tensors_mb"]),
        "peak_rss_mb": peak,
        "device": "cpu",
        "threads": threads,
    }


def measure_efficiency(
    path: str | Path,
    class_counts: Iterable[int] = EFFICIENCY_CLASSES,
    series: dict[str, tuple[str, dict]] | None = None,
    batch_size: int = 32,
    dim: int = 512,
    repeats: int = 5,
    threads: int = 1,
    progress: bool = True,
) -> pd.DataFrame:
    """The efficiency table: each (series, C) measured in a fresh process; rows already in ``path`` are kept.

    A measurement whose working memory would exceed :data:`EFFICIENCY_MEMORY_LIMIT`
    (ProxyGML ``N = 12``, ``lambda = 0.3`` at SOP's ``C``: its ``L^p`` compares
    all ``C N`` proxies with every class) is left out and reported.
    """
    from tqdm.auto import tqdm

    path = Path(path)
    series = dict(series or EFFICIENCY_SERIES)
    rows = pd.read_csv(path).to_dict("records") if path.exists() else []
    have = {(r["series"], int(r["num_classes"])) for r in rows}
    jobs = [
        (name, c) for name in series for c in class_counts if (name, int(c)) not in have
    ]
    context = multiprocessing.get_context("spawn")
    for name, c in tqdm(
        jobs, desc="loss-layer cost", disable=not progress, dynamic_ncols=True
    ):
        loss, kwargs = series[name]
        need = _working_bytes(loss, kwargs, c, batch_size, dim)
        if need > EFFICIENCY_MEMORY_LIMIT:
            print(
                f"{name}, C={c}: left out (needs about {need / 2**30:.0f} GiB, more than the "
                f"{EFFICIENCY_MEMORY_LIMIT / 2**30:.0f} GiB allowed here)",
                file=sys.stderr,
            )
            continue
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            rows.append(
                pool.submit(
                    _measure_one,
                    name,
                    loss,
                    kwargs,
                    int(c),
                    batch_size,
                    dim,
                    repeats,
                    threads,
                ).result()
            )
        order = {n: i for i, n in enumerate(series)}
        rows.sort(
            key=lambda r: (order.get(r["series"], len(order)), int(r["num_classes"]))
        )
        atomic_write_csv(path, rows, EFFICIENCY_COLUMNS)
    if not path.exists():
        atomic_write_csv(path, rows, EFFICIENCY_COLUMNS)
    return pd.read_csv(path)


# ---------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m proxygml_lite.study_runs", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--preset", default="glyphs_hard")
    parser.add_argument(
        "--studies",
        nargs="+",
        default=["ablation", "grid", "efficiency"],
        choices=["ablation", "grid", "efficiency"],
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument(
        "--workers", type=int, default=2, help="cells trained at once (default 2)"
    )
    parser.add_argument("--results", help="tables folder (default results/<preset>)")
    parser.add_argument("--runs", help="run folders (default runs/studies/<preset>)")
    parser.add_argument(
        "--epochs", type=int, help="override the preset's epochs (quick checks only)"
    )
    args = parser.parse_args(argv)
    overrides = {"epochs": args.epochs} if args.epochs else {}
    started = time.perf_counter()
    tables = make_studies(
        args.preset,
        args.studies,
        args.seeds,
        args.workers,
        args.results,
        args.runs,
        **overrides,
    )
    for study, table in tables.items():
        print(f"{study}: {len(table)} rows")
    print(f"make studies: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
