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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tqdm.auto import tqdm

from .download import ChecksumError, download_file, file_checksum, manual_steps
from .extract import extract_archive, place_file, remove_stale_temp_dirs, temp_dir_next_to
from .images import BadImagesError, bad_images_message, check_image, find_bad_images
from .manifest import FORMAT, MANIFEST_NAME, prepare_command, read_manifest, verify_split, write_manifest
from .origin import accepted_record, raw_fix, record_origin, source_records, verified_record
from .raw import RawImage
from .specs import BENCHMARKS, LINK_MODES, SPECS, DatasetSpec, Source, canonical_benchmark

__all__ = [
    "DatasetSpec",
    "Source",
    "SPECS",
    "BENCHMARKS",
    "canonical_benchmark",
    "prepare_dataset",
    "check_image",
    "raw_dir",
    "archives_dir",
    "PrepareInterrupted",
]


class PrepareInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`prepare_dataset`; the message says what was cleaned up and how to continue."""


def archives_dir(data_root: str | os.PathLike) -> Path:
    return Path(data_root) / "archives"


def raw_dir(data_root: str | os.PathLike, name: str) -> Path:
    return Path(data_root) / "raw" / name


def prepare_dataset(
    name: str,
    data_root: str | os.PathLike = "data",
    download: bool = False,
    *,
    force: bool = False,
    verify_images: bool = True,
    link: str = "hardlink",
    accept_checksum: bool = False,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Prepare benchmark ``name`` under ``data_root`` and return the prepared folder.

    ``download``: fetch missing archives (mirrors in order, resumable,
    checksum-verified); without it a missing archive raises FileNotFoundError
    with the manual steps. ``force``: rebuild a prepared folder (the old one
    is replaced only once the new one is complete). ``verify_images``: decode
    every image (corrupt ones raise :class:`~proxygml_lite.data.images.BadImagesError`
    naming each). ``link``: ``hardlink`` (falls back to copies), ``copy`` or
    ``symlink``. ``accept_checksum``: use an archive placed in ``archives/``
    by hand although its checksum differs from the published one (a re-packed
    copy), with a loud warning; the manifest records its actual checksum and
    that it was not verified.

    Ctrl-C raises :class:`PrepareInterrupted` (a ``KeyboardInterrupt``) whose
    message says what was cleaned up and the command that continues.
    """
    log = log or (lambda msg: print(msg, file=sys.stderr))
    spec = SPECS[canonical_benchmark(name)]
    if link not in LINK_MODES:
        raise ValueError(f"link must be one of {', '.join(LINK_MODES)}, not {link!r}")
    root = Path(data_root)
    target = root / spec.name
    stage = ["checking what is there"]
    flags = (
        (" --download" if download else "")
        + (" --accept-checksum" if accept_checksum else "")
        + (" --force" if force else "")
    )
    try:
        if target.exists() and not force:
            problem = _prepared_problem(target, spec.name, root)
            if problem is None:
                log(f"{spec.title}: {target} is already prepared and matches its {MANIFEST_NAME}; nothing to do")
                return target
            raise ValueError(
                f"{target} exists but is not a complete prepared copy: {problem}. Rebuild it with "
                f"{prepare_command(spec.name, data_root, ' --force')} (the old folder is replaced only when the "
                "new one is complete), or move it away"
            )
        _ensure_raw(
            spec, root, download=download, accept_checksum=accept_checksum, progress=progress, log=log, stage=stage
        )
        raw = raw_dir(root, spec.name)
        fix = raw_fix(spec, raw, archives_dir(root))
        stage[0] = f"reading the annotations in {raw}"
        try:
            items = spec.reader(raw, spec.first_test_class)
            splits = _check_items(spec, items, raw)
        except (FileNotFoundError, ValueError) as err:
            raise type(err)(f"{str(err).rstrip('. ')}. Nothing was prepared. {fix}") from None
        if verify_images:
            stage[0] = f"decoding the images in {raw}"
            _verify_images(items, raw, progress, fix)
        stage[0] = f"building {target}"
        _build(spec, root, splits, link=link, progress=progress, log=log)
    except KeyboardInterrupt:
        raise PrepareInterrupted(
            f"Interrupted while {stage[0]}: temporary folders were removed, nothing half-prepared is left in "
            f"{root} (a partial download stays as archives/<file>.part and resumes). To continue: "
            f"{prepare_command(spec.name, data_root, flags)}"
        ) from None
    for split, classes in splits.items():
        log(f"{spec.title} {split}: {len(classes)} classes, {sum(len(v[1]) for v in classes.values())} images")
    log(f"{spec.title}: prepared in {target}")
    return target


# --------------------------------------------------------------------------- steps


