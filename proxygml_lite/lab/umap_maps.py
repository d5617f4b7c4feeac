"""Notebook 9's UMAP maps, fitted once and committed beside the snapshots they map.

A UMAP fit is seeded, but its coordinates still depend on the processor and
the numba build: the same snapshots give a slightly different map on another
machine. The maps that notebook 9 shows in full mode, and that the offline
site's widget draws view by view, are therefore *numbers in a file*,
``results/<preset>/umap_maps.npz``, not a fit repeated on every machine:

* :func:`umap_maps` reads that file when it was fitted with the settings asked
  for (classes, epochs, seed, the aligned fit, every ``(n_neighbors, min_dist)``
  pair) from the very snapshot files given (their SHA-256); otherwise it fits
  the maps here and says so;
* ``python -m proxygml_lite.lab.umap_maps`` (``make umap-maps``) fits them with
  notebook 9's full settings, for the runs :data:`MAPPED_N` and every UMAP
  setting of its widget (:data:`WIDGET_UMAP`), and writes the file: run it after
  the snapshots change, then re-execute notebook 9. The offline site's widget
  draws only these committed maps.

The file holds arrays only (strings as NumPy text arrays, the settings as one
JSON text): reading it never unpickles anything (:func:`proxygml_lite.fileio.read_npz`).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..atomic_writers import atomic_write_bytes
from ..fileio import read_npz
from . import umap_views
from .umap_views import UMAPView

__all__ = [
    "FULL_SETTINGS",
    "MAPPED_N",
    "DEFAULT_UMAP",
    "WIDGET_UMAP",
    "MAPS_FILE",
    "snapshot_files",
    "snapshot_seeds",
    "umap_maps",
    "write_maps",
    "read_maps",
    "main",
]

#: Notebook 9's full mode: 12 of the training classes, four of the saved epochs, 200 UMAP epochs, seed 0.
FULL_SETTINGS = {"classes": list(range(12)), "epochs": [0, 2, 10, 50], "seed": 0, "n_epochs": 200}
#: The runs (their ``N``) that notebook 9 maps.
MAPPED_N = (1, 4, 12)
#: UMAP's ``(n_neighbors, min_dist)`` of notebook 9's figures.
DEFAULT_UMAP = (15, 0.1)
#: Every ``(n_neighbors, min_dist)`` that notebook 9's widget offers (and the committed file holds), the default first.
WIDGET_UMAP = (DEFAULT_UMAP, (50, 0.1), (15, 0.5), (50, 0.5))
#: The committed maps, in ``results/<preset>/``.
MAPS_FILE = "umap_maps.npz"
_FIX = "refit them with `make umap-maps` (python -m proxygml_lite.lab.umap_maps)"


def snapshot_files(
    results: str | os.PathLike, r: float = 0.05, seed: int = 0, *, runs: Sequence[int] | None = None
) -> dict[int, Path]:
    """``{N: path}`` of the snapshot files ``<results>/snapshots/N<N>_r<r>_s<seed>.npz``, by ``N`` (only ``runs``)."""
    folder = Path(results) / "snapshots"
    files = {}
    for path in folder.glob(f"N*_r{r:g}_s{seed}.npz"):
        head = path.stem.split("_")[0][1:]
        if head.isdigit() and (runs is None or int(head) in runs):
            files[int(head)] = path
    return dict(sorted(files.items()))


def snapshot_seeds(results: str | os.PathLike, r: float = 0.05) -> list[int]:
    """The seeds of the snapshot files ``<results>/snapshots/N*_r<r>_s<seed>.npz``, read from their names."""
    seeds = {path.stem.rsplit("_s", 1)[-1] for path in (Path(results) / "snapshots").glob(f"N*_r{r:g}_s*.npz")}
    return sorted(int(s) for s in seeds if s.isdigit())


def _shown(path: str | os.PathLike) -> str:
    """``results/<preset>/umap_maps.npz``: the path without the machine's part (a checkout or an installation)."""
    return "/".join(Path(path).parts[-3:])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _settings(files: Mapping[int, Path], classes, epochs, seed, n_epochs, umap_settings) -> dict:
    """What the maps depend on: their inputs (the snapshot files' SHA-256) and every setting of the fits."""
    return {
        "classes": [int(c) for c in classes],
        "epochs": [int(e) for e in epochs],
        "seed": int(seed),
        "n_epochs": None if n_epochs is None else int(n_epochs),
        "aligned": True,
        "umap": [[int(k), float(d)] for k, d in umap_settings],
        "snapshots": {
            f"N = {n}": {"file": Path(path).name, "sha256": _sha256(Path(path))} for n, path in files.items()
        },
    }


