"""Review a mining round: contact sheet of the most confident windows, suspects, categories."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..report.review import review_round
from .cli import configure, parser, positive_int


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command line of this step."""
    p = parser(__doc__, prog=prog)
    p.add_argument("--round", type=positive_int, default=1, help="mining round to review")
    p.add_argument("--top", type=positive_int, default=48, help="windows on the contact sheet")
    p.add_argument(
        "--annotated",
        action="store_true",
        help="review the windows mined on the annotated images (annotated_round_NNN) instead",
    )
    p.add_argument("--output", help="folder for the sheet and lists (default: output_dir/review)")
    return p


def run(args: argparse.Namespace) -> int | None:
    """Run the step on the parsed command line."""
    conf = configure(args)
    out = Path(args.output or Path(conf["output_dir"]) / "review")
    r = review_round(conf, args.round, out, top=args.top, annotated=args.annotated)
    kind = " on annotated images" if args.annotated else ""
    print(f"round {r.round}: {r.n_mined} mined windows{kind}")
    print("by category: " + ", ".join(f"{k}: {v}" for k, v in r.per_category.items()))
    print(
        f"{r.n_suspects} suspects (p >= {conf['hn_suspect_probability']}; "
        f"{r.n_flat} more on flat patches left out)"
        + (
            ": " + ", ".join(f"{k}: {v}" for k, v in r.suspects_per_category.items())
            if r.n_suspects
            else ""
        )
    )
    print(f"contact sheet: {r.sheet}")
    if r.annotated_sheet:
        print(f"{r.n_annotated} windows mined on annotated images: {r.annotated_sheet}")
    print(f"suspects: {r.suspects_csv} and {r.suspects_json}")
    if r.n_suspects:
        print(
            "exclude their images or categories (distraction_exclude_images / "
            "distraction_exclude_categories) and mine again"
        )
