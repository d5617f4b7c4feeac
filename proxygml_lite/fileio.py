"""The package's one module for writing files: atomic, and with the modes the umask asks for.

Every checkpoint, result table, manifest, glyph cache and figure goes through
here. Three promises:

* atomic: the content is written to a temporary file in the target's folder,
  flushed to disk and moved into place with ``os.replace``, so a crash or
  Ctrl-C leaves either the old file or the new one, never a truncated one;
* shareable: ``tempfile.mkstemp``/``mkdtemp`` create private ``0600``/``0700``
  entries, which would stay private once renamed into place. Here they get
  the mode a plain ``open(path, "w")`` or ``mkdir`` gives under the process
  umask (``0644``/``0755`` under the usual umask ``022``), so another user of
  a shared course folder can read what the package wrote;
* one writer per folder: :func:`exclusive_lock` holds a folder (a run, a
  study cell) for one process at a time; a second one gets
  :class:`FolderLockedError` naming the holder.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import io
import json
import os
import re
import shutil
import socket
import stat
import tempfile
import time
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
    "read_csv",
    "read_npz",
    "unsafe_pickle_refusal",
    "LOCK_FILE",
    "FolderLock",
    "FolderLockedError",
    "exclusive_lock",
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


# ------------------------------------------------------------------ reading, with the file named
def _damaged(path: str | os.PathLike, what: str, detail: str) -> ValueError:
    return ValueError(
        f"{path} is {what}{f' ({detail})' if detail else ''}; restore it (e.g. `git checkout -- {path}` for a "
        "committed file) or make it again"
    )


def read_csv(path: str | os.PathLike, **kwargs):
    """``pandas.read_csv(path)``; an empty, truncated or undecodable file is one ``ValueError`` naming it.

    Truncated: a row with fewer fields than the header (pandas would fill them with NaN) or a last line without
    its line end. The package's CSV files are never appended to: each is rewritten whole and atomically
    (:func:`atomic_write_csv`), so a partial last row is never a write in progress, only a damaged or cut copy,
    and it is refused rather than read as a row (a value cut short, ``0.61`` of ``0.6123``, would pass).
    """
    import pandas as pd

    try:
        table = pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError:
        raise _damaged(path, "empty", "") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise _damaged(path, "not a readable CSV table", f"truncated or damaged: {first}") from None
    if isinstance(path, (str, os.PathLike)):
        cut = _cut_short(Path(path))
        if cut:
            raise _damaged(path, "not a readable CSV table", f"truncated: {cut}")
    return table


def _cut_short(path: Path) -> str | None:
    """Why the CSV file at ``path`` is incomplete (a row short of fields, a last line without its end), else None."""
    text = path.read_bytes().decode("utf-8", errors="replace")
    if text and not text.endswith(("\n", "\r")):
        return "its last line has no line end, as a write cut short leaves it"
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    for row in reader:
        if row and len(row) < len(header):
            return f"line {reader.line_num} has {len(row)} of the header's {len(header)} fields"
    return None


def read_npz(path: str | os.PathLike) -> dict:
    """The arrays of a ``.npz`` file as a dict (never unpickles); an empty or truncated file, or one array saved as a
    ``.npy`` file under an ``.npz`` name, is one ``ValueError`` naming it."""
    import zipfile

    import numpy as np

    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.lib.npyio.NpzFile):
            with loaded as data:
                return {name: data[name] for name in data.files}
    except (EOFError, zipfile.BadZipFile, ValueError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise _damaged(path, "not a readable .npz file", f"empty, truncated or not NumPy's: {detail}") from None
    # np.load reads a .npy whatever its name: one array, not an archive
    raise _damaged(path, "not an .npz archive", "it holds one array, as a .npy file does (np.save, not np.savez)")


def unsafe_pickle_refusal(path: str | os.PathLike, exc: BaseException, fix: str) -> ValueError:
    """The one line for a file that ``torch.load(weights_only=True)`` refused (its ``pickle.UnpicklingError``).

    It names the file and the refused object (``posix.system``), and ``fix``, which regenerates the file with
    this package. Torch's own text is not passed on: it advises ``weights_only=False``, which would run
    whatever the file holds.
    """
    found = re.search(r"GLOBAL ([\w.]+)", str(exc))
    what = f" ({found.group(1)})" if found else ""
    return ValueError(
        f"refusing to load {path}: it holds Python objects{what} other than tensors and plain values (numbers, "
        f"strings, lists, dicts), which could run code when loaded, so it is refused for safety and nothing was "
        f"loaded; {fix}"
    )


# ------------------------------------------------------------------ one writer per folder
#: The lock file :func:`exclusive_lock` keeps in a folder while a process writes it.
LOCK_FILE = ".lock"


class FolderLockedError(RuntimeError):
    """Another live process holds the folder's lock (the message names it: pid, host, start time)."""


