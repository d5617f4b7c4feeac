"""proxygml_lite.atomic_writers and .fileio: atomic writes, and everything the package writes is readable by group and others.

Under umask 022 a plain ``open()``/``mkdir`` gives 0644/0755; the package's
temporary files and folders (renamed into place) must end the same, so that a
shared course folder works for every user (issue 10).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from _fabricate import make_cub, make_tiny_folder_dataset, small_spec, tiny_config  # noqa: E402

from proxygml_lite import atomic_writers, fileio  # noqa: E402
from proxygml_lite.data import glyphs as G  # noqa: E402
from proxygml_lite.data import prepare as P  # noqa: E402
from proxygml_lite.teaching.notebook import save_figure  # noqa: E402
from proxygml_lite.training.trainer import train  # noqa: E402


@pytest.fixture
def umask(request):
    """Run the test under the umask given by the parameter (022 by default); restore it after."""
    old = os.umask(getattr(request, "param", 0o022))
    yield
    os.umask(old)


def unreadable(root: Path) -> list[str]:
    """Entries under ``root`` (itself included) that group or others cannot read (folders: read + enter)."""
    bad = []
    for path in [root, *root.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        need = (stat.S_IRGRP | stat.S_IROTH) | ((stat.S_IXGRP | stat.S_IXOTH) if path.is_dir() else 0)
        if mode & need != need:
            bad.append(f"{path.relative_to(root.parent)} {stat.filemode(mode)}")
    return bad


def test_modes_follow_the_umask(umask, tmp_path):
    assert atomic_writers.current_umask() == 0o022
    assert atomic_writers.file_mode() == 0o644 and atomic_writers.dir_mode() == 0o755
    written = [
        atomic_writers.atomic_write_bytes(tmp_path / "a.bin", b"x"),
        atomic_writers.atomic_write_text(tmp_path / "b.txt", "é"),
        atomic_writers.atomic_write_json(tmp_path / "c.json", {"x": float("nan")}),
        atomic_writers.atomic_write_csv(tmp_path / "d.csv", [{"a": 1}, {"b": 2}]),
        atomic_writers.atomic_torch_save({"t": torch.ones(2)}, tmp_path / "e.pt"),
        atomic_writers.atomic_copy(tmp_path / "a.bin", tmp_path / "f.bin"),
    ]
    plain = tmp_path / "plain"
    plain.write_bytes(b"")  # what the umask gives to an ordinary file
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(plain.stat().st_mode) == 0o644, path
    folder = atomic_writers.make_temp_dir(tmp_path, ".x-")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    assert (tmp_path / "b.txt").read_text() == "é"
    assert json.loads((tmp_path / "c.json").read_text())["x"] != json.loads((tmp_path / "c.json").read_text())["x"]
    assert (tmp_path / "d.csv").read_text() == "a,b\n1,\n,2\n"
    assert torch.load(tmp_path / "e.pt")["t"].tolist() == [1.0, 1.0]
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("umask", [0o077], indirect=True)
def test_a_private_umask_stays_private(umask, tmp_path):
    path = atomic_writers.atomic_write_text(tmp_path / "secret.txt", "x")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(atomic_writers.make_temp_dir(tmp_path, ".y-").stat().st_mode) == 0o700


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = atomic_writers.atomic_write_text(tmp_path / "keep.txt", "old")

    def explode(fh):
        fh.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_writers.atomic_write(target, explode)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_a_full_disk_mid_checkpoint_keeps_the_previous_one_loadable(tmp_path, monkeypatch):
    """Errno 28 halfway through ``torch.save``: one line naming the file and the fix; the old checkpoint loads."""
    import errno

    from proxygml_lite.training.checkpoint import load_checkpoint

    target = tmp_path / "run" / "checkpoint.pt"
    atomic_writers.atomic_torch_save({"epoch": 1, "weight": torch.ones(3)}, target)
    real_save = torch.save

    def save_until_full(obj, fh, *args, **kwargs):
        real_save(obj, fh, *args, **kwargs)
        fh.truncate(fh.tell() // 2)  # half of it on disk, then the disk is full
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(torch, "save", save_until_full)
    with pytest.raises(atomic_writers.WriteError) as caught:
        atomic_writers.atomic_torch_save({"epoch": 2, "weight": torch.zeros(1000)}, target)
    message = str(caught.value)
    assert "\n" not in message and caught.value.errno == errno.ENOSPC
    assert message.startswith(f"cannot write {target}: ") and "free some disk space" in message
    monkeypatch.undo()
    assert sorted(p.name for p in target.parent.iterdir()) == ["checkpoint.pt"]  # the temporary file is gone
    kept = torch.load(target, weights_only=True)
    assert kept["epoch"] == 1 and torch.equal(kept["weight"], torch.ones(3))
    assert load_checkpoint(target)["epoch"] == 1


def test_a_disk_that_fills_up_inside_torch_save_is_one_line_not_the_zip_writers_error(tmp_path, monkeypatch):
    """Review finding (issue 16): on a real full disk ``torch.save`` raises its zip writer's ``RuntimeError``
    ("unexpected pos ..."), not the file's ``OSError``: a traceback instead of the one line."""
    import errno

    target = tmp_path / "run" / "checkpoint.pt"
    atomic_writers.atomic_torch_save({"epoch": 1, "weight": torch.ones(3)}, target)
    real_fdopen = os.fdopen

    class FillsUp:
        """The temporary file, on a disk with 4 kB left."""

        def __init__(self, fh):
            self.fh, self.written = fh, 0

        def write(self, data):
            if self.written + len(data) > 4096:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.written += len(data)
            return self.fh.write(data)

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: FillsUp(real_fdopen(fd, mode)))
    with pytest.raises(atomic_writers.WriteError) as caught:
        atomic_writers.atomic_torch_save({"epoch": 2, "weight": torch.zeros(100_000)}, target)
    message = str(caught.value)
    assert "\n" not in message and caught.value.errno == errno.ENOSPC and "free some disk space" in message
    monkeypatch.undo()
    assert sorted(p.name for p in target.parent.iterdir()) == ["checkpoint.pt"]
    assert torch.load(target, weights_only=True)["epoch"] == 1


