"""study_tables, study_views and efficiency_views on small fabricated tables (the schema of results/<preset>/*.csv)."""

import json
import math
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from proxygml_lite.lab import efficiency_views, findings, study_tables, study_views  # noqa: E402
from proxygml_lite.studies.design import ABLATION_ROWS  # noqa: E402


def _grid(seeds=(0, 1, 2), C=10):
    rows = []
    for n in (1, 4):
        for r in (0.1, 0.3):
            for seed in seeds:
                rows.append(
                    {
                        "N": n,
                        "r": r,
                        "k": math.ceil(r * C * n),
                        "seed": seed,
                        "R@1": 0.4 + 0.05 * n + r + 0.01 * seed,
                        "NMI": 0.6 + 0.01 * seed,
                        "config": json.dumps({"N": n, "r": r, "seed": seed}),
                    }
                )
    return pd.DataFrame(rows)


def _row_config(row, seed, **settings):
    """The config JSON of ablation row ``row`` at ``seed``: the row's switches, and ``settings`` on top."""
    _, s_pos, mask, l_p = ABLATION_ROWS[row - 1]
    switches = {"positive_mask": s_pos, "mask_softmax": mask, "weight_lambda": 0.3 if l_p else 0.0}
    return json.dumps({"seed": seed, "N": 12, **switches, **settings})


def _ablation(seeds=(0, 1, 2)):
    return pd.DataFrame(
        [
            {
                "row": row,
                "seed": seed,
                "R@1": 0.4 + 0.05 * row + 0.02 * seed,
                "NMI": 0.5 + 0.01 * row,
                "config": _row_config(row, seed),
            }
            for row in range(1, 9)
            for seed in seeds
        ]
    )


def _efficiency():
    rows = []
    for series in ("ProxyGML N=12 λ=0.3", "ProxyGML N=1 λ=0", "SoftTriple"):
        for c in (100, 1000, 11318):
            rows.append(
                {"series": series, "num_classes": c, "time_ms": c / 100 + len(series), "peak_memory_mb": c / 10}
            )
    return pd.DataFrame(rows)


def test_summarize_seeds_gives_mean_sample_std_and_seeds():
    summary = study_tables.summarize_seeds(_grid(), by=["N", "r"])
    assert len(summary) == 4 and set(summary["seeds"]) == {3}
    cell = summary[(summary["N"] == 4) & (summary["r"] == 0.3)].iloc[0]
    assert cell["k"] == 12
    assert cell["R@1 per seed"] == pytest.approx([0.9, 0.91, 0.92])
    assert cell["R@1 mean"] == pytest.approx(0.91)
    assert cell["R@1 std"] == pytest.approx(np.std([0.9, 0.91, 0.92], ddof=1))
    one = study_tables.summarize_seeds(_grid(seeds=(0,)), by=["N", "r"])
    assert one["R@1 std"].isna().all()
    with pytest.raises(ValueError, match="lacks the column"):
        study_tables.summarize_seeds(_grid().drop(columns="seed"), by=["N", "r"])


def test_formatting():
    assert study_tables.format_mean_std(0.6123, 0.0081) == "61.2 ± 0.8"
    assert study_tables.format_mean_std(0.5, float("nan")) == "50.0"


def test_study_comparisons_are_every_pair_holm_corrected():
    import scipy.stats

    grid = _grid()
    pairs = study_tables.study_comparisons(grid, "grid")
    assert len(pairs) == 6 and list(pairs.iloc[0][["A", "B"]]) == ["N=1, r=0.1", "N=1, r=0.3"]
    first = scipy.stats.ttest_ind([0.5, 0.51, 0.52], [0.7, 0.71, 0.72], equal_var=False).pvalue
    assert pairs["p"].iloc[0] == pytest.approx(first, abs=1e-12)  # equal spreads: the same p everywhere here
    assert (pairs["p (Holm)"] >= pairs["p"]).all()
    ablation = study_tables.study_comparisons(_ablation(), "ablation", metric="NMI", pairs=[(8, 1)])
    assert list(ablation["A"]) == ["row 8"] and ablation["difference"].iloc[0] == pytest.approx(0.07)
    with pytest.raises(ValueError, match="'ablation', 'grid' or 'probes'"):
        study_tables.study_comparisons(grid, "efficiency")


