"""Data-parallel training: samplers, and torchrun with 2 gloo processes on the CPU vs. one process.

Tolerance of the comparison. With frozen BatchNorm statistics (``--freeze_BN``;
otherwise each process would normalise with its own half-batch statistics) and
no random augmentation (``--no-augment``; otherwise each process draws its own
crops), two processes with local batch ``b/2`` see exactly the samples of the
single process's batch ``b``: rank ``q`` takes positions ``q, q+2, ...`` of
the same ``seed + epoch`` permutation. ``L^s`` is a mean over the batch and
``L^p`` is computed identically on every rank, so the DDP-averaged gradient
equals the single-process gradient up to float32 summation order (~1e-7
relative). After a few Adam steps the parameters agree to ~1e-6, hence the
``atol=1e-5`` on parameters and losses; the retrieval metrics, computed from
embeddings that agree to that precision, come out equal.
"""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from _fabricate import tiny_argv
from PIL import Image

from proxygml_lite.train import main
from proxygml_lite.training.distributed import DistContext, ResumableDistributedSampler, ShardSampler, gather_rows


def test_two_ranks_draw_the_single_process_batches():
    data = list(range(24))
    single = list(ResumableDistributedSampler(data, seed=7))
    assert sorted(single) == data
    ranks = []
    for rank in range(2):
        sampler = ResumableDistributedSampler(data, num_replicas=2, rank=rank, seed=7)
        ranks.append(list(sampler))
    for step in range(3):  # global batch 8 = 2 x 4
        union = ranks[0][4 * step : 4 * step + 4] + ranks[1][4 * step : 4 * step + 4]
        assert sorted(union) == sorted(single[8 * step : 8 * step + 8])


def test_sampler_order_depends_on_seed_plus_epoch_and_can_start_mid_epoch():
    data = list(range(20))
    sampler = ResumableDistributedSampler(data, seed=1)
    sampler.set_epoch(3)
    epoch3 = list(sampler)
    other = ResumableDistributedSampler(data, seed=2)
    other.set_epoch(2)
    assert list(other) == epoch3  # the permutation is seeded with seed + epoch
    sampler.set_start(8)
    assert list(sampler) == epoch3[8:] and len(sampler) == 12
    sampler.set_epoch(4)
    assert len(sampler) == 20 and sampler.state_dict() == {"seed": 1, "epoch": 4, "start": 0}


def test_shard_sampler_covers_every_index_once_without_padding():
    shards = [ShardSampler(11, 3, rank).indices() for rank in range(3)]
    assert sorted(sum(shards, [])) == list(range(11))
    assert [len(s) for s in shards] == [4, 4, 3]
    x = torch.arange(6.0).view(3, 2)
    assert gather_rows(x, DistContext()) is x


def make_split(root, sizes, seed):
    rng = np.random.default_rng(seed)
    for label, count in sizes.items():
        folder = root / str(label)
        folder.mkdir(parents=True)
        base = rng.integers(0, 256, (16, 16, 3))
        for i in range(count):
            image = np.clip(base + rng.normal(0, 60, base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(image).save(folder / f"{i}.png")


def read_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_torchrun_with_two_gloo_processes_matches_one_process(tmp_path):
    make_split(tmp_path / "data" / "train", {c: 4 for c in range(6)}, seed=1)
    make_split(tmp_path / "data" / "test", {6: 4, 7: 4, 8: 4, 9: 3}, seed=2)  # 15: uneven shards 8 + 7
    args = tiny_argv(tmp_path / "data") + [
        "--epochs",
        "2",
        "--quiet",
        "--freeze_BN",
        "--no-augment",
        "--warm",
        "1",
        "--seed",
        "5",
        "--modellr",
        "1e-3",
    ]
    single_dir, ddp_dir = tmp_path / "single", tmp_path / "ddp"
    assert main(args + ["--out", str(single_dir)]) == 0

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "proxygml_lite.train",
        "--",
        *args,
        "--out",
        str(ddp_dir),
    ]  # "--": see distributed.py
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    single = json.loads((single_dir / "results.json").read_text())
    ddp = json.loads((ddp_dir / "results.json").read_text())
    assert ddp["world_size"] == 2 and single["world_size"] == 1
    assert ddp["test_samples"] == 15  # every test sample evaluated once (shards gathered, no duplicates)
    for key, value in single["metrics"].items():
        assert ddp["metrics"][key] == pytest.approx(value, abs=1e-6), key
    for a, b in zip(read_rows(single_dir / "metrics.csv"), read_rows(ddp_dir / "metrics.csv")):
        assert a["epoch"] == b["epoch"] and a["backbone_frozen"] == b["backbone_frozen"]
        for key in ("loss", "loss_s", "loss_p"):
            if a[key]:
                assert float(b[key]) == pytest.approx(float(a[key]), abs=1e-5), key
    s = torch.load(single_dir / "checkpoint.pt", weights_only=True)
    d = torch.load(ddp_dir / "checkpoint.pt", weights_only=True)
    for name, tensor in s["model"].items():
        assert torch.allclose(tensor.float(), d["model"][name].float(), atol=1e-5), name
    assert torch.allclose(s["loss"]["proxies"], d["loss"]["proxies"], atol=1e-5)
    assert not list(ddp_dir.glob(".*.tmp"))


def test_torchrun_into_a_run_folder_in_use_stops_every_rank_with_one_line(tmp_path):
    """Rank 0 cannot take the folder's lock: the other rank must stop too (not wait for rank 0 forever)."""
    from proxygml_lite.fileio import exclusive_lock

    make_split(tmp_path / "data" / "train", {c: 4 for c in range(4)}, seed=1)
    make_split(tmp_path / "data" / "test", {4: 4, 5: 4}, seed=2)
    out = tmp_path / "busy"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m",
               "proxygml_lite.train", "--", "--dataset", "folder", "--data", str(tmp_path / "data"), "--backbone",
               "smallcnn", "--dim", "8", "--epochs", "1", "--image-size", "16", "-j", "0", "--device", "cpu",
               "--quiet", "--out", str(out)]  # fmt: skip
    with exclusive_lock(out, "test"):
        done = subprocess.run(
            command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=180
        )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.startswith("python -m proxygml_lite.train: error: ")]
    assert len(lines) == 2 and all(f"pid {os.getpid()} on host" in line for line in lines), done.stderr[-3000:]
    assert "proxygml_lite/training" not in done.stderr  # no traceback of ours (torchrun reports the exit itself)
