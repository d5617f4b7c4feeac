"""The committed snapshot files of notebook 9: proxies and sample embeddings through training, as compact npz."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..fileio import atomic_write, read_npz

__all__ = ["SNAPSHOT_EPOCHS", "export_snapshots", "read_snapshot_npz"]

#: Epochs kept in the committed snapshot files (all epochs stay in the run folders).
SNAPSHOT_EPOCHS = (0, 1, 2, 3, 5, 10, 20, 30, 40, 50)


# ----------------------------------------------------------------- snapshots
def export_snapshots(cells: list, runs: Path, out: Path) -> list[Path]:
    """``<out>/snapshots/<cell>.npz`` from the run folders of ``cells`` (proxies + embeddings at :data:`SNAPSHOT_EPOCHS`).

    ``cells``: :class:`~proxygml_lite.studies.cells.Cell` s whose runs kept snapshots; cells without a
    finished run folder are skipped (their committed file, if any, stays).
    """
    from .plots import read_embedding_snapshots, read_proxy_snapshots

    written = []
    for cell in cells:
        run = cell.folder(runs)
        if not (run / "results.json").is_file():
            continue
        target = out / "snapshots" / f"N{cell.config.N}_r{cell.config.r:g}_s{cell.seed}.npz"
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
            config=np.asarray(json.dumps({**cell.config.to_dict(), "out": None}, sort_keys=True)),
        )

        def write(fh, arrays=arrays):
            np.savez_compressed(fh, **arrays)

        atomic_write(target, write)
        written.append(target)
    return written


def read_snapshot_npz(path: str | Path) -> dict:
    """A committed snapshot file as a dict of NumPy arrays (float32 for the float16 ones; ``config`` a dict)."""
    out = {k: (v.astype(np.float32) if v.dtype == np.float16 else v) for k, v in read_npz(path).items()}
    out["config"] = json.loads(str(out["config"]))
    for name in ("N", "num_classes"):
        out[name] = int(out[name])
    out["r"] = round(float(out["r"]), 6)  # stored as float32
    return out
