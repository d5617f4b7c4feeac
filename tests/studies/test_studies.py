"""Resumable studies: the N x r grid and the paper's ablation, cached cell by cell."""

import json

import pytest
from _fabricate import make_tiny_folder_dataset, tiny_config

from proxygml_lite import studies
from proxygml_lite.studies import cells


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = make_tiny_folder_dataset(tmp_path_factory.mktemp("tiny"))
    return tiny_config(
        str(root), batch_size=6, epochs=1, warm=0, compute_nmi=False, recall_ks=(1, 2), eval_untrained=False
    )


class CountingTrain:
    """Stands in for studies.cells.train: counts calls; call number ``interrupt_call`` gets a Ctrl-C after its first step."""

    def __init__(self, interrupt_call=None):
        self.calls = []
        self.interrupt_call = interrupt_call

    def __call__(self, config):
        self.calls.append(config)
        callback = None
        if len(self.calls) == self.interrupt_call:

            def callback(event, info):
                if event == "step_end" and info["step"] == 1:
                    raise KeyboardInterrupt

        return cells.__dict__["_real_train"](config, callback=callback)


@pytest.fixture
def counting(monkeypatch):
    monkeypatch.setitem(cells.__dict__, "_real_train", cells.train)

    def install(interrupt_call=None):
        spy = CountingTrain(interrupt_call)
        monkeypatch.setattr(cells, "train", spy)
        return spy

    return install


def test_parameter_study_resumes_after_an_interruption(base, tmp_path, counting):
    out = tmp_path / "grid"
    first = counting(interrupt_call=2)
    with pytest.raises(KeyboardInterrupt):
        studies.run_parameter_study(base, N_values=[1, 2], r_values=[0.5], out_dir=out)
    assert len(first.calls) == 2
    assert (out / "N1_r0.5" / "results.json").exists()
    assert not (out / "N2_r0.5" / "results.json").exists()
    import torch

    assert torch.load(out / "N2_r0.5" / "checkpoint.pt", weights_only=True)["step"] == 1  # interrupted cell

    second = counting()
    table = studies.run_parameter_study(base, N_values=[1, 2], r_values=[0.5], out_dir=out)
    assert [c.N for c in second.calls] == [2]  # the finished cell was read back, not recomputed
    assert second.calls[0].resume  # ... and the interrupted one continued from its checkpoint
    assert list(table["N"]) == [1, 2] and list(table["r"]) == [0.5, 0.5]
    assert list(table["k"]) == [3, 6]  # ceil(r*C*N) with C = 6
    assert list(table["cached"]) == [True, False]
    assert table[["R@1", "R@2"]].notna().all().all()
    saved = json.loads((out / "N2_r0.5" / "config.json").read_text())
    assert (saved["N"], saved["r"]) == (2, 0.5)
    assert (out / "study.csv").read_text().count("\n") == 3  # header + 2 cells

    third = counting()
    again = studies.run_parameter_study(base, N_values=[1, 2], r_values=[0.5], out_dir=out)
    assert third.calls == [] and list(again["cached"]) == [True, True]
    assert again["R@1"].tolist() == table["R@1"].tolist()


def test_ablation_rows_switch_the_three_modules_like_the_paper(base, tmp_path, counting):
    spy = counting()
    table = studies.run_ablation(base, tmp_path / "ablation", rows=[1, 4, 8])
    assert list(table["row"]) == [1, 4, 8]
    assert table[["S^pos", "M", "L^p"]].values.tolist() == [
        [False, False, False],
        [False, False, True],
        [True, True, True],
    ]
    switches = [(c.positive_mask, c.mask_softmax, c.weight_lambda) for c in spy.calls]
    assert switches == [(False, False, 0.0), (False, False, 0.3), (True, True, 0.3)]
    assert json.loads((tmp_path / "ablation" / "row1" / "config.json").read_text())["weight_lambda"] == 0.0


def test_the_paper_order_of_the_eight_rows():
    assert [row[1:] for row in studies.ABLATION_ROWS] == [
        (False, False, False),
        (True, False, False),
        (False, True, False),
        (False, False, True),
        (False, True, True),
        (True, False, True),
        (True, True, False),
        (True, True, True),
    ]


