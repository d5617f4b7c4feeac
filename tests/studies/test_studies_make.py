"""make studies on tiny data: tables gathered from cell folders, never losing or faking a row, cells as commands."""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from _fabricate import make_tiny_folder_dataset, tiny_study_flags, tiny_study_settings

from proxygml_lite.fileio import FolderLockedError
from proxygml_lite.lab import experiments, study_tables
from proxygml_lite.studies import efficiency, make_studies
from proxygml_lite.studies.__main__ import main
from proxygml_lite.studies.cells import run_cell, study_cells
from proxygml_lite.studies.identity import cell_id
from proxygml_lite.studies.make import base_config
from proxygml_lite.studies.snapshots import read_snapshot_npz
from proxygml_lite.studies.tables import STUDY_COLUMNS, check_settings
from proxygml_lite.training.config_io import config_from_dict

ROOT = Path(__file__).resolve().parents[2]


def test_studies_write_tables_with_seeds_and_configs_and_resume(data_root, tmp_path):
    results, runs = tmp_path / "results", tmp_path / "runs"
    grid = dict(grid_N=(1, 2), grid_r=(0.3, 0.6))
    settings = dict(
        seeds=(0, 1), workers=1, results=results, runs=runs, progress=False, **grid, **tiny_study_settings(data_root)
    )
    tables = make_studies("glyphs_hard", ("ablation", "grid"), **settings)
    ablation, grid = tables["ablation"], tables["grid"]
    assert list(ablation.columns) == STUDY_COLUMNS["ablation"]
    assert list(grid.columns) == STUDY_COLUMNS["grid"]
    assert len(ablation) == 16 and len(grid) == 8
    assert sorted(set(zip(grid["N"], grid["r"], grid["k"]))) == [
        (1, 0.3, 2),
        (1, 0.6, 4),
        (2, 0.3, 4),
        (2, 0.6, 8),
    ]
    first = json.loads(grid["config"][0])
    assert config_from_dict(first).seed == grid["seed"][0] and first["out"] is None
    # the cells of the first r at the snapshot seeds kept proxy + embedding snapshots, exported as npz
    assert sorted(p.name for p in (results / "snapshots").iterdir()) == [
        "N1_r0.3_s0.npz",
        "N1_r0.3_s1.npz",
        "N2_r0.3_s0.npz",
        "N2_r0.3_s1.npz",
    ]
    snap = read_snapshot_npz(results / "snapshots" / "N2_r0.3_s0.npz")
    assert snap["N"] == 2 and snap["proxies"].shape == (2, 12, 8) and list(snap["epochs"]) == [0, 1]
    assert snap["train_embeddings"].shape[0] == 2 and snap["train_labels"].max() < 6
    # resume: delete the cell folders; the tables alone are read back, nothing retrains
    shutil.rmtree(runs)
    again = make_studies("glyphs_hard", ("ablation", "grid"), **settings)
    assert not any(runs.glob("*/results.json"))
    pd.testing.assert_frame_equal(again["ablation"], ablation)
    assert (results / "snapshots" / "N1_r0.3_s0.npz").exists()


def test_a_snapshot_file_is_written_as_soon_as_its_cell_finishes(data_root, tmp_path, monkeypatch):
    # A session may end (and take its run folders along) before the study does: each finished snapshot
    # cell's file must already be beside the tables, and an up-to-date file is not written again.
    from proxygml_lite.studies import make

    results, runs = tmp_path / "results", tmp_path / "runs"
    settings = dict(seeds=(0,), workers=1, results=results, runs=runs, progress=False, grid_N=(1, 2), grid_r=(0.3,))
    trained = []

    def stop_after_one(config, folder):
        if trained:
            raise KeyboardInterrupt  # the session ends while the second cell trains
        trained.append(run_cell(config, folder))

    monkeypatch.setattr(make, "run_cell", stop_after_one)
    with pytest.raises(KeyboardInterrupt):
        make_studies("glyphs_hard", ("grid",), **settings, **tiny_study_settings(data_root))
    assert [p.name for p in (results / "snapshots").iterdir()] == ["N1_r0.3_s0.npz"]
    first = results / "snapshots" / "N1_r0.3_s0.npz"
    written = first.stat().st_mtime_ns
    monkeypatch.undo()
    make_studies("glyphs_hard", ("grid",), **settings, **tiny_study_settings(data_root))
    assert sorted(p.name for p in (results / "snapshots").iterdir()) == ["N1_r0.3_s0.npz", "N2_r0.3_s0.npz"]
    assert first.stat().st_mtime_ns == written


def test_a_cell_shared_by_both_studies_runs_once(data_root, tmp_path):
    settings = {**tiny_study_settings(data_root), "r": 0.05}
    tables = make_studies(
        "glyphs_hard",
        ("ablation", "grid"),
        seeds=(0,),
        workers=1,
        results=tmp_path / "res",
        runs=tmp_path / "runs",
        progress=False,
        grid_N=(12,),
        grid_r=(0.05,),
        **settings,
    )
    row8 = tables["ablation"].set_index("row").loc[8]
    assert tables["grid"]["R@1"][0] == row8["R@1"]
    assert not list((tmp_path / "runs").glob("row8_s0-*")) and list((tmp_path / "runs").glob("N12_r0.05_s0-*"))


