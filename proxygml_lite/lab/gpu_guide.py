"""Notebook 7's guide to the GPU path: what the paper's recipe costs, where its weights come from, what to expect.

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
* :func:`disk_table`: the disk a benchmark and its run folder take;
* :func:`weights_status`: where BN-Inception's ImageNet weights come from,
  whether they are cached, and the fallbacks the package offers;
  :func:`keep_downloads` keeps the archives and the weights on Drive between
  Colab sessions;
* :data:`PUBLIC_REPRODUCTION`, :func:`expectations`, :func:`plot_expected_recall`:
  the paper's numbers and a public reproduction of the official code, each
  labelled as what it is.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

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
    "weights_status",
    "keep_downloads",
    "Reproduction",
    "PUBLIC_REPRODUCTION",
    "expectations",
    "plot_expected_recall",
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


def weights_status() -> str:
    """Where BN-Inception's ImageNet weights come from, whether they are in the cache, and the fallbacks."""
    import torch

    from ..models.bninception import BNINCEPTION_URL
    from ..models.common import hash_prefix_from_filename

    name = Path(BNINCEPTION_URL).name
    cached = Path(torch.hub.get_dir()) / "checkpoints" / name
    shown = str(cached).replace(str(Path.home()), "~", 1)
    state = (
        "present (its SHA-256 prefix is checked whenever it is loaded)"
        if cached.is_file()
        else "absent: the first run with pretrained weights downloads it there"
    )
    return "\n".join(
        [
            f"BN-Inception's ImageNet weights: {BNINCEPTION_URL}",
            "  published with Cadene's pretrainedmodels; the host data.lip6.fr has a record of outages",
            f"  cache: {shown}: {state}",
            "If the download fails, the error names the fallbacks the package offers:",
            f"  1. the same file from elsewhere (keep a copy, e.g. on Drive): put it at {shown},",
            f"     or pass --pretrained /path/to/{name}; the name's SHA-256 prefix "
            f"({hash_prefix_from_filename(name)}) is checked, so another file is refused;",
            "  2. --backbone resnet50: torchvision's ImageNet ResNet-50 (download.pytorch.org), not the paper's",
            "     backbone: its numbers are not the paper's setting;",
            "  3. --no-pretrained: random initialisation, far from the paper's recipe (notebook 6 trains from scratch).",
        ]
    )


def keep_downloads(benchmark: str, data_root, folder) -> list[str]:
    """Keep the benchmark's archives and BN-Inception's weights in ``folder`` (e.g. on Google Drive) between sessions.

    Both ways, each file once: a file only in ``folder`` is copied into this
    session (``<data_root>/archives/``, where ``prepare`` looks first, and
    torch's cache, where a run looks for the weights), a file only here is
    copied to ``folder``. The run's settings never change (no
    ``--pretrained PATH``), so ``--resume`` accepts the next session's run.
    Copies are atomic; the checksums are checked when the files are used.
    Returns one line per copy.
    """
    import torch

    from ..data.specs import SPECS, canonical_benchmark
    from ..fileio import atomic_copy
    from ..models.bninception import BNINCEPTION_URL

    folder = Path(folder)
    here = {
        source.remote.filename: Path(data_root) / "archives" for source in SPECS[canonical_benchmark(benchmark)].sources
    }
    here[Path(BNINCEPTION_URL).name] = Path(torch.hub.get_dir()) / "checkpoints"
    copied = []
    for name, local in here.items():
        kept, session = folder / name, local / name
        if kept.is_file() and not session.is_file():
            atomic_copy(kept, session)
            copied.append(f"{name}: copied from {folder} into this session")
        elif session.is_file() and not kept.is_file():
            atomic_copy(session, kept)
            copied.append(f"{name}: kept in {folder} for the next session")
    return copied


@dataclass(frozen=True)
class Reproduction:
    """A published log of the official code, trained by someone else: never the paper's numbers, never this code's.

    ``recall_at_1``: finished epochs -> R@1 (percent) at the epochs the log
    evaluated; ``final``: its metrics after the last epoch (percent); the
    times are the log's medians (its GPU is not named in the log).
    """

    label: str
    source: str
    dataset: str
    settings: str
    recall_at_1: dict[int, float]
    final: dict[str, float]
    epoch_seconds: float
    warmup_epoch_seconds: float
    evaluation_seconds: float
    notes: tuple[str, ...] = field(default=())