@pytest.mark.parametrize("out", ["file", "file/run"])
def test_an_out_folder_that_is_a_file_is_one_line(tmp_path, out):
    """Review finding (issue 16): ``--out`` on a file (or under one) was FileExistsError / NotADirectoryError."""
    (tmp_path / "file").write_text("mine")
    with pytest.raises(atomic_writers.WriteError) as caught:
        atomic_writers.makedirs(tmp_path / out)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"cannot write {tmp_path / out}: ")
    assert "is a file, not a folder" in message
    assert (tmp_path / "file").read_text() == "mine"


def _refuse_under(monkeypatch, folder: Path, error: OSError) -> None:
    """Every folder or file creation under ``folder`` raises ``error`` (root ignores chmod: simulate instead)."""
    real_open, real_mkdir = os.open, os.mkdir

    def guarded(real):
        def call(path, *args, **kwargs):
            if os.path.abspath(path).startswith(str(folder)):
                raise error
            return real(path, *args, **kwargs)

        return call

    monkeypatch.setattr(os, "open", guarded(real_open))
    monkeypatch.setattr(os, "mkdir", guarded(real_mkdir))


@pytest.mark.parametrize(
    "error",
    [OSError(30, os.strerror(30)), PermissionError(13, os.strerror(13))],
    ids=["EROFS", "EACCES"],
)
@pytest.mark.parametrize("glyphs_exists", [False, True], ids=["no-glyphs-folder", "glyphs-folder"])
def test_a_read_only_data_root_is_one_line_before_the_glyphs_are_generated(tmp_path, monkeypatch, error, glyphs_exists):
    """Issue 16: ``<data_root>/glyphs`` read-only or forbidden: the folder and the fix named, nothing generated."""
    from proxygml_lite.data.glyphs import cache

    data = tmp_path / "data"
    (data / "glyphs" if glyphs_exists else data).mkdir(parents=True)
    monkeypatch.setattr(
        cache, "generate_glyph_arrays", lambda *a: pytest.fail("generated although nothing can be written")
    )
    _refuse_under(monkeypatch, data, error)
    with pytest.raises(atomic_writers.WriteError) as caught:
        G.ensure_glyphs(data, progress=False, images_per_face=1)
    message = str(caught.value)
    assert "\n" not in message and caught.value.errno == error.errno
    assert message.startswith(f"cannot write {data / 'glyphs'}: ") and f"(errno {error.errno})" in message
    assert "make the folder writable or pass another --data folder" in message


