"""Train the calibrated linear SVM on the feature store and save the model (JSON)."""

import pyimagesearch.interrupt  # noqa: F401  (first: Ctrl-C while loading -> 130)

# isort: split

from pyimagesearch.cli import configure, main, parser, positive_int
from pyimagesearch.model.training import train_model


@main
def run() -> None:
    p = parser(__doc__)
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
    args = p.parse_args()
    conf = configure(args)
    model = train_model(
        conf, hard_negatives=bool(args.hard_negatives), max_hard=args.max_hard_negatives
    )
    m = model.metadata
    print(
        f"trained on {m['positives']} positives, {m['negatives']} negatives, "
        f"{m['hard_negatives']} hard negatives in {m['train_seconds']:.1f} s; "
        f"p >= {conf['min_probability']} <=> decision >= "
        f"{model.decision_threshold(conf['min_probability']):.4f} -> {conf['classifier_path']}"
    )


if __name__ == "__main__":
    run()
