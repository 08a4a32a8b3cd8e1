"""Fetch an Open Images subset: positive crops of some classes, or backgrounds without them.

Examples:
    python scripts/openimages_subset.py Car --mode positives --descendants \
        --bbox-csv train-annotations-bbox.csv \
        --images-csv train-images-boxable-with-rotation.csv --out oi_cars
    python scripts/openimages_subset.py Car Taxi --mode backgrounds --num 2000 \
        --bbox-csv train-annotations-bbox.csv \
        --images-csv train-images-boxable-with-rotation.csv --out oi_backgrounds
"""

import pyimagesearch.infrastructure.interrupt  # noqa: F401  (first: Ctrl-C while loading -> 130)

# isort: split

from pyimagesearch.commands import main

if __name__ == "__main__":
    main("openimages-subset")
