"""Data-parallel training across processes (``torchrun``) with DistributedDataParallel.

Launch::

    torchrun --nproc_per_node 4 -m proxygml_lite.train -- -b 32 --dataset cub200 --r 0.05 ...   # 4 GPUs, NCCL
    torchrun --nproc_per_node 2 -m proxygml_lite.train -- --dataset glyphs --device cpu       # 2 CPU processes, gloo

Put ``--`` between ``proxygml_lite.train`` and its flags: torchrun's own
parser reads every later argument too and rejects the official ``--r`` as an
ambiguous abbreviation of its ``--rdzv-*``/``--role``/``--run-path`` options
(torchrun removes the ``--`` before starting the processes).

How it works (see :mod:`proxygml_lite.training.trainer`):

* the model and the loss are wrapped together in ONE module, so the proxies
  are ordinary parameters whose gradients DDP averages like the model's;
* ``-b`` is the GLOBAL batch: each of the ``W`` processes takes ``b / W``
  samples per step from a :class:`ResumableDistributedSampler` (a
  ``DistributedSampler`` whose permutation is seeded with ``seed + epoch``
  through ``set_epoch``). Rank ``q`` takes positions ``q, q+W, ...`` of the
  permutation, so the union of one step's local batches is exactly the batch a
  single process would draw (when the data size is a multiple of ``W``);
* evaluation: each process embeds a disjoint shard (:class:`ShardSampler`,
  no padding duplicates), :func:`gather_rows` all-gathers the shards (padding
  uneven ones and removing the padding), rank 0 computes the metrics and
  broadcasts them;
* only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import Dataset, DistributedSampler, Sampler

from ..atomic_writers import WriteError
from ..fileio import FolderLock, FolderLockedError, exclusive_lock

__all__ = [
    "DistContext",
    "init_distributed",
    "cleanup_distributed",
    "barrier",
    "broadcast_object",
    "main_rank_lock",
    "all_gather_objects",
    "all_reduce_sum",
    "gather_rows",
    "broadcast_buffers",
    "ResumableDistributedSampler",
    "ShardSampler",
    "wrap_ddp",
]


@dataclass(frozen=True)
class DistContext:
    """Rank, world size and local rank of this process (``world_size = 1`` without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(use_cuda: bool) -> DistContext:
    """Join the process group described by torchrun's ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``.

    Backend: NCCL when training on CUDA, gloo on the CPU. Without those
    environment variables (plain ``python``), returns a single-process context.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext()
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if not dist.is_initialized():
        backend = "nccl" if use_cuda else "gloo"
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank)


def cleanup_distributed(ctx: DistContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        dist.barrier()


def broadcast_object(obj: Any, ctx: DistContext, src: int = 0) -> Any:
    """``obj`` of rank ``src`` on every rank."""
    if not ctx.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


@contextlib.contextmanager
def main_rank_lock(folder: str | os.PathLike, purpose: str, ctx: DistContext) -> Iterator[FolderLock | None]:
    """Rank 0 holds :func:`~proxygml_lite.fileio.exclusive_lock` of ``folder`` within ``with`` (the others: ``None``).

    When rank 0 cannot take it (another process holds the folder, or it cannot be written), every rank raises
    that error: the others would otherwise wait for rank 0 forever.
    """
    with contextlib.ExitStack() as stack:
        refusal = held = None
        if ctx.is_main:
            try:
                held = stack.enter_context(exclusive_lock(folder, purpose))
            except (FolderLockedError, WriteError) as exc:
                if not ctx.distributed:
                    raise
                refusal = exc
        if ctx.distributed:
            message = broadcast_object(str(refusal) if refusal is not None else None, ctx)
            if refusal is not None:
                raise refusal
            if message is not None:
                raise FolderLockedError(message)
        yield held


def all_gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """``[obj of rank 0, obj of rank 1, ...]`` on every rank."""
    if not ctx.distributed:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def all_reduce_sum(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum of ``tensor`` over ranks (a new tensor; the input is unchanged)."""
    if not ctx.distributed:
        return tensor
    total = tensor.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


def gather_rows(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Concatenate every rank's ``(n_q, ...)`` tensor (rank order), allowing different ``n_q``.

    The shards are padded to the largest ``n_q`` for ``all_gather`` and the
    padding is cut off again, so the result has ``sum_q n_q`` rows.
    """
    if not ctx.distributed:
        return tensor
    count = torch.tensor([tensor.shape[0]], device=tensor.device, dtype=torch.long)
    counts = [torch.zeros_like(count) for _ in range(ctx.world_size)]
    dist.all_gather(counts, count)
    sizes = [int(c.item()) for c in counts]
    longest = max(sizes)
    padded = tensor.new_zeros((longest, *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    pieces = [torch.empty_like(padded) for _ in range(ctx.world_size)]
    dist.all_gather(pieces, padded.contiguous())
    return torch.cat([piece[:size] for piece, size in zip(pieces, sizes)], dim=0)


def broadcast_buffers(module: torch.nn.Module, ctx: DistContext) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank."""
    if not ctx.distributed:
        return
    for buffer in module.buffers():
        if buffer.numel():
            dist.broadcast(buffer.data, src=0)


class ResumableDistributedSampler(DistributedSampler):
    """``DistributedSampler`` (``shuffle=True``; permutation seeded ``seed + epoch``) that can start mid-epoch.

    With ``num_replicas=1, rank=0`` it is the single-process sampler too, so
    single- and multi-process runs draw from the same permutation.
    ``set_start(i)`` skips the first ``i`` indices of this rank's share of the
    current epoch (used to resume an interrupted epoch); ``set_epoch`` resets it.
    """

    def __init__(self, dataset: Dataset, num_replicas: int = 1, rank: int = 0, seed: int = 0, drop_last: bool = False):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed, drop_last=drop_last)
        self.start = 0

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.start = 0

    def set_start(self, start: int) -> None:
        if start < 0:
            raise ValueError(f"start must be >= 0; got {start}")
        self.start = int(start)

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        return iter(indices[self.start :])

    def __len__(self) -> int:
        return max(self.num_samples - self.start, 0)

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "epoch": self.epoch, "start": self.start}


class ShardSampler(Sampler[int]):
    """Indices ``rank, rank + W, rank + 2W, ...`` in order: disjoint shards, no padding duplicates."""

    def __init__(self, length: int, num_replicas: int = 1, rank: int = 0) -> None:
        self.length = int(length)
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)

    def indices(self) -> list[int]:
        return list(range(self.rank, self.length, self.num_replicas))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices())

    def __len__(self) -> int:
        return len(self.indices())


def wrap_ddp(trainee: torch.nn.Module, device: torch.device, built_for: tuple | None, wrapped: torch.nn.Module | None):
    """``(DDP(trainee), trainable)``, rebuilt only when the set of parameters that require grad changed.

    DDP syncs the parameters that required grad when it was built, so the
    warm-up (which freezes and unfreezes the backbone at epoch boundaries)
    needs a new wrapper each time it changes that set; ``built_for`` is the
    set the current ``wrapped`` was built for.
    """
    from torch.nn.parallel import DistributedDataParallel as DDP

    trainable = tuple(p.requires_grad for p in trainee.parameters())
    if trainable == built_for and wrapped is not None:
        return wrapped, built_for
    device_ids = [device.index] if device.type == "cuda" else None
    return DDP(trainee, device_ids=device_ids), trainable