def test_a_full_disk_while_writing_the_glyph_cache_names_the_folder_and_leaves_no_half(tmp_path, monkeypatch):
    import errno

    data = tmp_path / "data"
    real_fsync = os.fsync

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(
        atomic_writers.WriteError, match=r"^cannot write .*glyphs: .*errno 28\); free some disk space or pass"
    ):
        G.ensure_glyphs(data, progress=False, images_per_face=1)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert list((data / "glyphs").iterdir()) == []  # no archive without its manifest, no temporary file


def test_atomic_copy_is_independent_of_its_source(tmp_path):
    src = atomic_writers.atomic_write_text(tmp_path / "src.mat", "original")
    os.chmod(src, 0o444)
    copy = atomic_writers.atomic_copy(src, tmp_path / "raw" / "src.mat")
    assert os.stat(copy).st_ino != os.stat(src).st_ino
    copy.write_text("changed")  # writable although the source is read-only
    assert src.read_text() == "original"


def test_prepare_writes_a_shareable_folder(umask, monkeypatch, tmp_path):
    root = tmp_path / "data"
    archive = make_cub(root / "archives")
    monkeypatch.setitem(
        P.SPECS,
        "cub200",
        small_spec(
            "cub200", files={archive.name: archive}, first_test_class=3, counts={"train": (2, 5), "test": (2, 5)}
        ),
    )
    P.prepare_dataset("cub200", root, progress=False, log=lambda m: None)
    assert (root / "cub200" / "manifest.json").is_file()
    assert unreadable(root) == []


def test_a_training_run_folder_is_shareable(umask, tmp_path):
    data = make_tiny_folder_dataset(tmp_path / "tiny", per_class=4)
    out = tmp_path / "run"
    cfg = tiny_config(str(data), str(out), epochs=1, warm=0, seed=0, save_proxies=True)
    train(cfg)
    names = {p.name for p in out.rglob("*")}
    assert {"config.json", "metrics.csv", "results.json", "checkpoint.pt"} <= names
    assert unreadable(out) == []


def test_glyph_cache_and_figures_are_shareable(umask, tmp_path):
    G.ensure_glyphs(tmp_path / "data", progress=False, images_per_face=1)
    fig = plt.figure(figsize=(1, 1))
    save_figure(fig, "00_test", directory=tmp_path / "figures")
    plt.close(fig)
    assert len(list((tmp_path / "data" / "glyphs").iterdir())) == 2
    assert (tmp_path / "figures" / "00_test.png").is_file()
    assert unreadable(tmp_path / "data") == [] and unreadable(tmp_path / "figures") == []


def test_private_modes_inside_an_archive_do_not_make_raw_private(umask, monkeypatch, tmp_path):
    import io
    import tarfile

    root = tmp_path / "data"
    archive = make_cub(root / "archives")
    data = io.BytesIO()
    with tarfile.open(archive) as src, tarfile.open(fileobj=data, mode="w:gz") as dst:
        for member in src.getmembers():  # a re-packed copy: private folders and files
            member.mode = 0o700 if member.isdir() else 0o600
            dst.addfile(member, src.extractfile(member) if member.isfile() else None)
    archive.write_bytes(data.getvalue())
    monkeypatch.setitem(
        P.SPECS,
        "cub200",
        small_spec(
            "cub200", files={archive.name: archive}, first_test_class=3, counts={"train": (2, 5), "test": (2, 5)}
        ),
    )
    P.prepare_dataset("cub200", root, progress=False, log=lambda m: None)
    assert unreadable(root / "raw") == [] and unreadable(root / "cub200") == []


