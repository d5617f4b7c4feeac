#!/usr/bin/env python
"""Write the student edition of the course (``make student``): the notebooks without their solutions, and its site.

The committed notebooks are the instructor's answer key. The student edition,
in ``build/student/`` (``--out``), holds

* ``notebooks/``: every ``notebooks/NN_*.ipynb`` with its committed outputs,
  less every solution and answer: the ``<details><summary>Solution</summary>``
  and ``<details><summary>Answers</summary>`` blocks of the Markdown cells are
  removed (a cell left empty is dropped). In an implement-it-yourself cell (a
  code cell that calls an ``exercises.check_*`` checker) every function body is
  a stub, ``raise NotImplementedError  # your code here`` (the committed
  notebooks already have stubs there; a body filled in by mistake is replaced
  and reported). The checkers still run and say "not implemented yet". The
  contents page (``README.md``, with a line saying this is the student edition)
  and the glossary are copied beside them;
* ``figures/``: the course's figures (its plain image files), which the
  notebooks' Markdown references as ``../figures/x.png``;
* ``site/``: the offline HTML site of those notebooks, built by
  ``scripts/build_book.py`` (``--no-site`` skips it).

Nothing is executed. The edition is built in a temporary folder beside
``--out`` and moved into place at the end, so an interrupted build never leaves
a half-written edition.

Usage::

    python scripts/student_edition.py                    # -> build/student/{notebooks,figures,site}
    python scripts/student_edition.py --out /tmp/student --no-site
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's package, also when it is not installed
from proxygml_lite.atomic_writers import make_temp_dir, makedirs  # noqa: E402

NOTEBOOKS = ROOT / "notebooks"
DEFAULT_OUT = ROOT / "build" / "student"
#: The summaries of the folded blocks that hold a solution or an answer (the convention of notebooks 1-11).
SOLUTION_SUMMARIES = ("Solution", "Solutions", "Answer", "Answers", "Hint and solution")
DETAILS_TAG = re.compile(r"<(/?)details\b[^>]*>", re.I)  # <details>, <details open>, </details>
SUMMARY = re.compile(r"\s*<summary\b[^>]*>(.*?)</summary>", re.I | re.S)
STUB = "raise NotImplementedError  # your code here"
CHECKER_CALL = re.compile(r"\bexercises\.check_\w+\(")
BANNER = (
    "> **Student edition.** The solutions and answers of the exercises are not in this copy, and the "
    "implement-it-yourself cells are empty: write the code, run the cell, and the checker below it tells you "
    "whether it agrees with the package.\n\n"
)
#: The contents page's sentence about the folded solutions, and what the student edition says instead.
FOLDED_SENTENCE = (
    re.compile(r"exercises whose solutions are\s+folded away\."),
    "exercises (their solutions are not in this student edition).",
)


@dataclass
class StudentReport:
    out: Path
    notebooks: list[Path] = field(default_factory=list)
    solutions_removed: int = 0
    stubs_written: list[str] = field(default_factory=list)
    site: Path | None = None
    figures: int = 0
    warnings: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def _is_solution(summary_html: str) -> bool:
    """A summary that names a solution or an answer: ``Solution``, ``<b>Solution</b>``, ``Solution:``, ..."""
    text = re.sub(r"<[^>]*>", "", summary_html).strip().rstrip(":.!").strip()
    return text.lower() in {name.lower() for name in SOLUTION_SUMMARIES}


def strip_solutions(markdown: str) -> tuple[str, int]:
    """``markdown`` without its solution/answer ``<details>`` blocks, and how many were removed.

    A block ends at its own ``</details>``: a ``<details>`` nested inside a solution goes with it, and an
    unclosed solution block is removed to the end of the cell (nothing of an answer is ever left).
    """
    kept, count, at = [], 0, 0
    search = 0
    while (opening := _next_opening(markdown, search)) is not None:
        summary = SUMMARY.match(markdown, opening.end())
        if summary is None or not _is_solution(summary.group(1)):
            search = opening.end()
            continue
        depth, end = 0, len(markdown)
        for tag in DETAILS_TAG.finditer(markdown, opening.start()):
            depth += -1 if tag.group(1) else 1
            if depth == 0:
                end = tag.end()
                break
        end = re.compile(r"[ \t]*\n?").match(markdown, end).end()
        kept.append(markdown[at : opening.start()])
        count, at = count + 1, end
        search = end
    kept.append(markdown[at:])
    stripped = "".join(kept)
    if count:
        stripped = re.sub(r"\n{3,}", "\n\n", stripped).strip("\n")
    return stripped, count


def _next_opening(markdown: str, start: int) -> re.Match | None:
    """The next ``<details ...>`` (not ``</details>``) at or after ``start``."""
    for tag in DETAILS_TAG.finditer(markdown, start):
        if not tag.group(1):
            return tag
    return None


def _stub_body(source: str) -> tuple[str, list[str]]:
    """``source`` with the body of every top-level function replaced by the stub (docstring kept).

    Returns the new source and the names of the functions whose body was not a stub already.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source, []
    lines = source.splitlines(keepends=True)
    changed = []
    # bottom-up, so the line numbers of the functions above stay valid
    for node in sorted((n for n in tree.body if isinstance(n, ast.FunctionDef)), key=lambda n: -n.lineno):
        body = list(node.body)
        docstring = (
            bool(body)
            and isinstance(body[0], ast.Expr)
            and isinstance(getattr(body[0], "value", None), ast.Constant)
            and isinstance(body[0].value.value, str)
        )
        rest = body[1:] if docstring else body
        if _is_stub(rest):
            continue
        first, last = rest[0].lineno - 1, rest[-1].end_lineno
        indent = re.match(r"[ \t]*", lines[first]).group(0)
        lines[first:last] = [f"{indent}{STUB}\n"]
        changed.append(node.name)
    return "".join(lines), sorted(changed)


