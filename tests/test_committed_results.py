"""The committed study tables: their shape, and one cell re-run from its `config` gives the committed R@1."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from proxygml_lite.train import main

RESULTS = Path(__file__).resolve().parents[1] / "results" / "glyphs_hard"
ROOT = Path(__file__).resolve().parents[1]


def table(name):
    path = RESULTS / f"{name}.csv"
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make studies` and commit results/")
    return pd.read_csv(path)


def test_ablation_and_grid_have_every_cell_with_three_seeds_and_a_config():
    ablation, grid = table("ablation"), table("grid")
    assert sorted(ablation["row"].unique()) == list(range(1, 9))
    assert (ablation.groupby("row")["seed"].nunique() >= 3).all()
    assert (grid.groupby(["N", "r"])["seed"].nunique() >= 3).all() and grid.groupby(["N", "r"]).ngroups >= 9
    for frame in (ablation, grid):
        assert frame["R@1"].between(0, 1).all() and frame["NMI"].between(0, 1).all()
        configs = [json.loads(text) for text in frame["config"]]
        assert all(c["dataset"] == "glyphs_hard" for c in configs)
        assert [c["seed"] for c in configs] == frame["seed"].tolist()
    assert all(k == math.ceil(r * 100 * n) for n, r, k in grid[["N", "r", "k"]].itertuples(index=False))
    # the ablation switches are the ones in each row's config
    for row, s_pos, mask, l_p, text in ablation[["row", "S^pos", "M", "L^p", "config"]].itertuples(index=False):
        c = json.loads(text)
        assert (c["positive_mask"], c["mask_softmax"], c["weight_lambda"] > 0) == (
            s_pos,
            mask,
            l_p,
        ), row


def test_efficiency_table_has_the_five_series():
    eff = table("efficiency")
    assert set(eff["series"]) == {
        "ProxyGML N=12 λ=0.3",
        "ProxyGML N=1 λ=0",
        "SoftTriple",
        "ProxyNCA",
        "Proxy-Anchor",
    }
    assert (eff["time_ms"] > 0).all()
    for name in ("ProxyGML N=1 λ=0", "SoftTriple", "ProxyNCA", "Proxy-Anchor"):
        assert eff.loc[eff["series"] == name, "num_classes"].max() == 11318, name


def test_a_committed_cell_reruns_from_its_config_to_the_same_recall(tmp_path):
    """The cheapest committed cell, re-run with `train --config`: the same number of hits at R@1 (CPU, 1 thread)."""
    rows = pd.concat([table("grid"), table("ablation")], ignore_index=True)
    cell = rows.loc[rows["elapsed_s"].idxmin()]
    config_file = tmp_path / "cell.json"
    config_file.write_text(cell["config"])
    out = tmp_path / "rerun"
    assert (
        main(
            [
                "--config",
                str(config_file),
                "--out",
                str(out),
                "--data",
                str(ROOT / "data"),
                "--quiet",
            ]
        )
        == 0
    )
    results = json.loads((out / "results.json").read_text())
    n = results["test_samples"]
    assert round(results["metrics"]["R@1"] * n) == round(cell["R@1"] * n), (
        results["metrics"],
        cell["R@1"],
    )
    assert results["metrics"]["NMI"] == pytest.approx(cell["NMI"], abs=1e-9)  # the config names its NMI protocol
