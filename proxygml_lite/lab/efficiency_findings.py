"""Notebook 11's findings about cost, written from its tables: every number in them comes from the table it reads.

* :func:`ordering_findings`, :func:`noise_findings`, :func:`memory_findings`,
  :func:`step_findings` -- the Markdown paragraphs of notebook 11 about cost.
  A table without repeats (written before they were kept) gets no ordering
  claims: only what it shows (its spread, where median and minimum disagree).

Timings are compared with :mod:`proxygml_lite.lab.timing_comparisons` (Welch's
t-test on the log times, Holm-corrected). A claim ("slower", "beats") is made
only where the Holm-corrected p < 0.05 (:data:`proxygml_lite.statistics.ALPHA`);
otherwise the text says "cannot tell apart". The things compared are timed in
turns (:func:`proxygml_lite.studies.loss_cost.interleaved_ms`), so a change in the
machine's load slows them alike; still, successive rounds share the machine's
state (a slow stretch slows several in a row), so the repeats are not the
independent draws the tests assume, which makes the tests too confident rather
than too cautious; the paragraphs say so. The grid's "fewer is more" is
:func:`proxygml_lite.lab.grid_findings.fewer_is_more`.
"""

from __future__ import annotations

import itertools

import pandas as pd

from .. import statistics
from ..studies.efficiency_table import efficiency_cells
from .subgraph_cost import STEPS, WHOLE_LAYER
from .timing_comparisons import compare_series, compare_times

__all__ = [
    "noise_findings",
    "ordering_findings",
    "memory_findings",
    "step_findings",
]

RE_MEASURE = "python -m proxygml_lite.studies --studies efficiency"


def _ms(value: float) -> str:
    """Milliseconds with 3 significant digits (``0.775``, ``48.7``, ``17,558``)."""
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _percent(value: float) -> str:
    """``"93 %"``; a share that rounds to 100 % but is not all of it reads ``"> 99 %"``."""
    return "> 99 %" if 99.5 <= value < 100 else f"{value:.0f} %"


def _c(value) -> str:
    return f"{int(value):,}"


def noise_findings(table: pd.DataFrame) -> str:
    """Markdown: how noisy the table's timings are (median / minimum, the load average when recorded)."""
    cells = efficiency_cells(table)
    measured = cells[cells["measured"]].copy()
    measured["median / min"] = measured["time_ms"] / measured["time_ms_min"]
    worst = measured.loc[measured["median / min"].idxmax()]
    lines = [
        f"**How noisy are these timings?** The median time of a cell is up to {worst['median / min']:.1f}x its "
        f"fastest repeat ({worst['series']} at C = {_c(worst['num_classes'])}: {_ms(worst['time_ms'])} ms against "
        f"{_ms(worst['time_ms_min'])} ms); over the cells, the median of this ratio is "
        f"{measured['median / min'].median():.2f}x."
    ]
    loads = measured["load_1min"].dropna()
    if len(loads):
        span = (
            f"{loads.min():.1f}"
            if f"{loads.min():.1f}" == f"{loads.max():.1f}"
            else f"{loads.min():.1f} to {loads.max():.1f}"
        )
        lines.append(
            f"The machine's 1-minute load average when the cells started was {span} "
            f"({int(measured['repeats'].max())} repeats per cell)."
        )
    else:
        lines.append(
            "The table does not record how busy the machine was (a table in the format written before 2026-12-06; "
            "the one committed until then was measured while the study's training runs shared the CPU)."
        )
    lines.append("Whether a difference between two series exceeds this noise is for the repeats and a test to say.")
    return " ".join(lines)


def _chain(group: pd.DataFrame, compared: pd.DataFrame) -> str:
    """``"A (1.1 ms) < B (2.0) ≈ C (2.2)"``: series by median; ``<`` where the test separates neighbours."""
    ordered = group.sort_values("time_ms")
    parts = []
    previous = None
    for _, cell in ordered.iterrows():
        if previous is not None:
            row = compared[
                ((compared["A"] == previous) & (compared["B"] == cell["series"]))
                | ((compared["A"] == cell["series"]) & (compared["B"] == previous))
            ]
            parts.append("<" if len(row) and row["p (Holm)"].iloc[0] < statistics.ALPHA else "≈")
        parts.append(f"{cell['series']} ({_ms(cell['time_ms'])} ms)")
        previous = cell["series"]
    return " ".join(parts)


