"""Miniature copies of the benchmark archives, in each dataset's exact raw layout, and tiny prepared folders.

The archives (for tests/datasets/test_data_prepare.py, test_data_download.py, test_data_checks.py,
test_fileio.py) are written by the package's writers in :mod:`proxygml_lite.lab.miniature_data`
with a few 8x8 noise JPEGs per class and some broken on purpose (a member left out, a corrupt
image, a path escaping the folder). :func:`small_spec` returns the real :class:`DatasetSpec` with
the split boundary, the expected counts and the checksums replaced to fit.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from proxygml_lite.data.download import file_checksum
from proxygml_lite.lab.miniature_data import fitted_spec, write_cars_archives, write_cub_archive, write_sop_archive


def jpeg_bytes(seed: int, size: int = 8) -> bytes:
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), "RGB")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


CORRUPT = b"this is not an image at all\n" * 4


def _jpegs(per_class, first_seed: int) -> list[list[bytes]]:
    """Per class, ``per_class[c]`` 8x8 noise JPEGs, seeded by their running number from ``first_seed``."""
    seeds = iter(range(first_seed, first_seed + sum(per_class)))
    return [[jpeg_bytes(next(seeds)) for _ in range(n)] for n in per_class]


def make_cub(
    folder: Path,
    per_class=(3, 2, 2, 3),
    omit: str | None = None,
    corrupt: str | None = None,
    extra_members: dict[str, bytes] | None = None,
) -> Path:
    """``CUB_200_2011.tgz`` with len(per_class) classes named Bird_A, Bird_B, ...; returns its path.

    ``omit``: a file name under CUB_200_2011/ left out; ``corrupt``: the
    image path (``images.txt`` form) whose bytes are not an image.
    """
    changes: dict[str, bytes | None] = {"attributes.txt": b"1 has_bill_shape::curved_(up_or_down)\n"}
    if omit:
        changes[f"CUB_200_2011/{omit}"] = None
    if corrupt:
        changes[f"CUB_200_2011/images/{corrupt}"] = CORRUPT
    changes.update(extra_members or {})
    return write_cub_archive(folder, _jpegs(per_class, 1), bird=lambda c: f"Bird_{chr(64 + c)}", changes=changes)


def make_cars(folder: Path, per_class=(2, 3, 2, 2)) -> tuple[Path, Path]:
    """``car_ims.tgz`` + ``cars_annos.mat`` with len(per_class) classes named Maker Model 1 2012, ..."""
    return write_cars_archives(folder, _jpegs(per_class, 101), model="Maker Model {} 2012".format)


def make_sop(
    folder: Path, train_classes: int = 3, test_classes: int = 2, per_class: int = 2, evil_member: str | None = None
) -> Path:
    """``Stanford_Online_Products.zip``; ``evil_member``: the name of one more member (a path escaping the folder)."""
    changes = {"Stanford_Online_Products/README": b"SOP miniature for tests\n"}
    if evil_member:
        changes[evil_member] = b"escaped\n"
    jpegs = _jpegs([per_class] * (train_classes + test_classes), 501)
    return write_sop_archive(folder, jpegs, train_classes, changes=changes)


def small_spec(
    name: str,
    files: dict[str, Path] | None = None,
    *,
    counts=None,
    first_test_class=None,
    mirrors: dict[str, tuple[str, ...]] | None = None,
    md5s: dict[str, str] | None = None,
):
    """The real spec of ``name`` fitted to the archives ``files`` (their checksums, unless ``md5s`` gives them)."""
    md5s = dict(md5s or {})
    for fname, path in (files or {}).items():
        md5s.setdefault(fname, file_checksum(path))
    return fitted_spec(name, md5s=md5s, counts=counts, first_test_class=first_test_class, mirrors=mirrors)


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


def tiny_config(data_root, out=None, **changes):
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
    if out is None:
        del values["out"]  # the preset's
    values.update(changes)
    return config_from_preset("folder", **values)


def tiny_argv(data_root, out=None) -> list[str]:
    """:func:`tiny_config`'s run as a command line of ``python -m proxygml_lite.train`` (the preset's other settings);
    without ``out``, no ``--out`` (the caller adds one per run)."""
    return ["--dataset", "folder", "--data", str(data_root), "--backbone", "smallcnn", "--dim", "8", "--N", "2"] + [
        "--r", "0.3", "-b", "8", "--image-size", "16", "-j", "0", "--device", "cpu",
    ] + (["--out", str(out)] if out is not None else [])  # fmt: skip


def tiny_study_settings(data_root, **changes) -> dict:
    """A study's training settings on :func:`make_tiny_folder_dataset` data: d = 8, 1 epoch, r = 0.3 (the preset's N)."""
    values = dict(dataset="folder", data=str(data_root), dim=8, batch_size=8, epochs=1, image_size=16, device="cpu")
    values.update(epoch_to_test=None, new_epoch_to_decay=(1,), r=0.3, compute_nmi=True)
    return {**values, **changes}


def tiny_study_flags(data_root) -> list[str]:
    """:func:`tiny_study_settings` as the study command line's flags (``--dataset``: the preset's recipe), no NMI."""
    return ["--dataset", "folder", "--data", str(data_root), "--dim", "8", "--batch-size", "8", "--epochs", "1"] + [
        "--image-size", "16", "--device", "cpu", "--new_epoch_to_decay", "1", "--r", "0.3", "--no-nmi", "--quiet",
    ]  # fmt: skip


def load_script(name: str):
    """``scripts/<name>.py`` imported as a module (the scripts are not a package), registered under ``name``."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module
