"""``make studies``: train every missing cell, gather the tables, export the snapshots, measure the loss layers.

The training order puts the probes after the ablation and the grid (:func:`pending_cells`), so
they never delay those two tables.

:func:`make_studies` is the whole regeneration in one process (``workers``
cells at a time, each in a fresh process on one torch thread, so a cell's
numbers do not depend on how many ran beside it). Work resumes cell by cell:
a cell already in the table is read back; a cell with a finished folder is
gathered from it; an interrupted cell resumes from its checkpoint. To spread
the cells over many processes or machines instead, run each with
``python -m proxygml_lite.studies --cell INDEX`` and gather at the end
(:mod:`proxygml_lite.studies.__main__`).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as connection_wait
from pathlib import Path

import pandas as pd

from ..fileio import exclusive_lock
from ..lab.study_tables import results_dir
from ..training.config import TrainConfig
from ..training.config_io import config_from_dict
from ..training.presets import config_from_preset
from .cells import Cell, run_cell, study_cells
from .design import GRID_R, SEEDS
from .efficiency import measure_efficiency
from .gathering import check_writable, gather, runs_dir
from .snapshots import export_snapshots
from .tables import check_settings, load_table

__all__ = ["STUDIES", "base_config", "make_studies", "pending_cells"]

#: What ``make studies`` makes: three training studies and the loss-layer cost table.
STUDIES = ("ablation", "grid", "probes", "efficiency")


def base_config(preset: str = "glyphs_hard", **overrides) -> TrainConfig:
    """The preset's configuration with ``overrides``; ``dataset=`` puts the preset's recipe on other data."""
    values = dict(overrides)
    dataset = values.pop("dataset", None)
    base = config_from_preset(preset, quiet=True, **values)
    return base.replace(dataset=dataset) if dataset is not None else base


def _priority(cell: Cell) -> int:
    """Training order: the grid's first ``r`` (ablation row 8, the snapshots), the ablation, the rest of the grid,
    then the probes (they never delay the two tables)."""
    if cell.study == "grid":
        return 0 if cell.ids["r"] == GRID_R[0] else 2
    return 3 if cell.study == "probes" else 1


def pending_cells(cells: list[Cell], results: Path, runs: Path, replace: bool = False) -> list[Cell]:
    """The cells to train: neither in their table nor finished in ``runs``; one per identity, in training order.

    A row of the ablation or the grid table stands for its cell in both (they share cells); a probe cell needs
    a row of ``probes.csv`` or its folder, since its table reads the cell's proxies from the folder: a probe
    cell that is an ablation row of the table but has no folder is trained again, keeping its proxies.
    """
    known: dict[str, set[str]] = {}
    for study in ("ablation", "grid", "probes"):
        selected = [c for c in cells if c.study == study]
        known[study] = {row["_id"] for row in check_settings(results / f"{study}.csv", selected, replace)}
    shared = known["ablation"] | known["grid"]
    todo: dict[str, Cell] = {}
    for cell in sorted(cells, key=_priority):
        in_table = cell.id in (known["probes"] if cell.study == "probes" else shared)
        if in_table or cell.id in todo or (cell.folder(runs) / "results.json").is_file():
            continue
        todo[cell.id] = cell
    return list(todo.values())


def _run_one_cell(config: dict, folder: str, report: Connection) -> None:
    """Child process: train (or resume) one cell in its folder; sends ``None`` when it finished, else the exception."""
    try:
        # a SIGTERM before the trainer's own handler: a KeyboardInterrupt, so the lock and temporary files go too
        signal.signal(signal.SIGTERM, _raise_interrupt)
        run_cell(config_from_dict(config), folder)
    except BaseException as exc:  # a stop signal (StopRequested) or an error: the parent decides what follows
        report.send(_portable(exc))
        return
    report.send(None)


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives the pipe to the parent, else its message in the nearest built-in kind.

    An exception whose constructor takes other arguments than its message
    (such as the data checks' list of bad images) pickles but cannot be rebuilt
    on the other side; its message, the part the parent prints, is kept.
    """
    try:
        pickle.loads(pickle.dumps(exc))  # our own pipe, never a shared file
        return exc
    except Exception:
        for kind in (KeyboardInterrupt, ValueError, OSError):
            if isinstance(exc, kind):
                return kind(str(exc))
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