def _extreme_claims(cells: pd.DataFrame, compared: pd.DataFrame, *, slowest: bool) -> str:
    """``"Slowest by median and slower than every other series (Holm p < 0.05): A at C = 100, 300; B at ..."``."""
    word, other = ("slowest", "slower") if slowest else ("fastest", "faster")
    clear: dict[str, list[str]] = {}
    open_ = []
    for c, group in cells.groupby("num_classes", sort=True):
        if len(group) < 2:
            continue
        top = group.loc[group["time_ms"].idxmax() if slowest else group["time_ms"].idxmin()]
        rows = compared[(compared["C"] == c) & ((compared["A"] == top["series"]) | (compared["B"] == top["series"]))]
        ties = [
            row["B"] if row["A"] == top["series"] else row["A"]
            for _, row in rows.iterrows()
            if not row["p (Holm)"] < statistics.ALPHA
        ]
        if ties:
            open_.append(f"at C = {_c(c)}, {top['series']}, but the test cannot tell it apart from {', '.join(ties)}")
        else:
            clear.setdefault(top["series"], []).append(_c(c))
    parts = []
    if clear:
        parts.append(
            f"{word.capitalize()} by median and {other} than every other series (Holm p < 0.05): "
            + "; ".join(f"{series} at C = {', '.join(cs)}" for series, cs in clear.items())
            + "."
        )
    if open_:
        parts.append(f"{word.capitalize()} by median only: " + "; ".join(open_) + ".")
    return " ".join(parts)


def ordering_findings(table: pd.DataFrame, compared: pd.DataFrame | None = None) -> str:
    """Markdown: which orderings of the series the repeats support, per ``C`` (or why the table cannot say).

    Args:
        table: ``efficiency.csv``.
        compared: :func:`compare_series` of it (computed when ``None``).
    """
    cells = efficiency_cells(table)
    measured = cells[cells["measured"]]
    skipped = cells[~cells["measured"]]
    lines = []
    if (measured["repeats"] < 2).any():
        lines.append(
            "**What this table can say.** It keeps only each cell's median and fastest repeat (it was measured "
            "before `efficiency.py` kept every repeat's time), so no difference between two series can be tested "
            f"with it. It must be measured again on a quiet machine: `{RE_MEASURE}`."
        )
        disagreements = []
        for c, group in measured.groupby("num_classes", sort=True):
            for (_, a), (_, b) in itertools.combinations(group.iterrows(), 2):
                if (a["time_ms"] - b["time_ms"]) * (a["time_ms_min"] - b["time_ms_min"]) < 0:
                    slow, fast = (a, b) if a["time_ms"] > b["time_ms"] else (b, a)
                    disagreements.append(
                        f"at C = {_c(c)}, {slow['series']} is slower than {fast['series']} by median "
                        f"({_ms(slow['time_ms'])} against {_ms(fast['time_ms'])} ms) but faster by minimum "
                        f"({_ms(slow['time_ms_min'])} against {_ms(fast['time_ms_min'])} ms)"
                    )
        if disagreements:
            lines.append(
                "The median and the fastest repeat order the series differently in places: "
                + "; ".join(disagreements)
                + "."
            )
        lines.append(_gap_reading(measured))
    else:
        compared = compare_series(table) if compared is None else compared
        fewest, most = int(measured["repeats"].min()), int(measured["repeats"].max())
        repeats = str(fewest) if fewest == most else f"{fewest} to {most}"
        lines.append(
            f"**What the repeats support.** Welch's t-test on the log times of the {repeats} repeats of two "
            f"series at the same C, Holm-corrected across all {len(compared)} such pairs; in each line the series "
            "run from fastest to slowest median, `<` where the test separates two neighbours, `≈` where it "
            "cannot tell them apart:"
        )
        for c, group in measured.groupby("num_classes", sort=True):
            lines.append(f"\n* C = {_c(c)}: {_chain(group, compared[compared['C'] == c])}")
        lines.append("\n\n" + _extreme_claims(measured, compared, slowest=True))
        lines.append(_extreme_claims(measured, compared, slowest=False))
        lines.append(
            "The series of one C were timed in turns, so a change in the machine's load slows them alike; but "
            "successive rounds share a slow stretch, so the repeats are not the independent draws the test "
            "assumes, and it is, if anything, too confident."
        )
    for _, cell in skipped.iterrows():
        lines.append(
            f"\n\n**Not attempted:** {cell['series']} at C = {_c(cell['num_classes'])}: {cell['skipped']}. The "
            "runner skips a cell whose *estimated* working memory exceeds its cap; nothing was run, so the table "
            "says nothing about whether it would fit or how long it would take."
        )
    return " ".join(lines).replace(" \n", "\n")


