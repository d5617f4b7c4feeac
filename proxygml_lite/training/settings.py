"""The settings of a training run, by topic; each field holds its default, its flags and its check.

:class:`~proxygml_lite.training.config.TrainConfig` is all of them together.
Each field is a :func:`~proxygml_lite.options.setting`: its default (the
paper's recipe), its command-line flags (the official repository's names where
it has them) and its check (``minimum``, ``choices``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass

from ..options import flag, setting
from ..registry import BACKBONES, DATASETS, LOSSES

__all__ = [
    "AMP_MODES",
    "WARMUP_MODES",
    "NMI_PROTOCOL_CHOICES",
    "CHECK_IMAGES_CHOICES",
    "DataSettings",
    "OptimisationSettings",
    "ModelSettings",
    "EvaluationSettings",
    "MachineSettings",
]

AMP_MODES = ("auto", "none", "bf16", "fp16")
WARMUP_MODES = ("head-first", "official")
#: ``--nmi-protocol``: ``auto`` = the official one of the dataset (faiss on SOP, sklearn otherwise);
#: see :data:`proxygml_lite.evaluation.NMI_PROTOCOLS`.
NMI_PROTOCOL_CHOICES = ("auto", "sklearn", "faiss", "fast")
#: ``--check-images``: decode every image before the first step (error / skip bad files) or not.
CHECK_IMAGES_CHOICES = ("error", "skip", "off")


def _pretrained_arg(text: str) -> bool | str:
    lowered = text.lower()
    if lowered in ("true", "yes", "1", "imagenet"):
        return True
    if lowered in ("false", "no", "0", "none"):
        return False
    return text


def _samples_arg(text: str) -> int | None:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0 (0 = every sample)")
    return value or None


def _json_dict(flag: str, example: str):
    """argparse type for a JSON object flag; its errors show ``example`` for that flag."""

    def parse(text: str) -> dict:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(f"not valid JSON ({exc}); e.g. {flag} '{example}'") from None
        if not isinstance(value, dict):
            raise argparse.ArgumentTypeError(f"must be a JSON object, e.g. {flag} '{example}'")
        return value

    parse.__name__ = "JSON object"  # argparse names the type in its message
    return parse


@dataclass
class DataSettings:
    """Where the images come from and how they are read (``--dataset``, ``--data``, ...)."""

    # data
    dataset: str = setting(
        "glyphs",
        flag("--dataset", official=True, help="dataset and preset (default glyphs; sop = online_products)"),
        choices=DATASETS.choices,
    )
    data: str = setting(
        "data",
        flag(
            "--data",
            "--data-root",
            official=True,
            help=(
                "data root holding <dataset>/{train,test}/<label>/<image> (default ./data); for --dataset folder the "
                "folder holding train/ and test/"
            ),
        ),
    )
    dataset_options: dict = setting(
        dataclasses.MISSING,
        flag(
            "--dataset-options",
            type=_json_dict("--dataset-options", '{"images_per_face": 2}'),
            help=(
                "glyphs only: JSON object of generation parameters, e.g. '{\"images_per_face\": 2}' for a smaller, "
                "faster set (see proxygml_lite.data.glyphs.ensure_glyphs)"
            ),
        ),
        default_factory=dict,
    )
    image_size: int | None = setting(None, flag("--image-size", help="input size (default: the backbone's)"), minimum=8)
    augment: bool = setting(
        True, flag("--no-augment", store=False, help=("train on the test-time transform (no random crops/flips)"))
    )
    check_images: str = setting(
        "error",
        flag(
            "--check-images",
            help=(
                "before the first step decode every image file: error (default) stops naming each bad one; skip leaves "
                "them out and lists them; off does not check (a bad file then stops training when it is read)"
            ),
        ),
        choices=CHECK_IMAGES_CHOICES,
    )
    workers: int = setting(0, flag("-j", "--workers", official=True, help="data loading worker processes"), minimum=0)


@dataclass
class OptimisationSettings:
    """Adam, the learning rates and their schedule, the warm-up (official flag names)."""

    # optimisation (official names)
    epochs: int = setting(50, flag("--epochs", official=True, help="number of epochs"), minimum=1)
    batch_size: int = setting(
        32, flag("-b", "--batch-size", official=True, help=("mini-batch size (global, over all processes)")), minimum=2
    )
    modellr: float = setting(
        1e-4, flag("--modellr", official=True, help="initial learning rate of the model"), minimum=0, strict=True
    )
    centerlr: float = setting(
        0.03,
        flag("--centerlr", official=True, help=("initial learning rate of the proxies (all loss parameters)")),
        minimum=0,
        strict=True,
    )
    weight_decay: float = setting(
        1e-4, flag("--wd", "--weight-decay", official=True, help=("Adam weight decay (model and proxies)")), minimum=0
    )
    eps: float = setting(0.01, flag("--eps", official=True, help="Adam epsilon"), minimum=0, strict=True)
    rate: float = setting(0.1, flag("--rate", official=True, help="learning-rate decay factor"))
    new_epoch_to_decay: tuple[int, ...] = setting(
        (20, 40),
        flag(
            "--new_epoch_to_decay",
            official=True,
            help=("lrs *= rate at the start of 0-based epoch e when e+1 is listed"),
        ),
        minimum=1,
    )
    warm: int = setting(1, flag("--warm", official=True, help="warm-up epochs (see --warmup-mode)"), minimum=0)
    warmup_mode: str = setting(
        "head-first",
        flag(
            "--warmup-mode",
            help=(
                "head-first: backbone truly frozen in epochs 0..warm-1 (default); official: frozen in epochs 1..warm "
                "like the official script, and, like it, still moved by Adam's momentum and weight decay (gradients "
                "zeroed in place)"
            ),
        ),
        choices=WARMUP_MODES,
    )
    start_epoch: int = setting(
        0,
        flag(
            "--start-epoch",
            official=True,
            help=(
                "manual epoch number: a fresh run starts at this 0-based epoch (lr decays and the official warm-up of "
                "earlier epochs are not applied; to continue a run use --resume)"
            ),
        ),
        minimum=0,
    )


@dataclass
class ModelSettings:
    """The network and the loss (paper symbols: ``dim`` = ``d``, ``C``, ``N``, ``r``, ``weight_lambda`` = ``lambda``; ``positive_mask`` = use ``S^pos``, ``mask_softmax`` = use ``M``)."""

    # model
    backbone: str = setting(
        "bninception", flag("--backbone", help="network (default: preset's)"), choices=BACKBONES.choices
    )
    pretrained: bool | str | None = setting(
        None,
        flag(
            "--pretrained",
            type=_pretrained_arg,
            nargs="?",
            const=True,
            help=(
                "ImageNet weights (the default for bninception/resnet50; smallcnn starts random) or a path to a "
                "weights file"
            ),
        ),
        flag("--no-pretrained", store=False, help="random initialisation"),
    )
    dim: int = setting(512, flag("--dim", official=True, help="embedding dimension d"), minimum=1)
    freeze_bn: bool = setting(
        False,
        flag("--freeze_BN", official=True, store=True, help="keep BatchNorm layers in eval mode (frozen statistics)"),
        flag("--no-freeze-bn", store=False, help="train BatchNorm statistics (undo a preset's --freeze_BN)"),
    )
    # loss
    loss: str = setting(
        "proxygml",
        flag(
            "--loss",
            help=("proxygml (default), a pytorch-metric-learning baseline, or a loss registered by an --import module"),
        ),
        choices=LOSSES.choices,
    )
    loss_kwargs: dict = setting(
        dataclasses.MISSING,
        flag(
            "--loss-kwargs",
            type=_json_dict("--loss-kwargs", '{"margin": 0.1}'),
            help=("JSON object of extra loss arguments, e.g. '{\"margin\": 0.1}'"),
        ),
        default_factory=dict,
    )
    C: int | None = setting(
        None,
        flag(
            "-C",
            official=True,
            help=("number of training classes C (checked against the data; default: found in the data)"),
        ),
        minimum=2,
    )
    N: int = setting(12, flag("--N", official=True, help="proxies per class N"), minimum=1)
    r: float = setting(
        0.05, flag("--r", official=True, help=("subgraph scale r in (0, 1]: k = ceil(r*C*N) proxies per sample"))
    )
    weight_lambda: float = setting(
        0.3, flag("--weight_lambda", official=True, help=("lambda, the weight of L^p (0 switches L^p off)")), minimum=0
    )
    positive_mask: bool = setting(
        True, flag("--no-positive-mask", store=False, help=("ablation: select the subgraph without S^pos"))
    )
    mask_softmax: bool = setting(
        True, flag("--no-mask-softmax", store=False, help=("ablation: plain softmax instead of the mask softmax M"))
    )


@dataclass
class EvaluationSettings:
    """When and how the test classes are evaluated (Recall@K, NMI, MAP@R)."""

    # evaluation
    epoch_to_test: tuple[int, ...] | None = setting(
        None,
        flag(
            "--epoch_to_test",
            official=True,
            help=("evaluate after these epochs (1-based; the last epoch is always evaluated)"),
        ),
        minimum=1,
    )
    eval_untrained: bool = setting(
        True, flag("--no-eval-untrained", store=False, help=("skip evaluating the untrained model (epoch 0)"))
    )
    recall_ks: tuple[int, ...] | None = setting(
        None, flag("--recall-ks", help=("Recall@K cut-offs (default 1 2 4 8; SOP 1 10 100 1000)")), minimum=1
    )
    compute_nmi: bool = setting(True, flag("--no-nmi", store=False, help="skip NMI (k-means) in evaluation"))
    nmi_protocol: str = setting(
        "auto",
        flag(
            "--nmi-protocol",
            help=(
                "k-means of NMI: auto (default) = the official code's for the dataset: sklearn KMeans k-means++ "
                "n_init=10 max_iter=300 (CUB, Cars, others) or faiss 20 iterations random init (SOP), seeded; fast = one "
                "k-means++ start, 20 iterations (quicker, not official)"
            ),
        ),
        choices=NMI_PROTOCOL_CHOICES,
    )
    compute_map: bool = setting(False, flag("--map", store=True, help="also report MAP@R and R-Precision"))
    eval_batch_size: int = setting(
        128, flag("--eval-batch-size", help=("batch size for embedding extraction (default 128)")), minimum=1
    )
    save_proxies: bool = setting(
        False,
        flag(
            "--save-proxies",
            store=True,
            help=(
                "keep the loss's proxies after every epoch in <out>/proxies/epoch_<e>.pt (for plots of proxies through "
                "training)"
            ),
        ),
    )
    save_embeddings: bool = setting(
        False,
        flag(
            "--save-embeddings",
            store=True,
            help=(
                "keep sample embeddings (a fixed seeded subset of the training and of the test samples, with labels) "
                "after every epoch in <out>/embeddings/epoch_<e>.pt, beside --save-proxies (UMAP views)"
            ),
        ),
    )
    embedding_samples: int | None = setting(
        1000,
        flag(
            "--embedding-samples",
            type=_samples_arg,
            help="samples per split in each embedding snapshot (default 1000; 0 = all)",
        ),
        minimum=1,
    )


@dataclass
class MachineSettings:
    """Where and how the run computes, and its run folder."""

    # machine
    gpu: tuple[int, ...] | None = setting(
        None,
        flag(
            "--gpu",
            official=True,
            help=(
                "GPU id; maps to --device cuda:<id> (one id: several ids are an error that shows the torchrun command)"
            ),
        ),
        minimum=0,
    )
    device: str = setting(
        "auto", flag("--device", help=("auto (default: cuda if available), cpu, cuda, cuda:1, ...; overrides --gpu"))
    )
    amp: str = setting(
        "none",
        flag(
            "--amp",
            help=(
                "autocast (default none = float32 like the official code, TF32 matmuls allowed on CUDA): bf16/fp16 = "
                "faster on a GPU, but rounding changes some top-k subgraphs (README); auto = bf16 on CUDA, none on CPU; "
                "the loss always runs in float32"
            ),
        ),
        choices=AMP_MODES,
    )
    channels_last: bool | None = setting(
        None,
        flag("--channels-last", store=True, help="channels_last memory format (default: on CUDA)"),
        flag("--no-channels-last", store=False),
    )
    threads: int | None = setting(
        None,
        flag(
            "--threads",
            help=(
                "torch CPU threads (intra-op); recorded in config.json because CPU float reductions depend on it "
                "(default: torch's own; glyphs_hard: 1)"
            ),
        ),
        minimum=1,
    )
    seed: int = setting(0, flag("--seed", help="random seed (model init, data order: seed + epoch)"), minimum=0)
    log_every: int = setting(
        50,
        flag(
            "--log-every",
            help=(
                "steps between reading the loss back from the device (progress bar, NaN check; default 50): the "
                "training step itself never waits for the device"
            ),
        ),
        minimum=1,
    )
    # run
    imports: tuple[str, ...] = setting(
        (),
        flag(
            "--import",
            action="append",
            metavar="MODULE",
            help=(
                "import MODULE first (repeatable): the losses, datasets and backbones it registers "
                "(proxygml_lite.register_loss, ...) become valid --loss/--dataset/--backbone choices"
            ),
        ),
    )
    out: str | None = setting(
        None, flag("--out", help=("run directory (config.json, metrics.csv, results.json, checkpoint.pt)"))
    )
    resume: bool = setting(
        False,
        flag(
            "--resume",
            store=True,
            help=("continue the run in --out from its checkpoint (starts fresh if there is none)"),
        ),
    )
    quiet: bool = setting(False, flag("--quiet", store=True, help="no progress bars"))
