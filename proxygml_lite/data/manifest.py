"""The manifest of a prepared benchmark folder, and loading with verification.

``<data_root>/<name>/manifest.json`` is written last (atomically) by
``prepare``; it records, per split, the number of classes and images, each
class's original name and image count, and the checksums of the source files.
:func:`load_prepared` re-counts the folder against it, so a partial or
modified folder gives a clear error instead of silently wrong numbers.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Callable
from pathlib import Path

from ..atomic_writers import atomic_write_json
from .folder import ImageListDataset, check_split, list_images, sort_class_folders

__all__ = [
    "MANIFEST_NAME",
    "FORMAT",
    "PreparedFolderError",
    "write_manifest",
    "read_manifest",
    "verify_split",
    "load_prepared",
    "prepare_command",
]

MANIFEST_NAME = "manifest.json"
FORMAT = "proxygml_lite.prepared/1"


class PreparedFolderError(ValueError):
    """A prepared folder does not match its manifest: ``problem`` (one sentence) and ``fix``."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem}. {fix}")
        self.problem = problem
        self.fix = fix


def prepare_command(name: str, data_root: str | os.PathLike, extra: str = "") -> str:
    """The exact command that (re)prepares ``name`` under ``data_root``."""
    from ..registry import DATASETS

    cli = min((name, *DATASETS.get(name).aliases), key=len) if name in DATASETS else name  # the short alias: sop
    return f"python -m proxygml_lite.data prepare {cli} --data-root {shlex.quote(str(data_root))}{extra}"


def write_manifest(folder: Path, manifest: dict) -> Path:
    """Write ``folder/manifest.json`` atomically (:func:`proxygml_lite.atomic_writers.atomic_write_json`)."""
    return atomic_write_json(Path(folder) / MANIFEST_NAME, manifest, indent=1, sort_keys=False)


def read_manifest(folder: Path, name: str, data_root) -> dict:
    """The manifest of a prepared folder; FileNotFoundError/ValueError say what to run."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        state = (
            "does not exist" if not folder.exists() else f"has no {MANIFEST_NAME} (incomplete, or not made by prepare)"
        )
        err = FileNotFoundError(
            f"The {name} dataset is not prepared: {folder} {state}. Run:\n"
            f"  {prepare_command(name, data_root, ' --download')}\n"
            "(or place the archives by hand first: see data/README.md)"
        )
        err.problem = f"{folder} {state}"
        raise err
    try:
        with open(path, encoding="utf-8") as fh:
            manifest = json.load(fh)
        if manifest.get("format") != FORMAT or "splits" not in manifest:
            raise ValueError(f"unknown format {manifest.get('format')!r}")
    except (ValueError, AttributeError) as err:
        raise PreparedFolderError(
            f"{path} is damaged ({err})", f"Rebuild the folder: {prepare_command(name, data_root, ' --force')}"
        ) from None
    return manifest


def verify_split(folder: Path, manifest: dict, split: str, name: str, data_root) -> tuple[list[str], list[list[Path]]]:
    """Re-count ``folder/split`` against the manifest; return (class folders, images per class)."""
    expected = manifest["splits"][split]["classes"]  # {label: {"name": ..., "images": n}}
    split_dir = folder / split
    fix = f"The folder was modified or is partial; rebuild it with:\n  {prepare_command(name, data_root, ' --force')}"
    found = [e.name for e in os.scandir(split_dir) if e.is_dir()] if split_dir.is_dir() else []
    missing = sorted(set(expected) - set(found), key=_num)
    extra = sorted(set(found) - set(expected), key=_num)
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing class folders {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))
        if extra:
            parts.append(f"unexpected folders {', '.join(extra[:5])}" + (" ..." if len(extra) > 5 else ""))
        raise PreparedFolderError(f"{split_dir} does not match {MANIFEST_NAME}: {'; '.join(parts)}", fix)
    labels = sort_class_folders(expected)
    images = [list_images(split_dir / label) for label in labels]
    for label, imgs in zip(labels, images, strict=True):
        want = int(expected[label]["images"])
        if len(imgs) != want:
            raise PreparedFolderError(
                f"{split_dir / label} holds {len(imgs)} images, {MANIFEST_NAME} records {want}", fix
            )
    return labels, images


def load_prepared(
    name: str,
    data_root: str | os.PathLike = "data",
    split: str = "train",
    transform: Callable | None = None,
    verify: bool = True,
) -> ImageListDataset:
    """Dataset of a prepared benchmark ``<data_root>/<name>/<split>``, checked against its manifest.

    ``targets`` are the folder labels (0-based original class ids) remapped to
    ``0..num_classes-1`` in numeric order; ``classes`` are the original class
    names; images are converted to RGB.
    """
    check_split(split)
    folder = Path(data_root) / name
    manifest = read_manifest(folder, name, data_root)
    if split not in manifest["splits"]:
        raise ValueError(
            f"{folder / MANIFEST_NAME} has no {split!r} split. Rebuild: {prepare_command(name, data_root, ' --force')}"
        )
    classes = manifest["splits"][split]["classes"]
    if verify:
        labels, images = verify_split(folder, manifest, split, name, data_root)
    else:
        labels = sort_class_folders(classes)
        images = [list_images(folder / split / label) for label in labels]
    samples = [(str(p), t) for t, imgs in enumerate(images) for p in imgs]
    names = [classes[label]["name"] for label in labels]
    return ImageListDataset(
        samples, names, transform=transform, mode="RGB", root=folder, split=split, class_folders=labels
    )


def _num(label: str):
    return (0, int(label)) if label.isdigit() else (1, label)
