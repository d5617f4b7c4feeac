"""Prepare CUB-200-2011, Cars196 and Stanford Online Products for ProxyGML.

``prepare_dataset(name, data_root)`` turns the original archives into the
official ProxyGML layout ``<data_root>/<name>/{train,test}/<label>/<image>``
(``name`` in cub200, cars196, online_products; ``label`` the 0-based class id,
so cub200 has train 0..99 and test 100..199) plus ``manifest.json``::

    <data_root>/archives/   the archives (downloaded with --download, or placed by hand)
    <data_root>/raw/<name>/ the extracted archives (atomic, skipped when present)
    <data_root>/<name>/     the prepared folder: hard links into raw/ (copies
                            across file systems), built in a temporary folder
                            next to it and renamed when complete

Every step checks what it is given (checksums, annotation files, that every
image decodes, the class and image counts of the standard split) and stops with
an error naming the file and the fix; nothing half-prepared is left behind. A
second run finds the verified folder and does nothing.
"""

from __future__ import annotations

import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from PIL import Image
from tqdm.auto import tqdm

from .download import ChecksumError, RemoteFile, download_file, manual_steps, verify_file
from .extract import extract_archive, place_file, remove_stale_temp_dirs, temp_dir_next_to
from .manifest import FORMAT, MANIFEST_NAME, prepare_command, read_manifest, verify_split, write_manifest
from .raw import RawImage, read_cars, read_cub, read_sop

__all__ = ["DatasetSpec", "Source", "SPECS", "BENCHMARKS", "canonical_benchmark", "prepare_dataset",
           "check_image", "raw_dir", "archives_dir"]

LINK_MODES = ("hardlink", "copy", "symlink")


@dataclass(frozen=True)
class Source:
    """A source file and what it unpacks to in ``raw/<name>/``.

    ``unpacks_to`` is the top folder of an archive (``CUB_200_2011``), or the
    file name itself for a plain file (``cars_annos.mat``), which is linked in.
    """

    remote: RemoteFile
    unpacks_to: str

    @property
    def is_archive(self) -> bool:
        return self.unpacks_to != self.remote.filename


@dataclass(frozen=True)
class DatasetSpec:
    """Everything prepare needs to know about one benchmark.

    ``first_test_class``: classes with a smaller 1-based id train, the others
    test (``None``: the raw files give the split). ``counts``: the expected
    ``(classes, images)`` per split, checked after reading the annotations
    (``None`` skips the check). Tests shrink these with ``dataclasses.replace``.
    """

    name: str
    title: str
    sources: tuple[Source, ...]
    reader: Callable[[Path, int | None], list[RawImage]]
    first_test_class: int | None
    counts: dict[str, tuple[int, int]] | None
    homepage: str


_CUB_MD5 = "97eceeb196236b17998738112f37df78"
_CARS_IMS_MD5 = "d5c8f0aa497503f355e17dc7886c3f14"
_CARS_ANNOS_MD5 = "b407c6086d669747186bd1d764ff9dbc"
_SOP_MD5 = "7f73d41a2f44250d4779881525aea32e"
_CARS_HF = "https://huggingface.co/datasets/XiN0919/FGVC/resolve/921e8dce38536cd5982739d85d5e9235d2cb2a76/"
_CARS_NOTE = (
    "the Stanford addresses are the original ones, now offline (torchvision disabled its Stanford Cars "
    "download for this reason); the huggingface.co address is a third-party copy, accepted only if its md5 "
    "matches. Repackaged copies (class folders, cars_train.tgz/cars_test.tgz) have another layout and are "
    "not accepted"
)

