"""Extract HOG features of positives and random negatives into the HDF5 store."""

from __future__ import annotations

import argparse

from ..features.extract import extract_features
from .cli import add_execution_options, add_overwrite_option, configure, parser


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command line of this step."""
    p = parser(__doc__, prog=prog)
    p.add_argument(
        "--drop-mined",
        action="store_true",
        help="discard the rounds of hard negatives already in the store (kept by default; "
        "needed when they were mined with other HOG parameters)",
    )
    add_execution_options(p)
    add_overwrite_option(p)
    return p


def run(args: argparse.Namespace) -> int | None:
    """Run the step on the parsed command line."""
    conf = configure(args)
    summary = extract_features(
        conf, progress=not args.quiet, drop_mined=args.drop_mined, overwrite=args.overwrite
    )
    print(
        f"{summary.n_positives} positives ({summary.n_train_images} images), "
        f"{summary.n_negatives} negatives ({summary.n_negative_images} images), "
        f"{len(summary.skipped)} skipped, {summary.seconds:.1f} s -> {conf['features_path']}"
    )
