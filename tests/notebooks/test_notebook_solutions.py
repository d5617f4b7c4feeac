"""Exercise solutions run after their notebook, and their prose says only what their code shows.

Each folded solution's ```python blocks are appended to the notebook as code
cells and executed, in the notebook's own kernel after all its cells, in smoke
mode (``scripts/execute_notebooks.py``'s code path). Where a solution has code,
every number in its prose must appear in the exercise's question, the
solution's code or what that code printed: the answer is read from the run,
not written from memory.

Notebooks are listed in :data:`NOTEBOOKS` as their solutions are brought to
this standard (issue 17).
"""

import re

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError
from test_notebooks import NOTEBOOK_DIR, script

#: The notebooks whose solutions this test runs (smoke-mode cost of each, on 2 busy shared cores: 5-35 s).
#: Notebook 7's solutions need no GPU: they compute k and the estimates, which the CPU path has too.
NOTEBOOKS = [
    "01_proxies_and_similarity_graph",
    "02_subgraph_construction",
    "03_reverse_label_propagation",
    "04_mask_softmax_loss_gradients",
    "05_training_on_toy_data",
    "06_training_on_glyphs",
    "07_benchmarks_on_gpu",
    "08_parameter_study_N_r",
    "09_umap_proxies",
    "10_ablation_table",
    "11_efficiency",
]

SOLUTION = re.compile(r"<details><summary>Solution</summary>(.*?)</details>", re.S)
CODE = re.compile(r"```python\n(.*?)```", re.S)
NUMBER = re.compile(r"(?<![\w.])\d+(?:,\d{3})*(?:\.\d+)?")


def _numbers(text: str) -> set[str]:
    """The numbers written in ``text`` (LaTeX ``6{,}791`` and ``6,791`` both read as ``6791``)."""
    return {n.replace(",", "") for n in NUMBER.findall(text.replace("{,}", ","))}


def exercises(nb) -> list[tuple[str, str, list[str]]]:
    """``(question, solution prose, solution code blocks)`` of every exercise with a folded solution."""
    cell = next(c for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## Exercises"))
    found, start = [], 0
    for match in SOLUTION.finditer(cell.source):
        question = cell.source[start : match.start()]
        body = match.group(1)
        found.append((question, CODE.sub("", body), CODE.findall(body)))
        start = match.end()
    return found


@pytest.mark.slow  # a kernel per notebook
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_exercise_solutions_run_after_the_notebook(name, tmp_path):
    nb = script.read_source(NOTEBOOK_DIR / f"{name}.py")
    found = exercises(nb)
    assert found, f"{name} has no folded solutions"
    first = len(nb.cells)
    for _, _, blocks in found:
        nb.cells.append(nbformat.v4.new_code_cell("\n".join(blocks) if blocks else "pass"))
    try:
        script.execute(nb, smoke=True, figures_dir=tmp_path, cwd=NOTEBOOK_DIR, timeout=300)
    except CellExecutionError as error:
        pytest.fail(f"a solution of {name} fails after the notebook:\n{error}", pytrace=False)
    for number, ((question, prose, blocks), cell) in enumerate(zip(found, nb.cells[first:]), start=1):
        if not blocks:
            continue
        shown = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in cell.outputs)
        unexplained = _numbers(prose) - _numbers(question) - _numbers(shown) - _numbers("\n".join(blocks))
        assert not unexplained, f"{name}, solution {number}: {sorted(unexplained)} in its prose but not in its run"


def test_the_number_reader_and_the_exercise_splitter():
    assert _numbers("$566$ and $6{,}791$, 2.5 MB, C = 11,318; x2") == {"566", "6791", "2.5", "11318"}
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell(
                "## Exercises\n\n**1.** Q one 7?\n\n<details><summary>Solution</summary>\n\n```python\nprint(7)\n```\n\n"
                "Seven, 7.\n\n</details>\n\n**2.** Q two?\n\n<details><summary>Solution</summary>\n\nWords.\n\n</details>"
            )
        ]
    )
    (q1, prose1, code1), (q2, prose2, code2) = exercises(nb)
    assert "Q one 7?" in q1 and code1 == ["print(7)\n"] and "Seven, 7." in prose1 and "print" not in prose1
    assert "Q two?" in q2 and code2 == [] and "Words." in prose2
