"""The widgets of notebooks 8-11 redraw their plots when a control changes (no browser needed)."""

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from test_run_views import _snapshots  # noqa: E402
from test_study_views import _ablation, _efficiency, _grid  # noqa: E402

from proxygml_lite.lab import proxy_spread_views, study_widgets, umap_views  # noqa: E402


def test_parameter_study_widget_follows_metric_and_r():
    w = study_widgets.parameter_study_widget(_grid())
    assert w.renders == 1 and "R@1" in w.figure.axes[0].get_ylabel()
    w.controls["r_values"].value = (0.3,)
    assert [t.get_text() for t in w.figure.axes[0].get_legend().get_texts()] == ["r = 0.3"]
    w.controls["metric"].value = "NMI"
    assert w.renders == 3 and "NMI" in w.figure.axes[0].get_ylabel()
    with pytest.raises(ValueError, match="no 'R@8' column"):
        study_widgets.parameter_study_widget(_grid(), metric="R@8")


def test_umap_widget_refits_toggles_trajectories_and_titles_the_measured_cosines():
    runs = {"N = 3": _snapshots(epochs=(0, 4)), "N = 3 merged": _snapshots(epochs=(0, 4), merge=True)}
    maps = {
        (k, d): {
            name: umap_views.fit_umap(s, seed=0, n_neighbors=k, min_dist=d, n_epochs=20) for name, s in runs.items()
        }
        for k in (4, 5)
        for d in (0.1, 0.5)
    }
    measures = {name: proxy_spread_views.spread_over_epochs(s) for name, s in runs.items()}
    w = study_widgets.umap_widget(maps, measures, classes=2)
    title = w.figure.axes[0].get_title()
    assert title.startswith("N = 3, epoch 4: proxy cos to epoch 0 ") and "samples" in title
    assert any(line.get_gid() == "trajectory 0" for line in w.figure.axes[0].lines)
    w.controls["trajectories"].value = False
    assert not w.figure.axes[0].lines
    w.controls["epoch"].value = 0
    assert "epoch 0: proxy cos to epoch 0 1.00" in w.figure.axes[0].get_title()

    def samples():
        return next(c for c in w.figure.axes[0].collections if c.get_gid() == "samples 0").get_offsets().copy()

    before = samples()
    w.controls["n_neighbors"].value = 5
    w.controls["min_dist"].value = 0.5
    assert not np.array_equal(samples(), before)  # another fit
    gids = {c.get_gid() for c in w.figure.axes[0].collections}
    assert "proxies 1" in gids and "proxies 2" not in gids
    w.controls["run"].value = "N = 3 merged"
    assert "proxies of a class 1.000" in w.figure.axes[0].get_title()
    assert w.renders == 6
    with pytest.raises(ValueError, match="maps is empty"):
        study_widgets.umap_widget({}, measures)
    with pytest.raises(ValueError, match="no measured cosines"):
        study_widgets.umap_widget(maps, {"N = 3": measures["N = 3"]})
    with pytest.raises(ValueError, match=r"lacks the UMAP settings \[\(5, 0.5\)\]"):
        study_widgets.umap_widget({key: maps[key] for key in list(maps)[:3]}, measures)


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


def test_compare_cells_widget_picks_the_axis_and_two_cells():
    w = study_widgets.compare_cells_widget(_grid(), "grid")
    assert list(w.controls) == ["x", "a", "b"]
    assert (w.controls["a"].value, w.controls["b"].value) == ((4, 0.3), (1, 0.3))  # the two highest means
    assert "Holm across the 4 pairs" in w.figure.axes[0].get_title()
    w.controls["x"].value = "k"
    assert w.figure.axes[0].get_xlabel().startswith("k = ceil(r C N)")
    w.controls["b"].value = (1, 0.1)
    assert "all 6 pairs of the grid's cells" in w.figure.axes[0].get_title() and w.renders == 3
    with pytest.raises(ValueError, match="pick two different cells"):  # the offline site shows this line
        w.controls["b"].value = (4, 0.3)


def test_compare_cells_views_count_menus_and_the_ablation():
    views = study_widgets.compare_cells_views(_grid(), "grid", cells=[(1, 0.1), (4, 0.3)])
    assert views.count == 3 * 2 * 2 and views.controls[1].labels == ("N=4, r=0.3", "N=1, r=0.1")
    with pytest.raises(ValueError, match="cells must be at least two of the table's cells"):
        study_widgets.compare_cells_views(_grid(), "grid", cells=[(2, 0.1), (4, 0.3)])
    ablation = study_widgets.compare_cells_views(_ablation(), "ablation", a=8, b=1)
    assert [c.name for c in ablation.controls] == ["metric", "a", "b"] and ablation.count == 2 * 8 * 8
    assert "row 8" in ablation.figure({"metric": "NMI", "a": 8, "b": 1}).axes[0].get_title()
