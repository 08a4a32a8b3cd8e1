"""Fetch COCO images that contain none of some categories, as background negatives.

Example:
    python scripts/coco_backgrounds.py --annotations instances_train2017.json \
        --exclude person car --exclude-supercategory vehicle --num 1000 --out backgrounds
"""

import pyimagesearch.infrastructure.interrupt  # noqa: F401  (first: Ctrl-C while loading -> 130)

# isort: split

from pyimagesearch.commands import main

if __name__ == "__main__":
    main("coco-backgrounds")
