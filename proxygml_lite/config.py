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

from .checks import check_choice, check_in_range, check_int, check_number
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
]

AMP_MODES = ("auto", "none", "bf16", "fp16")
WARMUP_MODES = ("head-first", "official")
#: ``--nmi-protocol``: ``auto`` = the official one of the dataset (faiss on SOP, sklearn otherwise);
#: see :data:`proxygml_lite.evaluation.NMI_PROTOCOLS`.
NMI_PROTOCOL_CHOICES = ("auto", "sklearn", "faiss", "fast")
#: ``--epoch_to_test`` default of the official ``train.py`` (1-based epoch counts).
OFFICIAL_EPOCH_TO_TEST = (1, 2, *range(35, 51))

_RECIPE = dict(
    epochs=50,
    batch_size=32,
    modellr=1e-4,
    centerlr=0.03,
    weight_decay=1e-4,
    eps=0.01,
    dim=512,
    r=0.05,
    N=12,
    weight_lambda=0.3,
    rate=0.1,
    new_epoch_to_decay=(20, 40),
    warm=1,
    amp="none",  # the official code trains in float32; bf16/fp16 autocast is an explicit option
    backbone="bninception",
    workers=8,
    epoch_to_test=OFFICIAL_EPOCH_TO_TEST,
)

#: Per-dataset presets. ``C`` is left to the data (the number of training
#: classes found); the README commands pass ``-C 100 / 98 / 11318``, which is
#: then checked against the data.
PRESETS: dict[str, dict[str, Any]] = {
    "cub200": {**_RECIPE, "freeze_bn": True},
    "cars196": {**_RECIPE, "freeze_bn": True},
    "online_products": {
        **_RECIPE,
        "freeze_bn": False,
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
        **_RECIPE,
        "epochs": 6,
        "modellr": 1e-3,
        "dim": 64,
        "new_epoch_to_decay": (5,),
        "warm": 0,
        "backbone": "smallcnn",
        "freeze_bn": False,
        "workers": 0,
        "epoch_to_test": None,
    },
    # Your own data in the prepared layout <data>/{train,test}/<label>/<image>.
    "folder": {**_RECIPE, "freeze_bn": True, "epoch_to_test": None},
}


