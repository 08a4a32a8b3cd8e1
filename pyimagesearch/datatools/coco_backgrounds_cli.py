"""Fetch COCO images that contain none of some categories, as background negatives.

Example:
    python scripts/coco_backgrounds.py --annotations instances_train2017.json \
        --exclude person car --exclude-supercategory vehicle --num 1000 --out backgrounds
"""

from __future__ import annotations

import argparse

from ..commands.cli import ArgumentParser, nonneg_int, positive_int, run_guarded, setup_logging
from .cli_options import add_download_options, download_options
from .coco_backgrounds import fetch_coco_backgrounds


def parse_args(argv: list[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    """The command line."""
    ap = ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("--annotations", required=True, help="COCO instances JSON")
    ap.add_argument(
        "--exclude",
        nargs="+",
        default=[],
        metavar="NAME",
        help="category names the images must not contain (e.g. person car)",
    )
    ap.add_argument(
        "--exclude-supercategory",
        nargs="+",
        default=[],
        metavar="NAME",
        help="supercategories whose categories are all excluded (e.g. vehicle)",
    )
    ap.add_argument(
        "--num",
        type=positive_int,
        default=None,
        help="at most this many images: the lowest ids, or a sample with --seed",
    )
    ap.add_argument(
        "--seed",
        type=nonneg_int,
        default=None,
        help="take a seeded random sample of --num images instead of the lowest ids",
    )
    ap.add_argument("--out", required=True, help="output folder (images/, labels/, manifest.csv)")
    src = ap.add_mutually_exclusive_group()
    src.add_argument(
        "--base-url",
        default=None,
        help="mirror replacing scheme+host of every coco_url (path kept)",
    )
    src.add_argument(
        "--images-dir",
        default=None,
        help="copy from a local COCO image folder instead of downloading",
    )
    ap.add_argument(
        "--include-unannotated",
        action="store_true",
        help="also use images with no annotation at all",
    )
    ap.add_argument(
        "--prune", action="store_true", help="delete images in --out that are not in this selection"
    )
    add_download_options(ap)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run the command; 0 = all fetched, 1 = some files failed, 2 = bad input; any error
    is one line on stderr (:func:`run_guarded`)."""
    return run_guarded(_run, argv, prog)


def _run(argv: list[str] | None, prog: str | None) -> int:
    args = parse_args(argv, prog)
    setup_logging(verbose=False, quiet=not args.verbose)
    report = fetch_coco_backgrounds(
        args.annotations,
        args.out,
        exclude=args.exclude,
        exclude_supercategories=args.exclude_supercategory,
        num=args.num,
        base_url=args.base_url,
        images_dir=args.images_dir,
        include_unannotated=args.include_unannotated,
        seed=args.seed,
        prune=args.prune,
        options=download_options(args),
    )
    print(report.format())
    return 1 if report.summary.failed else 0
