"""The ``pyimagesearch`` command: the workflow's steps and the data tools as sub-commands.

``pyimagesearch mine --conf conf/cars.json`` runs what ``python
scripts/hard_negative_mine.py --conf conf/cars.json`` runs: each script is a thin
wrapper around :func:`main`. A step's module has ``build_parser(prog)`` and
``run(args)``; a data tool's module has ``main(argv, prog)``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

#: sub-command -> (module, one-line summary); steps first, in workflow order.
COMMANDS: dict[str, tuple[str, str]] = {
    "dims": ("pyimagesearch.commands.explore_dims", "box statistics and a suggested window_dim"),
    "extract": (
        "pyimagesearch.commands.extract_features",
        "HOG features of positives and random negatives into the HDF5 store",
    ),
    "train": ("pyimagesearch.commands.train_model", "train the calibrated linear SVM"),
    "mine": ("pyimagesearch.commands.hard_negative_mine", "mine hard negatives (one round)"),
    "evaluate": (
        "pyimagesearch.commands.evaluate",
        "AP, FPPI and PR curve; the stress suite; the Open Images protocol",
    ),
    "detect": ("pyimagesearch.commands.test_model", "detect objects in images, draw and export"),
    "review": ("pyimagesearch.commands.review_mined", "review what a mining round stored"),
    "pipeline": ("pyimagesearch.commands.run_pipeline", "every step, rounds, and the report"),
    "fetch": (
        "pyimagesearch.datatools.fetch_cli",
        "download CALTECH-101 car_side and SceneClass13 (data tool)",
    ),
    "coco-backgrounds": (
        "pyimagesearch.datatools.coco_backgrounds_cli",
        "COCO images without some categories, as negatives (data tool)",
    ),
    "openimages-subset": (
        "pyimagesearch.datatools.openimages_cli",
        "an Open Images subset: positive crops or backgrounds (data tool)",
    ),
}


def run_command(name: str, argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Parse ``argv`` for sub-command ``name`` and run it; returns the exit status."""
    from .cli import run_guarded

    module = importlib.import_module(COMMANDS[name][0])
    argv = list(sys.argv[1:] if argv is None else argv)
    if hasattr(module, "build_parser"):
        args = module.build_parser(prog).parse_args(argv)
        return run_guarded(module.run, args)
    return module.main(argv, prog)


def main(name: str) -> None:
    """Entry point of ``scripts/<step>.py``: run sub-command ``name`` on ``sys.argv``."""
    sys.exit(run_command(name))


def console(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``pyimagesearch`` command (``[project.scripts]``)."""
    from .. import __version__
    from ..infrastructure import interrupt  # noqa: F401  (Ctrl-C while loading -> 130)

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        try:
            print(_usage(), flush=True)
        except BrokenPipeError:  # `pyimagesearch --help | head`: the reader left early
            sys.stdout = None
        sys.exit(0 if argv else 2)
    if argv[0] == "--version":
        print(f"pyimagesearch {__version__}")
        sys.exit(0)
    name = argv[0]
    if name not in COMMANDS:
        from ..infrastructure.errors import did_you_mean

        print(
            f"error: unknown command {name!r}{did_you_mean(name, COMMANDS)} "
            "(see pyimagesearch --help)",
            file=sys.stderr,
        )
        sys.exit(2)
    sys.exit(run_command(name, argv[1:], prog=f"pyimagesearch {name}"))


def _usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        "usage: pyimagesearch COMMAND [options]   (pyimagesearch COMMAND --help for its options)",
        "",
        "HOG + linear SVM object detection with fast hard-negative mining.",
        "",
        "commands:",
        *(f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()),
        "",
        "example: pyimagesearch pipeline --conf conf/cars.json",
    ]
    return "\n".join(lines)
