"""Tests for the embedded glyph dataset (proxygml_lite.data.glyphs)."""

from __future__ import annotations

import json
import shutil
import time
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from proxygml_lite.data import glyphs as G

SMALL = dict(images_per_face=1)  # 200 classes x 12 faces x 1 image: a few seconds


def _arrays(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def small_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("glyphs_small")
    G.ensure_glyphs(root, progress=False, **SMALL)
    return root


@pytest.fixture(scope="module")
def small_manifest(small_root):
    return G.read_manifest(small_root, **SMALL)


def test_pool_has_200_classes_with_8_faces():
    kept, dropped = G._selection(32, 8, G._DEFAULTS["face_threshold"], G._DEFAULTS["class_threshold"])
    assert len(kept) >= 200
    assert all(len(faces) >= 8 for faces in kept.values())
    assert not set(kept) & set(dropped)
    # the script look-alikes are gone, the Latin originals stay
    for latin, other in [("A", "\u0391"), ("A", "\u0410"), ("O", "\u041e"), ("o", "\u03bf"), ("C", "\u0421")]:
        assert latin in kept and other in dropped


def test_counts_and_disjoint_split(small_root, small_manifest):
    m = small_manifest
    assert m["counts"]["classes"] == 200
    assert len(m["train_classes"]) == 100 and len(m["test_classes"]) == 100
    assert not set(m["train_classes"]) & set(m["test_classes"])
    train = G.load_glyphs(small_root, "train", progress=False, **SMALL)
    test = G.load_glyphs(small_root, "test", progress=False, **SMALL)
    assert isinstance(train, torch.utils.data.Dataset)
    for ds, chars in ((train, m["train_classes"]), (test, m["test_classes"])):
        assert ds.num_classes == 100
        assert ds.classes == sorted(chars, key=ord)
        assert sorted(set(ds.targets)) == list(range(100))
        assert len(ds) == len(ds.targets) == len(ds.faces) == 100 * 12
        assert ds.images.dtype == np.uint8 and ds.images.shape == (1200, 32, 32)
        counts = np.bincount(ds.targets)
        assert (counts == 12).all()
        for label in range(ds.num_classes):
            faces = {f for f, t in zip(ds.faces, ds.targets) if t == label}
            assert len(faces) >= 8
            assert sorted(faces) == sorted(m["class_faces"][ds.classes[label]])
    assert not set(train.classes) & set(test.classes)
    img, label = train[5]
    assert isinstance(img, Image.Image) and img.mode == "L" and img.size == (32, 32)
    assert label == train.targets[5]
    assert np.array_equal(np.asarray(img), train.images[5])


def test_images_are_not_blank_and_vary(small_root):
    ds = G.load_glyphs(small_root, "train", progress=False, **SMALL)
    x = ds.images.astype(np.float32)
    spread = x.reshape(len(x), -1).max(1) - x.reshape(len(x), -1).min(1)
    assert (spread > 60).all()  # every image shows a glyph
    first = np.flatnonzero(np.asarray(ds.targets) == 0)
    assert len({ds.images[i].tobytes() for i in first}) == len(first)


def test_deterministic_and_seed_dependent(small_root, small_manifest, tmp_path):
    G._selection.cache_clear()  # redo the whole pipeline
    again = _arrays(G.ensure_glyphs(tmp_path / "a", progress=False, **SMALL))
    first = _arrays(G.ensure_glyphs(small_root, progress=False, **SMALL))
    assert set(again) == set(first)
    for k in first:
        assert first[k].dtype == again[k].dtype
        assert np.array_equal(first[k], again[k]), k
    assert G.read_manifest(tmp_path / "a", **SMALL)["content_hash"] == small_manifest["content_hash"]
    tiny = dict(SMALL, num_train_classes=10, num_test_classes=10)
    seed0 = _arrays(G.ensure_glyphs(tmp_path / "b", progress=False, seed=0, **tiny))
    seed1 = _arrays(G.ensure_glyphs(tmp_path / "b", progress=False, seed=1, **tiny))
    assert not np.array_equal(seed0["images"], seed1["images"])
    assert list(seed0["class_chars"]) != list(seed1["class_chars"])


def test_cache_is_reused(small_root, monkeypatch):
    path = G.ensure_glyphs(small_root, progress=False, **SMALL)
    manifest = path.with_suffix(".json")
    before = (path.stat().st_mtime_ns, manifest.stat().st_mtime_ns)

    def boom(*args, **kwargs):
        raise AssertionError("regenerated although a valid cache exists")

    monkeypatch.setattr(G.cache, "generate_glyph_arrays", boom)  # the cache module calls it
    assert G.ensure_glyphs(small_root, progress=False, **SMALL) == path
    ds = G.load_glyphs(small_root, "test", progress=False, **SMALL)
    assert len(ds) == 1200
    assert (path.stat().st_mtime_ns, manifest.stat().st_mtime_ns) == before
    assert not list(path.parent.glob("*.tmp"))


def test_different_parameters_get_their_own_cache(small_root, tmp_path):
    p1 = G.ensure_glyphs(tmp_path, progress=False, **SMALL)
    p2 = G.ensure_glyphs(tmp_path, progress=False, images_per_face=2, num_train_classes=10, num_test_classes=10)
    assert p1 != p2 and p1.exists() and p2.exists()
    other = dict(images_per_face=2, num_train_classes=10, num_test_classes=10)
    assert len(G.load_glyphs(tmp_path, "train", progress=False, **other)) == 10 * 12 * 2


@pytest.mark.parametrize("damage", ["truncate_npz", "garbage_manifest", "wrong_hash"])
def test_corrupt_cache_is_regenerated(small_root, tmp_path, damage):
    good_path = G.ensure_glyphs(small_root, progress=False, **SMALL)
    root = tmp_path / "c"
    shutil.copytree(small_root, root)
    path = root / "glyphs" / good_path.name
    manifest = path.with_suffix(".json")
    if damage == "truncate_npz":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "garbage_manifest":
        manifest.write_text("{not json", encoding="utf-8")
    else:
        m = json.loads(manifest.read_text(encoding="utf-8"))
        m["content_hash"] = "0" * 64
        manifest.write_text(json.dumps(m), encoding="utf-8")
    with pytest.warns(RuntimeWarning, match="regenerating"):
        G.ensure_glyphs(root, progress=False, **SMALL)
    good = _arrays(good_path)
    fixed = _arrays(path)
    assert np.array_equal(fixed["images"], good["images"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        G.ensure_glyphs(root, progress=False, **SMALL)  # now valid: no warning


def test_no_two_classes_look_alike(small_manifest):
    m = small_manifest
    p = m["params"]
    names = [f[0] for f in G.FACES]
    chars = m["train_classes"] + m["test_classes"]
    clean = G.clean_glyphs(chars, p["image_size"])
    order, dist = G.face_distances(clean)
    eligible = np.zeros((len(G.FACES), len(order)), dtype=bool)
    for j, ch in enumerate(order):
        for face in m["class_eligible_faces"][ch]:
            eligible[names.index(face), j] = True
        assert set(m["class_faces"][ch]) <= set(m["class_eligible_faces"][ch])
    both = eligible[:, :, None] & eligible[:, None, :]
    np.einsum("fii->fi", both)[...] = False  # ignore a class against itself
    d = np.where(both, np.nan_to_num(dist, nan=1.0), 1.0)
    assert d.min() >= p["face_threshold"]
    shared = both.sum(0)
    mean = np.where(both, np.nan_to_num(dist), 0.0).sum(0) / np.maximum(shared, 1)
    assert mean[shared > 0].min() >= p["class_threshold"]
    # and the measure does see real look-alikes: Latin A and Cyrillic A are identical
    pair = G.clean_glyphs("A\u0410", 32)
    same_face = [i for i, f in enumerate(pair.faces) if f == 0]
    assert G.glyph_distances(pair.images[same_face])[0, 1] < 1e-3


def test_transform_is_applied(small_root):
    calls = []

    def to_tensor(img):
        calls.append(img.mode)
        return torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0)[None]

    ds = G.load_glyphs(small_root, "train", transform=to_tensor, progress=False, **SMALL)
    x, y = ds[3]
    assert calls == ["L"]
    assert isinstance(x, torch.Tensor) and x.shape == (1, 32, 32)
    assert torch.allclose(x[0], torch.from_numpy(ds.images[3] / 255.0).float())
    assert y == ds.targets[3]
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=8)))
    assert batch[0].shape == (8, 1, 32, 32) and batch[1].shape == (8,)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(split="val"), "'train' or 'test'"),
        (dict(images_per_face=0), "images_per_face"),
        (dict(faces_per_class=5), "at least 8 faces"),
        (dict(image_size=8), "image_size"),
        (dict(seed=-1), "seed"),
        (dict(class_threshold=1.5), "class_threshold"),
        (dict(colour=True), "unknown glyph parameter"),
        (dict(transform="not callable"), "callable"),
        (dict(num_train_classes=300, images_per_face=1), "ask for fewer classes"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        G.load_glyphs(tmp_path, progress=False, **kwargs)
    assert not list(tmp_path.rglob("*.npz"))


def test_data_root_that_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ValueError, match="pass a folder"):
        G.ensure_glyphs(f, progress=False, **SMALL)


