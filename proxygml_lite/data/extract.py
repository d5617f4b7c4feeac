"""Safe, atomic, idempotent extraction of the benchmark archives.

* safe: no member may land outside the target (absolute names, ``..`` and
  device files are refused; tar uses ``filter="data"``); links are refused in
  both kinds of archive alike (tar symbolic and hard links, zip symbolic
  links): the original benchmark archives hold none, so an archive with a
  link is not the original;
* atomic: the archive is unpacked into a temporary folder next to the target
  and the expected top folder is renamed into place only when complete;
* idempotent: when the target folder is there, nothing is done (and said so);
* the archive itself is only read, never moved or deleted.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from ..atomic_writers import atomic_copy, dir_mode, file_mode, make_temp_dir

__all__ = ["extract_archive", "place_file", "temp_dir_next_to", "remove_stale_temp_dirs"]


def extract_archive(
    archive: str | os.PathLike,
    dest: str | os.PathLike,
    top: str,
    *,
    progress: bool | None = None,
    log=print,
) -> Path:
    """Unpack ``archive`` so that ``dest/top`` appears complete or not at all.

    ``top`` is the folder the archive is known to hold (e.g. ``CUB_200_2011``);
    other top-level members are dropped. Returns ``dest/top``.
    """
    archive, dest = Path(archive), Path(dest)
    final = dest / top
    if final.exists():
        log(f"{archive.name}: already extracted to {final}, nothing to do")
        return final
    dest.mkdir(parents=True, exist_ok=True)
    remove_stale_temp_dirs(dest, f".{top}.extract")
    tmp = temp_dir_next_to(final, "extract")
    try:
        log(f"{archive.name}: extracting to {final}")
        if archive.name.lower().endswith(".zip"):
            _extract_zip(archive, tmp, progress)
        else:
            _extract_tar(archive, tmp, progress)
        inner = tmp / top
        if not inner.is_dir():
            found = ", ".join(sorted(p.name for p in tmp.iterdir())[:5]) or "nothing"
            raise ValueError(
                f"{archive} does not hold the folder {top}/ (found: {found}); it is not the expected "
                "archive. Replace it with the original file (see data/README.md)"
            )
        _umask_modes(inner)
        os.rename(inner, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def place_file(src: str | os.PathLike, dest_dir: str | os.PathLike) -> Path:
    """Copy a plain (non-archive) source file into ``dest_dir`` atomically.

    A real copy, never a hard link: a write to the copy under ``raw/`` must not
    change the user's own file. ``src`` is left where it is.
    """
    src, dest_dir = Path(src), Path(dest_dir)
    final = dest_dir / src.name
    if final.exists() and not _same_file(src, final):
        return final
    return atomic_copy(src, final)  # also replaces a hard link left by an older version


def temp_dir_next_to(target: Path, tag: str) -> Path:
    """A new empty folder ``.<target name>.<tag>-<pid>-<random>`` beside ``target``."""
    return make_temp_dir(target.parent, f".{target.name}.{tag}-{os.getpid()}-")  # mode from the umask, not 0700


def remove_stale_temp_dirs(parent: Path, prefix: str) -> list[Path]:
    """Delete ``parent/<prefix>-<pid>-*`` folders left by runs that are no longer alive."""
    removed = []
    if not parent.is_dir():
        return removed
    for entry in parent.iterdir():
        if not entry.name.startswith(prefix + "-") or not entry.is_dir():
            continue
        pid_text = entry.name[len(prefix) + 1 :].split("-", 1)[0]
        if pid_text.isdigit() and not _alive(int(pid_text)):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


# --------------------------------------------------------------------------- internals


def _umask_modes(top: Path) -> None:
    """Give every extracted folder and file the mode a plain ``mkdir``/``open`` gives under the umask.

    tar members carry their own modes (a re-packed archive may hold ``0700``
    folders or ``0600`` files), which would make ``raw/`` private to whoever
    ran prepare; the files are data, so no execute bits either.
    """
    folder_mode, data_mode = dir_mode(), file_mode()
    os.chmod(top, folder_mode)
    for parent, dirs, files in os.walk(top):
        for name in dirs:
            os.chmod(os.path.join(parent, name), folder_mode)
        for name in files:
            os.chmod(os.path.join(parent, name), data_mode)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _check_name(archive: Path, name: str) -> PurePosixPath:
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise ValueError(
            f"{archive} holds the member {name!r}, which would be written outside the target folder; "
            "refusing to extract it. Use the original archive from the dataset's authors"
        )
    return path


def _damaged(archive: Path, err: BaseException) -> ValueError:
    return ValueError(
        f"{archive} is damaged or truncated ({type(err).__name__}: {err}). Replace it with an intact copy: move "
        "it out of the archives folder and run prepare --download, or fetch it by hand (see data/README.md)"
    )


def _link_refused(archive: Path, name: str, kind: str, target: str) -> ValueError:
    return ValueError(
        f"{archive} holds the {kind} {name!r} -> {target!r}; refusing to extract it (links are refused in tar and "
        "zip archives alike: the original benchmark archives hold none, so this is not the original). Use the "
        "original archive from the dataset's authors (see data/README.md)"
    )


def _extract_tar(archive: Path, tmp: Path, progress) -> None:
    try:
        with (
            tarfile.open(archive, "r:*") as tar,
            tqdm(
                unit=" files",
                desc=f"extract {archive.name}",
                disable=None if progress is None else not progress,
            ) as bar,
        ):
            for member in tar:
                _check_name(archive, member.name)
                if member.issym() or member.islnk():
                    kind = "symbolic link" if member.issym() else "hard link"
                    raise _link_refused(archive, member.name, kind, member.linkname)
                if not (member.isfile() or member.isdir()):
                    raise ValueError(f"{archive} holds {member.name!r}, which is not a file or folder; refusing")
                _extract_member(tar, member, tmp, archive)
                bar.update(1)
    except (tarfile.ReadError, tarfile.CompressionError, EOFError, zlib.error) as err:
        raise _damaged(archive, err) from None
    except tarfile.TarError as err:
        raise _damaged(archive, err) from None


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, tmp: Path, archive: Path) -> None:
    if not hasattr(tarfile, "data_filter"):  # Python < 3.11.4: names and types were checked above
        tar.extract(member, tmp, set_attrs=False)
        return
    try:
        tar.extract(member, tmp, filter="data")
    except tarfile.FilterError as err:
        raise ValueError(f"{archive}: unsafe member {member.name!r} ({err}); refusing") from None


def _extract_zip(archive: Path, tmp: Path, progress) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for member in members:
                _check_name(archive, member.filename)
                if stat.S_ISLNK(member.external_attr >> 16):
                    raise _link_refused(
                        archive, member.filename, "symbolic link", zf.read(member).decode("utf-8", "replace")
                    )
            for member in tqdm(
                members,
                unit=" files",
                desc=f"extract {archive.name}",
                disable=None if progress is None else not progress,
            ):
                zf.extract(member, tmp)
    except (zipfile.BadZipFile, EOFError, zlib.error) as err:
        raise _damaged(archive, err) from None
