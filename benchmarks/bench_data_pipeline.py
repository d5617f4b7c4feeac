"""Images per second of the CUB training pipeline on 2 DataLoader workers, beside a bare torchvision pipeline.

Colab gives 2 CPU cores, like the machine this package was written on. A GPU
step of the paper's recipe is fast, so the data pipeline (JPEG decoding, the
random resized crop, the flip, normalising) can be what limits training. This
script fabricates JPEGs of CUB-200-2011's sizes (about 500 x 375, varied:
widths 300-500, heights 220-500, smooth colour fields with noise, quality 90)
in the prepared layout ``<root>/cub200/train/<class>/<image>.jpg`` and
measures, in one run, alternating the pipelines and taking the median of the
repeats:

``package``
    the package's pipeline: its ``FolderDataset`` (what ``load_dataset`` reads a prepared benchmark with) and
    ``build_transforms("bninception", train=True)`` (``RandomResizedCrop(224)``,
    ``RandomHorizontalFlip``, BGR x 255, the Caffe means) and the trainer's
    ``DataLoader`` settings (batch 32, shuffled, ``persistent_workers``);
``torchvision``
    a bare ``torchvision.datasets.ImageFolder`` with the same transform and
    ``DataLoader`` settings;
``package + draft``
    the package's pipeline with PIL's JPEG draft mode (``Image.draft``: the
    decoder downscales by 1/2, 1/4 or 1/8 while decoding, keeping the image at
    least the requested size). It changes the pixels the crop sees, so it is
    measured here and is not an option of the package: at 224 pixels and CUB's
    sizes the decoder may only reduce images at least twice that size, so it
    rarely applies (the script prints how often it did);
``gpu decode_jpeg``
    where a GPU is present: file bytes read by the workers,
    ``torchvision.io.decode_jpeg(..., device="cuda")`` on the batch, crop, flip
    and normalise on the GPU. Skipped without CUDA (and says so).

Each row prints images/s, and the ratio to the bare torchvision pipeline. The
last line states how many images per second the paper's recipe needs: batch
32 x the steps per second of a GPU step of BN-Inception, estimated from its
FLOPs (counted with ``torch.utils.flop_counter`` by
``proxygml_lite.lab.gpu_estimates.backbone_cost``, as notebook 7's estimates) and an
assumed effective GPU throughput (``--gpu-tflops``, default that of
``gpu_estimates.Assumptions``, 4: about half of a T4's 8.1 TFLOPS float32 peak,
the GPU Colab gives most often). That is an
estimate, not a measurement; ``scripts/gpu_check.py`` measures the GPU step.

Usage::

    python benchmarks/bench_data_pipeline.py            # 320 images, 2 workers, 3 repeats (about a minute)
    python benchmarks/bench_data_pipeline.py --quick    # 64 small images, 1 repeat: checks the script runs
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proxygml_lite.command_line import Parser
from proxygml_lite.data.folder import FolderDataset, ImageListDataset  # noqa: E402
from proxygml_lite.lab.gpu_estimates import Assumptions, backbone_cost  # noqa: E402
from proxygml_lite.models.transforms import build_transforms  # noqa: E402

#: Paper's recipe: batch 32, BN-Inception at 224 x 224.
BATCH = 32
IMAGE_SIZE = 224


def fabricate_cub_like(root: Path, classes: int, per_class: int, seed: int, small: bool = False) -> Path:
    """JPEGs of CUB's sizes in the prepared layout ``root/cub200/train/<class>/``; returns the dataset folder."""
    rng = np.random.default_rng(seed)
    dataset = root / "cub200"
    for c in range(classes):
        folder = dataset / "train" / f"{c + 1:03d}.Fabricated_bird_{c + 1}"
        folder.mkdir(parents=True)
        for k in range(per_class):
            width = int(rng.integers(300, 501)) // (4 if small else 1)
            height = int(rng.integers(220, 501)) // (4 if small else 1)
            # a smooth colour field (an 8x8 grid, upsampled) with noise: JPEG sizes like photographs'
            field = rng.integers(0, 256, (8, 8, 3)).astype(np.uint8)
            base = np.asarray(Image.fromarray(field).resize((width, height), Image.BICUBIC), dtype=np.float64)
            pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"image_{k:04d}.jpg", "JPEG", quality=90)
    (dataset / "test").mkdir()
    return dataset


