"""The efficiency table read back (either format), its comparisons, notebook 11's generated findings, and the README.

The measurement itself (``measure_efficiency`` in fresh processes) is tested in
``tests/studies/test_studies_make.py``; here the tables are fabricated or the committed
one, and the timings tiny.
"""

import math
import re
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from proxygml_lite.lab import (  # noqa: E402
    efficiency_findings,
    efficiency_views,
    grid_findings,
    study_tables,
    subgraph_cost,
    timing_comparisons,
)
from proxygml_lite.studies import efficiency, efficiency_table, loss_cost  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "results" / "glyphs_hard" / "efficiency.csv"
#: The table committed until 2026-12-06, written before the runner kept each repeat's time and the skipped column
#: (median and fastest repeat only, one cell per fresh process, a busy machine): the old format the readers still take.
OLD_FORMAT = Path(__file__).with_name("efficiency_old_format.csv")


def _committed() -> pd.DataFrame:
    return study_tables.read_study_table("efficiency", path=COMMITTED)


def _old_format() -> pd.DataFrame:
    return study_tables.read_study_table("efficiency", path=OLD_FORMAT)


def _new_format(times: dict[tuple[str, int], list[float]], skipped: dict[tuple[str, int], str] = ()) -> pd.DataFrame:
    """A table as measure_efficiency writes it now: every repeat kept, a skipped row for each skipped cell."""
    rows = []
    for (series, c), repeat in times.items():
        rows.append(
            {
                "series": series,
                "loss": "x",
                "num_classes": c,
                "batch_size": 32,
                "dim": 512,
                "loss_parameters": c * 512,
                "repeats": len(repeat),
                "time_ms": float(np.median(repeat)),
                "time_ms_min": min(repeat),
                "repeat_times_ms": efficiency.format_times(repeat),
                "saved_tensors_mb": c / 100,
                "peak_rss_mb": 1.0,
                "device": "cpu",
                "threads": 1,
                "load_1min": 0.5,
                "skipped": "",
            }
        )
    for (series, c), reason in dict(skipped).items():
        rows.append({"series": series, "loss": "x", "num_classes": c, "batch_size": 32, "dim": 512, "skipped": reason})
    return pd.DataFrame(rows, columns=efficiency.EFFICIENCY_COLUMNS)


def _spread(centre: float, n: int = 8, seed: int = 0) -> list[float]:
    """``n`` repeat times around ``centre`` with about 3% multiplicative noise (deterministic)."""
    rng = np.random.default_rng(seed)
    return [round(float(centre * np.exp(rng.normal(0, 0.03))), 3) for _ in range(n)]


# ------------------------------------------------------------------ the clock and the table


def test_interleaved_ms_times_the_functions_in_turns_and_returns_every_repeat():
    calls = []
    times = loss_cost.interleaved_ms([lambda: calls.append("a"), lambda: calls.append("b")], repeats=3, warmup=1)
    assert calls == ["a", "b"] * 4  # one warm-up round, then three timed rounds, each a then b
    assert [len(t) for t in times] == [3, 3] and all(t >= 0 for kept in times for t in kept)


def test_times_round_trip_through_the_csv_cell():
    assert efficiency.parse_times(efficiency.format_times([1.23456, 20.0])) == [1.235, 20.0]
    assert efficiency.parse_times(float("nan")) == [] and efficiency.parse_times("") == []


def test_skip_reason_is_the_memory_estimate_against_the_cap():
    n12 = efficiency.EFFICIENCY_SERIES["ProxyGML N=12 λ=0.3"]
    assert efficiency.skip_reason(*n12, 11318, 32, 512) == "estimated 24 GiB > 4 GiB cap"
    assert efficiency.skip_reason(*n12, 3000, 32, 512) == ""
    assert efficiency.skip_reason(*efficiency.EFFICIENCY_SERIES["ProxyGML N=1 λ=0"], 11318, 32, 512) == ""


def test_an_old_format_table_reads_back_with_its_skipped_cell_recomputed():
    cells = efficiency_table.efficiency_cells(_old_format())
    skipped = cells[~cells["measured"]]
    assert list(zip(skipped["series"], skipped["num_classes"])) == [("ProxyGML N=12 λ=0.3", 11318)]
    assert skipped["skipped"].iloc[0].startswith("estimated 24 GiB > 4 GiB cap (recomputed")
    measured = cells[cells["measured"]]
    assert len(measured) == 24 and (measured["repeats"] == 0).all() and measured["time_ms_max"].isna().all()
    assert efficiency_table.repeat_table(_old_format()).empty
    assert set(cells["machine"]) == {""}  # not recorded then


