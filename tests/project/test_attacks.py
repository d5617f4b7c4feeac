"""Attacks on what a student or instructor opens (issue 16, items 1-3 and the site builder's "one clear line").

Each test plants something hostile or broken and checks that it is refused in one line that names the file,
and that nothing runs: a payload that would run writes a marker file, and the marker must never appear.
Re-run them all with ``.venv/bin/python -m pytest tests/project/test_attacks.py -q``.

* checkpoints: a pickle whose ``__reduce__`` calls ``os.system`` in ``checkpoint.pt``, read by
  ``run_views.load_run`` and by ``--resume``; an old-format checkpoint (NumPy objects pickled);
* imports: a module recorded in ``config.json`` ``imports`` that writes a marker when imported, read by
  ``run_views.run_summary`` / ``load_run`` / ``config_from_json``, and re-run by ``--config`` / ``--resume``
  (announced, or refused with ``--no-imports``);
* one clear line: ``--config`` on a missing file or a folder without ``config.json``, a corrupt
  ``results.json``;
* the site builder: files outside the course, symlinks, ``<script>``, ``onerror=``, ``javascript:`` links in
  markdown and outputs, a widget value that tries to leave its attribute, ``--out`` on a file;
* the files the notebooks share: a pickled, truncated or misshapen snapshot ``.npz`` (notebook 9) and a damaged
  probe table (notebook 10), read only through the package's checked loaders.
"""

import json
import os
import re
import sys
import textwrap

import nbformat
import pytest
import torch
from _fabricate import make_tiny_folder_dataset, tiny_config

from proxygml_lite.lab import run_views
from proxygml_lite.train import main, parse_args
from proxygml_lite.training.checkpoint import load_checkpoint
from proxygml_lite.training.config_io import config_from_json


class Payload:
    """Unpickling this runs a shell command that writes ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"echo PWNED > {self.marker}",))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished one-epoch run on tiny data (its folder is copied by the tests that change it)."""
    root = make_tiny_folder_dataset(tmp_path_factory.mktemp("tiny"), per_class=4)
    out = tmp_path_factory.mktemp("run") / "run"
    from proxygml_lite.training.trainer import train

    train(tiny_config(root, out, epochs=1, new_epoch_to_decay=(), warm=0, compute_nmi=False, recall_ks=(1,)))
    return out


def _copy_run(trained, tmp_path):
    import shutil

    folder = tmp_path / "run"
    shutil.copytree(trained, folder)
    return folder


def _one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("python -m proxygml_lite.train: error: ")]
    assert len(lines) == 1, err
    return lines[0]


# ------------------------------------------------------------------------------ 1. checkpoints


def test_the_trainers_checkpoint_is_read_by_the_safe_loader(trained):
    checkpoint = torch.load(trained / "checkpoint.pt", weights_only=True)
    assert checkpoint["epoch"] == 1 and isinstance(checkpoint["rng"]["numpy"]["keys"], torch.Tensor)
    run = run_views.load_run(trained)
    assert run.num_classes == 6


def test_a_planted_pickle_in_checkpoint_pt_does_not_run_on_load_run(trained, tmp_path):
    folder = _copy_run(trained, tmp_path)
    marker = tmp_path / "marker"
    torch.save({"format": 2, "model": Payload(marker)}, folder / "checkpoint.pt")
    with pytest.raises(ValueError, match=r"refusing to load .*checkpoint\.pt.*could run code") as caught:
        run_views.load_run(folder)
    assert "\n" not in str(caught.value)
    assert not marker.exists()


def test_a_planted_pickle_in_checkpoint_pt_does_not_run_on_resume(trained, tmp_path, capsys):
    folder = _copy_run(trained, tmp_path)
    marker = tmp_path / "marker"
    torch.save({"format": 2, "model": Payload(marker)}, folder / "checkpoint.pt")
    assert main(["--resume", "--out", str(folder), "--epochs", "2"]) == 2
    line = _one_line_error(capsys)
    assert "refusing to load" in line and str(folder / "checkpoint.pt") in line
    assert not marker.exists()


def test_an_old_format_checkpoint_is_refused_in_one_line(tmp_path):
    import numpy as np

    path = tmp_path / "checkpoint.pt"
    torch.save({"format": 1, "rng": {"numpy": np.random.get_state()}}, path)  # what format 1 held
    with pytest.raises(ValueError, match=r"refusing to load .*older proxygml_lite") as caught:
        load_checkpoint(path)
    assert "\n" not in str(caught.value)
    torch.save({"format": 1, "epoch": 1}, path)  # readable, but of another layout
    from proxygml_lite.training.checkpoint import restore_checkpoint

    with pytest.raises(ValueError, match="format 1, this version reads format 2"):
        restore_checkpoint(load_checkpoint(path), None, None, None, 1, tmp_path)


def test_a_damaged_checkpoint_is_one_line(tmp_path):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"PK\x03\x04 not a checkpoint")
    with pytest.raises(ValueError, match=r"checkpoint .*checkpoint\.pt cannot be read") as caught:
        load_checkpoint(path)
    assert "\n" not in str(caught.value)


# ------------------------------------------------------------------------------ 3. imports


@pytest.fixture
def planted_module(tmp_path, monkeypatch):
    """A module ``planted_for_attack`` on the path that writes ``marker`` when imported; its marker path."""
    marker = tmp_path / "imported"
    folder = tmp_path / "mods"
    folder.mkdir()
    (folder / "planted_for_attack.py").write_text(
        textwrap.dedent(f"""
        from pathlib import Path
        Path({str(marker)!r}).write_text("imported")
    """)
    )
    monkeypatch.syspath_prepend(str(folder))
    sys.modules.pop("planted_for_attack", None)
    yield marker
    sys.modules.pop("planted_for_attack", None)


