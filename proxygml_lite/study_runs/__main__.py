"""``python -m proxygml_lite.study_runs`` (= ``make studies``): make or complete the study tables of results/<preset>/."""

from __future__ import annotations

import argparse
import time

from . import SEEDS, make_studies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m proxygml_lite.study_runs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="glyphs_hard")
    parser.add_argument(
        "--studies",
        nargs="+",
        default=["ablation", "grid", "efficiency"],
        choices=["ablation", "grid", "efficiency"],
    )
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--workers", type=int, default=2, help="cells trained at once (default 2)")
    parser.add_argument("--results", help="tables folder (default results/<preset>)")
    parser.add_argument("--runs", help="run folders (default runs/studies/<preset>)")
    parser.add_argument("--epochs", type=int, help="override the preset's epochs (quick checks only)")
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