def fit_maps(files: Mapping[int, Path], settings: dict) -> dict[tuple[int, float], dict[str, UMAPView]]:
    """One UMAP view per ``(n_neighbors, min_dist)`` of ``settings["umap"]`` and per snapshot file ``{N: path}``:
    the fits that the maps file stores (a minute or so each; the tests replace this function)."""
    runs = {n: umap_views.read_snapshots(path) for n, path in files.items()}
    maps = {}
    for n_neighbors, min_dist in settings["umap"]:
        views = {}
        for n, snapshots in runs.items():
            mapped = [s for s in snapshots if s.epoch in settings["epochs"]] or snapshots
            views[f"N = {n}"] = umap_views.fit_umap(
                mapped,
                classes=settings["classes"],
                seed=settings["seed"],
                n_neighbors=n_neighbors,
                min_dist=min_dist,
                n_epochs=settings["n_epochs"],
                aligned=settings["aligned"],
            )
        maps[(int(n_neighbors), float(min_dist))] = views
    return maps


def umap_maps(
    files: Mapping[int, str | os.PathLike],
    *,
    classes: Sequence[int],
    epochs: Sequence[int],
    seed: int = 0,
    n_epochs: int | None = None,
    umap_settings: Sequence[tuple[int, float]] = (DEFAULT_UMAP,),
    maps_file: str | os.PathLike | None = None,
    verbose: bool = True,
) -> dict[tuple[int, float], dict[str, UMAPView]]:
    """Aligned UMAP maps of the snapshot files ``files`` (``{N: path}``): ``{(n_neighbors, min_dist): {"N = 4": view}}``.

    One map per run and ``(n_neighbors, min_dist)`` pair of ``umap_settings``. Read from ``maps_file`` when it
    holds maps of exactly these files fitted with exactly these settings; otherwise fitted here
    (:func:`.umap_views.fit_umap`, ``aligned=True``, on the snapshots of ``epochs`` that were saved).
    """
    files = {int(n): Path(path) for n, path in sorted(files.items())}
    wanted = _settings(files, classes, epochs, seed, n_epochs, umap_settings)
    if maps_file is not None and Path(maps_file).is_file():
        maps, settings = read_maps(maps_file)
        if settings == wanted:
            if verbose:
                print(f"UMAP maps read from {_shown(maps_file)}: fitted once from these snapshot files, these settings")
            return maps
        if verbose:
            print(f"{_shown(maps_file)} holds maps of other snapshots or settings; fitting the maps here")
    return fit_maps(files, wanted)


