"""What every checker shares: the cases, running the student's function, comparing, messages and hints.

:func:`_check` runs the student's function on each case (catching its exceptions, noticing inputs
changed in place), compares it with the reference and prints the verdict; :func:`_diagnose` finds the
typical mistake (a :class:`_Diagnosis`) that reproduces a wrong output, to print its hint.

Every call of the student's function goes through :func:`_call_student`: at most
:data:`_TIME_LIMIT_S` seconds (an endless loop is stopped and reported), its prints capped at
:data:`_PRINT_LIMIT` characters, and ``exit()`` / ``sys.exit()`` reported like an exception.
"""

from __future__ import annotations

import ast
import inspect
import io
import math
import os
import signal
import sys
import textwrap
import threading
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

# float32 inputs: agreement to 1e-5 is "the same" (the official 1e-8 in the
# mask softmax is far below it, so a student may leave it out except on an empty row).
_ATOL = 1e-5
_RTOL = 1e-4


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


@dataclass
class _Diagnosis:
    """A typical mistake, written as code, and the hint to print when the student's output equals its output."""

    mistake: Callable[..., Any]
    hint: str


#: Seconds one call of the student's function may take (the cases are small: the reference takes milliseconds).
_TIME_LIMIT_S = 10.0
#: Characters of the student's own prints shown per call; the rest is counted, not shown.
_PRINT_LIMIT = 2000


class _TookTooLong(BaseException):
    """Raised into the student's function when it passes the time limit (a BaseException: ``except Exception``
    in the student's code does not swallow it)."""


class _CappedOutput(io.StringIO):
    """A stdout that keeps the first ``limit`` characters and counts the rest."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.left_out = 0

    def write(self, text: str) -> int:
        room = max(self.limit - self.tell(), 0)
        super().write(text[:room])
        self.left_out += max(len(text) - room, 0)
        return len(text)

    def shown(self) -> str:
        text = self.getvalue()
        if self.left_out:
            text += f"\n… ({self.left_out} more characters printed by your function left out)\n"
        return text


@dataclass
class _Call:
    """What one call of the student's function gave: ``result``, or ``error`` (``None`` when it returned), or
    ``timed_out``; ``printed``: its prints, capped."""

    result: Any = None
    error: BaseException | None = None
    timed_out: bool = False
    printed: str = ""


def _call_student(fn: Callable[..., Any], inputs: list[Any]) -> _Call:
    """``fn(*inputs)`` within :data:`_TIME_LIMIT_S`, its prints captured (capped); never raises but Ctrl-C.

    On the main thread a ``SIGALRM`` timer interrupts a Python loop that does not end; elsewhere
    (no signals) the call runs in a daemon thread that is abandoned at the limit.
    """
    output = _CappedOutput(_PRINT_LIMIT)
    call = _Call()

    def run() -> None:
        # Not contextlib.redirect_stdout: a call abandoned at the time limit (off the main thread) ends later, and
        # its redirection would then put back a stdout that is long gone (a closed capture). Restore only while
        # the stdout is still ours.
        previous, sys.stdout = sys.stdout, output
        try:
            call.result = fn(*inputs)
        except _TookTooLong:
            call.timed_out = True
        except (Exception, SystemExit) as error:  # the student's bug, or an exit(): reported, never raised
            call.error = error
        finally:
            if sys.stdout is output:
                sys.stdout = previous

    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):

        def on_alarm(signum, frame):
            raise _TookTooLong

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, _TIME_LIMIT_S)
        try:
            run()
        except _TookTooLong:  # the alarm came just after the function returned
            call.timed_out = call.error is None and call.result is None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    else:
        stdout = sys.stdout
        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(_TIME_LIMIT_S)
        call.timed_out = worker.is_alive()
        if call.timed_out:
            sys.stdout = stdout  # the abandoned call still holds the redirection: take the checker's prints back
    call.printed = output.shown()
    return call


def _took_too_long(title: str, case: _Case) -> str:
    return (
        f"✗ {title}, case '{case.name}' ({case.describe()}): your function took longer than {_TIME_LIMIT_S:g} s "
        "and was stopped. Look for a loop that never ends (a `while` whose condition never changes), "
        "or a loop over more than the inputs' rows and columns."
    )


def _format(value: torch.Tensor) -> str:
    if value.dtype in (torch.bool, torch.int64, torch.int32):
        return str(value.tolist())
    rows = value.detach().double().reshape(-1, value.shape[-1]) if value.dim() else value.reshape(1, 1)
    text = ", ".join("[" + ", ".join(f"{x:.3f}" for x in row.tolist()) + "]" for row in rows)
    return f"[{text}]" if value.dim() > 1 else text


_WRITE_IT = "Write its body, then run this cell again."


def _has_empty_body(fn: Callable[..., Any]) -> bool:
    """Whether ``fn``'s body, after its docstring, is only ``...`` or ``pass``: a stub not written yet."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):  # no source (a builtin, a lambda in a string): not a stub
        return False
    node = tree.body[0] if tree.body else None
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:] if isinstance(body[0].value.value, str) else body
    return all(
        isinstance(s, ast.Pass)
        or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant) and s.value.value is ...)
        for s in body
    )


