"""Resumable, checksum-verified downloads over plain ``urllib``.

:func:`download_file` fetches one :class:`RemoteFile` into a folder:

* mirrors are tried in order; the first one whose bytes match the checksum wins;
* bytes go to ``<name>.part`` first; an interrupted transfer is resumed from
  there with an HTTP ``Range`` request (from any mirror: it is the same file);
* the finished ``.part`` is checked (md5 or sha256) and only then renamed to
  ``<name>`` (``os.replace``), so ``<name>`` is never a partial file;
* a ``.part`` whose checksum is wrong is deleted (it is ours); a file ``<name>``
  that the user put there is never deleted, even when its checksum is wrong;
* when every mirror fails, :class:`DownloadError` carries the manual steps:
  what to fetch from where, where to put it, and its checksum.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shlex
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

__all__ = [
    "RemoteFile",
    "DownloadError",
    "ChecksumError",
    "file_checksum",
    "verify_file",
    "download_file",
    "manual_steps",
]

USER_AGENT = "proxygml_lite-data/0.1 (+python-urllib)"
CHUNK = 1 << 20


@dataclass(frozen=True)
class RemoteFile:
    """A file to fetch: its name, its checksum and where it can be found.

    ``mirrors`` are tried in order. ``homepage`` is the page a person can
    visit to fetch it by hand (shown in the manual steps), ``note`` any extra
    hint (a licence form, a known dead host). ``size`` (bytes), when known, is
    only used in messages.
    """

    filename: str
    mirrors: tuple[str, ...] = ()
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None
    homepage: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if not self.md5 and not self.sha256:
            raise ValueError(f"RemoteFile {self.filename!r} needs an md5 or a sha256 checksum")
        if os.path.basename(self.filename) != self.filename or self.filename in ("", ".", ".."):
            raise ValueError(f"RemoteFile name {self.filename!r} must be a plain file name")

    @property
    def algorithm(self) -> str:
        return "sha256" if self.sha256 else "md5"

    @property
    def checksum(self) -> str:
        return (self.sha256 or self.md5 or "").lower()


class DownloadError(RuntimeError):
    """No mirror delivered the file; the message holds the manual steps."""


class ChecksumError(ValueError):
    """A file's checksum differs from the expected one (``actual``/``expected``: the hex digests, when known)."""

    def __init__(self, message: str, *, actual: str | None = None, expected: str | None = None) -> None:
        super().__init__(message)
        self.actual = actual
        self.expected = expected


def file_checksum(path: str | os.PathLike, algorithm: str = "md5", progress: bool | None = False) -> str:
    """Hex digest of ``path`` (read in 1 MiB chunks)."""
    digest = hashlib.new(algorithm)
    path = Path(path)
    total = path.stat().st_size
    with (
        open(path, "rb") as fh,
        tqdm(
            total=total,
            unit="B",
            unit_scale=True,
            desc=f"{algorithm} {path.name}",
            disable=_tqdm_disable(progress) or total < 64 * CHUNK,
            leave=False,
        ) as bar,
    ):
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def verify_file(path: str | os.PathLike, remote: RemoteFile, progress: bool | None = False) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has ``remote``'s checksum."""
    path = Path(path)
    size = path.stat().st_size
    actual = file_checksum(path, remote.algorithm, progress=progress)
    if actual != remote.checksum:
        hint = ""
        if remote.size is not None and size != remote.size:
            hint = f" Its size is {size:,} bytes, the real file has {remote.size:,} (truncated or a different file?)."
        raise ChecksumError(
            f"{path} has {remote.algorithm} {actual}, expected {remote.checksum}.{hint}",
            actual=actual,
            expected=remote.checksum,
        )


def manual_steps(remote: RemoteFile, dest_dir: str | os.PathLike) -> str:
    """How to fetch ``remote`` by hand: from where, to where, which checksum."""
    target = Path(dest_dir) / remote.filename
    lines = [f"Manual steps for {remote.filename}:"]
    where = []
    if remote.homepage:
        where.append(f"the dataset page {remote.homepage}")
    where += remote.mirrors
    if where:
        lines.append("  1. Download it from one of:")
        lines += [f"       - {w}" for w in where]
    else:
        lines.append("  1. Download it from the dataset's authors.")
    if remote.note:
        lines.append(f"     ({remote.note})")
    lines.append(f"  2. Put it at: {target}")
    size = f", size {remote.size:,} bytes" if remote.size else ""
    lines.append(
        f"  3. Check it: {remote.algorithm} {remote.checksum}{size} (e.g. `{remote.algorithm}sum {shlex.quote(str(target))}`)"
    )
    lines.append("  4. Re-run the same prepare command (without --download it uses the file you placed).")
    return "\n".join(lines)


