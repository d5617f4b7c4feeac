"""Readers of the three benchmarks' raw (extracted) layouts.

Each reader returns one :class:`RawImage` per image: its path, the dataset's
own 1-based class id, the class name and the metric-learning split. The split
follows the standard zero-shot protocol (Oh Song et al., CVPR 2016) used by
ProxyGML: the first half of the classes train, the other half test.

* CUB-200-2011 (``raw/cub200/CUB_200_2011``): ``images.txt`` (``id path``),
  ``image_class_labels.txt`` (``id class``), ``classes.txt`` (``class name``),
  images in ``images/<NNN.Name>/``; classes < ``first_test_class`` train.
* Cars196 (``raw/cars196``): ``cars_annos.mat`` holds ``annotations``
  (``relative_im_path`` like ``car_ims/000001.jpg``, ``bbox_*``, ``class``
  1-based, ``test``; the ``test`` flag is the classification split and is not
  used here) and ``class_names``; classes < ``first_test_class`` train.
* Stanford Online Products (``raw/online_products/Stanford_Online_Products``):
  ``Ebay_train.txt`` / ``Ebay_test.txt`` with the header
  ``image_id class_id super_class_id path``; the files give the split.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["RawImage", "read_cub", "read_cars", "read_sop"]


@dataclass(frozen=True)
class RawImage:
    path: Path
    class_id: int  # the dataset's own class id (1-based)
    class_name: str
    split: str  # "train" or "test"


def _need(path: Path, folder: Path) -> Path:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the extracted folder {folder} is incomplete or not the original")
    return path


def _table(path: Path, columns: int, numeric: int, header: tuple[str, ...] | None = None) -> list[list[str]]:
    """Whitespace-separated rows of ``columns`` fields, the first ``numeric`` of them integers."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            if header is not None and number == 1:
                if tuple(parts) != header:
                    raise ValueError(f"{path}: first line is {line.strip()!r}, expected {' '.join(header)!r}")
                continue
            if len(parts) != columns or not all(p.isdigit() for p in parts[:numeric]):
                raise ValueError(f"{path}, line {number}: cannot read {line.strip()!r}; the file is not the original")
            rows.append(parts)
    return rows


def _relative(path_text: str, source: Path) -> PurePosixPath:
    rel = PurePosixPath(path_text)
    if rel.is_absolute() or ".." in rel.parts:
        raise ValueError(f"{source} refers to {path_text!r}, outside the dataset folder")
    return rel


def read_cub(raw_dir: Path, first_test_class: int) -> list[RawImage]:
    """CUB-200-2011: classes ``1 .. first_test_class-1`` train, the rest test."""
    root = raw_dir / "CUB_200_2011"
    names = {}
    with open(_need(root / "classes.txt", root), encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            parts = line.split(maxsplit=1)
            if not parts:
                continue
            if len(parts) != 2 or not parts[0].isdigit():
                raise ValueError(f"{root / 'classes.txt'}, line {number}: cannot read {line.strip()!r}")
            names[int(parts[0])] = parts[1].strip()
    paths = {int(i): p for i, p in _table(_need(root / "images.txt", root), 2, 1)}
    labels_file = _need(root / "image_class_labels.txt", root)
    labels = {int(i): int(c) for i, c in _table(labels_file, 2, 2)}
    if set(paths) != set(labels):
        odd = sorted(set(paths) ^ set(labels))[:5]
        raise ValueError(f"images.txt and image_class_labels.txt in {root} list different image ids (e.g. {odd})")
    items = []
    for image_id in sorted(paths):
        cls = labels[image_id]
        rel = _relative(paths[image_id], root / "images.txt")
        items.append(
            RawImage(
                root / "images" / rel, cls, names.get(cls, f"{cls:03d}"), "train" if cls < first_test_class else "test"
            )
        )
    return items


def read_cars(raw_dir: Path, first_test_class: int) -> list[RawImage]:
    """Cars196 from ``cars_annos.mat``: classes ``1 .. first_test_class-1`` train, the rest test."""
    import scipy.io

    mat_path = _need(raw_dir / "cars_annos.mat", raw_dir)
    try:
        mat = scipy.io.loadmat(mat_path, simplify_cells=True)
    except Exception as err:  # scipy raises several types for a damaged file
        raise ValueError(f"{mat_path} cannot be read as a MATLAB file ({err}); replace it with the original") from None
    if "annotations" not in mat:
        raise ValueError(f"{mat_path} has no 'annotations' variable; it is not the original cars_annos.mat")
    annotations = mat["annotations"]
    if isinstance(annotations, dict):
        annotations = [annotations]
    class_names = mat.get("class_names", [])
    if isinstance(class_names, str):
        class_names = [class_names]
    items = []
    for index, ann in enumerate(annotations):
        missing = {"relative_im_path", "class"} - set(ann)
        if missing:
            raise ValueError(f"{mat_path}: annotation {index} lacks the field(s) {sorted(missing)}")
        cls = int(ann["class"])
        name = str(class_names[cls - 1]).strip() if 0 < cls <= len(class_names) else f"class {cls}"
        rel = _relative(str(ann["relative_im_path"]), mat_path)
        items.append(RawImage(raw_dir / rel, cls, name, "train" if cls < first_test_class else "test"))
    return items


def read_sop(raw_dir: Path, first_test_class: int | None = None) -> list[RawImage]:
    """Stanford Online Products: the split is given by ``Ebay_train.txt`` / ``Ebay_test.txt``."""
    root = raw_dir / "Stanford_Online_Products"
    header = ("image_id", "class_id", "super_class_id", "path")
    items = []
    for split in ("train", "test"):
        path = _need(root / f"Ebay_{split}.txt", root)
        for _, cls, _, rel_text in _table(path, 4, 3, header):
            rel = _relative(rel_text, path)
            product = rel.stem.rsplit("_", 1)[0]
            items.append(RawImage(root / rel, int(cls), f"{rel.parent}/{product}", split))
    return items
