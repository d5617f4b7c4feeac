"""`TrainConfig`: every setting of a training run, the paper's presets, and the command line.

The command line keeps the flag names of the official repository
(github.com/YuehuaZhu/ProxyGML, ``train.py``), so its README commands paste
unchanged, e.g. ::

    python -m proxygml_lite.train -b 32 --gpu 2 --dataset cub200 --freeze_BN --epochs 50 \\
        --dim 512 --r 0.05 -C 100 --N 12 --weight_lambda 0.3 --centerlr 0.03 --rate 0.1 \\
        --new_epoch_to_decay 20 40

How a configuration is resolved: the preset of ``--dataset`` is applied first
(:data:`PRESETS`), then every flag given explicitly overrides it. Flags that
are not given keep the preset's value (not argparse's default).

The recipe of the paper / official code (presets ``cub200``, ``cars196``,
``online_products``): batch ``32``; Adam with ``eps=0.01`` and weight decay
``1e-4`` on both the model and the proxies; model lr ``1e-4``; proxy lr
``0.03`` (``0.3`` on SOP); all learning rates ``x rate = 0.1`` at the start of
the 0-based epoch ``e`` whenever ``e + 1`` is in ``new_epoch_to_decay = [20,
40]``; 50 epochs; ``d = 512``; ``r = 0.05``; ``N = 12``, ``lambda = 0.3`` and
frozen BatchNorm on CUB-200-2011 (``C = 100``) and Cars196 (``C = 98``);
``N = 1``, ``lambda = 0`` on SOP (``C = 11318``); BN-Inception pretrained on
ImageNet; one warm-up epoch.

Warm-up (``--warm``, ``--warmup-mode``). ``head-first`` (default) trains only
the embedding head and the proxies during the first ``warm`` epochs
(0-based epochs ``0 .. warm-1``), the usual meaning of warm-up. The official
script instead trains everything in epoch 0, sets ``requires_grad=False`` on
the backbone *after* epoch 0 and back to ``True`` after epoch ``warm``, so its
backbone is frozen during epochs ``1 .. warm`` (with ``warm = 1``: the SECOND
epoch); ``--warmup-mode official`` reproduces that, including a side effect
of the official ``optimizer.zero_grad()`` (PyTorch 1.2 zeroes the gradients
in place instead of dropping them): Adam still steps the "frozen" backbone
with zero gradients, so its momentum and weight decay keep moving it. The
default mode freezes it truly (``zero_grad(set_to_none=True)``).

``--start-epoch E`` has the official meaning: the epoch counter starts at the
0-based epoch ``E`` of a fresh run (no weights are loaded; use ``--resume``
to continue a run), so ``epochs - E`` epochs are trained, the lr decays
``new_epoch_to_decay`` are applied only when their epoch is reached (the
official ``adjust_learning_rate`` is called per epoch, never for the skipped
ones), and the official warm-up, which freezes the backbone after epoch 0,
never happens when ``E > 0``.

Precision. The official code trains in float32; so do all presets here
(``amp="none"``; on CUDA TF32 matmuls and convolutions are allowed). ``--amp
bf16`` (or ``fp16``, ``auto``) is an explicit speed option: the loss still
runs in float32, but the backbone's embeddings are rounded to bf16, which
changes which proxies enter the top-k subgraphs (measured on the CPU by
``benchmarks/bench_amp_subgraph.py``; the README states the number).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from dataclasses import dataclass, field
from typing import Any

from .checks import check_in_range
from .options import add_flags, check_fields, flag, setting
from .registry import BACKBONES, DATASETS, LOSSES, import_modules

__all__ = [
    "DATASETS",
    "BACKBONES",
    "LOSSES",
    "AMP_MODES",
    "WARMUP_MODES",
    "NMI_PROTOCOL_CHOICES",
    "OFFICIAL_EPOCH_TO_TEST",
    "PRESETS",
    "TrainConfig",
    "canonical_dataset",
    "preset",
    "config_from_preset",
    "build_parser",
    "parse_args",
    "load_config",
]

AMP_MODES = ("auto", "none", "bf16", "fp16")
WARMUP_MODES = ("head-first", "official")
#: ``--nmi-protocol``: ``auto`` = the official one of the dataset (faiss on SOP, sklearn otherwise);
#: see :data:`proxygml_lite.evaluation.NMI_PROTOCOLS`.
NMI_PROTOCOL_CHOICES = ("auto", "sklearn", "faiss", "fast")
#: ``--check-images``: decode every image before the first step (error / skip bad files) or not.
CHECK_IMAGES_CHOICES = ("error", "skip", "off")
#: ``--epoch_to_test`` default of the official ``train.py`` (1-based epoch counts).
OFFICIAL_EPOCH_TO_TEST = (1, 2, *range(35, 51))

# The dataclass defaults below ARE the paper's recipe (official train.py); a preset holds only what
# differs from them. The benchmarks also take the official script's worker count and test epochs.
_OFFICIAL_SCRIPT = {"workers": 8, "epoch_to_test": OFFICIAL_EPOCH_TO_TEST}

#: Per-dataset presets: the settings that differ from the :class:`TrainConfig`
#: defaults (the paper's recipe). ``C`` is left to the data (the number of
#: training classes found); the README commands pass ``-C 100 / 98 / 11318``,
#: which is then checked against the data.
PRESETS: dict[str, dict[str, Any]] = {
    "cub200": {**_OFFICIAL_SCRIPT, "freeze_bn": True},
    "cars196": {**_OFFICIAL_SCRIPT, "freeze_bn": True},
    "online_products": {
        **_OFFICIAL_SCRIPT,
        "N": 1,
        "weight_lambda": 0.0,
        "centerlr": 0.3,
        "recall_ks": (1, 10, 100, 1000),
    },
    # A from-scratch experiment on the synthetic glyph classes (100 training
    # classes, 100 unseen test classes, 32x32) that runs on a 2-core CPU in
    # minutes: small CNN, d = 64, the paper's r, N and lambda; 6 epochs, the
    # lrs x0.1 for the last two.
    "glyphs": {
        "epochs": 6,
        "modellr": 1e-3,
        "dim": 64,
        "new_epoch_to_decay": (5,),
        "warm": 0,
        "backbone": "smallcnn",
        # no official protocol exists for glyphs; the CUB/Cars one (KMeans n_init=10, max_iter=300) took
        # 42-49 s per evaluation of the 7,200 test images on one CPU thread, the run's budget is minutes
        "nmi_protocol": "fast",
    },
    # A CPU benchmark with headroom (issue 11): the glyphs with ONE distorted
    # image per font face (12 images per class: 1,200 training images of the
    # paper's C = 100 classes) and 199 unseen test classes (2,388 images), the
    # most the glyph pool leaves after the training classes, as distractors.
    # From scratch, as ``glyphs``, but trained to convergence: 50 epochs, lrs
    # x0.1 for the last 11 (from 0-based epoch 39); evaluated after the last
    # epoch only (pass epoch_to_test=None for learning curves); one torch
    # thread, so CPU runs are reproducible (float reductions depend on the
    # thread count) and robust on a shared machine. The data options live in
    # the dataset ``glyphs_hard`` (:data:`proxygml_lite.data.GLYPHS_HARD_OPTIONS`).
    # Measurements behind the choice: README, "The glyphs_hard benchmark".
    "glyphs_hard": {  # epochs: the default 50
        "modellr": 1e-3,
        "dim": 64,
        "new_epoch_to_decay": (40,),
        "warm": 0,
        "backbone": "smallcnn",
        "epoch_to_test": (50,),
        "threads": 1,
        "nmi_protocol": "fast",  # one k-means++ start, 20 iterations: what the committed results/glyphs_hard used
    },
    # Your own data in the prepared layout <data>/{train,test}/<label>/<image>.
    "folder": {"freeze_bn": True},
}


def canonical_dataset(name: str) -> str:
    """The registered name of a dataset (``"sop"`` -> ``"online_products"``); ValueError for unknown names."""
    return DATASETS.canonical(name)


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
class TrainConfig:
    """All settings of one training run (field names follow the official flags).

    Paper symbols: ``dim`` = ``d``; ``C`` = number of training classes; ``N`` =
    proxies per class; ``r`` = subgraph scale (``k = ceil(r C N)``);
    ``weight_lambda`` = ``lambda`` (weight of ``L^p``; 0 switches ``L^p`` off);
    ``positive_mask`` = use ``S^pos``; ``mask_softmax`` = use the mask ``M``.

    Use :func:`config_from_preset` to start from a dataset's preset. Values
    that depend on the data or the machine are ``None``/``"auto"`` here and
    resolved by the trainer: ``C`` (number of training classes), ``device``,
    ``amp``, ``channels_last``, ``recall_ks``, ``pretrained`` (``None``: the
    ImageNet weights for bninception/resnet50, random initialisation for
    smallcnn).
    """

    # data
    dataset: str = setting(
        "glyphs", flag("--dataset", official=True, help="dataset and preset (default glyphs; sop = online_products)"),
        choices=DATASETS.choices,
    )
    data: str = setting("data", flag("--data", "--data-root", official=True, help=(
        "data root holding <dataset>/{train,test}/<label>/<image> (default ./data); for --dataset folder the "
        "folder holding train/ and test/")))
    dataset_options: dict = setting(
        dataclasses.MISSING,
        flag("--dataset-options", type=_json_dict("--dataset-options", '{"images_per_face": 2}'), help=(
            "glyphs only: JSON object of generation parameters, e.g. '{\"images_per_face\": 2}' for a smaller, "
            "faster set (see proxygml_lite.data.glyphs.ensure_glyphs)")),
        default_factory=dict,
    )
    image_size: int | None = setting(
        None, flag("--image-size", help="input size (default: the backbone's)"), minimum=8
    )
    augment: bool = setting(True, flag("--no-augment", store=False, help=(
        "train on the test-time transform (no random crops/flips)")))
    check_images: str = setting("error", flag("--check-images", help=(
        "before the first step decode every image file: error (default) stops naming each bad one; skip leaves "
        "them out and lists them; off does not check (a bad file then stops training when it is read)")),
        choices=CHECK_IMAGES_CHOICES)
    workers: int = setting(0, flag("-j", "--workers", official=True, help="data loading worker processes"), minimum=0)
    # optimisation (official names)
    epochs: int = setting(50, flag("--epochs", official=True, help="number of epochs"), minimum=1)
    batch_size: int = setting(32, flag("-b", "--batch-size", official=True, help=(
        "mini-batch size (global, over all processes)")), minimum=2)
    modellr: float = setting(1e-4, flag("--modellr", official=True, help="initial learning rate of the model"),
                             minimum=0, strict=True)
    centerlr: float = setting(0.03, flag("--centerlr", official=True, help=(
        "initial learning rate of the proxies (all loss parameters)")), minimum=0, strict=True)
    weight_decay: float = setting(1e-4, flag("--wd", "--weight-decay", official=True, help=(
        "Adam weight decay (model and proxies)")), minimum=0)
    eps: float = setting(0.01, flag("--eps", official=True, help="Adam epsilon"), minimum=0, strict=True)
    rate: float = setting(0.1, flag("--rate", official=True, help="learning-rate decay factor"))
    new_epoch_to_decay: tuple[int, ...] = setting((20, 40), flag("--new_epoch_to_decay", official=True, help=(
        "lrs *= rate at the start of 0-based epoch e when e+1 is listed")), minimum=1)
    warm: int = setting(1, flag("--warm", official=True, help="warm-up epochs (see --warmup-mode)"), minimum=0)
    warmup_mode: str = setting("head-first", flag("--warmup-mode", help=(
        "head-first: backbone truly frozen in epochs 0..warm-1 (default); official: frozen in epochs 1..warm "
        "like the official script, and, like it, still moved by Adam's momentum and weight decay (gradients "
        "zeroed in place)")), choices=WARMUP_MODES)
    start_epoch: int = setting(0, flag("--start-epoch", official=True, help=(
        "manual epoch number: a fresh run starts at this 0-based epoch (lr decays and the official warm-up of "
        "earlier epochs are not applied; to continue a run use --resume)")), minimum=0)
    # model
    backbone: str = setting("bninception", flag("--backbone", help="network (default: preset's)"),
                            choices=BACKBONES.choices)
    pretrained: bool | str | None = setting(
        None,
        flag("--pretrained", type=_pretrained_arg, nargs="?", const=True, help=(
            "ImageNet weights (the default for bninception/resnet50; smallcnn starts random) or a path to a "
            "weights file")),
        flag("--no-pretrained", store=False, help="random initialisation"),
    )
    dim: int = setting(512, flag("--dim", official=True, help="embedding dimension d"), minimum=1)
    freeze_bn: bool = setting(
        False,
        flag("--freeze_BN", official=True, store=True, help="keep BatchNorm layers in eval mode (frozen statistics)"),
        flag("--no-freeze-bn", store=False, help="train BatchNorm statistics (undo a preset's --freeze_BN)"),
    )
    # loss
    loss: str = setting("proxygml", flag("--loss", help=(
        "proxygml (default), a pytorch-metric-learning baseline, or a loss registered by an --import module")),
        choices=LOSSES.choices)
    loss_kwargs: dict = setting(
        dataclasses.MISSING,
        flag("--loss-kwargs", type=_json_dict("--loss-kwargs", '{"margin": 0.1}'), help=(
            "JSON object of extra loss arguments, e.g. '{\"margin\": 0.1}'")),
        default_factory=dict,
    )
    C: int | None = setting(None, flag("-C", official=True, help=(
        "number of training classes C (checked against the data; default: found in the data)")), minimum=2)
    N: int = setting(12, flag("--N", official=True, help="proxies per class N"), minimum=1)
    r: float = setting(0.05, flag("--r", official=True, help=(
        "subgraph scale r in (0, 1]: k = ceil(r*C*N) proxies per sample")))
    weight_lambda: float = setting(0.3, flag("--weight_lambda", official=True, help=(
        "lambda, the weight of L^p (0 switches L^p off)")), minimum=0)
    positive_mask: bool = setting(True, flag("--no-positive-mask", store=False, help=(
        "ablation: select the subgraph without S^pos")))
    mask_softmax: bool = setting(True, flag("--no-mask-softmax", store=False, help=(
        "ablation: plain softmax instead of the mask softmax M")))
    # evaluation
    epoch_to_test: tuple[int, ...] | None = setting(None, flag("--epoch_to_test", official=True, help=(
        "evaluate after these epochs (1-based; the last epoch is always evaluated)")), minimum=1)
    eval_untrained: bool = setting(True, flag("--no-eval-untrained", store=False, help=(
        "skip evaluating the untrained model (epoch 0)")))
    recall_ks: tuple[int, ...] | None = setting(None, flag("--recall-ks", help=(
        "Recall@K cut-offs (default 1 2 4 8; SOP 1 10 100 1000)")), minimum=1)
    compute_nmi: bool = setting(True, flag("--no-nmi", store=False, help="skip NMI (k-means) in evaluation"))
    nmi_protocol: str = setting("auto", flag("--nmi-protocol", help=(
        "k-means of NMI: auto (default) = the official code's for the dataset: sklearn KMeans k-means++ "
        "n_init=10 max_iter=300 (CUB, Cars, others) or faiss 20 iterations random init (SOP), seeded; fast = one "
        "k-means++ start, 20 iterations (quicker, not official)")), choices=NMI_PROTOCOL_CHOICES)
    compute_map: bool = setting(False, flag("--map", store=True, help="also report MAP@R and R-Precision"))
    eval_batch_size: int = setting(128, flag("--eval-batch-size", help=(
        "batch size for embedding extraction (default 128)")), minimum=1)
    save_proxies: bool = setting(False, flag("--save-proxies", store=True, help=(
        "keep the loss's proxies after every epoch in <out>/proxies/epoch_<e>.pt (for plots of proxies through "
        "training)")))
    save_embeddings: bool = setting(False, flag("--save-embeddings", store=True, help=(
        "keep sample embeddings (a fixed seeded subset of the training and of the test samples, with labels) after "
        "every epoch in <out>/embeddings/epoch_<e>.pt, beside --save-proxies (UMAP views)")))
    embedding_samples: int | None = setting(1000, flag("--embedding-samples", type=_samples_arg, help=(
        "samples per split in each embedding snapshot (default 1000; 0 = all)")), minimum=1)
    # machine
    gpu: tuple[int, ...] | None = setting(None, flag("--gpu", official=True, help=(
        "GPU id; maps to --device cuda:<id> (one id: several ids are an error that shows the torchrun "
        "command)")), minimum=0)
    device: str = setting("auto", flag("--device", help=(
        "auto (default: cuda if available), cpu, cuda, cuda:1, ...; overrides --gpu")))
    amp: str = setting("none", flag("--amp", help=(
        "autocast (default none = float32 like the official code, TF32 matmuls allowed on CUDA): bf16/fp16 = "
        "faster on a GPU, but rounding changes some top-k subgraphs (README); auto = bf16 on CUDA, none on CPU; "
        "the loss always runs in float32")), choices=AMP_MODES)
    channels_last: bool | None = setting(
        None,
        flag("--channels-last", store=True, help="channels_last memory format (default: on CUDA)"),
        flag("--no-channels-last", store=False),
    )
    threads: int | None = setting(None, flag("--threads", help=(
        "torch CPU threads (intra-op); recorded in config.json because CPU float reductions depend on it "
        "(default: torch's own; glyphs_hard: 1)")), minimum=1)
    seed: int = setting(0, flag("--seed", help="random seed (model init, data order: seed + epoch)"), minimum=0)
    log_every: int = setting(50, flag("--log-every", help=(
        "steps between reading the loss back from the device (progress bar, NaN check; default 50): the "
        "training step itself never waits for the device")), minimum=1)
    # run
    imports: tuple[str, ...] = setting((), flag("--import", action="append", metavar="MODULE", help=(
        "import MODULE first (repeatable): the losses, datasets and backbones it registers "
        "(proxygml_lite.register_loss, ...) become valid --loss/--dataset/--backbone choices")))
    out: str | None = setting(None, flag("--out", help=(
        "run directory (config.json, metrics.csv, results.json, checkpoint.pt)")))
    resume: bool = setting(False, flag("--resume", store=True, help=(
        "continue the run in --out from its checkpoint (starts fresh if there is none)")))
    quiet: bool = setting(False, flag("--quiet", store=True, help="no progress bars"))

    def __post_init__(self) -> None:
        if isinstance(self.imports, str):
            self.imports = (self.imports,)
        for name in ("new_epoch_to_decay", "epoch_to_test", "recall_ks", "gpu", "imports"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                if isinstance(value, int):
                    value = (value,)
                setattr(self, name, tuple(value))
        self.loss_kwargs = dict(self.loss_kwargs or {})
        self.dataset_options = dict(self.dataset_options or {})
        self.validate()

    # ------------------------------------------------------------------ checks
    def validate(self) -> "TrainConfig":
        """Raise ``ValueError`` naming the bad setting and the fix; return self.

        The modules of ``imports`` are imported first, so the losses, datasets
        and backbones they register are known.
        """
        import_modules(self.imports)
        self.dataset = canonical_dataset(self.dataset)
        check_fields(self)  # the minimum / choices declared with each field
        if self.start_epoch >= self.epochs:
            raise ValueError(
                f"start_epoch {self.start_epoch} leaves no epoch to train (epochs {self.epochs}); --start-epoch is "
                "the 0-based epoch a fresh run starts at: pass a value < --epochs"
            )
        check_in_range("r", self.r, 0, 1, "--r; the paper uses 0.05", noun=None)
        check_in_range("rate", self.rate, 0, 1, "--rate, the lr multiplier at each decay epoch, e.g. 0.1", noun=None)
        if self.pretrained is not None and not isinstance(self.pretrained, (bool, str)):
            raise ValueError(f"pretrained must be True, False, None (auto) or a path to weights; got {self.pretrained!r}")
        if self.dataset_options and not DATASETS.get(self.dataset).options.get("takes_options"):
            from .data import generated_datasets

            raise ValueError(
                f"dataset_options {self.dataset_options} only apply to --dataset {' / '.join(generated_datasets())} "
                f"(generation parameters such as images_per_face); {self.dataset!r} is read from disk as it is: "
                "drop --dataset-options"
            )
        if not isinstance(self.loss_kwargs, dict):
            raise ValueError("loss_kwargs must be a dict of keyword arguments for the loss (--loss-kwargs '{\"margin\": 0.1}')")
        return self

    # -------------------------------------------------------------- conversion
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def with_defaults(cls, saved: dict[str, Any]) -> dict[str, Any]:
        """``saved`` (a config dict written by this or an older version) with every field it lacks set to that
        field's default, in :meth:`to_dict` form, so that comparing an old run's settings with a new
        configuration does not flag settings that were added since (and keep their defaults)."""
        filled = dict(saved)
        for f in dataclasses.fields(cls):
            if f.name in filled:
                continue
            if f.default is not dataclasses.MISSING:
                value = f.default
            elif f.default_factory is not dataclasses.MISSING:
                value = f.default_factory()
            else:
                continue
            filled[f.name] = list(value) if isinstance(value, tuple) else value
        return filled

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {unknown}; valid fields: {sorted(names)}")
        return cls(**values)

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with ``changes`` applied (validated)."""
        return dataclasses.replace(self, **changes)

    def to_json(self, path: str | os.PathLike) -> None:
        """Write ``config.json`` atomically."""
        from .checkpoint import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "TrainConfig":
        """Read a ``config.json``; a damaged or foreign file gives a ``ValueError`` naming it."""
        fix = ("restore it from a backup, or start a new run in another --out (the checkpoint of this run "
               "cannot be resumed without its configuration)")
        try:
            with open(path, encoding="utf-8") as fh:
                values = json.load(fh)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"{path} is not valid JSON ({exc}); {fix}") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path} holds a JSON {type(values).__name__}, not a configuration object; {fix}")
        try:
            return cls.from_dict(values)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path} is not a valid configuration ({exc}); {fix}") from None


