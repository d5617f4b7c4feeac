"""Statistics over seeds: when may a notebook say that one study cell beats another?

A study cell (an ablation row, an ``(N, r)`` grid point) is trained with a few
seeds; each seed gives one value of a metric (R@1, NMI). This module is the one
place that turns those values into claims:

* :func:`sample_std` -- the sample standard deviation (``ddof = 1``), the one
  every table and figure shows;
* :func:`welch` -- the difference of two cells' means with its 95% confidence
  interval and two-sided p-value by Welch's t-test (unequal variances, the
  Welch-Satterthwaite degrees of freedom); :func:`bootstrap_ci` gives a
  percentile bootstrap interval over the seeds instead;
* :func:`holm` -- Holm's step-down correction of the p-values of all the
  comparisons made within one table (it controls the chance of *any* false
  claim in the table, the family-wise error rate, at 0.05);
* :func:`verdict` -- the sentence a notebook prints: ``"A beats B by ..."``
  only where the Holm-corrected p < 0.05, otherwise ``"cannot tell apart with
  n seeds"``;
* :func:`compare_cells` -- the pairwise comparison table of a study table
  (every pair of cells, or the pairs asked for), Holm-corrected within it;
  :func:`find_comparison` reads one pair back by its :func:`cell_label`;
* :func:`new_seed_tolerance` -- how far one more run of a cell may land from
  the cell's mean (a prediction interval), used where a rerun on another
  processor is checked against a committed cell.

With 3-5 seeds these tests have little power: "cannot tell apart" is the
honest answer for most differences of a point or two, and the confidence
interval says how large a difference the seeds leave open. The interval is
per comparison (not corrected); the p-value is corrected.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as _scipy_stats

__all__ = [
    "ALPHA",
    "sample_std",
    "Comparison",
    "welch",
    "bootstrap_ci",
    "holm",
    "verdict",
    "compare_cells",
    "cell_label",
    "find_comparison",
    "new_seed_tolerance",
]

#: The significance level of every claim (after Holm's correction).
ALPHA = 0.05


def _values(values: Iterable[float]) -> np.ndarray:
    array = np.asarray(list(values), dtype=float)
    if np.isnan(array).any():
        raise ValueError("a seed's value is NaN; drop or rerun that seed before comparing cells")
    return array


def sample_std(values: Iterable[float]) -> float:
    """The sample standard deviation (``ddof = 1``) of the seeds' values; ``nan`` with fewer than two."""
    array = _values(values)
    return float(array.std(ddof=1)) if len(array) > 1 else float("nan")


@dataclass(frozen=True)
class Comparison:
    """Cell ``a`` against cell ``b`` by Welch's t-test (``difference = mean_a - mean_b``)."""

    a: Any
    b: Any
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    df: float
    confidence: float = 0.95
    p_corrected: float | None = None  # Holm-corrected within a table; ``None`` = one comparison alone

    @property
    def p_for_claims(self) -> float:
        """The p-value a claim uses: the corrected one when there is one."""
        return self.p_value if self.p_corrected is None else self.p_corrected


def welch(
    a_values: Iterable[float],
    b_values: Iterable[float],
    *,
    a: Any = "A",
    b: Any = "B",
    confidence: float = 0.95,
) -> Comparison:
    """Welch's t-test of ``mean(a) - mean(b)``: the difference, its ``confidence`` interval, two-sided p.

    ``se = sqrt(s_a^2 / n_a + s_b^2 / n_b)`` with sample variances, the
    Welch-Satterthwaite ``df``, ``t = difference / se``, ``p = 2 P(T_df > |t|)``
    and the interval ``difference ± t_{df, (1 + confidence) / 2} se``. A cell
    with one seed, or two cells without any spread (``se = 0``), give ``nan``
    for p and the interval: the seeds cannot say.
    """
    x, y = _values(a_values), _values(b_values)
    n_a, n_b = len(x), len(y)
    if n_a == 0 or n_b == 0:
        raise ValueError(f"a cell has no seeds ({a!r}: {n_a}, {b!r}: {n_b}); each needs at least two")
    difference = float(x.mean() - y.mean()) if n_a and n_b else float("nan")
    nan = float("nan")
    if n_a < 2 or n_b < 2:
        return Comparison(a, b, n_a, n_b, float(x.mean()), float(y.mean()), difference, nan, nan, nan, nan, confidence)
    var_a, var_b = x.var(ddof=1) / n_a, y.var(ddof=1) / n_b
    se = math.sqrt(var_a + var_b)
    if se == 0.0:
        return Comparison(a, b, n_a, n_b, float(x.mean()), float(y.mean()), difference, nan, nan, nan, nan, confidence)
    df = float((var_a + var_b) ** 2 / (var_a**2 / (n_a - 1) + var_b**2 / (n_b - 1)))
    t = difference / se
    p = float(2.0 * _scipy_stats.t.sf(abs(t), df))
    half = float(_scipy_stats.t.ppf(0.5 + confidence / 2.0, df) * se)
    return Comparison(
        a,
        b,
        n_a,
        n_b,
        float(x.mean()),
        float(y.mean()),
        difference,
        difference - half,
        difference + half,
        p,
        df,
        confidence,
    )


