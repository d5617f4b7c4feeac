"""NMI under the official protocols and the fast setting, side by side (issue 10).

``proxygml_lite.evaluation.nmi`` offers three k-means settings
(``NMI_PROTOCOLS``): ``sklearn`` (the official CUB/Cars code: KMeans
k-means++, ``n_init=10``, ``max_iter=300``), ``faiss`` (the official SOP code:
20 iterations from a random initialisation) and ``fast`` (one k-means++
start, 20 iterations). On synthetic embeddings shaped like CUB-200-2011's test
split (100 classes; Gaussian classes whose overlap ``--noise`` sets), this
prints each protocol's NMI (mean ± standard deviation over ``--seeds``
k-means seeds), its difference from ``sklearn`` and its time, plus the
ratio of times.

Usage::

    python benchmarks/bench_nmi_protocols.py                   # 100 classes x 30 images, d = 128
    python benchmarks/bench_nmi_protocols.py --per-class 59 --dim 512   # CUB's full size (slow on a CPU)
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from proxygml_lite.command_line import Parser
from proxygml_lite.evaluation import NMI_PROTOCOLS, nmi


def cub_like(classes: int, per_class: int, dim: int, noise: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim))
    y = np.repeat(np.arange(classes), per_class)
    return (centres[y] + noise * rng.normal(size=(len(y), dim))).astype(np.float32), y


def main() -> None:
    parser = Parser(description=__doc__.split("\n")[0])
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--per-class", type=int, default=30)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--noise", type=float, nargs="+", default=[1.4, 2.2, 3.0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    print(f"{args.classes} classes x {args.per_class} images, d = {args.dim}, {args.seeds} k-means seeds; NMI in %")
    print(f"{'noise':>5} {'protocol':>8} {'NMI':>14} {'minus sklearn':>14} {'s/run':>7} {'time / sklearn':>15}")
    for noise in args.noise:
        x, y = cub_like(args.classes, args.per_class, args.dim, noise)
        results = {}
        for protocol in NMI_PROTOCOLS:
            values, begin = [], time.perf_counter()
            for seed in range(args.seeds):
                values.append(100 * nmi(x, y, seed=seed, protocol=protocol))
            results[protocol] = (values, (time.perf_counter() - begin) / args.seeds)
        ref_values, ref_time = results["sklearn"]
        for protocol, (values, seconds) in results.items():
            diffs = [a - b for a, b in zip(values, ref_values)]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            print(
                f"{noise:>5.1f} {protocol:>8} {statistics.mean(values):>8.2f} ± {spread:4.2f} "
                f"{statistics.mean(diffs):>+14.2f} {seconds:>7.2f} {seconds / ref_time:>15.2f}"
            )


if __name__ == "__main__":
    main()
