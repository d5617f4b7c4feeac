"""Issue 10, data: corrupt images found before training, --accept-checksum and truthful manifests,
messages that never advise deleting what the user placed, Ctrl-C during prepare, raw copies."""

from __future__ import annotations

import json
import os
import tarfile
from functools import partial

import pytest
from _fabricate import jpeg_bytes, make_cars, make_cub, make_split, small_spec, tiny_argv, tiny_config

from proxygml_lite.data import FolderDataset
from proxygml_lite.data import prepare as P
from proxygml_lite.data.__main__ import main as data_cli
from proxygml_lite.data.download import ChecksumError, file_checksum
from proxygml_lite.data.images import BadImagesError, find_bad_images
from proxygml_lite.train import main as train_cli
from proxygml_lite.training.trainer import train


@pytest.fixture
def root(tmp_path):
    return tmp_path / "data"


def leftovers(root):
    return [str(p) for p in root.rglob(".*") if p.is_dir()]


def run_prepare(name, root, **kw):
    messages = []
    P.prepare_dataset(name, root, progress=False, log=messages.append, **kw)
    return messages


def use_cub(monkeypatch, root, published_md5=None, **make_kw):
    path = make_cub(root / "archives", **make_kw)
    md5s = {path.name: published_md5} if published_md5 else None
    monkeypatch.setitem(
        P.SPECS,
        "cub200",
        small_spec(
            "cub200",
            files=None if md5s else {path.name: path},
            md5s=md5s,
            first_test_class=3,
            counts={"train": (2, 5), "test": (2, 5)},
        ),
    )
    return path


# --------------------------------------------------------------------------- corrupt images


