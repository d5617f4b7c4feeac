"""Notebook 7's estimates of a GPU run: what the paper's recipe costs in time, memory and disk.

No GPU was available to this project, so every time and memory figure here is
an **estimate**, computed from quantities counted on the CPU and from
throughputs that are **assumptions**:

* counted: the backbone's forward FLOPs per image (``torch.utils.flop_counter``;
  a multiply-add counts 2, so BN-Inception's "about 2 GFLOPs" of multiply-adds
  at 224 x 224 count as about 4) and the bytes of the tensors autograd keeps
  for the backward pass of one image (:func:`backbone_cost`); the image and
  class counts of each benchmark's standard split
  (:data:`proxygml_lite.data.specs.SPECS`); the recipe's batch, epochs,
  warm-up and evaluation schedule (the run's :class:`TrainConfig`);
* assumed: the GPU's sustained float32 throughput, the images per second the
  data loader delivers, the CPU's k-means throughput and the memory CUDA
  itself takes (:class:`Assumptions`, printed beside every table).

The sanity run of notebook 7 then measures the real times on a GPU
(``metrics.csv``: ``train_time_s``, ``eval_time_s``).

* :func:`estimate_run`, :func:`estimates_table`, :func:`plot_estimates`: time
  and memory per epoch and per evaluation, and the hours of the whole recipe
  beside a Colab session (:data:`COLAB_SESSION_HOURS`);
* :func:`disk_table`: the disk a benchmark and its run folder take.

Where the weights come from is in :mod:`proxygml_lite.lab.gpu_downloads`; what
to expect of the run in :mod:`proxygml_lite.lab.gpu_expectations`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pandas as pd

from ..data.specs import SPECS
from ..training.config import TrainConfig

__all__ = [
    "COLAB_SESSION_HOURS",
    "Assumptions",
    "BackboneCost",
    "backbone_cost",
    "evaluation_epochs",
    "estimate_run",
    "estimates_table",
    "plot_estimates",
    "disk_table",
]

#: Colab's FAQ: a notebook runs for at most 12 hours, often less (idle notebooks are disconnected sooner,
#: and GPUs are handed out by availability); paid plans allow longer sessions.
COLAB_SESSION_HOURS = 12.0
_GIB = 2**30


@dataclass(frozen=True)
class Assumptions:
    """The throughputs the estimates assume; none was measured (no GPU was available to this project).

    Attributes:
        gpu_tflops: sustained float32 TFLOPS of the GPU (default 4: about half of a T4's 8.1 TFLOPS peak, the GPU
            Colab gives most often).
        loader_images_per_s: images per second the data loader delivers (decoding JPEGs, cropping, flipping): 200 on
            Colab's 2 CPU cores is a guess; ``benchmarks/bench_data_pipeline.py`` measures yours.
        cpu_gflops: sustained GFLOPS of the k-means behind NMI, which runs on the CPU (scikit-learn or faiss).
        sklearn_iterations: Lloyd iterations per start of the scikit-learn protocol (10 starts, at most 300 each).
        overhead_gib: GPU memory of the CUDA context, cuDNN's workspace and the allocator's cache.
    """

    gpu_tflops: float = 4.0
    loader_images_per_s: float = 200.0
    cpu_gflops: float = 50.0
    sklearn_iterations: int = 30
    overhead_gib: float = 1.0

    def describe(self) -> str:
        """One paragraph stating every assumption, for printing beside the estimates."""
        return (
            f"ASSUMED (not measured): the GPU sustains {self.gpu_tflops:g} TFLOPS in float32; the data loader "
            f"delivers {self.loader_images_per_s:g} images/s (2 CPU cores, as on Colab; measure yours with "
            f"benchmarks/bench_data_pipeline.py); the k-means of NMI runs at {self.cpu_gflops:g} GFLOPS on the CPU, "
            f"{self.sklearn_iterations} Lloyd iterations per scikit-learn start; CUDA itself takes "
            f"{self.overhead_gib:g} GiB."
        )


@dataclass(frozen=True)
class BackboneCost:
    """What one image costs an embedding network, counted on the CPU.

    Attributes:
        forward_flops: FLOPs of one forward pass (a multiply-add counts 2).
        parameters: parameters of the network (backbone and embedding head).
        saved_bytes: bytes of the tensors autograd keeps for the backward pass (float32, parameters excluded).
        largest_bytes: bytes of the largest of those tensors (the working set of a forward pass without gradients).
    """

    backbone: str
    image_size: int
    forward_flops: float
    parameters: int
    saved_bytes: float
    largest_bytes: float


@functools.lru_cache(maxsize=8)
def backbone_cost(
    backbone: str = "bninception", image_size: int | None = None, dim: int = 512, freeze_bn: bool = True
) -> BackboneCost:
    """Count one training forward pass of ``backbone`` on one image of ``image_size`` (default: the backbone's).

    The network is randomly initialised (no download). The FLOPs come from
    ``torch.utils.flop_counter.FlopCounterMode``; the saved tensors from
    ``torch.autograd.graph.saved_tensors_hooks``, each storage counted once.
    About 2 s for BN-Inception at 224 on one CPU thread; cached.
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ..models import build_model
    from ..registry import BACKBONES

    size = int(image_size or BACKBONES.get(backbone).options["image_size"])
    model = build_model(backbone, embedding_dim=dim, pretrained=False, freeze_bn=freeze_bn).train()
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def keep(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    image = torch.zeros(1, model.in_channels, size, size)
    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor), FlopCounterMode(display=False) as flops:
        model(image)
    return BackboneCost(
        backbone=backbone,
        image_size=size,
        forward_flops=float(flops.get_total_flops()),
        parameters=sum(p.numel() for p in model.parameters()),
        saved_bytes=float(sum(saved.values())),
        largest_bytes=float(max(saved.values(), default=0)),
    )


def evaluation_epochs(config: TrainConfig) -> list[int]:
    """The evaluations of a run as counts of finished epochs: 0 (the untrained network) when
    ``eval_untrained``, then every epoch the trainer evaluates after (:func:`~proxygml_lite.training.evaluate.should_evaluate`)."""
    from ..training.evaluate import should_evaluate

    after = [epoch + 1 for epoch in range(config.start_epoch, config.epochs) if should_evaluate(config, epoch)]
    return ([0] if config.eval_untrained else []) + after


def _kmeans_passes(config: TrainConfig, assumptions: Assumptions) -> int:
    """Lloyd iterations of all starts of the run's NMI protocol (those of :func:`proxygml_lite.evaluation.nmi`)."""
    from ..evaluation import official_nmi_protocol

    protocol = official_nmi_protocol(config.dataset) if config.nmi_protocol == "auto" else config.nmi_protocol
    return {"sklearn": 10 * assumptions.sklearn_iterations, "faiss": 20, "fast": 20}[protocol]


def estimate_run(
    config: TrainConfig,
    assumptions: Assumptions = Assumptions(),
    *,
    counts: dict[str, tuple[int, int]] | None = None,
) -> dict[str, float]:
    """ESTIMATED time and GPU memory of ``config`` on one GPU: per epoch, per evaluation and in all.

    Args:
        config: the run (e.g. ``config_from_preset("cub200")``).
        assumptions: the assumed throughputs (:class:`Assumptions`).
        counts: ``{"train": (classes, images), "test": (classes, images)}``; default: the benchmark's standard split.

    An epoch takes the longer of the GPU's work (forward and backward, about 3
    forward passes per image; one during the warm-up, when the backbone is
    frozen) and the loader's. An evaluation embeds the test split (the longer
    of GPU and loader), searches the neighbours on the GPU (``n^2 d``
    multiply-adds) and runs the k-means of NMI on the CPU. Training memory:
    weights, gradients and Adam's two moments of the network and the proxies,
    the batch's saved tensors, and CUDA's own; evaluation memory: the weights,
    three of the largest tensors per image of a batch alive at once, the test
    embeddings and one block of similarities.
    """
    from ..data.specs import SPECS
    from ..evaluation._common import _TORCH_BLOCK_ELEMENTS
    from ..training.setup import epoch_batches

    if counts is None:
        if config.dataset not in SPECS:
            raise ValueError(
                f"{config.dataset!r} is not one of the benchmarks {', '.join(SPECS)}: pass counts="
                "{'train': (classes, images), 'test': (classes, images)}"
            )
        counts = SPECS[config.dataset].counts
    (classes, train_images), (test_classes, test_images) = counts["train"], counts["test"]
    cost = backbone_cost(config.backbone, config.image_size, config.dim, config.freeze_bn)
    gpu = assumptions.gpu_tflops * 1e12
    loading = train_images / assumptions.loader_images_per_s
    compute = train_images * 3 * cost.forward_flops / gpu  # the backward pass costs about twice the forward
    epoch_s = max(compute, loading)
    warm_s = max(train_images * cost.forward_flops / gpu, loading)
    embed_s = max(test_images * cost.forward_flops / gpu, test_images / assumptions.loader_images_per_s)
    search_s = test_images**2 * config.dim * 2 / gpu
    kmeans_s = 0.0
    if config.compute_nmi:
        kmeans_s = _kmeans_passes(config, assumptions) * test_images * test_classes * config.dim * 2
        kmeans_s /= assumptions.cpu_gflops * 1e9
    evaluation_s = embed_s + search_s + kmeans_s
    evaluations = len(evaluation_epochs(config))
    trained = config.epochs - config.start_epoch
    warm = min(config.warm, trained)
    proxies = classes * (config.N if config.loss == "proxygml" else 1) * config.dim
    overhead = assumptions.overhead_gib * _GIB
    training_memory = 4 * 4 * (cost.parameters + proxies) + config.batch_size * cost.saved_bytes + overhead
    evaluation_memory = (
        4 * (cost.parameters + proxies)
        + 3 * config.eval_batch_size * cost.largest_bytes
        + 4 * test_images * config.dim
        + 4 * min(test_images**2, _TORCH_BLOCK_ELEMENTS)
        + overhead
    )
    return {
        "train images": train_images,
        "test images": test_images,
        "steps per epoch": epoch_batches(train_images, config.batch_size)[0],
        "epoch (min)": epoch_s / 60,
        "epoch bound by": "data loading" if loading >= compute else "GPU",
        "evaluation (min)": evaluation_s / 60,
        "k-means of NMI (min, CPU)": kmeans_s / 60,
        "evaluations": evaluations,
        "training (h)": (warm * warm_s + (trained - warm) * epoch_s) / 3600,
        "evaluations (h)": evaluations * evaluation_s / 3600,
        "full recipe (h)": (warm * warm_s + (trained - warm) * epoch_s + evaluations * evaluation_s) / 3600,
        "training memory (GiB)": training_memory / _GIB,
        "evaluation memory (GiB)": evaluation_memory / _GIB,
    }


def estimates_table(assumptions: Assumptions = Assumptions(), benchmarks=tuple(SPECS), **overrides) -> pd.DataFrame:
    """:func:`estimate_run` of each benchmark's preset (with ``overrides``), one column each, rounded for reading.

    ESTIMATES, not measurements: ``table.attrs["assumptions"]`` states what they assume.
    """
    from ..data.specs import SPECS
    from ..training.presets import config_from_preset

    columns = {}
    for name in benchmarks:
        estimate = estimate_run(config_from_preset(name, **overrides), assumptions)
        columns[SPECS[name].title] = {
            key: round(value, 2 if key.endswith("(h)") else 1) if isinstance(value, float) else value
            for key, value in estimate.items()
        }
    table = pd.DataFrame(columns)
    table.index.name = "ESTIMATE"
    table.attrs["assumptions"] = assumptions.describe()
    return table


def plot_estimates(table: pd.DataFrame, *, session_hours: float = COLAB_SESSION_HOURS):
    """The estimated hours of each benchmark's full recipe (training, evaluations) beside one Colab session.

    ``table``: :func:`estimates_table` (one column per benchmark).
    """
    import matplotlib.pyplot as plt

    names = list(table.columns)
    training = table.loc["training (h)"].astype(float).to_numpy()
    evaluations = table.loc["evaluations (h)"].astype(float).to_numpy()
    fig, ax = plt.subplots(figsize=(7.5, 2.6))
    ax.barh(names, training, color="#4c72b0", label="training epochs")
    ax.barh(names, evaluations, left=training, color="#dd8452", label="evaluations (incl. k-means on the CPU)")
    for y, total in enumerate(training + evaluations):
        ax.text(total, y, f" {total:.1f} h", va="center", fontsize=8)
    ax.axvline(
        session_hours, color="0.3", linestyle="--", linewidth=1, label=f"a Colab session: at most {session_hours:g} h"
    )
    ax.invert_yaxis()
    ax.set_xlim(0, max(session_hours, float((training + evaluations).max())) * 1.15)
    ax.set_xlabel("hours on one GPU (ESTIMATE: FLOPs, image counts, assumed throughputs)", fontsize=9)
    ax.set_title("The paper's recipe, 50 epochs: estimated, never measured here", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig


def disk_table(benchmarks=tuple(SPECS)) -> pd.DataFrame:
    """Disk per benchmark (GB, approximate): its download, the extracted images, the peak, and one run folder.

    ``prepare`` keeps ``archives/`` and ``raw/`` and links the prepared folder
    to ``raw/`` (hard links: no extra space on one file system; copies, the
    same size again, across file systems). JPEGs do not compress, so the
    extracted images take about the archive's size. A run folder is mostly
    ``checkpoint.pt``: the network, the proxies and Adam's two moments of both.
    """
    from ..data.specs import SPECS
    from ..training.presets import config_from_preset

    rows = {}
    for name in benchmarks:
        spec, config = SPECS[name], config_from_preset(name)
        download = spec.download_gb
        cost = backbone_cost(config.backbone, config.image_size, config.dim, config.freeze_bn)
        proxies = spec.counts["train"][0] * config.N * config.dim
        rows[spec.title] = {
            "download (GB)": download,
            "extracted (GB)": download,
            "prepared folder": "hard links (about 0)",
            "peak while preparing (GB)": 2 * download,
            "without archives/ afterwards (GB)": download,
            "run folder (GB)": round(3 * 4 * (cost.parameters + proxies) / 1e9, 2),
        }
    table = pd.DataFrame(rows).T
    table.index.name = "ESTIMATE"
    return table
