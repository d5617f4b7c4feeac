"""The hints: which typical mistake (a :class:`_Diagnosis`) reproduces a wrong output, else a dtype or NaN hint.

:func:`_diagnose` runs every typical mistake, written as code, on the cases and picks the one that
reproduces the student's output; :func:`_dtype_hint` and :func:`_nan_hint` cover what no mistake explains.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ._comparing import _as_tensor
from ._inputs import _Case
from ._running import _call_student


@dataclass
class _Diagnosis:
    """A typical mistake, written as code, and the hint to print when the student's output equals its output."""

    mistake: Callable[..., Any]
    hint: str


def _dtype_hint(got: torch.Tensor, expected: torch.Tensor, what: str) -> str:
    """A hint for integers or booleans where floats belong."""
    if expected.is_floating_point() and got.dtype == torch.bool:
        return f"your output is a boolean tensor (a mask?); {what} holds floats: convert with .float() where needed."
    if expected.is_floating_point() and not got.is_floating_point():
        return (
            f"your output is an integer tensor ({got.dtype}); {what} holds floats: look for // (integer "
            "division), torch.arange or a tensor built from Python ints without dtype=torch.float32."
        )
    return ""


def _nan_hint(got: torch.Tensor, expected: torch.Tensor, what: str) -> str:
    """A hint for NaN entries where the reference has numbers."""
    if got.is_floating_point() and tuple(got.shape) == tuple(expected.shape):
        nan = got.isnan() & ~expected.double().isnan()
        if bool(nan.any()):
            first = [int(v) for v in nan.nonzero()[0]]
            return (
                f"your output holds NaN ({int(nan.sum())} entries, the first at {first}) where {what} has numbers: "
                "NaN comes from 0/0 (a row with nothing to sum), log(0) or inf - inf."
            )
    return ""


def _run_quietly(function: Callable[..., Any], case: _Case, what: str) -> torch.Tensor | None:
    """``function`` on a fresh copy of the case, its prints and exceptions swallowed (None on an exception)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        call = _call_student(function, case.copies())
    if call.timed_out or call.error is not None:
        return None
    try:
        return _as_tensor(call.result, what)[0]
    except Exception:
        return None


def _diagnose(fn, failing: _Case, cases: list[_Case], diagnoses: list[_Diagnosis], same, what: str) -> str:
    """The hint of the typical mistake that reproduces the student's output.

    A mistake must reproduce it on the failing case; when several do (a small example cannot tell
    every mistake apart), the one that reproduces it on the most cases wins.
    """
    student = [_run_quietly(fn, case, what) for case in cases]
    failing_index = cases.index(failing)
    best, best_score = "", 0

    def matches(a, b, case) -> bool:
        if a is not None and b is not None and (a.dtype == torch.bool) != (b.dtype == torch.bool):
            return False  # a boolean mask is not "the same" as a float mistake that happens to hold 0s and 1s
        try:
            return bool(same(a, b, case))
        except Exception:
            return False

    for diagnosis in diagnoses:
        mistaken = [_run_quietly(diagnosis.mistake, case, what) for case in cases]
        if not matches(student[failing_index], mistaken[failing_index], failing):
            continue
        score = sum(matches(a, b, case) for a, b, case in zip(student, mistaken, cases))
        if score > best_score:
            best, best_score = diagnosis.hint, score
    return best
