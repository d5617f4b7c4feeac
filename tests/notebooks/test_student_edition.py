"""The student edition (``make student``): no solution or answer left, empty exercise cells, and it runs unanswered."""

import html
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from _fabricate import load_script

pytestmark = pytest.mark.slow  # the edition built and its notebooks run

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"


student = load_script("student_edition")
FOLDED = re.compile(r"<details>\s*<summary>\s*(Solution|Answers?)\s*</summary>(.*?)</details>", re.S | re.I)


@pytest.mark.parametrize(
    "markdown",
    [
        "Q\n<details><summary>Solution</summary>\nA\n<details><summary>more</summary>x</details>\nSECRET\n</details>\nafter",
        "Q\n<details open><summary>Solution</summary>SECRET</details>\nafter",
        "Q\n<details><summary><b>Solution</b></summary>SECRET</details>\nafter",
        "Q\n<DETAILS><Summary> Answers: </Summary>SECRET</DETAILS>\nafter",
        "Q\n<details><summary>Solution</summary>SECRET, never closed\nafter",
    ],
)
def test_every_form_of_a_solution_block_is_removed_whole(markdown):
    stripped, count = student.strip_solutions(markdown)
    assert count == 1 and "SECRET" not in stripped and stripped.startswith("Q")
    assert stripped.endswith("after") or "never closed" in markdown


def test_other_folded_blocks_stay():
    markdown = "<details><summary>Why?</summary>because</details>\n<details><summary>Solution</summary>S</details>"
    assert student.strip_solutions(markdown) == ("<details><summary>Why?</summary>because</details>", 1)


def _solution_lines(notebook_path: Path) -> list[str]:
    """The distinctive lines of the answer key's solutions: long enough not to occur by chance, and found
    nowhere else in the notebook (a solution repeats the exercise's ``def`` line, for instance)."""
    notebook = nbformat.read(notebook_path, as_version=4)
    lines, elsewhere = [], []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for match in FOLDED.finditer(cell.source):
                lines += [line.strip() for line in match.group(2).splitlines() if len(line.strip()) >= 25]
            elsewhere.append(FOLDED.sub("", cell.source))
        else:
            elsewhere.append(cell.source)
    rest = "\n".join(elsewhere)
    return [line for line in lines if line not in rest]


@pytest.fixture(scope="module")
def edition(tmp_path_factory):
    out = tmp_path_factory.mktemp("student") / "student"
    report = student.build(out, NOTEBOOK_DIR, site=True, quiet=True)
    return out, report


@pytest.fixture(scope="module")
def instructor_site(tmp_path_factory):
    """The answer key's site, widgets in their saved state (a quick build): where the solutions' text does show."""
    site = tmp_path_factory.mktemp("book") / "site"
    student._load_build_book().build(site, NOTEBOOK_DIR, quiet=True, max_views=0)
    return site


def _words(text: str) -> str:
    """The words of ``text`` (letters and digits), one space apart: what a reader sees, whatever the markup."""
    return " ".join(re.findall(r"[^\W_]+", html.unescape(text)))


def _page_words(page: Path) -> str:
    """The words of a site page: its text without tags, scripts and styles (attributes, links' targets, gone)."""
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", page.read_text(encoding="utf-8"), flags=re.S | re.I)
    return _words(re.sub(r"<[^>]*>", " ", text))


def _markdown_words(line: str) -> str:
    """The words a line of Markdown shows once rendered: without images, links' targets and tags."""
    line = re.sub(r"!\[[^\]]*\]\([^)]*\)", " ", line)
    line = re.sub(r"\]\([^)]*\)", "]", line)
    return _words(re.sub(r"<[^>]*>", " ", line))


