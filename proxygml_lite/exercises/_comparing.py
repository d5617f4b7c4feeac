"""Comparing the student's output with the reference: its type, its shape, the first entry that differs.

Outputs agree to :data:`_ATOL` / :data:`_RTOL` (float32 inputs).
"""

from __future__ import annotations

import math
from typing import Any

import torch

# float32 inputs: agreement to 1e-5 is "the same" (the official 1e-8 in the
# mask softmax is far below it, so a student may leave it out except on an empty row).
_ATOL = 1e-5

_RTOL = 1e-4


def _as_tensor(result: Any, what: str) -> tuple[torch.Tensor | None, str]:
    """The student's return value as a tensor, or None and the reason it is not one."""
    if result is None:
        return None, f"your function returned None: did you forget `return {what}`?"
    if isinstance(result, bool) or (torch.is_tensor(result) and result.dtype == torch.bool and result.dim() == 0):
        return None, (
            f"your function returned a single boolean ({bool(result)}), not the tensor {what}: "
            "did you return a comparison (`==`, `<`) or a check such as torch.allclose instead of the result?"
        )
    if isinstance(result, (int, float)) or (torch.is_tensor(result) and result.dim() == 0):
        value = result.item() if torch.is_tensor(result) else result
        kind = type(value).__name__
        if isinstance(value, float) and math.isnan(value):
            return None, (
                f"your function returned a single NaN, not the tensor {what}: a NaN comes from 0/0, log(0) "
                "or inf - inf, and a single number from .sum(), .mean() or .item() over the whole result."
            )
        return None, (
            f"your function returned a single {kind} ({value}), not the tensor {what}: did you reduce it "
            "with .sum(), .mean(), .max() or .item(), or return a count or shape instead of the result?"
        )
    if torch.is_tensor(result) and result.layout != torch.strided:  # sparse: compare its dense form
        try:
            result = result.to_dense()
        except Exception:
            return None, f"your function returned a {result.layout} tensor; return a dense one (`.to_dense()`)."
    if hasattr(result, "indices") and not torch.is_tensor(result):  # a steps.Subgraph or a torch.topk result
        result = result.indices
    if not torch.is_tensor(result):
        try:
            result = torch.as_tensor(result)
        except Exception:
            return None, f"your function returned a {type(result).__name__}; return a torch tensor ({what})."
    if result.is_complex():
        return None, f"your function returned a complex tensor ({result.dtype}); return a real one ({what})."
    try:
        return result.detach().cpu(), ""
    except Exception:
        return None, f"your function returned a tensor on device {result.device}; return it on the CPU."


def _first_difference(got: torch.Tensor, expected: torch.Tensor, axes: tuple[str, str]) -> str:
    """A sentence naming the shape mismatch, or the first entry where got and expected differ; '' if none."""
    if tuple(got.shape) != tuple(expected.shape):
        return f"your output has shape {tuple(got.shape)}, expected {tuple(expected.shape)} ({axes[0]} x {axes[1]})."
    got64, expected64 = got.double(), expected.double()
    close = torch.isclose(got64, expected64, rtol=_RTOL, atol=_ATOL, equal_nan=False)
    if bool(close.all()):
        return ""
    wrong = (~close).nonzero()
    i, j = (int(v) for v in wrong[0])
    return (
        f"entry [{i}, {j}] ({axes[0]} {i}, {axes[1]} {j}) is {float(got64[i, j]):.6g}, "
        f"expected {float(expected64[i, j]):.6g}"
        f" ({len(wrong)} of {got.numel()} entries differ)."
    )


def _same(a: Any, b: Any) -> bool:
    """Whether two outputs are equal (NaN equal to NaN), for matching a mistake."""
    if a is None or b is None or tuple(a.shape) != tuple(b.shape):
        return False
    return bool(torch.isclose(a.double(), b.double(), rtol=_RTOL, atol=_ATOL, equal_nan=True).all())
