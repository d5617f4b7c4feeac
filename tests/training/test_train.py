"""The training engine on tiny data: outputs, resume == uninterrupted, Ctrl-C, NaN, the README commands."""

import csv
import json
import shlex
import signal

import pytest
import torch
from _fabricate import OFFICIAL_README_COMMANDS, make_split, tiny_argv, tiny_config

from proxygml_lite.loss import ProxyGMLLoss
from proxygml_lite.train import main
from proxygml_lite.training.checkpoint import load_checkpoint
from proxygml_lite.training.config_io import config_to_json
from proxygml_lite.training.step import NonFiniteLossError
from proxygml_lite.training.trainer import train

tiny = tiny_config


def read_csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def without_times(rows):
    return [{k: v for k, v in row.items() if not k.endswith("time_s")} for row in rows]


def model_state(run_dir):
    return torch.load(run_dir / "checkpoint.pt", weights_only=True)["model"]


def test_a_run_writes_config_metrics_results_and_checkpoint(data_root, tmp_path):
    out = tmp_path / "run"
    metrics = train(tiny(data_root, out))
    assert set(metrics) == {"R@1", "R@2", "R@4", "R@8", "NMI"}
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    config = json.loads((out / "config.json").read_text())
    assert config["N"] == 2 and config["out"] == str(out)
    rows = read_csv(out / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    assert rows[0]["loss"] == "" and rows[0]["R@1"] != ""  # epoch 0: the untrained model, evaluated
    assert [r["backbone_frozen"] for r in rows[1:]] == ["True", "False", "False"]  # one head-first warm-up epoch
    assert [float(r["lr_model"]) for r in rows[1:]] == pytest.approx([1e-3, 1e-4, 1e-4])  # decay at epoch index 1
    for r in rows[1:]:
        assert float(r["loss"]) == pytest.approx(float(r["loss_s"]) + 0.3 * float(r["loss_p"]), rel=1e-5)
    results = json.loads((out / "results.json").read_text())
    assert results["metrics"] == metrics
    assert results["untrained_metrics"]["R@1"] == pytest.approx(float(rows[0]["R@1"]))
    assert results["num_classes"] == 6 and results["epochs"] == 3
    assert results["machine"]["device"] == "cpu" and len(results["machine"]["id"]) == 12  # training/fingerprint.py
    ckpt = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 3 and ckpt["step"] == 0
    assert {"python", "numpy", "torch"} <= set(ckpt["rng"])
    assert {"model", "loss", "optimizer", "scheduler", "scaler", "sampler", "loader_generator"} <= set(ckpt)
    assert ckpt["loss"]["proxies"].shape == (12, 8)
    assert not list(out.glob(".*.tmp"))  # no temporary files left behind


def test_warmup_trains_only_the_head_and_proxies_first(data_root, tmp_path):
    seen = {}

    def spy(event, info):
        if event == "step_end" and info["step"] == 1:
            model = info["trainer"].model
            seen[info["epoch"]] = (
                all(p.grad is None for p in model.backbone_parameters()),
                all(p.grad is not None for p in model.head_parameters()),
                info["trainer"].loss_fn.proxies.grad is not None,
            )

    train(tiny(data_root, tmp_path / "run", epochs=2, eval_untrained=False, compute_nmi=False), callback=spy)
    assert seen[0] == (True, True, True)
    assert seen[1] == (False, True, True)


def _interrupt_after_step(epoch, step):
    def callback(event, info):
        if event == "step_end" and (info["epoch"], info["step"]) == (epoch, step):
            raise KeyboardInterrupt

    return callback


@pytest.fixture(scope="module")
def straight_run(data_root, tmp_path_factory):
    """The uninterrupted 3-epoch runs (by freeze_bn), trained once for all resume tests."""
    cache = {}

    def get(freeze_bn):
        if freeze_bn not in cache:
            out = tmp_path_factory.mktemp("straight")
            cache[freeze_bn] = (train(tiny(data_root, out, freeze_bn=freeze_bn)), out)
        return cache[freeze_bn]

    return get


@pytest.mark.parametrize("where", ["after a step", "Ctrl-C inside a step", "raised inside a step", "between epochs"])
def test_resumed_run_equals_uninterrupted_run(data_root, tmp_path, monkeypatch, straight_run, where):
    """3 epochs straight == interrupted in epoch 1 (or stopped after 2 epochs) + resumed, bit for bit."""
    # A KeyboardInterrupt raised (not signalled) inside a step abandons that step after the model's
    # forward pass; exact only with frozen BatchNorm statistics (the forward pass updated them).
    frozen = where == "raised inside a step"
    straight, straight_dir = straight_run(frozen)

    resumed_dir = tmp_path / "resumed"
    if where == "after a step":
        with pytest.raises(KeyboardInterrupt):
            train(tiny(data_root, resumed_dir), callback=_interrupt_after_step(1, 2))
    elif where == "raised inside a step":
        calls = {"n": 0}
        original = ProxyGMLLoss.forward

        def raising(self, embeddings, labels):
            calls["n"] += 1
            if calls["n"] == 5:  # epoch 1, step 1, after its batch was drawn and embedded
                raise KeyboardInterrupt
            return original(self, embeddings, labels)

        monkeypatch.setattr(ProxyGMLLoss, "forward", raising)
        with pytest.raises(KeyboardInterrupt):
            train(tiny(data_root, resumed_dir, freeze_bn=True))
        monkeypatch.setattr(ProxyGMLLoss, "forward", original)
    elif where == "Ctrl-C inside a step":
        calls = {"n": 0}
        original = ProxyGMLLoss.forward

        def flaky(self, embeddings, labels):
            calls["n"] += 1
            if calls["n"] == 5:  # Ctrl-C in epoch 1, step 1 (3 steps per epoch): that step is finished first
                signal.raise_signal(signal.SIGINT)
            return original(self, embeddings, labels)

        monkeypatch.setattr(ProxyGMLLoss, "forward", flaky)
        with pytest.raises(KeyboardInterrupt):
            train(tiny(data_root, resumed_dir))
        monkeypatch.setattr(ProxyGMLLoss, "forward", original)
    else:
        train(tiny(data_root, resumed_dir, epochs=2))
    ckpt = torch.load(resumed_dir / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == (2 if where == "between epochs" else 1)
    assert (
        ckpt["step"]
        == {"after a step": 2, "Ctrl-C inside a step": 2, "raised inside a step": 1, "between epochs": 0}[where]
    )

    resumed = train(tiny(data_root, resumed_dir, resume=True, freeze_bn=frozen))
    assert resumed == straight
    assert without_times(read_csv(resumed_dir / "metrics.csv")) == without_times(read_csv(straight_dir / "metrics.csv"))
    a, b = model_state(straight_dir), model_state(resumed_dir)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_finished_run_is_not_retrained_on_resume(data_root, tmp_path, monkeypatch):
    out = tmp_path / "run"
    first = train(tiny(data_root, out, epochs=1))
    from proxygml_lite.training.trainer import Trainer

    monkeypatch.setattr(Trainer, "step", lambda *a, **k: pytest.fail("retrained a finished run"))
    assert train(tiny(data_root, out, epochs=1, resume=True)) == first


def test_existing_run_needs_resume_and_the_same_settings(data_root, tmp_path):
    out = tmp_path / "run"
    train(tiny(data_root, out, epochs=1, eval_untrained=False))
    with pytest.raises(ValueError, match="--resume"):
        train(tiny(data_root, out, epochs=1))
    with pytest.raises(ValueError, match=r"N: saved 2 vs now 3"):
        train(tiny(data_root, out, epochs=2, N=3, resume=True))


def test_class_count_mismatch_names_both_numbers(data_root, tmp_path):
    with pytest.raises(ValueError, match=r"-C 7 does not match the 6 training classes"):
        train(tiny(data_root, tmp_path / "run", C=7))


def test_non_finite_loss_stops_with_epoch_and_step(data_root, tmp_path, monkeypatch):
    calls = {"n": 0}
    original = ProxyGMLLoss.forward

    def nan_at_second_call(self, embeddings, labels):
        calls["n"] += 1
        value = original(self, embeddings, labels)
        return value * float("nan") if calls["n"] == 2 else value

    monkeypatch.setattr(ProxyGMLLoss, "forward", nan_at_second_call)
    with pytest.raises(NonFiniteLossError, match=r"epoch 1/3 .*step 2 of 3"):
        train(tiny(data_root, tmp_path / "run", eval_untrained=False))


def test_ctrl_c_saves_and_prints_how_to_resume(data_root, tmp_path, monkeypatch, capsys):
    from proxygml_lite.training.trainer import Trainer

    original = Trainer.step
    calls = {"n": 0}

    def interrupted(self, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(Trainer, "step", interrupted)
    out = tmp_path / "run"
    argv = tiny_argv(data_root, out) + ["--epochs", "1", "--quiet"]
    assert main(argv) == 130
    assert f"--resume --out {out}" in capsys.readouterr().err
    assert torch.load(out / "checkpoint.pt", weights_only=True)["step"] == 1
    monkeypatch.setattr(Trainer, "step", original)
    assert main(["--resume", "--out", str(out)]) == 0
    assert json.loads((out / "results.json").read_text())["epochs"] == 1


def fabricate_manifest(folder):
    """The manifest.json that `python -m proxygml_lite.data prepare` writes last, for a hand-made folder."""
    from proxygml_lite.data.manifest import FORMAT, write_manifest

    splits = {
        split: {
            "classes": {
                d.name: {"name": d.name, "images": len(list(d.iterdir()))} for d in sorted((folder / split).iterdir())
            }
        }
        for split in ("train", "test")
    }
    write_manifest(folder, {"format": FORMAT, "splits": splits})


@pytest.fixture(scope="module")
def benchmark_root(tmp_path_factory):
    """Miniature copies of the prepared benchmark layout <root>/<dataset>/{train,test}/<label>/<image>."""
    root = tmp_path_factory.mktemp("benchmarks")
    make_split(root / "cub200" / "train", range(100), 1, size=8, seed=3)  # the real 100 training classes
    make_split(root / "cub200" / "test", range(100, 110), 2, size=8, seed=4)
    for name in ("cars196", "online_products"):
        make_split(root / name / "train", range(6), 2, size=8, seed=5)
        make_split(root / name / "test", range(6, 12), 2, size=8, seed=6)
    for name in ("cub200", "cars196", "online_products"):
        fabricate_manifest(root / name)
    return root


README = OFFICIAL_README_COMMANDS


@pytest.mark.parametrize("dataset", sorted(README))
def test_readme_commands_run_on_miniature_data(benchmark_root, tmp_path, dataset):
    """The README command unchanged, then overrides that make it tiny (a full run needs a GPU)."""
    tiny_overrides = f"--data {benchmark_root} --device cpu --backbone smallcnn --no-pretrained --image-size 8 --epochs 1 -j 0 --quiet"
    if dataset != "cub200":  # the miniature copies have 6 training classes, not 98 / 11318
        tiny_overrides += " -C 6 --r 0.3"
    if dataset == "online_products":
        tiny_overrides += " --recall-ks 1 10"
    out = tmp_path / dataset
    assert main(shlex.split(README[dataset]) + shlex.split(tiny_overrides) + ["--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    config = results["config"]
    assert config["dataset"] == dataset and config["dim"] == 512 and config["batch_size"] == 32
    assert config["freeze_bn"] is (dataset != "online_products")
    assert results["num_classes"] == (100 if dataset == "cub200" else 6)
    expected = {"R@1", "R@10", "NMI"} if dataset == "online_products" else {"R@1", "R@2", "R@4", "R@8", "NMI"}
    assert set(results["metrics"]) == expected


def test_folder_dataset_trains_from_the_command_line_with_data_root(tmp_path):
    """Any class-disjoint train/<class>/ + test/<class>/ layout, class names of any kind, no preparation step."""
    root = tmp_path / "my_images"
    make_split(root / "train", ["sparrow", "gull", "wren", "owl"], 3, seed=7)
    make_split(root / "test", ["heron", "crow", "kite"], 3, seed=8)
    out = tmp_path / "run"
    argv = [
        "--dataset",
        "folder",
        "--data-root",
        str(root),
        "--backbone",
        "smallcnn",
        "--dim",
        "8",
        "--N",
        "2",
        "--r",
        "0.5",
        "-b",
        "6",
        "--epochs",
        "1",
        "--image-size",
        "16",
        "-j",
        "0",
        "--device",
        "cpu",
        "--quiet",
        "--recall-ks",
        "1",
        "2",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert (results["num_classes"], results["train_samples"], results["test_samples"]) == (4, 12, 9)
    assert results["config"]["data"] == str(root)


def test_save_proxies_keeps_one_snapshot_per_epoch_also_across_a_resume(data_root, tmp_path):
    from proxygml_lite.studies.plots import read_proxy_snapshots

    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(tiny(data_root, out, save_proxies=True), callback=_interrupt_after_step(1, 1))
    train(tiny(data_root, out, save_proxies=True, resume=True))
    epochs, proxies = read_proxy_snapshots(out)
    assert epochs == [0, 1, 2, 3] and proxies.shape == (4, 12, 8)  # C*N = 6*2 proxies of d = 8
    final = torch.load(out / "checkpoint.pt", weights_only=True)["loss"]["proxies"]
    assert torch.equal(proxies[-1], final)
    assert not torch.equal(proxies[0], proxies[-1])
    with pytest.raises(ValueError, match=r"no parameter 'W'.*\['proxies'\]"):
        read_proxy_snapshots(out, "W")
    with pytest.raises(FileNotFoundError, match="--save-proxies"):
        read_proxy_snapshots(tmp_path)


@pytest.mark.slow  # a minute of training
def test_glyph_training_lifts_recall_on_the_unseen_classes(tmp_path):
    """The glyphs preset (paper's C = 100, N = 12, r = 0.05, lambda = 0.3) on a reduced set, 3 epochs: it learns."""
    argv = [
        "--dataset",
        "glyphs",
        "--dataset-options",
        '{"images_per_face": 2}',
        "--epochs",
        "3",
        "--new_epoch_to_decay",
        "3",
        "--device",
        "cpu",
        "--quiet",
        "--no-nmi",
        "--data",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "run"),
    ]
    assert main(argv) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["num_classes"] == 100 and results["test_samples"] == 2400
    assert results["metrics"]["R@1"] > 2 * results["untrained_metrics"]["R@1"]


# ------------------------------------------------------------------ stop signals (SIGINT twice, SIGTERM)
_SIGNALLED_CHILD = """
import os, signal, sys, threading, time
from proxygml_lite.loss import ProxyGMLLoss
original, calls = ProxyGMLLoss.forward, {"n": 0}
signals = [getattr(signal, name) for name in sys.argv[3].split(",")]

def send():
    for k, signum in enumerate(signals):
        time.sleep(0.04 if k else 0.0)  # the second signal 40 ms after the first
        os.kill(os.getpid(), signum)

def slow(self, embeddings, labels):
    calls["n"] += 1
    if calls["n"] == 5:  # epoch 1, step 1 (3 steps per epoch), after the model's forward pass: mid-step
        threading.Thread(target=send).start()
        time.sleep(0.4)
    return original(self, embeddings, labels)

ProxyGMLLoss.forward = slow
from proxygml_lite.train import main
sys.exit(main(["--config", sys.argv[1], "--out", sys.argv[2]]))
"""


@pytest.mark.parametrize("signals,status", [("SIGINT,SIGINT", 130), ("SIGTERM", 143), ("SIGTERM,SIGINT", 143)])
def test_stop_signals_in_a_step_save_the_finished_step_and_resume_exactly(
    data_root, tmp_path, straight_run, signals, status
):
    """Two SIGINTs 40 ms apart (or SIGTERM) inside a step: the step finishes, the run saves, resume is exact."""
    import subprocess
    import sys

    straight, straight_dir = straight_run(False)
    config_file, out = tmp_path / "config.json", tmp_path / "run"
    config_to_json(tiny(data_root, None), config_file)
    child = subprocess.run(
        [sys.executable, "-c", _SIGNALLED_CHILD, str(config_file), str(out), signals],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == status, child.stderr
    first = signals.split(",")[0]
    assert f"{first}: finishing this step, then saving a checkpoint" in child.stderr
    assert f"Interrupted in epoch 2/3 after step 2 of 3: checkpoint saved in {out}" in child.stderr
    assert "Traceback" not in child.stderr
    ckpt = load_checkpoint(out / "checkpoint.pt")  # the safe loader: what a student would use
    assert (ckpt["epoch"], ckpt["step"]) == (1, 2)  # the signalled step was finished, none was half-applied

    assert train(tiny(data_root, out, resume=True)) == straight
    assert without_times(read_csv(out / "metrics.csv")) == without_times(read_csv(straight_dir / "metrics.csv"))
    a, b = model_state(straight_dir), model_state(out)
    assert any(k.endswith("num_batches_tracked") for k in a)  # BatchNorm's step counters are compared too
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ------------------------------------------------------------------ one trainer class, one config
def test_every_trainer_attribute_is_set_in_init_and_the_config_never_changes(data_root, tmp_path):
    import copy
    import dataclasses

    from proxygml_lite.training.trainer import Trainer

    config = tiny(data_root, tmp_path / "run", epochs=2)
    before = copy.deepcopy(config.to_dict())
    trainer = Trainer(config)
    attributes = set(vars(trainer))
    assert {"data", "parts", "record", "checkpoint", "position", "wrapped", "state"} <= attributes
    trainer.run()
    assert set(vars(trainer)) == attributes  # nothing added by run() or the epochs
    assert trainer.config is config and config.to_dict() == before
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.epochs = 5
    assert type(trainer).__mro__[1:] == (object,)  # one class, no mixin


# ------------------------------------------------------------------ evaluation and the training RNG
def test_the_evaluation_schedule_does_not_change_the_training(data_root, tmp_path):
    """Evaluated after every epoch or after the last only: the same training history and final metrics."""
    every = train(tiny(data_root, tmp_path / "every", epoch_to_test=None, save_embeddings=True, embedding_samples=8))
    last = train(tiny(data_root, tmp_path / "last", epoch_to_test=(3,)))
    assert every == last
    training_columns = ("epoch", "loss", "loss_s", "loss_p", "lr_model", "lr_proxies", "backbone_frozen")
    rows = [read_csv(tmp_path / name / "metrics.csv") for name in ("every", "last")]
    assert [[r[c] for c in training_columns] for r in rows[0]] == [[r[c] for c in training_columns] for r in rows[1]]
    assert rows[0][1]["R@1"] != "" and rows[1][1]["R@1"] == ""  # the schedules did differ
    a, b = model_state(tmp_path / "every"), model_state(tmp_path / "last")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_run_folder_has_one_writer(data_root, tmp_path, capsys):
    """Issue 16 item 5: a training holds its --out; a second process into it exits with one line naming the holder."""
    import subprocess
    import sys

    from proxygml_lite.fileio import FolderLockedError, exclusive_lock

    out = tmp_path / "run"
    refused = []

    def try_to_write_the_same_folder(event, info):
        if event == "step_end" and not refused:
            with pytest.raises(FolderLockedError) as exc:
                with exclusive_lock(out):
                    pass
            refused.append(str(exc.value))

    train(tiny(data_root, out, epochs=1, eval_untrained=False), callback=try_to_write_the_same_folder)
    assert refused and "in use by another process" in refused[0]

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom proxygml_lite.fileio import exclusive_lock\n"
            "with exclusive_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)",
            str(tmp_path / "busy"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        argv = ["--dataset", "folder", "--data-root", str(data_root), "--backbone", "smallcnn", "--out",
                str(tmp_path / "busy"), "--device", "cpu", "--quiet"]  # fmt: skip
        assert main(argv) == 2
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"pid {holder.pid} on host" in err and "choose another folder" in err
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == [".lock"]  # nothing written by the refused run


# ------------------------------------------------------------------ one clear line for every bad input (issue 16)
#: the tiny run's differences for the tests of this section: one epoch, quiet, no untrained evaluation
ONE_QUIET_EPOCH = ["--epochs", "1", "--quiet", "--no-eval-untrained"]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert err.startswith("python -m proxygml_lite.train: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def _refuse_writes_under(monkeypatch, folder, code):
    """Make every file creation under ``folder`` fail with ``OSError(code)`` (root ignores chmod)."""
    import errno
    import os

    real_open = os.open

    def guarded_open(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and os.path.abspath(path).startswith(str(folder)):
            raise OSError(code, os.strerror(code), path)
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)
    return errno


def test_a_read_only_out_gives_one_line_and_writes_nothing(data_root, tmp_path, monkeypatch, capsys):
    import errno

    out = tmp_path / "readonly"
    out.mkdir()
    _refuse_writes_under(monkeypatch, out, errno.EROFS)
    assert main(tiny_argv(data_root, out) + ONE_QUIET_EPOCH) == 1
    err = _one_error_line(capsys)
    assert f"cannot write {out}" in err and "errno 30" in err and "writable" in err
    monkeypatch.undo()
    assert list(out.iterdir()) == []


def test_a_full_disk_keeps_the_last_checkpoint_and_gives_one_line(data_root, tmp_path, monkeypatch, capsys):
    """ENOSPC while saving the second epoch: the atomic writer leaves the first epoch's files whole, no temp files."""
    import errno
    import os

    out = tmp_path / "run"
    assert main(tiny_argv(data_root, out) + ONE_QUIET_EPOCH) == 0
    capsys.readouterr()
    before = (out / "checkpoint.pt").read_bytes()

    def disk_full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", disk_full)
    assert main(tiny_argv(data_root, out) + ONE_QUIET_EPOCH + ["--resume", "--epochs", "2"]) == 1
    err = _one_error_line(capsys)
    assert f"cannot write {out}" in err and "free some disk space" in err
    assert (out / "checkpoint.pt").read_bytes() == before and not list(out.glob(".*.tmp"))


def test_a_read_only_data_root_gives_one_line(tmp_path, monkeypatch, capsys):
    import errno

    data = tmp_path / "data"
    data.mkdir()
    _refuse_writes_under(monkeypatch, data, errno.EROFS)
    argv = ["--dataset", "glyphs", "--data-root", str(data), "--epochs", "1", "--device", "cpu", "--quiet",
            "--out", str(tmp_path / "run"), "--dataset-options", '{"images_per_face": 1, "num_train_classes": 4, "num_test_classes": 4}']  # fmt: skip
    assert main(argv) == 1
    err = _one_error_line(capsys)
    assert f"cannot write {data}" in err and "--data" in err
    monkeypatch.undo()
    assert not [p for p in data.rglob("*") if p.is_file()]


def test_an_import_module_that_raises_gives_one_line(tmp_path, monkeypatch, capsys):
    (tmp_path / "broken_module_for_test.py").write_text("x = 1\nraise RuntimeError('config server unreachable')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["--import", "broken_module_for_test", "--dataset", "glyphs"]) == 2
    err = _one_error_line(capsys)
    assert "--import broken_module_for_test: the module raised RuntimeError: config server unreachable" in err
    assert "broken_module_for_test.py:2" in err


def test_a_sigterm_to_the_whole_process_group_saves_like_one_to_the_run(data_root, tmp_path):
    """timeout, scancel and systemd signal the group: data-loader workers must not die mid-step and take the run."""
    import os
    import subprocess
    import sys
    import time

    config_file, out = tmp_path / "config.json", tmp_path / "run"
    config_to_json(tiny(data_root, None, epochs=400, workers=2), config_file)
    with (tmp_path / "stderr.txt").open("w") as stderr:
        child = subprocess.Popen(
            [sys.executable, "-m", "proxygml_lite.train", "--config", str(config_file), "--out", str(out)],
            stderr=stderr,
            stdout=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, as a scheduler's job has
        )
    try:
        deadline = time.monotonic() + 240
        while not (out / "checkpoint.pt").exists() and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.2)
        os.killpg(child.pid, signal.SIGTERM)
        assert child.wait(timeout=240) == 143
    finally:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGKILL)
    text = (tmp_path / "stderr.txt").read_text()
    assert "SIGTERM: finishing this step, then saving a checkpoint" in text and "Traceback" not in text, text
    assert "checkpoint saved in" in text