def canonical_dataset(name: str) -> str:
    """The registered name of a dataset (``"sop"`` -> ``"online_products"``); ValueError for unknown names."""
    return DATASETS.canonical(name)


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
    dataset: str = "glyphs"
    data: str = "data"
    dataset_options: dict = field(default_factory=dict)
    image_size: int | None = None
    augment: bool = True
    check_images: str = "error"
    workers: int = 0
    # optimisation (official names)
    epochs: int = 50
    batch_size: int = 32
    modellr: float = 1e-4
    centerlr: float = 0.03
    weight_decay: float = 1e-4
    eps: float = 0.01
    rate: float = 0.1
    new_epoch_to_decay: tuple[int, ...] = (20, 40)
    warm: int = 1
    warmup_mode: str = "head-first"
    start_epoch: int = 0
    # model
    backbone: str = "bninception"
    pretrained: bool | str | None = None
    dim: int = 512
    freeze_bn: bool = False
    # loss
    loss: str = "proxygml"
    loss_kwargs: dict = field(default_factory=dict)
    C: int | None = None
    N: int = 12
    r: float = 0.05
    weight_lambda: float = 0.3
    positive_mask: bool = True
    mask_softmax: bool = True
    # evaluation
    epoch_to_test: tuple[int, ...] | None = None
    eval_untrained: bool = True
    recall_ks: tuple[int, ...] | None = None
    compute_nmi: bool = True
    nmi_protocol: str = "auto"
    compute_map: bool = False
    eval_batch_size: int = 128
    save_proxies: bool = False
    # machine
    gpu: tuple[int, ...] | None = None
    device: str = "auto"
    amp: str = "none"
    channels_last: bool | None = None
    seed: int = 0
    log_every: int = 50
    # run
    imports: tuple[str, ...] = ()
    out: str | None = None
    resume: bool = False
    quiet: bool = False

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
        _choice("backbone", self.backbone, BACKBONES.choices(), "--backbone")
        _choice("loss", self.loss, LOSSES.choices(), "--loss")
        _choice("amp", self.amp, AMP_MODES, "--amp")
        _choice("warmup_mode", self.warmup_mode, WARMUP_MODES, "--warmup-mode")
        _choice("nmi_protocol", self.nmi_protocol, NMI_PROTOCOL_CHOICES, "--nmi-protocol")
        _choice("check_images", self.check_images, ("error", "skip", "off"), "--check-images")
        _int("epochs", self.epochs, 1, "--epochs")
        _int("batch_size", self.batch_size, 2, "-b/--batch-size")
        _int("eval_batch_size", self.eval_batch_size, 1, "--eval-batch-size")
        _int("dim", self.dim, 1, "--dim")
        _int("N", self.N, 1, "--N")
        _int("warm", self.warm, 0, "--warm")
        _int("start_epoch", self.start_epoch, 0, "--start-epoch")
        if self.start_epoch >= self.epochs:
            raise ValueError(
                f"start_epoch {self.start_epoch} leaves no epoch to train (epochs {self.epochs}); --start-epoch is "
                "the 0-based epoch a fresh run starts at: pass a value < --epochs"
            )
        _int("workers", self.workers, 0, "-j/--workers")
        _int("seed", self.seed, 0, "--seed")
        _int("log_every", self.log_every, 1, "--log-every")
        if self.C is not None:
            _int("C", self.C, 2, "-C")
        if self.image_size is not None:
            _int("image_size", self.image_size, 8, "--image-size")
        for name in ("modellr", "centerlr"):
            _positive(name, getattr(self, name), f"--{name}")
        _positive("eps", self.eps, "--eps")
        _nonnegative("weight_decay", self.weight_decay, "--wd")
        _nonnegative("weight_lambda", self.weight_lambda, "--weight_lambda")
        check_in_range("r", self.r, 0, 1, "--r; the paper uses 0.05", noun=None)
        check_in_range("rate", self.rate, 0, 1, "--rate, the lr multiplier at each decay epoch, e.g. 0.1", noun=None)
        for name in ("new_epoch_to_decay", "epoch_to_test", "recall_ks"):
            values = getattr(self, name)
            if values is not None:
                for v in values:
                    _int(f"each entry of {name}", v, 1, f"--{name}")
        if self.gpu is not None:
            for v in self.gpu:
                _int("each entry of gpu", v, 0, "--gpu")
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


_choice = check_choice
_int = check_int


def _positive(name, value, flag):
    check_number(name, value, 0, flag, strict=True)


def _nonnegative(name, value, flag):
    check_number(name, value, 0, flag)


