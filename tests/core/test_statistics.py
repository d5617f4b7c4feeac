"""proxygml_lite.statistics against scipy.stats (Welch's t-test, the t quantiles, the bootstrap) and Holm by hand."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from proxygml_lite.lab.study_tables import read_study_table
from proxygml_lite.statistics import (
    bootstrap_ci,
    compare_cells,
    holm,
    new_seed_tolerance,
    sample_std,
    verdict,
    welch,
)

A = [0.7614, 0.6951, 0.7684]  # ablation row 7, R@1 (3 seeds)
B = [0.8020, 0.7910, 0.8124, 0.8003, 0.7950]


def holm_by_hand(p_values, alpha=0.05):
    """Holm's procedure as the textbook states it: which hypotheses are rejected at ``alpha``."""
    m = len(p_values)
    rejected = [False] * m
    for rank, index in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        if p_values[index] >= alpha / (m - rank):
            break
        rejected[index] = True
    return rejected


def test_sample_std_is_ddof_1_and_nan_for_one_seed():
    assert sample_std(A) == pytest.approx(np.std(A, ddof=1), abs=0, rel=1e-15)
    assert sample_std(A) == pytest.approx(math.sqrt(sum((x - np.mean(A)) ** 2 for x in A) / 2), rel=1e-12)
    assert math.isnan(sample_std([0.5]))
    with pytest.raises(ValueError, match="NaN"):
        sample_std([0.5, float("nan")])


@pytest.mark.parametrize("a, b", [(A, B), (B, A), ([1.0, 2.0, 4.0], [0.5, 0.7, 0.6, 0.9, 3.0, 1.1]), (B, [0.1, 0.2])])
def test_welch_matches_scipy_ttest_ind_unequal_variances(a, b):
    c = welch(a, b)
    reference = scipy.stats.ttest_ind(a, b, equal_var=False)
    assert c.p_value == pytest.approx(reference.pvalue, rel=1e-10)
    assert c.df == pytest.approx(reference.df, rel=1e-12)
    assert c.difference == pytest.approx(np.mean(a) - np.mean(b), rel=1e-12)
    interval = reference.confidence_interval(confidence_level=0.95)
    assert (c.ci_low, c.ci_high) == pytest.approx((interval.low, interval.high), rel=1e-10)
    # and the interval from its parts: difference ± t_{df, 0.975} se
    se = math.sqrt(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b))
    half = scipy.stats.t.ppf(0.975, reference.df) * se
    assert (c.ci_low, c.ci_high) == pytest.approx((c.difference - half, c.difference + half), rel=1e-10)
    c90 = welch(a, b, confidence=0.90)
    interval = reference.confidence_interval(confidence_level=0.90)
    assert (c90.ci_low, c90.ci_high) == pytest.approx((interval.low, interval.high), rel=1e-10)


def test_welch_cannot_say_with_one_seed_or_without_spread():
    for a, b in (([0.8], B), ([0.8, 0.8], [0.7, 0.7])):
        c = welch(a, b)
        assert math.isnan(c.p_value) and math.isnan(c.ci_low)
        assert verdict(c).startswith("cannot tell A and B apart")
    with pytest.raises(ValueError, match="no seeds"):
        welch([], B)


def test_holm_matches_a_worked_example_and_the_textbook_procedure():
    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> running max 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02], rel=1e-12)
    assert holm([0.3, 0.9]) == pytest.approx([0.6, 0.9]) and holm([0.6, 0.7]) == pytest.approx([1.0, 1.0])  # capped
    adjusted = holm([0.02, float("nan"), 0.01])  # a nan counts as 1 (m = 3) and stays nan
    assert adjusted[0] == pytest.approx(0.04) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.03)
    rng = np.random.default_rng(0)
    for _ in range(200):
        p = list(rng.uniform(0, 0.08, size=rng.integers(1, 12)))
        assert list(holm(p) < 0.05) == holm_by_hand(p)


def test_holm_matches_statsmodels():
    from statsmodels.stats import multitest  # the test extra installs it: an independent reference

    p = [0.001, 0.2, 0.013, 0.04, 0.6, 0.0049]
    assert holm(p) == pytest.approx(multitest.multipletests(p, method="holm")[1], rel=1e-12)


def test_bootstrap_interval_agrees_with_scipy_bootstrap():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0.8, 0.02, 30), rng.normal(0.78, 0.03, 30)
    low, high = bootstrap_ci(a, b, resamples=20_000)
    reference = scipy.stats.bootstrap(
        (a, b),
        lambda x, y, axis: np.mean(x, axis=axis) - np.mean(y, axis=axis),
        method="percentile",
        n_resamples=20_000,
        random_state=np.random.default_rng(2),
    ).confidence_interval
    assert (low, high) == pytest.approx((reference.low, reference.high), abs=0.002)
    assert bootstrap_ci(a, b, resamples=20_000) == (low, high)  # seeded