SPECS: dict[str, DatasetSpec] = {
    "cub200": DatasetSpec(
        name="cub200",
        title="CUB-200-2011",
        sources=(
            Source(RemoteFile(
                "CUB_200_2011.tgz",
                mirrors=(
                    "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz?download=1",
                    "https://s3.amazonaws.com/fast-ai-imageclas/CUB_200_2011.tgz",
                    "http://www.vision.caltech.edu/visipedia-data/CUB-200-2011/CUB_200_2011.tgz",
                ),
                md5=_CUB_MD5,
                homepage="https://data.caltech.edu/records/65de6-vp158",
                note="about 1.1 GB",
            ), "CUB_200_2011"),
        ),
        reader=read_cub,
        first_test_class=101,
        counts={"train": (100, 5864), "test": (100, 5924)},
        homepage="https://www.vision.caltech.edu/datasets/cub_200_2011/",
    ),
    "cars196": DatasetSpec(
        name="cars196",
        title="Cars196 (Stanford Cars)",
        sources=(
            Source(RemoteFile(
                "car_ims.tgz",
                mirrors=(
                    _CARS_HF + "car_ims.tgz",
                    "http://ai.stanford.edu/~jkrause/car196/car_ims.tgz",
                    "http://imagenet.stanford.edu/internal/car196/car_ims.tgz",
                ),
                md5=_CARS_IMS_MD5,
                homepage="https://ai.stanford.edu/~jkrause/cars/car_dataset.html",
                note="about 1.9 GB; " + _CARS_NOTE,
            ), "car_ims"),
            Source(RemoteFile(
                "cars_annos.mat",
                mirrors=(
                    _CARS_HF + "cars_annos.mat",
                    "http://ai.stanford.edu/~jkrause/car196/cars_annos.mat",
                    "http://imagenet.stanford.edu/internal/car196/cars_annos.mat",
                ),
                md5=_CARS_ANNOS_MD5,
                homepage="https://ai.stanford.edu/~jkrause/cars/car_dataset.html",
                note="about 0.4 MB; " + _CARS_NOTE,
            ), "cars_annos.mat"),
        ),
        reader=read_cars,
        first_test_class=99,
        counts={"train": (98, 8054), "test": (98, 8131)},
        homepage="https://ai.stanford.edu/~jkrause/cars/car_dataset.html",
    ),
    "online_products": DatasetSpec(
        name="online_products",
        title="Stanford Online Products",
        sources=(
            Source(RemoteFile(
                "Stanford_Online_Products.zip",
                mirrors=(
                    # the Google Drive link of the authors' repository (rksltnl/Deep-Metric-Learning-CVPR16)
                    "https://drive.usercontent.google.com/download?id=1TclrpQOF_ullUP99wk_gjGN8pKvtErG8"
                    "&export=download&authuser=0&confirm=t",
                    "http://ftp.cs.stanford.edu/cs/cvgl/Stanford_Online_Products.zip",
                    "ftp://cs.stanford.edu/cs/cvgl/Stanford_Online_Products.zip",
                ),
                md5=_SOP_MD5,
                homepage="https://cvgl.stanford.edu/projects/lifted_struct/",
                note="about 2.9 GB",
            ), "Stanford_Online_Products"),
        ),
        reader=read_sop,
        first_test_class=None,
        counts={"train": (11318, 59551), "test": (11316, 60502)},
        homepage="https://cvgl.stanford.edu/projects/lifted_struct/",
    ),
}

BENCHMARKS = tuple(SPECS)
_ALIASES = {"sop": "online_products"}


def canonical_benchmark(name: str) -> str:
    """``"sop"`` -> ``"online_products"``; ValueError for names that are not benchmarks."""
    name = _ALIASES.get(name, name)
    if name not in SPECS:
        raise ValueError(f"unknown benchmark {name!r}; choose one of cub200, cars196, online_products (sop)")
    return name


def archives_dir(data_root: str | os.PathLike) -> Path:
    return Path(data_root) / "archives"


def raw_dir(data_root: str | os.PathLike, name: str) -> Path:
    return Path(data_root) / "raw" / name


def check_image(path: str | os.PathLike) -> None:
    """Decode ``path`` fully with PIL (JPEGs at reduced scale, which still reads every byte)."""
    with Image.open(path) as img:
        if img.format == "JPEG":
            img.draft("RGB", (64, 64))
        img.load()


