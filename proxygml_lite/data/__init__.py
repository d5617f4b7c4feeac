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
from typing import Callable

from .folder import IMAGE_EXTENSIONS, FolderDataset, ImageListDataset
from .manifest import load_prepared
from .prepare import BENCHMARKS, SPECS, canonical_benchmark, prepare_dataset

__all__ = [
    "DATASET_NAMES",
    "BENCHMARKS",
    "IMAGE_EXTENSIONS",
    "canonical_name",
    "load_dataset",
    "prepare_dataset",
    "FolderDataset",
    "ImageListDataset",
    "SPECS",
]

#: Names accepted by :func:`load_dataset` (``sop`` is an alias of ``online_products``).
DATASET_NAMES = ("cub200", "cars196", "online_products", "sop", "glyphs", "folder")


def canonical_name(name: str) -> str:
    """``"sop"`` -> ``"online_products"``; ValueError naming the choices for unknown names."""
    if name not in DATASET_NAMES:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")
    return "online_products" if name == "sop" else name


def load_dataset(
    name: str,
    data_root: str | os.PathLike = "data",
    split: str = "train",
    transform: Callable | None = None,
    progress: bool = True,
    **glyph_options,
):
    """The ``split`` ("train" or "test") of dataset ``name`` under ``data_root``.

    ``progress`` and ``glyph_options`` (generation parameters such as
    ``images_per_face``, see :func:`~proxygml_lite.data.glyphs.ensure_glyphs`)
    only concern ``glyphs``, the one dataset that is generated here.

    A benchmark that is not prepared raises FileNotFoundError with the exact
    ``python -m proxygml_lite.data prepare ...`` command to run; a prepared
    folder that was modified or is partial raises ValueError.
    """
    name = canonical_name(name)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    if name == "glyphs":
        from .glyphs import load_glyphs

        return load_glyphs(data_root, split, transform=transform, progress=progress, **glyph_options)
    if glyph_options:
        raise ValueError(
            f"generation options {sorted(glyph_options)} only apply to the glyphs dataset; {name!r} is read "
            "from disk as it is"
        )
    if name == "folder":
        return FolderDataset(data_root, split, transform=transform)
    return load_prepared(canonical_benchmark(name), data_root, split, transform=transform)
