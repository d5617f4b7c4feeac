"""How much bf16 autocast changes ProxyGML's top-k subgraphs at initialisation (issue 10).

The official code trains in float32. Under ``--amp bf16`` the loss still runs
in float32, but the backbone computes the embeddings in bf16, so the
similarities ``S`` to the proxies, and with them the top-k of ``S + 1000
S^pos`` (the subgraph), can change. This script builds a model and a
``ProxyGMLLoss`` with the preset's sizes, embeds the same batch once in
float32 and once under bf16 autocast (on the CPU, the only device here), and
prints, over several seeds:

* the share of samples whose subgraph (the set of ``k`` proxy indices)
  differs between the two, and
* the share of the ``k`` subgraph members that differ, on average.

Inputs are random smooth RGB images (no benchmark data is needed), and the
backbones are randomly initialised (the ImageNet weights are not downloaded),
so the numbers are those of this set-up, measured on the CPU; a pretrained
network on real images on a GPU can differ.

Usage::

    python benchmarks/bench_amp_subgraph.py                 # cub200 sizes, BN-Inception 224 px and smallcnn
    python benchmarks/bench_amp_subgraph.py --seeds 5 --batch 32
"""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
from PIL import Image

from proxygml_lite.command_line import Parser
from proxygml_lite.loss import ProxyGMLLoss
from proxygml_lite.models import build_model, build_transforms
from proxygml_lite.steps import select_subgraph, similarity_graph


def smooth_images(n: int, size: int, seed: int) -> list[Image.Image]:
    """``n`` random low-frequency RGB images (8x8 noise upsampled bicubically)."""
    rng = np.random.default_rng(seed)
    return [
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize((size, size), Image.BICUBIC)
        for _ in range(n)
    ]


def subgraph_sets(embeddings, labels, loss_fn) -> list[frozenset]:
    similarity = similarity_graph(embeddings.float(), loss_fn.proxies.detach())
    sub = select_subgraph(similarity, labels, loss_fn.num_classes, loss_fn.proxies_per_class, loss_fn.k, True)
    return [frozenset(row.tolist()) for row in sub.indices]


def measure(backbone: str, dim: int, image_size: int, classes: int, n: int, r: float, batch: int, seed: int):
    torch.manual_seed(seed)
    model = build_model(backbone, embedding_dim=dim, pretrained=False, in_channels=3).eval()
    loss_fn = ProxyGMLLoss(classes, n, dim, r=r)
    transform = build_transforms(
        backbone, train=False, image_size=image_size, **({"in_channels": 3} if backbone == "smallcnn" else {})
    )
    images = torch.stack([transform(im) for im in smooth_images(batch, max(image_size, 64), seed)])
    labels = torch.randint(0, classes, (batch,), generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        fp32 = model(images)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = model(images)
    a, b = subgraph_sets(fp32, labels, loss_fn), subgraph_sets(bf16, labels, loss_fn)
    changed_samples = sum(x != y for x, y in zip(a, b)) / batch
    changed_members = sum(len(x - y) for x, y in zip(a, b)) / (batch * loss_fn.k)
    return changed_samples, changed_members, loss_fn.k


def main() -> None:
    parser = Parser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--classes", type=int, default=100, help="C (cub200: 100)")
    parser.add_argument("--N", type=int, default=12)
    parser.add_argument("--r", type=float, default=0.05)
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    setups = [("bninception", 512, 224), ("smallcnn", 64, 32)]
    print(f"C={args.classes} N={args.N} r={args.r}, batch {args.batch}, {args.seeds} seeds, CPU, random init")
    print(
        f"{'backbone':<12} {'d':>4} {'px':>4} {'k':>4} {'samples with another subgraph':>31} "
        f"{'subgraph members changed':>26} {'s/seed':>7}"
    )
    for backbone, dim, size in setups:
        samples, members = [], []
        begin = time.perf_counter()
        for seed in range(args.seeds):
            s, m, k = measure(backbone, dim, size, args.classes, args.N, args.r, args.batch, seed)
            samples.append(s)
            members.append(m)
        per_seed = (time.perf_counter() - begin) / args.seeds
        spread = lambda v: statistics.stdev(v) if len(v) > 1 else 0.0
        print(
            f"{backbone:<12} {dim:>4} {size:>4} {k:>4} "
            f"{100 * statistics.mean(samples):>24.1f}% ± {100 * spread(samples):4.1f} "
            f"{100 * statistics.mean(members):>19.2f}% ± {100 * spread(members):4.2f} {per_seed:>7.1f}"
        )


if __name__ == "__main__":
    main()
