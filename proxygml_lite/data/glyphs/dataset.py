"""The glyph dataset (torch ``Dataset``), :func:`load_glyphs` and the glyph sheet figure."""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable

import numpy as np
from PIL import Image
from torch.utils.data import Dataset

from ...checks import check_int
from .cache import _ensure


# ----------------------------------------------------------------------------- dataset
class GlyphDataset(Dataset):
    """One split of the glyph dataset as a map-style torch ``Dataset``.

    ``ds[i]`` is ``(image, label)``: a PIL ``"L"`` image (or ``transform(image)``)
    and the label in ``0 .. num_classes - 1`` (classes sorted by code point).

    Attributes:
        images: uint8 array ``[n, s, s]`` (fast tensor access without PIL).
        targets: list of int labels, one per image.
        num_classes: number of classes in this split.
        classes: the characters, ``classes[label]``.
        faces: the font face name of each image.
        split: ``"train"`` or ``"test"``.
        transform: applied to the PIL image in ``__getitem__`` (or None).
    """

    def __init__(self, images: np.ndarray, targets, classes, faces, split: str, transform=None):
        self.images = images
        self.targets = [int(t) for t in targets]
        self.classes = list(classes)
        self.num_classes = len(self.classes)
        self.faces = list(faces)
        self.split = split
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        img = Image.fromarray(self.images[index])  # uint8 2-D -> mode "L"
        if self.transform is not None:
            img = self.transform(img)
        return img, self.targets[index]

    def __repr__(self) -> str:
        s = self.images.shape[-1]
        return (
            f"GlyphDataset(split={self.split!r}, images={len(self)}, classes={self.num_classes}, "
            f"size={s}x{s}, transform={self.transform!r})"
        )


def load_glyphs(
    data_root: str | os.PathLike = "data",
    split: str = "train",
    transform: Callable | None = None,
    progress: bool = True,
    **params,
) -> GlyphDataset:
    """Load one split of the glyph dataset, generating it on first use (see :func:`ensure_glyphs`).

    Args:
        data_root: folder holding ``glyphs/``.
        split: ``"train"`` (``num_train_classes`` classes, default the paper's
            ``C = 100``) or ``"test"`` (the other ``num_test_classes`` classes).
        transform: callable applied to each PIL ``"L"`` image.
        progress: tqdm progress bar while generating.
        **params: generation parameters, see :func:`ensure_glyphs`.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    if transform is not None and not callable(transform):
        raise ValueError(
            f"transform must be callable (e.g. a torchvision transform) or None; got {type(transform).__name__}"
        )
    _, arrays, _ = _ensure(data_root, progress, **params)
    part = 0 if split == "train" else 1
    rows = np.flatnonzero(arrays["split"] == part)
    chars = [str(c) for c, sp in zip(arrays["class_chars"], arrays["class_split"]) if sp == part]
    chars.sort(key=ord)
    label_of = {ord(c): i for i, c in enumerate(chars)}
    names = [str(n) for n in arrays["face_names"]]
    targets = [label_of[int(cp)] for cp in arrays["labels"][rows]]
    faces = [names[int(f)] for f in arrays["face_index"][rows]]
    return GlyphDataset(np.ascontiguousarray(arrays["images"][rows]), targets, chars, faces, split, transform)


# ----------------------------------------------------------------------------- figure
def glyph_sheet(
    ds: GlyphDataset,
    num_classes: int = 10,
    num_faces: int = 8,
    classes=None,
    cell: float = 0.6,
    show_faces: bool = False,
):
    """A matplotlib ``Figure``: rows are classes, columns one image per distinct face.

    Args:
        ds: a :class:`GlyphDataset` (its ``images``, ``targets``, ``faces`` are used;
            the transform is ignored).
        num_classes: how many classes (rows); the first ones unless ``classes`` is given.
        num_faces: how many faces (columns) per class.
        classes: optional list of labels (ints) or characters to show.
        cell: size of one cell in inches.
        show_faces: write the face name under each image.

    The figure is made without pyplot (no global state): in a notebook leave it
    as the cell's last expression, or call ``fig.savefig(path)``.
    """
    from matplotlib.figure import Figure

    if not isinstance(ds, GlyphDataset):
        raise ValueError(f"glyph_sheet needs a GlyphDataset from load_glyphs(...); got {type(ds).__name__}")
    if classes is None:
        check_int("num_classes", num_classes, 1, "rows of the sheet")
        labels = list(range(min(num_classes, ds.num_classes)))
    else:
        labels = []
        for c in classes:
            if isinstance(c, str):
                if c not in ds.classes:
                    raise ValueError(f"character {c!r} is not a class of this split; pick from ds.classes")
                labels.append(ds.classes.index(c))
            elif isinstance(c, numbers.Integral) and 0 <= c < ds.num_classes:
                labels.append(int(c))
            else:
                raise ValueError(f"class {c!r} must be a label in [0, {ds.num_classes}) or a character of ds.classes")
    check_int("num_faces", num_faces, 1, "columns of the sheet")
    targets = np.asarray(ds.targets)
    rows = []
    for lab in labels:
        seen: dict[str, int] = {}
        for i in np.flatnonzero(targets == lab):
            seen.setdefault(ds.faces[i], int(i))
            if len(seen) == num_faces:
                break
        rows.append(list(seen.items()))
    ncols = max(len(r) for r in rows)
    fig = Figure(figsize=(cell * ncols + 0.4, cell * len(rows) * (1.25 if show_faces else 1.0)))
    axes = fig.subplots(len(rows), ncols, squeeze=False)
    for r, (lab, items) in enumerate(zip(labels, rows)):
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if c < len(items):
                face, i = items[c]
                ax.imshow(ds.images[i], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
                if show_faces:
                    ax.set_xlabel(face, fontsize=4)
            if c == 0:
                ax.set_ylabel(f"{ds.classes[lab]}  ", rotation=0, fontsize=10, ha="right", va="center")
    fig.suptitle(f"glyphs ({ds.split}): {len(rows)} classes x {ncols} faces", fontsize=9)
    fig.tight_layout()
    return fig
