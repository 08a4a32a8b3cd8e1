"""Evaluate the model: PR curve and AP on held-out annotated images, FPPI on distraction images."""

import json

from pyimagesearch.cli import add_execution_options, configure, main, parser
from pyimagesearch.evaluation.evaluate import evaluate
from pyimagesearch.io.atomic import write_text_atomic
from pyimagesearch.report.plots import plot_pr_curves


@main
def run() -> None:
    p = parser(__doc__)
    p.add_argument("--json", help="write the figures to this JSON file")
    p.add_argument("--plot", help="PR curve PNG (default: output_dir/pr_curve.png)")
    add_execution_options(p)
    args = p.parse_args()
    conf = configure(args)
    ev = evaluate(conf, progress=not args.quiet)
    plot = args.plot or f"{conf['output_dir']}/pr_curve.png"
    plot_pr_curves({"model": {**ev.curve, "ap": ev.average_precision}}, plot)
    if args.json:
        write_text_atomic(args.json, json.dumps(ev.summary(), indent=1))
    print(
        f"average precision (IoU >= 0.5): {ev.average_precision:.4f} "
        f"({ev.n_objects} objects in {ev.n_test_images} test images)"
    )
    print(
        f"at p >= {ev.min_probability}: precision {ev.precision:.3f}, recall {ev.recall:.3f}, "
        f"false positives per image {ev.false_positives_per_image:.4f} "
        f"({ev.n_false_positives} in {ev.n_distraction_images} distraction images)"
    )
    t = ev.false_positive_types
    print(
        f"false positives on test images: {t['localisation']} localisation, "
        f"{t['duplicate']} duplicate, {t['background']} background"
    )
    print(f"PR curve: {plot}")


if __name__ == "__main__":
    run()