def test_study_errors(base, tmp_path):
    with pytest.raises(ValueError, match="loss='proxygml'"):
        studies.run_ablation(base.replace(loss="proxyanchor"), tmp_path)
    with pytest.raises(ValueError, match="numbered 1-8"):
        studies.run_ablation(base, tmp_path, rows=[9])
    with pytest.raises(ValueError, match="at least one value"):
        studies.run_parameter_study(base, [], [0.1], tmp_path)


def test_a_cell_run_with_other_settings_is_not_silently_reused(base, tmp_path):
    studies.run_parameter_study(base, [1], [0.5], tmp_path)
    with pytest.raises(ValueError, match="other settings"):
        studies.run_parameter_study(base.replace(dim=4), [1], [0.5], tmp_path)


# ------------------------------------------------------------ on the glyph data
# A reduced glyph set (1 image per face: 12 per class, 1,200 training images of the paper's C = 100
# classes) and 1 epoch, so both studies run end to end in the test suite.
GLYPH_FLAGS = [
    "--dataset",
    "glyphs",
    "--dataset-options",
    '{"images_per_face": 1}',
    "--epochs",
    "1",
    "--device",
    "cpu",
    "--quiet",
    "--no-nmi",
]


@pytest.fixture(scope="module")
def glyph_root(tmp_path_factory):
    return tmp_path_factory.mktemp("glyph-data")


@pytest.mark.slow  # trains two glyph cells: minutes on the shared 2-core machine
def test_ablation_runs_end_to_end_on_glyphs_and_sits_beside_the_paper(glyph_root, tmp_path, capsys):
    out = tmp_path / "ablation"
    argv = ["--preset", "glyphs", "--studies", "ablation", "--rows", "1", "8", "--seeds", "0", "--workers", "1"]
    argv += ["--results", str(out), "--runs", str(out / "runs"), "--no-progress", "--data", str(glyph_root)]
    argv += GLYPH_FLAGS
    assert studies.main(argv) == 0
    assert f"ablation: 2 rows ({out / 'ablation.csv'})" in capsys.readouterr().out
    table = studies.compare_ablation_with_paper(__import__("pandas").read_csv(out / "ablation.csv"))
    assert list(table["row"]) == [1, 8]
    assert list(table["R@1 (paper)"]) == [47.3, 85.5]
    (row1,), (row8,) = (list((out / "runs").glob(f"row{i}_s0-*")) for i in (1, 8))
    results = json.loads((row8 / "results.json").read_text())
    assert results["num_classes"] == 100 and results["train_samples"] == 1200
    assert results["config"]["N"] == 12 and results["config"]["r"] == 0.05  # the paper's glyph preset
    assert table["R@1 (this run)"].tolist() == pytest.approx(
        [100 * json.loads((row / "results.json").read_text())["metrics"]["R@1"] for row in (row1, row8)]
    )
    # a second call reads every cell back
    assert studies.main(argv) == 0
    assert json.loads((row8 / "results.json").read_text()) == results


@pytest.mark.slow  # trains two glyph cells: minutes on the shared 2-core machine
def test_the_grid_study_end_to_end_on_glyphs(glyph_root, tmp_path):
    out = tmp_path / "grid"
    argv = ["--preset", "glyphs", "--studies", "grid", "--N-values", "1", "3", "--r-values", "0.05", "--seeds", "0"]
    argv += ["--results", str(out), "--runs", str(out / "runs"), "--no-progress", "--data", str(glyph_root)]
    assert studies.main(argv + GLYPH_FLAGS) == 0
    table = __import__("pandas").read_csv(out / "grid.csv")
    assert table[["N", "r", "k"]].values.tolist() == [[1, 0.05, 5], [3, 0.05, 15]]  # k = ceil(r * 100 * N)
    assert table["R@1"].between(0, 1).all()


def test_cli_errors_name_the_problem(tmp_path, capsys):
    argv = ["--studies", "grid", "--results", str(tmp_path), "--runs", str(tmp_path / "runs"), "--dataset", "folder"]
    argv += ["--data", str(tmp_path / "nope"), "--dataset-options", '{"images_per_face": 1}']
    assert studies.main(argv) == 2
    assert "only apply to --dataset glyphs" in capsys.readouterr().err
    with pytest.raises(ValueError, match="run_ablation"):
        studies.compare_ablation_with_paper(__import__("pandas").DataFrame({"x": [1]}))
