"""Extract HOG features of positives and random negatives into the HDF5 store."""

import pyimagesearch.interrupt  # noqa: F401  (first: Ctrl-C while loading -> 130)

# isort: split

from pyimagesearch.cli import add_execution_options, configure, main, parser
from pyimagesearch.features.extract import extract_features


@main
def run() -> None:
    p = parser(__doc__)
    p.add_argument(
        "--drop-mined",
        action="store_true",
        help="discard the rounds of hard negatives already in the store (kept by default; "
        "needed when they were mined with other HOG parameters)",
    )
    add_execution_options(p)
    args = p.parse_args()
    conf = configure(args)
    summary = extract_features(conf, progress=not args.quiet, drop_mined=args.drop_mined)
    print(
        f"{summary.n_positives} positives ({summary.n_train_images} images), "
        f"{summary.n_negatives} negatives ({summary.n_negative_images} images), "
        f"{len(summary.skipped)} skipped, {summary.seconds:.1f} s -> {conf['features_path']}"
    )


if __name__ == "__main__":
    run()