def test_ablation_beside_paper_has_the_papers_values_and_seeds():
    out = study_tables.ablation_beside_paper(_ablation())
    assert list(out["row"]) == list(range(1, 9))
    assert out.loc[7, "R@1 (paper)"] == pytest.approx(85.5) and out.loc[7, "NMI (paper)"] == pytest.approx(72.4)
    assert out.loc[0, ["S^pos", "M", "L^p"]].tolist() == ["×", "×", "×"]
    assert out.loc[7, "R@1 (this code)"] == "82.0 ± 2.0"
    assert out.loc[7, "R@1 per seed"] == "80.0 82.0 84.0"


def test_read_study_table_checks_the_file_and_columns(tmp_path):
    _grid().to_csv(tmp_path / "grid.csv", index=False)
    assert len(study_tables.read_study_table("grid", path=tmp_path)) == 12
    assert study_tables.config_of(study_tables.read_study_table("grid", path=tmp_path / "grid.csv"))["N"] == 1
    with pytest.raises(FileNotFoundError, match="make studies"):
        study_tables.read_study_table("ablation", path=tmp_path)
    _grid().drop(columns="r").to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="lacks the column"):
        study_tables.read_study_table("grid", path=tmp_path / "bad.csv")
    with pytest.raises(ValueError, match="kind must be"):
        study_tables.read_study_table("umap")
    assert study_tables.results_dir("glyphs_hard").parts[-2:] == ("results", "glyphs_hard")


def test_seed_counts_are_read_from_the_committed_tables(tmp_path, monkeypatch):
    monkeypatch.setenv("PROXYGML_RESULTS_DIR", str(tmp_path))
    folder = tmp_path / "glyphs_hard"
    (folder / "snapshots").mkdir(parents=True)
    assert findings.seed_counts().empty  # no table: no row, and no error
    grid = _grid(seeds=(0, 1, 2, 3, 4))
    grid[~((grid["N"] == 4) & (grid["seed"] > 2))].to_csv(folder / "grid.csv", index=False)  # N = 4: 3 seeds
    for name in ("N1_r0.05_s0.npz", "N4_r0.05_s0.npz", "N4_r0.05_s1.npz", "notes.npz"):
        (folder / "snapshots" / name).write_bytes(b"")
    counts = findings.seed_counts().set_index("study")
    assert list(counts.index) == ["grid", "snapshots"]  # ablation and probes absent
    assert counts.loc["grid", "notebook"] == 8 and counts.loc["grid", "cells"] == 4
    assert counts.loc["grid", "seeds per cell"] == "3 to 5" and counts.loc["grid", "seeds"] == [0, 1, 2, 3, 4]
    assert counts.loc["snapshots", "cells"] == 2 and counts.loc["snapshots", "seeds per cell"] == "1 to 2"


def test_metric_vs_N_draws_one_line_per_r_with_seed_dots():
    fig = study_views.plot_metric_vs_N(_grid())
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["r = 0.1", "r = 0.3"]
    assert sum(len(c.get_offsets()) for c in ax.collections if c.get_offsets().shape[1] == 2) >= 12
    fig2 = study_views.plot_metric_vs_N(_grid(), r_values=[0.3], metric="NMI")
    assert [t.get_text() for t in fig2.axes[0].get_legend().get_texts()] == ["r = 0.3"]
    with pytest.raises(ValueError, match="not in the grid"):
        study_views.plot_metric_vs_N(_grid(), r_values=[0.7])
    plt.close("all")


def test_lines_are_dodged_so_error_bars_at_one_setting_do_not_overlap():
    fig = study_views.plot_metric_against(_grid(), x="N")
    lines = [c for c in fig.axes[0].lines if c.get_marker() == "o"]
    first, second = (np.asarray(line.get_xdata(), dtype=float) for line in lines)
    assert np.all(first < np.array([1, 4])) and np.all(second > np.array([1, 4]))  # beside N, on either side
    assert np.allclose(first * second, [1, 16])  # symmetric on the log axis
    fig = study_views.plot_metric_against(_grid(), x="k", marked={(4, 0.3): "A"})
    assert fig.axes[0].get_xlabel().startswith("k = ceil") and [t.get_text() for t in fig.axes[0].texts] == ["A"]
    new = pd.DataFrame([{"N": 2, "r": 0.2, "k": 4, "R@1": 0.7}])
    fig = study_views.plot_metric_against(_grid(), x="r", new=new)
    assert "new: N = 2, r = 0.2 (1 run)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    with pytest.raises(ValueError, match="x must be one of N, r, k"):
        study_views.plot_metric_against(_grid(), x="seed")
    plt.close("all")