def _is_stub(body: list[ast.stmt]) -> bool:
    """An empty body: ``...``, ``pass``, or ``raise NotImplementedError``."""
    if len(body) != 1:
        return not body
    statement = body[0]
    if isinstance(statement, ast.Pass):
        return True
    if (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and statement.value.value is Ellipsis
    ):
        return True
    if isinstance(statement, ast.Raise) and statement.exc is not None:
        exc = statement.exc.func if isinstance(statement.exc, ast.Call) else statement.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return False


def student_notebook(notebook: nbformat.NotebookNode, name: str = "") -> tuple[nbformat.NotebookNode, int, list[str]]:
    """The student version of ``notebook`` (changed in place): solutions removed, exercise cells stubbed.

    Returns the notebook, the number of solution blocks removed and the ``name:function`` of each stub written.
    """
    cells, removed, stubbed = [], 0, []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source, count = strip_solutions(cell.source)
            removed += count
            if count and not cell.source.strip():
                continue
        elif cell.cell_type == "code" and CHECKER_CALL.search(cell.source):
            cell.source, changed = _stub_body(cell.source)
            if changed:
                stubbed += [f"{name}:{function}" for function in changed]
                cell.outputs, cell.execution_count = [], None  # the outputs were the filled-in answer's
        cells.append(cell)
    notebook.cells = cells
    # the student copy has no .py twin: opening it must not ask jupytext for the pair
    notebook.metadata.get("jupytext", {}).pop("formats", None)
    if "jupytext" in notebook.metadata and not notebook.metadata["jupytext"]:
        del notebook.metadata["jupytext"]
    return notebook, removed, stubbed


def _contents_page(text: str) -> str:
    """The contents page with the student edition's banner under its title, and without the folded-solutions line."""
    pattern, replacement = FOLDED_SENTENCE
    text = pattern.sub(replacement, text)
    lines = text.splitlines(keepends=True)
    title = next((i for i, line in enumerate(lines) if line.startswith("# ")), None)
    if title is None:
        return BANNER + text
    return "".join(lines[: title + 1]) + "\n" + BANNER + "".join(lines[title + 1 :]).lstrip("\n")


def _load_build_book():
    spec = importlib.util.spec_from_file_location("build_book", ROOT / "scripts" / "build_book.py")
    module = importlib.util.module_from_spec(spec)
    module = sys.modules.setdefault("build_book", module)  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def fail(what: str, path, fix: str) -> SystemExit:
    """The one line that stops the edition: ``student_edition: <what is wrong> (<path>); <fix>``."""
    return SystemExit(f"student_edition: {what} ({path}); {fix}")


def _course_file(path: Path, notebooks: Path) -> Path:
    """``path`` if it is a plain file of ``notebooks``; a link (or anything resolving elsewhere) stops the build.

    The student edition is built from a copy, so the site builder's own refusal of links never sees them: a
    ``GLOSSARY.md -> ~/secret`` would otherwise be published in the notebooks and the site.
    """
    if path.is_symlink() or not path.resolve().is_relative_to(notebooks):
        raise fail(
            f"refusing a page that is a link or lies outside {notebooks.name}/",
            path,
            "replace the link with the file itself: the course copies only its own files",
        )
    return path