class FolderLock:
    """What :func:`exclusive_lock` yields: the lock file, and ``taken_over``, the holder
    recorded by a process that died holding the lock (``None`` when the folder was free)."""

    def __init__(self, path: Path, taken_over: str | None) -> None:
        self.path = path
        self.taken_over = taken_over


def _holder_text(fd: int) -> str:
    """The holder recorded in an open lock file: ``pid 12 on host h since 2026-01-01 10:00:00 UTC``."""
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "null")
        return f"pid {info['pid']} on host {info['host']} since {info['started']}"
    except (OSError, ValueError, TypeError, KeyError):
        return ""


@contextlib.contextmanager
def exclusive_lock(folder: str | os.PathLike, purpose: str = "") -> Iterator[FolderLock]:
    """Hold ``folder`` for this process alone while the ``with`` block runs.

    The lock is ``fcntl.flock`` on ``<folder>/.lock``, which records the
    holder (pid, host, start time). The kernel releases it when the process
    ends, however it ends, so the lock of a dead process (``kill -9``, a
    crash) is taken over; :attr:`FolderLock.taken_over` then names that
    process. A second live process gets :class:`FolderLockedError`, one line
    naming the holder and the way out. ``purpose`` (e.g. ``"training"``) goes
    into the record. The folder is created if needed; the lock file is removed
    on release, and so is a folder this call created that is still empty, so
    a run refused early leaves nothing behind.

    Not re-entrant: a second ``exclusive_lock`` of the same folder in the same
    process is refused too (``flock`` locks belong to the open file).
    """
    folder = Path(folder)
    created = not folder.exists()
    path = folder / LOCK_FILE
    with named_write_errors(path):
        makedirs(folder)
    while True:  # the file (or the folder) may be removed by the holder before our open or flock: try again
        with named_write_errors(path):
            try:
                # never through a link: a planted .lock -> some file would have that file truncated and rewritten
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, file_mode())
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise FolderLockedError(
                        f"{path} is a link, and a lock file never is: remove the link, then run the command again"
                    ) from None
                if not isinstance(exc, FileNotFoundError):
                    raise
                # the folder's creator released it and removed it, empty: make it again
                if folder.is_dir():  # the folder is there: a dangling .lock link or the like, not a race
                    raise FolderLockedError(
                        f"{folder} has a lock file {LOCK_FILE} that cannot be opened (a link to nothing?); "
                        "remove it if no process uses the folder, then run the command again"
                    ) from None
                makedirs(folder)
                created = True
                continue
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode) or opened.st_nlink != 1:  # a fifo, a device, another file's hard link
            os.close(fd)
            raise FolderLockedError(
                f"{path} is not a plain lock file (not a regular file, or a hard link of another); "
                "remove it, then run the command again"
            )
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _holder_text(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise FolderLockedError(
                f"{folder} is in use by another process ({holder or 'holder unknown'}); "
                "wait for it to finish or stop it, or choose another folder"
            ) from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        previous = _holder_text(fd)  # a clean release removes the file: a record left means its writer died
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "purpose": purpose,
        }
        with named_write_errors(path):
            os.ftruncate(fd, 0)
            os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
        yield FolderLock(path, previous or None)
    finally:
        try:  # still holding the lock: a process that opened the file meanwhile retries on a new one (above)
            os.unlink(path)
            if created and not any(folder.iterdir()):
                folder.rmdir()
        except OSError:
            pass  # the lock goes with the descriptor anyway
        finally:
            os.close(fd)
