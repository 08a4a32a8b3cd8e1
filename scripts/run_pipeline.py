"""Run the whole workflow (explore, extract, train, mine/retrain rounds, evaluate) and report."""

import pyimagesearch.infrastructure.interrupt  # noqa: F401  (first: Ctrl-C while loading -> 130)

# isort: split

from pyimagesearch.commands import main

if __name__ == "__main__":
    main("pipeline")