def test_heatmap_never_shows_a_zero_std_that_is_not_zero():
    grid = _grid()
    grid["R@1"] = grid["R@1"] + 0.00001 * grid["seed"] - 0.01 * grid["seed"]  # the cells' seeds almost agree
    texts = [t.get_text() for t in study_views.plot_grid_heatmap(grid).axes[0].texts]
    assert all("±0.0\n" not in t for t in texts) and any("±0.00" in t for t in texts)
    plt.close("all")


def test_heatmap_shows_mean_std_and_k_per_cell():
    fig = study_views.plot_grid_heatmap(_grid())
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == 4 and any("k=12" in t for t in texts)
    assert "91.0±1.0\nk=12" in texts
    plt.close("all")


def test_ablation_seeds_has_paper_bars_and_errorbars():
    fig = study_views.plot_ablation_seeds(_ablation())
    ours, theirs = fig.axes
    labels = [t.get_text() for t in theirs.get_legend().get_texts()]
    assert "paper (Zhu et al., NeurIPS 2020)" in labels
    paper_heights = [p.get_height() for p in theirs.patches if p.get_gid() == "paper"]
    assert paper_heights[-1] == pytest.approx(85.5) and theirs.get_ylim() == (0, 100)
    # this code's axis is fitted to its seeds (issue 17: 1-2 point differences resolve), and says where it starts
    seeds = 100 * _ablation()["R@1"]
    low, high = ours.get_ylim()
    assert low <= seeds.min() and high >= seeds.max() and high - low < 2 * (seeds.max() - seeds.min()) + 10
    assert f"axis from {low:g}" in ours.get_ylabel()
    assert not [p for p in ours.patches if p.get_gid() == "paper"]
    nmi = study_views.plot_ablation_seeds(_ablation(), metric="NMI")
    assert "NMI protocol: " in nmi.axes[0].get_title() and "official NMI protocol" in nmi.axes[1].get_title()
    with pytest.raises(ValueError, match="R@1 and NMI only"):
        study_views.plot_ablation_seeds(_ablation().assign(**{"R@2": 0.1}), metric="R@2")
    plt.close("all")


def test_cost_series_draws_each_series_on_log_axes():
    fig = efficiency_views.plot_cost_series(_efficiency(), value="peak_memory_mb")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.get_legend().get_texts()) == 3
    with pytest.raises(ValueError, match="not in the table"):
        efficiency_views.plot_cost_series(_efficiency(), series=["ProxyNCA"])
    plt.close("all")


def test_accuracy_cost_vs_k_two_panels():
    grid = _grid()
    cost = grid.drop_duplicates(["N", "r"])[["N", "r", "k"]].assign(time_ms=lambda t: 0.1 * t["k"])
    fig = efficiency_views.plot_accuracy_cost_vs_k(grid, cost=cost)
    assert len(fig.axes) == 2
    assert len(efficiency_views.plot_accuracy_cost_vs_k(grid).axes) == 1
    plt.close("all")