def test_downloaded_weights_are_readable_in_a_shared_hub_cache(umask, monkeypatch, tmp_path):
    import shutil
    import tempfile

    from proxygml_lite.models import common

    def fake_download(url, dst, hash_prefix=None, progress=True):  # what torch.hub does: 0600 temp file, moved
        with tempfile.NamedTemporaryFile(delete=False, dir=os.path.dirname(dst)) as fh:
            fh.write(b"weights")
        shutil.move(fh.name, dst)

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    path = common.fetch_to_hub_cache("https://example.org/weights-0123abcd.pth")
    assert path.read_bytes() == b"weights" and unreadable(tmp_path / "hub") == []


# ------------------------------------------------------------------ one writer per folder (issue 16 item 5)
HOLD_LOCK = """
import sys, time
from proxygml_lite.fileio import exclusive_lock
with exclusive_lock(sys.argv[1], "test"):
    print("held", flush=True)
    time.sleep(60)
"""


def _holder(folder):
    """A second process that holds ``folder``'s lock until it is killed."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(folder)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_cannot_lock_a_held_folder_and_a_dead_holder_is_taken_over(tmp_path):
    import signal

    folder = tmp_path / "run"
    proc = _holder(folder)
    try:
        with pytest.raises(fileio.FolderLockedError) as refused:
            with fileio.exclusive_lock(folder):
                pytest.fail("two processes hold one folder")
        message = str(refused.value)
        assert f"pid {proc.pid} on host " in message and " since 20" in message and "choose another folder" in message
        assert "\n" not in message
    finally:
        proc.send_signal(signal.SIGKILL)  # dies holding the lock: the kernel releases it, the record stays
        proc.wait()
    with fileio.exclusive_lock(folder, "training") as held:
        assert held.taken_over is not None and held.taken_over.startswith(f"pid {proc.pid} on host ")
        assert json.loads(held.path.read_text())["pid"] == os.getpid()
    with fileio.exclusive_lock(folder) as again:  # a clean release leaves no holder behind
        assert again.taken_over is None


def test_a_lock_is_not_reentrant_and_leaves_no_folder_it_created_empty(tmp_path):
    folder = tmp_path / "new"
    with fileio.exclusive_lock(folder):
        assert (folder / fileio.LOCK_FILE).exists()
        with pytest.raises(fileio.FolderLockedError, match=rf"pid {os.getpid()} "):
            with fileio.exclusive_lock(folder):
                pass
    assert not folder.exists()  # refused early: nothing left behind
    with fileio.exclusive_lock(folder):
        (folder / "config.json").write_text("{}")
    assert (folder / "config.json").exists() and not (folder / fileio.LOCK_FILE).exists()


def test_a_lock_taken_while_the_folders_creator_removes_it_makes_the_folder_again(tmp_path, monkeypatch):
    """Review finding: another holder released and removed the (empty) folder between our mkdir and our open."""
    folder, real_open, calls = tmp_path / "new", os.open, []

    def open_after_the_other_holder_left(path, *args):
        if not calls:
            folder.rmdir()  # what the other holder's release does to a folder it created, still empty
        calls.append(path)
        return real_open(path, *args)

    monkeypatch.setattr(fileio.os, "open", open_after_the_other_holder_left)
    with fileio.exclusive_lock(folder):
        assert (folder / fileio.LOCK_FILE).exists()
    assert len(calls) == 2 and not folder.exists()


def test_a_dangling_lock_link_is_one_line_not_a_loop(tmp_path):
    """Review finding: the retry for a removed folder spun forever on a .lock link to nothing."""
    (tmp_path / fileio.LOCK_FILE).symlink_to(tmp_path / "nowhere" / "x")
    with pytest.raises(fileio.FolderLockedError, match=r"is a link, and a lock file never is: remove the link"):
        with fileio.exclusive_lock(tmp_path):
            pass


def test_a_planted_lock_link_or_hard_link_never_writes_its_target(tmp_path):
    """Review of issue 16 (HIGH): a .lock link to any writable file had that file truncated and overwritten."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    linked = tmp_path / "run"
    linked.mkdir()
    (linked / fileio.LOCK_FILE).symlink_to(victim)
    with pytest.raises(fileio.FolderLockedError, match="is a link, and a lock file never is"):
        with fileio.exclusive_lock(linked):
            pass
    hard = tmp_path / "run2"
    hard.mkdir()
    os.link(victim, hard / fileio.LOCK_FILE)
    with pytest.raises(fileio.FolderLockedError, match="is not a plain lock file"):
        with fileio.exclusive_lock(hard):
            pass
    assert victim.read_text() == "precious\n"