class DraftDataset(ImageListDataset):
    """The package's dataset, decoding each JPEG with ``Image.draft`` to at least ``size`` x ``size``."""

    def __init__(self, base: ImageListDataset, size: int) -> None:
        super().__init__(base.samples, base.classes, transform=base.transform, mode=base.mode, root=base.root)
        self.size = size

    def load_image(self, index: int) -> Image.Image:
        with Image.open(self.samples[index][0]) as img:
            img.draft("RGB", (self.size, self.size))
            return img.convert(self.mode)


def draft_reduction_share(paths: list[str], size: int) -> float:
    """Share of the images whose decoding the draft mode reduces at ``size``."""
    reduced = 0
    for path in paths:
        with Image.open(path) as img:
            full = img.size
            img.draft("RGB", (size, size))
            reduced += img.size != full
    return reduced / max(len(paths), 1)


def loader(dataset, workers: int) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    return DataLoader(
        dataset,
        batch_size=BATCH,
        shuffle=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        generator=generator,
        drop_last=False,
    )


def images_per_second(data: DataLoader, epochs: int) -> float:
    """Images/s over ``epochs`` passes, after one warm-up pass (the workers start, the page cache fills)."""
    for _ in data:
        pass
    count, begin = 0, time.perf_counter()
    for _ in range(epochs):
        for images, _labels in data:
            count += images.shape[0]
    return count / (time.perf_counter() - begin)


class BytesDataset(torch.utils.data.Dataset):
    """The files' bytes (decoded later, on the GPU)."""

    def __init__(self, samples) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index):
        import torchvision

        path, target = self.samples[index]
        return torchvision.io.read_file(path), target


def _bytes_and_targets(batch):
    return [data for data, _ in batch], torch.tensor([target for _, target in batch])


def gpu_decode_images_per_second(samples, workers: int, epochs: int) -> float:
    """Workers read bytes; the GPU decodes (``decode_jpeg``), crops, flips and normalises each batch."""
    import torchvision
    from torchvision.transforms import v2

    from proxygml_lite.models.bninception import BNINCEPTION_MEAN

    device = torch.device("cuda")
    crop = v2.Compose([v2.RandomResizedCrop(IMAGE_SIZE, antialias=True), v2.RandomHorizontalFlip()])
    mean = torch.tensor(BNINCEPTION_MEAN, device=device).view(3, 1, 1)
    data = DataLoader(
        BytesDataset(samples),
        batch_size=BATCH,
        shuffle=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        collate_fn=_bytes_and_targets,
    )

    def run_epoch() -> int:
        count = 0
        for raw, _labels in data:
            decoded = torchvision.io.decode_jpeg(raw, device=device, mode=torchvision.io.ImageReadMode.RGB)
            batch = torch.stack([crop(image) for image in decoded]).float()
            batch = batch.flip(1) - mean  # BGR on the 0..255 scale minus the Caffe means, as the CPU transform
            count += batch.shape[0]
        torch.cuda.synchronize()
        return count

    run_epoch()
    begin, count = time.perf_counter(), sum(run_epoch() for _ in range(epochs))
    return count / (time.perf_counter() - begin)


def recipe_images_per_second(gpu_tflops: float) -> tuple[float, float]:
    """(forward GFLOPs per image of BN-Inception at 224, images/s a GPU step needs at ``gpu_tflops``)."""
    forward = backbone_cost("bninception", IMAGE_SIZE).forward_flops  # counted, as notebook 7's estimates
    per_image = 3 * forward  # forward + backward (the backward costs about twice the forward)
    return forward / 1e9, gpu_tflops * 1e12 / per_image