def test_glyph_sheet(small_root):
    from matplotlib.figure import Figure

    ds = G.load_glyphs(small_root, "test", progress=False, **SMALL)
    fig = G.glyph_sheet(ds, num_classes=4, num_faces=8)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4 * 8
    assert [ax.get_ylabel().strip() for ax in fig.axes[::8]] == ds.classes[:4]
    fig = G.glyph_sheet(ds, classes=[ds.classes[-1], 0], num_faces=3, show_faces=True)
    assert len(fig.axes) == 2 * 3
    with pytest.raises(ValueError, match="ds.classes"):
        G.glyph_sheet(ds, classes=["\u2603"])
    with pytest.raises(ValueError, match="GlyphDataset"):
        G.glyph_sheet(list(range(3)))


@pytest.mark.slow
def test_full_default_generation(tmp_path):
    """Generates the default dataset once; the time is printed (-s), not asserted."""
    start = time.perf_counter()
    path = G.ensure_glyphs(tmp_path, progress=False)
    elapsed = time.perf_counter() - start
    print(f"\nfull default glyph generation: {elapsed:.1f} s -> {path}")
    m = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert m["counts"]["train_images"] == m["counts"]["test_images"] == 100 * 12 * 6
    train = G.load_glyphs(tmp_path, "train", progress=False)
    assert len(train) == 7200 and train.num_classes == 100


def test_look_alike_pairs_are_drawn_alike_in_one_face():
    # Latin K and Cyrillic К are the same drawing in some faces (both are classes: their other faces differ);
    # E and F never come closer than the threshold, and a character is never its own look-alike
    pairs = G.look_alike_pairs(["E", "К", "F", "K", "K"])
    assert list(pairs) == [("К", "K")] and pairs[("К", "K")] < G._DEFAULTS["face_threshold"]
    assert G.look_alike_pairs(["E", "F"]) == {} and G.look_alike_pairs(["K"]) == {}
    assert ("E", "F") in G.look_alike_pairs(["E", "F"], threshold=0.2)
