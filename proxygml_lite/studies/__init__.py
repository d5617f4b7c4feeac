"""The one study runner: the paper's ablation of S^pos, M and L^p, the N x r grid and the probes, cell by cell.

``python -m proxygml_lite.studies`` (``make studies``) makes the study tables
of ``results/<preset>/`` (:mod:`.make`); its cells can also run as independent
commands (``--list``, ``--cell``, ``--gather``: :mod:`.__main__`). The wing:

* :mod:`.design`: the ablation rows, the default grid, the seeds and the
  probes (one setting changed at a time: why a class's proxies merge, why
  rows 2 and 7 collapse);
* :mod:`.identity`: a cell's identity (its full configuration) and the hash
  in its folder name;
* :mod:`.cells`: a study's cells, and running one cell in its own locked
  folder;
* :mod:`.row_checks`: a table row checked against its own configuration;
* :mod:`.tables`: the tables' columns, and the rows a table holds read back
  and checked (never mixing settings);
* :mod:`.gathering`: the tables gathered from finished cell folders, never
  dropping a row;
* :mod:`.make`: ``make studies`` in one process (cells in worker processes);
* :mod:`.snapshots`: notebook 9's proxy and embedding snapshot files; the
  proxies' within- and between-class cosines per epoch (the probes' columns);
* :mod:`.efficiency`: loss-layer cost, the one place it is measured;
* :mod:`.plots`: a run's history; :mod:`.paper`: the paper's own tables.

This module keeps what notebooks call on a study folder of their own:
:func:`run_parameter_study`, :func:`run_ablation` (one row per cell, the table
also in ``<out_dir>/study.csv``) and :func:`compare_ablation_with_paper`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from ..atomic_writers import atomic_write_csv
from ..training.config import TrainConfig
from .cells import run_cell, study_cells
from .design import ABLATION_ROWS, GRID_N, GRID_R, SEEDS, ablation_config
from .identity import recorded_config
from .make import make_studies

__all__ = [
    "ABLATION_ROWS",
    "GRID_N",
    "GRID_R",
    "SEEDS",
    "ablation_config",
    "config_json",
    "run_cell",
    "study_cells",
    "make_studies",
    "run_parameter_study",
    "run_ablation",
    "compare_ablation_with_paper",
    "main",
]


def _row(results: dict, cell_dir: Path, cached: bool) -> dict:
    row = dict(results["metrics"])
    untrained = results.get("untrained_metrics") or {}
    for name in ("R@1", "NMI"):
        if name in untrained:
            row[f"untrained {name}"] = untrained[name]
    row.update(
        run_dir=str(cell_dir), cached=cached, elapsed_s=results.get("elapsed_s"), config=config_json(results["config"])
    )
    return row


def config_json(config: TrainConfig | dict) -> str:
    """A cell's full training configuration as one JSON line (the ``config`` column of the study tables).

    ``python -m proxygml_lite.train --config FILE`` re-runs it, with ``FILE``
    holding this text (:func:`proxygml_lite.training.rerun.load_config`); settings added later are left out
    while off (:func:`.identity.recorded_config`).
    """
    return json.dumps(recorded_config(config), sort_keys=True)


def _seeds(seeds: Iterable[int] | None, base_config: TrainConfig) -> tuple[list[int], bool]:
    """``(seeds, tagged)``: the seeds to run and whether cell folders carry a ``_s<seed>`` suffix."""
    if seeds is None:
        return [base_config.seed], False
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must hold at least one seed, e.g. seeds=[0, 1, 2] (the studies use >= 3)")
    return seeds, True


def _save_table(rows: list[dict], out_dir: Path) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    atomic_write_csv(out_dir / "study.csv", rows)
    return table


def run_parameter_study(
    base_config: TrainConfig,
    N_values: Iterable[int],
    r_values: Iterable[float],
    out_dir: str | Path,
    seeds: Iterable[int] | None = None,
) -> pd.DataFrame:
    """Train ProxyGML for every ``(N, r)`` of the grid; one row per cell.

    Args:
        base_config: every other setting (its ``out``/``resume`` are ignored).
        N_values: proxies per class ``N`` to try.
        r_values: subgraph scales ``r`` to try (``k = ceil(r C N)`` proxies per sample).
        out_dir: study folder; cell ``(N, r)`` runs in ``<out_dir>/N<N>_r<r>``
            (``<out_dir>/N<N>_r<r>_s<seed>`` when ``seeds`` is given).
        seeds: run every cell once per seed (default: ``base_config.seed`` only).

    Returns:
        DataFrame with columns ``N``, ``r``, ``k``, ``seed``, the final metrics
        (``R@1``, ..., ``NMI``), ``untrained R@1``, ``untrained NMI``,
        ``run_dir``, ``cached`` (read back from disk instead of trained),
        ``elapsed_s`` and ``config`` (the cell's configuration as JSON).
    """
    if base_config.loss != "proxygml":
        raise ValueError(
            f"the N x r study is about ProxyGML; base_config.loss is {base_config.loss!r}. Use loss='proxygml'"
        )
    N_values, r_values = list(N_values), list(r_values)
    if not N_values or not r_values:
        raise ValueError(
            "N_values and r_values must each hold at least one value, e.g. N_values=[1, 6, 12], r_values=[0.05, 0.1]"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_list, tagged = _seeds(seeds, base_config)
    rows: list[dict] = []
    for n in N_values:
        for r in r_values:
            for seed in seed_list:
                config = base_config.replace(N=int(n), r=float(r), seed=seed)
                cell_dir = out_dir / (f"N{int(n)}_r{float(r):g}" + (f"_s{seed}" if tagged else ""))
                results, cached = run_cell(config, cell_dir)
                c = results["num_classes"]
                rows.append(
                    {
                        "N": int(n),
                        "r": float(r),
                        "k": math.ceil(float(r) * c * int(n)),
                        "seed": seed,
                        **_row(results, cell_dir, cached),
                    }
                )
                _save_table(rows, out_dir)
    return pd.DataFrame(rows)


def run_ablation(
    base_config: TrainConfig,
    out_dir: str | Path,
    rows: Iterable[int] | None = None,
    weight_lambda: float | None = None,
    seeds: Iterable[int] | None = None,
) -> pd.DataFrame:
    """The paper's ablation of the three modules: rows 1-8 switch ``S^pos``, ``M`` and ``L^p`` on/off.

    ``S^pos`` off = subgraph from the top-``k`` of ``S`` alone
    (``positive_mask=False``); ``M`` off = plain softmax over all classes of
    ``Z`` (``mask_softmax=False``); ``L^p`` off = ``weight_lambda = 0``. Row 8
    is full ProxyGML.

    Args:
        base_config: every other setting (``loss`` must be ``"proxygml"``).
        out_dir: study folder; row ``i`` runs in ``<out_dir>/row<i>``.
        rows: subset of rows 1-8 to run (default all, in the paper's order).
        weight_lambda: ``lambda`` of the rows with ``L^p`` on (default:
            ``base_config.weight_lambda``, or the paper's 0.3 if that is 0).
        seeds: run every row once per seed, in ``<out_dir>/row<i>_s<seed>``
            (default: ``base_config.seed`` only, in ``<out_dir>/row<i>``).

    Returns:
        DataFrame with ``row``, ``S^pos``, ``M``, ``L^p`` (bools), ``seed``, the
        final metrics, ``untrained R@1``, ``untrained NMI``, ``run_dir``,
        ``cached``, ``elapsed_s``, ``config``.
    """
    if base_config.loss != "proxygml":
        raise ValueError(
            f"the ablation switches parts of ProxyGML; base_config.loss is {base_config.loss!r}. Use loss='proxygml'"
        )
    lam = weight_lambda if weight_lambda is not None else (base_config.weight_lambda or 0.3)
    if lam <= 0:
        raise ValueError(f"weight_lambda for the rows with L^p on must be > 0; got {lam}")
    wanted = list(rows) if rows is not None else [r[0] for r in ABLATION_ROWS]
    unknown = [r for r in wanted if r not in range(1, 9)]
    if unknown:
        raise ValueError(f"ablation rows are numbered 1-8 as in the paper; got {unknown}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seed_list, tagged = _seeds(seeds, base_config)
    table: list[dict] = []
    for number, s_pos, mask, l_p in ABLATION_ROWS:
        if number not in wanted:
            continue
        for seed in seed_list:
            config = ablation_config(base_config, number, lam).replace(seed=seed)
            cell_dir = out_dir / (f"row{number}" + (f"_s{seed}" if tagged else ""))
            results, cached = run_cell(config, cell_dir)
            table.append(
                {"row": number, "S^pos": s_pos, "M": mask, "L^p": l_p, "seed": seed, **_row(results, cell_dir, cached)}
            )
            _save_table(table, out_dir)
    return pd.DataFrame(table)


def compare_ablation_with_paper(table: pd.DataFrame) -> pd.DataFrame:
    """Your ablation rows beside the paper's, in percent.

    Args:
        table: the DataFrame of :func:`run_ablation` (metrics as fractions).

    Returns:
        One row per ablation row of ``table``: ``row``, ``S^pos``, ``M``,
        ``L^p``, ``NMI (this run)``, ``R@1 (this run)``, ``NMI (paper)``,
        ``R@1 (paper)``. The paper's columns are the published numbers
        (:func:`proxygml_lite.studies.paper.paper_ablation`, dataset not stated in the
        poster); the others come from ``table``, i.e. from your runs.
    """
    from .paper import paper_ablation

    missing = [c for c in ("row", "R@1") if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks the column(s) {missing}; pass the DataFrame returned by run_ablation")
    paper = paper_ablation().set_index("row")
    out = table[["row", "S^pos", "M", "L^p"]].copy()
    out["NMI (this run)"] = table["NMI"] * 100.0 if "NMI" in table.columns else float("nan")
    out["R@1 (this run)"] = table["R@1"] * 100.0
    out["NMI (paper)"] = out["row"].map(paper["NMI"])
    out["R@1 (paper)"] = out["row"].map(paper["R@1"])
    return out.reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    """``python -m proxygml_lite.studies``: see :mod:`proxygml_lite.studies.__main__`."""
    from .__main__ import main as cli

    return cli(argv)