def test_a_narrower_or_changed_rerun_never_drops_nor_reuses_rows(data_root, tmp_path):
    """Issue 16 item 4: seeds 0-1 in the table, then a seed-0 rerun, then other epochs."""
    results, runs = tmp_path / "results", tmp_path / "runs"
    settings = dict(workers=1, results=results, runs=runs, progress=False, rows=[1])
    make_studies("glyphs_hard", ("ablation",), seeds=(0, 1), **settings, **tiny_study_settings(data_root))
    narrower = make_studies("glyphs_hard", ("ablation",), seeds=(0,), **settings, **tiny_study_settings(data_root))
    assert sorted(narrower["ablation"]["seed"]) == [0, 1]  # seed 1 is kept
    run = json.loads(next(runs.glob("row1_s0-*/results.json")).read_text())
    assert narrower["ablation"]["machine"].tolist() == [run["machine"]["id"]] * 2  # the fingerprint id column
    # other epochs: another cell identity; into the same table it is refused, naming the difference
    longer = {**tiny_study_settings(data_root), "epochs": 2}
    with pytest.raises(ValueError, match=r"other settings \(epochs: table 1 vs now 2\).*--replace"):
        make_studies("glyphs_hard", ("ablation",), seeds=(0,), **settings, **longer)
    assert len(pd.read_csv(results / "ablation.csv")) == 2
    # into another table it trains anew (a new cell folder), never returning the 1-epoch row
    other = make_studies("glyphs_hard", ("ablation",), seeds=(0,), **{**settings, "results": tmp_path / "r2"}, **longer)
    assert json.loads(other["ablation"]["config"][0])["epochs"] == 2
    assert len(list(runs.glob("row1_s0-*"))) == 2
    # --replace: the rows of the other settings go, the new row comes
    replaced = make_studies("glyphs_hard", ("ablation",), seeds=(0,), replace=True, **settings, **longer)
    assert replaced["ablation"]["seed"].tolist() == [0]
    assert json.loads(replaced["ablation"]["config"][0])["epochs"] == 2


def _edit_json(path, **changes):
    values = json.loads(path.read_text())
    for key, value in changes.items():
        values[key] = {**values[key], **value} if isinstance(value, dict) else value
    path.write_text(json.dumps(values))


def _edit_metrics_csv(folder, column, value):
    history = pd.read_csv(folder / "metrics.csv")
    history.loc[history.index[-1], column] = value
    history.to_csv(folder / "metrics.csv", index=False)


@pytest.fixture(scope="module")
def one_cell(data_root, tmp_path_factory):
    """A finished ablation row-1 cell folder (copied by the tests that edit it) and the settings that made it."""
    runs = tmp_path_factory.mktemp("one") / "runs"
    settings = dict(workers=1, runs=runs, progress=False, rows=[1], seeds=(0,), **tiny_study_settings(data_root))
    make_studies("glyphs_hard", ("ablation",), results=runs.parent / "res", **settings)
    return runs, settings


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda f: _edit_json(f / "results.json", metrics={"R@1": 0.99}),
         r"has R@1 0.99 in results.json but .* in the last row of metrics.csv"),
        (lambda f: _edit_json(f / "results.json", metrics={"MAP@R": 0.99}),
         r"has final metrics \['MAP@R', 'NMI', 'R@1', .*\] in results.json but \['NMI', 'R@1', .*\] in metrics.csv"),
        (lambda f: _edit_json(f / "results.json", untrained_metrics={"R@1": 0.99}),
         r"has the untrained R@1 0.99 in results.json but .* in epoch 0 of metrics.csv"),
        (lambda f: _edit_json(f / "results.json", config={"seed": 7}),
         r"says in results.json that it ran another configuration \(cell id [0-9a-f]{12}\) than ablation/row1_s0"),
        (lambda f: _edit_json(f / "config.json", lr=0.5), r"ran another configuration in its config.json"),
        (lambda f: _edit_json(f / "results.json", epochs=3), r"says it ran 3 epochs, not the cell's 1"),
        (lambda f: _edit_metrics_csv(f, "R@1", 0.25), r"has R@1 .* in results.json but 0.25 in the last row"),
        (lambda f: (_edit_json(f / "results.json", metrics={"R@1": float("nan")}), _edit_metrics_csv(f, "R@1", float("nan"))),
         r"has R@1 NaN \(not a number\) in results.json: its evaluation failed"),
        (lambda f: _edit_json(f / "results.json", untrained_metrics={"R@1": float("nan")}),
         r"has the untrained R@1 NaN \(not a number\) in results.json: its evaluation failed"),
        (lambda f: _edit_metrics_csv(f, "epoch", 4), r"whose last row is epoch 4, not 1"),
        (lambda f: (f / "metrics.csv").unlink(), r"has no metrics.csv to check its results.json against"),
    ],
)  # fmt: skip
def test_gather_refuses_a_finished_run_whose_files_disagree(one_cell, tmp_path, edit, message):
    """Review finding F3: a faked results.json (metrics, config) entered the table; the run's own files must agree."""
    runs, settings = one_cell
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy)
    (folder,) = copy.glob("row1_s0-*")
    edit(folder)
    results = tmp_path / "res"
    with pytest.raises(ValueError) as caught:
        make_studies("glyphs_hard", ("ablation",), results=results, **{**settings, "runs": copy})
    text = str(caught.value)
    assert re.search(message, text), text
    assert text.startswith(f"the finished run in {folder} ") and "cannot enter a table" in text and "\n" not in text
    assert not (results / "ablation.csv").exists() or len(pd.read_csv(results / "ablation.csv")) == 0