def _print(lines: list[str]) -> None:
    print("\n".join(line for line in lines if line))


def _student_line(error: BaseException) -> str:
    """The innermost line of the traceback outside this package and torch: the student's line that raised."""
    library = tuple(
        os.path.join(str(Path(folder).resolve()), "") for folder in (Path(__file__).parent, Path(torch.__file__).parent)
    )
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if not os.path.realpath(frame.filename).startswith(library):
            return f"  at line {frame.lineno} of {frame.name}(): {frame.line}"
    return ""


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


def _check(
    step: str,
    fn: Callable[..., Any],
    cases: list[_Case],
    reference: Callable[..., torch.Tensor],
    compare: Callable[[torch.Tensor, torch.Tensor, _Case], str],
    diagnoses: list[_Diagnosis],
    same: Callable[[Any, Any, _Case], bool],
    generic_hint: str,
    what: str,
) -> bool:
    """Run ``fn`` on every case, stop at the first one that differs from ``reference``, print, return the verdict."""
    title = f"check_{step}"
    if not callable(fn):
        print(f"✗ {title}: expected a function, got a {type(fn).__name__}. Pass the function itself, without ().")
        return False
    if _has_empty_body(fn):
        print(f"✗ {title}: not implemented yet (your function's body is only `...` or `pass`). {_WRITE_IT}")
        return False
    for case in cases:
        inputs = case.copies()
        call = _call_student(fn, inputs)
        print(call.printed, end="")
        result, error = call.result, call.error
        if call.timed_out:
            print(_took_too_long(title, case))
            return False
        if isinstance(error, NotImplementedError):
            print(f"✗ {title}: not implemented yet (your function raised NotImplementedError). {_WRITE_IT}")
            return False
        if isinstance(error, SystemExit):
            print(
                f"✗ {title}, case '{case.name}': your function called exit() / sys.exit() ({error.code!r}). "
                f"A step returns its result ({what}); remove the exit() call."
            )
            return False
        if error is not None:  # the student's bug, reported, never raised
            _print(
                [
                    f"✗ {title}, case '{case.name}' ({case.describe()}):",
                    f"  your function raised {type(error).__name__}: {_first_line(error)}",
                    _student_line(error),
                    case.show_small_inputs(),
                ]
            )
            return False
        changed = [
            name
            for name, before, after in zip(case.args, case.args.values(), inputs)
            if torch.is_tensor(before) and not torch.equal(before, after)
        ]
        if changed:
            _print(
                [
                    f"✗ {title}, case '{case.name}': your function changed its input {', '.join(changed)} in place.",
                    "  Hint: a step must leave its inputs alone (the next step still needs them); write "
                    "`x = x + ...` instead of `x += ...` or `x[...] = ...`, or work on `x.clone()`.",
                ]
            )
            return False
        got, problem = _as_tensor(result, what)
        if got is None:
            print(f"✗ {title}, case '{case.name}': {problem}")
            return False
        expected = reference(*case.copies())
        try:
            difference = compare(got, expected, case)
        except Exception as error:  # an output too odd to compare is still the student's, never a crash
            difference = f"your output (shape {tuple(got.shape)}, {got.dtype}) cannot be compared: {error}"
        if difference:
            hint = (
                _diagnose(fn, case, cases, diagnoses, same, what)
                or _dtype_hint(got, expected, what)
                or _nan_hint(got, expected, what)
                or generic_hint
            )
            _print(
                [
                    f"✗ {title}, case '{case.name}' ({case.describe()}):",
                    f"  {difference}",
                    case.show_small_inputs(),
                    f"  Hint: {hint}",
                ]
            )
            return False
    names = "; ".join(case.name for case in cases)
    print(
        f"✓ {title}: your function agrees with proxygml_lite.steps.{step} on all {len(cases)} cases "
        f"({names}). Well done!"
    )
    return True


def _first_line(error: BaseException) -> str:
    """The error's message, cut to its first line (torch's dispatcher errors run to 100 lines)."""
    lines = str(error).strip().splitlines()
    return lines[0] + (" …" if len(lines) > 1 else "") if lines else ""


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