def test_every_notebook_is_in_the_edition_and_its_site(edition):
    out, report = edition
    names = sorted(p.name for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
    assert sorted(p.name for p in (out / "notebooks").glob("*.ipynb")) == names
    assert (out / "notebooks" / "README.md").is_file() and (out / "notebooks" / "GLOSSARY.md").is_file()
    assert (out / "site" / "index.html").is_file()
    for name in names:
        assert (out / "site" / name.replace(".ipynb", ".html")).is_file()
    assert "Student edition" in (out / "notebooks" / "README.md").read_text()
    assert "Student edition" in (out / "site" / "index.html").read_text()
    assert report.solutions_removed == sum(
        len(FOLDED.findall(p.read_text())) for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.py")
    )
    assert report.stubs_written == []  # the answer key's exercise cells are stubs already


def test_no_solution_text_is_left(edition):
    out, _ = edition
    checked = 0
    for path in sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb")):
        notebook_text = (out / "notebooks" / path.name).read_text()
        page_text = (out / "site" / path.name.replace(".ipynb", ".html")).read_text()
        assert not re.search(r"<summary>\s*(Solution|Answers?)\s*<", notebook_text, re.I), path.name
        assert "<details" not in page_text.replace("&lt;details", ""), path.name
        for line in _solution_lines(path):
            assert json.dumps(line)[1:-1] not in notebook_text, (path.name, line)
            checked += 1
    assert checked > 50  # the check looked at real solution text


def test_no_solution_text_is_left_in_the_student_site(edition, instructor_site):
    """Review of issue 18: the site was checked for ``<details`` only. Every distinctive line of every solution block
    is looked for, as words, in the student site's pages; each shows in the instructor's site, so the search works."""
    out, _ = edition
    checked = blocks = 0
    for path in sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb")):
        page = path.name.replace(".ipynb", ".html")
        shown, students = _page_words(instructor_site / page), _page_words(out / "site" / page)
        lines = _solution_lines(path)
        for line in lines:
            words = _markdown_words(line)
            assert len(words.split()) >= 3 and words in shown, (path.name, line, "not found in the instructor's site")
            assert words not in students, (path.name, line, "a solution's text is in the student site")
            checked += 1
        for cell in nbformat.read(path, as_version=4).cells:
            for block in FOLDED.finditer(cell.source) if cell.cell_type == "markdown" else ():
                blocks += 1
                assert any(line.strip() in lines for line in block.group(2).splitlines()), (path.name, block[0][:200])
    assert checked > 100 and blocks > 30  # every solution block of notebooks 1-11 had lines looked for


def test_the_exercise_cells_are_stubs_and_their_checkers_stay(edition):
    out, _ = edition
    checkers = 0
    for path in sorted((out / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and "exercises.check_" in cell.source:
                checkers += 1
                assert student.STUB in cell.source, path.name

    assert checkers == 4  # notebooks 1-4


def _checker_cells(folder: Path):
    for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and student.CHECKER_CALL.search(cell.source):
                yield path.name, cell


def _shows_a_value(cell) -> bool:
    """True when running ``cell`` in a notebook shows its last expression's value (no trailing ``;``)."""
    import ast

    body = ast.parse(cell.source).body
    return bool(body) and isinstance(body[-1], ast.Expr) and not cell.source.rstrip().endswith(";")


def test_no_checker_cell_shows_a_bare_true_or_false(edition):
    """Review of issue 18: the checker's return value (a bool, for tests) was the cell's value: a stray ``False``
    under "not implemented yet". Checked in the committed outputs and in the source a fresh run executes."""
    out, _ = edition
    cells = list(_checker_cells(out / "notebooks")) + list(_checker_cells(NOTEBOOK_DIR))
    assert len(cells) == 8  # notebooks 1-4, student edition and answer key
    for name, cell in cells:
        values = [o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", []) if "data" in o]
        assert not [v for v in values if v.strip() in ("True", "False")], (name, values)
        assert not _shows_a_value(cell), (name, cell.source.splitlines()[-1])


def test_a_filled_in_exercise_is_emptied():
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            'def my_mask_softmax(z):\n    """P = M exp(Z) / ..."""\n    m = (z != 0).float()\n    return m * z.exp()\n\n\n'
            "exercises.check_mask_softmax(my_mask_softmax)",
            outputs=[nbformat.v4.new_output("stream", text="✓ well done")],
        ),
        nbformat.v4.new_markdown_cell("Intro.\n\n<details><summary>Solution</summary>\n\nsecret\n\n</details>"),
        nbformat.v4.new_markdown_cell("<details><summary>Answers</summary>\n\nsecret\n</details>"),
        nbformat.v4.new_markdown_cell("<details><summary>More on this</summary>\n\nkept\n</details>"),
    ]
    result, removed, stubbed = student.student_notebook(notebook, "nb")
    code = result.cells[0]
    assert stubbed == ["nb:my_mask_softmax"] and removed == 2
    assert code.source.startswith('def my_mask_softmax(z):\n    """P = M exp(Z) / ..."""\n    ' + student.STUB)
    assert "return m" not in code.source and code.outputs == []
    assert [cell.source for cell in result.cells[1:]] == [
        "Intro.",
        "<details><summary>More on this</summary>\n\nkept\n</details>",
    ]


def test_refuses_to_replace_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="refusing to replace"):
        student.build(tmp_path, NOTEBOOK_DIR, site=False, quiet=True)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


@pytest.mark.slow
def test_the_student_notebooks_run_unanswered_in_smoke_mode(edition, tmp_path):
    """Every student notebook, exercises unanswered, top to bottom in a fresh kernel with CI=true."""
    out, _ = edition
    script = load_script("execute_notebooks")
    for path in sorted((out / "notebooks").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        script.execute(notebook, smoke=True, figures_dir=tmp_path / "figures", cwd=out / "notebooks")
        texts = [
            output.get("text", "")
            for cell in notebook.cells
            if cell.cell_type == "code" and "exercises.check_" in cell.source
            for output in cell.outputs
        ]
        if texts:
            assert any("not implemented yet" in text for text in texts), path.name
        shown = [
            output
            for cell in notebook.cells
            if cell.cell_type == "code" and student.CHECKER_CALL.search(cell.source)
            for output in cell.outputs
            if output.output_type == "execute_result"
        ]
        assert not shown, (path.name, shown)  # no stray True/False under the checker's verdict


@pytest.mark.parametrize("page", ["GLOSSARY.md", "README.md"])
def test_a_linked_page_is_refused_and_its_target_never_copied(tmp_path, page):
    """Review of issue 16: the edition is built from a copy, so the site builder never saw links; now they stop it."""
    secret = tmp_path / "secret.txt"
    secret.write_text("token=hunter2\n")
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    shutil.copy(NOTEBOOK_DIR / "01_proxies_and_similarity_graph.ipynb", notebooks)
    (notebooks / page).symlink_to(secret)
    with pytest.raises(SystemExit, match=rf"^student_edition: refusing a page that is a link .*/{page}\); replace"):
        student.build(tmp_path / "out", notebooks, site=False, quiet=True)
    assert not any(
        "hunter2" in p.read_text(errors="ignore")
        for p in tmp_path.rglob("*")
        if p.is_file() and not p.is_symlink() and p != secret
    )


def _site_images(site: Path) -> dict[str, list[bytes]]:
    """Per page of ``site``: the bytes of every image it shows (copies in ``_images/`` and inline ``data:`` images)."""
    import base64

    shown = {}
    for page in sorted(site.glob("*.html")):
        images = []
        for src in re.findall(r'<img\b[^>]*?\bsrc="([^"]*)"', page.read_text(encoding="utf-8")):
            if src.startswith("data:image/png;base64,"):
                images.append(base64.b64decode(src.split(",", 1)[1]))
            else:
                assert src.startswith("_images/"), src
                images.append((site / src).read_bytes())
        shown[page.name] = images
    return shown


def test_the_student_site_shows_the_figures_of_the_instructor_site(tmp_path):
    """Review of issue 16 (F19): the student site was built from a copy of the notebooks without ``figures/``
    beside it, so an image that the Markdown references (``../figures/x.png``) was missing from it."""
    import base64

    png = base64.b64decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
    )
    course = tmp_path / "course"
    (course / "figures").mkdir(parents=True)
    (course / "figures" / "01_plot.png").write_bytes(png)
    (course / "figures" / "fake.png").write_text("<script>alert(1)</script>")  # never copied
    notebooks = course / "notebooks"
    notebooks.mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# 1. One\n\n![a plot](../figures/01_plot.png)"),
        nbformat.v4.new_code_cell(
            "plot()",
            execution_count=1,
            outputs=[nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(png).decode()})],
        ),
        nbformat.v4.new_markdown_cell("<details><summary>Solution</summary>\n\n![s](../figures/01_plot.png)</details>"),
    ]
    nbformat.write(notebook, notebooks / "01_one.ipynb")
    (notebooks / "README.md").write_text("# Contents\n\n[One](01_one.ipynb)\n")
    book = student._load_build_book()
    book.build(tmp_path / "book", notebooks, quiet=True)
    report = student.build(tmp_path / "student", notebooks, quiet=True)
    instructor, students = _site_images(tmp_path / "book"), _site_images(tmp_path / "student" / "site")
    assert instructor["01_one.html"] == [png, png, png]  # the Markdown figure, the output, the solution's figure
    assert students == {"01_one.html": [png, png], "index.html": []}  # the same, less the solution's
    assert sorted(p.name for p in (tmp_path / "student" / "figures").iterdir()) == ["01_plot.png"]
    assert report.figures == 1 and report.warnings == []
    assert report.refused == [
        f"figures/fake.png: is not the PNG image its name says (its bytes are not an image) "
        f"({course / 'figures' / 'fake.png'}); not copied"
    ]


@pytest.mark.parametrize(
    "content, what",
    [
        (b"\xff\xfe not text", r"not UTF-8 text \(byte 0\)"),
        (b"{not json", r"not a readable notebook \(\w+\)"),
        (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"x": 1}]}).encode(),
         r"not a readable notebook \(\w+\)"),  # JSON of the wrong shape: nbformat's validation
    ],
)  # fmt: skip
def test_an_unreadable_notebook_stops_the_edition_in_its_own_one_line(tmp_path, content, what):
    """The edition reads notebooks with the site builder's read_notebook (defined once), reporting in its own form."""
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "01_broken.ipynb").write_bytes(content)
    with pytest.raises(SystemExit) as caught:
        student.build(tmp_path / "out", notebooks, site=False, quiet=True)
    message = str(caught.value.code)
    assert re.fullmatch(rf"student_edition: {what} \({re.escape(str(notebooks / '01_broken.ipynb'))}\); .+", message)
    assert "\n" not in message and not (tmp_path / "out").exists()
    assert not hasattr(student, "_read_notebook")
