"""`TrainConfig`: every setting of a training run in one frozen dataclass, each field with its flag and its check.

Each field is a :func:`~proxygml_lite.training.options.setting`: its default (the
paper's recipe), its command-line flags (the official repository's names
where it has them) and its check (``minimum``, ``choices``). The command line
(:mod:`proxygml_lite.train`) is generated from the fields; the
per-dataset presets are beside it in :mod:`~proxygml_lite.training.presets`.

A config is checked once, when it is made (``__post_init__``), and never
changes afterwards (``frozen=True``): a changed copy is
``dataclasses.replace(config, epochs=3)`` (checked again, as a new config).
Names are resolved before a config is made: ``--dataset sop`` becomes
``online_products`` in the command line, :func:`~.presets.preset` and
:func:`~.rerun.load_config`; ``TrainConfig(dataset="sop")`` is an error naming the
registered name.

The warm-up (``--warm``, ``--warmup-mode``), ``--start-epoch`` and the lr
decay are explained in :mod:`~proxygml_lite.training.schedule`; precision
(``--amp``) in :mod:`~proxygml_lite.training.trainer`. Reading and writing a
config (dicts, ``config.json``) is :mod:`~proxygml_lite.training.config_io`.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import Any

from ..checks import check_in_range
from ..registry import BACKBONES, DATASETS, LOSSES
from .options import check_fields, flag, json_object_arg, pretrained_arg, samples_arg, setting

__all__ = [
    "AMP_MODES",
    "PROXY_OPTIMIZERS",
    "WARMUP_MODES",
    "NMI_PROTOCOL_CHOICES",
    "CHECK_IMAGES_CHOICES",
    "SEED_MAX",
    "TrainConfig",
    "canonical_dataset",
    "unimported_hint",
]

AMP_MODES = ("auto", "none", "bf16", "fp16")
#: ``--proxy-optimizer``: ``adam`` (official) or ``sgd`` (this package's probe; :func:`~.step.build_optimizer`).
PROXY_OPTIMIZERS = ("adam", "sgd")
WARMUP_MODES = ("head-first", "official")
#: ``--nmi-protocol``: ``auto`` = the official one of the dataset (faiss on SOP, sklearn otherwise);
#: see :data:`proxygml_lite.evaluation.NMI_PROTOCOLS`.
NMI_PROTOCOL_CHOICES = ("auto", "sklearn", "faiss", "fast")
#: ``--check-images``: decode every image before the first step (error / skip bad files) or not.
CHECK_IMAGES_CHOICES = ("error", "skip", "off")
#: The largest ``--seed``, 2**31 - 1: the k-means of the NMI takes seeds in [0, 2**31) (faiss's are 32-bit signed), and
#: the trainer's data-order seed ``seed * 100_003 + epoch`` fits torch's 64 bits (a larger seed gave torch's
#: "Overflow when unpacking long long"; one in [2**31, 2**32) trained, then failed at the first NMI).
SEED_MAX = 2**31 - 1


def unimported_hint(imports) -> str:
    """The end of an error about an unknown name when ``imports`` lists modules not imported yet ('' otherwise)."""
    missing = [module for module in imports or () if module not in sys.modules]
    if not missing:
        return ""
    flags = " ".join(f"--import {module}" for module in missing)
    return (
        f" (the configuration records imports {missing}, which reading it never imports: if you trust them, "
        f"pass {flags}, or import them in Python first)"
    )


def canonical_dataset(name: str) -> str:
    """The registered name of a dataset (``"sop"`` -> ``"online_products"``); ValueError for unknown names."""
    return DATASETS.canonical(name)


#: Fields holding a sequence (stored as tuples) and a dict (stored as a fresh dict) whatever the caller passed.
_TUPLE_FIELDS = ("new_epoch_to_decay", "epoch_to_test", "recall_ks", "gpu", "imports")
_DICT_FIELDS = ("loss_kwargs", "dataset_options")


@dataclass(frozen=True)
class TrainConfig:
    """All settings of one training run (field names follow the official flags); frozen, checked when made.

    Paper symbols: ``dim`` = ``d``; ``C`` = number of training classes; ``N`` =
    proxies per class; ``r`` = subgraph scale (``k = ceil(r C N)``);
    ``weight_lambda`` = ``lambda`` (weight of ``L^p``; 0 switches ``L^p`` off);
    ``positive_mask`` = use ``S^pos``; ``mask_softmax`` = use the mask ``M``.

    Start from a dataset's preset with
    :func:`~proxygml_lite.training.presets.config_from_preset`. Values that
    depend on the data or the machine are ``None``/``"auto"`` here and resolved
    by the trainer (never written back): ``C``, ``device``, ``amp``,
    ``channels_last``, ``recall_ks``, ``pretrained`` (``None``: the ImageNet
    weights for bninception/resnet50, random initialisation for smallcnn).
    """

    # ---- data: where the images come from and how they are read
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
            type=json_object_arg("--dataset-options", '{"images_per_face": 2}'),
            help=(
                "glyphs only: JSON object of generation parameters, e.g. '{\"images_per_face\": 2}' for a smaller, "
                "faster set (see proxygml_lite.data.glyphs.ensure_glyphs)"
            ),
        ),
        default_factory=dict,
    )
    image_size: int | None = setting(None, flag("--image-size", help="input size (default: the backbone's)"), minimum=8)
    augment: bool = setting(
        True, flag("--no-augment", store=False, help="train on the test-time transform (no random crops/flips)")
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

    # ---- optimisation: Adam, the learning rates and their schedule, the warm-up (official names)
    epochs: int = setting(50, flag("--epochs", official=True, help="number of epochs"), minimum=1)
    batch_size: int = setting(
        32, flag("-b", "--batch-size", official=True, help="mini-batch size (global, over all processes)"), minimum=2
    )
    modellr: float = setting(
        1e-4, flag("--modellr", official=True, help="initial learning rate of the model"), minimum=0, strict=True
    )
    centerlr: float = setting(
        0.03,
        flag("--centerlr", official=True, help="initial learning rate of the proxies (all loss parameters)"),
        minimum=0,
        strict=True,
    )
    weight_decay: float = setting(
        1e-4, flag("--wd", "--weight-decay", official=True, help="Adam weight decay (model and proxies)"), minimum=0
    )
    eps: float = setting(0.01, flag("--eps", official=True, help="Adam epsilon"), minimum=0, strict=True)
    proxy_optimizer: str = setting(
        "adam",
        flag(
            "--proxy-optimizer",
            help=(
                "optimiser of the proxies (all loss parameters): adam (default, official: one Adam for model and "
                "proxies) or sgd (not official: SGD with momentum 0.9 at --centerlr and --wd; the model keeps Adam)"
            ),
        ),
        choices=PROXY_OPTIMIZERS,
    )
    rate: float = setting(0.1, flag("--rate", official=True, help="learning-rate decay factor"))
    new_epoch_to_decay: tuple[int, ...] = setting(
        (20, 40),
        flag(
            "--new_epoch_to_decay", official=True, help="lrs *= rate at the start of 0-based epoch e when e+1 is listed"
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

    # ---- model (d = dim)
    backbone: str = setting(
        "bninception", flag("--backbone", help="network (default: preset's)"), choices=BACKBONES.choices
    )
    pretrained: bool | str | None = setting(
        None,
        flag(
            "--pretrained",
            type=pretrained_arg,
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
    # ---- loss (C, N, r, lambda = weight_lambda; positive_mask = use S^pos, mask_softmax = use M)
    loss: str = setting(
        "proxygml",
        flag(
            "--loss",
            help="proxygml (default), a pytorch-metric-learning baseline, or a loss registered by an --import module",
        ),
        choices=LOSSES.choices,
    )
    loss_kwargs: dict = setting(
        dataclasses.MISSING,
        flag(
            "--loss-kwargs",
            type=json_object_arg("--loss-kwargs", '{"margin": 0.1}'),
            help="JSON object of extra loss arguments, e.g. '{\"margin\": 0.1}'",
        ),
        default_factory=dict,
    )
    C: int | None = setting(
        None,
        flag(
            "-C",
            official=True,
            help="number of training classes C (checked against the data; default: found in the data)",
        ),
        minimum=2,
    )
    N: int = setting(12, flag("--N", official=True, help="proxies per class N"), minimum=1)
    r: float = setting(
        0.05, flag("--r", official=True, help="subgraph scale r in (0, 1]: k = ceil(r*C*N) proxies per sample")
    )
    weight_lambda: float = setting(
        0.3, flag("--weight_lambda", official=True, help="lambda, the weight of L^p (0 switches L^p off)"), minimum=0
    )
    positive_mask: bool = setting(
        True, flag("--no-positive-mask", store=False, help="ablation: select the subgraph without S^pos")
    )
    mask_softmax: bool = setting(
        True, flag("--no-mask-softmax", store=False, help="ablation: plain softmax instead of the mask softmax M")
    )

    # ---- evaluation: when and how the test classes are evaluated (Recall@K, NMI, MAP@R)
    epoch_to_test: tuple[int, ...] | None = setting(
        None,
        flag(
            "--epoch_to_test",
            official=True,
            help="evaluate after these epochs (1-based; the last epoch is always evaluated)",
        ),
        minimum=1,
    )
    eval_untrained: bool = setting(
        True, flag("--no-eval-untrained", store=False, help="skip evaluating the untrained model (epoch 0)")
    )
    recall_ks: tuple[int, ...] | None = setting(
        None, flag("--recall-ks", help="Recall@K cut-offs (default 1 2 4 8; SOP 1 10 100 1000)"), minimum=1
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
        128, flag("--eval-batch-size", help="batch size for embedding extraction (default 128)"), minimum=1
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
            type=samples_arg,
            help="samples per split in each embedding snapshot (default 1000; 0 = all)",
        ),
        minimum=1,
    )

    # ---- machine: where and how the run computes
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
        "auto", flag("--device", help="auto (default: cuda if available), cpu, cuda, cuda:1, ...; overrides --gpu")
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
    seed: int = setting(
        0, flag("--seed", help="random seed (model init, data order: seed + epoch)"), minimum=0, maximum=SEED_MAX
    )
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
    # ---- run: its folder, imports and output
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
        None, flag("--out", help="run directory (config.json, metrics.csv, results.json, checkpoint.pt)")
    )
    resume: bool = setting(
        False,
        flag(
            "--resume", store=True, help="continue the run in --out from its checkpoint (starts fresh if there is none)"
        ),
    )
    quiet: bool = setting(False, flag("--quiet", store=True, help="no progress bars"))

    def __post_init__(self) -> None:
        # containers are stored in one form (JSON gives lists, callers give lists, an int or one string)
        for name in _TUPLE_FIELDS:
            value = getattr(self, name)
            if isinstance(value, (int, str)):
                value = (value,)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))
            elif value is not getattr(self, name):
                object.__setattr__(self, name, value)
        for name in _DICT_FIELDS:
            value = getattr(self, name)
            object.__setattr__(self, name, dict(value) if isinstance(value, dict) else (value or {}))
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> None:
        """Raise ``ValueError`` naming the bad setting and the fix (called once, when the config is made).

        The modules of ``imports`` are NOT imported here: reading a
        configuration never runs code. A name they register is known only once
        they are imported (``--import``, or the command line's announced import
        of a recorded module); until then the error names them. Checks only:
        nothing is changed.
        """
        try:
            if canonical_dataset(self.dataset) != self.dataset:  # ValueError for an unknown name
                raise ValueError(
                    f"dataset {self.dataset!r} is another name of {canonical_dataset(self.dataset)!r}: pass "
                    f"dataset={canonical_dataset(self.dataset)!r} (config_from_preset and the command line accept both)"
                )
            check_fields(self)  # the minimum / choices declared with each field
        except ValueError as exc:
            raise ValueError(f"{exc}{unimported_hint(self.imports)}") from None
        if self.start_epoch >= self.epochs:
            raise ValueError(
                f"start_epoch {self.start_epoch} leaves no epoch to train (epochs {self.epochs}); --start-epoch is "
                "the 0-based epoch a fresh run starts at: pass a value < --epochs"
            )
        check_in_range("r", self.r, 0, 1, "--r; the paper uses 0.05", noun=None)
        check_in_range("rate", self.rate, 0, 1, "--rate, the lr multiplier at each decay epoch, e.g. 0.1", noun=None)
        if self.pretrained is not None and not isinstance(self.pretrained, (bool, str)):
            raise ValueError(
                f"pretrained must be True, False, None (auto) or a path to weights; got {self.pretrained!r}"
            )
        if self.pretrained is True and not BACKBONES.get(self.backbone).options["pretrained_by_default"]:
            # found here, not after the data has loaded: the benchmark presets state pretrained=True
            raise ValueError(
                f"pretrained=True, but backbone {self.backbone!r} has no published weights to start from (the "
                "benchmark presets fine-tune ImageNet weights): pass --no-pretrained (pretrained=False) for a random "
                "initialisation, or a path to weights"
            )
        if self.dataset_options and not DATASETS.get(self.dataset).options.get("takes_options"):
            from ..data import generated_datasets

            raise ValueError(
                f"dataset_options {self.dataset_options} only apply to --dataset {' / '.join(generated_datasets())} "
                f"(generation parameters such as images_per_face); {self.dataset!r} is read from disk as it is: "
                "drop --dataset-options"
            )
        if not isinstance(self.loss_kwargs, dict):
            raise ValueError(
                "loss_kwargs must be a dict of keyword arguments for the loss (--loss-kwargs '{\"margin\": 0.1}')"
            )

    # -------------------------------------------------------------- copies
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists); read back with :func:`~.config_io.config_from_dict`."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    def replace(self, **changes: Any) -> TrainConfig:
        """``dataclasses.replace``: a new config with ``changes`` applied (checked as it is made)."""
        return dataclasses.replace(self, **changes)
