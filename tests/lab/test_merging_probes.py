"""merging_probes: the one-variable probes of row 8 read as curves, comparisons and findings written from the tables."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from proxygml_lite.lab import merging_probes, study_tables  # noqa: E402

#: probe -> (cosine after epoch 1, cosine at the last epoch, mean R@1)
FAKE = {
    "row8": (0.94, 0.9999, 0.80),
    "row8_unit_init": (0.30, 0.997, 0.80),
    "row8_proxy_lr_div10": (0.70, 0.999, 0.81),
    "row8_proxy_sgd": (0.80, 0.998, 0.80),
    "row7": (0.86, 0.999, 0.60),
}


def _epochs(fake=FAKE, seeds=5):
    rows = []
    for probe, (one, last, _) in fake.items():
        for seed in range(seeds):
            for epoch, cos in ((0, 0.0), (1, one), (2, (one + last) / 2), (3, last)):
                rows.append({"probe": probe, "seed": seed, "epoch": epoch, merging_probes.COSINE: cos + 1e-4 * seed})
    return pd.DataFrame(rows)


def _probes(fake=FAKE, seeds=5):
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        [
            {
                "probe": probe,
                "base": "" if probe == "row8" else "row8",
                "change": f"change of {probe} (details)",
                "seed": seed,
                "R@1": r1 + 0.005 * rng.normal(),
                merging_probes.COSINE: last,
            }
            for probe, (_, last, r1) in fake.items()
            for seed in range(seeds)
        ]
    )


def test_curves_are_the_mean_and_range_over_seeds_in_the_order_asked():
    curves = merging_probes.merging_curves(_epochs())
    assert list(dict.fromkeys(curves["probe"])) == ["row8", *merging_probes.MERGING_PROBES]
    one = curves[(curves["probe"] == "row8_unit_init") & (curves["epoch"] == 1)].iloc[0]
    assert one["seeds"] == 5 and one["min"] == pytest.approx(0.30) and one["max"] == pytest.approx(0.3004)
    with pytest.raises(ValueError, match=r"no probe \['row9'\] in probe_epochs.csv"):
        merging_probes.merging_curves(_epochs(), ["row9"])
    with pytest.raises(ValueError, match="lacks the column"):
        merging_probes.merging_curves(_epochs().drop(columns="epoch"))


def test_plot_draws_one_curve_per_probe_and_the_threshold():
    fig = merging_probes.plot_merging_curves(_epochs(), _probes())
    gids = [line.get_gid() for line in fig.axes[0].lines]
    assert gids == ["row8", *merging_probes.MERGING_PROBES, "threshold"]
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels[0] == "row8: change of row8 (5 seeds)"  # the change up to its parenthesis, and the seed count
    plt.close("all")


def test_comparisons_are_holm_corrected_across_the_four_probes_against_row_8():
    comparisons = merging_probes.merging_comparisons(_probes())
    assert list(comparisons["B"]) == ["probe=row8"] * 4 and len(comparisons) == 4
    assert (comparisons["p (Holm)"] >= comparisons["p"]).all()
    row7 = comparisons[comparisons["A"] == "probe=row7"].iloc[0]
    assert row7["difference"] < 0 and row7["p (Holm)"] < 0.05 and "beats" in row7["verdict"]


def test_findings_are_written_from_the_tables():
    comparisons = merging_probes.merging_comparisons(_probes())
    text = merging_probes.merging_findings(_epochs(), comparisons)
    assert "None of the 4 one-variable changes prevents merging" in text
    assert "at least 0.997 in every seed" in text  # the lowest last-epoch cosine of any probe's seeds
    assert "0.30 for row8_unit_init" in text and "row8_unit_init slows the first epoch most" in text
    assert "Holm across these 4 comparisons" in text and "probe=row8 beats probe=row7" in text
    kept = {**FAKE, "row8_proxy_sgd": (0.5, 0.9, 0.8)}  # a probe that stays below the threshold
    held = merging_probes.merging_findings(_epochs(kept), merging_probes.merging_comparisons(_probes(kept)))
    assert held.startswith("**Some changes keep the proxies apart**: row8_proxy_sgd")
    assert "never for row8_proxy_sgd" in held


def test_the_committed_probes_hold_the_four_merging_probes_with_five_seeds():
    probes = study_tables.read_study_table("probes")
    counts = probes.groupby("probe")["seed"].nunique()
    assert all(counts[p] >= 5 for p in ("row8", *merging_probes.MERGING_PROBES))
    epochs = pd.read_csv(study_tables.committed_results_dir("glyphs_hard") / "probe_epochs.csv")
    assert merging_probes.merging_findings(epochs, merging_probes.merging_comparisons(probes))


def test_unmerged_elsewhere_names_the_other_probes_that_stay_apart():
    probes = study_tables.read_study_table("probes")
    text = merging_probes.unmerged_elsewhere(probes)
    several = probes.groupby("probe")[merging_probes.COSINE].apply(lambda c: c.notna().any())
    others = [p for p in several[several].index if p not in ("row8", *merging_probes.MERGING_PROBES)]
    final = probes.groupby("probe")[merging_probes.COSINE].mean()
    apart = [p for p in others if final[p] <= 0.95]
    assert f"Of the {len(others)} other probes" in text and all(f"`{p}` (within-class cosine" in text for p in apart)
    assert not any(f"`{p}` (within-class" in text for p in set(others) - set(apart))
    merged = probes.assign(
        **{merging_probes.COSINE: probes[merging_probes.COSINE].where(probes["probe"].isin([]), 0.99)}
    )
    merged.loc[probes[merging_probes.COSINE].isna(), merging_probes.COSINE] = np.nan  # N = 1 stays without one
    assert "too, the proxies of a class end above the merge cosine 0.95" in merging_probes.unmerged_elsewhere(merged)
