"""Plots of runs and studies: called on tables the package itself writes, checked without a browser."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from _fabricate import make_tiny_folder_dataset  # noqa: E402

from proxygml_lite.studies import plots as study_plots  # noqa: E402
from proxygml_lite.studies import run_ablation, run_parameter_study  # noqa: E402
from proxygml_lite.studies.efficiency import measure_loss_cost  # noqa: E402
from proxygml_lite.studies.paper import paper_ablation  # noqa: E402
from proxygml_lite.training.presets import config_from_preset  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = make_tiny_folder_dataset(tmp_path_factory.mktemp("tiny"))
    return config_from_preset(
        "folder",
        data=str(root),
        backbone="smallcnn",
        dim=8,
        N=2,
        r=0.3,
        batch_size=6,
        epochs=2,
        image_size=16,
        workers=0,
        quiet=True,
        device="cpu",
        warm=0,
        recall_ks=(1, 2),
        new_epoch_to_decay=(2,),
    )


def _line(ax, gid):
    (line,) = [line for line in ax.get_lines() if line.get_gid() == gid]
    return line


def test_run_history_draws_losses_and_metrics_per_epoch(base, tmp_path):
    run_dir = tmp_path / "grid" / "N2_r0.3"
    run_parameter_study(base, [2], [0.3], tmp_path / "grid")
    history = study_plots.read_history(run_dir)
    fig = study_plots.plot_run_history(run_dir)
    losses, metrics = fig.axes
    assert list(_line(losses, "loss_s").get_xdata()) == [1, 2]
    assert np.allclose(_line(losses, "loss_p").get_ydata(), history["loss_p"].iloc[1:])
    assert list(_line(metrics, "R@1").get_xdata()) == [0, 1, 2]  # epoch 0: the untrained model
    assert np.allclose(_line(metrics, "NMI").get_ydata(), 100 * history["NMI"])
    with pytest.raises(ValueError, match=r"R@8.*not in this run"):
        study_plots.plot_run_history(history, metrics=["R@8"])
    with pytest.raises(FileNotFoundError, match="--out"):
        study_plots.read_history(tmp_path / "nowhere")


def test_parameter_study_one_line_per_r_or_per_N(base, tmp_path):
    table = run_parameter_study(base.replace(epochs=1), [1, 2], [0.3, 0.6], tmp_path)
    fig = study_plots.plot_parameter_study(table)
    ax = fig.axes[0]
    assert {line.get_gid() for line in ax.get_lines()} == {"r=0.3", "r=0.6"}
    line = _line(ax, "r=0.6")
    rows = table[table["r"] == 0.6].sort_values("N")
    assert list(line.get_xdata()) == [1, 2] and np.allclose(line.get_ydata(), 100 * rows["R@1"])
    by_n = study_plots.plot_parameter_study(table, metric="NMI", x="r").axes[0]
    assert {line.get_gid() for line in by_n.get_lines()} == {"N=1", "N=2"}
    with pytest.raises(ValueError, match="'R@8'"):
        study_plots.plot_parameter_study(table, metric="R@8")
    with pytest.raises(ValueError, match="'N' or 'r'"):
        study_plots.plot_parameter_study(table, x="k")


def test_ablation_bars_beside_the_papers(base, tmp_path):
    table = run_ablation(base.replace(epochs=1), tmp_path, rows=[2, 8])
    ax = study_plots.plot_ablation(table).axes[0]
    ours = [p for p in ax.patches if p.get_gid() == "ours"]
    paper = [p for p in ax.patches if p.get_gid() == "paper"]
    assert [p.get_height() for p in ours] == pytest.approx(list(100 * table["R@1"]))
    published = paper_ablation().set_index("row")["R@1"]
    assert [p.get_height() for p in paper] == [published[2], published[8]]
    assert "paper (Zhu et al., NeurIPS 2020)" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2\n✓ × ×", "8\n✓ ✓ ✓"]
    alone = study_plots.plot_ablation(table, metric="R@2", paper=False).axes[0]
    assert not [p for p in alone.patches if p.get_gid() == "paper"]
    with pytest.raises(ValueError, match="R@1 and NMI only"):
        study_plots.plot_ablation(table, metric="R@2")


def test_loss_cost_one_line_per_loss():
    table = measure_loss_cost(
        ["proxygml", "softtriple"], class_counts=[40, 80], dim=8, batch_size=4, repeats=1, warmup=0
    )
    ax = study_plots.plot_loss_cost(table).axes[0]
    assert {line.get_gid() for line in ax.get_lines()} == {"proxygml", "softtriple"}
    assert list(_line(ax, "softtriple").get_xdata()) == [40, 80]
    assert ax.get_xscale() == "log"
    with pytest.raises(ValueError, match="measure_loss_cost"):
        study_plots.plot_loss_cost(pd.DataFrame({"x": [1]}))