def test_gather_takes_a_finished_run_whose_files_agree(one_cell, tmp_path):
    runs, settings = one_cell
    copy = tmp_path / "runs"
    shutil.copytree(runs, copy)
    (folder,) = copy.glob("row1_s0-*")
    table = make_studies("glyphs_hard", ("ablation",), results=tmp_path / "res", **{**settings, "runs": copy})
    finished = json.loads((folder / "results.json").read_text())
    assert table["ablation"]["R@1"].tolist() == [finished["metrics"]["R@1"]]


def test_an_ablation_with_another_n_or_lambda_is_not_added_to_the_table(data_root, tmp_path):
    """Review finding: the ablation's N and λ were left out of the table's settings, so (row, seed) came twice."""
    results, runs = tmp_path / "results", tmp_path / "runs"
    settings = dict(workers=1, results=results, runs=runs, progress=False, rows=[1], seeds=(0,))
    make_studies("glyphs_hard", ("ablation",), **settings, **tiny_study_settings(data_root))
    with pytest.raises(ValueError, match=r"other settings \(N: table 12 vs now 4\)"):
        make_studies("glyphs_hard", ("ablation",), **settings, **{**tiny_study_settings(data_root), "N": 4})
    # λ: a table of row 8 made with λ = 0.3, then the same rows asked for with λ = 0.5
    row8 = study_cells(base_config(**tiny_study_settings(data_root)), ["ablation"], [0], rows=[8])[0]
    pd.DataFrame([{"row": 8, "S^pos": True, "M": True, "L^p": True, "seed": 0, "R@1": 0.5,
                   "config": json.dumps(row8.config.to_dict())}]).to_csv(tmp_path / "ablation.csv", index=False)  # fmt: skip
    other = study_cells(base_config(**tiny_study_settings(data_root), weight_lambda=0.5), ["ablation"], [0], rows=[8])
    with pytest.raises(ValueError, match=r"other settings \(weight_lambda: table 0.3 vs now 0.5\)"):
        check_settings(tmp_path / "ablation.csv", other)
    assert len(check_settings(tmp_path / "ablation.csv", other, replace=True)) == 0


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: pd.concat([t, t]), r"lines 2 and 3 of .*ablation.csv hold the same cell"),
        (lambda t: t.assign(**{"R@1": float("nan")}), r"line 2 of .*: R@1 is empty, not a fraction"),
        (lambda t: t.assign(seed=None), r"line 2 of .*ablation.csv: seed is empty or NaN, not a whole number"),
        (lambda t: t.assign(row=2), r"line 2 of .* does not match its config: row 2 has S\^pos on"),
        (lambda t: t.assign(seed=3), r"its seed column says 3 but its config ran seed 0"),
        (lambda t: pd.concat([t, t.assign(config=t["config"].str.replace('"seed": 0', '"seed": 0.0'))]),
         r"lines 2 and 3 of .*ablation.csv hold the same cell and seed \(row=1, seed=0\)"),
        (lambda t: t.drop(columns="seed"), r"ablation.csv lacks the column\(s\) \['seed'\]"),
    ],
)  # fmt: skip
def test_an_edited_table_is_one_line_naming_the_line_before_anything_trains(data_root, tmp_path, edit, message):
    """Review finding: a duplicated line, a NaN, an empty seed (raw TypeError), edited row or seed columns."""
    results, runs = tmp_path / "results", tmp_path / "runs"
    settings = dict(workers=1, results=results, runs=runs, progress=False, rows=[1], seeds=(0,))
    make_studies("glyphs_hard", ("ablation",), **settings, **tiny_study_settings(data_root))
    edit(pd.read_csv(results / "ablation.csv")).to_csv(results / "ablation.csv", index=False)
    shutil.rmtree(runs)
    with pytest.raises(ValueError, match=message):
        make_studies("glyphs_hard", ("ablation",), **settings, **tiny_study_settings(data_root))
    assert not runs.exists()


def test_a_cell_identity_is_its_full_configuration():
    base = base_config("glyphs_hard")
    assert cell_id(base) != cell_id(base.replace(epochs=49))
    assert cell_id(base) != cell_id(base.replace(device="cuda"))
    assert cell_id(base) == cell_id(base.replace(out="elsewhere", quiet=False, save_proxies=True))
    cells = study_cells(base)
    assert len(cells) == (5 * 3 + 8) * 5 and len({c.label for c in cells}) == len(cells)
    snapshots = sorted({(c.config.N, c.seed) for c in cells if c.study == "grid" and c.config.save_embeddings})
    assert snapshots == [(n, s) for n in (1, 2, 4, 8, 12) for s in (0, 1, 2)]