def download_file(
    remote: RemoteFile,
    dest_dir: str | os.PathLike,
    *,
    progress: bool | None = None,
    timeout: float = 60.0,
    log=print,
) -> Path:
    """Fetch ``remote`` into ``dest_dir`` and return the verified file's path.

    A file already there with the right checksum is returned as is. A file
    already there with a wrong checksum is left alone and :class:`ChecksumError`
    says what to do. Otherwise the mirrors are tried in order (resuming
    ``<name>.part``); :class:`DownloadError` with :func:`manual_steps` when all
    of them fail.
    """
    dest_dir = Path(dest_dir)
    target = dest_dir / remote.filename
    if target.exists():
        try:
            verify_file(target, remote, progress=progress)
        except ChecksumError as err:
            raise ChecksumError(
                f"{err} It was not downloaded by this run, so it is left in place. Replace it with the "
                "original file, or move it out of the folder and run again with --download; if it is a "
                "re-packed copy you trust, --accept-checksum uses it and records its checksum.\n"
                + manual_steps(remote, dest_dir),
                actual=err.actual,
                expected=err.expected,
            ) from None
        log(f"{remote.filename}: already present and verified ({remote.algorithm} ok)")
        return target
    dest_dir.mkdir(parents=True, exist_ok=True)
    part = dest_dir / (remote.filename + ".part")
    failures: list[str] = []
    for url in remote.mirrors:
        try:
            _fetch(url, part, remote, progress=progress, timeout=timeout, log=log)
        except _MirrorFailed as err:
            failures.append(f"{url}: {err}")
            log(f"{remote.filename}: mirror failed: {url}: {err}")
            continue
        try:
            verify_file(part, remote, progress=progress)
        except ChecksumError as err:
            part.unlink(missing_ok=True)
            failures.append(f"{url}: checksum mismatch ({err}); the partial file was deleted")
            log(f"{remote.filename}: checksum mismatch from {url}; deleted {part.name}")
            continue
        os.replace(part, target)
        log(f"{remote.filename}: downloaded and verified ({remote.algorithm} ok)")
        return target
    tried = "\n".join(f"  - {f}" for f in failures) or "  (no mirror is known for this file)"
    kept = f"\nThe partial download {part} is kept; a later run resumes it." if part.exists() else ""
    raise DownloadError(
        f"Could not download {remote.filename}. Tried:\n{tried}{kept}\n" + manual_steps(remote, dest_dir)
    )


# --------------------------------------------------------------------------- internals


class _MirrorFailed(Exception):
    pass


def _tqdm_disable(progress: bool | None) -> bool | None:
    # tqdm: disable=None hides the bar when stderr is not a terminal.
    return None if progress is None else not progress


def _fetch(url: str, part: Path, remote: RemoteFile, *, progress, timeout, log) -> None:
    """Bring ``part`` to the full file from ``url`` (resuming); raise _MirrorFailed."""
    have = part.stat().st_size if part.exists() else 0
    resumable = url.lower().startswith(("http://", "https://"))
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    if have and resumable:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        if err.code == 416 and have:
            return  # nothing left to send: the .part is complete (the checksum decides)
        raise _MirrorFailed(f"HTTP {err.code} {err.reason}") from None
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as err:
        raise _MirrorFailed(_reason(err)) from None
    with response:
        status = getattr(response, "status", 200)
        ctype = response.headers.get("Content-Type", "") or ""
        if ctype.lower().startswith("text/html"):
            raise _MirrorFailed("the server answered with a web page, not the file (moved, or a sign-in/quota page)")
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if have and status == 206:
            start = _content_range_start(response.headers.get("Content-Range"))
            if start != have:
                raise _MirrorFailed(f"the server resumed at byte {start}, not {have}")
            mode = "ab"
            log(f"{remote.filename}: resuming at {have:,} bytes from {url}")
        else:
            mode, have = "wb", 0  # no resume (no Range support, or a fresh start)
            log(f"{remote.filename}: downloading from {url}")
        total = have + length if length is not None else remote.size
        got = 0
        try:
            with (
                open(part, mode) as out,
                tqdm(
                    total=total,
                    initial=have,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=remote.filename,
                    disable=_tqdm_disable(progress),
                ) as bar,
            ):
                for chunk in iter(lambda: response.read(CHUNK), b""):
                    out.write(chunk)
                    got += len(chunk)
                    bar.update(len(chunk))
        except (OSError, ValueError, http.client.HTTPException) as err:
            raise _MirrorFailed(f"transfer interrupted after {have + got:,} bytes ({_reason(err)})") from None
        if length is not None and got < length:
            raise _MirrorFailed(f"transfer ended early: {got:,} of {length:,} bytes")


def _content_range_start(value: str | None) -> int | None:
    # "bytes 100-199/200"
    try:
        return int(value.split()[1].split("-")[0]) if value else None
    except (IndexError, ValueError):
        return None


def _reason(err: BaseException) -> str:
    reason = getattr(err, "reason", None)
    return str(reason if reason is not None else err) or type(err).__name__
