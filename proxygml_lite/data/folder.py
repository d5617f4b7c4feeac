"""Image datasets read from ``<root>/{train,test}/<class>/<image>`` folders.

:class:`ImageListDataset` is the dataset every loader here returns: images are
opened lazily with PIL, ``ds[i] -> (image, target)`` with ``target`` in
``0 .. num_classes-1`` (classes ordered by their numeric folder name when all
folder names are integers, else alphabetically).

:class:`FolderDataset` reads any folder in that layout (``--dataset folder``):
no manifest, but the train and test classes must be disjoint, as in deep metric
learning the test classes are never seen in training.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image
from torch.utils.data import Dataset

__all__ = [
    "IMAGE_EXTENSIONS",
    "SPLITS",
    "is_image_file",
    "list_images",
    "sort_class_folders",
    "ImageListDataset",
    "FolderDataset",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
SPLITS = ("train", "test")


def is_image_file(name: str) -> bool:
    """True for a visible file whose extension (any case) is in :data:`IMAGE_EXTENSIONS`."""
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files under ``folder`` (recursively, hidden entries skipped), sorted."""
    found = []
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            found += list_images(entry.path)
        elif is_image_file(entry.name) and entry.is_file():
            found.append(Path(entry.path))
    return found


def sort_class_folders(names) -> list[str]:
    """Numeric order when every name is an integer (``"2" < "10"``), else alphabetical."""
    names = list(names)
    if names and all(n.isdigit() for n in names):
        return sorted(names, key=int)
    return sorted(names)


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    return split


def class_folders(split_dir: Path) -> list[str]:
    """Visible sub-folders of ``split_dir``; a clear error when it is missing."""
    if not split_dir.is_dir():
        raise FileNotFoundError(
            f"{split_dir} does not exist. The data folder must hold train/<class>/<image> and "
            "test/<class>/<image>; pass the folder that contains train/ and test/"
        )
    return [e.name for e in os.scandir(split_dir) if e.is_dir() and not e.name.startswith(".")]


class ImageListDataset(Dataset):
    """A list of ``(path, target)`` pairs read lazily with PIL.

    Attributes: ``samples`` (list of ``(path, target)``), ``targets`` (list of
    int), ``classes`` (class names, index = target), ``num_classes``,
    ``class_folders`` (the folder name of each class), ``root``, ``split``.
    ``mode`` is the PIL mode images are converted to (``None`` keeps the file's).
    """

    def __init__(
        self,
        samples: Sequence[tuple[str, int]],
        classes: Sequence[str],
        *,
        transform: Callable | None = None,
        mode: str | None = "RGB",
        root: str | os.PathLike | None = None,
        split: str | None = None,
        class_folders: Sequence[str] | None = None,
    ) -> None:
        self.samples = [(str(p), int(t)) for p, t in samples]
        self.targets = [t for _, t in self.samples]
        self.classes = list(classes)
        self.num_classes = len(self.classes)
        self.class_folders = list(class_folders) if class_folders is not None else list(self.classes)
        self.transform = transform
        self.mode = mode
        self.root = None if root is None else str(root)
        self.split = split
        bad = [t for t in set(self.targets) if not 0 <= t < self.num_classes]
        if bad:
            raise ValueError(f"targets {sorted(bad)[:5]} are outside 0..{self.num_classes - 1}")

    def __len__(self) -> int:
        return len(self.samples)

    def load_image(self, index: int) -> Image.Image:
        path = self.samples[index][0]
        try:
            with Image.open(path) as img:
                return img.convert(self.mode) if self.mode else img.copy()
        except (OSError, ValueError) as err:
            raise OSError(f"cannot read image {path} ({err}); replace or remove the file") from err

    def without(self, paths) -> ImageListDataset:
        """A copy without the samples whose path is in ``paths`` (same classes and targets).

        ValueError naming the class if that would leave a class without images.
        """
        paths = {str(p) for p in paths}
        kept = [(p, t) for p, t in self.samples if p not in paths]
        emptied = sorted(set(self.targets) - {t for _, t in kept})
        if emptied:
            names = ", ".join(repr(self.classes[t]) for t in emptied[:5])
            raise ValueError(
                f"leaving out the bad images would leave class(es) {names} of {self.root}/{self.split} without "
                "images; replace the bad files or remove the class folder(s)"
            )
        clone = ImageListDataset(
            kept,
            self.classes,
            transform=self.transform,
            mode=self.mode,
            root=self.root,
            split=self.split,
            class_folders=self.class_folders,
        )
        return clone

    def __getitem__(self, index: int):
        image = self.load_image(index)
        if self.transform is not None:
            image = self.transform(image)
        return image, self.targets[index]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(root={self.root!r}, split={self.split!r}, "
            f"{len(self)} images, {self.num_classes} classes)"
        )


def scan_split(split_dir: Path) -> tuple[list[str], list[list[Path]]]:
    """Sorted class folders of ``split_dir`` and the images of each; errors for bad layouts."""
    names = sort_class_folders(class_folders(split_dir))
    loose = [f for f in os.listdir(split_dir) if is_image_file(f) and (split_dir / f).is_file()]
    if loose:
        raise ValueError(
            f"{split_dir} holds images outside class folders (e.g. {loose[0]}); put each image in {split_dir}/<class>/"
        )
    if not names:
        raise ValueError(f"{split_dir} has no class folders; expected {split_dir}/<class>/<image>")
    images = [list_images(split_dir / n) for n in names]
    empty = [n for n, imgs in zip(names, images, strict=True) if not imgs]
    if empty:
        raise ValueError(
            f"class folder(s) {', '.join(empty[:5])} in {split_dir} hold no images "
            f"({', '.join(IMAGE_EXTENSIONS)}); add images or remove the folder(s)"
        )
    return names, images


class FolderDataset(ImageListDataset):
    """Any folder ``root`` holding ``train/<class>/<image>`` and ``test/<class>/<image>``.

    Classes are the folder names; ``targets`` are ``0..num_classes-1`` within the
    split. The train and test class names must be disjoint (else ValueError
    naming the overlap).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        transform: Callable | None = None,
        mode: str | None = "RGB",
    ) -> None:
        root = Path(root)
        check_split(split)
        if not root.is_dir():
            raise FileNotFoundError(
                f"data folder {root} {'is a file, not a folder' if root.exists() else 'does not exist'}; "
                "for --dataset folder pass --data-root the folder holding train/ and test/"
            )
        other = "test" if split == "train" else "train"
        overlap = set(class_folders(root / split)) & set(class_folders(root / other))
        if overlap:
            shown = ", ".join(sort_class_folders(overlap)[:10])
            more = f" and {len(overlap) - 10} more" if len(overlap) > 10 else ""
            raise ValueError(
                f"{len(overlap)} class(es) appear in both {root}/train and {root}/test: {shown}{more}. "
                "Deep metric learning tests on classes unseen in training: move each class to one split"
            )
        names, images = scan_split(root / split)
        samples = [(str(p), t) for t, imgs in enumerate(images) for p in imgs]
        super().__init__(samples, names, transform=transform, mode=mode, root=root, split=split, class_folders=names)