def _gap_reading(measured: pd.DataFrame) -> str:
    """Old tables: which pairs differ by more than the largest spread seen (a reading of the numbers, not a test)."""
    worst = float((measured["time_ms"] / measured["time_ms_min"]).max())
    clear, unclear = 0, {}
    for c, group in measured.groupby("num_classes", sort=True):
        for (_, a), (_, b) in itertools.combinations(group.iterrows(), 2):
            slow, fast = (a, b) if a["time_ms"] > b["time_ms"] else (b, a)
            if slow["time_ms_min"] > worst * fast["time_ms"]:
                clear += 1
            else:
                unclear.setdefault(int(c), []).append(f"{fast['series']} / {slow['series']}")
    total = clear + sum(len(v) for v in unclear.values())
    text = (
        f"In {clear} of the {total} pairs of series at equal C, the slower series' fastest repeat is more than "
        f"{worst:.1f}x (the largest median-to-fastest ratio in the table) the other's median: such orders are very "
        "likely real, but that is a reading of the numbers, not a test. The other pairs are open:"
    )
    return text + "".join(f"\n* C = {_c(c)}: {'; '.join(pairs)}" for c, pairs in unclear.items()) + "\n"


def memory_findings(table: pd.DataFrame) -> str:
    """Markdown: the saved-for-backward memory (set by the shapes alone, so no repeats are needed)."""
    cells = efficiency_cells(table)
    measured = cells[cells["measured"]].set_index(["series", "num_classes"])["saved_tensors_mb"]
    lines = [
        "`saved_tensors_mb` depends only on the shapes ($B$, $d$, $C$, $N$, $k$), not on the machine or its load, "
        "so it needs no repeats."
    ]
    series = list(dict.fromkeys(cells["series"]))
    if {"ProxyNCA", "Proxy-Anchor"} <= set(series):
        nca, anchor = measured.loc["ProxyNCA"], measured.loc["Proxy-Anchor"]
        common = nca.index.intersection(anchor.index)
        gap = (100 * (nca[common] - anchor[common]).abs() / anchor[common]).max()
        lines.append(
            f"ProxyNCA and Proxy-Anchor keep nearly the same tensors (one proxy per class and the $B \\times C$ "
            f"similarities; they differ by at most {gap:.1f} % at any C), so their lines lie on each other: the "
            "larger hollow marker is ProxyNCA's, the smaller one inside it Proxy-Anchor's."
        )
    largest = cells[cells["measured"]].groupby("series")["num_classes"].max()
    for name in series:
        if name.startswith("ProxyGML") and name in largest.index:
            c = int(largest[name])
            lines.append(f"{name} was measured up to C = {_c(c)}, where it keeps {measured.loc[(name, c)]:,.1f} MB.")
    return " ".join(lines)


def step_findings(times: pd.DataFrame) -> str:
    """Markdown: which steps take the time at each ``k``, and which change with ``k`` (tested on the repeats).

    Args:
        times: :func:`proxygml_lite.lab.subgraph_cost.step_times` (with ``repeat_times_ms``).
    """
    parts = times[times["step"] != WHOLE_LAYER]
    wide = parts.pivot_table(index="k", columns="step", values="time_ms", sort=True)
    total = wide.sum(axis=1)
    fixed = 100 * (wide["S = X P^T"] + wide["L^p"]) / total
    regulariser = 100 * wide["L^p"] / total
    ks = list(wide.index)
    load = f", 1-minute load average {times['load_1min'].iloc[0]:.1f}" if "load_1min" in times.columns else ""
    lines = [
        "Read from the measurement above (medians of "
        f"{int(times['repeats'].min())} repeats on the machine that ran this notebook{load}): the two steps that do not "
        "depend on $k$, $S$ and $\\mathcal{L}^p$, take "
        + ", ".join(_percent(fixed[k]) for k in ks)
        + " of the steps' summed time at k = "
        + ", ".join(_c(k) for k in ks)
        + ", $\\mathcal{L}^p$ alone "
        + ", ".join(_percent(regulariser[k]) for k in ks)
        + "."
    ]
    smallest, largest = ks[0], ks[-1]
    if smallest != largest and "repeat_times_ms" in times.columns:
        pairs = []
        for step in [*STEPS, WHOLE_LAYER]:
            rows = times[times["step"] == step].set_index("k")
            if smallest in rows.index and largest in rows.index:
                pairs.append(
                    (
                        f"{step} at k = {_c(largest)}",
                        rows.at[largest, "repeat_times_ms"],
                        f"{step} at k = {_c(smallest)}",
                        rows.at[smallest, "repeat_times_ms"],
                    )
                )
        compared = compare_times(pairs)
        lines.append(
            f"From k = {_c(smallest)} to k = {_c(largest)} ({largest / smallest:.0f} times as many proxies per "
            "subgraph), step by step and for the whole layer (all timed in turns; Welch on the log times, so each "
            "ratio is one of geometric means, not of the medians above; Holm "
            f"across these {len(compared)} comparisons; a step that does not depend on k and still differs shows "
            "how far the machine's noise alone can go):"
        )
        lines += [f"\n* {verdict}" for verdict in compared["verdict"]]
    return " ".join(lines).replace(" \n", "\n")
