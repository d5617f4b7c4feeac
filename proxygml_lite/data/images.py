"""Decode-check image files: find every corrupt image before it can stop a training run.

A zero-byte or truncated JPEG in a dataset folder otherwise goes unnoticed
until the DataLoader reads it mid-epoch. :func:`find_bad_images` decodes every
file (threaded, with a progress bar) and returns the bad ones with PIL's
reason; :func:`check_dataset_images` applies that to a dataset and either
raises :class:`BadImagesError` naming each bad file, or (``skip=True``, only
when asked) returns the dataset without them and the report.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from PIL import Image
from tqdm.auto import tqdm

__all__ = [
    "BadImagesError",
    "check_image",
    "find_bad_images",
    "check_dataset_images",
    "apply_image_check",
    "bad_images_message",
]


class BadImagesError(ValueError):
    """Some image files cannot be decoded; ``bad`` lists ``(path, reason)``."""

    def __init__(self, message: str, bad: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.bad = bad


def check_image(path: str | os.PathLike) -> None:
    """Decode ``path`` fully with PIL (JPEGs at reduced scale, which still reads every byte); raise if broken."""
    with Image.open(path) as img:
        if img.format == "JPEG":
            img.draft("RGB", (64, 64))
        img.load()


def _reason(path: str) -> str | None:
    try:
        if os.path.getsize(path) == 0:
            return "empty file (0 bytes)"
        check_image(path)
    except Exception as err:  # PIL raises many types for broken files
        return f"{type(err).__name__}: {err}"
    return None


def find_bad_images(
    paths: Iterable[str | os.PathLike], *, progress: bool | None = None, desc: str = "check images"
) -> list[tuple[str, str]]:
    """``(path, reason)`` for every file of ``paths`` that PIL cannot decode, in the order given."""
    paths = [str(p) for p in paths]
    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        reasons = list(
            tqdm(
                pool.map(_reason, paths, chunksize=64),
                total=len(paths),
                unit=" img",
                desc=desc,
                disable=None if progress is None else not progress,
            )
        )
    return [(p, r) for p, r in zip(paths, reasons) if r is not None]


def bad_images_message(bad: list[tuple[str, str]], where: str, fix: str, shown: int = 20) -> str:
    """``N image(s) in WHERE cannot be decoded:`` then one line per file (up to ``shown``), then ``fix``."""
    lines = [f"  {path} ({reason})" for path, reason in bad[:shown]]
    if len(bad) > shown:
        lines.append(f"  ... and {len(bad) - shown} more")
    return f"{len(bad)} image(s) in {where} cannot be decoded:\n" + "\n".join(lines) + f"\n{fix}"


def dataset_location(dataset) -> str:
    return f"{dataset.root}/{dataset.split}" if dataset.root and dataset.split else "the dataset"


def apply_image_check(dataset, bad: list[tuple[str, str]], *, skip: bool = False, log=print):
    """``dataset`` if ``bad`` is empty; else raise :class:`BadImagesError`, or (``skip``) log and drop them."""
    if not bad:
        return dataset
    where = dataset_location(dataset)
    if not skip:
        raise BadImagesError(
            bad_images_message(
                bad,
                where,
                "Training stopped before its first step. Replace or remove these files (python -m "
                "proxygml_lite.data check lists them), or pass --check-images skip to train without them.",
            ),
            bad,
        )
    log(bad_images_message(bad, where, f"--check-images skip: training without these {len(bad)} file(s)."))
    return dataset.without({p for p, _ in bad})


def check_dataset_images(dataset, *, skip: bool = False, progress: bool | None = None, log=print):
    """Decode every image of an :class:`~proxygml_lite.data.folder.ImageListDataset`.

    No bad image: returns ``dataset``. Otherwise raises :class:`BadImagesError`
    naming each bad file, or with ``skip=True`` logs them and returns a copy
    of the dataset without them (:meth:`ImageListDataset.without`).
    """
    bad = find_bad_images([p for p, _ in dataset.samples], progress=progress, desc=f"check images ({dataset.split})")
    return apply_image_check(dataset, bad, skip=skip, log=log)
