"""Mine hard negatives: confident detections on distraction images, stored with provenance."""

from __future__ import annotations

import argparse

from ..mining import mine_annotated, mine_hard_negatives
from .cli import (
    add_execution_options,
    add_overwrite_option,
    configure,
    parser,
    positive_int,
)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command line of this step."""
    p = parser(__doc__, prog=prog)
    p.add_argument(
        "--round",
        type=positive_int,
        default=1,
        help="mining round (1-based); each round mines the next fresh images "
        "and is stored as hard_negatives/round_NNN (re-running replaces it)",
    )
    add_execution_options(p)
    add_overwrite_option(p)
    return p


def run(args: argparse.Namespace) -> int | None:
    """Run the step on the parsed command line."""
    conf = configure(args)
    s = mine_hard_negatives(conf, args.round, progress=not args.quiet, overwrite=args.overwrite)
    cats = ", ".join(f"{k}: {v}" for k, v in s.per_category.items() if v)
    print(
        f"round {s.round}: {s.n_found} windows >= {conf['hn_min_probability']} in "
        f"{s.n_images} images ({s.n_kept} kept, {len(s.skipped)} skipped) in {s.seconds:.2f} s"
    )
    if cats:
        print(f"by category: {cats}")
    for message in s.skipped[:20]:  # unreadable or unreachable images: listed, not fatal
        print(f"skipped: {message}")
    if len(s.skipped) > 20:
        print(f"... and {len(s.skipped) - 20} more skipped (see the log)")
    print(f"stored in {conf['features_path']} under hard_negatives/round_{s.round:03d}")
    if conf["hn_mine_annotated"]:
        a = mine_annotated(conf, args.round, progress=not args.quiet, overwrite=args.overwrite)
        print(
            f"annotated training images: {a.n_found} windows with IoU < "
            f"{conf['hn_negative_iou_max']} to every object in {a.n_images} images "
            f"({a.n_kept} kept) -> hard_negatives/annotated_round_{a.round:03d}"
        )
