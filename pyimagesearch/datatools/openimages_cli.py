"""Fetch an Open Images subset: positive crops of some classes, or backgrounds without them.

Examples:
    python scripts/openimages_subset.py Car --mode positives --descendants \
        --bbox-csv train-annotations-bbox.csv \
        --images-csv train-images-boxable-with-rotation.csv --out oi_cars
    python scripts/openimages_subset.py Car Taxi --mode backgrounds --num 2000 \
        --bbox-csv train-annotations-bbox.csv \
        --images-csv train-images-boxable-with-rotation.csv --out oi_backgrounds
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..commands.cli import ArgumentParser, nonneg_int, positive_int, run_guarded, setup_logging
from ..infrastructure.config import DATASETS_ENV
from .cli_options import add_download_options, download_options
from .openimages import OpenImagesFiles, SubsetSpec, build_subset


def parse_args(argv: list[str] | None = None, prog: str | None = None) -> argparse.Namespace:
    """The command line."""
    meta = Path(os.environ.get(DATASETS_ENV) or "../shared/datasets") / "openimages"
    ap = ArgumentParser(prog=prog, description=__doc__.split("\n\n")[0])
    ap.add_argument("classes", nargs="+", help='class display names, e.g. "Car" "Land vehicle"')
    ap.add_argument(
        "--mode",
        choices=("positives", "backgrounds"),
        default="positives",
        help="crop positives, or fetch images with none of the classes",
    )
    ap.add_argument("--bbox-csv", required=True, help="Open Images bbox annotations CSV")
    ap.add_argument(
        "--images-csv",
        required=True,
        help="image CSV with ImageID and OriginalURL (or url / image_url)",
    )
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument(
        "--image-labels-csv",
        help="positives: human-verified image-level labels CSV (ImageID,Source,LabelName,"
        "Confidence); written to image-labels.csv for evaluate.py --protocol openimages, "
        "and images verified to contain or not contain a class are selected too",
    )
    ap.add_argument(
        "--class-descriptions",
        default=str(meta / "class-descriptions-boxable.csv"),
        help="class-descriptions-boxable.csv (default: %(default)s)",
    )
    ap.add_argument(
        "--hierarchy",
        default=str(meta / "bbox_labels_600_hierarchy.json"),
        help="bbox_labels_600_hierarchy.json (default: %(default)s)",
    )
    ap.add_argument(
        "--descendants",
        action="store_true",
        help="positives: also take boxes of descendant classes (always on for backgrounds)",
    )
    ap.add_argument(
        "--no-look-alikes",
        action="store_true",
        help="backgrounds: exclude only the classes and their descendants, not their "
        "siblings in the hierarchy (by default excluding Car also excludes Taxi, ...)",
    )
    ap.add_argument("--drop-group-of", action="store_true", help="positives: skip IsGroupOf boxes")
    ap.add_argument(
        "--drop-depiction",
        action="store_true",
        help="positives: skip IsDepiction boxes (drawings, toys, ...)",
    )
    ap.add_argument(
        "--drop-truncated", action="store_true", help="positives: skip IsTruncated boxes"
    )
    ap.add_argument("--drop-occluded", action="store_true", help="positives: skip IsOccluded boxes")
    ap.add_argument(
        "--min-box-size",
        type=nonneg_int,
        default=16,
        help="positives: skip boxes with a side shorter than this (pixels)",
    )
    ap.add_argument(
        "--num",
        type=positive_int,
        default=None,
        help="at most this many images: the lowest ImageIDs, or a sample with --seed",
    )
    ap.add_argument(
        "--seed", type=nonneg_int, default=None, help="sample --num images with this seed"
    )
    ap.add_argument(
        "--placeholder-sha256",
        nargs="+",
        default=[],
        metavar="HEX",
        help="extra sha256 of known placeholder files to discard",
    )
    ap.add_argument(
        "--prune",
        action="store_true",
        help="backgrounds: delete images in --out that are not in this selection",
    )
    add_download_options(ap)
    return ap.parse_args(argv)


def main(argv: list[str] | None = None, prog: str | None = None) -> int:
    """Run the command; 0 = all fetched, 1 = some files failed or were discarded, 2 = bad
    input; any error is one line on stderr (:func:`run_guarded`)."""
    return run_guarded(_run, argv, prog)


def _run(argv: list[str] | None, prog: str | None) -> int:
    args = parse_args(argv, prog)
    setup_logging(verbose=False, quiet=not args.verbose)
    spec = SubsetSpec(
        args.classes,
        mode=args.mode,
        descendants=args.descendants,
        look_alikes=not args.no_look_alikes,
        drop_group_of=args.drop_group_of,
        drop_depiction=args.drop_depiction,
        drop_truncated=args.drop_truncated,
        drop_occluded=args.drop_occluded,
        min_box_size=args.min_box_size,
        num=args.num,
        seed=args.seed,
        prune=args.prune,
        extra_placeholder_sha256=args.placeholder_sha256,
    )
    files = OpenImagesFiles(
        args.bbox_csv,
        args.images_csv,
        args.class_descriptions,
        args.hierarchy,
        image_labels_csv=args.image_labels_csv,
    )
    report = build_subset(spec, files, args.out, download_options(args))
    print(report.format())
    return 1 if report.summary.failed else 0
