#!/usr/bin/env python
"""A prepared check of the CUDA path (at most 8 minutes on one GPU): ``python scripts/gpu_check.py``.

No GPU was available while this package was written, so its test suite covers
the CPU only. On a machine with one CUDA GPU this script runs the GPU path for
real, part by part, each in its own subprocess with its own time budget:

``glyphs_hard_fp32``, ``glyphs_hard_bf16``
    ``glyphs_hard`` (its preset) for 3 epochs in float32 and with ``--amp bf16`` (skipped,
    saying so, on a GPU without bfloat16):
    training images per second (per epoch; the first epoch includes CUDA's
    start-up), peak GPU memory (``torch.cuda.max_memory_allocated``), the
    final metrics, and whether the training step synchronises with the host:
    every step runs under ``torch.cuda.set_sync_debug_mode("error")``, so a
    host read or a blocking copy inside the step raises and is reported (the
    run is then repeated without the check, to measure its speed).
``miniature_cub_bninception``
    a fabricated miniature CUB-200-2011 in its raw archive layout
    (:mod:`proxygml_lite.lab.miniature_data`) prepared by the package's pipeline,
    then the paper's recipe (preset ``cub200``: BN-Inception, d = 512, N = 12,
    lambda = 0.3, frozen BatchNorm, batch 32) with random initialisation
    (``pretrained`` off: no weights can be downloaded there) for 1 epoch and its
    evaluation, without the recipe's warm-up epoch (``warm`` 0: the whole network trains). ``r`` is raised so that k = ceil(r C N) > N with the
    miniature's 8 classes. Its metrics check the code path; they are not results.
``torchrun_one_process``
    ``torchrun --standalone --nproc_per_node 1 -m proxygml_lite.train`` on
    ``glyphs_hard`` for 1 epoch (NCCL on CUDA, gloo on the CPU).
``bench_loss``
    ``benchmarks/bench_loss.py --device cuda``: the loss layer against the
    dense formulation, at the three datasets' scales.

It writes ``report.json`` (every part: status, reason, budget, wall time and
its measurements, plus the machine) and ``summary.md`` (the same as a table)
into ``--out`` (default ``results/gpu/``), both atomically.

Before them, ``prepare_glyphs_hard`` generates the glyph images (CPU work,
cached in ``--data``: pass the same folder again and it takes seconds).

Without CUDA (``--quick``, or any machine without a GPU) the parts that need
CUDA are skipped and each says "skipped: no CUDA"; the others run in a tiny
mode on the CPU (1 epoch of ``glyphs_hard`` with 10 + 10 classes; the
miniature CUB at 32x32 with batch 16; torchrun with gloo; the loss benchmark's
``--quick`` sizes), with budgets 10 times larger (a CPU of any speed, shared), so the
script itself is tested on the CPU (``tests/project/test_gpu_check.py``).

Usage::

    python scripts/gpu_check.py                      # on the GPU machine: -> results/gpu/{report.json,summary.md}
    python scripts/gpu_check.py --quick --out /tmp/g # tiny mode (the CPU test)
    python scripts/gpu_check.py --only glyphs_hard_fp32 bench_loss
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the checkout's package, also when it is not installed

DEFAULT_OUT = ROOT / "results" / "gpu"
#: The whole check's budget on one GPU (the issue's "at most 8 minutes").
OVERALL_BUDGET_S = 480
NO_CUDA = "skipped: no CUDA"
NO_BF16 = "skipped: this GPU has no native bfloat16 (torch.cuda.is_bf16_supported(including_emulation=False) is False)"


@dataclass(frozen=True)
class Part:
    name: str
    title: str
    budget_s: int  # on the GPU; the CPU tiny mode gets CPU_BUDGET_FACTOR times more
    needs_cuda: bool  # True: skipped without CUDA; False: a tiny CPU version runs there
    tiny: str = ""  # what the tiny CPU version runs
    needs_bf16: bool = False  # True: skipped on a GPU without native bfloat16 (training.device.native_bf16)


#: The parts, in order, with their budgets on one GPU. No GPU was available when they were set: they are estimates
#: (bench_loss starts a fresh process, importing torch and initialising CUDA, for each of its 12 measurements).
PARTS = (
    Part(
        "prepare_glyphs_hard",
        "generate the glyphs_hard images (CPU work, once per data folder)",
        50,
        False,
        "10 + 10 classes",
    ),
    Part("glyphs_hard_fp32", "glyphs_hard, 3 epochs, float32", 75, False, "1 epoch, 10 + 10 classes"),
    Part("glyphs_hard_bf16", "glyphs_hard, 3 epochs, --amp bf16", 60, True, needs_bf16=True),
    Part(
        "miniature_cub_bninception",
        "miniature CUB (raw layout), paper's recipe, BN-Inception, 1 epoch + eval",
        105,
        False,
        "32x32 inputs, batch 16, no NMI",
    ),
    Part(
        "torchrun_one_process", "torchrun --nproc_per_node 1, glyphs_hard, 1 epoch", 60, False, "gloo, 10 + 10 classes"
    ),
    Part("bench_loss", "benchmarks/bench_loss.py --device cuda", 130, False, "--quick --repeats 1 --dim 32 on the CPU"),
)
BY_NAME = {part.name: part for part in PARTS}
#: Quick mode's glyphs_hard: 10 + 10 classes instead of 100 + 199 (the generation dominates a CPU run).
QUICK_GLYPH_OPTIONS = {"num_train_classes": 10, "num_test_classes": 10}
#: On the CPU the parts run tiny versions on a machine of any speed: their budgets are this many times larger.
CPU_BUDGET_FACTOR = 10  # a shared 2-core machine took 150+ s for the 25 s glyph generation


# ------------------------------------------------------------------------------------------ measuring


@contextlib.contextmanager
def _checked_training_step(record: dict, check_sync: bool):
    """Count the images of every training step and, with ``check_sync``, run each step under
    ``torch.cuda.set_sync_debug_mode("error")`` (a host synchronisation inside it raises).

    The step is :meth:`Trainer.step`, the trainer's public hook for one optimisation step.
    """
    import torch

    from proxygml_lite.training.trainer import Trainer

    original = Trainer.step

    def step(self, images, labels):
        record["images"] += int(images.shape[0]) if hasattr(images, "shape") else 0
        record["steps"] += 1
        if not check_sync:
            return original(self, images, labels)
        torch.cuda.set_sync_debug_mode("error")
        try:
            return original(self, images, labels)
        except RuntimeError as error:
            if "synchroniz" in str(error).lower():
                record["host_sync"] = str(error).strip().splitlines()[0]
            raise
        finally:
            torch.cuda.set_sync_debug_mode("default")

    Trainer.step = step
    record["step_wrapped"] = "Trainer.step"
    try:
        yield
    finally:
        Trainer.step = original


def _epoch_rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return [row for row in csv.DictReader(fh) if int(float(row["epoch"])) > 0]


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _train_and_measure(config, *, check_sync: bool) -> dict:
    """Train ``config``; images/s per epoch, peak memory, metrics, and the host-sync verdict."""
    import torch

    from proxygml_lite.training.trainer import train

    cuda = config.device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    record = {"images": 0, "steps": 0, "host_sync": None}
    begin = time.perf_counter()
    with _checked_training_step(record, check_sync and cuda):
        metrics = train(config)
    wall = time.perf_counter() - begin
    rows = _epoch_rows(Path(config.out))
    times = [_number(row.get("train_time_s")) or 0.0 for row in rows]
    per_epoch = record["images"] / max(len(rows), 1)
    result = {
        "epochs": len(rows),
        "steps": record["steps"],
        "images": record["images"],
        "train_time_s": [round(t, 3) for t in times],
        "images_per_s": [round(per_epoch / t, 1) if t > 0 else None for t in times],
        "images_per_s_after_first_epoch": (
            round(per_epoch * (len(times) - 1) / sum(times[1:]), 1) if len(times) > 1 and sum(times[1:]) > 0 else None
        ),
        "eval_time_s": [_number(row.get("eval_time_s")) for row in rows if _number(row.get("eval_time_s"))],
        "metrics": {k: round(v, 4) for k, v in metrics.items() if isinstance(v, (int, float))},
        "wall_s": round(wall, 1),
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
        "step_wrapped": record.get("step_wrapped"),
        # what the images/s depend on besides the GPU (glyphs_hard's preset loads data in the main process)
        "settings": {k: getattr(config, k) for k in ("batch_size", "workers", "threads", "amp", "channels_last")},
    }
    if cuda:
        result["peak_memory_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    if check_sync and cuda and record.get("step_wrapped"):
        result["host_sync_in_step"] = "none (every step ran under set_sync_debug_mode('error'))"
    elif check_sync and cuda:
        result["host_sync_in_step"] = "not checked: the training step was not found (Trainer._step or train_step)"
        result["failed"] = "the host-sync check could not wrap the training step; update _checked_training_step"
    return result


def _glyphs_config(work: Path, data: str, *, epochs: int, amp: str, device: str, quick: bool):
    from proxygml_lite.training.presets import config_from_preset

    changes = {"epochs": epochs, "epoch_to_test": (epochs,), "amp": amp, "device": device, "quiet": True}
    if quick:
        changes["dataset_options"] = dict(QUICK_GLYPH_OPTIONS)
    return config_from_preset("glyphs_hard", data=data, out=str(work / f"glyphs_hard_{amp}"), **changes)


def part_glyphs_hard(amp: str, work: Path, data: str, cuda: bool, quick: bool) -> dict:
    device = "cuda" if cuda else "cpu"
    epochs = 3 if cuda else 1
    config = _glyphs_config(work, data, epochs=epochs, amp=amp, device=device, quick=quick)
    try:
        return _train_and_measure(config, check_sync=True)
    except RuntimeError as error:
        if not (cuda and "synchroniz" in str(error).lower()):
            raise
        found = str(error).strip().splitlines()[0]
    # the step synchronised with the host: say where, then measure the speed without the check
    import shutil

    shutil.rmtree(config.out, ignore_errors=True)
    result = _train_and_measure(config, check_sync=False)
    result["host_sync_in_step"] = f"FOUND: {found}"
    result["failed"] = "the training step synchronises with the host (see host_sync_in_step)"
    return result


def part_prepare_glyphs(data: str, quick: bool) -> dict:
    """Generate (or find cached) glyphs_hard under ``data``, so the training parts time training only."""
    from proxygml_lite.data import load_dataset

    options = dict(QUICK_GLYPH_OPTIONS) if quick else {}
    begin = time.perf_counter()
    sizes = {
        split: len(load_dataset("glyphs_hard", data, split, progress=False, **options)) for split in ("train", "test")
    }
    return {"images": sizes, "options": options, "wall_s": round(time.perf_counter() - begin, 1)}


def miniature_cub_config(work: Path, cuda: bool):
    """The paper's recipe (preset ``cub200``) on the miniature CUB in ``work/miniature``, for its one epoch.

    ``warm`` is 0: the recipe's warm-up epoch keeps the backbone frozen, and the run's only epoch would be it.
    """
    from proxygml_lite.lab import miniature_data
    from proxygml_lite.training.presets import config_from_preset

    classes = miniature_data.MINIATURE_SIZES["cub200"][0]
    n = config_from_preset("cub200").N
    r = round((n + 1) / (classes * n) + 0.01, 3)  # k = ceil(r C N) > N with the miniature's few classes
    changes = {
        "data": str(work / "miniature"),
        "out": str(work / "miniature_cub_run"),
        "pretrained": False,
        "epochs": 1,
        "warm": 0,  # the whole network trains in the one epoch
        "epoch_to_test": (1,),
        "r": r,
        "device": "cuda" if cuda else "cpu",
        "quiet": True,
        "workers": 2 if cuda else 0,
        "recall_ks": (1, 2, 4, 8),
    }
    if not cuda:
        changes.update(image_size=32, batch_size=16, compute_nmi=False)  # BN-Inception's smallest input
    return config_from_preset("cub200", **changes)


def part_miniature_cub(work: Path, cuda: bool, quick: bool) -> dict:
    from proxygml_lite.lab import miniature_data

    begin = time.perf_counter()
    prepared = miniature_data.prepare_miniature("cub200", work / "miniature", image_size=32 if quick else 128)
    prepare_s = time.perf_counter() - begin
    config = miniature_cub_config(work, cuda)
    result = _train_and_measure(config, check_sync=cuda)
    result.update(
        prepared_folder=str(prepared.relative_to(work)) if prepared.is_relative_to(work) else str(prepared),
        prepare_s=round(prepare_s, 2),
        recipe={
            k: getattr(config, k)
            for k in (
                "backbone",
                "pretrained",
                "dim",
                "batch_size",
                "N",
                "r",
                "weight_lambda",
                "freeze_bn",
                "image_size",
                "warm",
            )
        },
        note="fabricated images: these metrics check the code path, they are not results",
    )
    return result


def part_torchrun(work: Path, data: str, cuda: bool, quick: bool, budget_s: float) -> dict:
    out = work / "torchrun_run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
        "-m", "proxygml_lite.train", "--",
        "--dataset", "glyphs_hard", "--data", data, "--epochs", "1", "--epoch_to_test", "1",
        "--device", "cuda" if cuda else "cpu", "--quiet", "--out", str(out),
    ] + (["--dataset-options", json.dumps(QUICK_GLYPH_OPTIONS)] if quick else [])  # fmt: skip
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    begin = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=budget_s, cwd=ROOT)
    wall = time.perf_counter() - begin
    result = {
        "command": " ".join(command[1:]).replace(str(work), "<work>"),
        "returncode": done.returncode,
        "wall_s": round(wall, 1),
    }
    if done.returncode != 0:
        result["failed"] = f"torchrun exited with status {done.returncode}"
        result["output_tail"] = (done.stdout + done.stderr)[-2000:]
        return result
    from proxygml_lite.training.run_folder import read_results_file

    results = read_results_file(out / "results.json")
    result.update(
        world_size=results.get("world_size"),
        device=results.get("device"),
        metrics={k: round(v, 4) for k, v in results["metrics"].items() if isinstance(v, (int, float))},
    )
    return result


def part_bench_loss(cuda: bool, budget_s: float) -> dict:
    command = [sys.executable, str(ROOT / "benchmarks" / "bench_loss.py")]
    command += ["--device", "cuda"] if cuda else ["--quick", "--repeats", "1", "--dim", "32"]
    begin = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=budget_s, cwd=ROOT)
    result = {
        "command": " ".join(["python"] + command[1:]).replace(str(ROOT) + os.sep, ""),
        "returncode": done.returncode,
        "wall_s": round(time.perf_counter() - begin, 1),
        "ratio_lines": [line.strip() for line in done.stdout.splitlines() if "ratio" in line],
        "output": done.stdout[-6000:],
    }
    if done.returncode != 0:
        result["failed"] = f"bench_loss.py exited with status {done.returncode}"
        result["output_tail"] = done.stderr[-2000:]
    return result


def run_part(name: str, work: Path, data: str, quick: bool, budget_s: float) -> dict:
    """Run one part in this process; returns its measurements (``failed`` set when it found a problem)."""
    import torch

    cuda = torch.cuda.is_available() and not quick
    if name == "prepare_glyphs_hard":
        return part_prepare_glyphs(data, quick)
    if name == "glyphs_hard_fp32":
        return part_glyphs_hard("none", work, data, cuda, quick)
    if name == "glyphs_hard_bf16":
        return part_glyphs_hard("bf16", work, data, cuda, quick)
    if name == "miniature_cub_bninception":
        return part_miniature_cub(work, cuda, quick)
    if name == "torchrun_one_process":
        return part_torchrun(work, data, cuda, quick, budget_s)
    if name == "bench_loss":
        return part_bench_loss(cuda, budget_s)
    raise ValueError(f"unknown part {name!r}; choose from {', '.join(BY_NAME)}")


# ------------------------------------------------------------------------------------------ the report


def machine() -> dict:
    import torch

    from proxygml_lite.training.device import native_bf16

    facts = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cuda_available": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        facts.update(
            cuda=torch.version.cuda,
            gpu=torch.cuda.get_device_name(0),
            gpu_count=torch.cuda.device_count(),
            gpu_memory_gib=round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1),
            bf16_supported=native_bf16(),
        )
    return facts


def _run_in_subprocess(part: Part, work: Path, data: str, quick: bool, budget_s: float) -> dict:
    """One part in a fresh process (clean CUDA state and peak memory), killed after ``budget_s``."""
    result_file = work / f"{part.name}.json"
    command = [
        sys.executable, str(Path(__file__).resolve()), "--part", part.name, "--work", str(work),
        "--data", data, "--budget-s", str(budget_s), "--result", str(result_file),
    ] + (["--quick"] if quick else [])  # fmt: skip
    begin = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=budget_s, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return {
            "status": "timed out",
            "reason": f"stopped after its budget of {budget_s:.0f} s",
            "wall_s": round(budget_s, 1),
        }
    wall = round(time.perf_counter() - begin, 1)
    if done.returncode != 0 or not result_file.exists():
        lines = [line for line in (done.stderr or done.stdout).strip().splitlines() if line.strip()]
        return {
            "status": "failed",
            "reason": lines[-1] if lines else f"exit status {done.returncode}",
            "wall_s": wall,
            "output_tail": (done.stdout + done.stderr)[-3000:],
        }
    results = json.loads(result_file.read_text())
    failed = results.pop("failed", None)
    return {
        "status": "failed" if failed else "passed",
        "reason": failed or "",
        "wall_s": wall,
        "results": results,
    }


def skip_reason(part: Part, cuda: bool) -> str | None:
    """Why ``part`` cannot run here (one line starting "skipped: "), or None. ``cuda``: the check runs on CUDA."""
    import torch

    from proxygml_lite.training.device import native_bf16

    if part.needs_cuda and not cuda:
        return NO_CUDA + ("" if not torch.cuda.is_available() else " (--quick)")
    if part.needs_bf16 and not native_bf16():
        return NO_BF16
    return None


def check(out: Path, quick: bool, only: list[str] | None, budget_s: float, data: str) -> dict:
    """Run the parts (those of ``only``, else all) within ``budget_s`` in all; write the report; return it."""
    import torch

    from proxygml_lite.atomic_writers import atomic_write_json, atomic_write_text, makedirs

    cuda = torch.cuda.is_available() and not quick
    mode = "full" if cuda else "quick (CPU, tiny sizes)"
    factor = 1 if cuda else CPU_BUDGET_FACTOR
    budget_s *= factor
    begin = time.perf_counter()
    report = {
        "schema": 1,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "mode": mode,
        "cuda": cuda,
        "machine": machine(),
        "overall_budget_s": budget_s,
        "parts": [],
    }
    with tempfile.TemporaryDirectory(prefix="proxygml_gpu_check_") as scratch:
        work = Path(scratch)
        for part in PARTS:
            if only and part.name not in only:
                continue
            entry = {"name": part.name, "title": part.title, "budget_s": part.budget_s * factor}
            left = budget_s - (time.perf_counter() - begin)
            if (reason := skip_reason(part, cuda)) is not None:
                entry.update(status="skipped", reason=reason)
            elif left < 10:
                entry.update(status="skipped", reason=f"skipped: the overall budget of {budget_s:.0f} s is spent")
            else:
                allowed = min(part.budget_s * factor, left)
                print(f"{part.name}: running (budget {allowed:.0f} s) ...", flush=True)
                entry.update(_run_in_subprocess(part, work, data, quick, allowed))
                if not cuda and part.name != "prepare_glyphs_hard":
                    entry["cpu_tiny_mode"] = (
                        f"{NO_CUDA} for this part's CUDA run; ran in tiny mode on the CPU: {part.tiny}"
                    )
                elif not cuda:
                    entry["cpu_tiny_mode"] = f"tiny mode: {part.tiny}"
            print(f"{part.name}: {entry['status']}{' - ' + entry['reason'] if entry.get('reason') else ''}", flush=True)
            report["parts"].append(entry)
    report["wall_s"] = round(time.perf_counter() - begin, 1)
    makedirs(out)
    atomic_write_json(out / "report.json", report)
    atomic_write_text(out / "summary.md", summary(report))
    return report


def _headline(entry: dict) -> str:
    """The part's key numbers in one cell of the summary table."""
    r = entry.get("results") or {}
    bits = [entry["cpu_tiny_mode"]] if entry.get("cpu_tiny_mode") else []
    if isinstance(r.get("images"), dict):
        bits.append(", ".join(f"{split} {count} images" for split, count in r["images"].items()))
    if r.get("images_per_s"):
        bits.append("images/s per epoch " + ", ".join(f"{v:g}" for v in r["images_per_s"] if v is not None))
    if r.get("peak_memory_mib") is not None:
        bits.append(f"peak {r['peak_memory_mib']:g} MiB")
    if r.get("host_sync_in_step"):
        bits.append("host sync in step: " + r["host_sync_in_step"].split(" (")[0])
    if r.get("eval_time_s"):
        bits.append("evaluation " + ", ".join(f"{v:g} s" for v in r["eval_time_s"]))
    if r.get("metrics"):
        bits.append(", ".join(f"{k} {v:g}" for k, v in list(r["metrics"].items())[:3]))
    if r.get("world_size") is not None:
        bits.append(f"world size {r['world_size']}")
    bits += r.get("ratio_lines", [])[:4]
    return "; ".join(bits).replace("|", "/")


