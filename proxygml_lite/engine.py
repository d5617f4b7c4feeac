"""The training engine: one epoch of training, embedding extraction, evaluation, the schedule.

:class:`Trainer` runs a whole :class:`~proxygml_lite.config.TrainConfig`:

* data: ``load_dataset`` + ``build_transforms`` (train transform with random
  augmentation unless ``augment=False``); the order of the training data is a
  permutation seeded with ``seed + epoch`` (:class:`ResumableDistributedSampler`);
* model ``build_model(backbone, d, ...)`` and loss ``build_loss(...)`` wrapped
  together in one :class:`Trainee` module (what DDP wraps under torchrun);
* Adam with two parameter groups like the official code: the model at
  ``modellr`` and every loss parameter (ProxyGML's ``C*N`` proxies, or a
  baseline's proxies / class weights) at ``centerlr``; ``eps`` and
  ``weight_decay`` on both;
* :class:`OfficialStepDecay`: at the START of 0-based epoch ``e``, if ``e + 1``
  is in ``new_epoch_to_decay``, every group's lr is multiplied by ``rate``;
* warm-up (:func:`backbone_frozen`; ``warmup_mode="official"`` also zeroes the
  gradients in place like the official PyTorch 1.2 code, so Adam's momentum
  and weight decay keep moving the "frozen" backbone);
* precision: float32 like the official code (TF32 matmuls/convolutions allowed
  on CUDA); ``amp`` bf16/fp16 autocast only when asked (fp16 with a
  GradScaler; the loss always runs in float32); on CUDA channels_last,
  pinned memory, persistent workers;
* after every epoch: evaluation when scheduled (``epoch_to_test``, always the
  last epoch), a row in ``metrics.csv`` and an atomic checkpoint, so
  ``resume`` continues exactly where the run stopped. Ctrl-C lets the
  current step finish (:class:`DeferredInterrupt`; press twice to stop at
  once), saves a mid-epoch checkpoint (step, RNG states before the next
  batch, the epoch's running loss sums) and raises ``KeyboardInterrupt``; on
  the CPU with ``workers=0`` and a fixed seed a resumed run is bit-identical
  to an uninterrupted one (tested). With worker processes the random
  augmentations of a resumed epoch can differ (persistent workers keep their
  own RNG streams), and on CUDA nondeterministic kernels make any two runs
  differ slightly anyway.
"""

from __future__ import annotations

import json
import math
import random
import signal
import sys
import threading
import time
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .baselines import build_loss
from .registry import BACKBONES, DATASETS
from .checkpoint import (
    atomic_torch_save,
    atomic_write_csv,
    atomic_write_json,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
)
from .config import TrainConfig
from .distributed import (
    DistContext,
    ResumableDistributedSampler,
    ShardSampler,
    all_gather_objects,
    all_reduce_sum,
    barrier,
    broadcast_buffers,
    broadcast_object,
    gather_rows,
)

__all__ = [
    "NonFiniteLossError",
    "Trainee",
    "OfficialStepDecay",
    "backbone_frozen",
    "set_train_mode",
    "resolve_device",
    "resolve_amp",
    "build_optimizer",
    "extract_embeddings",
    "train_step",
    "loss_terms",
    "Trainer",
    "RESUMABLE_CHANGES",
]

