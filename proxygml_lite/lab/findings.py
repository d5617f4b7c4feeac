"""Findings written by the data: Markdown paragraphs and tables generated from the study tables.

Every number that the README's study section (``scripts/update_readme.py``)
or a notebook's findings cell (``display(Markdown(...))``) states comes from
here, computed from ``ablation.csv`` / ``grid.csv`` with
:mod:`proxygml_lite.statistics`: the sample std over seeds, Welch's 95%
interval of each difference, and Holm's correction across the comparisons of
one table. A cell "beats" another only where the corrected p < 0.05;
otherwise the words are "cannot tell apart with n seeds". Nothing here is
typed from an earlier run. :func:`fewer_is_more` checks the paper's "fewer
is more" on the ``N x r`` grid (notebook 11).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .. import statistics
from ..fileio import read_csv
from .study_tables import (
    ablation_beside_paper,
    ablation_claims,
    committed_results_dir,
    format_mean_std,
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
    "one_variable_pairs",
    "grid_findings",
    "fewer_is_more",
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
    return (
        f"The tables hold {runs} runs ({names}; seeds {', '.join(map(str, seeds))}); the runs took "
        f"{seconds / 3600:.1f} hours of training and evaluation in all, {where}."
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
                "here (points, 95% CI)": [
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
            f"(Holm across the {len(claims)}, `study_tables.ablation_claims`): {held} hold, {reversed_} are "
            f"reversed, and {len(claims) - held - reversed_} cannot be told apart with {seeds}.",
            markdown_table(verdicts),
        ]
    return "\n\n".join(parts)


def one_variable_pairs(summary: pd.DataFrame) -> tuple[list, list]:
    """The grid's pairs of cells that differ in one setting: ``(N pairs, r pairs)``.

    ``N pairs`` holds every pair of ``N`` values at the same ``r`` (larger ``N``
    first), ``r pairs`` every pair of ``r`` values at the same ``N`` (larger
    ``r`` first), each as ``((N, r), (N, r))`` cell keys for
    :func:`~proxygml_lite.lab.study_tables.study_comparisons`.
    """
    cells = set(zip(summary["N"], summary["r"]))
    n_values, r_values = sorted(set(summary["N"])), sorted(set(summary["r"]))
    n_pairs = [
        ((big, r), (small, r))
        for r in r_values
        for small, big in itertools.combinations(n_values, 2)
        if (big, r) in cells and (small, r) in cells
    ]
    r_pairs = [
        ((n, big), (n, small))
        for n in n_values
        for small, big in itertools.combinations(r_values, 2)
        if (n, big) in cells and (n, small) in cells
    ]
    return n_pairs, r_pairs


def _difference_text(row: pd.Series) -> str:
    """``"+1.7 (+1.0 to +2.4)"`` in points, in bold where the Holm-corrected p < 0.05."""
    text = f"{100 * row['difference']:+.1f} ({100 * row['CI low']:+.1f} to {100 * row['CI high']:+.1f})"
    return f"**{text}**" if row["p (Holm)"] < statistics.ALPHA else text


def _effect_table(compared: pd.DataFrame, pairs: list, *, varied: str, fixed: str) -> pd.DataFrame:
    """One row per pair of ``varied`` values, one column per ``fixed`` value: the difference and its interval."""
    index = {"N": 0, "r": 1}
    rows: dict[str, dict[str, str]] = {}
    for (a, b), (_, row) in zip(pairs, compared.iterrows()):
        name = f"{varied} = {a[index[varied]]:g} − {varied} = {b[index[varied]]:g}"
        rows.setdefault(name, {})[f"{fixed} = {a[index[fixed]]:g}"] = _difference_text(row)
    columns = sorted({c for r in rows.values() for c in r}, key=lambda c: float(c.split("= ")[1]))
    frame = pd.DataFrame(
        [{"difference (points)": name, **{c: r.get(c, "-") for c in columns}} for name, r in rows.items()]
    )
    return frame


#: A direction with at most this many separated pairs has them named one by one.
NAMED_WINS = 4


def _direction_sentence(compared: pd.DataFrame, pairs: list, *, varied: str, fixed: str) -> str:
    """How many of ``varied``'s pairs the tests separate, and which way; a direction with few wins names them."""
    index = {"N": 0, "r": 1}
    claimed = (compared["p (Holm)"] < statistics.ALPHA).to_numpy()
    larger_wins = claimed & (compared["difference"] > 0).to_numpy()
    smaller_wins = claimed & (compared["difference"] < 0).to_numpy()
    if not claimed.any():
        return f"Changing {varied} alone: none of its {len(pairs)} pairs can be told apart with these seeds."

    def named(mask) -> str:
        listed = []
        for (a, b), won, larger in zip(pairs, mask, larger_wins):
            if won:
                first, second = (a, b) if larger else (b, a)
                listed.append(
                    f"{varied} = {first[index[varied]]:g} over {varied} = {second[index[varied]]:g} "
                    f"at {fixed} = {a[index[fixed]]:g}"
                )
        return "; ".join(listed)

    counts = []
    for side, mask in (("larger", larger_wins), ("smaller", smaller_wins)):
        wins = int(mask.sum())
        listed = f" ({named(mask)})" if 0 < wins <= NAMED_WINS else ""
        counts.append(f"the {side} {varied} wins {wins}{listed}")
    return (
        f"Changing {varied} alone: the tests separate {int(claimed.sum())} of its {len(pairs)} pairs; "
        + " and ".join(counts)
        + "."
    )


