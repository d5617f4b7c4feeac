"""Benchmark proxygml_lite.evaluation against pytorch-metric-learning's AccuracyCalculator.

Synthetic embeddings shaped like the Stanford Online Products test set
(60,502 x 512 float32, 11,316 classes of 2..12 images) by default; ``--n`` and
``--classes`` shrink it for a quick run. Each method runs in a fresh
subprocess, so its peak resident memory (``ru_maxrss``) is its own: the peak
after importing the libraries and loading the data ("base"), after the
retrieval metrics, and after NMI.

Methods:

* ``ours-faiss``: ``evaluate(..., recall_ks=(1, 10, 100, 1000), compute_map=True,
  compute_nmi=False, backend="faiss")``, then ``nmi(..., protocol="fast", backend="faiss")``.
* ``ours-torch``: the same with ``backend="torch"`` (chunked matmul + topk) and
  NMI by sklearn's KMeans: the path taken when faiss is not installed.
* ``pml``: ``AccuracyCalculator(include=("precision_at_1",
  "mean_average_precision_at_r", "r_precision"), k="max_bin_count")
  .get_accuracy(q, labels)`` (reference = query), then ``include=("NMI",)``.
  Its k-NN is faiss ``IndexFlatL2`` on the embeddings as given, so they are
  L2-normalised first (inside the timing). It computes no Recall@K for K > 1.

Usage::

    python benchmarks/bench_eval.py                      # full SOP size (several minutes)
    python benchmarks/bench_eval.py --n 6000 --classes 1100   # quick run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from proxygml_lite.command_line import Parser, seed_arg

SOP_TEST_SIZE = 60_502
SOP_TEST_CLASSES = 11_316
RECALL_KS = (1, 10, 100, 1000)
METHODS = ("ours-faiss", "ours-torch", "pml")


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_data(n: int, classes: int, dim: int, max_per_class: int, noise: float, seed: int):
    """Gaussian classes: centre ~ N(0, I), sample = centre + noise * N(0, I); sizes in [2, max_per_class]."""
    if not 2 * classes <= n <= max_per_class * classes:
        raise ValueError(
            f"--n {n} with --classes {classes} needs 2*classes <= n <= {max_per_class}*classes "
            f"(every class has 2..{max_per_class} samples); change --n or --classes."
        )
    rng = np.random.default_rng(seed)
    extra_slots = np.repeat(np.arange(classes), max_per_class - 2)
    extra = rng.choice(extra_slots, size=n - 2 * classes, replace=False)
    sizes = 2 + np.bincount(extra, minlength=classes)
    # Make the largest class exactly max_per_class (SOP has classes of 12), taking the
    # samples from other classes that have more than 2.
    need = max_per_class - sizes[0]
    donors = np.flatnonzero(sizes[1:] > 2)[:need] + 1
    sizes[0] += len(donors)
    sizes[donors] -= 1
    labels = rng.permutation(np.repeat(np.arange(classes), sizes))
    centres = rng.standard_normal((classes, dim), dtype=np.float32)
    emb = centres[labels]
    emb += noise * rng.standard_normal((n, dim), dtype=np.float32)
    return emb, labels.astype(np.int64), sizes


def worker(method: str, data_dir: Path) -> dict:
    """Run one method on the saved data; return timings and peak RSS."""
    import torch

    if method.startswith("ours"):
        # evaluation.py imports sklearn lazily inside nmi(); pytorch-metric-learning imports it
        # at import time. Import it here too, so that neither method's timing includes it.
        import sklearn.cluster  # noqa: F401
        import sklearn.metrics  # noqa: F401

        from proxygml_lite.evaluation import evaluate, nmi
    else:
        from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
    emb = np.load(data_dir / "emb.npy")
    labels = np.load(data_dir / "labels.npy")
    out = {"method": method, "base_rss_mib": peak_rss_mib(), "torch_threads": torch.get_num_threads()}

    t0 = time.perf_counter()
    if method.startswith("ours"):
        backend = method.split("-")[1]
        metrics = evaluate(emb, labels, recall_ks=RECALL_KS, compute_nmi=False, compute_map=True, backend=backend)
    else:
        calc = AccuracyCalculator(
            include=("precision_at_1", "mean_average_precision_at_r", "r_precision", "NMI"),
            k="max_bin_count",
            device=torch.device("cpu"),
        )
        q = torch.nn.functional.normalize(torch.from_numpy(emb), dim=1)
        y = torch.from_numpy(labels)
        res = calc.get_accuracy(q, y, include=("precision_at_1", "mean_average_precision_at_r", "r_precision"))
        metrics = {"R@1": res["precision_at_1"], "MAP@R": res["mean_average_precision_at_r"], "RP": res["r_precision"]}
    out["retrieval_s"] = time.perf_counter() - t0
    out["retrieval_rss_mib"] = peak_rss_mib()

    t0 = time.perf_counter()
    if method == "ours-faiss":
        metrics["NMI"] = nmi(emb, labels, seed=0, protocol="fast", backend="faiss")
    elif method == "ours-torch":
        metrics["NMI"] = nmi(emb, labels, seed=0, protocol="fast", backend="sklearn")
    else:
        metrics["NMI"] = calc.get_accuracy(q, y, include=("NMI",))["NMI"]
    out["nmi_s"] = time.perf_counter() - t0
    out["peak_rss_mib"] = peak_rss_mib()
    out["metrics"] = metrics
    return out


def machine_facts() -> list[str]:
    import torch

    facts = [
        f"python {platform.python_version()} on {platform.platform()}",
        f"cpu: {platform.processor() or platform.machine()}, os.cpu_count()={os.cpu_count()}, "
        f"usable cores={len(os.sched_getaffinity(0))}, load average={os.getloadavg()}",
        f"torch {torch.__version__}, torch.get_num_threads()={torch.get_num_threads()}, "
        f"cuda available={torch.cuda.is_available()} (not used: numpy inputs run on the CPU)",
    ]
    try:
        import faiss

        facts.append(f"faiss {faiss.__version__}, omp threads={faiss.omp_get_max_threads()}")
    except ImportError:
        facts.append("faiss: not installed")
    try:
        import pytorch_metric_learning

        facts.append(f"pytorch-metric-learning {pytorch_metric_learning.__version__}")
    except ImportError:
        facts.append("pytorch-metric-learning: not installed")
    try:
        mem = next(line for line in open("/proc/meminfo") if line.startswith("MemTotal"))
        facts.append(f"memory: {int(mem.split()[1]) / 2**20:.1f} GiB total")
    except (OSError, StopIteration):
        pass
    return facts


def run_method(method: str, data_dir: Path, timeout: float | None) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, "--data", str(data_dir)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"method": method, "error": f"did not finish within --timeout {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"method": method, "error": f"exit code {proc.returncode}: {' | '.join(tail)}"}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["wall_s"] = wall
    return res


def main(argv=None) -> None:
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=SOP_TEST_SIZE, help="number of embeddings (SOP test: 60502)")
    parser.add_argument("--classes", type=int, default=SOP_TEST_CLASSES, help="number of classes (SOP test: 11316)")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--max-per-class", type=int, default=12, help="largest class size (SOP: 12)")
    parser.add_argument("--noise", type=float, default=2.2, help="noise std around the class centres (per dim)")
    parser.add_argument("--seed", type=seed_arg, default=0, help="seed of the synthetic embeddings (0 to 2**31 - 1)")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--timeout", type=float, default=None, help="seconds per method (default: none)")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker, args.data)))
        return

    print("== machine ==")
    for fact in machine_facts():
        print("  " + fact)
    emb, labels, sizes = make_data(args.n, args.classes, args.dim, args.max_per_class, args.noise, args.seed)
    print(
        f"== data == {emb.shape[0]} x {emb.shape[1]} float32 ({emb.nbytes / 2**20:.0f} MiB), "
        f"{args.classes} classes of {sizes.min()}..{sizes.max()} samples (so R <= {sizes.max() - 1}), "
        f"noise {args.noise}, seed {args.seed}"
    )
    r_max = int(sizes.max()) - 1
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "emb.npy", emb)
        np.save(Path(tmp) / "labels.npy", labels)
        del emb, labels
        for method in args.methods:
            print(f"-- running {method} ...", flush=True)
            res = run_method(method, Path(tmp), args.timeout)
            results.append(res)
            if "error" in res:
                print(f"   {method}: FAILED: {res['error']}", flush=True)
                continue
            m = res["metrics"]
            print(
                f"   {method}: retrieval {res['retrieval_s']:.1f} s, NMI {res['nmi_s']:.1f} s; "
                f"peak RSS base {res['base_rss_mib']:.0f} MiB -> after retrieval {res['retrieval_rss_mib']:.0f} MiB "
                f"-> after NMI {res['peak_rss_mib']:.0f} MiB (torch threads {res['torch_threads']})",
                flush=True,
            )
            print("   metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in m.items()), flush=True)
    print(f"load average after: {os.getloadavg()}")

    ok = {r["method"]: r for r in results if "error" not in r}
    print("\n== summary ==")
    print(
        f"{'method':<12} {'retrieval s':>11} {'NMI s':>8} {'total s':>8} {'peak RSS MiB':>13} {'R@1':>7} {'MAP@R':>7} {'RP':>7} {'NMI':>7}"
    )
    for r in results:
        if "error" in r:
            print(f"{r['method']:<12} FAILED: {r['error']}")
            continue
        m = r["metrics"]
        print(
            f"{r['method']:<12} {r['retrieval_s']:>11.1f} {r['nmi_s']:>8.1f} {r['retrieval_s'] + r['nmi_s']:>8.1f} "
            f"{r['peak_rss_mib']:>13.0f} {m['R@1']:>7.4f} {m['MAP@R']:>7.4f} {m['RP']:>7.4f} {m['NMI']:>7.4f}"
        )
    for r in ok.values():
        if r["method"].startswith("ours"):
            m = r["metrics"]
            print(f"{r['method']} Recall@K: " + ", ".join(f"R@{k}={m[f'R@{k}']:.4f}" for k in RECALL_KS))
    if "pml" in ok:
        p = ok["pml"]
        for name in ("ours-faiss", "ours-torch"):
            if name in ok:
                o = ok[name]
                print(
                    f"ratio pml / {name}: retrieval time {p['retrieval_s'] / o['retrieval_s']:.2f}x "
                    f"(pml searches k=R_max={r_max} neighbours, ours k={max(RECALL_KS)}), "
                    f"NMI time {p['nmi_s'] / o['nmi_s']:.2f}x, "
                    f"total time {(p['retrieval_s'] + p['nmi_s']) / (o['retrieval_s'] + o['nmi_s']):.2f}x, "
                    f"peak RSS {p['peak_rss_mib'] / o['peak_rss_mib']:.2f}x "
                    f"(above base: {(p['peak_rss_mib'] - p['base_rss_mib']) / max(1.0, o['peak_rss_mib'] - o['base_rss_mib']):.2f}x)"
                )


if __name__ == "__main__":
    main()
