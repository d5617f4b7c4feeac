"""Study cells: listing a study's cells, and running one cell in its own folder.

A cell is one training run of a study: an ablation row, an ``(N, r)`` grid
point or a probe (:mod:`.design`), at one seed. Its folder name ends in a
hash of its identity (:func:`.identity.cell_id`), so a changed
configuration can never find, reuse or overwrite another configuration's
run. One process at a time trains a cell: training holds the run folder's
lock (:func:`proxygml_lite.fileio.exclusive_lock`), so a second process on
the same cell stops with an error naming the holder.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..training.config import TrainConfig
from ..training.config_io import config_with_defaults
from ..training.run_folder import RESUMABLE_CHANGES, read_results_file
from ..training.trainer import train
from .design import ABLATION_ROWS, GRID_N, GRID_R, PROBES, SEEDS, SNAPSHOT_SEEDS, ablation_config, probe_configs
from .identity import CELL_FIELDS, cell_id
from .row_checks import whole_numbers

__all__ = [
    "Cell",
    "study_cells",
    "run_cell",
    "read_results",
    "finished_run",
]


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

    The grid's cells ``r = grid_r[0]`` at :data:`.design.SNAPSHOT_SEEDS` keep proxy
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


def finished_run(cell_dir: Path, config: TrainConfig) -> dict | None:
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
    results = finished_run(cell_dir, config)
    if results is not None:
        return results, True
    train(config)
    return read_results(cell_dir), False
