"""Mine hard negatives: confident detections on distraction images, stored with provenance."""

import pyimagesearch.interrupt  # noqa: F401  (first: Ctrl-C while loading -> 130)

# isort: split

from pyimagesearch.cli import add_execution_options, configure, main, parser, positive_int
from pyimagesearch.mining import mine_annotated, mine_hard_negatives


@main
def run() -> None:
    p = parser(__doc__)
    p.add_argument(
        "--round",
        type=positive_int,
        default=1,
        help="mining round (1-based); each round mines the next fresh images "
        "and is stored as hard_negatives/round_NNN (re-running replaces it)",
    )
    add_execution_options(p)
    args = p.parse_args()
    conf = configure(args)
    s = mine_hard_negatives(conf, args.round, progress=not args.quiet)
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
        a = mine_annotated(conf, args.round, progress=not args.quiet)
        print(
            f"annotated training images: {a.n_found} windows with IoU < "
            f"{conf['hn_negative_iou_max']} to every object in {a.n_images} images "
            f"({a.n_kept} kept) -> hard_negatives/annotated_round_{a.round:03d}"
        )


if __name__ == "__main__":
    run()
