"""Look inside one finished training run: reload its model, embed a split, show what retrieval returns.

A run folder (``python -m proxygml_lite.train --out DIR``) holds
``config.json``, ``metrics.csv``, ``results.json`` and ``checkpoint.pt``.
:func:`load_run` rebuilds the trained network from them (any machine, CPU by
default), :func:`embed_split` computes the embeddings of the test (or
training) split, and :func:`plot_retrieval_gallery` draws queries from the
unseen test classes with their nearest neighbours, hits framed green and
misses red, the picture behind Recall@K. :func:`run_summary` prints what a run
folder trained elsewhere (e.g. on a GPU machine) contains. What a run shows, in
words and beside the tables, is in :mod:`proxygml_lite.lab.run_findings`.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..training.config import TrainConfig
from ..training.config_io import config_from_json
from ..training.run_folder import read_results_file

__all__ = [
    "LoadedRun",
    "load_run",
    "embed_split",
    "nearest_neighbours",
    "plot_retrieval_gallery",
    "look_alike_queries",
    "run_summary",
    "run_folder_of",
    "read_json_object",
    "read_run_results",
]


@dataclass
class LoadedRun:
    """A trained run: ``config``, the network ``model`` (eval mode), the loss ``loss_fn`` (its proxies), ``results``."""

    folder: Path
    config: TrainConfig
    model: torch.nn.Module
    loss_fn: torch.nn.Module
    results: dict | None
    num_classes: int


def run_folder_of(run: str | os.PathLike) -> Path:
    """``run`` as a run folder (it holds ``config.json``); a one-line ``FileNotFoundError`` otherwise."""
    folder = Path(run)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"{folder} is not a run folder (no config.json); pass the --out folder of `python -m proxygml_lite.train`"
        )
    return folder


def read_json_object(path: Path, what: str) -> dict:
    """The JSON object in ``path``; a one-line ``ValueError`` naming the file if it is damaged."""
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"{path} is not valid JSON ({exc}); it is damaged: restore it, or train the run again"
        ) from None
    if not isinstance(values, dict):
        raise ValueError(f"{path} holds a JSON {type(values).__name__}, not {what}; restore it, or train the run again")
    return values


def read_run_results(folder: Path) -> dict | None:
    """``results.json`` of a run folder (``None`` if the run has not finished), checked
    (:func:`~proxygml_lite.training.run_folder.read_results_file`: a damaged one is one line naming it)."""
    path = folder / "results.json"
    if not path.is_file():
        return None
    return read_results_file(path)


def load_run(run: str | os.PathLike, *, device: str | torch.device = "cpu") -> LoadedRun:
    """Rebuild the network and loss of a run folder from its ``checkpoint.pt`` (the last finished epoch).

    The checkpoint is read with the safe loader (tensors, numbers and strings
    only: a planted pickle is refused, nothing runs), and the modules the run's
    configuration records in ``imports`` are not imported: a loss, dataset or
    backbone they register must be registered by you first.
    """
    from ..baselines import build_loss
    from ..models import build_model
    from ..training.checkpoint import load_checkpoint
    from ..training.setup import loss_arguments

    folder = run_folder_of(run)
    checkpoint_path = folder / "checkpoint.pt"
    if not checkpoint_path.is_file():
        raise FileNotFoundError(f"{folder} has no checkpoint.pt; the run did not finish an epoch yet")
    config = config_from_json(folder / "config.json")
    checkpoint = load_checkpoint(checkpoint_path, map_location="cpu")
    # the backbone's default channels match the default transforms (as in training); weights come from the checkpoint
    model = build_model(config.backbone, embedding_dim=config.dim, pretrained=False, freeze_bn=config.freeze_bn)
    model.load_state_dict(checkpoint["model"])
    num_classes = int(checkpoint["num_classes"])
    loss_fn = build_loss(config.loss, num_classes, config.dim, **loss_arguments(config))
    loss_fn.load_state_dict(checkpoint["loss"])
    results = read_run_results(folder)
    model.to(device).eval()
    return LoadedRun(folder, config, model, loss_fn.to(device), results, num_classes)


def embed_split(
    run: LoadedRun,
    *,
    split: str = "test",
    data_root: str | os.PathLike | None = None,
    batch_size: int = 256,
    progress: bool = False,
):
    """Embeddings ``X`` (float32, CPU, L2-normalised), labels and the dataset (test transform) of ``split``.

    ``data_root`` defaults to the run's ``data`` setting.
    """
    from torch.utils.data import DataLoader

    from ..data import load_dataset
    from ..models import build_transforms
    from ..training.evaluate import extract_embeddings

    config = run.config
    transform = build_transforms(config.backbone, train=False, image_size=config.image_size)
    options = dict(config.dataset_options)
    if config.dataset.startswith("glyphs"):
        options["progress"] = progress
    dataset = load_dataset(
        config.dataset, data_root=data_root or config.data, split=split, transform=transform, **options
    )
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    device = next(run.model.parameters()).device
    embeddings, labels = extract_embeddings(run.model, loader, device, progress=progress, desc=f"embedding {split}")
    return torch.nn.functional.normalize(embeddings, dim=1), labels, dataset


def nearest_neighbours(embeddings: torch.Tensor, *, queries, k: int = 5) -> torch.Tensor:
    """Indices ``(len(queries), k)`` of the ``k`` most cosine-similar other samples of each query (itself excluded)."""
    embeddings = torch.nn.functional.normalize(torch.as_tensor(embeddings, dtype=torch.float32), dim=1)
    queries = torch.as_tensor(queries, dtype=torch.long)
    if k < 1 or k >= len(embeddings):
        raise ValueError(f"k must be in [1, {len(embeddings) - 1}] for {len(embeddings)} samples; got {k}")
    similarity = embeddings[queries] @ embeddings.T
    similarity[torch.arange(len(queries)), queries] = -float("inf")
    return similarity.topk(k, dim=1).indices


def _image(dataset, index: int) -> np.ndarray:
    """The raw image of ``dataset[index]`` as an array, without the dataset's normalising transform."""
    transform, dataset.transform = getattr(dataset, "transform", None), None
    try:
        image = dataset[index][0]
    finally:
        dataset.transform = transform
    if isinstance(image, torch.Tensor):
        array = image.detach().cpu().numpy()
        return array[0] if array.ndim == 3 and array.shape[0] == 1 else np.moveaxis(array, 0, -1)
    return np.asarray(image)


