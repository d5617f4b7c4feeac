"""The ``N`` x ``r`` grid's findings, written by the data (the README's grid section, notebooks 8 and 11).

:func:`grid_findings` changes one setting at a time: every pair of ``N``
values at one ``r`` and every pair of ``r`` values at one ``N`` (Welch over
the seeds, Holm across these pairs together), shown as tables of differences
with their 95% intervals. :func:`fewer_is_more` checks the paper's "fewer is
more" (a small ``k = ceil(r C N)`` is as good as a large one) on the grid.
The words follow :mod:`proxygml_lite.lab.findings`: a cell "beats" another
only where the corrected p < 0.05.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import statistics
from .findings import markdown_table, mean_std_text, seed_counts_text
from .study_tables import format_mean_std, study_comparisons, summarize_seeds

__all__ = ["one_variable_pairs", "NAMED_WINS", "grid_findings", "fewer_is_more"]


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
            + " This family was chosen after the means picked the best cell, which favours it (the winner's curse):"
            " read these comparisons as a description of its neighbourhood, not as a test planned in advance."
        )
    return "\n\n".join(parts)


def fewer_is_more(grid: pd.DataFrame, *, metric: str = "R@1") -> tuple[pd.DataFrame, str]:
    """The paper's "fewer is more" (a small ``k = ceil(r C N)`` is as good as a large one) on the ``N x r`` grid.

    Compares every pair of ``r`` values within each ``N`` (Welch over the seeds,
    :func:`proxygml_lite.lab.study_tables.study_comparisons`), Holm-corrected
    across the same family as :func:`grid_findings` (every pair of cells that
    differ in one setting, so that the README, notebook 8 and notebook 11 give
    one verdict for each pair), and writes what
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
    n_pairs, _ = one_variable_pairs(summary)  # corrected together with the r pairs, as in grid_findings
    family = len(pairs) + len(n_pairs)
    compared = study_comparisons(grid, "grid", metric=metric, pairs=pairs + n_pairs).iloc[: len(pairs)]
    compared = compared.reset_index(drop=True)
    compared.insert(0, "N", at)
    compared["r A"] = [a[1] for a, _ in pairs]
    compared["r B"] = [b[1] for _, b in pairs]
    seeds = sorted(set(summary["seeds"]))
    lines = [
        f"**{metric} against r for each N** (mean ± std over {'/'.join(str(s) for s in seeds)} seeds, in %; "
        f"every pair of r values within an N compared by Welch's test, Holm-corrected across the "
        + (
            f"{family} pairs of cells that differ in one setting, these {len(compared)} and the {len(n_pairs)} "
            "pairs of N at one r, as in notebook 8 and the README):"
            if n_pairs
            else f"{len(compared)} pairs):"
        )
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
            f". Of the pairs of r values of one N that the seeds separate, the larger k wins {_times(larger)} and "
            f"the smaller k {_times(smaller)}: in {'that pair' if larger == 1 else 'those pairs'} of the larger k, "
            f"{paper} does not hold; in the others it does"
            if smaller
            else f". Of the pairs of r values of one N that the seeds separate, the larger k wins every one "
            f"({_times(larger)}): there, {paper} does not hold"
        )
    else:
        reading += (
            f". Of the pairs of r values of one N that the seeds separate, the smaller k wins every one "
            f"({_times(smaller)}), as {paper} says"
        )
    lines.append(reading + ".")
    return compared, " ".join(lines).replace(" \n", "\n")


def _times(count: int) -> str:
    return "once" if count == 1 else "twice" if count == 2 else f"{count} times"
