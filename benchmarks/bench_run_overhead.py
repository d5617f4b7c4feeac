"""How much of a ``glyphs_hard`` run is training: its wall time beside the sum of its training epochs.

One run of ``python -m proxygml_lite.train --dataset glyphs_hard --quiet`` (the
preset's recipe: 50 epochs, one thread, evaluated before training and after
the last epoch) in a fresh subprocess. The script times the whole command
(start-up, data, evaluations, checkpoints, results) and reads from the run's
``metrics.csv`` the seconds the epochs spent training (``train_time_s``) and
evaluating (``eval_time_s``), all measured in that one run. It prints the
ratio wall / training; the goal (issue 19) is at most 1.1.

It also times ``python -m proxygml_lite.train --help`` (the best of three), the
start-up of every command line call, and lists what ``--help`` imported of
torch, torchvision and scikit-learn.

The machine is shared: the absolute times move with its load (printed before
and after, ``os.getloadavg``), compare the ratios.

Usage::

    python benchmarks/bench_run_overhead.py              # the full run (about 1.5 min on a quiet 2-core machine)
    python benchmarks/bench_run_overhead.py --epochs 3   # quick: the same run, 3 epochs
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from proxygml_lite.command_line import Parser

GOAL = 1.1


def load_text() -> str:
    return "load average (1, 5, 15 min): " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def time_help(repeats: int = 3) -> tuple[float, list[str]]:
    """The best wall time of ``--help`` over ``repeats`` fresh processes, and the heavy modules it imported."""
    best = float("inf")
    for _ in range(repeats):
        begin = time.perf_counter()
        subprocess.run([sys.executable, "-m", "proxygml_lite.train", "--help"], check=True, capture_output=True)
        best = min(best, time.perf_counter() - begin)
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['proxygml_lite.train', '--help']\n"
        "try:\n"
        "    runpy.run_module('proxygml_lite.train', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(m for m in ('torch', 'torchvision', 'sklearn') if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    return best, done.stderr.split()


def prepare_data(data: str) -> None:
    """Generate the glyphs_hard images on first use, outside the timing (a one-off, not part of a run)."""
    code = (
        "from proxygml_lite.data import load_dataset\n"
        f"load_dataset('glyphs_hard', data_root={data!r}, split='train', progress=False)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def column_sum(rows: list[dict[str, str]], name: str) -> float:
    return sum(float(row[name]) for row in rows if row.get(name))


def main() -> int:
    parser = Parser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=None, help="epochs of the run (default: the preset's 50)")
    parser.add_argument("--data", default="data", help="data root (default ./data)")
    parser.add_argument("--out", default=None, help="run folder (default: a temporary folder, removed afterwards)")
    parser.add_argument("--no-help-timing", action="store_true", help="skip timing --help")
    args = parser.parse_args()

    print(f"python {sys.version.split()[0]} on {os.cpu_count()} logical CPUs; {load_text()}")
    prepare_data(args.data)
    if not args.no_help_timing:
        help_s, imported = time_help()
        print(
            f"--help: {help_s:.2f} s (best of 3); imported: {', '.join(imported) or 'none of torch/torchvision/sklearn'}"
        )

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "run"
        command = [sys.executable, "-m", "proxygml_lite.train", "--dataset", "glyphs_hard", "--data", args.data]
        command += ["--out", str(out), "--quiet"]
        if args.epochs is not None:
            command += ["--epochs", str(args.epochs)]
        print("run:", " ".join(command[1:]))
        begin = time.perf_counter()
        subprocess.run(command, check=True)
        wall = time.perf_counter() - begin
        with open(out / "metrics.csv", encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh))

    training = column_sum(rows, "train_time_s")
    evaluation = column_sum(rows, "eval_time_s")
    evaluations = sum(1 for row in rows if row.get("eval_time_s"))
    epochs = sum(1 for row in rows if row.get("train_time_s"))
    print(f"{load_text()} (after the run)")
    print(f"{'wall time of the run':<42} {wall:8.2f} s")
    print(f"{f'training, sum of {epochs} epochs':<42} {training:8.2f} s")
    print(f"{f'evaluation, {evaluations} evaluations':<42} {evaluation:8.2f} s")
    print(f"{'the rest (start-up, data, checkpoints)':<42} {wall - training - evaluation:8.2f} s")
    ratio = wall / training
    verdict = "meets" if ratio <= GOAL else "misses"
    print(f"wall / training = {ratio:.3f} ({verdict} the goal of <= {GOAL})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