def summary(report: dict) -> str:
    m = report["machine"]
    lines = [
        "# GPU check",
        "",
        f"Written by `scripts/gpu_check.py` on {report['created']}, mode: **{report['mode']}**, "
        f"{report['wall_s']:g} s of the {report['overall_budget_s']:g} s budget.",
        "",
        f"Machine: {m.get('gpu', 'no CUDA GPU')}; torch {m['torch']}"
        + (f", CUDA {m['cuda']}" if m.get("cuda") else "")
        + f"; Python {m['python']}; {m['cpu_count']} CPUs.",
        "",
    ]
    if not report["cuda"]:
        lines += [
            "**No CUDA here:** the CUDA parts were skipped and say so; the others ran in a tiny mode on the CPU, "
            "which checks the script, not the GPU path.",
            "",
        ]
    lines += ["| part | status | wall (s) / budget (s) | measured |", "|---|---|---|---|"]
    for entry in report["parts"]:
        status = entry["status"] + (
            f": {entry['reason']}" if entry.get("reason") and entry["status"] != "skipped" else ""
        )
        if entry["status"] == "skipped":
            status = entry["reason"]
        wall = entry.get("wall_s")
        lines.append(
            f"| {entry['title']} | {status.replace('|', '/')} | {wall if wall is not None else '-'} / {entry['budget_s']} "
            f"| {_headline(entry)} |"
        )
    lines += [
        "",
        "The miniature CUB's images are fabricated and its network starts from random weights: its metrics check "
        "the code path, they are not results. Images/s of the first epoch include CUDA's start-up.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="report folder (default: results/gpu)")
    parser.add_argument("--quick", action="store_true", help="tiny CPU mode: skip the CUDA parts (the CPU test)")
    parser.add_argument("--only", nargs="+", choices=list(BY_NAME), help="run only these parts")
    parser.add_argument("--budget-s", type=float, default=OVERALL_BUDGET_S, help="overall budget in seconds (480)")
    parser.add_argument("--data", default="data", help="data root for glyphs_hard (generated there once; ./data)")
    parser.add_argument("--part", help=argparse.SUPPRESS)  # internal: run one part in this process
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part:
        result = run_part(args.part, args.work, args.data, args.quick, args.budget_s)
        args.result.write_text(json.dumps(result, indent=1, default=str))
        return 0
    report = check(args.out, args.quick, args.only, args.budget_s, str(Path(args.data).resolve()))
    bad = [p["name"] for p in report["parts"] if p["status"] in ("failed", "timed out")]
    print(f"report -> {args.out / 'report.json'}, summary -> {args.out / 'summary.md'}")
    if bad:
        print(f"error: part(s) {', '.join(bad)} failed or timed out; see {args.out / 'summary.md'}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
