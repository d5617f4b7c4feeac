"""Embedding snapshots, re-running a saved configuration (--config), the thread count, the glyphs_hard preset."""

import json
from functools import partial

import pytest
import torch
from _fabricate import tiny_config

from proxygml_lite.studies.plots import read_embedding_snapshots, read_proxy_snapshots
from proxygml_lite.train import main, parse_args
from proxygml_lite.training.rerun import load_config
from proxygml_lite.training.trainer import train

#: What this file's runs change in the shared tiny run (_fabricate.tiny_config).
tiny = partial(tiny_config, epochs=2, warm=0)


def test_embedding_snapshots_hold_fixed_samples_every_epoch_and_do_not_change_the_run(data_root, tmp_path):
    plain = train(tiny(data_root, tmp_path / "plain"))
    with_snapshots = train(
        tiny(
            data_root,
            tmp_path / "snap",
            save_proxies=True,
            save_embeddings=True,
            embedding_samples=5,
        )
    )
    assert with_snapshots == plain  # the snapshot samples are drawn with their own generator
    epochs, train_emb, train_labels, train_idx = read_embedding_snapshots(tmp_path / "snap", "train")
    assert epochs == [0, 1, 2] and train_emb.shape == (3, 5, 8)
    assert train_labels.shape == (5,) and int(train_labels.max()) < 6  # training labels 0..C-1 (C = 6)
    assert torch.equal(train_idx, train_idx.sort().values) and len(set(train_idx.tolist())) == 5
    assert torch.allclose(train_emb.norm(dim=-1), torch.ones(3, 5), atol=1e-5)
    assert not torch.equal(train_emb[0], train_emb[-1])
    test_epochs, test_emb, _, _ = read_embedding_snapshots(tmp_path / "snap", "test")
    assert test_epochs == epochs and test_emb.shape[1] == 5
    proxy_epochs, proxies = read_proxy_snapshots(tmp_path / "snap")
    assert proxy_epochs == epochs and proxies.shape == (3, 12, 8)
    # the final test snapshot equals what the final model embeds for those rows
    with pytest.raises(FileNotFoundError, match="--save-embeddings"):
        read_embedding_snapshots(tmp_path / "plain")
    with pytest.raises(ValueError, match="'train' or 'test'"):
        read_embedding_snapshots(tmp_path / "snap", "val")


def test_all_samples_when_embedding_samples_is_none_or_zero_on_the_command_line(data_root, tmp_path):
    train(
        tiny(
            data_root,
            tmp_path / "all",
            epochs=1,
            save_embeddings=True,
            embedding_samples=None,
        )
    )
    _, emb, _, idx = read_embedding_snapshots(tmp_path / "all", "train")
    assert emb.shape[1] == 24 and idx.tolist() == list(range(24))  # 6 classes x 4 training images
    assert parse_args(["--embedding-samples", "0"]).embedding_samples is None


def test_config_reruns_a_run_folder_exactly_and_flags_override(data_root, tmp_path):
    first = tmp_path / "first"
    train(tiny(data_root, first, threads=1))
    again = tmp_path / "again"
    assert main(["--config", str(first), "--out", str(again)]) == 0
    a = json.loads((first / "results.json").read_text())
    b = json.loads((again / "results.json").read_text())
    assert a["metrics"] == b["metrics"] and b["config"]["threads"] == 1
    assert {k: v for k, v in a["config"].items() if k != "out"} == {k: v for k, v in b["config"].items() if k != "out"}
    # a JSON file holding one study row's config (as text, like the CSV column), then an explicit flag on top
    row_file = tmp_path / "row.json"
    row_file.write_text(json.dumps({"config": json.dumps(a["config"])}))
    cfg = parse_args(["--config", str(row_file), "--epochs", "1"])
    assert (cfg.epochs, cfg.N, cfg.seed, cfg.out, cfg.resume) == (1, 2, 3, None, False)
    assert load_config(first / "results.json").to_dict() == load_config(first).to_dict()


def test_config_errors_name_the_problem(tmp_path):
    # a ValueError, so that the command line reports it in one line (issue 16), naming the file and the fix
    with pytest.raises(ValueError, match="missing.json: no such file; pass a run folder"):
        load_config(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"epochs": 3}')
    with pytest.raises(ValueError, match="does not hold a training configuration"):
        load_config(bad)


def test_threads_is_applied_during_the_run_and_restored(data_root, tmp_path):
    before = torch.get_num_threads()
    seen = []
    train(
        tiny(data_root, tmp_path / "run", epochs=1, threads=1),
        callback=lambda event, info: seen.append(torch.get_num_threads()),
    )
    assert set(seen) == {1} and torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads"):
        tiny(data_root, tmp_path / "x", threads=0)


def test_glyphs_hard_preset():
    cfg = parse_args(["--dataset", "glyphs_hard"])
    assert (
        cfg.dataset,
        cfg.backbone,
        cfg.N,
        cfg.r,
        cfg.weight_lambda,
        cfg.threads,
    ) == ("glyphs_hard", "smallcnn", 12, 0.05, 0.3, 1)
    assert cfg.epoch_to_test == (cfg.epochs,) and cfg.new_epoch_to_decay[0] < cfg.epochs
    assert parse_args(["--dataset", "glyphs"]).epochs == 6  # the quick preset is unchanged
