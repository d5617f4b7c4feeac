"""``python -m proxygml_lite.studies`` (= ``make studies``): the one study command line.

Without ``--list``/``--cell``/``--gather`` it makes (or completes) the tables
of ``results/<preset>/``: every missing cell is trained (``--workers`` at a
time), the tables are gathered from the cell folders, the snapshots exported
and the loss-layer cost measured. Each cell is also an independent command,
so a job array or one process per GPU can run the cells (same flags each
time, so that the cell list is the same)::

    python -m proxygml_lite.studies --list                 # index, cell, id, status
    python -m proxygml_lite.studies --cell 7               # or --cell ablation/row8_s0
    python -m proxygml_lite.studies --gather               # tables from the finished cells
    python -m proxygml_lite.studies --studies probes       # only the probes (after the two tables)

Flags not listed in ``--help`` are training flags on top of the preset
(``python -m proxygml_lite.train --help``), e.g. ``--epochs 2`` or
``--data DIR``; ``--dataset NAME`` runs the preset's recipe on other data.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from ..command_line import Parser, refuse, seed_arg, whole_number_arg
from .design import SEEDS
from .make import STUDIES
from .row_checks import whole_number

#: The command, as refusals and ``--help`` name it.
PROG = "python -m proxygml_lite.studies"


def _parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=PROG,
        description="Make or complete the study tables (ablation rows 1-8, N x r grid, probes, loss-layer cost), "
        "or run one cell as its own command. Other flags are training flags on top of the preset.",
        allow_abbrev=False,
    )
    p.add_argument("--preset", default="glyphs_hard", help="training recipe of every cell (default glyphs_hard)")
    p.add_argument("--dataset", help="train the preset's recipe on this dataset instead")
    p.add_argument("--studies", nargs="+", default=list(STUDIES), choices=STUDIES)
    p.add_argument("--seeds", nargs="+", type=seed_arg, default=list(SEEDS), help="seeds of every cell (default 0-4)")
    p.add_argument("--rows", nargs="+", type=whole_number_arg, help="ablation rows (default 1-8)")
    p.add_argument("--N-values", dest="grid_N", nargs="+", type=whole_number_arg, help="grid: N (default 1 2 4 8 12)")
    p.add_argument("--r-values", dest="grid_r", nargs="+", type=float, help="grid: r (default 0.05 0.15 0.6)")
    p.add_argument("--workers", type=whole_number_arg, default=2, help="cells trained at once (default 2)")
    p.add_argument("--results", help="tables folder (default results/<preset>)")
    p.add_argument("--runs", help="cell folders (default runs/studies/<preset>)")
    p.add_argument("--replace", action="store_true", help="drop table rows made with other settings")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--list", action="store_true", help="list the cells (one per configuration): index, name, id, status"
    )
    mode.add_argument("--cell", help="run one cell, by its --list index or name (e.g. ablation/row8_s0)")
    mode.add_argument("--gather", action="store_true", help="write the tables from the finished cell folders")
    return p


def _commands(cells):
    """The cells as commands: one per identity (grid N = 12, r = 0.05 is ablation row 8: one run, listed once)."""
    seen: set[str] = set()
    return [c for c in cells if not (c.id in seen or seen.add(c.id))]


def _pick(cells, wanted: str):
    commands = _commands(cells)
    index = whole_number(wanted)  # the digits 0-9 only: "٠" or "+1" name no cell (int() takes them)
    if index is not None:
        if not 0 <= index < len(commands):
            raise ValueError(f"--cell {index}: there are {len(commands)} cells (0-{len(commands) - 1}); see --list")
        return commands[index]
    found = [c for c in cells if wanted in (c.label, c.name)]
    if len({c.id for c in found}) == 1:  # one run under several names (ablation/row8_s0 is probes/row8_s0)
        return found[0]
    if len(found) != 1:
        raise ValueError(f"--cell {wanted!r} names no single cell of this selection; see --list")
    return found[0]


def _status(cell, runs: Path, in_table: set[str]) -> str:
    folder = cell.folder(runs)
    if cell.id in in_table:
        return "in table"
    if (folder / "results.json").is_file():
        return "finished"
    return "started" if (folder / "config.json").is_file() else "to run"


def main(argv: list[str] | None = None) -> int:
    from ..fileio import FolderLockedError, exclusive_lock
    from ..lab.study_tables import results_dir
    from ..train import parse_args
    from .cells import run_cell, study_cells
    from .gathering import check_writable, gather, runs_dir
    from .make import base_config, make_studies
    from .tables import read_table_rows

    args, training_flags = _parser().parse_known_args(argv)
    started = time.perf_counter()
    try:
        preset_base = base_config(args.preset, **({"dataset": args.dataset} if args.dataset else {}))
        base = parse_args(training_flags, base=preset_base) if training_flags else preset_base
        results = check_writable(Path(args.results) if args.results else results_dir(args.preset))
        runs = check_writable(Path(args.runs) if args.runs else runs_dir(args.preset))
        training = [s for s in args.studies if s != "efficiency"]
        selection = dict(grid_N=args.grid_N, grid_r=args.grid_r, rows=args.rows)
        cells = study_cells(base, training, args.seeds, **selection) if training else []
        if args.list:
            in_table = set()
            for study in ("ablation", "grid", "probes"):
                try:
                    in_table |= {row["_id"] for row in read_table_rows(results / f"{study}.csv", study)}
                except ValueError as damaged:  # listed anyway, but never silently: --gather would refuse it
                    print(f"note: {damaged} (its cells are listed as not in the table)", file=sys.stderr)
            commands = _commands(cells)
            width = max([24, *(len(c.label) for c in commands)])  # the probes' names are longer
            for index, cell in enumerate(commands):
                also = " ".join(c.label for c in cells if c.id == cell.id and c is not cell)
                status = _status(cell, runs, in_table)
                print(f"{index:4d}  {cell.label:{width}s} {cell.id}  {status}" + (f"  (also {also})" if also else ""))
            print(
                f"({len(commands)} cells: run one with --cell INDEX and the same flags, then --gather)", file=sys.stderr
            )
            return 0
        if args.cell is not None:
            cell = _pick(cells, args.cell)
            folder = cell.folder(runs)
            finished, cached = run_cell(cell.config, folder)
            done = "read back" if cached else f"trained in {time.perf_counter() - started:.0f} s"
            print(f"{cell.label}: R@1 {finished['metrics'].get('R@1', float('nan')):.4f}, {done} ({folder})")
            return 0
        if args.gather:
            with exclusive_lock(check_writable(results), "study tables"):
                tables = gather(cells, results, runs, args.replace)
        else:
            tables = make_studies(
                args.preset,
                args.studies,
                args.seeds,
                args.workers,
                results,
                runs,
                progress=args.progress,
                replace=args.replace,
                base=base,
                **selection,
            )
    except KeyboardInterrupt:
        print("\nInterrupted: run the same command again to resume (cell by cell).", file=sys.stderr)
        return 130
    except (ValueError, OSError, FolderLockedError) as exc:  # bad input, unreadable data, a full disk, a dead cell
        refuse(PROG, exc)
        return 2
    for study, table in tables.items():
        print(f"{study}: {len(table)} rows ({results / (study + '.csv')})")
    print(f"studies: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except BrokenPipeError:  # `--list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(141) from None