def _record_import(folder):
    config = json.loads((folder / "config.json").read_text())
    config["imports"] = ["planted_for_attack"]
    (folder / "config.json").write_text(json.dumps(config))


def test_reading_a_run_imports_nothing(trained, tmp_path, planted_module):
    folder = _copy_run(trained, tmp_path)
    _record_import(folder)
    summary = run_views.run_summary(folder)
    assert "finished 1 epochs" in summary and "records --import planted_for_attack (not imported" in summary
    assert run_views.load_run(folder).num_classes == 6
    assert config_from_json(folder / "config.json").imports == ("planted_for_attack",)
    assert not planted_module.exists() and "planted_for_attack" not in sys.modules


def test_config_and_resume_import_a_recorded_module_only_after_saying_so(trained, tmp_path, planted_module, capsys):
    folder = _copy_run(trained, tmp_path)
    _record_import(folder)
    assert parse_args(["--config", str(folder), "--out", str(tmp_path / "again")]).imports == ("planted_for_attack",)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"importing planted_for_attack, recorded in {folder}" in err
    assert planted_module.exists()
    planted_module.unlink()
    sys.modules.pop("planted_for_attack")
    parse_args(["--resume", "--out", str(folder)])
    assert "importing planted_for_attack, recorded in" in capsys.readouterr().err and planted_module.exists()


def test_no_imports_refuses_a_recorded_module(trained, tmp_path, planted_module, capsys):
    folder = _copy_run(trained, tmp_path)
    _record_import(folder)
    for args in (["--config", str(folder), "--out", str(tmp_path / "again")], ["--resume", "--out", str(folder)]):
        assert main([*args, "--no-imports"]) == 2
        line = _one_line_error(capsys)
        assert "--import planted_for_attack; --no-imports refuses to import it" in line
    assert not planted_module.exists()


def test_an_unregistered_name_names_the_recorded_module_to_import(trained, tmp_path):
    folder = _copy_run(trained, tmp_path)
    config = json.loads((folder / "config.json").read_text())
    config.update(imports=["not_imported_module_x"], loss="registered_by_it")
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"registered_by_it.*pass --import not_imported_module_x"):
        config_from_json(folder / "config.json")
    assert "not_imported_module_x" in run_views.run_summary(folder)  # reading the folder still works


# ------------------------------------------------------------------------------ 4. one clear line


def test_config_on_a_missing_file_or_a_folder_without_config_json_is_one_line(tmp_path, capsys):
    assert main(["--config", str(tmp_path / "missing.json")]) == 2
    assert "missing.json: no such file" in _one_line_error(capsys)
    (tmp_path / "empty").mkdir()
    assert main(["--config", str(tmp_path / "empty")]) == 2
    assert "is a folder without config.json" in _one_line_error(capsys)


def test_a_corrupt_results_json_is_named(trained, tmp_path):
    folder = _copy_run(trained, tmp_path)
    (folder / "results.json").write_text('{"metrics": {"R@1": 0.5')
    for read in (run_views.run_summary, run_views.load_run):
        with pytest.raises(ValueError, match=rf"{folder / 'results.json'} is not valid JSON") as caught:
            read(folder)
        assert "\n" not in str(caught.value)
    (folder / "results.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="holds a JSON list"):
        run_views.run_summary(folder)


def _without(key):
    def edit(text):
        values = json.loads(text)
        del values[key]
        return json.dumps(values)

    return edit


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda text: "no json here", "is not valid JSON"),
        (lambda text: text[: len(text) // 2], "is not valid JSON"),  # cut short, as a crash mid-copy leaves it
        (lambda text: "", "is not valid JSON"),
        (lambda text: "[1, 2]", "holds a JSON list, not a run's results"),
        (lambda text: '"metrics"', "holds a JSON str, not a run's results"),
        (_without("metrics"), "its 'metrics' is missing, not a JSON object"),
        (_without("epochs"), "its 'epochs' is missing, not a JSON integer"),
        (_without("config"), "its 'config' is missing, not a JSON object"),
        (lambda text: json.dumps({**json.loads(text), "metrics": [0.5]}), "its 'metrics' is a JSON list"),
        (lambda text: json.dumps({**json.loads(text), "epochs": "1"}), "its 'epochs' is a JSON str"),
    ],
)
def test_every_reader_of_a_damaged_results_json_says_one_line_naming_it(trained, tmp_path, capsys, edit, message):
    """Review finding F9: run_folder.finished_metrics (--resume) read results.json raw; every reader says one line."""
    from proxygml_lite.studies.cells import read_results
    from proxygml_lite.training.run_folder import RunFolder

    folder = _copy_run(trained, tmp_path)
    path = folder / "results.json"
    path.write_text(edit(path.read_text()))
    fix = "delete it and resume the run (python -m proxygml_lite.train --resume --out"
    readers = [
        run_views.run_summary,
        run_views.load_run,
        read_results,
        lambda f: RunFolder(f).finished_metrics({"epoch": 1}, 1),
    ]
    for read in readers:
        with pytest.raises(ValueError) as caught:
            read(folder)
        text = str(caught.value)
        assert text.startswith(str(path)) and message in text and fix in text and "\n" not in text, text
    assert main(["--resume", "--out", str(folder)]) == 2  # the trainer's own check of a finished run
    line = _one_line_error(capsys)
    assert str(path) in line and message in line


# ------------------------------------------------------------------------------ 2. the site builder


@pytest.fixture
def build_book():
    from pathlib import Path

    scripts = str(Path(__file__).resolve().parents[2] / "scripts")
    sys.path.insert(0, scripts)
    try:
        import build_book

        yield build_book
    finally:
        sys.path.remove(scripts)