def test_a_second_process_on_a_cell_stops_naming_the_holder(data_root, tmp_path):
    folder = tmp_path / "cell"
    code = "import sys, time; from proxygml_lite.fileio import exclusive_lock\n"
    code += "with exclusive_lock(sys.argv[1], 'training'):\n    print('held', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        config = base_config("glyphs_hard", **tiny_study_settings(data_root))
        with pytest.raises(FolderLockedError, match=f"in use by another process .*{holder.pid}"):
            run_cell(config, folder)
    finally:
        holder.kill()
        holder.wait()
    assert not (folder / "results.json").exists()


def test_two_processes_on_one_cell_folder_the_second_refuses_in_one_line(data_root, tmp_path):
    """Review finding F16: two real `--cell` processes on one cell; the second stops in one line naming the holder."""
    flags = ["--studies", "ablation", "--rows", "1", "--seeds", "0", "--results", str(tmp_path / "res")]
    flags += ["--runs", str(tmp_path / "runs"), *tiny_study_flags(data_root), "--epochs", "2000"]  # still training
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "proxygml_lite.studies", *flags, "--cell", "0"]
    log = tmp_path / "first.txt"  # a file, not a pipe, that nobody reads while it runs
    with log.open("w") as out:
        first = subprocess.Popen(command, env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 300
        while not list((tmp_path / "runs").glob("*/metrics.csv")) and time.monotonic() < deadline:
            assert first.poll() is None, log.read_text()[-2000:]
            time.sleep(0.2)
        (folder,) = (tmp_path / "runs").glob("row1_s0-*")
        assert (folder / ".lock").is_file()  # the first one holds the cell's folder
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert first.poll() is None  # the first one trains on
    finally:
        first.send_signal(signal.SIGTERM)  # it saves its checkpoint and stops
        first.wait(timeout=300)
    lines = [line for line in second.stderr.splitlines() if line.strip()]
    assert second.returncode == 2 and len(lines) == 1, second.stderr
    assert lines[0].startswith(
        f"python -m proxygml_lite.studies: error: {folder} is in use by another process (pid {first.pid} on host "
    )
    assert "Traceback" not in second.stderr and not (folder / "results.json").exists()


def test_two_cell_processes_at_once_gather_into_one_complete_table(data_root, tmp_path):
    """Issue 19 item 5: each cell is a command; two run concurrently into one study folder; --gather."""
    flags = ["--studies", "ablation", "--rows", "1", "--seeds", "0", "1", "--results", str(tmp_path / "res")]
    flags += ["--runs", str(tmp_path / "runs"), *tiny_study_flags(data_root)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "proxygml_lite.studies", *flags]
    procs = [subprocess.Popen([*command, "--cell", cell], env=env, cwd=tmp_path) for cell in ("0", "ablation/row1_s1")]
    assert [p.wait(timeout=600) for p in procs] == [0, 0]
    assert not (tmp_path / "res" / "ablation.csv").exists()  # cells never write the table
    assert main([*flags, "--gather"]) == 0
    table = pd.read_csv(tmp_path / "res" / "ablation.csv")
    assert table[["row", "seed"]].values.tolist() == [[1, 0], [1, 1]] and table["R@1"].notna().all()


def test_list_names_every_cell_and_a_bad_cell_is_one_line(data_root, tmp_path, capsys):
    flags = ["--studies", "grid", "--N-values", "1", "2", "--r-values", "0.3", "--seeds", "0"]
    flags += ["--results", str(tmp_path / "res"), "--runs", str(tmp_path / "runs"), *tiny_study_flags(data_root)]
    assert main([*flags, "--list"]) == 0
    printed = capsys.readouterr()
    out = printed.out.splitlines()
    assert [line.split()[:2] for line in out] == [["0", "grid/N1_r0.3_s0"], ["1", "grid/N2_r0.3_s0"]]
    assert out[0].split()[-2:] == ["to", "run"] and printed.err.startswith("(2 cells")
    assert main([*flags, "--cell", "5"]) == 2
    assert (
        capsys.readouterr().err.strip()
        == "python -m proxygml_lite.studies: error: --cell 5: there are 2 cells (0-1); see --list"
    )
    # a damaged table is named, never hidden behind "to run" (review of issue 16)
    (tmp_path / "res").mkdir()
    (tmp_path / "res" / "grid.csv").write_text("N,r,k,seed,R@1\n1,0.3,x,0,0.5\n", encoding="utf-8")
    assert main([*flags, "--list"]) == 0
    note, count = capsys.readouterr().err.splitlines()
    assert note.startswith("note: ") and "grid.csv has no config column" in note and count.startswith("(2 cells")
    assert note.endswith("(its cells are listed as not in the table)")


def test_an_installed_package_never_writes_into_its_installation(tmp_path, monkeypatch):
    """Issue 16 item 10: without a checkout around the package, new tables go to the working directory.

    The committed tables are read from the wheel's package data (committed_results_dir), never written there.
    """
    site = tmp_path / "site-packages"
    monkeypatch.setattr(study_tables, "PACKAGE_DIR", site / "proxygml_lite")
    monkeypatch.setattr(study_tables, "checkout_root", lambda: None)
    monkeypatch.setattr(experiments, "checkout_root", lambda: None)
    monkeypatch.delenv("PROXYGML_RESULTS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert study_tables.results_dir("glyphs_hard") == tmp_path / "results" / "glyphs_hard"
    committed = site / "proxygml_lite" / "results" / "glyphs_hard"
    assert study_tables.committed_results_dir("glyphs_hard") == committed
    with pytest.raises(FileNotFoundError) as missing:
        study_tables.read_study_table("ablation")
    assert "python -m proxygml_lite.studies" in str(missing.value) and "make studies" not in str(missing.value)
    assert "site-packages/proxygml_lite/results/glyphs_hard/ablation.csv" in str(missing.value)  # shown from the cwd
    with pytest.raises(ValueError, match="inside the installed package"):
        make_studies(studies=("efficiency",), results=committed, progress=False)
    assert not committed.exists()
    with pytest.raises(ValueError, match="inside the installed package"):
        make_studies(studies=("efficiency",), results=site / "results", progress=False)
    assert not (site / "results").exists()


def test_efficiency_rows_per_series_and_class_count_and_memory_guard(tmp_path, monkeypatch, capsys):
    path = tmp_path / "efficiency.csv"
    series = {
        "ProxyGML N=2 λ=0.3": (
            "proxygml",
            {"proxies_per_class": 2, "r": 0.3, "weight_lambda": 0.3},
        ),
        "ProxyNCA": ("proxynca", {}),
    }
    monkeypatch.setattr(
        efficiency,
        "EFFICIENCY_MEMORY_LIMIT",
        efficiency._working_bytes("proxygml", series["ProxyGML N=2 λ=0.3"][1], 40, 4, 16),
    )
    table = efficiency.measure_efficiency(
        path,
        class_counts=(20, 40, 80),
        series=series,
        batch_size=4,
        dim=16,
        repeats=3,
        progress=False,
    )
    assert list(table.columns) == efficiency.EFFICIENCY_COLUMNS
    got = sorted(zip(table["series"], table["num_classes"], table["skipped"].fillna("")))
    reason = efficiency.skip_reason("proxygml", series["ProxyGML N=2 λ=0.3"][1], 80, 4, 16)
    assert reason.startswith("estimated ") and reason.endswith(" cap")
    assert got == [
        ("ProxyGML N=2 λ=0.3", 20, ""),
        ("ProxyGML N=2 λ=0.3", 40, ""),
        ("ProxyGML N=2 λ=0.3", 80, reason),  # over the (patched) cap: recorded, not attempted
        ("ProxyNCA", 20, ""),
        ("ProxyNCA", 40, ""),
        ("ProxyNCA", 80, ""),
    ]
    assert "C=80: skipped, not attempted (estimated" in capsys.readouterr().err
    measured = table[table["skipped"].isna()]
    assert (measured["time_ms"] > 0).all() and (measured["peak_rss_mb"] >= 0).all()
    assert (measured["repeats"] == 3).all() and (measured["load_1min"] >= 0).all()
    at_20 = measured[measured["num_classes"] == 20]
    assert at_20["load_1min"].nunique() == 1  # the series of one C are timed together, in turns
    # the machine it was timed on: the same fingerprint id a run on this machine with one thread records
    from proxygml_lite.training.device import torch_threads
    from proxygml_lite.training.fingerprint import machine_fingerprint

    with torch_threads(1):
        here = machine_fingerprint("cpu")
    assert set(measured["machine"]) == {here["id"]} and set(measured["cpu"]) == {here["cpu"]}
    for _, row in measured.iterrows():  # every repeat is kept; the summaries are theirs
        times = efficiency.parse_times(row["repeat_times_ms"])
        assert len(times) == 3 and min(times) == pytest.approx(row["time_ms_min"], abs=1e-3)
        assert sorted(times)[1] == pytest.approx(row["time_ms"], abs=1e-3)
    skipped = table[table["skipped"].notna()].iloc[0]
    assert pd.isna(skipped["time_ms"]) and pd.isna(skipped["repeat_times_ms"])
    assert efficiency.measure_efficiency(path, class_counts=(20,), series=series, progress=False).equals(table)


def test_efficiency_measures_an_old_format_table_again(tmp_path, capsys):
    """A table without per-repeat times cannot be completed: its cells are measured again, in the new format."""
    path = tmp_path / "efficiency.csv"
    pd.DataFrame([{"series": "ProxyNCA", "loss": "proxynca", "num_classes": 20, "time_ms": 1.0}]).to_csv(path)
    table = efficiency.measure_efficiency(
        path, class_counts=(20,), series={"ProxyNCA": ("proxynca", {})}, batch_size=4, dim=8, repeats=2, progress=False
    )
    assert "no repeat_times_ms column" in capsys.readouterr().err
    assert list(table.columns) == efficiency.EFFICIENCY_COLUMNS and len(table) == 1
    assert len(efficiency.parse_times(table["repeat_times_ms"].iloc[0])) == 2


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux: the high-water mark is reset there")
def test_efficiency_peak_memory_is_the_iteration_s_own_not_hidden_by_earlier_peaks():
    """Without resetting the high-water mark, importing torch and building the loss peaked higher than one iteration
    of a small loss, and the growth read 0 for most cells (ProxyNCA at C = 3,000 among them). Between C = 100 and
    C = 3,000 its proxies, their normalised copy and gradient alone add 3 x 6 MB."""
    small, large = (efficiency._run_fresh(efficiency._peak_rss, "proxynca", {}, c, 32, 512, 1) for c in (100, 3000))
    assert large - small > 12, (small, large)


def test_efficiency_measures_the_cells_of_another_machine_again(tmp_path, capsys):
    """One table, one machine: a resumed table keeps this machine's cells and measures another machine's again."""
    path = tmp_path / "efficiency.csv"
    series = {"ProxyNCA": ("proxynca", {}), "Proxy-Anchor": ("proxyanchor", {})}
    first = efficiency.measure_efficiency(path, (20,), series, batch_size=4, dim=8, repeats=2, progress=False)
    first.loc[first["series"] == "ProxyNCA", ["machine", "repeat_times_ms"]] = ["217e49000001", "9.000 9.000"]
    first.to_csv(path, index=False)
    capsys.readouterr()
    table = efficiency.measure_efficiency(path, (20,), series, batch_size=4, dim=8, repeats=2, progress=False)
    assert "1 measured cells were timed on another machine" in capsys.readouterr().err
    assert table["machine"].nunique() == 1 and "217e49000001" not in set(table["machine"])
    anchor = table.set_index("series").loc["Proxy-Anchor", "repeat_times_ms"]
    assert anchor == first.set_index("series").loc["Proxy-Anchor", "repeat_times_ms"]  # kept, not measured again
    assert table.set_index("series").loc["ProxyNCA", "repeat_times_ms"] != "9.000 9.000"


ROW1_SEED0 = {"seed": 0, "positive_mask": False, "mask_softmax": False, "weight_lambda": 0.0}


def test_a_table_row_whose_config_is_not_json_is_named_before_anything_trains(tmp_path):
    """Issue 16 "one clear line": rerunning a study folder whose table holds a damaged config names file and line."""
    pd.DataFrame(
        [
            {"row": 1, "seed": 0, "R@1": 0.5, "config": json.dumps(ROW1_SEED0)},
            {"row": 2, "seed": 0, "R@1": 0.5, "config": "{"},
        ]
    ).to_csv(tmp_path / "ablation.csv", index=False)
    with pytest.raises(ValueError, match=r"the config of line 3 of .*ablation.csv is not JSON"):
        make_studies(studies=["ablation"], seeds=[0], results=tmp_path, runs=tmp_path / "runs", epochs=1)
    assert not (tmp_path / "runs").exists()


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process, read from /proc."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _workers(pid: int) -> list[int]:
    """The live multiprocessing workers that ``pid`` spawned."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if parent == pid and b"spawn_main" in command and _alive(int(stat.parent.name)):
            kids.append(int(stat.parent.name))
    return kids


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads child processes from /proc")
def test_sigterm_to_the_study_command_alone_stops_its_workers_and_starts_no_queued_cell(data_root, tmp_path):
    """A scheduler's SIGTERM reaches only the parent: its workers must save and stop, not train on as orphans."""
    flags = ["--studies", "ablation", "--rows", "1", "--seeds", "0", "1", "2", "3", "--workers", "2"]
    flags += ["--results", str(tmp_path / "res"), "--runs", str(tmp_path / "runs"), *tiny_study_flags(data_root)]
    flags += ["--epochs", "2000", "--no-progress"]  # long enough to be training when the signal comes
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = tmp_path / "stderr.txt"  # a file, not a pipe: a full pipe would block the processes that write to it
    with log.open("w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "proxygml_lite.studies", *flags], env=env, stderr=stderr)
    runs = tmp_path / "runs"
    try:
        deadline = time.monotonic() + 300
        while len(list(runs.glob("*/metrics.csv"))) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        workers = _workers(proc.pid)
        assert len(workers) == 2 and len(list(runs.glob("*/metrics.csv"))) == 2
        proc.send_signal(signal.SIGTERM)  # to the parent alone, as `kill PID` or a scheduler does
        assert proc.wait(timeout=300) == 130, log.read_text()[-2000:]
    finally:
        proc.kill()
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in workers)
    assert "Interrupted: run the same command again" in log.read_text()
    started = sorted(p.parent.name.split("-")[0] for p in runs.glob("*/config.json"))
    assert started == ["row1_s0", "row1_s1"]  # the queued cells never started
    assert len(list(runs.glob("*/checkpoint.pt"))) == 2 and not list(runs.glob("*/results.json"))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_while_a_cell_process_starts_leaves_no_orphan(tmp_path, monkeypatch, signum):
    """The signal lands inside ``Process.start()``, after the child exists: it is still stopped and waited for.

    A stand-in spawn context starts a real (sleeping) child in ``start()`` and signals the parent right after, the
    window in which the parent does not yet know the child.
    """
    import multiprocessing

    from proxygml_lite.studies import make

    children: list[subprocess.Popen] = []

    class StartThenSignalled:
        def __init__(self, target, args, name):
            self.name = name

        def start(self):
            children.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]))
            self.pid = self.sentinel = children[-1].pid
            os.kill(os.getpid(), signum)  # the handler runs here, inside start()

        def is_alive(self):
            return children[-1].poll() is None

        def join(self):
            children[-1].wait(timeout=30)

    class Context:
        Pipe = staticmethod(multiprocessing.Pipe)
        Process = StartThenSignalled

    monkeypatch.setattr(make.multiprocessing, "get_context", lambda method: Context)
    cells = study_cells(base_config(), ["ablation"], [0, 1], rows=[1])
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(KeyboardInterrupt, match=signal.Signals(signum).name):
            make._train_in_processes(cells, tmp_path, workers=2, finished=lambda count: None)
    finally:
        for child in children:
            child.kill()
            child.wait()
    assert len(children) == 1  # no second cell started after the signal
    assert children[0].returncode == -signal.SIGTERM  # stopped by the parent, and waited for: not an orphan
    assert {s: signal.getsignal(s) for s in handlers} == handlers