def test_ablation_claims_use_the_paper_and_holm_corrected_welch_tests():
    table = _ablation()  # R@1 grows with the row number: 0.4 + 0.05 row, the seeds add 0, 0.002, 0.004
    table["R@1"] = 0.4 + 0.05 * table["row"] + 0.002 * table["seed"]
    claims = study_tables.ablation_claims(table).set_index("claim")
    assert len(claims) == len(study_tables.PAPER_ABLATION_CLAIMS)
    assert claims.loc["S^pos alone helps (row 2 > row 1)", "paper: difference"] == pytest.approx(83.3 - 47.3)
    assert claims.loc["S^pos alone helps (row 2 > row 1)", "here"] == "holds"
    assert claims.loc["S^pos is the strongest single module (row 2 > row 4)", "here"] == "reversed"
    row_8_7 = claims.loc["L^p helps on top of S^pos and M (row 8 > row 7)"]
    assert row_8_7["here"] == "holds" and row_8_7["here: difference"] == pytest.approx(5.0)
    assert row_8_7["here: CI low"] < 5.0 < row_8_7["here: CI high"] and row_8_7["here: p (Holm)"] < 0.05
    assert row_8_7["verdict"].startswith("row 8 beats row 7 by 5.0 points (95% CI ")
    noisy = table.copy()
    noisy.loc[noisy["seed"] == 2, "R@1"] -= 0.3  # std 0.17 per row: no claim survives
    assert set(study_tables.ablation_claims(noisy)["here"]) == {"cannot tell apart"}
    # the old rule (bars of mean ± 1 std do not overlap) would claim row 2 > row 1 here; Welch + Holm does not
    close = _ablation()  # std 0.02 per row, 5 points apart: p = 0.037 alone, 8 claims -> Holm p > 0.05
    verdict = study_tables.ablation_claims(close).set_index("claim").loc["S^pos alone helps (row 2 > row 1)"]
    assert verdict["here"] == "cannot tell apart" and verdict["verdict"].startswith(
        "cannot tell row 2 and row 1 apart with 3 seeds"
    )
    one_seed = study_tables.ablation_claims(table[(table["row"] != 5) | (table["seed"] == 0)]).set_index("claim")
    assert one_seed.loc["S^pos helps on top of M and L^p (row 8 > row 5)", "here"] == "cannot tell apart"
    only = study_tables.ablation_claims(table[table["row"].isin([1, 2])])
    assert list(only["claim"]) == ["S^pos alone helps (row 2 > row 1)"]


def test_subgraph_cost_tables_and_step_plot():
    from proxygml_lite.lab import subgraph_cost

    cost = subgraph_cost.cost_against_k([(2, 0.2), (4, 0.5)], num_classes=10, dim=8, repeats=2)
    assert list(cost["k"]) == [4, 20] and list(cost["CN"]) == [20, 40] and (cost["time_ms"] > 0).all()
    times = subgraph_cost.step_times(num_classes=10, proxies_per_class=2, r_values=[0.1, 0.5], dim=8, repeats=2)
    assert list(times["k"].unique()) == [2, 10] and len(times) == 10 and (times["time_ms"] > 0).all()
    assert list(times["step"][:5]) == [*subgraph_cost.STEPS, subgraph_cost.WHOLE_LAYER]
    assert all(len(t) == 2 for t in times["repeat_times_ms"])  # each step timed directly, every repeat kept
    fig = efficiency_views.plot_step_times(times)
    assert {p.get_gid() for p in fig.axes[0].patches} == {"S = X P^T", "top-k -> W", "Z = W Y^p, L^s", "L^p"}
    assert any(t.get_text().startswith("whole layer, in one go") for t in fig.axes[0].get_legend().get_texts())
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["k = 2", "k = 10"]
    plt.close("all")


def test_paper_comparison_plot_is_labelled_as_the_papers():
    fig = study_views.plot_paper_comparison(metric="R@1")
    ax = fig.axes[0]
    assert "paper (Zhu et al., NeurIPS 2020)" in ax.get_title() and "paper" in ax.get_ylabel()
    names = [t.get_text() for t in ax.get_xticklabels()]
    assert {"ProxyGML (64)", "ProxyGML (384)", "ProxyGML (512)", "SemiHard (64)"} <= set(names)  # each size's own
    assert 0 < ax.get_ylim()[0] <= 40  # the axis starts near the lowest bar: 1-2 points stay visible
    cars = [p.get_height() for p in ax.patches if p.get_gid() == "Cars196"]
    assert 85.5 in cars  # ProxyGML-512 on Cars196, as published
    with pytest.raises(ValueError, match="has no 'R@8'"):
        study_views.plot_paper_comparison(metric="R@8")
    plt.close("all")


# ------------------------------------------------------------------ the helpers check what they average (issue 16 item 7)
def _committed_like(tmp_path, table):
    """``table`` written as ablation.csv and read back as the notebooks do (lines are named by the file)."""
    table.to_csv(tmp_path / "ablation.csv", index=False)
    return study_tables.read_study_table("ablation", path=tmp_path)


