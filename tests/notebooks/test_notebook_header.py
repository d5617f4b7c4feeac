"""The Colab badge and the install cell: the same in every notebook (.ipynb and .py), as scripts/notebook_header.py writes."""

import copy
import fnmatch
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import jupytext
import nbformat
import pytest
from _fabricate import load_script

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NAMES = sorted(p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


header = load_script("notebook_header")


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
    cell = header.install_cell_source()
    assert f'RELEASE = "{header.project()["version"]}"' in cell and 'SOURCE = f"proxygml_lite=={RELEASE}"' in cell
    assert f"https://raw.githubusercontent.com/{header.repository()}/v{{RELEASE}}/" in cell


def test_the_placeholder_owner_is_named_until_a_course_sets_its_fork(capsys):
    """Review of issue 18: the repository URL is set in one place, and its placeholder owner is never silent."""
    owner = header.repository().split("/")[0]
    note = header.placeholder_note()
    assert (note is not None) == (owner == header.PLACEHOLDER_OWNER)
    if note is not None:
        assert "pyproject.toml" in note and "fork" in note and "\n" not in note
    readme = (ROOT / "README.md").read_text()
    assert "Before publishing a course, set its repository" in readme and "[project.urls] Source" in readme


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
    student = load_script("student_edition")
    nb = nbformat.read(NOTEBOOK_DIR / f"{NAMES[0]}.ipynb", as_version=4)
    result, _, _ = student.student_notebook(nb, NAMES[0])
    assert result.cells[1].source == header.install_cell_source()


def test_the_colab_constraints_are_the_tested_versions_less_what_colab_provides():
    """Review of issue 18: on Colab, constraints.txt would replace Colab's own torch and IPython."""
    tested = (ROOT / "constraints.txt").read_text()
    colab = (ROOT / "constraints-colab.txt").read_text()
    assert colab == header.colab_constraints(tested), "run python scripts/notebook_header.py"
    pins = [line for line in tested.splitlines() if line and not line.startswith("#")]
    kept = [line for line in colab.splitlines() if line and not line.startswith("#")]
    left_out = {line.split("==")[0].lower() for line in pins} - {line.split("==")[0].lower() for line in kept}
    assert {"torch", "torchvision", "ipython", "ipykernel", "triton", "numpy", "pandas", "scipy"} <= left_out
    normalised = {header.requirement_name(name) for name in left_out}
    assert all(any(fnmatch.fnmatchcase(name, p) for p in header.COLAB_PROVIDES) for name in normalised), left_out
    assert {"umap-learn", "seaborn", "ipywidgets", "jupyterlab"} <= {line.split("==")[0].lower() for line in kept}
    assert [line for line in pins if line.split("==")[0].lower() not in left_out] == kept  # the rest, in order


# ---------------------------------------------------------------- the install branch, for real, in a fresh environment


def _fresh_environment(tmp_path: Path, *, with_dependencies: bool) -> Path:
    """The python of a new virtual environment without proxygml_lite (and without pip of its own).

    ``with_dependencies``: it sees this environment's packages (pip, torch, ...) except proxygml_lite, through a
    ``.pth`` file naming a folder of links to them, so pip resolves the tested versions without a network.
    """
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    if with_dependencies:
        links = tmp_path / "dependencies"
        links.mkdir()
        for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
            if not entry.name.startswith(("proxygml_lite", "__editable__")) and entry.suffix != ".pth":
                (links / entry.name).symlink_to(entry)
        site = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True, timeout=120,
        ).stdout.strip()  # fmt: skip
        (Path(site) / "dependencies.pth").write_text(f"{links}\n")
    return python


def _install_cell(source: str | None = None, constraints: str | None = None) -> str:
    """The install cell with its SOURCE and CONSTRAINTS lines set, as a course or a student would set them."""
    cell = header.install_cell_source()
    for name, value in (("SOURCE", source), ("CONSTRAINTS", constraints)):
        if value is not None:
            cell, count = re.subn(rf"^{name} = .*$", f"{name} = {value!r}", cell, flags=re.M)
            assert count == 1, name
    return cell


