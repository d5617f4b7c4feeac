"""Miniature copies of the benchmark archives, in each dataset's exact raw layout.

Used by tests/test_data_prepare.py and tests/test_data_download.py: a few 8x8
JPEGs per class, the real annotation file formats and names, fewer classes.
:func:`small_spec` returns the real :class:`DatasetSpec` with the split
boundary, the expected counts and the checksums replaced to fit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import random
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from proxygml_lite.data.prepare import SPECS
from proxygml_lite.lab.miniature_data import _SOP_SUPER as SOP_SUPER  # one list of the SOP super-categories


def jpeg_bytes(seed: int, size: int = 8) -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), "RGB")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


CORRUPT = b"this is not an image at all\n" * 4


def md5(path: Path) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1_300_000_000
    tar.addfile(info, io.BytesIO(data))


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


def make_cub(
    folder: Path,
    per_class=(3, 2, 2, 3),
    omit: str | None = None,
    corrupt: str | None = None,
    extra_members: dict[str, bytes] | None = None,
) -> Path:
    """``CUB_200_2011.tgz`` with len(per_class) classes; returns its path.

    ``omit``: a file name under CUB_200_2011/ left out; ``corrupt``: the
    image path (``images.txt`` form) whose bytes are not an image.
    """
    folder.mkdir(parents=True, exist_ok=True)
    classes, images, labels, split = [], [], [], []
    files: dict[str, bytes] = {}
    image_id = 0
    for c, n in enumerate(per_class, 1):
        cname = f"{c:03d}.Bird_{chr(64 + c)}"
        classes.append(f"{c} {cname}")
        for k in range(n):
            image_id += 1
            rel = f"{cname}/Bird_{chr(64 + c)}_{k + 1:04d}_{1000 + image_id}.jpg"
            images.append(f"{image_id} {rel}")
            labels.append(f"{image_id} {c}")
            split.append(f"{image_id} {k % 2}")
            files[f"CUB_200_2011/images/{rel}"] = CORRUPT if rel == corrupt else jpeg_bytes(image_id)
    texts = {
        "classes.txt": classes,
        "images.txt": images,
        "image_class_labels.txt": labels,
        "train_test_split.txt": split,
        "bounding_boxes.txt": [f"{i + 1} 1.0 1.0 6.0 6.0" for i in range(image_id)],
    }
    path = folder / "CUB_200_2011.tgz"
    with tarfile.open(path, "w:gz") as tar:
        _add(tar, "attributes.txt", b"1 has_bill_shape::curved_(up_or_down)\n")
        _add_dir(tar, "CUB_200_2011")
        _add(tar, "CUB_200_2011/README", b"CUB-200-2011 miniature for tests\n")
        for name, lines in texts.items():
            if name != omit:
                _add(tar, f"CUB_200_2011/{name}", ("\n".join(lines) + "\n").encode())
        _add_dir(tar, "CUB_200_2011/images")
        for name, data in files.items():
            _add(tar, name, data)
        for name, data in (extra_members or {}).items():
            _add(tar, name, data)
    return path


def make_cars(folder: Path, per_class=(2, 3, 2, 2), corrupt: int | None = None) -> tuple[Path, Path]:
    """``car_ims.tgz`` + ``cars_annos.mat`` (scipy.io.savemat, real struct fields)."""
    import scipy.io

    folder.mkdir(parents=True, exist_ok=True)
    fields = [
        ("relative_im_path", "O"),
        ("bbox_x1", "O"),
        ("bbox_y1", "O"),
        ("bbox_x2", "O"),
        ("bbox_y2", "O"),
        ("class", "O"),
        ("test", "O"),
    ]
    rows = []
    n = 0
    order = [c for c, k in enumerate(per_class, 1) for _ in range(k)]
    random.Random(0).shuffle(order)  # the real file is not sorted by class
    ims = folder / "car_ims.tgz"
    with tarfile.open(ims, "w:gz") as tar:
        _add_dir(tar, "car_ims")
        for c in order:
            n += 1
            rel = f"car_ims/{n:06d}.jpg"
            _add(tar, rel, CORRUPT if n == corrupt else jpeg_bytes(100 + n))
            rows.append(
                (
                    rel,
                    np.array([[1]], np.uint8),
                    np.array([[1]], np.uint8),
                    np.array([[6]], np.uint8),
                    np.array([[6]], np.uint8),
                    np.array([[c]], np.uint8),
                    np.array([[n % 2]], np.uint8),
                )
            )
    annotations = np.empty((1, len(rows)), dtype=fields)
    for i, row in enumerate(rows):
        annotations[0, i] = row
    class_names = np.empty((1, len(per_class)), dtype=object)
    for c in range(len(per_class)):
        class_names[0, c] = f"Maker Model {c + 1} 2012"
    annos = folder / "cars_annos.mat"
    scipy.io.savemat(annos, {"annotations": annotations, "class_names": class_names})
    return ims, annos


def make_sop(
    folder: Path, train_classes: int = 3, test_classes: int = 2, per_class: int = 2, evil_member: str | None = None
) -> Path:
    """``Stanford_Online_Products.zip`` with Ebay_{train,test,info}.txt and super-class folders."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(1)
    header = "image_id class_id super_class_id path"
    rows = {"train": [], "test": []}
    files: dict[str, bytes] = {}
    image_id = 0
    for cls in range(1, train_classes + test_classes + 1):
        split = "train" if cls <= train_classes else "test"
        sup = (cls - 1) % len(SOP_SUPER) + 1
        product = rng.randrange(10**11, 10**12)
        for k in range(per_class):
            image_id += 1
            rel = f"{SOP_SUPER[sup - 1]}/{product}_{k}.JPG"
            rows[split].append(f"{image_id} {cls} {sup} {rel}")
            files[f"Stanford_Online_Products/{rel}"] = jpeg_bytes(500 + image_id)
    path = folder / "Stanford_Online_Products.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Stanford_Online_Products/", b"")
        for split in ("train", "test"):
            zf.writestr(f"Stanford_Online_Products/Ebay_{split}.txt", "\n".join([header] + rows[split]) + "\n")
        zf.writestr("Stanford_Online_Products/Ebay_info.txt", "\n".join([header] + rows["train"] + rows["test"]) + "\n")
        zf.writestr("Stanford_Online_Products/README", "SOP miniature for tests\n")
        for name, data in files.items():
            zf.writestr(name, data)
        if evil_member:
            zf.writestr(evil_member, b"escaped\n")
    return path