def test_the_committed_table_keeps_every_repeat_and_the_machine_it_was_timed_on():
    cells = efficiency_table.efficiency_cells(_committed())
    skipped = cells[~cells["measured"]]
    assert list(zip(skipped["series"], skipped["num_classes"])) == [("ProxyGML N=12 λ=0.3", 11318)]
    assert skipped["skipped"].iloc[0] == "estimated 24 GiB > 4 GiB cap"  # written by the runner, not recomputed
    measured = cells[cells["measured"]]
    assert len(measured) == 24 and (measured["repeats"] == efficiency.EFFICIENCY_REPEATS).all()
    assert measured["machine"].nunique() == 1 and len(measured["machine"].iloc[0]) == 12
    assert (measured["load_1min"] >= 0).all() and (measured["cpu"] != "").all()


def test_a_new_format_table_reads_back_with_its_repeats_and_skip_reasons(tmp_path):
    table = _new_format(
        {("A", 100): [1.0, 2.0, 3.0], ("B", 100): [4.0, 5.0, 9.0]},
        skipped={("A", 1000): "estimated 8 GiB > 4 GiB cap"},
    )
    path = tmp_path / "efficiency.csv"
    table.to_csv(path, index=False)
    cells = efficiency_table.efficiency_cells(study_tables.read_study_table("efficiency", path=path))
    a = cells.set_index(["series", "num_classes"])
    assert a.loc[("A", 100), "repeat_times_ms"] == [1.0, 2.0, 3.0] and a.loc[("B", 100), "time_ms_max"] == 9.0
    assert a.loc[("A", 1000), "skipped"] == "estimated 8 GiB > 4 GiB cap" and not a.loc[("A", 1000), "measured"]
    assert list(cells["series"]) == ["A", "A", "B"]  # table order of the series, C ascending
    assert len(efficiency_table.repeat_table(table)) == 6


# ------------------------------------------------------------------ comparisons


def test_compare_times_names_the_slower_one_only_where_holm_rejects():
    fast, slow, close = _spread(10.0, seed=1), _spread(20.0, seed=2), _spread(10.2, seed=3)
    compared = timing_comparisons.compare_times([("fast", fast, "slow", slow), ("fast", fast, "close", close)])
    first, second = compared.to_dict("records")
    assert first["ratio"] == pytest.approx(0.5, rel=0.05) and first["CI low"] < first["ratio"] < first["CI high"]
    assert first["verdict"].startswith(f"slow is slower than fast: {1 / first['ratio']:.2f}x its time (95% CI ")
    assert "Holm p = " in first["verdict"]
    assert second["verdict"].startswith("cannot tell fast and close apart with 8 repeats each")
    assert (compared["p (Holm)"] >= compared["p"]).all()
    with pytest.raises(ValueError, match="not positive"):
        timing_comparisons.compare_times([("a", [0.0, 1.0], "b", [1.0, 2.0])])


def test_an_interval_that_excludes_one_but_fails_holm_is_called_uncorrected():
    """Ten copies of one comparison with p about 0.02: its per-comparison interval excludes 1, Holm's p does not
    pass, so the verdict says "cannot tell" and labels the interval, as statistics.verdict does."""
    a = [10.0, 10.5, 9.5, 10.2, 9.8, 10.1]
    b = [t + 0.55 for t in a]  # 5.5 % slower: Welch p = 0.02
    compared = timing_comparisons.compare_times([("a", a, "b", b)] * 10)
    row = compared.iloc[0]
    assert row["p"] < 0.05 <= row["p (Holm)"] and row["CI high"] < 1
    assert "cannot tell a and b apart" in row["verdict"] and "uncorrected 95% CI" in row["verdict"]


