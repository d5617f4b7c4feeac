"""Forward+backward time and peak memory of ProxyGMLLoss against a dense formulation.

The dense formulation is the official code's (github.com/YuehuaZhu/ProxyGML,
loss/ProxyGML.py): one-hot proxy-label matrix Y^p of shape (C*N, C), the
(B, C*N) x (C*N, C) product for Z = W Y^p, and (P P^T) Y^p for the regulariser.
Both are measured side by side in one run, at the three datasets' scales
(batch 32, d = 512), together with the bare similarity matmul S = X P^T
(forward+backward), the floor any proxy loss pays.

Each measurement runs in a fresh subprocess so that peak memory (the rise of
the process's peak RSS on CPU, of ``torch.cuda.max_memory_allocated`` on GPU, over
the inputs' footprint)
is not mixed between methods. Usage::

    python benchmarks/bench_loss.py            # full scales (the dense SOP + lambda case takes minutes on 2 cores)
    python benchmarks/bench_loss.py --quick    # tiny scales, checks the script runs
    python benchmarks/bench_loss.py --device cuda
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time

from proxygml_lite.command_line import Parser

SCALES = [
    # name, C, N, lambda
    ("CUB-200 (C=100, N=12, lambda=0.3)", 100, 12, 0.3),
    ("Cars196 (C=98, N=12, lambda=0.3)", 98, 12, 0.3),
    ("SOP (C=11318, N=1, lambda=0)", 11318, 1, 0.0),
    ("SOP (C=11318, N=1, lambda=0.3)", 11318, 1, 0.3),
]
QUICK_SCALES = [("quick (C=50, N=4, lambda=0.3)", 50, 4, 0.3)]
METHODS = ("matmul", "proxygml", "dense")


def dense_official(x, labels, proxies_t, instance_label, onehot, C, N, r, weight_lambda):
    """The official formulation (proxies_t has shape (d, C*N)); like the official
    module, the proxy labels and their one-hot ``Y^p`` are built once, outside."""
    import torch
    import torch.nn.functional as F

    centers = F.normalize(proxies_t, p=2, dim=0)
    similarity = x.matmul(centers)
    positive = torch.eq(labels.view(-1, 1) - instance_label.view(1, -1), 0.0).float()
    _, indices = torch.topk(similarity + 1000 * positive, math.ceil(r * C * N), dim=1)
    mask = torch.zeros_like(similarity).scatter(1, indices, 1)
    logits = torch.matmul(mask * similarity, onehot)
    target = F.one_hot(labels, C).float()
    logits_mask = 1 - torch.eq(logits, 0.0).float()
    exp = torch.exp(logits) * logits_mask
    predict = exp / (1e-8 + exp.sum(dim=1)).unsqueeze(1)
    loss = torch.mean(torch.sum(-target * torch.log(predict + 1e-20), dim=1))
    if weight_lambda > 0:
        reg = F.cross_entropy(centers.t().matmul(centers).matmul(onehot), instance_label)
        loss = loss + weight_lambda * reg
    return loss


def _peak_bytes(device) -> int:
    import torch

    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def worker(spec: dict) -> dict:
    """Run one method at one scale; return median seconds and peak extra memory."""
    import torch
    import torch.nn.functional as F

    from proxygml_lite import ProxyGMLLoss

    torch.manual_seed(0)
    device = torch.device(spec["device"])
    C, N, lam, batch, dim, r = spec["C"], spec["N"], spec["lambda"], spec["batch"], spec["dim"], spec["r"]
    x = F.normalize(torch.randn(batch, dim, device=device), dim=1).requires_grad_()
    labels = torch.randint(0, C, (batch,), device=device)
    loss_fn = ProxyGMLLoss(C, N, dim, r=r, weight_lambda=lam).to(device)
    proxies_t = loss_fn.proxies.detach().t().contiguous().requires_grad_()
    proxies = loss_fn.proxies
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
    # Peak memory counts from here: the dense method's resident one-hot Y^p included.
    base = torch.cuda.memory_allocated(device) if device.type == "cuda" else _peak_bytes(device)
    if spec["method"] == "dense":
        instance_label = torch.arange(C, device=device).repeat_interleave(N)
        onehot = F.one_hot(instance_label, C).float()

    def step():
        if spec["method"] == "proxygml":
            loss = loss_fn(x, labels)
            grads = torch.autograd.grad(loss, [x, proxies])
        elif spec["method"] == "dense":
            loss = dense_official(x, labels, proxies_t, instance_label, onehot, C, N, r, lam)
            grads = torch.autograd.grad(loss, [x, proxies_t])
        else:  # the floor: S = X P^T, forward and backward, nothing else
            s = x @ proxies.t()
            grads = torch.autograd.grad(s.sum(), [x, proxies])
        return loss if spec["method"] != "matmul" else s, grads

    step()  # warm-up (allocator, kernels); its peak counts too
    times = []
    deadline = time.perf_counter() + spec["budget_s"]
    for _ in range(spec["repeats"]):
        start = time.perf_counter()
        step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        if time.perf_counter() > deadline:
            break
    times.sort()
    return {"seconds": times[len(times) // 2], "runs": len(times), "peak_bytes": max(0, _peak_bytes(device) - base)}


def run_in_subprocess(spec: dict) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"benchmark worker failed for {spec}:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="tiny scales: check that the script runs")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--r", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=7, help="timed repetitions (median reported)")
    parser.add_argument(
        "--budget", type=float, default=20.0, help="seconds per method and scale before stopping repeats"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0

    import torch

    print(
        f"# bench_loss: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), device {args.device}"
    )
    print(
        f"# batch {args.batch}, d {args.dim}, r {args.r}; median of up to {args.repeats} fwd+bwd runs "
        f"after one warm-up, each method in its own process"
    )
    header = f"{'scale':36s} {'method':9s} {'ms/iter':>10s} {'peak MB':>9s}"
    rows = []
    for name, C, N, lam in QUICK_SCALES if args.quick else SCALES:
        print(header if not rows else "", end="\n" if not rows else "")
        result = {}
        for method in METHODS:
            spec = dict(
                method=method,
                C=C,
                N=N,
                batch=args.batch,
                dim=args.dim,
                r=args.r,
                device=args.device,
                repeats=args.repeats,
                budget_s=args.budget,
            )
            spec["lambda"] = lam
            result[method] = run_in_subprocess(spec)
            res = result[method]
            print(f"{name:36s} {method:9s} {res['seconds'] * 1e3:10.2f} {res['peak_bytes'] / 2**20:9.1f}", flush=True)
        speedup = result["dense"]["seconds"] / result["proxygml"]["seconds"]
        over_matmul = result["proxygml"]["seconds"] / result["matmul"]["seconds"]
        mem_ratio = result["dense"]["peak_bytes"] / max(result["proxygml"]["peak_bytes"], 1)
        print(
            f"{name:36s} ratio: dense / proxygml time = {speedup:.1f}x, proxygml / bare matmul time = "
            f"{over_matmul:.2f}x, dense / proxygml peak memory = {mem_ratio:.1f}x\n",
            flush=True,
        )
        rows.append((name, speedup, over_matmul))
    return 0


if __name__ == "__main__":
    sys.exit(main())