#: Settings that may differ between an interrupted run and its resumption.
RESUMABLE_CHANGES = frozenset(
    {"epochs", "data", "device", "gpu", "workers", "quiet", "resume", "out", "amp", "channels_last",
     "eval_batch_size", "epoch_to_test", "save_proxies", "save_embeddings", "embedding_samples", "nmi_protocol",
     "log_every", "imports", "check_images"}
)
#: ``metrics.csv`` columns of the loss terms that every run has (ProxyGML's L^s and L^p; empty for
#: losses without them); a loss's other :meth:`terms` are added after them.
TERM_COLUMNS = ("loss_s", "loss_p")
CHECKPOINT = "checkpoint.pt"
PROXY_DIR = "proxies"
EMBEDDING_DIR = "embeddings"
CHECKPOINT_FORMAT = 1


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or Inf; the run stops (the last epoch's checkpoint is kept)."""


class DeferredInterrupt:
    """Within ``with``: the first Ctrl-C (SIGINT) only sets ``requested``; a second one interrupts at once.

    The trainer checks ``requested`` between optimisation steps, so Ctrl-C
    never stops a step half-way (which would leave BatchNorm statistics or
    Adam states of an unfinished step in the checkpoint). Outside the main
    thread (where signal handlers cannot be installed) it does nothing.
    """

    def __init__(self, on_first: Callable[[], None] | None = None) -> None:
        self.requested = False
        self.on_first = on_first
        self._previous = None

    def _handle(self, signum, frame) -> None:
        if self.requested:
            signal.signal(signal.SIGINT, self._previous)
            raise KeyboardInterrupt
        self.requested = True
        if self.on_first is not None:
            self.on_first()

    def __enter__(self) -> "DeferredInterrupt":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


class Trainee(nn.Module):
    """The model and the loss in one module: ``forward(images, labels) -> L``.

    Under DistributedDataParallel this is the wrapped module, so the loss's
    parameters (the proxies ``P``) are synchronised like the model's.
    """

    def __init__(self, model: nn.Module, loss_fn: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(self.model(images), labels)


class OfficialStepDecay:
    """The official learning-rate schedule, resumable.

    At the start of 0-based epoch ``e`` (:meth:`begin_epoch`), if ``e + 1`` is
    in ``milestones``, every parameter group's lr is multiplied by ``rate``.
    ``last_epoch`` remembers the last epoch begun, so calling
    :meth:`begin_epoch` again for that epoch (after a mid-epoch resume) does
    not decay twice.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, milestones, rate: float) -> None:
        self.optimizer = optimizer
        self.milestones = tuple(int(m) for m in milestones)
        self.rate = float(rate)
        self.last_epoch = -1

    def begin_epoch(self, epoch: int) -> bool:
        """Apply the decays due up to ``epoch``; True if the lrs changed."""
        changed = False
        for e in range(self.last_epoch + 1, epoch + 1):
            if e + 1 in self.milestones:
                for group in self.optimizer.param_groups:
                    group["lr"] *= self.rate
                changed = True
        self.last_epoch = max(self.last_epoch, epoch)
        return changed

    def state_dict(self) -> dict[str, Any]:
        return {"milestones": list(self.milestones), "rate": self.rate, "last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.milestones = tuple(state["milestones"])
        self.rate = float(state["rate"])
        self.last_epoch = int(state["last_epoch"])


def backbone_frozen(epoch: int, warm: int, mode: str, start_epoch: int = 0) -> bool:
    """Whether the backbone is frozen (only head + proxies train) in 0-based ``epoch``.

    ``"head-first"``: epochs ``0 .. warm-1``. ``"official"``: epochs ``1 ..
    warm``, which is what the official script does (it freezes after epoch 0
    and unfreezes after epoch ``warm``); a run started at ``start_epoch > 0``
    never passes epoch 0, so the official script never freezes it.
    """
    if warm <= 0:
        return False
    if mode == "head-first":
        return epoch < warm
    if mode == "official":
        return start_epoch == 0 and 1 <= epoch <= warm
    raise ValueError(f"warmup_mode must be 'head-first' or 'official'; got {mode!r}")


def set_train_mode(model: nn.Module, freeze_bn: bool) -> None:
    """``model.train()``, then BatchNorm layers back to eval mode if ``freeze_bn`` (statistics frozen)."""
    model.train()
    if freeze_bn:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


def resolve_device(config: TrainConfig, ctx: DistContext | None = None) -> torch.device:
    """``--device`` if given, else ``--gpu`` id (``cuda:<id>``), else CUDA if available, else CPU.

    Under torchrun with CUDA, process ``local_rank`` uses ``cuda:<local_rank>``.
    """
    ctx = ctx or DistContext()
    device = config.device
    if device == "auto":
        if config.gpu:
            if len(config.gpu) > 1:
                raise ValueError(
                    f"--gpu {' '.join(map(str, config.gpu))}: one process uses one GPU. For several GPUs run "
                    f"`CUDA_VISIBLE_DEVICES={','.join(map(str, config.gpu))} torchrun --nproc_per_node "
                    f"{len(config.gpu)} -m proxygml_lite.train ...` without --gpu"
                )
            device = f"cuda:{config.gpu[0]}"
        else:
            device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"bad --device {device!r} ({exc}); use cpu, cuda or cuda:<id>") from None
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device {device!r} requested (via --gpu or --device) but CUDA is not available here; "
                "pass --device cpu (or drop --gpu)"
            )
        if ctx.distributed:
            return torch.device("cuda", ctx.local_rank)
        index = resolved.index if resolved.index is not None else torch.cuda.current_device()
        if index >= torch.cuda.device_count():
            raise ValueError(
                f"device cuda:{index} requested but only {torch.cuda.device_count()} GPU(s) are visible; "
                f"use --gpu 0..{torch.cuda.device_count() - 1}"
            )
        return torch.device("cuda", index)
    return resolved


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype: ``auto`` is bf16 on a CUDA device that supports it (else fp16), none on CPU."""
    if amp == "none":
        return None
    if amp == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[amp]


def build_optimizer(model: nn.Module, loss_fn: nn.Module, config: TrainConfig) -> torch.optim.Adam:
    """Adam over ``[model @ modellr, loss parameters (proxies) @ centerlr]`` with ``eps`` and ``weight_decay``."""
    groups = [{"params": list(model.parameters()), "lr": config.modellr, "name": "model"}]
    loss_params = list(loss_fn.parameters())
    if loss_params:
        groups.append({"params": loss_params, "lr": config.centerlr, "name": "proxies"})
    return torch.optim.Adam(groups, eps=config.eps, weight_decay=config.weight_decay)


def loss_terms(loss_fn: nn.Module) -> dict[str, torch.Tensor]:
    """The named, detached terms of the loss's last call (``loss_fn.terms()``), ``{}`` without them."""
    terms = getattr(loss_fn, "terms", None)
    return dict(terms()) if callable(terms) else {}


def train_step(
    trainee: nn.Module,
    loss_fn: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    images: torch.Tensor,
    labels: torch.Tensor,
    amp_dtype: torch.dtype | None = None,
    *,
    in_place_zero_grad: list[nn.Parameter] | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """One optimisation step on a batch already on the device: ``L``, backward, Adam.

    ``trainee(images, labels)`` computes the loss (a :class:`Trainee`, or DDP
    around one). Returns the detached loss and ``loss_fn``'s terms, left on
    the device: nothing here waits for the device, so the host can queue the
    next batch while this one runs (the caller reads them back at intervals).

    ``in_place_zero_grad``: ``None`` drops the gradients before backward
    (``set_to_none``: frozen parameters truly stay put). A list zeroes them in
    place like the official code's PyTorch 1.2 ``zero_grad()``, and gives the
    listed (frozen) parameters zero gradients, so Adam's momentum and weight
    decay still move them (``--warmup-mode official``).
    """
    with torch.autocast(images.device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        loss = trainee(images, labels)
    optimizer.zero_grad(set_to_none=in_place_zero_grad is None)
    for p in in_place_zero_grad or ():
        if p.grad is None:  # e.g. after a resume: the official run's gradients exist since epoch 0
            p.grad = torch.zeros_like(p)
    scaler.scale(loss).backward()  # fp16 only: the scaler's inf check is the one synchronisation
    scaler.step(optimizer)
    scaler.update()
    return loss.detach(), loss_terms(loss_fn)


def stack_loss_parts(loss: torch.Tensor, terms: dict, names: tuple[str, ...]) -> torch.Tensor:
    """``[L, terms[name] for name in names]`` as one float32 vector on ``loss``'s device (NaN for absent terms)."""
    missing = loss.new_full((), math.nan, dtype=torch.float32)
    return torch.stack([loss.float()] + [
        torch.as_tensor(terms[name], dtype=torch.float32, device=loss.device).reshape(()) if name in terms
        else missing for name in names
    ])


def _to_device(images: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    images = images.to(device, non_blocking=True)
    if channels_last and images.dim() == 4:
        images = images.contiguous(memory_format=torch.channels_last)
    return images


@torch.no_grad()
def extract_embeddings(
    model: nn.Module,
    loader: DataLoader,
    device: torch.device,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    progress: bool = False,
    desc: str = "embedding",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings ``X`` (float32, CPU) and labels of every sample of ``loader``, model in eval mode."""
    was_training = model.training
    model.eval()
    features, labels = [], []
    try:
        for images, targets in tqdm(loader, desc=desc, disable=not progress, leave=False, dynamic_ncols=True):
            images = _to_device(images, device, channels_last)
            with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                out = model(images)
            features.append(out.float().cpu())
            labels.append(torch.as_tensor(targets).long().cpu())
    finally:
        model.train(was_training)
    if not features:
        raise ValueError("the evaluation loader is empty; the test split needs samples")
    return torch.cat(features), torch.cat(labels)


def _check_targets(dataset, num_classes: int, name: str) -> None:
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


def _metric_columns(recall_ks, compute_nmi, compute_map) -> list[str]:
    cols = [f"R@{k}" for k in recall_ks]
    if compute_nmi:
        cols.append("NMI")
    if compute_map:
        cols += ["MAP@R", "RP"]
    return cols


class Trainer:
    """Runs one :class:`TrainConfig` from start (or its checkpoint) to the end; see :func:`proxygml_lite.train.train`."""

    def __init__(
        self,
        config: TrainConfig,
        ctx: DistContext | None = None,
        callback: Callable[[str, dict], None] | None = None,
    ) -> None:
        self.config = config
        self.ctx = ctx or DistContext()
        self.callback = callback
        self.device = resolve_device(config, self.ctx)
        self.amp_dtype = resolve_amp(config.amp, self.device)
        self.channels_last = config.channels_last if config.channels_last is not None else self.device.type == "cuda"
        self.progress = not config.quiet and self.ctx.is_main
        self.out = Path(config.out) if config.out else Path("runs") / (
            f"{config.dataset}-{config.loss}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
        )
        self.config.out = str(self.out)
        self.history: list[dict[str, Any]] = []
        self._snapshot_parts: dict[str, tuple[torch.Tensor, torch.Tensor, DataLoader]] | None = None
        self.elapsed_s = 0.0
        self._frozen = False  # backbone frozen in the current epoch (warm-up)
        self._in_place_zero_grad: list | None = None  # see train_step
        self.skipped_images: dict[str, list[str]] = {}  # --check-images skip: split -> files left out

    # ---------------------------------------------------------------- output
    def log(self, message: str) -> None:
        if self.ctx.is_main and not self.config.quiet:
            tqdm.write(message)

    def _emit(self, event: str, **info: Any) -> None:
        if self.callback is not None:
            self.callback(event, {**info, "trainer": self})

    # ------------------------------------------------------------------ setup
    def _check_out_dir(self) -> dict | None:
        """Existing checkpoint to resume from (or None); errors for a non-empty dir without --resume."""
        ckpt_path = self.out / CHECKPOINT
        if self.config.resume:
            if ckpt_path.exists():
                return load_checkpoint(ckpt_path, map_location="cpu")
            return None
        if (self.out / "results.json").exists() or ckpt_path.exists():
            raise ValueError(
                f"{self.out} already holds a run; pass --resume to continue it, or choose another --out"
            )
        return None

    def _check_resume_config(self, saved: dict[str, Any]) -> None:
        saved = TrainConfig.with_defaults(saved)  # settings added since the run was saved keep their defaults
        current = self.config.to_dict()
        differing = [
            f"{k}: saved {saved.get(k)!r} vs now {current.get(k)!r}"
            for k in sorted(set(saved) | set(current))
            if k not in RESUMABLE_CHANGES and saved.get(k) != current.get(k)
        ]
        if differing:
            raise ValueError(
                f"--resume: the settings differ from the run saved in {self.out} ({'; '.join(differing)}). "
                "Resume with the saved settings (`--resume --out DIR` alone reuses them) or start a new run "
                "in another --out"
            )

    def _build_data(self) -> None:
        from .data import load_dataset
        from .models import build_transforms

        cfg = self.config
        root = cfg.data
        train_tf = build_transforms(cfg.backbone, train=cfg.augment, image_size=cfg.image_size)
        test_tf = build_transforms(cfg.backbone, train=False, image_size=cfg.image_size)
        # rank 0 first: datasets generated on first use (glyphs) are written once.
        options = dict(cfg.dataset_options)
        if DATASETS.get(cfg.dataset).options.get("takes_options"):
            options["progress"] = self.progress

        def load_splits():
            self.train_set = load_dataset(cfg.dataset, data_root=root, split="train", transform=train_tf, **options)
            self.test_set = load_dataset(cfg.dataset, data_root=root, split="test", transform=test_tf, **options)

        if self.ctx.is_main:
            load_splits()
        barrier(self.ctx)
        if not self.ctx.is_main:
            load_splits()
        self._check_images()
        found = int(self.train_set.num_classes)
        if found < 2:
            where = getattr(self.train_set, "root", None) or root
            split_dir = f"{where}/{getattr(self.train_set, 'split', None) or 'train'}"
            names = ", ".join(map(str, getattr(self.train_set, "classes", [])[:3]))
            raise ValueError(
                f"{split_dir} holds {found} class ({names}); metric learning needs at least 2 training classes "
                f"(C >= 2): add class folders {split_dir}/<class>/<image>"
            )
        if cfg.C is not None and cfg.C != found:
            raise ValueError(
                f"-C {cfg.C} does not match the {found} training classes found in the {cfg.dataset!r} data "
                f"under {root!r}; pass -C {found} (or drop -C), or check the data folder"
            )
        self.num_classes = found
        _check_targets(self.train_set, found, cfg.dataset)
        self.recall_ks = tuple(cfg.recall_ks) if cfg.recall_ks else (1, 2, 4, 8)
        n_test = len(self.test_set)
        too_big = [k for k in self.recall_ks if k > n_test - 1]
        if too_big:
            raise ValueError(
                f"Recall@K cut-offs {too_big} need more than the {n_test} test samples found; "
                f"pass --recall-ks with values <= {n_test - 1}"
            )
        world = self.ctx.world_size
        if cfg.batch_size % world:
            raise ValueError(
                f"batch size {cfg.batch_size} is not divisible by the {world} processes; "
                f"pass -b {cfg.batch_size - cfg.batch_size % world or world} (the batch size is global)"
            )
        self.local_batch = cfg.batch_size // world
        self.sampler = ResumableDistributedSampler(
            self.train_set, num_replicas=world, rank=self.ctx.rank, seed=cfg.seed
        )
        # a last batch of 1 sample breaks BatchNorm in training mode: drop it then
        drop_last = self.sampler.num_samples % self.local_batch == 1
        cuda = self.device.type == "cuda"
        common = dict(num_workers=cfg.workers, pin_memory=cuda, persistent_workers=cfg.workers > 0)
        self.loader_generator = torch.Generator()
        self.train_loader = DataLoader(
            self.train_set,
            batch_size=self.local_batch,
            sampler=self.sampler,
            drop_last=drop_last,
            generator=self.loader_generator,
            **common,
        )
        self.steps_per_epoch = (
            self.sampler.num_samples // self.local_batch
            if drop_last
            else math.ceil(self.sampler.num_samples / self.local_batch)
        )
        self.test_sampler = ShardSampler(len(self.test_set), world, self.ctx.rank)
        self.test_loader = DataLoader(
            self.test_set, batch_size=cfg.eval_batch_size, sampler=self.test_sampler, **common
        )

    def _check_images(self) -> None:
        """Decode every image file before the first step (rank 0; all ranks then stop or drop the same files)."""
        from .data.folder import ImageListDataset
        from .data.images import apply_image_check, find_bad_images

        mode = self.config.check_images
        splits = {"train_set": self.train_set, "test_set": self.test_set}
        splits = {k: ds for k, ds in splits.items() if isinstance(ds, ImageListDataset)}  # glyphs: in memory
        if mode == "off" or not splits:
            return
        bad = None
        if self.ctx.is_main:
            bad = {k: find_bad_images([p for p, _ in ds.samples], progress=self.progress,
                                      desc=f"check images ({ds.split})") for k, ds in splits.items()}
        bad = broadcast_object(bad, self.ctx)
        # the report of skipped files is printed even with --quiet: the user asked to train without them
        log = (lambda message: tqdm.write(message, file=sys.stderr)) if self.ctx.is_main else (lambda message: None)
        for key, ds in splits.items():
            setattr(self, key, apply_image_check(ds, bad[key], skip=mode == "skip", log=log))
            if bad[key]:
                self.skipped_images[ds.split] = [path for path, _ in bad[key]]

    def _build_model(self) -> None:
        from .models import build_model

        cfg = self.config
        sample = self.test_set[0][0]
        in_channels = int(sample.shape[0]) if isinstance(sample, torch.Tensor) and sample.dim() == 3 else 3
        self.model = build_model(
            cfg.backbone,
            embedding_dim=cfg.dim,
            pretrained=(cfg.pretrained if cfg.pretrained is not None
                        else BACKBONES.get(cfg.backbone).options["pretrained_by_default"]),
            freeze_bn=cfg.freeze_bn,
            in_channels=in_channels,
        )
        # the registry entry declares which config fields the loss takes (ProxyGML: N, r, lambda, ...)
        self.loss_fn = build_loss(cfg.loss, self.num_classes, cfg.dim, settings=cfg, **cfg.loss_kwargs)
        if hasattr(self.loss_fn, "validate"):
            self.loss_fn.validate = False  # its per-call value checks each wait for the device; labels checked once
        self.term_names: tuple[str, ...] | None = None  # set at the first step from loss_fn.terms()
        self.trainee = Trainee(self.model, self.loss_fn).to(self.device)
        if self.channels_last:
            self.trainee = self.trainee.to(memory_format=torch.channels_last)
        self.optimizer = build_optimizer(self.model, self.loss_fn, cfg)
        self.schedule = OfficialStepDecay(self.optimizer, cfg.new_epoch_to_decay, cfg.rate)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.wrapped: nn.Module = self.trainee
        self._ddp_trainable: tuple | None = None

    def _backbone_params(self) -> list[nn.Parameter]:
        if hasattr(self.model, "backbone_parameters"):
            return list(self.model.backbone_parameters())
        head = {id(p) for p in getattr(self.model, "head_parameters", lambda: [])()}
        return [p for p in self.model.parameters() if id(p) not in head]

    def _set_warmup(self, epoch: int) -> bool:
        frozen = backbone_frozen(epoch, self.config.warm, self.config.warmup_mode, self.config.start_epoch)
        self._frozen = frozen
        # official warm-up: PyTorch 1.2's zero_grad() zeroes in place, so Adam still steps the frozen
        # backbone (zero gradient + weight decay + momentum); otherwise the gradients are dropped
        official = self.config.warmup_mode == "official"
        self._in_place_zero_grad = (self._backbone_params() if frozen else []) if official else None
        for p in self._backbone_params():
            p.requires_grad_(not frozen)
        if self.ctx.distributed:
            trainable = tuple(p.requires_grad for p in self.trainee.parameters())
            if trainable != self._ddp_trainable:
                # DDP only syncs the parameters that require grad when it is built: rebuild it
                # whenever the warm-up changes the trainable set (at epoch boundaries only).
                from torch.nn.parallel import DistributedDataParallel as DDP

                self.wrapped = self.trainee
                device_ids = [self.device.index] if self.device.type == "cuda" else None
                self.wrapped = DDP(self.trainee, device_ids=device_ids)
                self._ddp_trainable = trainable
        return frozen

    # ------------------------------------------------------------- checkpoint
    def _checkpoint_state(self, epoch: int, step: int, sums: dict, rng: dict | list) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "config": self.config.to_dict(),
            "epoch": epoch,
            "step": step,
            "num_classes": self.num_classes,
            "model": self.model.state_dict(),
            "loss": self.loss_fn.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng,
            "sampler": {"seed": self.config.seed, "epoch": epoch, "start": step * self.local_batch},
            "loader_generator": self.loader_generator.get_state(),
            "history": self.history,
            "term_names": self.term_names,
            "epoch_sums": dict(sums),
            "elapsed_s": self.elapsed_s,
            "world_size": self.ctx.world_size,
        }

    def _save(self, epoch: int, step: int, sums: dict, rng: dict | list) -> None:
        if self.ctx.is_main:
            atomic_torch_save(self._checkpoint_state(epoch, step, sums, rng), self.out / CHECKPOINT)

    def _save_proxies(self, epoch: int) -> None:
        """``<out>/proxies/epoch_<epoch>.pt``: every loss parameter (ProxyGML: ``proxies``, ``(C*N, d)``), on the CPU.

        ``epoch`` counts finished epochs (0 = before training), like ``metrics.csv``.
        """
        if not (self.config.save_proxies and self.ctx.is_main):
            return
        snapshot = {
            "epoch": epoch,
            "loss": self.config.loss,
            "num_classes": self.num_classes,
            "parameters": {name: p.detach().float().cpu().clone() for name, p in self.loss_fn.named_parameters()},
        }
        atomic_torch_save(snapshot, self.out / PROXY_DIR / f"epoch_{epoch:03d}.pt")

    def _snapshot_loaders(self) -> dict[str, tuple[torch.Tensor, torch.Tensor, DataLoader]]:
        """The fixed samples of the embedding snapshots: ``{split: (indices, labels, loader)}``.

        ``embedding_samples`` samples of each split (all if ``None`` or more
        than the split holds), chosen once with a generator seeded by
        ``seed`` (independent of the training RNG, so ``save_embeddings``
        never changes a run's trajectory). The training samples go through
        the test-time transform (no augmentation).
        """
        if self._snapshot_parts is None:
            from torch.utils.data import Subset

            from .data import load_dataset
            from .models import build_transforms

            cfg = self.config
            options = dict(cfg.dataset_options)
            if DATASETS.get(cfg.dataset).options.get("takes_options"):
                options["progress"] = False
            plain_tf = build_transforms(cfg.backbone, train=False, image_size=cfg.image_size)
            train_plain = load_dataset(cfg.dataset, data_root=cfg.data, split="train", transform=plain_tf, **options)
            choose = torch.Generator().manual_seed(cfg.seed)
            parts = {}
            for split, dataset in (("train", train_plain), ("test", self.test_set)):
                n = len(dataset)
                wanted = cfg.embedding_samples
                if wanted is None or wanted >= n:
                    indices = torch.arange(n)
                else:
                    indices = torch.randperm(n, generator=choose)[:wanted].sort().values
                labels = torch.as_tensor([int(dataset.targets[i]) for i in indices.tolist()], dtype=torch.long)
                loader = DataLoader(Subset(dataset, indices.tolist()), batch_size=cfg.eval_batch_size,
                                    num_workers=0, generator=torch.Generator())  # own generator: no global RNG draw
                parts[split] = (indices, labels, loader)
            self._snapshot_parts = parts
        return self._snapshot_parts

    def _save_embeddings(self, epoch: int) -> None:
        """``<out>/embeddings/epoch_<epoch>.pt``: embeddings of the fixed training and test samples.

        ``{"epoch", "num_classes", "splits": {"train" | "test": {"embeddings"
        (n, d) float32, "labels" (n,) (training labels 0..C-1 index the proxy
        rows c*N .. c*N+N-1), "indices" (n,) rows of the split}}}``; ``epoch``
        counts finished epochs (0 = before training), like the proxy snapshots.
        """
        if not (self.config.save_embeddings and self.ctx.is_main):
            return
        splits = {}
        for split, (indices, labels, loader) in self._snapshot_loaders().items():
            emb, _ = extract_embeddings(self.model, loader, self.device, self.amp_dtype, self.channels_last)
            splits[split] = {"embeddings": emb, "labels": labels, "indices": indices}
        snapshot = {"epoch": epoch, "num_classes": self.num_classes, "splits": splits}
        atomic_torch_save(snapshot, self.out / EMBEDDING_DIR / f"epoch_{epoch:03d}.pt")

    def _write_metrics(self) -> None:
        if not self.ctx.is_main:
            return
        columns = ["epoch", *(self.term_names or TERM_COLUMNS), "loss", "lr_model", "lr_proxies", "backbone_frozen",
                   "train_time_s", "eval_time_s"]
        columns += _metric_columns(self.recall_ks, self.config.compute_nmi, self.config.compute_map)
        atomic_write_csv(self.out / "metrics.csv", self.history, columns)

    def _load(self, ckpt: dict[str, Any]) -> tuple[int, int, dict, Any]:
        if ckpt.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"checkpoint in {self.out} has an unknown format; start a new run in another --out")
        if ckpt.get("world_size", 1) != self.ctx.world_size and ckpt.get("step", 0):
            warnings.warn(
                "resuming a mid-epoch checkpoint with a different number of processes: the rest of that "
                "epoch's data order differs from the original run",
                RuntimeWarning,
                stacklevel=2,
            )
        self.model.load_state_dict(ckpt["model"])
        self.loss_fn.load_state_dict(ckpt["loss"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.schedule.load_state_dict(ckpt["scheduler"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.loader_generator.set_state(ckpt["loader_generator"])
        self.history = list(ckpt["history"])
        if ckpt.get("term_names"):
            self.term_names = tuple(ckpt["term_names"])
        self.elapsed_s = float(ckpt["elapsed_s"])
        return int(ckpt["epoch"]), int(ckpt["step"]), dict(ckpt["epoch_sums"]), ckpt["rng"]

    # ------------------------------------------------------------- evaluation
    def evaluate(self, desc: str = "evaluating") -> dict[str, float]:
        """Recall@K / NMI (/ MAP@R, RP) of the current model on the test classes (all ranks get the dict)."""
        from .evaluation import evaluate

        broadcast_buffers(self.model, self.ctx)
        emb, labels = extract_embeddings(
            self.model, self.test_loader, self.device, self.amp_dtype, self.channels_last, self.progress, desc
        )
        if self.ctx.distributed:
            index = torch.tensor(self.test_sampler.indices(), dtype=torch.long)
            on = self.device if self.device.type == "cuda" else torch.device("cpu")
            emb = gather_rows(emb.to(on), self.ctx).cpu()
            labels = gather_rows(labels.to(on), self.ctx).cpu()
            order = torch.argsort(gather_rows(index.to(on), self.ctx).cpu())
            emb, labels = emb[order], labels[order]
        metrics = None
        if self.ctx.is_main:
            cfg = self.config
            from .evaluation import official_nmi_protocol

            protocol = official_nmi_protocol(cfg.dataset) if cfg.nmi_protocol == "auto" else cfg.nmi_protocol
            metrics = evaluate(
                emb, labels, recall_ks=self.recall_ks, compute_nmi=cfg.compute_nmi,
                compute_map=cfg.compute_map, seed=cfg.seed, nmi_protocol=protocol,
            )
            metrics = {k: float(v) for k, v in metrics.items()}
        return broadcast_object(metrics, self.ctx)

    def _should_evaluate(self, epoch: int) -> bool:
        cfg = self.config
        return cfg.epoch_to_test is None or (epoch + 1) in cfg.epoch_to_test or epoch + 1 == cfg.epochs

    # ------------------------------------------------------------------- run
    def run(self) -> dict[str, float]:
        """Train (or resume) to the end; with ``threads`` set, torch uses that many CPU threads meanwhile."""
        previous_threads = torch.get_num_threads()
        if self.config.threads is not None:
            torch.set_num_threads(self.config.threads)
        try:
            return self._run()
        finally:
            torch.set_num_threads(previous_threads)

    def _run(self) -> dict[str, float]:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            # float32 like the official code, with TF32 tensor-core matmuls/convolutions allowed
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        ckpt = self._check_out_dir()
        if ckpt is not None:
            self._check_resume_config(ckpt["config"])
            if (self.out / "results.json").exists() and ckpt["epoch"] >= cfg.epochs:
                with open(self.out / "results.json", encoding="utf-8") as fh:
                    results = json.load(fh)
                if results.get("epochs") == cfg.epochs:
                    self.log(f"{self.out}: finished run found, nothing to do")
                    return results["metrics"]
        self._build_data()
        self._build_model()  # identical initialisation on every rank (same seed)
        if self.ctx.distributed:  # but each rank its own stream of random augmentations
            torch.manual_seed(cfg.seed + 7919 * (self.ctx.rank + 1))
            random.seed(cfg.seed + 7919 * (self.ctx.rank + 1))
            np.random.seed(cfg.seed + 7919 * (self.ctx.rank + 1))
        if self.ctx.is_main:
            self.out.mkdir(parents=True, exist_ok=True)
            cfg.to_json(self.out / "config.json")

        start_epoch, start_step, sums, rng = cfg.start_epoch, 0, {}, None
        # the official --start-epoch: the schedule begins there, decays of skipped epochs are not applied
        self.schedule.last_epoch = cfg.start_epoch - 1
        if ckpt is not None:
            start_epoch, start_step, sums, rng = self._load(ckpt)
            self.log(f"resuming {self.out} in epoch {start_epoch + 1}/{cfg.epochs} at step {start_step}")
            if isinstance(rng, list):  # one state per rank (saved at the end of an epoch)
                rng = rng[self.ctx.rank] if self.ctx.rank < len(rng) else None
        else:
            self._save_proxies(cfg.start_epoch)
            self._save_embeddings(cfg.start_epoch)
        if ckpt is None and cfg.eval_untrained:
            begin = time.perf_counter()
            metrics = self.evaluate("evaluating untrained model")
            self.history.append({"epoch": 0, "eval_time_s": round(time.perf_counter() - begin, 3), **metrics})
            self._write_metrics()
            self.log(f"epoch 0 (untrained): {_format_metrics(metrics)}")

        if rng is not None:
            restore_rng_state(rng)
        elif ckpt is not None:
            torch.manual_seed(cfg.seed + 1000 * self.ctx.rank + start_epoch)

        epochs_bar = tqdm(
            range(start_epoch, cfg.epochs), desc="epochs", disable=not self.progress, dynamic_ncols=True,
            initial=start_epoch, total=cfg.epochs,
        )
        metrics: dict[str, float] = {}
        epoch = start_epoch
        for epoch in epochs_bar:
            sums = self._train_epoch(epoch, start_step if epoch == start_epoch else 0,
                                     sums if epoch == start_epoch else {})
            row = self._finish_epoch(epoch, sums)
            metrics = {k: row[k] for k in _metric_columns(self.recall_ks, cfg.compute_nmi, cfg.compute_map)
                       if k in row}
            sums = {}
        if not metrics:  # the run had already trained all epochs: take the last evaluated row
            metrics = {k: v for k, v in self.history[-1].items()
                       if k in _metric_columns(self.recall_ks, cfg.compute_nmi, cfg.compute_map)}
        self._write_results(metrics)
        return metrics

    def _train_epoch(self, epoch: int, start_step: int, sums: dict) -> dict:
        cfg = self.config
        lrs_changed = self.schedule.begin_epoch(epoch)
        if lrs_changed:
            self.log(f"epoch {epoch + 1}/{cfg.epochs}: lrs x{cfg.rate} -> {[g['lr'] for g in self.optimizer.param_groups]}")
        frozen = self._set_warmup(epoch)
        set_train_mode(self.trainee, cfg.freeze_bn)
        self.sampler.set_epoch(epoch)
        self.sampler.set_start(start_step * self.local_batch)
        self.loader_generator.manual_seed(cfg.seed * 100_003 + epoch)
        sums = {"loss": 0.0, "count": 0, "train_time_s": 0.0,
                "frozen": frozen, "lrs": [g["lr"] for g in self.optimizer.param_groups], **sums}
        bar = tqdm(total=self.steps_per_epoch, initial=start_step, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                   disable=not self.progress, leave=False, dynamic_ncols=True)
        step = start_step
        in_step = False
        rng_before = None
        pending: list[tuple[int, torch.Tensor]] = []  # (step, loss parts) still on the device
        # a callback receives each step's loss as a number: with one, every step waits for the device
        sync_every = 1 if self.callback is not None else cfg.log_every
        tick = time.perf_counter()
        iterator = iter(self.train_loader)
        deferred = DeferredInterrupt(
            lambda: self.log("\nCtrl-C: finishing this step, then saving a checkpoint (Ctrl-C again stops at once)")
        )
        try:
            with deferred:
                while step < self.steps_per_epoch:
                    rng_before = capture_rng_state()
                    in_step = True
                    try:
                        images, labels = next(iterator)
                    except StopIteration:
                        break
                    pending.append((step, self._step(images, labels)))
                    step += 1
                    in_step = False
                    bar.update(1)
                    if step % sync_every == 0:
                        self._add_to_sums(pending, epoch, sums)
                        if self.progress:
                            bar.set_postfix(loss=f"{sums['loss'] / max(sums['count'], 1):.4f}")
                    if self.callback is not None:
                        self._emit("step_end", epoch=epoch, step=step, steps=self.steps_per_epoch,
                                   loss=sums["last_loss"])
                    if deferred.requested:
                        raise KeyboardInterrupt
            self._add_to_sums(pending, epoch, sums)
        except KeyboardInterrupt:
            sums["train_time_s"] += time.perf_counter() - tick
            self.elapsed_s += time.perf_counter() - tick
            # this process's own values (no collective: the other processes may be elsewhere)
            self._add_to_sums(pending, epoch, sums, reduce=False)
            # a KeyboardInterrupt raised inside a step (not through SIGINT) leaves that step undone:
            # resume redoes it from the RNG state before its batch was drawn
            rng = rng_before if in_step and rng_before is not None else capture_rng_state()
            self._save(epoch, step, sums, rng)
            self._interrupted(epoch, step)
            raise
        finally:
            bar.close()
        elapsed = time.perf_counter() - tick
        sums["train_time_s"] += elapsed
        self.elapsed_s += elapsed
        return sums

    def _step(self, images, labels) -> torch.Tensor:
        """One optimisation step; returns ``[L, *terms]`` detached, on the device (no synchronisation)."""
        images = _to_device(images, self.device, self.channels_last)
        labels = torch.as_tensor(labels).to(self.device, non_blocking=True)
        loss, terms = train_step(self.wrapped, self.loss_fn, self.optimizer, self.scaler, images, labels,
                                 self.amp_dtype, in_place_zero_grad=self._in_place_zero_grad)
        if self.term_names is None:
            self.term_names = TERM_COLUMNS + tuple(name for name in terms if name not in TERM_COLUMNS)
        return stack_loss_parts(loss, terms, self.term_names)

    def _add_to_sums(self, pending: list, epoch: int, sums: dict, reduce: bool = True) -> None:
        """Move the pending steps' loss parts to the host (one synchronisation) into ``sums``; empties ``pending``.

        Averaged over the processes (``reduce``); a NaN/Inf loss raises
        :class:`NonFiniteLossError` naming the first step where it appeared.
        """
        if not pending:
            return
        parts = torch.stack([p for _, p in pending])
        if reduce:
            parts = all_reduce_sum(parts, self.ctx) / self.ctx.world_size
        values = parts.cpu().tolist()
        for (step, _), (value, *terms) in zip(pending, values):
            if not math.isfinite(value):
                raise NonFiniteLossError(
                    f"non-finite loss ({value}) at epoch {epoch + 1}/{self.config.epochs} (as in the log and the "
                    f"`epoch` column of metrics.csv), step {step + 1} of {self.steps_per_epoch}: training stopped. "
                    f"The checkpoint of the last finished epoch is kept in {self.out}. Lower --modellr/--centerlr, "
                    "drop --amp bf16/fp16 if given, or check the data."
                )
            sums["loss"] += value
            for name, term in zip(self.term_names, terms):
                sums[name] = sums.get(name, 0.0) + term
            sums["count"] += 1
            sums["last_loss"] = value
        pending.clear()

    def _finish_epoch(self, epoch: int, sums: dict) -> dict[str, Any]:
        cfg = self.config
        count = max(sums["count"], 1)
        lrs = {group.get("name"): lr for group, lr in zip(self.optimizer.param_groups, sums["lrs"])}
        row: dict[str, Any] = {
            "epoch": epoch + 1,
            **{name: sums.get(name, math.nan) / count for name in (self.term_names or TERM_COLUMNS)},
            "loss": sums["loss"] / count,
            "lr_model": lrs["model"],
            "lr_proxies": lrs.get("proxies"),
            "backbone_frozen": bool(sums["frozen"]),
            "train_time_s": round(sums["train_time_s"], 3),
        }
        if self._should_evaluate(epoch):
            begin = time.perf_counter()
            try:
                metrics = self.evaluate(f"evaluating epoch {epoch + 1}")
            except KeyboardInterrupt:
                self._save(epoch, self.steps_per_epoch, sums, capture_rng_state())
                self._interrupted(epoch, self.steps_per_epoch)
                raise
            row["eval_time_s"] = round(time.perf_counter() - begin, 3)
            self.elapsed_s += time.perf_counter() - begin
            row.update(metrics)
        self.history.append(row)
        self._save_proxies(epoch + 1)
        self._save_embeddings(epoch + 1)
        rng = all_gather_objects(capture_rng_state(), self.ctx) if self.ctx.distributed else capture_rng_state()
        self._save(epoch + 1, 0, {}, rng)
        self._write_metrics()
        self._emit("epoch_end", epoch=epoch, row=row)
        self.log(
            f"epoch {epoch + 1}/{cfg.epochs}: loss {row['loss']:.4f} (L^s {row['loss_s']:.4f}, "
            f"L^p {row['loss_p']:.4f}) {_format_metrics({k: v for k, v in row.items() if '@' in k or k == 'NMI'})}"
        )
        return row

    def _interrupted(self, epoch: int, step: int) -> None:
        if self.ctx.is_main:
            print(  # 1-based, like the log's "epoch 3/10"
                f"\nInterrupted in epoch {epoch + 1}/{self.config.epochs} after step {step} of {self.steps_per_epoch}: "
                f"checkpoint saved in {self.out}. Resume with\n"
                f"  python -m proxygml_lite.train --resume --out {self.out}",
                file=sys.stderr,
                flush=True,
            )

    def _write_results(self, metrics: dict[str, float]) -> None:
        if not self.ctx.is_main:
            return
        untrained = next((row for row in self.history if row.get("epoch") == 0), None)
        columns = _metric_columns(self.recall_ks, self.config.compute_nmi, self.config.compute_map)
        results = {
            "metrics": metrics,
            "untrained_metrics": {k: untrained[k] for k in columns if k in untrained} if untrained else None,
            "epochs": self.config.epochs,
            "num_classes": self.num_classes,
            "train_samples": len(self.train_set),
            "test_samples": len(self.test_set),
            "elapsed_s": round(self.elapsed_s, 3),
            "device": str(self.device),
            "world_size": self.ctx.world_size,
            "skipped_images": self.skipped_images,
            "config": self.config.to_dict(),
        }
        atomic_write_json(self.out / "results.json", results)


def _format_metrics(metrics: dict[str, float]) -> str:
    return " ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float))
