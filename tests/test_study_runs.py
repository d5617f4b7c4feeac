"""make studies on tiny data: tables with seeds and configs, resuming cell by cell, shared cells, efficiency rows."""

import json

import pandas as pd
import pytest
from _fabricate import make_tiny_folder_dataset

from proxygml_lite import study_runs
from proxygml_lite.training.config import TrainConfig


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return make_tiny_folder_dataset(tmp_path_factory.mktemp("tiny"), per_class=4)


def tiny(data_root):
    return dict(
        dataset="folder",
        data=str(data_root),
        dim=8,
        batch_size=8,
        epochs=1,
        image_size=16,
        device="cpu",
        epoch_to_test=None,
        new_epoch_to_decay=(1,),
        r=0.3,
        compute_nmi=True,
    )


def test_studies_write_tables_with_seeds_and_configs_and_resume(data_root, tmp_path, monkeypatch):
    results, runs = tmp_path / "results", tmp_path / "runs"
    monkeypatch.setattr(study_runs, "GRID_N", (1, 2))
    monkeypatch.setattr(study_runs, "GRID_R", (0.3, 0.6))
    tables = study_runs.make_studies(
        "glyphs_hard",
        ("ablation", "grid"),
        seeds=(0, 1),
        workers=1,
        results=results,
        runs=runs,
        progress=False,
        **tiny(data_root),
    )
    ablation, grid = tables["ablation"], tables["grid"]
    assert list(ablation.columns) == study_runs.STUDY_COLUMNS["ablation"]
    assert list(grid.columns) == study_runs.STUDY_COLUMNS["grid"]
    assert len(ablation) == 16 and len(grid) == 8
    assert sorted(set(zip(grid["N"], grid["r"], grid["k"]))) == [
        (1, 0.3, 2),
        (1, 0.6, 4),
        (2, 0.3, 4),
        (2, 0.6, 8),
    ]
    first = json.loads(grid["config"][0])
    assert TrainConfig.from_dict(first).seed == grid["seed"][0] and first["out"] is None
    # the cells of the first r at the first seed kept proxy + embedding snapshots, exported as npz
    assert sorted(p.name for p in (results / "snapshots").iterdir()) == [
        "N1_r0.3_s0.npz",
        "N2_r0.3_s0.npz",
    ]
    snap = study_runs.read_snapshot_npz(results / "snapshots" / "N2_r0.3_s0.npz")
    assert snap["N"] == 2 and snap["proxies"].shape == (2, 12, 8) and list(snap["epochs"]) == [0, 1]
    assert snap["train_embeddings"].shape[0] == 2 and snap["train_labels"].max() < 6
    # resume: delete the run folders; the tables alone are read back, nothing retrains
    import shutil

    shutil.rmtree(runs)
    again = study_runs.make_studies(
        "glyphs_hard",
        ("ablation", "grid"),
        seeds=(0, 1),
        workers=1,
        results=results,
        runs=runs,
        progress=False,
        **tiny(data_root),
    )
    assert not runs.exists()
    pd.testing.assert_frame_equal(again["ablation"], ablation)
    assert (results / "snapshots" / "N1_r0.3_s0.npz").exists()


def test_a_cell_shared_by_both_studies_runs_once(data_root, tmp_path, monkeypatch):
    monkeypatch.setattr(study_runs, "GRID_N", (12,))
    monkeypatch.setattr(study_runs, "GRID_R", (0.05,))
    settings = {**tiny(data_root), "r": 0.05}
    tables = study_runs.make_studies(
        "glyphs_hard",
        ("ablation", "grid"),
        seeds=(0,),
        workers=1,
        results=tmp_path / "res",
        runs=tmp_path / "runs",
        progress=False,
        **settings,
    )
    row8 = tables["ablation"].set_index("row").loc[8]
    assert tables["grid"]["R@1"][0] == row8["R@1"]
    assert not (tmp_path / "runs" / "row8_s0").exists() and (tmp_path / "runs" / "N12_r0.05_s0").exists()


def test_efficiency_rows_per_series_and_class_count_and_memory_guard(tmp_path, monkeypatch):
    path = tmp_path / "efficiency.csv"
    series = {
        "ProxyGML N=2 λ=0.3": (
            "proxygml",
            {"proxies_per_class": 2, "r": 0.3, "weight_lambda": 0.3},
        ),
        "ProxyNCA": ("proxynca", {}),
    }
    monkeypatch.setattr(
        study_runs.efficiency,
        "EFFICIENCY_MEMORY_LIMIT",
        study_runs.efficiency._working_bytes("proxygml", series["ProxyGML N=2 λ=0.3"][1], 40, 4, 16),
    )
    table = study_runs.measure_efficiency(
        path,
        class_counts=(20, 40, 80),
        series=series,
        batch_size=4,
        dim=16,
        repeats=1,
        progress=False,
    )
    assert list(table.columns) == study_runs.EFFICIENCY_COLUMNS
    got = sorted(zip(table["series"], table["num_classes"]))
    assert got == [
        ("ProxyGML N=2 λ=0.3", 20),
        ("ProxyGML N=2 λ=0.3", 40),
        ("ProxyNCA", 20),
        ("ProxyNCA", 40),
        ("ProxyNCA", 80),
    ]  # ProxyGML at C = 80 exceeds the (patched) memory limit
    assert (table["time_ms"] > 0).all() and (table["peak_rss_mb"] >= 0).all()
    assert study_runs.measure_efficiency(path, class_counts=(20,), series=series, progress=False).equals(table)


def test_a_table_row_whose_config_is_not_json_is_named_before_anything_trains(tmp_path):
    """Issue 16 "one clear line": rerunning a study folder whose table holds a damaged config names file and line."""
    pd.DataFrame(
        [{"row": 1, "seed": 0, "R@1": 0.5, "config": "{}"}, {"row": 2, "seed": 0, "R@1": 0.5, "config": "{"}]
    ).to_csv(tmp_path / "ablation.csv", index=False)
    with pytest.raises(ValueError, match=r"the config of line 3 of .*ablation.csv is not JSON"):
        study_runs.make_studies(studies=["ablation"], seeds=[0], results=tmp_path, runs=tmp_path / "runs", epochs=1)
    assert not (tmp_path / "runs").exists()