# ------------------------------------------------------------------ review LOW findings: the write side reads what it keeps
def _write_table(path, cells, edits=None):
    """The table of ``cells`` (fake metrics) at ``path``; ``edits``: {position: {column: value, "config": {...}}}."""
    from proxygml_lite.atomic_writers import atomic_write_csv
    from proxygml_lite.studies.gathering import table_row

    rows = [table_row(c, {"metrics": {"R@1": 0.5, "NMI": 0.6}, "num_classes": 100}) for c in cells]
    for position, changes in (edits or {}).items():
        changes = dict(changes)
        config = changes.pop("config", {})
        rows[position] = {
            **rows[position],
            **changes,
            "config": json.dumps({**json.loads(rows[position]["config"]), **config}),
        }
    atomic_write_csv(path, rows, STUDY_COLUMNS[cells[0].study])
    return path


@pytest.mark.parametrize(
    "study, edits, message, notebooks",
    [
        # a row without L^p (row 1) whose λ is no number passed as "L^p off"
        *[("ablation", {0: {"config": {"weight_lambda": lam}}},
           rf"line 2 of .*ablation.csv does not match its config: its config's weight_lambda {shown} is not a number",
           None) for lam, shown in [(float("inf"), "inf"), (float("nan"), "nan"), ("0", "'0'"), (None, "None")]],
        ("ablation", {1: {"R@1": 1.5}}, r"line 3 of .*ablation.csv: R@1 is 1.5, not a fraction in \[0, 1\]",
         r"R@1 is 1.5 in line 3 of .*ablation.csv, not a fraction in \[0, 1\]"),
        # NaN, written "nan", is named as NaN (it read as "empty"); a field left empty is "empty" (another test)
        ("ablation", {1: {"R@1": float("nan")}}, r"line 3 of .*ablation.csv: R@1 is NaN \(not a number\), not a "
         r"fraction in \[0, 1\]", r"R@1 is not a finite number in line 3 of .*ablation.csv \(nan\)"),
        ("ablation", {i: {"NMI": True} for i in range(4)}, r"line 2 of .*ablation.csv: NMI is True, not a fraction",
         r"NMI is True in lines 2, 3, 4, 5 of .*ablation.csv, not a number"),
        ("grid", {1: {"N": 1.0000000001, "config": {"N": 1.0000000001}}},
         r"line 3 of .*grid.csv: N is '1.0000000001', not a whole number written in the digits 0-9", None),
        ("grid", {5: {"k": 21}}, r"line 7 of .*grid.csv does not match its config: its k column says 21, but the "
                                 r"table's other rows fit C = 99-100 classes, for which k = ceil\(r C N\) = 20 at N 4", None),
    ],
)  # fmt: skip
def test_a_table_read_for_writing_refuses_what_the_notebooks_refuse(tmp_path, study, edits, message, notebooks):
    """λ of a row without L^p that is inf/NaN/text/null, a metric above 1, NaN or boolean, N 1.0000000001, a wrong k."""
    base = base_config("glyphs_hard")
    cells = study_cells(base, [study], [0, 1], grid_N=(1, 4), grid_r=(0.05, 0.15), rows=[1, 4])
    assert len(check_settings(_write_table(tmp_path / f"{study}.csv", cells), cells)) == len(cells)
    with pytest.raises(ValueError, match=message):
        check_settings(_write_table(tmp_path / f"{study}.csv", cells, edits), cells)
    with pytest.raises(ValueError, match=notebooks or message):  # the notebooks' side refuses the same line
        study_tables.summarize_seeds(
            study_tables.read_study_table(study, path=tmp_path), by=["row"] if study == "ablation" else ["N", "r"]
        )