def plot_retrieval_gallery(
    dataset,
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    query_indices,
    k: int = 5,
    title: str | None = None,
    look_alikes=(),
):
    """One row per query: the query image, then its ``k`` nearest neighbours, framed green (same class) or red.

    Every neighbour of another class is labelled with its class (``dataset.classes``, where the dataset has
    them); a miss whose class and the query's form one of the ``look_alikes`` pairs is framed orange
    instead: label ambiguity (two classes drawn alike), not a wrong neighbour. The title counts the
    same-class neighbours among the ``k`` of every query shown (the precision@k of these queries).

    Args:
        dataset: the split whose images are drawn (``dataset[i] -> (image, label)``).
        embeddings, labels: of the same split, in dataset order (:func:`embed_split`).
        query_indices: which samples are the queries.
        k: neighbours shown per query.
        look_alikes: pairs of class names (``dataset.classes``) that look alike, e.g. the keys of
            :func:`proxygml_lite.data.glyphs.look_alike_pairs`.
    """
    query_indices = [int(i) for i in query_indices]
    if not query_indices:
        raise ValueError("query_indices is empty; pass some sample indices, e.g. range(0, 2000, 400)")
    labels = torch.as_tensor(labels)
    names = getattr(dataset, "classes", None)
    ambiguous = {frozenset(pair) for pair in look_alikes}
    if ambiguous and names is None:
        raise ValueError("look_alikes needs the class names: pass a dataset with a .classes list")
    neighbours = nearest_neighbours(embeddings, queries=query_indices, k=k)
    fig, axes = plt.subplots(
        len(query_indices),
        k + 1,
        figsize=(0.8 * (k + 1), 1.05 * len(query_indices) + 0.4),
        squeeze=False,
        layout="constrained",
    )
    hits = alike = 0
    for row, (query, found) in enumerate(zip(query_indices, neighbours.tolist())):
        cells = [query, *found]
        for column, index in enumerate(cells):
            ax = axes[row, column]
            image = _image(dataset, index)
            ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if column == 0:
                own = f"\n{names[int(labels[query])]!r}" if names is not None else ""
                ax.set_ylabel(f"query {row + 1}{own}", fontsize=7)
                colour, width = "black", 1.0
            else:
                hit = bool(labels[index] == labels[query])
                hits += hit
                colour, gid = "tab:green", "hit"
                if not hit:
                    colour, gid = "tab:red", "miss"
                    if names is not None:
                        theirs, ours = names[int(labels[index])], names[int(labels[query])]
                        if frozenset((theirs, ours)) in ambiguous:
                            colour, gid = "tab:orange", "look-alike"
                            alike += 1
                        ax.set_xlabel(repr(theirs), fontsize=7, labelpad=1, color=colour)
                width = 3.0
                ax.set_gid(gid)
            for spine in ax.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(width)
    for column in range(k + 1):
        axes[0, column].set_title("query" if column == 0 else f"#{column}", fontsize=8)
    total = len(query_indices) * k
    misses = total - hits - alike
    others = f"{misses} of another class (red{', its class below' if names is not None else ''})"
    if ambiguous:
        others += f", {alike} of a look-alike class (orange)"
    fig.suptitle(
        title
        or f"precision@{k} of these {len(query_indices)} queries: {hits} of {total} neighbours of the query's "
        f"class (green)\n{others}",
        fontsize=8,
    )
    return fig