def test_an_interval_end_near_one_keeps_the_digits_that_tell_its_side():
    """A ratio of 1.003 reads "1.00x" at two decimals: the verdict (slower over faster) shows enough digits that an
    interval excluding 1 never ends at "1.00x" or "1x" (review)."""
    a = [10.0 * (1 + 0.0005 * np.sin(i)) for i in range(20)]
    b = [t * 1.003 for t in a]  # 0.3 % slower, with tiny noise: the whole interval of a / b lies in (0.995, 1)
    row = timing_comparisons.compare_times([("a", a, "b", b)]).iloc[0]
    assert 0.995 < row["CI low"] < row["CI high"] < 1
    ends = re.findall(r"([0-9.]+)x", row["verdict"])
    assert len(ends) == 3 and all(float(end) > 1 for end in ends), row["verdict"]
    shown = {0.996: "0.996x", 0.9996: "0.9996x", 0.79: "0.79x", 1.04: "1.04x"}
    assert {value: timing_comparisons._ratio(value) for value in shown} == shown


def test_compare_series_compares_series_at_equal_C_and_is_empty_without_repeats():
    table = _new_format(
        {
            (s, c): _spread(c * w, seed=c + i)
            for i, (s, w) in enumerate([("A", 1), ("B", 3), ("C", 1.01)])
            for c in (100, 1000)
        }
    )
    compared = timing_comparisons.compare_series(table)
    assert list(compared["C"]) == [100] * 3 + [1000] * 3 and set(compared["A"]) | set(compared["B"]) == {"A", "B", "C"}
    assert timing_comparisons.compare_series(_old_format()).empty
    assert len(timing_comparisons.compare_series(_committed())) == 46  # 10 pairs at each C, 6 at C = 11,318


# ------------------------------------------------------------------ the findings paragraphs


def test_ordering_findings_of_an_old_format_table_say_it_cannot_test_and_where_orders_disagree():
    text = efficiency_findings.ordering_findings(_old_format())
    assert "no difference between two series can be tested" in text
    assert "python -m proxygml_lite.studies --studies efficiency" in text
    assert (
        "at C = 100, ProxyGML N=12 λ=0.3 is slower than SoftTriple by median (48.7 against 39.5 ms) but faster by "
        "minimum (36.4 against 37.2 ms)" in text
    )
    assert "at C = 300, ProxyNCA is slower than Proxy-Anchor by median" in text
    assert "**Not attempted:** ProxyGML N=12 λ=0.3 at C = 11,318: estimated 24 GiB > 4 GiB cap" in text
    assert "not a test" in text and "did not fit" not in text
    noise = efficiency_findings.noise_findings(_old_format())
    assert "up to 5.7x its fastest repeat (ProxyNCA at C = 300" in noise


def test_ordering_findings_with_repeats_claim_only_what_the_tests_support():
    times = {
        ("fast", 100): _spread(1.0, seed=1),
        ("twin", 100): _spread(1.01, seed=2),
        ("slow", 100): _spread(9.0, seed=3),
    }
    table = _new_format(times, skipped={("slow", 1000): "estimated 9 GiB > 4 GiB cap"})
    text = efficiency_findings.ordering_findings(table)
    chain = re.search(r"\* C = 100: (.*)", text).group(1)
    assert re.fullmatch(r"(fast|twin) \([\d.]+ ms\) ≈ (fast|twin) \([\d.]+ ms\) < slow \([\d.]+ ms\)", chain), chain
    assert "Slowest by median and slower than every other series (Holm p < 0.05): slow at C = 100." in text
    assert re.search(r"Fastest by median only: at C = 100, (fast|twin), but the test cannot tell it apart from", text)
    assert "C = 1,000: estimated 9 GiB > 4 GiB cap" in text
    assert "load average" in efficiency_findings.noise_findings(table)


def test_memory_findings_give_the_overlap_of_proxynca_and_proxy_anchor():
    text = efficiency_findings.memory_findings(_committed())
    assert "differ by at most 1.9 % at any C" in text
    assert "ProxyGML N=12 λ=0.3 was measured up to C = 3,000, where it keeps 495.4 MB" in text


def _grid(means: dict[tuple[int, float], float], seeds: int = 5, spread: float = 0.002) -> pd.DataFrame:
    rows = []
    for (n, r), mean in means.items():
        for seed in range(seeds):
            rows.append(
                {"N": n, "r": r, "k": int(np.ceil(r * 100 * n)), "seed": seed, "R@1": mean + spread * (seed - 2)}
            )
    return pd.DataFrame(rows)


