"""Datasets for ProxyGML: the three deep metric learning benchmarks, your own folder, glyphs.

``load_dataset(name, data_root="data", split="train", transform=None)`` returns
a torch ``Dataset`` with ``ds[i] -> (image, target)`` (a PIL image, or
``transform(image)``), ``ds.targets`` (ints in ``0..num_classes-1`` within the
split, classes in numeric order of their original id), ``ds.num_classes``,
``ds.classes`` (original class names) and ``ds.samples`` (``(path, target)``).

* ``cub200``, ``cars196``, ``online_products`` (alias ``sop``): prepared with
  ``python -m proxygml_lite.data prepare NAME --data-root DIR [--download]``
  into ``DIR/<name>/{train,test}/<label>/<image>``; checked against the
  folder's manifest on every load. The C classes of the training split are
  the ``C`` of the paper (100, 98, 11318), and the test classes are disjoint.
* ``folder``: ``data_root`` itself holds ``train/<class>/<image>`` and
  ``test/<class>/<image>`` (disjoint classes).
* ``glyphs``: the synthetic glyph classes, generated on first use into
  ``DIR/glyphs`` (see :mod:`proxygml_lite.data.glyphs`).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from ..registry import DATASETS, register_dataset
from .folder import IMAGE_EXTENSIONS, FolderDataset, ImageListDataset
from .manifest import load_prepared
from .prepare import prepare_dataset
from .specs import _ALIASES, BENCHMARKS, SPECS

__all__ = [
    "DATASETS",
    "BENCHMARKS",
    "GLYPHS_HARD_OPTIONS",
    "IMAGE_EXTENSIONS",
    "generated_datasets",
    "load_dataset",
    "prepare_dataset",
    "register_dataset",
    "FolderDataset",
    "ImageListDataset",
    "SPECS",
]


# ------------------------------------------------------- the built-in datasets
def _benchmark_loader(name: str):
    def load(data_root, split, transform=None):
        return load_prepared(name, data_root, split, transform=transform)

    load.__name__ = f"load_{name}"
    return load


for _name in BENCHMARKS:  # cub200, cars196, online_products: their specs are in .prepare
    register_dataset(
        _name,
        _benchmark_loader(_name),
        aliases=tuple(alias for alias, target in _ALIASES.items() if target == _name),
        description=SPECS[_name].title,
    )


def _load_glyphs(data_root, split, transform=None, progress=True, **options):
    from .glyphs import load_glyphs

    return load_glyphs(data_root, split, transform=transform, progress=progress, **options)


register_dataset(
    "glyphs",
    _load_glyphs,
    takes_options=True,
    description="synthetic glyph classes, generated on first use (CPU experiments)",
)
#: Generation options of ``glyphs_hard`` (the CPU benchmark with headroom, issue 11): one distorted image
#: per font face (12 per class) and the 199 unseen test classes the glyph pool leaves after the 100 training
#: classes. ``--dataset-options`` given for ``glyphs_hard`` are applied on top of these.
GLYPHS_HARD_OPTIONS = {"images_per_face": 1, "num_test_classes": 199}


def _load_glyphs_hard(data_root, split, transform=None, progress=True, **options):
    return _load_glyphs(data_root, split, transform=transform, progress=progress, **{**GLYPHS_HARD_OPTIONS, **options})


register_dataset(
    "glyphs_hard",
    _load_glyphs_hard,
    takes_options=True,
    description="glyphs with 12 images per class and 199 unseen test classes (CPU benchmark with headroom)",
)
register_dataset(
    "folder",
    lambda data_root, split, transform=None: FolderDataset(data_root, split, transform=transform),
    description="your own data: <data>/{train,test}/<class>/<image>",
)


def generated_datasets() -> tuple[str, ...]:
    """Names of the datasets that take generation options (``--dataset-options``): ``("glyphs",)`` here."""
    return tuple(name for name in DATASETS.names() if DATASETS.get(name).options.get("takes_options"))


def load_dataset(
    name: str,
    data_root: str | os.PathLike = "data",
    split: str = "train",
    transform: Callable | None = None,
    progress: bool = True,
    **glyph_options,
):
    """The ``split`` ("train" or "test") of dataset ``name`` under ``data_root``.

    ``name`` is any name of :data:`DATASETS` (yours too, see
    :func:`~proxygml_lite.registry.register_dataset`). ``progress`` and
    ``glyph_options`` (generation parameters such as ``images_per_face``, see
    :func:`~proxygml_lite.data.glyphs.ensure_glyphs`) only concern datasets
    generated here (``glyphs``).

    A benchmark that is not prepared raises FileNotFoundError with the exact
    ``python -m proxygml_lite.data prepare ...`` command to run; a prepared
    folder that was modified or is partial raises ValueError.
    """
    entry = DATASETS.get(name)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    if entry.options.get("takes_options"):
        return entry.factory(data_root, split, transform=transform, progress=progress, **glyph_options)
    if glyph_options:
        first, *others = generated_datasets()
        also = f" (and {', '.join(others)})" if others else ""
        raise ValueError(
            f"generation options {sorted(glyph_options)} only apply to the {first} dataset{also}; "
            f"{entry.name!r} is read from disk as it is"
        )
    return entry.factory(data_root, split, transform=transform)