def small_spec(
    name: str,
    files: dict[str, Path] | None = None,
    *,
    counts=None,
    first_test_class=None,
    mirrors: dict[str, tuple[str, ...]] | None = None,
    md5s: dict[str, str] | None = None,
):
    """The real spec of ``name`` with checksums (from ``files`` or ``md5s``), mirrors, split and counts replaced."""
    spec = SPECS[name]
    md5s = dict(md5s or {})
    for fname, path in (files or {}).items():
        md5s.setdefault(fname, md5(path))
    sources = []
    for source in spec.sources:
        fname = source.remote.filename
        remote = dataclasses.replace(
            source.remote,
            md5=md5s.get(fname, source.remote.md5),
            mirrors=(mirrors or {}).get(fname, ()),
        )
        sources.append(dataclasses.replace(source, remote=remote))
    changes = {"sources": tuple(sources), "counts": counts}
    if first_test_class is not None:
        changes["first_test_class"] = first_test_class
    return dataclasses.replace(spec, **changes)


# ------------------------------------------------------------- prepared layout
def make_split(root: Path, labels, per_class: int, size: int = 16, seed: int = 0) -> None:
    """``root/<label>/<i>.png``: one random RGB pattern per class plus noise (a prepared split)."""
    rng = np.random.default_rng(seed)
    for label in labels:
        folder = Path(root) / str(label)
        folder.mkdir(parents=True)
        base = rng.integers(0, 256, (size, size, 3))
        for i in range(per_class):
            image = np.clip(base + rng.normal(0, 60, base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(image).save(folder / f"{i}.png")


def make_tiny_folder_dataset(root: Path, per_class: int = 3) -> Path:
    """A class-disjoint ``--dataset folder`` layout: 6 training classes, 4 test classes, 16x16 images."""
    make_split(Path(root) / "train", range(6), per_class, seed=1)
    make_split(Path(root) / "test", range(6, 10), per_class, seed=2)
    return Path(root)


#: The three commands of the official README (github.com/YuehuaZhu/ProxyGML), minus "python train.py".
OFFICIAL_README_COMMANDS = {
    "cub200": "-b 32 --gpu 2 --dataset cub200 --freeze_BN --epochs 50 --dim 512 --r 0.05 -C 100 --N 12 "
    "--weight_lambda 0.3 --centerlr 0.03 --rate 0.1 --new_epoch_to_decay 20 40",
    "cars196": "-b 32 --gpu 2 --dataset cars196 --freeze_BN --epochs 50 --dim 512 --r 0.05 -C 98 --N 12 "
    "--weight_lambda 0.3 --centerlr 0.03 --rate 0.1 --new_epoch_to_decay 20 40",
    "online_products": "-b 32 --gpu 2 --dataset online_products --epochs 50 --dim 512 --r 0.05 -C 11318 --N 1 "
    "--weight_lambda 0.0 --centerlr 0.3 --rate 0.1 --new_epoch_to_decay 20 40",
}


def tiny_config(data_root, out, **changes):
    """A seconds-long CPU run on :func:`make_tiny_folder_dataset` data: smallcnn, d = 8, N = 2, 3 epochs."""
    from proxygml_lite.training.presets import config_from_preset

    values = dict(
        data=str(data_root),
        out=str(out),
        backbone="smallcnn",
        dim=8,
        N=2,
        r=0.3,
        batch_size=8,
        epochs=3,
        image_size=16,
        workers=0,
        quiet=True,
        device="cpu",
        epoch_to_test=None,
        new_epoch_to_decay=(2,),
        warm=1,
        modellr=1e-3,
        freeze_bn=False,
        seed=3,
    )
    values.update(changes)
    return config_from_preset("folder", **values)
