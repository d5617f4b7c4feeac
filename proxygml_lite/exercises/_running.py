"""Calling the student's function: a time limit, its prints capped, its exceptions and ``exit()`` caught.

Every call of the student's function goes through :func:`_call_student`: at most
:data:`TIME_LIMIT_S` seconds (an endless loop is stopped and reported), its prints capped at
:data:`_PRINT_LIMIT` characters, and ``exit()`` / ``sys.exit()`` reported like an exception.
:func:`_student_line` finds the student's line in a traceback; :func:`_has_empty_body` tells a stub
not written yet.
"""

from __future__ import annotations

import ast
import inspect
import io
import os
import signal
import sys
import textwrap
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ._inputs import _Case

#: Seconds one call of the student's function may take (the cases are small: the reference takes milliseconds).
TIME_LIMIT_S = 10.0

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
    """``fn(*inputs)`` within :data:`TIME_LIMIT_S`, its prints captured (capped); never raises but Ctrl-C.

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
        signal.setitimer(signal.ITIMER_REAL, TIME_LIMIT_S)
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
        worker.join(TIME_LIMIT_S)
        call.timed_out = worker.is_alive()
        if call.timed_out:
            sys.stdout = stdout  # the abandoned call still holds the redirection: take the checker's prints back
    call.printed = output.shown()
    return call


def _took_too_long(title: str, case: _Case) -> str:
    return (
        f"✗ {title}, case '{case.name}' ({case.describe()}): your function took longer than {TIME_LIMIT_S:g} s "
        "and was stopped. Look for a loop that never ends (a `while` whose condition never changes), "
        "or a loop over more than the inputs' rows and columns."
    )


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


def _student_line(error: BaseException) -> str:
    """The innermost line of the traceback outside this package and torch: the student's line that raised."""
    library = tuple(
        os.path.join(str(Path(folder).resolve()), "") for folder in (Path(__file__).parent, Path(torch.__file__).parent)
    )
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if not os.path.realpath(frame.filename).startswith(library):
            return f"  at line {frame.lineno} of {frame.name}(): {frame.line}"
    return ""


def _first_line(error: BaseException) -> str:
    """The error's message, cut to its first line (torch's dispatcher errors run to 100 lines)."""
    lines = str(error).strip().splitlines()
    return lines[0] + (" …" if len(lines) > 1 else "") if lines else ""
