"""The notebooks' widgets that the offline site (``make book``) draws view by view.

The site builder (``scripts/build_book.py``) builds from the committed
notebooks and runs no notebook code. For a widget whose inputs package code can
make (toy data from its settings, committed tables and snapshots), this module
says how: ``DECLARED[notebook stem][widget builder] -> a function returning
its`` :class:`~proxygml_lite.teaching.views.Views`, made by the same ``*_views``
function the widget uses in the notebook. The builder finds a notebook's
widgets by the builder its cell calls, draws every view when there are at
most about a hundred, and checks the first view against the figure the
notebook saved: when the notebook changed the widget's inputs (and so the
settings here are stale), they differ and the widget keeps its saved-state
drawing, with a note in the build's output.

Not declared: the widgets of notebooks 2 and 3 (one view per sample, thousands)
and of notebooks 5-7 (they show runs trained in the notebook).
"""

from __future__ import annotations

from collections.abc import Callable

from ..teaching import toy, widgets
from ..teaching.views import Views
from . import cell_comparisons, proxy_spread_views, study_tables, study_widgets, umap_maps, umap_views

__all__ = ["DECLARED", "declared"]

PRESET = "glyphs_hard"  # the committed study tables that notebooks 8-11 read
SEED = 0  # every notebook's setup(seed=0)


def _similarity() -> Views:  # notebook 1
    return widgets.similarity_views(num_classes=3, modes_per_class=3, proxies_per_class=3, seed=SEED)


def _gradients() -> Views:  # notebook 4: C4, K4, N4, r4 = 4, 2, 2, 0.3 and lam = 0.3
    classes, modes, proxies_per_class = 4, 2, 2
    points, labels = toy.multimodal_circle(
        num_classes=classes, modes_per_class=modes, samples_per_mode=8, noise=0.2, seed=SEED
    )
    proxies = toy.toy_proxies(
        num_classes=classes, proxies_per_class=proxies_per_class, dim=2, modes_per_class=modes, jitter=0.3, seed=SEED
    )
    return widgets.gradient_views(
        points,
        labels,
        r=0.3,
        weight_lambda=0.3,
        proxies=proxies,
        num_classes=classes,
        proxies_per_class=proxies_per_class,
    )


#: How many of the grid's cells the site's comparison menus offer (3 axes x 5 x 5 cells = 75 views, under the cap).
SITE_GRID_CELLS = 5


def _grid_comparison() -> Views:  # notebook 8: the notebook's menus offer all 15 cells (675 views), the site five
    """The two highest means (the pair the notebook opens with), the cells that share the grid's most common ``k``
    (notebook 8's same-``k`` comparison), then the next highest means, up to :data:`SITE_GRID_CELLS`."""
    grid = study_tables.read_study_table("grid", preset=PRESET)
    summary = study_tables.summarize_seeds(grid, by=["N", "r"], metrics=["R@1"])
    shared = summary[summary["k"] == summary["k"].value_counts().idxmax()]
    ranked = cell_comparisons.cells_of(grid, "grid")
    same_k = [cell_comparisons.cell_key("grid", (n, r)) for n, r in zip(shared["N"], shared["r"])]
    cells = list(dict.fromkeys(ranked[:2] + same_k + ranked))[:SITE_GRID_CELLS]
    return study_widgets.compare_cells_views(grid, "grid", cells=cells)


def _umap() -> Views:  # notebook 9, full mode: the committed maps (read, never refitted: a fit differs per machine)
    results = study_tables.committed_results_dir(PRESET)
    files = umap_maps.snapshot_files(results, runs=umap_maps.MAPPED_N)
    maps = umap_maps.umap_maps(
        files,
        maps_file=results / umap_maps.MAPS_FILE,
        umap_settings=umap_maps.WIDGET_UMAP,
        verbose=False,
        **umap_maps.FULL_SETTINGS,
    )
    measures = {
        f"N = {n}": proxy_spread_views.spread_over_epochs(umap_views.read_snapshots(p)) for n, p in files.items()
    }
    return study_widgets.umap_run_views(maps, measures)


def _ablation() -> Views:  # notebook 10
    return study_widgets.ablation_views(study_tables.read_study_table("ablation", preset=PRESET))


def _ablation_comparison() -> Views:  # notebook 10: the notebook offers R@1 and NMI (128 views), the site R@1 (64)
    ablation = study_tables.read_study_table("ablation", preset=PRESET)
    return study_widgets.compare_cells_views(ablation, "ablation", metrics=("R@1",))


def _cost() -> Views:  # notebook 11
    return study_widgets.cost_views(study_tables.read_study_table("efficiency", preset=PRESET))


DECLARED: dict[str, dict[str, Callable[[], Views]]] = {
    "01_proxies_and_similarity_graph": {"similarity_widget": _similarity},
    "04_mask_softmax_loss_gradients": {"gradient_widget": _gradients},
    "08_parameter_study_N_r": {"compare_cells_widget": _grid_comparison},
    "09_umap_proxies": {"umap_widget": _umap},
    "10_ablation_table": {"ablation_widget": _ablation, "compare_cells_widget": _ablation_comparison},
    "11_efficiency": {"cost_widget": _cost},
}


def declared(notebook: str, builder: str) -> Callable[[], Views] | None:
    """The declaration of the widget that notebook ``notebook`` (its stem) shows with ``builder``, if any."""
    return DECLARED.get(notebook, {}).get(builder)
