"""Where a run computes: the device (``--device`` / ``--gpu`` / torchrun rank), autocast, seeds, CPU threads."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

from .config import TrainConfig
from .distributed import DistContext

__all__ = [
    "resolve_device",
    "native_bf16",
    "resolve_amp",
    "to_device",
    "seed_everything",
    "allow_tf32",
    "torch_threads",
]


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


def native_bf16() -> bool:
    """Whether the current CUDA GPU computes in bfloat16 natively.

    ``torch.cuda.is_bf16_supported()`` also says yes where bfloat16 is only
    emulated (a T4, for instance), which runs slower than float16; ``--amp auto``
    and the GPU check want the native kind only.
    """
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)


def resolve_amp(amp: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype: ``auto`` is bf16 on a CUDA device that supports it (else fp16), none on CPU."""
    if amp == "none":
        return None
    if amp == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if native_bf16() else torch.float16
    return {"bf16": torch.bfloat16, "fp16": torch.float16}[amp]


def to_device(images: torch.Tensor, device: torch.device, channels_last: bool) -> torch.Tensor:
    images = images.to(device, non_blocking=True)
    if channels_last and images.dim() == 4:
        images = images.contiguous(memory_format=torch.channels_last)
    return images


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global RNG and torch (all devices); the one seeding of the package.

    NumPy takes seeds below ``2**32``: larger ones are reduced modulo ``2**32``
    (the same numbers as before for every seed NumPy accepts).
    """
    torch.manual_seed(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)


def allow_tf32(device: torch.device) -> None:
    """On CUDA: cuDNN autotuning, and float32 like the official code with TF32 tensor-core matmuls/convolutions."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Within ``with``: torch uses ``threads`` CPU threads (``None``: unchanged); restored afterwards."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
