"""Statistics of the annotated boxes and a suggested window_dim."""

from __future__ import annotations

import argparse

from ..sources.annotations import read_annotations
from ..sources.dims import box_statistics, suggest_window_dim
from .cli import configure, parser


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The command line of this step."""
    return parser(__doc__, prog=prog)


def run(args: argparse.Namespace) -> int | None:
    """Run the step on the parsed command line."""
    conf = configure(args)
    stats = box_statistics(read_annotations(conf.options.annotations))
    print(f"{len(stats.widths)} boxes")
    print(f"{'':14}{'min':>8}{'mean':>8}{'median':>8}{'max':>8}")
    for name, s in stats.table().items():
        print(f"{name:14}" + "".join(f"{s[k]:8.2f}" for k in ("min", "mean", "median", "max")))
    suggestion = suggest_window_dim(stats, conf["pixels_per_cell"], descriptor=conf["descriptor"])
    print(f"suggested window_dim (width, height, multiple of the cell size): {list(suggestion)}")
    print(f"configured window_dim: {conf['window_dim']}")
