"""Extract HOG features of positives and random negatives into the HDF5 store."""

import pyimagesearch.infrastructure.interrupt  # noqa: F401  (first: Ctrl-C while loading -> 130)

# isort: split

from pyimagesearch.commands import main

if __name__ == "__main__":
    main("extract")