def test_repeated_cell_and_seed_is_refused_with_the_rows_named(tmp_path):
    """The reproduction: row 3 with its seeds repeated showed "3 seeds" but averaged 7 values."""
    table = _ablation()
    repeated = pd.concat([table, table[table["row"] == 3], table[(table["row"] == 3) & (table["seed"] == 0)]])
    table = _committed_like(tmp_path, repeated.reset_index(drop=True))
    with pytest.raises(ValueError) as exc:
        study_tables.summarize_seeds(table, by=["row"])
    message = str(exc.value)
    assert "lines 8, 26, 29 of" in message and "ablation.csv repeat the cell row=3, seed=0" in message
    assert "7 repeated rows" in message and "\n" not in message
    with pytest.raises(ValueError, match="repeat the cell row=3"):
        study_tables.ablation_beside_paper(table)


def _with_configs(table, config):
    table = table.copy()
    table["config"] = [config(row, seed) for row, seed in zip(table["row"], table["seed"])]
    return table


def test_seeds_of_one_cell_with_different_configurations_are_refused():
    table = _with_configs(_ablation(), lambda row, seed: _row_config(row, seed, epochs=50, out="runs/a"))
    table.loc[(table["row"] == 2) & (table["seed"] == 0), "config"] = _row_config(2, 0, epochs=1)
    with pytest.raises(
        ValueError,
        match=r"the table mixes configurations: epochs is 50 \(rows 0, 1, 2, 4, .*\) vs 1 \(row 3 \(table index\)\)",
    ):
        study_tables.summarize_seeds(table, by=["row"])
    from proxygml_lite.studies.identity import RUN_ONLY

    seeds_elsewhere = _ablation()
    seeds_elsewhere["config"] = [_row_config(row, seed, **{key: f"{key}{i}" for key in RUN_ONLY}) for i, (row, seed)
                                 in enumerate(zip(seeds_elsewhere["row"], seeds_elsewhere["seed"]))]  # fmt: skip
    assert len(study_tables.summarize_seeds(seeds_elsewhere, by=["row"])) == 8  # where a run reported is not its config


@pytest.mark.parametrize("name, values", [("workers", (0, 2)), ("device", ("cpu", "cuda")), ("threads", (1, 4))])
def test_the_read_side_counts_as_settings_what_the_write_side_does(name, values):
    """Review finding: `workers` was a setting when writing a table but not when reading it; one set says which
    keys are run-only (identity.RUN_ONLY) on both sides: a setting that can change the numbers is a setting on both."""
    from proxygml_lite.studies.identity import RUN_ONLY, study_settings

    assert name not in RUN_ONLY and name in study_settings({name: values[0]}, "ablation")
    mixed = _ablation()
    mixed["config"] = [
        _row_config(row, seed, **{name: values[seed % 2]}) for row, seed in zip(mixed["row"], mixed["seed"])
    ]
    with pytest.raises(ValueError, match=rf"the table mixes configurations: {name} is"):
        study_tables.summarize_seeds(mixed, by=["row"])