def test_fewer_is_more_compares_every_r_within_each_N_and_reads_a_middle_r_win():
    grid = _grid({(1, 0.05): 0.78, (1, 0.15): 0.81, (1, 0.6): 0.76, (4, 0.05): 0.835, (4, 0.15): 0.85, (4, 0.6): 0.843})
    compared, text = grid_findings.fewer_is_more(grid)
    assert list(compared["N"]) == [1, 1, 1, 4, 4, 4]  # every pair of r within each N, none across N
    # Holm across the family of grid_findings: these 6 r pairs and the 3 pairs of N at one r
    assert "Holm-corrected across the 9 pairs of cells that differ in one setting, these 6 and the 3 pairs" in text
    family = grid_findings.one_variable_pairs(study_tables.summarize_seeds(grid, by=["N", "r"]))
    corrected = study_tables.study_comparisons(grid, "grid", pairs=family[1] + family[0])
    assert sorted(compared["p (Holm)"].round(12)) == sorted(corrected["p (Holm)"].iloc[:6].round(12))
    assert "* N = 1: r = 0.05 (k = 5): 78.0 ± 0.3, r = 0.15 (k = 15): 81.0 ± 0.3" in text
    assert "The highest mean is at r = 0.15 for every N." in text
    assert "has the best mean for no N; the means favour r = 0.15 (every N)" in text
    assert "N=1, r=0.15 beats N=1, r=0.05 by 3.0 points" in text  # separated pairs are quoted in full
    assert "the larger k wins" in text and "does not hold" in text
    noisy = _grid({(1, 0.05): 0.80, (1, 0.15): 0.805}, spread=0.02)
    _, text = grid_findings.fewer_is_more(noisy)
    assert "None of the 1 pairs can be told apart" in text and "neither confirms nor refutes" in text
    with pytest.raises(ValueError, match="one r per N"):
        grid_findings.fewer_is_more(_grid({(1, 0.05): 0.8, (4, 0.05): 0.8}))