PNG = (  # a 1 x 1 PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def _course(tmp_path, cells, outputs=(), widget_state=None):
    """``tmp_path/course/{notebooks,figures}``: one notebook with ``cells`` (Markdown) and a code cell with
    ``outputs``; beside the course a secret file. Returns the notebooks folder."""
    import base64

    import nbformat

    course = tmp_path / "course"
    notebooks, figures = course / "notebooks", course / "figures"
    notebooks.mkdir(parents=True)
    figures.mkdir()
    (figures / "plot.png").write_bytes(base64.b64decode(PNG))
    (tmp_path / "secret.txt").write_text("SECRET-TOKEN")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_markdown_cell("# 1. One")] + [nbformat.v4.new_markdown_cell(c) for c in cells]
    code = nbformat.v4.new_code_cell("x", execution_count=1)
    code.outputs = [nbformat.v4.new_output("display_data", data=data) for data in outputs]
    notebook.cells.append(code)
    if widget_state is not None:
        notebook.metadata["widgets"] = {
            "application/vnd.jupyter.widget-state+json": {"state": widget_state, "version_major": 2}
        }
    nbformat.write(notebook, notebooks / "01_one.ipynb")
    (notebooks / "README.md").write_text("# Contents\n\n[One](01_one.ipynb)\n")
    return notebooks


def test_the_site_copies_nothing_from_outside_the_course(build_book, tmp_path):
    notebooks = _course(
        tmp_path,
        ["![x](../../secret.txt) ![y](/etc/hostname) ![link](../figures/leak.png) ![ok](../figures/plot.png)"],
    )
    (notebooks.parent / "figures" / "leak.png").symlink_to(tmp_path / "secret.txt")
    report = build_book.build(tmp_path / "book", notebooks, quiet=True)
    site = tmp_path / "book"
    copied = sorted(p.name for p in (site / "_images").iterdir())
    assert copied == ["figures__plot.png"]
    assert not any("SECRET-TOKEN" in p.read_text(errors="replace") for p in site.rglob("*") if p.is_file())
    refused = "\n".join(report.refused)
    for reference in ("../../secret.txt", "/etc/hostname", "../figures/leak.png"):
        assert f"01_one.ipynb: image is outside notebooks/ and figures/ ({reference}); not copied" in refused
    assert len(report.refused) == 3
    page = (site / "01_one.html").read_text()
    assert "[x: not part of the course]" in page and "secret.txt" not in re.sub(r"<!--.*?-->", "", page)


