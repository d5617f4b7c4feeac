"""The widgets of notebooks 8-11 redraw their plots when a control changes (no browser needed)."""

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
from test_run_views import _snapshots  # noqa: E402
from test_study_views import _efficiency, _grid  # noqa: E402

from proxygml_lite.lab import study_widgets, umap_views  # noqa: E402


def test_parameter_study_widget_follows_metric_and_r():
    w = study_widgets.parameter_study_widget(_grid())
    assert w.renders == 1 and "R@1" in w.figure.axes[0].get_ylabel()
    w.controls["r_values"].value = (0.3,)
    assert [t.get_text() for t in w.figure.axes[0].get_legend().get_texts()] == ["r = 0.3"]
    w.controls["metric"].value = "NMI"
    assert w.renders == 3 and "NMI" in w.figure.axes[0].get_ylabel()
    with pytest.raises(ValueError, match="no 'R@8' column"):
        study_widgets.parameter_study_widget(_grid(), metric="R@8")


def test_umap_widget_switches_run_epoch_and_classes():
    views = {
        "N = 3": umap_views.fit_umap(_snapshots(epochs=(0, 4)), seed=0, n_neighbors=5, n_epochs=20),
        "N = 3 merged": umap_views.fit_umap(_snapshots(epochs=(0, 4), merge=True), seed=0, n_neighbors=5, n_epochs=20),
    }
    w = study_widgets.umap_widget(views, classes=2)
    assert "epoch 4" in w.figure.axes[0].get_title()
    w.controls["epoch"].value = 0
    assert "epoch 0" in w.figure.axes[0].get_title()
    assert [label for label, _ in w.controls["classes"].options] == ["0-1", "2-3", "all 4"]
    w.controls["classes"].value = (2, 3)
    gids = {c.get_gid() for c in w.figure.axes[0].collections}
    assert "proxies 3" in gids and "proxies 0" not in gids
    w.controls["run"].value = "N = 3 merged"
    assert w.renders == 4
    with pytest.raises(ValueError, match="views is empty"):
        study_widgets.umap_widget({})


def test_cost_widget_series_and_measure():
    w = study_widgets.cost_widget(_efficiency())
    w.controls["series"].value = ("SoftTriple",)
    assert len(w.figure.axes[0].get_legend().get_texts()) == 1
    w.controls["value"].value = "peak_memory_mb"
    assert "memory" in w.figure.axes[0].get_ylabel()
    with pytest.raises(ValueError, match="choose at least one series"):  # the offline site shows this line
        w.controls["series"].value = ()


def test_gallery_widget_moves_the_queries(tmp_path):
    import torch

    from proxygml_lite.lab.study_widgets import gallery_queries, gallery_widget

    assert gallery_queries(20, first=1, rows=4) == [1, 6, 11, 16]
    assert gallery_queries(10, first=9, rows=3) == [9, 2, 5]
    with pytest.raises(ValueError, match="at least 2 samples"):
        gallery_queries(1, first=0, rows=1)

    class Images(torch.utils.data.Dataset):
        transform = None

        def __len__(self):
            return 12

        def __getitem__(self, i):
            return torch.full((1, 4, 4), float(i)), i // 3

    labels = torch.arange(12) // 3
    embeddings = torch.nn.functional.one_hot(labels, 4).float() + 0.01 * torch.randn(12, 4)
    w = gallery_widget(Images(), embeddings, labels, rows=3, k=2)
    assert "6 of 6 neighbours of the query's class" in w.figure._suptitle.get_text()
    w.controls["k"].value = 4
    assert "of 12 neighbours of the query's class" in w.figure._suptitle.get_text() and w.renders == 2
    w.controls["first"].value = 1
    assert w.renders == 3


def test_ablation_widget_metric_and_paper_switch():
    from test_study_views import _ablation

    w = study_widgets.ablation_widget(_ablation())
    assert list(w.controls["metric"].options) == ["R@1", "NMI"]
    assert [p for p in w.figure.axes[1].patches if p.get_gid() == "paper"]
    w.controls["paper"].value = False
    assert len(w.figure.axes) == 1 and not [p for p in w.figure.axes[0].patches if p.get_gid() == "paper"]
    w.controls["metric"].value = "NMI"
    assert "NMI" in w.figure.axes[0].get_ylabel()
