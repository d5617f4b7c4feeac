#!/usr/bin/env python
"""Write the Colab badge and the install cell at the top of every notebook, and the badges of the README.

One source: the repository URL is ``[project.urls] Source`` and the release is ``[project] version`` of
pyproject.toml. The owner there is the placeholder ``OWNER`` (:data:`PLACEHOLDER_OWNER`) until a course sets it
to its fork; this script says so every time it runs. For each ``notebooks/NN_*.ipynb`` (and its paired ``.py``)
this script

1. puts the Colab badge on the third line of the first cell (after the navigation line),
2. puts the install cell right after the first cell, with the output it gives in this checkout
   (one line, nothing installed), shifting the execution counts by one, as a fresh run would,

writes the badge table of README.md between its ``colab-badges`` markers, and writes ``constraints-colab.txt``:
``constraints.txt`` less the packages Colab provides (:data:`COLAB_PROVIDES`), which the install cell passes to
pip on Colab. Running it again changes nothing; ``tests/notebooks/test_notebook_header.py`` checks that every notebook and
``constraints-colab.txt`` hold exactly what this script writes.

Usage::

    python scripts/notebook_header.py
"""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import tomllib
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
INSTALL_MARKER = "# Install cell"
#: What the install cell prints where the package is already importable (this checkout, an installed wheel).
ALREADY_THERE = "proxygml_lite {version} is already importable: nothing to install.\n"
README_START, README_END = "<!-- colab-badges: start -->", "<!-- colab-badges: end -->"
#: The owner of ``[project.urls] Source`` until a course sets its fork there.
PLACEHOLDER_OWNER = "OWNER"
CONSTRAINTS = ROOT / "constraints.txt"
COLAB_CONSTRAINTS = ROOT / "constraints-colab.txt"
#: What Colab provides and the install cell leaves in place there (names or patterns, as pip normalises them):
#: torch and torchvision, the packages that torch's CUDA build pins to its own versions, the running kernel's stack
#: (IPython, ipykernel, its Jupyter client and server libraries) and the scientific stack that Colab's other
#: packages are built against (NumPy, SciPy, pandas, Matplotlib, Pillow, scikit-learn, Numba). A pin of ours that
#: differs would make pip replace them under the running kernel, and Colab's own packages could break; the floors
#: of pyproject.toml still apply.
COLAB_PROVIDES = (
    "torch", "torchvision", "triton", "nvidia-*", "cuda-*",
    "ipython", "ipykernel", "jupyter-client", "jupyter-core", "traitlets", "tornado", "pyzmq",
    "numpy", "scipy", "pandas", "matplotlib", "pillow", "scikit-learn", "numba", "llvmlite",
)  # fmt: skip


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def repository() -> str:
    """``OWNER/REPO`` of ``[project.urls] Source``."""
    url = project()["urls"]["Source"]
    return re.sub(r"^https://github\.com/", "", url).strip("/")


def badge(name: str) -> str:
    """The Colab badge of notebook ``name`` (its file name)."""
    return f"[![Open In Colab]({BADGE_IMAGE})](https://colab.research.google.com/github/{repository()}/blob/main/notebooks/{name})"


def install_cell_source() -> str:
    """The install cell, the same in every notebook."""
    release, url = project()["version"], f"https://raw.githubusercontent.com/{repository()}"
    return f"""{INSTALL_MARKER}: on Colab, a JupyterHub or in a bare folder it installs proxygml_lite at this course's
# release (the committed study tables come with it); where that release is importable (this course's checkout) it
# does nothing.
import importlib.util
import os
import subprocess
import sys
from importlib.metadata import distributions
from pathlib import Path

RELEASE = "{release}"
SOURCE = f"proxygml_lite=={{RELEASE}}"  # or a wheel's URL or path, or "git+https://github.com/{repository()}@v{release}"
# the tested versions ("" for none); on Colab, the same less the torch, torchvision and IPython that Colab provides
ON_COLAB = "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ
CONSTRAINTS_FILE = "{COLAB_CONSTRAINTS.name}" if ON_COLAB else "{CONSTRAINTS.name}"
CONSTRAINTS = f"{url}/v{{RELEASE}}/{{CONSTRAINTS_FILE}}"


if importlib.util.find_spec("proxygml_lite") is None and Path("../proxygml_lite/__init__.py").is_file():
    sys.path.insert(0, str(Path("..").resolve()))  # a checkout without an installed package: use its copy
importable = importlib.util.find_spec("proxygml_lite") is not None
# the installed release; None where it is not installed (or importable from this checkout only)
installed = next((d.version for d in distributions(name="proxygml_lite")), None)
if importable and installed == RELEASE:
    print(f"proxygml_lite {{RELEASE}} is already importable: nothing to install.")
elif importable and installed is None:
    print("proxygml_lite is importable from this checkout: nothing to install.")
else:
    if importable:
        print(f"proxygml_lite {{installed}} is installed, this course uses {{RELEASE}}: replacing it.")
    command = [sys.executable, "-m", "pip", "install", "-q", SOURCE] + (["-c", CONSTRAINTS] if CONSTRAINTS else [])
    print("installing:", " ".join(command[5:]))
    done = subprocess.run(command, capture_output=True, text=True)
    importlib.invalidate_caches()
    if done.returncode != 0:  # one line: pip's last error, and what to do
        lines = done.stderr.strip().splitlines() or [f"exit status {{done.returncode}}"]
        why = next((line for line in reversed(lines) if line.lower().startswith("error")), lines[-1]).strip()
        raise SystemExit(
            f"Install cell: pip could not install {{SOURCE}} ({{why}}); "
            "check SOURCE and CONSTRAINTS above (this course's wheel or Git URL) and run the cell again."
        )
    installed = next((d.version for d in distributions(name="proxygml_lite")), None)
    if installed != RELEASE:
        raise SystemExit(
            f"Install cell: {{SOURCE}} installed proxygml_lite {{installed}}, not {{RELEASE}}; "
            f"point SOURCE at release {{RELEASE}} and run the cell again."
        )
    print(f"installed proxygml_lite {{RELEASE}} from {{SOURCE}}; the committed study tables come with it.")"""


