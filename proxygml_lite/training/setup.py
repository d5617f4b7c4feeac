"""Building a run from its config: the data (datasets, samplers, loaders) and the parts (model, loss, optimiser).

Each is a function of the config alone (plus the process context and the
device), so a notebook or a test can build exactly what the trainer trains
on, without training.
"""

from __future__ import annotations

import math
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..baselines import build_loss
from ..registry import BACKBONES
from .config import TrainConfig
from .distributed import DistContext, ResumableDistributedSampler, ShardSampler, barrier, broadcast_object
from .schedule import OfficialStepDecay
from .step import Trainee, build_optimizer

__all__ = [
    "TrainingData",
    "epoch_batches",
    "build_data",
    "check_targets",
    "TrainingParts",
    "build_parts",
    "loss_arguments",
    "backbone_parameters",
]


@dataclass
class TrainingData:
    """The data of a run: both splits, their samplers and loaders, and the facts found in them."""

    train_set: Any
    test_set: Any
    num_classes: int
    recall_ks: tuple[int, ...]
    local_batch: int
    sampler: ResumableDistributedSampler
    loader_generator: torch.Generator
    train_loader: DataLoader
    steps_per_epoch: int
    test_sampler: ShardSampler
    test_loader: DataLoader
    skipped_images: dict[str, list[str]] = field(default_factory=dict)


