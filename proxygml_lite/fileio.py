"""The package's files read back, and held for one writer: a damaged file or a folder in use is one line naming it.

Two promises (the writers, atomic and with the umask's modes, are in
:mod:`proxygml_lite.atomic_writers`):

* a file read back that is empty, truncated or damaged (:func:`read_csv`,
  :func:`read_npz`) is one ``ValueError`` naming it and the way to restore it;
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
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from .atomic_writers import file_mode, makedirs, named_write_errors

__all__ = [
    "read_csv",
    "read_npz",
    "unsafe_pickle_refusal",
    "LOCK_FILE",
    "FolderLock",
    "FolderLockedError",
    "exclusive_lock",
]


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
    (:func:`.atomic_writers.atomic_write_csv`), so a partial last row is never a write in progress, only a damaged or cut copy,
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
        if "allow_pickle" in detail:  # numpy's advice to unpickle: never passed on (it would run the file's code)
            detail = "it holds pickled Python objects, which are never loaded"
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
