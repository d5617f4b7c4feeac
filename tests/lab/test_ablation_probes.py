"""proxygml_lite.lab.ablation_probes: notebook 10's outliers, claims and probes, every number from the tables."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from test_study_views import _ablation  # noqa: E402

from proxygml_lite import statistics  # noqa: E402
from proxygml_lite.lab import ablation_probes, findings, study_tables  # noqa: E402
from proxygml_lite.studies.design import PROBES  # noqa: E402


@pytest.fixture(scope="module")
def probes():
    return study_tables.read_study_table("probes")


@pytest.fixture(scope="module")
def epochs():
    return ablation_probes.read_probe_epochs()


def test_each_probe_is_paired_with_its_base_only(probes):
    pairs = ablation_probes.ablation_probe_pairs(probes)
    assert pairs == [(p.name, p.base) for p in PROBES if p.base is not None]
    broken = probes.assign(base=probes["base"].replace("row7", "row99"))
    with pytest.raises(ValueError, match="probe row7_proxy_lr_div10's base 'row99' is not in the table") as caught:
        ablation_probes.ablation_probe_pairs(broken)
    assert "\n" not in str(caught.value)


def test_probe_comparisons_are_holm_corrected_across_the_probe_pairs(probes):
    compared = ablation_probes.ablation_probe_comparisons(probes)
    pairs = ablation_probes.ablation_probe_pairs(probes)
    expected = statistics.compare_cells(probes, by=["probe"], metric="R@1", pairs=pairs)
    assert compared["R@1 p (Holm)"].to_numpy() == pytest.approx(expected["p (Holm)"].to_numpy())
    by_hand = statistics.holm(expected["p"].to_numpy())
    assert compared["R@1 p (Holm)"].to_numpy() == pytest.approx(by_hand)
    between = statistics.compare_cells(probes, by=["probe"], metric="proxy cos between", pairs=pairs)
    assert compared["between difference"].to_numpy() == pytest.approx(between["difference"].to_numpy())
    assert compared["change"].tolist() == [p.description for p in PROBES if p.base is not None]


def test_probe_findings_state_only_what_the_tests_separate(probes, epochs):
    text = ablation_probes.ablation_probe_findings(probes, epochs)
    compared = ablation_probes.ablation_probe_comparisons(probes)
    summary = study_tables.summarize_seeds(probes, by=["probe"]).set_index("probe")
    for _, cell in summary.iterrows():
        assert findings.mean_std_text(cell["R@1 mean"], cell["R@1 std"]) in text
    separated = compared[compared["R@1 p (Holm)"] < statistics.ALPHA]
    assert f"the tests separate {len(separated)} of the {len(compared)} probes from their base" in text
    lower = separated[separated["R@1 difference"] < 0]["probe"].tolist()
    assert text.count("ends below") == len(lower) and all(f"`{p}` (" in text for p in lower)
    assert "5 seeds" in text and "peaks at" in text
    # every probe equal to its base: nothing separated, no probe "ends below"
    same = probes.copy()
    reference = probes[probes["probe"] == "row8"].set_index("seed")["R@1"]
    same["R@1"] = same["seed"].map(reference)
    flat = ablation_probes.ablation_probe_findings(same)
    assert "R@1: no probe can be told apart from its base with 5 seeds." in flat and "ends below" not in flat


def test_seed_outliers_name_the_seed_far_from_its_rows_median():
    table = _ablation(seeds=(0, 1, 2, 3, 4))
    calm = ablation_probes.ablation_seed_outliers(table)
    assert ": none. In every row the farthest seed lies 4.0 points or less from the median" in calm
    moved = table.copy()
    moved.loc[(moved["row"] == 7) & (moved["seed"] == 4), "R@1"] = 0.3
    text = ablation_probes.ablation_seed_outliers(moved)
    values = moved[moved["row"] == 7].sort_values("seed")["R@1"].to_numpy()
    assert f"row 7 seed 4 (30.0 against the median {100 * np.median(values):.1f}" in text
    assert f"and {100 * values[:4].mean():.1f} without it" in text and "In the other rows" in text


def test_claims_summary_counts_the_claims_table():
    table = study_tables.read_study_table("ablation")
    claims = study_tables.ablation_claims(table)
    text = ablation_probes.ablation_claims_summary(table)
    held = int((claims["here"] == "holds").sum())
    assert f"Of the paper's {len(claims)} claims, {held} reproduce here" in text
    if held < len(claims):
        assert f"**{len(claims) - held} do not reproduce.**" in text
    for claim in claims.loc[claims["here"] == "reversed", "claim"]:
        assert claim in text.split("Reversed here")[1]


def test_probe_epochs_are_read_checked(epochs, tmp_path):
    assert set(ablation_probes.EPOCH_COLUMNS) <= set(epochs.columns) and epochs["epoch"].dtype.kind == "i"
    assert epochs.groupby("probe")["seed"].nunique().min() == 5
    path = tmp_path / "probe_epochs.csv"
    epochs.drop(columns="proxy norm").to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['proxy norm'\]"):
        ablation_probes.read_probe_epochs(path=tmp_path)
    epochs.assign(epoch=epochs["epoch"].where(epochs.index != 3, 1.5)).to_csv(path, index=False)
    with pytest.raises(ValueError, match="line 5 of .* has epoch 1.5, not a whole number") as caught:
        ablation_probes.read_probe_epochs(path=path)
    assert "\n" not in str(caught.value)
    with pytest.raises(FileNotFoundError, match="no probe_epochs.csv"):
        ablation_probes.read_probe_epochs(path=tmp_path / "absent.csv")


def test_the_epoch_figure_has_its_legend_off_the_curves_and_the_seed_count(epochs):
    fig = ablation_probes.plot_ablation_probe_epochs(epochs)
    assert len(fig.axes) == 3 and all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1
    assert "mean over 5 seeds" in fig._suptitle.get_text()
    assert all(ax.get_yscale() == "linear" for ax in fig.axes)
    within = {line.get_label() for line in fig.axes[0].lines}
    assert len(fig.axes[0].lines) == len(PROBES) - 2  # the N = 1 probes have no within-class pair
    assert "row7_N1" not in within
    mean = epochs[epochs["probe"] == "row7"].groupby("epoch")["proxy cos between"].mean()
    drawn = next(line for line in fig.axes[1].lines if line.get_label() == "row7")
    assert drawn.get_ydata() == pytest.approx(mean.to_numpy())
    with pytest.raises(ValueError, match="no probe 'row9'"):
        ablation_probes.plot_ablation_probe_epochs(epochs, probes=["row9"])
    plt.close("all")


def test_probe_pairs_skip_only_the_root():
    table = pd.DataFrame({"probe": ["a", "b"], "base": [np.nan, "a"]})
    assert ablation_probes.ablation_probe_pairs(table) == [("b", "a")]


def test_one_proxy_verdict_reads_each_n1_probe_against_the_prediction(probes):
    compared = ablation_probes.ablation_probe_comparisons(probes).set_index("probe")
    text = ablation_probes.one_proxy_verdict(probes)
    for probe in ("row7_N1", "row2_N1"):
        c = compared.loc[probe]
        if c["R@1 p (Holm)"] >= statistics.ALPHA:
            assert f"`{probe}` cannot be told apart from `{c['base']}`" in text
        else:
            side = "above" if c["R@1 difference"] > 0 else "below"
            assert f"`{probe}` ends {side} `{c['base']}` by {abs(100 * c['R@1 difference']):.1f} points" in text
    assert "k = ceil(r C N) falls with N" in text  # the probe changes N and k together
    # an N = 1 probe that ends above its base, and one that ties: the verdict follows the tests, not the story
    lifted = probes.copy()
    for probe, base, shift in (("row2_N1", "row2", 0.20), ("row7_N1", "row7", 0.0)):
        reference = probes[probes["probe"] == base].set_index("seed")["R@1"]
        rows = lifted["probe"] == probe
        lifted.loc[rows, "R@1"] = lifted.loc[rows, "seed"].map(reference) + shift + 0.002 * lifted.loc[rows, "seed"]
    text = ablation_probes.one_proxy_verdict(lifted)
    assert "`row2_N1` ends above `row2`" in text and "agree with the prediction" in text
    without = probes[~probes["probe"].str.endswith("_N1")]
    assert "not tested here" in ablation_probes.one_proxy_verdict(without)
