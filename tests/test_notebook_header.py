"""The Colab badge and the install cell: the same in every notebook (.ipynb and .py), as scripts/notebook_header.py writes."""

import copy
import importlib.util
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NAMES = sorted(p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


header = _load("_notebook_header", ROOT / "scripts" / "notebook_header.py")


def test_every_notebook_is_there():
    assert len(NAMES) == 11


def _contents(nb):
    return [(c.cell_type, c.source, c.get("outputs"), c.get("execution_count")) for c in nb.cells]


@pytest.mark.parametrize("name", NAMES)
def test_notebook_holds_the_badge_and_the_install_cell(name):
    for nb in (nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4), jupytext.read(NOTEBOOK_DIR / f"{name}.py")):
        assert header.badge(f"{name}.ipynb") in nb.cells[0].source.splitlines()[2]
        assert nb.cells[1].cell_type == "code" and nb.cells[1].source == header.install_cell_source()
    ipynb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    again = header.with_header(copy.deepcopy(ipynb), f"{name}.ipynb")
    assert _contents(again) == _contents(ipynb), "run python scripts/notebook_header.py"


def test_the_badges_point_at_the_one_repository_constant():
    url = header.project()["urls"]["Source"]
    assert url.startswith("https://github.com/")
    assert f"colab.research.google.com/github/{header.repository()}/blob/main/notebooks/01_" in header.badge("01_x")
    assert f'SOURCE = "proxygml_lite=={header.project()["version"]}"' in header.install_cell_source()


def test_the_readme_lists_every_notebook_with_its_badge():
    assert header.readme_badges() in (ROOT / "README.md").read_text()


def test_the_install_cell_does_nothing_in_this_checkout_and_says_so_in_one_line():
    """Run from notebooks/ as a kernel would; its output is the one committed in every notebook."""
    done = subprocess.run(
        [sys.executable, "-c", header.install_cell_source()], cwd=NOTEBOOK_DIR, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == header.ALREADY_THERE.format(version=header.project()["version"])
    committed = nbformat.read(NOTEBOOK_DIR / f"{NAMES[0]}.ipynb", as_version=4).cells[1].outputs
    assert [o["text"] for o in committed] == [done.stdout]


def test_the_student_edition_keeps_the_install_cell():
    student = _load("_student_edition", ROOT / "scripts" / "student_edition.py")
    nb = nbformat.read(NOTEBOOK_DIR / f"{NAMES[0]}.ipynb", as_version=4)
    result, _, _ = student.student_notebook(nb, NAMES[0])
    assert result.cells[1].source == header.install_cell_source()