def test_a_whole_cell_of_other_settings_is_refused_not_only_the_protocol():
    """Review finding: only dataset/epochs/... were compared, so a row run with another N, lr or λ averaged in."""
    other_n = _with_configs(_ablation(), lambda row, seed: _row_config(row, seed, **({"N": 4} if row == 5 else {})))
    with pytest.raises(
        ValueError, match=r"the table mixes configurations: N is 12 \(rows 0, .*\) vs 4 \(rows 12, 13, 14"
    ):
        study_tables.summarize_seeds(other_n, by=["row"])
    other_lambda = _ablation()
    other_lambda.loc[other_lambda["row"] == 8, "config"] = [
        json.dumps({**json.loads(_row_config(8, seed)), "weight_lambda": 0.5}) for seed in (0, 1, 2)
    ]
    with pytest.raises(ValueError, match=r"the rows with L\^p have weight_lambda 0.3 .* vs 0.5 \(rows 21, 22, 23"):
        study_tables.summarize_seeds(other_lambda, by=["row"])
    grid = _grid()  # the grid's cells vary N and r, nothing else
    assert len(study_tables.summarize_seeds(grid, by=["N", "r"])) == 4
    grid.loc[grid["N"] == 4, "config"] = [
        json.dumps({**json.loads(c), "lr": 0.1}) for c in grid.loc[grid["N"] == 4, "config"]
    ]
    with pytest.raises(ValueError, match=r"mixes configurations: lr is"):
        study_tables.summarize_seeds(grid, by=["N", "r"])


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.assign(**{"seed": t["seed"].where(t.index != 4, 2)}), r"repeat the cell row=2, seed=2"),
        (lambda t: t.assign(**{"seed": t["seed"].where(t.index != 4, 7)}),
         r"line 6 of .* does not match its config: its seed column says 7 but its config ran seed 1"),
        (lambda t: t.assign(config=t["config"].where(t.index != 0, _row_config(8, 0))),
         r"line 2 of .* does not match its config: row 1 has S\^pos off, but its config ran S\^pos True"),
        (lambda t: t.assign(**{"R@1": t["R@1"].where(t.index != 3, float("inf"))}),
         r"R@1 is not a finite number in line 5 of .*ablation.csv \(inf\)"),
        (lambda t: t.assign(**{"R@1": t["R@1"].astype(object).where(t.index != 3, "0.9x")}),
         r"R@1 is not a finite number in line 5 of .*ablation.csv \('0.9x'\)"),
        # review LOW findings: a row without L^p whose λ is no number, a metric above 1, a column of booleans
        *[(lambda t, lam=lam: t.assign(config=t["config"].where(t.index != 1, _row_config(1, 1, weight_lambda=lam))),
           rf"line 3 of .* does not match its config: its config's weight_lambda {shown} is not a number λ >= 0")
          for lam, shown in [(float("inf"), "inf"), (float("nan"), "nan"), ("0", "'0'"), (None, "None")]],
        (lambda t: t.assign(**{"R@1": t["R@1"].where(t.index != 3, 1.5)}),
         r"R@1 is 1.5 in line 5 of .*ablation.csv, not a fraction in \[0, 1\]"),
        (lambda t: t.assign(NMI=-0.1), r"NMI is -0.1 in lines 2, 3, .*, not a fraction in \[0, 1\]"),
        (lambda t: t.assign(**{"R@1": True}), r"R@1 is True in lines 2, 3, 4, .* of .*ablation.csv, not a number"),
    ],
)  # fmt: skip
def test_an_edited_row_is_refused_with_its_line_named(tmp_path, edit, message):
    """Review finding: seed columns that disagree with the config, another row's switches, inf and text metrics."""
    with pytest.raises(ValueError, match=message):
        study_tables.summarize_seeds(_committed_like(tmp_path, edit(_ablation())), by=["row"])


def _grid_file(tmp_path, edit):
    """``_grid()`` edited, written as grid.csv and read back as the notebooks do."""
    edit(_grid()).to_csv(tmp_path / "grid.csv", index=False)
    return study_tables.read_study_table("grid", path=tmp_path)


def _grid_config(table, index, **settings):
    return table["config"].where(
        table.index != index, json.dumps({**json.loads(table.at[index, "config"]), **settings})
    )


@pytest.mark.parametrize(
    "edit, message",
    [
        # N 1.0000000001 in both the column and the config would be a cell of its own beside N = 1
        (lambda t: t.assign(N=t["N"].where(t.index != 2, 1.0000000001), config=_grid_config(t, 2, N=1.0000000001)),
         # (pandas writes the whole column as floats then: "1.0" is no integer spelling either)
         r"lines 2, 3, 4, .* of .*grid.csv: N is '1.0', not a whole number written in the digits 0-9"),
        (lambda t: t.assign(r=t["r"].where(t.index != 2, 0.10000000001)),
         r"line 4 of .*grid.csv does not match its config: its r column says 0.10000000001 but its config ran r 0.1"),
        # k = ceil(r C N): C = 10 fits every other row, 14 only C = 11
        (lambda t: t.assign(k=t["k"].where(t.index != 10, 14)),
         r"line 12 of .*grid.csv does not match its config: its k column says 14, but the table's other rows fit "
         r"C = 10 classes, for which k = ceil\(r C N\) = 12 at N 4, r 0.3"),
        (lambda t: t.assign(k=t["k"].where(t.index != 10, 12.5)), r"lines 2, .* of .*: k is '1.0', not a whole"),
        (lambda t: t.assign(config=[json.dumps({**json.loads(c), "C": 11}) for c in t["config"]]),
         r"line 2 of .*: its k column says 1 but its config's C 11 gives k = 2"),  # a config that records C
    ],
)  # fmt: skip
def test_an_edited_grid_row_is_refused_with_its_line_named(tmp_path, edit, message):
    """Review LOW findings: a grid N that is not a whole number, a k column that no class count C gives."""
    assert len(study_tables.summarize_seeds(_grid_file(tmp_path, lambda t: t), by=["N", "r"])) == 4
    with pytest.raises(ValueError, match=message):
        study_tables.summarize_seeds(_grid_file(tmp_path, edit), by=["N", "r"])


