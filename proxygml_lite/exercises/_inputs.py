"""Random inputs for the checkers' cases (seeded generators, so every run checks the same cases)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _unit_rows(generator: torch.Generator, rows: int, dim: int) -> torch.Tensor:
    return F.normalize(torch.randn(rows, dim, generator=generator), dim=1)


def _random_labels(generator: torch.Generator, batch: int, num_classes: int) -> torch.Tensor:
    return torch.randint(num_classes, (batch,), generator=generator)


def _random_similarity(generator: torch.Generator, batch: int, num_proxies: int, dim: int = 8) -> torch.Tensor:
    """A realistic S: cosines between random unit vectors (distinct values, no ties)."""
    return _unit_rows(generator, batch, dim) @ _unit_rows(generator, num_proxies, dim).t()