def test_new_seed_tolerance_is_a_prediction_interval():
    k3 = scipy.stats.t.ppf(0.995, 2) * math.sqrt(1 + 1 / 3)
    assert k3 == pytest.approx(11.46, abs=0.01)
    assert new_seed_tolerance(A) == pytest.approx(k3 * np.std(A, ddof=1), rel=1e-12)
    assert new_seed_tolerance(B, level=0.95) == pytest.approx(
        scipy.stats.t.ppf(0.975, 4) * math.sqrt(1.2) * np.std(B, ddof=1), rel=1e-12
    )
    assert new_seed_tolerance([0.5, 0.5, 0.5], floor=0.01) == 0.01
    assert math.isnan(new_seed_tolerance([0.5]))


def test_verdict_claims_only_below_the_corrected_level():
    far = welch([0.90, 0.91, 0.92], [0.70, 0.71, 0.72], a="row 3", b="row 1")
    assert far.p_value < 0.05
    assert verdict(far).startswith("row 3 beats row 1 by 20.0 points (95% CI ")
    assert verdict(welch([0.70, 0.71, 0.72], [0.90, 0.91, 0.92], a="row 1", b="row 3")).startswith(
        "row 3 beats row 1 by 20.0 points (95% CI 17.7 to 22.3, p = 1.6e-05)"
    )
    near = welch(A, B, a="row 7", b="row 8")
    assert near.p_value > 0.05
    assert verdict(near).startswith(
        "cannot tell row 7 and row 8 apart with 3 and 5 seeds (difference -5.9 points, 95% CI -15.6 to 3.9, p = 0.13)"
    )
    # a difference that one test would claim, but not after correcting for ten comparisons
    alone = welch([0.80, 0.82, 0.81], [0.77, 0.78, 0.76], a="row 3", b="row 1")
    assert alone.p_value < 0.05 and verdict(alone).startswith("row 3 beats row 1 by 4.0 points")
    corrected = type(alone)(**{**alone.__dict__, "p_corrected": min(1.0, 10 * alone.p_value)})
    assert corrected.p_corrected > 0.05
    assert verdict(corrected).startswith("cannot tell row 3 and row 1 apart with 3 seeds (difference 4.0 points")
    assert "Holm p = " in verdict(corrected)
    assert ", uncorrected 95% CI 1." in verdict(corrected)  # the interval excludes 0, the corrected p does not
    assert "uncorrected" not in verdict(near)  # the interval holds 0: nothing to reconcile


def test_compare_cells_on_the_committed_ablation_is_welch_plus_holm():
    table = read_study_table("ablation")
    pairs = compare_cells(table, by=["row"])
    rows = sorted(table["row"].unique())
    assert len(pairs) == len(rows) * (len(rows) - 1) // 2 == 28
    values = {row: table.loc[table["row"] == row, "R@1"].to_numpy() for row in rows}
    expected = [
        scipy.stats.ttest_ind(values[a], values[b], equal_var=False).pvalue for a, b in itertools.combinations(rows, 2)
    ]
    assert pairs["p"].to_numpy() == pytest.approx(expected, rel=1e-10)
    assert list(pairs["p (Holm)"] < 0.05) == holm_by_hand(expected)
    assert list(pairs["A"][:2]) == ["row 1", "row 1"] and list(pairs["B"][:2]) == ["row 2", "row 3"]
    claims = pairs[pairs["p (Holm)"] < 0.05]
    assert claims["verdict"].str.contains(" beats ").all()
    assert pairs.loc[pairs["p (Holm)"] >= 0.05, "verdict"].str.startswith("cannot tell").all()


def test_compare_cells_on_a_grid_and_with_chosen_pairs():
    table = pd.DataFrame(
        {
            "N": [1, 1, 1, 4, 4, 4, 1, 1, 1],
            "r": [0.05] * 6 + [0.15] * 3,
            "seed": [0, 1, 2] * 3,
            "R@1": np.linspace(0.7, 0.8, 9),
        }
    )
    pairs = compare_cells(table, by=["N", "r"], pairs=[((4, 0.05), (1, 0.05))])
    assert list(pairs[["A", "B"]].iloc[0]) == ["N=4, r=0.05", "N=1, r=0.05"]
    assert pairs["p (Holm)"].iloc[0] == pairs["p"].iloc[0]  # one comparison: nothing to correct
    assert len(compare_cells(table, by=["N", "r"])) == 3
    with pytest.raises(ValueError, match="no cell"):
        compare_cells(table, by=["N", "r"], pairs=[((12, 0.05), (1, 0.05))])


def test_cell_labels_and_finding_a_pair_in_either_order():
    from proxygml_lite.statistics import cell_label, find_comparison

    assert cell_label(["row"], 8) == "row 8" and cell_label(["row"], 8.0) == "row 8"
    assert cell_label(["N", "r"], (4.0, 0.15)) == "N=4, r=0.15"
    table = read_study_table("ablation")
    pairs = compare_cells(table, by=["row"])
    one = find_comparison(pairs, "row 8", "row 3")
    assert (one["A"], one["B"]) == ("row 3", "row 8") and one.equals(find_comparison(pairs, "row 3", "row 8"))
    with pytest.raises(ValueError, match="no comparison"):
        find_comparison(pairs, "row 3", "row 9")
