"""The teaching notebooks: structure, .py/.ipynb pairing, committed outputs, and a smoke-mode run of each.

Every notebook is executed top to bottom in a fresh ``python3`` kernel with
``CI=true`` (smoke mode: fewer training steps), cwd ``notebooks/`` and the
figures sent to a temporary folder, through the same code path as
``scripts/execute_notebooks.py``.
"""

import json
import re
from pathlib import Path

import jupytext
import nbformat
import pytest
from _fabricate import load_script
from nbclient.exceptions import CellExecutionError, CellTimeoutError

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
EXPECTED = [
    "01_proxies_and_similarity_graph",
    "02_subgraph_construction",
    "03_reverse_label_propagation",
    "04_mask_softmax_loss_gradients",
    "05_training_on_toy_data",
]
#: The experiment notebooks (issue 11): training runs, studies read from results/, a GPU path.
EXPERIMENTS = [
    "06_training_on_glyphs",
    "07_benchmarks_on_gpu",
    "08_parameter_study_N_r",
    "09_umap_proxies",
    "10_ablation_table",
    "11_efficiency",
]
ALL = EXPECTED + EXPERIMENTS


script = load_script("execute_notebooks")


def _sources(nb, cell_type):
    return [cell.source for cell in nb.cells if cell.cell_type == cell_type]


def test_the_notebooks_exist_as_pairs():
    assert [p.stem for p in script.notebook_sources()] == ALL
    for name in ALL:
        assert (NOTEBOOK_DIR / f"{name}.ipynb").is_file(), f"{name}.ipynb missing: run `make notebooks`"


@pytest.mark.parametrize("name", ALL)
def test_pair_is_in_sync(name):
    from_py = jupytext.read(NOTEBOOK_DIR / f"{name}.py", fmt="py:percent")
    from_ipynb = jupytext.read(NOTEBOOK_DIR / f"{name}.ipynb")
    assert script.cell_sources(from_py) == script.cell_sources(from_ipynb), (
        f"{name}.py and {name}.ipynb differ; the .py is the source: run `make notebooks`"
    )
    assert from_ipynb.metadata["jupytext"]["formats"] == "ipynb,py:percent"
    assert from_ipynb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_structure(name):
    nb = jupytext.read(NOTEBOOK_DIR / f"{name}.py", fmt="py:percent")
    markdown, code = _sources(nb, "markdown"), _sources(nb, "code")
    assert nb.cells[0].cell_type == "markdown"
    assert "Learning goals" in markdown[0] and "Prerequisites" in markdown[0]
    # ruff's import sorting writes "save_figure, setup"; either order is the setup cell
    assert re.fullmatch(
        r"from proxygml_lite\.teaching\.notebook import (setup, save_figure|save_figure, setup)\n\ncfg = setup\(seed=0\)",
        code[1].strip(),  # code[0] is the install cell (tests/notebooks/test_notebook_header.py)
    )
    assert any("## Summary" in m for m in markdown)
    exercises = next(m for m in markdown if m.startswith("## Exercises"))
    solutions = exercises.count("<details><summary>Solution</summary>")
    assert solutions >= 2 and solutions == exercises.count("</details>") and exercises.count("**") >= 2 * solutions
    everything = "\n".join(code)
    assert "steps." in everything, "each notebook must use proxygml_lite.steps"
    assert "$$" in "\n".join(markdown), "each notebook shows equations in LaTeX"
    saved = re.findall(r'save_figure\(fig, "([^"]+)"\)', everything)
    assert saved and all(s.startswith(name[:3]) for s in saved) and len(saved) == len(set(saved))
    assert "widgets." in everything, "each notebook offers a widget"
    assert not re.search(
        r"^\s*def (similarity_graph|select_subgraph|reverse_label_propagation|mask_softmax)\b", everything, re.M
    ), "no notebook-local copies of the step functions"


