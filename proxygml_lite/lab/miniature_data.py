"""Fabricated miniature CUB-200-2011, Cars196 and Stanford Online Products, for notebook 7's smoke run.

Without a GPU or without the real archives, notebook 7 still walks the real
pipeline: :func:`make_miniature_archives` writes a few small JPEGs per class
in each benchmark's *exact* raw layout (``CUB_200_2011.tgz`` with its
``images.txt``/``classes.txt``/...; ``car_ims.tgz`` plus ``cars_annos.mat``;
``Stanford_Online_Products.zip`` with ``Ebay_{train,test,info}.txt``) into
``<data_root>/archives/``, and :func:`prepare_miniature` runs the package's
own :func:`~proxygml_lite.data.prepare_dataset` on them (checksums, safe
extraction, class-disjoint split, manifest) with the benchmark's
:class:`~proxygml_lite.data.prepare.DatasetSpec` shrunk to fit (fewer classes
and images, the miniature's checksums). The prepared folder then loads with
``load_dataset(name, data_root)`` and trains with ``--dataset <name>``.

The archive writers (:func:`write_cub_archive`, :func:`write_cars_archives`,
:func:`write_sop_archive`) take the images per class, so the tests fabricate
their own (smaller, some broken) archives with them, and :func:`fitted_spec`
fits the real spec to any fabricated archive.

The images are synthetic colour patterns (one base pattern per class plus
noise), **not** birds, cars or products: any number trained on them is a
check that the code path works, never a result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import tarfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = [
    "MINIATURE_SIZES",
    "SOP_SUPER",
    "fitted_spec",
    "make_miniature_archives",
    "miniature_spec",
    "prepare_miniature",
    "write_cars_archives",
    "write_cub_archive",
    "write_sop_archive",
]

#: (training classes, test classes, images per class) of each miniature.
MINIATURE_SIZES: dict[str, tuple[int, int, int]] = {
    "cub200": (8, 8, 6),
    "cars196": (8, 8, 6),
    "online_products": (16, 16, 3),
}
SOP_SUPER = (
    "bicycle_final",
    "cabinet_final",
    "chair_final",
    "coffee_maker_final",
    "fan_final",
    "kettle_final",
    "lamp_final",
    "mug_final",
    "sofa_final",
    "stapler_final",
    "table_final",
    "toaster_final",
)


def _canonical(name: str) -> str:
    from ..registry import DATASETS

    name = DATASETS.canonical(name) if name in DATASETS else name  # "sop" -> "online_products"
    if name not in MINIATURE_SIZES:
        raise ValueError(f"no miniature of {name!r}; choose one of cub200, cars196, online_products (sop)")
    return name


def _jpegs(num_classes: int, per_class: int, size: int, seed: int) -> list[list[bytes]]:
    """Per class: ``per_class`` JPEGs of one random base pattern plus noise (so a network can learn the classes)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(num_classes):
        base = rng.integers(0, 256, (size // 4, size // 4, 3)).repeat(4, axis=0).repeat(4, axis=1)
        images = []
        for _ in range(per_class):
            pixels = np.clip(base + rng.normal(0, 40, base.shape), 0, 255).astype(np.uint8)
            buffer = io.BytesIO()
            Image.fromarray(pixels, "RGB").save(buffer, "JPEG", quality=90)
            images.append(buffer.getvalue())
        out.append(images)
    return out


#: (x, y, width, height) of every fabricated bounding box; the pipeline never reads the boxes, only needs their files.
_BOX = (1, 1, 30, 30)

#: Changes to an archive's members (for the tests' broken archives): bytes replace or add a member, ``None`` leaves one out.
MemberChanges = Mapping[str, "bytes | None"]


def _changed(members: dict[str, bytes | None], changes: MemberChanges) -> dict[str, bytes | None]:
    for name, data in changes.items():
        if data is None:
            members.pop(name)
        else:
            members[name] = data  # a replaced member keeps its place, an added one comes last
    return members


def _write_tar(path: Path, members: dict[str, bytes | None]) -> Path:
    """A gzipped tar of ``members`` (``None``: a folder), every entry with one fixed mtime."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.mtime = 1_300_000_000
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def write_cub_archive(
    folder: Path,
    jpegs: Sequence[Sequence[bytes]],
    *,
    bird: Callable[[int], str] = "Miniature_bird_{}".format,
    changes: MemberChanges | None = None,
) -> Path:
    """``folder/CUB_200_2011.tgz`` with one class per entry of ``jpegs``, the odd images of each class training.

    ``bird(c)`` names class ``c`` (1-based): its folder is ``{c:03d}.{bird(c)}``, as in the real archive.
    """
    members: dict[str, bytes | None] = {"CUB_200_2011": None}
    members["CUB_200_2011/README"] = b"miniature CUB-200-2011 layout, fabricated by proxygml_lite\n"
    classes, images, labels, split, files = [], [], [], [], {}
    image_id = 0
    for c, per_class in enumerate(jpegs, 1):
        cname = f"{c:03d}.{bird(c)}"
        classes.append(f"{c} {cname}")
        for k, data in enumerate(per_class):
            image_id += 1
            rel = f"{cname}/{bird(c)}_{k + 1:04d}_{1000 + image_id}.jpg"
            images.append(f"{image_id} {rel}")
            labels.append(f"{image_id} {c}")
            split.append(f"{image_id} {k % 2}")
            files[f"CUB_200_2011/images/{rel}"] = data
    box = " ".join(f"{v:.1f}" for v in _BOX)
    texts = {
        "classes.txt": classes,
        "images.txt": images,
        "image_class_labels.txt": labels,
        "train_test_split.txt": split,
        "bounding_boxes.txt": [f"{i + 1} {box}" for i in range(image_id)],
    }
    members.update({f"CUB_200_2011/{name}": ("\n".join(lines) + "\n").encode() for name, lines in texts.items()})
    members["CUB_200_2011/images"] = None
    members.update(files)
    folder.mkdir(parents=True, exist_ok=True)
    return _write_tar(folder / "CUB_200_2011.tgz", _changed(members, changes or {}))


def write_cars_archives(
    folder: Path,
    jpegs: Sequence[Sequence[bytes]],
    *,
    model: Callable[[int], str] = "Miniature Maker Model {} 2012".format,
) -> tuple[Path, Path]:
    """``folder/car_ims.tgz`` and ``folder/cars_annos.mat`` (the real struct fields) with one class per entry of ``jpegs``.

    ``model(c)`` names class ``c`` (1-based). The images are shuffled, as the real annotation file is not sorted by class.
    """
    import scipy.io

    fields = [
        ("relative_im_path", "O"),
        ("bbox_x1", "O"),
        ("bbox_y1", "O"),
        ("bbox_x2", "O"),
        ("bbox_y2", "O"),
        ("class", "O"),
        ("test", "O"),
    ]
    order = [(c, data) for c, per_class in enumerate(jpegs, 1) for data in per_class]
    np.random.default_rng(0).shuffle(order)
    members: dict[str, bytes | None] = {"car_ims": None}
    rows = []
    for n, (c, data) in enumerate(order, 1):
        rel = f"car_ims/{n:06d}.jpg"
        members[rel] = data
        small = [np.array([[v]], np.uint8) for v in (*_BOX, c, n % 2)]
        rows.append((rel, *small))
    folder.mkdir(parents=True, exist_ok=True)
    ims = _write_tar(folder / "car_ims.tgz", members)
    annotations = np.empty((1, len(rows)), dtype=fields)
    for i, row in enumerate(rows):
        annotations[0, i] = row
    class_names = np.empty((1, len(jpegs)), dtype=object)
    for c in range(len(jpegs)):
        class_names[0, c] = model(c + 1)
    annos = folder / "cars_annos.mat"
    scipy.io.savemat(annos, {"annotations": annotations, "class_names": class_names})
    return ims, annos


def write_sop_archive(
    folder: Path, jpegs: Sequence[Sequence[bytes]], train_classes: int, *, changes: MemberChanges | None = None
) -> Path:
    """``folder/Stanford_Online_Products.zip`` with ``Ebay_{train,test,info}.txt`` and super-category folders.

    Each entry of ``jpegs`` is one product (class); the first ``train_classes`` train.
    """
    header = "image_id class_id super_class_id path"
    rows: dict[str, list[str]] = {"train": [], "test": []}
    files = {}
    image_id = 0
    for cls, per_class in enumerate(jpegs, 1):
        split = "train" if cls <= train_classes else "test"
        sup = (cls - 1) % len(SOP_SUPER) + 1
        product = 100_000_000_000 + 7919 * cls
        for k, data in enumerate(per_class):
            image_id += 1
            rel = f"{SOP_SUPER[sup - 1]}/{product}_{k}.JPG"
            rows[split].append(f"{image_id} {cls} {sup} {rel}")
            files[f"Stanford_Online_Products/{rel}"] = data
    members = {"Stanford_Online_Products/": b""}
    for split in ("train", "test"):
        members[f"Stanford_Online_Products/Ebay_{split}.txt"] = "\n".join([header] + rows[split]) + "\n"
    members["Stanford_Online_Products/Ebay_info.txt"] = "\n".join([header] + rows["train"] + rows["test"]) + "\n"
    members.update(files)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "Stanford_Online_Products.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in _changed(members, changes or {}).items():
            zf.writestr(name, data)
    return path


def make_miniature_archives(
    name: str, data_root: str | os.PathLike, *, image_size: int = 32, seed: int = 0
) -> list[Path]:
    """Write the miniature raw archive(s) of benchmark ``name`` to ``<data_root>/archives/``; returns their paths."""
    name = _canonical(name)
    train, test, per_class = MINIATURE_SIZES[name]
    archives = Path(data_root) / "archives"
    jpegs = _jpegs(train + test, per_class, image_size, seed)
    if name == "cub200":
        return [write_cub_archive(archives, jpegs)]
    if name == "cars196":
        return list(write_cars_archives(archives, jpegs))
    return [write_sop_archive(archives, jpegs, train)]


def fitted_spec(
    name: str,
    *,
    md5s: Mapping[str, str],
    counts: dict[str, tuple[int, int]] | None,
    first_test_class: int | None = None,
    mirrors: Mapping[str, tuple[str, ...]] | None = None,
    title: str | None = None,
):
    """The real :class:`DatasetSpec` of ``name`` fitted to fabricated archives.

    A file's checksum comes from ``md5s`` (else the published one) and its mirrors from ``mirrors`` (else none);
    ``counts`` replace the expected counts, ``first_test_class`` and ``title`` (when given) the real ones.
    """
    from ..data.prepare import SPECS

    spec = SPECS[name]
    sources = []
    for source in spec.sources:
        fname = source.remote.filename
        remote = dataclasses.replace(
            source.remote, md5=md5s.get(fname, source.remote.md5), mirrors=tuple((mirrors or {}).get(fname, ()))
        )
        sources.append(dataclasses.replace(source, remote=remote))
    changes = {"sources": tuple(sources), "counts": counts}
    if first_test_class is not None:
        changes["first_test_class"] = first_test_class
    if title is not None:
        changes["title"] = title
    return dataclasses.replace(spec, **changes)


def miniature_spec(name: str, archives: list[Path]):
    """The real :class:`DatasetSpec` of ``name`` with the miniature's checksums, split and counts, no mirrors."""
    from ..data.download import file_checksum
    from ..data.prepare import SPECS

    name = _canonical(name)
    train, test, per_class = MINIATURE_SIZES[name]
    return fitted_spec(
        name,
        md5s={path.name: file_checksum(path) for path in archives},
        counts={"train": (train, train * per_class), "test": (test, test * per_class)},
        first_test_class=None if SPECS[name].first_test_class is None else train + 1,
        title=SPECS[name].title + " (fabricated miniature)",
    )


@contextlib.contextmanager
def _spec_in_place(spec):
    from ..data import prepare

    original = prepare.SPECS[spec.name]
    prepare.SPECS[spec.name] = spec
    try:
        yield
    finally:
        prepare.SPECS[spec.name] = original


def prepare_miniature(
    name: str, data_root: str | os.PathLike, *, image_size: int = 32, seed: int = 0, progress: bool = False
) -> Path:
    """Fabricate the miniature archives of ``name`` and prepare them with the real pipeline; returns the prepared folder.

    Use a scratch ``data_root`` (never the one holding the real benchmark): the
    prepared folder ``<data_root>/<name>`` has the real layout and name.
    """
    from ..data.prepare import prepare_dataset

    name = _canonical(name)
    archives = make_miniature_archives(name, data_root, image_size=image_size, seed=seed)
    with _spec_in_place(miniature_spec(name, archives)):
        return prepare_dataset(name, data_root, progress=progress, log=print if progress else (lambda _msg: None))