def preset(dataset: str) -> dict[str, Any]:
    """The preset values of ``dataset`` (a copy).

    These are the settings that differ from the :class:`TrainConfig` defaults
    (the paper's recipe). A dataset registered without an entry in
    :data:`PRESETS` takes the ``preset`` given to
    :func:`~proxygml_lite.registry.register_dataset`.
    """
    name = canonical_dataset(dataset)
    if name in PRESETS:
        return dict(PRESETS[name])
    return dict(DATASETS.get(name).options.get("preset", {}))


def config_from_preset(dataset: str = "glyphs", **overrides: Any) -> TrainConfig:
    """``TrainConfig`` of ``dataset``'s preset with ``overrides`` applied on top.

    >>> cfg = config_from_preset("cub200", epochs=2)
    >>> (cfg.N, cfg.weight_lambda, cfg.freeze_bn, cfg.epochs)
    (12, 0.3, True, 2)
    """
    values = {"dataset": canonical_dataset(dataset), **preset(dataset)}
    values.update(overrides)
    return TrainConfig(**values)


# ---------------------------------------------------------------- command line
def build_parser() -> argparse.ArgumentParser:
    """The argument parser. Every default is SUPPRESS: absent flags keep the preset's value."""
    p = argparse.ArgumentParser(
        prog="python -m proxygml_lite.train",
        description=(
            "Train a deep metric learning model with ProxyGML (Zhu et al., NeurIPS 2020) or a baseline loss. "
            "Accepts the official repository's flags; the --dataset preset is applied first, explicit flags "
            "override it."
        ),
        argument_default=argparse.SUPPRESS,
    )
    groups = {
        True: p.add_argument_group("official flags (github.com/YuehuaZhu/ProxyGML train.py)"),
        False: p.add_argument_group("proxygml_lite flags"),
    }
    add_flags(p, TrainConfig, groups)  # every flag comes from a TrainConfig field (its metadata)
    groups[False].add_argument("--config", help=(
        "re-run a saved configuration exactly: a run folder (or its config.json / results.json), or a JSON file "
        "holding one study row's `config`; flags given explicitly override it; without --out the run goes to a "
        "new folder"))
    return p