@pytest.mark.parametrize("seed", ["0_0", "٠", "０", " 0", "+0", "0.0", ""])
def test_a_table_read_for_writing_parses_its_integer_keys_strictly(tmp_path, seed):
    """Review finding F4: seeds that int() or pandas take ("0_0", "٠", "０", " 0", "+0") are refused, line named."""
    cells = study_cells(base_config("glyphs_hard"), ["ablation"], [0, 1], rows=[1])
    path = _write_table(tmp_path / "ablation.csv", cells)
    lines = path.read_text().splitlines(keepends=True)
    assert lines[1].startswith("1,False,False,False,0,")
    lines[1] = lines[1].replace(",0,", f",{seed},", 1)
    path.write_text("".join(lines))
    shown = "empty or NaN" if seed == "" else repr(seed)
    with pytest.raises(ValueError, match=rf"^line 2 of .*ablation.csv: seed is {re.escape(shown)}, not a whole number"):
        check_settings(path, cells)


def test_a_table_read_for_writing_finds_repeats_on_the_numbers():
    """Review finding F4: "0" and "00" are one seed: the write side names both lines."""
    import tempfile

    cells = study_cells(base_config("glyphs_hard"), ["ablation"], [0], rows=[1])
    with tempfile.TemporaryDirectory() as folder:
        path = _write_table(Path(folder) / "ablation.csv", cells)
        lines = path.read_text().splitlines(keepends=True)
        path.write_text("".join([*lines, lines[1].replace(",0,", ",00,", 1)]))
        with pytest.raises(
            ValueError, match=r"lines 2 and 3 of .*ablation.csv hold the same cell and seed \(row=1, seed=0\)"
        ):
            check_settings(path, cells)


