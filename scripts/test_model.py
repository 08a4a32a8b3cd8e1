"""Detect objects in an image, a folder, a video or a camera; draw the boxes, write JSON."""

import pyimagesearch.infrastructure.interrupt  # noqa: F401  (first: Ctrl-C while loading -> 130)

# isort: split

from pyimagesearch.commands import main

if __name__ == "__main__":
    main("detect")
