"""Train the calibrated linear SVM on the feature store and save the model (JSON)."""

from __future__ import annotations

import argparse

from ..model.training import train_model
from .cli import add_overwrite_option, configure, parser, positive_int


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command line of this step."""
    p = parser(__doc__, prog=prog)
    p.add_argument(
        "--hard-negatives",
        type=int,
        default=0,
        choices=(0, 1),
        help="1: also train on the mined hard negatives (all rounds)",
    )
    p.add_argument(
        "--max-hard-negatives",
        type=positive_int,
        help="use at most this many hard negatives, most confident first (default: hn_max_total)",
    )
    add_overwrite_option(p)
    return p


def run(args: argparse.Namespace) -> int | None:
    """Run the step on the parsed command line."""
    conf = configure(args)
    model = train_model(
        conf,
        hard_negatives=bool(args.hard_negatives),
        max_hard=args.max_hard_negatives,
        overwrite=args.overwrite,
    )
    m = model.metadata
    print(
        f"trained on {m['positives']} positives, {m['negatives']} negatives, "
        f"{m['hard_negatives']} hard negatives in {m['train_seconds']:.1f} s; "
        f"p >= {conf['min_probability']} <=> decision >= "
        f"{model.decision_threshold(conf['min_probability']):.4f} -> {conf['classifier_path']}"
    )