@pytest.mark.parametrize(
    "flags", [["--cell", "٠"], ["--cell", "+0"], ["--seeds", "0_0"], ["--seeds", "０"], ["--rows", " 1"]]
)
def test_the_study_command_takes_integers_in_ascii_digits_only(tmp_path, capsys, flags):
    """Review finding F4: argparse's int and str.isdigit take "٠" and "0_0"; --cell ٠ ran cell 0."""
    common = ["--studies", "ablation", "--results", str(tmp_path / "res"), "--runs", str(tmp_path / "runs")]
    with pytest.raises(SystemExit) if flags[0] != "--cell" else _nothing():
        code = main([*common, *flags])
        assert code == 2
    err = capsys.readouterr().err.strip()
    assert "not a whole number written in the digits 0-9" in err or "names no single cell" in err, err
    assert "Traceback" not in err and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("seed", [str(10**30), "-1"])
def test_the_study_command_states_the_seeds_range(tmp_path, capsys, seed):
    """--seeds 10**30 trained into numpy/torch's "Overflow when unpacking long long"; now argparse refuses it."""
    common = ["--studies", "ablation", "--results", str(tmp_path / "res"), "--runs", str(tmp_path / "runs")]
    with pytest.raises(SystemExit) as caught:
        main([*common, "--seeds", seed])
    assert caught.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"python -m proxygml_lite.studies: error: argument --seeds: '{seed}' is outside the seeds' range: pass seeds "
        "from 0 to 2147483647; see --help"
    )
    assert not (tmp_path / "runs").exists()


