"""The checkers' cases: :class:`_Case` (one input to the student's function) and seeded random inputs.

The generators are seeded, so every run checks the same cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass
class _Case:
    """One input to the student's function: a name saying what it tests, and the positional arguments."""

    name: str
    args: dict[str, Any]

    def copies(self) -> list[Any]:
        return [value.clone() if torch.is_tensor(value) else value for value in self.args.values()]

    def describe(self) -> str:
        parts = []
        for name, value in self.args.items():
            parts.append(f"{name}: shape {tuple(value.shape)}" if torch.is_tensor(value) else f"{name} = {value}")
        return ", ".join(parts)

    def show_small_inputs(self) -> str:
        """The tensors of the case written out, when they are small enough to read."""
        lines = []
        for name, value in self.args.items():
            if torch.is_tensor(value) and value.numel() <= 40:
                lines.append(f"  {name} = {_format(value)}")
        return "\n".join(lines)


def _format(value: torch.Tensor) -> str:
    if value.dtype in (torch.bool, torch.int64, torch.int32):
        return str(value.tolist())
    rows = value.detach().double().reshape(-1, value.shape[-1]) if value.dim() else value.reshape(1, 1)
    text = ", ".join("[" + ", ".join(f"{x:.3f}" for x in row.tolist()) + "]" for row in rows)
    return f"[{text}]" if value.dim() > 1 else text


def _unit_rows(generator: torch.Generator, rows: int, dim: int) -> torch.Tensor:
    return F.normalize(torch.randn(rows, dim, generator=generator), dim=1)


def _random_labels(generator: torch.Generator, batch: int, num_classes: int) -> torch.Tensor:
    return torch.randint(num_classes, (batch,), generator=generator)


def _random_similarity(generator: torch.Generator, batch: int, num_proxies: int, dim: int = 8) -> torch.Tensor:
    """A realistic S: cosines between random unit vectors (distinct values, no ties)."""
    return _unit_rows(generator, batch, dim) @ _unit_rows(generator, num_proxies, dim).t()