def _import_given_modules(argv: list[str] | None) -> None:
    """Import the ``--import`` modules before the parser is built, so their registrations are choices."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--import", dest="imports", action="append", default=[])
    known, _ = pre.parse_known_args(argv)
    import_modules(known.imports)


def load_config(path: str | os.PathLike) -> TrainConfig:
    """The :class:`TrainConfig` saved at ``path``, to re-run it exactly.

    ``path`` is a run folder (its ``config.json``), a ``config.json``, a
    ``results.json`` (its ``"config"``), or a JSON file holding one study
    row's ``config`` column (the configuration object itself, or
    ``{"config": {...}}``). ``out`` and ``resume`` are cleared: the re-run
    goes where the caller says.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "config.json")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"--config {path}: no such file; pass a run folder, its config.json, or a JSON file holding a row's config"
        )
    with open(path, encoding="utf-8") as fh:
        try:
            values = json.load(fh)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--config {path} is not valid JSON ({exc})") from None
    if isinstance(values, dict) and isinstance(values.get("config"), str):
        values = json.loads(values["config"])
    elif isinstance(values, dict) and isinstance(values.get("config"), dict):
        values = values["config"]
    if not isinstance(values, dict) or "dataset" not in values:
        raise ValueError(
            f"--config {path} does not hold a training configuration (a JSON object with 'dataset', 'epochs', ...); "
            "pass a run folder's config.json or a study row's config"
        )
    values = {**values, "out": None, "resume": False}
    return TrainConfig.from_dict(values)