@contextlib.contextmanager
def _nothing():
    yield


def test_a_rerun_of_rows_without_lp_refuses_a_table_whose_other_rows_mix_lambda(tmp_path):
    """Review finding: rerunning rows 1-3 (no λ of their own) kept a table whose rows 4-8 mixed λ."""
    base = base_config("glyphs_hard")
    table = study_cells(base, ["ablation"], [0], rows=[1, 4, 5])
    path = _write_table(tmp_path / "ablation.csv", table, {2: {"config": {"weight_lambda": 0.5}}})
    rerun = study_cells(base, ["ablation"], [0], rows=[1])
    with pytest.raises(ValueError, match=r"ablation.csv mixes λ among its rows with L\^p: weight_lambda 0.3 \(lines 3\) "
                                         r"vs 0.5 \(lines 4\); delete the lines of the wrong λ"):  # fmt: skip
        check_settings(path, rerun)
    with pytest.raises(ValueError, match=r"mixes λ"):
        check_settings(path, rerun, replace=True)  # rows 1-3 say no λ: --replace cannot tell which to drop
    kept = check_settings(path, study_cells(base, ["ablation"], [0], rows=[4]), replace=True)
    assert [row["row"] for row in kept] == [1, 4]  # rerunning a row with L^p and --replace drops the other λ


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_cell_with_a_broken_image_is_one_line(tmp_path, capsys, workers):
    """A corrupt image stops the cell; in the cell's own process (2 workers) as in this one: the message, no traceback."""
    root = make_tiny_folder_dataset(tmp_path / "data", per_class=4)
    next(iter(sorted((root / "train").rglob("*.png")))).write_bytes(b"")
    flags = ["--studies", "ablation", "--rows", "1", "--seeds", "0", "--workers", workers, "--no-progress"]
    flags += ["--results", str(tmp_path / "res"), "--runs", str(tmp_path / "runs"), *tiny_study_flags(root)]
    assert main(flags) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err.startswith("python -m proxygml_lite.studies: error: 1 image(s) in ")
        and "cannot be decoded" in err
        and "Traceback" not in err
    ), err


def test_a_cell_whose_data_vanished_is_one_line(data_root, tmp_path, capsys, monkeypatch):
    """An OSError from a cell (its dataset deleted under a running study) is one line naming it, not a traceback."""
    from proxygml_lite.studies import make

    def vanished(config, folder):
        raise FileNotFoundError(2, "No such file or directory", "data/train/5/1.png")

    monkeypatch.setattr(make, "run_cell", vanished)
    flags = ["--studies", "ablation", "--rows", "1", "--seeds", "0", "--workers", "1", "--no-progress"]
    flags += ["--results", str(tmp_path / "res"), "--runs", str(tmp_path / "runs"), *tiny_study_flags(data_root)]
    assert main(flags) == 2
    assert (
        capsys.readouterr().err.strip()
        == "python -m proxygml_lite.studies: error: [Errno 2] No such file or directory: 'data/train/5/1.png'"
    )
