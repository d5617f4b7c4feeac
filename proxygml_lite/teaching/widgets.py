"""Interactive (ipywidgets 8) views of the notebooks' figures.

Each builder returns an :class:`InteractivePlot`: a ``VBox`` of controls and an
``Output`` that shows ``plot_fn(**fixed, **controls)`` from
:mod:`proxygml_lite.teaching.plots` and redraws it whenever a control changes. The
last figure is kept in ``.figure`` (and the number of draws in ``.renders``),
so the widgets can be tested without a browser::

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

__all__ = [
    "InteractivePlot",
    "similarity_widget",
    "subgraph_widget",
    "votes_widget",
    "gradient_widget",
    "training_widget",
]

_STYLE = {"description_width": "initial"}


def _int_slider(description, value, minimum, maximum, step=1):
    return widgets.IntSlider(
        value=value, min=minimum, max=maximum, step=step, description=description, continuous_update=False, style=_STYLE
    )


def _float_slider(description, value, minimum, maximum, step):
    return widgets.FloatSlider(
        value=value,
        min=minimum,
        max=maximum,
        step=step,
        description=description,
        continuous_update=False,
        readout_format=".2f",
        style=_STYLE,
    )


def _checkbox(description, value):
    return widgets.Checkbox(value=value, description=description, indent=False)


class InteractivePlot(widgets.VBox):
    """Controls plus an output area showing ``plot_fn(**fixed, **{name: control.value})``.

    Attributes:
        controls: ``{argument name: widget}``; changing a value redraws.
        output: the ``ipywidgets.Output`` holding the figure.
        figure: the last figure drawn (closed for pyplot, still inspectable).
        renders: how many times the figure was drawn.
    """

    def __init__(self, plot_fn: Callable, controls: Mapping[str, widgets.ValueWidget], fixed: Mapping | None = None):
        self.plot_fn = plot_fn
        self.controls = dict(controls)
        self.fixed = dict(fixed or {})
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
        """Call the plot function with the current values and show the figure in ``output``.

        In a notebook, an exception of the plot function is shown in the
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
            figure = self.plot_fn(**self.fixed, **self.values())
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


def similarity_widget(
    *, num_classes: int = 3, modes_per_class: int = 3, proxies_per_class: int = 3, seed: int = 0
) -> InteractivePlot:
    """Notebook 1: modes per class ``K``, proxies per class ``N`` and the cluster noise -> toy data and ``S``.

    It opens at ``modes_per_class`` and ``proxies_per_class`` (3 and 3, the static figure of notebook 1).
    """
    return InteractivePlot(
        plots.plot_similarity_explorer,
        {
            "modes_per_class": _int_slider("modes per class K", modes_per_class, 1, 4),
            "proxies_per_class": _int_slider("proxies per class N", proxies_per_class, 1, 4),
            "noise": _float_slider("noise (rad)", 0.15, 0.0, 0.6, 0.05),
        },
        {"num_classes": num_classes, "seed": seed},
    )


def _sample_slider(count: int, value: int = 0):
    return _int_slider("sample i", value, 0, count - 1)


def _subgraph_explorer_widget(explorer: Callable, *, name: str, doc: str) -> Callable:
    """A widget named ``name`` over ``explorer`` (a :func:`~proxygml_lite.teaching.plots.subgraph.subgraph_explorer`).

    Sliders for ``N``, ``r`` and the sample, a check box for ``S^pos``; the subgraph and votes widgets differ only
    in their explorer.
    """

    def widget(
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
    ) -> InteractivePlot:
        return InteractivePlot(
            explorer,
            {
                "proxies_per_class": _int_slider("N", proxies_per_class, 1, 6),
                "r": _float_slider("r", r, 0.02, 1.0, 0.02),
                "sample_index": _sample_slider(len(points), sample_index),
                "positive_mask": _checkbox("positive mask S^pos", True),
            },
            {
                "points": points,
                "labels": labels,
                "num_classes": num_classes,
                "modes_per_class": modes_per_class,
                "proxy_jitter": proxy_jitter,
                "seed": seed,
            },
        )

    widget.__name__ = widget.__qualname__ = name
    widget.__doc__ = doc
    return widget


subgraph_widget = _subgraph_explorer_widget(
    plots.plot_subgraph_explorer,
    name="subgraph_widget",
    doc="Notebook 2: ``N``, ``r``, the sample and ``S^pos`` on/off -> the sample's subgraph and its row of ``S``.",
)
votes_widget = _subgraph_explorer_widget(
    plots.plot_votes_explorer,
    name="votes_widget",
    doc="Notebook 3: ``N``, ``r``, the sample and ``S^pos`` -> its subgraph and votes ``Z_i = (W Y^p)_i``.",
)


def gradient_widget(
    points,
    labels,
    *,
    proxies,
    num_classes: int,
    proxies_per_class: int,
    r: float = 0.3,
    weight_lambda: float = 0.3,
    scales: Mapping[str, float] | None = None,
) -> InteractivePlot:
    """Notebook 4: ``lambda``, ``r``, ``S^pos`` and ``M`` on/off -> descent directions of ``L = L^s + lambda L^p``.

    Without ``scales``, each panel's arrow scale is fixed from the starting
    values (``lambda`` at least 0.3), so that arrow lengths stay comparable
    while the sliders move.
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
    return InteractivePlot(
        plots.plot_gradient_explorer,
        {
            "weight_lambda": _float_slider("λ", weight_lambda, 0.0, 2.0, 0.05),
            "r": _float_slider("r", r, 0.02, 1.0, 0.02),
            "positive_mask": _checkbox("positive mask S^pos", True),
            "mask_softmax": _checkbox("mask softmax M", True),
        },
        {
            "points": points,
            "labels": labels,
            "proxies": proxies,
            "num_classes": num_classes,
            "proxies_per_class": proxies_per_class,
            "scales": dict(scales),
        },
    )


def _training_view(histories, labels, run, snapshot_index):
    return plots.plot_training_snapshot(histories[run], labels, snapshot_index=snapshot_index)


def training_widget(histories: Mapping, labels) -> InteractivePlot:
    """Notebook 5: pick a run and a snapshot -> embeddings and proxies at that step."""
    if not histories:
        raise ValueError("histories is empty; pass {run name: ToyHistory}")
    count = min(len(h.snapshots) for h in histories.values())
    if count == 0:
        raise ValueError("every run needs snapshots; train with num_snapshots >= 1")
    return InteractivePlot(
        _training_view,
        {
            "run": widgets.Dropdown(options=list(histories), description="run", style=_STYLE),
            "snapshot_index": _int_slider("snapshot", count - 1, 0, count - 1),
        },
        {"histories": dict(histories), "labels": labels},
    )
