#!/usr/bin/env python
"""Execute the teaching notebooks and store their outputs (``make notebooks``).

The ``notebooks/NN_*.py`` files (jupytext py:percent) are the source of truth.
For each notebook this script

1. syncs ``.py`` -> ``.ipynb`` with jupytext (cell sources from the ``.py``,
   outputs kept where a cell did not change), so even a failing notebook
   leaves a pair in sync,
2. executes it with nbclient in a fresh ``python3`` kernel, cwd ``notebooks/``,
   in full mode (``PROXYGML_SMOKE=0``) or, with ``--smoke``, in smoke mode,
3. writes the executed notebook to the ``.ipynb`` atomically (temp file +
   ``os.replace``) and re-writes the ``.py`` from it, so the pair stays in sync.
   Cell ids and widget model ids (random in every kernel) are replaced by
   ids derived from the notebook's name and their order
   (:func:`stable_ids`), so re-running an unchanged notebook gives an
   unchanged file and a review diff shows only what really changed.

Usage::

    python scripts/execute_notebooks.py                 # full run, write outputs + figures/
    python scripts/execute_notebooks.py 03 05           # only notebooks whose name starts so
    python scripts/execute_notebooks.py --smoke --check # quick check, writes nothing

Only a full run without ``--check`` writes: ``--smoke`` and ``--check`` leave
the notebooks alone and send the figures to a temporary folder (smoke outputs
must never be committed). ``--check`` also fails when a ``.py``/``.ipynb``
pair is out of sync. The exit status is 1 when a notebook fails (or, with
``--check``, is out of sync), else 0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from queue import Empty

import jupytext
import nbformat
from jupytext.combine import combine_inputs_with_outputs
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
KERNEL = "python3"
FORMATS = "ipynb,py:percent"


def notebook_sources(directory: Path | None = None) -> list[Path]:
    """The ``NN_*.py`` sources of ``directory`` (default ``notebooks/``), in order."""
    return sorted((directory or NOTEBOOKS).glob("[0-9][0-9]_*.py"))


def read_source(py_path: Path) -> nbformat.NotebookNode:
    """The notebook described by a py:percent file, with pairing and kernel metadata set."""
    nb = jupytext.read(py_path, fmt="py:percent")
    nb.metadata.setdefault("jupytext", {})["formats"] = FORMATS
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": KERNEL}
    return nb


def cell_sources(nb) -> list[tuple[str, str]]:
    """``(cell_type, source)`` of every cell, the part that must agree between a pair."""
    return [(cell.cell_type, cell.source) for cell in nb.cells]


def pair_in_sync(py_path: Path) -> bool:
    """True when the ``.ipynb`` next to ``py_path`` exists and has the same cell sources."""
    ipynb = py_path.with_suffix(".ipynb")
    if not ipynb.exists():
        return False
    return cell_sources(jupytext.read(py_path, fmt="py:percent")) == cell_sources(jupytext.read(ipynb))


_SOLUTION_BLOCK = re.compile(r"<details><summary>[^<]*Solution[^<]*</summary>(.*?)</details>", re.S | re.I)
_PYTHON_FENCE = re.compile(r"```python\n(.*?)```", re.S)


def solution_code(nb) -> list[str]:
    """The Python code of every exercise solution (the ```python blocks of ``<details>`` solution blocks), in order."""
    blocks = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for details in _SOLUTION_BLOCK.findall(cell.source):
            blocks += [code.strip() + "\n" for code in _PYTHON_FENCE.findall(details)]
    return blocks


def with_solutions(nb) -> nbformat.NotebookNode:
    """A copy of ``nb`` with each solution's code appended as a code cell (tagged ``solution``), run after the notebook."""
    copy = copy_notebook(nb)
    for code in solution_code(nb):
        copy.cells.append(nbformat.v4.new_code_cell(code, metadata={"tags": ["solution"]}))
    return copy


def copy_notebook(nb) -> nbformat.NotebookNode:
    """A deep copy of ``nb``."""
    return nbformat.reads(nbformat.writes(nb), as_version=4)


def kernel_environment(smoke: bool, figures_dir: Path | None) -> dict[str, str]:
    """The kernel's environment: smoke flag, figures folder, no colour codes in tracebacks."""
    env = dict(os.environ)
    env["PROXYGML_SMOKE"] = "1" if smoke else "0"
    if smoke:
        env["CI"] = "true"
    if figures_dir is not None:
        env["PROXYGML_FIGURES_DIR"] = str(figures_dir)
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    env.pop("JPY_PARENT_PID", None)
    return env


#: How long one poll of the kernel's shell socket may wait (see :class:`_ShortShellPolls`).
SHELL_POLL_S = 1.0


class _ShortShellPolls(NotebookClient):
    """nbclient, waiting for each cell's reply in polls of :data:`SHELL_POLL_S` seconds rather than one long poll.

    After a cell that shows an ipywidgets ``Output`` widget (this package's widgets draw into one), pyzmq's asyncio
    poll of the shell socket sometimes misses the wake-up of the cell's reply. The kernel is idle and the reply is
    queued, but the poll returns only when its timeout ends: the whole cell timeout, 600 s, and then the run goes on
    without an error (jupyter/nbclient#312). A short poll that is repeated until the same deadline bounds that stall
    at one poll; a timeout still comes at the cell's deadline.
    """

    async def async_start_new_kernel_client(self):
        client = await super().async_start_new_kernel_client()
        shell, one_long_poll = client.shell_channel, client.shell_channel.get_msg

        async def get_msg(timeout: float | None = None):
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                left = SHELL_POLL_S if deadline is None else max(0.0, deadline - time.monotonic())
                try:
                    return await one_long_poll(timeout=min(SHELL_POLL_S, left))
                except Empty:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise

        shell.get_msg = get_msg
        return client


def execute(nb, *, smoke: bool, figures_dir: Path | None = None, cwd: Path = NOTEBOOKS, timeout: int = 600):
    """Execute ``nb`` in place in a fresh kernel; raises ``CellExecutionError`` on the first failing cell.

    The widgets' state (their last drawing) is stored in the notebook, so a
    saved copy shows them until the kernel runs again. (nbclient 0.10/0.11
    also needs it: with ``store_widget_state=False`` its Output-widget hook
    fails with a ``KeyError``.)
    """
    client = _ShortShellPolls(
        nb,
        kernel_name=KERNEL,
        timeout=timeout,
        resources={"metadata": {"path": str(cwd)}},
        store_widget_state=True,
        record_timing=False,
        # quiet the kernel's own log (TCP warning, "KeyboardInterrupt caught" at shutdown); cell errors still surface
        extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
    )
    client.execute(env=kernel_environment(smoke, figures_dir))
    return nb


def _write_atomically(nb, path: Path, fmt: str) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        jupytext.write(nb, temporary, fmt=fmt)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def sync_pair(py_path: Path) -> None:
    """``.py`` -> ``.ipynb``: the cell sources of the ``.py``, the outputs the ``.ipynb`` had for them."""
    nb = read_source(py_path)
    ipynb = py_path.with_suffix(".ipynb")
    if ipynb.exists():
        nb = combine_inputs_with_outputs(nb, jupytext.read(ipynb), fmt="py:percent")
    _write_atomically(nb, ipynb, "ipynb")


_WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
_MODEL_ID = re.compile(r"[0-9a-f]{32}")


def stable_ids(nb, name: str):
    """``nb`` with reproducible ids: cell ``i`` gets ``cell-<i>``; widget models get hashes of ``name`` and their order.

    Widget models are numbered in the order a reader meets them: the outputs
    of the cells from top to bottom, each model followed by the models it
    references (children, layout, style), then any model no output refers to.
    """
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index:03d}"
    state = nb.metadata.get("widgets", {}).get(_WIDGET_STATE, {}).get("state", {})
    if not state:
        return nb
    order: list[str] = []

    def visit(text: str) -> None:
        for model_id in _MODEL_ID.findall(text):
            if model_id in state and model_id not in order:
                order.append(model_id)
                visit(json.dumps(state[model_id], sort_keys=True))

    for cell in nb.cells:
        visit(json.dumps(cell.get("outputs", []), sort_keys=True))
    for model_id in list(state):
        visit(model_id)
    text = json.dumps(nb)
    for index, model_id in enumerate(order):
        text = text.replace(model_id, hashlib.sha1(f"{name}/widget/{index}".encode()).hexdigest()[:32])
    return nbformat.from_dict(json.loads(text))


def write_pair(nb, py_path: Path) -> None:
    """Write ``nb`` to ``<name>.ipynb`` (with outputs) and ``<name>.py`` (py:percent), each atomically."""
    _write_atomically(nb, py_path.with_suffix(".ipynb"), "ipynb")
    _write_atomically(nb, py_path, "py:percent")


def run_one(py_path: Path, *, smoke: bool, check: bool, write: bool, figures_dir: Path | None, timeout: int) -> bool:
    """Sync, execute and (if ``write``) store one notebook; returns success."""
    name = py_path.stem
    ok = True
    if check and not pair_in_sync(py_path):
        print(f"[out of sync] {name}: {py_path.name} and {name}.ipynb differ; run `make notebooks`", flush=True)
        ok = False
    if write:
        sync_pair(py_path)
    nb = read_source(py_path)
    started = time.perf_counter()
    try:
        execute(nb, smoke=smoke, figures_dir=figures_dir, cwd=py_path.parent, timeout=timeout)
    except CellExecutionError as error:
        print(f"[failed] {name} after {time.perf_counter() - started:.1f}s:\n{error}", flush=True)
        return False
    except Exception as error:  # a dead kernel, a timeout, ... (nbclient may mask them by errors of its cleanup)
        cause = error.__context__ if isinstance(error, AssertionError) and error.__context__ else error
        print(
            f"[failed] {name} after {time.perf_counter() - started:.1f}s: {type(cause).__name__}: {cause}", flush=True
        )
        return False
    seconds = time.perf_counter() - started
    if write:
        write_pair(stable_ids(nb, name), py_path)
        size = py_path.with_suffix(".ipynb").stat().st_size
        print(f"[ok] {name}: {seconds:.1f}s, {size / 1e6:.2f} MB written", flush=True)
    else:
        print(f"[ok] {name}: {seconds:.1f}s", flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("only", nargs="*", help="run only notebooks whose name starts with one of these (e.g. 03)")
    parser.add_argument(
        "--smoke", action="store_true", help="smoke mode (fewer training steps), as the tests run; writes nothing"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing (figures to a temporary folder); also fail on out-of-sync pairs",
    )
    parser.add_argument("--timeout", type=int, default=600, help="seconds allowed per cell (default 600)")
    parser.add_argument(
        "--dir", type=Path, default=NOTEBOOKS, help="folder of the NN_*.py notebooks (default notebooks/)"
    )
    args = parser.parse_args(argv)

    sources = notebook_sources(args.dir)
    if args.only:
        sources = [p for p in sources if any(p.stem.startswith(prefix) for prefix in args.only)]
    if not sources:
        print(f"no notebook matches {args.only or '*'} in {args.dir}", file=sys.stderr)
        return 1
    write = not (args.smoke or args.check)
    with tempfile.TemporaryDirectory(prefix="proxygml_figures_") as scratch:
        figures_dir = None if write else Path(scratch)
        results = [
            run_one(p, smoke=args.smoke, check=args.check, write=write, figures_dir=figures_dir, timeout=args.timeout)
            for p in sources
        ]
    failed = [p.stem for p, ok in zip(sources, results) if not ok]
    if failed:
        print(f"{len(failed)} of {len(sources)} notebooks failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"all {len(sources)} notebooks ok", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