def write_maps(
    path: str | os.PathLike, maps: Mapping[tuple[int, float], Mapping[str, UMAPView]], settings: dict
) -> Path:
    """Write ``maps`` (of :func:`umap_maps`) and the ``settings`` they were fitted with to ``path`` (atomically)."""
    flat = [(name, view) for views in maps.values() for name, view in views.items()]
    arrays = {
        "names": np.array([name for name, _ in flat], dtype=str),
        "settings": np.array(json.dumps(settings, sort_keys=True)),
    }
    for i, (_, view) in enumerate(flat):
        arrays |= {
            f"{i}/n_neighbors": np.asarray(view.n_neighbors, dtype=np.int64),
            f"{i}/min_dist": np.asarray(view.min_dist, dtype=np.float64),
            f"{i}/aligned": np.asarray(view.aligned, dtype=bool),
            f"{i}/epochs": np.asarray(view.epochs, dtype=np.int64),
            f"{i}/sample_counts": np.asarray([len(s) for s in view.samples], dtype=np.int64),
            f"{i}/samples": np.concatenate(view.samples).astype(np.float32),
            f"{i}/sample_labels": np.concatenate(view.sample_labels).astype(np.int64),
            f"{i}/proxies": np.stack(view.proxies).astype(np.float32),
            f"{i}/proxy_labels": np.asarray(view.proxy_labels, dtype=np.int64),
            f"{i}/classes": np.asarray(view.classes, dtype=np.int64),
            f"{i}/proxies_per_class": np.asarray(view.proxies_per_class, dtype=np.int64),
            f"{i}/fit_seconds": np.asarray(view.fit_seconds, dtype=np.float64),
        }
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return atomic_write_bytes(path, buffer.getvalue())


def read_maps(path: str | os.PathLike) -> tuple[dict[tuple[int, float], dict[str, UMAPView]], dict]:
    """The maps and settings in a maps file of :func:`write_maps`; a file of another shape is one ValueError."""
    arrays = read_npz(path)
    try:
        settings = json.loads(str(arrays["settings"]))
        maps = {}
        for i, name in enumerate(str(n) for n in arrays["names"]):
            counts = arrays[f"{i}/sample_counts"]
            cuts = np.cumsum(counts)[:-1]
            proxies = arrays[f"{i}/proxies"]
            epochs = [int(e) for e in arrays[f"{i}/epochs"]]
            if len(counts) != len(epochs) or proxies.ndim != 3 or len(proxies) != len(epochs):
                raise ValueError(f"map {name!r} has {len(epochs)} epochs but {len(counts)} sample blocks")
            key = (int(arrays[f"{i}/n_neighbors"]), float(arrays[f"{i}/min_dist"]))
            maps.setdefault(key, {})[name] = UMAPView(
                epochs=epochs,
                samples=np.split(arrays[f"{i}/samples"], cuts),
                sample_labels=np.split(arrays[f"{i}/sample_labels"], cuts),
                proxies=list(proxies),
                proxy_labels=arrays[f"{i}/proxy_labels"],
                classes=[int(c) for c in arrays[f"{i}/classes"]],
                proxies_per_class=int(arrays[f"{i}/proxies_per_class"]),
                fit_seconds=float(arrays[f"{i}/fit_seconds"]),
                aligned=bool(arrays[f"{i}/aligned"]),
                n_neighbors=key[0],
                min_dist=key[1],
            )
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not a UMAP maps file ({type(exc).__name__}: {exc}); {_FIX}") from None
    return maps, settings


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m proxygml_lite.lab.umap_maps``: fit notebook 9's maps (full settings) and commit-ready write them."""
    from .study_tables import committed_results_dir

    parser = argparse.ArgumentParser(prog="python -m proxygml_lite.lab.umap_maps", description=main.__doc__)
    parser.add_argument("--preset", default="glyphs_hard", help="the preset whose snapshots to map")
    args = parser.parse_args(argv)
    results = committed_results_dir(args.preset)
    files = snapshot_files(results, runs=MAPPED_N)
    if not files:
        print(f"error: no snapshot files N*_r0.05_s0.npz in {results / 'snapshots'}; run `make studies` first")
        return 2
    settings = _settings(files, umap_settings=WIDGET_UMAP, **FULL_SETTINGS)
    umap_views.warm_up_umap(verbose=False)  # numba compiles first, so the fit times recorded are the fits'
    maps = fit_maps(files, settings)
    path = write_maps(results / MAPS_FILE, maps, settings)
    count = sum(len(views) for views in maps.values())
    runs = ", ".join(f"N = {n}" for n in files)
    print(f"wrote {path}: {count} maps (runs {runs}; UMAP settings {list(maps)}); re-execute notebook 9 to draw them")
    return 0


if __name__ == "__main__":
    sys.exit(main())
