"""Findings written by the data: Markdown paragraphs and tables generated from the study tables.

Every number that the README's study section (``scripts/update_readme.py``)
or a notebook's findings cell (``display(Markdown(...))``) states comes from
here, computed from ``ablation.csv`` / ``grid.csv`` with
:mod:`proxygml_lite.statistics`: the sample std over seeds, Welch's 95%
interval of each difference, and Holm's correction across the comparisons of
one table. A cell "beats" another only where the corrected p < 0.05;
otherwise the words are "cannot tell apart with n seeds". Nothing here is
typed from an earlier run. The ``N x r`` grid's findings are in :mod:`proxygml_lite.lab.grid_findings`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import statistics
from ..fileio import read_csv
from .study_tables import (
    ablation_beside_paper,
    ablation_claims,
    committed_results_dir,
    study_comparisons,
    summarize_seeds,
)

__all__ = [
    "markdown_table",
    "mean_std_text",
    "seed_counts_text",
    "SEEDED_STUDIES",
    "seed_counts",
    "supported_claims",
    "provenance",
    "ablation_findings",
]


def markdown_table(frame: pd.DataFrame) -> str:
    """``frame`` as a GitHub Markdown table (every value through ``str``; ``|`` escaped)."""

    def cell(value) -> str:
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(cell(c) for c in frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def mean_std_text(mean: float, std: float) -> str:
    """``"83.5 ± 0.2"`` in percent; a std below 0.05 points keeps two decimals so that "± 0.0" is never shown."""
    if np.isnan(std):
        return f"{100 * mean:.1f}"
    digits = 2 if round(100 * std, 1) == 0 else 1
    return f"{100 * mean:.1f} ± {100 * std:.{digits}f}"


def seed_counts_text(summary: pd.DataFrame) -> str:
    """``"5 seeds"``, or ``"3-5 seeds"`` where the cells differ."""
    low, high = int(summary["seeds"].min()), int(summary["seeds"].max())
    return f"{low} seeds" if low == high else f"{low}-{high} seeds"


def supported_claims(comparisons: pd.DataFrame) -> pd.DataFrame:
    """The rows of a :func:`~proxygml_lite.statistics.compare_cells` table whose Holm-corrected p < 0.05."""
    return comparisons[comparisons["p (Holm)"] < statistics.ALPHA]


def provenance(tables: dict[str, pd.DataFrame]) -> str:
    """Where the tables come from: runs, seeds, the summed seconds of the runs, and the machines they ran on."""
    runs = sum(len(t) for t in tables.values())
    seeds = sorted({int(s) for t in tables.values() for s in t["seed"]})
    seconds = sum(float(t["elapsed_s"].sum()) for t in tables.values() if "elapsed_s" in t)
    machines = sorted({str(m) for t in tables.values() if "machine" in t for m in t["machine"].dropna()})
    where = (
        f"on the machine{'s' if len(machines) > 1 else ''} with fingerprint {', '.join(f'`{m}`' for m in machines)}"
        if machines
        else "on machines these tables do not record"
    )
    names = ", ".join(f"`{name}.csv` ({len(t)} runs)" for name, t in tables.items())
    each = pd.concat([t["elapsed_s"] for t in tables.values() if "elapsed_s" in t]).astype(float)
    cost = (
        f" (median {each.median():.0f} s per run; two runs at a time, as `make studies` runs them on two cores, "
        f"take at least {seconds / 2 / 3600:.1f} hours of wall time)"
        if len(each)
        else ""
    )
    return (
        f"The tables hold {runs} runs ({names}; seeds {', '.join(map(str, seeds))}); the runs took "
        f"{seconds / 3600:.1f} hours of training and evaluation in all{cost}, {where}."
    )


def _p_text(p: float) -> str:
    return "n/a" if np.isnan(p) else f"{p:.2g}"


def _comparison_paragraph(comparisons: pd.DataFrame, what: str, seeds: str) -> str:
    """Which pairs the seeds separate (Holm across all pairs), and how close the rest came."""
    pairs = len(comparisons)
    claims = supported_claims(comparisons)
    head = (
        f"Welch's t-test for each pair of {what}, Holm-corrected across the {pairs} pairs of the table "
        f"(`statistics.compare_cells`), "
    )
    if claims.empty:
        smallest = comparisons["p (Holm)"].min()
        return head + f"separates no pair with {seeds}: the smallest corrected p is {_p_text(smallest)}."
    rest = comparisons.drop(claims.index)
    listed = "; ".join(claims["verdict"])
    tail = ""
    if not rest.empty:
        tail = (
            f" The other {len(rest)} pairs cannot be told apart with {seeds} "
            f"(the smallest of their corrected p is {_p_text(rest['p (Holm)'].min())})."
        )
    return head + f"supports {len(claims)} claim{'s' if len(claims) > 1 else ''}: {listed}.{tail}"


def _spread_sentence(summary: pd.DataFrame, shown: int = 3) -> str:
    """The rows with the largest seed spread of R@1, largest first."""
    widest = summary.sort_values("R@1 std", ascending=False).head(shown)
    listed = ", ".join(f"row {int(r['row'])} ({100 * r['R@1 std']:.1f})" for _, r in widest.iterrows())
    return f"The largest seed spreads (R@1 sample std, points): {listed}."


def ablation_findings(table: pd.DataFrame) -> str:
    """The ablation (rows 1-8) beside the paper, the pairwise comparisons and the paper's claims, as Markdown."""
    summary = summarize_seeds(table, by=["row"])
    seeds = seed_counts_text(summary)
    beside = ablation_beside_paper(table)
    shown = pd.DataFrame(
        {
            "row": beside["row"],
            "S^pos": beside["S^pos"],
            "M": beside["M"],
            "L^p": beside["L^p"],
            "R@1 (this code)": [mean_std_text(m, s) for m, s in zip(summary["R@1 mean"], summary["R@1 std"])],
            "R@1 per seed": beside["R@1 per seed"],
            "NMI (this code)": [mean_std_text(m, s) for m, s in zip(summary["NMI mean"], summary["NMI std"])],
            "R@1 (paper)": [f"{v:.1f}" for v in beside["R@1 (paper)"]],
            "NMI (paper)": [f"{v:.1f}" for v in beside["NMI (paper)"]],
        }
    )
    parts = [
        f"The ablation, R@1 and NMI in %, mean ± sample std over {seeds} (NMI with `--nmi-protocol fast`; "
        f"the untrained network: R@1 {100 * table['untrained R@1'].mean():.1f}%). The paper's columns are the "
        "paper's published numbers (a pretrained BN-Inception on a real benchmark): compare the pattern, "
        "not the level.",
        markdown_table(shown),
        _comparison_paragraph(study_comparisons(table, "ablation"), "rows", seeds),
        _spread_sentence(summary),
    ]
    claims = ablation_claims(table)
    if not claims.empty:
        verdicts = pd.DataFrame(
            {
                "the paper's claim": claims["claim"],
                "paper (points)": [f"{v:+.1f}" for v in claims["paper: difference"]],
                "here (points, uncorrected 95% CI)": [
                    f"{d:+.1f} ({lo:+.1f} to {hi:+.1f})"
                    for d, lo, hi in zip(claims["here: difference"], claims["here: CI low"], claims["here: CI high"])
                ],
                "Holm p": [_p_text(p) for p in claims["here: p (Holm)"]],
                "here": claims["here"],
            }
        )
        held = int((claims["here"] == "holds").sum())
        reversed_ = int((claims["here"] == "reversed").sum())
        parts += [
            f"The paper's {len(claims)} qualitative claims about its ablation, each tested alone here "
            f"(Holm across the {len(claims)}, `study_tables.ablation_claims`): {held} "
            f"{'holds' if held == 1 else 'hold'}, {reversed_} {'is' if reversed_ == 1 else 'are'} reversed, and "
            f"{len(claims) - held - reversed_} cannot be told apart with {seeds}. The intervals are per claim; only "
            "the corrected p decides.",
            markdown_table(verdicts),
        ]
    return "\n\n".join(parts)


