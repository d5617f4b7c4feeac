"""Command line: ``python -m proxygml_lite.data {prepare,check,sources} ...``.

Examples::

    python -m proxygml_lite.data prepare cub200 --data-root data --download
    python -m proxygml_lite.data prepare cars196 --data-root data   # archives placed by hand
    python -m proxygml_lite.data check sop --data-root data
    python -m proxygml_lite.data sources cars196 --data-root data
"""

from __future__ import annotations

import argparse
import sys

from . import DATASETS
from .download import ChecksumError, DownloadError, manual_steps
from .prepare import BENCHMARKS, SPECS, archives_dir, canonical_benchmark, prepare_dataset


def _benchmark_choices() -> tuple[str, ...]:
    """The benchmarks and their aliases, as registered (cub200, cars196, online_products, sop)."""
    return tuple(key for name in BENCHMARKS for key in (name, *DATASETS.get(name).aliases))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m proxygml_lite.data",
        description="Download, verify and prepare the deep metric learning benchmarks for ProxyGML.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    benchmarks = _benchmark_choices()

    prep = sub.add_parser("prepare", help="archives -> DIR/<name>/{train,test}/<label>/<image> + manifest.json")
    prep.add_argument("name", choices=benchmarks)
    prep.add_argument("--data-root", default="data", help="data folder (default: data)")
    prep.add_argument("--download", action="store_true",
                      help="download missing archives (mirrors in order, resumable, checksum-verified)")
    prep.add_argument("--force", action="store_true", help="rebuild an existing prepared folder")
    prep.add_argument("--link", choices=("hardlink", "copy", "symlink"), default="hardlink",
                      help="how prepared images refer to the extracted ones (default: hardlink, else copy)")
    prep.add_argument("--no-verify-images", action="store_true", help="skip decoding every image with PIL")
    prep.add_argument("--quiet", action="store_true", help="no progress bars")

    check = sub.add_parser("check", help="verify a prepared folder (or a --dataset folder) and print its counts")
    check.add_argument("name", choices=DATASETS.choices())
    check.add_argument("--data-root", default="data")

    src = sub.add_parser("sources", help="print the files, mirrors, checksums and manual steps")
    src.add_argument("name", choices=benchmarks)
    src.add_argument("--data-root", default="data")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "prepare":
            prepare_dataset(args.name, args.data_root, download=args.download, force=args.force,
                            verify_images=not args.no_verify_images, link=args.link,
                            progress=False if args.quiet else None)
        elif args.command == "check":
            from . import load_dataset

            for split in ("train", "test"):
                ds = load_dataset(args.name, args.data_root, split)
                print(f"{args.name} {split}: {ds.num_classes} classes, {len(ds)} images ({ds.root})")
        else:
            spec = SPECS[canonical_benchmark(args.name)]
            print(f"{spec.title} ({spec.homepage})\n")
            for source in spec.sources:
                print(manual_steps(source.remote, archives_dir(args.data_root)) + "\n")
    except (FileNotFoundError, ValueError, DownloadError, ChecksumError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