def prepare_dataset(
    name: str,
    data_root: str | os.PathLike = "data",
    download: bool = False,
    *,
    force: bool = False,
    verify_images: bool = True,
    link: str = "hardlink",
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Prepare benchmark ``name`` under ``data_root`` and return the prepared folder.

    ``download``: fetch missing archives (mirrors in order, resumable,
    checksum-verified); without it a missing archive raises FileNotFoundError
    with the manual steps. ``force``: rebuild a prepared folder (the old one
    is replaced only once the new one is complete). ``verify_images``: decode
    every image (a corrupt one raises ValueError naming it). ``link``:
    ``hardlink`` (falls back to copies), ``copy`` or ``symlink``.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    spec = SPECS[canonical_benchmark(name)]
    if link not in LINK_MODES:
        raise ValueError(f"link must be one of {', '.join(LINK_MODES)}, not {link!r}")
    root = Path(data_root)
    target = root / spec.name
    if target.exists() and not force:
        problem = _prepared_problem(target, spec.name, root)
        if problem is None:
            log(f"{spec.title}: {target} is already prepared and matches its {MANIFEST_NAME}; nothing to do")
            return target
        raise ValueError(
            f"{target} exists but is not a complete prepared copy ({problem}). Rebuild it with "
            f"{prepare_command(spec.name, data_root, ' --force')} (the old folder is replaced only when the new "
            "one is complete), or move it away"
        )
    _ensure_raw(spec, root, download=download, progress=progress, log=log)
    items = spec.reader(raw_dir(root, spec.name), spec.first_test_class)
    splits = _check_items(spec, items, raw_dir(root, spec.name))
    if verify_images:
        _verify_images(items, raw_dir(root, spec.name), progress)
    _build(spec, root, splits, link=link, progress=progress, log=log)
    for split, classes in splits.items():
        log(f"{spec.title} {split}: {len(classes)} classes, {sum(len(v[1]) for v in classes.values())} images")
    log(f"{spec.title}: prepared in {target}")
    return target


# --------------------------------------------------------------------------- steps


def _prepared_problem(target: Path, name: str, root: Path) -> str | None:
    try:
        manifest = read_manifest(target, name, root)
        for split in ("train", "test"):
            verify_split(target, manifest, split, name, root)
    except (FileNotFoundError, ValueError, KeyError) as err:
        return str(err).split("\n")[0]
    return None


def _ensure_raw(spec: DatasetSpec, root: Path, *, download: bool, progress, log) -> None:
    """Make sure every source is unpacked in ``raw/<name>``: verify, download, extract."""
    raw = raw_dir(root, spec.name)
    archives = archives_dir(root)
    pending = [s for s in spec.sources if not (raw / s.unpacks_to).exists()]
    if not pending:
        log(f"{spec.title}: raw files already in {raw}")
        return
    missing = [s for s in pending if not (archives / s.remote.filename).exists()]
    if missing and not download:
        steps = "\n\n".join(manual_steps(s.remote, archives) for s in missing)
        names = ", ".join(s.remote.filename for s in missing)
        raise FileNotFoundError(
            f"{spec.title}: {names} not found in {archives}. Run again with --download "
            f"({prepare_command(spec.name, root, ' --download')}), or fetch by hand:\n\n{steps}"
        )
    for source in pending:
        path = archives / source.remote.filename
        if source in missing:
            download_file(source.remote, archives, progress=progress, log=log)
        else:
            try:
                verify_file(path, source.remote, progress=progress)
            except ChecksumError as err:
                raise ChecksumError(
                    f"{err} This file was placed by hand or downloaded earlier; it is left as it is. Replace it "
                    f"with the original (or delete it and use --download).\n" + manual_steps(source.remote, archives)
                ) from None
            log(f"{path.name}: {source.remote.algorithm} verified")
        if source.is_archive:
            extract_archive(path, raw, source.unpacks_to, progress=progress, log=log)
        else:
            place_file(path, raw)


Grouped = dict[str, dict[int, tuple[str, list[RawImage]]]]  # split -> class id -> (name, images)


def _check_items(spec: DatasetSpec, items: list[RawImage], raw: Path) -> Grouped:
    """Group by split and class; check files exist, counts, disjoint classes."""
    absent = [str(i.path) for i in items if not i.path.is_file()]
    if absent:
        more = f" (and {len(absent) - 3} more)" if len(absent) > 3 else ""
        raise FileNotFoundError(
            f"{spec.title}: annotated image(s) missing: {', '.join(absent[:3])}{more}. The extracted folder {raw} "
            f"is incomplete; delete {raw} and run prepare again"
        )
    splits: Grouped = {"train": {}, "test": {}}
    for item in items:
        cls = splits[item.split].setdefault(item.class_id, (item.class_name, []))
        cls[1].append(item)
    both = set(splits["train"]) & set(splits["test"])
    if both:
        raise ValueError(f"{spec.title}: classes {sorted(both)[:5]} are in both train and test; "
                         "the annotation files are not the original")
    if spec.counts is not None:
        for split, (n_classes, n_images) in spec.counts.items():
            got_c = len(splits[split])
            got_i = sum(len(v[1]) for v in splits[split].values())
            if (got_c, got_i) != (n_classes, n_images):
                raise ValueError(
                    f"{spec.title} {split}: found {got_c} classes / {got_i:,} images, the standard split has "
                    f"{n_classes} / {n_images:,}. The files in {raw} are not the original release; delete {raw} "
                    "and run prepare again with the original archive"
                )
    return splits


def _verify_images(items: list[RawImage], raw: Path, progress) -> None:
    def check(item: RawImage):
        try:
            check_image(item.path)
        except Exception as err:  # PIL raises many types for broken files
            return f"{item.path} ({type(err).__name__}: {err})"
        return None

    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        results = list(tqdm(pool.map(check, items, chunksize=64), total=len(items), unit=" img",
                            desc="verify images", disable=None if progress is None else not progress))
    bad = [r for r in results if r]
    if bad:
        more = f"\n  ... and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise ValueError(
            f"{len(bad)} image(s) cannot be decoded by PIL:\n  " + "\n  ".join(bad[:5]) + more
            + f"\nNothing was prepared. The archives are checksum-verified before extraction, so the extracted "
            f"copy was changed since: delete {raw} and run prepare again (--no-verify-images skips this check)"
        )