NAVIGATION = {  # previous, next
    "01_proxies_and_similarity_graph": (None, "02_subgraph_construction"),
    "02_subgraph_construction": ("01_proxies_and_similarity_graph", "03_reverse_label_propagation"),
    "03_reverse_label_propagation": ("02_subgraph_construction", "04_mask_softmax_loss_gradients"),
    "04_mask_softmax_loss_gradients": ("03_reverse_label_propagation", "05_training_on_toy_data"),
    "05_training_on_toy_data": ("04_mask_softmax_loss_gradients", "06_training_on_glyphs"),
}
CHECKERS = {
    "01_proxies_and_similarity_graph": "check_similarity_graph",
    "02_subgraph_construction": "check_select_subgraph",
    "03_reverse_label_propagation": "check_reverse_label_propagation",
    "04_mask_softmax_loss_gradients": "check_mask_softmax",
}


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_opens_with_the_navigation_line(name):
    nb = jupytext.read(NOTEBOOK_DIR / f"{name}.py", fmt="py:percent")
    first = nb.cells[0].source.splitlines()[0]
    links = re.findall(r"\[([^\]]+)\]\(([^)]+)\)", first)
    targets = [target for _, target in links]
    previous, following = NAVIGATION[name]
    assert "README.md" in targets and "GLOSSARY.md" in targets
    assert (f"{previous}.ipynb" in targets) == (previous is not None) and targets[-1] == f"{following}.ipynb"
    assert links[-1][0].endswith("→") and (previous is None or links[0][0].startswith("←"))
    assert re.search(r"about \d+ min$", first), "the header ends with an estimated time"
    for _, target in links:  # every link of 01-05 resolves, except the next notebooks written elsewhere
        assert (NOTEBOOK_DIR / target).exists() or target.startswith(("06_", "GLOSSARY")), target


@pytest.mark.parametrize("name", sorted(CHECKERS))
def test_notebook_has_an_implement_it_yourself_exercise(name):
    from proxygml_lite import exercises

    nb = jupytext.read(NOTEBOOK_DIR / f"{name}.py", fmt="py:percent")
    code = [cell.source for cell in nb.cells if cell.cell_type == "code"]
    checker = CHECKERS[name]
    stub = next(c for c in code if f"exercises.{checker}(" in c)
    assert "raise NotImplementedError" in stub, "the student starts from an empty function"
    index = next(i for i, cell in enumerate(nb.cells) if cell.source == stub)
    solution = nb.cells[index + 1]
    assert solution.cell_type == "markdown" and "<details><summary>Solution</summary>" in solution.source
    assert callable(getattr(exercises, checker))