def bootstrap_ci(
    a_values: Iterable[float],
    b_values: Iterable[float],
    *,
    confidence: float = 0.95,
    resamples: int = 10_000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``mean(a) - mean(b)``: each cell's seeds resampled with replacement.

    With 3-5 seeds the bootstrap interval is too narrow (a resample cannot be
    more spread than the seeds it is drawn from); Welch's interval is the one
    the verdicts use. ``seed`` fixes the resampling, so the interval is the same on every call.
    """
    x, y = _values(a_values), _values(b_values)
    if len(x) == 0 or len(y) == 0:
        raise ValueError("a cell has no seeds; the bootstrap needs at least one value per cell")
    rng = np.random.default_rng(seed)
    means_a = x[rng.integers(0, len(x), size=(resamples, len(x)))].mean(axis=1)
    means_b = y[rng.integers(0, len(y), size=(resamples, len(y)))].mean(axis=1)
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(means_a - means_b, [tail, 100 - tail])
    return float(low), float(high)


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the order given (a ``nan`` p stays ``nan`` and counts as 1).

    Sort the m p-values ascending, ``p_(1) <= ... <= p_(m)``; the adjusted
    ``p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``. A comparison is a
    claim where ``p~ < 0.05``: the same as Holm's rule "reject ``p_(i)`` while
    ``p_(i) < 0.05 / (m - i + 1)``".
    """
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    filled = np.where(np.isnan(p), 1.0, p)
    order = np.argsort(filled, kind="stable")
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * filled[order]))
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    adjusted[np.isnan(p)] = np.nan
    return adjusted


def _seeds_phrase(c: Comparison) -> str:
    return f"{c.n_a} seeds" if c.n_a == c.n_b else f"{c.n_a} and {c.n_b} seeds"


def verdict(c: Comparison, *, alpha: float = ALPHA, percent: bool = True, digits: int = 1) -> str:
    """The sentence for ``c``: ``"A beats B by 1.2 points (95% CI 0.4 to 2.0, Holm p = 0.012)"`` or
    ``"cannot tell A and B apart with 3 seeds (difference ..., ...)"``. Where a corrected p cannot tell A and B
    apart but the per-comparison interval excludes 0, the interval is called "uncorrected".

    A claim needs the corrected p (:attr:`Comparison.p_for_claims`) below ``alpha``.
    ``percent`` shows fractions as percentage points.
    """
    scale, unit = (100.0, " points") if percent else (1.0, "")
    p_name = "p" if c.p_corrected is None else "Holm p"
    p = c.p_for_claims

    def number(x: float) -> str:
        return f"{scale * x:.{digits}f}"

    if np.isnan(p):
        return f"cannot tell {c.a} and {c.b} apart with {_seeds_phrase(c)} (difference {number(c.difference)}{unit}; no seed spread to test against)"
    interval = f"{100 * c.confidence:.0f}% CI {number(c.ci_low)} to {number(c.ci_high)}, {p_name} = {p:.2g}"
    if p < alpha and c.difference != 0:
        if c.difference > 0:
            return f"{c.a} beats {c.b} by {number(c.difference)}{unit} ({interval})"
        flipped = f"{100 * c.confidence:.0f}% CI {number(-c.ci_high)} to {number(-c.ci_low)}, {p_name} = {p:.2g}"
        return f"{c.b} beats {c.a} by {number(-c.difference)}{unit} ({flipped})"
    if c.p_corrected is not None and (c.ci_low > 0 or c.ci_high < 0):  # the interval is per comparison, p is not
        interval = "uncorrected " + interval
    return f"cannot tell {c.a} and {c.b} apart with {_seeds_phrase(c)} (difference {number(c.difference)}{unit}, {interval})"