def _loader_worker_ignores_stop_signals(worker_id: int) -> None:
    """A data-loader worker ignores SIGINT and SIGTERM: the training process alone decides when to stop.

    ``timeout``, Slurm's ``scancel`` and systemd signal the whole process group; a worker killed by it made
    torch raise "DataLoader worker ... killed by signal" in the middle of a step, and nothing was saved.
    The worker's random state is untouched (torch seeds workers itself).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _load_splits(config: TrainConfig, ctx: DistContext, progress: bool):
    from ..data import DATASETS, load_dataset
    from ..models import build_transforms

    train_tf = build_transforms(config.backbone, train=config.augment, image_size=config.image_size)
    test_tf = build_transforms(config.backbone, train=False, image_size=config.image_size)
    options = dict(config.dataset_options)
    if DATASETS.get(config.dataset).options.get("takes_options"):
        options["progress"] = progress

    def load():
        return tuple(
            load_dataset(config.dataset, data_root=config.data, split=split, transform=tf, **options)
            for split, tf in (("train", train_tf), ("test", test_tf))
        )

    # rank 0 first: datasets generated on first use (glyphs) are written once.
    splits = load() if ctx.is_main else None
    barrier(ctx)
    return splits if ctx.is_main else load()


def _check_images(config: TrainConfig, ctx: DistContext, progress: bool, splits: dict) -> dict[str, list[str]]:
    """Decode every image file before the first step (rank 0; all ranks then stop or drop the same files).

    Replaces the datasets in ``splits`` in place (``skip``); returns ``{split: files left out}``.
    """
    from ..data.folder import ImageListDataset
    from ..data.images import apply_image_check, find_bad_images

    checked = {k: ds for k, ds in splits.items() if isinstance(ds, ImageListDataset)}  # glyphs: in memory
    if config.check_images == "off" or not checked:
        return {}
    bad = None
    if ctx.is_main:
        bad = {
            k: find_bad_images([p for p, _ in ds.samples], progress=progress, desc=f"check images ({ds.split})")
            for k, ds in checked.items()
        }
    bad = broadcast_object(bad, ctx)
    # the report of skipped files is printed even with --quiet: the user asked to train without them
    log = (lambda message: tqdm.write(message, file=sys.stderr)) if ctx.is_main else (lambda message: None)
    skipped = {}
    for key, ds in checked.items():
        splits[key] = apply_image_check(ds, bad[key], skip=config.check_images == "skip", log=log)
        if bad[key]:
            skipped[ds.split] = [path for path, _ in bad[key]]
    return skipped


def check_targets(dataset, num_classes: int, name: str) -> None:
    """Once, before training: the training targets lie in ``0..C-1`` (the loss does not check them per step)."""
    targets = getattr(dataset, "targets", None)
    if targets is None or len(targets) == 0:
        return
    targets = torch.as_tensor(targets)
    low, high = int(targets.min()), int(targets.max())
    if low < 0 or high >= num_classes:
        raise ValueError(
            f"the training targets of the {name!r} data lie in [{low}, {high}] but must lie in [0, {num_classes}) "
            f"(num_classes = {num_classes}); the dataset must number its classes 0..num_classes-1"
        )


def epoch_batches(num_samples: int, batch_size: int) -> tuple[int, bool]:
    """``(steps, drop_last)`` of an epoch over ``num_samples`` in batches of ``batch_size``.

    A last batch of 1 sample breaks BatchNorm in training mode, so it is dropped then.
    """
    drop_last = num_samples % batch_size == 1
    return (num_samples // batch_size if drop_last else math.ceil(num_samples / batch_size)), drop_last


def build_data(config: TrainConfig, ctx: DistContext, device: torch.device, progress: bool = False) -> TrainingData:
    """Load both splits, check them against the config, and build the (resumable, sharded) loaders."""
    train_set, test_set = _load_splits(config, ctx, progress)
    splits = {"train": train_set, "test": test_set}
    skipped = _check_images(config, ctx, progress, splits)
    train_set, test_set = splits["train"], splits["test"]
    found = int(train_set.num_classes)
    if found < 2:
        where = getattr(train_set, "root", None) or config.data
        split_dir = f"{where}/{getattr(train_set, 'split', None) or 'train'}"
        names = ", ".join(map(str, getattr(train_set, "classes", [])[:3]))
        raise ValueError(
            f"{split_dir} holds {found} class ({names}); metric learning needs at least 2 training classes "
            f"(C >= 2): add class folders {split_dir}/<class>/<image>"
        )
    if config.C is not None and config.C != found:
        raise ValueError(
            f"-C {config.C} does not match the {found} training classes found in the {config.dataset!r} data "
            f"under {config.data!r}; pass -C {found} (or drop -C), or check the data folder"
        )
    check_targets(train_set, found, config.dataset)
    recall_ks = tuple(config.recall_ks) if config.recall_ks else (1, 2, 4, 8)
    too_big = [k for k in recall_ks if k > len(test_set) - 1]
    if too_big:
        raise ValueError(
            f"Recall@K cut-offs {too_big} need more than the {len(test_set)} test samples found; "
            f"pass --recall-ks with values <= {len(test_set) - 1}"
        )
    world = ctx.world_size
    if config.batch_size % world:
        raise ValueError(
            f"batch size {config.batch_size} is not divisible by the {world} processes; "
            f"pass -b {config.batch_size - config.batch_size % world or world} (the batch size is global)"
        )
    local_batch = config.batch_size // world
    sampler = ResumableDistributedSampler(train_set, num_replicas=world, rank=ctx.rank, seed=config.seed)
    steps, drop_last = epoch_batches(sampler.num_samples, local_batch)
    common = dict(
        num_workers=config.workers,
        pin_memory=device.type == "cuda",
        persistent_workers=config.workers > 0,
        worker_init_fn=_loader_worker_ignores_stop_signals if config.workers > 0 else None,
    )
    loader_generator = torch.Generator()
    train_loader = DataLoader(
        train_set, batch_size=local_batch, sampler=sampler, drop_last=drop_last, generator=loader_generator, **common
    )
    test_sampler = ShardSampler(len(test_set), world, ctx.rank)
    test_loader = DataLoader(test_set, batch_size=config.eval_batch_size, sampler=test_sampler, **common)
    return TrainingData(
        train_set,
        test_set,
        found,
        recall_ks,
        local_batch,
        sampler,
        loader_generator,
        train_loader,
        steps,
        test_sampler,
        test_loader,
        skipped,
    )


@dataclass
class TrainingParts:
    """What a run trains: the model and the loss (together the :class:`Trainee`), Adam, its schedule, the scaler."""

    model: nn.Module
    loss_fn: nn.Module
    trainee: Trainee
    optimizer: torch.optim.Optimizer
    schedule: OfficialStepDecay
    scaler: torch.amp.GradScaler


def build_parts(
    config: TrainConfig,
    data: TrainingData,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> TrainingParts:
    """The model, the loss (from the registry, with its declared config fields) and the optimiser of a run."""
    from ..models import build_model

    sample = data.test_set[0][0]
    in_channels = int(sample.shape[0]) if isinstance(sample, torch.Tensor) and sample.dim() == 3 else 3
    pretrained = config.pretrained
    if pretrained is None:
        pretrained = BACKBONES.get(config.backbone).options["pretrained_by_default"]
    model = build_model(
        config.backbone,
        embedding_dim=config.dim,
        pretrained=pretrained,
        freeze_bn=config.freeze_bn,
        in_channels=in_channels,
    )
    loss_fn = build_loss(config.loss, data.num_classes, config.dim, **loss_arguments(config))
    if hasattr(loss_fn, "validate"):
        loss_fn.validate = False  # its per-call value checks each wait for the device; labels checked once
    trainee = Trainee(model, loss_fn).to(device)
    if channels_last:
        trainee = trainee.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(model, loss_fn, config)
    schedule = OfficialStepDecay(optimizer, config.new_epoch_to_decay, config.rate)
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype == torch.float16)
    return TrainingParts(model, loss_fn, trainee, optimizer, schedule, scaler)


def loss_arguments(config: TrainConfig) -> dict[str, Any]:
    """The keyword arguments of the run's loss: ProxyGML's settings from the config, then ``--loss-kwargs``.

    This is where ``--N`` becomes ``ProxyGMLLoss(proxies_per_class=N)``. The
    baselines and registered losses take only ``loss_kwargs``.
    """
    settings = {}
    if config.loss == "proxygml":
        settings = {
            "proxies_per_class": config.N,  # N
            "r": config.r,  # k = ceil(r C N) proxies in each sample's subgraph
            "weight_lambda": config.weight_lambda,  # lambda, the weight of L^p
            "positive_mask": config.positive_mask,  # use S^pos
            "mask_softmax": config.mask_softmax,  # use the mask M
        }
    return {**settings, **config.loss_kwargs}


def backbone_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters the warm-up freezes: the model's ``backbone_parameters()``, else all but its head's."""
    if hasattr(model, "backbone_parameters"):
        return list(model.backbone_parameters())
    head = {id(p) for p in getattr(model, "head_parameters", lambda: [])()}
    return [p for p in model.parameters() if id(p) not in head]
