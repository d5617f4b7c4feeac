"""The glyph cache under ``<data_root>/glyphs``: generated once, validated, written atomically."""

from __future__ import annotations

import io
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ...atomic_writers import WriteError, atomic_write_bytes, atomic_write_json, makedirs, named_write_errors
from .generate import GENERATOR_VERSION, _content_hash, _key, _params, generate_glyph_arrays


def _paths(data_root, p) -> tuple[Path, Path]:
    root = Path(data_root)
    if root.exists() and not root.is_dir():
        raise ValueError(f"data_root {str(root)!r} is a file; pass a folder (it will hold glyphs/)")
    folder = root / "glyphs"
    key = _key(p)
    return folder / f"glyphs_{key}.npz", folder / f"glyphs_{key}.json"


def _read_cache(npz: Path, manifest_path: Path, p: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict] | str:
    """The cached arrays and manifest, or a string saying why the cache cannot be used."""
    if not npz.exists() and not manifest_path.exists():
        return "absent"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"manifest {manifest_path.name} unreadable ({exc})"
    if manifest.get("generator_version") != GENERATOR_VERSION or manifest.get("params") != p:
        return "its parameters or generator version differ from the requested ones"
    try:
        with np.load(npz, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # truncated zip, bad CRC, zlib error, missing member...
        return f"archive {npz.name} unreadable ({type(exc).__name__}: {exc})"
    missing = {"images", "labels", "split", "face_index", "face_names", "class_chars", "class_split"} - set(arrays)
    if missing:
        return f"archive {npz.name} lacks {', '.join(sorted(missing))}"
    if _content_hash(arrays) != manifest.get("content_hash"):
        return f"archive {npz.name} does not match the content hash in {manifest_path.name}"
    return arrays, manifest


#: The way out of an unwritable ``<data_root>/glyphs`` (see :class:`~proxygml_lite.atomic_writers.WriteError`).
_ELSEWHERE = "pass another --data folder (the glyph cache, a few MB, is generated there once)"


def _check_writable(folder: Path) -> None:
    """Create ``folder`` and a file in it (removed at once); a read-only or full one is one :class:`WriteError`."""
    with named_write_errors(folder, elsewhere=_ELSEWHERE):
        makedirs(folder)
        fd, probe = tempfile.mkstemp(prefix=".writable.", dir=folder)
        os.close(fd)
        os.unlink(probe)


def _ensure(data_root, progress: bool, **params) -> tuple[Path, dict[str, np.ndarray], dict]:
    p = _params(**params)
    npz, manifest_path = _paths(data_root, p)
    cached = _read_cache(npz, manifest_path, p)
    if not isinstance(cached, str):
        return npz, cached[0], cached[1]
    if cached != "absent":
        warnings.warn(f"glyph cache {npz} cannot be used: {cached}; regenerating it", RuntimeWarning, stacklevel=3)
    _check_writable(npz.parent)  # before generating: a read-only data root is refused without the wait
    arrays, manifest = generate_glyph_arrays(p, progress)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    try:
        atomic_write_bytes(npz, buf.getvalue())
        atomic_write_json(manifest_path, manifest, indent=1, sort_keys=False, ensure_ascii=False)
    except WriteError as exc:  # the disk filled up while generating: name the folder and the way out
        npz.unlink(missing_ok=True)  # an archive without its manifest would only be regenerated, with a warning
        raise WriteError(npz.parent, exc.cause, elsewhere=_ELSEWHERE) from None
    return npz, arrays, manifest


def ensure_glyphs(data_root: str | os.PathLike = "data", progress: bool = True, **params) -> Path:
    """Generate the glyph dataset under ``<data_root>/glyphs`` unless a valid cache exists.

    Args:
        data_root: folder that holds (or will hold) ``glyphs/``.
        progress: show a tqdm progress bar while generating.
        **params: ``seed`` (0), ``image_size`` (32), ``images_per_face`` (6),
            ``faces_per_class`` (12, >= 8), ``num_train_classes`` (100, the
            paper's ``C``), ``num_test_classes`` (100), ``face_threshold``
            (0.02) and ``class_threshold`` (0.06), the look-alike thresholds
            of :func:`glyph_distances` (module docstring, step 2).

    Returns:
        the path of the ``.npz`` archive; its ``.json`` manifest sits next to it.

    Raises:
        ValueError: a parameter is out of range (the message says the fix).
    """
    return _ensure(data_root, progress, **params)[0]


def read_manifest(data_root: str | os.PathLike = "data", **params) -> dict:
    """The JSON manifest of the glyph dataset with these parameters (generated if needed)."""
    return _ensure(data_root, True, **params)[2]
