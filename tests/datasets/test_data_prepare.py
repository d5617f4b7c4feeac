"""prepare / load on miniature archives in each benchmark's exact raw layout (see _fabricate.py)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import types
from pathlib import Path

import pytest
from _fabricate import CORRUPT, jpeg_bytes, make_cars, make_cub, make_sop, small_spec
from PIL import Image

from proxygml_lite.data import DATASETS, FolderDataset, load_dataset
from proxygml_lite.data import prepare as P
from proxygml_lite.data.__main__ import main as cli
from proxygml_lite.data.download import ChecksumError, file_checksum


def _leftovers(root: Path) -> list[str]:
    """Hidden temporary folders anywhere under root (there should be none)."""
    return [str(p) for p in root.rglob(".*") if p.is_dir()]


@pytest.fixture
def root(tmp_path):
    return tmp_path / "data"


def use_spec(monkeypatch, name, **kw):
    spec = small_spec(name, **kw)
    monkeypatch.setitem(P.SPECS, name, spec)
    return spec


def cub_setup(monkeypatch, root, **make_kw):
    path = make_cub(root / "archives", **make_kw)
    use_spec(
        monkeypatch, "cub200", files={path.name: path}, first_test_class=3, counts={"train": (2, 5), "test": (2, 5)}
    )
    return path


def run_prepare(name, root, **kw):
    messages = []
    out = P.prepare_dataset(name, root, progress=False, log=messages.append, **kw)
    return out, messages


# --------------------------------------------------------------------------- happy paths


def test_cub_prepare_layout_manifest_and_load(monkeypatch, root):
    archive = cub_setup(monkeypatch, root)
    archive_md5 = file_checksum(archive)
    out, _ = run_prepare("cub200", root)
    assert out == root / "cub200"
    assert sorted(os.listdir(out / "train")) == ["0", "1"]  # 0-based class ids, as the official README
    assert sorted(os.listdir(out / "test")) == ["2", "3"]
    assert len(os.listdir(out / "train" / "0")) == 3 and len(os.listdir(out / "test" / "3")) == 3
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["splits"]["train"]["num_classes"] == 2 and manifest["splits"]["train"]["num_images"] == 5
    assert manifest["splits"]["test"]["classes"]["2"] == {"name": "003.Bird_C", "images": 2}
    assert manifest["sources"] == [
        {
            "file": "CUB_200_2011.tgz",
            "md5": archive_md5,
            "published_md5": archive_md5,
            "verified": True,
            "note": "md5 matches the published checksum",
        }
    ]
    # hard links into the extracted raw copy; the archive is untouched
    some = next((out / "train" / "0").iterdir())
    raw = root / "raw" / "cub200" / "CUB_200_2011" / "images" / "001.Bird_A" / some.name
    assert os.stat(some).st_ino == os.stat(raw).st_ino
    assert file_checksum(archive) == archive_md5
    assert _leftovers(root) == []

    train = load_dataset("cub200", root, "train")
    test = load_dataset("cub200", root, "test")
    assert train.num_classes == 2 and train.targets == [0, 0, 0, 1, 1]
    assert train.classes == ["001.Bird_A", "002.Bird_B"]
    assert test.targets == [0, 0, 1, 1, 1] and test.classes == ["003.Bird_C", "004.Bird_D"]
    assert test.class_folders == ["2", "3"]
    image, target = test[4]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (8, 8) and target == 1
    assert [t for _, t in train.samples] == train.targets
    tensor_ds = load_dataset("cub200", root, "train", transform=lambda im: im.size)
    assert tensor_ds[0] == ((8, 8), 0)


def test_second_prepare_does_nothing_and_says_so(monkeypatch, root):
    cub_setup(monkeypatch, root)
    run_prepare("cub200", root)
    stamp = (root / "cub200" / "manifest.json").stat().st_mtime_ns
    _, messages = run_prepare("cub200", root)
    assert any("nothing to do" in m for m in messages)
    assert (root / "cub200" / "manifest.json").stat().st_mtime_ns == stamp


def test_cars_prepare_uses_class_ids_not_the_test_flag(monkeypatch, root):
    ims, annos = make_cars(root / "archives", per_class=(2, 3, 2, 2))
    use_spec(
        monkeypatch,
        "cars196",
        files={ims.name: ims, annos.name: annos},
        first_test_class=3,
        counts={"train": (2, 5), "test": (2, 4)},
    )
    run_prepare("cars196", root)
    train = load_dataset("cars196", root, "train")
    test = load_dataset("cars196", root, "test")
    assert train.classes == ["Maker Model 1 2012", "Maker Model 2 2012"]
    assert sorted(train.targets) == [0, 0, 1, 1, 1] and len(test) == 4
    assert test.class_folders == ["2", "3"]
    assert (root / "raw" / "cars196" / "cars_annos.mat").is_file() and annos.is_file()


def test_sop_prepare_through_the_command_line(monkeypatch, root, capsys):
    path = make_sop(root / "archives", train_classes=3, test_classes=2, per_class=2)
    use_spec(monkeypatch, "online_products", files={path.name: path}, counts={"train": (3, 6), "test": (2, 4)})
    assert cli(["prepare", "sop", "--data-root", str(root), "--quiet"]) == 0
    assert sorted(os.listdir(root / "online_products" / "test"), key=int) == ["3", "4"]
    ds = load_dataset("sop", root, "test")
    assert ds.num_classes == 2 and ds.targets == [0, 0, 1, 1]
    assert ds.classes[0].startswith("coffee_maker_final/") and ds.samples[0][0].endswith("_0.JPG")
    assert cli(["check", "online_products", "--data-root", str(root)]) == 0
    assert "online_products train: 3 classes, 6 images" in capsys.readouterr().out


def test_module_entry_point_runs(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "proxygml_lite.data", "sources", "cars196", "--data-root", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "d5c8f0aa497503f355e17dc7886c3f14" in result.stdout and "cars_annos.mat" in result.stdout


# --------------------------------------------------------------------------- failures


def test_missing_archive_without_download_gives_manual_steps(monkeypatch, root):
    use_spec(monkeypatch, "cub200", md5s={"CUB_200_2011.tgz": "0" * 32})
    with pytest.raises(FileNotFoundError) as err:
        run_prepare("cub200", root)
    msg = str(err.value)
    assert "CUB_200_2011.tgz" in msg and "--download" in msg
    assert f"Put it at: {root / 'archives' / 'CUB_200_2011.tgz'}" in msg and "md5 " + "0" * 32 in msg
    assert not (root / "cub200").exists()


def test_wrong_checksum_keeps_the_users_archive(monkeypatch, root):
    path = make_cub(root / "archives")
    use_spec(monkeypatch, "cub200", md5s={path.name: "f" * 32}, first_test_class=3)
    before = path.read_bytes()
    with pytest.raises(ChecksumError) as err:
        run_prepare("cub200", root)
    assert str(path) in str(err.value) and "f" * 32 in str(err.value) and "left as it is" in str(err.value)
    assert path.read_bytes() == before
    assert not (root / "cub200").exists() and not (root / "raw" / "cub200" / "CUB_200_2011").exists()
    assert _leftovers(root) == []


def test_truncated_archive(monkeypatch, root):
    path = make_cub(root / "archives")
    good_md5 = file_checksum(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    # as the user would meet it: the real checksum catches the truncation
    use_spec(monkeypatch, "cub200", md5s={path.name: good_md5}, first_test_class=3)
    with pytest.raises(ChecksumError, match="CUB_200_2011.tgz"):
        run_prepare("cub200", root)
    # and if the checksum were not there to catch it, extraction fails cleanly
    use_spec(monkeypatch, "cub200", files={path.name: path}, first_test_class=3)
    with pytest.raises(ValueError, match="damaged or truncated") as err:
        run_prepare("cub200", root)
    assert str(path) in str(err.value)
    assert not (root / "raw" / "cub200" / "CUB_200_2011").exists()
    assert not (root / "cub200").exists() and _leftovers(root) == []
    assert path.exists()


def test_missing_annotation_file(monkeypatch, root):
    cub_setup(monkeypatch, root, omit="image_class_labels.txt")
    with pytest.raises(FileNotFoundError, match="image_class_labels.txt"):
        run_prepare("cub200", root)
    assert not (root / "cub200").exists() and _leftovers(root) == []


def test_missing_cars_annotation_archive(monkeypatch, root):
    ims, annos = make_cars(root / "archives")
    use_spec(monkeypatch, "cars196", files={ims.name: ims, annos.name: annos}, first_test_class=3)
    annos.unlink()
    with pytest.raises(FileNotFoundError) as err:
        run_prepare("cars196", root)
    assert "cars_annos.mat" in str(err.value) and "Put it at:" in str(err.value)
    assert "car_ims.tgz not found" not in str(err.value)
    assert not (root / "cars196").exists()


def test_corrupt_image_is_named_and_nothing_is_left(monkeypatch, root):
    bad = "002.Bird_B/Bird_B_0002_1005.jpg"
    cub_setup(monkeypatch, root, corrupt=bad)
    with pytest.raises(ValueError) as err:
        run_prepare("cub200", root)
    assert bad in str(err.value) and "cannot be decoded" in str(err.value)
    assert not (root / "cub200").exists() and _leftovers(root) == []


def test_truncated_jpeg_is_caught(monkeypatch, root):
    cub_setup(monkeypatch, root)
    run_prepare("cub200", root, verify_images=False)  # extract only
    victim = root / "raw" / "cub200" / "CUB_200_2011" / "images" / "003.Bird_C" / "Bird_C_0001_1006.jpg"
    data = jpeg_bytes(7, size=64)
    os.unlink(victim)  # break the hard link before rewriting
    victim.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="Bird_C_0001_1006.jpg"):
        run_prepare("cub200", root, force=True)
    assert load_dataset("cub200", root, "test").num_classes == 2  # the old prepared folder is intact


def test_count_mismatch_with_the_standard_split(monkeypatch, root):
    path = make_cub(root / "archives")
    use_spec(
        monkeypatch,
        "cub200",
        files={path.name: path},
        first_test_class=3,
        counts={"train": (100, 5864), "test": (100, 5924)},
    )
    with pytest.raises(ValueError, match="5,864"):
        run_prepare("cub200", root)
    assert not (root / "cub200").exists()


def test_unsafe_archive_members_are_refused(monkeypatch, root, tmp_path):
    path = make_sop(root / "archives", evil_member="../../escaped.txt")
    use_spec(monkeypatch, "online_products", files={path.name: path})
    with pytest.raises(ValueError, match="escaped.txt"):
        run_prepare("sop", root)
    assert not any(p.name == "escaped.txt" for p in tmp_path.rglob("*"))
    cub = make_cub(root / "archives", extra_members={"../escaped.txt": b"x"})
    use_spec(monkeypatch, "cub200", files={cub.name: cub}, first_test_class=3)
    with pytest.raises(ValueError, match="escaped.txt"):
        run_prepare("cub200", root)
    assert not any(p.name == "escaped.txt" for p in tmp_path.rglob("*"))
    assert _leftovers(root) == []


def test_not_prepared_names_the_command(root):
    with pytest.raises(FileNotFoundError) as err:
        load_dataset("cars196", root, "train")
    assert f"python -m proxygml_lite.data prepare cars196 --data-root {root}" in str(err.value)
    with pytest.raises(FileNotFoundError, match="prepare sop"):
        load_dataset("sop", root, "test")


def test_modified_folder_is_detected_and_force_rebuilds(monkeypatch, root):
    cub_setup(monkeypatch, root)
    run_prepare("cub200", root)
    victim = next((root / "cub200" / "test" / "3").iterdir())
    victim.unlink()
    with pytest.raises(ValueError) as err:
        load_dataset("cub200", root, "test")
    assert str(root / "cub200" / "test" / "3") in str(err.value) and "--force" in str(err.value)
    load_dataset("cub200", root, "train")  # the untouched split still loads
    with pytest.raises(ValueError, match="--force"):
        run_prepare("cub200", root)  # never silently overwritten
    run_prepare("cub200", root, force=True)
    assert len(load_dataset("cub200", root, "test")) == 5
    (root / "cub200" / "train" / "7").mkdir()
    with pytest.raises(ValueError, match="unexpected folders 7"):
        load_dataset("cub200", root, "train")
    assert _leftovers(root) == []


def test_stale_temporary_folder_of_a_killed_run_is_removed(monkeypatch, root):
    cub_setup(monkeypatch, root)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = root / f".cub200.build-{dead.pid}-abc"
    stale.mkdir(parents=True)
    (stale / "half.jpg").write_bytes(b"x")
    run_prepare("cub200", root)
    assert not stale.exists()


def test_failure_while_building_leaves_nothing_and_a_rerun_completes(monkeypatch, root):
    cub_setup(monkeypatch, root)
    real_copy = P.shutil.copy2
    calls = []

    def disk_full(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real_copy(src, dst)

    monkeypatch.setattr(P.shutil, "copy2", disk_full)
    with pytest.raises(OSError, match="No space"):
        run_prepare("cub200", root, link="copy")
    assert not (root / "cub200").exists() and _leftovers(root) == []
    monkeypatch.setattr(P.shutil, "copy2", real_copy)
    _, messages = run_prepare("cub200", root, link="copy")
    assert any("raw files already" in m for m in messages)  # the extraction is not redone
    assert len(load_dataset("cub200", root, "train")) == 5


def test_copy_mode(monkeypatch, root):
    cub_setup(monkeypatch, root)
    run_prepare("cub200", root, link="copy")
    some = next((root / "cub200" / "train" / "1").iterdir())
    raw = root / "raw" / "cub200" / "CUB_200_2011" / "images" / "002.Bird_B" / some.name
    assert os.stat(some).st_ino != os.stat(raw).st_ino and some.read_bytes() == raw.read_bytes()
    assert json.loads((root / "cub200" / "manifest.json").read_text())["link"] == "copy"


# --------------------------------------------------------------------------- folder / load_dataset


def _img(path: Path, fmt: str = "PNG", mode: str = "RGB") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (5, 4), 128).save(path, fmt)


def test_folder_dataset(tmp_path):
    base = tmp_path / "mine"
    _img(base / "train" / "10" / "a.PNG")
    _img(base / "train" / "2" / "b.JPG", "JPEG")
    _img(base / "train" / "2" / "c.jpeg", "JPEG", "L")
    (base / "train" / "2" / "notes.txt").write_text("ignored")
    _img(base / "test" / "30" / "d.webp", "WEBP")
    ds = load_dataset("folder", base, "train")
    assert isinstance(ds, FolderDataset)
    assert ds.classes == ["2", "10"] and ds.targets == [0, 0, 1]  # numeric order
    image, _ = ds[1]
    assert image.mode == "RGB" and image.size == (5, 4)
    test = load_dataset("folder", base, "test")
    assert test.num_classes == 1 and len(test) == 1


def test_folder_dataset_errors(tmp_path):
    base = tmp_path / "mine"
    _img(base / "train" / "cat" / "a.png")
    _img(base / "train" / "dog" / "b.png")
    with pytest.raises(FileNotFoundError, match="test"):
        load_dataset("folder", base, "train")
    _img(base / "test" / "dog" / "c.png")
    _img(base / "test" / "emu" / "d.png")
    with pytest.raises(ValueError, match="dog"):
        load_dataset("folder", base, "test")
    (base / "test" / "dog" / "c.png").unlink()
    (base / "test" / "dog").rmdir()
    (base / "test" / "fox").mkdir()
    with pytest.raises(ValueError, match="fox"):
        load_dataset("folder", base, "test")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset("folder", tmp_path / "nowhere", "train")


def test_unreadable_image_at_load_names_the_file(tmp_path):
    base = tmp_path / "mine"
    _img(base / "train" / "a" / "x.png")
    (base / "train" / "a" / "y.png").write_bytes(CORRUPT)
    _img(base / "test" / "b" / "z.png")
    ds = load_dataset("folder", base, "train")
    with pytest.raises(OSError, match="y.png"):
        ds[1]


def test_names_and_dispatch(monkeypatch, tmp_path):
    choices = DATASETS.choices()  # other presets (e.g. e11's glyphs_hard) may register more
    assert choices[:5] == ("cub200", "cars196", "online_products", "sop", "glyphs") and "folder" in choices
    with pytest.raises(ValueError, match="cub200, cars196"):
        load_dataset("imagenet", tmp_path)
    with pytest.raises(ValueError, match="split"):
        load_dataset("cub200", tmp_path, "val")
    calls = []
    fake = types.ModuleType("proxygml_lite.data.glyphs")
    fake.load_glyphs = lambda root, split, transform=None, **options: (
        calls.append((root, split, transform, options)) or "glyphs!"
    )
    monkeypatch.setitem(sys.modules, "proxygml_lite.data.glyphs", fake)
    assert load_dataset("glyphs", tmp_path, "test") == "glyphs!"
    assert load_dataset("glyphs", tmp_path, "train", progress=False, images_per_face=2) == "glyphs!"
    assert calls == [
        (tmp_path, "test", None, {"progress": True}),
        (tmp_path, "train", None, {"progress": False, "images_per_face": 2}),
    ]
    with pytest.raises(ValueError, match=r"\['images_per_face'\] only apply to the glyphs"):
        load_dataset("folder", tmp_path, "train", images_per_face=2)


def test_real_specs_keep_the_published_numbers():
    cub, cars, sop = P.SPECS["cub200"], P.SPECS["cars196"], P.SPECS["online_products"]
    assert cub.first_test_class == 101 and cub.counts == {"train": (100, 5864), "test": (100, 5924)}
    assert cars.first_test_class == 99 and cars.counts == {"train": (98, 8054), "test": (98, 8131)}
    assert sop.counts == {"train": (11318, 59551), "test": (11316, 60502)}
    md5s = {s.remote.filename: s.remote.md5 for spec in (cub, cars, sop) for s in spec.sources}
    assert md5s == {
        "CUB_200_2011.tgz": "97eceeb196236b17998738112f37df78",
        "car_ims.tgz": "d5c8f0aa497503f355e17dc7886c3f14",
        "cars_annos.mat": "b407c6086d669747186bd1d764ff9dbc",
        "Stanford_Online_Products.zip": "7f73d41a2f44250d4779881525aea32e",
    }
    assert all(s.remote.mirrors for spec in (cub, cars, sop) for s in spec.sources)


@pytest.mark.parametrize("kind", ["tar symlink", "tar hard link", "zip symlink"])
def test_links_are_refused_in_tar_and_zip_alike(monkeypatch, root, tmp_path, kind):
    import stat
    import zipfile

    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    if kind.startswith("tar"):
        path = make_cub(root / "archives")
        data = io.BytesIO()
        with tarfile.open(path) as src, tarfile.open(fileobj=data, mode="w:gz") as dst:
            for m in src.getmembers():
                dst.addfile(m, src.extractfile(m) if m.isfile() else None)
            link = tarfile.TarInfo("CUB_200_2011/images/link.jpg")
            link.type = tarfile.SYMTYPE if kind == "tar symlink" else tarfile.LNKTYPE
            link.linkname = str(outside) if kind == "tar symlink" else "CUB_200_2011/images.txt"
            dst.addfile(link)
        path.write_bytes(data.getvalue())
        name, extracted = "cub200", root / "raw" / "cub200" / "CUB_200_2011"
    else:
        path = make_sop(root / "archives")
        with zipfile.ZipFile(path, "a") as zf:
            info = zipfile.ZipInfo("Stanford_Online_Products/link.jpg")
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, str(outside))
        name, extracted = "online_products", root / "raw" / "online_products" / "Stanford_Online_Products"
    use_spec(monkeypatch, name, files={path.name: path})
    with pytest.raises(ValueError, match="links are refused in tar and zip archives alike") as err:
        run_prepare(name, root)
    assert "link.jpg" in str(err.value)
    assert not extracted.exists() and _leftovers(root) == []
    assert outside.read_text() == "secret"


# ---------------------------------------------------------------- the data command line's odd roots (issue 16)
@pytest.mark.parametrize("command", [["check", "folder"], ["prepare", "cub200"], ["sources", "cars196"]])
def test_a_data_root_that_is_a_file_is_named_as_one(tmp_path, capsys, command):
    not_a_folder = tmp_path / "data.tar"
    not_a_folder.write_bytes(b"x")
    assert cli([*command, "--data-root", str(not_a_folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"python -m proxygml_lite.data: error: --data-root {not_a_folder} is a file, not a folder; "
        "pass the folder that holds (or will hold) the datasets, e.g. --data-root data"
    )


def test_printed_commands_quote_paths_with_spaces(tmp_path, capsys):
    import shlex

    from proxygml_lite.data.manifest import prepare_command

    root = tmp_path / "my data"
    command = prepare_command("online_products", root)
    assert shlex.split(command)[-2:] == ["--data-root", str(root)]
    assert cli(["sources", "cub200", "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    sums = [line for line in out.splitlines() if "sum " in line]
    assert sums and all(f"sum '{root}/archives/" in line for line in sums), sums
