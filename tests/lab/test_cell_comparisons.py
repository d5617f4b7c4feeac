"""cell_comparisons: two cells compared with the Holm family named, on fabricated grid and ablation tables."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from test_study_views import _ablation, _grid  # noqa: E402

from proxygml_lite import statistics  # noqa: E402
from proxygml_lite.lab import cell_comparisons, study_tables  # noqa: E402


def test_cells_are_listed_highest_mean_first_in_plain_numbers():
    cells = cell_comparisons.cells_of(_grid(), "grid")
    assert cells == [(4, 0.3), (1, 0.3), (4, 0.1), (1, 0.1)]
    assert all(type(n) is int and type(r) is float for n, r in cells)
    assert cell_comparisons.cells_of(_ablation(), "ablation") == list(range(8, 0, -1))
    with pytest.raises(ValueError, match="kind must be one of grid, ablation"):
        cell_comparisons.cells_of(_grid(), "probes")


def test_a_pair_that_changes_one_setting_is_corrected_across_the_one_setting_pairs():
    grid = _grid()
    pair = cell_comparisons.compare_pair(grid, "grid", (1, 0.1), (4, 0.1))
    # the 2 x 2 grid has 4 one-setting pairs: N at each r, r at each N
    assert pair["pairs"] == 4 and "the 4 pairs of cells that differ in N only or in r only" in pair["family"]
    family = [((4, 0.1), (1, 0.1)), ((4, 0.3), (1, 0.3)), ((1, 0.3), (1, 0.1)), ((4, 0.3), (4, 0.1))]
    expected = statistics.find_comparison(
        study_tables.study_comparisons(grid, "grid", pairs=family), "N=4, r=0.1", "N=1, r=0.1"
    )
    assert pair["A"] == "N=1, r=0.1" and pair["B"] == "N=4, r=0.1"
    assert pair["difference"] == pytest.approx(-expected["difference"])  # A - B, whatever order the family holds
    assert (pair["CI low"], pair["CI high"]) == pytest.approx((-expected["CI high"], -expected["CI low"]))
    assert pair["p (Holm)"] == pytest.approx(expected["p (Holm)"]) and pair["seeds"] == "3"


def test_a_pair_that_changes_both_settings_is_corrected_across_every_pair():
    pair = cell_comparisons.compare_pair(_grid(), "grid", (4, 0.3), (1, 0.1))
    assert pair["pairs"] == 6 and "all 6 pairs of the grid's cells (A and B differ in N and in r)" in pair["family"]
    whole = study_tables.study_comparisons(_grid(), "grid")
    row = statistics.find_comparison(whole, "N=4, r=0.3", "N=1, r=0.1")
    assert pair["p (Holm)"] == pytest.approx(row["p (Holm)"]) and pair["difference"] > 0
    ablation = cell_comparisons.compare_pair(_ablation(), "ablation", 8, 2)
    assert ablation["pairs"] == 28 and ablation["family"] == "Holm across all 28 pairs of the table's 8 rows"


def test_the_same_cell_twice_or_an_unknown_cell_is_one_line():
    with pytest.raises(ValueError, match=r"same cell \(N=4, r=0.1\); pick two different cells"):
        cell_comparisons.compare_pair(_grid(), "grid", (4, 0.1), (4.0, 0.1))
    with pytest.raises(ValueError, match="no cell N=2, r=0.1 in the table"):
        cell_comparisons.compare_pair(_grid(), "grid", (2, 0.1), (4, 0.1))


def test_the_title_reads_a_claim_only_below_the_corrected_level():
    pair = {
        "A": "row 8",
        "B": "row 2",
        "mean A": 0.85,
        "mean B": 0.8,
        "std A": 0.0004,
        "std B": 0.01,
        "seeds": "5",
        "difference": 0.05,
        "CI low": 0.03,
        "CI high": 0.07,
        "p": 0.001,
        "p (Holm)": 0.01,
        "pairs": 28,
        "family": "Holm across all 28 pairs of the table's 8 rows",
    }
    title = cell_comparisons.comparison_title(pair)
    assert "A: row 8 (85.0 ± 0.04)" in title  # a tiny std keeps two decimals: never "± 0.0"
    assert "A − B = +5.0 points, 95% CI +3.0 to +7.0 (Welch), Holm p = 0.01: A beats B" in title
    assert title.endswith("(Holm across all 28 pairs of the table's 8 rows)")
    assert "B beats A" in cell_comparisons.comparison_title({**pair, "difference": -0.05})
    assert "cannot be told apart with 5 seeds" in cell_comparisons.comparison_title({**pair, "p (Holm)": 0.2})
    assert "no seed spread" in cell_comparisons.comparison_title({**pair, "p (Holm)": np.nan})


def test_the_plot_marks_both_cells_on_any_axis_and_names_the_family():
    for x, label in (("N", "N (proxies"), ("r", "r (subgraph"), ("k", "k = ceil")):
        fig = cell_comparisons.plot_cell_comparison(_grid(), "grid", a=(4, 0.3), b=(1, 0.3), x=x)
        ax = fig.axes[0]
        assert ax.get_xlabel().startswith(label)
        assert [t.get_text() for t in ax.texts] == ["A", "B"] and "differ in N only or in r only" in ax.get_title()
    fig = cell_comparisons.plot_cell_comparison(_ablation(), "ablation", a=8, b=2, metric="NMI")
    assert [t.get_text() for t in fig.axes[0].texts] == ["A", "B"] and "NMI" in fig.axes[0].get_title()
    plt.close("all")