def grid_findings(table: pd.DataFrame, *, num_classes: int | None = None) -> str:
    """The ``N`` x ``r`` grid (R@1 mean ± std with ``k``), the effect of each setting alone and the best cell, as Markdown.

    The comparisons change one setting at a time: every pair of ``N`` values at
    one ``r`` and every pair of ``r`` values at one ``N`` (Welch over the seeds,
    Holm-corrected across all these pairs together); they are shown as two
    tables of differences with their 95% intervals, bold where the corrected
    p < 0.05. The best cell is compared with each other cell as its own family.
    """
    summary = summarize_seeds(table, by=["N", "r"])
    seeds = seed_counts_text(summary)
    r_values: Sequence[float] = sorted(summary["r"].unique())
    rows = []
    for n_value, cells in summary.groupby("N", sort=True):
        line = {"R@1 (%)": f"N = {int(n_value)}"}
        for r in r_values:
            cell = cells[cells["r"] == r]
            if cell.empty:
                line[f"r = {r:g}"] = "-"
                continue
            cell = cell.iloc[0]
            k = f" (k = {int(cell['k'])})" if "k" in cell and not pd.isna(cell["k"]) else ""
            line[f"r = {r:g}"] = mean_std_text(cell["R@1 mean"], cell["R@1 std"]) + k
        rows.append(line)
    classes = f", `C = {num_classes}`" if num_classes else ", `C` the training classes"
    parts = [
        f"The `N` x `r` grid, R@1 in %, mean ± sample std over {seeds} (`k = ceil(r C N)`{classes}):",
        markdown_table(pd.DataFrame(rows)),
    ]
    n_pairs, r_pairs = one_variable_pairs(summary)
    if n_pairs or r_pairs:
        compared = study_comparisons(table, "grid", pairs=n_pairs + r_pairs)
        by_n, by_r = compared.iloc[: len(n_pairs)], compared.iloc[len(n_pairs) :]
        parts.append(
            f"Each setting changed alone: the difference in R@1 (points, first cell minus second, Welch's 95% "
            f"interval of each pair, not corrected) for every pair of cells that differ in `N` only or in `r` only. Welch's t-test, "
            f"Holm-corrected across these {len(compared)} pairs together (`statistics.compare_cells`); **bold**: "
            f"the corrected p < 0.05, the other differences cannot be told from zero with {seeds}."
        )
        for varied, fixed, pairs, part in (("N", "r", n_pairs, by_n), ("r", "N", r_pairs, by_r)):
            if pairs:
                parts.append(markdown_table(_effect_table(part, pairs, varied=varied, fixed=fixed)))
                parts.append(_direction_sentence(part, pairs, varied=varied, fixed=fixed))
    best = summary.loc[summary["R@1 mean"].idxmax()]
    key = (best["N"], best["r"])
    best_label = statistics.cell_label(["N", "r"], key)
    others = [(key, (n, r)) for n, r in zip(summary["N"], summary["r"]) if (n, r) != key]
    if others:
        against_best = study_comparisons(table, "grid", pairs=others)
        tied = [row["B"] for _, row in against_best.iterrows() if not row["p (Holm)"] < statistics.ALPHA]
        parts.append(
            f"The highest mean is `{best_label}` ({mean_std_text(best['R@1 mean'], best['R@1 std'])}). Compared "
            f"with each of the other {len(others)} cells (Holm across these {len(others)}), "
            + (
                f"{len(tied)} cannot be told apart from it with {seeds}: {', '.join(f'`{t}`' for t in tied)}."
                if tied
                else "it beats every one after the correction."
            )
        )
    return "\n\n".join(parts)


