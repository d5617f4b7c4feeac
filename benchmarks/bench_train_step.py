"""The training step with and without device-to-host synchronisations, side by side.

"before": what the training loop did before ``log_every``: the loss checked
its input values on every call (``ProxyGMLLoss(validate=True)``: label range
and NaN/Inf, three read-backs) and the loop read the loss back and checked it
after every step. "after": what :class:`proxygml_lite.training.trainer.Trainer` does
now: ``validate=False`` in the loop and one read-back every ``--log-every``
steps. Both use the same :func:`proxygml_lite.training.step.train_step` (model +
ProxyGML loss + Adam) on the same random batches already on the device, so
data loading is not measured.

On a CPU the read-backs are cheap and the ratio is close to 1; on a GPU each
one stalls the queue of kernels, which is what this removes. On CUDA the
number of synchronising calls per step is counted too
(``torch.cuda.set_sync_debug_mode``). Run it on your machine::

    python benchmarks/bench_train_step.py                          # CPU, small CNN on 32x32 glyph-sized images
    python benchmarks/bench_train_step.py --device cuda --backbone bninception --image-size 224 --classes 100
    python benchmarks/bench_train_step.py --quick                  # tiny, checks that the script runs
"""

from __future__ import annotations

import math
import platform
import statistics
import time
import warnings

import torch

from proxygml_lite.baselines import build_loss
from proxygml_lite.command_line import Parser
from proxygml_lite.models import build_model
from proxygml_lite.training.config import TrainConfig
from proxygml_lite.training.step import Trainee, build_optimizer, stack_loss_parts, train_step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(mode: str, args, device: torch.device) -> tuple[list[float], float]:
    """Per-step times in ms (``--repeats`` rounds of ``--steps`` steps) and synchronising calls per step (CUDA)."""
    torch.manual_seed(0)
    channels = 1 if args.backbone == "smallcnn" else 3
    model = build_model(args.backbone, embedding_dim=args.dim, pretrained=False, in_channels=channels)
    loss_fn = build_loss("proxygml", args.classes, args.dim, proxies_per_class=args.N, r=args.r)
    loss_fn.validate = mode == "before"
    trainee = Trainee(model, loss_fn).to(device)
    config = TrainConfig(modellr=1e-4, centerlr=0.03, eps=0.01, weight_decay=1e-4)  # Adam for both, as official
    optimizer = build_optimizer(model, loss_fn, config)
    scaler = torch.amp.GradScaler(device.type, enabled=False)
    generator = torch.Generator().manual_seed(1)
    batches = [
        (
            torch.randn(args.batch, channels, args.image_size, args.image_size, generator=generator).to(device),
            torch.randint(0, args.classes, (args.batch,), generator=generator).to(device),
        )
        for _ in range(4)
    ]
    names = ("loss_s", "loss_p")
    read_every = 1 if mode == "before" else args.log_every

    def steps(count: int) -> None:
        pending = []
        for i in range(count):
            images, labels = batches[i % len(batches)]
            loss, terms = train_step(trainee, loss_fn, optimizer, scaler, images, labels)
            pending.append(stack_loss_parts(loss, terms, names))
            if (i + 1) % read_every == 0 or i + 1 == count:
                values = torch.stack(pending).cpu()
                if not math.isfinite(float(values[:, 0].sum())):
                    raise FloatingPointError("non-finite loss")
                pending.clear()

    steps(args.warmup)
    _sync(device)
    times = []
    for _ in range(args.repeats):
        begin = time.perf_counter()
        steps(args.steps)
        _sync(device)
        times.append((time.perf_counter() - begin) * 1000.0 / args.steps)
    syncs = float("nan")
    if device.type == "cuda":
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                steps(args.steps)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        syncs = sum("synchroniz" in str(w.message) for w in caught) / args.steps
    return times, syncs


def main(argv=None) -> int:
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backbone", default="smallcnn")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--classes", type=int, default=100, help="C")
    parser.add_argument("--N", type=int, default=12)
    parser.add_argument("--r", type=float, default=0.05)
    parser.add_argument("--steps", type=int, default=50, help="steps per timed round")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds (median reported)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--log-every", type=int, default=50, help="read-back interval of 'after'")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that the script runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch, args.classes, args.N, args.r, args.dim = 8, 10, 2, 0.3, 8
        args.image_size, args.steps, args.repeats, args.warmup = 16, 4, 1, 1
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, device {device}, "
        f"{args.backbone} {args.image_size}px, B={args.batch}, C={args.classes}, N={args.N}, r={args.r}, "
        f"d={args.dim}, {args.steps} steps x {args.repeats}"
    )
    results = {mode: run(mode, args, device) for mode in ("before", "after")}
    print(f"{'':>8} {'ms/step (median)':>18} {'min':>8} {'syncs/step':>11}")
    for mode, (times, syncs) in results.items():
        print(f"{mode:>8} {statistics.median(times):18.3f} {min(times):8.3f} {syncs:11.2f}")
    before, after = (statistics.median(results[m][0]) for m in ("before", "after"))
    print(f"ratio: before / after time per step = {before / after:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