@pytest.mark.parametrize("name", ALL)
def test_committed_notebook_has_outputs_of_a_full_run(name):
    path = NOTEBOOK_DIR / f"{name}.ipynb"
    nb = nbformat.read(path, as_version=4)
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code_cells), "not executed: run `make notebooks`"
    outputs = [output for cell in code_cells for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    setup_text = "".join(o.get("text", "") for o in code_cells[1].outputs)  # after the install cell
    assert "mode=full" in setup_text, "outputs come from a smoke run; run `make notebooks` (full mode)"
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3
    assert path.stat().st_size < 1_000_000
    assert "/work/" not in json.dumps([o for o in outputs]), "no absolute local paths in outputs"


def _tracked_state():
    """Size and modification time of every file under the tracked output folders (smoke runs must not touch them)."""
    return {
        str(p): (p.stat().st_size, p.stat().st_mtime_ns)
        for folder in ("results", "figures")
        for p in sorted((ROOT / folder).rglob("*"))
        if p.is_file()
    }


@pytest.mark.slow  # a kernel per notebook
@pytest.mark.parametrize("name", ALL)
def test_notebook_runs_in_smoke_mode(name, tmp_path):
    """Top to bottom in a fresh kernel, then every exercise solution's code in the same kernel (issue 17)."""
    nb = script.with_solutions(script.read_source(NOTEBOOK_DIR / f"{name}.py"))
    before = _tracked_state()
    try:
        script.execute(nb, smoke=True, figures_dir=tmp_path, cwd=NOTEBOOK_DIR, timeout=300)
    except CellExecutionError as error:
        pytest.fail(
            f"{name} failed in smoke mode (a cell tagged 'solution' is an exercise's solution):\n{error}", pytrace=False
        )
    assert "mode=smoke" in "".join(o.get("text", "") for o in nb.cells[2].outputs)  # setup, after the install cell
    saved = sorted(p.name for p in tmp_path.glob("*.png"))
    expected = re.findall(r'save_figure\(fig, "([^"]+)"\)', "\n".join(_sources(nb, "code")))
    assert saved == sorted(f"{stem}.png" for stem in expected)
    assert _tracked_state() == before, "smoke mode must not write into results/ or figures/"


def _tiny_notebook(directory: Path, name: str, code: str) -> Path:
    path = directory / f"{name}.py"
    path.write_text(f"# %% [markdown]\n# # {name}\n\n# %%\n{code}\n")
    return path


def test_script_syncs_and_checks_pairs(tmp_path):
    source = _tiny_notebook(tmp_path, "98_tiny", "x = 1")
    assert not script.pair_in_sync(source)
    script.sync_pair(source)
    assert script.pair_in_sync(source)
    source.write_text(source.read_text().replace("x = 1", "x = 2"))
    assert not script.pair_in_sync(source)
    script.sync_pair(source)
    assert script.pair_in_sync(source)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # atomic writes leave no temp files


def test_solution_code_is_every_python_block_of_the_solutions(tmp_path):
    source = tmp_path / "97_tiny.py"
    source.write_text(
        "# %% [markdown]\n# **1.** Try it.\n#\n# <details><summary>Solution</summary>\n#\n# Prose.\n#\n"
        "# ```python\n# x = 1\n# ```\n#\n# ```python\n# y = x + 1\n# ```\n#\n# </details>\n#\n"
        "# ```python\n# not_a_solution = 1\n# ```\n\n# %%\nz = 0\n"
    )
    nb = script.read_source(source)
    assert script.solution_code(nb) == ["x = 1\n", "y = x + 1\n"]
    extended = script.with_solutions(nb)
    assert [c.source for c in extended.cells[-2:]] == ["x = 1\n", "y = x + 1\n"]
    assert extended.cells[-1].metadata["tags"] == ["solution"] and len(nb.cells) == len(extended.cells) - 2


def test_every_notebook_with_exercises_has_solution_code_the_smoke_run_executes():
    counts = {name: len(script.solution_code(script.read_source(NOTEBOOK_DIR / f"{name}.py"))) for name in ALL}
    assert sum(counts.values()) >= 17, counts


def test_script_check_mode_reports_failures(tmp_path, capsys):
    _tiny_notebook(tmp_path, "01_ok", "print('fine')")
    _tiny_notebook(tmp_path, "02_broken", "raise RuntimeError('boom in a cell')")
    for source in tmp_path.glob("*.py"):
        script.sync_pair(source)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert script.main(["--smoke", "--check", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "[ok] 01_ok" in out and "[failed] 02_broken" in out and "boom in a cell" in out
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # --check writes nothing


def test_short_shell_polls_keep_the_cell_timeout(tmp_path, monkeypatch):
    # the reply is waited for in polls of SHELL_POLL_S (jupyter/nbclient#312), but a cell that runs past its timeout
    # still fails at that timeout, not at the first short poll and not never
    monkeypatch.setattr(script, "SHELL_POLL_S", 0.2)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time\ntime.sleep(1)\nprint('slept')")])
    script.execute(nb, smoke=True, figures_dir=tmp_path, cwd=tmp_path, timeout=5)
    assert "slept" in nb.cells[0].outputs[0]["text"]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time\ntime.sleep(30)")])
    with pytest.raises(CellTimeoutError, match="after 2 seconds"):
        script.execute(nb, smoke=True, figures_dir=tmp_path, cwd=tmp_path, timeout=2)


# --------------------------------------------------------------------------- #
# proxygml_lite.teaching.notebook: setup and save_figure
# --------------------------------------------------------------------------- #


def test_smoke_mode_comes_from_the_environment():
    from proxygml_lite.teaching.notebook import is_smoke

    assert is_smoke({}) is False
    assert is_smoke({"CI": "true"}) is True
    assert is_smoke({"PROXYGML_SMOKE": "1"}) is True
    assert is_smoke({"PROXYGML_SMOKE": "0", "CI": "true"}) is False  # explicit full mode wins
    with pytest.raises(ValueError, match="PROXYGML_SMOKE must be 1"):
        is_smoke({"PROXYGML_SMOKE": "sometimes"})


def test_figures_dir_defaults_to_the_repository_and_can_be_overridden(tmp_path):
    from proxygml_lite.teaching.notebook import figures_dir

    assert figures_dir({}) == ROOT / "figures"
    assert figures_dir({"PROXYGML_FIGURES_DIR": str(tmp_path)}) == tmp_path.resolve()
    assert figures_dir({"PROXYGML_FIGURES_DIR": str(tmp_path), "CI": "true"}) == tmp_path.resolve()


def test_smoke_mode_never_sends_figures_to_the_repository():
    from proxygml_lite.teaching.notebook import SMOKE_FIGURES_DIR, figures_dir

    for environ in ({"CI": "true"}, {"PROXYGML_SMOKE": "1"}):
        folder = figures_dir(environ)
        assert folder == SMOKE_FIGURES_DIR and not folder.resolve().is_relative_to(ROOT)
    assert figures_dir({"CI": "true", "PROXYGML_SMOKE": "0"}) == ROOT / "figures"  # explicit full mode


def test_installed_from_a_wheel_figures_go_beside_the_notebook(monkeypatch, tmp_path):
    from proxygml_lite.teaching import notebook

    monkeypatch.setattr(notebook, "checkout_root", lambda: None)  # no checkout around the package
    monkeypatch.chdir(tmp_path)
    assert notebook.figures_dir({}) == tmp_path / "figures"
    site = Path(notebook.__file__).resolve().parents[2]
    assert not notebook.figures_dir({}).resolve().is_relative_to(site)


def test_a_smoke_run_leaves_the_committed_figures_untouched(tmp_path, monkeypatch):
    """CI=true without PROXYGML_FIGURES_DIR, a notebook in the repository's notebooks/ that saves a tracked name."""
    figures = ROOT / "figures"
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in figures.glob("*.png")}
    monkeypatch.delenv("PROXYGML_FIGURES_DIR", raising=False)
    code = (
        "from proxygml_lite.teaching.notebook import setup, save_figure\ncfg = setup(seed=0)\n"
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(1, 1))\n"
        "save_figure(fig, '05_recall_comparison')\nprint(cfg.figures_dir)"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    script.execute(nb, smoke=True, figures_dir=None, cwd=NOTEBOOK_DIR, timeout=120)
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.output_type == "stream")
    written = Path(printed.strip().splitlines()[-1])
    assert (written / "05_recall_comparison.png").is_file() and not written.resolve().is_relative_to(ROOT)
    assert {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in figures.glob("*.png")} == before


def test_setup_seeds_reads_the_environment_and_sets_threads(monkeypatch, tmp_path, capsys):
    import torch

    from proxygml_lite.teaching.notebook import setup

    monkeypatch.setenv("CI", "true")
    monkeypatch.delenv("PROXYGML_SMOKE", raising=False)
    monkeypatch.setenv("PROXYGML_FIGURES_DIR", str(tmp_path))
    threads = torch.get_num_threads()
    try:
        cfg = setup(seed=3)
        first = torch.rand(3)
        assert setup(seed=3, verbose=False).smoke and torch.equal(torch.rand(3), first)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    assert cfg.smoke and cfg.seed == 3 and cfg.figures_dir == tmp_path.resolve()
    assert cfg.device.type in ("cpu", "cuda") and cfg.pick(full=400, smoke=20) == 20
    out = capsys.readouterr().out
    assert "mode=smoke" in out and "seed=3" in out
    with pytest.raises(ValueError, match="seed must be an int"):
        setup(seed="0")
    with pytest.raises(ValueError, match="num_threads"):
        setup(num_threads=0)


def test_save_figure_writes_a_png_atomically_and_checks_names(monkeypatch, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from proxygml_lite.teaching import notebook

    monkeypatch.setenv("PROXYGML_FIGURES_DIR", str(tmp_path / "figs"))
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    assert notebook.save_figure(fig, "01_line") is None
    saved = tmp_path / "figs" / "01_line.png"
    assert saved.read_bytes()[:4] == b"\x89PNG"
    assert [p.name for p in saved.parent.iterdir()] == ["01_line.png"]
    for bad in ("../escape", "a/b", "", "name with space"):
        with pytest.raises(ValueError, match="plain file stem"):
            notebook.save_figure(fig, bad)
    monkeypatch.setattr(notebook, "MAX_FIGURE_BYTES", 10)
    with pytest.warns(UserWarning, match="smaller figsize"):
        notebook.save_figure(fig, "01_line.png")
    plt.close(fig)


def test_stable_ids_make_a_rerun_byte_identical():
    """Random cell and widget ids of two kernels map to the same ids, references included."""
    import uuid

    def executed_like(seed):
        ids = [uuid.UUID(int=seed * 1000 + i).hex for i in range(3)]
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell("w")]
        nb.cells[1].outputs = [
            nbformat.v4.new_output(
                "display_data", data={"application/vnd.jupyter.widget-view+json": {"model_id": ids[0]}}
            )
        ]
        state = {  # insertion order differs between the two "kernels"
            ids[2]: {"state": {"note": "layout"}},
            ids[0]: {"state": {"children": [f"IPY_MODEL_{ids[1]}"], "layout": f"IPY_MODEL_{ids[2]}"}},
            ids[1]: {"state": {"note": "child"}},
        }
        if seed == 2:
            state = dict(reversed(list(state.items())))
        nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": state}}
        return nb

    first, second = (script.stable_ids(executed_like(seed), "03_demo") for seed in (1, 2))
    assert nbformat.writes(first) == nbformat.writes(second)
    assert [cell.id for cell in first.cells] == ["cell-000", "cell-001"]
    state = first.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    root = first.cells[1].outputs[0]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
    child = state[root]["state"]["children"][0].removeprefix("IPY_MODEL_")
    assert state[child]["state"]["note"] == "child" and len(state) == 3


# --------------------------------------------------------------------------- #
# The experiment notebooks 06-11
# --------------------------------------------------------------------------- #
EXPERIMENT_NAVIGATION = {  # previous, next
    "06_training_on_glyphs": ("05_training_on_toy_data", "07_benchmarks_on_gpu"),
    "07_benchmarks_on_gpu": ("06_training_on_glyphs", "08_parameter_study_N_r"),
    "08_parameter_study_N_r": ("07_benchmarks_on_gpu", "09_umap_proxies"),
    "09_umap_proxies": ("08_parameter_study_N_r", "10_ablation_table"),
    "10_ablation_table": ("09_umap_proxies", "11_efficiency"),
    "11_efficiency": ("10_ablation_table", None),
}


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_notebook_structure(name):
    nb = jupytext.read(NOTEBOOK_DIR / f"{name}.py", fmt="py:percent")
    markdown, code = _sources(nb, "markdown"), _sources(nb, "code")
    first = markdown[0].splitlines()[0]
    targets = re.findall(r"\]\(([^)]+)\)", first)
    previous, following = EXPERIMENT_NAVIGATION[name]
    assert targets[0] == f"{previous}.ipynb" and "README.md" in targets and "GLOSSARY.md" in targets
    assert (targets[-1] == f"{following}.ipynb") if following else targets[-1] == "GLOSSARY.md"
    assert re.search(r"about \d+ min$", first), "the header ends with an estimated time"
    assert all((NOTEBOOK_DIR / t).exists() or t == "GLOSSARY.md" for t in targets), targets
    assert "Learning goals" in markdown[0] and "Prerequisites" in markdown[0]
    setup_cell = (
        code[1].strip().replace("import save_figure, setup", "import setup, save_figure")
    )  # code[0]: install cell
    assert setup_cell == "from proxygml_lite.teaching.notebook import setup, save_figure\n\ncfg = setup(seed=0)"
    assert any("## Summary" in m for m in markdown)
    exercises = next(m for m in markdown if m.startswith("## Exercises"))
    solutions = exercises.count("<details><summary>Solution</summary>")
    assert solutions >= 2 and solutions == exercises.count("</details>")
    everything = "\n".join(code)
    saved = re.findall(r'save_figure\(fig, "([^"]+)"\)', everything)
    assert len(saved) >= 2 and all(s.startswith(name[:3]) for s in saved) and len(saved) == len(set(saved))
    assert "study_widgets." in everything, "each notebook offers a widget"
    assert "save_figure(fig, f" not in everything, "figure names are literal (the smoke test checks them)"
    assert not re.search(r"^\s*def ", everything, re.M), "plot and helper functions live in the package"


def test_notebook_7_is_a_gpu_guide_for_one_benchmark():
    """Issue 18: one benchmark in one variable, sanity run then the resumable recipe, labelled estimates and numbers."""
    nb = jupytext.read(NOTEBOOK_DIR / "07_benchmarks_on_gpu.py", fmt="py:percent")
    markdown, code = "\n".join(_sources(nb, "markdown")), "\n".join(_sources(nb, "code"))
    assert len(re.findall(r"^BENCHMARK = \"", code, re.M)) == 1 and "for name in BENCHMARKS" not in code
    assert '"--epochs", "1"' in code and code.count('"--resume"') >= 2 and "train_main(" in code
    assert "gpu_estimates.estimates_table(" in code and "gpu_downloads.weights_status()" in code
    assert "gpu_expectations.expectations(" in code and "ESTIMATE" in markdown.upper()
    assert "drive.mount(" in code and "--list" in code and "--cell" in code and "--gather" in code
    assert "#SBATCH --array" in code and "read_study_table(" in code
    assert "Predict first" in markdown
    outputs = nbformat.read(NOTEBOOK_DIR / "07_benchmarks_on_gpu.ipynb", as_version=4)
    printed = "".join(
        o.get("text", "") for cell in outputs.cells if cell.cell_type == "code" for o in cell.get("outputs", [])
    )
    # executed without a GPU: the GPU-only cells say they were skipped, the miniature is named as such
    assert "skipped" in printed and "FABRICATED MINIATURE" in printed and "ASSUMED (not measured)" in printed


# ------------------------------------------------------------------ numbers in the prose (issue 17)

#: A decimal (``85.2``, ``0.77``, ``6{,}791.5``) or a percentage (``94 %``) written in prose.
PROSE_NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*\.\d+|(?<![\w.])\d+(?:,\d{3})*(?=\s*%)")

#: Prose numbers that no cell computes, each with its reason: settings and quoted sources, never results.
NOT_COMPUTED = {
    "07_benchmarks_on_gpu": {
        "59.1": "the fork's published CUB log (quoted, with its link)",
        "65.5": "the fork's published CUB log (quoted, with its link)",
        "65.1": "the fork's published CUB log (quoted, with its link)",
        "1.4": "the fork's published CUB log against the paper's 66.6 (quoted)",
    },
    "09_umap_proxies": {
        "0.95": "the merge threshold of proxy_spread (a setting)",
        "0.8": "a threshold the exercise asks the student to try",
        "0.99": "a threshold the exercise asks the student to try",
    },
}


def _prose_numbers(text: str) -> set[str]:
    text = text.replace("{,}", ",").replace("−", "-")
    return {m.group(0).replace(",", "") for m in PROSE_NUMBER.finditer(text)}


def _shown_text(cell) -> str:
    """A code cell's source and everything it printed or displayed."""
    parts = [cell.source]
    for output in cell.get("outputs", []):
        parts.append(output.get("text", ""))
        for kind, value in output.get("data", {}).items():
            if kind.startswith("text/"):
                parts.append(value if isinstance(value, str) else "".join(value))
    return "\n".join(parts)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_decimal_in_the_prose_is_computed_by_a_cell(name):
    """Notebooks 6-11 state results only where a cell computed them: every decimal or percentage in the prose
    (outside the folded solutions, which test_notebook_solutions checks) appears in a code cell's source or in
    the committed outputs; the few settings and quoted sources are listed in NOT_COMPUTED with their reason."""
    nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    shown = set().union(*(_prose_numbers(_shown_text(c)) for c in nb.cells if c.cell_type == "code"))
    allowed = set(NOT_COMPUTED.get(name, {}))
    typed = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        prose = re.sub(r"<details>.*?</details>", "", cell.source, flags=re.S)
        for line in prose.splitlines():
            if missing := _prose_numbers(line) - shown - allowed:
                typed.append(f"{sorted(missing)} in: {line.strip()[:120]}")
    assert not typed, f"{name}: numbers in the prose that no cell computes (print them from the data):\n" + "\n".join(
        typed
    )
