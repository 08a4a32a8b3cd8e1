"""Run the whole workflow (explore, extract, train, mine/retrain rounds, evaluate) and report."""

from __future__ import annotations

import argparse

from ..orchestration.pipeline import run_pipeline
from .cli import (
    add_execution_options,
    add_overwrite_option,
    configure,
    nonneg_int,
    parser,
    positive_int,
)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command line of this step."""
    p = parser(__doc__, prog=prog)
    p.add_argument("--rounds", type=nonneg_int, help="mining rounds (default: hn_rounds)")
    p.add_argument(
        "--max-hard-negatives",
        type=positive_int,
        help="retrain on at most this many hard negatives, most confident first "
        "(default: hn_max_total)",
    )
    p.add_argument(
        "--drop-mined",
        action="store_true",
        help="discard rounds of hard negatives already in the store (see extract_features.py)",
    )
    add_execution_options(p)
    add_overwrite_option(p)
    return p


def run(args: argparse.Namespace) -> int | None:
    """Run the step on the parsed command line."""
    conf = configure(args, settled=False, several_classes=True)
    if args.max_hard_negatives is not None:
        conf = conf.replace(hn_max_total=args.max_hard_negatives)
    run = run_pipeline
    if conf["classes"]:  # one pipeline per class, then one bundle and a table of classes
        from ..orchestration.classes import run_classes as run
    out = run(
        conf,
        rounds=args.rounds,
        progress=not args.quiet,
        drop_mined=args.drop_mined,
        overwrite=args.overwrite,
    )
    print(f"report: {out / ('classes.md' if conf['classes'] else 'report.md')}")
    print(out)