def look_alike_queries(
    embeddings: torch.Tensor, labels: torch.Tensor, classes, look_alikes, *, k: int = 5
) -> list[int]:
    """The queries (every sample in turn) with a neighbour of a look-alike class among their ``k`` nearest.

    ``classes``: the class names (``dataset.classes``); ``look_alikes``: pairs of them
    (:func:`proxygml_lite.data.glyphs.look_alike_pairs`).
    """
    labels = torch.as_tensor(labels)
    ambiguous = {frozenset(pair) for pair in look_alikes}
    if not ambiguous:
        return []
    neighbours = nearest_neighbours(embeddings, queries=range(len(labels)), k=k)
    names = [classes[int(y)] for y in labels]
    return [
        query
        for query, found in enumerate(neighbours.tolist())
        if any(frozenset((names[query], names[n])) in ambiguous for n in found)
    ]


def run_summary(run: str | os.PathLike) -> str:
    """A few lines about a run folder: dataset, loss and its settings, epochs done, final metrics, time, device.

    It only reads the folder's JSON files: nothing is imported (not even the
    modules its configuration records), loaded or built.
    """
    folder = run_folder_of(run)
    config = read_json_object(folder / "config.json", "a training configuration")
    lines = [
        f"run folder {folder.name}: dataset {config.get('dataset')}, backbone {config.get('backbone')}, "
        f"loss {config.get('loss')}"
        + (
            f" (N={config.get('N')}, r={config.get('r')}, lambda={config.get('weight_lambda')})"
            if config.get("loss") == "proxygml"
            else ""
        )
    ]
    if config.get("imports"):
        lines.append(f"records --import {' '.join(map(str, config['imports']))} (not imported by reading)")
    results = read_run_results(folder)
    if results is not None:
        metrics = " ".join(
            f"{k}={100 * v:.1f}%" if isinstance(v, (int, float)) else f"{k}={v!r}"
            for k, v in results["metrics"].items()
        )
        elapsed = results.get("elapsed_s")
        elapsed = f"{elapsed:.0f} s" if isinstance(elapsed, (int, float)) else "unknown time"
        lines.append(
            f"finished {results.get('epochs')} epochs on {results.get('device')} in "
            f"{elapsed}; C={results.get('num_classes')}; final {metrics}"
        )
    else:
        lines.append(
            f"not finished (no results.json): resume it with python -m proxygml_lite.train --resume --out {shlex.quote(str(folder))}"
        )
    return "\n".join(lines)
