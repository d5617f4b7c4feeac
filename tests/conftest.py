"""Fixtures shared by the test files; the builders of tiny runs are in ``_fabricate.py``, one copy each.

* ``data_root``: a class-disjoint tiny folder dataset (6 training classes, 4 test classes, 16x16 images),
  made once per test module, with ``TINY_PER_CLASS`` images per class where the module sets it (default 4).
* ``_fabricate.tiny_config`` / ``tiny_argv``: a seconds-long CPU run on it, as a config or a command line;
  a test file states what its runs change with ``functools.partial(tiny_config, ...)``.
* ``_fabricate.tiny_study_settings`` / ``tiny_study_flags``: the same for a study's cells.
* ``wheel``: the built wheel (tests/project/test_packaging.py, tests/notebooks/test_notebook_header.py), once per session.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from _fabricate import make_tiny_folder_dataset

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def wheel(tmp_path_factory):
    """Build the wheel from a copy of the sources (the build writes build/ and *.egg-info next to them)."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "proxygml_lite", source / "proxygml_lite", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    shutil.copytree(ROOT / "results" / "glyphs_hard", source / "results" / "glyphs_hard")
    in_progress = source / "results" / "regenerating" / "glyphs_hard" / "snapshots"  # must stay out of the wheel
    in_progress.mkdir(parents=True)
    (in_progress.parent / "grid.csv").write_text("N,r\n")
    (in_progress / "N1_r0.05_s0.npz").write_bytes(b"")
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


@pytest.fixture(scope="module")
def data_root(request, tmp_path_factory):
    per_class = getattr(request.module, "TINY_PER_CLASS", 4)
    return make_tiny_folder_dataset(tmp_path_factory.mktemp("tiny"), per_class=per_class)