def requirement_name(line: str) -> str:
    """The normalised project name of a ``name==version`` line (PEP 503: lower case, runs of ``-_.`` as ``-``)."""
    return re.sub(r"[-_.]+", "-", re.split(r"[=<>!~;\[ ]", line.strip(), maxsplit=1)[0]).lower()


def colab_constraints(text: str) -> str:
    """``constraints.txt``'s ``text`` less the packages Colab provides (:data:`COLAB_PROVIDES`), with a header."""
    kept = [
        line
        for line in text.splitlines()
        if line.strip()
        and not line.startswith("#")
        and not any(fnmatch.fnmatchcase(requirement_name(line), pattern) for pattern in COLAB_PROVIDES)
    ]
    header = [
        f"# Generated from {CONSTRAINTS.name} by scripts/notebook_header.py: do not edit. The install cell passes it",
        f"# to pip on Colab: the tested versions less what Colab provides ({', '.join(COLAB_PROVIDES)}).",
    ]
    return "\n".join(header + kept) + "\n"


def placeholder_note() -> str | None:
    """A line saying that ``[project.urls] Source`` still has the placeholder owner, or None once it is set."""
    if repository().split("/")[0] != PLACEHOLDER_OWNER:
        return None
    return (
        f"note: [project.urls] Source in pyproject.toml has the placeholder owner {PLACEHOLDER_OWNER}: "
        "set it to your course's fork before publishing, then run this script again"
    )


def _load_runner():
    spec = importlib.util.spec_from_file_location("_execute_notebooks", ROOT / "scripts" / "execute_notebooks.py")
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    return runner


def with_header(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    """``nb`` with the badge in its first cell and the install cell after it (replaced if already there)."""
    first = nb.cells[0]
    lines = [line for line in first.source.split("\n") if not line.startswith("[![Open In Colab]")]
    text = "\n".join(lines).replace("\n\n\n", "\n\n")
    nav, _, rest = text.partition("\n\n")
    first.source = f"{nav}\n\n{badge(name)}\n\n{rest}"
    cell = nbformat.v4.new_code_cell(install_cell_source())
    cell.execution_count = 1
    cell.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text=ALREADY_THERE.format(version=project()["version"]))
    ]
    if len(nb.cells) > 1 and nb.cells[1].cell_type == "code" and nb.cells[1].source.startswith(INSTALL_MARKER):
        cell.execution_count = nb.cells[1].execution_count
        nb.cells[1] = cell
    else:
        for other in nb.cells[1:]:
            if other.cell_type == "code" and other.execution_count is not None:
                other.execution_count += 1
        nb.cells.insert(1, cell)
    return nb


def readme_badges() -> str:
    rows = [
        f"| [{p.stem}](notebooks/{p.name}) | {badge(p.name)} |" for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    ]
    return "\n".join([README_START, "| Notebook | Open on Colab |", "|---|---|", *rows, README_END])


def main() -> int:
    runner = _load_runner()
    for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")):
        nb = with_header(nbformat.read(path, as_version=4), path.name)
        runner.write_pair(runner.stable_ids(nb, path.stem), path.with_suffix(".py"))
        print(f"  {path.name}")
    readme = (ROOT / "README.md").read_text()
    if README_START in readme:
        readme = re.sub(
            re.escape(README_START) + ".*?" + re.escape(README_END), lambda _: readme_badges(), readme, flags=re.S
        )
        (ROOT / "README.md").write_text(readme)
    else:
        print(f"README.md has no {README_START} marker: put one where the badge table belongs")
    COLAB_CONSTRAINTS.write_text(colab_constraints(CONSTRAINTS.read_text()))
    print(f"  {COLAB_CONSTRAINTS.name}")
    if (note := placeholder_note()) is not None:
        print(note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
