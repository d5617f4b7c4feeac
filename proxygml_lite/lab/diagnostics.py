"""Why do ablation rows 2 and 7 collapse? Measurements of the subgraph votes during training (notebook 10).

Rows 2 and 7 keep ``S^pos`` (all ``N`` own-class proxies are always in the
subgraph ``W``) but switch ``L^p`` off. The hypothesis tested here: the
own-class vote ``Z_{i,y_i} = sum of the N own-class similarities`` can reach
``N``, while a class absent from ``W`` votes 0 and an other class present
with few proxies votes little, so ``L^s`` can become small without the
embeddings of different classes being separated.

:func:`subgraph_statistics` measures, on a fixed set of training samples with
the current proxies, the quantities that decide ``L^s``;
:class:`DiagnosticsRecorder` is a training callback that records them after
every epoch into ``<run>/diagnostics.csv`` (atomically, so an interrupted and
resumed run keeps its rows); :func:`plot_diagnostics` draws them per run.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .. import steps
from ..fileio import read_csv

__all__ = [
    "subgraph_statistics",
    "DiagnosticsRecorder",
    "read_diagnostics",
    "read_probe_table",
    "plot_diagnostics",
    "collapse_probes",
    "run_probes",
]


@torch.no_grad()
def subgraph_statistics(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    proxies: torch.Tensor,
    *,
    proxies_per_class: int,
    r: float,
    positive_mask: bool = True,
) -> dict[str, float]:
    """What decides ``L^s`` for these samples and proxies.

    Args:
        embeddings: ``X`` ``(B, d)`` of training samples (normalised here).
        labels: their classes ``(B,)`` in ``0..C-1``.
        proxies: the raw ``(C*N, d)`` proxy matrix.
        proxies_per_class: ``N``; r: the subgraph scale (``k = ceil(r C N)``).
        positive_mask: build ``W`` with ``S^pos`` (rows 2, 7, 8) or without.

    Returns:
        ``own vote`` (mean ``Z_{i,y_i}``), ``best other vote`` (mean of the
        largest ``Z_{i,c}``, ``c != y_i``), ``other classes in W`` (mean number
        of other classes with a proxy in the subgraph), ``L^s mask`` and
        ``L^s plain`` (the loss with and without ``M`` on these samples),
        ``cosine between classes`` (mean cosine of two samples of different
        classes: near 1 means the embeddings collapsed together),
        ``cosine within classes``, ``proxy cosine within classes`` (mean over
        classes of the mean cosine between two own proxies; ``nan`` for
        ``N = 1``) and ``nearest-proxy accuracy`` (the nearest proxy has the
        sample's class).
    """
    x = F.normalize(torch.as_tensor(embeddings, dtype=torch.float32), dim=1)
    labels = torch.as_tensor(labels, dtype=torch.long)
    proxies = torch.as_tensor(proxies, dtype=torch.float32)
    n = int(proxies_per_class)
    c = proxies.shape[0] // n
    k = steps.subgraph_size(r, c, n)
    similarity = steps.similarity_graph(x, proxies)
    subgraph = steps.select_subgraph(similarity, labels, c, n, k, positive_mask)
    z = steps.reverse_label_propagation(subgraph, c, n)
    own = z.gather(1, labels.view(-1, 1)).squeeze(1)
    others = z.scatter(1, labels.view(-1, 1), -math.inf)
    present = steps.class_mask(z).scatter(1, labels.view(-1, 1), False)
    same = labels.view(-1, 1) == labels.view(1, -1)
    cos = x @ x.T
    off = ~torch.eye(len(x), dtype=torch.bool)
    normed = steps.normalize_proxies(proxies).view(c, n, -1)
    if n > 1:
        within = normed @ normed.transpose(1, 2)
        proxy_cos = float(within[:, ~torch.eye(n, dtype=torch.bool)].mean())
    else:
        proxy_cos = float("nan")
    nearest = similarity.argmax(dim=1) // n
    return {
        "own vote": float(own.mean()),
        "best other vote": float(others.max(dim=1).values.mean()),
        "other classes in W": float(present.sum(dim=1).float().mean()),
        "L^s mask": float(steps.classification_loss(z, labels, True)),
        "L^s plain": float(steps.classification_loss(z, labels, False)),
        "cosine between classes": float(cos[~same].mean()) if (~same).any() else float("nan"),
        "cosine within classes": float(cos[same & off].mean()) if (same & off).any() else float("nan"),
        "proxy cosine within classes": proxy_cos,
        "nearest-proxy accuracy": float((nearest == labels).float().mean()),
    }


class DiagnosticsRecorder:
    """Training callback: after every epoch, :func:`subgraph_statistics` of a fixed set of training samples.

    Use as ``train(config, callback=DiagnosticsRecorder(per_class=4))``. The
    samples (``per_class`` of every training class, the first ones of each
    class, the test-time transform: no augmentation) are chosen once; the rows
    (``epoch`` plus the statistics and the epoch's ``R@1`` when evaluated) go
    to ``<run>/diagnostics.csv`` after each epoch. A resumed run appends to
    the rows it finds there.
    """

    def __init__(self, *, per_class: int = 4) -> None:
        if per_class < 1:
            raise ValueError(f"per_class must be >= 1; got {per_class}")
        self.per_class = per_class
        self.images: torch.Tensor | None = None
        self.labels: torch.Tensor | None = None

    def _samples(self, trainer) -> None:
        from ..data import load_dataset
        from ..models import build_transforms

        cfg = trainer.config
        transform = build_transforms(cfg.backbone, train=False, image_size=cfg.image_size)
        options = dict(cfg.dataset_options)
        if cfg.dataset.startswith("glyphs"):
            options["progress"] = False
        dataset = load_dataset(cfg.dataset, data_root=cfg.data, split="train", transform=transform, **options)
        targets = np.asarray(dataset.targets)
        chosen = np.concatenate([np.flatnonzero(targets == c)[: self.per_class] for c in np.unique(targets)])
        items = [dataset[int(i)] for i in chosen]
        self.images = torch.stack([image for image, _ in items])
        self.labels = torch.as_tensor([int(label) for _, label in items])

    def __call__(self, event: str, info: Mapping) -> None:
        if event != "epoch_end":
            return
        trainer = info["trainer"]
        if self.images is None:
            self._samples(trainer)
        model, loss_fn = trainer.model, trainer.loss_fn
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                device = next(model.parameters()).device
                embeddings = torch.cat([model(chunk.to(device)).float().cpu() for chunk in self.images.split(256)])
        finally:
            model.train(was_training)
        cfg = trainer.config
        row = {
            "epoch": int(info["epoch"]) + 1,
            **subgraph_statistics(
                embeddings,
                self.labels,
                loss_fn.proxies.detach().cpu(),
                proxies_per_class=cfg.N,
                r=cfg.r,
                positive_mask=cfg.positive_mask,
            ),
        }
        row["loss_s"] = info["row"].get("loss_s")
        row["R@1"] = info["row"].get("R@1")
        path = Path(trainer.out) / "diagnostics.csv"
        rows = read_diagnostics(path).to_dict("records") if path.exists() else []
        rows = [r for r in rows if r["epoch"] < row["epoch"]] + [row]
        from ..atomic_writers import atomic_write_csv

        atomic_write_csv(path, rows)


def read_diagnostics(run: str | os.PathLike) -> pd.DataFrame:
    """``<run>/diagnostics.csv`` (or that file) as a DataFrame."""
    path = Path(run)
    if path.is_dir():
        path = path / "diagnostics.csv"
    if not path.is_file():
        raise FileNotFoundError(f"no diagnostics at {path}; train with callback=DiagnosticsRecorder()")
    return read_csv(path)


def read_probe_table(path: str | os.PathLike) -> pd.DataFrame:
    """A table of :func:`run_probes` saved as CSV (``results/<preset>/collapse_probes.csv``), its columns checked.

    An empty or damaged file, a missing column, a ``run`` that is empty, an
    ``epoch``/``seed`` that is not a whole number or a measurement that is
    text is one ValueError naming the file and line; a measurement may be
    empty (R@1 is not evaluated every epoch; ``nan`` for ``N = 1``).
    """
    table = read_csv(path)
    measured = ["own vote", "best other vote", "other classes in W", "L^s mask", "L^s plain"]
    measured += ["cosine between classes", "cosine within classes", "nearest-proxy accuracy", "R@1"]
    missing = [c for c in ["run", "seed", "epoch", *measured] if c not in table.columns]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {missing}; restore it (git checkout) or set RECOMPUTE_PROBES")
    for column in ["run", "seed", "epoch", *measured]:
        values = pd.to_numeric(table[column], errors="coerce")
        if column == "run":
            bad = table[column].isna() | (table[column].astype(str).str.strip() == "")
            want = "the name of a probe"
        elif column in ("seed", "epoch"):
            bad = values.isna() | (values % 1 != 0) | (values < 0)
            want = "a whole number"
        else:
            bad = values.isna() & table[column].notna()
            want = "a number (or empty)"
        if bad.any():
            index = int(np.flatnonzero(bad.to_numpy())[0])
            value = table[column].iloc[index]
            value = value.item() if isinstance(value, np.generic) else value
            raise ValueError(
                f"line {index + 2} of {path} has {column} {value!r}, not {want}; restore it (git checkout) "
                "or set RECOMPUTE_PROBES"
            )
    return table


_PANELS = (
    ("L^s mask", "$\\mathcal{L}^s$ on fixed training samples"),
    ("own vote", "own-class vote $Z_{i,y_i}$"),
    ("best other vote", "largest other-class vote"),
    ("cosine between classes", "cosine of samples of different classes"),
    ("R@1", "R@1 on the unseen classes"),
)


def plot_diagnostics(table: pd.DataFrame, *, runs: Sequence[str] | None = None, title: str | None = None):
    """One panel per quantity (``L^s``, own vote, best other vote, between-class cosine, R@1) against the epoch.

    Args:
        table: rows of several runs with a ``run`` column naming each (and
            optionally ``seed``: seeds of one run are drawn as thin lines
            around their mean).
        runs: which runs to draw (default all, in table order).
    """
    missing = [c for c in ("run", "epoch") if c not in table.columns]
    if missing:
        raise ValueError(f"the table lacks {missing}; concatenate read_diagnostics() tables with a 'run' column")
    available = list(dict.fromkeys(table["run"]))
    runs = available if runs is None else list(runs)
    unknown = [r for r in runs if r not in available]
    if unknown:
        raise ValueError(f"runs {unknown} not in the table; it has {available}")
    panels = [(column, label) for column, label in _PANELS if column in table.columns]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.0 * len(panels), 3.2), layout="constrained", squeeze=False)
    colours = dict(zip(available, plt.get_cmap("tab10").colors))
    for ax, (column, label) in zip(axes[0], panels):
        for run in runs:
            rows = table[(table["run"] == run) & table[column].notna()]
            scale = 100.0 if column == "R@1" else 1.0
            if "seed" in rows.columns and rows["seed"].nunique() > 1:
                for _, one in rows.groupby("seed"):
                    ax.plot(one["epoch"], scale * one[column], color=colours[run], lw=0.6, alpha=0.5)
            mean = rows.groupby("epoch")[column].mean()
            ax.plot(mean.index, scale * mean.values, marker="o", ms=3, color=colours[run], label=run, gid=run)
        ax.set_xlabel("epoch")
        ax.set_title(label + (", %" if column == "R@1" else ""), fontsize=9)
        if column == "L^s mask":
            ax.set_yscale("log")
    axes[0, 0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def collapse_probes(base, *, evaluate_every: int | None = 5) -> dict:
    """The runs that test the collapse hypothesis, as ``{name: TrainConfig}`` built from ``base`` (a preset's config).

    ``row 8 (full)`` and ``row 7`` (S^pos and M, no L^p) of the ablation;
    ``row 7, N=1, r=0.6``: one own-class proxy, the same ``k = 60`` at ``C = 100``
    (the own vote can no longer reach ``N``); ``row 7, lr / 10``: both learning
    rates ten times lower. ``evaluate_every``: R@1 after epochs 1, 2 and every
    that many epochs (``None``: every epoch).
    """
    from ..studies import ablation_config

    if evaluate_every is None:
        schedule = None
    else:
        schedule = tuple(sorted({1, 2, *range(evaluate_every, base.epochs + 1, evaluate_every), base.epochs}))
        schedule = tuple(e for e in schedule if e <= base.epochs)
    base = base.replace(epoch_to_test=schedule)
    row7 = ablation_config(base, 7)
    return {
        "row 8 (full)": ablation_config(base, 8),
        "row 7": row7,
        "row 7, N=1, r=0.6": row7.replace(N=1, r=0.6),
        "row 7, lr / 10": row7.replace(modellr=base.modellr / 10, centerlr=base.centerlr / 10),
    }


def run_probes(probes: dict, *, runs_root, seeds=(0,), per_class: int = 4) -> pd.DataFrame:
    """Train (or read back) every probe and seed in ``<runs_root>/<probe>_s<seed>`` with a :class:`DiagnosticsRecorder`.

    Returns the concatenated ``diagnostics.csv`` rows with ``run`` and ``seed`` columns.
    """
    import json

    from ..studies.cells import finished_run
    from ..training.trainer import train

    tables = []
    for name, config in probes.items():
        for seed in seeds:
            slug = "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")
            folder = Path(runs_root) / f"{slug}_s{seed}"
            run = config.replace(seed=int(seed), out=str(folder), resume=True)
            if finished_run(folder, run) is None or not (folder / "diagnostics.csv").exists():
                train(run, callback=DiagnosticsRecorder(per_class=per_class))
            json.loads((folder / "results.json").read_text(encoding="utf-8"))  # a finished run
            tables.append(read_diagnostics(folder).assign(run=name, seed=int(seed)))
    return pd.concat(tables, ignore_index=True)