def test_nan_metrics_and_a_config_that_is_not_json_are_refused_with_the_file_named(tmp_path):
    table = _ablation()
    table.loc[4, "R@1"] = float("nan")  # failed runs, or runs made with --recall-ks 2 4 (review)
    with pytest.raises(
        ValueError,
        match=r"R@1 is not a finite number in line 6 of .*ablation.csv \(nan\): those runs failed.*other --recall-ks",
    ):
        study_tables.summarize_seeds(_committed_like(tmp_path, table), by=["row"])
    table = _ablation()
    table.loc[4, "NMI"] = float("nan")  # what the writer leaves for a --no-nmi run: the message says so
    with pytest.raises(ValueError, match=r"NMI is not a finite number in line 6 .*runs made with --no-nmi have no NMI"):
        study_tables.summarize_seeds(_committed_like(tmp_path, table), by=["row"], metrics=["R@1", "NMI"])
    table.loc[4, "NMI"] = 0.8
    table.loc[4, "R@2"] = float("nan")  # R@2 is left out by other --recall-ks, not by --no-nmi
    with pytest.raises(
        ValueError, match=r"R@2 is not a finite number .*\(runs made with other --recall-ks have no R@2"
    ):
        study_tables.summarize_seeds(_committed_like(tmp_path, table), by=["row"], metrics=["R@1", "R@2"])
    assert len(study_tables.summarize_seeds(_committed_like(tmp_path, table), by=["row"], metrics=["R@1"]))
    table = _ablation()
    table.loc[2, "config"] = '{"epochs": 5'
    read = _committed_like(tmp_path, table)
    with pytest.raises(ValueError, match=r"the config of line 4 of .*ablation.csv is not JSON"):
        study_tables.summarize_seeds(read, by=["row"])
    with pytest.raises(ValueError, match=r"the config of line 4 of .*ablation.csv is not JSON"):
        study_tables.config_of(read, 2)


def test_an_empty_or_truncated_table_is_named(tmp_path):
    (tmp_path / "ablation.csv").write_text("")
    with pytest.raises(ValueError, match=r"ablation.csv is empty; restore it"):
        study_tables.read_study_table("ablation", path=tmp_path)
    text = _ablation().to_csv(index=False)
    (tmp_path / "ablation.csv").write_text(text[: text.index('"{')] + '"{""epochs\n')  # cut inside a quoted config
    with pytest.raises(ValueError, match=r"ablation.csv is not a readable CSV table \(truncated or damaged"):
        study_tables.read_study_table("ablation", path=tmp_path)
    cut = "\n".join(text.splitlines()[:6]) + "\n5,0,0.6"  # cut in the middle of a row: its NMI is missing
    (tmp_path / "ablation.csv").write_text(cut)
    with pytest.raises(ValueError, match=r"ablation.csv is not a readable CSV table \(truncated: its last line has no"):
        study_tables.read_study_table("ablation", path=tmp_path)
    (tmp_path / "ablation.csv").write_text(cut + "\n")  # a short row with its line end: pandas would fill in NaN
    with pytest.raises(ValueError, match=r"ablation.csv is not a readable CSV table \(truncated: line 7 has 3 of the"):
        study_tables.read_study_table("ablation", path=tmp_path)


