"""Proxy snapshots of the studies: notebook 9's committed npz files, and the proxies' geometry per epoch.

:func:`export_snapshots` writes notebook 9's compact snapshot files (proxies
and sample embeddings through training); :func:`proxy_geometry` and
:func:`proxy_cosines` measure whether a class's proxies merged (the mean
within-class proxy cosine), whether the classes' proxies stay apart (the mean
between-class proxy cosine) and the proxies' norm, per kept epoch of a run:
the columns of the study ``probes`` (:data:`PROXY_COLUMNS`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..atomic_writers import atomic_write
from ..fileio import read_npz

__all__ = [
    "SNAPSHOT_EPOCHS",
    "PROXY_COLUMNS",
    "export_snapshots",
    "read_snapshot_npz",
    "proxy_geometry",
    "proxy_cosines",
]

#: Epochs kept in the committed snapshot files (all epochs stay in the run folders).
SNAPSHOT_EPOCHS = (0, 1, 2, 3, 5, 10, 20, 30, 40, 50)


# ----------------------------------------------------------------- snapshots
def export_snapshots(cells: list, runs: Path, out: Path) -> list[Path]:
    """``<out>/snapshots/<cell>.npz`` from the run folders of ``cells`` (proxies + embeddings at :data:`SNAPSHOT_EPOCHS`).

    ``cells``: :class:`~proxygml_lite.studies.cells.Cell` s whose runs kept snapshots; cells without a
    finished run folder are skipped (their committed file, if any, stays), and so is a file that already
    holds the cell's configuration (the study runner calls this after every cell).
    """
    from .identity import recorded_config
    from .plots import read_embedding_snapshots, read_proxy_snapshots

    written = []
    for cell in cells:
        run = cell.folder(runs)
        if not (run / "results.json").is_file():
            continue
        target = out / "snapshots" / f"N{cell.config.N}_r{cell.config.r:g}_s{cell.seed}.npz"
        recorded = json.dumps({**recorded_config(cell.config), "out": None}, sort_keys=True)
        if target.is_file() and _recorded_config(target) == recorded:
            continue
        if not (run / "embeddings").is_dir():
            continue  # read back from the table without its run folder: keep the committed file
        epochs, proxies = read_proxy_snapshots(run)
        e_train, train, train_labels, _ = read_embedding_snapshots(run, "train")
        e_test, test, test_labels, _ = read_embedding_snapshots(run, "test")
        keep = [i for i, e in enumerate(epochs) if e in SNAPSHOT_EPOCHS]
        if not (epochs == e_train == e_test):
            raise ValueError(f"{run}: proxy and embedding snapshots cover different epochs")
        arrays = dict(
            epochs=np.asarray([epochs[i] for i in keep], dtype=np.int16),
            proxies=proxies[keep].numpy().astype(np.float16),
            train_embeddings=train[keep].numpy().astype(np.float16),
            train_labels=train_labels.numpy().astype(np.int16),
            test_embeddings=test[keep].numpy().astype(np.float16),
            test_labels=test_labels.numpy().astype(np.int16),
            N=np.int16(cell.config.N),
            r=np.float32(cell.config.r),
            num_classes=np.int16(proxies.shape[1] // cell.config.N),
            config=np.asarray(recorded),
        )

        def write(fh, arrays=arrays):
            np.savez_compressed(fh, **arrays)

        atomic_write(target, write)
        written.append(target)
    return written


def _recorded_config(path: Path) -> str | None:
    """The configuration text a snapshot file records, or None when it cannot be read (then it is rewritten)."""
    try:
        return str(read_npz(path)["config"])  # a .npy or a damaged file is a ValueError: rewritten
    except (OSError, ValueError, KeyError):
        return None


def read_snapshot_npz(path: str | Path) -> dict:
    """A committed snapshot file as a dict of NumPy arrays (float32 for the float16 ones; ``config`` a dict)."""
    out = {k: (v.astype(np.float32) if v.dtype == np.float16 else v) for k, v in read_npz(path).items()}
    out["config"] = json.loads(str(out["config"]))
    for name in ("N", "num_classes"):
        out[name] = int(out[name])
    out["r"] = round(float(out["r"]), 6)  # stored as float32
    return out


# ------------------------------------------------------------ proxy geometry
#: What :func:`proxy_geometry` measures, as the column names of the probes' tables.
PROXY_COLUMNS = ("proxy cos within", "proxy cos between", "proxy norm")


def proxy_geometry(proxies, proxies_per_class: int) -> dict[str, np.ndarray]:
    """The mean within-class and between-class cosines of the proxies ``P``, and their mean norm.

    Args:
        proxies: raw proxies ``(C*N, d)``, or a stack of snapshots ``(E, C*N, d)``
            (a tensor or an array); rows ``c*N .. c*N+N-1`` belong to class ``c``.
        proxies_per_class: ``N``.

    Returns:
        ``{column of PROXY_COLUMNS: value per snapshot}`` (arrays of shape
        ``(E,)``, or ``()`` for one matrix): ``proxy cos within``, the mean
        over classes of the mean cosine between two different proxies of the
        class (1 = merged; ``nan`` for ``N = 1``); ``proxy cos between``, the
        mean cosine over all pairs of proxies of different classes; ``proxy
        norm``, the mean L2 norm of the raw proxies. Computed in float64 from
        the per-class sums of the normalised proxies (no ``C N x C N`` matrix).
    """
    raw = np.asarray(proxies.detach().cpu().numpy() if hasattr(proxies, "detach") else proxies, dtype=np.float64)
    single = raw.ndim == 2
    raw = raw[None] if single else raw
    n = int(proxies_per_class)
    if raw.ndim != 3 or n < 1 or raw.shape[1] % n or raw.shape[1] // n < 2:
        raise ValueError(
            f"proxies must be (C*N, d) or (E, C*N, d) with C >= 2 classes of N = {proxies_per_class}; "
            f"got shape {tuple(np.shape(proxies))}"
        )
    c = raw.shape[1] // n
    norms = np.linalg.norm(raw, axis=-1)
    unit = raw / np.maximum(norms, 1e-12)[..., None]  # as F.normalize: each proxy scaled to norm 1
    class_sums = unit.reshape(len(raw), c, n, -1).sum(axis=2)  # (E, C, d)
    per_class = (class_sums**2).sum(axis=-1)  # sum of the cosines of all ordered pairs of a class, j = l included
    everything = (class_sums.sum(axis=1) ** 2).sum(axis=-1)  # the same over all pairs of proxies
    within = (per_class - n) / (n * (n - 1)) if n > 1 else np.full(per_class.shape, np.nan)
    between = (everything - per_class.sum(axis=-1)) / (c * n * (c * n - n))
    values = (within.mean(axis=-1), between, norms.mean(axis=-1))
    return {name: (value[0] if single else value) for name, value in zip(PROXY_COLUMNS, values)}


def proxy_cosines(run: str | Path) -> pd.DataFrame:
    """Per kept epoch of a run folder: ``epoch`` and the :data:`PROXY_COLUMNS` of :func:`proxy_geometry`.

    From the run's proxy snapshots (``save_proxies``: epochs 0 .. E). A run
    that finished without them (a study cell trained by a study that did not
    keep them) gives one row, its last epoch, from its checkpoint's proxies;
    a folder with neither gives no rows. ``N`` is read from the run's
    ``config.json``.
    """
    from ..training.checkpoint import load_checkpoint
    from ..training.config_io import read_config_json
    from .plots import read_proxy_snapshots

    run = Path(run)
    n = int(read_config_json(run / "config.json")["N"])
    if any((run / "proxies").glob("epoch_*.pt")):
        epochs, proxies = read_proxy_snapshots(run, "proxies")
    elif (run / "checkpoint.pt").is_file():
        checkpoint = load_checkpoint(run / "checkpoint.pt")
        epochs, proxies = [int(checkpoint["epoch"])], checkpoint["loss"]["proxies"][None]
    else:
        return pd.DataFrame(columns=["epoch", *PROXY_COLUMNS])
    return pd.DataFrame({"epoch": epochs, **proxy_geometry(proxies, n)})
