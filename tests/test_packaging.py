"""The built wheel: every non-Python file of the package ships, and the installed copy works on its own."""

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "proxygml_lite"


def _package_data_files() -> set[str]:
    """Non-Python files under proxygml_lite/ that git would ship (no caches, no compiled files)."""
    found = set()
    for path in PACKAGE.rglob("*"):
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts:
            found.add(path.relative_to(ROOT).as_posix())
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """Build the wheel from a copy of the sources (the build writes build/ and *.egg-info next to them)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(PACKAGE, source / "proxygml_lite", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(source),
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(work / "dist"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (built,) = (work / "dist").glob("proxygml_lite-*.whl")
    return built


def test_the_wheel_holds_every_non_python_file_of_the_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = _package_data_files()
    assert "proxygml_lite/resources/paper_results.csv" in expected
    assert expected <= names, sorted(expected - names)
    assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n]


def test_the_installed_copy_loads_the_papers_tables_and_knows_its_version(wheel, tmp_path):
    target = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    script = (
        "import json, proxygml_lite\n"
        "from proxygml_lite.studies.paper import paper_ablation, paper_comparison, paper_results\n"
        "print(json.dumps({'file': proxygml_lite.__file__, 'version': proxygml_lite.__version__,\n"
        "                  'rows': len(paper_results()), 'ablation': len(paper_ablation()),\n"
        "                  'comparison': len(paper_comparison())}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(target)  # the installed copy only, not this checkout (cwd is elsewhere too)
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr[-3000:]
    facts = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(facts["file"]).is_relative_to(target)
    assert facts["version"] == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert facts["ablation"] == 8 and facts["comparison"] > 0 and facts["rows"] > 0


def test_a_notebook_runs_from_the_installed_copy_and_writes_beside_itself(wheel, tmp_path, monkeypatch):
    """Notebook 01 executed against the wheel only: its figures go to figures/ beside it, never into the package."""
    import importlib.util

    import nbformat

    target = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    spec = importlib.util.spec_from_file_location("_execute_notebooks", ROOT / "scripts" / "execute_notebooks.py")
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    course = tmp_path / "course"
    course.mkdir()
    source = shutil.copy(ROOT / "notebooks" / "01_proxies_and_similarity_graph.py", course)
    before = sorted(p.relative_to(target) for p in target.rglob("*") if "__pycache__" not in p.parts)
    monkeypatch.setenv("PYTHONPATH", str(target))  # the kernel imports the installed copy, not this checkout
    monkeypatch.delenv("PROXYGML_FIGURES_DIR", raising=False)
    monkeypatch.delenv("CI", raising=False)
    nb = runner.read_source(Path(source))
    nb.cells.append(nbformat.v4.new_code_cell("import proxygml_lite\nprint('imported from', proxygml_lite.__file__)"))
    runner.execute(nb, smoke=False, cwd=course, timeout=300)
    printed = "".join(o.get("text", "") for cell in nb.cells for o in cell.get("outputs", []))
    assert "mode=full" in printed and str(ROOT) not in printed
    assert f"imported from {target}" in printed
    assert (course / "figures" / "01_toy_circle.png").is_file()
    after = sorted(p.relative_to(target) for p in target.rglob("*") if "__pycache__" not in p.parts)
    assert after == before, "the notebook wrote inside the installed package"