def _copy_figures(figures: Path, target: Path, book, report: StudentReport) -> None:
    """The course's ``figures/`` beside the edition's notebooks, so that both its notebooks and its site show
    the images their Markdown references (``../figures/x.png``), as the instructor's do. Only plain image files
    are copied (``build_book.image_problem``); a link or anything else is left out, with a line in ``refused``."""
    if not figures.is_dir() or figures.is_symlink():
        return
    target.mkdir()
    for path in sorted(figures.iterdir()):
        if path.is_symlink() or not path.is_file():
            report.refused.append(f"figures/{path.name}: a link or not a file ({path}); not copied")
            continue
        problem = book.image_problem(path)
        if problem is not None:
            report.refused.append(f"figures/{path.name}: {problem} ({path}); not copied")
            continue
        shutil.copyfile(path, target / path.name)
        report.figures += 1


def build(
    out: Path = DEFAULT_OUT, notebooks: Path = NOTEBOOKS, site: bool = True, quiet: bool = False
) -> StudentReport:
    """Write the student edition into ``out`` (replaced as a whole at the end); return what was written."""
    out, notebooks = Path(out).resolve(), Path(notebooks).resolve()
    sources = sorted(notebooks.glob("[0-9][0-9]_*.ipynb"))
    if not sources:
        raise fail("no notebooks NN_*.ipynb to build", notebooks, "pass --notebooks the course's notebooks folder")
    if out.exists() and any(out.iterdir()) and not (out / "notebooks").is_dir():
        raise fail(
            "refusing to replace --out: it is not empty and not a student edition written by this script",
            out,
            "pass --out a new or empty folder (default: build/student)",
        )
    staging = make_temp_dir(makedirs(out.parent), prefix=f".{out.name}-")
    report = StudentReport(out=out)
    try:
        book = _load_build_book()
        target = staging / "notebooks"
        target.mkdir()
        for path in sources:
            source = book.read_notebook(_course_file(path, notebooks), fail)
            notebook, removed, stubbed = student_notebook(source, path.stem)
            nbformat.write(notebook, target / path.name)
            report.notebooks.append(out / "notebooks" / path.name)
            report.solutions_removed += removed
            report.stubs_written += stubbed
            if not quiet:
                print(f"  {path.name:45s} {removed} solution(s) removed")
        if (notebooks / "README.md").exists() or (notebooks / "README.md").is_symlink():
            contents = book.read_text(_course_file(notebooks / "README.md", notebooks), fail)
            (target / "README.md").write_text(_contents_page(contents), encoding="utf-8")
        if (notebooks / "GLOSSARY.md").exists() or (notebooks / "GLOSSARY.md").is_symlink():
            glossary = _course_file(notebooks / "GLOSSARY.md", notebooks)
            book.read_text(glossary, fail)  # UTF-8, as every page of the course
            shutil.copyfile(glossary, target / "GLOSSARY.md")
        _copy_figures(notebooks.parent / "figures", staging / "figures", book, report)
        if site:
            built = book.build(staging / "site", target, quiet=True)
            report.warnings += built.warnings
            report.refused += built.refused
            report.site = out / "site"
        if out.exists():
            shutil.rmtree(out)
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: build/student)")
    parser.add_argument(
        "--notebooks", type=Path, default=NOTEBOOKS, help="the answer key's folder (default: notebooks)"
    )
    parser.add_argument("--no-site", dest="site", action="store_false", help="write the notebooks only")
    args = parser.parse_args(argv)
    print(f"Writing the student edition of {args.notebooks} ...")
    report = build(args.out, args.notebooks, site=args.site)
    for stub in report.stubs_written:
        print(f"  note: {stub}: its body was filled in the answer key; the student edition has the stub")
    for warning in report.warnings:
        print(f"  note: {warning}")
    for refusal in report.refused:
        print(f"  refused: {refusal}")
    print(
        f"{len(report.notebooks)} notebooks, {report.solutions_removed} solutions removed -> {report.out / 'notebooks'}"
    )
    if report.site is not None:
        print(f"student site -> {report.site / 'index.html'} (open it in a browser; it works offline)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
