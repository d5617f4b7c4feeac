"""What the three benchmarks are made of: their source files, checksums, split and counts.

:data:`SPECS` maps ``cub200``, ``cars196`` and ``online_products`` to a
:class:`DatasetSpec`: the source files (:class:`Source`, with their mirrors
and published md5), the reader of the extracted layout, the split boundary and
the standard counts that :func:`~proxygml_lite.data.prepare.prepare_dataset`
checks. Tests shrink a spec with ``dataclasses.replace``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .download import RemoteFile
from .raw import RawImage, read_cars, read_cub, read_sop

__all__ = ["LINK_MODES", "Source", "DatasetSpec", "SPECS", "BENCHMARKS", "canonical_benchmark"]

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
    ``download_gb``: the approximate size of its source files in GB, for disk
    estimates (never checked: the checksums are).
    """

    name: str
    title: str
    sources: tuple[Source, ...]
    reader: Callable[[Path, int | None], list[RawImage]]
    first_test_class: int | None
    counts: dict[str, tuple[int, int]] | None
    homepage: str
    download_gb: float | None = None


# approximate download sizes in GB: the sources' notes and DatasetSpec.download_gb
_CUB_GB, _CARS_GB, _SOP_GB = 1.1, 1.9, 2.9
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
            Source(
                RemoteFile(
                    "CUB_200_2011.tgz",
                    mirrors=(
                        "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz?download=1",
                        "https://s3.amazonaws.com/fast-ai-imageclas/CUB_200_2011.tgz",
                        "http://www.vision.caltech.edu/visipedia-data/CUB-200-2011/CUB_200_2011.tgz",
                    ),
                    md5=_CUB_MD5,
                    homepage="https://data.caltech.edu/records/65de6-vp158",
                    note=f"about {_CUB_GB} GB",
                ),
                "CUB_200_2011",
            ),
        ),
        reader=read_cub,
        first_test_class=101,
        counts={"train": (100, 5864), "test": (100, 5924)},
        homepage="https://www.vision.caltech.edu/datasets/cub_200_2011/",
        download_gb=_CUB_GB,
    ),
    "cars196": DatasetSpec(
        name="cars196",
        title="Cars196 (Stanford Cars)",
        sources=(
            Source(
                RemoteFile(
                    "car_ims.tgz",
                    mirrors=(
                        _CARS_HF + "car_ims.tgz",
                        "http://ai.stanford.edu/~jkrause/car196/car_ims.tgz",
                        "http://imagenet.stanford.edu/internal/car196/car_ims.tgz",
                    ),
                    md5=_CARS_IMS_MD5,
                    homepage="https://ai.stanford.edu/~jkrause/cars/car_dataset.html",
                    note=f"about {_CARS_GB} GB; " + _CARS_NOTE,
                ),
                "car_ims",
            ),
            Source(
                RemoteFile(
                    "cars_annos.mat",
                    mirrors=(
                        _CARS_HF + "cars_annos.mat",
                        "http://ai.stanford.edu/~jkrause/car196/cars_annos.mat",
                        "http://imagenet.stanford.edu/internal/car196/cars_annos.mat",
                    ),
                    md5=_CARS_ANNOS_MD5,
                    homepage="https://ai.stanford.edu/~jkrause/cars/car_dataset.html",
                    note="about 0.4 MB; " + _CARS_NOTE,
                ),
                "cars_annos.mat",
            ),
        ),
        reader=read_cars,
        first_test_class=99,
        counts={"train": (98, 8054), "test": (98, 8131)},
        homepage="https://ai.stanford.edu/~jkrause/cars/car_dataset.html",
        download_gb=_CARS_GB,
    ),
    "online_products": DatasetSpec(
        name="online_products",
        title="Stanford Online Products",
        sources=(
            Source(
                RemoteFile(
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
                    note=f"about {_SOP_GB} GB",
                ),
                "Stanford_Online_Products",
            ),
        ),
        reader=read_sop,
        first_test_class=None,
        counts={"train": (11318, 59551), "test": (11316, 60502)},
        homepage="https://cvgl.stanford.edu/projects/lifted_struct/",
        download_gb=_SOP_GB,
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
