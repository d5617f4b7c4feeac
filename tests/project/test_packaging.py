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
from _fabricate import load_script

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "proxygml_lite"


def _package_data_files() -> set[str]:
    """Non-Python files under proxygml_lite/ that git would ship (no caches, no compiled files)."""
    found = set()
    for path in PACKAGE.rglob("*"):
        if path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts:
            found.add(path.relative_to(ROOT).as_posix())
    return found


def test_the_wheel_holds_every_non_python_file_of_the_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = _package_data_files()
    assert "proxygml_lite/resources/paper_results.csv" in expected
    assert expected <= names, sorted(expected - names)
    assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n]


def test_the_wheel_holds_the_committed_study_tables_and_snapshots(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    committed = {
        "proxygml_lite/" + p.relative_to(ROOT).as_posix()
        for p in (ROOT / "results" / "glyphs_hard").rglob("*")
        if p.is_file() and p.suffix in (".csv", ".npz")
    }
    assert "proxygml_lite/results/glyphs_hard/ablation.csv" in committed
    assert any(n.startswith("proxygml_lite/results/glyphs_hard/snapshots/") for n in committed)
    assert committed <= names, sorted(committed - names)
    assert not [n for n in names if "/regenerating/" in n]  # a regeneration in progress is not shipped


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

    import nbformat

    target = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runner = load_script("execute_notebooks")
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


@pytest.mark.slow
def test_all_eleven_notebooks_run_in_smoke_mode_from_the_wheel_in_a_fresh_environment(wheel, tmp_path):
    """A fresh virtual environment holds the wheel (with the tested versions of constraints.txt) and nothing of this
    checkout; the notebooks, copied into a bare folder, execute there in smoke mode. Notebooks 8-11 read the committed
    results shipped in the wheel; every install cell finds the package and installs nothing."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=600)
    python = venv / "bin" / "python"
    done = subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "-c",
            str(ROOT / "constraints.txt"),
            f"proxygml_lite[notebooks] @ {wheel.as_uri()}",
        ],
        capture_output=True,
        text=True,
        timeout=3000,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    course = tmp_path / "course"
    course.mkdir()
    for source in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        shutil.copy(source, course)
    driver = (
        "import importlib.util, json, sys\n"
        "from pathlib import Path\n"
        f"spec = importlib.util.spec_from_file_location('runner', {str(ROOT / 'scripts' / 'execute_notebooks.py')!r})\n"
        "runner = importlib.util.module_from_spec(spec); spec.loader.exec_module(runner)\n"
        "course = Path.cwd(); report = {}\n"
        "for path in runner.notebook_sources(course):\n"
        "    nb = runner.read_source(path)\n"
        "    try:\n"
        "        runner.execute(nb, smoke=True, figures_dir=course / 'figures', cwd=course, timeout=900)\n"
        "        error = None\n"
        "    except Exception as exc:\n"
        "        error = str(exc)[-2000:]\n"
        "    printed = ''.join(o.get('text', '') for c in nb.cells for o in c.get('outputs', []))\n"
        "    report[path.stem] = {'error': error, 'install': ''.join(o.get('text', '') for o in nb.cells[1].outputs),\n"
        "                         'printed': printed}\n"
        "    print(path.stem, 'ok' if error is None else 'FAILED', flush=True)\n"
        "Path('report.json').write_text(json.dumps(report))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PROXYGML_RESULTS_DIR", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"  # the kernel is the fresh environment's python
    env["CI"] = "true"
    run = subprocess.run([str(python), "-c", driver], capture_output=True, text=True, timeout=6000, env=env, cwd=course)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((course / "report.json").read_text())
    assert len(report) == 11
    failed = {name: facts["error"] for name, facts in report.items() if facts["error"]}
    assert not failed, failed
    for name, facts in report.items():
        assert facts["install"].endswith("is already importable: nothing to install.\n"), (name, facts["install"])
        assert "mode=smoke" in facts["printed"] and str(ROOT) not in facts["printed"], name
    for name in ("08_parameter_study_N_r", "10_ablation_table", "11_efficiency"):  # the committed tables, read
        assert "results/glyphs_hard/" in report[name]["printed"], name
