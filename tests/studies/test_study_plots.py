"""A run's history plot: called on a run folder the package itself writes, checked without a browser."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from _fabricate import make_tiny_folder_dataset, tiny_config  # noqa: E402

from proxygml_lite.studies import plots as study_plots  # noqa: E402
from proxygml_lite.studies import run_parameter_study  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = make_tiny_folder_dataset(tmp_path_factory.mktemp("tiny"))
    return tiny_config(str(root), batch_size=6, epochs=2, warm=0, recall_ks=(1, 2))


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
    # the learning rates drop for epoch 2 (new_epoch_to_decay=(2,)): a line before it on both panels
    assert study_plots.decay_epochs(history) == [2]
    for ax in (losses, metrics):
        assert [line.get_xdata()[0] for line in ax.get_lines() if line.get_gid() == "lr_decay"] == [1.5]
        assert ax.xaxis.get_major_locator()._integer  # whole epochs only
    assert "from epoch 2" in " ".join(t.get_text() for t in losses.get_legend().get_texts())
    fig = study_plots.plot_run_history(run_dir, nmi_chance=0.25)
    assert list(_line(fig.axes[1], "nmi_chance").get_ydata()) == [25.0, 25.0]
    assert study_plots.decay_epochs(history.drop(columns="lr_model")) == []
    with pytest.raises(ValueError, match=r"R@8.*not in this run"):
        study_plots.plot_run_history(history, metrics=["R@8"])
    with pytest.raises(FileNotFoundError, match="--out"):
        study_plots.read_history(tmp_path / "nowhere")
