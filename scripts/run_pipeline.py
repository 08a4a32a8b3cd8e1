"""Run the whole workflow (explore, extract, train, mine/retrain rounds, evaluate) and report."""

import pyimagesearch.interrupt  # noqa: F401  (first: Ctrl-C while loading -> 130)

# isort: split

from pyimagesearch.cli import (
    add_execution_options,
    configure,
    main,
    nonneg_int,
    parser,
    positive_int,
)
from pyimagesearch.pipeline import run_pipeline


@main
def run() -> None:
    p = parser(__doc__)
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
    args = p.parse_args()
    conf = configure(args, settled=False)
    if args.max_hard_negatives is not None:
        conf = conf.replace(hn_max_total=args.max_hard_negatives)
    out = run_pipeline(
        conf, rounds=args.rounds, progress=not args.quiet, drop_mined=args.drop_mined
    )
    print(f"report: {out / 'report.md'}")
    print(out)


if __name__ == "__main__":
    run()