def fewer_is_more(grid: pd.DataFrame, *, metric: str = "R@1") -> tuple[pd.DataFrame, str]:
    """The paper's "fewer is more" (a small ``k = ceil(r C N)`` is as good as a large one) on the ``N x r`` grid.

    Compares every pair of ``r`` values within each ``N`` (Welch over the seeds,
    Holm-corrected across exactly these comparisons,
    :func:`proxygml_lite.lab.study_tables.study_comparisons`) and writes what
    they support: per ``N`` the means and the ``r`` with the highest mean, the
    pairs the tests separate (in full), and what that says about a small ``k``.

    Returns:
        ``(comparisons, markdown)``: the comparison table (``N`` first, then
        :func:`proxygml_lite.statistics.compare_cells`'s columns) and the paragraph.
    """
    summary = summarize_seeds(grid, by=["N", "r"], metrics=[metric])
    pairs, at = [], []
    for n, cells in summary.groupby("N", sort=True):
        for a, b in itertools.combinations(sorted(cells["r"]), 2):
            pairs.append(((n, a), (n, b)))
            at.append(int(n))
    if not pairs:
        raise ValueError("the grid has one r per N: nothing to compare; it needs at least two r values for some N")
    compared = study_comparisons(grid, "grid", metric=metric, pairs=pairs)
    compared.insert(0, "N", at)
    compared["r A"] = [a[1] for a, _ in pairs]
    compared["r B"] = [b[1] for _, b in pairs]
    seeds = sorted(set(summary["seeds"]))
    lines = [
        f"**{metric} against r for each N** (mean ± std over {'/'.join(str(s) for s in seeds)} seeds, in %; "
        f"every pair of r values within an N compared by Welch's test, Holm-corrected across the "
        f"{len(compared)} pairs):"
    ]
    best_r = {}
    for n, cells in summary.groupby("N", sort=True):
        cells = cells.sort_values("r")
        best = cells.loc[cells[f"{metric} mean"].idxmax()]
        best_r[int(n)] = float(best["r"])
        shown = ", ".join(
            f"r = {r:g} (k = {int(k):,}): {format_mean_std(m, s)}"
            for r, k, m, s in zip(cells["r"], cells["k"], cells[f"{metric} mean"], cells[f"{metric} std"])
        )
        lines.append(f"\n* N = {int(n)}: {shown}; highest mean at r = {best['r']:g}.")
    smallest = min(summary["r"])
    counts = pd.Series(best_r).value_counts()
    common = float(counts.index[0])
    at_common = [n for n, r in best_r.items() if r == common]
    which = "every N" if len(at_common) == len(best_r) else "N = " + ", ".join(str(n) for n in at_common)
    others = [f"r = {r:g} for N = {n}" for n, r in best_r.items() if r != common]
    lines.append(
        f"\n\nThe highest mean is at r = {common:g} for {which}" + (f" ({', '.join(others)})" if others else "") + "."
    )
    claimed = compared["p (Holm)"] < statistics.ALPHA
    winners = np.where(compared["difference"] > 0, compared["r A"], compared["r B"])
    losers = np.where(compared["difference"] > 0, compared["r B"], compared["r A"])
    if claimed.any():
        lines.append(
            f"The tests separate {int(claimed.sum())} of the {len(compared)} pairs: "
            + "; ".join(compared.loc[claimed, "verdict"])
            + ". The other pairs cannot be told apart with these seeds."
        )
    else:
        lines.append(f"None of the {len(compared)} pairs can be told apart with these seeds.")
    smallest_best = [n for n, r in best_r.items() if r == smallest]
    if not smallest_best:
        reading = f"So the smallest subgraph of the grid (r = {smallest:g}) has the best mean for no N"
    elif len(smallest_best) < len(best_r):
        reading = (
            f"So the smallest subgraph of the grid (r = {smallest:g}) has the best mean only for N = "
            + ", ".join(str(n) for n in smallest_best)
        )
    else:
        reading = f"So the smallest subgraph of the grid (r = {smallest:g}) has the best mean for every N"
    if common != smallest:
        reading += f"; the means favour r = {common:g} ({which})"
    larger = int((claimed & (winners > losers)).sum())
    smaller = int((claimed & (winners < losers)).sum())
    paper = 'the paper\'s "fewer is more" (a small k is as good as a large one)'
    if not claimed.any():
        reading += f". With no pair told apart, the grid neither confirms nor refutes {paper}"
    elif larger:
        reading += (
            f". Where the seeds separate two r values of one N, the larger k wins {larger} time(s) and the smaller "
            f"{smaller}: there, {paper} does not hold"
        )
    else:
        reading += (
            f". Where the seeds separate two r values of one N, the smaller k wins ({smaller} time(s)), as {paper} says"
        )
    lines.append(reading + ".")
    return compared, " ".join(lines).replace(" \n", "\n")


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