def folder_with_bad_images(root):
    """A --dataset folder with one zero-byte and one truncated JPEG in the training split."""
    make_split(root / "train", range(4), 4, seed=1)
    make_split(root / "test", range(4, 7), 3, seed=2)
    empty = root / "train" / "1" / "empty.jpg"
    empty.write_bytes(b"")
    truncated = root / "train" / "2" / "truncated.jpg"
    data = jpeg_bytes(5, size=64)
    truncated.write_bytes(data[: len(data) // 2])
    return empty, truncated


def test_find_bad_images_names_a_zero_byte_and_a_truncated_jpeg(tmp_path):
    empty, truncated = folder_with_bad_images(tmp_path)
    paths = [p for p, _ in FolderDataset(tmp_path, "train").samples]
    bad = dict(find_bad_images(paths, progress=False))
    assert set(bad) == {str(empty), str(truncated)}
    assert "empty file" in bad[str(empty)] and "truncated" in bad[str(truncated)]


def test_data_check_decodes_every_image_and_names_each_bad_file(tmp_path, capsys):
    empty, truncated = folder_with_bad_images(tmp_path)
    assert data_cli(["check", "folder", "--data-root", str(tmp_path), "--quiet"]) == 1
    captured = capsys.readouterr()
    assert str(empty) in captured.err and str(truncated) in captured.err
    assert "2 image(s) in" in captured.err and "test: all 9 images decode" in captured.out
    empty.unlink()
    truncated.unlink()
    assert data_cli(["check", "folder", "--data-root", str(tmp_path), "--quiet"]) == 0


#: What this file's runs change in the shared tiny run (_fabricate.tiny_config).
tiny = partial(tiny_config, epochs=1, warm=0, eval_untrained=False, compute_nmi=False)


def test_training_fails_before_its_first_step_naming_the_bad_images(tmp_path):
    empty, truncated = folder_with_bad_images(tmp_path / "folder")
    steps = []
    with pytest.raises(BadImagesError) as err:
        train(tiny(tmp_path / "folder", tmp_path / "run"), callback=lambda event, info: steps.append(event))
    assert str(empty) in str(err.value) and str(truncated) in str(err.value)
    assert "before its first step" in str(err.value) and "--check-images skip" in str(err.value)
    assert steps == [] and not (tmp_path / "run" / "checkpoint.pt").exists()


def test_check_images_skip_trains_without_them_and_reports_them(tmp_path, capsys):
    empty, truncated = folder_with_bad_images(tmp_path / "folder")
    out = tmp_path / "run"
    argv = tiny_argv(tmp_path / "folder", out) + [
        "--epochs",
        "1",
        "--quiet",
        "--no-nmi",
        "--warm",
        "0",
        "--check-images",
        "skip",
    ]
    assert train_cli(argv) == 0
    err = capsys.readouterr().err
    assert str(empty) in err and str(truncated) in err and "training without these 2 file(s)" in err
    results = json.loads((out / "results.json").read_text())
    assert sorted(results["skipped_images"]["train"]) == sorted([str(empty), str(truncated)])
    assert results["train_samples"] == 4 * 4  # the 16 good images; the 2 bad ones left out


def test_one_class_folder_dataset_names_the_folder(tmp_path):
    make_split(tmp_path / "folder" / "train", range(1), 3)
    make_split(tmp_path / "folder" / "test", range(1, 3), 3)
    with pytest.raises(ValueError, match="at least 2 training classes") as err:
        train(tiny(tmp_path / "folder", tmp_path / "run"))
    assert str(tmp_path / "folder" / "train") in str(err.value) and "num_classes" not in str(err.value)


# --------------------------------------------------------------------------- checksum override, manifest


def test_a_repacked_archive_needs_accept_checksum_and_the_manifest_says_so(monkeypatch, root):
    published = "0" * 32
    path = use_cub(monkeypatch, root, published_md5=published)
    actual = file_checksum(path)
    with pytest.raises(ChecksumError) as err:
        run_prepare("cub200", root)
    assert "--accept-checksum" in str(err.value) and actual in str(err.value)
    assert "delete" not in str(err.value).lower()
    assert path.exists() and not (root / "raw" / "cub200").exists()

    messages = run_prepare("cub200", root, accept_checksum=True)
    warning = next(m for m in messages if "WARNING" in m)
    assert actual in warning and published in warning and "NOT the verified original" in warning
    source = json.loads((root / "cub200" / "manifest.json").read_text())["sources"][0]
    assert source["md5"] == actual and source["published_md5"] == published and source["verified"] is False
    assert "--accept-checksum" in source["note"]


def test_a_hand_extracted_copy_is_recorded_as_not_checked(monkeypatch, root):
    path = use_cub(monkeypatch, root)
    raw = root / "raw" / "cub200"
    raw.mkdir(parents=True)
    with tarfile.open(path) as tar:
        tar.extractall(raw, filter="data")
    path.unlink()  # the user has only the extracted folder
    run_prepare("cub200", root)
    source = json.loads((root / "cub200" / "manifest.json").read_text())["sources"][0]
    assert source["verified"] is False and "md5" not in source and "not checked" in source["note"]


def test_decode_error_on_the_hand_extracted_route_never_blames_a_checksum(monkeypatch, root):
    bad = "002.Bird_B/Bird_B_0002_1005.jpg"
    path = use_cub(monkeypatch, root, corrupt=bad)
    raw = root / "raw" / "cub200"
    raw.mkdir(parents=True)
    with tarfile.open(path) as tar:
        tar.extractall(raw, filter="data")
    with pytest.raises(BadImagesError) as err:
        run_prepare("cub200", root)
    text = str(err.value)
    assert bad in text and "placed there by hand" in text
    assert "checksum-verified" not in text and "--no-verify-images" not in text and "delete" not in text.lower()
    assert (raw / "CUB_200_2011" / "images" / bad).exists()  # left alone


def test_decode_error_after_a_verified_extraction_says_the_copy_changed(monkeypatch, root):
    use_cub(monkeypatch, root)
    run_prepare("cub200", root, verify_images=False)
    victim = root / "raw" / "cub200" / "CUB_200_2011" / "images" / "003.Bird_C" / "Bird_C_0001_1006.jpg"
    os.unlink(victim)
    victim.write_bytes(b"")
    with pytest.raises(BadImagesError) as err:
        run_prepare("cub200", root, force=True)
    text = str(err.value)
    assert "empty file" in text and "extracted by prepare" in text and "was changed since" in text
    assert "--no-verify-images" not in text


def test_incomplete_prepared_copy_message_reads_cleanly(monkeypatch, root):
    use_cub(monkeypatch, root)
    run_prepare("cub200", root)
    next((root / "cub200" / "test" / "3").iterdir()).unlink()
    with pytest.raises(ValueError) as err:
        run_prepare("cub200", root)
    text = str(err.value)
    assert "is not a complete prepared copy: " in text and "records 3. Rebuild it with python -m" in text
    assert "with:)" not in text and "with:\n" not in text


# --------------------------------------------------------------------------- Ctrl-C, raw copies


def test_ctrl_c_during_prepare_prints_one_line_and_leaves_nothing(monkeypatch, root, capsys):
    use_cub(monkeypatch, root)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(P, "write_manifest", interrupted)  # Ctrl-C with the images already linked into a temp folder
    assert data_cli(["prepare", "cub200", "--data-root", str(root), "--quiet"]) == 130
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    last = err.splitlines()[-1]  # the lines before are prepare's progress log
    assert last.startswith("Interrupted while building") and "temporary folders were removed" in last
    assert last.endswith(f"python -m proxygml_lite.data prepare cub200 --data-root {root}")
    assert not (root / "cub200").exists() and leftovers(root) == []
    monkeypatch.undo()


def test_cars_annos_is_copied_not_linked(monkeypatch, root):
    ims, annos = make_cars(root / "archives", per_class=(2, 3, 2, 2))
    monkeypatch.setitem(
        P.SPECS,
        "cars196",
        small_spec(
            "cars196",
            files={ims.name: ims, annos.name: annos},
            first_test_class=3,
            counts={"train": (2, 5), "test": (2, 4)},
        ),
    )
    before = annos.read_bytes()
    run_prepare("cars196", root)
    copy = root / "raw" / "cars196" / "cars_annos.mat"
    assert os.stat(copy).st_ino != os.stat(annos).st_ino and os.stat(annos).st_nlink == 1
    copy.write_bytes(b"changed")
    assert annos.read_bytes() == before


def test_data_check_on_a_prepared_benchmark_names_the_bad_file_and_the_rebuild(monkeypatch, root, capsys):
    use_cub(monkeypatch, root)
    run_prepare("cub200", root)
    assert data_cli(["check", "cub200", "--data-root", str(root), "--quiet"]) == 0
    assert "test: all 5 images decode" in capsys.readouterr().out
    victim = next((root / "cub200" / "train" / "0").iterdir())
    os.unlink(victim)  # break the hard link, keep the count
    victim.write_bytes(b"")
    assert data_cli(["check", "cub200", "--data-root", str(root), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert str(victim) in err and "empty file" in err and "prepare cub200" in err and "--force" in err
