"""Statistics of the annotated boxes and a suggested window_dim."""

import pyimagesearch.interrupt  # noqa: F401  (first: Ctrl-C while loading -> 130)

# isort: split

from pyimagesearch.cli import configure, main, parser
from pyimagesearch.sources.annotations import read_annotations
from pyimagesearch.sources.dims import box_statistics, suggest_window_dim


@main
def run() -> None:
    args = parser(__doc__).parse_args()
    conf = configure(args)
    stats = box_statistics(read_annotations(conf))
    print(f"{len(stats.widths)} boxes")
    print(f"{'':14}{'min':>8}{'mean':>8}{'median':>8}{'max':>8}")
    for name, s in stats.table().items():
        print(f"{name:14}" + "".join(f"{s[k]:8.2f}" for k in ("min", "mean", "median", "max")))
    suggestion = suggest_window_dim(stats, conf["pixels_per_cell"])
    print(f"suggested window_dim (width, height, multiple of the cell size): {list(suggestion)}")
    print(f"configured window_dim: {conf['window_dim']}")


if __name__ == "__main__":
    run()