def test_a_cut_metrics_csv_is_one_line_naming_it(tmp_path):
    """Review finding F14: metrics.csv is rewritten whole (atomically), so a partial last row is damage: refused."""
    from proxygml_lite.studies.plots import read_history

    text = "epoch,loss,R@1\n0,,0.1\n1,2.5,0.3\n2,2.1,0.4\n"
    (tmp_path / "metrics.csv").write_text(text)
    assert read_history(tmp_path)["R@1"].tolist() == [0.1, 0.3, 0.4]
    for cut in (text[:-3], text[:-6] + "\n"):  # the last value cut short; the last row short of a field
        (tmp_path / "metrics.csv").write_text(cut)
        with pytest.raises(ValueError, match=r"metrics.csv is not a readable CSV table \(truncated: ") as caught:
            read_history(tmp_path)
        assert str(caught.value).startswith(str(tmp_path / "metrics.csv")) and "\n" not in str(caught.value)


def test_a_table_without_rows_or_without_its_config_column_is_one_line(tmp_path):
    """Review findings F13 and F14: no config column (rows unmatched, unchecked); summarize_seeds of no rows."""
    from proxygml_lite.studies.tables import load_table

    _ablation().drop(columns="config").to_csv(tmp_path / "ablation.csv", index=False)
    with pytest.raises(ValueError, match=r"ablation.csv lacks the column\(s\) \['config'\]; .*restore it") as caught:
        study_tables.read_study_table("ablation", path=tmp_path)
    assert "\n" not in str(caught.value)
    with pytest.raises(ValueError, match=r"ablation.csv has no config column, so its rows cannot be matched"):
        load_table("ablation", folder=tmp_path)
    _ablation().iloc[:0].to_csv(tmp_path / "ablation.csv", index=False)  # the header alone
    empty = study_tables.read_study_table("ablation", path=tmp_path)
    with pytest.raises(ValueError, match=r"ablation.csv has no rows, so there are no seeds to summarise"):
        study_tables.summarize_seeds(empty, by=["row"])
    table = study_tables.read_study_table("ablation", path=_committed_like(tmp_path, _ablation()).attrs["source"])
    with pytest.raises(ValueError, match=r"has no rows, so there are no seeds to summarise"):
        study_tables.summarize_seeds(table[table["row"] == 9], by=["row"])


@pytest.mark.parametrize("seed", ["0_0", "٠", "０", " 1", "1 ", "+1", "1.0", "0x1", ""])
def test_an_integer_key_is_read_strictly_as_ascii_digits(tmp_path, seed):
    """Review finding F4: int() and pandas take "0_0", "٠" (Arabic-Indic), "０" (full-width), " 1", "+1"."""
    table = _ablation().astype({"seed": object})
    table.loc[4, "seed"] = seed
    table.to_csv(tmp_path / "ablation.csv", index=False)
    shown = "empty or NaN" if seed == "" else repr(seed)  # the CSV reader reads "" and "nan" alike
    with pytest.raises(ValueError, match=rf"line 6 of .*ablation.csv: seed is {re.escape(shown)}, not a whole number"):
        study_tables.read_study_table("ablation", path=tmp_path)
    with pytest.raises(ValueError, match=rf"row 4 \(table index\): seed is {re.escape(repr(seed))}, not a whole"):
        study_tables.summarize_seeds(table, by=["row"])  # a table made in memory is checked the same way


def test_repeated_seeds_are_found_on_the_numbers_not_their_spelling(tmp_path):
    """Review finding F4: "0" and "00" are one seed; the rows are named."""
    table = _ablation().astype({"seed": object, "row": object})
    table.loc[3, "seed"] = "00"  # row 2, seed 0 again (its config says seed 0 too); row 2's seed 0 is line 5
    table.loc[3, "config"] = table.loc[0, "config"].replace('"seed": 0', '"seed": 0')
    table.loc[3, "row"] = "01"
    table.loc[3, "config"] = table.loc[0, "config"]
    read = _committed_like(tmp_path, table)
    assert read["seed"].dtype == "int64" and read.loc[3, "seed"] == 0 and read.loc[3, "row"] == 1
    with pytest.raises(ValueError, match=r"lines 2, 5 of .*ablation.csv repeat the cell row=1, seed=0"):
        study_tables.summarize_seeds(read, by=["row"])
    with pytest.raises(ValueError, match=r"rows 0, 3 \(table index\) repeat the cell row=1, seed=0"):
        study_tables.summarize_seeds(table, by=["row"])
