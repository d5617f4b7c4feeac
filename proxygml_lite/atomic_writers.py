"""The package's one module for writing files: atomic, and with the modes the umask asks for.

Every checkpoint, result table, manifest, glyph cache and figure goes through
here. Two promises:

* atomic: the content is written to a temporary file in the target's folder,
  flushed to disk and moved into place with ``os.replace``, so a crash or
  Ctrl-C leaves either the old file or the new one, never a truncated one;
* shareable: ``tempfile.mkstemp``/``mkdtemp`` create private ``0600``/``0700``
  entries, which would stay private once renamed into place. Here they get
  the mode a plain ``open(path, "w")`` or ``mkdir`` gives under the process
  umask (``0644``/``0755`` under the usual umask ``022``), so another user of
  a shared course folder can read what the package wrote.

A file that cannot be written (full disk, read-only or forbidden folder) is one
:class:`WriteError` naming it. Reading the files back, and holding a folder for
one writer, are in :mod:`proxygml_lite.fileio`.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

__all__ = [
    "current_umask",
    "file_mode",
    "dir_mode",
    "makedirs",
    "make_temp_dir",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_write_csv",
    "atomic_torch_save",
    "atomic_copy",
    "WriteError",
    "named_write_errors",
]


def current_umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, but brief)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """Mode of a new regular file under the current umask (``0o644`` under umask ``022``)."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """Mode of a new folder under the current umask (``0o755`` under umask ``022``)."""
    return 0o777 & ~current_umask()


def makedirs(path: str | os.PathLike) -> Path:
    """``mkdir -p``: create ``path`` and its parents (modes from the umask); return it as a Path.

    ``path``, or a folder on the way to it, being a file is one :class:`WriteError` naming it (``--out`` on a file).
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise WriteError(path, exc) from None
    return path


def make_temp_dir(parent: str | os.PathLike, prefix: str) -> Path:
    """A new empty folder ``<parent>/<prefix><random>`` with the mode a plain ``mkdir`` would give.

    Meant to be filled and renamed into place; unlike ``tempfile.mkdtemp`` the
    result is not private (``0700``) once renamed.
    """
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=makedirs(parent)))
    os.chmod(folder, dir_mode())
    return folder


#: ``errno`` values that mean "this place cannot take the file": full disk or quota, read-only, no permission.
NOT_WRITABLE = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM)


class WriteError(OSError):
    """A file could not be written (full disk, read-only or forbidden folder); one line naming the file and the fix.

    ``errno`` is the original error's, ``cause`` the error itself. Nothing half-written is left: the atomic
    writer removes its temporary file, and the previous file (if any) stays.
    """

    def __init__(
        self, path: str | os.PathLike, cause: OSError, elsewhere: str = "choose another folder (--out / --data)"
    ) -> None:
        fix = {
            errno.ENOSPC: "free some disk space",
            errno.EDQUOT: "free some of your disk quota",
            errno.EEXIST: "it, or a folder on the way to it, is a file, not a folder: rename that file",
            errno.ENOTDIR: "a folder on the way to it is a file, not a folder: rename that file",
        }.get(cause.errno, "make the folder writable")
        self.cause = cause
        self.message = (
            f"cannot write {path}: {cause.strerror or cause} (errno {cause.errno}); "
            f"{fix} or {elsewhere}, then run the command again"
        )
        super().__init__(cause.errno, self.message, os.fspath(path))

    def __str__(self) -> str:
        return self.message


@contextlib.contextmanager
def named_write_errors(path: str | os.PathLike, **fix: str) -> Iterator[None]:
    """Turn a full disk / read-only / forbidden ``OSError`` while writing ``path`` into a :class:`WriteError`.

    ``fix``: the keyword arguments of :class:`WriteError` (``elsewhere``: where else to write).
    """
    try:
        yield
    except WriteError:
        raise
    except OSError as exc:
        if exc.errno in NOT_WRITABLE:
            raise WriteError(path, exc, **fix) from None
        raise


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> Path:
    """Call ``write(binary_file)`` on a temporary file next to ``path``, then move it into place.

    The folder is created if needed; the file ends with mode :func:`file_mode`.
    On any error (Ctrl-C included) the temporary file is removed and ``path``
    is left as it was. A full disk or a read-only or forbidden folder raises
    :class:`WriteError` naming ``path``. Returns ``path``.
    """
    path = Path(path)
    with named_write_errors(path):
        return _atomic_write(path, write)


def _atomic_write(path: Path, write: Callable[[BinaryIO], Any]) -> Path:
    makedirs(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode())  # mkstemp made it 0600
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_write`)."""
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(
    path: str | os.PathLike, obj: Any, *, indent: int = 2, sort_keys: bool = True, ensure_ascii: bool = True
) -> Path:
    """Write ``obj`` as JSON atomically (NumPy/torch scalars become numbers, tuples and sets lists).

    ``NaN`` is written as ``NaN``, which Python's ``json`` reads back.
    """
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys, ensure_ascii=ensure_ascii, default=_json_default)
    return atomic_write_text(path, text + "\n")


def _json_default(value):
    import numpy as np  # local: keep this module importable without the heavy dependencies

    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.bool_):
        return bool(value)
    try:
        import torch
    except ImportError:  # pragma: no cover
        torch = None
    if torch is not None and isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def atomic_write_csv(path: str | os.PathLike, rows: Iterable[dict], columns: list[str] | None = None) -> Path:
    """Write dict rows as CSV atomically (columns: ``columns`` or the union in first-seen order)."""
    rows = list(rows)
    if columns is None:
        columns = []
        for row in rows:
            columns.extend(k for k in row if k not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    return atomic_write_text(path, buffer.getvalue())


class _RecordingWriter:
    """A binary file whose first failed ``write`` is kept in ``error``: ``torch.save`` turns it into a
    ``RuntimeError`` of its zip writer (``unexpected pos ...``), and a full disk must stay an ``OSError``."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            return self._fh.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def __getattr__(self, name: str) -> Any:  # flush, tell, ...: the file's own
        return getattr(self._fh, name)


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` atomically; a full disk is a :class:`WriteError` naming ``path``."""
    import torch

    def write(fh: BinaryIO) -> None:
        recording = _RecordingWriter(fh)
        try:
            torch.save(obj, recording)
        except RuntimeError:
            if recording.error is not None:
                raise recording.error from None
            raise

    return atomic_write(path, write)


def atomic_copy(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy the bytes of ``src`` to ``dst`` atomically: a new, independent file (never a link).

    The copy gets the umask's mode (not ``src``'s), so writing to it never
    changes ``src``.
    """
    src = Path(src)
    with open(src, "rb") as source:
        return atomic_write(dst, lambda fh: shutil.copyfileobj(source, fh, 1 << 20))