def cell_label(by: Sequence[str], key: Any) -> str:
    """How :func:`compare_cells` names a cell: ``"row 8"`` for ``by = ["row"]``, else ``"N=4, r=0.15"``."""
    key = key if isinstance(key, tuple) else (key,)
    shown = [int(v) if isinstance(v, (float, np.floating)) and float(v).is_integer() else v for v in key]
    if list(by) == ["row"]:
        return f"row {shown[0]}"
    return ", ".join(f"{name}={value}" for name, value in zip(by, shown))


def find_comparison(comparisons: pd.DataFrame, a: str, b: str) -> pd.Series:
    """The row of ``comparisons`` (from :func:`compare_cells`) that compares cells ``a`` and ``b`` (either order)."""
    hit = comparisons[
        ((comparisons["A"] == a) & (comparisons["B"] == b)) | ((comparisons["A"] == b) & (comparisons["B"] == a))
    ]
    if hit.empty:
        raise ValueError(
            f"no comparison of {a!r} with {b!r}; the table compares {sorted(set(comparisons['A']) | set(comparisons['B']))}"
        )
    return hit.iloc[0]


def compare_cells(
    table: pd.DataFrame,
    *,
    by: Sequence[str],
    metric: str = "R@1",
    pairs: Sequence[tuple[Any, Any]] | None = None,
    alpha: float = ALPHA,
    confidence: float = 0.95,
    percent: bool = True,
) -> pd.DataFrame:
    """The pairwise comparison table of one study table, Holm-corrected across its rows.

    Args:
        table: one row per (cell, seed), e.g. ``ablation.csv`` or ``grid.csv``.
        by: the cell's identifier columns (``["row"]``, ``["N", "r"]``).
        metric: the metric column compared.
        pairs: ``(a, b)`` cell keys to compare (each a value, or a tuple for
            several ``by`` columns), e.g. the paper's claims ``(8, 7)``; every
            pair of cells (in table order) when ``None``. Holm corrects across
            exactly these comparisons.

    Returns:
        One row per pair: ``A``, ``B`` (labels such as ``"row 8"`` or
        ``"N=4, r=0.15"``), ``seeds A``, ``seeds B``, ``mean A``, ``mean B``,
        ``difference`` (``mean A - mean B``), ``CI low``, ``CI high`` (Welch,
        per comparison), ``p`` (Welch), ``p (Holm)`` and ``verdict``
        (:func:`verdict`). Numbers are in the metric's units (fractions).
    """
    by = list(by)
    missing = [c for c in [*by, metric] if c not in table.columns]
    if missing:
        raise ValueError(f"the table lacks the column(s) {missing}; it has {list(table.columns)}")
    groups = {
        (key if len(by) > 1 else key[0]): group[metric].to_numpy(dtype=float)
        for key, group in table.groupby(by, sort=True)
    }
    if pairs is None:
        pairs = list(itertools.combinations(groups, 2))
    absent = [key for pair in pairs for key in pair if key not in groups]
    if absent:
        raise ValueError(f"no cell {absent[0]!r} in the table (its cells: {list(groups)})")
    comparisons = [
        welch(groups[a], groups[b], a=cell_label(by, a), b=cell_label(by, b), confidence=confidence) for a, b in pairs
    ]
    corrected = holm([c.p_value for c in comparisons])
    rows = []
    for c, p_holm in zip(comparisons, corrected):
        c = Comparison(**{**c.__dict__, "p_corrected": float(p_holm)})
        rows.append(
            {
                "A": c.a,
                "B": c.b,
                "seeds A": c.n_a,
                "seeds B": c.n_b,
                "mean A": c.mean_a,
                "mean B": c.mean_b,
                "difference": c.difference,
                "CI low": c.ci_low,
                "CI high": c.ci_high,
                "p": c.p_value,
                "p (Holm)": c.p_corrected,
                "verdict": verdict(c, alpha=alpha, percent=percent),
            }
        )
    return pd.DataFrame(rows)


def new_seed_tolerance(values: Iterable[float], *, level: float = 0.99, floor: float = 0.0) -> float:
    """How far one more run of a cell may land from the cell's mean: a ``level`` prediction interval's half-width.

    For ``n`` seeds with mean ``m`` and sample std ``s``, a new draw from the same
    normal distribution lies in ``m ± t_{n-1, (1 + level) / 2} s sqrt(1 + 1/n)``
    with probability ``level`` (the std is estimated, hence Student's t, and the
    mean too, hence ``1 + 1/n``). The result is at least ``floor``; ``nan``
    with one seed.
    """
    array = _values(values)
    n = len(array)
    if n < 2:
        return float("nan")
    k = float(_scipy_stats.t.ppf(0.5 + level / 2.0, n - 1) * math.sqrt(1.0 + 1.0 / n))
    return max(k * float(array.std(ddof=1)), floor)
