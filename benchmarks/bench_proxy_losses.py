"""Cost of the loss layer as the number of classes C grows: ProxyGML against proxy-based baselines.

The paper's efficiency argument (Zhu et al., NeurIPS 2020): ProxyGML keeps only
``k = ceil(r C N)`` proxies per sample in its subgraph ``W``, while SoftTriple
compares every sample with all ``C * K`` centres through a softmax over them.
This script measures, side by side in one run, one forward + backward of each
loss layer alone (random L2-normalised embeddings, batch 32, d = 512, no
network), with :func:`proxygml_lite.studies.loss_cost.measure_loss_cost`, and prints
each baseline's time as a ratio of ProxyGML's at the same C. Usage::

    python benchmarks/bench_proxy_losses.py                        # C = 100, 300, 1000 on the CPU
    python benchmarks/bench_proxy_losses.py --classes 100 11318 --N 1 --weight-lambda 0 --device cuda   # SOP-like
    python benchmarks/bench_proxy_losses.py --quick                # tiny, checks the script runs

ProxyGML runs with the paper's ``N = 12, r = 0.05, lambda = 0.3`` unless
``--N``/``--r``/``--weight-lambda`` say otherwise; the baselines with their
pytorch-metric-learning defaults (SoftTriple: 10 centres per class). The
proxy regulariser ``L^p`` compares all ``C N`` proxies with each other, so its
time and memory grow with ``(C N)^2``: with ``N = 12`` and ``lambda > 0``,
``C = 1000`` needs about 2 GB and ``C = 10000`` far more than a workstation
has (the paper's SOP setting is ``N = 1``, ``lambda = 0``). Results depend on
the machine: run it on yours.
"""

from __future__ import annotations

import platform

import torch

from proxygml_lite.command_line import Parser
from proxygml_lite.registry import LOSSES
from proxygml_lite.studies.loss_cost import measure_loss_cost


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", nargs="+", type=int, default=[100, 300, 1000], help="values of C")
    parser.add_argument("--losses", nargs="+", default=list(LOSSES.names()), choices=LOSSES.choices())
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--N", type=int, default=12, help="ProxyGML proxies per class")
    parser.add_argument("--r", type=float, default=0.05, help="ProxyGML subgraph scale")
    parser.add_argument("--weight-lambda", type=float, default=0.3, help="ProxyGML lambda")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="C = 40, 80; d = 32; 2 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.classes, args.dim, args.repeats = [40, 80], 32, 2
    if "proxygml" not in args.losses:
        parser.error("--losses must include proxygml (the ratios are relative to it)")
    specs = {name: {} for name in args.losses}
    specs["proxygml"] = {"proxies_per_class": args.N, "r": args.r, "weight_lambda": args.weight_lambda}
    print(
        f"machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
        f"device {args.device}; B={args.batch_size}, d={args.dim}, repeats={args.repeats}"
    )
    table = measure_loss_cost(
        specs,
        class_counts=args.classes,
        batch_size=args.batch_size,
        dim=args.dim,
        device=args.device,
        repeats=args.repeats,
    )
    base = table[table["loss"] == "proxygml"].set_index("num_classes")["time_ms"]
    table["time / proxygml"] = table.apply(lambda row: row["time_ms"] / base[row["num_classes"]], axis=1)
    columns = ["num_classes", "loss", "loss_parameters", "time_ms", "time / proxygml", "saved_tensors_mb"]
    if args.device != "cpu":
        columns.append("peak_memory_mb")
    print(table[columns].to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    for c in args.classes:
        rows = table[table["num_classes"] == c]
        ratios = ", ".join(
            f"{name} {ratio:.2f}x" for name, ratio in zip(rows["loss"], rows["time / proxygml"]) if name != "proxygml"
        )
        print(f"C={c}: ratio time / proxygml time: {ratios}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