def parse_args(argv: list[str] | None = None, base: TrainConfig | None = None) -> TrainConfig:
    """Resolve the command line: preset of ``--dataset`` (or ``base``) first, explicit flags on top.

    With ``--config PATH`` the saved configuration (:func:`load_config`) is the
    base instead of the preset. With ``--resume`` and an existing
    ``<out>/config.json`` (and no ``base``), the saved configuration is the
    base, so ``--resume --out DIR`` alone continues a run.
    """
    _import_given_modules(argv)
    namespace = build_parser().parse_args(argv)
    given = vars(namespace)
    config_path = given.pop("config", None)
    if config_path is not None:
        base = load_config(config_path)
    if base is None and given.get("resume") and given.get("out"):
        saved = os.path.join(given["out"], "config.json")
        if os.path.exists(saved):
            base = TrainConfig.from_json(saved)
    if base is not None and "dataset" not in given:
        values = base.to_dict()
    else:
        dataset = given.get("dataset", base.dataset if base is not None else "glyphs")
        values = {"dataset": canonical_dataset(dataset), **preset(dataset)}
        if base is not None and canonical_dataset(dataset) == base.dataset:
            values = base.to_dict()
    values.update(given)
    if "dataset" in values:
        values["dataset"] = canonical_dataset(values["dataset"])
    return TrainConfig(**values)
