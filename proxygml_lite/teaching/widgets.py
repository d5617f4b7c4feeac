"""Interactive (ipywidgets 8) views of the notebooks' figures.

Each widget is declared once, as a :class:`~proxygml_lite.teaching.views.Views`
(``*_views``: finite controls and a draw function from
:mod:`proxygml_lite.teaching.plots`); its builder (``*_widget``) shows that
declaration as an :class:`InteractivePlot`: a ``VBox`` of controls and an
``Output`` that shows ``draw(**fixed, **controls)`` and redraws it whenever a
control changes. The offline site draws the same declaration view by view
(``scripts/build_book.py``). The last figure is kept in ``.figure`` (and the
number of draws in ``.renders``), so the widgets can be tested without a
browser::

    w = subgraph_widget(points, labels, num_classes=4, modes_per_class=2)
    w.controls["r"].value = 0.5      # redraws
    w.figure.axes[0].get_title()     # the new subgraph's title
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import ipywidgets as widgets
import matplotlib.pyplot as plt

from . import plots
from .gradients import loss_gradients
from .views import Control, Views, menu, slider, switch

__all__ = [
    "InteractivePlot",
    "similarity_views",
    "similarity_widget",
    "subgraph_views",
    "subgraph_widget",
    "votes_views",
    "votes_widget",
    "gradient_views",
    "gradient_widget",
    "training_views",
    "training_widget",
]

_STYLE = {"description_width": "initial"}


def _control(control: Control) -> widgets.ValueWidget:
    """The ipywidgets control of a declared one (values shown by their labels)."""
    plain = all(label == str(value) for label, value in zip(control.labels, control.values))
    options = list(control.values) if plain else list(zip(control.labels, control.values))
    if control.kind == "slider":
        return widgets.SelectionSlider(
            options=options, value=control.value, description=control.label, continuous_update=False, style=_STYLE
        )
    if control.kind == "menu":
        return widgets.Dropdown(options=options, value=control.value, description=control.label, style=_STYLE)
    if control.kind == "switch":
        return widgets.Checkbox(value=control.value, description=control.label, indent=False)
    return widgets.SelectMultiple(
        options=options, value=control.value, description=control.label, rows=min(len(options), 6), style=_STYLE
    )


class InteractivePlot(widgets.VBox):
    """The controls of ``views`` plus an output area showing ``views.draw(**views.fixed, **{name: control.value})``.

    Attributes:
        views: the declaration shown (:class:`~proxygml_lite.teaching.views.Views`).
        controls: ``{argument name: widget}``; changing a value redraws.
        fixed: the draw function's other arguments (``views.fixed``, a copy).
        output: the ``ipywidgets.Output`` holding the figure.
        figure: the last figure drawn (closed for pyplot, still inspectable).
        renders: how many times the figure was drawn.
    """

    def __init__(self, views: Views):
        self.views = views
        self.controls = {control.name: _control(control) for control in views.controls}
        self.fixed = dict(views.fixed)
        self.output = widgets.Output()
        self.figure = None
        self.renders = 0
        for control in self.controls.values():
            control.observe(self._on_change, names="value")
        rows = [widgets.HBox(list(self.controls.values())[i : i + 3]) for i in range(0, len(self.controls), 3)]
        super().__init__(children=[*rows, self.output])
        self.render()

    def values(self) -> dict:
        """The current control values, by argument name."""
        return {name: control.value for name, control in self.controls.items()}

    def _on_change(self, _change) -> None:
        self.render()

    def render(self) -> None:
        """Call the draw function with the current values and show the figure in ``output``.

        In a notebook, an exception of the draw function is shown in the
        output area in place of the figure (a widget callback's exception
        would otherwise only reach the kernel's log, leaving a stale figure);
        in plain Python it propagates.
        """
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:  # pragma: no cover - IPython comes with ipywidgets
            get_ipython = None
        shell = get_ipython() if get_ipython is not None else None
        try:
            figure = self.views.draw(**self.fixed, **self.values())
        except Exception:
            if shell is None:
                raise
            self.output.clear_output(wait=True)
            with self.output:
                shell.showtraceback()
            return
        plt.close(figure)  # shown once, by the output widget, not again by the inline backend
        self.figure = figure
        self.renders += 1
        if shell is None:  # plain Python (tests): nothing to display into
            return
        self.output.clear_output(wait=True)
        with self.output:
            display(figure)


#: The noise levels of notebook 1's explorer (radians): none, the static figure's 0.15, up to clusters that touch.
NOISE_LEVELS = (0.0, 0.15, 0.3, 0.45, 0.6)


def similarity_views(
    *, num_classes: int = 3, modes_per_class: int = 3, proxies_per_class: int = 3, noise: float = 0.15, seed: int = 0
) -> Views:
    """Notebook 1: modes per class ``K`` and proxies per class ``N`` (1-4), the cluster noise -> toy data and ``S``.

    It opens at ``modes_per_class`` and ``proxies_per_class`` (3 and 3, the
    static figure of notebook 1); 80 views.
    """
    return Views(
        plots.plot_similarity_explorer,
        (
            slider("modes_per_class", "modes per class K", range(1, 5), modes_per_class),
            slider("proxies_per_class", "proxies per class N", range(1, 5), proxies_per_class),
            slider("noise", "noise (rad)", NOISE_LEVELS, noise),
        ),
        {"num_classes": num_classes, "seed": seed},
    )


def similarity_widget(**settings) -> InteractivePlot:
    """:func:`similarity_views` as a widget."""
    return InteractivePlot(similarity_views(**settings))


#: The r values of the subgraph explorers: 0.02 to 1 in steps of 0.02.
R_STEPS = tuple(round(0.02 * i, 2) for i in range(1, 51))


def _subgraph_explorer_widget(explorer: Callable, *, name: str, doc: str) -> tuple[Callable, Callable]:
    """The declaration ``<name>_views`` and the widget ``<name>_widget`` of one subgraph explorer.

    ``explorer`` is a :func:`~proxygml_lite.teaching.plots.subgraph.subgraph_explorer`. Sliders for ``N``, ``r`` and the sample, a check box for ``S^pos``; the subgraph and votes widgets differ only
    in their explorer. One view per sample: too many to draw ahead of time, so the offline site shows their saved
    state.
    """

    def views(
        points,
        labels,
        *,
        num_classes: int,
        proxies_per_class: int = 2,
        r: float = 0.3,
        sample_index: int = 0,
        modes_per_class: int | None = None,
        proxy_jitter: float = 0.3,
        seed: int = 0,
    ) -> Views:
        return Views(
            explorer,
            (
                slider("proxies_per_class", "N", range(1, 7), proxies_per_class),
                slider("r", "r", R_STEPS, r),
                slider("sample_index", "sample i", range(len(points)), sample_index),
                switch("positive_mask", "positive mask S^pos", True),
            ),
            {
                "points": points,
                "labels": labels,
                "num_classes": num_classes,
                "modes_per_class": modes_per_class,
                "proxy_jitter": proxy_jitter,
                "seed": seed,
            },
        )

    def widget(points, labels, **settings) -> InteractivePlot:
        return InteractivePlot(views(points, labels, **settings))

    views.__name__ = views.__qualname__ = f"{name}_views"
    views.__doc__ = doc
    widget.__name__ = widget.__qualname__ = f"{name}_widget"
    widget.__doc__ = f":func:`{name}_views` as a widget."
    return views, widget


subgraph_views, subgraph_widget = _subgraph_explorer_widget(
    plots.plot_subgraph_explorer,
    name="subgraph",
    doc="Notebook 2: ``N``, ``r``, the sample and ``S^pos`` on/off -> the sample's subgraph and its row of ``S``.",
)
votes_views, votes_widget = _subgraph_explorer_widget(
    plots.plot_votes_explorer,
    name="votes",
    doc="Notebook 3: ``N``, ``r``, the sample and ``S^pos`` -> its subgraph and votes ``Z_i = (W Y^p)_i``.",
)


#: Notebook 4's lambda values: none, the notebook's 0.3, up to the 1.5 of its static figure.
LAMBDA_LEVELS = (0.0, 0.3, 0.6, 1.0, 1.5)
#: Notebook 4's r values; with C = 4 classes of N = 2 proxies they give k = ceil(rCN) = 1, 2, 3, 4 and 8.
GRADIENT_R = (0.1, 0.2, 0.3, 0.5, 1.0)


def gradient_views(
    points,
    labels,
    *,
    proxies,
    num_classes: int,
    proxies_per_class: int,
    r: float = 0.3,
    weight_lambda: float = 0.3,
    scales: Mapping[str, float] | None = None,
) -> Views:
    """Notebook 4: ``lambda``, ``r``, ``S^pos`` and ``M`` on/off -> descent directions of ``L = L^s + lambda L^p``.

    Without ``scales``, each panel's arrow scale is fixed from the starting
    values (``lambda`` at least 0.3), so that arrow lengths stay comparable
    while the controls move. 100 views.
    """
    if scales is None:
        start = loss_gradients(
            points,
            labels,
            proxies=proxies,
            num_classes=num_classes,
            proxies_per_class=proxies_per_class,
            r=r,
            weight_lambda=max(weight_lambda, 0.3),
        )
        scales = {
            "samples": plots.arrow_scale(start.points_s),
            "proxies_s": plots.arrow_scale(start.proxies_s),
            "proxies_p": plots.arrow_scale(start.proxies_p),
        }
    return Views(
        plots.plot_gradient_explorer,
        (
            slider("weight_lambda", "λ", LAMBDA_LEVELS, weight_lambda),
            slider("r", "r", GRADIENT_R, r),
            switch("positive_mask", "positive mask S^pos", True),
            switch("mask_softmax", "mask softmax M", True),
        ),
        {
            "points": points,
            "labels": labels,
            "proxies": proxies,
            "num_classes": num_classes,
            "proxies_per_class": proxies_per_class,
            "scales": dict(scales),
        },
    )


def gradient_widget(points, labels, **settings) -> InteractivePlot:
    """:func:`gradient_views` as a widget."""
    return InteractivePlot(gradient_views(points, labels, **settings))


def _training_view(histories, labels, run, snapshot_index):
    return plots.plot_training_snapshot(histories[run], labels, snapshot_index=snapshot_index)


def training_views(histories: Mapping, labels) -> Views:
    """Notebook 5: pick a run and a snapshot -> embeddings and proxies at that step.

    The runs are trained in the notebook, so the offline site shows its saved state.
    """
    if not histories:
        raise ValueError("histories is empty; pass {run name: ToyHistory}")
    count = min(len(h.snapshots) for h in histories.values())
    if count == 0:
        raise ValueError("every run needs snapshots; train with num_snapshots >= 1")
    return Views(
        _training_view,
        (
            menu("run", "run", list(histories), next(iter(histories))),
            slider("snapshot_index", "snapshot", range(count), count - 1),
        ),
        {"histories": dict(histories), "labels": labels},
    )


def training_widget(histories: Mapping, labels) -> InteractivePlot:
    """:func:`training_views` as a widget."""
    return InteractivePlot(training_views(histories, labels))