def test_fewer_is_more_on_the_committed_grid_reports_what_it_holds():
    grid = study_tables.read_study_table("grid")
    compared, text = grid_findings.fewer_is_more(grid)
    summary = study_tables.summarize_seeds(grid, by=["N", "r"])
    for _, cell in summary.iterrows():  # every mean ± std of the text is the table's
        shown = study_tables.format_mean_std(cell["R@1 mean"], cell["R@1 std"])
        assert f"r = {cell['r']:g} (k = {int(cell['k']):,}): {shown}" in text
    assert len(compared) == sum(len(g) * (len(g) - 1) // 2 for _, g in summary.groupby("N"))


# ------------------------------------------------------------------ steps, timed directly


def test_step_times_time_each_step_directly_and_the_findings_use_the_repeats():
    times = subgraph_cost.step_times(num_classes=20, proxies_per_class=3, r_values=[0.05, 0.5], dim=16, repeats=3)
    assert (times["time_ms"] > 0).all()  # measured, never a clipped difference
    assert (times["time_ms_min"] <= times["time_ms"]).all() and (times["time_ms"] <= times["time_ms_max"]).all()
    text = efficiency_findings.step_findings(times)
    assert "medians of 3 repeats on the machine that ran this notebook, 1-minute load average " in text
    assert "at k = 3, 30" in text
    assert text.count("\n* ") == 5 and "Holm across these 5 comparisons" in text
    fig = efficiency_views.plot_step_times(times)
    assert fig.axes[0].get_ylabel() == "forward + backward, ms (median of 3 repeats)"
    plt.close("all")


# ------------------------------------------------------------------ figures


def test_cost_series_marks_skips_and_labels_the_dataset_guides():
    old = efficiency_views.plot_cost_series(_old_format(), value="time_ms").axes[0]
    assert old.get_legend().get_title().get_text() == "median; bars: min to median (no other repeats kept)"
    fig = efficiency_views.plot_cost_series(_committed(), value="time_ms")
    ax = fig.axes[0]
    notes = [t for t in ax.texts if t.get_gid() == "skipped 11318"]
    assert len(notes) == 1 and notes[0].get_text() == "C = 11,318 skipped:\nestimated 24 GiB > 4 GiB cap"
    assert ax.get_legend().get_title().get_text() == "median; bars: min to max of 10 repeats"
    top = [a for a in fig.axes[0].child_axes]
    assert [t.get_text() for t in top[0].get_xticklabels()] == ["CUB-200: C = 100", "SOP: C = 11,318"]
    sizes = {c.get_label(): c.lines[0].get_markersize() for c in ax.containers}
    assert sizes["ProxyNCA"] > sizes["Proxy-Anchor"]  # drawn first, larger: its ring shows around Proxy-Anchor's
    assert all(c.lines[0].get_markerfacecolor() == "none" for c in ax.containers)
    table = _new_format({("A", 100): [1.0, 2.0, 4.0], ("A", 1000): [5.0, 6.0, 7.0]})
    fig = efficiency_views.plot_cost_series(table, value="time_ms")
    assert fig.axes[0].get_legend().get_title().get_text() == "median; bars: min to max of 3 repeats"
    plt.close("all")


def test_cost_series_without_spread_draws_no_bars_and_little_room_above():
    """Memory is measured once per cell: no error bars, so the legend keys show none either; the room made for the
    skip note is a fraction of the drawn range, not decades."""
    fig = efficiency_views.plot_cost_series(_committed(), value="saved_tensors_mb")
    ax = fig.axes[0]
    assert all(c.has_yerr is False for c in ax.containers)
    highest = max(max(c.lines[0].get_ydata()) for c in ax.containers)
    lowest = min(min(c.lines[0].get_ydata()) for c in ax.containers)
    assert ax.get_ylim()[1] <= highest * (highest / lowest) ** 0.25
    fig = efficiency_views.plot_cost_series(_committed(), value="time_ms")
    assert any(c.has_yerr for c in fig.axes[0].containers)
    plt.close("all")


def test_cost_series_with_one_drawn_value_keeps_matplotlibs_limits():
    """One measured value and a skipped cell: no range to make room from, so the axis is matplotlib's own (identical
    limits would warn and make the transformation singular)."""
    table = _new_format({("A", 100): [2.0, 2.0, 2.0]}, skipped={("A", 1000): "estimated 8 GiB > 4 GiB cap"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = efficiency_views.plot_cost_series(table, value="time_ms").axes[0]
    low, high = ax.get_ylim()
    assert 0 < low < 2.0 < high and np.isfinite([low, high]).all()
    assert [t.get_gid() for t in ax.texts] == ["skipped 1000"]
    plt.close("all")


def test_notebook_11s_widget_declaration_fits_both_table_formats(tmp_path):
    """The offline site draws notebook 11's widget from ``cost_views`` of the committed table; an old-format table
    and a re-measured one (repeats kept, skipped rows without values) give the same controls, its first view is the
    notebook's figure (median with the repeats' range), and the empty series choice is one line."""
    from proxygml_lite.lab import study_widgets

    old = efficiency_table.efficiency_cells(_old_format())
    measured = old[old["measured"]]
    times = {
        (s, c): _spread(t, n=3, seed=i)
        for i, (s, c, t) in enumerate(zip(measured["series"], measured["num_classes"], measured["time_ms"]))
    }
    _new_format(times, skipped={("ProxyGML N=12 λ=0.3", 11318): "estimated 24 GiB > 4 GiB cap"}).to_csv(
        tmp_path / "efficiency.csv", index=False
    )
    tables = {
        "old": _old_format(),
        "new": study_tables.read_study_table("efficiency", path=tmp_path / "efficiency.csv"),
        "committed": _committed(),
    }
    for kind, table in tables.items():
        views = study_widgets.cost_views(table)
        assert [c.name for c in views.controls] == ["value", "series"], kind
        assert views.controls[0].values == ("time_ms", "saved_tensors_mb", "peak_rss_mb"), kind
        assert views.controls[1].values == tuple(dict.fromkeys(measured["series"])), kind
        assert views.count == 3 * 2**5 and views.start() == {"value": "time_ms", "series": views.controls[1].values}
        ax = views.figure().axes[0]
        spread = {"new": "min to max of 3 repeats", "committed": "min to max of 10 repeats"}.get(
            kind, "min to median (no other repeats kept)"
        )
        assert ax.get_legend().get_title().get_text() == f"median; bars: {spread}", kind
        assert [t.get_gid() for t in ax.texts] == ["skipped 11318"], kind
        assert "memory" in views.figure({"value": "peak_rss_mb", "series": ("ProxyNCA",)}).axes[0].get_ylabel()
        with pytest.raises(ValueError, match="^choose at least one series; the table has") as caught:
            views.figure({"value": "time_ms", "series": ()})
        assert "\n" not in str(caught.value)
        plt.close("all")


# ------------------------------------------------------------------ the README's statements


def test_the_readme_efficiency_numbers_are_the_committed_tables():
    """Every number of the README's two efficiency paragraphs, from the committed table and its tested comparisons."""
    readme = " ".join((ROOT / "README.md").read_text().split())  # line breaks as spaces
    table = _committed()
    cells = efficiency_table.efficiency_cells(table).set_index(["series", "num_classes"])
    compared = timing_comparisons.compare_series(table)
    n12, n1 = "ProxyGML N=12 λ=0.3", "ProxyGML N=1 λ=0"

    def tested(slower: str, faster: str, c: int) -> tuple[str, str, str]:
        """The verdict's ratio and interval of ``slower`` against ``faster`` at ``c``; it must pass Holm."""
        row = compared[
            (compared["C"] == c) & compared["A"].isin([slower, faster]) & compared["B"].isin([slower, faster])
        ]
        assert len(row) == 1 and row["p (Holm)"].iloc[0] < 0.05, (slower, faster, c)
        verdict = row["verdict"].iloc[0]
        assert verdict.startswith(f"{slower} is slower than {faster}: "), verdict
        return re.search(r": (\S+) its time \(95% CI (\S+) to (\S+),", verdict).groups()

    ratio, low, high = tested(n12, "SoftTriple", 100)
    assert f"ProxyGML took {ratio} SoftTriple's time at `C = 100` (95% CI {low} to {high})" in readme
    ratio, low, high = tested(n12, "SoftTriple", 1000)
    assert f"and {ratio} at `C = 1000` (95% CI {low} to {high})" in readme
    at_sop = [tested(s, n1, 11318)[0] for s in ("ProxyNCA", "Proxy-Anchor", "SoftTriple")]
    assert (
        "ProxyNCA took {}, Proxy-Anchor {} and SoftTriple {} ProxyGML's time at `C = 11318`".format(*at_sop) in readme
    )
    assert f"Holm's correction across the table's {len(compared)} pairs" in readme
    measured = cells[cells["measured"]]
    worst = math.ceil(100 * (measured["time_ms"] / measured["time_ms_min"]).max()) / 100  # "at most": rounded up
    assert f"median is at most {worst:.2f}x its fastest" in readme
    assert f"one thread, {efficiency.EFFICIENCY_REPEATS} repeats per cell" in readme
    assert set(measured["repeats"]) == {efficiency.EFFICIENCY_REPEATS} and set(table["threads"].dropna()) == {1}
    cpu = measured["cpu"].iloc[0].replace("(R)", "").removesuffix(" Processor")
    assert f"2-core CPU machine ({cpu}, fingerprint" in readme and measured["cpu"].nunique() == 1
    assert set(measured["batch_size"]) == {32} and set(measured["dim"]) == {512}
    assert readme.count("batch 32, `d = 512`, one thread") == 2
    loads = measured["load_1min"]
    assert f"load average of {loads.min():.1f} to {loads.max():.1f}" in readme
    assert f"fingerprint `{measured['machine'].iloc[0]}`" in readme and measured["machine"].nunique() == 1
    # the paragraph above the efficiency section: medians and saved tensors at SOP's C, and N = 12's growth
    sop = [cells.loc[(s, 11318)] for s in (n1, "Proxy-Anchor", "ProxyNCA", "SoftTriple")]
    times = [f"{row['time_ms']:,.1f}" if row["time_ms"] < 1000 else f"{row['time_ms']:,.0f}" for row in sop]
    assert "took a median of {} ms, Proxy-Anchor {} ms, ProxyNCA {} ms and SoftTriple {} ms".format(*times) in readme
    assert [row["time_ms"] for row in sop] == sorted(row["time_ms"] for row in sop)  # listed by median
    pair = compared[(compared["C"] == 11318) & compared["A"].isin(["ProxyNCA", "Proxy-Anchor"])]
    pair = pair[pair["B"].isin(["ProxyNCA", "Proxy-Anchor"])]
    assert len(pair) == 1 and pair["p (Holm)"].iloc[0] >= 0.05
    assert "the test cannot tell Proxy-Anchor and ProxyNCA apart there" in readme
    saved = ", ".join(f"{row['saved_tensors_mb']:.1f}" for row in sop[:3]) + f" and {sop[3]['saved_tensors_mb']:.1f} MB"
    assert f"saved for the backward pass: {saved};" in readme
    slowest = efficiency_findings.ordering_findings(table, compared)
    assert f"slower than every other series (Holm p < 0.05): {n12} at C = 100, 300, 1,000, 3,000;" in slowest
    big = cells.loc[(n12, 3000)]
    assert f"{cells.loc[(n12, 1000), 'time_ms']:.0f} ms at `C = 1000` and {big['time_ms']:,.0f} ms at" in readme
    assert f"`C = 3000` ({big['saved_tensors_mb']:.1f} MB saved)" in readme
    reason = cells.loc[(n12, 11318), "skipped"]  # "estimated 24 GiB > 4 GiB cap"
    assert f"its estimate, {reason.split()[1]} GiB, exceeds the runner's {reason.split()[4]} GiB cap" in readme
    assert "0.59x" not in readme and "would need about 24 GB" not in readme and "predates the per-repeat" not in readme


def test_cost_against_k_keeps_its_repeats_and_the_figure_shows_their_range():
    grid = _grid({(1, 0.05): 0.8, (1, 0.6): 0.8, (2, 0.05): 0.8})
    cost = subgraph_cost.cost_against_k([(1, 0.05), (1, 0.6), (2, 0.05)], num_classes=40, dim=8, repeats=3)
    assert all(len(t) == 3 and min(t) == row for t, row in zip(cost["repeat_times_ms"], cost["time_ms_min"]))
    fig = efficiency_views.plot_accuracy_cost_vs_k(grid, cost=cost)
    assert fig.axes[1].get_legend().get_title().get_text() == "median; bars: min to max of the repeats"
    plt.close("all")


def test_notebook_11_reads_a_table_that_keeps_its_repeats(tmp_path, monkeypatch):
    """The re-measured table (new format) runs through the notebook: its orderings are tested, its skip is named."""
    import shutil

    from _fabricate import load_script

    script, NOTEBOOK_DIR = load_script("execute_notebooks"), ROOT / "notebooks"

    folder = tmp_path / "glyphs_hard"
    folder.mkdir()
    shutil.copy(ROOT / "results" / "glyphs_hard" / "grid.csv", folder / "grid.csv")
    old = efficiency_table.efficiency_cells(_committed())
    measured = old[old["measured"]]
    times = {
        (s, c): _spread(t, seed=i)
        for i, (s, c, t) in enumerate(zip(measured["series"], measured["num_classes"], measured["time_ms"]))
    }
    table = _new_format(times, skipped={("ProxyGML N=12 λ=0.3", 11318): "estimated 24 GiB > 4 GiB cap"})
    table.to_csv(folder / "efficiency.csv", index=False)
    monkeypatch.setenv("PROXYGML_RESULTS_DIR", str(tmp_path))
    nb = script.read_source(NOTEBOOK_DIR / "11_efficiency.py")
    script.execute(nb, smoke=True, figures_dir=tmp_path / "figures", cwd=NOTEBOOK_DIR, timeout=300)
    shown = "".join(
        o.get("text", "") + o.get("data", {}).get("text/markdown", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    assert "repeat times kept per cell: 8" in shown
    assert "**What the repeats support.**" in shown and "Holm-corrected across all 46 such pairs" in shown
    assert "**Not attempted:** ProxyGML N=12 λ=0.3 at C = 11,318: estimated 24 GiB > 4 GiB cap." in shown
    assert "1-minute load average" in shown and "cannot be tested" not in shown


def test_series_are_timed_together_while_their_estimates_fit_the_cap(monkeypatch):
    monkeypatch.setattr(efficiency, "EFFICIENCY_MEMORY_LIMIT", 10)
    assert efficiency._groups(["a", "b", "c", "d"], {"a": 6, "b": 3, "c": 5, "d": 1}) == [["a", "b", "d"], ["c"]]