def _prepared_problem(target: Path, name: str, root: Path) -> str | None:
    """What is wrong with an existing prepared folder (one sentence, without the fix), or None."""
    try:
        manifest = read_manifest(target, name, root)
        for split in ("train", "test"):
            verify_split(target, manifest, split, name, root)
    except (FileNotFoundError, ValueError, KeyError) as err:
        return str(getattr(err, "problem", None) or str(err).split("\n")[0]).rstrip(". ")
    return None


def _loud(log, lines: list[str]) -> None:
    bar = "!" * 78
    log("\n".join([bar, *lines, bar]))


def _ensure_raw(
    spec: DatasetSpec, root: Path, *, download: bool, accept_checksum: bool, progress, log, stage: list[str]
) -> None:
    """Make sure every source is unpacked in ``raw/<name>``: verify, download, extract; record where it came from."""
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
        algorithm = source.remote.algorithm
        if source in missing:
            stage[0] = f"downloading {path.name}"
            download_file(source.remote, archives, progress=progress, log=log)
            record = verified_record(source, source.remote.checksum)
        else:
            stage[0] = f"checking the {algorithm} of {path.name}"
            actual = file_checksum(path, algorithm, progress=progress)
            if actual == source.remote.checksum:
                record = verified_record(source, actual)
                log(f"{path.name}: {algorithm} verified")
            elif not accept_checksum:
                raise ChecksumError(
                    f"{path} has {algorithm} {actual}, the published {source.remote.filename} has "
                    f"{source.remote.checksum}. This file was placed by hand or downloaded earlier; it is left as it "
                    f"is. Replace it with the original (or move it out of {archives} and use --download), or, if it "
                    f"is a re-packed copy you trust, run again with --accept-checksum: prepare then uses it and "
                    f"records its actual {algorithm} in {MANIFEST_NAME}.\n" + manual_steps(source.remote, archives),
                    actual=actual,
                    expected=source.remote.checksum,
                ) from None
            else:
                record = accepted_record(source, actual)
                _loud(
                    log,
                    [
                        f"WARNING: {path} has {algorithm} {actual},",
                        f"not the published {source.remote.checksum}. It is used because of --accept-checksum.",
                        "It is NOT the verified original: results on it may not be comparable with the paper's.",
                        f"The manifest records its actual {algorithm} and 'verified': false.",
                    ],
                )
        stage[0] = f"extracting {path.name}" if source.is_archive else f"copying {path.name}"
        if source.is_archive:
            extract_archive(path, raw, source.unpacks_to, progress=progress, log=log)
        else:
            place_file(path, raw)
        record_origin(raw, source, record)


Grouped = dict[str, dict[int, tuple[str, list[RawImage]]]]  # split -> class id -> (name, images)


def _check_items(spec: DatasetSpec, items: list[RawImage], raw: Path) -> Grouped:
    """Group by split and class; check files exist, counts, disjoint classes (errors without the fix)."""
    absent = [str(i.path) for i in items if not i.path.is_file()]
    if absent:
        more = f" (and {len(absent) - 3} more)" if len(absent) > 3 else ""
        raise FileNotFoundError(
            f"{spec.title}: annotated image(s) missing: {', '.join(absent[:3])}{more}; the extracted folder {raw} "
            "is incomplete"
        )
    splits: Grouped = {"train": {}, "test": {}}
    for item in items:
        cls = splits[item.split].setdefault(item.class_id, (item.class_name, []))
        cls[1].append(item)
    both = set(splits["train"]) & set(splits["test"])
    if both:
        raise ValueError(
            f"{spec.title}: classes {sorted(both)[:5]} are in both train and test; "
            "the annotation files are not the original"
        )
    if spec.counts is not None:
        for split, (n_classes, n_images) in spec.counts.items():
            got_c = len(splits[split])
            got_i = sum(len(v[1]) for v in splits[split].values())
            if (got_c, got_i) != (n_classes, n_images):
                raise ValueError(
                    f"{spec.title} {split}: found {got_c} classes / {got_i:,} images, the standard split has "
                    f"{n_classes} / {n_images:,}; the files in {raw} are not the original release"
                )
    return splits


def _verify_images(items: list[RawImage], raw: Path, progress, fix: str) -> None:
    bad = find_bad_images([item.path for item in items], progress=progress, desc="verify images")
    if bad:
        raise BadImagesError(bad_images_message(bad, raw, f"Nothing was prepared. {fix}"), bad)


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
        with tqdm(
            total=total, unit=" img", desc=f"prepare {spec.name}", disable=None if progress is None else not progress
        ) as bar:
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
        write_manifest(
            tmp,
            {
                "format": FORMAT,
                "dataset": spec.name,
                "title": spec.title,
                "layout": "<split>/<label>/<image>, label = 0-based class id of the original release",
                "sources": source_records(spec, raw_dir(root, spec.name)),  # what was verified, truthfully
                "link": "copy" if (link == "hardlink" and fallback[0]) else link,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "splits": manifest_splits,
            },
        )
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