def _run_cell(python: Path, cell: str, folder: Path, **env) -> subprocess.CompletedProcess:
    """The cell run by ``python`` in ``folder`` (a bare folder outside this checkout), offline."""
    folder.mkdir(exist_ok=True)
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "COLAB_RELEASE_TAG")}
    clean.update(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_CONFIG_FILE=os.devnull, **env)
    return subprocess.run([str(python), "-c", cell], cwd=folder, env=clean, capture_output=True, text=True, timeout=600)


def _other_release_wheel(folder: Path, release: str) -> Path:
    """A minimal wheel of ``proxygml_lite`` at another ``release`` (an older course, a wrong SOURCE)."""
    info = f"proxygml_lite-{release}.dist-info"
    files = {
        "proxygml_lite/__init__.py": f"__version__ = {release!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: proxygml_lite\nVersion: {release}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{info}/RECORD"] = "".join(f"{name},,\n" for name in [*files, f"{info}/RECORD"])
    path = folder / f"proxygml_lite-{release}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return path


def _one_line(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("Install cell: ") and line.endswith("and run the cell again."), line
    return line


def test_a_failing_install_is_one_line_naming_what_failed_and_the_fix(tmp_path):
    """Review of issue 18: a failing pip gave a CalledProcessError traceback."""
    python = _fresh_environment(tmp_path, with_dependencies=True)
    missing = str(tmp_path / "nowhere" / "proxygml_lite-0.1.0-py3-none-any.whl")
    done = _run_cell(python, _install_cell(missing, str(ROOT / "constraints.txt")), tmp_path / "course")
    assert done.stdout == f"installing: {missing} -c {ROOT / 'constraints.txt'}\n"
    line = _one_line(done)
    assert line.startswith(f"Install cell: pip could not install {missing} (ERROR"), line
    assert "check SOURCE and CONSTRAINTS" in line


@pytest.mark.parametrize("colab", ["no", "COLAB_RELEASE_TAG", "google.colab"])
def test_on_colab_the_cell_leaves_colabs_torch_and_ipython_in_place(tmp_path, colab):
    """On Colab (its module or its environment variable) the cell passes constraints-colab.txt to pip."""
    python = _fresh_environment(tmp_path, with_dependencies=False)  # no pip at all: pip fails at once
    cell = _install_cell()
    if colab == "google.colab":  # as in a Colab kernel, where the module is imported before any cell
        cell = "import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')\n" + cell
    done = _run_cell(
        python, cell, tmp_path / "course", **({"COLAB_RELEASE_TAG": "x"} if colab == "COLAB_RELEASE_TAG" else {})
    )
    release, url = header.project()["version"], f"https://raw.githubusercontent.com/{header.repository()}"
    expected = "constraints.txt" if colab == "no" else "constraints-colab.txt"
    assert done.stdout == f"installing: proxygml_lite=={release} -c {url}/v{release}/{expected}\n"
    assert "No module named pip" in _one_line(done)


def test_the_install_cell_installs_the_wheel_at_the_pinned_release_and_then_finds_it(wheel, tmp_path):
    """The install branch for real: SOURCE the built wheel, CONSTRAINTS the local constraints.txt, a bare folder.

    A SOURCE of another release stops in one line; an installed other release is replaced; the installed release
    is then found, and the cell installs nothing.
    """
    python = _fresh_environment(tmp_path, with_dependencies=True)
    release, constraints = header.project()["version"], str(ROOT / "constraints.txt")
    course = tmp_path / "course"
    old = _other_release_wheel(tmp_path, "0.0.1")
    wrong = _one_line(_run_cell(python, _install_cell(str(old), constraints), course))
    assert wrong == (
        f"Install cell: {old} installed proxygml_lite 0.0.1, not {release}; "
        f"point SOURCE at release {release} and run the cell again."
    )
    done = _run_cell(python, _install_cell(str(wheel), constraints), course)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"proxygml_lite 0.0.1 is installed, this course uses {release}: replacing it.",
        f"installing: {wheel} -c {constraints}",
        f"installed proxygml_lite {release} from {wheel}; the committed study tables come with it.",
    ]
    where = _run_cell(python, "import proxygml_lite; print(proxygml_lite.__file__, proxygml_lite.__version__)", course)
    assert where.returncode == 0, where.stderr
    assert where.stdout.startswith(str(tmp_path / "venv")) and where.stdout.split()[-1] == release
    again = _run_cell(python, _install_cell(str(wheel), constraints), course)
    assert again.returncode == 0 and again.stdout == header.ALREADY_THERE.format(version=release), again
