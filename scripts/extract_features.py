"""Extract HOG features of positives and random negatives into the HDF5 store."""

from pyimagesearch.cli import add_execution_options, configure, main, parser
from pyimagesearch.features.extract import extract_features


@main
def run() -> None:
    p = parser(__doc__)
    add_execution_options(p)
    args = p.parse_args()
    conf = configure(args)
    summary = extract_features(conf, progress=not args.quiet)
    print(
        f"{summary.n_positives} positives ({summary.n_train_images} images), "
        f"{summary.n_negatives} negatives ({summary.n_negative_images} images), "
        f"{len(summary.skipped)} skipped, {summary.seconds:.1f} s -> {conf['features_path']}"
    )


if __name__ == "__main__":
    run()