def preset(dataset: str) -> dict[str, Any]:
    """The preset values of ``dataset`` (a copy).

    A dataset registered without an entry in :data:`PRESETS` gets the paper's
    recipe with the ``preset`` given to
    :func:`~proxygml_lite.registry.register_dataset` on top.
    """
    name = canonical_dataset(dataset)
    if name in PRESETS:
        return dict(PRESETS[name])
    return {**_RECIPE, "epoch_to_test": None, **DATASETS.get(name).options.get("preset", {})}


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
def _pretrained_arg(text: str) -> bool | str:
    lowered = text.lower()
    if lowered in ("true", "yes", "1", "imagenet"):
        return True
    if lowered in ("false", "no", "0", "none"):
        return False
    return text


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
    official = p.add_argument_group("official flags (github.com/YuehuaZhu/ProxyGML train.py)")
    official.add_argument("--dataset", choices=DATASETS.choices(), help="dataset and preset (default glyphs; sop = online_products)")
    official.add_argument("--data", "--data-root", dest="data", help="data root holding <dataset>/{train,test}/<label>/<image> (default ./data); for --dataset folder the folder holding train/ and test/")
    official.add_argument("-j", "--workers", type=int, help="data loading worker processes")
    official.add_argument("--epochs", type=int, help="number of epochs")
    official.add_argument("--start-epoch", dest="start_epoch", type=int, help="manual epoch number: a fresh run starts at this 0-based epoch (lr decays and the official warm-up of earlier epochs are not applied; to continue a run use --resume)")
    official.add_argument("-b", "--batch-size", dest="batch_size", type=int, help="mini-batch size (global, over all processes)")
    official.add_argument("--modellr", type=float, help="initial learning rate of the model")
    official.add_argument("--centerlr", type=float, help="initial learning rate of the proxies (all loss parameters)")
    official.add_argument("--wd", "--weight-decay", dest="weight_decay", type=float, help="Adam weight decay (model and proxies)")
    official.add_argument("--eps", type=float, help="Adam epsilon")
    official.add_argument("--gpu", nargs="+", type=int, help="GPU id; maps to --device cuda:<id> (one id: several ids are an error that shows the torchrun command)")
    official.add_argument("--dim", type=int, help="embedding dimension d")
    official.add_argument("--freeze_BN", dest="freeze_bn", action="store_const", const=True, help="keep BatchNorm layers in eval mode (frozen statistics)")
    official.add_argument("--r", type=float, help="subgraph scale r in (0, 1]: k = ceil(r*C*N) proxies per sample")
    official.add_argument("-C", type=int, help="number of training classes C (checked against the data; default: found in the data)")
    official.add_argument("--N", type=int, help="proxies per class N")
    official.add_argument("--rate", type=float, help="learning-rate decay factor")
    official.add_argument("--new_epoch_to_decay", nargs="+", type=int, help="lrs *= rate at the start of 0-based epoch e when e+1 is listed")
    official.add_argument("--warm", type=int, help="warm-up epochs (see --warmup-mode)")
    official.add_argument("--weight_lambda", type=float, help="lambda, the weight of L^p (0 switches L^p off)")
    official.add_argument("--epoch_to_test", nargs="+", type=int, help="evaluate after these epochs (1-based; the last epoch is always evaluated)")

    extra = p.add_argument_group("proxygml_lite flags")
    extra.add_argument("--no-freeze-bn", dest="freeze_bn", action="store_const", const=False, help="train BatchNorm statistics (undo a preset's --freeze_BN)")
    extra.add_argument("--backbone", choices=BACKBONES.choices(), help="network (default: preset's)")
    extra.add_argument("--pretrained", type=_pretrained_arg, nargs="?", const=True, help="ImageNet weights (the default for bninception/resnet50; smallcnn starts random) or a path to a weights file")
    extra.add_argument("--no-pretrained", dest="pretrained", action="store_const", const=False, help="random initialisation")
    extra.add_argument("--dataset-options", dest="dataset_options", type=_json_dict("--dataset-options", '{"images_per_face": 2}'), help="glyphs only: JSON object of generation parameters, e.g. '{\"images_per_face\": 2}' for a smaller, faster set (see proxygml_lite.data.glyphs.ensure_glyphs)")
    extra.add_argument("--image-size", dest="image_size", type=int, help="input size (default: the backbone's)")
    extra.add_argument("--check-images", dest="check_images", choices=("error", "skip", "off"), help="before the first step decode every image file: error (default) stops naming each bad one; skip leaves them out and lists them; off does not check (a bad file then stops training when it is read)")
    extra.add_argument("--no-augment", dest="augment", action="store_const", const=False, help="train on the test-time transform (no random crops/flips)")
    extra.add_argument("--loss", choices=LOSSES.choices(), help="proxygml (default), a pytorch-metric-learning baseline, or a loss registered by an --import module")
    extra.add_argument("--loss-kwargs", dest="loss_kwargs", type=_json_dict("--loss-kwargs", '{"margin": 0.1}'), help="JSON object of extra loss arguments, e.g. '{\"margin\": 0.1}'")
    extra.add_argument("--no-positive-mask", dest="positive_mask", action="store_const", const=False, help="ablation: select the subgraph without S^pos")
    extra.add_argument("--no-mask-softmax", dest="mask_softmax", action="store_const", const=False, help="ablation: plain softmax instead of the mask softmax M")
    extra.add_argument("--warmup-mode", dest="warmup_mode", choices=WARMUP_MODES, help="head-first: backbone truly frozen in epochs 0..warm-1 (default); official: frozen in epochs 1..warm like the official script, and, like it, still moved by Adam's momentum and weight decay (gradients zeroed in place)")
    extra.add_argument("--recall-ks", dest="recall_ks", nargs="+", type=int, help="Recall@K cut-offs (default 1 2 4 8; SOP 1 10 100 1000)")
    extra.add_argument("--nmi-protocol", dest="nmi_protocol", choices=NMI_PROTOCOL_CHOICES, help="k-means of NMI: auto (default) = the official code's for the dataset: sklearn KMeans k-means++ n_init=10 max_iter=300 (CUB, Cars, others) or faiss 20 iterations random init (SOP), seeded; fast = one k-means++ start, 20 iterations (quicker, not official)")
    extra.add_argument("--no-nmi", dest="compute_nmi", action="store_const", const=False, help="skip NMI (k-means) in evaluation")
    extra.add_argument("--map", dest="compute_map", action="store_const", const=True, help="also report MAP@R and R-Precision")
    extra.add_argument("--save-proxies", dest="save_proxies", action="store_const", const=True, help="keep the loss's proxies after every epoch in <out>/proxies/epoch_<e>.pt (for plots of proxies through training)")
    extra.add_argument("--no-eval-untrained", dest="eval_untrained", action="store_const", const=False, help="skip evaluating the untrained model (epoch 0)")
    extra.add_argument("--eval-batch-size", dest="eval_batch_size", type=int, help="batch size for embedding extraction (default 128)")
    extra.add_argument("--device", help="auto (default: cuda if available), cpu, cuda, cuda:1, ...; overrides --gpu")
    extra.add_argument("--amp", choices=AMP_MODES, help="autocast (default none = float32 like the official code, TF32 matmuls allowed on CUDA): bf16/fp16 = faster on a GPU, but rounding changes some top-k subgraphs (README); auto = bf16 on CUDA, none on CPU; the loss always runs in float32")
    extra.add_argument("--channels-last", dest="channels_last", action="store_const", const=True, help="channels_last memory format (default: on CUDA)")
    extra.add_argument("--no-channels-last", dest="channels_last", action="store_const", const=False)
    extra.add_argument("--seed", type=int, help="random seed (model init, data order: seed + epoch)")
    extra.add_argument("--out", help="run directory (config.json, metrics.csv, results.json, checkpoint.pt)")
    extra.add_argument("--resume", action="store_const", const=True, help="continue the run in --out from its checkpoint (starts fresh if there is none)")
    extra.add_argument("--quiet", action="store_const", const=True, help="no progress bars")
    extra.add_argument("--log-every", dest="log_every", type=int, help="steps between reading the loss back from the device (progress bar, NaN check; default 50): the training step itself never waits for the device")
    extra.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                       help="import MODULE first (repeatable): the losses, datasets and backbones it registers "
                            "(proxygml_lite.register_loss, ...) become valid --loss/--dataset/--backbone choices")
    return p


def _import_given_modules(argv: list[str] | None) -> None:
    """Import the ``--import`` modules before the parser is built, so their registrations are choices."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--import", dest="imports", action="append", default=[])
    known, _ = pre.parse_known_args(argv)
    import_modules(known.imports)


def parse_args(argv: list[str] | None = None, base: TrainConfig | None = None) -> TrainConfig:
    """Resolve the command line: preset of ``--dataset`` (or ``base``) first, explicit flags on top.

    With ``--resume`` and an existing ``<out>/config.json`` (and no ``base``),
    the saved configuration is the base, so ``--resume --out DIR`` alone
    continues a run.
    """
    _import_given_modules(argv)
    namespace = build_parser().parse_args(argv)
    given = vars(namespace)
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