def test_empty_or_truncated_csv_and_npz_files_are_named(tmp_path):
    """Issue 16 "one clear line": what the notebook helpers read (tables, snapshot files) names a damaged file."""
    import numpy as np

    from proxygml_lite.studies.snapshots import read_snapshot_npz

    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match=r"empty.csv is empty; restore it"):
        fileio.read_csv(tmp_path / "empty.csv")
    (tmp_path / "cut.csv").write_text('a,b\n1,"x\n')
    with pytest.raises(ValueError, match=r"cut.csv is not a readable CSV table \(truncated or damaged: .*EOF inside"):
        fileio.read_csv(tmp_path / "cut.csv")
    np.savez(tmp_path / "whole.npz", x=np.arange(3))
    assert fileio.read_npz(tmp_path / "whole.npz")["x"].tolist() == [0, 1, 2]
    data = (tmp_path / "whole.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.npz").write_bytes(b"")
    for name in ("cut.npz", "empty.npz"):
        with pytest.raises(ValueError, match=rf"{name} is not a readable .npz file") as exc:
            read_snapshot_npz(tmp_path / name)
        assert "\n" not in str(exc.value)
    with pytest.raises(FileNotFoundError):
        fileio.read_npz(tmp_path / "missing.npz")


def test_a_npy_file_named_npz_is_named_as_no_npz_archive(tmp_path):
    """np.load returns the one array of a .npy whatever the name: read_npz raised a raw TypeError (no context manager)."""
    import numpy as np

    np.save(tmp_path / "renamed.npy", np.arange(3))
    (tmp_path / "renamed.npy").rename(tmp_path / "renamed.npz")
    with pytest.raises(ValueError) as exc:
        fileio.read_npz(tmp_path / "renamed.npz")
    text = str(exc.value)
    assert text.startswith(f"{tmp_path / 'renamed.npz'} is not an .npz archive (it holds one array, as a .npy file")
    assert "restore it" in text and "\n" not in text


def test_the_unsafe_pickle_refusal_names_the_object_and_never_passes_on_torchs_advice(tmp_path):
    """torch.load(weights_only=True)'s UnpicklingError advises weights_only=False: the one line must not."""
    import fractions
    import pickle

    import torch

    path = tmp_path / "planted.pt"
    torch.save({"third": fractions.Fraction(1, 3)}, path)  # not a plain value for the safe loader
    with pytest.raises(pickle.UnpicklingError) as caught:
        torch.load(path, weights_only=True)
    assert "weights_only" in str(caught.value)  # what torch says
    refusal = fileio.unsafe_pickle_refusal(path, caught.value, "regenerate it with this package: FIX")
    assert str(refusal) == (
        f"refusing to load {path}: it holds Python objects (fractions.Fraction) other than tensors and plain values "
        "(numbers, strings, lists, dicts), which could run code when loaded, so it is refused for safety and nothing "
        "was loaded; regenerate it with this package: FIX"
    )


def test_a_pickle_named_npz_is_refused_without_numpys_advice_to_unpickle(tmp_path):
    """numpy's message advises allow_pickle= or pickle.load(), which would run the file's code: not passed on."""
    import pickle

    (tmp_path / "planted.npz").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError) as exc:
        fileio.read_npz(tmp_path / "planted.npz")
    text = str(exc.value)
    assert "pickled Python objects, which are never loaded" in text and "\n" not in text
    assert "allow_pickle" not in text and "pickle.load" not in text
