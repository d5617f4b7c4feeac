"""Evaluation during training: embeddings of the test split (sharded under DDP), then Recall@K / NMI / MAP@R."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .config import TrainConfig
from .device import to_device
from .distributed import DistContext, broadcast_buffers, broadcast_object, gather_rows

__all__ = [
    "extract_embeddings",
    "evaluate_model",
    "metric_columns",
    "final_metrics",
    "format_metrics",
    "should_evaluate",
]


def extract_embeddings(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    progress: bool = False,
    desc: str = "embedding",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings ``X`` (float32, CPU) and labels of every sample of ``loader``, model in eval mode.

    The forward passes run under ``torch.inference_mode()`` (no autograd
    bookkeeping; the same values as under ``no_grad``); the returned tensors
    are ordinary tensors.
    """
    was_training = model.training
    model.eval()
    features, labels = [], []
    try:
        with torch.inference_mode():
            for images, targets in tqdm(loader, desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
                images = to_device(images, device, channels_last)
                with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                    out = model(images)
                features.append(out.float().cpu())
                labels.append(torch.as_tensor(targets).long().cpu())
    finally:
        model.train(was_training)
    if not features:
        raise ValueError("the evaluation loader is empty; the test split needs samples")
    return torch.cat(features), torch.cat(labels)  # outside inference mode: ordinary tensors


def evaluate_model(
    model: nn.Module,
    data,
    config: TrainConfig,
    device: torch.device,
    ctx: DistContext,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    progress: bool = False,
    desc: str = "evaluating",
) -> dict[str, float]:
    """Recall@K / NMI (/ MAP@R, RP) of ``model`` on ``data.test_loader`` (every rank gets the dict).

    ``data`` is the run's :class:`~proxygml_lite.training.setup.TrainingData`;
    under DDP each rank embeds its shard and rank 0 evaluates all of them, in
    the order of the test set.
    """
    from ..evaluation import evaluate, official_nmi_protocol

    broadcast_buffers(model, ctx)
    emb, labels = extract_embeddings(model, data.test_loader, device, amp_dtype, channels_last, progress, desc)
    if ctx.distributed:
        index = torch.tensor(data.test_sampler.indices(), dtype=torch.long)
        on = device if device.type == "cuda" else torch.device("cpu")
        emb = gather_rows(emb.to(on), ctx).cpu()
        labels = gather_rows(labels.to(on), ctx).cpu()
        order = torch.argsort(gather_rows(index.to(on), ctx).cpu())
        emb, labels = emb[order], labels[order]
    metrics = None
    if ctx.is_main:
        protocol = official_nmi_protocol(config.dataset) if config.nmi_protocol == "auto" else config.nmi_protocol
        metrics = evaluate(
            emb,
            labels,
            recall_ks=data.recall_ks,
            compute_nmi=config.compute_nmi,
            compute_map=config.compute_map,
            seed=config.seed,
            nmi_protocol=protocol,
        )
        metrics = {k: float(v) for k, v in metrics.items()}
    return broadcast_object(metrics, ctx)


def should_evaluate(config: TrainConfig, epoch: int) -> bool:
    """Evaluate after 0-based ``epoch``: listed in ``epoch_to_test`` (1-based), every epoch without it, and the last."""
    return config.epoch_to_test is None or (epoch + 1) in config.epoch_to_test or epoch + 1 == config.epochs


def metric_columns(recall_ks, compute_nmi: bool, compute_map: bool) -> list[str]:
    """The metric names of a run, in the order of ``metrics.csv``: ``R@k...``, ``NMI``, ``MAP@R``, ``RP``."""
    cols = [f"R@{k}" for k in recall_ks]
    if compute_nmi:
        cols.append("NMI")
    if compute_map:
        cols += ["MAP@R", "RP"]
    return cols


def final_metrics(history: list[dict], columns: list[str]) -> dict[str, float]:
    """The metrics of the last evaluated row of ``metrics.csv`` (the last epoch is always evaluated)."""
    last = next((row for row in reversed(history) if any(k in row for k in columns)), {})
    return {k: last[k] for k in columns if k in last}


def format_metrics(metrics: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
