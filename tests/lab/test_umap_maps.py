"""umap_maps: notebook 9's UMAP maps, fitted once and read back (never refitted) where inputs and settings match."""

import numpy as np
import pytest

from proxygml_lite.lab import book_views, study_tables, umap_maps

SETTINGS = {"classes": [0, 1, 2], "epochs": [0, 2], "seed": 0, "n_epochs": 20, "umap_settings": [(5, 0.1), (6, 0.5)]}


def _snapshot_file(path, n=2, classes=4, per_class=8, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, 6))
    labels = np.repeat(np.arange(classes), per_class)
    embeddings = np.stack([centres[labels] + 0.2 * rng.normal(size=(len(labels), 6)) for _ in range(3)])
    proxies = np.stack([np.repeat(centres, n, axis=0) + 0.5 * rng.normal(size=(classes * n, 6)) for _ in range(3)])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, epochs=np.array([0, 2, 5]), proxies=proxies, train_embeddings=embeddings, train_labels=labels, N=n)
    return path


def test_snapshot_files_are_the_r_005_seed_0_files_by_N(tmp_path):
    for name in ("N1_r0.05_s0", "N12_r0.05_s0", "N4_r0.15_s0", "N4_r0.05_s1", "Nx_r0.05_s0", "N4_r0.05_s12"):
        _snapshot_file(tmp_path / "snapshots" / f"{name}.npz")
    assert {n: p.name for n, p in umap_maps.snapshot_files(tmp_path).items()} == {
        1: "N1_r0.05_s0.npz",
        12: "N12_r0.05_s0.npz",
    }
    assert list(umap_maps.snapshot_files(tmp_path, runs=[12])) == [12]
    assert list(umap_maps.snapshot_files(tmp_path, seed=1)) == [4]
    assert umap_maps.snapshot_seeds(tmp_path) == [0, 1, 12]


def test_maps_written_are_read_back_exactly_and_not_refitted(tmp_path, monkeypatch, capsys):
    files = {n: _snapshot_file(tmp_path / "snapshots" / f"N{n}_r0.05_s0.npz", n=n, seed=n) for n in (1, 3)}
    maps_file = tmp_path / umap_maps.MAPS_FILE
    fitted = umap_maps.umap_maps(files, maps_file=maps_file, **SETTINGS)  # no file yet: fitted
    assert list(fitted) == [(5, 0.1), (6, 0.5)] and list(fitted[(6, 0.5)]) == ["N = 1", "N = 3"]
    assert fitted[(6, 0.5)]["N = 3"].epochs == [0, 2] and fitted[(6, 0.5)]["N = 3"].n_neighbors == 6
    assert fitted[(5, 0.1)]["N = 3"].aligned
    settings = umap_maps._settings(files, **SETTINGS)
    umap_maps.write_maps(maps_file, fitted, settings)
    # read back: every array equal, and no fit at all
    monkeypatch.setattr(umap_maps, "fit_maps", lambda *a: pytest.fail("refitted maps that the file holds"))
    capsys.readouterr()
    read = umap_maps.umap_maps(files, maps_file=maps_file, **SETTINGS)
    assert "UMAP maps read from " in capsys.readouterr().out
    assert list(read) == list(fitted)
    for setting, views in fitted.items():
        for name, view in views.items():
            again = read[setting][name]
            assert (again.aligned, again.n_neighbors, again.min_dist) == (view.aligned, view.n_neighbors, view.min_dist)
            assert again.epochs == view.epochs and again.classes == view.classes
            assert again.proxies_per_class == view.proxies_per_class and again.fit_seconds == view.fit_seconds
            np.testing.assert_array_equal(again.proxy_labels, view.proxy_labels)
            for a, b in zip(
                [*again.samples, *again.sample_labels, *again.proxies],
                [*view.samples, *view.sample_labels, *view.proxies],
            ):
                np.testing.assert_array_equal(a, b)


def test_other_settings_or_changed_snapshots_are_fitted_not_read(tmp_path, monkeypatch, capsys):
    files = {1: _snapshot_file(tmp_path / "snapshots" / "N1_r0.05_s0.npz", n=1)}
    maps_file = tmp_path / umap_maps.MAPS_FILE
    views = umap_maps.umap_maps(files, **SETTINGS)
    umap_maps.write_maps(maps_file, views, umap_maps._settings(files, **SETTINGS))
    fits = []
    monkeypatch.setattr(umap_maps, "fit_maps", lambda files, settings: fits.append(settings) or views)
    umap_maps.umap_maps(files, maps_file=maps_file, **(SETTINGS | {"n_epochs": 21}))
    assert "holds maps of other snapshots or settings" in capsys.readouterr().out
    umap_maps.umap_maps(files, maps_file=maps_file, **(SETTINGS | {"umap_settings": [(5, 0.1)]}))
    _snapshot_file(files[1], n=1, seed=7)  # the snapshots were regenerated: same name, other numbers
    umap_maps.umap_maps(files, maps_file=maps_file, **SETTINGS)
    assert len(fits) == 3


def test_a_file_that_is_not_a_maps_file_is_one_line(tmp_path):
    bad = tmp_path / "umap_maps.npz"
    np.savez(bad, names=np.array(["N = 1"]), settings=np.array("{}"))
    with pytest.raises(ValueError, match=r"is not a UMAP maps file .*make umap-maps"):
        umap_maps.read_maps(bad)
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="not a readable .npz file"):
        umap_maps.read_maps(bad)


def test_the_committed_maps_match_the_committed_snapshots_so_the_site_never_refits(monkeypatch):
    """Notebook 9 (full mode) and the offline site's widget read results/glyphs_hard/umap_maps.npz."""
    results = study_tables.committed_results_dir("glyphs_hard")
    files = umap_maps.snapshot_files(results, runs=umap_maps.MAPPED_N)
    assert list(files) == list(umap_maps.MAPPED_N), "the committed snapshots are gone"
    monkeypatch.setattr(umap_maps, "fit_maps", lambda *a: pytest.fail("the committed maps are stale: make umap-maps"))
    maps = umap_maps.umap_maps(
        files,
        maps_file=results / umap_maps.MAPS_FILE,
        umap_settings=umap_maps.WIDGET_UMAP,
        verbose=False,
        **umap_maps.FULL_SETTINGS,
    )
    assert list(maps) == list(umap_maps.WIDGET_UMAP)
    assert all(list(views) == [f"N = {n}" for n in files] for views in maps.values())
    assert all(view.aligned for views in maps.values() for view in views.values())
    views = book_views.declared("09_umap_proxies", "umap_widget")()
    assert 1 < views.count <= 100  # every view of the site's widget is drawn from these committed maps