def _build(spec: DatasetSpec, root: Path, splits, *, link: str, progress, log) -> None:
    """Link the images into a temporary folder, write the manifest, rename it into place."""
    target = root / spec.name
    remove_stale_temp_dirs(root, f".{spec.name}.build")
    remove_stale_temp_dirs(root, f".{spec.name}.old")
    tmp = temp_dir_next_to(target, "build")
    fallback = [False]

    def put(src: Path, dst: Path) -> None:
        if link == "symlink":
            os.symlink(src.resolve(), dst)
            return
        if link == "hardlink" and not fallback[0]:
            try:
                os.link(src, dst)
                return
            except OSError:
                fallback[0] = True
                log("hard links are not possible here; copying the images instead")
        shutil.copy2(src, dst)

    try:
        manifest_splits = {}
        total = sum(len(v[1]) for classes in splits.values() for v in classes.values())
        with tqdm(total=total, unit=" img", desc=f"prepare {spec.name}",
                  disable=None if progress is None else not progress) as bar:
            for split, classes in splits.items():
                entry = {}
                for class_id in sorted(classes):
                    class_name, items = classes[class_id]
                    label = str(class_id - 1)
                    folder = tmp / split / label
                    folder.mkdir(parents=True)
                    for item in items:
                        dst = folder / item.path.name
                        if dst.exists():
                            raise ValueError(f"two images of class {class_name!r} share the file name {item.path.name}")
                        put(item.path, dst)
                        bar.update(1)
                    entry[label] = {"name": class_name, "images": len(items)}
                manifest_splits[split] = {
                    "num_classes": len(entry),
                    "num_images": sum(e["images"] for e in entry.values()),
                    "classes": entry,
                }
        write_manifest(tmp, {
            "format": FORMAT,
            "dataset": spec.name,
            "title": spec.title,
            "layout": "<split>/<label>/<image>, label = 0-based class id of the original release",
            "sources": [{"file": s.remote.filename, s.remote.algorithm: s.remote.checksum} for s in spec.sources],
            "link": "copy" if (link == "hardlink" and fallback[0]) else link,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "splits": manifest_splits,
        })
        old = None
        if target.exists():
            old = temp_dir_next_to(target, "old")
            os.rename(target, old / spec.name)
        os.rename(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