# R@1 (%) in the fork's log after epochs 1 and 2, then 35 to 50 (the official epoch_to_test)
_FORK_RECALL_AT_1 = (59.1, 56.0)
_FORK_RECALL_AT_1 += (65.5, 65.2, 65.2, 65.3, 65.1, 65.5, 65.3, 65.3, 65.4, 65.3, 65.4, 65.4, 65.5, 65.5, 65.4, 65.2)

#: The only public reproduction of the official code found (issue 18): the fork Liurchen/ProxyGML committed the
#: logs of one CUB-200-2011 run at the official README's settings (``log_train_Base.csv``, ``log_val_Base.csv``).
PUBLIC_REPRODUCTION = Reproduction(
    label="public reproduction of the official code (a fork's log)",
    source=(
        "https://github.com/Liurchen/ProxyGML/tree/b62919c0222bc316755495b2329fda948d7b210b/Training_Results/"
        "ProxyGML_cub200"
    ),
    dataset="cub200",
    settings="the official README's CUB command: d = 512, N = 12, r = 0.05, lambda = 0.3, batch 32, 50 epochs",
    recall_at_1=dict(zip((1, 2, *range(35, 51)), _FORK_RECALL_AT_1)),
    final={"NMI": 69.1, "R@1": 65.2, "R@2": 76.0, "R@4": 84.3, "R@8": 90.5},
    epoch_seconds=27.4,
    warmup_epoch_seconds=16.0,
    evaluation_seconds=31.5,
    notes=(
        "the official warm-up: all layers train in epoch 1, the backbone is frozen in epoch 2 (its 16 s epoch)",
        "8 data-loading workers; the GPU is not named in the log",
    ),
)


def expectations(benchmark: str, run=None, *, label: str = "this run") -> pd.DataFrame:
    """What to expect on ``benchmark`` (percent): the paper's ProxyGML-512 row, the public reproduction, a run.

    Each column says whose numbers it holds; the reproduction exists for
    CUB-200-2011 only (elsewhere its column says so). ``run``: a run folder
    whose final metrics fill the ``label`` column (left out when ``None``).
    """
    from ..data.specs import canonical_benchmark
    from .run_views import results_beside_paper

    name = canonical_benchmark(benchmark)
    table = results_beside_paper({name: run}, label=label)
    reproduction = PUBLIC_REPRODUCTION
    column = f"{reproduction.label}, epoch 50"
    if name == reproduction.dataset:
        table[column] = [reproduction.final.get(metric) for metric in table["metric"]]
    else:
        table[column] = "none found"
    if run is None:
        table = table.drop(columns=label)
    return table


def plot_expected_recall(benchmark: str, history: pd.DataFrame | None = None, *, label: str = "this run"):
    """R@1 against the epoch: the paper's final value (a line), the reproduction's log (CUB), and a run's history.

    ``history``: a run's ``metrics.csv`` (:func:`proxygml_lite.studies.plots.read_history`), R@1 as fractions.
    """
    import matplotlib.pyplot as plt

    from ..data.specs import SPECS, canonical_benchmark
    from ..studies.paper import SOURCE, paper_comparison

    name = canonical_benchmark(benchmark)
    paper = paper_comparison()
    paper = paper[
        (paper["method"] == "ProxyGML")
        & (paper["embedding_dim"] == 512)
        & (paper["dataset_id"] == name)
        & (paper["metric"] == "R@1")
    ]
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    if not paper.empty:
        value = float(paper["value"].iloc[0])
        ax.axhline(value, color="black", linestyle="--", linewidth=1, label=f"{SOURCE}: {value:.1f} (final)")
    if name == PUBLIC_REPRODUCTION.dataset:
        epochs, values = zip(*sorted(PUBLIC_REPRODUCTION.recall_at_1.items()))
        ax.plot(epochs, values, "o", color="#dd8452", markersize=4, label=PUBLIC_REPRODUCTION.label)
    if history is not None and "R@1" in history:
        rows = history.dropna(subset=["R@1"])
        ax.plot(rows["epoch"], 100 * rows["R@1"], "s-", color="#4c72b0", markersize=4, label=label)
    ax.set_xlabel("finished epochs")
    ax.set_ylabel("R@1 (%) on the unseen test classes")
    ax.set_xlim(-1, 51)
    ax.set_title(f"What to expect on {SPECS[name].title}", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