class _HeldStop:
    """A SIGINT / SIGTERM handler that can be held off while a worker process is started and registered.

    Outside :meth:`held` a signal raises :class:`KeyboardInterrupt` at once (as
    :func:`_raise_interrupt`). Inside, it is only noted, and raised when the
    block ends: a signal that came while ``Process.start()`` ran would otherwise
    leave a started child that the parent does not know of, so nobody stops it
    or waits for it (an orphan training on, and a half-started spawn that
    prints a traceback).
    """

    def __init__(self) -> None:
        self.holding = False
        self.pending: int | None = None

    def __call__(self, signum, frame) -> None:
        if self.holding:
            self.pending = signum
            return
        _raise_interrupt(signum, frame)

    @contextmanager
    def held(self):
        self.holding = True
        try:
            yield
        finally:
            self.holding = False
        if self.pending is not None:
            _raise_interrupt(self.pending, None)


def _train_in_processes(todo: list[Cell], runs: Path, workers: int, finished: Callable[[int], None]) -> None:
    """Train ``todo``, each cell in a fresh process, ``workers`` at a time; ``finished(count)`` after cells end.

    One process per cell (not a pool of reused workers): a cell's numbers
    cannot depend on the cell that ran before it in the same process, and a
    stopped process cannot pick up the next cell. Ctrl-C or SIGTERM (the
    latter only in the main thread, where handlers can be set) starts no
    further cell, passes SIGTERM to the running ones (a SIGTERM sent to this
    process alone, as ``kill`` or a scheduler sends it, would otherwise leave
    them training as orphans), waits while they save their checkpoints, and
    raises :class:`KeyboardInterrupt`. A signal that comes while a cell's
    process is being started takes effect once it is started and known
    (:class:`_HeldStop`), so it is stopped and waited for like the others. A
    cell's error stops the others the same way and is raised here.
    """
    context = multiprocessing.get_context("spawn")  # no fork after torch started its thread pools
    queue = list(todo)
    running: dict = {}  # process sentinel -> (process, connection, cell)
    main_thread = threading.current_thread() is threading.main_thread()
    stop = _HeldStop()
    signals = (signal.SIGINT, signal.SIGTERM)  # SIGTERM = Ctrl-C
    previous = {signum: signal.signal(signum, stop) for signum in signals} if main_thread else {}
    try:
        while queue or running:
            while queue and len(running) < workers:
                cell = queue.pop(0)
                with stop.held():  # a signal during start() waits until the child is known: stopped, waited for
                    receive, send = context.Pipe(duplex=False)
                    process = context.Process(
                        target=_run_one_cell,
                        args=(cell.config.to_dict(), str(cell.folder(runs)), send),
                        name=cell.label,
                    )
                    process.start()
                    send.close()  # the child holds the sending end now
                    running[process.sentinel] = (process, receive, cell)
            ended = connection_wait(list(running))
            for sentinel in ended:
                process, receive, cell = running.pop(sentinel)
                outcome = (
                    receive.recv()
                    if receive.poll()
                    else ChildProcessError(
                        f"cell {cell.label} ended with exit code {process.exitcode} and no result; "
                        "run the same command again to resume it"
                    )
                )
                process.join()
                if outcome is not None:
                    raise outcome
            finished(len(ended))
    except BaseException:
        for signum in previous:  # a second SIGTERM or Ctrl-C must not cut the clean-up short (and orphan a cell)
            signal.signal(signum, signal.SIG_IGN)
        for process, _, _ in running.values():
            if process.is_alive():
                try:
                    os.kill(process.pid, signal.SIGTERM)  # the cell finishes its step, saves, and stops
                except ProcessLookupError:
                    pass
        for process, _, _ in running.values():
            process.join()
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def make_studies(
    preset: str = "glyphs_hard",
    studies: Iterable[str] = STUDIES,
    seeds: Iterable[int] = SEEDS,
    workers: int = 2,
    results: str | Path | None = None,
    runs: str | Path | None = None,
    progress: bool = True,
    replace: bool = False,
    base: TrainConfig | None = None,
    grid_N: Iterable[int] | None = None,
    grid_r: Iterable[float] | None = None,
    rows: Iterable[int] | None = None,
    **overrides,
) -> dict[str, pd.DataFrame]:
    """Make (or complete) the study tables in ``results``; returns ``{study: DataFrame}``.

    Args:
        preset: the training preset of every cell (``glyphs_hard``).
        studies: any of ``"ablation"``, ``"grid"``, ``"probes"``, ``"efficiency"``.
        seeds: seeds of every training cell (:data:`~proxygml_lite.studies.design.SEEDS`: 0-4).
        workers: cells trained at the same time (separate processes).
        results: folder of the tables (default :func:`proxygml_lite.lab.study_tables.results_dir`).
        runs: folder of the cell folders (default ``runs/studies/<preset>``).
        progress: a progress bar over the cells.
        replace: drop table rows made with other settings instead of refusing to mix them.
        base: the configuration every cell starts from (default: the preset with ``overrides``).
        grid_N, grid_r, rows: the grid's ``N`` and ``r`` values and the ablation rows
            (default: :data:`~proxygml_lite.studies.design.GRID_N`, ``GRID_R``, rows 1-8).
        **overrides: settings on top of the preset (e.g. ``epochs=2`` for a quick check; then the
            settings differ from the committed tables', so give another ``results`` folder).
    """
    from tqdm.auto import tqdm

    studies = tuple(studies)
    unknown = sorted(set(studies) - set(STUDIES))
    if unknown:
        raise ValueError(f"unknown studies {unknown}; choose from {', '.join(STUDIES)}")
    out = check_writable(results if results is not None else results_dir(preset))
    runs = check_writable(runs if runs is not None else runs_dir(preset))
    base = base if base is not None else base_config(preset, **overrides)
    training = [s for s in studies if s != "efficiency"]
    cells = study_cells(base, training, seeds, grid_N=grid_N, grid_r=grid_r, rows=rows) if training else []
    with exclusive_lock(out, "study tables"):  # one process writes a results folder's tables
        todo = pending_cells(cells, out, runs, replace)
        bar = tqdm(total=len(todo), desc="study cells", disable=not progress, dynamic_ncols=True)
        started = time.perf_counter()
        snapshot_cells = [c for c in cells if c.study == "grid" and c.config.save_embeddings]

        def collect() -> dict[str, pd.DataFrame]:
            # After every cell: its row into the tables and its snapshot file beside them, so that what a
            # session finished is all in the results folder (run folders may not outlive the session).
            tables = gather(cells, out, runs, replace)
            export_snapshots(snapshot_cells, runs, out)
            return tables

        if workers <= 1:
            for cell in todo:
                run_cell(cell.config, cell.folder(runs))
                collect()
                bar.update()
        elif todo:

            def finished(count: int) -> None:
                collect()
                bar.update(count)

            _train_in_processes(todo, runs, workers, finished)
        bar.close()
        tables = collect() if cells else {}
        if todo and progress:
            print(f"trained {len(todo)} cells in {time.perf_counter() - started:.0f} s with {workers} worker(s)")
        tables = {study: load_table(study, folder=out) for study in training if study in tables}
        if "efficiency" in studies:
            tables["efficiency"] = measure_efficiency(out / "efficiency.csv", progress=progress)
    return tables
