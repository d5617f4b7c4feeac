"""Repeated timings compared: which of two things is slower, and by how much, as far as the repeats can tell.

* :func:`compare_times` -- two sets of repeated timings compared with
  :mod:`proxygml_lite.statistics`: Welch's t-test on the *log* times (timing
  noise on a shared machine is multiplicative: a busy core stretches a whole
  repeat), so the difference is the log of a time ratio and its interval is a
  ratio interval; Holm-corrected across the comparisons made together.
* :func:`compare_series` -- every pair of series at equal ``C`` of the
  efficiency table (``efficiency.csv``), from its kept repeats.

A verdict says "slower" only where the Holm-corrected p < 0.05
(:data:`proxygml_lite.statistics.ALPHA`); otherwise "cannot tell apart".
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .. import statistics
from ..studies.efficiency_table import efficiency_cells

__all__ = ["compare_times", "compare_series"]


def _ratio(value: float) -> str:
    """``"0.79x"``, ``"1.04x"``, ``"19x"``, ``"1,234x"``, ``"0.000081x"``: never an exponent.

    Near 1 it keeps the digits that tell the side: 0.996 is ``"0.996x"`` and 1.003 ``"1.003x"``, not ``"1x"`` or
    ``"1.00x"``, so that the end of an interval that excludes 1 never reads as 1.
    """
    if value >= 10:
        return f"{value:,.0f}x"
    if value >= 1:
        decimals = 2
        while value > 1 and float(f"{value:.{decimals}f}") == 1 and decimals < 17:
            decimals += 1
        return f"{value:.{decimals}f}x"
    digits = 2
    while digits < 17 and float(np.format_float_positional(value, precision=digits, fractional=False)) >= 1:
        digits += 1  # 0.996 rounds to 1 at two significant digits
    return np.format_float_positional(value, precision=digits, unique=False, fractional=False, trim="-") + "x"


def compare_times(pairs: Sequence[tuple[str, Sequence[float], str, Sequence[float]]]) -> pd.DataFrame:
    """Each ``(label A, times A, label B, times B)`` compared on log times, Holm-corrected across ``pairs``.

    Returns one row per pair: ``A``, ``B``, ``repeats A``, ``repeats B``,
    ``median A``, ``median B`` (ms), ``ratio`` (``A / B``, the ratio of the
    geometric means), ``CI low`` / ``CI high`` (its 95% Welch interval, per
    comparison), ``p``, ``p (Holm)`` and ``verdict``: ``"A is slower than B:
    2.1x its time (95% CI 1.6x to 2.8x, Holm p = 0.003)"`` (the slower one
    named first) or ``"cannot tell A and B apart with 10 repeats each (...)"``.
    """
    comparisons = []
    for a, times_a, b, times_b in pairs:
        x, y = np.asarray(times_a, dtype=float), np.asarray(times_b, dtype=float)
        if (x <= 0).any() or (y <= 0).any():
            raise ValueError(f"a time of {a!r} or {b!r} is not positive; times are milliseconds > 0")
        comparisons.append((statistics.welch(np.log(x), np.log(y), a=a, b=b), x, y))
    corrected = statistics.holm([c.p_value for c, _, _ in comparisons])
    rows = []
    for (c, x, y), p_holm in zip(comparisons, corrected):
        ratio, low, high = math.exp(c.difference), math.exp(c.ci_low), math.exp(c.ci_high)
        each = f"{c.n_a} repeats each" if c.n_a == c.n_b else f"{c.n_a} and {c.n_b} repeats"
        if np.isnan(p_holm):
            verdict = f"cannot tell {c.a} and {c.b} apart with {each} (time ratio {_ratio(ratio)}; no spread to test)"
        elif p_holm < statistics.ALPHA:
            slow, fast, r, lo, hi = (
                (c.a, c.b, ratio, low, high) if ratio > 1 else (c.b, c.a, 1 / ratio, 1 / high, 1 / low)
            )
            verdict = (
                f"{slow} is slower than {fast}: {_ratio(r)} its time "
                f"(95% CI {_ratio(lo)} to {_ratio(hi)}, Holm p = {p_holm:.2g})"
            )
        else:  # an interval that excludes 1 is per comparison: Holm decides, as in statistics.verdict
            interval = "uncorrected 95% CI" if low > 1 or high < 1 else "95% CI"
            verdict = (
                f"cannot tell {c.a} and {c.b} apart with {each} (time ratio {_ratio(ratio)}, "
                f"{interval} {_ratio(low)} to {_ratio(high)}, Holm p = {p_holm:.2g})"
            )
        rows.append(
            {
                "A": c.a,
                "B": c.b,
                "repeats A": c.n_a,
                "repeats B": c.n_b,
                "median A": float(np.median(x)),
                "median B": float(np.median(y)),
                "ratio": ratio,
                "CI low": low,
                "CI high": high,
                "p": c.p_value,
                "p (Holm)": float(p_holm),
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows)


def compare_series(table: pd.DataFrame) -> pd.DataFrame:
    """Every pair of measured series at each ``C`` of ``efficiency.csv``, from the kept repeats, Holm across all.

    Returns :func:`compare_times`'s table with a first column ``C``; empty
    (no rows) for a table that keeps no repeats.
    """
    cells = efficiency_cells(table)
    cells = cells[cells["measured"] & (cells["repeats"] >= 2)]
    pairs, at = [], []
    for c, group in cells.groupby("num_classes", sort=True):
        for (_, a), (_, b) in itertools.combinations(group.iterrows(), 2):
            pairs.append((a["series"], a["repeat_times_ms"], b["series"], b["repeat_times_ms"]))
            at.append(int(c))
    if not pairs:
        return pd.DataFrame(columns=["C", "A", "B", "ratio", "p (Holm)", "verdict"])
    compared = compare_times(pairs)
    compared.insert(0, "C", at)
    return compared
