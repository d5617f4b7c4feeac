"""Command line: ``python -m proxygml_lite.data {prepare,check,sources} ...``.

Examples::

    python -m proxygml_lite.data prepare cub200 --data-root data --download
    python -m proxygml_lite.data prepare cars196 --data-root data   # archives placed by hand
    python -m proxygml_lite.data check sop --data-root data          # decodes every image
    python -m proxygml_lite.data check folder --data-root my_data
    python -m proxygml_lite.data sources cars196 --data-root data
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from ..command_line import Parser, refuse
from . import DATASETS
from .download import ChecksumError, DownloadError, manual_steps
from .images import bad_images_message, find_bad_images
from .manifest import prepare_command
from .prepare import BENCHMARKS, SPECS, archives_dir, canonical_benchmark, prepare_dataset

#: The command, as refusals and ``--help`` name it.
PROG = "python -m proxygml_lite.data"


def _benchmark_choices() -> tuple[str, ...]:
    """The benchmarks and their aliases, as registered (cub200, cars196, online_products, sop)."""
    return tuple(key for name in BENCHMARKS for key in (name, *DATASETS.get(name).aliases))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG,
        description="Download, verify and prepare the deep metric learning benchmarks for ProxyGML.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    benchmarks = _benchmark_choices()

    prep = sub.add_parser("prepare", help="archives -> DIR/<name>/{train,test}/<label>/<image> + manifest.json")
    prep.add_argument("name", choices=benchmarks)
    prep.add_argument("--data-root", default="data", help="data folder (default: data)")
    prep.add_argument(
        "--download",
        action="store_true",
        help="download missing archives (mirrors in order, resumable, checksum-verified)",
    )
    prep.add_argument("--force", action="store_true", help="rebuild an existing prepared folder")
    prep.add_argument(
        "--link",
        choices=("hardlink", "copy", "symlink"),
        default="hardlink",
        help="how prepared images refer to the extracted ones (default: hardlink, else copy)",
    )
    prep.add_argument(
        "--no-verify-images",
        action="store_true",
        help="skip decoding every image with PIL (training still checks them before its first step)",
    )
    prep.add_argument(
        "--accept-checksum",
        action="store_true",
        help="use an archive placed in archives/ by hand although its checksum differs from the "
        "published one (a re-packed copy): warns loudly, records its actual checksum in manifest.json",
    )
    prep.add_argument("--quiet", action="store_true", help="no progress bars")

    check = sub.add_parser(
        "check",
        help="verify a prepared folder (or a --dataset folder): counts, and decode every image, naming each bad one",
    )
    check.add_argument("name", choices=DATASETS.choices())
    check.add_argument("--data-root", default="data")
    check.add_argument("--quiet", action="store_true", help="no progress bars")

    src = sub.add_parser("sources", help="print the files, mirrors, checksums and manual steps")
    src.add_argument("name", choices=benchmarks)
    src.add_argument("--data-root", default="data")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    root = Path(args.data_root)
    if root.exists() and not root.is_dir():
        refuse(
            PROG,
            f"--data-root {shlex.quote(str(root))} is a file, not a folder; pass the folder that holds "
            "(or will hold) the datasets, e.g. --data-root data",
        )
        return 2
    try:
        if args.command == "prepare":
            prepare_dataset(
                args.name,
                args.data_root,
                download=args.download,
                force=args.force,
                verify_images=not args.no_verify_images,
                link=args.link,
                accept_checksum=args.accept_checksum,
                progress=False if args.quiet else None,
            )
        elif args.command == "check":
            return _check(args)
        else:
            spec = SPECS[canonical_benchmark(args.name)]
            print(f"{spec.title} ({spec.homepage})\n")
            for source in spec.sources:
                print(manual_steps(source.remote, archives_dir(args.data_root)) + "\n")
    except KeyboardInterrupt as err:  # prepare: PrepareInterrupted says what was cleaned up
        print(f"\n{err or 'Interrupted; nothing was changed.'}", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError, DownloadError, ChecksumError, OSError) as err:
        refuse(PROG, err)
        return 1
    return 0


def _check(args) -> int:
    """Counts of both splits, then decode every image; exit status 1 naming each bad file."""
    from . import load_dataset

    datasets = [load_dataset(args.name, args.data_root, split) for split in ("train", "test")]
    for ds in datasets:
        print(
            f"{args.name} {getattr(ds, 'split', '')}: {ds.num_classes} classes, {len(ds)} images "
            f"({getattr(ds, 'root', args.data_root)})"
        )
    failed = False
    for ds in datasets:
        if not hasattr(ds, "samples"):  # generated arrays (glyphs): no image files to decode
            print(f"{args.name} {getattr(ds, 'split', '')}: images are arrays in memory, no files to decode")
            continue
        bad = find_bad_images(
            [p for p, _ in ds.samples], progress=False if args.quiet else None, desc=f"decode {ds.split}"
        )
        if bad:
            failed = True
            if args.name == "folder":
                fix = (
                    "Replace or remove these files; training stops at them before its first step (or leaves "
                    "them out with --check-images skip)."
                )
            else:
                fix = (
                    "prepare decoded every image when it built this folder, so these files were changed since; "
                    f"rebuild it: {prepare_command(canonical_benchmark(args.name), args.data_root, ' --force')}"
                )
            refuse(PROG, bad_images_message(bad, f"{ds.root}/{ds.split}", fix))
        else:
            print(f"{args.name} {ds.split}: all {len(ds)} images decode")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
