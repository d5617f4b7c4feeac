"""Where the experiment notebooks (6-11) keep their runs and data, and the cached run they all use.

* Data: ``<repository>/data`` (generated glyphs, prepared benchmarks), shared
  with ``make studies`` and the command line.
* Runs: ``<repository>/runs/notebooks/<name>`` in full mode, so re-executing a
  notebook reads finished runs back and resumes unfinished ones; in smoke
  mode (``CI=true``) a temporary folder, so the test suite never writes into
  the repository's tracked folders and never reuses a full run.

:func:`cached_run` trains one configuration in its folder unless a finished
run with the same settings is already there (the rule of
:func:`proxygml_lite.studies.run_cell`), and says which of the two happened.
:func:`smoke_config` is the tiny stand-in for a preset in smoke mode.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from ..teaching.notebook import checkout_root
from ..training.config import TrainConfig
from ..training.presets import config_from_preset

__all__ = ["repository_root", "data_root", "runs_root", "smoke_config", "experiment_config", "cached_run"]

_SMOKE_RUNS: Path | None = None


def repository_root() -> Path:
    """The checkout holding this package (:func:`~proxygml_lite.teaching.notebook.checkout_root`), else the working directory."""
    return checkout_root() or Path.cwd()


def data_root() -> Path:
    """``$PROXYGML_DATA`` if set, else ``<repository>/data``."""
    override = os.environ.get("PROXYGML_DATA", "").strip()
    return Path(override).expanduser().resolve() if override else repository_root() / "data"


def runs_root(*, smoke: bool) -> Path:
    """``<repository>/runs/notebooks`` (full mode) or one temporary folder per process (smoke mode)."""
    global _SMOKE_RUNS
    if smoke:
        if _SMOKE_RUNS is None:
            _SMOKE_RUNS = Path(tempfile.mkdtemp(prefix="proxygml_smoke_runs_"))
        return _SMOKE_RUNS
    return repository_root() / "runs" / "notebooks"


#: Smoke mode: a small glyph set (about 1,200 training images), one epoch, no NMI k-means restarts to speak of.
SMOKE_GLYPHS = {"images_per_face": 1}


def smoke_config(**overrides) -> TrainConfig:
    """A tiny run for smoke mode: the quick ``glyphs`` preset on a small generated set, one epoch, quiet."""
    values = dict(
        dataset_options=dict(SMOKE_GLYPHS),
        epochs=1,
        data=str(data_root()),
        device="cpu",
        quiet=True,
        recall_ks=(1, 2, 4, 8),
    )
    values.update(overrides)
    return config_from_preset("glyphs", **values)


def experiment_config(preset: str, *, smoke: bool, **overrides) -> TrainConfig:
    """The preset's configuration (full mode) or :func:`smoke_config` (smoke mode), with ``overrides`` on top.

    In full mode the data root is :func:`data_root` and the device the CPU
    unless ``device`` is overridden (the glyph presets are sized for a CPU).
    """
    if smoke:
        return smoke_config(**overrides)
    values = dict(data=str(data_root()), device="cpu")
    values.update(overrides)
    return config_from_preset(preset, **values)


def cached_run(config: TrainConfig, name: str, *, smoke: bool, callback=None, verbose: bool = True) -> Path:
    """Train ``config`` in ``runs_root(smoke) / name``, or read it back if it finished there; returns the folder.

    An interrupted run resumes from its checkpoint. A folder holding a run
    with other settings is an error naming them (choose another ``name``).
    ``callback`` is passed to :func:`~proxygml_lite.training.trainer.train`; it is
    not called for a run that is read back.
    """
    from ..studies.cells import finished_run
    from ..training.run_folder import read_results_file
    from ..training.trainer import train

    folder = runs_root(smoke=smoke) / name
    begin = time.perf_counter()
    config = config.replace(out=str(folder), resume=True)
    results = finished_run(folder, config)  # None, or the finished run's results (error if its settings differ)
    cached = results is not None
    if not cached:
        train(config, callback=callback)
        results = read_results_file(folder / "results.json")
    if verbose:
        where = os.path.relpath(folder, repository_root()) if not smoke else f"<smoke folder>/{name}"
        if cached:
            print(f"{where}: finished run found, read back (trained in {results.get('elapsed_s', 0):.0f} s earlier)")
        else:
            print(f"{where}: trained in {time.perf_counter() - begin:.0f} s")
    return folder