def test_the_site_copies_no_svg_and_loads_no_remote_image(build_book, tmp_path):
    """An SVG can carry a script that runs when its copy is opened from the site; a remote image needs the network."""
    notebooks = _course(tmp_path, ["![s](../figures/evil.svg) ![r](https://example.org/tracker.png)"])
    (notebooks.parent / "figures" / "evil.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    )
    report = build_book.build(tmp_path / "book", notebooks, quiet=True)
    assert not list((tmp_path / "book").rglob("*.svg"))
    assert report.refused == [
        "01_one.ipynb: image is an SVG, which can carry scripts (../figures/evil.svg); save it as PNG"
    ]
    page = (tmp_path / "book" / "01_one.html").read_text()
    assert "[s: SVG not copied]" in page and '<span class="book-remote">r</span>' in page
    assert "example.org" not in page


def test_a_page_linked_to_a_file_outside_the_course_is_refused(build_book, tmp_path, capsys):
    notebooks = _course(tmp_path, [])
    (notebooks / "02_passwd.ipynb").symlink_to("/etc/passwd")
    (notebooks / "GLOSSARY.md").symlink_to(tmp_path / "secret.txt")
    assert build_book.main(["--out", str(tmp_path / "book"), "--notebooks", str(notebooks)]) == 0
    out = capsys.readouterr().out
    assert f"refused: 02_passwd.ipynb: a link to a file outside notebooks/ ({notebooks / '02_passwd.ipynb'}); " in out
    assert f"refused: GLOSSARY.md: a link to a file outside notebooks/ ({notebooks / 'GLOSSARY.md'}); " in out
    assert "root:" not in out and "SECRET-TOKEN" not in out
    assert sorted(p.name for p in (tmp_path / "book").glob("*.html")) == ["01_one.html", "index.html"]


def test_a_file_that_is_not_a_notebook_is_one_line_without_its_text(build_book, tmp_path):
    notebooks = _course(tmp_path, [])
    (notebooks / "02_broken.ipynb").write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(SystemExit) as caught:
        build_book.build(tmp_path / "book", notebooks, quiet=True)
    message = str(caught.value)
    assert message.startswith("build_book: not a readable notebook (") and "02_broken.ipynb" in message
    assert "root:x" not in message
    assert "\n" not in message and not (tmp_path / "book").exists()


def test_out_on_a_file_is_one_line(build_book, tmp_path):
    notebooks = _course(tmp_path, [])
    (tmp_path / "file").write_text("mine")
    for out in (tmp_path / "file", tmp_path / "file" / "book"):
        with pytest.raises(SystemExit) as caught:
            build_book.main(["--out", str(out), "--notebooks", str(notebooks)])
        assert str(caught.value).startswith("build_book: ") and "\n" not in str(caught.value)
    assert (tmp_path / "file").read_text() == "mine"


HOSTILE = [
    '<script>document.title="PWNED"</script>',
    '<img src="../figures/plot.png" onerror="alert(1)">',
    '<a href="javascript:alert(1)">click</a>',
    '<a href="JaVaScRiPt&#58;alert(1)">click2</a>',
    '<iframe src="https://example.org"></iframe>',
    '<div onmouseover="alert(1)" style="background: url(https://example.org/x)">hover</div>',
    '<a href="data:text/html,<script>alert(1)</script>">data link</a>',
]


def _attribute_names(page):
    """The names of every attribute of every element of ``page``, as a browser's parser reads them."""
    from html.parser import HTMLParser

    names = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            names.extend(name for name, _ in attrs)

    Collect().feed(page)
    return names


def _cell_html(page):
    """The cells of a built page (the template's own head, scripts and navigation left out)."""
    return page[page.index("<main>") : page.rindex("</main>")]


def test_markdown_and_outputs_are_sanitised_and_keep_what_the_course_needs(build_book, tmp_path):
    kept = (
        "Math $S^{pos}_{ij} < 1$ and \\\\(\\lambda\\\\) and $$\\mathcal{L}^p$$\n\n"  # Markdown needs \\\\(
        "| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "<details><summary>Hint</summary>open me</details>\n\n![ok](../figures/plot.png)"
    )
    notebooks = _course(
        tmp_path,
        ["\n\n".join(HOSTILE), kept],
        outputs=[
            {"text/html": "".join(HOSTILE) + '<table class="dataframe"><tr><td>7</td></tr></table> \\(W\\)'},
            {"application/javascript": 'document.title="PWNED"'},
            {"text/markdown": "[md](javascript:alert(1)) <script>alert(2)</script>"},
            {
                "image/svg+xml": '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(1)</script></svg>'
            },
        ],
    )
    build_book.build(tmp_path / "book", notebooks, quiet=True)
    cells = _cell_html((tmp_path / "book" / "01_one.html").read_text())
    lowered = cells.lower()
    for forbidden in (
        r"<script",
        r"\son\w+=",
        r"(href|src)=\"\s*javascript",
        r"<iframe",
        r"pwned",
        r"data:text",
        r"url\(",
    ):
        assert not re.search(forbidden, lowered), forbidden
    assert (
        "$S^{pos}_{ij} &lt; 1$" in cells
        and "$\\lambda$" in cells  # nbconvert writes Markdown's \\( ... \\) as $...$
        and "\\(W\\)" in cells
        and "$$\\mathcal{L}^p$$" in cells
    )
    assert "<table" in cells and "<td>1</td>" in cells and "<td>7</td>" in cells
    assert "<details><summary>Hint</summary>" in cells
    assert 'src="_images/figures__plot.png"' in cells
    assert 'src="data:image/svg+xml;base64,' in cells  # an SVG output is an image: its scripts never run


def test_a_widgets_saved_value_cannot_leave_its_attribute(build_book, tmp_path):
    def model(name, **state):
        return {"model_name": name, "state": state}

    attack = '1" onmouseover="alert(1)'
    state = {
        "box": model("VBoxModel", children=["IPY_MODEL_s", "IPY_MODEL_h", "IPY_MODEL_o"]),
        "s": model("IntSliderModel", description='N"><script>alert(1)</script>', value=attack, min=attack, max=3),
        "h": model("HTMLModel", value='<img src=x onerror="alert(1)"><b>kept</b>'),
        "o": model(
            "OutputModel", outputs=[{"output_type": "display_data", "data": {"image/png": f'{PNG}" onerror="x'}}]
        ),
    }
    drawn = build_book._widget_html("box", state)
    assert re.search(r'<input type="range" disabled min="1&quot; onmouseover=&quot;alert\(1\)" max="3"', drawn)
    assert 'value="1&quot; onmouseover=&quot;alert(1)"' in drawn and "<script" not in drawn
    assert "base64," + PNG + '&quot; onerror=&quot;x"' in drawn
    view = {"model_id": "box", "version_major": 2, "version_minor": 0}
    notebooks = _course(tmp_path, [], outputs=[{"application/vnd.jupyter.widget-view+json": view}], widget_state=state)
    build_book.build(tmp_path / "book", notebooks, quiet=True)
    cells = _cell_html((tmp_path / "book" / "01_one.html").read_text())
    assert not [name for name in _attribute_names(cells) if name.startswith("on")]
    assert "<script" not in cells and "<b>kept</b>" in cells
    slider = re.search(r'<input\b[^>]*type="range"[^>]*>', cells)
    assert slider and 'disabled="disabled"' in slider.group(0)


def test_a_figures_folder_that_is_a_link_widens_nothing(build_book, tmp_path):
    """Review finding: ``figures -> .`` made the whole course root (its ``.git/config``) copyable."""
    notebooks = _course(tmp_path, ["![k](../figures/.git/config) ![s](../figures/secret.txt)"])
    course = notebooks.parent
    (course / ".git").mkdir()
    (course / ".git" / "config").write_text("SECRET-TOKEN")
    (course / "secret.txt").write_text("SECRET-TOKEN")
    import shutil

    shutil.rmtree(course / "figures")
    (course / "figures").symlink_to(".")
    report = build_book.build(tmp_path / "book", notebooks, quiet=True)
    site = tmp_path / "book"
    assert not (site / "_images").exists() or not list((site / "_images").iterdir())
    assert not any("SECRET-TOKEN" in p.read_text(errors="replace") for p in site.rglob("*") if p.is_file())
    assert len(report.refused) == 2


def test_a_saved_widget_state_that_lists_itself_or_points_nowhere_is_drawn_in_bounded_time(build_book):
    """Review finding: a box listing itself twice made the build run for ever; a bad index was a traceback."""
    cycle = {"b0": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_b0", "IPY_MODEL_b0"]}}}
    assert build_book._widget_html("b0", cycle) == '<div class="book-widget-box"></div>'
    fan = {f"b{i}": {"model_name": "VBoxModel", "state": {"children": [f"IPY_MODEL_b{i + 1}"] * 8}} for i in range(30)}
    assert build_book._widget_html("b0", fan).count("book-widget-box") <= build_book.MAX_WIDGET_MODELS
    bad_index = {"s": {"model_name": "SelectionSliderModel", "state": {"_options_labels": ["a"], "index": 5}}}
    build_book._widget_html("s", bad_index)  # no IndexError
    assert build_book._widget_html("x", {"x": "not a model"}) == ""


def test_a_planted_or_damaged_proxy_snapshot_is_one_line_naming_the_file(tmp_path):
    """Review finding: a planted pickle in proxies/epoch_001.pt was refused, but with torch's multi-line text."""
    import pickle

    from proxygml_lite.studies.plots import read_proxy_snapshots

    marker = tmp_path / "marker"
    (tmp_path / "run" / "proxies").mkdir(parents=True)
    planted = tmp_path / "run" / "proxies" / "epoch_001.pt"
    planted.write_bytes(pickle.dumps(Payload(marker)))
    with pytest.raises(ValueError) as caught:
        read_proxy_snapshots(tmp_path / "run")
    message = str(caught.value)
    assert "\n" not in message and str(planted) in message and "refused for safety" in message
    assert "weights_only" not in message and "regenerate it with this package" in message
    assert not marker.exists()


@pytest.mark.parametrize("loader", ["checkpoint", "proxy snapshot", "pretrained weights"])
def test_every_safe_loader_refuses_a_planted_pickle_alike_without_torchs_weights_only_advice(tmp_path, loader):
    """Torch's refusal advises weights_only=False (it would run the payload); the three loaders of the package that
    wrap it say instead, in one and the same form, that the file is refused for safety and how to regenerate it."""
    from pathlib import Path

    from proxygml_lite.models.common import read_state_dict
    from proxygml_lite.studies.plots import _load_snapshot

    marker = tmp_path / "marker"
    planted = tmp_path / "planted.pt"
    torch.save({"format": 2, "model": Payload(marker)}, planted)
    load = {"checkpoint": load_checkpoint, "proxy snapshot": lambda p: _load_snapshot(Path(p)),
            "pretrained weights": read_state_dict}[loader]  # fmt: skip
    with pytest.raises(ValueError) as caught:
        load(planted)
    message = str(caught.value)
    assert message.startswith(
        f"refusing to load {planted}: it holds Python objects (posix.system) other than tensors and plain values "
        "(numbers, strings, lists, dicts), which could run code when loaded, so it is refused for safety and nothing "
        "was loaded; "
    ), message
    assert "regenerate it with this package" in message
    assert "\n" not in message and "weights_only" not in message and "trust" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # torch's text is not chained either
    assert not marker.exists()


def test_a_notebook_cannot_place_or_feed_the_live_widgets_script(build_book, tmp_path):
    """The view-swapping script reads ``data-book-views`` manifests: only the builder writes them. A cell's own
    manifest is dropped by the sanitiser, a cell cannot guess the placeholder of a live widget, and the script
    shows only ``_views/<hash>.png`` files whatever a manifest says."""
    forged = '{"sizes": [2], "labels": [["a", "b"]], "views": ["https://example.org/x.png", "javascript:alert(1)"]}'
    cell = (
        f'<div class="book-widget book-views" data-book-views=\'{forged}\' data-book-x="1">'
        '<img class="book-view" src="../figures/plot.png"><input type="range" data-control="0"></div>'
        '<div id="book-views-0000000000000000-0"></div><script src="_static/book_views.js"></script>'
    )
    notebooks = _course(tmp_path, [], outputs=[{"text/html": cell}])
    build_book.build(tmp_path / "book", notebooks, quiet=True)
    page = (tmp_path / "book" / "01_one.html").read_text()
    assert "data-book" not in page and "example.org" not in page and "book_views.js" not in page
    assert not (tmp_path / "book" / "_static" / "book_views.js").exists()
    assert r"var VIEW = /^_views\/[0-9a-f]{16}\.png$/;" in build_book.VIEWS_JS
    assert "VIEW.test(file)" in build_book.VIEWS_JS


def _image_sources(cells):
    return re.findall(r'<img\b(?:[^>"]|"[^"]*")*?\bsrc="([^"]*)"', cells)


def test_only_real_images_are_copied_by_extension_and_by_content(build_book, tmp_path, capsys):
    """Review of issue 16 (F7a): a ``.png`` that is really HTML or a script, a ``.jpg`` that is a PNG, or a file
    that is no image at all is refused in one line naming it; real PNG, JPEG, GIF and WebP files are copied."""
    import base64

    png = base64.b64decode(PNG)
    notebooks = _course(
        tmp_path,
        ["![h](../figures/page.png) ![s](../figures/script.png) ![m](../figures/mixed.jpg) ![t](../figures/notes.txt)"
         " ![n](../figures/noext) ![p](../figures/plot.png) ![j](../figures/photo.JPG) ![g](../figures/anim.gif)"
         " ![w](../figures/pic.webp)"],
    )  # fmt: skip
    figures = notebooks.parent / "figures"
    (figures / "page.png").write_text("<html><script>alert(1)</script></html>")
    (figures / "script.png").write_text("alert(document.cookie)")
    (figures / "mixed.jpg").write_bytes(png)
    (figures / "notes.txt").write_text("SECRET-TOKEN")
    (figures / "noext").write_bytes(png)
    (figures / "photo.JPG").write_bytes(b"\xff\xd8\xff\xe0" + bytes(20))
    (figures / "anim.gif").write_bytes(b"GIF89a" + bytes(20))
    (figures / "pic.webp").write_bytes(b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(8))
    assert build_book.main(["--out", str(tmp_path / "book"), "--notebooks", str(notebooks), "--max-views", "0"]) == 0
    refused = [line.strip() for line in capsys.readouterr().out.splitlines() if "refused:" in line]
    assert refused == [
        "refused: 01_one.ipynb: image is not the PNG image its name says (its bytes are not an image) "
        "(../figures/page.png); not copied (save the figure as PNG)",
        "refused: 01_one.ipynb: image is not the PNG image its name says (its bytes are not an image) "
        "(../figures/script.png); not copied (save the figure as PNG)",
        "refused: 01_one.ipynb: image is not the JPEG image its name says (its bytes are PNG) "
        "(../figures/mixed.jpg); not copied (save the figure as PNG)",
        "refused: 01_one.ipynb: image is not an image (.txt; the site copies .gif, .jpeg, .jpg, .png, .webp) "
        "(../figures/notes.txt); not copied (save the figure as PNG)",
        "refused: 01_one.ipynb: image is not an image (no extension; the site copies .gif, .jpeg, .jpg, .png, "
        ".webp) (../figures/noext); not copied (save the figure as PNG)",
    ]
    site = tmp_path / "book"
    assert sorted(p.name for p in (site / "_images").iterdir()) == [
        "figures__anim.gif", "figures__photo.JPG", "figures__pic.webp", "figures__plot.png"
    ]  # fmt: skip
    assert not any(b"alert" in p.read_bytes() or b"SECRET" in p.read_bytes() for p in (site / "_images").iterdir())
    assert "[h: not an image]" in (site / "01_one.html").read_text()


def test_a_hard_link_in_figures_is_not_copied(build_book, tmp_path, capsys):
    """Review of issue 16: a hard link in figures/ may be any file of the machine (a real PNG with a secret)."""
    import base64

    notebooks = _course(tmp_path, ["![h](../figures/hard.png)"])
    outside = tmp_path / "outside.png"
    outside.write_bytes(base64.b64decode(PNG) + b"SECRET-TOKEN")
    os.link(outside, notebooks.parent / "figures" / "hard.png")
    assert build_book.main(["--out", str(tmp_path / "book"), "--notebooks", str(notebooks), "--max-views", "0"]) == 0
    refused = [line.strip() for line in capsys.readouterr().out.splitlines() if "refused:" in line]
    assert refused == [
        "refused: 01_one.ipynb: image is a hard link, which may be any file of the machine (../figures/hard.png); "
        "not copied (save the figure as PNG)"
    ]
    assert not list((tmp_path / "book" / "_images").glob("*hard*"))


def test_a_notebook_of_the_wrong_shape_is_one_line(build_book, tmp_path):
    notebooks = _course(tmp_path, [])
    shaped = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")])
    text = nbformat.writes(shaped).replace('"execution_count": null', '"execution_count": "one"')
    (notebooks / "02_shape.ipynb").write_text(text)
    with pytest.raises(SystemExit) as caught:
        build_book.build(tmp_path / "book", notebooks, quiet=True)
    message = str(caught.value)
    assert message.startswith("build_book: not a readable notebook (NotebookValidationError)") and "02_shape" in message
    assert "\n" not in message and not (tmp_path / "book").exists()


#: Review of issue 16 (F7b): URLs that only a normalisation sees for what they are.
ODD_URLS = [
    '<img alt="ctl" src=" \x01javascript:alert(1)">',
    '<a href=" &#1;javascript:alert(1)">ctl-link</a>',
    '<a href="java\nscript:alert(1)">nl-link</a>',
    '<img alt="bs" src="..\\..\\secret.txt">',
    '<img alt="bs2" src="..\\figures\\..\\..\\secret.txt">',
    '<a href="..\\..\\secret.txt">bs-link</a>',
    '<img alt="noslash" src="https:example.org/a.png">',
    '<img alt="schemeless" src="//example.org/b.png">',
    '<img alt="spaced" src=" //example.org/c.png">',
    '<img alt="unc" src="\\\\example.org\\d.png">',
    '<img alt="file" src="file:///etc/hostname">',
    '<img alt="a>b" src="../../secret.txt">',
    '<img alt="pct" src="..%2F..%2Fsecret.txt">',
    '<img alt="set" src="../figures/plot.png" srcset="../../secret.txt 1x, https://example.org/e.png 2x">',
    '<picture><source srcset="https://example.org/f.png"><img alt="pic" src="../figures/plot.png"></picture>',
    '<video poster="https://example.org/g.png" src="https://example.org/v.mp4"></video>',
    '<div style="background: url(https://example.org/h.png); color: red">styled</div>',
    '<div style="width: u\\72l(https://example.org/i.png)">escaped</div>',
    '<div style="list-style-image: url(../../secret.txt)">listed</div>',
    "<style>body { background: url(https://example.org/j.png) }</style>",
    '<img alt="svgdata" src="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">',
]


def test_every_url_is_normalised_before_it_counts_as_local_or_remote(build_book, tmp_path):
    notebooks = _course(tmp_path, ["\n\n".join(ODD_URLS)], outputs=[{"text/html": "".join(ODD_URLS)}])
    report = build_book.build(tmp_path / "book", notebooks, quiet=True, max_views=0)
    site = tmp_path / "book"
    assert sorted(p.name for p in (site / "_images").iterdir()) == ["figures__plot.png"]
    assert not any("SECRET-TOKEN" in p.read_text(errors="replace") for p in site.rglob("*") if p.is_file())
    cells = _cell_html((site / "01_one.html").read_text())
    lowered = cells.lower()
    for forbidden in ("example.org", "javascript", "srcset", "poster", "url(", "data:text", "file:"):
        assert forbidden not in lowered, forbidden
    assert not re.search(r'(src|href)="[^"]*secret', lowered)  # a link to it is only named, as text
    assert set(_image_sources(cells)) == {"_images/figures__plot.png"}
    hrefs = set(re.findall(r'href="([^"#]*)', cells)) - {""}
    assert hrefs <= {"index.html", "01_one.html"}, f"a link leads out of the site: {hrefs}"
    for alt in ("noslash", "schemeless", "spaced", "unc"):
        assert f'<span class="book-remote">{alt}</span>' in cells, alt
    assert "[a&gt;b: not part of the course]" in cells and "[bs2: not part of the course]" in cells
    assert "color: red" in cells or "color:red" in cells
    assert len(report.refused) == 8  # four outside references, twice; javascript:, file:, data:text never get here
    assert build_book.normalise_url(" \x01java\tscript:x") == "javascript:x"
    assert [build_book.url_kind(u) for u in (" \x01javascript:x", "https:h/x", "\\\\h\\x", "..\\x", "#a", "C:/x")] == [
        "other", "remote", "remote", "local", "anchor", "other"
    ]  # fmt: skip


def test_a_loop_of_links_is_one_line_and_the_rest_is_built(build_book, tmp_path, capsys):
    """Review of issue 16 (F11): a loop of symbolic links among the pages or the figures was a RuntimeError."""
    notebooks = _course(tmp_path, ["![loop](../figures/loop.png) ![ok](../figures/plot.png)"])
    (notebooks / "02_loop.ipynb").symlink_to("02_loop.ipynb")
    (notebooks / "GLOSSARY.md").symlink_to("GLOSSARY2.md")
    (notebooks / "GLOSSARY2.md").symlink_to("GLOSSARY.md")
    (notebooks.parent / "figures" / "loop.png").symlink_to("loop.png")
    assert build_book.main(["--out", str(tmp_path / "book"), "--notebooks", str(notebooks)]) == 0
    out = capsys.readouterr().out
    assert "Traceback" not in out
    assert f"refused: 02_loop.ipynb: a loop of symbolic links ({notebooks / '02_loop.ipynb'}); not part of" in out
    assert f"refused: GLOSSARY.md: a loop of symbolic links ({notebooks / 'GLOSSARY.md'}); not part of" in out
    assert "refused: 01_one.ipynb: image is a loop of symbolic links (../figures/loop.png); not copied" in out
    assert sorted(p.name for p in (tmp_path / "book").glob("*.html")) == ["01_one.html", "index.html"]


@pytest.mark.parametrize(
    "widgets",
    [
        "not a dict",
        ["a", "list"],
        {"application/vnd.jupyter.widget-state+json": ["a", "list"]},
        {"application/vnd.jupyter.widget-state+json": {"state": [1, 2]}},
        {"application/vnd.jupyter.widget-state+json": {"state": {"m": "not a model"}}},
    ],
)
def test_a_malformed_saved_widget_state_is_one_line_and_the_page_is_built(build_book, tmp_path, widgets):
    """Review of issue 16 (F11): widget-state metadata of another shape was an AttributeError."""
    import nbformat

    view = {"model_id": "m", "version_major": 2, "version_minor": 0}
    notebooks = _course(tmp_path, [], outputs=[{"application/vnd.jupyter.widget-view+json": view}])
    path = notebooks / "01_one.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.metadata["widgets"] = widgets
    path.write_text(json.dumps(notebook))  # as an editor could save it, unchecked
    report = build_book.build(tmp_path / "book", notebooks, quiet=True)
    (line,) = [w for w in report.warnings if "widget state" in w]
    assert line.startswith("01_one.ipynb: its saved widget state is not the expected shape (metadata.widgets")
    assert "Interactive widget, shown in its saved state" in (tmp_path / "book" / "01_one.html").read_text()


def test_an_output_widget_of_another_shape_draws_nothing(build_book):
    state = {
        "o": {"model_name": "OutputModel", "state": {"outputs": "a string"}},
        "p": {"model_name": "OutputModel", "state": {"outputs": ["text", {"data": "x"}, {"text": ["a", 1]}]}},
    }
    assert build_book._widget_html("o", state) == ""
    assert build_book._widget_html("p", state) == "<pre>a1</pre>"


@pytest.mark.parametrize("name", ["01_one.ipynb", "README.md", "GLOSSARY.md"])
def test_a_page_that_is_not_utf8_is_one_line_and_the_old_site_stays(build_book, tmp_path, name):
    """Review of issue 16 (F11): a page in another encoding was a UnicodeDecodeError traceback."""
    notebooks = _course(tmp_path, [])
    (notebooks / "GLOSSARY.md").write_text("# Glossary\n")
    out = tmp_path / "book"
    build_book.build(out, notebooks, quiet=True)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    (notebooks / name).write_bytes((notebooks / name).read_bytes() + "café".encode("latin-1"))
    with pytest.raises(SystemExit) as caught:
        build_book.main(["--out", str(out), "--notebooks", str(notebooks)])
    message = str(caught.value)
    assert re.fullmatch(
        rf"build_book: not UTF-8 text \(byte \d+\) \({re.escape(str(notebooks / name))}\); save it as UTF-8", message
    )
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book", "course", "secret.txt"]  # no staging left


def test_the_student_edition_refuses_a_page_that_is_not_utf8_in_one_line(tmp_path):
    from _fabricate import load_script

    student = load_script("student_edition")
    notebooks = _course(tmp_path, [])
    (notebooks / "01_one.ipynb").write_bytes(b'{"cells": "\xe9"}')
    with pytest.raises(SystemExit) as caught:
        student.build(tmp_path / "student", notebooks, site=False, quiet=True)
    assert (
        str(caught.value)
        == f"student_edition: not UTF-8 text (byte 11) ({notebooks / '01_one.ipynb'}); save it as UTF-8"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["course", "secret.txt"]


def test_the_scripts_stop_only_through_their_one_line_style():
    """Review of issue 16 (F18): every refusal of build_book and student_edition reads
    ``<script>: <what is wrong> (<path>); <fix>``, made in one place."""
    from pathlib import Path

    for name in ("build_book", "student_edition"):
        source = (Path(__file__).resolve().parents[2] / "scripts" / f"{name}.py").read_text()
        assert source.count("SystemExit(") == 1, name
        assert f'return SystemExit(f"{name}: {{what}} ({{path}}); {{fix}}")' in source


def _snapshot_arrays(epochs=3, n=5, d=4, proxies=6):
    import numpy as np

    rng = np.random.default_rng(0)
    return dict(
        epochs=np.arange(epochs),
        N=np.array(2),
        proxies=rng.normal(size=(epochs, proxies, d)).astype(np.float16),
        train_embeddings=rng.normal(size=(epochs, n, d)).astype(np.float16),
        train_labels=np.arange(n) % 3,
    )


def test_notebook_9s_snapshot_files_are_read_without_unpickling_and_a_bad_one_is_one_line(tmp_path):
    """Review finding: notebook 9 called np.load on the shared snapshot files; it reads them with read_snapshots."""
    import numpy as np

    from proxygml_lite.lab import umap_views

    np.savez(tmp_path / "good.npz", **_snapshot_arrays())
    assert [s.epoch for s in umap_views.read_snapshots(tmp_path / "good.npz", epochs=[0, 2])] == [0, 2]
    marker = tmp_path / "marker"
    np.savez(tmp_path / "pickled.npz", **{**_snapshot_arrays(), "proxies": np.array([Payload(marker)], dtype=object)})
    (tmp_path / "cut.npz").write_bytes((tmp_path / "good.npz").read_bytes()[:100])
    np.savez(tmp_path / "partial.npz", **{k: v for k, v in _snapshot_arrays().items() if k != "N"})
    np.savez(tmp_path / "shapes.npz", **{**_snapshot_arrays(), "proxies": _snapshot_arrays(epochs=2)["proxies"]})
    for name, said in [
        ("pickled", "not a readable .npz file"),
        ("cut", "not a readable .npz file"),
        ("partial", r"not a snapshot file of `make studies`: the snapshot arrays lack \['N'\]"),
        ("shapes", r"the snapshot arrays do not fit together .* proxies \[2, 6, 4\]"),
    ]:
        with pytest.raises(ValueError, match=f"{tmp_path / name}.npz.*{said}") as caught:
            umap_views.read_snapshots(tmp_path / f"{name}.npz")
        assert "\n" not in str(caught.value)
    assert not marker.exists()


@pytest.mark.parametrize("name, direct", [("09_umap_proxies", "np.load("), ("10_ablation_table", "pd.read_csv(")])
def test_notebooks_9_and_10_read_shared_files_only_through_the_checked_loaders(name, direct):
    from pathlib import Path

    notebooks = Path(__file__).resolve().parents[2] / "notebooks"
    assert direct not in (notebooks / f"{name}.py").read_text(encoding="utf-8")
    assert direct not in (notebooks / f"{name}.ipynb").read_text(encoding="utf-8")


# ------------------------------------------------------------------------------ one form for every refusal
def _refusals(tmp_path):
    from proxygml_lite.data.__main__ import main as data
    from proxygml_lite.studies.__main__ import main as studies

    folders = ["--results", str(tmp_path / "res"), "--runs", str(tmp_path / "runs")]
    return [
        # (tool, its main, argv, exit status, what the line says after "<tool>: error: ")
        ("train", main, ["--epochs", "x"], 2, "argument --epochs: invalid int value: 'x'; see --help"),
        ("train", main, ["--dataset", "nope"], 2, "argument --dataset: invalid choice: 'nope'"),
        ("train", main, ["--import"], 2, "argument --import: expected one argument; see --help"),
        ("train", main, ["--epochs", "0", "--out", str(tmp_path / "run")], 2,
         "epochs must be an integer >= 1 (--epochs); got 0"),
        ("studies", studies, ["--workers", "x"], 2, "argument --workers: 'x' is not a whole number written in the digits 0-9; see --help"),
        ("studies", studies, ["--cell", "99999", *folders], 2, "--cell 99999: there are "),
        ("data", data, ["prepare", "nope"], 2, "argument name: invalid choice: 'nope'"),
        ("data", data, ["check", "folder", "--data-root", str(tmp_path / "nope")], 1,
         f"data folder {tmp_path / 'nope'} does not exist; for --dataset folder pass --data-root"),
        ("train", main, ["--dataset", "folder", "--data", str(tmp_path / "afile"), "--out", str(tmp_path / "run")], 2,
         f"data folder {tmp_path / 'afile'} is a file, not a folder; for --dataset folder pass --data-root"),
    ]  # fmt: skip


def test_every_command_line_tool_refuses_in_one_form(tmp_path, capsys):
    """Issue 16: ``<tool>: error: <what is wrong>; <fix>`` on one line, a mistyped flag (argparse's) as a wrong value."""
    (tmp_path / "afile").write_text("not a folder")
    for tool, tool_main, argv, status, said in _refusals(tmp_path):
        try:
            got = tool_main(argv)
        except SystemExit as stop:
            got = stop.code
        err = capsys.readouterr().err
        assert got == status and err.count("\n") == 1 and "usage:" not in err, (argv, err)
        prefix = f"python -m proxygml_lite.{tool}" + (f" {argv[0]}" if tool == "data" and status == 2 else "")
        assert err.startswith(f"{prefix}: error: {said}"), (argv, err)
