"""A widget's declaration (teaching/views.py): its finite controls, the numbering of its views, and the live widget
made from it."""

import matplotlib

matplotlib.use("Agg")
import ipywidgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from proxygml_lite.teaching.views import Views, menu, slider, subset, switch  # noqa: E402
from proxygml_lite.teaching.widgets import InteractivePlot  # noqa: E402


def _draw(title, n, r, mask, chosen):
    figure, ax = plt.subplots()
    ax.set_title(f"{title} n={n} r={r} mask={mask} chosen={chosen}")
    return figure


def _views():
    return Views(
        _draw,
        (
            slider("n", "N", (1, 2, 4), 2),
            slider("r", "r", (0.1, 0.3), 0.3),
            switch("mask", "S^pos", True),
            subset("chosen", "series", ("a", "b", "c"), ("a", "c")),
        ),
        {"title": "t"},
    )


def test_every_view_has_one_number_and_back():
    views = _views()
    assert views.count == 3 * 2 * 2 * 8
    numbers = [views.index(views.values_at(number)) for number in range(views.count)]
    assert numbers == list(range(views.count))
    # mixed radix, the first control the most significant digit; a subset's digit is its bit mask
    assert views.index({"n": 1, "r": 0.1, "mask": False, "chosen": ()}) == 0
    assert views.index({"n": 1, "r": 0.1, "mask": False, "chosen": ("a", "c")}) == 0b101
    assert views.index(views.start()) == ((1 * 2 + 1) * 2 + 1) * 8 + 0b101
    assert views.values_at(views.count - 1) == {"n": 4, "r": 0.3, "mask": True, "chosen": ("a", "b", "c")}
    assert "n=2 r=0.3 mask=True chosen=('a', 'c')" in views.figure().axes[0].get_title()
    with pytest.raises(ValueError, match="view 96 does not exist; there are 96"):
        views.values_at(96)


def test_a_declaration_that_cannot_be_shown_is_one_line():
    with pytest.raises(ValueError, match=r"starts at 0.25, which is not one of its values \[0.1, 0.3\]"):
        slider("r", "r", (0.1, 0.3), 0.25)
    with pytest.raises(ValueError, match="needs distinct values"):
        menu("run", "run", ("a", "a"), "a")
    with pytest.raises(ValueError, match=r"controls \['title'\] are named twice"):
        Views(_draw, (slider("title", "t", (1,), 1),), {"title": "t"})
    assert slider("r", "r", (0.1, 0.3000000000000001), 0.1).labels == ("0.1", "0.3")


def test_the_live_widget_shows_each_kind_of_control_and_redraws():
    widget = InteractivePlot(_views())
    kinds = {name: type(control) for name, control in widget.controls.items()}
    assert kinds == {
        "n": ipywidgets.SelectionSlider,
        "r": ipywidgets.SelectionSlider,
        "mask": ipywidgets.Checkbox,
        "chosen": ipywidgets.SelectMultiple,
    }
    assert widget.renders == 1
    widget.controls["chosen"].value = ("b",)
    assert widget.renders == 2 and "chosen=('b',)" in widget.figure.axes[0].get_title()
    assert widget.values() == {"n": 2, "r": 0.3, "mask": True, "chosen": ("b",)}
