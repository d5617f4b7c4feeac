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
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
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
    "LOCK_FILE",
    "FolderInUseError",
    "exclusive_folder_lock",
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
    """``mkdir -p``: create ``path`` and its parents (modes from the umask); return it as a Path."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def make_temp_dir(parent: str | os.PathLike, prefix: str) -> Path:
    """A new empty folder ``<parent>/<prefix><random>`` with the mode a plain ``mkdir`` would give.

    Meant to be filled and renamed into place; unlike ``tempfile.mkdtemp`` the
    result is not private (``0700``) once renamed.
    """
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=makedirs(parent)))
    os.chmod(folder, dir_mode())
    return folder


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], Any]) -> Path:
    """Call ``write(binary_file)`` on a temporary file next to ``path``, then move it into place.

    The folder is created if needed; the file ends with mode :func:`file_mode`.
    On any error (Ctrl-C included) the temporary file is removed and ``path``
    is left as it was. Returns ``path``.
    """
    path = Path(path)
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


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save(obj, path)`` atomically."""
    import torch

    return atomic_write(path, lambda fh: torch.save(obj, fh))


def atomic_copy(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """Copy the bytes of ``src`` to ``dst`` atomically: a new, independent file (never a link).

    The copy gets the umask's mode (not ``src``'s), so writing to it never
    changes ``src``.
    """
    src = Path(src)
    with open(src, "rb") as source:
        return atomic_write(dst, lambda fh: shutil.copyfileobj(source, fh, 1 << 20))


# ------------------------------------------------------------------ one writer
#: The lock file inside a locked folder; it holds the holder's process id.
LOCK_FILE = ".lock"
_held: dict[str, int] = {}  # folders this process holds -> nesting depth (a holder may lock again)


class FolderInUseError(RuntimeError):
    """Another live process holds the folder's lock (the message names it and the fix)."""


def _lock_holder(lock_path: Path) -> str:
    try:
        text = lock_path.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    return f"process {text}" if text.isdigit() else "another process"


@contextmanager
def exclusive_folder_lock(path: str | os.PathLike) -> Iterator[Path]:
    """Hold ``<path>/.lock`` (``fcntl.flock``, exclusive) while the block runs: one writer per folder.

    The lock file holds the holder's process id, so a second process gets a
    :class:`FolderInUseError` naming it. The kernel releases the lock when the
    holder dies (even by ``kill -9``), so a dead holder's lock is simply taken
    over; the stale id in the file is overwritten. The same process may take
    the lock again inside the block (nested use is a no-op). The folder is
    created if needed.
    """
    import fcntl

    folder = makedirs(path)
    key = str(folder.resolve())
    if key in _held:
        _held[key] += 1
        try:
            yield folder
        finally:
            _held[key] -= 1
        return
    lock_path = folder / LOCK_FILE
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, file_mode())
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderInUseError(
                f"{folder} is in use by {_lock_holder(lock_path)}; wait for it to finish, "
                "or stop it (a stopped holder's lock is taken over), or choose another folder"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        _held[key] = 1
        try:
            yield folder
        finally:
            del _held[key]
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)  # closing the descriptor releases the flock
