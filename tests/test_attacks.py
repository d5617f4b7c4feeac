"""Attacks on what a student or instructor opens (issue 16, items 1-3 and the site builder's "one clear line").

Each test plants something hostile or broken and checks that it is refused in one line that names the file,
and that nothing runs: a payload that would run writes a marker file, and the marker must never appear.
Re-run them all with ``.venv/bin/python -m pytest tests/test_attacks.py -q``.

* checkpoints: a pickle whose ``__reduce__`` calls ``os.system`` in ``checkpoint.pt``, read by
  ``run_views.load_run`` and by ``--resume``; an old-format checkpoint (NumPy objects pickled);
* imports: a module recorded in ``config.json`` ``imports`` that writes a marker when imported, read by
  ``run_views.run_summary`` / ``load_run`` / ``TrainConfig.from_json``, and re-run by ``--config`` / ``--resume``
  (announced, or refused with ``--no-imports``);
* one clear line: ``--config`` on a missing file or a folder without ``config.json``, a corrupt
  ``results.json``;
* the site builder: files outside the course, symlinks, ``<script>``, ``onerror=``, ``javascript:`` links in
  markdown and outputs, a widget value that tries to leave its attribute, ``--out`` on a file.
"""

import json
import os
import sys
import textwrap

import pytest
import torch
from _fabricate import make_tiny_folder_dataset, tiny_config

from proxygml_lite import run_views
from proxygml_lite.training.checkpoint import load_checkpoint
from proxygml_lite.training.cli import main, parse_args
from proxygml_lite.training.config import TrainConfig


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
    lines = [line for line in err.splitlines() if line.startswith("error:")]
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
    assert TrainConfig.from_json(folder / "config.json").imports == ("planted_for_attack",)
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
        TrainConfig.from_json(folder / "config.json")
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