def main(argv: list[str] | None = None) -> int:
    parser = Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="64 small images, 1 repeat (checks the script runs)")
    parser.add_argument("--images", type=int, default=320, help="fabricated images (default 320 = 20 classes x 16)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (default 2, Colab's cores)")
    parser.add_argument("--repeats", type=int, default=3, help="measurements per pipeline, alternating (median)")
    parser.add_argument("--epochs", type=int, default=1, help="passes over the images per measurement")
    assumed = Assumptions().gpu_tflops
    parser.add_argument(
        "--gpu-tflops", type=float, default=assumed, help=f"assumed effective GPU TFLOPS (default {assumed:g})"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.repeats = 64, 1
    torch.set_num_threads(1)  # the main process only collects batches; the workers do the work
    classes = 4 if args.quick else 20
    with tempfile.TemporaryDirectory(prefix="proxygml_bench_data_") as scratch:
        root = Path(scratch)
        begin = time.perf_counter()
        folder = fabricate_cub_like(root, classes, max(args.images // classes, 1), seed=0, small=args.quick)
        transform = build_transforms("bninception", train=True, image_size=IMAGE_SIZE)
        package = FolderDataset(folder, "train", transform=transform)  # what a prepared benchmark loads as
        sizes = [Image.open(p).size for p, _ in package.samples[:50]]
        megabytes = sum(os.path.getsize(p) for p, _ in package.samples) / 2**20
        print(
            f"{len(package)} fabricated JPEGs ({megabytes / len(package) * 1024:.0f} KiB each on average; first "
            f"sizes {sizes[:3]}), written in {time.perf_counter() - begin:.1f} s; transform {IMAGE_SIZE} px, "
            f"batch {BATCH}, {args.workers} workers, torch {torch.__version__}"
        )
        import torchvision

        bare = torchvision.datasets.ImageFolder(str(folder / "train"), transform=transform)
        pipelines = {
            "torchvision": loader(bare, args.workers),
            "package": loader(package, args.workers),
            "package + draft": loader(DraftDataset(package, IMAGE_SIZE), args.workers),
        }
        measured = {name: [] for name in pipelines}
        for _ in range(args.repeats):
            for name, data in pipelines.items():
                measured[name].append(images_per_second(data, args.epochs))
        rates = {name: statistics.median(values) for name, values in measured.items()}
        if torch.cuda.is_available():
            rates["gpu decode_jpeg"] = gpu_decode_images_per_second(package.samples, args.workers, args.epochs)
        share = draft_reduction_share([p for p, _ in package.samples], IMAGE_SIZE)
    reference = rates["torchvision"]
    print(f"\n{'pipeline':18s} {'images/s':>9s}   ratio to torchvision ImageFolder (same run)")
    for name, rate in rates.items():
        print(f"{name:18s} {rate:9.1f}   {rate / reference:.2f}")
    if "gpu decode_jpeg" not in rates:
        print(f"{'gpu decode_jpeg':18s} {'-':>9s}   skipped: no CUDA")
    print(
        f"draft mode reduced the decoding of {share:.0%} of the images at {IMAGE_SIZE} px (pixels change when it does)"
    )
    gflops, needed = recipe_images_per_second(args.gpu_tflops)
    print(
        f"\nThe recipe needs about {needed:.0f} images/s to keep a GPU busy: batch {BATCH} x {needed / BATCH:.1f} "
        f"steps/s, ASSUMING an effective {args.gpu_tflops:g} TFLOPS and BN-Inception's {gflops:.2f} GFLOPs per "
        f"forward pass at {IMAGE_SIZE} px (x3 for forward + backward, counted here). An estimate, not a measurement: "
        f"scripts/gpu_check.py measures the step on a GPU. {args.workers} workers here give "
        f"{rates['package']:.0f} images/s ({rates['package'] / needed:.2f} of that)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