#: The committed studies trained with seeds: ``{name: (the notebook that reads it, its cell columns)}``.
#: ``snapshots`` are the files ``snapshots/N<N>_r<r>_s<seed>.npz`` (one cell per ``N`` and ``r``).
SEEDED_STUDIES: dict[str, tuple[int, tuple[str, ...]]] = {
    "grid": (8, ("N", "r")),
    "snapshots": (9, ("N", "r")),
    "ablation": (10, ("row",)),
    "probes": (10, ("probe",)),
}


def _snapshot_cells(folder: Path) -> pd.DataFrame:
    """``N``, ``r`` and ``seed`` of every snapshot file ``N<N>_r<r>_s<seed>.npz`` in ``folder``."""
    import re

    pattern = re.compile(r"N(\d+)_r([0-9.]+)_s(\d+)")
    found = [pattern.fullmatch(path.stem) for path in sorted(folder.glob("*.npz"))]
    rows = [{"N": int(m[1]), "r": float(m[2]), "seed": int(m[3])} for m in found if m]
    return pd.DataFrame(rows, columns=["N", "r", "seed"])


def seed_counts(preset: str = "glyphs_hard") -> pd.DataFrame:
    """How many seeds each committed study of ``preset`` trained per cell, read from the tables themselves.

    One row per study of :data:`SEEDED_STUDIES` present in :func:`committed_results_dir`: ``study``,
    ``notebook``, ``cells``, ``seeds per cell`` (the fewest and the most, e.g. ``"5"`` or ``"1 to 3"``)
    and ``seeds`` (every seed that occurs). Absent studies are left out.
    """
    folder = committed_results_dir(preset)
    rows = []
    for study, (notebook, cells) in SEEDED_STUDIES.items():
        if study == "snapshots":
            table = _snapshot_cells(folder / "snapshots")
        elif (folder / f"{study}.csv").is_file():
            table = read_csv(folder / f"{study}.csv")
        else:
            continue
        if table.empty:
            continue
        per_cell = table.groupby(list(cells))["seed"].nunique()
        fewest, most = int(per_cell.min()), int(per_cell.max())
        rows.append(
            {
                "study": study,
                "notebook": notebook,
                "cells": len(per_cell),
                "seeds per cell": str(fewest) if fewest == most else f"{fewest} to {most}",
                "seeds": sorted(int(seed) for seed in table["seed"].unique()),
            }
        )
    return pd.DataFrame(rows, columns=["study", "notebook", "cells", "seeds per cell", "seeds"])
